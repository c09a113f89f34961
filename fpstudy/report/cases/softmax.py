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
from ..style import OUTCOME_COLOURS, format_colour, new_figure, save

CASE = "softmax"
QUANTITY = "softmax"
ROWS_PARAM = "n"


MAX_COLUMNS = 8


def figures(study) -> list:
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
                ax.set_title(d, color=format_colour(d), fontweight="bold")
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
