"""Rounding rules against an independent reference.

The reference enumerates every finite value of an 8-bit (or narrower) format from its bit
patterns, finds the two neighbours of an exact rational by bisection, and applies each rule by
its definition (nearest with ties to the even significand, the directed roundings, stochastic
with a given draw, flush, saturation, IEEE's directed overflow). It shares no code with
fpstudy.rounding, which scales by the binade's quantum and rounds an integer.
"""

from __future__ import annotations

import bisect
import itertools
import math
from fractions import Fraction

import ml_dtypes
import mpmath
import numpy as np
import pytest
from conftest import EMULATED
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fpstudy.arith import Arith, round_array
from fpstudy.crmath import evaluate
from fpstudy.exact import round_rational, to_mpf
from fpstudy.formats import FORMATS
from fpstudy.rounding import ROUNDINGS, Rule, round_wide

SMALL = [n for n in EMULATED if FORMATS[n].bits <= 8]
DETERMINISTIC = [r for r in ROUNDINGS if r != "stochastic"]
RULES = [Rule(r, s, o) for r in ROUNDINGS for s in ("gradual", "flush") for o in ("inf", "saturate")]


class FixedDraws:
    """A stand-in generator whose every draw is the same number (a stochastic rounding then
    goes up exactly where draw < position, which the reference decides exactly)."""

    def __init__(self, u: float):
        self.u = u

    def random(self, size=None):
        return np.full(size if size is not None else (), self.u)


class Reference:
    """Every value of one format, and each rule applied by its definition."""

    def __init__(self, fmt):
        self.fmt = fmt
        patterns = np.arange(2 ** (fmt.encoding.itemsize * 8), dtype=np.uint16).astype(np.uint8)
        values = patterns.view(fmt.encoding).astype(np.float64)
        finite = sorted({Fraction(float(v)) for v in values if math.isfinite(v)})
        self.values = finite
        self.max = finite[-1]
        top_gap = finite[-1] - finite[-2]
        self.beyond = self.max + top_gap  # the next value of an unbounded exponent range
        self.smallest_normal = Fraction(float(fmt.smallest_normal))

    def neighbours(self, a: Fraction):
        """(lower, upper) values with lower <= a <= upper, for a >= 0 (upper may be beyond)."""
        if a > self.beyond:
            return self.beyond, None  # past everything: overflows whatever the rounding
        grid = self.values + [self.beyond]
        i = bisect.bisect_right(grid, a)
        lower = grid[i - 1]
        return (lower, lower) if lower == a else (lower, grid[i])

    def round(self, x: Fraction, rule: Rule, draw: float = 0.5) -> float:
        negative = x < 0
        a = abs(x)
        lower, upper = self.neighbours(a)
        if upper is None:
            r = None
        elif lower == upper:
            r = lower
        else:
            mode = rule.rounding
            gap = upper - lower
            if mode == "nearest_even":
                mid = lower + gap / 2
                if a != mid:
                    r = lower if a < mid else upper
                else:
                    r = lower if (lower / gap) % 2 == 0 else upper
            elif mode == "toward_zero":
                r = lower
            elif mode == "upward":
                r = lower if negative else upper
            elif mode == "downward":
                r = upper if negative else lower
            else:
                r = upper if Fraction(draw) < (a - lower) / gap else lower
        if r is None or r > self.max:  # overflow
            away = rule.rounding in ("nearest_even", "stochastic") or (
                rule.rounding == "upward" and not negative) or (
                rule.rounding == "downward" and negative)
            if rule.overflow == "saturate" or not away or not (self.fmt.has_inf or
                                                               self.fmt.has_nan):
                out = float(self.max)
            else:
                out = math.inf if self.fmt.has_inf else math.nan
        else:
            out = float(r)
            if rule.flush and out < self.smallest_normal:
                out = 0.0
        out = -out if negative else out
        if out == 0 and not self.fmt.has_negative_zero:
            out = 0.0
        return out


def exact_points(ref: Reference) -> list[Fraction]:
    """Every value, and points between consecutive values (ties included), beyond max too,
    both signs: all exact in float64."""
    grid = [Fraction(0)] + [v for v in ref.values if v > 0] + [ref.beyond, 2 * ref.beyond]
    points = set()
    for lo, hi in itertools.pairwise(grid):
        for k in range(8):
            points.add(lo + (hi - lo) * Fraction(k, 8))
    points.add(grid[-1])
    return sorted(points | {-p for p in points})


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) ==
                                                   math.copysign(1, b))


