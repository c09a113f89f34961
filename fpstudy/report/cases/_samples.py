"""Per-sample summaries for experiments on the user's own data (one grid point per row of a
[data] file, numbered in the `sample` column): what fraction of the samples ends in each
outcome, and how far a shift c can move every sample before a format fails.

A sample fails avoidably when one of its records does (the format could have held the exact
answer). A sample's outcome is the worst outcome of its records (nan > overflow > underflow >
subnormal > ok) among those selected: for softmax the probabilities at one c, for the mlp
every quantity of every layer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...data import SAMPLE_COLUMN
from ...metrics import OUTCOMES
from ..study import show
from ..tables import Table


def has_samples(records: pd.DataFrame) -> bool:
    return SAMPLE_COLUMN in records and records[SAMPLE_COLUMN].nunique() > 1


def worst_per_sample(records: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per (keys..., sample): its worst outcome, and whether any of its records failed
    avoidably (the format could have held the exact answer: fpstudy.report.tables)."""
    from ..tables import avoidable_mask

    frame = pd.DataFrame({
        "rank": records["outcome"].map({o: i for i, o in enumerate(OUTCOMES)}).to_numpy(),
        "avoidable": avoidable_mask(records)[1],
        **{k: records[k].to_numpy() for k in (*keys, SAMPLE_COLUMN)}})
    out = frame.groupby([*keys, SAMPLE_COLUMN], sort=False).agg(
        rank=("rank", "max"), avoidable=("avoidable", "any")).reset_index()
    out["outcome"] = [OUTCOMES[int(r)] for r in out["rank"]]
    return out.drop(columns="rank")


def outcome_fractions(study, records: pd.DataFrame, title: str, note: str) -> Table:
    """Rows (format, impl): number of samples and the percentage in each outcome."""
    keys = ["dtype"] + (["impl"] if records["impl"].nunique() > 1 else [])
    worst = worst_per_sample(records, keys)
    order = {d: i for i, d in enumerate(study.dtypes)}
    rows = []
    for key, group in sorted(worst.groupby(keys, sort=False),
                             key=lambda kv: order.get(_first(kv[0]), 99)):
        key = key if isinstance(key, tuple) else (key,)
        counts = group["outcome"].value_counts()
        n = len(group)
        rows.append([*(show(k) for k in key), n,
                     *(_percent(counts.get(o, 0), n) for o in OUTCOMES),
                     _percent(int(group["avoidable"].sum()), n) or "0"])
    columns = ["format", *keys[1:], "samples", *OUTCOMES, "avoidable failure"]
    return Table(title, columns, rows, note, label_columns=len(keys))


def _first(key):
    return key[0] if isinstance(key, tuple) else key


def _percent(count: int, total: int) -> str:
    return "" if count == 0 else f"{100 * count / total:.0f}% ({count})"


def headroom(records: pd.DataFrame, sweep: str, keys: list[str]) -> pd.DataFrame:
    """Per keys: the widest run of sweep values around the one nearest 0 where no sample fails
    avoidably (a failure the exact answer forces, a probability below the format's range,
    does not count), and the first failing value on each side with how many samples fail."""
    worst = worst_per_sample(records, [*keys, sweep])
    out = []
    for key, group in worst.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        by_c = group.groupby(sweep)["avoidable"].sum()
        cs = by_c.index.to_numpy(dtype=float)
        failing = by_c.to_numpy(dtype=int)
        samples = group[SAMPLE_COLUMN].nunique()
        home = int(np.argmin(np.abs(cs)))
        row = dict(zip(keys, key, strict=True))
        row.update(samples=samples, at=cs[home], failing_at=failing[home])
        lo = hi = home
        if failing[home] == 0:
            while lo > 0 and failing[lo - 1] == 0:
                lo -= 1
            while hi < len(cs) - 1 and failing[hi + 1] == 0:
                hi += 1
            row.update(ok_from=cs[lo], ok_to=cs[hi])
        else:
            row.update(ok_from=np.nan, ok_to=np.nan)
        below, above = (lo - 1, hi + 1) if failing[home] == 0 else (None, None)
        row["fails_below"] = cs[below] if below is not None and below >= 0 else np.nan
        row["failing_below"] = failing[below] if below is not None and below >= 0 else 0
        row["fails_above"] = cs[above] if above is not None and above < len(cs) else np.nan
        row["failing_above"] = failing[above] if above is not None and above < len(cs) else 0
        out.append(row)
    return pd.DataFrame(out)
