"""Softmax, log-softmax and logsumexp of n logits, by the algorithms people use, in a format.

The logits are c plus a pattern (constant, normal, uniform, spike) drawn in float64 and rounded
to the format. Each implementation does every operation through `ar`, so a float16 result was
computed in float16 (sums follow the `accumulate` policy); `scipy` and a user's
"package.module:function" run as they are, via `ar.call`, and the dtype they returned is
recorded in `output_dtype`. The truth is computed in mpmath on the rounded logits, once per
distinct value: a constant vector of any length costs one exp.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections import Counter

import mpmath
import numpy as np

from ..data import SAMPLE_COLUMN, DataSpec, set_samples
from ..errors import ParamError, PointTimeout, UserError
from ..exact import REPORTING_PREC, round_to_format, to_mpf
from ..metrics import rounded_outcome, truth_class
from ..params import Param, exact_array, load_function

NAME = "softmax"
DESCRIPTION = (
    "Softmax, log-softmax and logsumexp of n logits around c, swept over c. Naive softmax of a "
    "constant vector reads nan (exp flushed to 0, 0/0), ok, underflow (the sum overflowed: "
    "every output 0, avoidable), nan (exp overflowed, inf/inf) as c rises; max_shift, "
    "log1p_shift and division_free survive both cliffs. Compare with the closed-form "
    "predicted_start."
)
SWEEP = "c"
INPUT_LABELS = {"x": "logits"}  # how fpstudy.runner.check_inputs names the input
QUANTITIES = ("softmax", "log_softmax", "logsumexp")
EXTRA_COLUMNS = ("output_dtype",)
INPUTS = ("constant", "normal", "uniform", "spike", "data")
BUILTIN_IMPLS = ("naive", "max_shift", "log1p_shift", "division_free", "scipy")
EXTERNAL_IMPLS = ("scipy",)  # plus every "package.module:function"

PARAMS = {
    "n": Param("int", 10, "the number of logits", low=1, high=10_000_000),
    "input": Param("choice", "constant",
                   "constant: all c; normal: c + spread*N(0,1); uniform: c + spread*U(-1,1); "
                   "spike: all c but the first, c + spread; data: c + a row of [data] logits "
                   "(set by the [data] table)", choices=INPUTS),
    "c": Param("float", 0.0, "the logits' centre (the sweep axis)"),
    "spread": Param("float", 1.0, "the scale of the pattern around c (unused by constant)",
                    low=0.0),
    SAMPLE_COLUMN: Param("int", 0, "the row of [data] logits (from 0); every row by default",
                         low=0),
    "impl": Param("impl", "naive", "the algorithm", choices=BUILTIN_IMPLS, truth=False),
    "accumulate": Param("accumulate", "format", "where the sums accumulate", truth=False),
}

DATA = {"logits": DataSpec("the logits, one softmax per row", ndims=(1, 2),
                           shape="(samples, n), one softmax per row, or (n,)")}


def estimate(p: dict) -> dict:
    """Sizes for fpstudy.estimate: n logits; the truth works once per distinct logit (about
    five exact numbers each) and keeps the results of the last _TRUTH_MEMO_SIZE logit sets
    of up to _TRUTH_MEMO_MAX_VALUES values; three records, or one for a user function."""
    n = p["n"]
    distinct = 2 if p["input"] in ("constant", "spike") else n
    kept = 3 * _TRUTH_MEMO_SIZE * distinct if distinct <= _TRUTH_MEMO_MAX_VALUES else 0
    return {"inputs": n + kept, "outputs": 5 * distinct + n // 4 + 1,
            "records": 3 if p["impl"] in IMPLS else 1, "format_ops": 8 * n,
            "truth_ops": 4 * distinct}


# -- inputs ---------------------------------------------------------------------------------


def with_data(grid: dict, given: list[str], data: dict) -> None:
    """Fit the grid to [data] logits: input = "data", n = the row length, sample = every row
    (or the rows the config names). Without data, input "data" and a sample are errors."""
    logits = data.get("logits")
    if logits is None:
        if "data" in grid["input"]:
            raise ParamError("grid.input", "'data' takes the logits from a [data] table "
                                           '(logits = "file.npy"), and there is none')
        if grid[SAMPLE_COLUMN] != [0]:
            raise ParamError(f"grid.{SAMPLE_COLUMN}",
                             "numbers the rows of [data] logits, and there is no [data] table")
        return
    rows = logits.reshape(-1, logits.shape[-1])
    for key in ("n", "input", "spread"):
        if key in given:
            raise ParamError(f"grid.{key}", f"does not apply to [data] logits "
                                            f"({rows.shape[1]} per row); leave it out")
    set_samples(grid, given, len(rows), "[data] logits")
    grid["n"] = [rows.shape[1]]
    grid["input"] = ["data"]


def inputs(p: dict, rng: np.random.Generator, data: dict | None = None) -> dict[str, np.ndarray]:
    """The float64 logits. The random pattern depends on the seed and n only, so sweeping c
    (or spread) moves and stretches one and the same draw. [data] logits: c + row `sample`
    (the sum in float64; what the format receives is that rounded once)."""
    n, c, spread = p["n"], p["c"], p["spread"]
    kind = p["input"]
    if kind == "data":
        logits = (data or {})["logits"]
        return {"x": c + logits.reshape(-1, logits.shape[-1])[p[SAMPLE_COLUMN]]}
    if kind == "constant":  # c itself is every logit: its decimal, rounded once
        c_exact = exact_array(c)
        x = np.full(n, c_exact[()], dtype=c_exact.dtype)
    elif kind == "normal":
        x = c + spread * rng.standard_normal(n)
    elif kind == "uniform":
        x = c + spread * rng.uniform(-1.0, 1.0, n)
    else:  # spike: one logit stands out, the first (sums run from index 0)
        x = np.full(n, c)
        x[0] = c + spread
    return {"x": x}


def validate(p: dict) -> None:
    impl = p["impl"]
    if impl not in BUILTIN_IMPLS or impl in EXTERNAL_IMPLS:
        if p["accumulate"] != "format":
            raise ParamError("accumulate", f"{p['accumulate']!r} cannot apply to impl {impl!r}, "
                             'which sums in its own way; use "format" for it')
    if impl == "scipy":
        _scipy_special()


def _scipy_special():
    try:
        import scipy.special
    except ImportError:
        raise ParamError("impl", "'scipy' needs scipy, which is not installed; "
                                 "install it with: pip install 'fpstudy[scipy]'") from None
    return scipy.special


# -- the implementations, in the format -------------------------------------------------------
# Each takes the rounded logits x (1-d, in the format) and returns {quantity: array}; the max
# and argmax are exact in any format, so they are taken directly.


def naive(ar, x) -> dict:
    """exp(x) / sum exp(x); logsumexp = log sum exp(x); log_softmax = x - logsumexp."""
    e = ar.exp(x)
    total = ar.sum(e)
    lse = ar.log(total)
    return {"softmax": ar.div(e, total), "log_softmax": ar.sub(x, lse), "logsumexp": lse}


def max_shift(ar, x) -> dict:
    """With a = max x: exp(x - a) / sum exp(x - a); logsumexp = a + log sum exp(x - a)."""
    a = np.asarray(x.max())
    d = ar.sub(x, a)
    e = ar.exp(d)
    total = ar.sum(e)
    log_total = ar.log(total)
    return {"softmax": ar.div(e, total), "log_softmax": ar.sub(d, log_total),
            "logsumexp": ar.add(a, log_total)}


def _log1p_parts(ar, x):
    """Blanchard, Higham & Higham (2021), Alg. 3.1: a = x_k = max x, s = sum_{i != k}
    exp(x_i - a) (the max term left out of the sum), logsumexp = a + log1p(s)."""
    k = int(np.argmax(x))
    a = x[k:k + 1].reshape(())
    d = ar.sub(x, a)
    e = ar.exp(d)
    s = ar.sum(np.delete(e, k))
    log1p_s = ar.apply(np.log1p, s)
    return a, d, e, s, log1p_s, ar.add(a, log1p_s)


def log1p_shift(ar, x) -> dict:
    """exp(x - a) / (1 + s); log_softmax = (x - a) - log1p(s); logsumexp = a + log1p(s)."""
    _a, d, e, s, log1p_s, lse = _log1p_parts(ar, x)
    return {"softmax": ar.div(e, ar.add(ar.const(1.0), s)),
            "log_softmax": ar.sub(d, log1p_s), "logsumexp": lse}


def division_free(ar, x) -> dict:
    """exp(x - logsumexp(x)) with the log1p logsumexp (BHH 2021, eq. (4.2)); no division."""
    lse = _log1p_parts(ar, x)[-1]
    log_softmax = ar.sub(x, lse)
    return {"softmax": ar.exp(log_softmax), "log_softmax": log_softmax, "logsumexp": lse}


def scipy_impl(ar, x) -> dict:
    """scipy.special's softmax, log_softmax and logsumexp on the format's array, as returned
    (for bfloat16 and float8, logsumexp comes back as float64: output_dtype says so)."""
    special = _scipy_special()
    return {"softmax": ar.call(special.softmax, x),
            "log_softmax": ar.call(special.log_softmax, x),
            "logsumexp": np.asarray(ar.call(special.logsumexp, x))}


IMPLS = {"naive": naive, "max_shift": max_shift, "log1p_shift": log1p_shift,
         "division_free": division_free, "scipy": scipy_impl}


def user_impl(spec: str, ar, x, where: str) -> dict:
    """A user's softmax function: a numpy array in, one of the same shape and dtype out."""
    try:
        func = load_function(spec)
    except ParamError as e:
        raise UserError(f"impl {e.message}") from None
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):  # stdout is fpstudy's: the outcome lines
            y = ar.call(func, x.copy())
    except PointTimeout as e:
        raise UserError(f"impl {spec!r} did not return within {e.seconds:g} s "
                        f"(--point-timeout) ({where})") from None
    except (Exception, SystemExit) as e:
        raise UserError(f"impl {spec!r} raised {type(e).__name__}: {e} ({where})") from None
    finally:
        if printed.getvalue():  # shown, labelled, on stderr: not lost, not in fpstudy's output
            for line in printed.getvalue().splitlines():
                print(f"fpstudy: impl {spec!r} printed ({where}): {line}", file=sys.stderr)
    if not isinstance(y, np.ndarray):
        raise UserError(f"impl {spec!r} returned {type(y).__name__}, not a numpy array "
                        f"({where})")
    if y.shape != x.shape:
        raise UserError(f"impl {spec!r} returned shape {y.shape}; expected {x.shape} ({where})")
    if y.dtype != x.dtype:
        raise UserError(f"impl {spec!r} returned dtype {y.dtype}; expected {x.dtype}, the "
                        f"format's ({where})")
    return {"softmax": y}