def rounded(x, fmt, rule, rng=None, residual=None) -> np.ndarray:
    values, _ = round_wide(x, fmt, rule, rng, residual)
    from fpstudy.rounding import to_storage
    return to_storage(values, fmt).astype(np.float64)


@pytest.mark.parametrize("rule", RULES, ids=str)
@pytest.mark.parametrize("name", SMALL)
def test_every_value_every_rule_exhaustively(name, rule):
    """round_array on every value and the points between neighbours, against the reference."""
    fmt = FORMATS[name]
    ref = Reference(fmt)
    points = exact_points(ref)
    x = np.array([float(p) for p in points])
    assert all(Fraction(v) == p for v, p in zip(x, points, strict=True))  # exact inputs
    for draw in ((0.3, 0.6) if rule.stochastic else (0.5,)):
        got = rounded(x, fmt, rule, FixedDraws(draw))
        for p, g in zip(points, got, strict=True):
            want = ref.round(p, rule, draw)
            assert same(g, want), (name, str(rule), p, g, want)


@pytest.mark.parametrize("rule", RULES, ids=str)
@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2fnuz", "float4_e2m1fn"])
def test_exact_value_below_or_above_by_a_residual(name, rule):
    """x + residual: a residual far below float64's ulp of x still decides ties and exact
    points (the error term of an addition whose float64 sum rounded)."""
    fmt = FORMATS[name]
    ref = Reference(fmt)
    points = [p for p in exact_points(ref) if p != 0]
    x = np.array([float(p) for p in points])
    for sign in (1, -1):
        residual = sign * np.abs(x) * 2.0 ** -70
        got = rounded(x, fmt, rule, FixedDraws(0.5), residual)
        for p, g, r in zip(points, got, residual, strict=True):
            assert same(g, ref.round(p + Fraction(float(r)), rule, 0.5)), (p, r, g)


@pytest.mark.parametrize("rule", [r for r in RULES if not r.stochastic], ids=str)
@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2", "float4_e2m1fn"])
def test_round_rational_every_rule(name, rule):
    """The exact reference fpstudy itself uses (config decimals) agrees with this one."""
    fmt = FORMATS[name]
    ref = Reference(fmt)
    for p in exact_points(ref) + [Fraction(1, 3), Fraction(-7, 3), Fraction(1, 10 ** 6)]:
        got = round_array(np.array([p], dtype=object), fmt, rule)[0]
        assert same(float(got), ref.round(p, rule)), (p, got)


def test_round_rational_stochastic_compares_the_draw_exactly():
    fmt = FORMATS["float16"]
    x = 1 + Fraction(1, 3 * 2 ** 10)  # a third of the way from 1 to the next value
    rule = Rule("stochastic")
    assert round_rational(x, fmt, rule, draw=0.33) == 1 + Fraction(1, 2 ** 10)
    assert round_rational(x, fmt, rule, draw=0.34) == 1


@pytest.mark.parametrize("rule", RULES, ids=str)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("name", ["float8_e4m3fn", "float6_e3m2fn"])
def test_operations_every_pair_every_rule(name, op, rule):
    """Arith's + - * / on every pair of values (a 16x16 sample of the grid for speed is not
    enough: all pairs), rounded by the rule, against the reference on the exact result."""
    fmt = FORMATS[name]
    ref = Reference(fmt)
    vals = [v for v in ref.values if v >= 0][::3] + [ref.max]
    vals = vals + [-v for v in vals if v != 0]
    a = np.array([float(v) for v in vals])
    A, B = np.meshgrid(a, a, indexing="ij")
    draw = 0.4
    ar = Arith(fmt, rule=rule, rng=FixedDraws(draw))
    got = getattr(ar, op)(ar.asarray(A), ar.asarray(B)).astype(np.float64)
    ops = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y,
           "mul": lambda x, y: x * y, "div": lambda x, y: x / y}
    for i, j in itertools.product(range(len(vals)), repeat=2):
        x, y = vals[i], vals[j]
        if rule.flush and (0 < abs(x) < ref.smallest_normal or 0 < abs(y) < ref.smallest_normal):
            continue  # denormals-are-zero: tested on its own
        if op == "div" and y == 0:
            continue
        exact = ops[op](x, y)
        g = got[i, j]
        if exact == 0:  # the sign of an exact zero (x - x) is not what is tested here
            assert g == 0, (x, y, g)
            continue
        assert same(g, ref.round(exact, rule, draw)), (x, y, g)


