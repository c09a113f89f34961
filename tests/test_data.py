"""The user's own numbers: [data] files read, checked, recorded; every failure one clear line."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import compute_records

import fpstudy
from fpstudy import config, data
from fpstudy.dataspec import data_files, split
from fpstudy.errors import ConfigError

SOFTMAX = 'case = "softmax"\ndtypes = ["float16", "bfloat16"]\n[data]\nlogits = "{file}"\n'
ROWS = np.array([[1.0, -2.5, 3.25], [0.5, 0.5, 8.0]])


def softmax_config(tmp_path, file, grid=""):
    path = tmp_path / "exp.toml"
    path.write_text(SOFTMAX.format(file=file) + (f"[grid]\n{grid}\n" if grid else ""))
    return path


# -- reading each format ---------------------------------------------------------------------

def _write_npy(d):
    np.save(d / "l.npy", ROWS.astype(np.float32))
    return "l.npy"


def _write_npz_key(d):
    np.savez(d / "m.npz", other=np.zeros(2), logits=ROWS)
    return "m.npz:logits"


def _write_npz_single(d):
    np.savez(d / "m.npz", ROWS)
    return "m.npz"


def _write_csv(d):
    (d / "l.csv").write_text("a,b,c\n1,-2.5,3.25\n\n0.5, 0.5 ,8\n")
    return "l.csv"


def _write_parquet(d):
    pd.DataFrame(ROWS, columns=["a", "b", "c"]).to_parquet(d / "l.parquet")
    return "l.parquet"


def _write_in_subfolder(d):
    (d / "sub").mkdir()
    np.save(d / "sub" / "l.npy", ROWS)
    return "sub/l.npy"


@pytest.mark.parametrize("writer", [_write_npy, _write_npz_key, _write_npz_single, _write_csv,
                                    _write_parquet, _write_in_subfolder],
                         ids=lambda w: w.__name__[7:])
def test_every_format_gives_the_same_rows(tmp_path, writer):
    exp = config.load(softmax_config(tmp_path, writer(tmp_path)))
    np.testing.assert_array_equal(exp.data["logits"].value, ROWS)
    assert exp.grid["sample"] == [0, 1] and exp.grid["n"] == [3] and exp.grid["input"] == ["data"]


def test_paths_are_relative_to_the_config_folder(tmp_path, monkeypatch):
    (tmp_path / "cfg").mkdir()
    np.save(tmp_path / "cfg" / "l.npy", ROWS)
    monkeypatch.chdir(tmp_path)  # elsewhere than the config
    exp = config.load(softmax_config(tmp_path / "cfg", "l.npy"))
    assert exp.data["logits"].ref.path == str(tmp_path / "cfg" / "l.npy")


def test_spec_split_and_make_dependencies(tmp_path):
    assert split("a/b.npz:W1") == ("a/b.npz", "W1")
    assert split("a/b.npy") == ("a/b.npy", None)
    path = softmax_config(tmp_path, "sub/m.npz:logits")
    assert data_files(path) == [tmp_path / "sub" / "m.npz"]


# -- failures: one line each, naming file, key and what is allowed ----------------------------

def _npy(d, a, name="l.npy"):
    np.save(d / name, a)
    return name


BAD = [
    (lambda d: "l.txt",
     "data.logits: 'l.txt' is not a file fpstudy reads; use .npy, .npz (whole, or "
     "name.npz:key), .csv or .parquet"),
    (lambda d: "missing.npy", "data.logits: {d}/missing.npy: no such file"),
    (lambda d: _npy(d, ROWS) + ":x", "data.logits: 'l.npy:x': only an .npz takes ':key'"),
    (lambda d: _npy(d, ROWS.astype(complex)),
     "data.logits: {d}/l.npy holds complex128 values; expected real numbers (float16, "
     "float32, float64 or integers)"),
    (lambda d: _npy(d, np.array(["a", "b"])),
     "data.logits: {d}/l.npy holds str"),
    (lambda d: _npy(d, np.zeros((2, 3, 4))),
     "data.logits: {d}/l.npy has shape (2, 3, 4); expected (samples, n), one softmax per "
     "row, or (n,)"),
    (lambda d: _npy(d, np.zeros((2, 0))), "data.logits: {d}/l.npy has shape (2, 0), no entries"),
    (lambda d: _npy(d, np.array([[1.0, np.nan], [np.inf, 2.0]])),
     "data.logits: {d}/l.npy has 2 non-finite entries (the first, at [0, 1], is nan); "
     "every entry must be a finite number"),
    (lambda d: _npy(d, np.array([2**60, 1], dtype=np.int64)),
     "data.logits: {d}/l.npy holds integers beyond 2**53"),
    (lambda d: (d / "l.npy").write_bytes(b"not numpy") and "l.npy",
     "data.logits: {d}/l.npy: not a readable .npy file"),
    (lambda d: np.savez(d / "m.npz", a=ROWS, b=ROWS) or "m.npz",
     "data.logits: {d}/m.npz: the archive holds 2 arrays (a, b); name one: 'm.npz:a'"),
    (lambda d: np.savez(d / "m.npz", a=ROWS) or "m.npz:W1",
     "data.logits: {d}/m.npz:W1: no array 'W1' in the archive; it holds a"),
    (lambda d: (d / "l.csv").write_text("1,2,3\n4,5\n") and "l.csv",
     "data.logits: {d}/l.csv: line 2 has 2 values; the lines before have 3"),
    (lambda d: (d / "l.csv").write_text("x,y\n1,2\n3,oops\n") and "l.csv",
     "data.logits: {d}/l.csv: line 3: 'oops' is not a number"),
    (lambda d: (d / "l.csv").write_text("1,nan\n") and "l.csv",
     "data.logits: {d}/l.csv has 1 non-finite entries"),
    (lambda d: pd.DataFrame({"a": [1.0], "label": ["cat"]}).to_parquet(d / "l.parquet")
     or "l.parquet",
     "data.logits: {d}/l.parquet: columns label (str) are not numeric"),
    (lambda d: pd.DataFrame({"a": [1.0, None]}).to_parquet(d / "l.parquet") or "l.parquet",
     "data.logits: {d}/l.parquet: has missing entries"),
]


@pytest.mark.parametrize("make, message", BAD, ids=[m.split(":")[1].strip()[:40] + str(i)
                                                     for i, (_, m) in enumerate(BAD)])
def test_file_errors_are_one_line_exit_2_nothing_written(tmp_path, run_cli, make, message):
    path = softmax_config(tmp_path, make(tmp_path))
    status, out, err = run_cli("run", path, "--results", tmp_path / "res")
    assert status == 2
    assert err.startswith(f"fpstudy: {path}: " + message.format(d=tmp_path)), err
    assert err.count("\n") == 1
    assert not (tmp_path / "res").exists()


def test_too_large_for_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "available_memory", lambda: 40)  # bytes: five float64
    path = softmax_config(tmp_path, _npy(tmp_path, ROWS))
    with pytest.raises(ConfigError, match=r"data.logits: .*l.npy: too large: 6 entries need "
                                          r"4.8e-08 GB as float64, more than the 4e-08 GB"):
        config.load(path)


@pytest.mark.parametrize("text, message", [
    ('[data]\nweights = "l.npy"', "data.weights: not a data input of case softmax; allowed: "
                                  "logits"),
    ('[data]\nlogits = 3', "data.logits: 3 is not allowed; expected a file name"),
    ('data = 1', "data: must be a table"),
    ('[grid]\ninput = "data"', "grid.input: 'data' takes the logits from a [data] table"),
    ('[grid]\nsample = 2', "grid.sample: numbers the rows of [data] logits, and there is no"),
])
def test_data_table_errors(write_config, text, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config.load(write_config(f'case = "softmax"\n{text}\n'))


def test_a_case_without_data_inputs_refuses_a_data_table(write_config):
    with pytest.raises(ConfigError, match="data: case sigmoid_saturation reads no data files"):
        config.load(write_config('case = "sigmoid_saturation"\n[data]\nx = "a.npy"\n'))


@pytest.mark.parametrize("grid, message", [
    ("n = 3", "grid.n: does not apply to [data] logits (3 per row); leave it out"),
    ('input = "normal"', "grid.input: does not apply to [data] logits"),
    ("sample = [0, 2]", "grid.sample[1]: 2 is out of range; [data] logits has 2 rows (0 to 1)"),
])
def test_grid_keys_that_data_sets(tmp_path, grid, message):
    path = softmax_config(tmp_path, _npy(tmp_path, ROWS), grid)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(").replace(")", r"\)")):
        config.load(path)


# -- softmax over file data -------------------------------------------------------------------

def test_softmax_of_file_rows_equals_the_same_rows_drawn_as_normal_input(tmp_path):
    """Row k of the file is exactly what input = "normal" draws with seed k (c = 0, spread = 1:
    c + 1*z is z), so each file sample must give the records of that seed's normal input."""
    n, grid = 6, 'c = [0.0, 9.0, 12.0]\nimpl = ["naive", "max_shift"]'
    rows = np.array([np.random.default_rng(seed).standard_normal(n) for seed in (0, 1)])
    np.save(tmp_path / "rows.npy", rows)
    from_file = compute_records(config.load(softmax_config(tmp_path, "rows.npy", grid)))
    measured = ["value", "truth", "rel_error", "ulp_error", "outcome", "truth_class", "fp_flags"]
    for seed in (0, 1):
        path = tmp_path / f"normal{seed}.toml"
        path.write_text(f'case = "softmax"\ndtypes = ["float16", "bfloat16"]\nseed = {seed}\n'
                        f'[grid]\ninput = "normal"\nn = {n}\n{grid}\n')
        synthetic = compute_records(config.load(path))
        mine = [r for r in from_file if r["sample"] == seed]
        assert len(mine) == len(synthetic) == 2 * 3 * 2 * 3
        for a, b in zip(mine, synthetic, strict=True):
            assert (a["dtype"], a["impl"], a["quantity"], a["c"]) == \
                   (b["dtype"], b["impl"], b["quantity"], b["c"])
            for key in measured:
                assert a[key] == b[key] or (a[key] != a[key] and b[key] != b[key]), key
    # the shift c reaches the float16 cliff: exp(12 + max z) overflows in naive softmax
    naive = {(r["sample"], r["c"]): r["outcome"] for r in from_file
             if r["dtype"] == "float16" and r["impl"] == "naive" and r["quantity"] == "softmax"}
    assert naive[(0, 0.0)] == "ok" and naive[(0, 12.0)] == "nan"


