"""fpstudy.arith as its users rely on it, where its mutants showed the other tests silent:
what `describe` writes into meta.json; the flags of rounding exact rationals (a config's
decimals); erf under math = "numpy"; the elementary-function wrappers; `Arith.call` for foreign
code; sums, dot products and matrix-vector products (axis, empty sums, rounding once in a wider
accumulator or at every step); the checks of the constructor.

Expected values come from elsewhere: IEEE limits derived by hand (float16: p = 11, smallest
normal 2**-14, max 65504 = (2 - 2**-10) * 2**15, smallest subnormal 2**-24; bfloat16: p = 8,
max (2 - 2**-7) * 2**127; float32: p = 24; float8_e4m3fn: max 448, no infinity; float6_e2m3fn:
max 7.5, neither infinity nor NaN), exact `fractions.Fraction` arithmetic, mpmath at 200 bits
rounded to the format by `nearest` below (an integer rounding written here), numpy's own
CPU-feature tables and gmpy2's MPFR version read directly.
"""

from __future__ import annotations

import math
from fractions import Fraction

import gmpy2
import mpmath
import numpy as np
import pytest
from numpy._core import _multiarray_umath as umath

from fpstudy.arith import Arith, describe, round_array
from fpstudy.formats import FORMATS
from fpstudy.rounding import Rule

F16, BF16, F32, F64 = (FORMATS[n] for n in ("float16", "bfloat16", "float32", "float64"))
F16_MAX = (2 - Fraction(1, 2 ** 10)) * 2 ** 15  # 65504
F16_TINY = Fraction(1, 2 ** 14)  # smallest normal
F16_SUB = Fraction(1, 2 ** 24)  # smallest subnormal
needs_x87 = pytest.mark.skipif(np.finfo(np.longdouble).nmant != 63,
                               reason="longdouble is not x87 extended precision")


def nearest(q: Fraction, precision: int, min_exponent: int) -> Fraction:
    """q rounded to nearest, ties to even, in a binary format of `precision` bits whose
    smallest normal is 2**min_exponent (gradual underflow; q below the format's max). It
    refuses a q within 2**-60 of a tie, where a 200-bit approximation could not decide."""
    if q == 0:
        return Fraction(0)
    a = abs(q)
    e = a.numerator.bit_length() - a.denominator.bit_length()  # floor(log2 a) is e or e - 1
    if a < Fraction(2) ** e:
        e -= 1
    quantum = Fraction(2) ** (max(e, min_exponent) - precision + 1)
    scaled = q / quantum
    assert abs(scaled - math.floor(scaled) - Fraction(1, 2)) > Fraction(1, 2 ** 60)
    return round(scaled) * quantum  # Fraction.__round__: half to even


def fraction_of(v: mpmath.mpf) -> Fraction:
    """A finite mpf exactly (its man_exp holds the magnitude only)."""
    man, exp = v.man_exp
    magnitude = Fraction(int(man)) * Fraction(2) ** int(exp)
    return -magnitude if v < 0 else magnitude


def f16_values(a) -> list[Fraction]:
    """A float16 array's elements as exact Fractions (NaN and inf as floats)."""
    out = []
    for v in np.asarray(a, dtype=np.float16).reshape(-1):
        f = float(v)
        out.append(Fraction(f) if math.isfinite(f) else f)
    return out


# -- describe: what meta.json says evaluated exp, log, ... --------------------------------------


def test_describe_mpfr_names_mpfr_and_its_version():
    assert describe("mpfr") == {"math": "mpfr", "correctly_rounded": True,
                                "library": gmpy2.mpfr_version()}
    assert gmpy2.mpfr_version().startswith("MPFR ")


def test_describe_numpy_lists_this_machines_enabled_features():
    features = umath.__cpu_features__
    enabled = sorted(name for name in features if features[name] is True)
    assert describe("numpy") == {
        "math": "numpy", "correctly_rounded": False, "library": "numpy " + np.__version__,
        "cpu_features": enabled,
        "cpu_baseline": list(umath.__cpu_baseline__),
        "cpu_dispatch": list(umath.__cpu_dispatch__),
    }
    if any(not on for on in features.values()):  # x86: XOP, FMA4, ... are never present
        assert len(enabled) < len(features)