# -- wider formats: hypothesis against round_rational on the exact result ----------------------

WIDE = ["float16", "bfloat16", "float32", "float64"]


def format_values(name):
    fmt = FORMATS[name]
    bits = fmt.encoding.itemsize * 8
    utype = {16: np.uint16, 32: np.uint32, 64: np.uint64}[bits]
    return st.integers(0, 2 ** bits - 1).map(
        lambda b: np.array([b], dtype=utype).view(fmt.encoding)[0]).filter(
        lambda v: math.isfinite(float(v)))


def expected(q: Fraction, fmt, rule: Rule) -> float:
    r = round_rational(q, fmt, rule)
    if isinstance(r, float):
        return r if fmt.has_inf else math.nan
    if r == 0:
        return math.copysign(0.0, q)
    return float(r)


@pytest.mark.parametrize("rounding", DETERMINISTIC)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("name", WIDE)
@given(data=st.data())
@settings(max_examples=60, deadline=None)
def test_wide_operations_directed(name, op, rounding, data):
    """float16, bfloat16 (emulated, exact residuals), float32 (float64 and error-free
    transformations) and float64 (MPFR) under each deterministic rounding."""
    fmt = FORMATS[name]
    a = data.draw(format_values(name))
    b = data.draw(format_values(name))
    if op == "div" and b == 0:
        return
    rule = Rule(rounding, data.draw(st.sampled_from(["gradual", "flush"])),
                data.draw(st.sampled_from(["inf", "saturate"])))
    if rule.flush and (0 < abs(float(a)) < float(fmt.smallest_normal)
                       or 0 < abs(float(b)) < float(fmt.smallest_normal)):
        return
    ar = Arith(fmt, rule=rule)
    got = float(getattr(ar, op)(np.asarray(a), np.asarray(b)).astype(np.float64))
    x, y = Fraction(float(a)), Fraction(float(b))
    exact = {"add": x + y, "sub": x - y, "mul": x * y, "div": x / y if y else None}[op]
    if exact == 0:
        assert got == 0
        return
    assert same(got, expected(exact, fmt, rule)), (a, b, got)


@pytest.mark.parametrize("name", ["bfloat16", "float32"])
def test_bfloat16_far_apart_addition_directed(name):
    """2**100 + 2**-100: float64 alone says 2**100; the residual says the exact sum is above."""
    fmt = FORMATS[name]
    big, small = np.array(2.0 ** 100, fmt.dtype), np.array(2.0 ** -100, fmt.dtype)
    up = float(Arith(fmt, rule=Rule("upward")).add(big, small))
    assert up == 2.0 ** 100 + 2.0 ** (100 - fmt.precision + 1)
    down = float(Arith(fmt, rule=Rule("downward")).sub(big, small))
    assert down == 2.0 ** 100 - 2.0 ** (100 - fmt.precision)
    assert float(Arith(fmt, rule=Rule("toward_zero")).add(big, small)) == 2.0 ** 100


@pytest.mark.parametrize("rounding", DETERMINISTIC)
@pytest.mark.parametrize("function", ["exp", "log", "tanh", "sqrt"])
@pytest.mark.parametrize("name", ["float16", "bfloat16", "float8_e4m3fn", "float64"])
@given(data=st.data())
@example(data=None)
@settings(max_examples=30, deadline=None)
def test_functions_follow_the_rule(name, function, rounding, data):
    """MPFR under each rounding against mpmath at 400 bits rounded by round_rational."""
    fmt = FORMATS[name]
    if data is None:
        x = 1.0
    else:
        x = float(data.draw(format_values(name) if name in WIDE else st.sampled_from(
            [float(v) for v in Reference(fmt).values])))
    if function in ("log", "sqrt"):
        x = abs(x)
    if function == "tanh" and abs(x) > 300:
        x = math.copysign(300.0, x)  # tanh(x) = 1 - 2e^-2x: beyond, no precision decides it
    x = float(round_array(np.array([x]), fmt)[0])
    rule = Rule(rounding)
    got, _ = evaluate(function, round_array(np.array([x]), fmt), fmt, rule)
    got = float(got[0])
    want = decided_rounding(function, x, fmt, rule)
    if want is not None:
        assert same(got, want), (x, got, want)


