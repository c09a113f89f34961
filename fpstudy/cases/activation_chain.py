"""A scalar chain of activations, a_k = g(w a_{k-1} + b), and its gradient da_k/da_0.

Per layer k = 1..max_depth, in the format (every operation rounded):

    z_k = (w * a_{k-1}) + b
    a_k = g(z_k)
    f_k = w * g'(z_k)            the layer's factor
    G_k = G_{k-1} * f_k          G_0 = 1, so G_k = da_k/da_0 = prod_j w g'(z_j)

The activations and their derivatives, as computed in the format:

* sigmoid (both impls): with e = exp(-|z|) and d = 1 + e,
  sigma(z) = 1 / d for z >= 0 and e / d for z < 0 (never exp of a positive number).
  impl `naive`:  sigma'(z) = s * (1 - s) with s = sigma(z) as above (what autograd does);
  impl `stable`: sigma'(z) = e / (d * d), with e and d as above.
* tanh: t = tanh(z) (numpy's tanh on the format's value, rounded to the format);
  tanh'(z) = 1 - t * t (the autograd formula).
* relu: max(z, 0); derivative 1 for z > 0, 0 for z <= 0.
* leaky_relu: z for z > 0, slope * z otherwise; derivative 1 or slope.

A NaN pre-activation gives a NaN derivative. `impl` only changes the sigmoid derivative.
The truth is the same chain in mpmath on the rounded w, b, a0 and slope, with the exact
derivatives sigma'(z) = e^-|z| / (1 + e^-|z|)^2 and tanh'(z) = sech(z)^2 (no cancellation).
"""

from __future__ import annotations

import mpmath
import numpy as np

from ..exact import PREDICTION_PREC
from ..metrics import OUTCOME_OF_CLASS, truth_class
from ..params import Param, exact_array, in_format
from ..thresholds import first_in_class

NAME = "activation_chain"
DESCRIPTION = (
    "Scalar chain a_k = g(w a_{k-1} + b) with g one of sigmoid, tanh, relu, leaky_relu, and "
    "its gradient da_k/da_0 = prod w g'(z_j) accumulated in the format. Look for the sigmoid "
    "gradient shrinking by w sigma'(z*) per layer at the fixed point (0.2247 for w = 1, b = 0) "
    "until it underflows, while relu with w = 1 keeps it exactly 1."
)
SWEEP = "depth"
QUANTITIES = ("activation", "gradient")
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu")
IMPLS = ("naive", "stable")

PARAMS = {
    "activation": Param("choice", "sigmoid", "the activation g", choices=ACTIVATIONS),
    "w": Param("float", 1.0, "the weight: z = w a + b"),
    "b": Param("float", 0.0, "the bias"),
    "a0": Param("float", 0.0, "the input a_0"),
    "slope": Param("float", 0.01, "leaky_relu's slope for z <= 0"),
    "max_depth": Param("int", 50, "the deepest layer; depth runs 1..max_depth",
                       low=1, high=1_000_000),
    "impl": Param("choice", "naive", "how sigma' is computed (sigmoid only): naive "
                  "s(1 - s) or stable e^-|z|/(1 + e^-|z|)^2", choices=IMPLS, truth=False),
}


# -- activations in the format (shared with sigmoid_saturation) -----------------------------------

def _positive(ar, z):
    """z > 0 as a boolean array (an ordered comparison with NaN raises invalid: recorded)."""
    return ar.call(np.greater, z, ar.const(0.0))


def sigmoid_parts(ar, z):
    """(sigma(z), e, d) with e = exp(-|z|), d = 1 + e, sigma = 1/d (z >= 0) or e/d (z < 0)."""
    one = ar.const(1.0)
    e = ar.exp(ar.apply(np.negative, ar.apply(np.abs, z)))
    d = ar.add(one, e)
    nonnegative = ar.call(np.greater_equal, z, ar.const(0.0))
    s = ar.div(np.where(nonnegative, one, e), d)  # one division: no flags from an unused branch
    return s, e, d


def sigmoid(ar, z):
    return sigmoid_parts(ar, z)[0]


def ignores(p: dict) -> set[str]:
    """impl only changes the sigmoid and slope only leaky_relu: elsewhere they do not apply,
    so such a point runs once rather than once per value."""
    unused = set()
    if p["activation"] != "sigmoid":
        unused.add("impl")
    if p["activation"] != "leaky_relu":
        unused.add("slope")
    return unused


