"""Report hook for deep_product: Higham & Mary's error bounds beside the measured error.

Each layer is an inner product of length n = width per output element, so the computed
y_d = W_d ... W_1 x carries about k = d*n rounding errors in sequence: the deterministic bound
is gamma_k ~ k*u and, for rounding errors that behave like independent random variables, the
probabilistic bound ~ sqrt(k)*u (Higham & Mary, SIAM J. Sci. Comput. 41, 2019). When products
accumulate in a wider format there is one rounding to the format per layer: k = d.
"""

from __future__ import annotations

import numpy as np

from ...formats import FORMATS
from ..figures import Reference

CASE = "deep_product"
DETERMINISTIC = ("k·u", (0, (5, 2)),
                 "k·u (dashed) is Higham & Mary's deterministic bound for k rounded operations "
                 "in sequence (k = depth × width, or depth when products accumulate in a wider "
                 "format), u the format's unit roundoff.")
PROBABILISTIC = ("√k·u", (0, (1, 1.5)),
                 "√k·u (dotted) is their probabilistic bound, for rounding errors that behave "
                 "like independent random variables.")


def error_references(study, labels, rows) -> list:
    refs = []
    for dtype in study.dtypes:
        r = rows[rows["dtype"] == dtype]
        if r.empty or dtype not in FORMATS:
            continue
        depth = np.sort(r[study.sweep].to_numpy(dtype=float))
        accumulate = r["accumulate"].iloc[0] if "accumulate" in r else "format"
        per_layer = 1 if accumulate != "format" else int(r["width"].iloc[0])
        k = depth * per_layer
        u = FORMATS[dtype].unit_roundoff
        for (label, dash, meaning), y in ((DETERMINISTIC, k * u), (PROBABILISTIC, np.sqrt(k) * u)):
            refs.append(Reference(label, dtype, depth, y, dash, meaning))
    return refs
