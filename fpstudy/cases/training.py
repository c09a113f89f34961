"""Plain gradient descent on the deep linear network, with the weights living in the format.

The network, its loss 1/2 ||W_L ... W_1 x - target||^2 and its backpropagation are
deep_gradients' (same parameters, same weights for the same seed). Step t = 1..steps, in the
format, every operation rounded:

    forward and backward pass at the current weights    -> loss_t, grad_k
    update_k = lr * grad_k
    W_k <- W_k - update_k                                (k = 1..depth)

`loss` at step t is the loss of the weights after t - 1 updates (step 1: the initial
weights); `update` is ||update_1||_inf, the change asked of the first layer at step t. The
truth is the same descent done in mpmath from the same rounded initial weights, lr, x and
target, so it measures how far the format's trajectory has drifted from the exact one.

Look for the two failures of the seed question: exploding (a learning rate too large for
the network: the loss grows, overflows to inf, then an inf meets a zero or another inf and
everything is NaN) and vanishing (a deep network with small weights: the true update is a
tiny positive number, the format's is exactly 0, training has silently stopped).
`first_nonfinite` and `first_nan` say at which step and where the first inf/NaN was made.
"""

from __future__ import annotations

import numpy as np

from ..params import Param, exact_array
from . import deep_gradients
from ._nn import (
    NonFiniteWatch,
    forward,
    forward_exact,
    loss_and_backward,
    loss_and_backward_exact,
)

NAME = "training"
DESCRIPTION = (
    "Gradient descent on deep_gradients' deep linear network, weights kept and updated in the "
    "format, against the same descent in mpmath: the loss per step and the size of the first "
    "layer's update. Look for the loss going to inf then NaN when lr is too large, and the "
    "update rounding to exactly 0 while the true update is not (training silently stalled)."
)
SWEEP = "step"
QUANTITIES = ("loss", "update")
EXTRA_COLUMNS = deep_gradients.EXTRA_COLUMNS

PARAMS = {
    "scale": deep_gradients.PARAMS["scale"],
    "width": Param("int", 2, "the layer width n (W is n x n)", low=1, high=64),
    "init": deep_gradients.PARAMS["init"],
    "x": deep_gradients.PARAMS["x"],
    "depth": Param("int", 4, "the number of layers L", low=1, high=10_000),
    "target": deep_gradients.PARAMS["target"],
    "lr": Param("float", 0.01, "the learning rate", low=0.0, low_open=True),
    "steps": Param("int", 50, "the number of descent steps; step runs 1..steps",
                   low=1, high=100_000),
    "accumulate": deep_gradients.PARAMS["accumulate"],
}

validate = deep_gradients.validate


def estimate(p: dict) -> dict:
    """Sizes for fpstudy.estimate: depth n x n weights (the truth works on exact weights,
    gradients, updates and the next weights at once); per step the loss and layer 1's n x n
    update; per step a forward pass, a backward pass and the update of every layer."""
    d, n, steps = p["depth"], p["width"], p["steps"]
    return {"inputs": 5 * (d * n * n) + 2 * n + 1, "outputs": steps * (1 + n * n),
            "records": 2 * steps, "format_ops": steps * (7 * d * n * n + 4 * n),
            "truth_ops": steps * (7 * d * n * n + 4 * n)}


def inputs(p: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {**deep_gradients.inputs(p, rng), "lr": exact_array(p["lr"])}


def compute(p: dict, inputs: dict, ar, emit) -> None:
    W = list(ar.asarray(inputs["W"]))
    x = ar.asarray(inputs["x"])
    target = ar.asarray(inputs["target"])
    lr = ar.asarray(inputs["lr"])
    watch = NonFiniteWatch()
    measured = []
    for step in range(1, p["steps"] + 1):
        watch.prefix = f"step {step} "
        acts = forward(ar, W, x, watch)
        loss, _deltas, grads = loss_and_backward(ar, W, acts, target, watch)
        updates = []
        for k in range(1, len(W) + 1):
            updates.append(ar.mul(lr, grads[k]))
            watch.see(f"update layer {k}", updates[-1], lr, grads[k])
        for k in range(1, len(W) + 1):
            new = ar.sub(W[k - 1], updates[k - 1])
            watch.see(f"weights layer {k}", new, W[k - 1], updates[k - 1])
            W[k - 1] = new
        measured.append((step, loss, updates[0]))
    extra = watch.columns()
    for step, loss, _update in measured:
        emit("loss", step, loss, **extra)
    for step, _loss, update in measured:
        emit("update", step, update, **extra)


def truth(p: dict, exact: dict, ex) -> dict:
    out = {}
    W = [[list(row) for row in Wk] for Wk in exact["W"]]
    x, target, lr = list(exact["x"]), list(exact["target"]), exact["lr"][()]
    for step in range(1, p["steps"] + 1):
        acts = forward_exact(ex, W, x)
        loss, _deltas, grads = loss_and_backward_exact(ex, W, acts, target)
        updates = [None] + [[lr * g for g in grads[k]] for k in range(1, len(W) + 1)]
        n = len(x)
        W = [[[W[k - 1][i][j] - updates[k][i * n + j] for j in range(n)] for i in range(n)]
             for k in range(1, len(W) + 1)]
        out[("loss", step)] = [loss]
        out[("update", step)] = updates[1]
    return out
