"""fpstudy.truth's helpers on the inputs its mutants showed untested.

Every expected value is derived here, by hand or in exact Fractions, never printed by truth.py:

* float16's limits from IEEE 754 binary16: p = 11, emin = -14, emax = 15, max 65504 =
  (2 - 2**-10) * 2**15, smallest subnormal 2**-24. Rounding to nearest, ties to even, a positive
  number rounds to 0 up to 2**-25 (a tie to 0), to a subnormal below 2**-14 - 2**-25 (the tie
  between 1023 * 2**-24 and 2**-14 goes to 2**-14, even), to a normal below 65520 (the tie
  between 65504 and 2**16 goes to 2**16, even: an overflow).
* precisions from the rule `_next_precision` documents: whole 64-bit limbs, at least
  prec + prec // 4, and what the widest enclosure lacks plus a 32-bit margin; twice prec where an
  enclosure straddles 0 and no hint gives its magnitude.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from mpmath import libmp

from fpstudy import truth
from fpstudy.enclosure import DyadicEngine, Engine, PointEngine, Undecided
from fpstudy.formats import FORMATS, user_format
from fpstudy.truth import (
    DEFAULT_TOLERANCE_BITS,
    _Assessment,
    _critical_exponents,
    _decided,
    _guessed,
    _GuessingEngine,
    _magnitudes,
    _next_precision,
    _reported,
    agree,
    describe,
    engine_available,
    engine_missing,
    engine_named,
)

mpf = mpmath.mpf
F16, F32, BF16 = FORMATS["float16"], FORMATS["float32"], FORMATS["bfloat16"]
TWO = Fraction(2)


def raw(q) -> tuple:
    """The raw mpf of a dyadic rational (an int, or a Fraction whose denominator is 2**k)."""
    q = Fraction(q)
    k = q.denominator.bit_length() - 1
    assert q.denominator == 1 << k, "not dyadic"
    return libmp.from_man_exp(q.numerator, -k)


def fraction(m) -> Fraction:
    sign, man, exp, _bc = m
    value = Fraction(man) * TWO ** exp
    return -value if sign else value


def round_128(q: Fraction) -> Fraction:
    """q > 0 rounded to nearest at 128 significand bits, ties to even, in integers."""
    e = q.numerator.bit_length() - q.denominator.bit_length()
    if q >= TWO ** (e + 1):
        e += 1
    elif q < TWO ** e:
        e -= 1
    quantum = TWO ** (e - 127)
    m, rest = divmod(q, quantum)
    if rest > quantum / 2 or (rest == quantum / 2 and m % 2):
        m += 1
    return m * quantum


def float16_class(q: Fraction) -> str:
    """The class of q > 0 in float16, from the thresholds in the module docstring."""
    if q <= TWO ** -25:
        return "underflows"
    if q < TWO ** -14 - TWO ** -25:
        return "subnormal"
    return "normal" if q < 65520 else "overflows"


# -- _critical_exponents ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, expected", [
    # the binade of half the smallest subnormal, [2**-25, 2**-24), and the one below it; the
    # binade under the smallest normal 2**-14, where the tie 2**-14 - 2**-25 lies; max's
    # binade [2**15, 2**16), where 65520 lies, and the one above it (the binades below 2**-25
    # and from 2**16 hold one class each: their members are conservative)
    (F16, {-26, -25, -15, 15, 16}),
    # bfloat16: p = 8, emin = -126, emax = 127; smallest subnormal 2**-133
    (BF16, {-135, -134, -127, 127, 128}),
    # a user format: p = 7, emax = 15, emin = -14 (IEEE bias); smallest subnormal 2**-20
    (user_format("fp12_mutants", 7, 15), {-22, -21, -15, 15, 16}),
], ids=["float16", "bfloat16", "fp12"])
def test_critical_binades_of_a_format(fmt, expected, monkeypatch):
    monkeypatch.setattr(truth, "_CRITICAL", {})  # computed here, not by an earlier caller
    assert _critical_exponents(fmt) == frozenset(expected)
    assert _critical_exponents(fmt) == frozenset(expected)  # the second time from the cache


def test_two_formats_of_one_name_each_get_their_own_binades(monkeypatch):
    """p = 7 and p = 11 with emax = 15: half the smallest subnormal is 2**(-14 - 7) and
    2**(-14 - 11); a cache by name alone would give the second the first one's binades."""
    monkeypatch.setattr(truth, "_CRITICAL", {})
    from fpstudy.formats import Format
    a = user_format("dup_mutants", 7, 15)
    b = Format(**{**a.__dict__, "precision": 11})
    assert _critical_exponents(a) == {-22, -21, -15, 15, 16}
    assert _critical_exponents(b) == {-26, -25, -15, 15, 16}
    assert _critical_exponents(a) == {-22, -21, -15, 15, 16}


def test_every_float16_binade_outside_the_critical_ones_holds_one_class(monkeypatch):
    """A binade [2**e, 2**(e+1)) whose two ends fall in different classes (by the hand-derived
    thresholds) must be critical: skipping it would miss a class boundary."""
    monkeypatch.setattr(truth, "_CRITICAL", {})
    critical = _critical_exponents(F16)
    changes = set()
    for e in range(-40, 25):
        low, high = TWO ** e, TWO ** (e + 1) - TWO ** (e - 200)
        if float16_class(low) != float16_class(high):
            changes.add(e)
    assert changes == {-25, -15, 15}
    assert changes <= critical


# -- _decided -----------------------------------------------------------------------------------


@pytest.mark.parametrize("a, b", [
    (-1, 1),          # straddles 0
    (-1, 0),          # touches 0 from below
    (0, 1),           # touches 0 from above
    (-2, -1),         # excludes 0: decided (the control)
], ids=["straddles", "touches-below", "touches-above", "negative"])
def test_decided_is_open_where_the_interval_meets_zero(a, b):
    assert _decided(raw(a), raw(b), ()) == (a * b > 0)


@pytest.mark.parametrize("a, b", [(raw(1), libmp.finf), (libmp.fninf, raw(-1))],
                         ids=["to-inf", "from-minus-inf"])