def test_run_records_sample_and_meta_records_the_file(tmp_path, run_cli):
    np.save(tmp_path / "l.npy", ROWS.astype(np.float16))
    path = softmax_config(tmp_path, "l.npy", 'impl = "max_shift"')
    status, out, err = run_cli("run", path, "--results", tmp_path / "res")
    assert status == 0, err
    records = fpstudy.load(tmp_path / "res" / "exp")
    assert sorted(set(records["sample"])) == [0, 1]
    meta = json.loads((tmp_path / "res" / "exp" / "meta.json").read_text())
    described = meta["config"]["data"]["logits"]
    import hashlib
    assert described == {"file": "l.npy", "path": str(tmp_path / "l.npy"), "key": None,
                         "shape": [2, 3], "dtype": "float16",
                         "sha256": hashlib.sha256((tmp_path / "l.npy").read_bytes())
                         .hexdigest()}
    assert "sample=1" in out


def test_changed_data_changes_the_config_hash(tmp_path):
    path = softmax_config(tmp_path, _npy(tmp_path, ROWS))
    before = config.load(path).sha256()
    _npy(tmp_path, ROWS + 1)
    assert config.load(path).sha256() != before


def test_a_worker_reads_the_file_again_and_refuses_a_changed_one(tmp_path):
    from fpstudy.errors import UserError
    from fpstudy.runner import jobs_of, run_point

    path = softmax_config(tmp_path, _npy(tmp_path, ROWS))
    exp = config.load(path)
    job = jobs_of(exp)[0]
    data._CACHE.clear()  # as in a fresh worker process
    assert run_point(job)
    data._CACHE.clear()
    _npy(tmp_path, ROWS + 1)
    with pytest.raises(UserError, match="changed while the experiment ran"):
        run_point(job)


