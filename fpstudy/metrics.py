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
from mpmath import libmp

from .exact import raw_mpfs, round_to_format, to_mpf
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
# Every column below is computed on mpmath's raw numbers (sign, man, exp, bc) with the libmp
# operations mpmath's own numbers would call, at the same precisions and roundings, but
# without making an mpf object per step: the values are those of mpmath's arithmetic at its
# default 53 bits, and computing them costs a fraction. `_SHOWN` is that default precision
# (norms are shown as floats: a truth's norm is |t| rounded to it).
_SHOWN = 53
_NEAREST = libmp.round_nearest  # every rounding here is to nearest, ties to even
_LOG_PREC = _SHOWN + 20  # mpmath.log10(x) is ln(x) / ln(10), each at 20 bits more
_LN10 = libmp.mpf_ln(libmp.from_int(10), _LOG_PREC, _NEAREST)
_ZERO, _NAN = libmp.fzero, libmp.fnan
_NOT_FINITE = (libmp.finf, libmp.fninf, libmp.fnan)


def _log10(m) -> float:
    """float(mpmath.log10(x)) at 53 bits for a raw x >= 0 (NaN, 0 and inf included), by the
    same operations: two logarithms at 73 bits, their quotient at 53, rounded to a float.

    >>> _log10(libmp.from_int(1000)), _log10(libmp.fzero)
    (3.0, -inf)
    """
    quotient = libmp.mpf_div(libmp.mpf_ln(m, _LOG_PREC, _NEAREST), _LN10, _SHOWN, _NEAREST)
    return libmp.to_float(quotient, rnd=_NEAREST)


def _float(m) -> float:
    """float() of a raw mpf (to nearest, as mpmath does)."""
    return libmp.to_float(m, rnd=_NEAREST)


def _largest(raws, prec: int = 0):
    """max |x| over raw numbers (0 for none), each |x| rounded to `prec` bits (0: exact)."""
    best = _ZERO
    for m in raws:
        a = libmp.mpf_abs(m, prec, _NEAREST)
        if libmp.mpf_gt(a, best):
            best = a
    return best


def value_outcome(value: mpmath.mpf, truth: mpmath.mpf, fmt: Format) -> str:
    """Outcome of one computed element against its (finite) truth.

    nan: NaN where the truth is a number; overflow: +-inf where the truth is finite, or +-max
    where the truth overflows the format (its nearest rounding lies beyond max: a saturated or
    directed rounding clamped it); underflow: 0 where the truth is not 0 (flushed included);
    subnormal: a nonzero value below the smallest normal; ok otherwise.
    """
    return _outcome(value._mpf_, truth._mpf_, fmt)


def _outcome(v, t, fmt: Format) -> str:
    """value_outcome of raw numbers (|value| compared exactly: a longdouble of 64 bits just
    below the smallest normal is subnormal, not rounded up to it)."""
    if v == _NAN:
        return "nan"
    if v in _NOT_FINITE:
        return "overflow"
    if v == _ZERO:
        return "underflow" if t != _ZERO else "ok"
    a = libmp.mpf_abs(v)
    if a == _max_raw(fmt.name) and truth_class(_make_mpf(t), fmt) == "overflows":
        return "overflow"
    if libmp.mpf_lt(a, _smallest_normal_raw(fmt.name)):
        return "subnormal"
    return "ok"


def truth_class(truth: mpmath.mpf, fmt: Format) -> str:
    """Where the exact number lies for `fmt`: the class of its correctly rounded value.

    zero; underflows (rounds to 0: below half the smallest subnormal, or a tie to it);
    subnormal; overflows (rounds beyond max); normal.
    """
    if truth._mpf_ == _ZERO:  # (mpf's own == would convert 0 first)
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
def _max_raw(name: str) -> tuple:
    return to_mpf(FORMATS[name].max)._mpf_


@cache
def _smallest_normal_raw(name: str) -> tuple:
    return to_mpf(FORMATS[name].smallest_normal)._mpf_


def rel_error(value: list, truth: list) -> float:
    """Normwise relative error max|v_i - t_i| / max|t_i|, from the exact values.

    NaN if any value is NaN; inf if any value is infinite, or if the truth is 0 and the value
    is not; 0 when both are 0.

    >>> rel_error([mpmath.mpf(1)], [mpmath.mpf(1)])
    0.0
    >>> rel_error([mpmath.mpf(3)], [mpmath.mpf(2)])
    0.5
    """
    values, truths = [v._mpf_ for v in value], [t._mpf_ for t in truth]
    return _relative(_abs_error(values, truths), _norm(truths), values)