def test_describe_numpy_sorts_and_keeps_only_enabled_features(monkeypatch):
    monkeypatch.setattr(umath, "__cpu_features__", {"SSE2": True, "AVX2": True, "XOP": False,
                                                     "AVX512F": True, "NEON": False})
    monkeypatch.setattr(umath, "__cpu_baseline__", ("SSE", "SSE2"))
    monkeypatch.setattr(umath, "__cpu_dispatch__", ("AVX2", "AVX512F"))
    got = describe("numpy")
    assert got["cpu_features"] == ["AVX2", "AVX512F", "SSE2"]
    assert got["cpu_baseline"] == ["SSE", "SSE2"] and got["cpu_dispatch"] == ["AVX2", "AVX512F"]


def test_describe_numpy_without_cpu_tables_gives_empty_lists(monkeypatch):
    """A numpy built without CPU dispatch (or an older one) has none of the three tables."""
    for name in ("__cpu_features__", "__cpu_baseline__", "__cpu_dispatch__"):
        monkeypatch.delattr(umath, name)
    assert describe("numpy") == {"math": "numpy", "correctly_rounded": False,
                                 "library": "numpy " + np.__version__, "cpu_features": [],
                                 "cpu_baseline": [], "cpu_dispatch": []}


# -- exact rationals: flags of their one rounding ----------------------------------------------


@pytest.mark.parametrize("name, rule, q, value, flags", [
    # exactly max, and just above 1, and the smallest subnormal: exact, no flag
    ("float16", Rule(), F16_MAX, F16_MAX, set()),
    ("float16", Rule(), -F16_MAX, -F16_MAX, set()),
    ("float16", Rule(), 1 + Fraction(1, 2 ** 10), 1 + Fraction(1, 2 ** 10), set()),
    ("float16", Rule(), F16_SUB, F16_SUB, set()),
    ("float16", Rule(), -3 * F16_SUB, -3 * F16_SUB, set()),
    # inexact but normal: no flag (1/3 = 0.0101...b: 1365/4096 to 11 bits, below the tie)
    ("float16", Rule(), Fraction(1, 3), Fraction(1365, 4096), set()),
    # just above the smallest normal, rounding down to it: normal, so no underflow
    ("float16", Rule(), F16_TINY + Fraction(1, 2 ** 30), F16_TINY, set()),
    # tiny and inexact: underflow (2**-20/3 = 5.33 * 2**-24 rounds to 5 * 2**-24)
    ("float16", Rule(), Fraction(1, 3 * 2 ** 20), 5 * F16_SUB, {"underflow"}),
    ("float16", Rule(), -Fraction(1, 3 * 2 ** 20), -5 * F16_SUB, {"underflow"}),
    ("float16", Rule(), Fraction(1, 2 ** 30), 0.0, {"underflow"}),
    # beyond max: inf, or NaN without infinity; overflow, never invalid
    ("float16", Rule(), Fraction(10 ** 5), math.inf, {"overflow"}),
    ("float16", Rule(), Fraction(-10 ** 5), -math.inf, {"overflow"}),
    ("float8_e4m3fn", Rule(), Fraction(500), math.nan, {"overflow"}),
    # beyond max and clamped to it: saturating rule, rounding toward zero, a format that has
    # neither infinity nor NaN (float6_e2m3fn saturates at 7.5)
    ("float16", Rule(overflow="saturate"), Fraction(10 ** 5), F16_MAX, {"overflow"}),
    ("float16", Rule(overflow="saturate"), Fraction(-10 ** 5), -F16_MAX, {"overflow"}),
    ("float16", Rule(rounding="toward_zero"), Fraction(10 ** 5), F16_MAX, {"overflow"}),
    ("float6_e2m3fn", Rule(), Fraction(100), Fraction(15, 2), {"overflow"}),
])
def test_rational_inputs_flag_their_rounding(name, rule, q, value, flags):
    ar = Arith(FORMATS[name], rule=rule)
    r = ar.asarray(np.array([q], dtype=object))
    assert r.dtype == FORMATS[name].dtype and r.shape == (1,)
    got = float(r[0])
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(got)
    else:
        assert got == value
    assert ar.flags == flags


