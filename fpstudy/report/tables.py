"""The report's tables, computed from records and summary alone.

A table is a `Table`: a title, column names and rows of cells; a cell is text, or a `Cell`
with a muted second line (the predicted boundary beside the measured one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..formats import FORMATS
from ..metrics import OUTCOMES
from ..summarize import group_order, trials
from .study import Study, show

MAX_QUIET_ROWS = 12  # above this, rows where every format is ok throughout are left out
FAILURES = OUTCOMES[1:]  # subnormal, underflow, overflow, nan
MAX_CHANGES = 4  # outcome changes listed in one side-by-side cell; more is a flicker
# Truth classes in which the format could have held the exact answer, per failing outcome:
# a subnormal result is a failure only where the truth was normal (or 0); 0, inf or NaN
# are failures wherever the truth was representable at all.
HOLDABLE = {
    "subnormal": ("normal", "zero"),
    "underflow": ("normal", "subnormal", "zero"),
    "overflow": ("normal", "subnormal", "zero"),
    "nan": ("normal", "subnormal", "zero"),
}


@dataclass
class Cell:
    text: str
    detail: str = ""  # a muted second line
    href: str = ""  # a link target for the text


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list]
    note: str = ""
    label_columns: int = 1  # the first columns label the rows: never right-aligned


# --------------------------------------------------------------------------- side by side

def runs_by_group(study: Study) -> list[tuple[dict, dict[str, list[tuple]]]]:
    """(labels, {dtype: runs}) per group of the summary, in the order of
    `study.groups(study.summary)`, each dtype's runs (outcome, start, stop, predicted_start)
    in sweep order: the summary sorted once, by group and then start, rather than every group
    and dtype apart (a fine grid has thousands of groups)."""
    table = study.summary
    keys = study.label_keys
    if table.empty:
        return [] if keys else [({}, {})]
    order, group = group_order(table, keys, "start")
    table = table.iloc[order]
    first = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    by_group = [({k: table[k].iloc[i] for k in keys}, {}) for i in first.tolist()]
    predicted = table["predicted_start"] if "predicted_start" in table else \
        [np.nan] * len(table)
    for g, *run in zip(group.tolist(), table["dtype"], table["outcome"], table["start"],
                       table["stop"], predicted, strict=True):
        by_group[g][1].setdefault(run[0], []).append(tuple(run[1:]))
    return by_group


def boundaries(runs: list[tuple]) -> list[tuple]:
    """Where each outcome begins: (outcome, start, predicted) for every run but a leading ok."""
    return [(o, start, pred) for i, (o, start, _, pred) in enumerate(runs)
            if not (i == 0 and o == "ok")]


def describe_runs(runs: list[tuple]) -> Cell:
    """A side-by-side cell: "overflow @28, nan @29", and the prediction where there is one."""
    if not runs:
        return Cell("not run")
    if len(runs) == 1:
        return Cell(f"{runs[0][0]} throughout")
    found = boundaries(runs)
    if len(found) <= MAX_CHANGES:
        shown = [f"{o} @{show(start)}" for o, start, _ in found]
    else:  # it flickers: where each failing outcome first begins, and how often it changes
        firsts = {}
        for o, start, _ in found:
            if o != "ok":
                firsts.setdefault(o, start)
        shown = [f"{o} @{show(start)}" for o, start in firsts.items()]
        shown.append(f"{len(runs) - 1} changes in all")
    first_of = {}
    for o, start, pred in found:
        first_of.setdefault(o, (start, pred))
    predicted = [(o, start, pred) for o, (start, pred) in first_of.items() if _known(pred)]
    detail = ""
    if predicted:
        if all(float(start) == float(pred) for _, start, pred in predicted):
            detail = "as predicted"
        else:
            detail = "predicted: " + ", ".join(f"{o} @{show(pred)}" for o, _, pred in predicted)
    return Cell(", ".join(shown), detail)


def _known(v) -> bool:
    return v is not None and not (isinstance(v, float) and np.isnan(v))


def side_by_side(study: Study) -> Table:
    """Rows are grid points (and impl, quantity), columns formats, cells the outcome starts."""
    rows, all_ok = [], 0
    for labels, by_dtype in runs_by_group(study):
        cells = [describe_runs(by_dtype.get(d, [])) for d in study.dtypes]
        if all(c.text == "ok throughout" and not c.detail for c in cells):
            all_ok += 1
        rows.append([study.label(labels), *cells])
    note = (f"Where each outcome begins along `{study.sweep}` (the first run of ok is not "
            "listed). Below a cell, the boundary predicted from the format's limits, where "
            "the case has a closed form.")
    if all_ok and len(rows) > MAX_QUIET_ROWS:
        rows = [r for r in rows
                if not all(c.text == "ok throughout" and not c.detail for c in r[1:])]
        note += f" {all_ok} points where every format is ok throughout are not listed."
    return Table("Formats side by side", ["point", *study.dtypes], rows, note,
                 label_columns=1 + len(study.dtypes))


# --------------------------------------------------------------------------- errors

def bits_of_error(ulp_error) -> np.ndarray:
    """log2(ulp error + 1): 0 for a correctly rounded exact result, ~p when nothing is right."""
    return np.log2(np.asarray(ulp_error, dtype=float) + 1.0)


def error_table(study: Study) -> Table:
    """Per format (and impl, quantity): the largest error among ok points, and u for scale."""
    keys = [k for k in ("impl", "quantity") if k in study.label_keys]
    rec = study.records
    rows = []
    for dtype in study.dtypes:
        sub = rec[rec["dtype"] == dtype]
        parts = sub.groupby(keys, sort=False, dropna=False) if keys else [((), sub)]
        for key, rows_k in parts:
            key = key if isinstance(key, tuple) else (key,)
            ok = rows_k[(rows_k["outcome"] == "ok") & np.isfinite(rows_k["rel_error"])]
            u = FORMATS[dtype].unit_roundoff if dtype in FORMATS else np.nan
            label = [dtype, *(show(k) for k in key)]
            if ok.empty:
                rows.append([*label, "no ok points", "", "", _sci(u), ""])
                continue
            worst = ok.loc[ok["rel_error"].idxmax()]
            bits = bits_of_error(ok["ulp_error"])
            where = study.label({k: worst[k] for k in study.label_keys if k not in keys})
            where = f"{study.sweep}={show(worst[study.sweep])}" + \
                ("" if where == "all points" else f", {where}")
            rows.append([*label, _sci(worst["rel_error"]), where,
                         f"{np.nanmax(bits):.1f}" if np.isfinite(bits).any() else "",
                         _sci(u), _ratio(worst["rel_error"], u)])
    note = ("Among points whose outcome is ok. Bits of error = log2(ulp error + 1), Herbie's "
            "measure: 0 when correctly rounded, about the precision when no bit is right. "
            "u = 2^-p is the unit roundoff.")
    return Table("Largest error among ok points",
                 ["format", *keys, "max rel. error", "at", "max bits of error", "u",
                  "max rel. error / u"], rows, note, label_columns=1 + len(keys))


def _sci(x) -> str:
    x = float(x)
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return "0" if x == 0 else f"{x:.3g}"


def _ratio(err, u) -> str:
    return "" if not (np.isfinite(err) and u > 0) else f"{float(err) / u:.3g}"


# --------------------------------------------------------------------------- failures

def avoidable_mask(records: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(failed, avoidable) per record: avoidable when the format could have held the truth."""
    outcome = records["outcome"].to_numpy()
    truth = records["truth_class"].to_numpy()
    failed = outcome != "ok"
    avoidable = np.zeros(len(records), dtype=bool)
    for o, holdable in HOLDABLE.items():
        avoidable |= (outcome == o) & np.isin(truth, holdable)
    return failed, avoidable