def _relative(err, norm, values: list) -> float:
    if err is None:
        return _special(values)
    if norm == _ZERO:
        return 0.0 if err == _ZERO else math.inf
    return _float(libmp.mpf_div(err, norm, _ERROR_PREC, _NEAREST))


def ulp_error(value: list, truth: list, fmt: Format) -> float:
    """max|v_i - t_i| in units of the format's ulp at max|t_i| (the smallest subnormal at 0)."""
    values, truths = [v._mpf_ for v in value], [t._mpf_ for t in truth]
    return _in_ulps(_abs_error(values, truths), _norm(truths), values, fmt)


def _in_ulps(err, norm, values: list, fmt: Format) -> float:
    if err is None:
        return _special(values)
    e = fmt.min_exponent
    if norm != _ZERO and norm not in _NOT_FINITE:
        e = max(norm[2] + norm[3] - 1, e)
    # the ulp, 2**(e - p + 1), as the raw number (sign, man, exp, bc)
    return _float(libmp.mpf_div(err, (0, 1, e - fmt.precision + 1, 1), _ERROR_PREC, _NEAREST))


def _special(values: list) -> float:
    return math.nan if _NAN in values else math.inf


def _abs_error(values: list, truths: list):
    """max|v_i - t_i| of raw numbers at _ERROR_PREC bits, None when a value is not finite."""
    if any(v in _NOT_FINITE for v in values):
        return None
    return _largest(libmp.mpf_sub(v, t, _ERROR_PREC, _NEAREST)
                    for v, t in zip(values, truths, strict=True))


def _norm(truths: list):
    """max|t_i| of raw numbers, rounded to _SHOWN bits: the norm the errors are relative to."""
    return _largest(truths, _SHOWN)


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
    if value_array.ndim > 0 and value_array.dtype.itemsize <= 8 and value_array.size > _FEW:
        flat = value_array.ravel()
        keep = _distinct(flat, truth)
        if approx is not None and keep.size > _FEW:
            keep = keep[_deciding_elements(flat[keep], np.asarray(approx)[keep], fmt)]
        if keep.size < flat.size:
            return _exact(flat[keep], [truth[i] for i in keep], fmt, value_array)
    return _exact(value_array, truth, fmt, value_array)


def _exact(part: np.ndarray, truth: list, fmt: Format, whole: np.ndarray) -> Measurement:
    """measure's columns from the elements `part` of the result `whole` (all of them, or those
    that decide every column) with their truths, exactly; `value` and whether the result is a
    scalar are the whole's."""
    # Every column is a max or a worst case over elements, so each distinct (value, truth)
    # pair is measured once: a constant vector of 10**5 elements costs what one element does.
    # (keyed by the values as Python floats, or longdouble scalars, and the truths' raw
    # tuples: they hash in C, not by mpf's own hash)
    pairs = list(dict.fromkeys(zip(part.ravel().tolist(), (t._mpf_ for t in truth),
                                   strict=True)))
    scalar = whole.ndim == 0
    if part.dtype.itemsize > 8:  # longdouble scalars: split exactly (from_float has 53 bits)
        values = raw_mpfs(np.array([v for v, _ in pairs], dtype=part.dtype))
        return Measurement(_shown(whole), *_columns(values, pairs, fmt, scalar))
    from_float = libmp.from_float  # a Python float is exactly the format's value
    if len(pairs) > _KEPT_PAIRS or any(t[3] > _KEPT_BITS for _, t in pairs):
        return Measurement(_shown(whole), *_columns([from_float(v) for v, _ in pairs], pairs,
                                                    fmt, scalar))
    # every column but `value` is a function of the distinct pairs, the format and whether
    # the result is a scalar, and the same few pairs recur (a softmax of equal logits is 1/n
    # at every centre the format gets right, a saturated sigmoid is 1 for every
    # implementation): those are measured once. Only few pairs of short truths are kept (an
    # exact truth of a deep product can have 10**5 bits, and never recurs).
    key = (id(fmt), scalar, tuple(pairs))
    kept = _MEASURED.get(key)
    if kept is None:
        kept = (fmt, _columns([from_float(v) for v, _ in pairs], pairs, fmt, scalar))
        if len(_MEASURED) >= _KEPT_RESULTS:
            _MEASURED.clear()
        _MEASURED[key] = kept  # the format is held: its id is not reused while it is kept
    return Measurement(_shown(whole), *kept[1])


