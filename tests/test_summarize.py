"""summarize.trials on hand-built records: every expected number is worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fpstudy.schema import SUMMARY_COLUMNS, group_columns
from fpstudy.summarize import runs, trials


def record(trial, err, outcome="ok", value=1.0, **over):
    row = {"experiment": "e", "case": "c", "dtype": "bfloat16", "impl": "",
           "quantity": "loss", "rounding": "stochastic", "subnormals": "gradual",
           "overflow": "inf", "trial": trial, "step": 5, "value": value, "truth": 1.0,
           "value_log10": 0.0, "truth_log10": 0.0, "rel_error": err, "ulp_error": err,
           "outcome": outcome, "truth_class": "normal", "fp_flags": "",
           "truth_precision": 113, "truth_bound": 0.0, "truth_settled": True}
    row.update(over)
    return row


def test_two_finite_errors_have_the_sample_standard_deviation():
    # errors 1 and 3: mean 2, sample variance ((1-2)^2 + (3-2)^2) / (2-1) = 2
    rows = [record(0, 1.0, value=0.5), record(1, 3.0, value=1.5)]
    row = trials(pd.DataFrame(rows), "step").iloc[0]
    assert row["mean_rel_error"] == 2.0
    assert row["std_rel_error"] == math.sqrt(2)
    assert (row["mean_value"], row["truth"]) == (1.0, 1.0)


def test_an_infinite_value_has_no_mean_value():
    rows = [record(0, np.inf, "overflow", value=np.inf), record(1, 0.0)]
    assert np.isnan(trials(pd.DataFrame(rows), "step")["mean_value"].iloc[0])


def test_one_finite_error_has_zero_spread():
    row = trials(pd.DataFrame([record(0, 0.5), record(1, np.nan, "nan")]), "step").iloc[0]
    assert (row["mean_rel_error"], row["std_rel_error"]) == (0.5, 0.0)


def test_no_finite_error_gives_nan_statistics_without_a_warning():
    # every trial NaN (pytest turns numpy's "mean of empty slice" warning into an error)
    rows = [record(t, np.nan, "nan", value=np.nan) for t in range(3)]
    row = trials(pd.DataFrame(rows), "step").iloc[0]
    assert row["trials"] == 3 and row["frac_nan"] == 1.0
    for col in ("mean_rel_error", "std_rel_error", "min_rel_error", "max_rel_error",
                "mean_value"):
        assert np.isnan(row[col]), col


def test_a_group_whose_key_is_missing_still_gets_its_row():
    # a NaN in a grouping column (a parameter that one group lacks) is a group of its own
    rows = [record(t, 1.0, width=w) for w in (2.0, np.nan) for t in range(2)]
    table = trials(pd.DataFrame(rows), "step")
    assert len(table) == 2 and list(table["trials"]) == [2, 2]
    assert table["width"].isna().sum() == 1


def test_the_case_extra_columns_do_not_split_a_group():
    # a case's own per-record column (here different in each trial) is not a grouping key
    rows = [record(t, 1.0, sample_loss=float(t)) for t in range(4)]
    table = trials(pd.DataFrame(rows), "step", extra=("sample_loss",))
    assert len(table) == 1 and table["trials"].iloc[0] == 4


def along(outcomes, errors, **over):
    """Records of one deterministic group at steps 1, 2, ... with these outcomes and errors."""
    return [record(0, e, o, step=k, rounding="nearest_even", **over)
            for k, (o, e) in enumerate(zip(outcomes, errors, strict=True), start=1)]


def test_runs_cut_where_the_outcome_changes():
    rows = along(["ok", "ok", "underflow", "underflow", "underflow"],
                 [0.25, 0.5, 1.0, np.nan, 1.0])
    table = runs(pd.DataFrame(rows[::-1]), "step")      # any record order: sorted by step
    assert table[["outcome", "start", "stop", "points"]].values.tolist() == \
        [["ok", 1, 2, 2], ["underflow", 3, 5, 3]]
    assert table["max_rel_error"].tolist() == [0.5, 1.0]


def test_runs_ignore_the_case_extra_columns():
    # a case's own column that differs at every step does not cut a run
    rows = [dict(r, sample_loss=float(k)) for k, r in enumerate(along(["ok"] * 3, [0.0] * 3))]
    table = runs(pd.DataFrame(rows), "step", extra=("sample_loss",))
    assert table[["outcome", "start", "stop", "points"]].values.tolist() == [["ok", 1, 3, 3]]


def test_runs_keep_a_group_whose_key_is_missing():
    rows = along(["ok", "nan"], [0.0, np.nan], width=2.0) + \
        along(["ok", "nan"], [0.0, np.nan], width=np.nan)
    table = runs(pd.DataFrame(rows), "step")
    assert len(table) == 4 and table["width"].isna().sum() == 2
    assert np.isnan(table["max_rel_error"].iloc[1])    # a run with no finite error


def test_runs_of_no_records_still_have_the_summary_columns():
    """An empty records frame (nothing was run) gives an empty table with the group columns
    and the run columns, so summary.csv keeps its header."""
    columns = list(pd.DataFrame(along(["ok"], [0.0])).columns)
    table = runs(pd.DataFrame(columns=columns), "step")
    assert len(table) == 0
    assert list(table.columns)[-5:] == ["outcome", "start", "stop", "points", "max_rel_error"]
    assert "dtype" in table.columns and "case" in table.columns


def runs_by_definition(records: pd.DataFrame, sweep: str, extra=()) -> pd.DataFrame:
    """runs as the summary was first written: each group apart (in the order groups are first
    met), sorted by the sweep, cut where the outcome changes, a row per run."""
    keys = group_columns(records.columns, sweep, extra)
    out = []
    for key, group in records.groupby(keys, sort=False, dropna=False):
        g = group.sort_values(sweep)
        outcome = g["outcome"].to_numpy()
        cut = np.flatnonzero(outcome[1:] != outcome[:-1]) + 1
        sweep_values, rel = g[sweep].to_numpy(), g["rel_error"].to_numpy()
        for lo, hi in zip(np.r_[0, cut], np.r_[cut, len(g)], strict=True):
            finite = rel[lo:hi][~np.isnan(rel[lo:hi])]
            out.append({**dict(zip(keys, key, strict=True)), "outcome": outcome[lo],
                        "start": sweep_values[lo], "stop": sweep_values[hi - 1],
                        "points": hi - lo,
                        "max_rel_error": finite.max() if finite.size else np.nan})
    return pd.DataFrame(out, columns=[*keys, *SUMMARY_COLUMNS[:-1]])


@pytest.mark.parametrize("seed", range(30))
def test_runs_agree_with_the_definition_on_random_records(seed):
    """Groups met in any order (records shuffled), outcomes that flicker, runs of one point,
    errors NaN or infinite, a missing key, integer, boolean and text keys, an extra column."""
    rng = np.random.default_rng(seed)
    rows = []
    for width in [2.0, 4.0, np.nan][: 1 + seed % 3]:
        for dtype in ["float16", "bfloat16"]:
            for flag in [True, False][: 1 + seed % 2]:
                steps = rng.permutation(int(rng.integers(1, 12))) + 1
                outcomes = rng.choice(["ok", "subnormal", "underflow", "nan"], len(steps),
                                      p=[0.6, 0.2, 0.1, 0.1])
                errors = rng.choice([0.5, 1e-3, np.nan, np.inf], len(steps))
                for k, o, e in zip(steps, outcomes, errors, strict=True):
                    rows.append(record(0, float(e), outcome=str(o), step=int(k), dtype=dtype,
                                       width=width, use_bias=flag, loss_seen=rng.random(),
                                       layer=int(seed % 4)))
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    frame = frame.astype({"outcome": "str", "dtype": "str"})
    got = runs(frame, "step", extra=("loss_seen",))
    want = runs_by_definition(frame, "step", extra=("loss_seen",))
    assert len(want) >= 2
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_runs_of_records_with_no_group_column_are_one_group():
    """Only the sweep and the measurements: every record is one group, cut by outcome."""
    frame = pd.DataFrame({"step": [3, 1, 2, 4], "outcome": ["nan", "ok", "ok", "nan"],
                          "rel_error": [np.nan, 0.25, 0.5, np.nan]})
    table = runs(frame, "step")
    assert table.values.tolist()[0] == ["ok", 1, 2, 2, 0.5]
    assert table.values.tolist()[1][:4] == ["nan", 3, 4, 2]
    assert np.isnan(table["max_rel_error"].iloc[1]) and len(table) == 2


# --------------------------------------------------------------------------- summarize

def fake_experiment(predict=None, grid=None, extra=()):
    """An experiment of a made-up case swept over `depth`, with a `scale` and an `impl`
    parameter, whose predictions are whatever the test says they are."""
    from types import SimpleNamespace

    from fpstudy.config import Experiment
    from fpstudy.params import Param

    case = SimpleNamespace(NAME="fake", SWEEP="depth", EXTRA_COLUMNS=extra,
                           PARAMS={"depth": Param("int", 1), "scale": Param("float", 1.0),
                                   "impl": Param("impl", "a", choices=("a", "b"))})
    if predict is not None:
        case.predict = predict
    grid = grid or {"depth": [3, 1, 2], "scale": [0.5, 2.0], "impl": ["a"]}
    return Experiment(path=None, name="e", case=case, description="", dtypes=["float16"],
                      seed=0, truth_precision=192, max_precision=4096, grid=grid)


def point_records(outcomes, scale=2.0, impl="a", dtype="float16", quantity="y", **over):
    """One record per sweep value 1, 2, ... with the given outcomes."""
    return [record(0, 0.0, outcome=o, depth=d, scale=scale, impl=impl, dtype=dtype,
                   quantity=quantity, rounding="nearest_even", **over)
            for d, o in enumerate(outcomes, start=1)]


def summarized(exp, rows):
    from fpstudy.summarize import summarize

    columns = [*record(0, 0.0, depth=1, scale=1.0), *exp.case.EXTRA_COLUMNS]
    frame = pd.DataFrame(rows, columns=columns)
    return summarize(frame.drop(columns=["step"]), exp)


def test_a_case_without_predictions_predicts_nothing():
    table = summarized(fake_experiment(), point_records(["ok", "overflow"]))
    assert list(table["outcome"]) == ["ok", "overflow"]
    assert table["predicted_start"].isna().all()


def test_each_run_gets_the_start_predicted_for_its_point_format_and_quantity():
    calls = []

    def predict(point, fmt):
        calls.append((dict(point), fmt.name))
        if point["scale"] == 2.0:
            return {"y": {"overflow": 7, "nan": 9}, "z": {"overflow": 5}}
        return {}

    exp = fake_experiment(predict)
    rows = (point_records(["ok", "overflow", "nan"]) + point_records(["ok", "overflow"], scale=0.5)
            + point_records(["overflow"], quantity="z"))
    table = summarized(exp, rows)
    got = {(r.scale, r.quantity, r.outcome): r.predicted_start for r in table.itertuples()}
    assert got[(2.0, "y", "overflow")] == 7 and got[(2.0, "y", "nan")] == 9
    assert got[(2.0, "z", "overflow")] == 5
    assert math.isnan(got[(2.0, "y", "ok")])            # nothing predicted for ok
    assert math.isnan(got[(0.5, "y", "overflow")])      # nothing predicted at this point
    # once per (point, format, rule), whatever the number of rows and quantities; the point is
    # one of the grid's own (at any of its sweep values), and the format the row's
    assert sorted(((p.pop("depth") in (1, 2, 3), p, f) for p, f in calls),
                  key=lambda c: c[1]["scale"]) == [
        (True, {"scale": 0.5, "impl": "a"}, "float16"),
        (True, {"scale": 2.0, "impl": "a"}, "float16")]


def test_the_kth_run_of_an_outcome_gets_the_kth_predicted_start():
    exp = fake_experiment(lambda point, fmt: {"y": {"nan": (1, 6), "ok": 2}})
    rows = point_records(["nan", "ok", "nan", "ok", "nan"])
    table = summarized(exp, rows)
    assert list(table["outcome"]) == ["nan", "ok", "nan", "ok", "nan"]
    starts = list(table["predicted_start"])
    assert starts[0] == 1 and starts[2] == 6 and math.isnan(starts[4])  # a third run: none
    assert starts[1] == starts[3] == 2  # a single start is given to every run


def test_runs_are_counted_per_group_for_tuple_starts():
    exp = fake_experiment(lambda point, fmt: {"y": {"nan": (1, 6)}})
    rows = point_records(["nan", "ok"]) + point_records(["nan", "ok"], impl="b")
    exp.grid["impl"] = ["a", "b"]
    table = summarized(exp, rows)
    nan_rows = table[table["outcome"] == "nan"]
    assert list(nan_rows["impl"]) == ["a", "b"] and list(nan_rows["predicted_start"]) == [1, 1]


def test_the_impl_of_the_row_picks_the_point():
    exp = fake_experiment(lambda point, fmt: {"y": {"overflow": 4 if point["impl"] == "b"
                                                    else 8}})
    exp.grid["impl"] = ["a", "b"]
    table = summarized(exp, point_records(["overflow"], impl="b")
                       + point_records(["overflow"], impl="a"))
    assert dict(zip(table["impl"], table["predicted_start"], strict=True)) == {"b": 4, "a": 8}


def test_a_row_of_no_grid_point_has_no_prediction():
    """A row whose point is not in the grid gets NaN (a float column, not None), and the
    rows after it still get theirs."""
    exp = fake_experiment(lambda point, fmt: {"y": {"overflow": 3}})
    table = summarized(exp, point_records(["overflow"], scale=9.0)
                       + point_records(["overflow"], scale=2.0))
    assert list(table["scale"]) == [9.0, 2.0]
    assert table["predicted_start"].dtype == np.float64
    assert math.isnan(table["predicted_start"].iloc[0]) and table["predicted_start"].iloc[1] == 3


def test_no_start_for_an_outcome_is_nan_not_none():
    exp = fake_experiment(lambda point, fmt: {"y": {"overflow": 3, "nan": None}})
    table = summarized(exp, point_records(["ok", "overflow", "nan"]))
    assert table["predicted_start"].dtype == np.float64
    assert [math.isnan(v) for v in table["predicted_start"]] == [True, False, True]


def test_sweep_values_are_passed_sorted_when_the_case_takes_them():
    seen = []

    def predict(point, fmt, sweep_values=None):
        seen.append(sweep_values)
        return {"y": {"overflow": sweep_values[-1]}}

    table = summarized(fake_experiment(predict), point_records(["overflow"]))
    assert seen == [[1, 2, 3]] and list(table["predicted_start"]) == [3]


def test_sweep_values_are_not_passed_when_the_sweep_is_not_a_grid_axis():
    seen = []

    def predict(point, fmt, sweep_values="not given"):
        seen.append(sweep_values)
        return {}

    summarized(fake_experiment(predict, grid={"scale": [2.0], "impl": ["a"]}),
               point_records(["overflow"]))
    assert seen == ["not given"]


def test_a_rule_reaches_a_case_that_takes_it_and_silences_one_that_does_not():
    from fpstudy.rounding import Rule

    rules = []

    def with_rule(point, fmt, rule=None):
        rules.append(rule)
        return {"y": {"overflow": 5}}

    def without_rule(point, fmt):
        return {"y": {"overflow": 5}}

    rows = point_records(["overflow"]) + [
        {**r, "subnormals": "flush"} for r in point_records(["overflow"])]
    table = summarized(fake_experiment(with_rule), rows)
    assert list(table["predicted_start"]) == [5, 5]
    # IEEE's default rule is not passed (a case need not take `rule` to predict it)
    assert rules == [None, Rule(subnormals="flush")]
    table = summarized(fake_experiment(without_rule), rows)
    by_rule = dict(zip(table["subnormals"], table["predicted_start"], strict=True))
    assert by_rule["gradual"] == 5 and math.isnan(by_rule["flush"])


def test_summarize_keeps_the_case_extra_columns_out_of_its_groups():
    exp = fake_experiment(extra=("argmax",))
    rows = [{**r, "argmax": i} for i, r in enumerate(point_records(["ok", "ok", "overflow"]))]
    table = summarized(exp, rows)
    assert list(table["outcome"]) == ["ok", "overflow"] and list(table["points"]) == [2, 1]
    assert "argmax" not in table.columns


def test_summarize_of_no_records_has_the_summary_columns():
    from fpstudy.schema import SUMMARY_COLUMNS

    rows = point_records(["ok"])
    table = summarized(fake_experiment(lambda p, f: {"y": {"ok": 1}}), rows[:0])
    assert table.empty and list(table.columns)[-len(SUMMARY_COLUMNS):] == list(SUMMARY_COLUMNS)
