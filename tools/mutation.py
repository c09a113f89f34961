"""Mutation testing of the numerics core and config with mutmut, one module at a time.

    python tools/mutation.py [MODULE ...]        # default: every module in MODULES, smallest first

Each module is run in its own scratch copy of the project (.mutation/<module>/: fpstudy/, tests/,
experiments/, examples/ and a pyproject.toml with a [tool.mutmut] table added), so the work
tree is untouched and a module's run never sees another's mutants. mutmut mutates only that
module (only_mutate) and runs only a targeted selection of tests: the test files that import
the module, plus the module's own doctests; mutmut narrows that further, per mutated function,
to the tests that called it. The score, (killed + timed out) / (mutants - skipped), of each
module is printed and written to .mutation/<module>/score.json; in .mutation/<module>/,
`mutmut results` lists the survivors and `mutmut show NAME` shows one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / ".mutation"
# The modules of issue 8, smallest first.
MODULES = ["thresholds", "summarize", "formats", "metrics", "exact", "params", "truth",
           "results", "arith", "config"]
# Tests that exercise a module without importing it by name.
EXTRA_TESTS = {
    "thresholds": ["tests/test_formats.py", "tests/test_deep_product.py",
                   "tests/test_activations.py"],
    # the config loader checks every parameter through Param.check
    "params": ["tests/test_config.py"],
}
# Test files left out of every selection: they run make or subprocesses on the real tree.
NEVER = {"tests/test_make.py", "tests/test_fuzz_config.py"}
# Pipeline test files (whole experiments, 5-20 s each) left out of a module's selection where
# its own fast tests stand in for them: mutmut reruns every selected test that calls a mutated
# function for each survivor, so with these a survivor of truth.settle costs over a minute
# and a run takes hours on two cores. The score is then a lower bound (a mutant only these
# files would kill counts as a survivor).
SLOW = {"tests/test_reliability.py", "tests/test_arb.py", "tests/test_activations.py",
        "tests/test_contract.py", "tests/test_report.py"}
LEAVE_OUT = {module: SLOW
             for module in ("truth", "config", "metrics", "summarize", "exact", "arith")}
# Nearly every test loads a config: config's selection keeps the files that test the loader.
LEAVE_OUT["config"] = SLOW | {f"tests/test_{name}.py" for name in (
    "crmath", "gradients", "mlp", "pool", "rules_runs", "softmax", "summarize", "training")}


def tests_for(module: str) -> list[str]:
    """The test files that import `module`, plus any listed in EXTRA_TESTS, plus its doctests."""
    pattern = re.compile(rf"fpstudy\.{module}\b|from fpstudy import [^\n]*\b{module}\b")
    tracked = subprocess.run(["git", "ls-files", "tests"], cwd=ROOT, capture_output=True,
                             text=True).stdout.split()  # a test file being written is not
    found = {str(p.relative_to(ROOT)) for p in sorted((ROOT / "tests").glob("test_*.py"))
             if str(p.relative_to(ROOT)) in tracked and pattern.search(p.read_text())}
    found |= set(EXTRA_TESTS.get(module, []))
    return sorted(found - NEVER - LEAVE_OUT.get(module, set())) + [f"fpstudy/{module}.py"]


def prepare(module: str) -> Path:
    work = SCRATCH / module
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("fpstudy", "tests", "examples"):
        shutil.copytree(ROOT / name, work / name, ignore=ignore)
    shutil.copytree(ROOT / "experiments", work / "experiments",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("README.md", "Makefile"):  # the schema tests read README's tables; test_data
        shutil.copy(ROOT / name, work / name)  # reads the Makefile's data rules
    selection = tests_for(module)
    table = "\n".join([
        "", "[tool.mutmut]",
        'source_paths = ["fpstudy"]',
        f'only_mutate = ["fpstudy/{module}.py"]',
        'also_copy = ["experiments", "examples", "README.md", "Makefile"]',
        # -p no:randomly etc. are not installed; -x stops a mutant's run at its first failure.
        'pytest_add_cli_args = ["-x", "-q", "-p", "no:cacheprovider", "-m", "not slow"]',
        f"pytest_add_cli_args_test_selection = {json.dumps(selection)}",
        "",
    ])
    (work / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + table)
    return work


def score(work: Path) -> dict:
    subprocess.run([sys.executable, "-m", "mutmut", "export-cicd-stats"], cwd=work, check=True,
                   stdout=subprocess.DEVNULL)
    stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
    # A run stopped early leaves mutants unchecked: they count for nothing either way.
    verdicts = ("killed", "survived", "timeout", "no_tests", "skipped", "suspicious", "segfault")
    stats["not_checked"] = stats["total"] - sum(stats.get(v, 0) for v in verdicts)
    # A mutant whose tests time out (an endless loop) is detected, as in every mutation tool.
    judged = stats["total"] - stats.get("skipped", 0) - stats["not_checked"]
    detected = stats["killed"] + stats.get("timeout", 0)
    stats["score"] = round(100 * detected / judged, 1) if judged else None
    return stats


def main(argv: list[str]) -> int:
    modules = argv or MODULES
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        print(f"mutation: unknown module(s) {unknown}; choose from {MODULES}", file=sys.stderr)
        return 2
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    rows = []
    for module in modules:
        work = prepare(module)
        print(f"== {module}: tests {' '.join(tests_for(module))}", flush=True)
        with open(work / "mutmut.log", "w") as log:   # mutmut's progress spinner, kept aside
            subprocess.run([sys.executable, "-m", "mutmut", "run",
                            "--max-children", os.environ.get("MUTATION_JOBS", "2")],
                           cwd=work, env=env, check=False, stdout=log, stderr=subprocess.STDOUT)
        stats = score(work)
        (work / "score.json").write_text(json.dumps(stats, indent=2) + "\n")
        rows.append((module, stats))
    print(f"\n{'module':<12}{'mutants':>9}{'killed':>8}{'survived':>10}{'timeout':>9}"
          f"{'no tests':>10}{'unchecked':>11}{'score %':>9}")
    for module, s in rows:
        print(f"{module:<12}{s['total']:>9}{s['killed']:>8}{s['survived']:>10}"
              f"{s.get('timeout', 0):>9}{s.get('no_tests', 0):>10}{s['not_checked']:>11}"
              f"{s['score']!s:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