def decided_rounding(function: str, x: float, fmt, rule: Rule):
    """The function's value rounded by the rule, from mpmath at a precision raised until both
    ends of its error bound round alike (None where the value is beyond every range here)."""
    if function == "tanh" and abs(x) > 300:
        x = math.copysign(300.0, x)  # 1 - tanh(x) < 1e-260: rounds as tanh(300) everywhere here
    if (function, x) in (("exp", 0.0), ("log", 1.0)) or function == "tanh" and x == 0:
        return {"exp": 1.0, "log": 0.0, "tanh": x}[function]
    if function == "sqrt":
        with mpmath.workprec(2200):
            root = mpmath.sqrt(to_mpf(x))
            if root * root == to_mpf(x):  # an exact square root: the rule has nothing to do
                return expected(Fraction(*root.as_integer_ratio()), fmt, rule) if x else x
    prec = 200
    while prec <= 40000:
        with mpmath.workprec(prec):
            v = getattr(mpmath, function)(to_mpf(x))
            if not mpmath.isfinite(v) or (v != 0 and not -4000 < mpmath.frexp(v)[1] < 4000):
                return None
            if v == 0:
                return 0.0
            slack = abs(v) * mpmath.ldexp(1, 4 - prec)
            ends = [Fraction(*(v - slack).as_integer_ratio()),
                    Fraction(*(v + slack).as_integer_ratio())]
        answers = {expected(q, fmt, rule) for q in ends}
        if len(answers) == 1:
            return answers.pop()
        prec *= 4
    raise AssertionError(f"{function}({x}) undecided at {prec} bits")


# -- flush and saturation pinned by hand -----------------------------------------------------


def test_flush_to_zero_and_denormals_are_zero_float16():
    f16 = FORMATS["float16"]
    flush = Rule(subnormals="flush")
    assert float(round_array(np.float64(2.0 ** -20), f16, flush)) == 0.0
    assert np.signbit(round_array(np.float64(-2.0 ** -20), f16, flush))
    assert float(round_array(np.float64(2.0 ** -14), f16, flush)) == 2.0 ** -14
    # just below the smallest normal, nearest rounds up to it: kept
    assert float(round_array(np.float64(2.0 ** -14 - 2.0 ** -26), f16, flush)) == 2.0 ** -14
    # denormals-are-zero: a subnormal operand (made under gradual) is read as 0
    sub = round_array(np.float64(2.0 ** -20), f16)
    ar = Arith(f16, rule=flush)
    assert float(ar.add(sub, np.float16(1.0))) == 1.0
    assert float(ar.mul(sub, np.float16(2.0 ** 10))) == 0.0  # 2**-10 under gradual
    assert float(Arith(f16).mul(sub, np.float16(2.0 ** 10))) == 2.0 ** -10


def test_deep_product_under_rules_float16():
    """0.9 * x stagnates in the subnormals under nearest; flush and toward_zero reach 0.

    k subnormal units times s = 0.8999 round back to k while k (1 - s) < 1/2, i.e. k <= 4:
    nearest stops at 4 * 2**-24."""
    f16 = FORMATS["float16"]
    s = np.float16(0.9)
    results = {}
    for rule in (Rule(), Rule(subnormals="flush"), Rule("toward_zero")):
        ar = Arith(f16, rule=rule)
        y = np.float16(1.0)
        for _ in range(300):
            y = ar.mul(s, y)
        results[str(rule.rounding) + rule.subnormals] = float(y)
    assert results["nearest_evengradual"] == 4 * 2.0 ** -24
    assert results["nearest_evenflush"] == 0.0
    assert results["toward_zerogradual"] == 0.0


@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2", "float16"])
def test_saturation_and_ieee_directed_overflow(name):
    fmt = FORMATS[name]
    big = np.float64(float(fmt.max) * 4)
    top = float(fmt.max)
    assert float(round_array(big, fmt, Rule(overflow="saturate"))) == top
    assert float(round_array(-big, fmt, Rule(overflow="saturate"))) == -top
    assert float(round_array(big, fmt, Rule("toward_zero"))) == top
    assert float(round_array(-big, fmt, Rule("upward"))) == -top
    assert float(round_array(big, fmt, Rule("downward"))) == top
    inf_or_nan = float(round_array(big, fmt, Rule("upward")))
    assert inf_or_nan == math.inf if fmt.has_inf else math.isnan(inf_or_nan)


