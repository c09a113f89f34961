"""Config numbers are exact decimals, rounded once to each format.

Expected values: nearest format values found by enumerating every float16 (exhaustive), hand
derivations in binary, and numpy's own correctly rounded parsing of decimal strings.
"""

from __future__ import annotations

import bisect
from fractions import Fraction

import numpy as np
import pytest
from conftest import compute_records, load_experiment
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fpstudy.arith import Arith, round_array
from fpstudy.exact import round_rational
from fpstudy.formats import FORMATS
from fpstudy.params import Number, exact_array
from fpstudy.rounding import Rule

F16 = FORMATS["float16"]
# every finite float16 as (Fraction, bit pattern), sorted by value: the independent reference
_ALL = np.arange(2 ** 16, dtype=np.uint16).view(np.float16)
_FINITE = sorted({(Fraction(float(v)), int(b)) for v, b in
                  zip(_ALL, np.arange(2 ** 16), strict=True) if np.isfinite(v)
                  and not (v == 0 and np.signbit(v))})
VALUES = [v for v, _ in _FINITE]
EVEN = {v: (b & 1) == 0 for v, b in _FINITE}


def nearest_float16(q: Fraction):
    """Round to nearest, ties to the even bit pattern; beyond max + half an ulp: inf."""
    top = VALUES[-1]
    if abs(q) >= top + Fraction(16):  # max + ulp/2 = 65504 + 16: a tie goes to inf (even)
        return float("inf") if q > 0 else float("-inf")
    i = bisect.bisect_left(VALUES, q)
    candidates = VALUES[max(i - 1, 0):i + 1]
    return min(candidates, key=lambda v: (abs(v - q), not EVEN[v]))


@settings(deadline=None, max_examples=300)
@given(st.fractions(min_value=Fraction(-70000), max_value=Fraction(70000), max_denominator=10 ** 12))
@example(Fraction("1.000488281250000001"))
@example(Fraction("1.00048828125"))
@example(Fraction(65520))
@example(Fraction(2, 2 ** 25))  # half the smallest subnormal: a tie, to 0
@example(Fraction(3, 2 ** 26))
def test_round_rational_is_the_nearest_float16(q):
    got = round_rational(q, F16)
    want = nearest_float16(q)
    assert got == want


def test_a_decimal_is_rounded_once_not_through_float64(tmp_path):
    # 1.000488281250000001 is 1 + 2**-11 + 1e-18: float64 makes it the tie 1 + 2**-11, which
    # float16 rounds to even (1.0); the decimal itself is above the tie: 1 + 2**-10
    exp = load_experiment(tmp_path, "deep_product", """
scale = 1.000488281250000001
max_depth = 2
""")
    records = compute_records(exp)
    first = next(r for r in records if r["depth"] == 1)
    assert first["value"] == 1 + 2 ** -10
    assert first["truth"] == 1 + 2 ** -10
    second = next(r for r in records if r["depth"] == 2)
    assert second["truth"] == (1 + 2 ** -10) ** 2  # exact in float64


def test_a_tie_decimal_rounds_to_even(tmp_path):
    exp = load_experiment(tmp_path, "deep_product", "scale = 1.00048828125\nmax_depth = 1")
    assert compute_records(exp)[0]["value"] == 1.0


def test_longdouble_receives_the_decimal_not_its_float64():
    if FORMATS["longdouble"].precision <= 53:
        pytest.skip("longdouble is float64 on this machine")
    ar = Arith(FORMATS["longdouble"])
    got = ar.asarray(exact_array(Number(Fraction(1, 10))))
    assert got == np.longdouble("0.1")          # numpy's correctly rounded parse
    assert got != np.longdouble(0.1)            # float64's 0.1, widened


def test_exact_float64_values_keep_the_float64_path():
    assert exact_array(Number(Fraction(3, 4))).dtype == np.float64
    assert exact_array((Number(Fraction(1, 2)), Number(Fraction(1, 10)))).dtype == object


def test_step_ranges_are_exact(tmp_path):
    exp = load_experiment(tmp_path, "sigmoid_saturation", "z = { start = 0, stop = 1, step = 0.1 }")
    zs = exp.grid["z"]
    assert len(zs) == 11 and zs[-1] == 1.0
    assert [z.exact for z in zs] == [Fraction(k, 10) for k in range(11)]


def test_repeats_are_judged_on_the_decimals(tmp_path):
    # two decimals with the same float64 are different values
    exp = load_experiment(tmp_path, "deep_product",
                          "scale = [1.000488281250000001, 1.00048828125]\nmax_depth = 1")
    values = {r["scale"]: r["value"] for r in compute_records(exp)}
    assert len(exp.grid["scale"]) == 2
    assert sorted(r["value"] for r in compute_records(exp)) == [1.0, 1 + 2 ** -10]
    assert values  # both rows share the float64 column value