def test_make_reruns_an_experiment_when_its_data_file_changes(tmp_path):
    """The Makefile reads each config's [data] files (fpstudy.dataspec, standard library
    only) as prerequisites of its results: up to date, then out of date once the file changes."""
    import os
    import shutil
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for name in ("Makefile", "pyproject.toml", "fpstudy/__init__.py", "fpstudy/dataspec.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / name, tmp_path / name)
    (tmp_path / "experiments" / "in").mkdir(parents=True)
    (tmp_path / "experiments" / "x.toml").write_text(
        'case = "softmax"\n[data]\nlogits = "in/l.npy"\n')
    np.save(tmp_path / "experiments" / "in" / "l.npy", ROWS)
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / ".installed").touch()
    meta = tmp_path / "results" / "x" / "meta.json"
    meta.parent.mkdir(parents=True)
    meta.touch()
    for path in tmp_path.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000))
    os.utime(meta, (2_000_000, 2_000_000))

    def up_to_date():
        return subprocess.run(["make", "-q", "results/x/meta.json"], cwd=tmp_path,
                              capture_output=True).returncode == 0

    assert up_to_date()
    os.utime(tmp_path / "experiments" / "in" / "l.npy", (3_000_000, 3_000_000))
    assert not up_to_date()


# -- deep_product and deep_gradients from files ------------------------------------------------