def test_formats_without_nan_saturate_and_fnuz_has_no_negative_zero():
    f4 = FORMATS["float4_e2m1fn"]
    assert float(round_array(np.float64(100.0), f4)) == 6.0
    fnuz = FORMATS["float8_e4m3fnuz"]
    z = round_array(np.float64(-1e-30), fnuz)
    assert float(z) == 0 and not np.signbit(z.astype(np.float64))
    assert np.isnan(float(round_array(np.float64(1e6), fnuz)))  # no inf: NaN
    # ml_dtypes' own conversions agree with fpstudy's on every value of the grid (nearest)
    for name in ("float8_e4m3fnuz", "float8_e4m3b11fnuz", "float8_e3m4", "float6_e2m3fn"):
        fmt = FORMATS[name]
        ref = Reference(fmt)
        pts = np.array([float(p) for p in exact_points(ref) if abs(p) <= ref.max])
        ours = round_array(pts, fmt).astype(np.float64)
        theirs = pts.astype(np.float32).astype(fmt.encoding).astype(np.float64)
        assert np.array_equal(ours, theirs, equal_nan=True), name


def test_e8m0_is_listed_not_computed():
    fmt = FORMATS["float8_e8m0fnu"]
    assert not fmt.computable and fmt.precision == 1
    with pytest.raises(ValueError, match="cannot be computed"):
        Arith(fmt)


# -- stochastic rounding: statistics ---------------------------------------------------------


@pytest.mark.parametrize("name, x, fraction", [
    ("bfloat16", 1 + 0.3 * 2 ** -7, 0.3),
    ("float16", 3 * 2.0 ** -26, 0.75),       # between 0 and the smallest subnormal
    ("float8_e4m3fn", 1.0 + 0.1 * 2 ** -3, 0.1),
])
def test_stochastic_rounding_is_unbiased(name, x, fraction):
    """The neighbours come with probabilities 1 - f and f, and the mean of N roundings lies
    within a few standard errors of x (N = 20000, 5 sigma)."""
    fmt = FORMATS[name]
    n = 20000
    rng = np.random.default_rng(1)
    got = round_array(np.full(n, x), fmt, Rule("stochastic"), rng).astype(np.float64)
    lower = float(round_array(np.float64(x), fmt, Rule("toward_zero")))
    upper = float(round_array(np.float64(x), fmt, Rule("upward")))
    assert set(np.unique(got)) == {lower, upper}
    p_up = np.mean(got == upper)
    sigma = math.sqrt(fraction * (1 - fraction) / n)
    assert abs(p_up - fraction) < 5 * sigma
    std_error = (upper - lower) * sigma
    assert abs(got.mean() - x) < 5 * std_error


@pytest.mark.parametrize("name", ["bfloat16", "float32", "float64"])
def test_stochastic_operations_and_functions_are_unbiased(name):
    """A sum whose exact value lies between neighbours, and exp, both by stochastic rounding
    (float64 through MPFR): the mean of the rounded results is the exact value."""
    fmt = FORMATS[name]
    n = 4000
    rng = np.random.default_rng(2)
    ar = Arith(fmt, rule=Rule("stochastic"), rng=rng)
    one = np.full(n, 1.0, fmt.dtype)
    tiny = np.full(n, 2.0 ** -(fmt.precision + 1), fmt.dtype)  # a quarter ulp of 1
    s = ar.add(one, tiny).astype(np.float64)
    gap = 2.0 ** (1 - fmt.precision)
    assert abs(np.mean(s == 1 + gap) - 0.25) < 5 * math.sqrt(0.25 * 0.75 / n)
    e = ar.exp(np.full(n, 1.0, fmt.dtype))
    exact = mpmath.e
    lo = float(round_array(np.float64(float(exact)), fmt, Rule("toward_zero")))
    if name == "float64":
        lo = float(evaluate("exp", np.array([1.0]), fmt, Rule("toward_zero"))[0][0])
    values = [to_mpf(v) for v in e]
    with mpmath.workprec(200):
        f = float((exact - lo) / (2.0 ** (1 - fmt.precision) * 2))  # gap in [2, 4)
        mean_up = np.mean([v > lo for v in values])
    assert abs(mean_up - f) < 5 * math.sqrt(f * (1 - f) / n)