def test_round_array_of_rationals_matches_numpy_on_floats():
    q = np.empty(5, dtype=object)
    q[:] = [Fraction(v) for v in (0.1, -2.5, 1e-7, 65519.0, 70000.0)]
    got = round_array(q, F16)
    with np.errstate(over="ignore"):
        want = np.array([0.1, -2.5, 1e-7, 65519.0, 70000.0]).astype(np.float16)  # hardware
    np.testing.assert_array_equal(got, want)


# -- the flags of rounding an exact rational ---------------------------------------------------

def _flags_of_rational(q, fmt, rule):
    ar = Arith(fmt, rule=rule)
    ar.asarray(q if isinstance(q, np.ndarray) else np.array([q], dtype=object))
    return ar.flags


# float16: max = 65504 = (2 - 2**-10) * 2**15, its ulp 32; the smallest normal 2**-14, the
# smallest subnormal 2**-24. Overflow is judged on the rounding with an unbounded exponent.
@pytest.mark.parametrize(("q", "rule", "flags"), [
    (Fraction(65505), Rule(), set()),                         # nearer 65504 than 65536
    (Fraction(65519), Rule(), set()),                         # below max + ulp/2 = 65520
    (Fraction(65520), Rule(), {"overflow"}),                  # the tie: to even, 2**16
    (Fraction(65505), Rule(overflow="saturate"), set()),      # rounds to max: no overflow
    (Fraction(65520), Rule(overflow="saturate"), {"overflow"}),
    (Fraction(65535), Rule(rounding="toward_zero"), set()),   # truncated to max
    (Fraction(65536), Rule(rounding="toward_zero"), {"overflow"}),
    (Fraction(65505), Rule(rounding="upward"), {"overflow"}),  # up to 2**16
    (Fraction(-65505), Rule(rounding="upward"), set()),        # up is toward -max
    (Fraction(-65505), Rule(rounding="downward"), {"overflow"}),
    (Fraction(2 ** 100), Rule(), {"overflow"}),
    (Fraction(1, 2 ** 24), Rule(), set()),                   # the smallest subnormal: exact
    (Fraction(3, 2 ** 26), Rule(), {"underflow"}),           # 0.75 of it: inexact
    (Fraction(1, 2 ** 25), Rule(), {"underflow"}),           # the tie, to 0
    (Fraction(1, 2 ** 200), Rule(), {"underflow"}),          # far below: still flagged
    (Fraction(1, 2 ** 24), Rule(subnormals="flush"), {"underflow"}),  # flushed nonzero
    (Fraction(1, 2 ** 14), Rule(subnormals="flush"), set()),  # the smallest normal
    (Fraction(1, 3), Rule(), set()),                          # inexact but normal
])
def test_a_rational_raises_the_flags_ieee_says(q, rule, flags):
    assert _flags_of_rational(q, F16, rule) == flags


@settings(deadline=None, max_examples=300)
@given(st.floats(allow_nan=False, allow_infinity=False, width=64),
       st.sampled_from(["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "float32"]),
       st.sampled_from([Rule(), Rule(overflow="saturate"), Rule(rounding="toward_zero"),
                        Rule(rounding="upward"), Rule(rounding="downward"),
                        Rule(subnormals="flush")]))
def test_a_rational_raises_the_flags_its_float64_raises(x, name, rule):
    """A float64 given exactly as a Fraction raises what the same float64 raises through the
    floating-point path (`fpstudy.rounding.round_wide`), an independent implementation."""
    fmt = FORMATS[name]
    ar = Arith(fmt, rule=rule)
    ar.asarray(np.array([x]))
    assert _flags_of_rational(Fraction(x), fmt, rule) == ar.flags


def test_the_flags_of_every_element_of_a_rational_array_are_kept():
    """An overflow (70000 > 65520 = float16's max + ulp/2) and an underflow (2**-26, below
    half the smallest subnormal) anywhere in the array, whatever follows them."""
    q = np.array([[Fraction(70000), Fraction(1)], [Fraction(1, 2 ** 26), Fraction(3)]],
                 dtype=object)
    assert _flags_of_rational(q, F16, Rule()) == {"overflow", "underflow"}


def test_integers_past_2_to_the_53_are_rounded_once():
    """2**60 + 2**36 + 1 lies just above the midpoint 2**60 + 2**36 of float32's neighbours
    2**60 and 2**60 + 2**37 (p = 24: ulp 2**37 there), so it rounds up; through float64 first
    (ulp 2**8) it would become the midpoint itself, a tie, and go to the even 2**60."""
    x = np.array([2 ** 60 + 2 ** 36 + 1, -(2 ** 60 + 2 ** 36 + 1)])
    assert round_array(x, FORMATS["float32"]).tolist() == [2 ** 60 + 2 ** 37,
                                                           -(2 ** 60 + 2 ** 37)]
    ar = Arith(FORMATS["float16"])
    assert ar.asarray(np.array([3, 2 ** 62])).tolist() == [3, np.inf]
    assert ar.flags == {"overflow"}
    if np.finfo(np.longdouble).nmant == 63:  # x87: 64 bits hold 2**53 + 1
        got = round_array(np.array([2 ** 53 + 1]), FORMATS["longdouble"])
        assert Fraction(int(got[0])) == 2 ** 53 + 1
