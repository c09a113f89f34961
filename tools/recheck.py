"""Recheck a module's mutants against chosen test files, one forked process per mutant.

    python tools/recheck.py MODULE TESTS... [--names NAME ...] [--jobs N] [--timeout S]

After `make mutation MODULES=MODULE` has built .mutation/MODULE/ (whole or stopped early),
every mutant the run did not kill (survivors, mutants with no test, those never reached) is run
against the given test files (paths under tests/, or `doctest` for the module's own doctests),
copied fresh from the work tree. A mutant is switched on the way mutmut does it
(MUTANT_UNDER_TEST); the libraries and the package are imported once, and each mutant's pytest
runs in a fork of that process, so a mutant costs its tests and not the imports.

A mutant these tests kill is killed (the run's own tests only grew); one they do not kill is
counted a survivor, although a test outside this selection might have killed it: the score
printed is a lower bound. It is (killed by the run + timed out in the run + killed here) /
all mutants, and it is written with the survivors' names to .mutation/MODULE/recheck.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DETECTED = {1, 3, 36, 24, -24, 152, 255}  # mutmut's exit codes for killed and timed out


def verdicts(work: Path, module: str) -> dict[str, int | None]:
    meta = work / "mutants" / "fpstudy" / f"{module}.py.meta"
    return json.loads(meta.read_text())["exit_code_by_key"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module")
    parser.add_argument("tests", nargs="+", help="test files under tests/, or 'doctest'")
    parser.add_argument("--names", nargs="*", help="only these mutants")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per mutant")
    args = parser.parse_args(argv)
    work = ROOT / ".mutation" / args.module
    mutants = work / "mutants"
    if not mutants.is_dir():
        print(f"recheck: no {mutants}; run `make mutation MODULES={args.module}` first",
              file=sys.stderr)
        return 2
    run = verdicts(work, args.module)
    names = [k for k in (args.names or run) if run.get(k) not in DETECTED]
    selection = []
    for t in args.tests:
        if t == "doctest":
            selection += ["--doctest-modules", f"fpstudy/{args.module}.py"]
            continue
        src = ROOT / t
        if src.parent != ROOT / "tests" or not src.is_file():
            print(f"recheck: {t} is not a test file under tests/", file=sys.stderr)
            return 2
        shutil.copy(src, mutants / "tests" / src.name)
        selection.append(f"tests/{src.name}")
    os.chdir(mutants)
    sys.path.insert(0, str(mutants))
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    import pytest  # noqa: F401  (imported once, before the forks)

    import fpstudy.cli  # noqa: F401  (the package and its libraries, likewise)
    __import__(f"fpstudy.{args.module}")
    pytest_args = ["-x", "-q", "-p", "no:cacheprovider", "-m", "not slow", *selection]

    def start(name: str) -> int:
        pid = os.fork()
        if pid == 0:
            os.environ["MUTANT_UNDER_TEST"] = name
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            import pytest
            code = pytest.main(pytest_args)
            os._exit(int(code))
        return pid

    def wait(pid: int) -> int:
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    if wait(start("")) != 0:
        print("recheck: the tests fail on the unmutated code", file=sys.stderr)
        return 1
    result: dict[str, str] = {}
    queue, running = list(names), {}
    while queue or running:
        while queue and len(running) < args.jobs:
            name = queue.pop(0)
            running[start(name)] = (name, time.monotonic())
        time.sleep(0.05)
        for pid, (name, began) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done == 0:
                if time.monotonic() - began > args.timeout:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    del running[pid]
                    result[name] = "timeout"
                    print(f"timeout  {name}", flush=True)
                continue
            del running[pid]
            code = os.waitstatus_to_exitcode(status)
            result[name] = "survived" if code in (0, 5) else "killed"
            print(f"{'SURVIVED' if code in (0, 5) else 'killed  '} {name}", flush=True)
    detected_by_run = sum(code in DETECTED for code in run.values())
    killed_here = sum(v != "survived" for v in result.values())
    survivors = sorted(k for k, v in result.items() if v == "survived")
    total = len(run)
    score = 100 * (detected_by_run + killed_here) / total if total else None
    summary = {"module": args.module, "tests": args.tests, "mutants": total,
               "detected_by_run": detected_by_run, "rechecked": len(result),
               "killed_by_recheck": killed_here, "survived": len(survivors),
               "score": round(score, 1) if score is not None else None,
               "survivors": survivors}
    (work / "recheck.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{args.module}: {total} mutants, {detected_by_run} detected by the run, "
          f"{killed_here} of {len(result)} rechecked killed, {len(survivors)} survive: "
          f"score >= {summary['score']} %")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