def test_decided_is_open_for_an_infinite_end(a, b):
    assert not _decided(a, b, ())
    assert not _decided(a, b, (F16,))


@pytest.mark.parametrize("a, b, formats, expected", [
    # one normal binade of float16: decided
    (Fraction(1), Fraction(3, 2), (F16,), True),
    # from the subnormal 2**-15 to just under 2**-14, which rounds to the smallest normal
    (TWO ** -15, TWO ** -14 - TWO ** -30, (F16,), False),
    # from 2**14 (normal) to 2**17 (overflows): several binades, the first not critical
    (TWO ** 14, TWO ** 17, (F16,), False),
    # [60000, 65530] is in one normal binade of float32 (skipped) but crosses float16's 65520
    (Fraction(60000), Fraction(65530), (F32, F16), False),
    (Fraction(60000), Fraction(65500), (F32, F16), True),
    # just above 2**-25 to 2**-24: all round to the smallest subnormal
    (TWO ** -25 + TWO ** -40, TWO ** -24, (F16,), True),
], ids=["normal", "to-smallest-normal", "to-overflow", "second-format", "both-normal",
        "subnormal"])
def test_decided_by_the_truth_class_in_every_format(a, b, formats, expected):
    assert (float16_class(a) == float16_class(b)) == expected
    assert _decided(raw(a), raw(b), formats) == expected
    assert _decided(raw(-b), raw(-a), formats) == expected  # the mirror image


# -- _reported ----------------------------------------------------------------------------------


def middle_of(a: Fraction, b: Fraction) -> tuple:
    return raw((a + b) / 2)


