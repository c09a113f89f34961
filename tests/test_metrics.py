"""Outcomes, truth classes and errors, for scalars and vectors, from limits derived by hand."""

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from conftest import COMPUTABLE, WITH_INF

from fpstudy.exact import to_mpf, ulp
from fpstudy.formats import FORMATS
from fpstudy.metrics import measure, rel_error, truth_class, ulp_error, value_outcome

mpf = mpmath.mpf


def limits(fmt):
    return to_mpf(fmt.max), to_mpf(fmt.smallest_normal), to_mpf(fmt.smallest_subnormal)


@pytest.mark.parametrize("name", COMPUTABLE)
def test_truth_classes_at_the_limits(name):
    fmt = FORMATS[name]
    big, normal, sub = limits(fmt)
    with mpmath.workprec(20000):
        assert truth_class(mpf(0), fmt) == "zero"
        assert truth_class(big, fmt) == "normal"
        assert truth_class(-big, fmt) == "normal"
        assert truth_class(big * 4, fmt) == "overflows"
        assert truth_class(normal, fmt) == "normal"
        assert truth_class(normal / 2, fmt) == "subnormal"
        assert truth_class(sub, fmt) == "subnormal"
        # half the smallest subnormal is a tie between 0 and it: to even, 0
        assert truth_class(sub / 2, fmt) == "underflows"
        assert truth_class(sub / 2 * (1 + mpmath.ldexp(1, -30)), fmt) == "subnormal"
        assert truth_class(sub / 3, fmt) == "underflows"


@pytest.mark.parametrize("name", WITH_INF)
def test_overflow_threshold_is_max_plus_half_an_ulp(name):
    # max has an odd last significand bit, so the tie max + ulp/2 rounds up, past max.
    fmt = FORMATS[name]
    big = to_mpf(fmt.max)
    with mpmath.workprec(20000):
        half_ulp = ulp(big, fmt) / 2
        assert truth_class(big + half_ulp * (1 - mpmath.ldexp(1, -40)), fmt) == "normal"
        assert truth_class(big + half_ulp, fmt) == "overflows"


def test_float8_e4m3fn_tie_at_464_stays_finite():
    fmt = FORMATS["float8_e4m3fn"]
    assert truth_class(mpf(464), fmt) == "normal"      # 448 = 1.110b * 2**8 is even
    assert truth_class(mpf(465), fmt) == "overflows"


@pytest.mark.parametrize("value, truth, outcome", [
    (mpf("nan"), mpf(1), "nan"),
    (mpf("inf"), mpf(1), "overflow"),
    (-mpf("inf"), mpf(-1), "overflow"),
    (mpf(0), mpf("1e-30"), "underflow"),
    (mpf(0), mpf(0), "ok"),
    (mpmath.ldexp(1, -20), mpmath.ldexp(1, -20), "subnormal"),   # float16: below 2**-14
    (mpmath.ldexp(1, -14), mpmath.ldexp(1, -14), "ok"),
    (mpf(3), mpf(0), "ok"),
])
def test_value_outcome_float16(value, truth, outcome):
    assert value_outcome(value, truth, FORMATS["float16"]) == outcome


def test_vector_outcome_is_the_worst_element_and_its_class():
    f16 = FORMATS["float16"]
    value = np.array([1.0, 0.0, 2.0 ** -20, np.inf], dtype=np.float16)
    truth = [mpf(1), mpf("1e-9"), mpmath.ldexp(1, -20), mpf(70000)]
    m = measure(value, truth, f16)
    assert (m.outcome, m.truth_class) == ("overflow", "overflows")
    assert m.value == np.inf and m.truth == 70000
    assert m.rel_error == np.inf

    value = np.array([1.0, 0.0, 0.0], dtype=np.float16)
    truth = [mpf(1), mpf("1e-9"), mpf("1e-6")]  # 1e-9 underflows in float16, 1e-6 does not
    m = measure(value, truth, f16)
    assert m.outcome == "underflow"
    assert m.truth_class == "subnormal"  # the largest truth among the underflowed: avoidable