def failure_counts(records: pd.DataFrame, keys=("dtype", "impl")) -> pd.DataFrame:
    """Per group of `keys`: points, failed, avoidable, unavoidable (and avoidable by outcome)."""
    failed, avoidable = avoidable_mask(records)
    frame = records[list(keys)].copy()
    frame["points"] = 1
    frame["failed"] = failed
    frame["avoidable"] = avoidable
    frame["unavoidable"] = failed & ~avoidable
    for o in FAILURES:
        frame[f"avoidable_{o}"] = avoidable & (records["outcome"].to_numpy() == o)
    return frame.groupby(list(keys), sort=False, dropna=False).sum().reset_index()


def failure_table(study: Study) -> Table:
    keys = ["dtype"] + (["impl"] if "impl" in study.label_keys else [])
    counts = failure_counts(study.records, keys)
    order = {d: i for i, d in enumerate(study.dtypes)}
    counts = counts.sort_values("dtype", key=lambda s: s.map(order), kind="stable")
    rows = []
    for r in counts.to_dict("records"):
        which = ", ".join(f"{o} {r[f'avoidable_{o}']}" for o in FAILURES
                          if r[f"avoidable_{o}"])
        rows.append([*(show(r[k]) for k in keys), r["points"], r["failed"],
                     r["avoidable"], r["unavoidable"], which])
    note = ("A failure (any outcome but ok) is avoidable when the exact answer lies in the "
            "format's range: a 0, inf or NaN where the truth is normal, subnormal or 0, or a "
            "subnormal where the truth is normal. It is unavoidable when the truth itself "
            "overflows, underflows (or, for a subnormal result, is subnormal).")
    return Table("Avoidable and unavoidable failures",
                 ["format", *keys[1:], "points", "failed", "avoidable", "unavoidable",
                  "avoidable by outcome"], rows, note, label_columns=len(keys))


