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
from .rounding import NEAREST, Rule, overflow_to_max, to_storage

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
BINARY = {"add": gmpy2.add, "sub": gmpy2.sub, "mul": gmpy2.mul, "div": gmpy2.div}
_ALL = {**FUNCTIONS, **BINARY}
UFUNCS = {np.exp: "exp", np.log: "log", np.log1p: "log1p", np.expm1: "expm1",
          np.tanh: "tanh", np.sqrt: "sqrt"}


_MODES = {"nearest_even": gmpy2.RoundToNearest, "toward_zero": gmpy2.RoundToZero,
          "upward": gmpy2.RoundUp, "downward": gmpy2.RoundDown}
_LONGDOUBLE_TOP = gmpy2.mpfr(2) ** 16384
_FINE_BITS = 64  # extra bits for the position between two neighbours (stochastic rounding)


@cache
def _context(fmt: Format, rounding: str = "nearest_even") -> gmpy2.context:
    """MPFR's view of `fmt`: p bits, smallest subnormal 2**(emin_ieee - p + 1) (MPFR counts
    exponents for mantissas in [1/2, 1): its emin is emin_ieee - p + 2), one spare binade,
    rounding in the given direction."""
    return gmpy2.context(
        precision=fmt.precision,
        emin=fmt.min_exponent - fmt.precision + 2,
        emax=fmt.max_exponent + 1,
        subnormalize=True,
        round=_MODES[rounding],
    )


@cache
def _fine_context(fmt: Format) -> gmpy2.context:
    """Enough precision and range to place a result between its two neighbours in `fmt`."""
    return gmpy2.context(precision=fmt.precision + _FINE_BITS, emin=-(1 << 30), emax=1 << 30,
                         round=gmpy2.RoundToNearest)


@cache
def _limits(fmt: Format):
    """(max, smallest normal) as exact mpfr numbers."""
    return _exact_mpfr(fmt.max), _exact_mpfr(fmt.smallest_normal)


def evaluate(name: str, x, fmt: Format, rule: Rule = NEAREST,
             rng: np.random.Generator | None = None) -> tuple[np.ndarray, set[str]]:
    """f(x) correctly rounded in `fmt` by `rule` for every element, and the IEEE flags raised.

    x must already hold values of the format (any dtype that holds them exactly); for the
    binary operations (add, sub, mul, div) x is a pair of arrays. Nearest and the directed
    roundings are MPFR's own; stochastic rounding takes both directed roundings and places the
    result between them from a value 64 bits finer, then draws once per element from `rng`.
    flush turns a result below the smallest normal into a zero of its sign; a result beyond
    max becomes +-inf or +-max as the rule says (NaN in a format without infinity).

    >>> from fpstudy.formats import FORMATS
    >>> r, flags = evaluate("exp", np.array([-77.27997589111328], np.float32), FORMATS["float32"])
    >>> print(r[0], sorted(flags))          # numpy's SIMD exp gives 2.7398882e-34 here
    2.7398886e-34 []
    >>> evaluate("log", np.array([0.0], np.float16), FORMATS["float16"])[1]
    {'divide'}
    >>> evaluate("exp", np.array([0.0], np.float16), FORMATS["float16"], Rule("downward"))[0]
    array([1.], dtype=float16)
    """
    if name not in _ALL:
        raise KeyError(name)
    operands = [np.asarray(a) for a in x] if name in BINARY else [np.asarray(x)]
    shape = np.broadcast_shapes(*(a.shape for a in operands))
    wide_type = np.longdouble if fmt.dtype.itemsize > 8 else np.float64
    cols = [np.broadcast_to(a, shape).astype(wide_type).reshape(-1) for a in operands]
    size = cols[0].size
    if size == 1:  # a scalar (a grid point's z): nothing to deduplicate
        first, inverse = np.zeros(1, int), np.zeros(1, int)
    elif size and len(cols) == 1 and wide_type is np.float64:  # by bit pattern, fast
        _, first, inverse = np.unique(cols[0].view(np.uint64), return_index=True,
                                      return_inverse=True)
    elif size:
        bits = np.concatenate([c.view(np.uint8).reshape(size, -1) for c in cols], axis=1)
        _, first, inverse = np.unique(bits, axis=0, return_index=True, return_inverse=True)
    else:
        first, inverse = np.zeros(0, int), np.zeros(0, int)
    inverse = np.asarray(inverse).reshape(-1)
    stochastic = rule.stochastic
    flags: set[str] = set()
    mode = "stochastic" if stochastic else rule.rounding
    if wide_type is np.float64:  # Python floats: exact, and remembered by their bits
        keys = cols[0][first].view(np.uint64).tolist() if len(cols) == 1 else list(
            zip(*(c[first].view(np.uint64).tolist() for c in cols), strict=True))
        results = _memo_results(name, fmt, mode, keys, [c[first].tolist() for c in cols])
    else:
        operand_lists = [[_exact_mpfr(v) for v in c[first]] for c in cols]
        results = _results(name, fmt, mode, zip(*operand_lists, strict=True))
    low_l, high_l, position, codes = list(zip(*results, strict=True)) or [(), (), (), ()]
    if wide_type is np.float64:
        low, high = np.array(low_l, dtype=np.float64), np.array(high_l, dtype=np.float64)
    else:
        low, high = _to_wide(low_l, wide_type), _to_wide(high_l, wide_type)
    codes = np.array(codes, dtype=np.int8)
    if (codes & _INVALID).any():
        flags.add("invalid")
    if (codes & _DIVIDE).any():
        flags.add("divide")
    special = (codes & _SPECIAL) != 0
    inexacts = (codes & _INEXACT) != 0
    low_v = low[inverse]
    high_v = high[inverse]
    if stochastic:
        draws = rng.random(size)
        away = draws < np.asarray(position, dtype=np.float64)[inverse]  # from 0, by magnitude
        negative = (low_v < 0) | ((low_v == 0) & (high_v == 0) & np.signbit(low_v))
        values = np.where(away != negative, high_v, low_v)
    else:
        values = low_v
    special_v = special[inverse]
    inexact_v = inexacts[inverse]
    values, more = _finish(values, special_v, inexact_v, fmt, rule)
    flags.update(more)
    return to_storage(values.reshape(shape), fmt), flags