def _records_by(records, *keys):
    return {tuple(r[k] for k in keys): r for r in records}


def _same(a, b, keys=("value", "truth", "outcome", "truth_class", "rel_error")):
    for k in keys:
        assert a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]), k


def test_deep_product_weights_file_equals_the_generated_weights(tmp_path):
    """The gaussian stack deep_product draws, saved and read back, gives the same records."""
    grid = 'init = "gaussian"\nscale = 16.0\nwidth = 3\nmax_depth = 6\nx = [1.0, -1.0, 0.5]\n'
    (tmp_path / "gen.toml").write_text(f'case = "deep_product"\ndtypes = ["float16"]\n'
                                       f'[grid]\n{grid}')
    generated = config.load(tmp_path / "gen.toml")
    from fpstudy.cases import deep_product
    W = deep_product.inputs(generated.points[0], np.random.default_rng(0))["W"]
    np.save(tmp_path / "W.npy", W / 16.0)  # unscaled (exactly: a power of 2)
    np.save(tmp_path / "x.npy", np.array([[1.0, -1.0, 0.5], [2.0, 2.0, 2.0]]))
    (tmp_path / "file.toml").write_text(
        'case = "deep_product"\ndtypes = ["float16"]\n[data]\nweights = "W.npy"\nx = "x.npy"\n'
        '[grid]\nscale = 16.0\n')
    from_file = config.load(tmp_path / "file.toml")
    assert from_file.grid["max_depth"] == [6] and from_file.grid["width"] == [3]
    mine = _records_by(compute_records(from_file), "sample", "depth")
    theirs = compute_records(generated)
    assert any(r["outcome"] != "ok" for r in theirs)
    for r in theirs:
        _same(mine[(0, r["depth"])], r)
    assert mine[(1, 1)]["truth"] != mine[(0, 1)]["truth"]  # the second row is its own input


def test_deep_product_rectangular_layers_match_numpy(tmp_path):
    rng = np.random.default_rng(2)
    layers = {"W1": rng.standard_normal((4, 3)), "W2": rng.standard_normal((2, 4)),
              "W3": rng.standard_normal((5, 2))}
    np.savez(tmp_path / "net.npz", **layers)
    (tmp_path / "e.toml").write_text(
        'case = "deep_product"\ndtypes = ["float64"]\n[data]\nweights = "net.npz"\n'
        '[grid]\nx = [1.0, 2.0, -0.5]\n')
    records = _records_by(compute_records(config.load(tmp_path / "e.toml")), "depth")
    y = np.array([1.0, 2.0, -0.5])
    for k in (1, 2, 3):
        y = layers[f"W{k}"] @ y
        assert records[(k,)]["truth"] == pytest.approx(np.abs(y).max(), rel=1e-13)
        assert records[(k,)]["outcome"] == "ok" and records[(k,)]["rel_error"] < 1e-14