def test_nan_outranks_everything():
    m = measure(np.array([np.nan, np.inf, 0.0], dtype=np.float32),
                [mpf(1), mpf(1), mpf(1)], FORMATS["float32"])
    assert m.outcome == "nan" and np.isnan(m.value) and np.isnan(m.rel_error)


def test_scalar_keeps_its_sign():
    m = measure(np.array(-2.0, dtype=np.float64), [mpf(-2)], FORMATS["float64"])
    assert (m.value, m.truth, m.rel_error, m.outcome) == (-2.0, -2.0, 0.0, "ok")
    assert m.truth_log10 == pytest.approx(np.log10(2))


def test_truth_beyond_float64_is_kept_as_log10():
    big = mpmath.power(10, 5000)
    m = measure(np.array(np.inf, dtype=np.float64), [big], FORMATS["float64"])
    assert m.truth == np.inf and m.truth_log10 == pytest.approx(5000)
    tiny = mpmath.power(10, -5000)
    m = measure(np.array(0.0, dtype=np.float64), [tiny], FORMATS["float64"])
    assert m.truth == 0.0 and m.truth_log10 == pytest.approx(-5000)
    assert (m.outcome, m.truth_class) == ("underflow", "underflows")


def test_errors_normwise_and_in_ulps():
    # value 1 + 3*2**-10 against truth 1 in float16: 3 ulps (ulp(1) = 2**-10)
    v = [mpf(1) + 3 * mpmath.ldexp(1, -10)]
    assert ulp_error(v, [mpf(1)], FORMATS["float16"]) == 3
    assert rel_error(v, [mpf(1)]) == 3 * 2.0 ** -10
    # normwise: max|v - t| / max|t| = 1 / 4
    assert rel_error([mpf(5), mpf(1)], [mpf(4), mpf(1)]) == 0.25
    assert rel_error([mpf(1)], [mpf(0)]) == np.inf
    assert rel_error([mpf(0)], [mpf(0)]) == 0.0
    # at 0 the ulp is the smallest subnormal
    assert ulp_error([mpmath.ldexp(1, -23)], [mpf(0)], FORMATS["float16"]) == 2


def test_measuring_a_long_constant_vector_costs_one_element():
    n = 100_000
    value = np.full(n, 1e-5, dtype=np.float16)  # 1e-5 is subnormal in float16 (< 2**-14)
    m = measure(value, [mpmath.mpf(1e-5)] * n, FORMATS["float16"])
    assert (m.outcome, m.truth_class) == ("subnormal", "subnormal")
    assert m.value == float(np.float16(1e-5))


# -- the fast path: numpy picks the deciding elements, mpmath measures them -------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fpstudy.arith import round_array  # noqa: E402
from fpstudy.truth import approximation  # noqa: E402

_EDGE = {
    "float16": [2.0 ** -25, 2.0 ** -24, 2.0 ** -14, 65504.0, 65520.0, 3 * 2.0 ** -26],
    "bfloat16": [2.0 ** -134, 2.0 ** -133, 2.0 ** -126, 3.3895313892515355e38],
    "float32": [2.0 ** -150, 2.0 ** -149, 2.0 ** -126, 3.4028234663852886e38],
    "float64": [2.0 ** -800, 2.0 ** 800, 1.5 * 2.0 ** -899],  # the fast path's range: 2**+-900
}


# truths with no float64 (hi, lo) pair: only their log2 magnitude is approximated
_FAR = [mpmath.mpf(2) ** -950, mpmath.mpf(2) ** -1074, mpmath.mpf(3) * mpmath.mpf(2) ** -3001,
        mpmath.mpf(2) ** 950, mpmath.mpf(2) ** 3000]