def test_rational_flags_are_judged_per_element_of_a_matrix():
    ar = Arith(F16)
    qs = np.array([[Fraction(1, 3), F16_MAX], [F16_SUB, Fraction(1, 3 * 2 ** 20)]], dtype=object)
    r = ar.asarray(qs)
    assert r.shape == (2, 2)
    assert f16_values(r) == [Fraction(1365, 4096), F16_MAX, F16_SUB, 5 * F16_SUB]
    assert ar.flags == {"underflow"}


def test_stochastic_rounding_of_rationals_draws_from_the_generator():
    """1/3 = 1365.33 quanta of 2**-12: up to 1366/4096 with probability 1/3, else 1365/4096;
    1/2 is exact and never moves. 300 draws land on both neighbours."""
    ar = Arith(F16, rule=Rule(rounding="stochastic"), rng=np.random.default_rng(3))
    r = ar.asarray(np.array([Fraction(1, 3)] * 300 + [Fraction(1, 2)], dtype=object))
    values = f16_values(r)
    assert values[-1] == Fraction(1, 2)
    assert set(values[:-1]) == {Fraction(1365, 4096), Fraction(1366, 4096)}
    assert 50 < values.count(Fraction(1366, 4096)) < 150
    assert ar.flags == set()


# -- erf under math = "numpy": the C library's, in float64, rounded once -------------------------


def test_numpy_erf_in_float16_is_the_float64_erf_rounded_once():
    """math.erf is within an ulp of float64: far from a float16 tie, rounding it once gives the
    correctly rounded float16 value, found here from mpmath."""
    xs = [0.5, -0.75, 3.0, 2.0 ** -12, 0.0]
    ar = Arith(F16, math="numpy")
    got = ar.erf(ar.asarray(np.array(xs)))
    assert got.dtype == np.float16
    with mpmath.workprec(200):
        expected = [nearest(fraction_of(mpmath.erf(x)), 11, -14) for x in xs]
    assert f16_values(got) == expected
    assert expected[0] == Fraction(1066, 2048) and expected[2] == 1  # erf(3) = 1 - 2.2e-5
    assert ar.flags == set()


def test_numpy_erf_of_the_smallest_float16_underflows():
    """erf(2**-24) = 2/sqrt(pi) * 2**-24 = 1.128 * 2**-24: tiny and inexact, 2**-24."""
    ar = Arith(F16, math="numpy")
    got = ar.erf(ar.asarray(np.array([2.0 ** -24, -(2.0 ** -24)])))
    assert f16_values(got) == [F16_SUB, -F16_SUB]
    assert ar.flags == {"underflow"}


def test_numpy_erf_in_float64_is_the_c_librarys_with_its_flags():
    """In float64 the value is math.erf's own; for the smallest subnormal the result
    1.128 * 2**-1074 is tiny and inexact, and the C library raises underflow for it: read from
    the FPU, since rounding float64 to float64 changes nothing."""
    ar = Arith(F64, math="numpy")
    xs = np.array([0.5, -2.0, 1e-3])
    got = ar.erf(xs)
    assert got.dtype == np.float64
    assert got.tolist() == [math.erf(x) for x in xs.tolist()]
    assert ar.flags == set()
    tiny = ar.erf(np.array([5e-324]))
    assert tiny.tolist() == [5e-324]
    assert ar.flags == {"underflow"}


@pytest.mark.parametrize("name", ["float16", "float64"])
def test_numpy_erf_of_nothing_is_empty(name):
    fmt = FORMATS[name]
    ar = Arith(fmt, math="numpy")
    got = ar.erf(np.zeros((0, 3), dtype=fmt.dtype))
    assert got.shape == (0, 3) and got.dtype == fmt.dtype
    assert ar.flags == set()


