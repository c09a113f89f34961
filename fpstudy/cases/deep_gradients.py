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

from ..errors import ParamError
from ..params import Param
from . import deep_product

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
}


def validate(p: dict) -> None:
    deep_product.validate(p)
    if isinstance(p["target"], tuple) and len(p["target"]) != p["width"]:
        raise ParamError("target",
                         f"has {len(p['target'])} entries; expected width = {p['width']}")


def target_vector(p: dict) -> np.ndarray:
    t = p["target"]
    if t == "zeros":
        return np.zeros(p["width"])
    if t == "ones":
        return np.ones(p["width"])
    return np.array(t, dtype=np.float64)


def inputs(p: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"W": deep_product.weights(p, p["depth"], rng),
            "x": deep_product.input_vector(p),
            "target": target_vector(p)}


# -- in the format -------------------------------------------------------------------------------

class NonFiniteWatch:
    """The first non-finite value and the first NaN seen, with where and why.

    `see(where, result, *operands)` is called after every step in execution order; the cause
    of a new NaN is read off the operands of the step that made it. `prefix` is put before
    every place (training sets it to the step).
    """

    def __init__(self):
        self.first_nonfinite = ""
        self.first_nan = ""
        self.prefix = ""

    def see(self, where: str, result, *operands) -> None:
        result = np.asarray(result)
        if self.first_nan or np.all(np.isfinite(result)):
            return
        has_nan = bool(np.any(np.isnan(result)))
        where = self.prefix + where
        if not self.first_nonfinite:
            self.first_nonfinite = f"{where}: {'nan' if has_nan else 'inf'}"
        if has_nan:
            self.first_nan = f"{where}: nan from {nan_cause(operands)}"

    def columns(self) -> dict[str, str]:
        return {"first_nonfinite": self.first_nonfinite, "first_nan": self.first_nan}


def nan_cause(operands) -> str:
    """What turned finite-or-inf operands into NaN: 'inf*0', 'inf-inf', 'overflow' (a format
    without infinity turns an overflow into NaN) or 'nan input'."""
    ops = [np.asarray(o) for o in operands]
    if any(np.any(np.isnan(o)) for o in ops):
        return "nan input"
    if all(np.all(np.isfinite(o)) for o in ops):
        return "overflow (no inf in this format)"
    if len(ops) == 2 and any(np.any(np.isinf(a)) and np.any(b == 0)
                             for a, b in (ops, ops[::-1])):
        return "inf*0"
    return "inf-inf"


def forward(ar, W, x, watch: NonFiniteWatch | None = None) -> list[np.ndarray]:
    """[a_0, a_1, ..., a_L] with a_k = W_k a_{k-1} (W: the rounded weights, shape (L, n, n))."""
    acts = [x]
    for k in range(1, len(W) + 1):
        acts.append(ar.matvec(W[k - 1], acts[-1]))
        if watch is not None:
            watch.see(f"forward activation layer {k}", acts[-1], W[k - 1], acts[-2])
    return acts


def loss_and_backward(ar, W, acts, target, watch: NonFiniteWatch | None = None):
    """(loss, deltas, grads) for loss 1/2 ||a_L - target||^2.

    deltas[k] = delta_k and grads[k] = d loss / d W_k for k = 1..L (index 0 unused).
    """
    depth = len(W)
    see = watch.see if watch is not None else (lambda *a: None)
    residual = ar.sub(acts[depth], target)
    see(f"backward delta layer {depth} (residual)", residual, acts[depth], target)
    squares = ar.dot(residual, residual)
    see("loss", squares, residual, residual)
    loss = ar.mul(ar.const(0.5), squares)
    see("loss", loss, squares)
    deltas: list = [None] * (depth + 1)
    grads: list = [None] * (depth + 1)
    deltas[depth] = residual
    for k in range(depth, 0, -1):
        grads[k] = ar.mul(deltas[k][:, None], acts[k - 1][None, :])
        see(f"backward grad layer {k}", grads[k], deltas[k], acts[k - 1])
        if k > 1:
            deltas[k - 1] = ar.matvec(W[k - 1].T, deltas[k])
            see(f"backward delta layer {k - 1}", deltas[k - 1], W[k - 1], deltas[k])
    return loss, deltas, grads


def compute(p: dict, inputs: dict, ar, emit) -> None:
    W = ar.asarray(inputs["W"])
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


# -- in mpmath ----------------------------------------------------------------------------------

def forward_exact(W, x) -> list[list]:
    """[a_0, ..., a_L] in mpmath at the working precision (W: object arrays of mpf)."""
    acts = [list(x)]
    for Wk in W:
        acts.append([mpmath.fdot(row, acts[-1]) for row in Wk])
    return acts


def loss_and_backward_exact(W, acts, target):
    """(loss, deltas, grads) in mpmath; grads[k] is the row-major list of d loss / d W_k."""
    depth = len(W)
    residual = [a - t for a, t in zip(acts[depth], target, strict=True)]
    loss = mpmath.fdot(residual, residual) / 2
    deltas: list = [None] * (depth + 1)
    grads: list = [None] * (depth + 1)
    deltas[depth] = residual
    for k in range(depth, 0, -1):
        grads[k] = [d * a for d in deltas[k] for a in acts[k - 1]]
        if k > 1:
            columns = np.asarray(W[k - 1]).T
            deltas[k - 1] = [mpmath.fdot(col, deltas[k]) for col in columns]
    return loss, deltas, grads


def truth(p: dict, exact: dict, prec: int) -> dict:
    out = {}
    depth = p["depth"]
    with mpmath.workprec(prec):
        acts = forward_exact(exact["W"], exact["x"])
        loss, deltas, grads = loss_and_backward_exact(exact["W"], acts, list(exact["target"]))
        for k in range(1, depth + 1):
            out[("activation", k)] = acts[k]
            out[("delta", k)] = deltas[k]
            out[("grad", k)] = grads[k]
        out[("loss", depth)] = [loss]
    return out


def predict(p: dict, fmt) -> dict:
    """First layer of each failing outcome of the activations for W = s*I.

    The forward pass is deep_product's, so its closed form applies: a_k = s^k x on the inputs
    the format received; overflow at the first k where s^k max|x_i| leaves the format, NaN
    one layer later (inf meets the zero off-diagonal weights), subnormal and underflow where
    s^k min|x_i| crosses the smallest normal and half the smallest subnormal.
    """
    pred = deep_product.predict({**p, "max_depth": p["depth"]}, fmt)
    return {"activation": pred["output"]} if pred else {}
