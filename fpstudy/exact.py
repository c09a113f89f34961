"""Exact conversions between format values and mpmath numbers, and exact rounding to a format.

Everything here is exact: a format value becomes the mpf of the same real number (never
rounded to mpmath's working precision), and `round_to_format` rounds a real number to the
nearest value of a format (ties to even), with gradual underflow and the format's overflow rule,
using integer arithmetic only. It is the independent reference the measured arithmetic is
checked against, and it defines truth_class.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
from mpmath import libmp

from .formats import FORMATS, Format  # noqa: F401  (FORMATS: doctests)
from .rounding import NEAREST, Rule, overflow_to_max, to_storage

_make_mpf = mpmath.mp.make_mpf
MPF_INF = mpmath.mpf("inf")
MPF_NAN = mpmath.mpf("nan")


def to_mpf(x) -> mpmath.mpf:
    """The exact mpf of one format value (any numpy float scalar or Python float).

    >>> to_mpf(np.float16(0.1)) == mpmath.mpf(1638) / 2**14   # 0.1 * 2**14 = 1638.4
    True
    """
    if isinstance(x, np.longdouble) and x.dtype.itemsize > 8:
        if not np.isfinite(x):
            return MPF_NAN if np.isnan(x) else (MPF_INF if x > 0 else -MPF_INF)
        num, den = x.as_integer_ratio()
        return _make_mpf(libmp.from_man_exp(num, 1 - den.bit_length()))
    # float(x) is exact for every format up to float64; from_float keeps all of its 53 bits
    # and gives mpmath's NaN and infinities for them
    return _make_mpf(libmp.from_float(float(x)))


def to_mpf_list(arr) -> list:
    """The exact mpf of every element of a format array, as a flat list."""
    arr = np.asarray(arr)
    if arr.dtype.itemsize > 8 and arr.dtype.kind == "f":
        return [to_mpf(v) for v in arr.ravel()]
    from_float = libmp.from_float
    return [_make_mpf(from_float(f)) for f in arr.astype(np.float64).ravel().tolist()]


def raw_mpfs(arr) -> list:
    """The exact value of every element of a format array as mpmath raw mpf tuples (sign,
    man, exp, bc), as a flat list: numpy splits the whole array into integer significands and
    exponents at once, so a million weights cost one pass, not a million `from_float` calls.
    An object array of mpf (already exact) gives its elements' tuples.

    >>> raw_mpfs(np.array([0.75, -0.0, 6.0], dtype=np.float16)) == [
    ...     (0, 3, -2, 2), libmp.fzero, (0, 3, 1, 2)]
    True
    """
    arr = np.asarray(arr)
    if arr.dtype == object:
        return [v._mpf_ for v in arr.ravel()]
    if arr.dtype.itemsize > 8 and arr.dtype.kind == "f":
        return [to_mpf(v)._mpf_ for v in arr.ravel()]
    wide = arr.astype(np.float64).ravel()  # exact for every format up to float64
    if arr.dtype.itemsize <= 2 and arr.size > _FEW_VALUES:
        # a format of 16 bits or fewer has at most 65536 values: each distinct one is split
        # once, and its repeats are the same tuple (to which fpstudy.enclosure's engines give
        # one exact number: a million float16 weights hold at most 65536)
        distinct, where = np.unique(wide, return_inverse=True)
        return SharedRaw(map(_split_floats(distinct).__getitem__, where.tolist()))
    return _split_floats(wide)


class SharedRaw(list):
    """raw_mpfs of many values of a short format: equal values are one tuple object, so an
    engine can make one number per distinct value, telling them apart by identity."""


def _split_floats(wide: np.ndarray) -> list:
    """raw_mpfs of a 1-D float64 array."""
    finite = np.isfinite(wide)
    fraction, exponent = np.frexp(np.where(finite, wide, 0.0))
    man = (np.abs(fraction) * 2.0 ** 53).astype(np.int64)  # exact: |fraction| in [1/2, 1)
    low = man & -man  # the lowest set bit, a power of two (0 for zero)
    shift = np.frexp(low.astype(np.float64))[1] - 1  # its position (exact: a power of two)
    man >>= np.maximum(shift, 0)
    exp = exponent - 53 + shift
    bc = np.frexp(man.astype(np.float64))[1]  # man < 2**53: bit length, exactly
    sign = (fraction < 0).astype(np.int64)
    mans = map(libmp.MPZ, man.tolist())  # mpmath's integer type (gmpy2's mpz where present)
    out = list(zip(sign.tolist(), mans, exp.tolist(), bc.tolist(), strict=True))
    zero = libmp.fzero
    for i in np.flatnonzero((man == 0) | ~finite).tolist():
        v = wide[i]
        out[i] = zero if v == 0 else (libmp.fnan if v != v else
                                       (libmp.finf if v > 0 else libmp.fninf))
    return out


_FEW_VALUES = 1024  # below this many elements, finding the distinct ones costs more


def to_mpf_array(arr) -> np.ndarray:
    """The exact mpf of every element, as an object array of the same shape."""
    arr = np.asarray(arr)
    out = np.empty(arr.shape, dtype=object)
    out.ravel()[:] = to_mpf_list(arr)
    return out


# Working precisions of the closed-form predictions (never of a truth: truths are proven).
# A threshold compared with a format's limits needs a few bits past the widest format's
# precision (longdouble: 64); 113 is binary128's, for values that are then printed.
PREDICTION_PREC = 96
REPORTING_PREC = 113
# The most bits an exact power s**d a may take before a prediction gives up exactness.
EXACT_POWER_CAP = 4_000_000


def power_precision(base: mpmath.mpf, exponent_: int, *factors: mpmath.mpf) -> int:
    """Bits that hold base**exponent_ times each factor exactly (plus a margin), capped at
    EXACT_POWER_CAP: a significand of b bits raised to the d has at most d*b bits.

    >>> power_precision(mpmath.mpf(1.5), 40) >= 2 * 40   # 1.5 = 3/2: 2 significant bits
    True
    """
    bits = 64 + exponent_ * (base._mpf_[3] + 1) + max((f._mpf_[3] for f in factors), default=0)
    return min(bits, EXACT_POWER_CAP)


def exponent(x: mpmath.mpf) -> int:
    """floor(log2|x|) for a finite nonzero mpf, exactly (from its mantissa and exponent)."""
    _sign, man, exp, bc = x._mpf_
    return exp + bc - 1


def round_to_format(x: mpmath.mpf, fmt: Format) -> Fraction | float:
    """x rounded to the nearest value of `fmt` (ties to even), as an exact Fraction.

    Returns +-inf as a float when the rounded magnitude exceeds the format's max (for a
    format without infinity that is where it gives NaN). Zero stays Fraction(0).

    >>> round_to_format(mpmath.mpf(464), FORMATS["float8_e4m3fn"])   # a tie, to even
    Fraction(448, 1)
    >>> round_to_format(mpmath.mpf(65520), FORMATS["float16"])        # a tie past max
    inf
    """
    if not mpmath.isfinite(x):
        raise ValueError("round_to_format takes a finite number")
    if x == 0:
        return Fraction(0)
    sign, man, exp, _bc = x._mpf_
    # Far outside the range the answer is known, and the exact arithmetic below would need a
    # 2**|exponent| integer (a diverging training run reaches exponents in the billions).
    if exponent(x) >= fmt.max_exponent:  # |x| >= 2**emax > max: overflows
        return -np.inf if sign else np.inf
    if exponent(x) < fmt.min_exponent - fmt.precision:  # |x| < half the smallest subnormal
        return Fraction(0)
    quantum = max(exponent(x), fmt.min_exponent) - (fmt.precision - 1)  # ulp exponent
    shift = quantum - exp
    if shift <= 0:
        m = man << -shift
    else:
        m, rem = divmod(man, 1 << shift)
        half = 1 << (shift - 1)
        if rem > half or (rem == half and m & 1):
            m += 1
    value = Fraction(m) * Fraction(2) ** quantum
    if value > to_fraction(fmt.max):
        return -np.inf if sign else np.inf
    return -value if sign else value


def round_rational(q: Fraction, fmt: Format, rule: Rule = NEAREST,
                   draw: float | None = None) -> Fraction | float:
    """An exact rational (a config's decimal) rounded once to `fmt` by `rule` (default: to
    nearest, ties to even), as an exact Fraction; +-inf past max (for a format without infinity
    that is where it gives NaN), or +-max where the rule clamps. A zero result is Fraction(0)
    (its sign is the caller's: that of q). `draw`, a number in [0, 1), decides a stochastic
    rounding: up when draw < (q - lower) / (upper - lower), compared exactly.

    >>> round_rational(Fraction("1.000488281250000001"), FORMATS["float16"])  # not the tie
    Fraction(1025, 1024)
    >>> round_rational(Fraction("1.00048828125"), FORMATS["float16"])         # the tie: even
    Fraction(1, 1)
    >>> round_rational(Fraction(500), FORMATS["float8_e4m3fn"], Rule(overflow="saturate"))
    Fraction(448, 1)
    """
    return rounded_rational(q, fmt, rule, draw)[0]


def rounded_rational(q: Fraction, fmt: Format, rule: Rule = NEAREST,
                     draw: float | None = None) -> tuple[Fraction | float, frozenset]:
    """(`round_rational`'s value, the IEEE flags the rounding raises): overflow where q rounded
    with an unbounded exponent lies beyond max (whatever the rule then makes of it), underflow
    where the rounded result is below the smallest normal and inexact (a flushed nonzero
    result included), as `fpstudy.rounding.round_wide` judges them for floats.

    >>> F16 = FORMATS["float16"]
    >>> [sorted(rounded_rational(Fraction(q), F16)[1]) for q in (65505, 65520, 2**-25)]
    [[], ['overflow'], ['underflow']]
    """
    if q == 0:
        return Fraction(0), frozenset()
    sign, a = (q < 0), abs(q)
    num, den = a.numerator, a.denominator
    e = num.bit_length() - den.bit_length()  # floor(log2 a) is e or e - 1
    if num < den << e if e >= 0 else num << -e < den:
        e -= 1
    if e >= fmt.max_exponent + 1:  # far beyond max: no 2**e-sized integers needed
        e = fmt.max_exponent + 1
        a = Fraction(2) ** e  # rounds exactly like a (beyond max in every direction)
    if rule.is_default and e < fmt.min_exponent - fmt.precision - 1:
        return Fraction(0), _UNDERFLOW
    quantum = max(e, fmt.min_exponent) - (fmt.precision - 1)
    scaled = a / Fraction(2) ** quantum
    m, rem = divmod(scaled.numerator, scaled.denominator)
    position = Fraction(rem, scaled.denominator)  # in [0, 1): where a lies between m and m + 1
    if position != 0:
        mode = rule.rounding
        if mode == "nearest_even":
            up = position > Fraction(1, 2) or (position == Fraction(1, 2) and m & 1)
        elif mode == "toward_zero":
            up = False
        elif mode == "upward":
            up = not sign
        elif mode == "downward":
            up = sign
        else:
            if draw is None:
                raise ValueError("stochastic rounding needs a draw")
            up = Fraction(draw) < position
        m += int(up)
    value = Fraction(m) * Fraction(2) ** quantum
    flags = frozenset()
    if value > to_fraction(fmt.max):
        flags = _OVERFLOW
        clamp = bool(overflow_to_max(sign, rule)) or (not fmt.has_inf and not fmt.has_nan)
        value = to_fraction(fmt.max) if clamp else np.inf
    elif value < to_fraction(fmt.smallest_normal):
        if rule.flush or not fmt.has_subnormals:  # a nonzero q flushed: always inexact
            flags, value = _UNDERFLOW, Fraction(0)
        elif position != 0:
            flags = _UNDERFLOW
    return (-value if sign else value), flags


_OVERFLOW, _UNDERFLOW = frozenset({"overflow"}), frozenset({"underflow"})


def rational_array(values: np.ndarray, fmt: Format, rule: Rule = NEAREST,
                   rng: np.random.Generator | None = None,
                   flags: set | None = None) -> np.ndarray:
    """An object array of exact rationals rounded once to `fmt` by `rule`, as an array of its
    dtype (a stochastic rule draws one number from `rng` per element); the flags raised are
    added to `flags`."""
    flat = values.reshape(-1)
    cache: dict = {}
    raised = set() if flags is None else flags
    draws = rng.random(flat.size) if rule.stochastic else None
    out = np.empty(flat.size, dtype=np.longdouble if fmt.dtype.itemsize > 8 else np.float64)
    for i, q in enumerate(flat):
        if draws is not None:
            r, f = rounded_rational(Fraction(q), fmt, rule, float(draws[i]))
        else:
            hit = cache.get(q)
            if hit is None:
                hit = cache[q] = rounded_rational(Fraction(q), fmt, rule)
            r, f = hit
        raised |= f
        if isinstance(r, float):
            out[i] = r
        else:
            out[i] = _to_wide(r, out.dtype)
            if r == 0 and Fraction(q) < 0:
                out[i] = -out[i]
    return to_storage(out.reshape(values.shape), fmt)


def _to_wide(r: Fraction, dtype):
    """A dyadic Fraction exactly as float64 or longdouble (it is a value of a narrower or equal
    format, so it fits)."""
    if dtype == np.float64:
        return float(r)
    return dyadic_longdouble(r.numerator, 1 - r.denominator.bit_length())


def dyadic_longdouble(man: int, exp: int) -> np.longdouble:
    """man * 2**exp exactly as a longdouble (a value of the format: at most 64 significant
    bits), without numpy's conversion of a large int, which rounds or fails."""
    if man == 0:
        return np.longdouble(0)
    zeros = (man & -man).bit_length() - 1
    man, exp = man >> zeros, exp + zeros
    high, low = divmod(abs(man), 1 << 32)  # < 2**64: two exact halves
    m = np.longdouble(high) * np.longdouble(1 << 32) + np.longdouble(low)
    m = np.ldexp(m, exp)
    return -m if man < 0 else m


def to_fraction(v) -> Fraction:
    """The exact Fraction of one finite format value (any numpy float scalar or float)."""
    if isinstance(v, np.longdouble) and v.dtype.itemsize > 8:
        return Fraction(*v.as_integer_ratio())
    return Fraction(float(v))




def ulp(x: mpmath.mpf, fmt: Format) -> mpmath.mpf:
    """The gap between consecutive format values at |x|: 2**(max(e, emin) - p + 1).

    For x = 0 (or anything below the smallest normal) it is the smallest subnormal.
    """
    if x == 0 or not mpmath.isfinite(x):
        e = fmt.min_exponent
    else:
        e = max(exponent(x), fmt.min_exponent)
    return mpmath.ldexp(mpmath.mpf(1), e - fmt.precision + 1)


def log10_of(v) -> float:
    """log10|v| of a format value, exactly converted first: finite for longdouble's limits too,
    whose float64 conversions are inf and 0."""
    return float(mpmath.log10(abs(to_mpf(v))))
