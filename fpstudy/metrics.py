"""Per-point measurements: errors, outcomes and truth classes, each defined once.

A computed result is a format array (a scalar is a 0-d array) and its truth a list of exact mpf
numbers in the same order. Vectors are measured normwise in the infinity norm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import mpmath
import numpy as np

from .exact import round_to_format, to_mpf, to_mpf_list, ulp
from .formats import FORMATS, Format

_make_mpf = mpmath.mp.make_mpf

OUTCOMES = ("ok", "subnormal", "underflow", "overflow", "nan")  # in increasing severity
TRUTH_CLASSES = ("normal", "subnormal", "underflows", "overflows", "zero")
_SEVERITY = {o: i for i, o in enumerate(OUTCOMES)}
# The outcome of a format that holds the exact value correctly rounded, by its truth class: what
# a closed-form prediction expects where nothing but the final rounding goes wrong.
OUTCOME_OF_CLASS = {"normal": "ok", "zero": "ok", "subnormal": "subnormal",
                    "underflows": "underflow", "overflows": "overflow"}


def rounded_outcome(value: mpmath.mpf, fmt: Format) -> str:
    """OUTCOME_OF_CLASS of an exact value (0 included) in `fmt`.

    >>> rounded_outcome(mpmath.mpf(2) ** -20, FORMATS["float16"])
    'subnormal'
    """
    return OUTCOME_OF_CLASS[truth_class(value, fmt)]
_ERROR_PREC = 192  # differences of exact numbers need only a few correct bits of the error


def value_outcome(value: mpmath.mpf, truth: mpmath.mpf, fmt: Format) -> str:
    """Outcome of one computed element against its (finite) truth.

    nan: NaN where the truth is a number; overflow: +-inf where the truth is finite, or +-max
    where the truth overflows the format (its nearest rounding lies beyond max: a saturated or
    directed rounding clamped it); underflow: 0 where the truth is not 0 (flushed included);
    subnormal: a nonzero value below the smallest normal; ok otherwise.
    """
    if mpmath.isnan(value):
        return "nan"
    if mpmath.isinf(value):
        return "overflow"
    if abs(value) == _max_mpf(fmt.name) and truth_class(truth, fmt) == "overflows":
        return "overflow"
    if value == 0:
        return "underflow" if truth != 0 else "ok"
    if abs(value) < _smallest_normal_mpf(fmt.name):
        return "subnormal"
    return "ok"


def truth_class(truth: mpmath.mpf, fmt: Format) -> str:
    """Where the exact number lies for `fmt`: the class of its correctly rounded value.

    zero; underflows (rounds to 0: below half the smallest subnormal, or a tie to it);
    subnormal; overflows (rounds beyond max); normal.
    """
    if truth == 0:
        return "zero"
    binade = _binade(truth)
    if binade is not None and fmt.has_subnormals:
        # away from every class boundary the binade decides: below half the smallest
        # subnormal (2**(min_exponent - precision)) it rounds to 0, under the smallest
        # normal's binade it stays subnormal, under max's binade it stays normal
        lowest = fmt.min_exponent - fmt.precision
        if binade < lowest:
            return "underflows"
        if lowest < binade < fmt.min_exponent - 1:
            return "subnormal"
        if fmt.min_exponent <= binade < fmt.max_exponent - 1:
            return "normal"
    return _rounded_class(truth, fmt)


def _binade(x) -> int | None:
    """floor(log2|x|) of a finite nonzero mpf (None for anything else)."""
    m = getattr(x, "_mpf_", None)
    if m is None or not m[1]:
        return None
    return m[2] + m[3] - 1


def _rounded_class(truth, fmt: Format) -> str:
    """truth_class from the correctly rounded value (exact rational arithmetic)."""
    r = round_to_format(truth, fmt)
    if r in (np.inf, -np.inf):
        return "overflows"
    if r == 0:
        return "underflows"
    return "subnormal" if abs(r) < Fraction(2) ** fmt.min_exponent else "normal"


@cache
def _max_mpf(name: str) -> mpmath.mpf:
    return to_mpf(FORMATS[name].max)


@cache
def _smallest_normal_mpf(name: str) -> mpmath.mpf:
    return to_mpf(FORMATS[name].smallest_normal)


def rel_error(value: list, truth: list) -> float:
    """Normwise relative error max|v_i - t_i| / max|t_i|, from the exact values.

    NaN if any value is NaN; inf if any value is infinite, or if the truth is 0 and the value
    is not; 0 when both are 0.

    >>> rel_error([mpmath.mpf(1)], [mpmath.mpf(1)])
    0.0
    >>> rel_error([mpmath.mpf(3)], [mpmath.mpf(2)])
    0.5
    """
    return _relative(*_abs_error(value, truth), value)


def _relative(err, norm, value: list) -> float:
    if err is None:
        return _special(value)
    if norm == 0:
        return 0.0 if err == 0 else math.inf
    with mpmath.workprec(_ERROR_PREC):
        return float(err / norm)


def ulp_error(value: list, truth: list, fmt: Format) -> float:
    """max|v_i - t_i| in units of the format's ulp at max|t_i| (the smallest subnormal at 0)."""
    return _in_ulps(*_abs_error(value, truth), value, fmt)