def test_math_numpy_functions_other_than_erf_are_numpys():
    ar = Arith(F64, math="numpy")
    x = np.array([0.5, 2.0])
    assert ar.exp(x).tolist() == np.exp(x).tolist()
    assert ar.tanh(x).tolist() == np.tanh(x).tolist()


# -- the elementary functions by MPFR: correctly rounded in float16 -----------------------------

XS = [0.5, 0.75, 3.0, 2.0 ** -12, 1000.0]
ORACLES = {"exp": mpmath.exp, "log": mpmath.log, "log1p": mpmath.log1p, "expm1": mpmath.expm1,
           "tanh": mpmath.tanh, "erf": mpmath.erf, "sqrt": mpmath.sqrt}


@pytest.mark.parametrize("name", list(ORACLES))
def test_function_is_correctly_rounded_in_float16(name):
    xs = XS if name not in ("exp", "expm1") else XS[:-1]  # exp(1000) overflows
    ar = Arith(F16)
    got = getattr(ar, name)(ar.asarray(np.array(xs)))
    assert got.dtype == np.float16 and got.shape == (len(xs),)
    with mpmath.workprec(200):
        expected = [nearest(fraction_of(ORACLES[name](mpmath.mpf(x))), 11, -14) for x in xs]
    assert f16_values(got) == expected
    assert ar.flags == set()


def test_function_results_hand_checked():
    """A few of the values above derived by hand: sqrt(2) = 1.0110101000001...b: 1448/1024;
    log1p(0.5) = 0.405465: 1660.8 quanta of 2**-12 in [0.25, 0.5); expm1(2**-12) =
    2**-12 (1 + 2**-13 + ...): below the tie 2**-12 (1 + 2**-11)."""
    ar = Arith(F16)
    assert f16_values(ar.sqrt(ar.asarray(np.array([2.0, 0.25])))) == [Fraction(1448, 1024),
                                                                     Fraction(1, 2)]
    assert f16_values(ar.log1p(ar.asarray(np.array([0.5])))) == [Fraction(1661, 4096)]
    assert f16_values(ar.expm1(ar.asarray(np.array([2.0 ** -12])))) == [Fraction(1, 2 ** 12)]


def test_sqrt_of_a_subnormal_is_normal_under_gradual_underflow():
    """sqrt(2**-24) = 2**-12, a normal number: the subnormal operand is read as it is."""
    ar = Arith(F16)
    assert f16_values(ar.sqrt(ar.asarray(np.array([2.0 ** -24])))) == [Fraction(1, 2 ** 12)]
    assert ar.flags == set()


def test_flush_rule_reads_subnormal_operands_as_zero():
    """Denormals-are-zero: sqrt(2**-24) is sqrt(+0) = +0 and log(2**-24) is log(0) = -inf
    (divide by zero), though 2**-12 and -16.6 are normal results."""
    ar = Arith(F16, rule=Rule(subnormals="flush"))
    sub = np.array([2.0 ** -24], dtype=np.float16)
    r = ar.sqrt(sub)
    assert float(r[0]) == 0 and not np.signbit(r[0])
    assert ar.flags == set()
    assert float(ar.log(sub)[0]) == -math.inf
    assert ar.flags == {"divide"}


# -- foreign code: run as is, flags collected -------------------------------------------------


def test_call_collects_every_fpu_flag_and_returns_the_result_unchanged():
    ar = Arith(F16)
    big, tiny = np.array([1e308]), np.array([1e-300])
    assert ar.call(np.multiply, big, np.array([10.0])).tolist() == [math.inf]
    assert ar.flags == {"overflow"}
    ar.call(np.multiply, tiny, tiny)
    ar.call(np.divide, np.array([1.0]), np.array([0.0]))
    ar.call(np.subtract, np.array([math.inf]), np.array([math.inf]))
    assert ar.flags == {"overflow", "underflow", "divide", "invalid"}