def test_stochastic_draws_are_reproducible_and_independent_per_operation():
    fmt = FORMATS["bfloat16"]
    x = np.full(64, 1 + 0.5 * 2 ** -7)

    def run(seed):
        ar = Arith(fmt, rule=Rule("stochastic"), rng=np.random.default_rng(seed))
        return ar.asarray(x).astype(np.float64), ar.asarray(x).astype(np.float64)

    a1, b1 = run(7)
    a2, b2 = run(7)
    assert np.array_equal(a1, a2) and np.array_equal(b1, b2)
    assert not np.array_equal(a1, b1)  # the second operation draws anew


def test_stochastic_needs_a_generator():
    with pytest.raises(ValueError, match="rng"):
        Arith(FORMATS["bfloat16"], rule=Rule("stochastic"))


def test_rule_checks_its_names():
    with pytest.raises(ValueError, match="rounding must be one of"):
        Rule("nearest")


def test_stochastic_sum_of_small_terms_keeps_growing():
    """1000 terms of 2**-10 in bfloat16: nearest stalls at 2**-2 (each term is below half an
    ulp), stochastic reaches about 1000 * 2**-10 in expectation, float32 accumulation gets it."""
    fmt = FORMATS["bfloat16"]
    terms = np.full(1000, 2.0 ** -10, fmt.dtype)
    nearest = float(Arith(fmt).sum(terms))
    assert nearest == 0.25
    means = []
    for seed in range(8):
        ar = Arith(fmt, rule=Rule("stochastic"), rng=np.random.default_rng(seed))
        means.append(float(ar.sum(terms)))
    assert abs(np.mean(means) - 1000 * 2.0 ** -10) < 0.1
    wide = float(Arith(fmt, accumulate=FORMATS["float32"]).sum(terms))
    assert wide == float(round_array(np.float64(1000 * 2.0 ** -10), fmt))


def test_wider_accumulator_uses_the_rule():
    fmt = FORMATS["bfloat16"]
    terms = np.full(3, 1.0 / 3, np.float64)
    ar = Arith(fmt, accumulate=FORMATS["float32"], rule=Rule("toward_zero"))
    got = float(ar.sum(ar.asarray(terms)))
    assert Fraction(got) < 1  # every rounding toward zero: below the exact 1 - tiny
    up = Arith(fmt, accumulate=FORMATS["float32"], rule=Rule("upward"))
    assert float(up.sum(up.asarray(terms))) >= 1


def test_ml_dtypes_is_what_the_reference_enumerates():
    assert Reference(FORMATS["float8_e4m3fn"]).max == 448
    assert len(Reference(FORMATS["float8_e5m2"]).values) == 2 * (2 ** 7 - 4) - 1  # +-0 once
    assert ml_dtypes.finfo(ml_dtypes.float4_e2m1fn).max == 6


@pytest.mark.parametrize("rule", [Rule(r, s, o) for r in DETERMINISTIC
                                  for s, o in (("gradual", "inf"), ("flush", "saturate"))],
                         ids=str)
@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2fnuz", "float4_e2m1fn"])
def test_functions_on_every_value_of_small_formats(name, rule):
    """exp, log, tanh and sqrt by MPFR under the rule, on every finite value of the format,
    against mpmath's value decided at rising precision and rounded by round_rational."""
    fmt = FORMATS[name]
    values = [float(v) for v in Reference(fmt).values]
    x = round_array(np.array(values), fmt)
    for function in ("exp", "log", "tanh", "sqrt"):
        got, _ = evaluate(function, x, fmt, rule)
        for v, g in zip(values, got.astype(np.float64), strict=True):
            if function in ("log", "sqrt") and v < 0:
                assert math.isnan(g)
                continue
            if function == "log" and v == 0:
                assert g == -math.inf or (not fmt.has_inf and math.isnan(g))
                continue
            if rule.flush and 0 < abs(v) < float(fmt.smallest_normal):
                continue  # Arith reads it as 0 (denormals-are-zero); evaluate takes it as is
            want = decided_rounding(function, v, fmt, rule)
            if want is None:
                continue
            if want == 0 and g == 0:
                continue  # the sign of a zero from an exact zero (tanh(0), log(1)) is not tested
            assert same(g, want), (function, v, g, want)


