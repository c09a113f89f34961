"""Report hook for deep_gradients: the gradient norm per layer (the vanishing-gradient picture).

The generic figures show every quantity; this one shows the weight gradient alone,
||d loss / d W_layer|| against the layer, per format, with the exact norm dashed: with
W = s*I it grows or shrinks geometrically towards the input, and the formats part where it
leaves their range. Where the first inf / NaN was produced is in the generic table of the
case's own columns (first_nonfinite, first_nan).
"""

from __future__ import annotations

from ..figures import magnitude

CASE = "deep_gradients"
QUANTITY = "grad"


def figures(study) -> list:
    if QUANTITY not in set(study.records["quantity"]):
        return []
    grads = study.subset(study.records["quantity"] == QUANTITY, drop_keys=("quantity",))
    return [magnitude(
        grads, name="gradient_norm", what=f"gradient norm per {study.sweep}",
        ylabel="log10 ||dL/dW||",
        lead=("The weight gradient's magnitude ||d loss / d W_layer|| (largest entry) per "
              f"{study.sweep}, computed (solid) and exact (dashed), per format: the classic "
              "vanishing / exploding gradient picture, with the formats' limits."))]