def compute(p: dict, inputs: dict, ar, emit) -> None:
    x = ar.asarray(inputs["x"])
    where = (f"at dtype={ar.fmt.name}, n={p['n']}, input={p['input']}, c={p['c']:g}, "
             + (f"sample={p[SAMPLE_COLUMN]}" if p["input"] == "data" else
                f"spread={p['spread']:g}"))
    impl = p["impl"]
    if impl in IMPLS:
        results = IMPLS[impl](ar, x)
    else:
        results = user_impl(impl, ar, x, where)
    for quantity, y in results.items():
        y = np.asarray(y)
        # the format's name when the result is in the format (so it reads like `dtype`),
        # numpy's name of whatever else came back
        returned = ar.fmt.name if y.dtype == ar.fmt.dtype else y.dtype.name
        emit(quantity, p["c"], y, output_dtype=returned)


# -- the truth ----------------------------------------------------------------------------------


def truth(p: dict, exact: dict, ex) -> dict:
    """All three quantities as enclosures, once per distinct logit (weighted by its count).

    With a = max x and S = sum_j m_j exp(v_j - a) over the distinct values v_j (m_j times):
    softmax = exp(v - a) / S, log_softmax = (v - a) - log S, logsumexp = a + log S. The
    logits are exact points, so a is exact and every v - a is an enclosure of the exact
    difference.
    """
    keys = [ex.ends(v)[0] for v in exact["x"].ravel()]  # a point's (sign, man, exp, bc)
    counts = Counter(keys)
    c = p["c"]
    # The same logits come back once per impl and accumulate (separate grid points): the
    # results depend only on the multiset of values, so they are kept for the last few.
    memo_key = (frozenset(counts.items()), ex.name, ex.prec)
    if memo_key in _TRUTH_MEMO:
        prob, log_prob, lse = _TRUTH_MEMO[memo_key]
    else:
        prob, log_prob, lse = _exact_quantities(counts, ex)
        if len(counts) <= _TRUTH_MEMO_MAX_VALUES:
            if len(_TRUTH_MEMO) >= _TRUTH_MEMO_SIZE:
                _TRUTH_MEMO.pop(next(iter(_TRUTH_MEMO)))
            _TRUTH_MEMO[memo_key] = prob, log_prob, lse
    return {("softmax", c): [prob[k] for k in keys],
            ("log_softmax", c): [log_prob[k] for k in keys],
            ("logsumexp", c): [lse]}


