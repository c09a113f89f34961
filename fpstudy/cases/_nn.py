"""The pieces of a deep linear network shared by the cases that train or differentiate one
(deep_gradients, training, mlp): forward and backward passes in the format and as enclosures,
and the watch for the first inf and NaN. Helpers, not a case (the name starts with '_').
"""

from __future__ import annotations

import numpy as np


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


def forward_exact(ex, W, x) -> list[list]:
    """[a_0, ..., a_L] as enclosures (W: per layer a 2-D object array of enclosures)."""
    acts = [list(x)]
    for Wk in W:
        acts.append(ex.matvec(Wk, acts[-1]))
    return acts


def loss_and_backward_exact(ex, W, acts, target):
    """(loss, deltas, grads) as enclosures; grads[k] is the row-major list of d loss / d W_k."""
    depth = len(W)
    residual = [a - t for a, t in zip(acts[depth], target, strict=True)]
    loss = ex.dot(residual, residual) / 2
    deltas: list = [None] * (depth + 1)
    grads: list = [None] * (depth + 1)
    deltas[depth] = residual
    for k in range(depth, 0, -1):
        grads[k] = [d * a for d in deltas[k] for a in acts[k - 1]]
        if k > 1:
            deltas[k - 1] = ex.matvec(np.asarray(W[k - 1]).T, deltas[k])
    return loss, deltas, grads