def test_call_passes_keywords_and_converts_nothing():
    ar = Arith(F16)
    out = np.zeros(2, dtype=np.float32)

    def scaled(x, *, by):
        return x * by

    r = ar.call(np.multiply, np.ones(2, np.float32), np.float32(3), out=out)
    assert r is out and r.dtype == np.float32 and r.tolist() == [3.0, 3.0]
    assert ar.call(scaled, np.float64(0.1), by=3) == 0.1 * 3  # float64, not float16
    assert ar.flags == set()


# -- sums, dot products, matrix-vector products -------------------------------------------------
# In float16 (ulp 2 at 2048) 2048 + 1 is a tie and goes to even, 2048; in float32 2048 + 1 + 1
# is exactly 2050, which float16 holds: rounding every step gives 2048, rounding once 2050.


def test_wider_accumulation_sums_along_the_given_axis():
    x = np.array([[2048.0, 1.0], [1.0, 1.0], [1.0, 2048.0]])  # columns: 2048, 1, 1 and 1, 1, 2048
    ar = Arith(F16)
    assert f16_values(ar.sum(ar.asarray(x), axis=0)) == [2048, 2050]
    wide = Arith(F16, accumulate=F32)
    got = wide.sum(wide.asarray(x), axis=0)
    assert got.dtype == np.float16 and f16_values(got) == [2050, 2050]
    assert f16_values(wide.sum(wide.asarray(x.T))) == [2050, 2050]  # axis -1 by default


def test_dot_rounds_every_step_or_once():
    a, b = np.array([2048.0, 1.0, 1.0]), np.ones(3)
    ar = Arith(F16)
    assert f16_values(ar.dot(ar.asarray(a), ar.asarray(b))) == [2048]
    wide = Arith(F16, accumulate=F32)
    got = wide.dot(wide.asarray(a), wide.asarray(b))
    assert got.dtype == np.float16 and got.shape == () and f16_values(got) == [2050]


def test_dot_of_batched_vectors_sums_the_last_axis():
    a = np.array([[2048.0, 1.0, 1.0], [1.0, 1.0, 2048.0]])
    ar = Arith(F16)
    got = ar.dot(ar.asarray(a), ar.asarray(np.ones((2, 3))))
    assert got.shape == (2,) and f16_values(got) == [2048, 2050]


def test_matvec_of_a_batch_of_matrices():
    """A of shape (2, 2, 3) times x of shape (2, 3): y[b, i] = sum_j A[b, i, j] x[b, j]."""
    A = np.array([[[2048.0, 1.0, 1.0], [1.0, 1.0, 2048.0]],
                  [[1.0, 2.0, 3.0], [0.5, 0.0, 4.0]]])
    x = np.array([[1.0, 1.0, 1.0], [2.0, 1.0, 0.25]])
    ar = Arith(F16)
    y = ar.matvec(ar.asarray(A), ar.asarray(x))
    assert y.shape == (2, 2)
    assert f16_values(y) == [2048, 2050, Fraction(19, 4), 2]  # 2 + 2 + 0.75; 1 + 0 + 1
    wide = Arith(F16, accumulate=F32)
    y = wide.matvec(wide.asarray(A), wide.asarray(x))
    assert y.dtype == np.float16 and f16_values(y) == [2050, 2050, Fraction(19, 4), 2]


@pytest.mark.parametrize("accumulate", [None, F32], ids=["format", "float32"])
@pytest.mark.parametrize("shape, axis, result", [
    ((2, 0), -1, (2,)), ((0, 3), 0, (3,)), ((2, 0, 3), 1, (2, 3)), ((0,), -1, ()),
])
def test_an_empty_sum_is_zero(accumulate, shape, axis, result):
    ar = Arith(F16, accumulate=accumulate)
    got = ar.sum(np.zeros(shape, dtype=np.float16), axis=axis)
    assert got.shape == result and got.dtype == np.float16
    assert not got.any() and not np.signbit(got).any()
    assert ar.flags == set()