@st.composite
def vector_case(draw):
    name = draw(st.sampled_from(list(_EDGE)))
    n = draw(st.integers(9, 40))
    scale = draw(st.sampled_from([1.0, 1e-5, 2.0 ** -20, 1e4]))
    base = draw(st.lists(st.floats(-4, 4, allow_nan=False), min_size=n, max_size=n))
    with mpmath.workprec(120):  # truths between the format values, past float64's precision
        truths = [mpmath.mpf(b) * scale * (1 + mpmath.mpf(2) ** -70 * k)
                  for k, b in enumerate(base)]
    edge = _EDGE[name]
    for i in draw(st.lists(st.integers(0, n - 1), max_size=4)):
        truths[i] = mpmath.mpf(draw(st.sampled_from(edge))) * draw(st.sampled_from([1, -1]))
    if draw(st.booleans()):
        truths[draw(st.integers(0, n - 1))] = mpmath.mpf(0)
    for i in draw(st.lists(st.integers(0, n - 1), max_size=3)):  # beyond 2**+-900
        with mpmath.workprec(120):
            truths[i] = draw(st.sampled_from(_FAR)) * (1 + mpmath.mpf(2) ** -60 * i) \
                * draw(st.sampled_from([1, -1]))
    fmt = FORMATS[name]
    with np.errstate(all="ignore"):
        values = round_array(np.array([float(t) for t in truths]), fmt)
        for i in draw(st.lists(st.integers(0, n - 1), max_size=3)):
            special = draw(st.sampled_from([0.0, -0.0, np.nan, np.inf, -np.inf, 1.0, 2.0 ** -24]))
            values[i] = np.asarray(special).astype(fmt.dtype)
    return values, truths, fmt


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(vector_case())
def test_fast_measure_equals_the_exact_one(case):
    values, truths, fmt = case
    approx = approximation(truths)
    slow = measure(values, truths, fmt)
    fast = measure(values, truths, fmt, approx)
    for column, want in slow.__dict__.items():
        got = fast.__dict__[column]
        assert got == want or (got != got and want != want), (column, got, want)


def test_far_outside_float64_only_the_magnitude_is_approximated():
    hi, lo, is_zero, log2_abs = approximation(
        [mpmath.mpf(2) ** -1074, mpmath.mpf(1), -mpmath.mpf(3) * mpmath.mpf(2) ** 2000,
         mpmath.mpf(0)]).T
    assert hi.tolist() == [0.0, 1.0, 0.0, 0.0] and lo.tolist() == [0.0] * 4
    assert is_zero.tolist() == [0, 0, 0, 1]
    assert log2_abs[:2].tolist() == [-1074.0, 0.0] and log2_abs[3] == -np.inf
    assert log2_abs[2] == pytest.approx(2000 + math.log2(3), abs=1e-12)
    assert approximation([mpmath.mpf("inf")]) is None


def test_fast_measure_of_a_vector_mostly_below_float64():
    """softmax of a spike: one probability near 1, the rest e**-1000 or so (far below 2**-900)
    that every format rounds to 0; their errors are their truths, far below the large one's."""
    fmt = FORMATS["float64"]
    with mpmath.workprec(100):
        truths = [mpmath.mpf(1) - mpmath.mpf(2) ** -60] + [mpmath.exp(-1000 - k)
                                                          for k in range(30)]
    values = np.zeros(31)
    values[0] = 1.0
    slow = measure(values, truths, fmt)
    fast = measure(values, truths, fmt, approximation(truths))
    assert fast == slow and fast.outcome == "underflow" and fast.truth_class == "underflows"
    assert fast.rel_error == pytest.approx(2.0 ** -60, rel=1e-9, abs=0)


def test_fast_measure_on_a_constant_vector_and_ties():
    fmt = FORMATS["float16"]
    truths = [mpmath.mpf(2) ** -25] * 50  # half the smallest subnormal: a tie, rounds to 0
    values = np.zeros(50, dtype=np.float16)
    slow = measure(values, truths, fmt)
    fast = measure(values, truths, fmt, approximation(truths))
    assert fast == slow and fast.outcome == "underflow" and fast.truth_class == "underflows"


