"""Report hook for deep_gradients: the gradient per layer (the vanishing-gradient picture).

The generic figures show every quantity; this one shows the gradient that backpropagation
carries through the layers, delta_layer = d loss / d a_layer, per format, with the exact norm
dashed. It shrinks or grows geometrically towards the input (by |s| per layer for W = s*I)
and the formats part where it leaves their range. (The weight gradient
d loss / d W_k = delta_k a_(k-1)^T is, for W = s*I, the same at every layer: the decay of
delta_k is cancelled by the growth of a_(k-1); it is in the generic figures.) Where the first
inf / NaN was produced is in the generic table of the case's own columns (first_nonfinite,
first_nan).
"""

from __future__ import annotations

from ..figures import quantity_magnitude

CASE = "deep_gradients"


def figures(study) -> list:
    return quantity_magnitude(
        study, "delta", name="gradient_norm", what=f"backpropagated gradient per {study.sweep}",
        ylabel="log10 ||dL/da||",
        lead=("The gradient backpropagation carries, ||d loss / d a_layer|| (largest entry), "
              f"per {study.sweep}: computed (solid) and exact (dashed), per format, the "
              "classic vanishing / exploding gradient picture."))
