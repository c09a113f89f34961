"""What fpstudy guarantees (README, "What fpstudy guarantees"): bad input, a results folder
that cannot be written, a full disk, a second run at the same time, Ctrl-C or a misbehaving
user function never leave a crash, a traceback or half-written results; reruns give the same
bytes."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY

from fpstudy import results

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent

# the same experiment (same name), different numbers: a run of one is told from the other's
OTHER = TINY.replace("scale = [0.5, 1.5]", "scale = [0.75, 1.25]")


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` (hidden ones included), by relative path, with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def leftovers(directory: Path) -> list[str]:
    """Temporary files or staging directories anywhere under `directory`."""
    return [str(p) for p in directory.rglob(".*")]


def assert_one_line(err: str, *needles: str):
    assert err.count("\n") == 1 and err.startswith("fpstudy: "), err
    assert "Traceback" not in err and "internal error" not in err, err
    for needle in needles:
        assert needle in err, err


def assert_one_result(d: Path):
    """records, summary and meta in `d` come from one and the same run."""
    meta = json.loads((d / "meta.json").read_text())
    records = pd.read_parquet(d / "records.parquet")
    summary = results.summary(d)
    scales = meta["config"]["grid"]["scale"]
    assert sorted(set(records["scale"])) == scales
    assert sorted(set(summary["scale"])) == scales
    assert meta["records"] == len(records)


# -- reading configs ---------------------------------------------------------------------------


def test_a_config_that_is_not_utf8_is_one_line_naming_the_file(write_config, tmp_path, run_cli):
    path = tmp_path / "latin1.toml"
    path.write_bytes(TINY.replace("tiny", "caf\xe9").encode("latin-1"))
    for command in ("check", "run"):
        status, _, err = run_cli(command, path, "--results", tmp_path / "res")
        assert status == 2
        assert_one_line(err, f"{path}: not UTF-8 text: byte 0xe9 at line 3")
    assert not (tmp_path / "res").exists()


def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path, run_cli):
    path = tmp_path / "deep.toml"
    path.write_text('case = "deep_product"\n[grid]\nscale = ' + "[" * 2000 + "1" + "]" * 2000)
    status, _, err = run_cli("check", path)
    assert status == 2
    assert_one_line(err, f"{path}: nested too deeply")
    path.write_text('case = "deep_product"\n[grid]\nscale = ' + "[" * 20 + "1" + "]" * 20)
    status, _, err = run_cli("check", path)
    assert status == 2
    assert_one_line(err, f"{path}: grid.scale" + "[0]" * 6, "nested 9 levels deep")


def test_a_control_character_in_a_key_stays_on_one_line(tmp_path, run_cli):
    path = tmp_path / "key.toml"
    path.write_text('case = "deep_product"\n"a\\nb" = 1\n')
    status, _, err = run_cli("check", path)
    assert status == 2
    assert_one_line(err, "a\\nb: unknown key")


def test_check_reports_every_bad_file_and_checks_the_good_ones(write_config, tmp_path, run_cli):
    good = write_config(TINY, "good.toml")
    bad_key = write_config('case = "deep_product"\ncolour = 1\n', "colour.toml")
    bad_bytes = tmp_path / "bytes.toml"
    bad_bytes.write_bytes(b'case = "deep_product"\n\xff\n')
    missing = tmp_path / "missing.toml"
    status, out, err = run_cli("check", bad_key, good, bad_bytes, missing)
    assert status == 2
    lines = err.splitlines()
    assert len(lines) == 3 and "Traceback" not in err
    assert lines[0].startswith(f"fpstudy: {bad_key}: colour: unknown key")
    assert lines[1].startswith(f"fpstudy: {bad_bytes}: not UTF-8 text")
    assert lines[2].startswith(f"fpstudy: {missing}: cannot read")
    assert f"{good}: ok" in out  # checked although a file before it failed
    status, out, err = run_cli("check", good, good)
    assert status == 0 and err == "" and out.count(": ok") == 2


# -- the results folder --------------------------------------------------------------------------


def test_results_naming_a_file_is_refused_before_running(write_config, tmp_path, run_cli,
                                                         monkeypatch):
    from fpstudy import runner

    path = write_config(TINY, "tiny.toml")
    target = tmp_path / "file"
    target.write_text("mine")
    monkeypatch.setattr(runner, "run", lambda *a, **k: pytest.fail("ran before the check"))
    for where in (target, target / "below"):
        status, _, err = run_cli("run", path, "--results", where)
        assert status == 2
        assert_one_line(err, f"--results {where}: {target} is a file, not a directory")
    assert target.read_text() == "mine"


def test_a_file_where_the_experiment_directory_goes_is_one_line(write_config, tmp_path,
                                                                run_cli):
    res = tmp_path / "res"
    res.mkdir()
    (res / "tiny").write_text("mine")
    status, _, err = run_cli("run", write_config(TINY, "tiny.toml"), "--results", res)
    assert status == 2
    assert_one_line(err, f"{res / 'tiny'}: is a file or a link, not a results directory")
    assert (res / "tiny").read_text() == "mine"
    assert leftovers(res) == []


def test_an_unwritable_results_folder_is_refused_before_running(write_config, tmp_path, run_cli,
                                                                monkeypatch):
    from fpstudy import runner

    path = write_config(TINY, "tiny.toml")
    (tmp_path / "ro").mkdir()
    real_access = os.access
    # root may write anywhere, so the permission is denied by the test: os.access says no
    monkeypatch.setattr(os, "access", lambda p, mode, **k: Path(p) != tmp_path / "ro"
                        and real_access(p, mode, **k))
    monkeypatch.setattr(runner, "run", lambda *a, **k: pytest.fail("ran before the check"))
    status, _, err = run_cli("run", path, "--results", tmp_path / "ro" / "res")
    assert status == 2
    assert_one_line(err, f"no permission to write in {tmp_path / 'ro'}")
    assert list((tmp_path / "ro").iterdir()) == []


def partial_then_fail(code):
    """A writer that leaves half a file where it was told to write, then fails with `code`."""
    def write(self, path, *args, **kwargs):
        Path(path).write_bytes(b"half a file")
        if code == "interrupt":
            raise KeyboardInterrupt
        raise OSError(code, os.strerror(code))
    return write


FAULTS = {"ENOSPC": errno.ENOSPC, "EDQUOT": errno.EDQUOT, "EACCES": errno.EACCES,
          "Ctrl-C": "interrupt"}


@pytest.mark.parametrize("fault", FAULTS, ids=FAULTS)
@pytest.mark.parametrize("step", ["records", "summary", "meta", "swap"])
def test_a_failed_results_write_keeps_the_earlier_results_byte_for_byte(
        write_config, tmp_path, run_cli, monkeypatch, step, fault):
    res = tmp_path / "res"
    assert run_cli("run", write_config(TINY, "tiny.toml"), "--results", res)[0] == 0
    before = snapshot(res)
    code = FAULTS[fault]
    if step == "records":
        monkeypatch.setattr(pd.DataFrame, "to_parquet", partial_then_fail(code))
    elif step == "summary":
        monkeypatch.setattr(pd.DataFrame, "to_csv", partial_then_fail(code))
    elif step == "meta":
        real = Path.write_text

        def write_text(self, *args, **kwargs):
            if self.name == "meta.json":
                return partial_then_fail(code)(None, self)
            return real(self, *args, **kwargs)
        monkeypatch.setattr(Path, "write_text", write_text)
    else:  # the rename that puts the new directory in place
        def refuse(*args):
            if code == "interrupt":
                raise KeyboardInterrupt
            raise OSError(code, os.strerror(code))
        monkeypatch.setattr(results, "_exchange", refuse)
    status, _, err = run_cli("run", write_config(OTHER, "tiny.toml"), "--results", res)
    if fault == "Ctrl-C":
        assert status == 130 and err == "fpstudy: interrupted\n"
    else:
        assert status == 2
        assert_one_line(err, f"{res / 'tiny'}", os.strerror(code),
                        "earlier results there are kept")
    assert snapshot(res) == before
    assert leftovers(res) == []


def test_the_write_error_names_the_file_not_the_staging_directory(write_config, tmp_path,
                                                                  run_cli, monkeypatch):
    monkeypatch.setattr(pd.DataFrame, "to_csv", partial_then_fail(errno.ENOSPC))
    status, _, err = run_cli("run", write_config(TINY, "tiny.toml"), "--results",
                             tmp_path / "res")
    assert status == 2
    assert_one_line(err, f"fpstudy: {tmp_path / 'res' / 'tiny' / 'summary.csv'}: cannot write: "
                         "No space left on device; free some space and run again")
    assert list((tmp_path / "res").iterdir()) == []  # no half experiment, no staging


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """A results folder with one experiment and its report (figures, report.md, .html)."""
    from fpstudy.cli import main

    tmp = tmp_path_factory.mktemp("reported")
    (tmp / "tiny.toml").write_text(TINY)
    assert main(["run", str(tmp / "tiny.toml"), "--results", str(tmp / "res")]) == 0
    assert main(["report", "--results", str(tmp / "res")]) == 0
    return tmp / "res"


@pytest.mark.parametrize("fault", ["ENOSPC", "EACCES"])
@pytest.mark.parametrize("step", ["figures", "report"])
def test_a_failed_report_write_keeps_the_earlier_report(reported, tmp_path, run_cli,
                                                        monkeypatch, step, fault):
    import shutil

    from matplotlib.figure import Figure

    res = tmp_path / "res"
    shutil.copytree(reported, res)
    before = snapshot(res)
    assert any(name.endswith(".svg") for name in before) and "report.html" in before
    code = FAULTS[fault]
    if step == "figures":
        calls = []
        real = Figure.savefig

        def savefig(self, fname, *args, **kwargs):  # the second figure file fails
            calls.append(fname)
            if len(calls) == 2:
                return partial_then_fail(code)(self, fname)
            return real(self, fname, *args, **kwargs)
        monkeypatch.setattr(Figure, "savefig", savefig)
    else:
        real = Path.write_text

        def write_text(self, *args, **kwargs):
            if self.name.startswith(".report.html"):
                return partial_then_fail(code)(None, self)
            return real(self, *args, **kwargs)
        monkeypatch.setattr(Path, "write_text", write_text)
    # --redraw: the kept sections are valid, and the figures must be drawn to fail
    status, _, err = run_cli("report", "--results", res, "--redraw")
    assert status == 2
    assert_one_line(err, os.strerror(code), "earlier results there are kept")
    assert snapshot(res) == before  # the figures redrawn before the fault are the same bytes
    assert leftovers(res) == []


# -- concurrent runs ---------------------------------------------------------------------------


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_interleaved_writes_of_one_experiment_leave_one_whole_result(tmp_path, monkeypatch,
                                                                     exchange):
    """Run A writes its records, then waits; run B writes everything; then A finishes. With
    files replaced one by one this left B's records beside A's summary and meta. Also where
    the system cannot exchange two directories (the fallback of two renames)."""
    from fpstudy import config, runner, schema
    from fpstudy.summarize import summarize

    if not exchange:
        monkeypatch.setattr(results, "_exchange", lambda a, b: False)

    def prepare(text, name):
        (tmp_path / name).write_text(text)
        exp = config.load(tmp_path / name)
        records = pd.DataFrame([r for point in runner.run(exp) for r in point.rows],
                               columns=schema.record_columns(exp.case))
        meta = {"format_version": results.FORMAT_VERSION, "config": exp.resolved(),
                "records": len(records)}
        return records, summarize(records, exp), meta

    a, b = prepare(TINY, "tiny.toml"), prepare(OTHER, "tiny.toml")
    a_wrote_records, b_done = threading.Event(), threading.Event()
    real_to_csv = pd.DataFrame.to_csv

    def to_csv(self, *args, **kwargs):
        if threading.current_thread().name == "A":
            a_wrote_records.set()
            assert b_done.wait(30)
        return real_to_csv(self, *args, **kwargs)
    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    res = tmp_path / "res"
    failures = []

    def write(parts):
        try:
            results.write_experiment(res, "tiny", *parts)
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)
        finally:
            if threading.current_thread().name == "B":
                b_done.set()
    thread_a = threading.Thread(target=write, args=(a,), name="A")
    thread_a.start()
    assert a_wrote_records.wait(30)
    thread_b = threading.Thread(target=write, args=(b,), name="B")
    thread_b.start()
    thread_b.join(30)
    thread_a.join(30)
    assert failures == []
    assert_one_result(res / "tiny")
    assert json.loads((res / "tiny" / "meta.json").read_text())["config"]["grid"]["scale"] == \
        [0.5, 1.5]  # A swapped in last
    assert leftovers(res) == []


def test_two_processes_running_one_experiment_at_once_both_finish(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "tiny.toml").write_text(TINY)
    (tmp_path / "b" / "tiny.toml").write_text(OTHER)
    res = tmp_path / "res"
    procs = [subprocess.Popen([sys.executable, "-m", "fpstudy", "run", str(tmp_path / d /
                                                                          "tiny.toml"),
                               "--results", str(res)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for d in ("a", "b")]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    assert [p.name for p in res.iterdir()] == ["tiny"]
    assert_one_result(res / "tiny")
    assert leftovers(res) == []


def test_a_staging_directory_left_by_a_killed_run_is_removed(write_config, tmp_path, run_cli):
    import socket

    res = tmp_path / "res"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = res / f".tiny{results.STAGE_MARK}{socket.gethostname()}-{dead}-0000"
    other_host = res / f".tiny{results.STAGE_MARK}elsewhere-{dead}-0000"
    for d in (stale, other_host):
        d.mkdir(parents=True)
        (d / "records.parquet").write_bytes(b"half")
    assert run_cli("run", write_config(TINY, "tiny.toml"), "--results", res)[0] == 0
    assert not stale.exists()
    assert other_host.exists()  # perhaps a live run on another machine: left alone
    assert results.experiments(res) == [res / "tiny"]  # staging directories are not results


# -- reproducibility ---------------------------------------------------------------------------


def run_files(run_cli, config, res, *options):
    assert run_cli("run", config, "--results", res, *options)[0] == 0
    d = res / config.stem
    meta = json.loads((d / "meta.json").read_text())
    for timing in ("wall_time_s", "time_s", "finished"):
        del meta[timing]
    return {"records": (d / "records.parquet").read_bytes(),
            "summary": (d / "summary.csv").read_bytes(), "meta": meta}


def same_files(first, again):
    assert first["records"] == again["records"]
    assert first["summary"] == again["summary"]
    first["meta"]["config_path"] = again["meta"]["config_path"]
    assert first["meta"] == again["meta"]


@pytest.mark.parametrize("options", [("--jobs", "2"), ("--executor", "local"), ()],
                         ids=["jobs2", "executor-local", "rerun"])
def test_records_are_the_same_bytes_whoever_runs_them(write_config, run_cli, tmp_path, options):
    config = write_config(TINY.replace("max_depth = 30", "max_depth = 30\ninit = \"gaussian\""
                                       "\nwidth = 3"), "tiny.toml")
    same_files(run_files(run_cli, config, tmp_path / "one"),
               run_files(run_cli, config, tmp_path / "two", *options))


def test_a_shipped_experiment_reruns_to_the_same_bytes(run_cli, tmp_path):
    """experiments/deep_product.toml (32000 records) run serially and with --jobs 2:
    records.parquet and summary.csv are the same bytes, meta.json the same but its timings."""
    config = ROOT / "experiments" / "deep_product.toml"
    same_files(run_files(run_cli, config, tmp_path / "one"),
               run_files(run_cli, config, tmp_path / "two", "--jobs", "2"))


# -- Ctrl-C ----------------------------------------------------------------------------------


def test_ctrl_c_mid_run_exits_130_and_keeps_the_earlier_results(tmp_path):
    res = tmp_path / "res"
    config = tmp_path / "soft.toml"
    config.write_text('case = "softmax"\ndtypes = ["float32"]\n[grid]\nn = 3\n')
    env = {**os.environ, "PYTHONPATH": str(DATA), "FPSTUDY_TEST_STARTED": str(tmp_path / "go")}
    command = [sys.executable, "-m", "fpstudy", "run", str(config), "--results", str(res)]
    subprocess.run(command, check=True, env=env, capture_output=True)
    before = snapshot(res)
    config.write_text('case = "softmax"\ndtypes = ["float32"]\n[grid]\nn = 3\n'
                      'impl = "user_softmax:signal_then_wait"\n')
    # as a terminal starts it: SIGINT at its default (a shell running this suite in the
    # background ignores SIGINT, and a child would inherit that and never see Ctrl-C)
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for _ in range(600):  # wait until the run is inside the user function
            if (tmp_path / "go").exists() or proc.poll() is not None:
                break
            threading.Event().wait(0.1)
        assert (tmp_path / "go").exists(), proc.communicate()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err == "fpstudy: interrupted\n"
    assert snapshot(res) == before
    assert leftovers(res) == []


# -- user implementations ----------------------------------------------------------------------


@pytest.fixture
def user_module(monkeypatch):
    monkeypatch.syspath_prepend(str(DATA))
    monkeypatch.delitem(sys.modules, "user_softmax", raising=False)


def user_config(write_config, func, *more):
    return write_config('name = "soft"\ncase = "softmax"\ndtypes = ["float16"]\n[grid]\n'
                        f'impl = "user_softmax:{func}"\nn = 4\nc = 2.5\n' + "".join(more),
                        "soft.toml")


POINT = "dtype=float16, n=4, input=constant, c=2.5"


@pytest.mark.parametrize(("func", "message", "options"), [
    ("raises", "raised RuntimeError: deliberate failure", ()),
    ("wrong_shape", "returned shape (3,); expected (4,)", ()),
    ("wrong_dtype", "returned dtype float64; expected float16", ()),
    ("not_an_array", "returned list, not a numpy array", ()),
    ("exits", "raised SystemExit: 3", ()),
    ("hangs", "did not return within 0.5 s (--point-timeout)", ("--point-timeout", "0.5")),
    ("catches_everything", "did not return within 0.5 s", ("--point-timeout", "0.5")),
    ("hangs", "did not return within 0.5 s", ("--point-timeout", "0.5", "--jobs", "2")),
])
def test_a_failing_user_function_is_named_with_its_point_and_nothing_is_lost(
        user_module, write_config, run_cli, tmp_path, func, message, options):
    res = tmp_path / "res"
    assert run_cli("run", user_config(write_config, "shifted"), "--results", res)[0] == 0
    before = snapshot(res)
    # two c values, so that --jobs 2 really runs a pool
    path = user_config(write_config, func).read_text().replace("c = 2.5", "c = [2.5, 3.5]")
    (tmp_path / "soft.toml").write_text(path)
    status, _, err = run_cli("run", tmp_path / "soft.toml", "--results", res, *options)
    assert status == 2
    assert_one_line(err, f"impl 'user_softmax:{func}' {message}", POINT)
    assert snapshot(res) == before
    assert leftovers(res) == []


def test_the_point_timeout_comes_from_the_environment_too(user_module, write_config, run_cli,
                                                         tmp_path, monkeypatch):
    monkeypatch.setenv("FPSTUDY_POINT_TIMEOUT", "0.5")
    status, _, err = run_cli("run", user_config(write_config, "hangs"), "--results",
                             tmp_path / "res")
    assert status == 2
    assert_one_line(err, "did not return within 0.5 s")
    for bad in ("0", "-1", "soon", "nan"):
        status, _, err = run_cli("run", user_config(write_config, "hangs"), "--results",
                                 tmp_path / "res", "--point-timeout", bad)
        assert status == 2
        assert_one_line(err, f"--point-timeout {bad!r}: expected a number of seconds > 0")


def test_a_user_function_returning_nan_is_measured_as_nan(user_module, write_config, run_cli,
                                                         tmp_path):
    """NaN is what fpstudy measures, not a failure: the records say outcome nan at that point,
    and the run's summary lines say so."""
    status, out, err = run_cli("run", user_config(write_config, "returns_nan"), "--results",
                               tmp_path / "res")
    assert status == 0, err
    records = pd.read_parquet(tmp_path / "res" / "soft" / "records.parquet")
    assert records[["impl", "c", "outcome", "truth_class"]].values.tolist() == [
        ["user_softmax:returns_nan", 2.5, "nan", "normal"]]
    assert "float16        nan 2.5" in out