# What is known of one argument's result: bits of a code, beside the values
_SPECIAL, _INEXACT, _INVALID, _DIVIDE = 1, 2, 4, 8
# MPFR's results in float64 by the arguments' bits, per (function, format, rounding): an
# element's result depends on nothing else (a stochastic rule draws afterwards, from the
# positions), so a process evaluates each argument once. A table is emptied when it holds
# _MEMO_LIMIT results (about 200 bytes each).
_MEMO: dict = {}
_MEMO_LIMIT = 1 << 17
_FLOAT_CONTEXT = gmpy2.context(precision=53, round=gmpy2.RoundToNearest)  # exponents: MPFR's


def _memo_results(name: str, fmt: Format, mode: str, keys: list, operands: list) -> list:
    """[(low, high, position, code)] for each argument tuple (operands: a list of Python
    floats per operand; keys: the arguments' bits), from the memo or evaluated and kept."""
    table = _MEMO.setdefault((name, fmt, mode), {})
    results = [table.get(k) for k in keys]
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        exact = _FLOAT_CONTEXT.plus  # a float as an mpfr, exactly (what mpfr(v, 53) gives)
        args = zip(*([exact(c[i]) for i in missing] for c in operands), strict=True)
        fresh = _results(name, fmt, mode, args)
        if len(table) + len(missing) > _MEMO_LIMIT:
            table.clear()
        for i, (lo, hi, where, code) in zip(missing, fresh, strict=True):
            results[i] = table[keys[i]] = (float(lo), float(hi), where, code)
    return results


