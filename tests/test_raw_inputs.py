"""exact.raw_mpfs: a format array's values as exact raw mpf tuples, checked against Fraction.

The expected value of every element is Fraction(float(x)) (Python's exact float-to-rational
conversion, or as_integer_ratio for longdouble), independent of numpy's frexp and the bit
tricks raw_mpfs uses; a raw tuple (sign, man, exp, bc) means (-1)**sign * man * 2**exp with
man odd and bc its bit length, the normal form mpmath's arithmetic requires.
"""

from __future__ import annotations

from fractions import Fraction

import ml_dtypes
import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mpmath import libmp

from fpstudy.exact import raw_mpfs

DTYPES = [np.float16, ml_dtypes.bfloat16, np.float32, np.float64, ml_dtypes.float8_e4m3fn,
          ml_dtypes.float8_e5m2, np.longdouble]


def value_of(raw) -> Fraction:
    sign, man, exp, bc = raw
    assert type(man) is libmp.MPZ  # mpmath refuses plain ints where gmpy2 is its backend
    if man == 0:
        assert raw == libmp.fzero
        return Fraction(0)
    assert man % 2 == 1 and bc == int(man).bit_length() and sign in (0, 1)
    return (-1) ** sign * Fraction(int(man)) * Fraction(2) ** exp


def exact(x) -> Fraction:
    return Fraction(*np.longdouble(x).as_integer_ratio()) if isinstance(x, np.longdouble) \
        else Fraction(float(x))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_every_kind_of_value_is_exact(dtype):
    info = ml_dtypes.finfo(dtype)
    special = [info.max, -info.max, info.smallest_normal, info.smallest_subnormal,
               -info.smallest_subnormal, 3 * info.smallest_subnormal]
    arr = np.array([0.0, 1.0, -1.0, 0.1, -0.75, 3.0], dtype=np.float64).astype(dtype)
    arr = np.concatenate([arr, np.array(special, dtype=dtype)]).reshape(3, 4)
    assert np.isfinite(arr.astype(np.longdouble)).all() and arr[2, 1] > 0
    raw = raw_mpfs(arr)
    assert len(raw) == arr.size
    assert [value_of(r) for r in raw] == [exact(x) for x in arr.ravel()]


def test_signed_zero_inf_and_nan():
    raw = raw_mpfs(np.array([-0.0, np.inf, -np.inf, np.nan, 2.0 ** -1074]))
    assert raw[:4] == [libmp.fzero, libmp.finf, libmp.fninf, libmp.fnan]
    assert value_of(raw[4]) == Fraction(1, 2 ** 1074)


def test_an_object_array_of_mpf_gives_its_own_numbers():
    third = mpmath.mpf(1) / 3  # not a format value: passed through, not rounded
    arr = np.array([third, mpmath.mpf(-2)], dtype=object)
    assert raw_mpfs(arr) == [third._mpf_, mpmath.mpf(-2)._mpf_]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=40))
def test_random_float64_arrays(xs):
    arr = np.array(xs, dtype=np.float64)
    assert [value_of(r) for r in raw_mpfs(arr)] == [Fraction(x) for x in xs]


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn],
                         ids=lambda d: np.dtype(d).name)
def test_many_values_of_a_short_format_share_one_tuple_per_value(dtype):
    """Past 1024 elements a format of 16 bits or fewer is split one distinct value at a time:
    the same exact values (signed zeros, inf and NaN included, where the format has them),
    and equal values are one tuple object (-0.0 is 0.0: mpmath has one zero)."""
    rng = np.random.default_rng(7)
    arr = (rng.standard_normal(5000) * 4).astype(dtype)
    specials = [0.0, -0.0, np.nan] + ([np.inf, -np.inf] if dtype != ml_dtypes.float8_e4m3fn
                                      else [])
    arr[:len(specials)] = np.array(specials).astype(dtype)
    raw = raw_mpfs(arr.reshape(50, 100))
    assert len(raw) == arr.size
    plain = raw_mpfs(arr[:1000])  # (below the threshold: one by one)
    assert raw[:1000] == plain
    finite = np.isfinite(arr.astype(np.float64))
    assert [value_of(r) for r, f in zip(raw, finite, strict=True) if f] == \
        [exact(x) for x in arr[finite]]
    assert raw[0] is raw[1] == libmp.fzero and raw[2] == libmp.fnan
    by_value: dict = {}
    for x, r in zip(arr.astype(np.float64).tolist(), raw, strict=True):
        if x == x:
            assert by_value.setdefault(x, r) is r  # (0.0 == -0.0: one key)
    assert len({id(r) for r in raw}) == len(np.unique(arr.astype(np.float64)))


def test_engines_make_one_number_per_shared_tuple():
    """The exact engines turn a shared list's repeated tuple into one number (the weights of
    a deep float16 product: at most 65536 distinct), and a plain list's into one each."""
    from fpstudy.enclosure import DyadicEngine, Engine

    arr = np.tile(np.array([0.5, -1.25, 3.0], dtype=np.float16), 400)
    shared = raw_mpfs(arr)
    plain = list(shared)
    for engine in (DyadicEngine(), Engine(64)):
        numbers = engine.from_raw(shared, arr.shape).tolist()
        assert len({id(x) for x in numbers}) == 3
        assert [engine.ends(x)[0] for x in numbers[:3]] == plain[:3]
        assert len({id(x) for x in engine.from_raw(plain, arr.shape).tolist()}) == arr.size