def test_what_a_user_function_prints_goes_to_stderr_labelled(user_module, write_config, run_cli,
                                                             tmp_path):
    status, out, err = run_cli("run", user_config(write_config, "chatty"), "--results",
                               tmp_path / "res")
    assert status == 0, err
    assert "hello" not in out  # stdout holds fpstudy's own lines only
    assert err.splitlines() == [
        f"fpstudy: impl 'user_softmax:chatty' printed (at {POINT}, spread=1): hello from chatty",
        f"fpstudy: impl 'user_softmax:chatty' printed (at {POINT}, spread=1): second line"]
    records = pd.read_parquet(tmp_path / "res" / "soft" / "records.parquet")
    assert records["outcome"].tolist() == ["ok"]


# -- the resource estimate -----------------------------------------------------------------------

HUGE = 'case = "deep_product"\n[grid]\ninit = "gaussian"\nwidth = 4096\nmax_depth = 1000000\n'


def test_an_experiment_too_large_for_memory_is_refused_up_front(write_config, tmp_path, run_cli,
                                                               monkeypatch):
    """The issue's example, which died in numpy allocating 122 TiB: refused before anything is
    allocated (check_inputs would draw the weights) and nothing is written."""
    from fpstudy import runner

    monkeypatch.setattr(runner, "check_inputs", lambda exp: pytest.fail("allocated"))
    path = write_config(HUGE, "huge.toml")
    for command in ("check", "run"):
        status, _, err = run_cli(command, path, "--results", tmp_path / "res",
                                 "--memory-limit", "64G")
        assert status == 2
        # the weights in float64 alone: 10^6 * 4096^2 * 8 bytes = 122 TiB
        assert_one_line(err, f"{path}: needs about ", "PiB of memory (weights ",
                        "more than the limit of 64 GiB (--memory-limit)",
                        "--memory-limit or FPSTUDY_MEMORY_LIMIT")
    assert not (tmp_path / "res").exists()
    from fpstudy import config, estimate

    est = estimate.estimate(config.load(path))
    assert est.weights_bytes >= 10**6 * 4096**2 * 8  # the float64 weights alone: 122 TiB
    assert est.records == 4 * 10**6  # four formats, one record per depth