def test_reported_is_the_128_bit_rounding_both_ends_share():
    a, b = 1 + TWO ** -140, 1 + TWO ** -139  # both within 2**-129 of 1
    value, done = _reported(raw(a), raw(b), middle_of(a, b), (F16,))
    assert done and fraction(value) == round_128(a) == round_128(b) == 1
    third = Fraction(2 ** 200 // 3, 2 ** 200)  # 1/3 to 200 bits: not near a 128-bit tie
    a, b = third, third + TWO ** -190
    value, done = _reported(raw(a), raw(b), middle_of(a, b), (F16,))
    assert done and fraction(value) == round_128(a) == round_128(b) != a


def test_reported_is_open_when_the_ends_round_apart():
    a, b = 1 + TWO ** -140, 1 + TWO ** -120  # 1 and 1 + 2**-120 at 128 bits
    assert round_128(a) != round_128(b)
    middle = middle_of(a, b)
    value, done = _reported(raw(a), raw(b), middle, ())
    assert value is middle and not done


@pytest.mark.parametrize("a, b", [
    # both round to 65520 at 128 bits (ulp 2**-112 there), which overflows float16; a and b
    # are normal: the midpoint is reported, in their class
    (65520 - TWO ** -120, 65520 - TWO ** -121),
    # both round to 2**-14 - 2**-25, the tie that rounds to the smallest normal; they are
    # below it: subnormal
    (TWO ** -14 - TWO ** -25 - TWO ** -160, TWO ** -14 - TWO ** -25 - TWO ** -161),
    # both round to 2**-25, which underflows; they are above it: subnormal
    (TWO ** -25 + TWO ** -161, TWO ** -25 + TWO ** -160),
], ids=["overflow", "smallest-normal", "underflow"])
@pytest.mark.parametrize("formats", [(F16,), (F32, F16)], ids=["float16", "float32-float16"])
def test_reported_falls_back_to_the_midpoint_at_a_class_boundary(a, b, formats):
    rounded = round_128(a)
    assert rounded == round_128(b) and float16_class(rounded) != float16_class(a)
    middle = middle_of(a, b)
    value, done = _reported(raw(a), raw(b), middle, formats)
    assert value is middle and done
    value, done = _reported(raw(a), raw(b), middle, (F32,))  # no boundary of float32 there
    assert fraction(value) == rounded and done


def test_reported_rounding_into_the_next_binade_keeps_the_class():
    """Just under 2**-25 (binade -26) rounds to 2**-25 at 128 bits: both underflow."""
    a, b = TWO ** -25 - TWO ** -170, TWO ** -25 - TWO ** -171
    assert round_128(a) == TWO ** -25 and float16_class(a) == float16_class(TWO ** -25)
    value, done = _reported(raw(a), raw(b), middle_of(a, b), (F16,))
    assert fraction(value) == TWO ** -25 and done


# -- _next_precision ----------------------------------------------------------------------------


def assessment(bound=0.0, decided=True, max_rad=libmp.fzero, rounding_lacks=0.0):
    return _Assessment([], bound, decided, max_rad, None, True, rounding_lacks)


def next_precision(prec, assessed, hints=None, tolerance_bits=80):
    p = _next_precision(prec, assessed, tolerance_bits, hints or {})
    assert type(p) is int  # a number of bits: recorded as Truth.precision
    return p


@pytest.mark.parametrize("prec, assessed, expected", [
    # nothing lacks: the margin alone, 96 + 32 = 128, two whole limbs (96 * 5/4 = 120 is less)
    (96, {"x": assessment(0.0)}, 128),
    # a bound of 2**-40 lacks 40 bits of 2**-80: 192 + 40 + 32 = 264, up to 320
    (192, {"x": assessment(2.0 ** -40)}, 320),
    # a rounding to 128 bits that lacks 50.5 bits: 192 + 51 + 32 = 275, up to 320
    (192, {"x": assessment(0.0, rounding_lacks=50.5)}, 320),
    # at least a quarter more: 512 + 128 = 640 (the margin, 544, would give 576)
    (512, {"x": assessment(0.0)}, 640),
    # 416 + 104 = 520, up to 576 (a fifth more, 499, would stay at 512)
    (416, {"x": assessment(0.0)}, 576),
    # the widest lack decides: 2**-10 lacks 70 bits, 2**-60 lacks 20: 192 + 70 + 32 = 294
    (192, {"a": assessment(2.0 ** -60), "b": assessment(2.0 ** -10)}, 320),
], ids=["margin", "bound", "rounding", "quarter", "quarter-limb", "widest"])
def test_next_precision_of_decided_enclosures(prec, assessed, expected):
    assert next_precision(prec, assessed) == expected


@pytest.mark.parametrize("assessed", [
    # [-1, 3]: mid 1, radius 2, bound 2 (finite) but the sign undecided
    {"x": assessment(2.0, decided=False, max_rad=raw(2))},
    # an exact quantity first does not end the search for one around 0
    {"exact": assessment(0.0), "x": assessment(math.inf, decided=False, max_rad=raw(1))},
], ids=["finite-bound", "after-an-exact-one"])
def test_next_precision_doubles_around_zero_without_a_hint(assessed):
    assert next_precision(192, assessed) == 384


def test_next_precision_doubles_for_an_infinite_radius_even_with_a_hint():
    assessed = {"x": assessment(math.inf, decided=False, max_rad=libmp.finf)}
    assert next_precision(192, assessed, {"x": 0.0}) == 384


@pytest.mark.parametrize("rad_exponent, expected", [
    # a radius 2**100 around 0, a magnitude 2**-300 (the hint): log2(rad) <= 101, lacking
    # 101 + 300 + 80 = 481 bits; 192 + 481 + 32 = 705, up to 768
    (100, 768),
    # radius 2**99: 100 + 300 + 80 = 480; 192 + 480 + 32 = 704, exactly eleven limbs
    (99, 704),
])
def test_next_precision_from_the_hint_where_an_enclosure_straddles_zero(rad_exponent, expected):
    assessed = {"x": assessment(math.inf, decided=False, max_rad=raw(TWO ** rad_exponent))}
    assert next_precision(192, assessed, {"x": -300.0}) == expected


# -- _magnitudes, _guessed, _GuessingEngine -----------------------------------------------------


def test_magnitudes_are_the_log2_of_each_quantitys_max_norm():
    def f(ex):
        assert isinstance(ex, PointEngine) and ex.prec == 64
        return {"mixed": [ex.point(3), ex.point(-5)],  # |-5|: 2**2 <= 5 < 2**3
                "tiny": [ex.point(3) * ex.point(2.0 ** -300)],  # 3 * 2**-300: binade -299
                "zero": [ex.zero], "empty": []}
    assert _magnitudes(f, 64) == {"mixed": 2, "tiny": -299, "zero": -math.inf,
                                  "empty": -math.inf}


@pytest.mark.parametrize("error", [ZeroDivisionError, ValueError])
def test_magnitudes_of_a_failed_plain_evaluation_say_nothing(error):
    def f(ex):
        raise error("the plain evaluation failed")
    assert _magnitudes(f, 64) == {}


def test_guessing_engine_takes_the_sign_of_the_midpoint():
    ex = _GuessingEngine(64)

    def interval(a, b):
        return ex.ctx.make_mpf((raw(a), raw(b)))
    assert [ex.sign(interval(-1, 3)), ex.sign(interval(-3, 1)), ex.sign(interval(-1, 1))] \
        == [1, -1, 0]
    assert [ex.sign(interval(1, 2)), ex.sign(interval(-2, -1)), ex.sign(ex.zero)] == [1, -1, 0]
    with pytest.raises(Undecided):
        Engine(64).sign(interval(-1, 3))


def test_guessed_branches_by_the_midpoint_and_proves_nothing():
    def f(ex):
        big, tiny = ex.point(2.0 ** 300), ex.point(2.0 ** -300)
        # at 256 bits 2**300 + 2**-300 is [2**300, 2**300 + 2**45]: z = [0, 2**45], mid 2**44
        z = (big + tiny) - big
        relu = z if ex.sign(z) > 0 else ex.zero
        neg = -z if ex.sign(-z) > 0 else ex.zero  # mid -2**44: the zero branch
        return {"relu": [relu], "neg": [neg], "e": [ex.exp(ex.one)]}
    t = _guessed(f, 256)
    assert t.values["relu"] == [mpf(2) ** 44] and t.values["neg"] == [0]
    with mpmath.workprec(128):
        assert t.values["e"] == [+mpmath.e]  # e rounded to nearest at 128 bits: decided there
    assert t.bounds == {"relu": math.inf, "neg": math.inf, "e": math.inf}
    assert t.settled == {"relu": False, "neg": False, "e": False}
    assert t.precision == 256


# -- agree --------------------------------------------------------------------------------------


def test_agree_refuses_unequal_lengths():
    assert not agree([mpf(1)], [mpf(1), mpf(1)], 80)
    assert not agree([mpf(1), mpf(1)], [mpf(1)], 80)


def test_agree_on_empty_vectors():
    assert agree([], [], 80)


@pytest.mark.parametrize("a, b, expected", [
    ([1 + TWO ** -81], [1], True),
    ([1 + TWO ** -80], [1], True),       # exactly the tolerance
    ([1 + TWO ** -79], [1], False),
    # normwise: 2**-75 off an element of 1 is within 2**-80 of the norm 1000 > 2**9
    ([1000, 1 + TWO ** -75], [1000, 1], True),
    ([1000, 1 + TWO ** -69], [1000, 1], False),  # 2**-69 > 2**-80 * 1000 (< 2**-70)
    ([0, 0], [0, 0], True),
    ([TWO ** -200], [0], False),
], ids=["below", "at", "above", "normwise", "normwise-above", "zeros", "zero-norm"])
def test_agree_is_normwise_relative(a, b, expected):
    as_mpf = [mpmath.mp.make_mpf(raw(q)) for q in a]
    bs_mpf = [mpmath.mp.make_mpf(raw(q)) for q in b]
    assert agree(as_mpf, bs_mpf, 80) == expected


# -- engines ------------------------------------------------------------------------------------


def test_engine_missing_names_the_extra_and_the_pip_command():
    assert engine_missing("arb") == (
        "the arb engine needs python-flint, which is not installed; install it with: "
        "pip install 'fpstudy[arb]' (make installs it)")
    assert engine_missing("mystery") == (
        "the mystery engine needs its library, which is not installed; install it with: "
        "pip install 'fpstudy[mystery]' (make installs it)")


def test_engines_by_name(monkeypatch):
    assert engine_named("mpmath") is Engine
    assert engine_available("mpmath")
    monkeypatch.setitem(truth.ENGINES, "missing", ("fpstudy.no_such_module", "Engine"))
    assert not engine_available("missing")
    with pytest.raises(ImportError):
        engine_named("missing")


def test_describe_an_interval_engine():
    assert describe(Engine) == {
        "engine": "mpmath", "version": mpmath.__version__,
        "tolerance_bits": DEFAULT_TOLERANCE_BITS,
        "method": "interval enclosures, precision raised until every quantity's relative "
                  "width is below 2**-tolerance_bits and every sign and class is decided"}
    assert DEFAULT_TOLERANCE_BITS == 80


def test_describe_arb_balls():
    flint = pytest.importorskip("flint")
    arb = engine_named("arb")
    assert arb.__name__ == "ArbEngine"
    d = describe(arb)
    assert (d["engine"], d["version"]) == ("arb", flint.__version__)
    assert d["method"].startswith("arb ball enclosures, precision raised until")


# -- _split, approximation ----------------------------------------------------------------------


@pytest.mark.parametrize("q, expected", [
    (Fraction(0), (0.0, 0.0, 1.0, -math.inf)),
    (Fraction(5), (5.0, 0.0, 0.0, math.log2(5))),  # 3 bits: hi alone
    (Fraction(2 ** 60 + 3), (2.0 ** 60, 3.0, 0.0, 60.0)),
    (-Fraction(2 ** 60 + 3), (-2.0 ** 60, -3.0, 0.0, 60.0)),
    (Fraction(2 ** 53 + 1), (2.0 ** 53, 1.0, 0.0, 53.0)),  # 54 bits: the last one is lo
    # 101 bits: lo = 2**-60 + 2**-100 holds the rest exactly
    (1 + TWO ** -60 + TWO ** -100, (1.0, 2.0 ** -60 + 2.0 ** -100, 0.0, 0.0)),
    # 121 bits: lo is the rest's leading 53 bits, 2**-60 down to 2**-112, truncated (the
    # next bits, 2**-113 and 2**-120, would round it up)
    (1 + TWO ** -60 + TWO ** -112 + TWO ** -113 + TWO ** -120,
     (1.0, 2.0 ** -60 + 2.0 ** -112, 0.0, 0.0)),
    # inside (-900, 900): split; at +-900 and beyond: log2 alone
    (TWO ** -899, (2.0 ** -899, 0.0, 0.0, -899.0)),
    (TWO ** 899, (2.0 ** 899, 0.0, 0.0, 899.0)),
    (TWO ** -900, (0.0, 0.0, 0.0, -900.0)),
    (TWO ** 900, (0.0, 0.0, 0.0, 900.0)),
    (3 * TWO ** -1000, (0.0, 0.0, 0.0, math.log2(3) - 1000)),
], ids=["zero", "five", "2^60+3", "-(2^60+3)", "2^53+1", "101-bits", "121-bits", "2^-899",
        "2^899", "2^-900", "2^900", "3*2^-1000"])
def test_split_into_hi_lo_is_zero_and_log2(q, expected):
    assert truth._split(raw(q)) == expected
    rows = truth.approximation([mpmath.mp.make_mpf(raw(q))])
    assert rows.shape == (1, 4) and tuple(rows[0]) == expected


@pytest.mark.parametrize("m", [libmp.finf, libmp.fninf, libmp.fnan], ids=["inf", "-inf", "nan"])
def test_split_of_a_non_finite_number_is_none(m):
    assert truth._split(m) is None
    assert truth.approximation([mpf(1), mpmath.mp.make_mpf(m)]) is None


# -- _ratio_up ----------------------------------------------------------------------------------


def float_up(q: Fraction) -> float:
    """The least float >= q > 0 (float() of a Fraction rounds to nearest)."""
    f = float(q)
    return f if Fraction(f) >= q else math.nextafter(f, math.inf)


@pytest.mark.parametrize("rad, norm, expected", [
    (libmp.fzero, raw(3), 0.0),             # exact: the only zero
    (libmp.fzero, libmp.fzero, 0.0),
    (raw(1), libmp.fzero, math.inf),        # around 0: no relative bound
    (raw(1), libmp.finf, math.inf),
    (raw(1), libmp.fnan, math.inf),
    (libmp.finf, raw(1), math.inf),
    (libmp.fnan, raw(1), math.inf),
    (raw(1), raw(3), float_up(Fraction(1, 3))),  # 1/3 rounded up, not to nearest
    (raw(2 + TWO ** -60), raw(1), float_up(2 + TWO ** -60)),
    (raw(3 * TWO ** -1001), raw(1), 1.5 * 2.0 ** -1000),  # binade -1000: itself
    (raw(3 * TWO ** -1002), raw(1), 2.0 ** -1000),        # below: 2**-1000, still a bound
    (raw(TWO ** -5000), raw(1), 2.0 ** -1000),
], ids=["exact", "exact-zero-norm", "zero-norm", "inf-norm", "nan-norm", "inf-rad", "nan-rad",
        "third", "above-two", "binade-1000", "binade-1001", "2^-5000"])
def test_ratio_up_is_rad_over_norm_rounded_up(rad, norm, expected):
    assert truth._ratio_up(rad, norm) == expected


# -- _assess ------------------------------------------------------------------------------------


_IV = Engine(64).ctx


def iv(a, b=None):
    """The mpmath interval [a, b] (the point a without b) of dyadic rationals."""
    b = a if b is None else b
    return _IV.make_mpf((raw(a), raw(b)))


def ceil_53(q: Fraction) -> Fraction:
    """q > 0 rounded up to 53 significant bits."""
    return _round_fraction(q, 53, "u")


def mids_of(a) -> list:
    return [fraction(m._mpf_) for m in a.mids]


def test_assess_points_are_exact():
    a = truth._assess([iv(2), iv(-3), iv(2)], (F16,))
    assert mids_of(a) == [2, -3, 2]
    assert (a.bound, a.decided, a.rounded, a.rounding_lacks) == (0.0, True, True, 0.0)
    assert a.max_rad == libmp.fzero
    assert a.approx.tolist() == [[2.0, 0.0, 0.0, 1.0], [-3.0, 0.0, 0.0, math.log2(3)],
                                 [2.0, 0.0, 0.0, 1.0]]


def test_assess_a_long_point_with_two_equal_ends_is_exact():
    """An interval whose two ends are equal numbers (not one object) of 201 bits is an exact
    point: bound 0 and its own value, not its 128-bit rounding."""
    point = 1 + TWO ** -200
    a = truth._assess([iv(point)], (F16,))
    assert mids_of(a) == [point] and (a.bound, a.max_rad) == (0.0, libmp.fzero)


def test_assess_keeps_the_widest_radius_and_largest_midpoint_met_first():
    """Radii 3 * 2**-110 then 2 * 2**-110 and midpoints 3 then 2 (each pair in one binade, the
    larger first): max_rad 3 * 2**-110 over the norm 3, bound 2**-110."""
    r = TWO ** -110
    a = truth._assess([iv(3 - 3 * r, 3 + 3 * r), iv(2 - 2 * r, 2 + 2 * r)], (F16,))
    assert mids_of(a) == [3, 2] and fraction(a.max_rad) == 3 * r
    assert a.bound == float_up(r)


@pytest.mark.parametrize("below, above", [(TWO ** -150 + TWO ** -220, TWO ** -160 + TWO ** -230),
                                          (TWO ** -160 + TWO ** -230, TWO ** -150 + TWO ** -220)],
                         ids=["wider-below", "wider-above"])
def test_assess_reports_the_128_bit_rounding_and_the_radius_around_it(below, above):
    """[1 - below, 1 + above] rounds to 1 at 128 bits at both ends: 1 is reported, and the
    radius is the larger distance from 1 to an end, 2**-150 + 2**-220 rounded up to 53 bits."""
    lo, hi = 1 - below, 1 + above
    assert round_128(lo) == round_128(hi) == 1
    a = truth._assess([iv(lo, hi)], (F16,))
    rad = ceil_53(TWO ** -150 + TWO ** -220)
    assert rad == TWO ** -150 + TWO ** -202
    assert mids_of(a) == [1] and fraction(a.max_rad) == rad
    assert a.bound == float_up(rad) and (a.decided, a.rounded, a.rounding_lacks) == (True, True, 0)
    assert a.approx.tolist() == [[1.0, 0.0, 0.0, 0.0]]


def test_assess_an_interval_around_zero_keeps_its_midpoint():
    """[-1, 3 + 2**-100]: undecided; midpoint 1 + 2**-101, radius 2 + 2**-101 rounded up."""
    a = truth._assess([iv(-1, 3 + TWO ** -100)], (F16,))
    mid, rad = 1 + TWO ** -101, ceil_53(2 + TWO ** -101)
    assert rad == 2 + TWO ** -51
    assert mids_of(a) == [mid] and fraction(a.max_rad) == rad
    assert a.bound == float_up(rad / mid)
    assert (a.decided, a.rounded, a.rounding_lacks) == (False, False, 0.0)
    assert a.approx.tolist() == [[1.0, 2.0 ** -101, 0.0, 0.0]]


def test_assess_an_interval_across_a_class_boundary_is_undecided_however_narrow():
    """Around float16's tie 2**-14 - 2**-25 (subnormal below, normal from it): both ends round
    to the tie at 128 bits, yet neither the class nor the report is decided."""
    tie = TWO ** -14 - TWO ** -25
    lo, hi = tie - TWO ** -200, tie + TWO ** -200
    assert round_128(lo) == round_128(hi) == tie
    assert (float16_class(lo), float16_class(hi)) == ("subnormal", "normal")
    a = truth._assess([iv(lo, hi)], (F16,))
    assert mids_of(a) == [tie] and fraction(a.max_rad) == TWO ** -200
    assert (a.decided, a.rounded, a.rounding_lacks) == (False, False, 0.0)


@pytest.mark.parametrize("scale", [TWO ** -10, TWO ** 0, TWO ** 10])
def test_assess_says_how_many_bits_an_open_rounding_lacks(scale):
    """[1 + 2**-140, 1 + 2**-120] (times a power of two in float16's normal range): decided,
    but its ends round apart at 128 bits. The radius 2**-121 - 2**-141 lies 122 binades below
    the midpoint: 128 - 122 bits short of the rounding, and 4 more: 10 bits, at every scale."""
    lo, hi = scale * (1 + TWO ** -140), scale * (1 + TWO ** -120)
    a = truth._assess([iv(lo, hi)], (F16,))
    assert mids_of(a) == [(lo + hi) / 2]
    assert fraction(a.max_rad) == scale * (TWO ** -121 - TWO ** -141)
    assert (a.decided, a.rounded, a.rounding_lacks) == (True, False, 10.0)


@pytest.mark.parametrize("by_ends", [False, True], ids=["mpi", "ends"])
def test_assess_bound_is_the_widest_radius_over_the_largest_midpoint(by_ends):
    """[4, [-1, 3], 4, -6]: the widest radius 2 over the norm 6; a repeated enclosure is
    assessed once, a different one is not taken for it."""
    enclosures = [iv(4), iv(-1, 3), iv(4), iv(-6)]
    if by_ends:  # an engine's own ends (arb's balls): here the raw pairs themselves
        a = truth._assess([x._mpi_ for x in enclosures], (F16,), ends=lambda pair: pair)
    else:
        a = truth._assess(enclosures, (F16,))
    assert mids_of(a) == [4, 1, 4, -6] and fraction(a.max_rad) == 2
    assert a.bound == float_up(Fraction(2, 6))
    assert (a.decided, a.rounded) == (False, False)
    assert a.approx[:, 0].tolist() == [4.0, 1.0, 4.0, -6.0]


def test_assess_of_an_infinite_value_has_no_approximation():
    a = truth._assess([iv(1), _IV.make_mpf((libmp.finf, libmp.finf))], ())
    assert a.approx is None and a.mids[1] == mpmath.inf
    assert truth._assess([iv(1)], ()).approx.tolist() == [[1.0, 0.0, 0.0, 0.0]]


# -- settle -------------------------------------------------------------------------------------


class Runs:
    """A compute that returns fixed enclosures, recording each precision it ran at and refusing
    to run more than `limit` times (a loop that would never end fails instead)."""

    def __init__(self, enclosures: dict, limit: int = 8):
        self.enclosures, self.limit, self.precisions = enclosures, limit, []

    def __call__(self, ex):
        self.precisions.append(ex.prec)
        assert len(self.precisions) <= self.limit, "settle does not stop"
        return {k: [ex.ctx.make_mpf(x._mpi_) for x in v] for k, v in self.enclosures.items()}


def test_settle_accepts_a_bound_equal_to_the_tolerance():
    """[1 - 2**-140, 1 + 2**-140] is reported as 1 with bound 2**-140: settled at 2**-140
    (max rad <= 2**-tolerance_bits max|mid|), not at 2**-141."""
    runs = Runs({"x": [iv(1 - TWO ** -140, 1 + TWO ** -140)], "inf": [iv(1) * mpmath.inf]})
    t = truth.settle(runs, exact_first=False, tolerance_bits=140, cap=256)
    assert runs.precisions == [192] and t.precision == 192
    assert t.settled == {"x": True, "inf": True} and t.bounds == {"x": 2.0 ** -140, "inf": 0.0}
    assert t.values["x"] == [1] and t.values["inf"] == [mpmath.inf]
    assert list(t.approx) == ["x"] and t.approx["x"].tolist() == [[1.0, 0.0, 0.0, 0.0]]
    runs = Runs({"x": [iv(1 - TWO ** -140, 1 + TWO ** -140)]})
    t = truth.settle(runs, exact_first=False, tolerance_bits=141, cap=256)
    assert t.precision == 256 and t.settled == {"x": False} and t.bounds == {"x": 2.0 ** -140}
    assert runs.precisions == [192, 256]


@pytest.mark.parametrize("lo, hi", [
    # across float16's tie 2**-14 - 2**-25: narrow, but the class is open
    (TWO ** -14 - TWO ** -25 - TWO ** -200, TWO ** -14 - TWO ** -25 + TWO ** -200),
    # decided, but its ends round apart at 128 bits
    (1 + TWO ** -140, 1 + TWO ** -120),
], ids=["class", "rounding"])
def test_settle_does_not_settle_a_narrow_but_open_enclosure(lo, hi):
    runs = Runs({"x": [iv(lo, hi)]})
    hints = {"x": math.log2(lo)}  # for the enclosure around the class boundary
    t = truth.settle(runs, exact_first=False, formats=[F16], cap=256, hints=hints)
    assert not t.settled["x"] and t.bounds["x"] <= 2.0 ** -80 and t.precision == 256
    assert runs.precisions[0] == 192 and runs.precisions[-1] == 256


def third_after(steps):
    runs = []

    def f(ex):
        runs.append(ex.prec)
        assert len(runs) <= 8, "settle does not stop"
        x = ex.one / 3
        for _ in range(steps):
            x = x + x - x
        return {"x": [x]}
    return f


def test_settle_meets_a_finer_tolerance_when_the_report_allows_it():
    """1/3 at 192 bits is reported at 128 bits, within 2**-128 relative: below 2**-100."""
    t = truth.settle(third_after(0), exact_first=False, tolerance_bits=100, cap=512)
    assert t.settled["x"] and t.precision == 192 and t.bounds["x"] <= 2.0 ** -100


def test_settle_does_not_claim_a_tolerance_finer_than_its_report():
    """1/3 reported at 128 bits lies 2**-129 or so from 1/3: a tolerance of 2**-200 is never
    met, and the truth at the cap says so."""
    t = truth.settle(third_after(0), exact_first=False, tolerance_bits=200, cap=256)
    assert not t.settled["x"] and t.bounds["x"] > 2.0 ** -200 and t.precision == 256


def test_settle_doubles_the_precision_for_an_undecided_branch():
    """The sign of (2**300 + 2**-300) - 2**300 needs 601 bits: 192 and 384 cannot, 768 can."""
    seen = []

    def f(ex):
        seen.append(ex.prec)
        assert len(seen) <= 8, "settle does not stop"
        z = (ex.point(2.0 ** 300) + ex.point(2.0 ** -300)) - ex.point(2.0 ** 300)
        return {"relu": [z if ex.sign(z) > 0 else ex.zero]}
    t = truth.settle(f, start=53, exact_first=False)
    assert seen == [192, 384, 768] and t.precision == 768 and t.settled["relu"]
    seen.clear()
    t = truth.settle(f, start=53, cap=100, exact_first=False)
    assert seen == [100, 100] and t.precision == 100 and not t.settled["relu"]  # then guessed


def test_settle_of_an_exact_dyadic_truth():
    """3 * 5 = 15 needs 4 significand bits; 0 and an empty quantity need none (1 is
    reported)."""
    t = truth.settle(lambda ex: {"p": [ex.point(3) * ex.point(5)], "z": [ex.zero]})
    assert t.values == {"p": [15], "z": [0]} and t.precision == 4
    assert t.bounds == {"p": 0.0, "z": 0.0} and t.settled == {"p": True, "z": True}
    assert t.approx["p"].tolist() == [[15.0, 0.0, 0.0, math.log2(15)]]
    assert t.approx["z"].tolist() == [[0.0, 0.0, 1.0, -math.inf]]
    assert truth.settle(lambda ex: {"z": [ex.zero]}).precision == 1
    empty = truth.settle(lambda ex: {"e": []})
    assert empty.precision == 1 and empty.values == {"e": []} and empty.settled == {"e": True}


# -- prove --------------------------------------------------------------------------------------


class Recording(Engine):
    """The interval engine under another name, to see that prove uses the engine it is given."""


class Cancellation:
    """A case whose truth is k ((x0 + x1) - x0) / 3: with x = (2**300, 2**-300) and k = 5 it is
    5/3 * 2**-300, which needs 601 bits before it excludes 0, and is never dyadic."""

    def __init__(self):
        self.runs = []  # (engine, precision) of each run after the exact dyadic attempt

    def truth(self, point, inputs, ex):
        if not isinstance(ex, DyadicEngine):  # tried first; refuses the division by 3
            self.runs.append((type(ex).__name__, ex.prec))
        assert len(self.runs) <= 8, "settle does not stop"
        x = inputs["x"]
        return {"y": [point["k"] * ((x[0] + x[1]) - x[0]) / 3]}


CANCEL_INPUTS = {"x": np.array([2.0 ** 300, 2.0 ** -300])}
CANCEL_TRUTH = Fraction(5, 3) * TWO ** -300


def test_prove_settles_a_case_truth_with_the_given_engine_and_hints():
    """A radius about 2**110 around 0 at 192 bits, against the hint 2**-299.3: 110 + 299.3 + 80
    bits lacking, 192 + 490 + 32 = 714, up to 768, where it is settled."""
    case = Cancellation()
    hints = {"y": math.log2(CANCEL_TRUTH)}
    t = truth.prove(case, {"k": 5}, CANCEL_INPUTS, engine=Recording, hints=hints)
    assert case.runs == [("Recording", 192), ("Recording", 768)]
    assert t.settled == {"y": True} and t.precision == 768
    assert [fraction(v._mpf_) for v in t.values["y"]] == [round_128(CANCEL_TRUTH)]


def test_prove_without_hints_asks_a_plain_evaluation():
    """The plain evaluation at 192 bits gives 0 (2**300 + 2**-300 rounds to 2**300): no
    magnitude, so the precision doubles."""
    case = Cancellation()
    t = truth.prove(case, {"k": 5}, CANCEL_INPUTS, engine=Recording)
    assert case.runs == [("Recording", 192), ("PointEngine", 192), ("Recording", 384),
                         ("Recording", 768)]
    assert t.settled == {"y": True}


def test_prove_starts_and_stops_where_it_is_told():
    case = Cancellation()
    hints = {"y": math.log2(CANCEL_TRUTH)}
    truth.prove(case, {"k": 5}, CANCEL_INPUTS, start=256, hints=hints)
    assert [prec for _, prec in case.runs] == [256, 768]  # 256 + 426 + 32 = 714 -> 768
    case.runs.clear()
    t = truth.prove(case, {"k": 5}, CANCEL_INPUTS, cap=256, hints=hints)
    assert [prec for _, prec in case.runs] == [192, 256]
    assert t.precision == 256 and t.settled == {"y": False}


class HalfSubnormal:
    """2**-25 (1 + exp(-200)): above float16's tie 2**-25 (which rounds to 0) by 2**-313."""

    def __init__(self):
        self.runs = []

    def truth(self, point, inputs, ex):
        if not isinstance(ex, DyadicEngine):  # tried first; refuses exp
            self.runs.append(ex.prec)
        assert len(self.runs) <= 8, "settle does not stop"
        return {"y": [inputs["x"][0] * (1 + ex.exp(-ex.point(200)))]}


def test_prove_decides_the_class_in_the_formats_it_is_given():
    """At 192 bits the enclosure touches 2**-25: its float16 class is open (0 or the smallest
    subnormal), so float16 asks for more bits; with no format 192 bits settle it."""
    inputs = {"x": np.array([2.0 ** -25])}
    case = HalfSubnormal()
    t = truth.prove(case, {}, inputs)
    assert case.runs == [192] and t.settled == {"y": True}
    case = HalfSubnormal()
    t = truth.prove(case, {}, inputs, formats=[F16])
    assert case.runs[0] == 192 and len(case.runs) > 1 and t.settled == {"y": True}
    assert TWO ** -25 < fraction(t.values["y"][0]._mpf_) < TWO ** -25 * (1 + TWO ** -280)


def test_settle_reads_arb_balls_and_their_midpoints_through_the_engine():
    """arb's balls are read by the engine's own `ends`, and where one straddles 0 the magnitude
    comes from its midpoints, not from a plain mpmath evaluation."""
    pytest.importorskip("flint")
    arb = engine_named("arb")
    runs = []

    def f(ex):
        runs.append(type(ex).__name__)
        assert len(runs) <= 8, "settle does not stop"
        big, tiny = ex.point(2.0 ** 300), ex.point(2.0 ** -300)
        return {"y": [((big + tiny) - big) * 5 / 3]}
    t = truth.settle(f, exact_first=False, engine=arb, formats=[F16])
    assert set(runs) == {"ArbEngine"} and len(runs) > 1
    assert t.settled == {"y": True}
    assert [fraction(v._mpf_) for v in t.values["y"]] == [round_128(CANCEL_TRUTH)]


def test_equal_elements_share_one_midpoint():
    """Elements equal in value but computed apart (distinct objects) share one midpoint
    object, exact (dyadic) or enclosed: a constant vector of a million elements holds one
    number, not a million (the million-record benchmark's peak memory depends on it)."""
    def f(ex):
        three, one = ex.point(3.0), ex.point(1.0)
        return {"x": [three * one, one * three, three + 0 * one]}
    for exact_first in (True, False):
        t = truth.settle(f, exact_first=exact_first)
        a, b, c = t.values["x"]
        assert a == 3 and a is b and b is c, exact_first


# -- the usual case of _assess, on integers, against the general way and Fractions --------------

def _binade(q: Fraction) -> int:
    """e with 2**e <= |q| < 2**(e + 1), from the integers (no float to overflow)."""
    n, d = abs(q.numerator), q.denominator
    e = n.bit_length() - d.bit_length()
    return e if Fraction(n, d) >= TWO ** e else e - 1


def _round_fraction(q: Fraction, bits: int, mode: str) -> Fraction:
    """q (nonzero) rounded to `bits` significant bits: to nearest, ties to even ("n"), toward
    +inf ("u") or toward -inf ("d")."""
    step = TWO ** (_binade(q) - bits + 1)
    scaled = q / step
    n = {"n": round, "u": math.ceil, "d": math.floor}[mode](scaled)  # round: ties to even
    return Fraction(n) * step


def _enclosures(rng) -> list:
    """Enclosures [a, b] of every kind: narrow and wide, both signs, near 128-bit rounding
    ties, near each headline format's class boundaries, across a binade, touching 0."""
    out = []
    fmts = (F16, BF16, F32, FORMATS["float64"])
    centres = [Fraction(int(rng.integers(1, 2 ** 62))) * TWO ** int(rng.integers(-1100, 1000))
               for _ in range(150)]
    for fmt in fmts:  # class boundaries: half the smallest subnormal, smallest normal, max
        for edge in (TWO ** (fmt.min_exponent - fmt.precision), TWO ** (fmt.min_exponent - 1),
                     Fraction(float(fmt.max)) if fmt.name != "float64" else TWO ** 1023):
            # (1 - 2**-140: below the boundary, rounded up onto it at 128 bits)
            centres += [edge, edge * (1 + TWO ** -100), edge * (1 - TWO ** -100),
                        edge * (1 - TWO ** -140)]
    for c in list(centres[:40]):  # ties of the 128-bit rounding, and one bit to each side
        r = _round_fraction(c, 128, "n")
        half = TWO ** (_binade(r) - 128)
        centres += [r + half, r + half + half * TWO ** -40, r + half - half * TWO ** -40]
    centres.append(TWO ** 40 - TWO ** -100)  # just below a binade's end
    for c in centres:
        for sign in (1, -1):
            for width_bits in (300, 190, 129, 60):
                w = abs(c) * TWO ** -width_bits * Fraction(int(rng.integers(1, 1 << 20)), 1 << 20)
                lo, hi = sign * c - w, sign * c + w
                bits = int(rng.integers(130, 300))
                a = raw(_round_fraction(lo, bits, "d")) if lo else libmp.fzero
                b = raw(_round_fraction(hi, bits, "u")) if hi else libmp.fzero
                if libmp.mpf_lt(a, b):
                    out.append((a, b))
    out.append((raw(0), raw(1)))
    out.append((raw(-1), raw(0)))
    out.append((raw(-1), raw(1)))
    out.append((raw(1), libmp.finf))
    return out


def test_usual_enclosures_are_assessed_as_in_general():
    """Where `_usual` answers, it answers what the general way (`_unusual`: libmp's own
    subtractions and roundings) answers, and its radius is max(b - mid, mid - a) rounded up to
    53 bits, its midpoint a's 128-bit rounding, in Fractions. Both ways are exercised."""
    rng = np.random.default_rng(20261129)
    formats = (F16, BF16, F32, FORMATS["float64"])
    critical = truth._all_critical(formats)
    usual = general = 0
    for a, b in _enclosures(rng):
        fast = truth._usual(a, b, critical)
        slow = truth._unusual(a, b, formats)
        if fast is None:
            general += 1
            continue
        usual += 1
        assert fast == slow, (a, b)
        mid, rad, decided, rounded, lacks = fast
        fa, fb, fm = fraction(a), fraction(b), fraction(mid)
        assert fm == _round_fraction(fa, 128, "n") == _round_fraction(fb, 128, "n")
        assert fraction(rad) == _round_fraction(max(fb - fm, fm - fa), 53, "u")
        assert decided and rounded and lacks == 0.0
    assert usual > 1000 and general > 100, (usual, general)


@pytest.mark.parametrize("x, y, expected", [
    (raw(5), raw(6), True),  # one binade: the exact comparison decides
    (raw(6), raw(5), True),
    (raw(3), raw(4), False),  # 3 < 4: binade 1 against binade 2
    (raw(3), raw(8), False),  # 3 < 8 from the binades alone
    (raw(-3), raw(8), False),  # magnitudes
    (raw(16), raw(8), True),
    (libmp.fzero, raw(8), True),  # zero, inf and NaN go to the exact comparison
    (raw(8), libmp.fzero, True),
    (libmp.finf, raw(8), True),
    (libmp.fnan, raw(8), True),
])
def test_may_exceed_rules_out_only_smaller_magnitudes(x, y, expected):
    assert truth._may_exceed(x, y) is expected


def _split_by_fractions(m) -> tuple:
    """(hi, lo) of _split from the definition, in Fractions: hi = m truncated to 53 bits, lo =
    what is left truncated to 53 bits."""
    def truncated(q: Fraction) -> Fraction:
        if q == 0:
            return q
        step = TWO ** (_binade(q) - 52)
        return Fraction(math.trunc(q / step)) * step
    q = fraction(m)
    hi = truncated(q)
    return float(hi), float(truncated(q - hi))


@pytest.mark.parametrize("bits", [54, 105, 106, 107, 158, 159, 160, 161, 400, 5000])
def test_split_of_a_long_significand(bits):
    """Significands longer than 106 bits (an exact deep product's: 10**5) are split without an
    integer as long as themselves: the same hi and lo as the definition says, also when zeros
    follow the leading 53 bits (the rest is then shorter)."""
    rng = np.random.default_rng(bits)
    for trial in range(60):
        man = int(rng.integers(1, 2 ** 62)) | 1
        while man.bit_length() < bits:
            man = (man << 31) | int(rng.integers(0, 2 ** 31))
        man = (man >> (man.bit_length() - bits)) | (1 << (bits - 1)) | 1
        if trial % 3 == 0 and bits > 60:  # zeros after the leading 53 bits
            gap = int(rng.integers(1, bits - 54))
            man &= ~(((1 << gap) - 1) << (bits - 53 - gap))
            man |= 1
        sign = -1 if trial % 2 else 1
        m = libmp.from_man_exp(sign * man, int(rng.integers(-300, 300)) - bits)
        hi, lo, zero, log2_abs = truth._split(m)
        assert (hi, lo) == _split_by_fractions(m) and zero == 0.0
