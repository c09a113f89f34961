"""Report hook for mlp: with [data] samples, the fraction of samples in each outcome."""

from __future__ import annotations

CASE = "mlp"


def tables(study) -> list:
    """Per format and softmax implementation: the samples by their worst outcome over every
    quantity and layer, and by the outcome of their loss alone."""
    from ._samples import has_samples, outcome_fractions

    rec = study.records
    if not has_samples(rec):
        return []
    return [
        outcome_fractions(study, rec, "Samples by worst outcome (every quantity, every layer)",
                          "Each sample (a row of [data] x) counted once, by the worst outcome "
                          "among its pre-activations, activations, deltas, weight gradients "
                          "and loss; the percentage of the samples, and their number."),
        outcome_fractions(study, rec[rec["quantity"] == "loss"], "Samples by outcome of the loss",
                          "Each sample counted once, by the outcome of its loss."),
    ]


def figures(study) -> list:
    """Per sample (across) and (impl, format) (down): the worst outcome over every quantity,
    and the loss's outcome, in the outcome colours."""
    import numpy as np
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    from ...metrics import OUTCOMES
    from ..style import OUTCOME_COLOURS, TITLE_Y, format_colour, new_figure, save
    from ._samples import has_samples, worst_per_sample

    rec = study.records
    if not has_samples(rec):
        return []
    samples = np.sort(rec["sample"].unique())
    impls = list(dict.fromkeys(rec["impl"]))
    rows = [(impl, dtype) for impl in impls for dtype in study.dtypes]
    code = {o: i for i, o in enumerate(OUTCOMES)}
    cmap = ListedColormap([OUTCOME_COLOURS[o] for o in OUTCOMES]).with_extremes(bad="white")
    norm = BoundaryNorm(np.arange(len(OUTCOMES) + 1) - 0.5, len(OUTCOMES))
    panels = [("every quantity, every layer", rec),
              ("the loss", rec[rec["quantity"] == "loss"])]
    fig = new_figure(min(max(0.12 * len(samples) + 2.5, 6.0), 14),
                     2 * (0.45 + 0.16 * len(rows)) + 1.0)
    axes = fig.subplots(len(panels), 1, squeeze=False, sharex=True)[:, 0]
    for ax, (title, sub) in zip(axes, panels, strict=True):
        worst = worst_per_sample(sub, ["impl", "dtype"])
        grid = np.full((len(rows), len(samples)), np.nan)
        index = {s: i for i, s in enumerate(samples)}
        for i, (impl, dtype) in enumerate(rows):
            w = worst[(worst["impl"] == impl) & (worst["dtype"] == dtype)]
            grid[i, w["sample"].map(index).to_numpy()] = w["outcome"].map(code).to_numpy()
        ax.pcolormesh(np.arange(len(samples) + 1), np.arange(len(rows) + 1),
                      np.ma.masked_invalid(grid), cmap=cmap, norm=norm, rasterized=True)
        ax.set_yticks(np.arange(len(rows)) + 0.5)
        ax.set_yticklabels([f"{impl} {dtype}" if impl else dtype for impl, dtype in rows],
                           fontsize=6.5)
        for label, (_, dtype) in zip(ax.get_yticklabels(), rows, strict=True):
            label.set_color(format_colour(dtype))
        ax.invert_yaxis()
        ax.grid(False)
        ax.set_title(f"worst outcome of {title}", y=TITLE_Y)  # the y axis names rows
    step = max(1, len(samples) // 12)
    axes[-1].set_xticks(np.arange(0, len(samples), step) + 0.5)
    axes[-1].set_xticklabels([str(s) for s in samples[::step]])
    axes[-1].set_xlabel("sample")
    fig.legend(handles=[Patch(fc=OUTCOME_COLOURS[o], ec="#777777", lw=0.5, label=o)
                        for o in OUTCOMES], loc="outside lower center", ncols=5, frameon=False)
    fig.suptitle(f"{study.name}: outcome per sample")
    caption = ("Each sample (a row of [data] x) across, each softmax implementation and format "
               "down: the worst outcome among all its pre-activations, activations, deltas, "
               "weight gradients and its loss (top), and the outcome of its loss (bottom).")
    return [save(fig, study.figures_dir, "mlp_samples", f"{study.name}: outcome per sample",
                 caption)]
