"""Arithmetic really done in a format, with its floating-point exceptions recorded.

numpy and ml_dtypes do not compute in the format by default (ml_dtypes ``@`` returns float32,
float16 ``@`` accumulates in float32, mixing with a Python float promotes). Cases therefore do
every operation through an `Arith`:

* elementwise operations return the correctly rounded result in the format, the same on
  every machine. + - * / and the other exact-or-IEEE operations (abs, negative, maximum):
  for the emulated formats (float16, bfloat16, float8) done in float64 and rounded once by
  `round_array` (float64 has at least 2p + 2 bits, so this equals the IEEE result: the
  double rounding is innocuous); for float32, float64 and longdouble numpy's native loops,
  which are IEEE operations. exp, log, log1p, expm1, tanh, erf and sqrt: by MPFR in the
  format (fpstudy.crmath), never by numpy's SIMD approximations, whose results depend on the
  CPU. With ``math="numpy"`` (config: ``[arith] math = "numpy"``) those functions are
  numpy's instead (the emulated formats: numpy's float64 function, rounded once), to measure
  what the platform's library does;
* sums, dot products and matrix-vector products accumulate in a fixed order (index 0, 1, ...).
  With ``accumulate=None`` (config: "format") every product and every partial sum is rounded
  to the format. With a wider format they are computed there and rounded once at the end, as
  numpy's float16 matmul and GPU tensor cores do;
* the exceptions raised (overflow, underflow, invalid, divide) are collected in `flags`. For
  native operations they come from the FPU through ``np.errstate``; a rounding to the format is
  judged from the values (overflow: finite in, non-finite out; underflow: tiny and inexact),
  because ml_dtypes raises no flags of its own. A format without infinity (float8_e4m3fn) turns
  overflow into NaN; that is still recorded as overflow, not invalid.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from . import crmath
from .exact import rational_array
from .formats import Format
from .rounding import (
    NEAREST,
    Rule,
    div_residual,
    div_residual_float,
    flush_operands,
    round_one,
    round_wide,
    to_storage,
    two_sum,
    two_sum_float,
)

MATHS = ("mpfr", "numpy")  # who evaluates exp, log, ...: MPFR (default) or the platform's numpy

FLAG_ORDER = ("overflow", "underflow", "invalid", "divide")
_FPU_BITS = {1: "divide", 2: "overflow", 4: "underflow", 8: "invalid"}


def round_array(x, fmt: Format, rule: Rule = NEAREST,
                rng: np.random.Generator | None = None) -> np.ndarray:
    """x (any real float array) rounded to `fmt` by `rule` (default: to nearest, ties to even,
    gradual underflow, overflow to inf).

    Conversions into the emulated formats are done here rather than by ``astype``: ml_dtypes
    converts float64 to bfloat16 through float32, which double-rounds (1 + 2**-8 + 2**-30 gives
    1 instead of 1 + 2**-7). The rounding itself is `fpstudy.rounding.round_wide`: the quantum
    (ulp) of each element is found from its exponent, clamped at the subnormal range, and the
    scaled value rounded to an integer exactly by the rule.
    """
    return round_with_flags(x, fmt, rule, rng)[0]


def round_with_flags(x, fmt: Format, rule: Rule = NEAREST, rng=None, residual=None):
    """(x + residual rounded to `fmt` by `rule` as an array of its dtype, the flags raised)."""
    x = np.asarray(x)
    if x.dtype.kind in "iu" and ((x > 2 ** 53) | (x < -2 ** 53)).any():
        x = x.astype(object)  # integers float64 cannot hold: rounded once, exactly, below
    if x.dtype == object:  # exact rationals (a config's decimals): rounded once, exactly
        flags: set = set()
        return rational_array(x, fmt, rule, rng, flags), flags
    if x.dtype.kind in "iub":
        x = x.astype(np.float64)
    if rule.is_default and residual is None and fmt.storage == "native" and (
            not fmt.emulated or x.dtype == fmt.dtype):
        with np.errstate(all="ignore"):
            r = x.astype(fmt.dtype)  # native conversions round correctly (hardware)
        return r, _conversion_flags(x, r, fmt)
    if x.dtype not in (np.float64, np.longdouble):
        x = x.astype(np.float64)  # exact for every format narrower than float64
    if rule.is_default and residual is None and fmt.storage == "native":
        if x.ndim == 0 and x.dtype == np.float64 and fmt.has_subnormals:  # one value: floats
            one = _round_one_nearest(float(x), fmt)
            if one is not None:
                return one
        # the common case, fast: to nearest, ties to even (np.round), in the binade's quantum;
        # a result past max is a multiple of the quantum past max, which astype turns into
        # inf (NaN without infinity) exactly as round_wide would
        with np.errstate(all="ignore"):
            _, e = np.frexp(x)
            quantum = np.maximum(e - 1, fmt.min_exponent) - (fmt.precision - 1)
            r = np.ldexp(np.round(np.ldexp(x, -quantum)), quantum)
            r = r.astype(np.float64).astype(fmt.dtype)
        return r, _conversion_flags(x, r, fmt)
    values, flags = round_wide(x, fmt, rule, rng, residual)
    return to_storage(values, fmt), flags


def _round_one_nearest(x: float, fmt: Format):
    """round_with_flags' fast path below for one finite float64 value whose rounding does
    not overflow, by `round_one`: (the format's numpy scalar, the flags), as that path
    returns them (its astype of a 0-d value gives a scalar); None otherwise."""
    one = round_one(x, 0.0, fmt, NEAREST, None)  # None: x not finite, or near float64's max
    if one is None or not math.isfinite(one[0]):
        return None  # an overflow: astype gives a format without inf a NaN of x's sign
    return np.float64(one[0]).astype(fmt.dtype), one[1]


def _conversion_flags(source: np.ndarray, rounded: np.ndarray, fmt: Format) -> set:
    """Flags of a rounding judged from the values: overflow (finite in, not finite out),
    underflow (tiny and inexact); ml_dtypes raises none of its own."""
    if source.ndim == 0 and source.dtype.itemsize <= 8:  # one value: Python floats, exactly
        s, r = float(source), float(rounded)
        if not math.isfinite(s):
            return set()
        if not math.isfinite(r):
            return {"overflow"}
        return {"underflow"} if r != s and abs(r) < float(fmt.smallest_normal) else set()
    flags = set()
    with np.errstate(all="ignore"):
        finite_in = np.isfinite(source)
        if (finite_in & ~np.isfinite(rounded)).any():
            flags.add("overflow")
        back = rounded.astype(source.dtype if source.dtype.itemsize >= 8 else np.float64)
        tiny = np.abs(back) < back.dtype.type(fmt.smallest_normal)
        if (finite_in & tiny & (back != source)).any():
            flags.add("underflow")
    return flags


def describe(math: str) -> dict:
    """What evaluated the elementary functions, for meta.json: MPFR's version, or numpy's
    version and the CPU features its SIMD loops were chosen by (the results depend on them)."""
    if math == "mpfr":
        import gmpy2
        return {"math": "mpfr", "correctly_rounded": True, "library": gmpy2.mpfr_version()}
    from numpy._core import _multiarray_umath as umath
    features = getattr(umath, "__cpu_features__", {})
    return {"math": "numpy", "correctly_rounded": False, "library": f"numpy {np.__version__}",
            "cpu_features": sorted(k for k, on in features.items() if on),
            "cpu_baseline": list(getattr(umath, "__cpu_baseline__", [])),
            "cpu_dispatch": list(getattr(umath, "__cpu_dispatch__", []))}


def flags_text(flags) -> str:
    """The flags in the fixed order, '|'-joined ('' for none)."""
    return "|".join(f for f in FLAG_ORDER if f in flags)


# operations whose float64 result is exact for operands of any format fpstudy computes in
_EXACT_UFUNCS = (np.negative, np.positive, np.absolute, np.maximum, np.minimum, np.copysign)
# the + - * / that MPFR does for float64 and longdouble under a non-default rule
_MPFR_UFUNCS = {np.add: "add", np.subtract: "sub", np.multiply: "mul", np.divide: "div"}
# + - * / of the emulated formats on arrays of at most _SMALL elements are done in Python
# floats (IEEE double, as numpy's float64 loops) and rounded element by element by
# `fpstudy.rounding.round_one`, which is what round_wide does for one value: a few
# microseconds an element instead of some forty numpy calls an operation
_PYTHON_OPS = {np.add: operator.add, np.subtract: operator.sub, np.multiply: operator.mul,
               np.divide: operator.truediv}
_SMALL = 16
# where a float64 result holds no FPU flag: finite, and zero or normal (and far from overflow)
_FLOAT64_NORMAL = 2.0 ** -1022
_FLOAT64_FAR = 2.0 ** 1000


def _floats(a: np.ndarray, shape: tuple) -> list:
    """The elements of `a` broadcast to `shape`, in C order, as Python floats (exact)."""
    if a.shape != shape:
        a = np.broadcast_to(a, shape)
    return a.astype(np.float64).ravel().tolist()


class Arith:
    """Operations in one format under one rounding rule; `flags` collects every exception.

    rule: how every result is rounded (fpstudy.rounding.Rule; IEEE's default when omitted);
    rng: the generator a stochastic rule draws from, one draw per element per operation.
    """

    def __init__(self, fmt: Format, accumulate: Format | None = None, flags: set | None = None,
                 math: str = "mpfr", rule: Rule = NEAREST,
                 rng: np.random.Generator | None = None):
        if accumulate is not None and not accumulate.wider_than(fmt):
            raise ValueError(f"{accumulate.name} is not wider than {fmt.name}")
        if math not in MATHS:
            raise ValueError(f"math must be one of {MATHS}, not {math!r}")
        if rule.stochastic and rng is None:
            raise ValueError("stochastic rounding needs rng, a numpy Generator")
        if not fmt.computable:
            raise ValueError(f"{fmt.name} cannot be computed in ({fmt.note})")
        self.fmt = fmt
        self.accumulate = accumulate
        self.math = math
        self.rule = rule
        self.rng = rng
        self.flags: set[str] = set() if flags is None else flags

    # -- conversions -------------------------------------------------------------------------

    def asarray(self, x) -> np.ndarray:
        """An input (float64, exact in a wider format, integers, or an object array of exact
        rationals) rounded once to the format by the rule, flags noted."""
        return self._round(np.asarray(x))

    def const(self, value: float) -> np.ndarray:
        """A constant in the format (a 0-d array), so no operand ever promotes."""
        return self.asarray(np.float64(value))

    def _round(self, exact, residual=None) -> np.ndarray:
        r, flags = round_with_flags(exact, self.fmt, self.rule, self.rng, residual)
        self.flags.update(flags)
        return r

    def _fpu(self, kind: str, bits: int) -> None:
        for bit, name in _FPU_BITS.items():
            if bits & bit:
                self.flags.add(name)

    def _check(self, arrays) -> None:
        for a in arrays:
            if a.dtype != self.fmt.dtype:
                raise TypeError(
                    f"operand of dtype {a.dtype} in a {self.fmt.name} computation; "
                    "convert inputs with asarray/const first"
                )

    @property
    def _float64_exact(self) -> bool:
        """Whether float64 plus an error term holds the exact result of + - * / here: operands
        of at most 26 bits in float64's exponent range (every format but float64, longdouble)."""
        return self.fmt.precision <= 26 and self.fmt.dtype.itemsize <= 8

    # -- elementwise ----------------------------------------------------------------------------

    def apply(self, ufunc, *args) -> np.ndarray:
        """ufunc(*args), correctly rounded to the format by the rule (args must already be in
        the format)."""
        arrays = [np.asarray(a) for a in args]
        self._check(arrays)
        if self.math == "mpfr" and ufunc in crmath.UFUNCS:
            return self.function(crmath.UFUNCS[ufunc], arrays[0])
        if self.rule.flush or not self.fmt.has_subnormals:
            arrays = flush_operands(arrays, self.fmt)  # denormals-are-zero
        default = self.rule.is_default and self.fmt.storage == "native"
        if ufunc in _PYTHON_OPS and (self.fmt.emulated if default else self._float64_exact):
            small = self._apply_small(ufunc, arrays, residual=not default)
            if small is not None:
                return small
        if default or (not self.fmt.emulated and ufunc in _EXACT_UFUNCS):
            if not self.fmt.emulated:
                with np.errstate(all="call", call=self._fpu):
                    r = ufunc(*arrays)
                if r.dtype != self.fmt.dtype:  # a ufunc loop that widened: never pass silently
                    raise TypeError(f"{ufunc.__name__} returned {r.dtype} for {self.fmt.name}")
                return r
            wide = [a.astype(np.float64) for a in arrays]
            with np.errstate(all="call", call=self._fpu):
                exact = ufunc(*wide)
            return self._round(exact)  # float64 has 2p + 2 bits: innocuous double rounding
        if self._float64_exact:
            wide = [a.astype(np.float64) for a in arrays]
            with np.errstate(all="call", call=self._fpu):
                value = ufunc(*wide)
            with np.errstate(all="ignore"):
                residual = None
                if ufunc in (np.add, np.subtract):
                    value, residual = two_sum(wide[0], wide[1] if ufunc is np.add else -wide[1])
                elif ufunc is np.divide:
                    residual = div_residual(wide[0], wide[1], value)
                # a product of two <= 26-bit numbers is exact in float64; exp & co. under
                # math = "numpy" are the float64 function's value, rounded by the rule
            return self._round(value, residual)
        if ufunc in _MPFR_UFUNCS:  # float64, longdouble: MPFR rounds by the rule
            result, flags = crmath.evaluate(_MPFR_UFUNCS[ufunc], arrays, self.fmt, self.rule,
                                            self.rng)
            self.flags.update(flags)
            return result
        raise NotImplementedError(
            f"{ufunc.__name__} in {self.fmt.name} under rounding rule {self.rule}")

    def _apply_small(self, ufunc, arrays, residual: bool):
        """ufunc(a, b) rounded by the rule, in Python floats element by element, as the array
        path below computes it: the float64 value, with (residual=True) the error term of +, -
        or / (two_sum, div_residual), rounded once by `round_one`. None where the arrays are
        larger than _SMALL, or where the float64 operation could raise a flag (an operand
        not finite, a zero divisor, a result neither zero nor normal): the array path decides
        those, and nothing (no draw, no flag) has been taken yet."""
        a, b = arrays
        shape = a.shape if a.shape == b.shape else np.broadcast_shapes(a.shape, b.shape)
        if math.prod(shape) > _SMALL:
            return None
        xs, ys = _floats(a, shape), _floats(b, shape)
        op, isfinite = _PYTHON_OPS[ufunc], math.isfinite
        exact = []
        for x, y in zip(xs, ys, strict=True):
            if not (isfinite(x) and isfinite(y)) or (y == 0 and ufunc is np.divide):
                return None
            value = op(x, y)
            if value != 0 and not _FLOAT64_NORMAL <= abs(value) < _FLOAT64_FAR:
                return None
            if not residual or ufunc is np.multiply:  # a product is exact in float64
                exact.append((value, 0.0))
            elif ufunc is np.divide:
                exact.append((value, div_residual_float(x, y, value)))
            else:
                exact.append(two_sum_float(x, y if ufunc is np.add else -y))
        fmt, rule, rng = self.fmt, self.rule, self.rng
        out, flags = [], set()
        for value, error in exact:
            rounded, more = round_one(value, error, fmt, rule, rng)  # never None here
            if not residual and not isfinite(rounded):
                # an overflow under the default rule: round_with_flags' astype gives a format
                # without inf a NaN of the result's sign, to_storage a positive one
                return None  # (no draws under this rule: nothing taken yet)
            out.append(rounded)
            flags |= more
        self.flags.update(flags)
        result = to_storage(np.array(out, dtype=np.float64).reshape(shape), fmt)
        # the array path's type: numpy's scalar of the format for a 0-d result rounded by
        # round_with_flags' fast path (IEEE's default rule), else an array
        return result[()] if not residual and not shape else result

    def call(self, func, *args, **kwargs):
        """func(*args) for code fpstudy does not control (scipy, a user's function): run as is,
        its floating-point exceptions collected, its result returned unchanged. The caller
        records what dtype came back; nothing here rounds or converts it."""
        with np.errstate(all="call", call=self._fpu):
            return func(*args, **kwargs)

    def add(self, a, b):
        return self.apply(np.add, a, b)

    def sub(self, a, b):
        return self.apply(np.subtract, a, b)

    def mul(self, a, b):
        return self.apply(np.multiply, a, b)

    def div(self, a, b):
        return self.apply(np.divide, a, b)

    def function(self, name: str, a) -> np.ndarray:
        """The elementary function `name` (a key of crmath.FUNCTIONS), correctly rounded in
        the format by MPFR under the rule, or numpy's where math="numpy"."""
        a = np.asarray(a)
        self._check([a])
        if self.math == "numpy":
            if name == "erf":
                return self._numpy_erf(a)
            return self.apply(getattr(np, name), a)
        if self.rule.flush or not self.fmt.has_subnormals:
            (a,) = flush_operands([a], self.fmt)
        result, flags = crmath.evaluate(name, a, self.fmt, self.rule, self.rng)
        self.flags.update(flags)
        return result

    def _numpy_erf(self, a):
        # numpy has no erf: the C library's, on float64 (longdouble's through float64)
        import math
        wide = a.astype(np.float64)
        with np.errstate(all="call", call=self._fpu):
            exact = np.vectorize(math.erf, otypes=[np.float64])(wide)
        return self._round_from(exact)

    def exp(self, a):
        return self.function("exp", a)

    def log(self, a):
        return self.function("log", a)

    def log1p(self, a):
        return self.function("log1p", a)

    def expm1(self, a):
        return self.function("expm1", a)

    def tanh(self, a):
        return self.function("tanh", a)

    def erf(self, a):
        return self.function("erf", a)

    def sqrt(self, a):
        return self.function("sqrt", a)

    # -- accumulation ---------------------------------------------------------------------------

    def _wide(self) -> Arith:
        """The accumulator's arithmetic: same rule, same generator, same flags."""
        return Arith(self.accumulate, None, self.flags, self.math, self.rule, self.rng)

    def sum(self, x, axis: int = -1) -> np.ndarray:
        """Sum along `axis`, left to right, rounding as the accumulation policy says."""
        x = np.asarray(x)
        self._check([x])
        if self.accumulate is not None:
            wide = self._wide()
            return self._round_from(wide.sum(wide.asarray(x), axis))
        if x.shape[axis] == 0:
            return np.zeros(np.delete(x.shape, axis % x.ndim), self.fmt.dtype)
        if not self.rule.is_default or self.fmt.storage != "native":
            # one rounded addition per term, by the rule (ml_dtypes' loops round to nearest)
            terms = np.moveaxis(x, axis, -1)
            partial = terms[..., 0]
            if self.rule.flush or not self.fmt.has_subnormals:
                (partial,) = flush_operands([partial], self.fmt)
            for k in range(1, terms.shape[-1]):
                partial = self.add(partial, terms[..., k])
            return partial
        if not self.fmt.emulated:
            with np.errstate(all="call", call=self._fpu):
                return np.add.accumulate(x, axis=axis, dtype=self.fmt.dtype).take(-1, axis=axis)
        if x.size <= _SMALL and self.fmt.has_subnormals:
            small = self._sum_small(x, axis)
            if small is not None:
                return small
        # numpy's float16 loop and ml_dtypes' loops add in float32 and round each partial sum
        # to the format: IEEE addition in the format (24 >= 2p + 2). They raise no flags, so
        # the flags are read off the partial sums. A tiny sum is always exact: no underflow.
        with np.errstate(all="ignore"):  # ml_dtypes' isnan of a NaN can itself warn
            partial = np.add.accumulate(x, axis=axis, dtype=self.fmt.dtype)
            before = np.moveaxis(partial, axis, -1)[..., :-1].astype(np.float64)
            term = np.moveaxis(x, axis, -1)[..., 1:].astype(np.float64)
            after = np.moveaxis(partial, axis, -1)[..., 1:].astype(np.float64)
            inputs_finite = np.isfinite(before) & np.isfinite(term)
            overflowed = inputs_finite & ~np.isfinite(after)
            invalid = ~np.isnan(before) & ~np.isnan(term) & np.isnan(after) & ~overflowed
        if overflowed.any():
            self.flags.add("overflow")
        if invalid.any():
            self.flags.add("invalid")
        return partial.take(-1, axis=axis)

    def _sum_small(self, x: np.ndarray, axis: int):
        """The sum below (IEEE addition in the format, left to right) in Python floats: each
        partial sum is the float64 sum rounded to nearest by `round_one`, which equals the
        format's IEEE sum (float64 has 2p + 2 bits). None where an element or a partial sum
        is not finite: the array path decides those (no flag has been taken)."""
        terms = np.moveaxis(x, axis, -1)
        n = terms.shape[-1]
        flat = terms.astype(np.float64).ravel().tolist()
        fmt, sums, flags = self.fmt, [], set()
        for start in range(0, len(flat), n):
            partial = flat[start]
            if not math.isfinite(partial):
                return None
            for term in flat[start + 1:start + n]:
                if not math.isfinite(term):
                    return None
                partial, more = round_one(partial + term, 0.0, fmt, NEAREST, None)
                if not math.isfinite(partial):
                    return None
                flags |= more  # none: a tiny sum is exact, and an overflow is not finite
            sums.append(partial)
        self.flags.update(flags)
        result = to_storage(np.array(sums, dtype=np.float64).reshape(terms.shape[:-1]), fmt)
        return result[()] if result.ndim == 0 else result  # as take(-1) returns it

    def dot(self, a, b) -> np.ndarray:
        """sum_j a_j b_j in a fixed order, products and sums rounded by the policy."""
        return self._accumulated(lambda ar, a, b: ar.sum(ar.mul(a, b), axis=-1), a, b)

    def matvec(self, A, x) -> np.ndarray:
        """A @ x row by row: y_i = sum_j A_ij x_j, j = 0, 1, ..., rounded by the policy."""
        x = np.asarray(x)
        return self._accumulated(
            lambda ar, A, x: ar.sum(ar.mul(A, x[..., None, :]), axis=-1), A, x)

    def _accumulated(self, kernel, *args):
        arrays = [np.asarray(a) for a in args]
        self._check(arrays)
        if self.accumulate is None:
            return kernel(self, *arrays)
        wide = self._wide()
        return self._round_from(kernel(wide, *(wide.asarray(a) for a in arrays)))

    def _round_from(self, wide_result: np.ndarray) -> np.ndarray:
        return self._round(wide_result)
