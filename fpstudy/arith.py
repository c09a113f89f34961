"""Arithmetic really done in a format, with its floating-point exceptions recorded.

numpy and ml_dtypes do not compute in the format by default (ml_dtypes ``@`` returns float32,
float16 ``@`` accumulates in float32, mixing with a Python float promotes). Cases therefore do
every operation through an `Arith`:

* elementwise operations return the correctly rounded result in the format. For the emulated
  formats (float16, bfloat16, float8) the operation is done in float64 and rounded once by
  `round_array`; float64 has at least 2p + 2 bits, so this equals the IEEE result for
  + - * / sqrt (the double rounding is innocuous). float32, float64 and longdouble use numpy's
  native loops;
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

import numpy as np

from .formats import Format

FLAG_ORDER = ("overflow", "underflow", "invalid", "divide")
_FPU_BITS = {1: "divide", 2: "overflow", 4: "underflow", 8: "invalid"}


def round_array(x, fmt: Format) -> np.ndarray:
    """x (any real float array) rounded to `fmt`, to nearest with ties to even.

    Conversions into the emulated formats are done here rather than by ``astype``: ml_dtypes
    converts float64 to bfloat16 through float32, which double-rounds (1 + 2**-8 + 2**-30 gives
    1 instead of 1 + 2**-7). The quantum (ulp) of each element is found from its exponent,
    clamped at the subnormal range; the scaled value is rounded to an integer exactly, so the
    result is representable, or beyond max, where the cast gives inf (NaN without infinity).
    """
    x = np.asarray(x)
    if not fmt.emulated:
        return x.astype(fmt.dtype)  # native conversions round correctly (hardware)
    if x.dtype not in (np.float64, np.longdouble):
        x = x.astype(np.float64)  # exact for every format narrower than float64
    with np.errstate(all="ignore"):
        _, e = np.frexp(x)
        quantum = np.maximum(e - 1, fmt.min_exponent) - (fmt.precision - 1)
        r = np.ldexp(np.round(np.ldexp(x, -quantum)), quantum)
        return r.astype(np.float64).astype(fmt.dtype)


def flags_text(flags) -> str:
    """The flags in the fixed order, '|'-joined ('' for none)."""
    return "|".join(f for f in FLAG_ORDER if f in flags)


class Arith:
    """Operations in one format; `flags` collects every exception raised so far."""

    def __init__(self, fmt: Format, accumulate: Format | None = None, flags: set | None = None):
        if accumulate is not None and not accumulate.wider_than(fmt):
            raise ValueError(f"{accumulate.name} is not wider than {fmt.name}")
        self.fmt = fmt
        self.accumulate = accumulate
        self.flags: set[str] = set() if flags is None else flags
        wide = np.longdouble if fmt.dtype.itemsize > 8 else np.float64
        self._smallest_normal = wide(fmt.smallest_normal)

    # -- conversions -------------------------------------------------------------------------

    def asarray(self, x) -> np.ndarray:
        """An input (float64 or exact in a wider format) rounded to the format, flags noted."""
        x = np.asarray(x)
        if x.dtype.kind in "iub":
            x = x.astype(np.float64)
        r = round_array(x, self.fmt)
        self._rounding_flags(x, r)
        return r

    def const(self, value: float) -> np.ndarray:
        """A constant in the format (a 0-d array), so no operand ever promotes."""
        return self.asarray(np.float64(value))

    def _rounding_flags(self, source: np.ndarray, rounded: np.ndarray) -> None:
        with np.errstate(all="ignore"):
            finite_in = np.isfinite(source)
            if np.any(finite_in & ~np.isfinite(rounded)):
                self.flags.add("overflow")
            back = rounded.astype(source.dtype if source.dtype.itemsize >= 8 else np.float64)
            tiny = np.abs(back) < self._smallest_normal
            if np.any(finite_in & tiny & (back != source)):
                self.flags.add("underflow")

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

    # -- elementwise ----------------------------------------------------------------------------

    def apply(self, ufunc, *args) -> np.ndarray:
        """ufunc(*args), correctly rounded to the format (args must already be in it)."""
        arrays = [np.asarray(a) for a in args]
        self._check(arrays)
        if self.fmt.emulated:
            wide = [a.astype(np.float64) for a in arrays]
            with np.errstate(all="call", call=self._fpu):
                exact = ufunc(*wide)
            r = round_array(exact, self.fmt)
            self._rounding_flags(exact, r)
            return r
        with np.errstate(all="call", call=self._fpu):
            r = ufunc(*arrays)
        if r.dtype != self.fmt.dtype:  # a ufunc loop that widened: never let it pass silently
            raise TypeError(f"{ufunc.__name__} returned {r.dtype} for {self.fmt.name}")
        return r

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

    def exp(self, a):
        return self.apply(np.exp, a)

    def log(self, a):
        return self.apply(np.log, a)

    # -- accumulation ---------------------------------------------------------------------------

    def sum(self, x, axis: int = -1) -> np.ndarray:
        """Sum along `axis`, left to right, rounding as the accumulation policy says."""
        x = np.asarray(x)
        self._check([x])
        if self.accumulate is not None:
            wide = Arith(self.accumulate, None, self.flags)
            return self._round_from(wide.sum(x.astype(self.accumulate.dtype), axis))
        if x.shape[axis] == 0:
            return np.zeros(np.delete(x.shape, axis % x.ndim), self.fmt.dtype)
        if not self.fmt.emulated:
            with np.errstate(all="call", call=self._fpu):
                return np.add.accumulate(x, axis=axis, dtype=self.fmt.dtype).take(-1, axis=axis)
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
        if np.any(overflowed):
            self.flags.add("overflow")
        if np.any(invalid):
            self.flags.add("invalid")
        return partial.take(-1, axis=axis)

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
        wide = Arith(self.accumulate, None, self.flags)
        return self._round_from(kernel(wide, *(a.astype(self.accumulate.dtype) for a in arrays)))

    def _round_from(self, wide_result: np.ndarray) -> np.ndarray:
        r = round_array(wide_result, self.fmt)
        self._rounding_flags(wide_result, r)
        return r
