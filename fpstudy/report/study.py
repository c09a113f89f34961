"""One experiment's results, read back for the report: records, summary, config, labels.

Everything here is derived from what `fpstudy run` wrote (records.parquet, summary.csv,
meta.json), so a report can be drawn from results alone, without the config file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .. import results
from ..formats import register, user_format
from ..schema import IDENTITY_COLUMNS, MEASURE_COLUMNS, POINT_COLUMNS, RULE_COLUMNS

RULE_KEYS = RULE_COLUMNS[:3]  # the arithmetic's rule (rounding, subnormals, overflow)


@dataclass
class Study:
    """The results of one experiment and the labels the report uses for them."""

    name: str
    directory: Path
    meta: dict
    records: pd.DataFrame
    summary: pd.DataFrame
    sweep: str
    dtypes: list[str]  # in config order, only those with records
    label_keys: list[str]  # columns that tell one group from another (beside dtype)
    notes: list[str] = field(default_factory=list)  # problems met while drawing
    all_trials: pd.DataFrame | None = None  # every trial; `records` holds trial 0 only

    @property
    def has_trials(self) -> bool:
        """Whether some rule was repeated (stochastic rounding over trials)."""
        t = self.all_trials
        return t is not None and "trial" in t and bool((t["trial"] > 0).any())

    @property
    def case(self) -> str:
        return self.meta.get("case", "")

    @property
    def config(self) -> dict:
        return self.meta.get("config", {})

    @property
    def description(self) -> str:
        return " ".join(str(self.config.get("description", "")).split())

    @property
    def figures_dir(self) -> Path:
        return results.paths(self.directory.parent, self.name)["figures"]

    def groups(self, frame: pd.DataFrame | None = None):
        """(label dict, rows) per group of `frame` (default: the records), in sweep order.

        A group is one grid point, implementation and quantity; it still holds every dtype.
        """
        frame = self.records if frame is None else frame
        order = self.sweep if self.sweep in frame else "start"  # the summary has runs
        if not self.label_keys:
            yield {}, frame.sort_values(order, kind="stable")
            return
        for key, rows in frame.groupby(self.label_keys, sort=False, dropna=False):
            key = key if isinstance(key, tuple) else (key,)
            yield dict(zip(self.label_keys, key, strict=True)), \
                rows.sort_values(order, kind="stable")

    def label(self, labels: dict, sep: str = ", ") -> str:
        """A group's label for tables and panel titles: "scale=1.5", "naive, softmax, n=10".

        impl and quantity are shown by value alone (their names say what they are).
        """
        return sep.join(show(v) if k in POINT_COLUMNS else f"{k}={show(v)}"
                        for k, v in labels.items()) or "all points"

    def subset(self, mask, drop_keys=()) -> Study:
        """The same study restricted to some records (e.g. one quantity), for a hook's figure."""
        return replace(self, records=self.records[mask],
                       label_keys=[k for k in self.label_keys if k not in drop_keys])

    def extra_columns(self) -> list[str]:
        """Per-record columns a case added (EXTRA_COLUMNS), found from the results alone."""
        known = {*IDENTITY_COLUMNS, self.sweep, *MEASURE_COLUMNS, *self.config.get("grid", {}),
                 *RULE_COLUMNS}
        return [c for c in self.records.columns if c not in known]

    def config_brief(self) -> str:
        """The config in one line: formats, grid (values per parameter), seed."""
        grid = self.config.get("grid", {})
        parts = []
        for key, values in grid.items():
            values = values if isinstance(values, list) else [values]
            if len(values) > 6:
                parts.append(f"{key} = {len(values)} values from {show(values[0])} "
                             f"to {show(values[-1])}")
            else:
                parts.append(f"{key} = {', '.join(show(v) for v in values)}")
        return (f"case `{self.case}`, sweep axis `{self.sweep}`; formats "
                f"{', '.join(self.dtypes)}; {'; '.join(parts)}; seed {self.config.get('seed')}")


def show(v) -> str:
    """A sweep or grid value as a reader would write it: 28, 0.5, 1e-300, naive."""
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(show(x) for x in v) + "]"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if np.isfinite(v) and v == int(v) and abs(v) < 1e15:
            return str(int(v))
        return f"{v:.6g}"
    return str(v)


def load_study(directory: Path) -> Study:
    """Read one experiment directory (it must hold a complete run: meta.json last)."""
    directory = Path(directory)
    meta = results.read_meta(directory)
    for name, spec in meta.get("config", {}).get("formats", {}).items():
        register(user_format(name, **spec))  # a user format's limits, for tables and figures
    records = results.load(directory)
    table = results.summary(directory)
    # summary.csv writes NaN numbers as "nan", so reading it back turns the outcome "nan"
    # into a missing value too; an outcome is never missing, so put the word back.
    if "outcome" in table:
        table["outcome"] = table["outcome"].fillna("nan").astype(str)
    sweep = meta["sweep"]  # every format version records it
    present = list(pd.unique(records["dtype"]))  # (not a walk over every record's dtype)
    order = [d for d in meta.get("config", {}).get("dtypes", []) if d in present]
    order += [d for d in present if d not in order]
    every_trial = records
    if "trial" in records:  # the tables and figures show trial 0; the trials table all
        records = records[records["trial"] == 0]
        if "trial" in table:
            table = table[table["trial"] == 0]
    return Study(name=meta.get("experiment", directory.name), directory=directory, meta=meta,
                 records=records, summary=table, sweep=sweep, dtypes=order,
                 label_keys=label_keys(records, meta, sweep), all_trials=every_trial)


def label_keys(records: pd.DataFrame, meta: dict, sweep: str) -> list[str]:
    """impl and quantity when they vary, then every grid parameter that varies."""
    grid = [k for k in meta.get("config", {}).get("grid", {}) if k not in POINT_COLUMNS]
    keys = [c for c in (*POINT_COLUMNS, *grid, *RULE_KEYS)
            if c in records.columns and c != sweep and records[c].nunique(dropna=False) > 1]
    return keys
