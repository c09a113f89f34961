"""Layers from a [data] weights file, shared by the cases that read one (mlp, deep_product,
deep_gradients), and how those cases fit their grid to the files."""

from __future__ import annotations

import numpy as np

from ..data import SAMPLE_COLUMN, DataSpec, set_samples
from ..errors import ParamError

WEIGHTS = DataSpec("the layers: an .npz of W1, W2, ... (W_k of shape (n_k, n_{k-1})) and "
                   "optional b1, b2, ..., or a stack (depth, n, n)", ndims=(1, 2, 3),
                   shape="W<k> of shape (n_k, n_(k-1)), b<k> of shape (n_k,), or a stack "
                         "(depth, n, n)", archive=True)
INPUTS = DataSpec("the input vectors, one per row", ndims=(1, 2),
                  shape="(samples, n_0) or (n_0,)")


def weight_layers(value) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """[(W_k, b_k or None)] from [data] weights: a stack (depth, n, n), one matrix, or an
    archive of W1..WL and optional b1..bL. ParamError("data.weights", ...) if they do not
    chain (W_{k+1} takes what W_k gives)."""
    def bad(message):
        raise ParamError("data.weights", message)

    if isinstance(value, np.ndarray):
        if value.ndim == 1:
            bad(f"has shape ({value.shape[0]},); expected a stack (depth, n, n) or an .npz of "
                "W1, W2, ...")
        stack = value if value.ndim == 3 else value[None]
        layers = [(W, None) for W in stack]
    else:
        names = set(value)
        depth = sum(1 for k in names if k.startswith("W"))
        expected = {f"W{k}" for k in range(1, depth + 1)}
        unknown = sorted(names - expected - {f"b{k}" for k in range(1, depth + 1)})
        if unknown or not depth:
            bad(f"holds {', '.join(sorted(names))}; expected W1, ..., WL (and optional b1, "
                "..., bL), numbered from 1 without gaps")
        layers = []
        for k in range(1, depth + 1):
            W, b = value[f"W{k}"], value.get(f"b{k}")
            if W.ndim != 2:
                bad(f"W{k} has shape {W.shape}; expected (n_{k}, n_{k - 1})")
            if b is not None and b.shape != (W.shape[0],):
                bad(f"b{k} has shape {b.shape}; expected ({W.shape[0]},) to go with W{k} "
                    f"{W.shape}")
            layers.append((W, b))
    for k in range(1, len(layers)):
        if layers[k][0].shape[1] != layers[k - 1][0].shape[0]:
            bad(f"W{k + 1} has shape {layers[k][0].shape} but W{k} gives "
                f"{layers[k - 1][0].shape[0]} numbers; W{k + 1} must have "
                f"{layers[k - 1][0].shape[0]} columns")
    return layers



def fit_linear(grid: dict, given: list[str], data: dict, depth_key: str, case: str) -> None:
    """Fit a deep linear network's grid (deep_product, deep_gradients) to [data] weights and
    x: init and width (the input size n_0) from the weights, the depth at most their number
    (all of them by default), one grid point per row of x (`sample`)."""
    if "weights" in data:
        layers = weight_layers(data["weights"])
        if any(b is not None for _, b in layers):
            raise ParamError("data.weights", f"holds biases (b<k>); {case} is a linear network "
                                             "without them: use case mlp, or leave them out")
        for key in ("width", "init"):
            if key in given:
                raise ParamError(f"grid.{key}", f"comes from data.weights ({len(layers)} layers, "
                                                f"n_0 = {layers[0][0].shape[1]}); leave it out")
        if depth_key in given:
            for i, d in enumerate(grid[depth_key]):
                if d > len(layers):
                    raise ParamError(f"grid.{depth_key}[{i}]",
                                     f"{d} is more than the {len(layers)} layers of data.weights")
        else:
            grid[depth_key] = [len(layers)]
        grid["init"], grid["width"] = ["data"], [layers[0][0].shape[1]]
    if "x" in data:
        if "x" in given:
            raise ParamError("grid.x", "comes from data.x; leave it out")
        rows = data["x"].reshape(-1, data["x"].shape[-1])
        if {rows.shape[1]} != set(grid["width"]):
            raise ParamError("data.x", f"has {rows.shape[1]} numbers per sample; the first layer "
                                       f"takes {', '.join(map(str, grid['width']))}")
        grid["x"] = ["data"]
        set_samples(grid, given, len(rows), "data.x")
    elif grid[SAMPLE_COLUMN] != [0]:
        raise ParamError(f"grid.{SAMPLE_COLUMN}", "numbers the rows of [data] x, and there is none")


def linear_inputs(p: dict, data: dict, depth: int) -> dict:
    """The first `depth` layers of [data] weights times scale, as one stack "W" when they are
    all the same shape, else W1, W2, ...; and x (row `sample` of [data] x, if given)."""
    out: dict = {}
    if p["init"] == "data":
        layers = [p["scale"] * W for W, _ in weight_layers(data["weights"])[:depth]]
        if len({W.shape for W in layers}) == 1:
            out["W"] = np.stack(layers)
        else:
            out.update({f"W{k}": W for k, W in enumerate(layers, start=1)})
    if p["x"] == "data":
        x = data["x"]
        out["x"] = x.reshape(-1, x.shape[-1])[p[SAMPLE_COLUMN]]
    return out


def layer_list(arrays: dict) -> list:
    """The layers of an inputs dict (rounded, or exact): the stack "W" or W1, W2, ..."""
    if "W" in arrays:
        return list(arrays["W"])
    return [arrays[f"W{k}"] for k in range(1, sum(1 for k in arrays if k[0] == "W") + 1)]
