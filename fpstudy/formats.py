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


# -- user-defined formats -------------------------------------------------------------------

USER_PRECISION = (2, 24)  # float64 holds 2p + 2 bits: + - * / rounded once from float64 are exact
USER_EXPONENT = 500  # |emin|, |emax| at most this: products and quotients stay in float64's range


def user_format(name: str, precision: int, emax: int, emin: int | None = None,
                inf: bool = True, nan: bool = True, subnormals: bool = True) -> Format:
    """A format declared in a config (``[formats.fp12] precision = 7, emax = 15``), as chop and
    CPFloat define one: p significand bits (the implicit bit included), normal exponents
    emin..emax (emin defaults to 1 - emax, IEEE's bias), max = (2 - 2**(1-p)) * 2**emax, and
    whether it has infinity, NaN and subnormals. Without infinity an overflow gives NaN, or
    +-max when it has no NaN either; without subnormals a result below 2**emin is flushed.

    Its values are held in float64 arrays (``storage = "float64"``): every value is exact
    there, and arithmetic is done in float64 and rounded once, as for float16.

    >>> f = user_format("fp12", 7, 15)
    >>> float(f.max), float(f.smallest_normal), float(f.smallest_subnormal)
    (65024.0, 6.103515625e-05, 9.5367431640625e-07)
    """
    if emin is None:
        emin = 1 - emax
    lo, hi = USER_PRECISION
    if not lo <= precision <= hi:
        raise ValueError(f"precision must be from {lo} to {hi}")
    if not (-USER_EXPONENT <= emin < emax <= USER_EXPONENT):
        raise ValueError(f"need -{USER_EXPONENT} <= emin < emax <= {USER_EXPONENT}")
    two = np.float64(2.0)
    notes = [f"user format: p = {precision}, emin = {emin}, emax = {emax}"]
    notes += [w for w, on in (("no inf", not inf), ("no NaN", not nan),
                              ("no subnormals", not subnormals)) if on]
    return Format(
        name=name,
        dtype=np.dtype(np.float64),
        precision=precision,
        min_exponent=emin,
        max_exponent=emax + 1,
        max=np.float64((2 - two ** (1 - precision)) * two ** emax),
        smallest_normal=two ** emin,
        smallest_subnormal=two ** (emin - precision + 1) if subnormals else two ** emin,
        eps=two ** (1 - precision),
        has_inf=inf,
        emulated=True,
        has_nan=nan,
        has_negative_zero=True,
        has_subnormals=subnormals,
        width=1 + (emax - emin + 1 + 1).bit_length() + precision - 1,
        storage="float64",
        note="; ".join(notes),
        encoding=None,
    )


def register(fmt: Format) -> None:
    """Make a user format known by name everywhere a format name is used (a config declares
    it; every worker process registers it again from the job before computing)."""
    known = FORMATS.get(fmt.name)
    if known is not None and known != fmt:
        if known.encoding is not None:
            raise UserError(f"{fmt.name!r} is a built-in format; give yours another name")
        raise UserError(f"format {fmt.name!r} is declared twice, differently")
    FORMATS[fmt.name] = fmt
