"""Report hook for training: the loss per step against the exact trajectory.

The exact trajectory is the same gradient descent in mpmath from the same rounded start, so
the gap between the solid and dashed curves is the format's doing alone: a stall (the update
rounded to 0) shows as a flat solid curve under a falling dashed one, a divergence as inf and
NaN strips at the top.
"""

from __future__ import annotations

from ..figures import quantity_magnitude

CASE = "training"


def figures(study) -> list:
    return quantity_magnitude(
        study, "loss", name="loss", what=f"training loss per {study.sweep}",
        ylabel="log10 loss",
        lead=(f"The loss per {study.sweep} of gradient descent in each format (solid) against "
              "the exact descent in mpmath from the same rounded start (dashed)."))
