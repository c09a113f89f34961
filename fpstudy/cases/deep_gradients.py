"""Backpropagation through the deep linear network of deep_product, in the format.

The network is deep_product's (same `scale`, `width`, `init`, `x`, `accumulate`, and the same
weights for the same seed: they come from `deep_product.weights`). For a network of `depth`
layers L, with a_0 = x and a_k = W_k a_{k-1}, the loss is 1/2 ||a_L - target||^2 and

    delta_L = a_L - target                      (d loss / d a_L)
    grad_k  = delta_k a_{k-1}^T                 (d loss / d W_k, an outer product)
    delta_{k-1} = W_k^T delta_k                 (a real matrix-vector product with W_k^T)

Every product and sum is rounded to the format as in the core (`ar.matvec`, `ar.mul`,
`ar.dot`), never shortcut through the diagonal, so a NaN is born the way a real network makes
it: an overflowed inf meets a zero weight (inf * 0) or an inf of the other sign (inf - inf).
The loss is 1/2 * (r . r) with r = a_L - target, in that order.

Each point also records where the first non-finite value was produced (`first_nonfinite`)
and where the first NaN was produced and from what (`first_nan`), in the order a framework's
NaN detector would see them: forward layers 1..L, then the residual and the loss, then for
k = L..1 the gradient of layer k and the delta of layer k-1.
"""

from __future__ import annotations

import mpmath
import numpy as np

from ..arith import round_array
from ..data import SAMPLE_COLUMN
from ..errors import ParamError
from ..exact import power_precision, to_mpf_list
from ..metrics import OUTCOME_OF_CLASS, truth_class
from ..params import Param, exact_array, in_format
from . import deep_product
from ._layers import fit_linear, layer_list, linear_inputs
from ._nn import (
    NonFiniteWatch,
    forward,
    forward_exact,
    loss_and_backward,
    loss_and_backward_exact,
)

NAME = "deep_gradients"
DESCRIPTION = (
    "Backpropagation through deep_product's deep linear network with loss 1/2||y - target||^2: "
    "per layer the activation, the delta (d loss / d a_layer) and the weight gradient "
    "(d loss / d W_layer), plus the loss, for each network depth. first_nonfinite and "
    "first_nan say where the first inf/NaN was produced (forward or backward pass, which "
    "layer) and what made the NaN (inf*0, inf-inf, or an overflow in a format without inf)."
)
SWEEP = "layer"
QUANTITIES = ("activation", "delta", "grad", "loss")
EXTRA_COLUMNS = ("first_nonfinite", "first_nan")
TARGETS = ("zeros", "ones")

PARAMS = {
    "scale": deep_product.PARAMS["scale"],
    "width": Param("int", 2, "the layer width n (W is n x n)", low=1, high=256),
    "init": deep_product.PARAMS["init"],
    "x": deep_product.PARAMS["x"],
    "depth": Param("int", 10, "the number of layers L; layer runs 1..L", low=1, high=100_000),
    "target": Param("vector", "zeros", "the target: \"zeros\", \"ones\" or width numbers",
                    choices=TARGETS),
    "accumulate": deep_product.PARAMS["accumulate"],
    SAMPLE_COLUMN: deep_product.PARAMS[SAMPLE_COLUMN],
}
DATA = deep_product.DATA  # [data] weights (possibly rectangular layers) and x, times scale


def with_data(grid: dict, given: list[str], data: dict) -> None:
    fit_linear(grid, given, data, "depth", NAME)
    if "weights" in data:
        from ._layers import weight_layers

        n_out = weight_layers(data["weights"])[-1][0].shape[0]
        for i, t in enumerate(grid["target"]):
            if isinstance(t, tuple) and len(t) != n_out:
                raise ParamError(f"grid.target[{i}]" if len(grid["target"]) > 1 else
                                 "grid.target", f"has {len(t)} entries; the last layer of "
                                 f"data.weights gives {n_out}")


def validate(p: dict) -> None:
    deep_product.validate(p)
    if p.get("init") == "data":
        return  # with_data checked the target against the last layer
    if isinstance(p["target"], tuple) and len(p["target"]) != p["width"]:
        raise ParamError("target",
                         f"has {len(p['target'])} entries; expected width = {p['width']}")


def target_vector(p: dict, n_out: int | None = None) -> np.ndarray:
    t, n = p["target"], p["width"] if n_out is None else n_out
    if t == "zeros":
        return np.zeros(n)
    if t == "ones":
        return np.ones(n)
    return exact_array(t)


def estimate(p: dict) -> dict:
    """Sizes for fpstudy.estimate: depth n x n weights; per layer an activation, a delta and
    an n x n gradient, and the loss; forward, backward and outer products."""
    d, n = p["depth"], p["width"]
    return {"inputs": d * n * n + 2 * n, "outputs": d * (2 * n + n * n) + 1,
            "records": 3 * d + 1, "format_ops": 5 * d * n * n + 4 * n,
            "truth_ops": 5 * d * n * n + 4 * n}


def inputs(p: dict, rng: np.random.Generator, data: dict | None = None) -> dict[str, np.ndarray]:
    out = {} if p.get("init") == "data" else {"W": deep_product.weights(p, p["depth"], rng)}
    out["x"] = deep_product.input_vector(p)
    out.update(linear_inputs(p, data or {}, p["depth"]))  # [data] weights and x
    out["target"] = target_vector(p, layer_list(out)[-1].shape[0])
    return out


# -- in the format -------------------------------------------------------------------------------

