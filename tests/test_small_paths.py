"""Arith's + - * / and sum on at most ``arith._SMALL`` elements, done in Python floats and
rounded element by element, give what the array paths give, bit for bit, with the same flags,
the same type and the same draws from the generator (against the array path, with ``_SMALL``
set below every size, and against the exact result rounded by test_rounding's Reference, from
Fractions).
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from test_rounding import FixedDraws, Reference, same

from fpstudy import arith
from fpstudy.arith import Arith, round_array
from fpstudy.formats import FORMATS, user_format
from fpstudy.rounding import NEAREST, Rule

FP12 = user_format("fp12_small_paths", 7, 15)
USER_TINY = user_format("tiny_range_small_paths", 12, 500, -500)  # float64 products underflow
NAMES = ["float16", "bfloat16", "float32", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz",
         "float6_e3m2fn", "float4_e2m1fn"]
ALL = [FORMATS[n] for n in NAMES] + [FP12, USER_TINY]
RULES = [NEAREST, Rule("toward_zero"), Rule("upward"), Rule("downward"), Rule("stochastic"),
         Rule("nearest_even", "flush"), Rule("nearest_even", "gradual", "saturate"),
         Rule("upward", "flush", "saturate"), Rule("stochastic", "flush", "saturate")]
SHAPES = [((), ()), ((3,), (3,)), ((2, 2), (2, 2)), ((2, 1), (1, 2)), ((), (2, 2)),
          ((4, 4), (4, 4)), ((17,), (17,))]
OPS = ["add", "sub", "mul", "div"]


def edge_values(fmt) -> list[float]:
    """Zeros, subnormals, the normal boundary, ties' halves, max, inf and NaN, both signs."""
    tiny, normal = float(fmt.smallest_subnormal), float(fmt.smallest_normal)
    eps, big = float(fmt.eps), float(fmt.max)
    values = [0.0, tiny, 2 * tiny, 3 * tiny, normal - tiny, normal, 1.0, 1 + eps, 1.5,
              eps / 2, 3 * eps / 2, big, big / 2, big * (1 - eps / 4), 2.0 ** (fmt.precision),
              np.inf, np.nan]
    values += [-v for v in values]
    return round_array(np.array(values), fmt).astype(np.float64).tolist()


def value_pool(fmt, seed: int) -> np.ndarray:
    """Edge values and random values of the format, across its exponent range."""
    rng = np.random.default_rng(seed)
    exponents = rng.integers(fmt.min_exponent - fmt.precision, fmt.max_exponent, 60)
    random = rng.normal(size=60) * np.exp2(exponents.astype(np.float64))
    with np.errstate(all="ignore"):
        pool = np.concatenate([edge_values(fmt), round_array(random, fmt).astype(np.float64)])
    return pool


def same_array(a, b) -> bool:
    """Same type, dtype, shape and bytes (NaN and the sign of zero included)."""
    return (type(a) is type(b) and a.dtype == b.dtype and np.shape(a) == np.shape(b)
            and np.asarray(a).tobytes() == np.asarray(b).tobytes())


def both_paths(monkeypatch, run):
    """run() with the small paths, then with every array larger than _SMALL (the array
    paths); each run gets its own generator from the same seed."""
    fast = run(np.random.default_rng(7))
    with monkeypatch.context() as m:
        m.setattr(arith, "_SMALL", -1)
        slow = run(np.random.default_rng(7))
    return fast, slow


@pytest.mark.parametrize("rule", RULES, ids=str)
@pytest.mark.parametrize("fmt", ALL, ids=lambda f: f.name)
def test_small_operations_equal_the_array_path(monkeypatch, fmt, rule):
    pool = value_pool(fmt, 1)
    pick = np.random.default_rng(2)
    for op, (sa, sb) in itertools.product(OPS, SHAPES):
        for _ in range(6):
            a = pick.choice(pool, size=sa)
            b = pick.choice(pool, size=sb)

            def run(rng, op=op, a=a, b=b):
                ar = Arith(fmt, rule=rule, rng=rng)
                x, y = ar.asarray(a), ar.asarray(b)
                ar.flags.clear()
                with np.errstate(all="raise"):  # as the runner computes
                    r = getattr(ar, op)(x, y)
                return r, ar.flags, rng.random()

            (got, got_flags, got_next), (want, want_flags, want_next) = both_paths(
                monkeypatch, run)
            assert same_array(got, want), (op, a, b, got, want)
            assert got_flags == want_flags, (op, a, b)
            assert got_next == want_next  # the same number of draws