def test_the_estimate_counts_what_the_run_makes(write_config, tmp_path, run_cli):
    """records and runs from the estimate equal what the run writes, for every case."""
    from fpstudy import config, estimate, runner
    from fpstudy.cases import CASES

    grids = {"deep_product": "width = 3\nmax_depth = 7\nscale = [0.5, 2.0]",
             "deep_gradients": "width = 2\ndepth = 5",
             "activation_chain": 'activation = ["sigmoid", "relu"]\nimpl = ["naive", "stable"]'
                                 "\nmax_depth = 6",
             "sigmoid_saturation": "z = [-1.0, 0.0, 3.0]",
             "training": "width = 2\ndepth = 2\nsteps = 4",
             "softmax": 'n = 5\nimpl = ["naive", "max_shift"]\nc = [0.0, 1.0]',
             "mlp": 'sizes = [3, 4, 2]\nactivation = ["tanh", "relu"]\n'
                    'loss = ["squared_error", "cross_entropy"]\nimpl = ["naive", "max_shift"]'}
    assert set(grids) == set(CASES)  # a new case needs its line here, and an estimate hook
    for name, grid in grids.items():
        assert hasattr(CASES[name], "estimate"), name
        path = write_config(f'case = "{name}"\ndtypes = ["float16", "float32"]\n[grid]\n{grid}\n',
                            f"{name}.toml")
        exp = config.load(path)
        est = estimate.estimate(exp)
        assert est.records == sum(len(point.rows) for point in runner.run(exp)), name
        assert est.runs == len(exp.runs())


