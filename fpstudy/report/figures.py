"""The generic figures every experiment gets, drawn from its records alone.

- magnitude: log10 |value| and log10 |truth| along the sweep per format, the formats' limits
  as horizontal lines, outcome changes marked, 0 / inf / NaN in strips at the panel edges;
- outcome_map: sweep across, (grid point, format) down, one fixed colour per outcome;
- error: relative error along the sweep (log scale), exact results, inf and NaN at the edges,
  with reference curves a case hook supplies (k*u and sqrt(k)*u for the deep product).

Each figure has one panel per group (grid point, impl, quantity), at most MAX_PANELS of them.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from ..exact import log10_of
from ..formats import FORMATS
from ..metrics import OUTCOMES
from .study import Study, show
from .style import (
    LIMIT_LINES,
    OUTCOME_COLOURS,
    PANEL_HEIGHT,
    PANEL_WIDTH,
    RC,
    TITLE_Y,
    FigureFile,
    format_colour,
    new_figure,
    save,
)

MAX_PANELS = 12
MAX_MAP_ROWS = 160
MAX_MAP_FACETS = 4  # quantities drawn as side-by-side panels of the outcome map
NARROW_RUN = 0.004  # fraction of the sweep below which a failing run is drawn as a bar
EDGE_STRIP = 0.035  # height of one format's strip at a panel edge, in axes fraction
MAX_ERROR_DECADE = 4  # the error axis ends at 10^this: larger errors leave through the top



@dataclass(frozen=True)
class Reference:
    """A reference curve a case hook declares for the error figure, drawn in the format's
    colour. The legend shows each (label, dash) once; the caption each meaning once."""

    label: str  # the legend's name for it, e.g. "k·u"
    dtype: str
    x: np.ndarray
    y: np.ndarray
    dash: object  # a matplotlib dash pattern, the same for every dtype of one label
    meaning: str = ""  # one sentence for the caption: what the curve is


def draw_generic(study: Study, references: Callable | None = None) -> list[FigureFile]:
    """The three generic figures of one experiment, written to its figures/ directory."""
    with matplotlib.rc_context(RC):
        return [magnitude(study), outcome_map(study), error(study, references)]


# --------------------------------------------------------------------------- helpers

def panel_groups(study: Study) -> tuple[list[tuple[dict, pd.DataFrame]], int]:
    """The groups to draw as panels, and how many there are.

    When there are more than MAX_PANELS, groups where some format fails come first (they are
    what the figure is for), evenly chosen among themselves, then the others; the panels keep
    the groups' order.
    """
    groups = list(study.groups())
    if len(groups) <= MAX_PANELS:
        return groups, len(groups)
    failing = [i for i, (_, rows) in enumerate(groups) if (rows["outcome"] != "ok").any()]
    others = [i for i in range(len(groups)) if i not in set(failing)]
    pick = _spread(failing, MAX_PANELS)
    pick += _spread(others, MAX_PANELS - len(pick))
    return [groups[i] for i in sorted(pick)], len(groups)


def _spread(items: list, n: int) -> list:
    """n items evenly spread over the list (all of them when there are no more than n)."""
    if n <= 0:
        return []
    if len(items) <= n:
        return list(items)
    return [items[i] for i in np.unique(np.linspace(0, len(items) - 1, n).round().astype(int))]


def panel_grid(n: int, extra_height: float = 0.9):
    cols = 1 if n == 1 else 2
    rows = math.ceil(n / cols)
    fig = new_figure(PANEL_WIDTH * cols, PANEL_HEIGHT * rows + extra_height)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def set_sweep_axis(ax, study: Study, values) -> None:
    """The sweep axis: its name, its scale, integer ticks for an integer sweep."""
    ax.set_xlabel(study.sweep)
    scale = sweep_scale(values)
    apply_scale(ax, scale)
    if np.issubdtype(np.asarray(values).dtype, np.integer) and scale == "linear":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


SYMLOG_LINTHRESH = 10.0


def sweep_scale(values) -> str:
    """How to draw a sweep axis.

    log when a positive sweep spans more than three decades; symlog when it crosses 0 and
    reaches beyond +-200 (softmax's c from -800 to 800: the float16 cliffs near 0 and the
    float64 ones near +-745 both get room); linear otherwise.
    """
    v = np.asarray(pd.unique(np.asarray(values, dtype=float)))
    v = v[np.isfinite(v)]
    if v.size > 2 and (v > 0).all() and v.max() / v.min() > 1e3:
        return "log"
    if v.size > 2 and v.min() < 0 < v.max() and np.abs(v).max() >= 200:
        return "symlog"
    return "linear"


def apply_scale(ax, scale: str) -> None:
    if scale == "symlog":
        ax.set_xscale("symlog", linthresh=SYMLOG_LINTHRESH, linscale=0.5)
    else:
        ax.set_xscale(scale)


def runs_of_mask(mask: np.ndarray) -> list[tuple[int, int]]:
    """[lo, hi) index ranges where mask is True."""
    m = np.r_[False, mask, False].astype(np.int8)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True))


def edge_strip(ax, x: np.ndarray, mask: np.ndarray, y_axes: float, colour: str,
               marker: str) -> None:
    """Mark points where `mask` holds as a bar at height y_axes (axes fraction) of the panel.

    Runs of points become a thick segment with a marker at their start, so a long NaN tail
    stays legible and a lone point is still seen.
    """
    if not mask.any():
        return
    transform = ax.get_xaxis_transform()  # x in data, y in axes fraction
    for lo, hi in runs_of_mask(mask):
        xs = x[lo:hi]
        if hi - lo > 1:
            ax.plot([xs[0], xs[-1]], [y_axes, y_axes], color=colour, lw=2.5, alpha=0.6,
                    transform=transform, solid_capstyle="butt", clip_on=False)
        ax.plot([xs[0]], [y_axes], marker=marker, color=colour, ms=4.5, mew=1.2, ls="none",
                transform=transform, clip_on=False)


def layout_strips(ax, lo: float, hi: float, top: list[str], bottom: list[str],
                  top_label: str, bottom_label: str, log: bool = False):
    """Set the y-limits so the data [lo, hi] stays clear of the edge strips, shade the strips.

    `top` and `bottom` are the formats that need a strip (one row each); returns their rows'
    heights as axes fractions. With log=True, lo and hi are decades of a log axis.
    """
    ft = EDGE_STRIP * (len(top) + 0.5) if top else 0.0
    fb = EDGE_STRIP * (len(bottom) + 0.5) if bottom else 0.0
    margin = 0.05
    span = max(hi - lo, 1e-9 if not log else 1.0)
    if not log:
        span = max(span, 0.02 * max(abs(lo), abs(hi), 1.0))
    total = span / (1 - ft - fb - 2 * margin)
    mid = (lo + hi) / 2
    y0, y1 = mid - span / 2 - (fb + margin) * total, mid + span / 2 + (ft + margin) * total
    ax.set_ylim((10.0 ** y0, 10.0 ** y1) if log else (y0, y1))
    for frac, at, label, va in ((ft, 1 - ft, top_label, "top"), (fb, 0.0, bottom_label,
                                                                  "bottom")):
        if frac:
            ax.add_patch(Rectangle((0, at), 1, frac, transform=ax.transAxes, fc="#f2f2f2",
                                   ec="none", zorder=0))
            y = at + frac if va == "top" else at
            ax.text(1.01, y, label, transform=ax.transAxes, ha="left", va=va, fontsize=6,
                    color="#666666", rotation=90)
    rows_top = {d: 1 - EDGE_STRIP * (i + 0.75) for i, d in enumerate(top)}
    rows_bottom = {d: EDGE_STRIP * (i + 0.75) for i, d in enumerate(bottom)}
    return rows_top, rows_bottom


def outcome_changes(rows: pd.DataFrame, first_only: int = 8) -> pd.DataFrame:
    """The rows (in sweep order) where the outcome differs from the previous point's.

    When it changes more than `first_only` times (a vector whose worst element flickers
    between ok and subnormal, say), only the first change to each outcome is kept.
    """
    o = rows["outcome"].to_numpy()
    change = rows[np.r_[False, o[1:] != o[:-1]]]
    if len(change) > first_only:
        change = change.drop_duplicates("outcome")
    return change


def panel_title(study: Study, labels: dict) -> str:
    return "\n".join(textwrap.wrap(study.label(labels), 44))


def title_of(study: Study, what: str) -> str:
    return f"{study.name}: {what}"


def figure_note(shown: int, total: int) -> str:
    if shown == total:
        return ""
    return f" {shown} of the {total} grid points are drawn, evenly spread."


# --------------------------------------------------------------------------- magnitude

def magnitude(study: Study, name: str = "magnitude", what: str = "",
              ylabel: str = "log10 |value|", lead: str = "") -> FigureFile:
    """log10 |value| against log10 |truth| per format; hooks reuse it for one quantity
    (gradient norm per layer, loss per step) with their own name, title and axis label."""
    groups, total = panel_groups(study)
    fig, axes = panel_grid(len(groups), extra_height=1.1)
    dtypes = study.dtypes
    for ax, (labels, rows) in zip(axes, groups, strict=True):
        _magnitude_panel(ax, study, rows, dtypes)
        # no offset text on this y axis: its span is at least 2% of its values (layout_strips)
        ax.set_title(panel_title(study, labels), loc="left", y=TITLE_Y)
        ax.set_ylabel(ylabel)
        set_sweep_axis(ax, study, rows[study.sweep].to_numpy())
    handles = [Line2D([], [], color=format_colour(d), lw=1.6, label=d) for d in dtypes]
    handles += [Line2D([], [], color="#555555", lw=1.6, label="computed"),
                Line2D([], [], color="#555555", lw=1, ls=(0, (4, 2)), label="exact")]
    handles += [Line2D([], [], color="#555555", lw=0.9, ls=dash, label=label)
                for _, label, dash in LIMIT_LINES]
    handles += [Line2D([], [], color="#555555", marker=m, ls="none", label=label)
                for m, label in (("^", "inf (top)"), ("x", "NaN (top)"), ("v", "0 (bottom)"))]
    handles += [Line2D([], [], marker="o", ls="none", mfc=OUTCOME_COLOURS[o], mec="#555555",
                       label=f"{o} begins") for o in OUTCOMES]
    fig.legend(handles=handles, loc="outside lower center", ncols=6, frameon=False)
    what = what or f"magnitude along {study.sweep}"
    fig.suptitle(title_of(study, f"{what} (exact dashed)"))
    caption = (lead or "log10 of the computed value's magnitude (solid; the infinity norm for a "
               "vector) and of the exact value on the same rounded inputs (dashed), per format.")
    caption += (" "
               "Horizontal lines in a format's colour are its max, smallest normal and smallest "
               "subnormal (those far outside the data are left out). Circles on the exact curve "
               "mark where the outcome changes (only the first change to each outcome where it "
               "flickers), filled with the new outcome's colour (for a vector the outcome is "
               "its worst element's, so it can change while the norm stays normal); inf and NaN "
               "results are drawn as strips at the top of a panel and 0 at the bottom, one "
               "strip per format." + figure_note(len(groups), total))
    return save(fig, study.figures_dir, name, title_of(study, what), caption)


def _magnitude_panel(ax, study: Study, rows: pd.DataFrame, dtypes) -> None:
    finite_y = []
    series = []
    for d in dtypes:
        r = rows[rows["dtype"] == d]
        if r.empty:
            continue
        x = r[study.sweep].to_numpy(dtype=float)
        y = r["value_log10"].to_numpy(dtype=float)  # finite for a longdouble past float64
        value = np.select([np.isnan(y), y == np.inf, y == -np.inf], [np.nan, np.inf, 0.0],
                          default=1.0)  # only which results are inf, NaN or 0 matters
        truth = r["truth_log10"].to_numpy(dtype=float)
        series.append((d, r, x, value, y, truth))
        finite_y += [y[np.isfinite(y)]]
    # the exact value is followed up to twice the widest format's range (so a deep product's
    # underflow is seen well past float64's); beyond, a training loss that reaches
    # 10^(3e9) say, it leaves the panel and a note says how far it goes
    reach = 2 * max((abs(log10_of(getattr(FORMATS[d], a))) for d in dtypes
                     if d in FORMATS for a, _, _ in LIMIT_LINES), default=400.0)
    beyond = []
    for _, _, _, _, _, truth in series:
        t = truth[np.isfinite(truth)]
        finite_y.append(t[np.abs(t) <= reach])
        beyond.append(t[np.abs(t) > reach])
    beyond = np.concatenate(beyond) if beyond else np.array([])
    if beyond.size:
        far = beyond[np.argmax(np.abs(beyond))]
        ax.text(0.99, 0.5, f"exact value leaves the panel,\nreaching 10^{far:.4g}",
                transform=ax.transAxes, ha="right", va="center", fontsize=6, color="#444444")
    ys = np.concatenate(finite_y) if finite_y else np.array([0.0])
    lo, hi = (float(ys.min()), float(ys.max())) if ys.size else (0.0, 0.0)
    span = max(hi - lo, 1.0)
    # the formats' limits, where they fall near the data
    for d in dtypes:
        fmt = FORMATS.get(d)
        if fmt is None:
            continue
        for attr, _, dash in LIMIT_LINES:
            level = log10_of(getattr(fmt, attr))
            if lo - 0.25 * span <= level <= hi + 0.25 * span:
                ax.axhline(level, color=format_colour(d), lw=0.9, ls=dash, alpha=0.8)
                lo, hi = min(lo, level), max(hi, level)
    top, bottom = layout_strips(
        ax, lo, hi, [d for d, _, _, v, _, _ in series if (~np.isfinite(v)).any()],
        [d for d, _, _, v, _, _ in series if (v == 0).any()], "inf ▲ / NaN ×", "0 ▼")
    n = len(series)
    for i, (d, r, x, value, y, truth) in reversed(list(enumerate(series))):
        colour = format_colour(d)
        ok = np.isfinite(y)
        # where formats agree their curves coincide: the later (wider) formats are drawn
        # first and thicker, so each shows as a band around the next
        width = 1.3 + 2.2 * i / max(n - 1, 1)
        ax.plot(x, np.where(ok, y, np.nan), color=colour, lw=width, alpha=0.85,
                solid_capstyle="butt", label=f"computed {d}")
        ax.plot(x, truth, color=colour, lw=0.9, ls=(0, (4, 2)), alpha=0.9, label=f"exact {d}")
        if d in top:
            edge_strip(ax, x, np.isinf(value), top[d], colour, "^")
            edge_strip(ax, x, np.isnan(value), top[d], colour, "x")
        if d in bottom:
            edge_strip(ax, x, value == 0, bottom[d], colour, "v")
        changes = outcome_changes(r)
        if not changes.empty:
            cx = changes[study.sweep].to_numpy(dtype=float)
            cy = changes["truth_log10"].to_numpy(dtype=float)
            for o in OUTCOMES:
                sel = (changes["outcome"] == o).to_numpy() & np.isfinite(cy)
                ax.plot(cx[sel], cy[sel], "o", ms=5, mfc=OUTCOME_COLOURS[o], mec=colour,
                        mew=1.2, zorder=5)


def quantity_magnitude(study: Study, quantity: str, name: str, what: str, ylabel: str,
                       lead: str) -> list[FigureFile]:
    """The magnitude figure of one quantity alone (a case hook's picture), or none if absent."""
    if quantity not in set(study.records["quantity"]):
        return []
    rows = study.subset(study.records["quantity"] == quantity, drop_keys=("quantity",))
    return [magnitude(rows, name=name, what=what, ylabel=ylabel, lead=lead)]


# --------------------------------------------------------------------------- outcome map

def outcome_map(study: Study) -> FigureFile:
    """Sweep across, (grid point, format) down; one panel per quantity when there are few."""
    rec = study.records
    xs = np.sort(pd.unique(rec[study.sweep].to_numpy(dtype=float)))
    index = {v: i for i, v in enumerate(xs)}
    code_of = {o: i for i, o in enumerate(OUTCOMES)}
    quantities = list(pd.unique(rec["quantity"]))
    facet = "quantity" in study.label_keys and len(quantities) <= MAX_MAP_FACETS
    keys = [k for k in study.label_keys if not (facet and k == "quantity")]
    row_study = study.subset(slice(None), drop_keys=("quantity",) if facet else ())
    row_keys, labels, separators, all_ok = [], [], [], 0
    for g_labels, group in row_study.groups():
        if keys and (group["outcome"] == "ok").all():
            all_ok += 1  # a block of grey says less than one line of caption
            continue
        present = set(group["dtype"])
        for d in study.dtypes:
            if d in present:
                row_keys.append((tuple(g_labels.values()), d))
                labels.append((study.label(g_labels), d))
        separators.append(len(row_keys))
    total = len(row_keys)
    row_keys, labels = row_keys[:MAX_MAP_ROWS], labels[:MAX_MAP_ROWS]
    row_of = {k: i for i, k in enumerate(row_keys)}
    panels = quantities if facet else [None]
    grids = []
    for q in panels:
        sub = rec if q is None else rec[rec["quantity"] == q]
        grid = np.full((max(len(row_keys), 1), len(xs)), np.nan)
        key_cols = [sub[k].to_numpy() for k in keys]
        rows = [row_of.get((tuple(v[i] for v in key_cols), d))
                for i, d in enumerate(sub["dtype"].to_numpy())]
        rows = np.array([-1 if r is None else r for r in rows], dtype=int)
        cols = np.array([index[v] for v in sub[study.sweep].to_numpy(dtype=float)], dtype=int)
        codes = sub["outcome"].map(code_of).to_numpy(dtype=float)
        keep = rows >= 0
        grid[rows[keep], cols[keep]] = codes[keep]
        grids.append(grid)
    n_rows = max(len(row_keys), 1)
    fig = new_figure(2 * PANEL_WIDTH, 1.3 + 0.15 * max(n_rows, 4))
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    scale = sweep_scale(xs)
    edges = cell_edges(xs, scale)
    cmap = ListedColormap([OUTCOME_COLOURS[o] for o in OUTCOMES]).with_extremes(bad="white")
    norm = BoundaryNorm(np.arange(len(OUTCOMES) + 1) - 0.5, len(OUTCOMES))
    for ax, q, grid in zip(axes, panels, grids, strict=True):
        ax.pcolormesh(edges, np.arange(n_rows + 1), np.ma.masked_invalid(grid), cmap=cmap,
                      norm=norm, rasterized=True)
        widen_narrow_runs(ax, grid, edges)
        apply_scale(ax, scale)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(n_rows, 0)
        ax.grid(False)
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel(study.sweep)
        if q is not None:
            ax.set_title(str(q), y=TITLE_Y)  # the y axis names rows
        for s in separators[:-1]:
            if s < n_rows:
                ax.axhline(s, color="white", lw=2.5)
    ax = axes[0]
    ax.set_yticks(np.arange(len(labels)) + 0.5)
    # the format on every row, in its colour; the point's label once, left of its block
    ax.set_yticklabels([d for _, d in labels])
    for tick, (_, d) in zip(ax.get_yticklabels(), labels, strict=True):
        tick.set_color(format_colour(d))
    if len(set(g for g, _ in labels)) > 1:
        offset = 8 + 4.4 * max(len(d) for _, d in labels)  # points, past the tick labels
        for i, (g, _) in enumerate(labels):
            if i == 0 or labels[i - 1][0] != g:
                ax.annotate(g, xy=(0, i + 0.5), xycoords=("axes fraction", "data"),
                            xytext=(-offset, 0), textcoords="offset points", ha="right",
                            va="center", fontsize=7)
    fig.legend(handles=[Patch(fc=OUTCOME_COLOURS[o], ec="#777777", lw=0.5, label=o)
                        for o in OUTCOMES],
               loc="outside lower center", ncols=5, frameon=False)
    fig.suptitle(title_of(study, f"outcome at each {study.sweep}, per format"))
    cut = "" if total == len(row_keys) else f" The first {len(row_keys)} of {total} rows are drawn."
    if all_ok:
        cut += f" {all_ok} points where every format is ok all along are left out."
    per = " One panel per quantity." if facet else ""
    caption = (f"Each row is one format at one grid point; each cell the outcome at one "
               f"{study.sweep}: ok, subnormal (a nonzero result below the smallest normal), "
               "underflow (0 where the truth is not), overflow (inf where the truth is finite), "
               "nan. White: not run." + per + cut)
    return save(fig, study.figures_dir, "outcome_map", title_of(study, "outcome map"), caption)


def widen_narrow_runs(ax, grid: np.ndarray, edges: np.ndarray) -> None:
    """Draw failing runs narrower than NARROW_RUN of the columns as visible bars.

    A single overflowed depth among 2000 would be a sub-pixel sliver; it is the most important
    cell of its row, so it gets a bar at least a few points wide.
    """
    ok = OUTCOMES.index("ok")
    min_points = max(1, int(NARROW_RUN * grid.shape[1]))
    for row, line in enumerate(grid):
        for code in range(len(OUTCOMES)):
            if code == ok:
                continue
            for lo, hi in runs_of_mask(line == code):
                if hi - lo <= min_points:
                    mid = (edges[lo] + edges[hi]) / 2
                    ax.plot([mid, mid], [row + 0.08, row + 0.92], lw=3,
                            color=OUTCOME_COLOURS[OUTCOMES[code]], solid_capstyle="butt")


def cell_edges(xs: np.ndarray, scale: str) -> np.ndarray:
    """Cell edges around sorted sweep values (geometric midpoints on a log axis)."""
    if xs.size == 0:
        return np.array([0.0, 1.0])
    if xs.size == 1:
        return np.array([xs[0] - 0.5, xs[0] + 0.5]) if scale == "linear" \
            else np.array([xs[0] / 1.5, xs[0] * 1.5])
    t = np.log(xs) if scale == "log" else xs
    mid = (t[1:] + t[:-1]) / 2
    e = np.r_[t[0] - (mid[0] - t[0]), mid, t[-1] + (t[-1] - mid[-1])]
    return np.exp(e) if scale == "log" else e


# --------------------------------------------------------------------------- error

def error(study: Study, references: Callable | None = None) -> FigureFile:
    groups, total = panel_groups(study)
    fig, axes = panel_grid(len(groups), extra_height=1.0)
    drawn: list[Reference] = []
    for ax, (labels, rows) in zip(axes, groups, strict=True):
        refs = list(references(study, labels, rows)) if references else []
        drawn += refs
        _error_panel(ax, study, rows, refs)
        ax.set_title(panel_title(study, labels), loc="left", y=TITLE_Y)  # a log y axis
        ax.set_ylabel("relative error")
        set_sweep_axis(ax, study, rows[study.sweep].to_numpy())
    handles = [Line2D([], [], color=format_colour(d), lw=1.6, label=d) for d in study.dtypes]
    handles += [Line2D([], [], color="#555555", marker=m, ls="none", label=label)
                for m, label in (("^", "inf error (top)"), ("x", "NaN (top)"),
                                 ("o", "exact, 0 (bottom)"))]
    curves = dict.fromkeys((r.label, r.dash) for r in drawn)  # in the hook's order
    handles += [Line2D([], [], color="#555555", lw=0.9, ls=dash, label=label)
                for label, dash in curves]
    fig.legend(handles=handles, loc="outside lower center", ncols=7, frameon=False)
    fig.suptitle(title_of(study, f"relative error along {study.sweep}"))
    caption = ("Normwise relative error |value - truth| / |truth| per format, log scale. "
               "Points where the result is exact (error 0) sit in a strip at the bottom; an "
               "infinite error (overflow) or NaN in strips at the top; errors beyond "
               f"10^{MAX_ERROR_DECADE} run off the top of the panel.")
    meanings = [m for m in dict.fromkeys(r.meaning for r in drawn) if m]
    if meanings:
        caption += " Thin curves in each format's colour: " + " ".join(meanings)
    caption += figure_note(len(groups), total)
    return save(fig, study.figures_dir, "error", title_of(study, "error"), caption)


def _error_panel(ax, study: Study, rows: pd.DataFrame, refs: list[Reference]) -> None:
    ax.set_yscale("log")
    positive = []
    series = []
    for d in study.dtypes:
        r = rows[rows["dtype"] == d]
        if r.empty:
            continue
        x = r[study.sweep].to_numpy(dtype=float)
        e = r["rel_error"].to_numpy(dtype=float)
        series.append((d, x, e))
        positive.append(e[np.isfinite(e) & (e > 0)])
    for ref in refs:
        y = np.asarray(ref.y, dtype=float)
        positive.append(y[np.isfinite(y) & (y > 0)])
    pos = np.concatenate(positive) if positive else np.array([])
    lo, hi = (pos.min(), pos.max()) if pos.size else (1e-17, 1.0)
    lo_d, hi_d = math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1
    # an error beyond 10^MAX_ERROR_DECADE says no digit is right, and how far beyond matters
    # less than the ok region: such curves leave through the top of the panel
    hi_d = max(min(hi_d, MAX_ERROR_DECADE), lo_d + 2)
    top, bottom = layout_strips(
        ax, lo_d, hi_d, [d for d, _, e in series if (~np.isfinite(e)).any()],
        [d for d, _, e in series if (e == 0).any()], "inf ▲ / NaN ×", "exact (0) ●", log=True)
    n = len(series)
    for i, (d, x, e) in reversed(list(enumerate(series))):
        colour = format_colour(d)
        shown = np.where(np.isfinite(e) & (e > 0), e, np.nan)
        # coinciding errors (a stalled loss, an update flushed to 0 in every format) would
        # hide all but the last format drawn: wider formats go first and thicker
        ax.plot(x, shown, color=colour, lw=1.1 + 2.0 * i / max(n - 1, 1), alpha=0.9,
                solid_capstyle="butt", label=f"error {d}")
        if np.isfinite(shown).sum() < 3:  # a line needs neighbours; single points need marks
            ax.plot(x, shown, "o", color=colour, ms=3)
        if d in top:
            edge_strip(ax, x, np.isinf(e), top[d], colour, "^")
            edge_strip(ax, x, np.isnan(e), top[d], colour, "x")
        if d in bottom:
            edge_strip(ax, x, e == 0, bottom[d], colour, "o")
    for ref in refs:
        ax.plot(ref.x, ref.y, color=format_colour(ref.dtype), lw=0.9, ls=ref.dash, alpha=0.8,
                label=f"{ref.label} {ref.dtype}")


# --------------------------------------------------------------------------- trials

RULE_STYLES = ("-", (0, (5, 2)), (0, (1, 1.2)), (0, (6, 2, 1, 2)), (0, (3, 1, 1, 1, 1, 1)))


def trials_figure(study: Study) -> FigureFile:
    """The value along the sweep under each rounding rule: for a repeated (stochastic) rule the
    mean over trials with the band from the smallest to the largest trial, and the exact
    value (dashed black) it is measured against."""
    from .study import RULE_KEYS

    frame = study.all_trials
    point_keys = [k for k in study.label_keys if k not in RULE_KEYS]
    x_key = study.sweep
    if frame[x_key].nunique() < 3:  # a short sweep: draw along the numeric grid parameter
        numeric = [k for k in point_keys if pd.api.types.is_numeric_dtype(frame[k])
                   and frame[k].nunique() >= 3]
        if numeric:
            x_key = max(numeric, key=lambda k: frame[k].nunique())
            point_keys = [k for k in point_keys if k != x_key] + [study.sweep]
    rule_keys = [k for k in RULE_KEYS if k in frame and frame[k].nunique() > 1] or ["rounding"]
    rules = list(dict.fromkeys(tuple(r) for r in frame[rule_keys].itertuples(index=False)))
    parts = list(frame.groupby(point_keys, sort=False, dropna=False)) if point_keys else \
        [((), frame)]
    parts = parts[:MAX_PANELS]
    fig, axes = panel_grid(len(parts), extra_height=1.0)
    for ax, (key, rows) in zip(axes, parts, strict=True):
        key = key if isinstance(key, tuple) else (key,)
        labels = dict(zip(point_keys, key, strict=True))
        # log scale when the truth is positive and no value negative; a 0 (underflow) then
        # sits at the bottom edge of the panel
        positive = bool((rows["value"] >= 0).all() and (rows["truth"] > 0).all())
        floor = min(rows.loc[rows["value"] > 0, "value"].min(), rows["truth"].min()) / 4 \
            if positive else None
        for d in study.dtypes:
            for i, rule in enumerate(rules):
                mask = (rows["dtype"] == d)
                for k, v in zip(rule_keys, rule, strict=True):
                    mask &= rows[k] == v
                r = rows[mask]
                if r.empty:
                    continue
                stats = r.groupby(x_key)["value"].agg(["mean", "min", "max"])
                if positive:
                    stats = stats.clip(lower=floor)
                x = stats.index.to_numpy(dtype=float)
                ax.plot(x, stats["mean"], color=format_colour(d),
                        ls=RULE_STYLES[i % len(RULE_STYLES)], lw=1.3)
                if (stats["max"] > stats["min"]).any():
                    ax.fill_between(x, stats["min"], stats["max"], color=format_colour(d),
                                    alpha=0.15, lw=0)
        truth = rows.groupby(x_key)["truth"].first()
        ax.plot(truth.index.to_numpy(dtype=float), truth.to_numpy(), color="black",
                ls=(0, (2, 2)), lw=1.0)
        if positive:
            ax.set_yscale("log")
        # a linear y axis may have an offset text, which the title must clear
        ax.set_title(", ".join(f"{k}={show(v)}" if k not in ("impl", "quantity") else show(v)
                               for k, v in labels.items()) or "all points", loc="left",
                     y=TITLE_Y if positive else None)
        ax.set_ylabel("value")
        if x_key == study.sweep:
            set_sweep_axis(ax, study, rows[study.sweep].to_numpy())
        else:
            ax.set_xlabel(x_key)
            xs = rows[x_key].to_numpy(dtype=float)
            if (xs > 0).all() and xs.max() / xs.min() > 100:
                ax.set_xscale("log")
    handles = [Line2D([], [], color=format_colour(d), lw=1.6, label=d) for d in study.dtypes]
    handles += [Line2D([], [], color="#555555", ls=RULE_STYLES[i % len(RULE_STYLES)], lw=1.3,
                       label=" / ".join(rule)) for i, rule in enumerate(rules)]
    handles.append(Line2D([], [], color="black", ls=(0, (2, 2)), lw=1.0, label="exact"))
    fig.legend(handles=handles, loc="outside lower center", ncols=4, frameon=False)
    fig.suptitle(title_of(study, f"value along {x_key} under each rounding rule"))
    caption = ("The computed value per format (colour) and rounding rule (line style); for a "
               "rule repeated over trials (stochastic rounding) the line is the mean over the "
               "trials and the shaded band runs from the smallest to the largest trial. The "
               "dashed black line is the exact value on the inputs the format received. On a "
               "log scale a value of 0 is drawn at the bottom edge.")
    caption += figure_note(len(parts), len(parts))
    return save(fig, study.figures_dir, "trials", title_of(study, "rounding rules"), caption)