def test_deep_gradients_rectangular_equals_the_identity_mlp(tmp_path):
    """Rectangular layers through deep_gradients and through an identity mlp with squared
    error (checked against mpmath differentiation in test_mlp) give the same records."""
    rng = np.random.default_rng(5)
    np.savez(tmp_path / "net.npz", W1=8 * rng.standard_normal((4, 3)),
             W2=8 * rng.standard_normal((2, 4)), W3=8 * rng.standard_normal((3, 2)))
    common = ('dtypes = ["float16", "bfloat16"]\n[data]\nweights = "net.npz"\n[grid]\n'
              'x = [1.0, 2.0, -0.5]\ntarget = [0.5, 0.25, -1.0]\n')
    (tmp_path / "dg.toml").write_text('case = "deep_gradients"\n' + common)
    (tmp_path / "mlp.toml").write_text('case = "mlp"\n' + common +
                                       'activation = "identity"\nloss = "squared_error"\n')
    theirs = compute_records(config.load(tmp_path / "dg.toml"))
    mine = _records_by(compute_records(config.load(tmp_path / "mlp.toml")),
                       "dtype", "quantity", "layer")
    assert len(theirs) == 2 * (3 * 3 + 1)
    assert any(r["outcome"] != "ok" for r in theirs)
    for r in theirs:
        _same(mine[(r["dtype"], r["quantity"], r["layer"])], r)


@pytest.mark.parametrize("case, files, grid, message", [
    ("deep_product", {"W1": np.ones((2, 2)), "b1": np.ones(2)}, "",
     "data.weights: holds biases (b<k>); deep_product is a linear network without them"),
    ("deep_product", {"W1": np.ones((2, 2))}, "max_depth = 3",
     "grid.max_depth[0]: 3 is more than the 1 layers of data.weights"),
    ("deep_product", {"W1": np.ones((2, 2))}, "width = 2",
     "grid.width: comes from data.weights (1 layers, n_0 = 2); leave it out"),
    ("deep_gradients", {"W1": np.ones((3, 2))}, "target = [1.0, 2.0]",
     "grid.target: has 2 entries; the last layer of data.weights gives 3"),
    ("deep_gradients", {"W1": np.ones((3, 2)), "W2": np.ones((3, 2))}, "",
     "data.weights: W2 has shape (3, 2) but W1 gives 3 numbers"),
])
def test_linear_network_file_errors(tmp_path, case, files, grid, message):
    np.savez(tmp_path / "net.npz", **files)
    path = tmp_path / "e.toml"
    path.write_text(f'case = "{case}"\n[data]\nweights = "net.npz"\n[grid]\n{grid}\n')
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value).startswith(f"{path}: {message}")


def test_x_file_must_fit_the_first_layer(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((3, 5)))
    path = tmp_path / "e.toml"
    path.write_text('case = "deep_product"\n[data]\nx = "x.npy"\n[grid]\nwidth = 4\n')
    with pytest.raises(ConfigError, match="data.x: has 5 numbers per sample; the first layer "
                                          "takes 4"):
        config.load(path)


def test_parallel_workers_read_the_data_and_give_the_serial_records(tmp_path, run_cli):
    np.save(tmp_path / "l.npy", ROWS)
    path = tmp_path / "tiny.toml"
    path.write_text(SOFTMAX.format(file="l.npy") + '[grid]\nimpl = ["naive", "max_shift"]\n')
    assert run_cli("run", path, "--results", tmp_path / "a")[0] == 0
    data._CACHE.clear()  # workers must read the file themselves, not inherit it
    assert run_cli("run", path, "--results", tmp_path / "b", "--jobs", "2")[0] == 0
    a = pd.read_parquet(tmp_path / "a" / "tiny" / "records.parquet")
    b = pd.read_parquet(tmp_path / "b" / "tiny" / "records.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_a_row_the_format_cannot_hold_is_refused_naming_the_sample(tmp_path, run_cli):
    np.save(tmp_path / "big.npy", np.array([[1.0, 2.0], [1e5, 3.0]]))
    path = softmax_config(tmp_path, "big.npy")
    status, _, err = run_cli("check", path)
    assert status == 2
    assert err.startswith(f"fpstudy: {path}: grid: float16 cannot hold logits (max 65504) at "
                          "sample = 1: they round to inf or NaN")