def _in_ulps(err, norm, value: list, fmt: Format) -> float:
    if err is None:
        return _special(value)
    with mpmath.workprec(_ERROR_PREC):
        return float(err / ulp(norm, fmt))


def _special(value: list) -> float:
    return math.nan if any(mpmath.isnan(v) for v in value) else math.inf


def _abs_error(value: list, truth: list):
    """(max|v_i - t_i|, max|t_i|), or (None, None) when a value is not finite."""
    if any(not mpmath.isfinite(v) for v in value):
        return None, None
    with mpmath.workprec(_ERROR_PREC):
        err = max((abs(v - t) for v, t in zip(value, truth, strict=True)), default=mpmath.mpf(0))
    norm = max((abs(t) for t in truth), default=mpmath.mpf(0))
    return err, norm


@dataclass(frozen=True)
class Measurement:
    value: float
    value_log10: float
    truth: float
    truth_log10: float
    rel_error: float
    ulp_error: float
    outcome: str
    truth_class: str


def measure(value_array: np.ndarray, truth: list, fmt: Format, approx=None) -> Measurement:
    """Every per-point column for one computed result against its exact truth.

    A 0-d array is a scalar and keeps its sign in `value` and `truth`; otherwise those are
    infinity norms. The outcome is the worst element's (nan > overflow > underflow >
    subnormal > ok) and truth_class is the class of that element (of the largest truth among
    the elements with that outcome).

    `approx` (optional: the (n, 4) float64 array of (hi, lo, is_zero, log2_abs) rows, hi + lo
    the truth to ~106 bits, from `fpstudy.truth`) lets numpy pick, for every column, the few
    elements that can decide it; the exact computation then runs on those alone, so the
    result is the same as without it, at the cost of a handful of elements instead of all.
    """
    value_array = np.asarray(value_array)
    if value_array.size != len(truth):
        raise ValueError(f"value has {value_array.size} elements, truth {len(truth)}")
    if approx is not None and value_array.ndim > 0 and value_array.dtype.itemsize <= 8 \
            and value_array.size > _FEW:
        keep = _deciding_elements(value_array.ravel(), approx, fmt)
        if keep.size < value_array.size:
            return _replace_shown(
                measure(value_array.ravel()[keep], [truth[i] for i in keep], fmt),
                value_array)
    # Every column is a max or a worst case over elements, so each distinct (value, truth)
    # pair is measured once: a constant vector of 10**5 elements costs what one element does.
    flat = value_array.ravel()
    # (keyed by the values as Python floats, or longdouble scalars, and the truths' raw
    # tuples: they hash in C, not by mpf's own hash)
    pairs = list(dict.fromkeys(zip(flat.tolist(), (t._mpf_ for t in truth), strict=True)))
    values = to_mpf_list(np.array([v for v, _ in pairs], dtype=value_array.dtype))
    truths = [_make_mpf(t) for _, t in pairs]
    outcomes = [value_outcome(values[i], truths[i], fmt) for i in range(len(pairs))]
    if outcomes:
        worst = max(outcomes, key=_SEVERITY.__getitem__)
        culprit = max((abs(truths[i]), i) for i, o in enumerate(outcomes) if o == worst)[1]
        cls = truth_class(truths[culprit], fmt)
    else:
        worst, cls = "ok", "zero"
    value_log10 = _log10_norm(values)
    err, norm = _abs_error(values, truths)  # rel_error and ulp_error share them
    if value_array.ndim == 0:
        exact_truth = truth[0]
    else:
        exact_truth = max((abs(t) for t in truths), default=mpmath.mpf(0))  # every distinct one
    return Measurement(
        value=_shown(value_array),
        value_log10=value_log10,
        truth=float(exact_truth),
        truth_log10=float(mpmath.log10(abs(exact_truth))),  # log10(0) is -inf
        rel_error=_relative(err, norm, values),
        ulp_error=_in_ulps(err, norm, values, fmt),
        outcome=worst,
        truth_class=cls,
    )