def test_check_prints_the_estimate(write_config, run_cli, monkeypatch):
    monkeypatch.delenv("FPSTUDY_MEMORY_LIMIT", raising=False)
    path = write_config(TINY, "tiny.toml")
    status, out, _ = run_cli("check", path, "--memory-limit", "2G")
    assert status == 0
    # 2 scales x 2 formats x 30 depths; per depth a 2 x 2 matvec, counted as 2 n^2 = 8
    # operations: 4 runs x 30 x 8 = 960
    assert ("  estimate: 120 records from 4 runs; memory about " in out
            and "work about 960 format operations and 960 exact (mpmath) operations; "
                "memory limit 2 GiB (--memory-limit)" in out)


@pytest.mark.parametrize(("text", "value"), [("16G", 16 * 2**30), ("512MiB", 512 * 2**20),
                                             ("1.5K", 1536), ("1000", 1000), ("2 t", 2**41)])
def test_memory_limit_sizes(text, value):
    from fpstudy.estimate import parse_size

    assert parse_size(text, "--memory-limit") == value


@pytest.mark.parametrize("text", ["", "G", "-1G", "0", "1e9", "16 GB of RAM"])
def test_bad_memory_limits_are_one_line(write_config, run_cli, monkeypatch, text):
    path = write_config(TINY, "tiny.toml")
    status, _, err = run_cli("check", path, f"--memory-limit={text}")
    assert status == 2
    assert_one_line(err, f"--memory-limit {text!r}")
    monkeypatch.setenv("FPSTUDY_MEMORY_LIMIT", text or " ")
    status, _, err = run_cli("run", path, "--results", "/nonexistent/res")
    assert status == 2 and "FPSTUDY_MEMORY_LIMIT" in err