def _results(name: str, fmt: Format, mode: str, arguments) -> list:
    """[(low, high, position, code)] for each tuple of exact mpfr arguments: low the result
    rounded by the mode (downward for "stochastic") in the format's extended range, high the
    result rounded upward and position where f lies between them (stochastic and inexact
    only; else high is low and position 0), code the _SPECIAL, _INEXACT, _INVALID, _DIVIDE
    bits. A special result (NaN, an exact infinity) passes through `_finish` unchanged."""
    stochastic = mode == "stochastic"
    # private copies, their flags cleared before each call
    ctx = gmpy2.context(_context(fmt, "downward" if stochastic else mode))
    func, clear = getattr(ctx, name), ctx.clear_flags
    out = []
    for args in arguments:
        clear()
        r = func(*args)
        code = _INVALID if ctx.invalid and not gmpy2.is_nan(r) else 0
        if gmpy2.is_nan(r):
            if not any(gmpy2.is_nan(a) for a in args):
                code |= _INVALID
        elif gmpy2.is_infinite(r) and (ctx.divzero
                                       or not all(gmpy2.is_finite(a) for a in args)):
            if ctx.divzero:
                code |= _DIVIDE
            r = r if fmt.has_inf else gmpy2.nan()  # an exact infinity, not an overflow
        else:
            hi, where = r, 0.0
            if ctx.inexact:
                code |= _INEXACT
                if stochastic:
                    hi, where = _position(name, args, r, fmt)
            out.append((r, hi, where, code))
            continue
        out.append((r, r, 0.0, code | _SPECIAL))
    return out


def _position(name: str, args, low, fmt: Format) -> tuple:
    """(high, position) of an inexact result under stochastic rounding: f(args) rounded
    upward, and where f lies between low (rounded downward) and high."""
    func = _ALL[name]
    with gmpy2.context(_context(fmt, "upward")):
        hi = func(*args)
    with gmpy2.context(_fine_context(fmt)):
        fine = func(*args)
        # the position between the neighbours by magnitude, as round_wide measures it (so a
        # draw means the same on every path): from the one nearer 0 towards the one farther
        if not (gmpy2.is_finite(hi) and gmpy2.is_finite(low)):
            return hi, 1.0
        if fine > 0:
            return hi, float((fine - low) / (hi - low))
        return hi, float((hi - fine) / (hi - low))


def _finish(values, special, inexact, fmt: Format, rule: Rule):
    """Apply the rule's overflow and subnormal handling to results rounded in the extended
    range (exact infinities and NaN, `special`, pass through); the flags it implies."""
    wide = values.dtype.type
    flags = set()
    with np.errstate(all="ignore"):
        magnitude = np.abs(values)
        beyond = ~special & (magnitude > wide(fmt.max))
        tiny = ~special & (magnitude < wide(fmt.smallest_normal))
        negative = np.signbit(values)
        if beyond.any():
            flags.add("overflow")
            clamp = overflow_to_max(negative, rule) | (not fmt.has_inf and not fmt.has_nan)
            values = np.where(beyond, np.where(clamp, wide(fmt.max), wide(np.inf)), values)
            values = np.where(negative & beyond, -np.abs(values), values)
        if (tiny & inexact).any():
            flags.add("underflow")
        if tiny.any() and (rule.flush or not fmt.has_subnormals):
            if (tiny & (values != 0)).any():
                flags.add("underflow")
            values = np.where(tiny, np.copysign(wide(0), values), values)
    return values, flags


def _exact_mpfr(v) -> gmpy2.mpfr:
    """A float (or longdouble) as an mpfr with no rounding."""
    if isinstance(v, np.longdouble) and v.dtype.itemsize > 8:
        if not np.isfinite(v) or v == 0:
            return gmpy2.mpfr(float(v))  # inf, NaN and signed zeros convert exactly
        num, den = v.as_integer_ratio()
        return gmpy2.mpfr(gmpy2.mpq(num, den), 64)
    return gmpy2.mpfr(float(v), 53)


def _to_wide(results: list, wide_type) -> np.ndarray:
    """Numbers held exactly by mpfr (values of the format, or beyond its max) as float64 or
    longdouble (inf past their range)."""
    if wide_type is np.longdouble and np.dtype(np.longdouble).itemsize > 8:
        out = np.empty(len(results), dtype=np.longdouble)
        for i, r in enumerate(results):
            if gmpy2.is_finite(r) and r != 0 and abs(r) < _LONGDOUBLE_TOP:
                man, exp = r.as_mantissa_exp()
                out[i] = dyadic_longdouble(int(man), int(exp))
            else:
                big = gmpy2.is_finite(r) and abs(r) >= _LONGDOUBLE_TOP
                out[i] = np.longdouble(float(gmpy2.copy_sign(gmpy2.inf(), r) if big else r))
        return out
    with np.errstate(over="ignore"):
        return np.array([float(r) for r in results], dtype=np.float64)
