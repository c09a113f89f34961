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
    has_nan: bool = True
    has_negative_zero: bool = True
    has_subnormals: bool = True
    width: int = 0  # bits of the encoding (0: the dtype's)
    storage: str = "native"  # "native": arrays of the format's own dtype; "float64": float64
    # arrays holding only the format's values (a user format, or an ml_dtypes format with no
    # NaN encoding, whose own dtype could not hold the NaN of an invalid operation)
    computable: bool = True  # False: listed with its limits, not computed in (float8_e8m0fnu)
    note: str = ""  # its quirks, in words
    encoding: np.dtype | None = None  # the ml_dtypes / numpy type of its bit patterns

    @property
    def unit_roundoff(self) -> float:
        """u = eps / 2 = 2**-precision, the bound on relative rounding error in the normal range."""
        return float(self.eps) / 2

    @property
    def bits(self) -> int:
        return self.width or self.dtype.itemsize * 8

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
    # capabilities found by converting, never typed in
    with np.errstate(all="ignore"):
        has_inf = bool(np.isinf(np.array([np.inf]).astype(dtype))[0])
        has_nan = bool(np.isnan(np.array([np.nan]).astype(dtype).astype(np.float64))[0])
        has_negative_zero = bool(np.signbit(np.array([-0.0]).astype(dtype).astype(np.float64))[0])
        has_zero = bool(np.array([0.0]).astype(dtype).astype(np.float64)[0] == 0)
    has_subnormals = bool(fi.smallest_subnormal < fi.smallest_normal)
    notes = []
    if not has_inf:
        notes.append("no inf" + ("" if has_nan else ", no NaN: held in float64 storage, "
                                 "overflow saturates"))
    if not has_negative_zero:
        notes.append("no -0")
    if not has_subnormals:
        notes.append("no subnormals")
    if not has_zero:
        notes.append("no zero and no sign: a scale format, not computed in")
    storage = "native" if has_nan else "float64"
    return Format(
        name=name,
        dtype=dtype if storage == "native" else np.dtype(np.float64),
        precision=precision,
        min_exponent=int(fi.minexp),
        max_exponent=int(fi.maxexp),
        max=fi.max,
        smallest_normal=fi.smallest_normal,
        smallest_subnormal=fi.smallest_subnormal,
        eps=fi.eps,
        has_inf=has_inf,
        emulated=2 * precision + 2 <= 53 and dtype.itemsize <= 4 and dtype != np.float32,
        has_nan=has_nan,
        has_negative_zero=has_negative_zero,
        has_subnormals=has_subnormals,
        width=dtype.itemsize * 8 if name not in _WIDTHS else _WIDTHS[name],
        storage=storage,
        computable=has_zero,
        note="; ".join(notes),
        encoding=dtype,
    )


# ml_dtypes stores its 6- and 4-bit formats in a byte; their encodings are narrower
_WIDTHS = {"float6_e2m3fn": 6, "float6_e3m2fn": 6, "float4_e2m1fn": 4}


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
        ("float8_e4m3", ml_dtypes.float8_e4m3),
        ("float8_e4m3fnuz", ml_dtypes.float8_e4m3fnuz),
        ("float8_e5m2fnuz", ml_dtypes.float8_e5m2fnuz),
        ("float8_e4m3b11fnuz", ml_dtypes.float8_e4m3b11fnuz),
        ("float8_e3m4", ml_dtypes.float8_e3m4),
        ("float8_e8m0fnu", ml_dtypes.float8_e8m0fnu),
        ("float6_e2m3fn", ml_dtypes.float6_e2m3fn),
        ("float6_e3m2fn", ml_dtypes.float6_e3m2fn),
        ("float4_e2m1fn", ml_dtypes.float4_e2m1fn),
    ]
}


def get_format(name: str) -> Format:
    """Look a format up by name; an unknown name is a UserError listing the valid ones."""
    try:
        return FORMATS[name]
    except (KeyError, TypeError):
        raise UserError(f"unknown format {name!r}; choose from {', '.join(FORMATS)}") from None