def sigmoid_derivative(ar, z, impl: str):
    """(sigma(z), sigma'(z)): naive s*(1 - s) or stable e/(d*d)."""
    s, e, d = sigmoid_parts(ar, z)
    if impl == "naive":
        return s, ar.mul(s, ar.sub(ar.const(1.0), s))
    return s, ar.div(e, ar.mul(d, d))


def activate(ar, z, activation: str, impl: str, slope):
    """(g(z), g'(z)) in the format."""
    if activation == "sigmoid":
        return sigmoid_derivative(ar, z, impl)
    one, zero = ar.const(1.0), ar.const(0.0)
    nan = np.isnan(z)
    if activation == "tanh":
        t = ar.tanh(z)
        return t, ar.sub(one, ar.mul(t, t))
    positive = _positive(ar, z)
    if activation == "relu":
        g = ar.apply(np.maximum, z, zero)
        dg = np.where(positive, one, zero)
    else:  # leaky_relu; slope * z only where it is used (no flags from the other branch)
        g = np.where(positive, z, ar.mul(slope, np.where(positive, zero, z)))
        dg = np.where(positive, one, slope)
    return g, np.where(nan, z, dg)


def estimate(p: dict) -> dict:
    """Sizes for fpstudy.estimate: scalars; an activation and a gradient per depth."""
    d = p["max_depth"]
    return {"inputs": 4, "outputs": 2 * d, "records": 2 * d, "format_ops": 12 * d,
            "truth_ops": 12 * d}