@pytest.mark.parametrize("rule", [NEAREST, Rule("toward_zero"), Rule("stochastic")], ids=str)
@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2", "float6_e3m2fn"])
def test_small_operations_against_the_exact_result(name, rule):
    """Every pair of about 40 values (ties and overflows among them) as 0-d and 2-element
    operations, against the exact result rounded by the Reference."""
    fmt = FORMATS[name]
    ref = Reference(fmt)
    positive = [float(v) for v in ref.values if v >= 0]
    vals = positive[::len(positive) // 20 + 1] + [float(ref.max)]
    vals += [-v for v in vals if v != 0]
    ops = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y,
           "mul": lambda x, y: x * y, "div": lambda x, y: x / y}
    draw = 0.4
    for op, x, y in itertools.product(ops, vals, vals):
        if op == "div" and y == 0:
            continue
        exact = ops[op](Fraction(x), Fraction(y))
        for shape in ((), (2,)):
            ar = Arith(fmt, rule=rule, rng=FixedDraws(draw))
            got = getattr(ar, op)(ar.asarray(np.full(shape, x)), ar.asarray(np.full(shape, y)))
            for g in np.asarray(got, dtype=np.float64).ravel().tolist():
                if exact == 0:
                    assert g == 0, (op, x, y, g)
                else:
                    assert same(g, ref.round(exact, rule, draw)), (op, x, y, g)


@pytest.mark.parametrize("fmt", [f for f in ALL if f.emulated and f.storage == "native"],
                         ids=lambda f: f.name)
def test_small_sums_equal_the_array_path(monkeypatch, fmt):
    pool = value_pool(fmt, 3)
    pick = np.random.default_rng(4)
    for shape, axis in [((1,), -1), ((5,), -1), ((16,), 0), ((3, 4), -1), ((3, 4), 0),
                        ((2, 2, 2), 1), ((17,), -1)]:
        for k in range(20):
            # mostly finite values: a non-finite one sends the whole sum to the array path
            x = pick.choice(pool[np.isfinite(pool)] if k % 4 else pool, size=shape)

            def run(rng, x=x, axis=axis):
                ar = Arith(fmt)
                with np.errstate(all="raise"):
                    return ar.sum(ar.asarray(x), axis=axis), ar.flags, rng.random()

            (got, got_flags, _), (want, want_flags, _) = both_paths(monkeypatch, run)
            assert same_array(got, want), (x, axis, got, want)
            assert got_flags == want_flags, (x, axis)


def test_small_sum_overflow_and_ties_against_the_exact_result():
    """Partial sums that tie and that overflow (to inf in float16, NaN in float8_e4m3fn)."""
    for name in ("float16", "float8_e4m3fn", "bfloat16"):
        fmt = FORMATS[name]
        big, eps = float(fmt.max), float(fmt.eps)
        for terms in ([1.0, eps / 2, eps / 2], [1.0, eps / 2], [1 + eps, eps / 2],
                      [big, big * eps / 4], [big, big], [-big, -big, big]):
            ar = Arith(fmt)
            got = float(ar.sum(ar.asarray(np.array(terms))))
            partial = Fraction(terms[0])
            overflowed = False
            for t in terms[1:]:
                rounded = float(round_array(np.array([float(partial + Fraction(t))]), fmt)[0])
                overflowed |= not np.isfinite(rounded)
                partial = Fraction(rounded) if np.isfinite(rounded) else None
                if partial is None:
                    break
            assert same(got, float(partial) if partial is not None else got), (name, terms)
            assert ("overflow" in ar.flags) == overflowed, (name, terms)


@pytest.mark.parametrize("fmt", [f for f in ALL if f.emulated and f.storage == "native"],
                         ids=lambda f: f.name)
def test_one_value_rounds_as_an_array_of_one(monkeypatch, fmt):
    """round_with_flags of a 0-d float64 (Python floats) against the same value in a 1-element
    array (numpy's frexp/round/ldexp): values of the format, the midpoints between neighbours
    (ties), points just either side, float64 subnormals, beyond max, inf and NaN."""
    values = value_pool(fmt, 9)
    finite = values[np.isfinite(values)]
    _, e = np.frexp(finite)
    ulp = np.ldexp(1.0, np.maximum(e - 1, fmt.min_exponent) - (fmt.precision - 1))
    with np.errstate(all="ignore"):
        points = np.concatenate([values, finite + ulp / 2, finite - ulp / 2,
                                 np.nextafter(finite + ulp / 2, np.inf),
                                 np.nextafter(finite + ulp / 2, -np.inf),
                                 [5e-324, -5e-324, 1e-310, 1e300, -1e300, 1.7976931348623157e308,
                                  -1.7972542449368124e+308]])
    for x in points.tolist():
        got, got_flags = arith.round_with_flags(np.float64(x), fmt)
        want, want_flags = arith.round_with_flags(np.array([x]), fmt)
        assert np.asarray(got).tobytes() == want.tobytes(), x
        assert got_flags == want_flags, x
        with monkeypatch.context() as m:  # the 0-d array path: the same type
            m.setattr(arith, "_round_one_nearest", lambda x, fmt: None)
            old, old_flags = arith.round_with_flags(np.float64(x), fmt)
        assert same_array(got, old) and got_flags == old_flags, x
