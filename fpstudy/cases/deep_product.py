"""Forward value of a deep linear network, y_d = W_d ... W_1 x, at every depth d.

Every layer is a real matrix-vector product in the format (products and sums rounded as the
`accumulate` policy says), never a shortcut through the diagonal: with W = s*I the zeros off
the diagonal meet an overflowed inf and make the NaN a real network would make (0 * inf).
All depths come from one forward pass, in the format and in the truth.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np

from ..arith import round_array
from ..data import SAMPLE_COLUMN
from ..errors import ParamError
from ..exact import power_precision, to_mpf_list
from ..params import Param, exact_array, in_format
from ..thresholds import first_in_class
from ._layers import INPUTS, WEIGHTS, fit_linear, layer_list, linear_inputs

NAME = "deep_product"
DESCRIPTION = (
    "Forward value y_d = W_d ... W_1 x of a deep linear network at every depth d. "
    "With W = s*I the exact value is s^d x: it overflows near d = ln(max)/ln(s) and, once inf "
    "meets the zero off-diagonal entries, turns NaN; for s < 1 it goes subnormal and "
    "underflows to 0."
)
SWEEP = "depth"
QUANTITIES = ("output",)
INITS = ("scaled_identity", "gaussian", "orthogonal")

PARAMS = {
    "scale": Param("float", 1.0, "s: W = s*I, entries N(0, s^2/width), or s*Q"),
    "width": Param("int", 2, "the layer width n (W is n x n)", low=1, high=4096),
    "init": Param("choice", "scaled_identity", "how the weights are made", choices=INITS),
    "x": Param("vector", "ones", "the input vector: \"ones\" or width numbers",
               choices=("ones",)),
    "max_depth": Param("int", 100, "the deepest layer; depth runs 1..max_depth",
                       low=1, high=1_000_000),
    "accumulate": Param("accumulate", "format",
                        "where matrix-vector products accumulate", truth=False),
    SAMPLE_COLUMN: Param("int", 0, "the row of [data] x (from 0); every row by default", low=0),
}
# [data] weights set init = "data", width (n_0) and max_depth (at most their number); scale
# multiplies them. [data] x sets x = "data", one grid point per row.
DATA = {"weights": WEIGHTS, "x": INPUTS}


def with_data(grid: dict, given: list[str], data: dict) -> None:
    fit_linear(grid, given, data, "max_depth", NAME)


def validate(p: dict) -> None:
    if p["x"] == "data" or p["init"] == "data":
        return  # with_data checked the files' shapes
    if isinstance(p["x"], tuple) and len(p["x"]) != p["width"]:
        raise ParamError("x", f"has {len(p['x'])} entries; expected width = {p['width']}")


def input_vector(p: dict) -> np.ndarray:
    """x: "ones" or the config's numbers ([data] x: see _layers.linear_inputs)."""
    if p["x"] == "data":
        return np.zeros(0)  # replaced by the row of [data] x
    return np.ones(p["width"]) if p["x"] == "ones" else exact_array(p["x"])


def weights(p: dict, depth: int, rng: np.random.Generator) -> np.ndarray:
    """The float64 weights of layers 1..depth, shape (depth, width, width).

    Random weights are drawn layer by layer from `rng`, so the first k layers are the same
    whatever the depth (and the same for every scale: only the factor s changes).
    """
    n, s = p["width"], p["scale"]
    if p["init"] == "scaled_identity":
        diagonal = exact_array(s)  # s itself is the input: its decimal, rounded once
        layer = np.eye(n, dtype=diagonal.dtype) * diagonal if diagonal.dtype != object else \
            np.where(np.eye(n, dtype=bool), diagonal[()], Fraction(0))
        return np.broadcast_to(layer, (depth, n, n)).copy()
    z = rng.standard_normal((depth, n, n))
    if p["init"] == "gaussian":
        return (s / np.sqrt(n)) * z
    q, r = np.linalg.qr(z)
    signs = np.sign(np.diagonal(r, axis1=-2, axis2=-1))
    signs[signs == 0] = 1.0
    return s * (q * signs[..., None, :])  # Haar-distributed orthogonal, times s


