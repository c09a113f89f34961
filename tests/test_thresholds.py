"""first_in_class, the binary search behind the predicted depths, on hand-built magnitudes.

float16's limits by hand: smallest normal 2^-14, smallest subnormal 2^-24 (so 2^-25, the tie
between 0 and 2^-24, rounds to the even one, 0), largest finite 65504 = (2 - 2^-10) * 2^15 (so 2^16 overflows).
"""

from __future__ import annotations

import mpmath
import pytest

from fpstudy.formats import FORMATS
from fpstudy.thresholds import first_in_class

F16 = FORMATS["float16"]


def halving(k):
    return mpmath.ldexp(1, -k)    # 2^-k: normal to k = 14, subnormal 15..24, 0 from 25


def doubling(k):
    return mpmath.ldexp(1, k)     # 2^k: normal to k = 15, overflows from 16


@pytest.mark.parametrize(("cls", "first"), [("normal", 1), ("subnormal", 15),
                                            ("underflows", 25)])
def test_shrinking_magnitude_enters_each_class_at_the_hand_derived_step(cls, first):
    assert first_in_class(halving, F16, 1, 60, cls, grows=False) == first


@pytest.mark.parametrize(("cls", "first"), [("normal", 0), ("overflows", 16)])
def test_growing_magnitude_enters_each_class_at_the_hand_derived_step(cls, first):
    assert first_in_class(doubling, F16, 0, 40, cls, grows=True) == first


def test_a_one_step_range_is_searched():
    # lo == hi: the only step is in the class (2^-15 is subnormal), or it is not (2^-14)
    assert first_in_class(halving, F16, 15, 15, "subnormal", grows=False) == 15
    assert first_in_class(halving, F16, 14, 14, "subnormal", grows=False) is None


def test_an_empty_range_has_no_first_step():
    # lo > hi: no step at all, though both ends are subnormal
    assert first_in_class(halving, F16, 20, 16, "subnormal", grows=False) is None


def test_a_range_that_ends_before_the_class_has_none():
    assert first_in_class(halving, F16, 1, 14, "subnormal", grows=False) is None


def test_a_magnitude_that_jumps_past_the_class_has_none():
    # 1 for k < 5, then 2^-100: from normal straight to underflows, never subnormal
    def jump(k):
        return mpmath.mpf(1) if k < 5 else mpmath.ldexp(1, -100)
    assert first_in_class(jump, F16, 1, 10, "subnormal", grows=False) is None
    assert first_in_class(jump, F16, 1, 10, "underflows", grows=False) == 5