KILLED_MID_WRITE = """
import os, pathlib, sys, time
import pandas as pd
from fpstudy.cli import main
def to_csv(self, path, *args, **kwargs):  # the summary: records are written, meta is not
    pathlib.Path(path).write_bytes(b"half a summary")
    pathlib.Path(os.environ["FPSTUDY_TEST_STARTED"]).touch()
    time.sleep(60)
pd.DataFrame.to_csv = to_csv
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_mid_write_keeps_the_earlier_results(write_config, tmp_path, run_cli):
    res = tmp_path / "res"
    assert run_cli("run", write_config(TINY, "tiny.toml"), "--results", res)[0] == 0
    before = snapshot(res)
    config = write_config(OTHER, "tiny.toml")
    env = {**os.environ, "FPSTUDY_TEST_STARTED": str(tmp_path / "go")}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_MID_WRITE, "run", str(config),
                             "--results", str(res)], env=env, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            if (tmp_path / "go").exists() or proc.poll() is not None:
                break
            threading.Event().wait(0.1)
        assert (tmp_path / "go").exists(), proc.communicate()
        proc.kill()
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    after = snapshot(res)
    assert {k: v for k, v in after.items() if not k.startswith(".")} == before
    assert any(k.startswith(".tiny.stage-") for k in after)  # the killed run's, not in place
    assert run_cli("run", config, "--results", res)[0] == 0  # the next run cleans it up
    assert leftovers(res) == []
    assert_one_result(res / "tiny")


@pytest.mark.parametrize(("case", "grid"), [
    ("deep_product", 'init = "gaussian"\nwidth = 8\nmax_depth = 150'),
    ("deep_product", 'init = "gaussian"\nwidth = 64\nmax_depth = 6'),  # weights dominate
    ("deep_gradients", 'init = "gaussian"\nwidth = 6\ndepth = 40'),
    ("training", 'init = "gaussian"\nwidth = 4\ndepth = 10\nsteps = 10'),
    ("softmax", 'input = "normal"\nn = 1500\nimpl = "max_shift"'),
    ("activation_chain", "max_depth = 250"),
    ("sigmoid_saturation", "z = 3.5"),
])
def test_the_memory_estimate_is_above_the_traced_peak(tmp_path, case, grid):
    """A grid point's traced peak (every allocation by Python and numpy) stays below the
    estimate's weights + truth, plus 1 MiB for what a process allocates once (caches, lazy
    imports: the estimate's BASE_BYTES); the exact inputs of one format at a time."""
    import tracemalloc

    from fpstudy import config, estimate
    from fpstudy.runner import jobs_of, run_point

    path = tmp_path / f"{case}.toml"
    path.write_text(f'case = "{case}"\ndtypes = ["float16", "float32"]\n[grid]\n{grid}\n')
    exp = config.load(path)
    est = estimate.estimate(exp)
    (job,) = jobs_of(exp)
    tracemalloc.start()
    try:
        rows = run_point(job).rows
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(rows) == est.records
    assert peak <= est.weights_bytes + est.truth_bytes + 2**20, (peak, est)


