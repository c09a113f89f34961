"""Report hook for softmax: outcome maps over (c, n), one panel per implementation and format.

Naive softmax of n logits around c fails on two cliffs, where exp(c) underflows and where it
(or the sum of n of them) overflows, so the failing region moves with log n; the shifted
implementations survive both. One panel per (impl, format), c across, n up, the five outcome
colours of every outcome map.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.patches import Patch

from ...metrics import OUTCOMES
from ..figures import apply_scale, cell_edges, sweep_scale, widen_narrow_runs
from ..study import show
from ..style import OUTCOME_COLOURS, TITLE_Y, format_colour, new_figure, save

CASE = "softmax"
QUANTITY = "softmax"
ROWS_PARAM = "n"


MAX_COLUMNS = 8


def figures(study) -> list:
    return _samples_ok_figure(study) + _outcome_map(study)


def _outcome_map(study) -> list:
    rec = study.records
    if QUANTITY not in set(rec["quantity"]) or ROWS_PARAM not in rec:
        return []
    rec = rec[rec["quantity"] == QUANTITY]
    # other parameters that vary become more columns (format x accumulate, say) while there
    # are at most MAX_COLUMNS; the rest are drawn at their first value, and the title says so
    others = [k for k in study.label_keys if k not in ("impl", "quantity", ROWS_PARAM)]
    split, fixed = [], {}
    columns = [{"dtype": d} for d in study.dtypes]
    for k in others:
        values = list(dict.fromkeys(rec[k]))
        if len(columns) * len(values) <= MAX_COLUMNS:
            split.append(k)
            columns = [{**c, k: v} for c in columns for v in values]
        else:
            fixed[k] = values[0]
            rec = rec[rec[k] == values[0]]
    # an implementation that is ok at every (c, n) in every panel gets one line, not a row
    # of grey panels
    everywhere = [i for i, g in rec.groupby("impl", sort=False) if (g["outcome"] == "ok").all()]
    impls = [i for i in dict.fromkeys(rec["impl"]) if i not in everywhere]
    if not impls:
        return [_all_ok_figure(study, everywhere)]
    cs = np.sort(rec[study.sweep].unique().astype(float))
    ns = np.sort(rec[ROWS_PARAM].unique())
    c_index = {c: i for i, c in enumerate(cs)}
    n_index = {n: i for i, n in enumerate(ns)}
    code = {o: i for i, o in enumerate(OUTCOMES)}
    cmap = ListedColormap([OUTCOME_COLOURS[o] for o in OUTCOMES]).with_extremes(bad="white")
    norm = BoundaryNorm(np.arange(len(OUTCOMES) + 1) - 0.5, len(OUTCOMES))
    scale = sweep_scale(cs)
    edges = cell_edges(cs, scale)
    panel_h = 0.5 + 0.16 * len(ns)
    width = min(max(2.0 * len(columns), 5.5), 14)
    fig = new_figure(width, panel_h * len(impls) + 1.2 + 0.15 * len(split))
    axes = fig.subplots(len(impls), len(columns), squeeze=False, sharex=True, sharey=True)
    for i, impl in enumerate(impls):
        for j, column in enumerate(columns):
            ax = axes[i, j]
            sel = rec["impl"] == impl
            for k, v in column.items():
                sel &= rec[k] == v
            sub = rec[sel]
            grid = np.full((len(ns), len(cs)), np.nan)
            rows = sub[ROWS_PARAM].map(n_index).to_numpy()
            cols = sub[study.sweep].astype(float).map(c_index).to_numpy()
            grid[rows, cols] = sub["outcome"].map(code).to_numpy(dtype=float)
            ax.pcolormesh(edges, np.arange(len(ns) + 1), np.ma.masked_invalid(grid),
                          cmap=cmap, norm=norm, rasterized=True)
            widen_narrow_runs(ax, grid, edges)
            apply_scale(ax, scale)
            ax.grid(False)
            ax.set_yticks(np.arange(len(ns)) + 0.5)
            ax.set_yticklabels([show(n) for n in ns])
            if i == 0:
                d = column["dtype"]
                # y=TITLE_Y: the y axis names rows, no offset text
                ax.set_title(d, color=format_colour(d), fontweight="bold", y=TITLE_Y)
                more = "\n".join(f"{k}={show(column[k])}" for k in split)
                if more:
                    ax.text(0.5, 1.2 + 0.12 * len(split), more, transform=ax.transAxes,
                            ha="center", va="bottom", fontsize=6.5)
            if j == 0:
                ax.set_ylabel(f"{impl}\n{ROWS_PARAM}")
            if i == len(impls) - 1:
                ax.set_xlabel(study.sweep)
    fig.legend(handles=[Patch(fc=OUTCOME_COLOURS[o], ec="#777777", lw=0.5, label=o)
                        for o in OUTCOMES], loc="outside lower center", ncols=5, frameon=False,
               title=_ok_line(everywhere) or None, title_fontsize=8)
    fixed_text = ", ".join(f"{k}={show(v)}" for k, v in fixed.items())
    fig.suptitle(f"{study.name}: softmax outcome over ({study.sweep}, {ROWS_PARAM})"
                 + (f"\n{fixed_text}" if fixed_text else ""))
    caption = (f"The outcome of the softmax output for each logit centre {study.sweep} "
               f"(across) and number of logits {ROWS_PARAM} (up), one row of panels per "
               "implementation and one column per format"
               + (f" and {', '.join(split)}." if split else "."))
    if everywhere:
        caption += f" {_ok_line(everywhere)}, so they have no row."
    if fixed_text:
        caption += f" Drawn for {fixed_text} (the first value of each other parameter)."
    return [save(fig, study.figures_dir, "softmax_map", f"{study.name}: softmax outcome map",
                 caption)]


def _ok_line(impls: list) -> str:
    if not impls:
        return ""
    return f"ok everywhere (every format, {ROWS_PARAM} and logit centre): {', '.join(impls)}"


def _all_ok_figure(study, impls: list):
    """The one line that replaces a map of grey panels when every implementation is ok."""
    fig = new_figure(5.5, 0.6)
    fig.text(0.5, 0.5, _ok_line(impls), ha="center", va="center")
    return save(fig, study.figures_dir, "softmax_map", f"{study.name}: softmax outcome map",
                f"The softmax output is ok at every logit centre {study.sweep} and number of "
                f"logits {ROWS_PARAM}, in every format, for {', '.join(impls)}.")


# -- the user's own logits: one softmax per sample ----------------------------------------------

def tables(study) -> list:
    """With [data] logits (several samples): the fraction of samples in each outcome at the c
    nearest 0, and the shifts c that every sample survives, per format and implementation."""
    from ._samples import has_samples, headroom, outcome_fractions

    rec = study.records
    if not has_samples(rec) or QUANTITY not in set(rec["quantity"]):
        return []
    rec = rec[rec["quantity"] == QUANTITY]
    cs = np.sort(rec[study.sweep].unique().astype(float))
    home = cs[np.argmin(np.abs(cs))]
    at_home = rec[rec[study.sweep].astype(float) == home]
    made = [outcome_fractions(
        study, at_home, f"Samples by outcome of their softmax at {study.sweep} = {show(home)}",
        "Each sample (a row of the [data] logits) counted once, by the worst outcome among its "
        f"probabilities at {study.sweep} = {show(home)}; the percentage of the samples, and "
        "their number. A probability whose exact value is below the format's range underflows "
        "whatever the algorithm; avoidable failure counts the samples where the format could "
        "have held every exact probability and did not.")]
    keys = ["dtype"] + (["impl"] if rec["impl"].nunique() > 1 else [])
    room = headroom(rec, study.sweep, keys)
    order = {d: i for i, d in enumerate(study.dtypes)}
    room = room.sort_values("dtype", key=lambda s: s.map(order), kind="stable")
    rows = []
    for r in room.to_dict("records"):
        if r["failing_at"]:
            holds = f"not at {show(r['at'])}: {r['failing_at']} of {r['samples']} fail"
        else:
            holds = f"{show(r['ok_from'])} to {show(r['ok_to'])}"
        below = "" if r["fails_below"] != r["fails_below"] else \
            f"{show(r['fails_below'])} ({r['failing_below']} fail)"
        above = "" if r["fails_above"] != r["fails_above"] else \
            f"{show(r['fails_above'])} ({r['failing_above']} fail)"
        rows.append([*(show(r[k]) for k in keys), r["samples"], holds, below, above])
    made.append(_table(
        f"Headroom: the shifts {study.sweep} every sample survives",
        ["format", *keys[1:], "samples", f"every sample holds for {study.sweep}",
         "first failure below", "first failure above"], rows,
        f"The grid's {study.sweep} values around {show(home)} for which no sample's softmax "
        "fails avoidably (a probability below the format's range is not the algorithm's "
        f"failure), and the nearest {study.sweep} on each side where some sample does (how "
        "many). Between grid values the boundary is not resolved.", len(keys)))
    return made


def _table(title, columns, rows, note, label_columns):
    from ..tables import Table
    return Table(title, columns, rows, note, label_columns=label_columns)


def _samples_ok_figure(study) -> list:
    """Fraction of samples whose softmax holds (no avoidable failure) along c: a panel per
    impl, a line per format."""
    from ._samples import has_samples, worst_per_sample

    rec = study.records
    if not has_samples(rec) or QUANTITY not in set(rec["quantity"]):
        return []
    rec = rec[rec["quantity"] == QUANTITY]
    worst = worst_per_sample(rec, ["dtype", "impl", study.sweep])
    impls = list(dict.fromkeys(worst["impl"]))
    samples = rec["sample"].nunique()
    cs = np.sort(rec[study.sweep].unique().astype(float))
    scale = sweep_scale(cs)
    fig = new_figure(min(3.2 * len(impls) + 0.6, 14), 3.0)
    axes = fig.subplots(1, len(impls), squeeze=False, sharey=True)[0]
    for ax, impl in zip(axes, impls, strict=True):
        for i, dtype in enumerate(study.dtypes):
            sub = worst[(worst["impl"] == impl) & (worst["dtype"] == dtype)]
            if sub.empty:
                continue
            ok = 1 - sub.groupby(study.sweep)["avoidable"].mean()
            # each format thinner than the one before, so coinciding lines all show
            width = max(3.2 - 0.7 * i, 0.8)
            ax.plot(ok.index.astype(float), 100 * ok.to_numpy(), marker="o", ms=width + 1,
                    lw=width, color=format_colour(dtype), label=dtype)
        apply_scale(ax, scale)
        ax.set_title(impl if impl else "softmax", y=TITLE_Y)  # y from -4 to 104: no offset
        ax.set_xlabel(study.sweep)
        ax.set_ylim(-4, 104)
    axes[0].set_ylabel(f"samples that hold (% of {samples})")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), frameon=False)
    fig.suptitle(f"{study.name}: samples whose softmax holds, along {study.sweep}")
    caption = (f"The percentage of the {samples} samples (rows of the [data] logits) whose "
               "softmax has no avoidable failure (every probability the format could hold is "
               f"not 0, inf, NaN or needlessly subnormal) when every logit is shifted by "
               f"{study.sweep}; one panel per implementation, one line per format (each thinner "
               "than the one before, so lines that coincide all show).")
    return [save(fig, study.figures_dir, "softmax_samples_hold",
                 f"{study.name}: samples that hold along {study.sweep}", caption)]