@pytest.mark.parametrize("draw", [0.25, 0.75])
@pytest.mark.parametrize("name", ["float8_e4m3fn", "float4_e2m1fn", "float8_e5m2"])
def test_stochastic_functions_place_the_draw_exactly(name, draw):
    """MPFR's stochastic rounding of exp and tanh on every value: up exactly where the draw
    lies below the position (f(x) - lower)/(upper - lower), from mpmath at 300 bits (points
    within 2**-40 of the draw are left out: there 64 extra bits decide, not 300)."""
    fmt = FORMATS[name]
    ref = Reference(fmt)
    values = [float(v) for v in ref.values if abs(v) <= 20]
    x = round_array(np.array(values), fmt)
    rule = Rule("stochastic")
    for function in ("exp", "tanh"):
        got, _ = evaluate(function, x, fmt, rule, FixedDraws(draw))
        for v, g in zip(values, got.astype(np.float64), strict=True):
            with mpmath.workprec(300):
                exact = getattr(mpmath, function)(to_mpf(v))
                q = Fraction(*exact.as_integer_ratio())
            if q == 0 or abs(q) > ref.max:
                continue
            lower, upper = ref.neighbours(abs(q))
            if lower == upper:
                assert abs(g) == lower
                continue
            position = (abs(q) - lower) / (upper - lower)
            if abs(position - Fraction(draw)) < Fraction(1, 2 ** 40):
                continue
            want = upper if Fraction(draw) < position else lower
            if want > ref.max:
                continue  # overflow: tested with the deterministic rules
            assert Fraction(abs(g)) == want and (g < 0) == (q < 0), (function, v, g, want)


# -- one value: the scalar path against the array path ------------------------------------------

_ONE_FORMATS = ["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "float6_e2m3fn",
                "float32"]
_ALL_RULES = [Rule(r, s, o) for r in ROUNDINGS for s in ("gradual", "flush")
              for o in ("inf", "saturate")]


def _edge_floats(fmt) -> list[float]:
    """0, the subnormal range and its ties, the smallest normal, 1 and its ties, max and
    the tie past it, in float64, with both signs."""
    tiny, normal, top = (float(fmt.smallest_subnormal), float(fmt.smallest_normal),
                         float(fmt.max))
    ulp_top = 2.0 ** (fmt.max_exponent - fmt.precision)
    out = [0.0, tiny / 2, tiny, 1.5 * tiny, normal - tiny / 2, normal, 1.0,
           1 + 2.0 ** -fmt.precision, 1 + 3 * 2.0 ** -fmt.precision, top, top + ulp_top / 2,
           top + ulp_top, 1e300]
    return out + [-v for v in out]


@pytest.mark.parametrize("name", _ONE_FORMATS)
def test_one_value_rounds_as_an_array_of_one(name):
    """round_wide of a 0-d value (done in Python floats) equals round_wide of the same value
    as a one-element array (numpy), bit for bit (signed zeros, NaN) with the same flags, for
    every rule, with and without a residual, drawing the same numbers under stochastic
    rounding."""
    fmt = FORMATS[name]
    rng = np.random.default_rng(7)
    values = _edge_floats(fmt) + list(rng.standard_normal(40) * 2.0 ** rng.integers(-30, 30, 40))
    values += [math.nan, math.inf, -math.inf]
    residuals = [None, 0.0, 2.0 ** -60, -(2.0 ** -60), -0.0]
    for rule in _ALL_RULES:
        for k, (x, res) in enumerate(itertools.product(values, residuals)):
            if res is not None and x != 0:
                res = res * abs(x)  # well below half an ulp of x
            one, many = np.random.default_rng(k), np.random.default_rng(k)
            got, flags = round_wide(np.float64(x), fmt, rule, one,
                                    None if res is None else np.float64(res))
            want, want_flags = round_wide(np.array([x]), fmt, rule, many,
                                          None if res is None else np.array([res]))
            assert got.shape == () and got.dtype == np.float64
            assert np.float64(got).tobytes() == want[0].tobytes() or \
                (np.isnan(got) and np.isnan(want[0])), (name, rule, x, res, got, want)
            assert flags == want_flags, (name, rule, x, res)
            assert one.random() == many.random()  # the same draws were taken


def test_a_residual_alone_is_rounded_as_the_value():
    """x = 0 with a residual: the exact value is the residual (2**-30 in float16: underflow to
    0 under nearest, the smallest subnormal upward)."""
    f16 = FORMATS["float16"]
    assert round_wide(np.float64(0.0), f16, Rule("upward"), None, np.float64(2.0 ** -30)) \
        == (np.float64(2.0 ** -24), {"underflow"})
    assert round_wide(np.float64(0.0), f16, Rule(), None, np.float64(2.0 ** -30)) \
        == (np.float64(0.0), {"underflow"})
