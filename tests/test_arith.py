"""Arithmetic in the format: every result is the exact result rounded once, flags as IEEE says.

The reference is exact: mpmath computes the real result of the operation on the format values
and `round_to_format` rounds it with integer arithmetic (an implementation independent of the
frexp/ldexp rounding under test); the pinned cases are derived by hand.
"""

import math
from fractions import Fraction

import ml_dtypes
import mpmath
import numpy as np
import pytest
from conftest import EMULATED
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fpstudy.arith import Arith, flags_text, round_array
from fpstudy.exact import round_to_format, to_mpf
from fpstudy.formats import FORMATS

NATIVE_AND_EMULATED = EMULATED + ["float32"]
finite_doubles = st.floats(allow_nan=False, allow_infinity=False, width=64)


def exact_rounded(x: mpmath.mpf, fmt, negative_zero: bool = False) -> float:
    """The correctly rounded value as a float (inf past max; NaN there without infinity).

    mpmath has one zero; IEEE 754 two. A result that is 0 takes the sign the standard gives
    it (`negative_zero`: see zero_sign), a nonzero one that rounds to 0 keeps its own sign;
    a format without -0 (the fnuz formats) has only +0.
    """
    r = round_to_format(x, fmt)
    if r in (np.inf, -np.inf):
        if not fmt.has_inf and not fmt.has_nan:  # float6, float4: saturate (OCP MX)
            return math.copysign(float(fmt.max), r)
        return r if fmt.has_inf else np.nan
    if r == 0:
        if not fmt.has_negative_zero:
            return 0.0
        return -0.0 if (x < 0 or (x == 0 and negative_zero)) else 0.0
    return float(r)


def zero_sign(op: str, a, b) -> bool:
    """Whether IEEE 754 (rounding to nearest) makes an exactly zero result of `a op b` -0:
    a product or quotient has the XOR of the signs; an exact zero sum is +0 except
    (-0) + (-0) and (-0) - (+0)."""
    sa, sb = bool(np.signbit(a)), bool(np.signbit(b))
    return {"add": sa and sb, "sub": sa and not sb, "mul": sa != sb, "div": sa != sb}[op]


def same(a: float, b: float) -> bool:
    """Bit-for-bit equal as values: NaN is NaN, and -0.0 is not 0.0 (the sign of a zero is part
    of a correctly rounded result: -tiny rounds to -0)."""
    a, b = float(a), float(b)
    return (np.isnan(a) and np.isnan(b)) or (a == b and np.signbit(a) == np.signbit(b))


def test_same_tells_the_zeros_apart():
    assert same(0.0, 0.0) and same(-0.0, -0.0) and same(np.nan, np.nan)
    assert not same(-0.0, 0.0) and not same(0.0, -0.0) and not same(1.0, np.nan)


@pytest.mark.parametrize("name", EMULATED)
@given(x=finite_doubles)
@example(x=1 + 2 ** -8 + 2 ** -30)   # ml_dtypes' own cast gives 1.0 in bfloat16 (double rounding)
@example(x=464.0)                    # e4m3fn: a tie between 448 and 480, to even: 448
@example(x=465.0)                    # e4m3fn: past the tie: NaN (no infinity)
@example(x=65519.0)                  # float16: below the tie 65520: 65504
@example(x=65520.0)                  # float16: the tie, to even: inf
@example(x=2.0 ** -25)               # float16: half the smallest subnormal, a tie to 0
@example(x=3 * 2.0 ** -26)           # float16: 0.75 of the smallest subnormal: rounds up
@settings(max_examples=300, deadline=None)
def test_round_array_is_correct_rounding(name, x):
    fmt = FORMATS[name]
    got = float(round_array(np.float64(x), fmt)[()].astype(np.float64))
    assert same(got, exact_rounded(to_mpf(x), fmt, negative_zero=bool(np.signbit(x))))