# --------------------------------------------------------------------------- overview

MAX_OK_RANGES = 2  # ranges of the sweep where everything is ok, in one overview cell


def ok_ranges(records: pd.DataFrame, sweep: str) -> tuple[list[tuple], bool]:
    """The maximal ranges (first, last) of sweep values at which every record is ok, in sweep
    order, and whether that is every sweep value."""
    ok = pd.Series(records["outcome"].to_numpy() == "ok", index=records.index)
    every = ok.groupby(records[sweep], sort=True).all()  # one pass, not a call per value
    values, flags = every.index.to_numpy(), every.to_numpy(dtype=bool)
    edges = np.diff(np.r_[0, flags.astype(np.int8), 0])
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(values[a], values[b - 1]) for a, b in zip(starts, stops, strict=True)], \
        bool(flags.all())


def describe_ok(ranges: list[tuple], throughout: bool) -> str:
    """ "ok at 1..14", "ok throughout", "ok nowhere"."""
    if throughout:
        return "ok throughout"
    if not ranges:
        return "ok nowhere"
    shown = ", ".join(show(a) if a == b else f"{show(a)}..{show(b)}"
                      for a, b in ranges[:MAX_OK_RANGES])
    more = len(ranges) - MAX_OK_RANGES
    return f"ok at {shown}" + (f" and {more} more ranges" if more > 0 else "")


def avoidable_failures(study: Study, records: pd.DataFrame) -> list[tuple]:
    """Per failing outcome, where it is first avoidable: (sweep value, outcome, the group's
    label there, how many other groups fail avoidably with it), in sweep order."""
    _, avoidable = avoidable_mask(records)
    bad = records[avoidable]
    keys = [k for k in study.label_keys if k != "impl"]
    found = []
    for outcome, rows in bad.groupby("outcome", sort=False):
        first = rows.loc[rows[study.sweep].idxmin()]
        groups = rows.drop_duplicates(keys) if keys else rows.head(1)
        found.append((first[study.sweep], outcome,
                      study.label({k: first[k] for k in keys}), len(groups) - 1))
    return sorted(found, key=lambda f: (f[0], OUTCOMES.index(f[1])))


def describe_failures(study: Study, records: pd.DataFrame) -> str:
    """The avoidable failures named (where each outcome first happens), the unavoidable ones
    counted: "avoidable (3 records): nan @-20 (n=1 and 1 more); unavoidable: 39 records"."""
    failed, avoidable = avoidable_mask(records)
    parts = []
    named = []
    for start, outcome, where, others in avoidable_failures(study, records):
        where = [] if where == "all points" else [where]
        if others:
            where.append(f"and {others} more")
        named.append(f"{outcome} @{show(start)}" + (f" ({' '.join(where)})" if where else ""))
    if named:
        parts.append(f"avoidable ({int(avoidable.sum())} records): " + ", ".join(named))
    unavoidable = int((failed & ~avoidable).sum())
    if unavoidable:
        parts.append(f"unavoidable: {unavoidable} records")
    return "; ".join(parts) if parts else "no failures"


def overview(studies: list[Study]) -> Table:
    """Per experiment (and implementation) and format: where along the sweep everything is
    ok, then the avoidable failures named, the unavoidable ones counted."""
    return overview_table([overview_rows(s) for s in studies], [s.dtypes for s in studies])


def overview_rows(s: Study) -> list[tuple[Cell, str, dict]]:
    """One experiment's rows of the overview: (name, sweep, {format: cell}) per
    implementation, for the formats it ran (a section keeps them; `overview_table` joins)."""
    rec = s.records
    impls = list(dict.fromkeys(rec["impl"])) if "impl" in s.label_keys else [None]
    rows = []
    for impl in impls:
        sub = rec if impl is None else rec[rec["impl"] == impl]
        cells = {}
        for d in s.dtypes:
            mine = sub[sub["dtype"] == d]
            if not mine.empty:
                cells[d] = Cell(describe_ok(*ok_ranges(mine, s.sweep)),
                                describe_failures(s, mine))
        name = Cell(s.name if impl is None else f"{s.name}: {impl}", href="#" + anchor(s.name))
        rows.append((name, f"`{s.sweep}`", cells))
    return rows


def overview_table(parts: list[list[tuple[Cell, str, dict]]], dtypes: list[list[str]]) -> Table:
    """The overview from each experiment's `overview_rows` and formats: a column per format
    (FORMATS' order, then any other by name), empty where an experiment did not run it."""
    used = {d for ds in dtypes for d in ds}
    columns = [d for d in FORMATS if d in used] + sorted(used - set(FORMATS))
    rows = [[name, sweep, *(cells.get(d, "") for d in columns)]
            for part in parts for name, sweep, cells in part]
    note = ("For each experiment (and implementation) and format: the values of the sweep axis "
            "at which every grid point and quantity is ok; below, the failures the format "
            "could have avoided (the exact answer was in its range), named with the sweep "
            "value where each begins, and how many failing records were unavoidable (the "
            "exact answer itself overflows or underflows the format).")
    return Table("Overview: where each format is ok, and what it could have avoided",
                 ["experiment", "sweep", *columns], rows, note, label_columns=2 + len(columns))


