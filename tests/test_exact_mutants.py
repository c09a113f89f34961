"""fpstudy.exact on the cases its mutants showed untested.

Every expected value is worked out by hand or in exact Fraction arithmetic: IEEE limits of
the formats (float16: p = 11, normal down to 2**-14, max 65504 = (2 - 2**-10) * 2**15; x87
longdouble: a 64-bit significand, smallest subnormal 2**-16445), ties and their even
neighbour, and the integer powers a precision has to hold.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest

from fpstudy.exact import (
    EXACT_POWER_CAP,
    dyadic_longdouble,
    log10_of,
    power_precision,
    rational_array,
    round_rational,
    round_to_format,
    to_fraction,
    to_mpf,
    to_mpf_array,
    to_mpf_list,
)
from fpstudy.formats import FORMATS
from fpstudy.rounding import Rule

X87 = np.finfo(np.longdouble).nmant == 63  # x87 80-bit extended: 64 significant bits
needs_x87 = pytest.mark.skipif(not X87, reason="longdouble is not x87 extended precision")
F16 = FORMATS["float16"]


def frac(v: mpmath.mpf) -> Fraction:
    """The exact rational of a finite mpf, from its sign, mantissa and exponent."""
    sign, man, exp, _bc = v._mpf_
    return (-1) ** sign * Fraction(int(man)) * Fraction(2) ** int(exp)


def ld(man: int, exp: int) -> np.longdouble:
    """man * 2**exp as a longdouble, built from halves numpy converts exactly (man < 2**64)."""
    high, low = divmod(man, 2 ** 32)
    return np.ldexp(np.longdouble(high) * np.longdouble(2.0 ** 32) + np.longdouble(low), exp)


# -- to_mpf, to_mpf_list, to_mpf_array -------------------------------------------------------

@needs_x87
def test_to_mpf_longdouble_keeps_all_64_bits():
    one_and_a_bit = ld(2 ** 63 + 1, -63)            # 1 + 2**-63: not a float64
    assert frac(to_mpf(one_and_a_bit)) == 1 + Fraction(1, 2 ** 63)
    assert frac(to_mpf(-one_and_a_bit)) == -(1 + Fraction(1, 2 ** 63))
    big = ld(2 ** 64 - 1, 16383 - 63)               # longdouble's max, (2 - 2**-63) * 2**16383
    assert frac(to_mpf(big)) == (2 - Fraction(1, 2 ** 63)) * Fraction(2) ** 16383
    tiny = ld(3, -16445)                            # 3 smallest subnormals
    assert frac(to_mpf(tiny)) == 3 * Fraction(1, 2 ** 16445)


def test_to_mpf_non_finite_keeps_its_sign():
    for x in (np.longdouble("inf"), np.float16("inf"), float("inf"), np.float64("inf")):
        assert to_mpf(x) == mpmath.inf
        assert to_mpf(-x) == -mpmath.inf
    for x in (np.longdouble("nan"), np.float32("nan"), float("nan")):
        assert mpmath.isnan(to_mpf(x))


def test_to_mpf_python_float_and_narrow_types():
    assert frac(to_mpf(0.1)) == Fraction(0.1)   # Fraction(float) is exact
    assert frac(to_mpf(-0.1)) == -Fraction(0.1)
    assert frac(to_mpf(np.float16(-0.1))) == -Fraction(1638, 2 ** 14)
    assert frac(to_mpf(np.float64(5e-324))) == Fraction(1, 2 ** 1074)
    assert to_mpf(0.0) == 0


@needs_x87
def test_to_mpf_list_longdouble_array_is_exact_elementwise():
    arr = np.array([ld(2 ** 63 + 1, -63), -ld(2 ** 63 + 1, -63), np.longdouble("inf"),
                    -np.longdouble("inf"), np.longdouble(0)]).reshape(5, 1)
    got = to_mpf_list(arr)
    assert len(got) == 5
    assert frac(got[0]) == 1 + Fraction(1, 2 ** 63)
    assert frac(got[1]) == -(1 + Fraction(1, 2 ** 63))
    assert got[2] == mpmath.inf and got[3] == -mpmath.inf
    assert got[4] == 0


def test_to_mpf_list_narrow_array_with_non_finite_values():
    arr = np.array([[0.1, -np.inf], [np.inf, np.nan]], dtype=np.float16)
    got = to_mpf_list(arr)
    assert frac(got[0]) == Fraction(1638, 2 ** 14)
    assert got[1] == -mpmath.inf
    assert got[2] == mpmath.inf
    assert mpmath.isnan(got[3])
    got = to_mpf_list(np.array([-2.5, 2.0 ** -1074]))
    assert frac(got[0]) == Fraction(-5, 2) and frac(got[1]) == Fraction(1, 2 ** 1074)


def test_to_mpf_array_keeps_the_shape():
    out = to_mpf_array(np.array([[1.5, -np.inf, 0.25]], dtype=np.float32))
    assert out.shape == (1, 3) and out.dtype == object
    assert [out[0, 0], out[0, 1], out[0, 2]] == [mpmath.mpf(1.5), -mpmath.inf, mpmath.mpf(0.25)]
    empty = to_mpf_array(np.zeros((0, 2)))
    assert empty.shape == (0, 2) and empty.dtype == object


def test_to_fraction_of_every_kind_of_value():
    assert to_fraction(0.1) == Fraction(3602879701896397, 2 ** 55)   # Python float: exact
    assert to_fraction(np.float16(-0.1)) == Fraction(-1638, 2 ** 14)
    assert to_fraction(np.float64(5e-324)) == Fraction(1, 2 ** 1074)


@needs_x87
def test_to_fraction_longdouble_keeps_all_64_bits():
    assert to_fraction(ld(2 ** 63 + 1, -63)) == 1 + Fraction(1, 2 ** 63)
    assert to_fraction(-ld(3, -16445)) == -3 * Fraction(1, 2 ** 16445)


# -- dyadic_longdouble -------------------------------------------------------------------------

@needs_x87
@pytest.mark.parametrize("man, exp", [
    (1, 0),
    (2 ** 64 - 1, -63),              # 64 ones: 2 - 2**-63, every bit used
    (2 ** 63 + 1, -63),              # 1 + 2**-63: high and low halves both nonzero
    ((2 ** 63 + 1) << 7, -70),       # the same value with 7 trailing zeros (71 bits)
    (0xDEADBEEF_12345679, 10),       # high half > 2**32 (a split at 2**33 would differ)
    (2 ** 33 + 5, -3),
    (1, -16445),                     # the smallest subnormal
    (2 ** 64 - 1, 16383 - 63),       # max
])
@pytest.mark.parametrize("sign", [1, -1])
def test_dyadic_longdouble_is_exact(man, exp, sign):
    got = dyadic_longdouble(sign * man, exp)
    assert isinstance(got, np.longdouble)
    assert Fraction(*got.as_integer_ratio()) == sign * man * Fraction(2) ** exp


def test_dyadic_longdouble_of_zero():
    got = dyadic_longdouble(0, 5)
    assert isinstance(got, np.longdouble) and got == 0 and not np.signbit(got)


# -- power_precision ---------------------------------------------------------------------------

def test_power_precision_holds_the_power_exactly():
    """At the bits it gives, 3**200 (317 bits) times a 53-bit factor is computed exactly."""
    base, d = mpmath.mpf(3), 200
    factor = mpmath.mpf(0.1)  # 53 significant bits
    prec = power_precision(base, d, factor)
    with mpmath.workprec(prec):
        product = base ** d * factor
    assert frac(product) == Fraction(3) ** 200 * Fraction(0.1)


def test_power_precision_formula():
    """64 guard bits, d * (b + 1) for a b-bit base, plus the widest factor's bits: 3 = 0b11
    has 2 bits, 1 + 2**-52 has 53, 0.75 = 0b11 * 2**-2 has 2; 1 has 1."""
    wide = mpmath.mpf(1 + 2.0 ** -52)
    assert power_precision(mpmath.mpf(3), 10) == 64 + 10 * 3
    assert power_precision(mpmath.mpf(3), 10, wide, mpmath.mpf(0.75)) == 64 + 30 + 53
    assert power_precision(mpmath.mpf(1), 0) == 64
    assert power_precision(wide, 7, mpmath.mpf(1)) == 64 + 7 * 54 + 1


def test_power_precision_cap():
    d = (EXACT_POWER_CAP - 64) // 3            # 3 has 2 bits: 64 + 3d <= cap
    assert power_precision(mpmath.mpf(3), d) == 64 + 3 * d
    assert power_precision(mpmath.mpf(3), d + 1) == EXACT_POWER_CAP
    assert power_precision(mpmath.mpf(3), 10 ** 9) == EXACT_POWER_CAP


# -- log10_of ----------------------------------------------------------------------------------

def test_log10_of_exact_powers_and_sign():
    assert log10_of(np.float16(1000)) == 3.0     # 1000 < 2048: exact in float16
    assert log10_of(-1000.0) == 3.0
    assert log10_of(np.float64(1e-300)) == pytest.approx(-300, rel=1e-15)


@needs_x87
def test_log10_of_longdouble_beyond_float64():
    """2**16383 is inf as a float64 and 2**-16445 is 0; log10 of both stays finite."""
    assert log10_of(np.ldexp(np.longdouble(1), 16383)) == pytest.approx(
        16383 * math.log10(2), rel=1e-14)
    assert log10_of(np.ldexp(np.longdouble(1), -16445)) == pytest.approx(
        -16445 * math.log10(2), rel=1e-14)


# -- round_to_format ---------------------------------------------------------------------------

def mp(q: Fraction) -> mpmath.mpf:
    """A dyadic Fraction as the mpf of the same value (exact: workprec holds every bit)."""
    with mpmath.workprec(max(64, q.numerator.bit_length() + 8)):
        return mpmath.mpf(q.numerator) / q.denominator


@pytest.mark.parametrize("x, want", [
    # the normal range: ulp 2**-10 in [1, 2)
    (Fraction(1), Fraction(1)),
    (1 + Fraction(1, 2 ** 11), Fraction(1)),                       # tie: to even 1
    (1 + Fraction(3, 2 ** 11), 1 + Fraction(2, 2 ** 10)),          # tie: to even 1 + 2 ulp
    (1 + Fraction(1, 2 ** 11) + Fraction(1, 2 ** 40), 1 + Fraction(1, 2 ** 10)),  # past tie
    (1 + Fraction(1, 2 ** 11) - Fraction(1, 2 ** 40), Fraction(1)),
    (Fraction(2047, 2048), Fraction(2047, 2048)),                  # just below 1: exact
    (Fraction(3), Fraction(3)),                                    # few bits: shifted left
    (Fraction(65504), Fraction(65504)),                            # max
    (Fraction(65519), Fraction(65504)),                            # below max's half ulp
    (Fraction(65520), math.inf),                                   # the tie past max
    (Fraction(2 ** 15), Fraction(2 ** 15)),                        # 2**emax: representable
    (Fraction(2 ** 16), math.inf),
    (Fraction(3 * 2 ** 16), math.inf),
    # subnormals: quantum 2**-24 below 2**-14
    (Fraction(3, 2 ** 25), Fraction(2, 2 ** 24)),                  # 1.5 quanta: tie to even 2
    (Fraction(5, 2 ** 25), Fraction(2, 2 ** 24)),                  # 2.5 quanta: tie to even 2
    (Fraction(3, 2 ** 26), Fraction(1, 2 ** 24)),                  # 0.75 quanta: up to 1
    (Fraction(1, 2 ** 25), Fraction(0)),                           # half the smallest: even 0
    (Fraction(1, 2 ** 25) + Fraction(1, 2 ** 60), Fraction(1, 2 ** 24)),  # past the half
    (Fraction(1, 2 ** 26), Fraction(0)),
    (Fraction(1023, 2 ** 24), Fraction(1023, 2 ** 24)),            # largest subnormal
    (Fraction(2047, 2 ** 25), Fraction(1, 2 ** 14)),               # rounds up to normal
])
@pytest.mark.parametrize("sign", [1, -1])
def test_round_to_format_float16(x, want, sign):
    got = round_to_format(mp(sign * x), F16)
    if want == math.inf:
        assert got == sign * math.inf and isinstance(got, float)
    else:
        assert isinstance(got, Fraction) and got == sign * want


def test_round_to_format_zero_and_non_finite():
    assert round_to_format(mpmath.mpf(0), F16) == 0
    for bad in (mpmath.inf, -mpmath.inf, mpmath.nan):
        with pytest.raises(ValueError, match="^round_to_format takes a finite number$"):
            round_to_format(bad, F16)


def test_round_to_format_huge_exponents_answer_without_big_integers():
    """2**(10**9) and 2**-(10**9): decided from the exponent alone."""
    huge = mpmath.ldexp(mpmath.mpf(3), 10 ** 9)
    assert round_to_format(huge, F16) == math.inf
    assert round_to_format(-huge, F16) == -math.inf
    assert round_to_format(mpmath.ldexp(mpmath.mpf(3), -10 ** 9), F16) == 0


def test_round_to_format_format_without_infinity():
    """float8_e4m3fn: p = 4, max 448 = 1.75 * 2**8; 464 is the tie between 448 and 480
    (which would be the next value): to even 448; past it, beyond max (inf: NaN there)."""
    fmt = FORMATS["float8_e4m3fn"]
    assert round_to_format(mpmath.mpf(464), fmt) == 448
    assert round_to_format(mpmath.mpf(465), fmt) == math.inf
    assert round_to_format(mpmath.mpf(-465), fmt) == -math.inf
    # smallest subnormal 2**-9: half of it is the tie with 0 (even), 1.5 halves round up
    assert round_to_format(mpmath.mpf(2 ** -10), fmt) == 0
    assert round_to_format(mpmath.mpf(3 * 2 ** -11), fmt) == Fraction(1, 2 ** 9)


# -- rational_array ----------------------------------------------------------------------------

def test_rational_array_stochastic_draws_one_number_per_element():
    """1 + 1/(3 * 2**10) lies a third of the way from 1 to float16's next value 1 + 2**-10:
    element i rounds up exactly where the i-th draw of the generator is below 1/3 (a
    negative one away from zero, to -(1 + 2**-10)). The same rational in every element: each
    takes its own draw, none is reused."""
    q = 1 + Fraction(1, 3 * 2 ** 10)
    n = 64
    values = np.empty((2, n // 2), dtype=object)
    values.ravel()[:] = [q if i % 4 else -q for i in range(n)]
    draws = np.random.default_rng(7).random(n)     # what rational_array's generator draws
    got = rational_array(values, F16, Rule("stochastic"), np.random.default_rng(7))
    assert got.shape == (2, n // 2) and got.dtype == np.float16
    want = [(1 + Fraction(1, 2 ** 10) if Fraction(float(u)) < Fraction(1, 3) else 1)
            * (1 if i % 4 else -1) for i, u in enumerate(draws)]
    assert [Fraction(float(v)) for v in got.ravel()] == want
    assert 0 < sum(abs(w) != 1 for w in want) < n                  # both directions occur


def test_rational_array_nearest_keeps_the_sign_of_a_zero():
    """A rational below half float16's smallest subnormal (2**-25) rounds to a zero of its
    sign; one past the tie rounds to 2**-24."""
    values = np.array([Fraction(-1, 2 ** 26), Fraction(1, 2 ** 26), Fraction(-3, 2 ** 26),
                       Fraction(-1, 2 ** 26)], dtype=object)
    got = rational_array(values, F16)
    assert got.dtype == np.float16
    assert [float(v) for v in got] == [0.0, 0.0, -2.0 ** -24, 0.0]
    assert [bool(np.signbit(v)) for v in got] == [True, False, True, True]


# -- round_rational ----------------------------------------------------------------------------

BIG, TINY = Fraction(10 ** 30), Fraction(1, 10 ** 30)   # far beyond float16's range each way
SUB = Fraction(1, 2 ** 24)                              # float16's smallest subnormal


@pytest.mark.parametrize("rule, q, want", [
    # floor(log2 q) for q < 1 and just below a power of two: toward zero keeps every bit
    (Rule("toward_zero"), 1 - TINY, Fraction(2047, 2048)),
    (Rule("toward_zero"), Fraction(1, 3), Fraction(1365, 4096)),      # 4096/3 = 1365.33
    (Rule("toward_zero"), Fraction(4, 3), Fraction(1365, 1024)),      # 1024*4/3 = 1365.33
    (Rule("upward"), Fraction(4, 3), Fraction(1366, 1024)),
    (Rule("downward"), Fraction(-4, 3), Fraction(-1366, 1024)),
    (Rule("upward"), Fraction(-4, 3), Fraction(-1365, 1024)),
    (Rule("toward_zero"), Fraction(1, 4), Fraction(1, 4)),
    (Rule(), Fraction(2047, 2048) + Fraction(1, 2 ** 13), Fraction(2047, 2048)),  # below tie
    (Rule(), Fraction(4095, 4096), Fraction(1)),                      # the tie at 1: even
    # far beyond max, each overflow rule
    (Rule(), BIG, math.inf),
    (Rule(), -BIG, -math.inf),
    (Rule("toward_zero"), BIG, Fraction(65504)),
    (Rule("toward_zero"), -BIG, Fraction(-65504)),
    (Rule("upward"), BIG, math.inf),
    (Rule("upward"), -BIG, Fraction(-65504)),
    (Rule("downward"), BIG, Fraction(65504)),
    (Rule("downward"), -BIG, -math.inf),
    (Rule(overflow="saturate"), BIG, Fraction(65504)),
    (Rule(overflow="saturate"), -BIG, Fraction(-65504)),
    (Rule(), Fraction(65520), math.inf),                               # the tie past max
    (Rule(), Fraction(65519), Fraction(65504)),
    (Rule("toward_zero"), Fraction(2 ** 16), Fraction(65504)),        # 2**max_exponent
    (Rule("upward"), Fraction(2 ** 17 - 1), math.inf),
    # far below the smallest subnormal, each direction
    (Rule(), TINY, 0),
    (Rule("upward"), TINY, SUB),
    (Rule("upward"), -TINY, 0),
    (Rule("downward"), -TINY, -SUB),
    (Rule("downward"), TINY, 0),
    (Rule("toward_zero"), TINY, 0),
    (Rule(), Fraction(1, 2 ** 25), 0),                                 # half of SUB: to even 0
    (Rule(), Fraction(1, 2 ** 25) + TINY, SUB),
    (Rule(), Fraction(3, 2 ** 26), SUB),
    (Rule("upward", "flush"), TINY, 0),                                # SUB, then flushed
    (Rule("upward", "flush"), Fraction(2 ** 14 - 1, 2 ** 28), Fraction(1, 2 ** 14)),
    (Rule("toward_zero", "flush"), Fraction(2 ** 14 - 1, 2 ** 28), 0),
    (Rule("stochastic"), Fraction(1, 3) * SUB, SUB, ),                 # draw 0.25 < 1/3: up
])
def test_round_rational_float16(rule, q, want):
    got = round_rational(q, F16, rule, draw=0.25)
    assert got == want
    assert isinstance(got, float) == (abs(want) == math.inf)


def test_round_rational_stochastic_below_the_smallest_subnormal():
    q = Fraction(1, 3) * SUB
    assert round_rational(q, F16, Rule("stochastic"), draw=0.3333) == SUB
    assert round_rational(q, F16, Rule("stochastic"), draw=0.3334) == 0
    assert round_rational(-q, F16, Rule("stochastic"), draw=0.3) == -SUB
    with pytest.raises(ValueError, match="^stochastic rounding needs a draw$"):
        round_rational(q, F16, Rule("stochastic"))


def test_round_rational_stochastic_draw_equal_to_the_position_stays():
    """1 + 2**-12 is a quarter of the way from 1 to 1 + 2**-10: up only when draw < 1/4."""
    q = 1 + Fraction(1, 2 ** 12)
    assert round_rational(q, F16, Rule("stochastic"), draw=0.25) == 1
    assert round_rational(q, F16, Rule("stochastic"), draw=0.2499) == 1 + Fraction(1, 2 ** 10)


@pytest.mark.parametrize("rule", [Rule(), Rule("toward_zero"), Rule("upward"),
                                  Rule("downward"), Rule("stochastic")], ids=str)
@pytest.mark.parametrize("q", [Fraction(0), Fraction(1), Fraction(-1), Fraction(3, 4),
                               Fraction(65504), SUB, -SUB, Fraction(1023, 2 ** 24)])
def test_round_rational_keeps_a_format_value(q, rule):
    """A value of the format (0, 1, max, subnormals) is its own rounding under every rule
    and draw."""
    for draw in (0.0, 0.5, 0.999):
        assert round_rational(q, F16, rule, draw) == q


def test_round_rational_format_without_infinity_or_nan_clamps():
    """float4_e2m1fn has neither inf nor NaN: past max (6) it gives max; float8_e4m3fn has a
    NaN, so past its max (448) the result is inf (its NaN)."""
    fp4 = FORMATS["float4_e2m1fn"]
    assert round_rational(Fraction(7), fp4) == 6 and round_rational(-BIG, fp4) == -6
    assert round_rational(Fraction(500), FORMATS["float8_e4m3fn"]) == math.inf


def test_rational_array_rounds_each_distinct_rational_once(monkeypatch):
    """A constant parameter vector of 1000 elements costs one exact rounding (a nearest rule
    caches by value); its elements are all the rounding of 1/3 in float16, 1365/4096 (4096/3
    = 1365.33, below the tie)."""
    import fpstudy.exact as exact

    calls = []
    original = exact.rounded_rational

    def counting(q, *args):
        calls.append(q)
        return original(q, *args)

    monkeypatch.setattr(exact, "rounded_rational", counting)
    values = np.full(1000, Fraction(1, 3), dtype=object)
    got = rational_array(values, F16)
    assert calls == [Fraction(1, 3)]
    assert got.dtype == np.float16 and (got == np.float16(1365 / 4096)).all()