def test_hand_derived_roundings():
    bf16, e4, f16 = FORMATS["bfloat16"], FORMATS["float8_e4m3fn"], FORMATS["float16"]
    assert float(round_array(np.float64(1 + 2 ** -8 + 2 ** -30), bf16)) == 1 + 2 ** -7
    assert float(round_array(np.float64(464.0), e4)) == 448
    assert np.isnan(float(round_array(np.float64(465.0), e4)))
    assert float(round_array(np.float64(65520.0), f16)) == np.inf
    assert float(round_array(np.float64(2.0 ** -25), f16)) == 0.0
    assert float(round_array(np.float64(3 * 2.0 ** -26), f16)) == 2.0 ** -24


def format_values(name):
    """Finite values of the format, drawn by bit pattern (covers subnormals and the extremes)."""
    fmt = FORMATS[name]
    bits = fmt.encoding.itemsize * 8
    utype = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}[bits]
    return st.integers(0, 2 ** bits - 1).map(
        lambda b: np.array([b], dtype=utype).view(fmt.encoding).astype(fmt.dtype)[0]).filter(
        lambda v: math.isfinite(float(v)))


OPS = {"add": (np.add, lambda a, b: a + b), "sub": (np.subtract, lambda a, b: a - b),
       "mul": (np.multiply, lambda a, b: a * b), "div": (np.divide, lambda a, b: a / b)}


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", NATIVE_AND_EMULATED)
@given(data=st.data())
@settings(max_examples=150, deadline=None)
def test_operations_are_correctly_rounded(name, op, data):
    fmt = FORMATS[name]
    a = data.draw(format_values(name))
    b = data.draw(format_values(name))
    if op == "div" and b == 0:
        return
    ar = Arith(fmt)
    got = float(getattr(ar, op)(np.asarray(a), np.asarray(b)).astype(np.float64))
    with mpmath.workprec(2000):  # exact for these operands: products/sums need < 400 bits
        exact = OPS[op][1](to_mpf(a), to_mpf(b))
    if op == "div":
        with mpmath.workprec(300):  # a quotient is not finite in binary: 300 bits suffice
            exact = to_mpf(a) / to_mpf(b)  # to decide the rounding of a <= 24-bit format
    assert same(got, exact_rounded(exact, fmt, zero_sign(op, a, b))), (a, b, got)


@pytest.mark.parametrize("name, n, stall", [
    # A sum of ones in the format stops where 1 is half an ulp: at 2**p, x + 1 is a tie and
    # rounds to even, back to x.
    ("bfloat16", 300, 2 ** 8),
    ("float16", 3000, 2 ** 11),
    ("float8_e4m3fn", 40, 2 ** 4),
])
def test_sum_in_the_format_stalls_at_2_to_the_p(name, n, stall):
    fmt = FORMATS[name]
    assert stall == 2 ** fmt.precision
    ar = Arith(fmt)
    assert float(ar.sum(ar.asarray(np.ones(n)))) == stall


def test_sum_in_float32_rounds_once():
    f16 = FORMATS["float16"]
    ar = Arith(f16, accumulate=FORMATS["float32"])
    assert float(ar.sum(ar.asarray(np.ones(3000)))) == 3000  # 3000 = 1.0111011100b * 2**11


@pytest.mark.parametrize("name", EMULATED + ["float32", "float64"])
@given(data=st.data())
@settings(max_examples=40, deadline=None)
def test_sum_is_the_left_to_right_loop_of_rounded_adds(name, data):
    fmt = FORMATS[name]
    xs = data.draw(st.lists(format_values(name), min_size=1, max_size=12))
    ar = Arith(fmt)
    x = np.array(xs, dtype=fmt.dtype)
    expected, rounded = to_mpf(x[0]), float(x[0])  # rounded: the float, with a zero's sign
    for v in x[1:]:
        if not mpmath.isfinite(expected):
            expected = expected + to_mpf(v)
            rounded = float(expected)
            continue
        with mpmath.workprec(4000):
            exact = expected + to_mpf(v)
        rounded = exact_rounded(exact, fmt, zero_sign("add", rounded, v)) \
            if mpmath.isfinite(exact) else float(exact)
        expected = mpmath.mpf(rounded) if not np.isnan(rounded) else mpmath.mpf("nan")
    got = float(ar.sum(x).astype(np.float64))
    assert same(got, rounded)