_TRUTH_MEMO: dict = {}  # a pure function's results, kept for the last few inputs
_TRUTH_MEMO_SIZE = 16
_TRUTH_MEMO_MAX_VALUES = 100_000


def _exact_quantities(counts: Counter, ex):
    """{value: softmax}, {value: log_softmax} and logsumexp, one exp per distinct value."""
    values = {k: ex.point(mpmath.mp.make_mpf(k)) for k in counts}
    a = ex.max(values.values())  # the largest point: exact
    top = max(counts, key=lambda k: mpmath.mp.make_mpf(k))
    shifted = {k: v - a for k, v in values.items()}
    exps = {k: ex.exp(d) for k, d in shifted.items()}
    # S = 1 + rest, with rest the other terms: log S = log1p(rest) keeps a tiny rest's digits
    rest = ex.sum([(counts[top] - 1) * ex.one] +
                  [m * exps[k] for k, m in counts.items() if k != top])
    total = 1 + rest
    log_total = ex.log1p(rest)
    prob = {k: e / total for k, e in exps.items()}
    log_prob = {k: d - log_total for k, d in shifted.items()}
    lse = a + log_total
    return prob, log_prob, lse


# -- closed-form predictions ------------------------------------------------------------------


def cliffs(n: int, fmt) -> dict[str, float]:
    """The closed-form cliffs of naive softmax of n equal logits c, as values of c.

    exp_underflow = ln(smallest_subnormal / 2): below it exp(c) rounds to 0 (0/0 = NaN);
    subnormal = ln(smallest_normal): below it exp(c) is subnormal and keeps few bits;
    sum_overflow = ln(max / n): above it the sum overflows (every output 0, or NaN without
    infinity); exp_overflow = ln(max): above it exp(c) itself overflows (inf/inf = NaN).
    """
    with mpmath.workprec(REPORTING_PREC):
        return {
            "exp_underflow": float(mpmath.log(to_mpf(fmt.smallest_subnormal) / 2)),
            "subnormal": float(mpmath.log(to_mpf(fmt.smallest_normal))),
            "sum_overflow": float(mpmath.log(to_mpf(fmt.max) / n)),
            "exp_overflow": float(mpmath.log(to_mpf(fmt.max))),
        }