def estimate(p: dict) -> dict:
    """Sizes for fpstudy.estimate: max_depth n x n weights, one n-vector per depth."""
    d, n = p["max_depth"], p["width"]
    return {"inputs": d * n * n + n, "outputs": d * n, "records": d,
            "format_ops": 2 * d * n * n, "truth_ops": 2 * d * n * n}


def inputs(p: dict, rng: np.random.Generator, data: dict | None = None) -> dict[str, np.ndarray]:
    out = {} if p["init"] == "data" else {"W": weights(p, p["max_depth"], rng)}
    out["x"] = input_vector(p)
    out.update(linear_inputs(p, data or {}, p["max_depth"]))  # [data] weights and x
    return out


def compute(p: dict, inputs: dict, ar, emit) -> None:
    y = ar.asarray(inputs["x"])
    layers = layer_list(inputs)
    for depth in range(1, p["max_depth"] + 1):
        y = ar.matvec(ar.asarray(layers[depth - 1]), y)
        emit("output", depth, y)


def truth(p: dict, exact: dict, ex) -> dict:
    out = {}
    y = list(exact["x"])
    layers = layer_list(exact)
    for depth in range(1, p["max_depth"] + 1):
        y = ex.matvec(layers[depth - 1], y)
        out[("output", depth)] = y
    return out


def predict(p: dict, fmt, rule=None) -> dict:
    """First depth of each failing outcome for W = s*I, from the exact s^d x and fmt's limits.

    The exact output is s^d x on the inputs the format received (s and x rounded to it). The
    largest |x_i| s^d overflows first; the smallest nonzero one goes subnormal and underflows
    first. After an overflow the next layer multiplies inf by the zero off-diagonal entries,
    so NaN follows one layer later (width >= 2); a format without infinity gives NaN at once.
    These are the depths where the truth leaves the format's range; the measured depths can
    differ by rounding drift, and in the subnormal range a product can stagnate instead of
    reaching 0. Under a rounding rule (nearest-even only: a directed or stochastic rounding
    drifts too far from s^d to predict): flush goes straight from normal to 0, at the depth
    the truth goes subnormal; saturation turns an overflow into +-max (outcome overflow) and
    never into NaN.
    """
    if rule is not None and rule.rounding != "nearest_even":
        return {}
    if p["init"] != "scaled_identity":
        return {}
    s = in_format(p["scale"], fmt)[0]
    xs = [abs(v) for v in to_mpf_list(round_array(input_vector(p), fmt)) if v != 0]
    if not mpmath.isfinite(s) or not xs or not all(mpmath.isfinite(v) for v in xs):
        return {}
    depth = p["max_depth"]
    pred = {"subnormal": None, "underflow": None, "overflow": None, "nan": None}
    if abs(s) > 1:
        first = _first_depth(abs(s), max(xs), fmt, depth, "overflows")
        if first is not None:
            if not fmt.has_inf:
                pred["nan"] = first
            else:
                pred["overflow"] = first
                if p["width"] >= 2 and first < depth:
                    pred["nan"] = first + 1
    elif 0 < abs(s) < 1:
        pred["subnormal"] = _first_depth(abs(s), min(xs), fmt, depth, "subnormal")
        pred["underflow"] = _first_depth(abs(s), min(xs), fmt, depth, "underflows")
        if pred["subnormal"] is not None and pred["underflow"] is not None \
                and pred["subnormal"] >= pred["underflow"]:
            pred["subnormal"] = None  # it jumps straight from normal to 0
        if rule is not None and rule.flush:
            if pred["subnormal"] is not None:
                pred["underflow"] = pred["subnormal"]
            pred["subnormal"] = None
    if rule is not None and rule.overflow == "saturate" and abs(s) > 1:
        first = pred["overflow"] or pred["nan"]
        pred["overflow"], pred["nan"] = first, None
    return {"output": pred}


def _first_depth(s, a, fmt, max_depth: int, cls: str) -> int | None:
    """The first d in 1..max_depth with truth_class(s^d a) == cls (|s| != 1), s^d exact."""
    def magnitude(d):
        with mpmath.workprec(power_precision(s, d, a)):
            return s ** d * a
    return first_in_class(magnitude, fmt, 1, max_depth, cls, grows=s > 1)
