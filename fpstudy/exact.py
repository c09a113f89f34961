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
    f = float(x)  # exact for every format up to float64
    if f != f or f in (np.inf, -np.inf):
        return MPF_NAN if f != f else (MPF_INF if f > 0 else -MPF_INF)
    return _make_mpf(libmp.from_float(f, 53, "n"))


def to_mpf_list(arr) -> list:
    """The exact mpf of every element of a format array, as a flat list."""
    arr = np.asarray(arr)
    if arr.dtype.itemsize > 8 and arr.dtype.kind == "f":
        return [to_mpf(v) for v in arr.ravel()]
    from_float = libmp.from_float
    out = []
    for f in arr.astype(np.float64).ravel().tolist():
        if f != f or f in (np.inf, -np.inf):
            out.append(MPF_NAN if f != f else (MPF_INF if f > 0 else -MPF_INF))
        else:
            out.append(_make_mpf(from_float(f, 53, "n")))
    return out


def to_mpf_array(arr) -> np.ndarray:
    """The exact mpf of every element, as an object array of the same shape."""
    arr = np.asarray(arr)
    out = np.empty(arr.shape, dtype=object)
    out.ravel()[:] = to_mpf_list(arr) if arr.size else []
    return out


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
    if value > _fraction(fmt.max):
        return -np.inf if sign else np.inf
    return -value if sign else value


def _fraction(v) -> Fraction:
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
