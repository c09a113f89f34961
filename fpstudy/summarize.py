"""Where each outcome holds along the sweep axis: maximal runs of one outcome per group.

A group is one (dtype, impl, quantity, grid point without the sweep axis). Its records are
sorted by the sweep value and cut wherever the outcome changes; each run becomes one row with
its first and last sweep value, its number of points and its largest relative error. Where the
case predicts the first sweep value of an outcome from the format's limits, the row carries it
as predicted_start beside the measured start. A prediction may be a tuple of starts when an
outcome holds in several runs (naive softmax: nan below the low cliff and above the high one):
the k-th run of that outcome in a group gets the k-th start.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd

from .config import Experiment
from .formats import FORMATS
from .metrics import OUTCOMES
from .params import column_value
from .rounding import RULE_AXES, Rule
from .schema import SUMMARY_COLUMNS, extra_columns, group_columns


def runs(records: pd.DataFrame, sweep: str, extra=()) -> pd.DataFrame:
    """One row per maximal run of one outcome along `sweep`, per group (no prediction).

    Groups come in the order they are first met in `records`, each group's runs in sweep
    order: the records are sorted once, by group and then sweep value, and cut wherever the
    group or the outcome changes (not a sort and a loop per group)."""
    keys = group_columns(records.columns, sweep, extra)
    columns = [*keys, *SUMMARY_COLUMNS[:-1]]
    if records.empty:
        return pd.DataFrame([], columns=columns)
    order, group = group_order(records, keys, sweep)
    outcome = records["outcome"].to_numpy()[order]
    changes = (group[1:] != group[:-1]) | (outcome[1:] != outcome[:-1])
    first = np.flatnonzero(np.r_[True, changes])
    last = np.r_[first[1:], len(order)] - 1
    rel = records["rel_error"].to_numpy(dtype=np.float64)[order]
    largest = np.fmax.reduceat(rel, first)  # NaN only where every error of the run is NaN
    at_first = records.iloc[order[first]]
    out = {k: at_first[k].to_numpy() for k in keys}
    out.update(outcome=outcome[first], start=at_first[sweep].to_numpy(),
               stop=records[sweep].to_numpy()[order[last]], points=last - first + 1,
               max_rel_error=largest)
    return pd.DataFrame(out, columns=columns)


def group_order(frame: pd.DataFrame, keys: list, by: str) -> tuple[np.ndarray, np.ndarray]:
    """The row order that sorts `frame` by group of `keys` (groups numbered in the order they
    are first met, as groupby(keys, sort=False, dropna=False) meets them) and, within a
    group, by column `by`, stably; and each row's group number, in that order."""
    group = (frame.groupby(keys, sort=False, dropna=False).ngroup().to_numpy() if keys
             else np.zeros(len(frame), dtype=np.int64))
    by_value = np.argsort(frame[by].to_numpy(), kind="stable")
    order = by_value[np.argsort(group[by_value], kind="stable")]
    return order, group[order]


def summarize(records: pd.DataFrame, exp: Experiment) -> pd.DataFrame:
    """The summary table of one experiment, with predicted boundaries where the case has them."""
    table = runs(records, exp.case.SWEEP, extra_columns(exp.case))
    table["predicted_start"] = _predictions(table, exp)
    return table


def _predictions(table: pd.DataFrame, exp: Experiment) -> list:
    predict = getattr(exp.case, "predict", None)
    if predict is None or table.empty:
        return [np.nan] * len(table)
    cache: dict = {}
    seen: dict = {}  # (group, quantity, outcome) -> runs of it met so far
    # a grid point (without the sweep axis) as its summary columns show it -> the point
    by_columns = {tuple((k, column_value(v)) for k, v in p.items() if k != exp.case.SWEEP): p
                  for p in exp.points}
    param_keys = [k for k in exp.case.PARAMS if k != exp.case.SWEEP]
    out = []
    needed = [*param_keys, "dtype", *RULE_AXES, "quantity", "outcome"]
    for rowd in table[list(dict.fromkeys(needed))].to_dict("records"):
        ident = tuple((k, rowd[k]) for k in param_keys)
        point = by_columns.get(ident)
        if point is None:
            out.append(np.nan)
            continue
        rule = Rule(*(rowd[k] for k in RULE_AXES))
        ck = (ident, rowd["dtype"], rule)
        if ck not in cache:
            cache[ck] = _call_predict(predict, point, FORMATS[rowd["dtype"]], exp, rule)
        start = cache[ck].get(rowd["quantity"], {}).get(rowd["outcome"])
        if isinstance(start, tuple):  # one start per run of this outcome, in sweep order
            nth = (ck, rowd["quantity"], rowd["outcome"])
            seen[nth] = seen.get(nth, -1) + 1
            start = start[seen[nth]] if seen[nth] < len(start) else None
        out.append(np.nan if start is None else start)
    return out


def _call_predict(predict, point: dict, fmt, exp: Experiment, rule=None) -> dict:
    """predict(point, fmt); a case whose sweep axis is a grid parameter may also take
    `sweep_values` (the grid's values of it), to predict starts that are grid values, and a
    case that knows how a rounding rule moves its thresholds takes `rule`. A case that does
    not predicts nothing under a rule other than IEEE's default."""
    sweep = exp.case.SWEEP
    params = inspect.signature(predict).parameters
    kwargs = {}
    if sweep in exp.grid and "sweep_values" in params:
        kwargs["sweep_values"] = sorted(exp.grid[sweep])
    if rule is not None and not rule.is_default:
        if "rule" not in params:
            return {}
        kwargs["rule"] = rule
    return predict(point, fmt, **kwargs)


def trials(records: pd.DataFrame, sweep: str, extra=()) -> pd.DataFrame:
    """Repetitions of a stochastic rounding, per sweep value: for each group (every column but
    the trial, the sweep axis, the measurements and the case's extras) and sweep value, the
    number of trials, the fraction of them with each outcome, and the mean, standard deviation,
    minimum and maximum of the relative error (over trials whose error is finite; NaN where
    none is) and the mean value. A deterministic rule has one trial: its fractions are 0 or 1.
    """
    if records.empty:
        return pd.DataFrame()
    keys = [c for c in group_columns(records.columns, sweep, extra) if c != "trial"] + [sweep]
    rows = []
    for key, g in records.groupby(keys, sort=False, dropna=False):
        errors = g["rel_error"].to_numpy(dtype=np.float64)
        finite = errors[np.isfinite(errors)]
        counts = g["outcome"].value_counts()
        values = g["value"].to_numpy(dtype=np.float64)
        rows.append({**dict(zip(keys, key, strict=True)), "trials": len(g),
                     **{f"frac_{o}": counts.get(o, 0) / len(g) for o in OUTCOMES},
                     "mean_rel_error": finite.mean() if finite.size else np.nan,
                     "std_rel_error": finite.std(ddof=1) if finite.size > 1 else 0.0
                     if finite.size else np.nan,
                     "min_rel_error": finite.min() if finite.size else np.nan,
                     "max_rel_error": finite.max() if finite.size else np.nan,
                     "mean_value": values.mean() if np.isfinite(values).all() else np.nan,
                     "truth": g["truth"].iloc[0]})
    return pd.DataFrame(rows)
