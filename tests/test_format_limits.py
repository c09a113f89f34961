"""Building formats: fpstudy.formats._make and user_format against limits derived by hand.

FORMATS is built at import; these tests build each format again, so a wrong limit in the
builder fails here, not only where a table was filled at import. Every value comes from the
format's definition (IEEE 754, the OCP 8-bit and MX specs): p significand bits with the
implicit one, normal exponents emin..emax, max = (2 - 2^(1-p)) * 2^emax unless the top code is
taken by NaN.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from fpstudy import formats
from fpstudy.errors import UserError
from fpstudy.formats import _make, register, user_format

# name, type, p, emin, emax + 1, max, inf, nan, -0, subnormals, width, storage, computable
BUILT = [
    ("float16", np.float16, 11, -14, 16, 65504.0, True, True, True, True, 16, "native", True),
    ("bfloat16", ml_dtypes.bfloat16, 8, -126, 128, (2 - 2**-7) * 2.0**127, True, True, True,
     True, 16, "native", True),
    ("float32", np.float32, 24, -126, 128, (2 - 2**-23) * 2.0**127, True, True, True, True, 32,
     "native", True),
    ("float64", np.float64, 53, -1022, 1024, (2 - 2**-52) * 2.0**1023, True, True, True, True,
     64, "native", True),
    # e4m3fn: no inf; S.1111.111 is NaN, so max = 1.110b * 2^8
    ("float8_e4m3fn", ml_dtypes.float8_e4m3fn, 4, -6, 9, 448.0, False, True, True, True, 8,
     "native", True),
    ("float8_e5m2", ml_dtypes.float8_e5m2, 3, -14, 16, 57344.0, True, True, True, True, 8,
     "native", True),
    # fnuz: no inf, no -0 (that code is the one NaN), bias 8: emin = -7
    ("float8_e4m3fnuz", ml_dtypes.float8_e4m3fnuz, 4, -7, 8, 240.0, False, True, False, True,
     8, "native", True),
    # MX fp4 e2m1: no inf, no NaN (held in float64), max 1.1b * 2^2 = 6, subnormal 0.5
    ("float4_e2m1fn", ml_dtypes.float4_e2m1fn, 2, 0, 3, 6.0, False, False, True, True, 4,
     "float64", True),
    ("float6_e2m3fn", ml_dtypes.float6_e2m3fn, 4, 0, 3, 7.5, False, False, True, True, 6,
     "float64", True),
    # e8m0: powers of two only, no zero, no sign: listed, not computed
    ("float8_e8m0fnu", ml_dtypes.float8_e8m0fnu, 1, -127, 128, 2.0**127, False, True, False,
     False, 8, "native", False),
]


@pytest.mark.parametrize(("name", "kind", "p", "emin", "emax1", "top", "inf", "nan", "negzero",
                          "sub", "width", "storage", "computable"), BUILT, ids=lambda v: str(v))
def test_make_builds_the_hand_derived_limits(name, kind, p, emin, emax1, top, inf, nan,
                                             negzero, sub, width, storage, computable):
    f = _make(name, kind)
    assert (f.name, f.precision, f.min_exponent, f.max_exponent) == (name, p, emin, emax1)
    assert float(f.max) == top
    assert float(f.smallest_normal) == 2.0 ** emin
    assert float(f.eps) == 2.0 ** (1 - p)
    assert float(f.smallest_subnormal) == (2.0 ** (emin - p + 1) if sub else 2.0 ** emin)
    assert (f.has_inf, f.has_nan, f.has_negative_zero, f.has_subnormals) == \
        (inf, nan, negzero, sub)
    assert (f.bits, f.storage, f.computable) == (width, storage, computable)
    assert f.dtype == (np.dtype(kind) if storage == "native" else np.dtype(np.float64))
    assert f.encoding == np.dtype(kind)
    # emulated in float64 and rounded once: every format here but the native float32, float64
    assert f.emulated == (kind not in (np.float32, np.float64))
    assert ("no inf" in f.note) == (not inf)
    assert ("no -0" in f.note) == (not negzero)
    assert ("no subnormals" in f.note) == (not sub)
    assert ("no zero" in f.note) == (not computable)
    assert ("float64 storage" in f.note) == (storage == "float64")


def test_user_format_bounds_are_inclusive():
    # precision 2..24 and -500 <= emin < emax <= 500 are allowed, one step past is not
    assert user_format("lo", 2, 15).precision == 2
    assert user_format("hi", 24, 15).precision == 24
    assert (user_format("wide", 7, 500, -500).min_exponent, user_format("wide", 7, 500,
                                                                       -500).max_exponent) == \
        (-500, 501)
    for bad in (dict(precision=1, emax=15), dict(precision=25, emax=15),
                dict(precision=7, emax=501), dict(precision=7, emax=15, emin=-501),
                dict(precision=7, emax=15, emin=15)):
        with pytest.raises(ValueError, match=r"\d"):
            user_format("bad", **bad)


def test_user_format_width_counts_the_exponent_codes():
    # fp12 (p = 7, emax = 15, emin = -14): 30 exponents + 2 reserved codes fit 5 bits: 1+5+6
    assert user_format("fp12", 7, 15).bits == 12
    # emin = -15 .. emax = 15: 31 exponents + 2 reserved = 33 codes need 6 bits: 1+6+6
    assert user_format("fp13", 7, 15, -15).bits == 13


def test_user_format_defaults_and_notes():
    f = user_format("fp12", 7, 15)
    assert (f.has_inf, f.has_nan, f.has_subnormals) == (True, True, True)
    assert f.dtype == np.dtype(np.float64) and f.storage == "float64" and f.encoding is None
    assert f.note == "user format: p = 7, emin = -14, emax = 15"
    g = user_format("fp12b", 7, 15, inf=False, nan=False, subnormals=False)
    assert g.note == ("user format: p = 7, emin = -14, emax = 15; no inf; no NaN; "
                      "no subnormals")
    assert float(g.smallest_subnormal) == 2.0 ** -14


def test_register_refuses_a_builtin_name_and_a_second_different_declaration(monkeypatch):
    monkeypatch.setattr(formats, "FORMATS", dict(formats.FORMATS))
    with pytest.raises(UserError, match="built-in"):
        register(user_format("float16", 11, 15))
    register(user_format("fp12", 7, 15))
    register(user_format("fp12", 7, 15))          # the same declaration again is fine
    assert formats.FORMATS["fp12"].precision == 7
    with pytest.raises(UserError, match="declared twice"):
        register(user_format("fp12", 8, 15))


def test_wider_than_needs_the_subnormal_range_too():
    # a format with more precision and the same emax but a smaller subnormal range
    a = user_format("a", 12, 15, -10)       # smallest subnormal 2^(-10-11) = 2^-21
    b = user_format("b", 11, 15)            # float16-like: 2^-24
    assert not a.wider_than(b)
    c = user_format("c", 12, 15, -13)       # 2^(-13-11) = 2^-24: exactly float16's
    assert c.wider_than(b)