def compute(p: dict, inputs: dict, ar, emit) -> None:
    W = [ar.asarray(Wk) for Wk in layer_list(inputs)]
    x = ar.asarray(inputs["x"])
    target = ar.asarray(inputs["target"])
    watch = NonFiniteWatch()
    acts = forward(ar, W, x, watch)
    loss, deltas, grads = loss_and_backward(ar, W, acts, target, watch)
    extra = watch.columns()
    depth = p["depth"]
    for k in range(1, depth + 1):
        emit("activation", k, acts[k], **extra)
    for k in range(1, depth + 1):
        emit("delta", k, deltas[k], **extra)
    for k in range(1, depth + 1):
        emit("grad", k, grads[k], **extra)
    emit("loss", depth, loss, **extra)


# -- the truth --------------------------------------------------------------------------------

def truth(p: dict, exact: dict, ex) -> dict:
    out = {}
    depth = p["depth"]
    W = layer_list(exact)
    acts = forward_exact(ex, W, exact["x"])
    loss, deltas, grads = loss_and_backward_exact(ex, W, acts, list(exact["target"]))
    for k in range(1, depth + 1):
        out[("activation", k)] = acts[k]
        out[("delta", k)] = deltas[k]
        out[("grad", k)] = grads[k]
    out[("loss", depth)] = [loss]
    return out


def predict(p: dict, fmt) -> dict:
    """First layer of each outcome of every quantity for W = s*I, in closed form.

    On the inputs the format received (s, x, t rounded to it), with r = s^L x - t:
    a_k = s^k x, delta_k = s^(L-k) r, grad_k = s^(L-1) r x^T (the same at every layer), loss
    = r.r / 2. Each element's outcome is its truth class in the format (normal: ok, subnormal,
    underflows: underflow, overflows: overflow), with what the computation does after a
    failure:

    * the first inf meets a zero weight at the next matrix-vector product (width >= 2): every
      later activation, and with it everything backward, is NaN. If the forward pass overflows
      exactly at layer L, the residual, the loss and grad_L are inf and the deltas below L NaN;
    * backward, the first delta that overflows (the largest such layer) is inf and every delta
      and gradient below it NaN; a gradient whose delta is inf is inf;
    * an activation or delta element that underflowed is 0 from then on, so a gradient element
      built from it is 0 even where its exact value is representable (underflow);
    * a format without infinity makes NaN where the others make inf.

    A prediction is for the exact values; the computed ones drift by rounding, so a boundary
    can move by a layer where s^k is close to a threshold.
    """
    if p["init"] != "scaled_identity":
        return {}
    s = in_format(p["scale"], fmt)[0]
    x = to_mpf_list(round_array(deep_product.input_vector(p), fmt))
    t = to_mpf_list(round_array(target_vector(p), fmt))
    if not all(mpmath.isfinite(v) for v in (s, *x, *t)) or abs(s) in (0, 1):
        return {}
    layers = _predicted_outcomes(s, x, t, p["depth"], p["width"], fmt)
    out = {}
    for quantity, outcomes in layers.items():
        firsts: dict[str, int] = {}
        for layer, outcome in outcomes:
            firsts.setdefault(outcome, layer)
        out[quantity] = {o: firsts.get(o) for o in ("subnormal", "underflow", "overflow", "nan")}
    return out


_SEVERITY = ("ok", "subnormal", "underflow", "overflow", "nan")


def _worst(outcomes) -> str:
    return max(outcomes, key=_SEVERITY.index)


def _predicted_outcomes(s, x, t, depth: int, width: int, fmt) -> dict:
    """[(layer, outcome)] per quantity from the exact values and the failure rules above."""
    spreads = width >= 2  # a zero off-diagonal weight exists to meet an inf
    overflow_is_nan = not fmt.has_inf
    with mpmath.workprec(power_precision(s, depth, *x, *t, s)):
        def cls(v):
            return truth_class(v, fmt) if v != 0 else "zero"

        def outcome(v):
            o = OUTCOME_OF_CLASS[cls(v)]
            return "nan" if o == "overflow" and overflow_is_nan else o

        acts, forward_inf = [], None
        for k in range(1, depth + 1):
            if forward_inf is not None and (spreads or overflow_is_nan):
                acts.append((k, "nan"))
                continue
            o = _worst(outcome(s ** k * xi) for xi in x)
            if o in ("overflow", "nan") and forward_inf is None:
                forward_inf = k
            acts.append((k, o))
        out = {"activation": acts}
        if forward_inf is not None:
            at_last = forward_inf == depth and not overflow_is_nan
            tail = "overflow" if at_last else "nan"
            out["loss"] = [(depth, tail)]
            out["delta"] = [(k, "nan" if k < depth and spreads else tail)
                            for k in range(1, depth + 1)]
            out["grad"] = list(out["delta"])
            return out
        r = [s ** depth * xi - ti for xi, ti in zip(x, t, strict=True)]
        out["loss"] = [(depth, outcome(mpmath.fdot(r, r) / 2))]
        deltas, backward_inf = {}, None
        for k in range(depth, 0, -1):
            if backward_inf is not None and (spreads or overflow_is_nan):
                deltas[k] = "nan"
                continue
            deltas[k] = _worst(outcome(s ** (depth - k) * ri) for ri in r)
            if deltas[k] in ("overflow", "nan") and backward_inf is None:
                backward_inf = k
        grads = {}
        for k in range(1, depth + 1):
            if deltas[k] in ("overflow", "nan"):
                grads[k] = deltas[k]
                continue
            elements = []
            for ri in r:
                for xj in x:
                    exact = s ** (depth - 1) * ri * xj
                    lost = (cls(s ** (depth - k) * ri) == "underflows"
                            or cls(s ** (k - 1) * xj) == "underflows")
                    elements.append("underflow" if lost and exact != 0 else outcome(exact))
            grads[k] = _worst(elements)
        out["delta"] = sorted(deltas.items())
        out["grad"] = sorted(grads.items())
    return out
