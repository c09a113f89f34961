"""The floating-point formats fpstudy measures, with every limit read from finfo.

Nothing here is typed in by hand: precision, exponent range, max, smallest normal and
subnormal come from ``numpy.finfo`` / ``ml_dtypes.finfo``, and whether the format has an
infinity is found by converting one.

A format is *emulated* when its arithmetic is done in float64 and each result is rounded once
to the format (fpstudy.arith). That is exact IEEE semantics for +, -, *, / and sqrt whenever
float64 carries at least 2p + 2 bits for a p-bit format (Figueroa 1995: the double rounding is
then innocuous), which holds for float16, bfloat16 and the float8 formats. float32, float64
and longdouble use numpy's native arithmetic, which is IEEE in the format already.
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np

from .errors import UserError

HEADLINE = ("float16", "bfloat16", "float32", "float64")


@dataclass(frozen=True)
class Format:
    """One floating-point format and its limits (all values exact, in the format's own type)."""

    name: str
    dtype: np.dtype
    precision: int  # significand bits, the implicit bit included
    min_exponent: int  # smallest normal = 2**min_exponent
    max_exponent: int  # max < 2**max_exponent
    max: np.floating
    smallest_normal: np.floating
    smallest_subnormal: np.floating
    eps: np.floating  # 2**(1 - precision), the gap above 1
    has_inf: bool
    emulated: bool

    @property
    def unit_roundoff(self) -> float:
        """u = eps / 2 = 2**-precision, the bound on relative rounding error in the normal range."""
        return float(self.eps) / 2

    @property
    def bits(self) -> int:
        return self.dtype.itemsize * 8

    def wider_than(self, other: Format) -> bool:
        """True when every value of `other` is exact here and this format has more precision."""
        return (
            self.precision > other.precision
            and self.max_exponent >= other.max_exponent
            and self.min_exponent - self.precision <= other.min_exponent - other.precision
        )

    def __repr__(self) -> str:
        return f"Format({self.name})"


def _finfo(dtype):
    if dtype.type.__module__.startswith("ml_dtypes"):
        return ml_dtypes.finfo(dtype)
    return np.finfo(dtype)


def _make(name: str, scalar_type) -> Format:
    dtype = np.dtype(scalar_type)
    fi = _finfo(dtype)
    precision = int(fi.nmant) + 1
    has_inf = bool(np.isinf(np.array([np.inf]).astype(dtype))[0])
    return Format(
        name=name,
        dtype=dtype,
        precision=precision,
        min_exponent=int(fi.minexp),
        max_exponent=int(fi.maxexp),
        max=fi.max,
        smallest_normal=fi.smallest_normal,
        smallest_subnormal=fi.smallest_subnormal,
        eps=fi.eps,
        has_inf=has_inf,
        emulated=2 * precision + 2 <= 53 and dtype.itemsize <= 4 and dtype != np.float32,
    )


FORMATS: dict[str, Format] = {
    name: _make(name, t)
    for name, t in [
        ("float16", np.float16),
        ("bfloat16", ml_dtypes.bfloat16),
        ("float32", np.float32),
        ("float64", np.float64),
        ("float8_e4m3fn", ml_dtypes.float8_e4m3fn),
        ("float8_e5m2", ml_dtypes.float8_e5m2),
        ("longdouble", np.longdouble),
    ]
}


def get_format(name: str) -> Format:
    """Look a format up by name; an unknown name is a UserError listing the valid ones."""
    try:
        return FORMATS[name]
    except (KeyError, TypeError):
        raise UserError(f"unknown format {name!r}; choose from {', '.join(FORMATS)}") from None