def _both_ways(values, truths, fmt=FORMATS["float64"]):
    values = np.array(values, dtype=np.float64)
    slow = measure(values, truths, fmt)
    fast = measure(values, truths, fmt, approximation(truths))
    assert fast == slow
    return fast


def test_fast_measure_keeps_a_tiny_truths_error():
    """2**-1000 computed as 2**-20: the largest error, though neither the largest truth nor the
    largest value (1 + 2**-60 computed as 1)."""
    with mpmath.workprec(100):
        one = mpmath.mpf(1) + mpmath.mpf(2) ** -60
    m = _both_ways([1.0] * 9 + [2.0 ** -20], [one] * 9 + [mpmath.mpf(2) ** -1000])
    assert m.rel_error == pytest.approx(2.0 ** -20, rel=1e-9, abs=0)


def test_fast_measure_keeps_every_huge_truth():
    """2**999 computed as 1 next to 2**1000 computed exactly: the error 2**999 - 1 belongs to
    an element that is neither the largest truth nor the worst outcome."""
    m = _both_ways([2.0 ** 1000] * 9 + [1.0], [mpmath.mpf(2) ** 1000] * 9 + [mpmath.mpf(2) ** 999])
    assert m.rel_error == 0.5


def test_fast_measure_when_every_truth_is_tiny():
    """All truths below 2**-900, whose errors are known only to within 2**-899: 2**-950
    computed exactly (its approximate error, |value|, is the largest) and 2**-1000 computed
    as 2**-960 (the real largest error)."""
    m = _both_ways([2.0 ** -950] * 9 + [2.0 ** -960],
                   [mpmath.mpf(2) ** -950] * 9 + [mpmath.mpf(2) ** -1000])
    assert m.rel_error == pytest.approx(2.0 ** -10 - 2.0 ** -50, rel=1e-9, abs=0)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 2 ** 400), st.integers(-1300, 1000), st.booleans())
def test_approximation_to_106_bits_against_fractions(man, exp, negative):
    """hi + lo is the exact m * 2**exp to 2**-104 relative inside 2**+-900, and log2_abs its
    log2, by Fraction arithmetic; outside, hi = lo = 0 and only log2_abs is kept."""
    from mpmath import libmp

    x = mpmath.mp.make_mpf(libmp.from_man_exp(-man if negative else man, exp))
    exact = (-1) ** negative * Fraction(man) * Fraction(2) ** exp
    (hi, lo, zero, log2_abs), = approximation([x])
    assert zero == 0
    assert abs(log2_abs - (math.log2(man) + exp)) < 1e-9
    if -900 < man.bit_length() - 1 + exp < 900:  # floor(log2 |x|), exactly
        assert abs(Fraction(hi) + Fraction(lo) - exact) <= abs(exact) / 2 ** 104
        assert (hi < 0) == negative and abs(lo) <= abs(hi) * 2.0 ** -52
    else:
        assert hi == lo == 0.0


def test_fast_measure_when_the_largest_error_is_a_tiny_truth_computed_as_zero():
    """2**-880 computed exactly and 30 truths of 2**-950 * (1 + k/64) (below the fast path's
    2**-900) computed as 0: the largest error, 2**-950 * (1 + 29/64) at k = 29, is found by
    log2|truth| among a handful of elements."""
    from fpstudy.metrics import _deciding_elements

    two = mpmath.mpf(2)
    truths = [two ** -880] + [two ** -950 * (1 + mpmath.mpf(k) / 64) for k in range(30)]
    values = np.zeros(31)
    values[0] = 2.0 ** -880
    m = _both_ways(values, truths)
    assert m.rel_error == (1 + 29 / 64) * 2.0 ** -70
    kept = _deciding_elements(values, approximation(truths), FORMATS["float64"])
    assert kept.tolist() == [0, 30]  # the largest truth and value; the largest error


