"""fpstudy.metrics' fast path on the vectors its mutants showed untested.

`measure(..., approx)` lets numpy pick the elements that can decide a column and measures only
those; the answer must be the one measured on every element. These vectors are built so that
the worst outcome's culprit (the element of largest truth among those with the worst outcome,
whose truth class is reported) is neither the first such element, nor the largest truth of the
vector, nor the largest error: only the severity ranking finds it. Classes are from float32's
limits (smallest normal 2**-126) and float16's (2**-14).
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest

from fpstudy.formats import FORMATS
from fpstudy.metrics import measure, rel_error, truth_class, ulp_error, value_outcome
from fpstudy.truth import approximation

mpf = mpmath.mpf
F32, F16 = FORMATS["float32"], FORMATS["float16"]
needs_x87 = pytest.mark.skipif(np.finfo(np.longdouble).nmant != 63,
                               reason="longdouble is not x87 extended precision")


def both(values, truths, fmt):
    """The measurement without and with the fast path; they must agree."""
    slow = measure(values, truths, fmt)
    fast = measure(values, truths, fmt, approximation(truths))
    return slow, fast


def filler(n):
    """n elements 0.5, measured exactly (value = truth), the smallest in the vector."""
    return [0.5] * n, [mpf(0.5)] * n


@pytest.mark.parametrize("bad, outcome", [(np.nan, "nan"), (np.inf, "overflow")])
def test_culprit_of_several_nans_or_infs_is_the_largest_truth_not_the_first(bad, outcome):
    """NaN (or inf) at 2**-130 (a subnormal truth in float32) first, at 1 (normal) second,
    the largest truth 10**6 elsewhere: the outcome is nan (overflow) and its class that of
    the one at 1."""
    fill_v, fill_t = filler(8)
    values = np.array([bad, bad, 1e6] + fill_v, dtype=np.float32)
    truths = [mpmath.ldexp(1, -130), mpf(1), mpf(10 ** 6)] + fill_t
    slow, fast = both(values, truths, F32)
    assert (slow.outcome, slow.truth_class) == (outcome, "normal")
    assert (fast.outcome, fast.truth_class) == (outcome, "normal")


def test_nan_outranks_inf_in_the_fast_path():
    """An inf with a larger truth (100) than every NaN must not push the NaN at 1 out."""
    fill_v, fill_t = filler(8)
    values = np.array([np.nan, np.nan, np.inf, 1e6] + fill_v, dtype=np.float32)
    truths = [mpmath.ldexp(1, -130), mpf(1), mpf(100), mpf(10 ** 6)] + fill_t
    slow, fast = both(values, truths, F32)
    assert (slow.outcome, slow.truth_class) == ("nan", "normal")
    assert (fast.outcome, fast.truth_class) == ("nan", "normal")


def test_an_exact_zero_does_not_hide_a_subnormal():
    """float16: 0 for a truth of 0 is ok; 2**-20 is subnormal (below 2**-14) and exact; the
    largest truth and error are at 1 (value 1, truth 1 + 2**-12). The outcome is subnormal."""
    fill_v, fill_t = filler(8)
    values = np.array([0.0, 2.0 ** -20, 1.0] + fill_v, dtype=np.float16)
    truths = [mpf(0), mpmath.ldexp(1, -20), 1 + mpmath.ldexp(1, -12)] + fill_t
    slow, fast = both(values, truths, F16)
    assert (slow.outcome, slow.truth_class) == ("subnormal", "subnormal")
    assert (fast.outcome, fast.truth_class) == ("subnormal", "subnormal")
    assert fast == slow


def test_culprit_among_subnormal_results():
    """float16: 2**-20 for itself (subnormal class) first; 2**-15 for 2**-14 - 2**-30, which
    rounds to the normal 2**-14 (normal class), second. The outcome is subnormal, of class
    normal (an avoidable one), though neither holds the largest truth or error (1 + 2**-12,
    computed as 1). The smallest normal 2**-14 for itself, a larger truth, is ok: it must not
    count as subnormal."""
    fill_v, fill_t = filler(8)
    values = np.array([2.0 ** -20, 2.0 ** -15, 2.0 ** -14, 1.0] + fill_v, dtype=np.float16)
    truths = [mpmath.ldexp(1, -20), mpmath.ldexp(1, -14) - mpmath.ldexp(1, -30),
              mpmath.ldexp(1, -14), 1 + mpmath.ldexp(1, -12)] + fill_t
    slow, fast = both(values, truths, F16)
    assert (slow.outcome, slow.truth_class) == ("subnormal", "normal")
    assert fast == slow


def test_underflow_outranks_a_subnormal_of_larger_truth():
    """float16: 0 for 2**-30 (class underflows) first, 0 for 2**-16 (class subnormal)
    second, 2**-15 exact (subnormal, a larger truth): the outcome is underflow, of class
    subnormal."""
    fill_v, fill_t = filler(8)
    values = np.array([0.0, 0.0, 2.0 ** -15, 1.0] + fill_v, dtype=np.float16)
    truths = [mpmath.ldexp(1, -30), mpmath.ldexp(1, -16), mpmath.ldexp(1, -15),
              1 + mpmath.ldexp(1, -12)] + fill_t
    slow, fast = both(values, truths, F16)
    assert (slow.outcome, slow.truth_class) == ("underflow", "subnormal")
    assert fast == slow


def test_largest_value_is_measured_even_when_it_decides_nothing_else():
    """float16: 2 computed for 2 - 2**-11, and 2 - 2**-10 computed for 2 - 2**-12, which has
    the larger truth and the larger error (3 * 2**-12 against 2**-11): value_log10 is
    log10 of the largest value, 2."""
    fill_v, fill_t = filler(8)
    values = np.array([2.0, 2 - 2.0 ** -10] + fill_v, dtype=np.float16)
    truths = [2 - mpmath.ldexp(1, -11), 2 - mpmath.ldexp(1, -12)] + fill_t
    slow, fast = both(values, truths, F16)
    assert slow.value_log10 == float(mpmath.log10(2))
    assert fast == slow


def test_each_column_decided_by_a_different_element():
    """float16: the largest truth is at 1 + 2**-13 (computed as 1), the largest value
    1 + 2**-10 (for 1), the largest error 2**-8 (0.5 for 0.5 + 2**-8), the worst outcome at
    2**-20 (subnormal, exact). truth, rel_error = 2**-8 / (1 + 2**-13), ulp_error (ulp 2**-10
    at the largest truth: 4), value_log10 and the outcome each need their own element."""
    fill_v, fill_t = filler(8)
    values = np.array(fill_v + [1.0, 1 + 2.0 ** -10, 0.5, 2.0 ** -20], dtype=np.float16)
    truths = fill_t + [1 + mpmath.ldexp(1, -13), mpf(1), 0.5 + mpmath.ldexp(1, -8),
                       mpmath.ldexp(1, -20)]
    slow, fast = both(values, truths, F16)
    assert (slow.outcome, slow.truth_class) == ("subnormal", "subnormal")
    assert slow.truth == 1 + 2.0 ** -13
    assert slow.rel_error == float(mpmath.mpf(2) ** -8 / (1 + mpmath.mpf(2) ** -13))
    assert slow.ulp_error == 4.0
    assert slow.value_log10 == float(mpmath.log10(1 + mpmath.mpf(2) ** -10))
    assert fast == slow


def test_an_error_far_below_the_truths_is_still_measured():
    """float64: 1 computed for 1 + 2**-70 is the only error (2**-70, relative 2**-71 of the
    largest truth 2): the fast path keeps it however small it is against the truths."""
    fill_v, fill_t = filler(8)
    values = np.array(fill_v + [1.0, 2.0])
    with mpmath.workprec(80):  # 1 + 2**-70 needs 71 bits
        truths = fill_t + [1 + mpmath.ldexp(1, -70), mpf(2)]
    slow, fast = both(values, truths, FORMATS["float64"])
    assert slow.rel_error == 2.0 ** -71
    assert fast == slow


def test_all_nan_vector_measures_without_a_warning():
    """Every element NaN: nan outcome and errors, and no numpy warning on the way (the tests
    turn warnings into errors; nanmax of an all-NaN array warns)."""
    values = np.full(12, np.nan, dtype=np.float32)
    truths = [mpf(k + 1) for k in range(12)]
    slow, fast = both(values, truths, F32)
    assert (fast.outcome, fast.truth_class) == (slow.outcome, slow.truth_class) == ("nan",
                                                                                   "normal")
    assert np.isnan(fast.rel_error) and np.isnan(fast.value) and fast.truth == 12


# -- the exact path: shapes, empty vectors, longdouble, signs ---------------------------------

def test_matrix_result_fast_path_equals_the_exact_one():
    """A 3 x 4 float16 matrix (the fast path flattens it, measures 3 of its elements): 0.25
    everywhere, 0.5 at [0, 3] (the largest value and truth), 2**-20 exact at [1, 2] (the one
    subnormal), 0.25 for 0.25 + 2**-9 at [2, 1] (the only error)."""
    values = np.full((3, 4), 0.25, dtype=np.float16)
    truths = [mpf(0.25)] * 12
    values[0, 3], truths[3] = 0.5, mpf(0.5)
    values[1, 2], truths[6] = 2.0 ** -20, mpmath.ldexp(1, -20)
    truths[9] = 0.25 + mpmath.ldexp(1, -9)
    slow, fast = both(values, truths, F16)
    assert (slow.outcome, slow.truth_class) == ("subnormal", "subnormal")
    assert slow.rel_error == 2.0 ** -8          # 2**-9 / 0.5
    assert slow.value == 0.5 and slow.truth == 0.5
    assert fast == slow


def test_empty_result():
    """No elements: nothing went wrong, the truth norm is 0 and so are the errors."""
    m = measure(np.zeros(0, dtype=np.float16), [], F16)
    assert (m.outcome, m.truth_class) == ("ok", "zero")
    assert (m.value, m.truth, m.rel_error, m.ulp_error) == (0.0, 0.0, 0.0, 0.0)
    assert m.truth_log10 == m.value_log10 == -np.inf


def test_sizes_must_match():
    with pytest.raises(ValueError, match="^value has 3 elements, truth 2$"):
        measure(np.zeros(3, dtype=np.float16), [mpf(0), mpf(0)], F16)
    with pytest.raises(ValueError):
        rel_error([mpf(1), mpf(2)], [mpf(1)])


def test_errors_of_empty_vectors_are_zero():
    assert rel_error([], []) == 0.0
    assert ulp_error([], [], F16) == 0.0


@needs_x87
def test_longdouble_scalar_beyond_float64_shows_inf_without_a_warning():
    """2**2000 is a longdouble value: its float64 column is inf (no overflow warning), its
    log10 is 2000 log10(2), and it is ok."""
    x = np.ldexp(np.longdouble(1), 2000)
    m = measure(np.asarray(x), [mpmath.ldexp(1, 2000)], FORMATS["longdouble"])
    assert m.value == np.inf and m.outcome == "ok" and m.rel_error == 0.0
    assert m.value_log10 == pytest.approx(2000 * math.log10(2), rel=1e-15)


@needs_x87
def test_longdouble_vector_is_measured_exactly():
    """1 + 2**-63 against a truth of 1 + 2**-62: an error of 2**-63, a longdouble ulp at 1
    (ulp_error 1), lost if the value went through float64."""
    one_and_a_bit = np.longdouble(1) + np.ldexp(np.longdouble(1), -63)
    values = np.array([one_and_a_bit, np.longdouble(0.5)])
    with mpmath.workprec(80):
        truths = [1 + mpmath.ldexp(1, -62), mpf(0.5)]
    m = measure(values, truths, FORMATS["longdouble"])
    assert m.ulp_error == 1.0 and m.outcome == "ok"


def test_negative_truth_beyond_max_overflows():
    """-4 * max rounds to -inf: overflows, like +4 * max."""
    for name in ("float16", "float8_e4m3fn"):
        fmt = FORMATS[name]
        big = mpmath.mpf(float(fmt.max)) * 4
        assert truth_class(-big, fmt) == truth_class(big, fmt) == "overflows"


def test_value_at_max_for_a_truth_beyond_it_is_an_overflow():
    """A saturated (or directed) rounding gives +-max where the truth overflows: that is an
    overflow. max for a truth of max, and a finite value below max, are not."""
    for name in ("float16", "float8_e4m3fn"):
        fmt = FORMATS[name]
        top = mpf(float(fmt.max))
        assert value_outcome(top, 4 * top, fmt) == "overflow"
        assert value_outcome(-top, -4 * top, fmt) == "overflow"
        assert value_outcome(top, top, fmt) == "ok"
        assert value_outcome(mpf(1), 4 * top, fmt) == "ok"


def test_logs_of_one():
    """log10 of a value and a truth of exactly 1 is 0 (not -inf, which is log10 of 0)."""
    m = measure(np.array(1.0, dtype=np.float16), [mpf(1)], F16)
    assert (m.value_log10, m.truth_log10) == (0.0, 0.0)
    m = measure(np.array([1.0, -0.5], dtype=np.float16), [mpf(1), mpf(-0.5)], F16)
    assert (m.value_log10, m.truth_log10) == (0.0, 0.0)


@needs_x87
def test_longdouble_vector_beyond_float64_shows_inf_without_a_warning():
    x = np.ldexp(np.longdouble(1), 2000)
    m = measure(np.array([x, np.longdouble(1)]), [mpmath.ldexp(1, 2000), mpf(1)],
                FORMATS["longdouble"])
    assert m.value == np.inf and m.outcome == "ok" and m.rel_error == 0.0


def test_largest_error_ranked_with_the_truths_second_part():
    """float64, truths of more than 53 bits (hi + lo): 1 + 2**-52 computed for
    1 + 2**-53 - 2**-60 errs by 2**-53 + 2**-60; 0.75 + 2**-53 computed for
    0.75 - 2**-54 + 2**-61 errs by 1.5 * 2**-53 - 2**-61, the larger error though the
    smaller truth and value. The sign of lo decides which is larger."""
    fill_v, fill_t = filler(8)
    values = np.array(fill_v + [1 + 2.0 ** -52, 0.75 + 2.0 ** -53])
    with mpmath.workprec(100):
        truths = fill_t + [1 + mpmath.ldexp(1, -53) - mpmath.ldexp(1, -60),
                           0.75 - mpmath.ldexp(1, -54) + mpmath.ldexp(1, -61)]
    slow, fast = both(values, truths, FORMATS["float64"])
    err = Fraction(3, 2 ** 54) - Fraction(1, 2 ** 61)
    norm = 1 + Fraction(1, 2 ** 53) - Fraction(1, 2 ** 60)
    assert slow.rel_error == pytest.approx(float(err / norm), rel=2.0 ** -50)
    assert fast == slow


@pytest.mark.parametrize("dtype, name", [(np.float16, "float16"), (np.float64, "float64")])
def test_fast_path_measures_a_handful_of_elements(monkeypatch, dtype, name):
    """1000 distinct exact results k/1024 and one error (k = 500 for a truth 2**-20 higher):
    with the approximation, the exact outcome is computed for the few elements that decide a
    column (the largest truth and value, the largest error), as measure's docstring says,
    not for all 1000; the measurement is the exact one."""
    import fpstudy.metrics as metrics

    calls = []
    original = metrics._outcome
    monkeypatch.setattr(metrics, "_outcome",
                        lambda v, t, fmt: calls.append(v) or original(v, t, fmt))
    values = (np.arange(1, 1001) / 1024).astype(dtype)
    truths = [mpf(k) / 1024 for k in range(1, 1001)]
    truths[499] += mpmath.ldexp(1, -20)
    fmt = FORMATS[name]
    fast = measure(values, truths, fmt, approximation(truths))
    assert 1 <= len(calls) <= 4
    calls.clear()
    assert fast == measure(values, truths, fmt) and len(calls) == 1000
    assert fast.rel_error == pytest.approx(2.0 ** -20 / (1000 / 1024), rel=1e-15)


# -- truth_class decides by the binade away from the class boundaries ---------------------------

def _binade_classes(fmt):
    """Every binade 2**k .. 2**(k+1) around fmt's range, with whether its class is fixed by the
    binade alone: below half the smallest subnormal (2**(emin - p)) every number rounds to 0;
    from there up to the smallest normal's binade (2**(emin - 1)) it stays subnormal; from the
    smallest normal 2**emin up to max's binade (2**emax) it stays normal. The binades that hold
    a boundary (emin - p, emin - 1, emax - 1 and emax, where max + ulp/2 lies) need rounding."""
    emin, emax, p = fmt.min_exponent, fmt.max_exponent, fmt.precision
    for k in range(emin - p - 4, emax + 4):
        if k < emin - p:
            yield k, "underflows"
        elif emin - p < k < emin - 1:
            yield k, "subnormal"
        elif emin <= k < emax - 1:
            yield k, "normal"
        else:
            yield k, None


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"])
def test_truth_class_rounds_only_in_the_binades_of_a_boundary(name, monkeypatch):
    """The exact rounding (slow) runs only for a truth in a binade that holds a class boundary;
    elsewhere the binade answers, with the class the limits give."""
    import fpstudy.metrics as metrics

    fmt = FORMATS[name]
    rounded = []
    real = metrics._rounded_class
    monkeypatch.setattr(metrics, "_rounded_class",
                        lambda t, f: rounded.append(t) or real(t, f))
    for k, expected in _binade_classes(fmt):
        for x in (mpf(2) ** k * mpf(1.5), -mpf(2) ** k * mpf(1.25)):
            rounded.clear()
            got = truth_class(x, fmt)
            if expected is None:
                assert rounded == [x], (k, x)
            else:
                assert (got, rounded) == (expected, []), (k, x)


def test_a_format_without_subnormals_always_rounds():
    """The binade shortcut assumes a subnormal range; for a user format without subnormals
    (flushed) every truth is rounded exactly."""
    import fpstudy.metrics as metrics
    from fpstudy.formats import user_format

    fmt = user_format("nosub_mutants", 5, 7, subnormals=False)
    calls = []
    real = metrics._rounded_class
    try:
        metrics._rounded_class = lambda t, f: calls.append(t) or real(t, f)
        tiny = mpf(2) ** (fmt.min_exponent - 30)  # far below: would be "underflows" by binade
        truth_class(tiny, fmt)
        assert truth_class(mpf(3), fmt) == "normal" and calls == [tiny, mpf(3)]
    finally:
        metrics._rounded_class = real


@pytest.mark.parametrize(("values", "expected"), [
    ([mpf("inf"), mpf(1)], math.inf), ([mpf(1), mpf("nan")], math.nan),
    ([mpf("-inf"), mpf("nan")], math.nan)])
def test_errors_of_a_non_finite_value_are_inf_or_nan(values, expected):
    truths = [mpf(1), mpf(2)]
    for got in (rel_error(values, truths), ulp_error(values, truths, F16)):
        assert (math.isnan(got) if math.isnan(expected) else got == expected), got


def test_a_constant_vector_is_measured_once(monkeypatch):
    """10**4 equal elements with one truth: numpy finds the one distinct (value, truth) pair and
    the exact outcome is computed once, with or without the approximation; two different
    truths of one value are two pairs, never merged."""
    import fpstudy.metrics as metrics

    calls = []
    original = metrics._outcome
    monkeypatch.setattr(metrics, "_outcome",
                        lambda v, t, fmt: calls.append(v) or original(v, t, fmt))
    values = np.full(10_000, 0.5, dtype=np.float16)
    truth = mpmath.mpf(1) / 2 + mpmath.ldexp(1, -30)
    for approx in (None, approximation([truth] * 10_000)):
        calls.clear()
        metrics._MEASURED.clear()  # not measured before (see test_measured_pairs_are_kept)
        m = measure(values, [truth] * 10_000, F16, approx)
        assert len(calls) == 1 and m.truth == float(truth) and m.outcome == "ok"
    calls.clear()
    other = mpmath.mpf(1) / 2 - mpmath.ldexp(1, -20)
    m = measure(values, [truth] * 5_000 + [other] * 5_000, F16)
    assert len(calls) == 2 and m.rel_error == float(mpmath.ldexp(1, -20) / truth)


@pytest.mark.parametrize("special", ["inf", "-inf", "nan"])
def test_truth_class_of_a_number_that_is_not_finite_is_refused(special):
    """A truth is a finite number: inf or NaN is refused (round_to_format's ValueError), not
    read off its raw exponent as some class."""
    with pytest.raises(ValueError, match="finite"):
        truth_class(mpmath.mpf(special), F16)


# -- measured pairs kept: the same distinct (value, truth) pairs in one format are measured once

def _count_outcomes(monkeypatch) -> list:
    """A list that grows by one for every element measured exactly, with nothing kept yet."""
    import fpstudy.metrics as metrics

    calls: list = []
    original = metrics._outcome
    monkeypatch.setattr(metrics, "_outcome",
                        lambda v, t, fmt: calls.append(v) or original(v, t, fmt))
    monkeypatch.setattr(metrics, "_MEASURED", {})
    return calls


def test_measured_pairs_are_kept(monkeypatch):
    """The second measurement of the same pairs measures nothing and gives the same columns:
    value 1/2 against truth 1/2 + 2**-30 and 1/4 against 1/4, rel_error 2**-30 / (1/2 +
    2**-30) (the infinity norm of the truth), in Fractions."""
    calls = _count_outcomes(monkeypatch)
    values = np.array([0.5, 0.25], dtype=np.float16)
    truths = [mpf(0.5) + mpmath.ldexp(1, -30), mpf(0.25)]
    first = measure(values, truths, F16)
    assert len(calls) == 2
    second = measure(values.copy(), list(truths), F16)
    assert len(calls) == 2 and second == first
    expected = Fraction(1, 2 ** 30) / (Fraction(1, 2) + Fraction(1, 2 ** 30))
    assert first.rel_error == float(expected) and first.value == 0.5


def test_a_kept_measurement_keeps_its_own_signed_zero(monkeypatch):
    """-0.0 and 0.0 are one pair (mpmath has one zero) and share the kept columns, but `value`
    is each result's own: a scalar keeps its sign."""
    calls = _count_outcomes(monkeypatch)
    plus = measure(np.array(0.0, dtype=np.float32), [mpf(0)], F32)
    minus = measure(np.array(-0.0, dtype=np.float32), [mpf(0)], F32)
    assert len(calls) == 1
    assert math.copysign(1, plus.value) == 1 and math.copysign(1, minus.value) == -1
    assert (minus.rel_error, minus.outcome, minus.truth_class) == (0.0, "ok", "zero")


def test_the_same_pair_in_another_format_is_measured_afresh(monkeypatch):
    """2**-20 against itself is one pair in float16 and in bfloat16, but subnormal in float16
    (below 2**-14) and normal in bfloat16 (above 2**-126): kept columns are the format's."""
    _count_outcomes(monkeypatch)
    tiny, truth = np.array(2.0 ** -20), [mpmath.ldexp(1, -20)]
    half = measure(tiny.astype(np.float16), truth, F16)
    brain = measure(tiny.astype(FORMATS["bfloat16"].dtype), truth, FORMATS["bfloat16"])
    assert (half.outcome, half.truth_class) == ("subnormal", "subnormal")
    assert (brain.outcome, brain.truth_class) == ("ok", "normal")


def test_long_truths_and_many_pairs_are_not_kept(monkeypatch):
    """A truth of more than 256 bits (an exact deep product can have 10**5) or more than 8
    distinct pairs is measured and let go; a short one is kept."""
    import fpstudy.metrics as metrics

    _count_outcomes(monkeypatch)
    with mpmath.workprec(400):  # 301 bits
        long = mpf(1) + mpmath.ldexp(1, -300)
    assert long._mpf_[3] == 301
    measure(np.array([1.0], dtype=np.float32), [long], F32)
    many = np.arange(1, 10, dtype=np.float32)
    measure(many, [mpf(int(v)) for v in many], F32)
    assert metrics._MEASURED == {}
    measure(np.array([1.0], dtype=np.float32), [mpf(1)], F32)
    assert len(metrics._MEASURED) == 1


def test_kept_measurements_are_bounded(monkeypatch):
    """Past _KEPT_RESULTS results the kept ones are let go, and what is measured stays right:
    value k against truth k (k = 1, 2, 3), error 0."""
    import fpstudy.metrics as metrics

    _count_outcomes(monkeypatch)
    monkeypatch.setattr(metrics, "_KEPT_RESULTS", 2)
    for k in (1, 2, 3, 1):
        m = measure(np.array(float(k), dtype=np.float32), [mpf(k)], F32)
        assert (m.value, m.truth, m.rel_error) == (k, k, 0.0)
        assert len(metrics._MEASURED) <= 2


def test_a_scalar_with_a_long_truth_keeps_its_sign(monkeypatch):
    """A 0-d result whose truth is too long to be kept (301 bits) is measured all the same,
    as a scalar: value -1 against truth -(1 + 2**-300) shows truth -1.0, not its norm 1.0."""
    import fpstudy.metrics as metrics

    _count_outcomes(monkeypatch)
    with mpmath.workprec(400):
        truth = -(mpf(1) + mpmath.ldexp(1, -300))
    m = measure(np.array(-1.0, dtype=np.float32), [truth], F32)
    assert (m.value, m.truth, m.outcome) == (-1.0, -1.0, "ok") and metrics._MEASURED == {}