# measured columns (all but `value`) by (id(format), scalar, the distinct pairs), see `_exact`:
# at most _KEPT_RESULTS results of at most _KEPT_PAIRS pairs whose truths have at most
# _KEPT_BITS bits (REPORTED_BITS is 128): a few tens of MB at most
_MEASURED: dict = {}
_KEPT_RESULTS, _KEPT_PAIRS, _KEPT_BITS = 1 << 16, 8, 256


def _columns(values: list, pairs: list, fmt: Format, scalar: bool) -> tuple:
    """Measurement's columns after `value`, from the distinct (value, truth) pairs (raw
    values; a scalar result's truth keeps its sign)."""
    truths = [t for _, t in pairs]
    outcomes = [_outcome(v, t, fmt) for v, t in zip(values, truths, strict=True)]
    if outcomes:
        worst = max(outcomes, key=_SEVERITY.__getitem__)
        # the largest truth (|t| rounded to _SHOWN bits; the last of equals) with that outcome
        culprit, largest = 0, None
        for i, o in enumerate(outcomes):
            if o == worst:
                a = libmp.mpf_abs(truths[i], _SHOWN, _NEAREST)
                if largest is None or libmp.mpf_ge(a, largest):
                    culprit, largest = i, a
        cls = truth_class(_make_mpf(truths[culprit]), fmt)
    else:
        worst, cls = "ok", "zero"
    err, norm = _abs_error(values, truths), _norm(truths)  # shared by both errors
    exact_truth = truths[0] if scalar else norm
    return (math.nan if _NAN in values else _log10(_largest(values, _SHOWN)),  # value_log10
            _float(exact_truth),  # truth
            _log10(libmp.mpf_abs(exact_truth, _SHOWN, _NEAREST)),  # truth_log10 (of 0: -inf)
            _relative(err, norm, values),  # rel_error
            _in_ulps(err, norm, values, fmt),  # ulp_error
            worst,  # outcome
            cls)  # truth_class


_FEW = 8  # below this many elements the exact path is as fast
_WINDOW_ROWS = 4096  # results measured together by measure_all (bounds what they hold)
_KEPT_MANY = 64  # past this many deciding elements, measure's own deduplication goes first


def measure_all(items, fmt: Format):
    """measure(array, truth, fmt, approx) of every (array, truth, approx) of `items`, yielded
    in order, the same Measurements. The vectors of one size that have an approximation are
    taken _WINDOW_ROWS at a time and numpy picks their deciding elements all at once (one
    call instead of one per result: a deep product's 16-vector costs its exact part alone)."""
    window = []
    for item in items:
        window.append(item)
        if len(window) == _WINDOW_ROWS:
            yield from _measure_window(window, fmt)
            window = []
    yield from _measure_window(window, fmt)


def _measure_window(items: list, fmt: Format) -> list:
    out: list = [None] * len(items)
    groups: dict = {}
    for i, (array, truth, approx) in enumerate(items):
        array = np.asarray(array)
        if approx is not None and array.ndim > 0 and array.dtype.itemsize <= 8 \
                and array.size > _FEW and array.size == len(truth):  # (else measure refuses)
            groups.setdefault((array.size, array.dtype), []).append(i)
        else:
            out[i] = measure(array, truth, fmt, approx)
    for members in groups.values():
        values = np.stack([np.asarray(items[i][0]).ravel() for i in members])
        mask = _deciding_mask(values, np.stack([np.asarray(items[i][2]) for i in members]), fmt)
        for row, i in enumerate(members):
            array, truth, approx = items[i]
            keep = np.flatnonzero(mask[row])
            if keep.size > _KEPT_MANY:  # ties (a constant vector): deduplicate first
                out[i] = measure(array, truth, fmt, approx)
            else:
                out[i] = _exact(values[row][keep], [truth[k] for k in keep], fmt,
                                np.asarray(array))
    return out


