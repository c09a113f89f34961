"""Colours, line styles and the figure saver shared by every report figure.

One colour per format in every figure (Okabe & Ito's colour-blind-safe palette) and five fixed
outcome colours, chosen to differ in lightness as well as hue so they survive colour-vision
deficiency and greyscale printing: ok light grey, subnormal light blue, underflow dark blue,
overflow orange, nan black.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display, ever; the report only writes files

from matplotlib.figure import Figure  # noqa: E402

from .. import results  # noqa: E402
from ..metrics import OUTCOMES  # noqa: E402

FORMAT_COLOURS = {
    "float16": "#E69F00",  # orange
    "bfloat16": "#009E73",  # bluish green
    "float32": "#0072B2",  # blue
    "float64": "#000000",  # black
    "float8_e4m3fn": "#D55E00",  # vermillion
    "float8_e5m2": "#CC79A7",  # reddish purple
    "longdouble": "#56B4E9",  # sky blue
    # the other ml_dtypes formats: Paul Tol's muted scheme, distinct from the above
    "float8_e4m3": "#882255",  # wine
    "float8_e4m3fnuz": "#44AA99",  # teal
    "float8_e5m2fnuz": "#AA4499",  # purple
    "float8_e4m3b11fnuz": "#999933",  # olive
    "float8_e3m4": "#332288",  # indigo
    "float6_e2m3fn": "#117733",  # green
    "float6_e3m2fn": "#DDAA33",  # sand
    "float4_e2m1fn": "#CC6677",  # rose
}
OTHER_COLOUR = "#888888"
OUTCOME_COLOURS = {
    "ok": "#E4E4E4",
    "subnormal": "#88CCEE",
    "underflow": "#1F3A93",
    "overflow": "#EE7733",
    "nan": "#111111",
}
assert tuple(OUTCOME_COLOURS) == OUTCOMES
# Format limits as horizontal lines: (attribute, label, dash pattern).
LIMIT_LINES = (("max", "max", (0, (6, 2))),
               ("smallest_normal", "smallest normal", (0, (2, 2))),
               ("smallest_subnormal", "smallest subnormal", (0, (1, 3))))

RC = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.5,
    "svg.hashsalt": "fpstudy",  # stable ids: the same figure gives the same SVG
    "svg.fonttype": "none",  # text stays text in the SVG (editable for papers)
    "savefig.dpi": 150,
}
PANEL_WIDTH, PANEL_HEIGHT = 3.4, 2.4  # inches; two panels fill a page width
PAD_INCHES = 0.05  # white margin around what a figure draws
# A panel title's height, in axes fraction: set_title(..., y=TITLE_Y) puts it where matplotlib's
# automatic placement would, on top of the panel, and turns that placement off. Automatic
# placement only moves a title above what stands over the panel: x ticks on top (no panel has
# them) or the y axis's offset text ("1e6", "+1e3"), which only a linear y axis can have, and
# only with values that share four leading digits or pass 10^6. For every title it lays out
# the y axis's tick labels once more at each of the figure's layout passes and draws: some 7%
# of the CPU time of drawing a section. Panels whose y axis may have an offset text keep it
# (y=None).
TITLE_Y = 1.0


def format_colour(dtype: str) -> str:
    return FORMAT_COLOURS.get(dtype, OTHER_COLOUR)


@dataclass
class FigureFile:
    """One drawn figure: its stable name, the files written, and what it shows."""

    name: str
    title: str
    caption: str
    png: Path
    svg: Path
    # the drawn figure, for reading back what it shows (tests); the report drops it once
    # the files are written
    figure: Figure | None = field(default=None, repr=False, compare=False)


def new_figure(width: float, height: float) -> Figure:
    """A figure not attached to pyplot (no global state, nothing to close)."""
    return Figure(figsize=(width, height), layout="constrained")


def save(fig: Figure, directory: Path, name: str, title: str, caption: str) -> FigureFile:
    """Write name.png and name.svg atomically (metadata without dates, so files are stable).

    The figure is laid out and measured once, then written twice. savefig(bbox_inches="tight")
    would, for each format, run the constrained layout and draw the whole figure to measure
    it, then draw it again to write it: four layouts and four draws where one layout, one
    measure and two draws give the same PNG, byte for byte (the layout is computed at the
    PNG's resolution; the SVG, laid out before at 72 dpi, moves by a fraction of a point).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    png, svg = Path(directory) / f"{name}.png", Path(directory) / f"{name}.svg"
    dpi = RC["savefig.dpi"]
    fig.set_dpi(dpi)
    renderer = FigureCanvasAgg(fig).get_renderer()
    engine = fig.get_layout_engine()
    if engine is not None and fig.axes:  # as Figure.draw: a figure of text alone has no grid
        engine.execute(fig)
    # what "tight" would keep: a legend wider than a narrow figure (two panels) is not clipped
    bbox = fig.get_tightbbox(renderer).padded(PAD_INCHES)
    # the layout is done: without an engine savefig neither redoes it nor draws to measure
    # (None, not "none": a placeholder engine would still make savefig draw once more; None
    # means the rc's default engine, so the rc says there is none)
    with matplotlib.rc_context({"figure.autolayout": False,
                                "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)
    results.atomic_write(png, lambda tmp: fig.savefig(
        tmp, format="png", dpi=dpi, metadata={"Software": None}, bbox_inches=bbox))
    results.atomic_write(svg, lambda tmp: fig.savefig(
        tmp, format="svg", dpi=dpi, metadata={"Date": None, "Creator": None},
        bbox_inches=bbox))
    return FigureFile(name, title, caption, png, svg, fig)
