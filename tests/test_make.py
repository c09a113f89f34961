"""make reruns an experiment only when something that changes its numbers changed."""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.toml"))

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


@pytest.fixture(scope="module")
def fresh_results(tmp_path_factory) -> Path:
    """A results directory where every experiment and the report are up to date."""
    out = tmp_path_factory.mktemp("results")
    later = time.time() + 3600
    for path in EXPERIMENTS:
        meta = out / path.stem / "meta.json"
        meta.parent.mkdir()
        meta.write_text("{}")
        os.utime(meta, (later, later))
        section = out / path.stem / "report_section.json"
        section.write_text("{}")
        os.utime(section, (later + 1, later + 1))
    (out / "report.html").write_text("")
    os.utime(out / "report.html", (later + 2, later + 2))
    return out


def would_run(results: Path, edited: str) -> str:
    """What `make all` would do after `edited` changed (dry run)."""
    proc = subprocess.run(["make", "-n", "-W", edited, f"RESULTS={results}", "all"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return proc.stdout


def test_nothing_to_do_when_nothing_changed(fresh_results):
    out = subprocess.run(["make", "-n", f"RESULTS={fresh_results}", "all"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "fpstudy run" not in out and "fpstudy report" not in out


@pytest.mark.parametrize("edited", ["fpstudy/cli.py", "fpstudy/errors.py", "fpstudy/__init__.py",
                                    "fpstudy/report/figures.py", "fpstudy/report/tables.py"])
def test_editing_what_changes_no_number_reruns_no_experiment(fresh_results, edited):
    out = would_run(fresh_results, edited)
    assert "fpstudy run" not in out
    if edited.startswith("fpstudy/report/"):
        assert "fpstudy report" in out


@pytest.mark.parametrize("edited", ["fpstudy/arith.py", "fpstudy/truth.py", "fpstudy/config.py",
                                    "fpstudy/schema.py", "fpstudy/cases/softmax.py"])
def test_editing_the_numerics_reruns_every_experiment(fresh_results, edited):
    out = would_run(fresh_results, edited)
    assert out.count("fpstudy run") == len(EXPERIMENTS)


def test_editing_one_config_reruns_that_experiment(fresh_results):
    edited = EXPERIMENTS[0].relative_to(ROOT).as_posix()
    runs = [ln for ln in would_run(fresh_results, edited).splitlines() if "fpstudy run" in ln]
    assert len(runs) == 1 and edited in runs[0]


def test_an_experiment_run_then_drawn_keeps_its_results(fresh_results, tmp_path):
    """Its section is drawn right after its run, and make deletes none of its files."""
    out = tmp_path / "results"
    shutil.copytree(fresh_results, out)
    name = EXPERIMENTS[0].stem
    (out / name / "meta.json").unlink()
    plan = subprocess.run(["make", "-n", f"RESULTS={out}", "all"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout.splitlines()
    plan = [ln for ln in plan  # under `make test`, make -w's directory lines
            if not re.match(r"make(\[\d+\])?: (Entering|Leaving) directory", ln)]
    run = [i for i, ln in enumerate(plan) if "fpstudy run" in ln]
    draw = [i for i, ln in enumerate(plan) if f"fpstudy report --results {out} --only {name}" in ln]
    assert len(run) == 1 and draw == [run[0] + 1]
    assert plan[-1].endswith(f"fpstudy report --results {out}")
    assert not [ln for ln in plan if ln.startswith("rm ")]