@pytest.mark.parametrize("name, big", [("float32", 2.0 ** 24), ("float64", 2.0 ** 53)])
def test_native_sums_run_left_to_right_along_the_axis(name, big):
    """At 2**p, + 1 is a tie that stays at 2**p (even); 1 + 1 + 2**p is exactly 2**p + 2."""
    fmt = FORMATS[name]
    x = np.array([[big, 1.0, 1.0], [1.0, 1.0, big]], dtype=fmt.dtype)
    ar = Arith(fmt)
    assert ar.sum(x).tolist() == [big, big + 2]
    assert ar.sum(x.T, axis=0).tolist() == [big, big + 2]
    assert ar.sum(x, axis=0).tolist() == [big, 2.0, big]
    assert ar.flags == set()


def test_native_sum_flags_come_from_the_fpu():
    ar = Arith(F32)
    x = np.array([[3e38, 1.0], [3e38, 2.0]], dtype=np.float32)
    assert ar.sum(x, axis=0).tolist() == [math.inf, 3.0]
    assert ar.flags == {"overflow"}


def test_emulated_sum_along_axis_0_reads_flags_per_column():
    """float16 columns: 65504 + 65504 overflows to inf, then inf + 1; 1 + 2 + 3 is exact."""
    x = np.array([[65504.0, 1.0], [65504.0, 2.0], [1.0, 3.0]])
    ar = Arith(F16)
    assert f16_values(ar.sum(ar.asarray(x), axis=0)) == [math.inf, 6]
    assert ar.flags == {"overflow"}
    ar = Arith(F16)
    assert f16_values(ar.sum(ar.asarray(x.T), axis=-1)) == [math.inf, 6]
    assert ar.flags == {"overflow"}


@pytest.mark.parametrize("name, terms", [
    # bfloat16 max (2 - 2**-7) * 2**127 plus half its ulp 2**119: a tie, to even: 2**128,
    # past max; float32, in which ml_dtypes adds, holds the sum, so no FPU flag is raised
    ("bfloat16", [(2 - 2.0 ** -7) * 2.0 ** 127, 2.0 ** 119]),
    # float8_e4m3fn: 448 + 32 = 480 rounds past max, to NaN (no infinity)
    ("float8_e4m3fn", [448.0, 32.0]),
])
def test_emulated_sum_overflow_is_read_off_the_partial_sums(name, terms):
    ar = Arith(FORMATS[name])
    x = ar.asarray(np.array(terms))
    assert ar.flags == set()
    got = float(ar.sum(x))
    if FORMATS[name].has_inf:
        assert got == math.inf
    else:
        assert math.isnan(got)
    assert ar.flags == {"overflow"}


def test_emulated_sum_inf_minus_inf_is_invalid_along_axis_0():
    x = np.array([[1.0, 1.0], [math.inf, 2.0], [-math.inf, 3.0], [5.0, 4.0]])
    ar = Arith(F16)
    got = ar.sum(ar.asarray(x), axis=0)
    assert math.isnan(float(got[0])) and float(got[1]) == 10
    assert ar.flags == {"invalid"}


def test_a_nan_carried_through_a_sum_raises_nothing():
    """A quiet NaN operand signals nothing (IEEE 754 7.2): 1 + NaN + 2 + 3 is NaN, no flag."""
    for n in (3, 4):
        ar = Arith(F16)
        got = ar.sum(ar.asarray(np.array([1.0, math.nan, 2.0, 3.0][:n])))
        assert math.isnan(float(got))
        assert ar.flags == set()


def test_a_one_term_sum_under_the_flush_rule_reads_a_subnormal_as_zero():
    """Like every operand under denormals-are-zero: the sum of 2**-24 alone is +0, as is the
    sum of 2**-24 and 0."""
    ar = Arith(F16, rule=Rule(subnormals="flush"))
    for row in ([2.0 ** -24], [2.0 ** -24, 0.0]):
        got = ar.sum(np.array([row], dtype=np.float16))
        assert got.shape == (1,) and float(got[0]) == 0 and not np.signbit(got[0])


# -- the accumulator's arithmetic: same rule, generator and flags -------------------------------


