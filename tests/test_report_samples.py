"""Report tables for experiments on data files: samples by outcome, and the shift headroom."""

import numpy as np
import pandas as pd
import pytest

from fpstudy.report.cases._samples import headroom, worst_per_sample


def _records(rows):
    return pd.DataFrame(rows, columns=["dtype", "impl", "sample", "c", "outcome", "truth_class"])


def test_worst_outcome_and_avoidable_per_sample():
    rec = _records([
        ("float16", "naive", 0, 0.0, "ok", "normal"),
        ("float16", "naive", 0, 0.0, "underflow", "underflows"),  # forced by the truth
        ("float16", "naive", 1, 0.0, "subnormal", "subnormal"),   # forced as well
        ("float16", "naive", 1, 0.0, "nan", "normal"),            # avoidable
    ])
    worst = worst_per_sample(rec, ["dtype"]).set_index("sample")
    assert worst.loc[0, "outcome"] == "underflow" and not worst.loc[0, "avoidable"]
    assert worst.loc[1, "outcome"] == "nan" and worst.loc[1, "avoidable"]


def test_headroom_is_the_run_of_c_around_zero_without_avoidable_failures():
    rows = []
    fails = {-20.0: {0, 1}, -10.0: set(), 0.0: set(), 5.0: set(), 10.0: {1}, 20.0: {0, 1}}
    for c, failing in fails.items():
        for s in (0, 1):
            outcome = "nan" if s in failing else "ok"
            rows.append(("float16", "naive", s, c, outcome, "normal"))
            rows.append(("float16", "naive", s, c, "underflow", "underflows"))  # never counts
    room = headroom(_records(rows), "c", ["dtype"]).iloc[0]
    assert (room["ok_from"], room["ok_to"]) == (-10.0, 5.0)
    assert (room["fails_below"], room["failing_below"]) == (-20.0, 2)
    assert (room["fails_above"], room["failing_above"]) == (10.0, 1)


def test_headroom_when_zero_itself_fails():
    rows = [("float16", "naive", s, c, "nan" if s == 0 else "ok", "normal")
            for c in (-1.0, 0.0, 1.0) for s in (0, 1, 2)]
    room = headroom(_records(rows), "c", ["dtype"]).iloc[0]
    assert room["failing_at"] == 1 and np.isnan(room["ok_from"])


@pytest.mark.slow  # draws every figure of the report (about 10 s)
def test_report_of_a_data_softmax_has_the_sample_tables_and_figure(tmp_path, run_cli):
    np.save(tmp_path / "l.npy", np.array([[0.0, 12.0, -3.0], [1.0, 2.0, 3.0]]))
    (tmp_path / "d.toml").write_text(
        'case = "softmax"\ndtypes = ["float16"]\n[data]\nlogits = "l.npy"\n'
        '[grid]\nimpl = ["naive", "max_shift"]\nc = [-30, -20, 0, 5, 20]\n')
    assert run_cli("run", tmp_path / "d.toml", "--results", tmp_path / "r")[0] == 0
    status, _, err = run_cli("report", "--results", tmp_path / "r")
    assert status == 0, err
    md = (tmp_path / "r" / "report.md").read_text()
    assert "Samples by outcome of their softmax at c = 0" in md
    # sample 0: exp(12) overflows float16 (max 65504 < e^12): naive fails at c = 0 already
    assert "| float16 | naive | 2 | not at 0: 1 of 2 fail |" in md
    assert "| float16 | max_shift | 2 | -30 to 20 |" in md
    assert (tmp_path / "r" / "d" / "figures" / "softmax_samples_hold.png").exists()


def test_mlp_hook_counts_samples_by_worst_outcome_and_draws_them(tmp_path, run_cli):
    import matplotlib

    from fpstudy.report.cases import mlp as hook
    from fpstudy.report.study import load_study
    from fpstudy.report.style import RC

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "net.npz", W1=rng.standard_normal((3, 2)), W2=rng.standard_normal((2, 3)))
    # sample 1's input overflows float16's first layer; sample 0 stays small
    np.save(tmp_path / "x.npy", np.array([[0.5, -0.25], [3e4, 3e4]]))
    (tmp_path / "m.toml").write_text(
        'case = "mlp"\ndtypes = ["float16", "float32"]\n[data]\nweights = "net.npz"\n'
        'x = "x.npy"\n[grid]\nactivation = "tanh"\n')
    assert run_cli("run", tmp_path / "m.toml", "--results", tmp_path / "r")[0] == 0
    study = load_study(tmp_path / "r" / "m")
    worst, loss = hook.tables(study)
    rec = study.records
    for row in worst.rows:
        dtype, n = row[0], row[1]
        mine = rec[rec["dtype"] == dtype].groupby("sample")["outcome"].agg(
            lambda s: max(s, key=["ok", "subnormal", "underflow", "overflow", "nan"].index))
        assert n == 2
        for outcome, cell in zip(["ok", "subnormal", "underflow", "overflow", "nan"], row[2:7],
                                 strict=True):
            count = int((mine == outcome).sum())
            assert cell == ("" if count == 0 else f"{100 * count / 2:.0f}% ({count})")
    assert worst.rows[0][0] == "float16" and worst.rows[0][2:7].count("") == 3
    with matplotlib.rc_context(RC):
        (figure,) = hook.figures(study)
    assert figure.png.exists()
