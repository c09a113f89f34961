"""Forward and backward pass of a multilayer perceptron, in the format, beside the exact truth.

Layers k = 1..L of sizes n_0 (the input), n_1, ..., n_L, weights W_k (n_k x n_{k-1}), biases
b_k, an activation g_k per layer:

    z_k = W_k a_{k-1} + b_k          pre-activation (a_0 = x)
    a_k = g_k(z_k)                   activation
    squared_error:  loss = 1/2 ||a_L - t||^2,            dloss/da_L = a_L - t
    cross_entropy:  p = softmax(a_L), loss = -log p_label, dloss/da_L = p - e_label
    delta_L = dloss/da_L * g_L'(z_L),  delta_{k-1} = (W_k^T delta_k) * g_{k-1}'(z_{k-1})
    grad_k  = delta_k a_{k-1}^T      d loss / d W_k (d loss / d b_k is delta_k)

In the format every operation goes through `Arith` (products and sums as `accumulate` says);
the softmax of cross_entropy is one of softmax's implementations (`impl`), whose log_softmax
gives the loss. The activation derivatives are what autograd computes from the format's
values: relu' = [z > 0], leaky_relu' = 1 or slope, sigmoid' = s (1 - s), tanh' = 1 - t^2,
gelu(z) = z Phi(z) with Phi(z) = (1 + erf(z / sqrt 2)) / 2 and gelu' = Phi(z) + z phi(z),
phi(z) = exp(-z^2 / 2) / sqrt(2 pi) (the constants 1/sqrt 2 and 1/sqrt(2 pi) correctly
rounded to the format). The truth is the same network exactly on the inputs the format
received, with the exact derivatives (sigma' = e^-|z| / (1 + e^-|z|)^2,
tanh' = 4 e^-2|z| / (1 + e^-2|z|)^2), each written so it does not cancel: the loss as
log1p(sum_{j != label} exp(z_j - z_label)), p_label - 1 as -(the other exps) / total, Phi(z)
as erfc(-z / sqrt 2) / 2, so a confident or saturated network is proven at the starting
precision rather than at the tens of thousands of bits 1 - p_label would need.

Weights: from `[data] weights` (an .npz of W1, W2, ... and optional b1, b2, ...; or a stack
(depth, n, n)), or drawn by `init` from the seed, layer by layer (k = 1..L), then x when it
is "normal"; biases 0 unless the file has them. With fan_in = n_{k-1}, fan_out = n_k:

    xavier_uniform = glorot_uniform   U(-a, a), a = sqrt(6 / (fan_in + fan_out))
    xavier_normal  = glorot_normal    N(0, 2 / (fan_in + fan_out))
    he_uniform     = kaiming_uniform  U(-a, a), a = sqrt(6 / fan_in)
    he_normal      = kaiming_normal   N(0, 2 / fan_in)
    orthogonal                        Q of the QR of an N(0, 1) matrix (max x min, signs of
                                      diag R), transposed when fan_out < fan_in

each times `scale`. Quantities per layer: preactivation, activation, delta, grad (infinity
norms for the records), and the loss at layer L; first_nonfinite and first_nan as in
deep_gradients.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np

from ..data import SAMPLE_COLUMN, DataSpec
from ..errors import ParamError
from ..params import Param, exact_array
from . import softmax as softmax_case
from ._layers import INPUTS, WEIGHTS, weight_layers
from ._nn import NonFiniteWatch

NAME = "mlp"
DESCRIPTION = (
    "Forward and backward pass of a multilayer perceptron (layer sizes, activations per layer, "
    "squared-error or softmax cross-entropy loss), weights drawn by a named init or read from "
    "[data]: per layer the pre-activation, activation, delta and weight-gradient norms and the "
    "loss, with where the first inf and NaN were produced."
)
SWEEP = "layer"
QUANTITIES = ("preactivation", "activation", "delta", "grad", "loss")
EXTRA_COLUMNS = ("first_nonfinite", "first_nan")
ACTIVATIONS = ("identity", "relu", "leaky_relu", "sigmoid", "tanh", "gelu")
LOSSES = ("squared_error", "cross_entropy")
SOFTMAX_IMPLS = ("naive", "max_shift", "log1p_shift", "division_free")
INITS = {
    "xavier_uniform": ("uniform", "fan_avg"), "glorot_uniform": ("uniform", "fan_avg"),
    "xavier_normal": ("normal", "fan_avg"), "glorot_normal": ("normal", "fan_avg"),
    "he_uniform": ("uniform", "fan_in"), "kaiming_uniform": ("uniform", "fan_in"),
    "he_normal": ("normal", "fan_in"), "kaiming_normal": ("normal", "fan_in"),
    "orthogonal": ("orthogonal", None),
}
INPUT_LABELS = {"x": "the input x", "target": "the target"}

PARAMS = {
    "sizes": Param("vector", (4, 8, 8, 3), "layer sizes n_0 (input), n_1, ..., n_L "
                   "(set by [data] weights)", choices=("data",)),
    "activation": Param("names", "relu", "one name for every hidden layer (the last is then "
                        "identity), or L names, one per layer", choices=ACTIVATIONS),
    "loss": Param("choice", "cross_entropy", "the loss", choices=LOSSES),
    "impl": Param("choice", "max_shift", "cross_entropy's softmax implementation",
                  choices=SOFTMAX_IMPLS, truth=False),
    "init": Param("choice", "xavier_uniform", "the random weights (formulas in the README); "
                  "data when [data] weights is given", choices=(*INITS, "data")),
    "scale": Param("float", 1.0, "multiplies every weight and bias"),
    "x": Param("vector", "normal", 'the input: "normal" (N(0,1) from the seed), "ones", n_0 '
               "numbers, or data ([data] x)", choices=("normal", "ones", "data")),
    "target": Param("vector", "label", '"label" (one-hot of `label`), n_L numbers (squared '
                    "error), or data ([data] target)", choices=("label", "data")),
    "label": Param("int", 0, "the class of a one-hot target (from 0)", low=0),
    "slope": Param("float", 0.01, "leaky_relu's slope for z <= 0"),
    SAMPLE_COLUMN: Param("int", 0, "the row of [data] x (from 0); every row by default", low=0),
    "accumulate": Param("accumulate", "format", "where matrix-vector products accumulate",
                        truth=False),
}

DATA = {
    "weights": WEIGHTS,
    "x": INPUTS,
    "target": DataSpec("class labels (samples,) or targets (samples, n_L)", ndims=(1, 2),
                       shape="labels (samples,) or targets (samples, n_L)"),
}


# -- parameters --------------------------------------------------------------------------------

def layer_sizes(p: dict) -> tuple[int, ...]:
    return tuple(int(v) for v in p["sizes"])


def activations(p: dict) -> list[str]:
    """The activation of each layer 1..L."""
    depth = len(p["sizes"]) - 1
    names = [a.strip() for a in p["activation"].split(",")]
    if len(names) == 1:
        return [names[0]] * (depth - 1) + ["identity"]
    return names


def validate(p: dict) -> None:
    sizes = p["sizes"]
    if sizes == "data":
        raise ParamError("sizes", '"data" is set by a [data] weights file; there is none')
    if len(sizes) < 2 or any(v != int(v) or v < 1 for v in sizes):
        raise ParamError("sizes", f"{list(sizes)} is not allowed; expected at least two "
                                  "integers >= 1 (input size, then each layer's size)")
    depth = len(sizes) - 1
    names = p["activation"].split(",")
    if len(names) not in (1, depth):
        raise ParamError("activation", f"has {len(names)} names for {depth} layers; give one "
                                       "name (every hidden layer) or one per layer")
    n_in, n_out = int(sizes[0]), int(sizes[-1])
    if isinstance(p["x"], tuple) and len(p["x"]) != n_in:
        raise ParamError("x", f"has {len(p['x'])} entries; expected n_0 = {n_in}")
    if p["x"] == "data" or p["target"] == "data" or p["init"] == "data":
        return  # with_data checked the files against the sizes
    if p["target"] == "label" and p["label"] >= n_out:
        raise ParamError("label", f"{p['label']} is not a class of the last layer "
                                  f"(n_L = {n_out}: 0 to {n_out - 1})")
    if isinstance(p["target"], tuple):
        if len(p["target"]) != n_out:
            raise ParamError("target", f"has {len(p['target'])} entries; expected n_L = {n_out}")
        if p["loss"] == "cross_entropy":
            raise ParamError("target", 'cross_entropy takes a class: use target = "label" and '
                                       "label = k")


def ignores(p: dict) -> set[str]:
    """impl only for cross_entropy, slope only with a leaky_relu layer."""
    unused = set()
    if p["loss"] != "cross_entropy":
        unused.add("impl")
    if "leaky_relu" not in p["activation"]:
        unused.add("slope")
    if p["target"] != "label":
        unused.add("label")
    return unused


def with_data(grid: dict, given: list[str], data: dict) -> None:
    """Fit the grid to the [data] files: sizes and init from weights, samples from x (and
    target), after checking that the shapes fit each other."""
    for key, value in (("init", "data"), ("x", "data"), ("target", "data"), ("sizes", "data")):
        if value in grid[key] and _source(key) not in data:
            raise ParamError(f"grid.{key}", f'"data" is set by [data] {_source(key)}, and the '
                                            "config has none")
    if "weights" in data:
        layers = weight_layers(data["weights"])
        sizes = (layers[0][0].shape[1], *(W.shape[0] for W, _ in layers))
        for key in ("sizes", "init"):
            if key in given:
                raise ParamError(f"grid.{key}", f"comes from data.weights (sizes "
                                                f"{list(sizes)}); leave it out")
        grid["sizes"], grid["init"] = [tuple(float(v) for v in sizes)], ["data"]
    n_in = {int(s[0]) for s in grid["sizes"]}
    n_out = {int(s[-1]) for s in grid["sizes"]}
    samples = None
    if "x" in data:
        if "x" in given:
            raise ParamError("grid.x", "comes from data.x; leave it out")
        rows = data["x"].reshape(-1, data["x"].shape[-1])
        if {rows.shape[1]} != n_in:
            raise ParamError("data.x", f"has {rows.shape[1]} numbers per sample; the first "
                                       f"layer takes n_0 = {', '.join(map(str, sorted(n_in)))}")
        grid["x"], samples = ["data"], len(rows)
    if "target" in data:
        if "target" in given or "label" in given:
            raise ParamError("grid.target", "comes from data.target; leave target and label "
                                            "out")
        t = data["target"]
        count = len(t)
        if t.ndim == 1:
            if np.any(t != np.round(t)) or np.any(t < 0) or np.any(t >= min(n_out)):
                raise ParamError("data.target", f"1-D targets are class labels: integers from 0 "
                                                f"to n_L - 1 = {min(n_out) - 1}")
        else:
            if {t.shape[1]} != n_out:
                raise ParamError("data.target", f"has {t.shape[1]} numbers per sample; the last "
                                                f"layer has n_L = {', '.join(map(str, n_out))}")
            if "cross_entropy" in grid["loss"]:
                raise ParamError("data.target", "cross_entropy takes class labels, a 1-D array "
                                                "(samples,); 2-D targets are for squared_error")
        if samples is not None and count != samples:
            raise ParamError("data.target", f"has {count} samples; data.x has {samples}")
        grid["target"], samples = ["data"], count
    if samples is not None:
        if SAMPLE_COLUMN in given:
            for i, s in enumerate(grid[SAMPLE_COLUMN]):
                if s >= samples:
                    raise ParamError(f"grid.{SAMPLE_COLUMN}[{i}]", f"{s} is out of range; the "
                                     f"data has {samples} samples (0 to {samples - 1})")
        else:
            grid[SAMPLE_COLUMN] = list(range(samples))
    elif grid[SAMPLE_COLUMN] != [0]:
        raise ParamError(f"grid.{SAMPLE_COLUMN}", "numbers the rows of [data] x or target, and "
                                                  "there are none")


def _source(key: str) -> str:
    return {"init": "weights", "sizes": "weights"}.get(key, key)


def estimate(p: dict) -> dict:
    """Sizes for fpstudy.estimate: the weights, biases, x and target; per layer the exact z,
    a, delta and the n_k x n_(k-1) gradient, and the loss; forward and backward matrix-vector
    products, the outer products and about ten operations per activation."""
    sizes = layer_sizes(p)
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    weights = sum(n_in * n_out + n_out for n_in, n_out in pairs)
    ops = sum(5 * n_in * n_out + 10 * n_out for n_in, n_out in pairs) + 10 * sizes[-1]
    return {"inputs": weights + sizes[0] + sizes[-1] + 1,
            "outputs": sum(3 * n_out + n_in * n_out for n_in, n_out in pairs) + 1,
            "records": 4 * len(pairs) + 1, "format_ops": ops, "truth_ops": ops}


# -- inputs ------------------------------------------------------------------------------------

def init_weights(p: dict, rng: np.random.Generator) -> list[np.ndarray]:
    """W_1..W_L drawn by p["init"] (formulas in the module docstring), times scale."""
    sizes = layer_sizes(p)
    kind, fan = INITS[p["init"]]
    out = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        if kind == "orthogonal":
            z = rng.standard_normal((max(fan_out, fan_in), min(fan_out, fan_in)))
            q, r = np.linalg.qr(z)
            signs = np.sign(np.diag(r))
            signs[signs == 0] = 1.0
            q = q * signs
            W = q if fan_out >= fan_in else q.T
        else:
            denominator = fan_in + fan_out if fan == "fan_avg" else fan_in
            if kind == "uniform":
                a = math.sqrt(6.0 / denominator)
                W = rng.uniform(-a, a, (fan_out, fan_in))
            else:
                W = math.sqrt(2.0 / denominator) * rng.standard_normal((fan_out, fan_in))
        out.append(p["scale"] * W)
    return out


def inputs(p: dict, rng: np.random.Generator, data: dict | None = None) -> dict[str, np.ndarray]:
    """W1, b1, ..., WL, bL, x and the target vector, in float64."""
    data = data or {}
    if p["init"] == "data":
        layers = [(p["scale"] * W, None if b is None else p["scale"] * b)
                  for W, b in weight_layers(data["weights"])]
    else:
        layers = [(W, None) for W in init_weights(p, rng)]
    out = {}
    for k, (W, b) in enumerate(layers, start=1):
        out[f"W{k}"] = W
        out[f"b{k}"] = np.zeros(W.shape[0]) if b is None else b
    n_in, n_out = layers[0][0].shape[1], layers[-1][0].shape[0]
    sample = p[SAMPLE_COLUMN]
    if p["x"] == "data":
        out["x"] = data["x"].reshape(-1, n_in)[sample]
    elif p["x"] == "normal":
        out["x"] = rng.standard_normal(n_in)
    elif p["x"] == "ones":
        out["x"] = np.ones(n_in)
    else:
        out["x"] = exact_array(p["x"])  # the config's decimals, rounded once to the format
    if p["target"] == "data":
        t = data["target"]
        out["target"] = t[sample] if t.ndim == 2 else _one_hot(int(t[sample]), n_out)
    elif p["target"] == "label":
        out["target"] = _one_hot(p["label"], n_out)
    else:
        out["target"] = exact_array(p["target"])
    out["slope"] = exact_array(p["slope"])
    return out


def _one_hot(k: int, n: int) -> np.ndarray:
    t = np.zeros(n)
    t[k] = 1.0
    return t


def _layers(inputs: dict) -> int:
    return sum(1 for k in inputs if k.startswith("W"))


# -- in the format -----------------------------------------------------------------------------

def _constant(ar, f) -> np.ndarray:
    """A real constant correctly rounded to the format: f() evaluated in mpmath at 256 bits,
    then rounded once, exactly (correct unless it lies within 2^-256 of a rounding boundary)."""
    with mpmath.workprec(256):
        man, exp = f().man_exp
    return ar.asarray(np.array(Fraction(man) * Fraction(2) ** exp, dtype=object))


def activate(ar, z, name: str, slope):
    """(g(z), g'(z)) in the format, as autograd computes them from the format's values."""
    one, zero = ar.const(1.0), ar.const(0.0)
    if name == "identity":
        return z, None  # g' = 1: the delta is passed on unchanged
    if name in ("relu", "leaky_relu"):
        positive = ar.call(np.greater, z, zero)  # a NaN compares false, flagged invalid
        nan = np.isnan(z)
        if name == "relu":
            g = np.where(positive | nan, z, zero)
            dg = np.where(positive, one, zero)
        else:
            g = np.where(positive, z, ar.mul(slope, np.where(positive, zero, z)))
            dg = np.where(positive, one, slope)
        return g, np.where(nan, z, dg)
    if name == "sigmoid":
        from .activation_chain import sigmoid

        s = sigmoid(ar, z)
        return s, ar.mul(s, ar.sub(one, s))
    if name == "tanh":
        t = ar.tanh(z)
        return t, ar.sub(one, ar.mul(t, t))
    # gelu: z Phi(z), Phi = (1 + erf(z / sqrt 2)) / 2; gelu' = Phi + z phi(z)
    half = ar.const(0.5)
    inv_sqrt2 = _constant(ar, lambda: 1 / mpmath.sqrt(2))
    inv_sqrt2pi = _constant(ar, lambda: 1 / mpmath.sqrt(2 * mpmath.pi))
    phi_big = ar.mul(half, ar.add(one, ar.erf(ar.mul(z, inv_sqrt2))))
    density = ar.mul(ar.exp(ar.mul(ar.mul(ar.const(-0.5), z), z)), inv_sqrt2pi)
    return ar.mul(z, phi_big), ar.add(phi_big, ar.mul(z, density))


def forward(ar, Ws, bs, x, names, slope, watch):
    """Lists z[1..L], a[0..L] and g'(z)[1..L] (index 0 unused for z and g')."""
    zs, acts, dgs = [None], [x], [None]
    for k, (W, b, name) in enumerate(zip(Ws, bs, names, strict=True), start=1):
        wx = ar.matvec(W, acts[-1])
        watch.see(f"forward preactivation layer {k}", wx, W, acts[-1])
        z = ar.add(wx, b)
        watch.see(f"forward preactivation layer {k}", z, wx, b)
        a, dg = activate(ar, z, name, slope)
        watch.see(f"forward activation layer {k}", a, z)
        zs.append(z)
        acts.append(a)
        dgs.append(dg)
    return zs, acts, dgs


def compute(p: dict, inputs: dict, ar, emit) -> None:
    depth = _layers(inputs)
    Ws = [ar.asarray(inputs[f"W{k}"]) for k in range(1, depth + 1)]
    bs = [ar.asarray(inputs[f"b{k}"]) for k in range(1, depth + 1)]
    x, target, slope = (ar.asarray(inputs[k]) for k in ("x", "target", "slope"))
    names = activations(p)
    watch = NonFiniteWatch()
    zs, acts, dgs = forward(ar, Ws, bs, x, names, slope, watch)
    out = acts[depth]
    if p["loss"] == "squared_error":
        residual = ar.sub(out, target)
        watch.see("loss", residual, out, target)
        squares = ar.dot(residual, residual)
        watch.see("loss", squares, residual, residual)
        loss = ar.mul(ar.const(0.5), squares)
        grad_out = residual
    else:
        results = softmax_case.IMPLS[p["impl"]](ar, out)
        watch.see("loss (softmax)", results["log_softmax"], out)
        label = int(np.argmax(target.astype(np.float64)))  # one-hot: the class's entry
        loss = ar.apply(np.negative, results["log_softmax"][label])
        watch.see("loss", loss, results["log_softmax"][label])
        grad_out = ar.sub(results["softmax"], target)
        watch.see("loss (softmax)", grad_out, results["softmax"], target)
    deltas: list = [None] * (depth + 1)
    grads: list = [None] * (depth + 1)
    deltas[depth] = grad_out if dgs[depth] is None else ar.mul(grad_out, dgs[depth])
    watch.see(f"backward delta layer {depth}", deltas[depth], grad_out, dgs[depth])
    for k in range(depth, 0, -1):
        grads[k] = ar.mul(deltas[k][:, None], acts[k - 1][None, :])
        watch.see(f"backward grad layer {k}", grads[k], deltas[k], acts[k - 1])
        if k > 1:
            back = ar.matvec(Ws[k - 1].T, deltas[k])
            watch.see(f"backward delta layer {k - 1}", back, Ws[k - 1], deltas[k])
            deltas[k - 1] = back if dgs[k - 1] is None else ar.mul(back, dgs[k - 1])
            watch.see(f"backward delta layer {k - 1}", deltas[k - 1], back, dgs[k - 1])
    extra = watch.columns()
    for quantity, values in (("preactivation", zs), ("activation", acts), ("delta", deltas),
                             ("grad", grads)):
        for k in range(1, depth + 1):
            emit(quantity, k, values[k], **extra)
    emit("loss", depth, loss, **extra)


# -- the truth, with enclosures -----------------------------------------------------------------

def activate_exact(ex, z, name: str, slope):
    """(g(z), g'(z)) exactly, as enclosures (g' None for identity); no cancellation."""
    if name == "identity":
        return z, None
    if name in ("relu", "leaky_relu"):
        if ex.sign(z) > 0:  # undecided: the engine raises the precision
            return z, ex.point(1)
        if name == "relu":
            return ex.point(0), ex.point(0)
        return slope * z, slope
    if name == "sigmoid":
        e = ex.exp(-ex.abs(z))
        d = 1 + e
        s = 1 / (1 + ex.exp(-z))
        return s, e / (d * d)
    if name == "tanh":
        e = ex.exp(-2 * ex.abs(z))
        d = 1 + e
        return ex.tanh(z), 4 * e / (d * d)
    phi_big = _normal_cdf(ex, z)
    density = ex.exp(-(z * z) / 2) / ex.sqrt(2 * ex.pi())
    return z * phi_big, phi_big + z * density


def _normal_cdf(ex, z):
    """Phi(z) = erfc(-z / sqrt 2) / 2, enclosed without cancellation: (1 + erf(z / sqrt 2)) / 2
    would lose every bit for z << 0 (Phi(-40) ~ 1e-350) and make the proof raise the precision
    to thousands of bits."""
    return ex.erfc(-z / ex.sqrt(ex.point(2))) / 2


def truth(p: dict, exact: dict, ex) -> dict:
    depth = sum(1 for k in exact if k.startswith("W"))
    names = activations(p)
    slope = exact["slope"][()]
    x, target = list(exact["x"]), list(exact["target"])
    zs, acts, dgs = [None], [x], [None]
    for k in range(1, depth + 1):
        W, b = exact[f"W{k}"], list(exact[f"b{k}"])
        z = [wx + bi for wx, bi in zip(ex.matvec(W, acts[-1]), b, strict=True)]
        pairs = [activate_exact(ex, zi, names[k - 1], slope) for zi in z]
        zs.append(z)
        acts.append([a for a, _ in pairs])
        dgs.append(None if names[k - 1] == "identity" else [d for _, d in pairs])
    out = acts[depth]
    if p["loss"] == "squared_error":
        grad_out = [o - t for o, t in zip(out, target, strict=True)]
        loss = ex.dot(grad_out, grad_out) / 2
    else:
        top = ex.max(out)
        shifted = [o - top for o in out]
        exps = [ex.exp(s) for s in shifted]
        total = ex.sum(exps)
        label = max(range(len(target)), key=lambda i: ex.sign(target[i]))  # one-hot
        # -log p_label = log1p(sum_{j != label} exp(z_j - z_label)): no cancellation when
        # p_label is 1 - 1e-300 (log(total) - d_label would need 1000 bits to see it)
        loss = ex.log1p(ex.sum([ex.exp(o - out[label]) for i, o in enumerate(out)
                                if i != label] or [ex.point(0)]))
        # p - e_label, with p_label - 1 = -(sum of the other exps) / total: no cancellation
        # when the model is confident (p_label = 1 - 1e-300 would need 1000 bits otherwise)
        others = ex.sum([e for i, e in enumerate(exps) if i != label])
        grad_out = [(-others if i == label else e) / total for i, e in enumerate(exps)]
    deltas: list = [None] * (depth + 1)
    grads: list = [None] * (depth + 1)
    deltas[depth] = _times(grad_out, dgs[depth])
    for k in range(depth, 0, -1):
        grads[k] = [d * a for d in deltas[k] for a in acts[k - 1]]
        if k > 1:
            back = ex.matvec(np.asarray(exact[f"W{k}"]).T, deltas[k])
            deltas[k - 1] = _times(back, dgs[k - 1])
    result = {("loss", depth): [loss]}
    for k in range(1, depth + 1):
        result[("preactivation", k)] = zs[k]
        result[("activation", k)] = acts[k]
        result[("delta", k)] = deltas[k]
        result[("grad", k)] = grads[k]
    return result


def _times(values, factors):
    return values if factors is None else [v * f for v, f in zip(values, factors, strict=True)]
