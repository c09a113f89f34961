"""The command line: exit statuses, one-line errors, nothing written on bad input."""

import hashlib
import json
import subprocess
import sys

import pandas as pd
import pytest
from conftest import TINY

import fpstudy
from fpstudy.schema import FORMAT_VERSION, META_KEYS


def test_run_writes_the_three_files_and_prints_outcome_runs(write_config, tmp_path, run_cli):
    path = write_config(TINY, "tiny.toml")
    status, out, err = run_cli("run", path, "--results", tmp_path / "res")
    assert status == 0, err
    d = tmp_path / "res" / "tiny"
    assert {p.name for p in d.iterdir()} >= {"records.parquet", "summary.csv", "meta.json"}
    assert not list(d.glob(".*.tmp"))  # no temporary file left behind
    assert "float16        scale=1.5: ok 1..27 | overflow 28 | nan 29..30" in out

    records = fpstudy.load(d)
    assert len(records) == 2 * 2 * 30
    expected = ["experiment", "case", "dtype", "impl", "quantity", "scale", "width", "init", "x",
                "max_depth", "accumulate", "sample", "depth", "rounding", "subnormals",
                "overflow", "trial", "value", "value_log10", "truth", "truth_log10", "rel_error",
                "ulp_error", "outcome", "truth_class", "fp_flags", "truth_precision",
                "truth_bound", "truth_settled"]
    assert list(records.columns) == expected
    assert set(records["impl"]) == {""}

    meta = json.loads((d / "meta.json").read_text())
    assert tuple(meta) == META_KEYS
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["config"]["grid"]["scale"] == [0.5, 1.5]
    assert meta["packages"]["numpy"] and meta["sweep"] == "depth"
    # the hashes, recomputed here: the config file's bytes, and the resolved config as
    # compact JSON with sorted keys
    assert meta["config_file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    canonical = json.dumps(meta["config"], sort_keys=True, separators=(",", ":"))
    assert meta["config_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()

    summary = fpstudy.summary(d)
    f16 = summary[(summary["dtype"] == "float16") & (summary["scale"] == 1.5)]
    assert f16[["outcome", "start", "stop", "points"]].values.tolist() == [
        ["ok", 1, 27, 27], ["overflow", 28, 28, 1], ["nan", 29, 30, 2]]
    assert f16["predicted_start"].tolist()[1:] == [28, 29]
    assert (summary["impl"] == "").all()


def test_bad_config_exits_2_with_one_line_and_writes_nothing(write_config, tmp_path, run_cli):
    good = write_config(TINY, "good.toml")
    bad = write_config('case = "deep_product"\n[grid]\nwidth = -3\n', "bad.toml")
    status, out, err = run_cli("run", good, bad, "--results", tmp_path / "res")
    assert status == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"fpstudy: {bad}: grid.width:")
    assert not (tmp_path / "res").exists()  # the good config did not run either


def test_results_are_not_lost_when_a_later_run_fails(write_config, tmp_path, run_cli):
    path = write_config(TINY, "tiny.toml")
    assert run_cli("run", path, "--results", tmp_path / "res")[0] == 0
    before = (tmp_path / "res" / "tiny" / "records.parquet").read_bytes()
    path.write_text(TINY.replace("max_depth = 30", "max_depth = 0"))
    assert run_cli("run", path, "--results", tmp_path / "res")[0] == 2
    assert (tmp_path / "res" / "tiny" / "records.parquet").read_bytes() == before


def test_two_configs_with_one_name_are_refused(write_config, tmp_path, run_cli):
    a = write_config('name = "same"\n' + TINY, "a.toml")
    b = write_config('name = "same"\n' + TINY, "b.toml")
    status, _, err = run_cli("run", a, b, "--results", tmp_path / "res")
    assert status == 2 and "name 'same'" in err


def test_check_prints_sizes_and_runs_nothing(write_config, tmp_path, run_cli):
    path = write_config(TINY, "tiny.toml")
    status, out, _ = run_cli("check", path, "--results", tmp_path / "res")
    assert status == 0
    assert "2 grid points x 2 formats = 4 runs" in out
    assert not (tmp_path / "res").exists()


def test_check_bad_config(write_config, run_cli):
    path = write_config('case = "nope"\n')
    status, _, err = run_cli("check", path)
    assert status == 2 and "case: 'nope' is not a case" in err


def test_list_and_formats(run_cli):
    status, out, _ = run_cli("list")
    assert status == 0 and "deep_product" in out and "max_depth" in out
    assert "float8_e4m3fn" in out
    status, out, _ = run_cli("formats", "float8_e4m3fn")
    assert status == 0 and "no (overflow gives NaN)" in out
    status, _, err = run_cli("formats", "float9")
    assert status == 2 and "unknown format 'float9'" in err


def test_missing_file(run_cli, tmp_path):
    status, _, err = run_cli("check", tmp_path / "missing.toml")
    assert status == 2 and "cannot read" in err


def test_python_dash_m_is_the_same_program(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "fpstudy", "check", tmp_path / "none.toml"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("fpstudy: ") and "Traceback" not in proc.stderr


def assert_same_records_as_serial(run_cli, path, tmp_path, *options):
    assert run_cli("run", path, "--results", tmp_path / "a")[0] == 0
    assert run_cli("run", path, "--results", tmp_path / "b", *options)[0] == 0
    a = pd.read_parquet(tmp_path / "a" / "tiny" / "records.parquet")
    b = pd.read_parquet(tmp_path / "b" / "tiny" / "records.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_parallel_jobs_give_the_same_records(write_config, tmp_path, run_cli):
    assert_same_records_as_serial(run_cli, write_config(TINY, "tiny.toml"), tmp_path,
                                  "--jobs", "2")


def test_an_internal_failure_exits_1_without_a_traceback(write_config, tmp_path, run_cli,
                                                        monkeypatch):
    from fpstudy.cases import deep_product

    def broken(p, inputs, ar, emit):
        raise RuntimeError("boom")
    monkeypatch.setattr(deep_product, "compute", broken)
    path = write_config(TINY, "tiny.toml")
    status, _, err = run_cli("run", path, "--results", tmp_path / "res")
    assert status == 1
    assert "internal error: RuntimeError: boom" in err and "Traceback" not in err
    assert not (tmp_path / "res").exists()



def test_dask_executor_gives_the_same_records(write_config, tmp_path, run_cli):
    pytest.importorskip("dask.distributed")  # the optional extra fpstudy[dask]
    assert_same_records_as_serial(run_cli, write_config(TINY, "tiny.toml"), tmp_path,
                                  "--executor", "dask")


def test_dask_executor_without_dask_is_a_clear_error(write_config, tmp_path, run_cli,
                                                     monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_dask(name, *args, **kwargs):
        if name.startswith("dask"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_dask)
    path = write_config(TINY, "tiny.toml")
    status, _, err = run_cli("run", path, "--results", tmp_path / "a", "--executor", "dask")
    assert status == 2 and "pip install 'fpstudy[dask]'" in err


def test_results_are_readable_by_others(write_config, tmp_path, run_cli):
    import os
    import stat

    path = write_config(TINY, "tiny.toml")
    old = os.umask(0o022)
    try:
        assert run_cli("run", path, "--results", tmp_path / "res")[0] == 0
    finally:
        os.umask(old)
    mode = (tmp_path / "res" / "tiny" / "records.parquet").stat().st_mode
    assert stat.S_IMODE(mode) == 0o644


def test_inputs_a_format_cannot_hold_are_refused_before_anything_runs(write_config, tmp_path,
                                                                       run_cli):
    good = write_config(TINY, "good.toml")
    bad = write_config('case = "deep_product"\ndtypes = ["float64", "float8_e4m3fn"]\n'
                       "[grid]\nscale = [0.5, 1e300]\nmax_depth = 3\n", "bad.toml")
    for command in ("check", "run"):
        status, _, err = run_cli(command, good, bad, "--results", tmp_path / "res")
        assert status == 2 and err.count("\n") == 1
        assert err.startswith(f"fpstudy: {bad}: grid: float8_e4m3fn cannot hold input W (max 448)")
        assert "at scale = 1e+300" in err
    assert not (tmp_path / "res").exists()


def test_version(capsys):
    from fpstudy.cli import main

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"fpstudy {fpstudy.__version__}"


def test_help_shows_a_two_line_example(capsys):
    from fpstudy.cli import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    example = out.split("example:\n", 1)[1].strip().splitlines()
    assert len(example) == 2 and all(ln.strip().startswith("fpstudy ") for ln in example)


def test_every_option_has_help():
    from fpstudy.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in subparsers.items():
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"fpstudy {name} {action.option_strings or action.dest}"