def _distinct(flat: np.ndarray, truth: list) -> np.ndarray:
    """Ascending indices of the first element of every distinct (value, truth) pair, found by
    numpy: every column is a max or a worst case over elements, so the others change none
    (a constant vector of 10**5 elements costs what one element does). Truths are told apart
    by identity, which may keep two equal ones but never merges two different ones (equal
    truths are mostly one object: fpstudy.truth makes one per distinct enclosure). NaN values
    are never merged; 0 and -0 are (both are mpmath's one zero)."""
    key = np.empty(flat.size, dtype=np.complex128)
    key.real = flat.astype(np.float64)  # exact for every format up to float64
    key.imag = np.fromiter(map(id, truth), dtype=np.float64, count=len(truth))  # < 2**53
    first = np.unique(key, return_index=True, equal_nan=False)[1]
    return np.sort(first)


_WINDOW = 2.0 ** -40  # the float approximations are good to ~2**-100: a generous margin
_LOG2_WINDOW = 2.0 ** -30  # the same margin for log2|truth| (good to ~2**-50)
_FAR = 899  # beyond 2**+-_FAR a truth has no (hi, lo) pair, only its log2 magnitude


def _deciding_elements(v: np.ndarray, approx, fmt: Format) -> np.ndarray:
    """Indices (ascending) of the elements of the vector v that can decide some column (see
    `_deciding_mask`)."""
    return np.flatnonzero(_deciding_mask(v[None], np.asarray(approx)[None], fmt)[0])


def _deciding_mask(v: np.ndarray, approx, fmt: Format) -> np.ndarray:
    """For each row of the (R, n) values v with its (R, n, 4) approximation: which elements can
    decide some column. The worst outcome's largest truths, the largest errors, the largest
    truths, the largest values, the first non-finite value. Every max is taken with a margin
    far wider than the approximation.

    A truth below 2**-900 has no (hi, lo) pair: its error is |value| to within 2**-899, which
    the error's margin covers. One above 2**900 is always kept, and its error (unknown) is left
    out of the others' comparison."""
    approx = np.asarray(approx, dtype=np.float64)
    hi, lo, zero, log2_abs = (approx[..., k] for k in range(4))
    is_zero = zero != 0

    def row_max(x):
        return x.max(axis=-1, keepdims=True)
    with np.errstate(all="ignore"):
        w = v.astype(np.float64)  # exact for every format up to float64
        a = np.abs(w)
        nan, inf = np.isnan(w), np.isinf(w)
        severity = np.where(nan, 4, np.where(inf, 3, np.where(
            w == 0, np.where(is_zero, 0, 2), np.where(a < float(fmt.smallest_normal), 1, 0))))
        huge = log2_abs > _FAR
        keep = huge.copy()
        worst = severity == row_max(severity)
        keep |= worst & (log2_abs >= row_max(np.where(worst, log2_abs, -np.inf))
                         - _LOG2_WINDOW)
        keep |= log2_abs >= row_max(log2_abs) - _LOG2_WINDOW
        # Rows of finite values only: the largest error. An element is kept when its error
        # can reach the largest lower bound of an error. In range the error is known to
        # ~2**-100 relative; a tiny truth's error is |value| to within 2**-899, or, computed
        # as 0, |truth| itself: those underflow, the worst outcome of a finite vector, and the
        # largest of them is kept above; a huge truth is kept anyway.
        finite_rows = ~row_max(nan | inf)
        tiny = log2_abs < -_FAR
        quiet = tiny & (w == 0)
        near = ~tiny & ~huge
        err = np.where(near, np.abs((w - hi) - lo), 0.0)
        loose = 2.0 ** -_FAR
        lower = np.maximum(row_max(err), row_max(np.where(tiny & ~quiet, a, 0.0) - loose))
        keep |= finite_rows & near & (err >= lower * (1 - _WINDOW)
                                      - row_max(np.abs(hi)) * 2.0 ** -95)
        keep |= finite_rows & tiny & ~quiet & (a + loose >= lower * (1 - _WINDOW))
        # (a NaN or inf is kept by the worst outcome's rule above); one largest value in every
        # row not all NaN (the first: ties, all inf, share its log10)
        rows = np.flatnonzero(~nan.all(axis=-1))
        keep[rows, np.argmax(np.where(nan, -np.inf, a)[rows], axis=-1)] = True
    return keep


def _shown(value_array: np.ndarray) -> float:
    """The `value` column: a scalar with its sign, else the infinity norm (NaN if an element
    is), as a float (a longdouble past float64's range shows as inf)."""
    with np.errstate(all="ignore"):
        wide = value_array.astype(np.float64)
        return float(wide if wide.ndim == 0 else np.abs(wide).max(initial=0.0))