def test_wide_accumulator_flags_reach_the_caller():
    """bfloat16 2**127 + 2**127 = 2**128 overflows float32 (max just below 2**128); the inf
    then rounds to bfloat16 without a flag of its own. Likewise inf - inf in the accumulator."""
    ar = Arith(BF16, accumulate=F32)
    x = ar.asarray(np.array([2.0 ** 127, 2.0 ** 127]))
    assert ar.flags == set()
    assert float(ar.sum(x)) == math.inf
    assert ar.flags == {"overflow"}
    ar = Arith(F16, accumulate=F32)
    got = ar.dot(ar.asarray(np.array([math.inf, 1.0])), ar.asarray(np.array([1.0, -math.inf])))
    assert math.isnan(float(got))
    assert ar.flags == {"invalid"}


def test_wide_accumulator_keeps_the_rule():
    """Upward: 1 + 2**-24 in float32 rounds up to 1 + 2**-23, and that up to 1 + 2**-10 in
    float16. To nearest, 1 + 2**-24 would be a tie, to even: 1."""
    ar = Arith(F16, accumulate=F32, rule=Rule(rounding="upward"))
    x = ar.asarray(np.array([1.0, 2.0 ** -24]))
    assert f16_values(x) == [1, F16_SUB]
    assert f16_values(ar.sum(x)) == [1 + Fraction(1, 2 ** 10)]
    near = Arith(F16, accumulate=F32)
    assert f16_values(near.sum(near.asarray(np.array([1.0, 2.0 ** -24])))) == [1]


def test_wide_accumulator_draws_from_the_same_generator():
    """Stochastic rounding in the accumulator needs the generator; exact sums stay exact."""
    rng = np.random.default_rng(7)
    ar = Arith(F16, accumulate=F32, rule=Rule(rounding="stochastic"), rng=rng)
    x = ar.asarray(np.array([1.0, 2.0, 4.0, 0.5]))
    assert f16_values(ar.sum(x)) == [Fraction(15, 2)]
    a, b = ar.asarray(np.array([2048.0, 1.0, 1.0])), ar.asarray(np.ones(3))
    assert f16_values(ar.dot(a, b)) == [2050]
    assert f16_values(ar.matvec(a[None, :], b)) == [2050]
    # the sums drew from rng: its next draw is not the first draw of a fresh generator
    assert rng.random() != np.random.default_rng(7).random()


@needs_x87
def test_longdouble_accumulator_rounds_its_exact_value_once():
    """2048*1 + 1*1 + 2**-24 * 2**-24 = 2049 + 2**-48 needs 60 bits: exact in x87's 64, not in
    float64's 53 (there it is 2049, a float16 tie, to even 2048). Rounded once from the
    longdouble value it is above the tie: 2050."""
    ar = Arith(F16, accumulate=FORMATS["longdouble"])
    a = ar.asarray(np.array([2048.0, 1.0, 2.0 ** -24]))
    b = ar.asarray(np.array([1.0, 1.0, 2.0 ** -24]))
    assert f16_values(ar.dot(a, b)) == [2050]
    assert ar.flags == set()


# -- the constructor's and operands' checks: messages that say what to do ------------------------


def test_constructor_messages():
    with pytest.raises(ValueError, match="^float16 is not wider than float32$"):
        Arith(F32, accumulate=F16)
    with pytest.raises(ValueError, match=r"^math must be one of \('mpfr', 'numpy'\), not 'libm'$"):
        Arith(F16, math="libm")
    with pytest.raises(ValueError, match="^stochastic rounding needs rng, a numpy Generator$"):
        Arith(F16, rule=Rule(rounding="stochastic"))
    with pytest.raises(ValueError, match=r"^float8_e8m0fnu cannot be computed in \(.*no zero"):
        Arith(FORMATS["float8_e8m0fnu"])
    assert Arith(F16).math == "mpfr" and Arith(F16, accumulate=F32).accumulate is F32


def test_operand_of_another_dtype_message():
    ar = Arith(F16)
    with pytest.raises(TypeError, match="^operand of dtype float64 in a float16 computation; "
                                        "convert inputs with asarray/const first$"):
        ar.exp(np.array([1.0]))