_FEW = 8  # below this many elements the exact path is as fast
_WINDOW = 2.0 ** -40  # the float approximations are good to ~2**-100: a generous margin
_LOG2_WINDOW = 2.0 ** -30  # the same margin for log2|truth| (good to ~2**-50)
_FAR = 899  # beyond 2**+-_FAR a truth has no (hi, lo) pair, only its log2 magnitude


def _deciding_elements(v: np.ndarray, approx, fmt: Format) -> np.ndarray:
    """Indices (ascending) of the elements that can decide some column: the worst outcome's
    largest truths, the largest errors, the largest truths, the largest values, the first
    non-finite value. Every max is taken with a margin far wider than the approximation.

    A truth below 2**-900 has no (hi, lo) pair: its error is |value| to within 2**-899, which
    the error's margin covers. One above 2**900 is always kept, and its error (unknown) is left
    out of the others' comparison."""
    hi, lo, zero, log2_abs = np.asarray(approx, dtype=np.float64).T
    is_zero = zero != 0
    with np.errstate(all="ignore"):
        w = v.astype(np.float64)  # exact for every format up to float64
        a = np.abs(w)
        nan, inf = np.isnan(w), np.isinf(w)
        severity = np.where(nan, 4, np.where(inf, 3, np.where(
            w == 0, np.where(is_zero, 0, 2), np.where(a < float(fmt.smallest_normal), 1, 0))))
        huge = log2_abs > _FAR
        keep = huge.copy()
        worst = severity == severity.max()
        keep |= worst & (log2_abs >= log2_abs[worst].max() - _LOG2_WINDOW)
        keep |= log2_abs >= log2_abs.max() - _LOG2_WINDOW
        finite = ~(nan | inf)
        if finite.all():
            # the largest error: an element is kept when its error can reach the largest
            # lower bound of an error. In range the error is known to ~2**-100 relative; a
            # tiny truth's error is |value| to within 2**-899, or, computed as 0, |truth|
            # itself: those underflow, the worst outcome of a finite vector, and the largest
            # of them is kept above; a huge truth is kept anyway.
            tiny = log2_abs < -_FAR
            quiet = tiny & (w == 0)
            near = ~tiny & ~huge
            err = np.where(near, np.abs((w - hi) - lo), 0.0)
            loose = 2.0 ** -_FAR
            lower = max(err.max(), (np.where(tiny & ~quiet, a, 0.0) - loose).max())
            keep |= near & (err >= lower * (1 - _WINDOW) - np.abs(hi).max() * 2.0 ** -95)
            keep |= tiny & ~quiet & (a + loose >= lower * (1 - _WINDOW))
        # (a NaN or inf is kept by the worst outcome's rule above)
        if not nan.all():
            keep[np.nanargmax(a)] = True  # one largest value: ties (all inf) share its log10
    return np.flatnonzero(keep)


def _replace_shown(m: Measurement, value_array: np.ndarray) -> Measurement:
    """A subset's measurement with `value` (the infinity norm) taken from the whole array."""
    return Measurement(**{**m.__dict__, "value": _shown(value_array)})


def _shown(value_array: np.ndarray) -> float:
    """The `value` column: a scalar with its sign, else the infinity norm (NaN if an element
    is), as a float (a longdouble past float64's range shows as inf)."""
    with np.errstate(all="ignore"):
        wide = value_array.astype(np.float64)
        return float(wide if wide.ndim == 0 else np.abs(wide).max(initial=0.0))


def _log10_norm(values: list) -> float:
    """log10 of max|v_i| from the exact values: finite where float64 would say inf or 0
    (a longdouble result past float64's range); inf, NaN and 0 give inf, NaN and -inf."""
    if any(mpmath.isnan(v) for v in values):
        return math.nan
    norm = max((abs(v) for v in values), default=mpmath.mpf(0))
    return float(mpmath.log10(norm))  # log10 of 0 and inf are -inf and inf