def predicted_outcomes(n: int, c_rounded, fmt) -> dict[str, str]:
    """What naive softmax of n logits equal to c_rounded (a value of fmt) gives, from the
    format's limits alone: which of exp(c) and n*exp(c) round past max or to 0."""
    with mpmath.workprec(REPORTING_PREC):
        e_exact = mpmath.exp(to_mpf(c_rounded))
        exp_class = truth_class(e_exact, fmt)
        if exp_class in ("underflows", "overflows"):
            region = exp_class
        else:
            rounded = round_to_format(e_exact, fmt)  # exp(c) as the format holds it
            e = mpmath.mpf(rounded.numerator) / rounded.denominator  # a power-of-2 quotient
            region = "sum_overflows" if truth_class(n * e, fmt) == "overflows" else "ok"
    if not fmt.has_inf:  # overflow and 0/0 and log 0 all end as NaN
        return dict.fromkeys(QUANTITIES, "ok" if region == "ok" else "nan")
    if region == "ok":
        return {"softmax": rounded_outcome(1 / mpmath.mpf(n), fmt), "log_softmax": "ok",
                "logsumexp": "ok"}
    return {"softmax": {"underflows": "nan", "sum_overflows": "underflow",
                        "overflows": "nan"}[region],
            "log_softmax": "overflow", "logsumexp": "overflow"}


def predict(p: dict, fmt, sweep_values=None) -> dict:
    """First c of each outcome run of naive softmax of a constant vector, from fmt's limits.

    With the grid's c values (`sweep_values`), each c is rounded to the format and classified
    by `predicted_outcomes`; the runs of one outcome along c give its predicted starts. An
    outcome met in two runs (nan below the low cliff and above the high one) gets a tuple of
    starts, one per run in order of c; the summary matches the k-th measured run of that
    outcome with the k-th start. Without the grid, the closed-form cliffs themselves are given.
    Only for impl naive, input constant.
    """
    if p["impl"] != "naive" or p["input"] != "constant":
        return {}
    n = p["n"]
    if sweep_values is None:  # no grid: the cliffs themselves, where each run would start
        k = cliffs(n, fmt)
        high = k["sum_overflow"] if n > 1 else k["exp_overflow"]
        if not fmt.has_inf:
            return {q: {"ok": k["exp_underflow"], "nan": high} for q in QUANTITIES}
        return {"softmax": {"ok": k["exp_underflow"], "underflow": high if n > 1 else None},
                "log_softmax": {"ok": k["exp_underflow"], "overflow": high},
                "logsumexp": {"ok": k["exp_underflow"], "overflow": high}}
    from ..arith import round_array

    starts: dict[str, dict[str, list]] = {q: {} for q in QUANTITIES}
    previous = dict.fromkeys(QUANTITIES)
    for c in sorted(sweep_values):
        rounded = round_array(exact_array(c), fmt)[()]
        if not np.isfinite(rounded):
            previous = dict.fromkeys(QUANTITIES)  # the logits themselves overflow: no run
            continue
        for q, outcome in predicted_outcomes(n, rounded, fmt).items():
            if outcome != previous[q]:
                starts[q].setdefault(outcome, []).append(c)
            previous[q] = outcome
    return {q: {o: s[0] if len(s) == 1 else tuple(s) for o, s in runs.items()}
            for q, runs in starts.items()}