def test_unsupported_combination_is_refused_by_name():
    """numpy's exp under a directed rounding in float64: nothing can round it by the rule."""
    ar = Arith(F64, math="numpy", rule=Rule(rounding="upward"))
    with pytest.raises(NotImplementedError, match="^exp in float64 under rounding rule "
                                                   "upward/gradual/inf$"):
        ar.exp(np.array([1.0]))


@pytest.mark.parametrize("name", ["float64", "longdouble"])
def test_exact_operations_work_under_any_rule_in_wide_formats(name):
    """negative, absolute, maximum are exact: no rounding rule changes them, and they need
    no MPFR."""
    fmt = FORMATS[name]
    ar = Arith(fmt, rule=Rule(rounding="upward"))
    x = np.array([-1.5, 2.0], dtype=fmt.dtype)
    assert ar.apply(np.negative, x).tolist() == [1.5, -2.0]
    assert ar.apply(np.absolute, x).tolist() == [1.5, 2.0]
    assert ar.apply(np.maximum, x, x[::-1]).tolist() == [2.0, 2.0]
    assert ar.flags == set()


def test_a_ufunc_that_leaves_the_format_is_refused_by_name():
    ar = Arith(F32)
    with pytest.raises(TypeError, match="^signbit returned bool for float32$"):
        ar.apply(np.signbit, np.array([1.0], dtype=np.float32))


def test_float64_inputs_past_float32_flag_overflow_and_underflow():
    """1e39 > float32 max (2 - 2**-23) * 2**127 = 3.4e38: inf; 1e-50 < 2**-150, half the
    smallest subnormal: 0, tiny and inexact."""
    ar = Arith(F32)
    got = ar.asarray(np.array([1e39, -1e39, 1e-50, 1.5]))
    assert got.dtype == np.float32 and got.tolist() == [math.inf, -math.inf, 0.0, 1.5]
    assert ar.flags == {"overflow", "underflow"}


def test_round_array_takes_integers():
    """2049 is a float16 tie (ulp 2), to even 2048; 70000 is past max 65504: inf."""
    got = round_array(np.array([1, 2049, -70000]), F16)
    assert got.dtype == np.float16 and f16_values(got) == [1, 2048, -math.inf]


def test_integer_inputs_are_rounded_like_floats():
    ar = Arith(F16)
    got = ar.asarray(np.array([1, 2049, -70000]))  # 2049: a tie, to even 2048
    assert got.dtype == np.float16 and f16_values(got) == [1, 2048, -math.inf]
    assert ar.flags == {"overflow"}


# -- the flags of one value rounded: judged with Python floats, except for longdouble ----------

@pytest.mark.parametrize("shape", [(), (1,)])
def test_scalar_and_vector_conversions_flag_alike(shape):
    """A value and a one-element vector give the same flags: float16's max (none), 2**16
    (overflow), 2**-25 + 2**-40 (underflow: tiny and inexact), 2**-24 (none: exact), NaN and inf
    (none: not finite in)."""
    from fpstudy.arith import round_with_flags
    f16 = FORMATS["float16"]
    cases = [(65504.0, set()), (65536.0, {"overflow"}), (2.0 ** -25 + 2.0 ** -40, {"underflow"}),
             (2.0 ** -24, set()), (math.nan, set()), (-math.inf, set())]
    for value, flags in cases:
        assert round_with_flags(np.full(shape, value), f16)[1] == flags, value


def test_a_longdouble_value_is_judged_in_longdouble():
    """A longdouble 0-d value that float64 cannot hold (2**-16000 is 0 in float64, 2**16000 is
    inf) rounded to float16: underflow and overflow, judged in longdouble, not after a float()
    that would call the first exact and the second not finite."""
    from fpstudy.arith import round_with_flags
    if FORMATS["longdouble"].precision <= 53:
        pytest.skip("longdouble is float64 here")
    f16 = FORMATS["float16"]
    one = np.longdouble(1)
    assert round_with_flags(np.array(np.ldexp(one, -16000)), f16)[1] == {"underflow"}
    assert round_with_flags(np.array(np.ldexp(one, 16000)), f16)[1] == {"overflow"}
