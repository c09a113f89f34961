"""summarize.trials on hand-built records: every expected number is worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

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