def test_matvec_accumulates_in_the_format_row_by_row():
    # y_0 = fl(fl(fl(2048*1) + fl(1*1)) + fl(1*1)): 2048 + 1 is a tie in float16 (ulp 2 at
    # 2048) and goes to even 2048 each time; in float32 the sum is 2050, representable.
    f16 = FORMATS["float16"]
    A = np.array([[2048.0, 1.0, 1.0]])
    x = np.ones(3)
    ar = Arith(f16)
    assert float(ar.matvec(ar.asarray(A), ar.asarray(x))[0]) == 2048
    wide = Arith(f16, accumulate=FORMATS["float32"])
    assert float(wide.matvec(wide.asarray(A), wide.asarray(x))[0]) == 2050


def test_bfloat16_matvec_stays_bfloat16():
    bf = FORMATS["bfloat16"]
    ar = Arith(bf)
    A = ar.asarray(np.eye(2) * 1.5)
    y = ar.matvec(A, ar.asarray(np.ones(2)))
    assert y.dtype == ml_dtypes.bfloat16
    assert (A @ A).dtype == np.float32  # what numpy would have done silently


@pytest.mark.parametrize("name, a, b, op, flags", [
    ("float16", 60000.0, 2.0, "mul", "overflow"),
    ("float16", 2.0 ** -20, 2.0 ** -10, "mul", "underflow"),     # 2**-30 rounds to 0
    ("float16", 2.0 ** -14, 2.0 ** -10, "mul", ""),              # 2**-24 exact: no flag
    ("float16", 2.0 ** -14, 3 * 2.0 ** -12, "mul", "underflow"),  # 3*2**-26 is inexact
    ("bfloat16", 3e38, 3e38, "add", "overflow"),
    ("float8_e4m3fn", 256.0, 2.0, "mul", "overflow"),            # NaN, but caused by overflow
    ("float8_e5m2", 1.0, 0.0, "div", "divide"),
    ("float32", 3e38, 10.0, "mul", "overflow"),
    ("float32", 1e-30, 1e-30, "mul", "underflow"),
    ("float64", 0.0, 0.0, "div", "invalid"),
    ("longdouble", 1.0, 0.0, "div", "divide"),
])
def test_flags(name, a, b, op, flags):
    ar = Arith(FORMATS[name])
    x, y = ar.asarray(np.float64(a)), ar.asarray(np.float64(b))
    assert ar.flags == set()
    getattr(ar, op)(x, y)
    assert flags_text(ar.flags) == flags


def test_inf_minus_inf_is_invalid_in_emulated_formats():
    ar = Arith(FORMATS["bfloat16"])
    inf = ar.asarray(np.float64(np.inf))
    assert np.isnan(float(ar.sub(inf, inf)))
    assert flags_text(ar.flags) == "invalid"


def test_sum_flags_read_from_partial_sums():
    ar = Arith(FORMATS["bfloat16"])
    ar.sum(ar.asarray(np.array([3e38, 3e38, -np.inf])))  # overflow to inf, then inf - inf
    assert flags_text(ar.flags) == "overflow|invalid"


def test_rounding_an_input_flags_it():
    ar = Arith(FORMATS["float16"])
    ar.asarray(np.array([1e6, 1e-10]))
    assert flags_text(ar.flags) == "overflow|underflow"


def test_operands_of_another_dtype_are_refused():
    ar = Arith(FORMATS["float16"])
    with pytest.raises(TypeError, match="float32"):
        ar.add(np.float32(1), ar.const(1))


def test_accumulate_format_must_be_wider():
    with pytest.raises(ValueError):
        Arith(FORMATS["float32"], accumulate=FORMATS["float16"])
    with pytest.raises(ValueError):
        Arith(FORMATS["float16"], accumulate=FORMATS["bfloat16"])


def test_longdouble_values_convert_exactly():
    x = np.longdouble(1) + np.longdouble(2) ** -63  # not a float64
    assert to_mpf(x) - 1 == mpmath.ldexp(1, -63)  # Sterbenz: the subtraction is exact
    assert Fraction(*x.as_integer_ratio()) == 1 + Fraction(1, 2 ** 63)