def anchor(name: str) -> str:
    return "exp-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower())


# --------------------------------------------------------------------------- case columns

MAX_DIAGNOSTIC_ROWS = 40


def diagnostics_table(study: Study) -> Table | None:
    """The case's own per-record columns (e.g. where the first NaN was produced), per point.

    Rows are grid points (quantity aside: these columns describe the whole computation),
    columns formats; a cell lists each column's distinct non-empty values. None when the case
    records no such column or it is empty everywhere.
    """
    extra = study.extra_columns()
    if not extra:
        return None
    keys = [k for k in study.label_keys if k != "quantity"]
    frame = study.records
    parts = frame.groupby(keys, sort=False, dropna=False) if keys else [((), frame)]
    rows, any_value = [], False
    for key, group in parts:
        key = key if isinstance(key, tuple) else (key,)
        cells = []
        for d in study.dtypes:
            sub = group[group["dtype"] == d]
            lines = []
            for c in extra:
                values = [v for v in pd.unique(sub[c].astype(str)) if v not in ("", "nan")]
                if values:
                    lines.append(f"{c}: {'; '.join(values)}")
            any_value |= bool(lines)
            cells.append(" | ".join(lines) if lines else "")
        rows.append([study.label(dict(zip(keys, key, strict=True))), *cells])
    if not any_value:
        return None
    note = (f"Columns the `{study.case}` case records beside the measurements "
            f"({', '.join(extra)}), their distinct values per point and format.")
    if len(rows) > MAX_DIAGNOSTIC_ROWS:
        note += f" The first {MAX_DIAGNOSTIC_ROWS} of {len(rows)} points are listed."
        rows = rows[:MAX_DIAGNOSTIC_ROWS]
    return Table("What the case recorded", ["point", *study.dtypes], rows, note,
                 label_columns=1 + len(study.dtypes))


# --------------------------------------------------------------------------- trials

TRIAL_SWEEP_VALUES = 6  # sweep values shown per group in the trials table


def trials_table(study: Study) -> Table | None:
    """Rounding rules side by side over trials: at a few sweep values of each group, per format
    and rule, the share of trials in each outcome and the relative error's mean, spread and
    range (stochastic rounding repeated `trials` times; a deterministic rule is one trial)."""
    if not study.has_trials:
        return None
    from .study import RULE_KEYS

    table = trials(study.all_trials, study.sweep, study.extra_columns())
    if table.empty:
        return None
    point_keys = [k for k in study.label_keys if k not in RULE_KEYS]
    rule_keys = [k for k in RULE_KEYS if k in table and table[k].nunique() > 1] or ["rounding"]
    rows = []
    parts = table.groupby(point_keys, sort=False, dropna=False) if point_keys else [((), table)]
    for key, group in parts:
        key = key if isinstance(key, tuple) else (key,)
        label = study.label(dict(zip(point_keys, key, strict=True)))
        values = np.sort(group[study.sweep].unique())
        shown_values = values[np.unique(np.linspace(0, len(values) - 1,
                                                    TRIAL_SWEEP_VALUES).round().astype(int))]
        for _, r in group[group[study.sweep].isin(shown_values)].sort_values(
                [study.sweep, "dtype"], kind="stable").iterrows():
            shares = ", ".join(f"{o} {r[f'frac_{o}']:.0%}" for o in OUTCOMES
                               if r[f"frac_{o}"] > 0)
            spread = (f"{_sci(r['mean_rel_error'])} ± {_sci(r['std_rel_error'])}"
                      if np.isfinite(r["mean_rel_error"]) else "")
            rng = (f"{_sci(r['min_rel_error'])} .. {_sci(r['max_rel_error'])}"
                   if np.isfinite(r["min_rel_error"]) else "")
            rows.append([label, r["dtype"], " / ".join(str(r[k]) for k in rule_keys),
                         show(r[study.sweep]), int(r["trials"]), shares, spread, rng])
    note = ("Each stochastic rounding repeated over trials (independent draws, the same "
            "inputs where they are exact in the format); a deterministic rule is one trial. "
            "Outcome shares over the trials, and the relative error's mean ± standard "
            "deviation and range over trials whose error is finite. The other tables and the "
            "figures show trial 0.")
    return Table("Rounding rules over trials",
                 ["point", "format", "rule", study.sweep, "trials", "outcomes",
                  "rel. error mean ± sd", "range"], rows, note, label_columns=3)
