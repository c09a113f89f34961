"""The sigmoid and its derivative at one z, in the format: where the naive derivative dies.

With e = exp(-|z|) and d = 1 + e, each rounded to the format (as in activation_chain):

    sigmoid      sigma(z) = 1 / d for z >= 0, e / d for z < 0
    derivative   impl naive:  s * (1 - s) with s = sigma(z)       (what autograd does)
                 impl stable: e / (d * d)

For z > 0 the naive derivative is exactly 0 as soon as 1 + e rounds to 1 (then s = 1 and
1 - s = 0), near z = p ln 2 for a p-bit format, while the true derivative, about e^-z, is a
normal number of the format up to z = -emin ln 2 (9.7 in float16, 87.3 in bfloat16 and
float32, 708.4 in float64): an avoidable underflow (outcome underflow, truth_class normal).
The stable formula follows the truth into the subnormal range and to 0 with it.
The truth is sigma(z) and sigma'(z) = e^-|z| / (1 + e^-|z|)^2 in mpmath on the rounded z.
"""

from __future__ import annotations

import mpmath
import numpy as np

from ..exact import REPORTING_PREC
from ..metrics import rounded_outcome
from ..params import Param, exact_array, in_format
from .activation_chain import IMPLS, activate_enclosure, activate_exact, sigmoid_derivative

NAME = "sigmoid_saturation"
DESCRIPTION = (
    "sigma(z) and sigma'(z) over a range of z, naive s(1 - s) against stable "
    "e^-|z|/(1 + e^-|z|)^2. Look for the naive derivative dropping to exactly 0 near "
    "z = p ln 2 while the truth is still a normal number (outcome underflow, truth_class "
    "normal), and the stable one holding on until the truth itself goes subnormal and 0."
)
SWEEP = "z"
QUANTITIES = ("sigmoid", "derivative")

PARAMS = {
    "z": Param("float", 0.0, "the pre-activation z (swept)"),
    "impl": Param("choice", "naive", "how sigma' is computed: naive s(1 - s) or stable "
                  "e^-|z|/(1 + e^-|z|)^2", choices=IMPLS, truth=False),
}


def estimate(p: dict) -> dict:
    """Sizes for fpstudy.estimate: one z, the sigmoid and its derivative."""
    return {"inputs": 1, "outputs": 2, "records": 2, "format_ops": 12, "truth_ops": 12}


def inputs(p: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"z": exact_array(p["z"])}


def compute(p: dict, inputs: dict, ar, emit) -> None:
    z = ar.asarray(inputs["z"])
    s, ds = sigmoid_derivative(ar, z, p["impl"])
    emit("sigmoid", p["z"], s)
    emit("derivative", p["z"], ds)


def truth(p: dict, exact: dict, ex) -> dict:
    s, ds = activate_enclosure(ex, exact["z"][()], "sigmoid", None)
    return {("sigmoid", p["z"]): [s], ("derivative", p["z"]): [ds]}


def predict(p: dict, fmt, sweep_values=None) -> dict:
    """Where the outcomes start along z, in closed form from the format's limits.

    naive, z > 0: 1 + fl(e^-z) rounds to 1 once fl(e^-z) <= 2^-p (a tie goes to even, 1),
    that is once e^-z <= 2^-p (1 + 2^-p): z >= p ln 2 - ln(1 + 2^-p). From there on it is 0.
    stable (and naive for z < 0, where 1 - s does not cancel): the derivative's truth class,
    sigma'(z) = 1 / (4 cosh^2(z/2)) rounded below the smallest normal 2^emin once it is below
    2^emin (1 - 2^-p), and to 0 once it is at most 2^(emin - p) (half the smallest subnormal;
    the tie goes to 0): |z| = 2 acosh(1 / (2 sqrt(T))) for each threshold T. The sigmoid
    itself only fails for z < 0, by its truth class.

    Given the grid's z values (`sweep_values`), the starts are grid values, one per run of an
    outcome (a tuple when an outcome holds in several runs, e.g. underflow at both ends of a
    range around 0). Without them, the z > 0 thresholds themselves.
    """
    prec, emin = fmt.precision, fmt.min_exponent
    with mpmath.workprec(REPORTING_PREC):
        cliff = prec * mpmath.ln2 - mpmath.log1p(mpmath.ldexp(1, -prec))
        below_normal = mpmath.ldexp(1, emin) * (1 - mpmath.ldexp(1, -prec))
        to_zero = mpmath.ldexp(1, emin - prec)

        def crossing(threshold):
            return 2 * mpmath.acosh(1 / (2 * mpmath.sqrt(threshold)))

        if sweep_values is None:
            if p["impl"] == "naive":
                return {"derivative": {"underflow": float(cliff)}}
            return {"derivative": {"subnormal": float(crossing(below_normal)),
                                   "underflow": float(crossing(to_zero))}}
        runs: dict[str, list] = {"sigmoid": [], "derivative": []}
        for z in sorted(sweep_values):
            zr = in_format(z, fmt)[0]
            if not mpmath.isfinite(zr):
                continue
            s, ds = activate_exact(zr, "sigmoid", None)
            derivative = rounded_outcome(ds, fmt)
            if p["impl"] == "naive" and zr >= cliff:
                derivative = "underflow"
            for quantity, outcome in (("sigmoid", rounded_outcome(s, fmt)),
                                      ("derivative", derivative)):
                if not runs[quantity] or runs[quantity][-1][0] != outcome:
                    runs[quantity].append((outcome, z))
    out = {}
    for quantity, spans in runs.items():
        starts: dict[str, list] = {}
        for outcome, start in spans:
            starts.setdefault(outcome, []).append(start)
        out[quantity] = {o: (v[0] if len(v) == 1 else tuple(v)) for o, v in starts.items()}
    return out