def inputs(p: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {k: exact_array(p[k]) for k in ("w", "b", "a0", "slope")}


def compute(p: dict, inputs: dict, ar, emit) -> None:
    w, b, a, slope = (ar.asarray(inputs[k]) for k in ("w", "b", "a0", "slope"))
    gradient = ar.const(1.0)
    for depth in range(1, p["max_depth"] + 1):
        z = ar.add(ar.mul(w, a), b)
        a, dg = activate(ar, z, p["activation"], p["impl"], slope)
        gradient = ar.mul(gradient, ar.mul(w, dg))
        emit("activation", depth, a)
        emit("gradient", depth, gradient)


# -- in mpmath ----------------------------------------------------------------------------------

def activate_exact(z, activation: str, slope):
    """(g(z), g'(z)) in mpmath at the working precision, without cancellation (for the
    closed-form predictions; the truth uses `activate_enclosure`)."""
    if activation == "sigmoid":
        e = mpmath.exp(-abs(z))
        d = 1 + e
        return (1 / d if z >= 0 else e / d), e / (d * d)
    if activation == "tanh":
        return mpmath.tanh(z), mpmath.sech(z) ** 2
    one, zero = mpmath.mpf(1), mpmath.mpf(0)
    if activation == "relu":
        return (z, one) if z > 0 else (zero, zero)
    return (z, one) if z > 0 else (slope * z, slope)


def activate_enclosure(ex, z, activation: str, slope):
    """(g(z), g'(z)) as enclosures, without cancellation; relu's branch decided by the
    enclosure (`ex.sign` raises the precision rather than guess)."""
    if activation == "sigmoid":
        e = ex.exp(-ex.abs(z))
        d = 1 + e
        return ex.sigmoid(z), e / (d * d)
    if activation == "tanh":
        e = ex.exp(-ex.abs(z))
        sech = 2 * e / (1 + e * e)
        return ex.tanh(z), sech * sech
    if ex.sign(z) > 0:
        return z, ex.one
    if activation == "relu":
        return ex.zero, ex.zero
    return slope * z, slope


def truth(p: dict, exact: dict, ex) -> dict:
    out = {}
    w, b, a, slope = (exact[k][()] for k in ("w", "b", "a0", "slope"))
    gradient = ex.one
    for depth in range(1, p["max_depth"] + 1):
        a, dg = activate_enclosure(ex, w * a + b, p["activation"], slope)
        gradient = gradient * (w * dg)
        out[("activation", depth)] = [a]
        out[("gradient", depth)] = [gradient]
    return out


# -- closed forms -------------------------------------------------------------------------------

def fixed_point(w, b, activation: str, a0, prec: int = 80, max_steps: int = 10_000):
    """(a*, r, m): the fixed point a* = g(w a* + b) the chain from a0 converges to, the
    gradient factor r = w g'(w a* + b) there, and the layer m by which the chain sits on it
    (|a_m - a*| <= 2^-60 |a*|). None when it does not converge within max_steps (|r| >= 1).
    """
    with mpmath.workprec(prec):
        a = a0
        for m in range(1, max_steps + 1):
            new, _ = activate_exact(w * a + b, activation, None)
            if abs(new - a) <= mpmath.ldexp(abs(new), -60):
                star = mpmath.findroot(
                    lambda v: activate_exact(w * v + b, activation, None)[0] - v, new)
                return star, w * activate_exact(w * star + b, activation, None)[1], m
            a = new
    return None


def predict(p: dict, fmt) -> dict:
    """First depth where the gradient goes subnormal, underflows or overflows, in closed form.

    sigmoid, tanh: once the chain sits on its attracting fixed point a* (layer m), every layer
    multiplies the gradient by r = w g'(w a* + b) (0.2247043481 for the sigmoid with w = 1,
    b = 0), so |G_k| = |G_m| r^(k - m); the first layers' factors are multiplied exactly.
    relu, leaky_relu with w > 0, a0 > 0, b >= 0: every z is positive, so G_k = w^k and
    a_k = w^k a0 + b (w^k - 1)/(w - 1); leaky_relu with w > 0, a0 <= 0, b <= 0: every z is
    <= 0, so the same with w -> slope w and b -> slope b.
    The depths are where the exact value leaves the format's normal range; the measured ones
    can differ by the rounding drift of the computed chain. Other chains: no prediction.
    """
    w, b, a0 = (in_format(p[k], fmt)[0] for k in ("w", "b", "a0"))
    if not all(mpmath.isfinite(v) for v in (w, b, a0)):
        return {}
    depth = p["max_depth"]
    if p["activation"] in ("relu", "leaky_relu"):
        if w > 0 and a0 > 0 and b >= 0:  # every z > 0: g(z) = z
            c, beta = w, b
        elif w > 0 and a0 <= 0 and b <= 0 and p["activation"] == "leaky_relu":
            slope = in_format(p["slope"], fmt)[0]
            if not slope > 0:
                return {}
            c, beta = w * slope, slope * b  # every z <= 0: g(z) = slope z
        else:
            return {}
        return {"gradient": _thresholds(lambda k: mpmath.power(c, k), fmt, depth),
                "activation": _thresholds(lambda k: abs(_linear_chain(c, beta, a0, k)),
                                          fmt, depth)}
    settled = fixed_point(w, b, p["activation"], a0)
    if settled is None or w == 0:
        return {}
    star, r, m = settled
    with mpmath.workprec(PREDICTION_PREC):
        logs = [mpmath.mpf(0)]
        a = a0
        for _ in range(m):
            z = w * a + b
            a, dg = activate_exact(z, p["activation"], None)
            logs.append(logs[-1] + mpmath.log(abs(w * dg)) if dg != 0 else -mpmath.inf)
        log_r = mpmath.log(abs(r))

    def magnitude(k):
        log_g = logs[k] if k <= m else logs[m] + (k - m) * log_r
        return mpmath.exp(log_g)

    return {"gradient": _thresholds(magnitude, fmt, depth, transient=m)}


def _linear_chain(c, beta, a0, k):
    """a_k for a_k = c a_{k-1} + beta: c^k a0 + beta (c^k - 1)/(c - 1)."""
    ck = mpmath.power(c, k)
    return ck * a0 + (beta * k if c == 1 else beta * (ck - 1) / (c - 1))




def _thresholds(magnitude, fmt, depth: int, transient: int = 0) -> dict:
    """First k in 1..depth at which |value_k| = magnitude(k) is in each failing truth class.

    Layers 1..transient are scanned one by one; after them the magnitude must be monotone, and
    a binary search finds where it enters each class.
    """
    found: dict[str, int] = {}
    with mpmath.workprec(PREDICTION_PREC):
        for k in range(1, min(transient, depth) + 1):
            value = magnitude(k)
            cls = truth_class(value, fmt) if value != 0 else "zero"
            outcome = OUTCOME_OF_CLASS[cls]
            if outcome != "ok" and outcome not in found:
                found[outcome] = k
        lo = transient + 1
        if lo <= depth and magnitude(lo) != 0 and magnitude(depth) != 0:
            grows = magnitude(depth) > magnitude(lo)
            for cls in ("overflows",) if grows else ("subnormal", "underflows"):
                outcome = OUTCOME_OF_CLASS[cls]
                if outcome not in found:
                    first = first_in_class(magnitude, fmt, lo, depth, cls, grows)
                    if first is not None:
                        found[outcome] = first
    return found