def _near_tiny_case(with_f: bool):
    """Around 2**-900, in units u = 2**-900: C = 2**-890 exact (the largest truth and value),
    six 2**-893 exact, A = 2**-895 computed with error 1.75u, B = 2**-901 (tiny: no (hi, lo))
    computed as 2**-899 (error 1.5u, known only as 2u within u); with F = 2**-1000 computed as
    2**-896 (error 16u - 2**-1000) the largest error is F's."""
    two = mpmath.mpf(2)
    truths = [two ** -890] + [two ** -893] * 6 + [two ** -895, two ** -901]
    values = [2.0 ** -890] + [2.0 ** -893] * 6 + [2.0 ** -895 + 7 * 2.0 ** -902, 2.0 ** -899]
    if with_f:
        truths.append(two ** -1000)
        values.append(2.0 ** -896)
    return np.array(values), truths


def test_fast_measure_weighs_a_tiny_truths_error_by_its_bounds():
    """B's error, known only within 2**-900, cannot hide A's larger one (1.75u against 1.5u)."""
    from fpstudy.metrics import _deciding_elements

    values, truths = _near_tiny_case(with_f=False)
    m = _both_ways(values, truths)
    assert m.rel_error == 1.75 * 2.0 ** -10
    assert _deciding_elements(values, approximation(truths), FORMATS["float64"]).tolist() == \
        [0, 7, 8]  # C; A, the largest error; B, which might be as large (up to 3u)


def test_fast_measure_leaves_out_errors_below_a_tiny_truths_bound():
    """F's error is at least 15u: A (1.75u) and B (at most 3u) cannot decide anything."""
    from fpstudy.metrics import _deciding_elements

    values, truths = _near_tiny_case(with_f=True)
    m = _both_ways(values, truths)
    assert m.rel_error == pytest.approx(16 * 2.0 ** -10, rel=2.0 ** -50, abs=0)
    assert _deciding_elements(values, approximation(truths), FORMATS["float64"]).tolist() == \
        [0, 9]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(list(FORMATS)), st.integers(1, 2 ** 70), st.integers(-16500, 16500),
       st.booleans())
def test_truth_class_by_binade_agrees_with_exact_rounding(name, man, exp, negative):
    """truth_class decides most numbers by their binade; the exact rounding
    (round_to_format) must agree everywhere, near each class boundary included."""
    from mpmath import libmp

    from fpstudy.metrics import _rounded_class

    fmt = FORMATS[name]
    x = mpmath.mp.make_mpf(libmp.from_man_exp(-man if negative else man, exp))
    assert truth_class(x, fmt) == _rounded_class(x, fmt)
    for k in (fmt.min_exponent - fmt.precision - 2, fmt.min_exponent - fmt.precision,
              fmt.min_exponent - 1, fmt.min_exponent, fmt.max_exponent - 2,
              fmt.max_exponent - 1, fmt.max_exponent):  # the binades next to each boundary
        y = mpmath.mp.make_mpf(libmp.from_man_exp(man, k - int(man).bit_length() + 1))
        assert truth_class(y, fmt) == _rounded_class(y, fmt), (k, y)


@pytest.mark.parametrize("name, max_, half_ulp", [
    ("float16", 65504, 16), ("bfloat16", (2 - 2 ** -7) * 2 ** 127, 2 ** 119),
    ("float32", (2 - 2 ** -23) * 2 ** 127, 2 ** 103),
    ("float64", (2 - 2 ** -52) * 2 ** 1023, 2 ** 970)])
def test_truth_class_at_the_overflow_threshold(name, max_, half_ulp):
    """max + ulp/2 is a tie that rounds to even, 2**emax: it overflows; a hair below it rounds
    to max (normal). Both lie in max's binade, where the binade alone cannot decide."""
    fmt = FORMATS[name]
    with mpmath.workprec(2000):
        threshold = mpmath.mpf(max_) + half_ulp
        assert truth_class(threshold, fmt) == "overflows"
        assert truth_class(threshold - threshold * mpmath.mpf(2) ** -200, fmt) == "normal"
        assert truth_class(mpmath.mpf(max_), fmt) == "normal"