def test_one_formats_exact_inputs_at_a_time(tmp_path, monkeypatch):
    """The exact inputs (hundreds of bytes a number) of a format are released before the next
    format's are made: the peak holds one copy, as the estimate assumes."""
    import gc
    import weakref

    from fpstudy import config, runner, truth

    made, alive_when_made = [], []
    real_raw_mpfs = truth.raw_mpfs

    class Raw(list):  # a list that can be weakly referenced
        pass

    def raw_mpfs(values):
        gc.collect()
        alive_when_made.append(sum(ref() is not None for ref in made))
        out = Raw(real_raw_mpfs(values))
        made.append(weakref.ref(out))
        return out
    monkeypatch.setattr(truth, "raw_mpfs", raw_mpfs)
    monkeypatch.setattr(runner, "_TRUTHS", runner.OrderedDict())  # nothing proven before
    path = tmp_path / "w.toml"
    path.write_text('case = "deep_product"\ndtypes = ["float16", "bfloat16", "float32"]\n'
                    '[grid]\ninit = "gaussian"\nwidth = 3\nmax_depth = 4\n')
    (job,) = runner.jobs_of(config.load(path))
    runner.run_point(job)
    assert len(made) == 2 * 3  # W and x, for each format (their rounded inputs differ)
    assert alive_when_made == [0, 1, 0, 1, 0, 1]  # x's made beside W's; nothing older


def test_a_longdouble_value_past_float64_is_measured_without_a_warning(write_config, tmp_path,
                                                                      run_cli):
    path = write_config('case = "training"\ndtypes = ["longdouble"]\n[grid]\nscale = 7\n'
                        "steps = 6\n", "ld.toml")
    status, _, err = run_cli("run", path, "--results", tmp_path / "res")
    assert status == 0 and err == "", err
