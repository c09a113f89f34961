"""Correctly rounded elementwise functions in any format, by MPFR (through gmpy2).

numpy's exp and log are SIMD approximations chosen by the CPU's features: float32 exp is not
correctly rounded on about a third of its arguments, and the same call returns different
values on different machines. Here every function is evaluated by MPFR, which guarantees the
correctly rounded result, directly in the format: the format's precision, its exponent range
and gradual underflow (MPFR's ``subnormalize``), rounded to nearest with ties to even. So a
result is the same on every machine, and the error measured is the format's, not a library's.

The exponent range is one binade wider than the format's at the top, so a result beyond the
format's max shows as a finite number above max (or inf) and is then turned into the format's
overflow: inf, or NaN in a format without infinity. That also handles formats whose max is
below the top of their last binade (float8_e4m3fn: 448, where 464 rounds down to it).

Each distinct argument (by bit pattern, so -0.0 and 0.0 stay apart) is evaluated once.
"""

from __future__ import annotations

from functools import cache

import gmpy2
import numpy as np

from .exact import dyadic_longdouble
from .formats import Format

FUNCTIONS = {
    "exp": gmpy2.exp,
    "log": gmpy2.log,
    "log1p": gmpy2.log1p,
    "expm1": gmpy2.expm1,
    "tanh": gmpy2.tanh,
    "erf": gmpy2.erf,
    "sqrt": gmpy2.sqrt,
}
# numpy ufuncs that `Arith.apply` sends here
UFUNCS = {np.exp: "exp", np.log: "log", np.log1p: "log1p", np.expm1: "expm1",
          np.tanh: "tanh", np.sqrt: "sqrt"}


@cache
def _context(fmt: Format) -> gmpy2.context:
    """MPFR's view of `fmt`: p bits, smallest subnormal 2**(emin_ieee - p + 1) (MPFR counts
    exponents for mantissas in [1/2, 1): its emin is emin_ieee - p + 2), one spare binade."""
    return gmpy2.context(
        precision=fmt.precision,
        emin=fmt.min_exponent - fmt.precision + 2,
        emax=fmt.max_exponent + 1,
        subnormalize=True,
        round=gmpy2.RoundToNearest,
    )


@cache
def _limits(fmt: Format):
    """(max, smallest normal) as exact mpfr numbers."""
    return _exact_mpfr(fmt.max), _exact_mpfr(fmt.smallest_normal)


def evaluate(name: str, x: np.ndarray, fmt: Format) -> tuple[np.ndarray, set[str]]:
    """f(x) correctly rounded in `fmt` for every element, and the IEEE flags it raised.

    x must already hold values of the format (any dtype that holds them exactly).

    >>> from fpstudy.formats import FORMATS
    >>> r, flags = evaluate("exp", np.array([-77.27997589111328], np.float32), FORMATS["float32"])
    >>> print(r[0], sorted(flags))          # numpy's SIMD exp gives 2.7398882e-34 here
    2.7398886e-34 []
    >>> evaluate("log", np.array([0.0], np.float16), FORMATS["float16"])[1]
    {'divide'}
    """
    func = FUNCTIONS[name]
    x = np.asarray(x)
    wide = x.astype(np.longdouble if fmt.dtype.itemsize > 8 else np.float64)
    flat = wide.reshape(-1)
    bits = flat.view(np.uint8).reshape(flat.size, -1) if flat.size else flat
    _, first, inverse = np.unique(bits, axis=0, return_index=True, return_inverse=True) \
        if flat.size else (None, np.zeros(0, int), np.zeros(0, int))
    ctx = _context(fmt)
    big, smallest_normal = _limits(fmt)
    flags: set[str] = set()
    results = []
    with gmpy2.context(ctx) as ctx_now:  # a copy: its flags are this call's alone
        for v in flat[first]:
            arg = _exact_mpfr(v)
            ctx_now.clear_flags()
            r = func(arg)
            inexact, invalid, divzero = ctx_now.inexact, ctx_now.invalid, ctx_now.divzero
            if gmpy2.is_nan(r):
                if not gmpy2.is_nan(arg):
                    flags.add("invalid")
            elif gmpy2.is_infinite(r) or abs(r) > big:
                if divzero:
                    flags.add("divide")
                elif gmpy2.is_finite(arg):
                    flags.add("overflow")
                if not gmpy2.is_infinite(r):
                    r = gmpy2.inf(1 if r > 0 else -1)
                if not fmt.has_inf:
                    r = gmpy2.nan()
            elif abs(r) < smallest_normal and inexact:
                flags.add("underflow")
            if invalid and not gmpy2.is_nan(r):
                flags.add("invalid")
            results.append(r)
    out = _to_format(results, fmt)[np.asarray(inverse).reshape(-1)]
    return out.reshape(x.shape), flags


def _exact_mpfr(v) -> gmpy2.mpfr:
    """A float (or longdouble) as an mpfr with no rounding."""
    if isinstance(v, np.longdouble) and v.dtype.itemsize > 8:
        if not np.isfinite(v) or v == 0:
            return gmpy2.mpfr(float(v))  # inf, NaN and signed zeros convert exactly
        num, den = v.as_integer_ratio()
        return gmpy2.mpfr(gmpy2.mpq(num, den), 64)
    return gmpy2.mpfr(float(v), 53)


def _to_format(results: list, fmt: Format) -> np.ndarray:
    """Values of the format (held exactly by mpfr) as an array of the format's dtype."""
    if fmt.dtype.itemsize > 8:
        out = np.empty(len(results), dtype=np.longdouble)
        for i, r in enumerate(results):
            if gmpy2.is_finite(r) and r != 0:
                man, exp = r.as_mantissa_exp()
                out[i] = dyadic_longdouble(int(man), int(exp))
            else:
                out[i] = np.longdouble(float(r))  # 0, -0, inf, NaN
        return out
    return np.array([float(r) for r in results], dtype=np.float64).astype(fmt.dtype)
