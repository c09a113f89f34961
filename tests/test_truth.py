"""The ground truth is proven: enclosures narrowed until every quantity is pinned down.

Expected values come from exact Fraction arithmetic written here, never from fpstudy.
"""

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from conftest import compute_records, load_experiment

import fpstudy
from fpstudy.cases import activation_chain, deep_product
from fpstudy.enclosure import Engine, Undecided
from fpstudy.exact import to_mpf_array
from fpstudy.formats import FORMATS
from fpstudy.truth import DEFAULT_TOLERANCE_BITS, agree, prove, settle

mpf = mpmath.mpf
TOLERANCE = 2.0 ** -DEFAULT_TOLERANCE_BITS


# -- settle -------------------------------------------------------------------------------------


def test_settle_escalates_past_cancellation_that_two_precisions_agree_on():
    # (2**300 - 2**-300) - 2**300 is 0 at 113 and at 226 bits: agreement would accept 0.
    def f(ex):
        big, tiny = ex.point(2.0 ** 300), ex.point(2.0 ** -300)
        return {"x": [(big - tiny) - big]}
    t = settle(f, start=113, exact_first=False)
    assert t.values["x"][0] == -mpf(2) ** -300
    assert t.settled["x"] and t.bounds["x"] == 0.0  # exact: a point
    assert t.precision >= 601
    exact = settle(f)  # the same in exact dyadic arithmetic: one run, no precision question
    assert exact.values["x"][0] == -mpf(2) ** -300 and exact.bounds["x"] == 0.0


def test_settle_raises_the_precision_for_an_undecided_branch():
    seen = []

    def f(ex):  # relu of (2**300 + 2**-300) - 2**300: the branch needs 601 bits
        seen.append(ex.prec)
        z = (ex.point(2.0 ** 300) + ex.point(2.0 ** -300)) - ex.point(2.0 ** 300)
        return {"relu": [z if ex.sign(z) > 0 else ex.zero]}
    t = settle(f, start=113, exact_first=False)
    assert t.values["relu"][0] == mpf(2) ** -300 and t.settled["relu"]
    assert seen[0] == 192 and seen[-1] >= 601  # at least REPORTED_BITS + 64 first
    seen.clear()
    assert settle(f).values["relu"][0] == mpf(2) ** -300 and seen == [0]  # dyadic: exact


def test_settle_at_the_cap_says_it_is_not_proven():
    def f(ex):
        z = (ex.point(2.0 ** 300) + ex.point(2.0 ** -300)) - ex.point(2.0 ** 300)
        return {"relu": [z if ex.sign(z) > 0 else ex.zero], "one": [ex.one]}
    t = settle(f, start=113, cap=256, exact_first=False)
    assert t.precision == 256
    assert not t.settled["relu"] and t.bounds["relu"] == math.inf
    assert not t.settled["one"]  # a guessed branch proves nothing in the whole computation


def test_settle_bound_is_relative_to_the_norm_and_below_the_tolerance():
    def f(ex):  # exp(1) is irrational: never a point
        return {"e": [ex.exp(ex.one), ex.exp(-ex.point(1000))]}
    t = settle(f, start=53)
    assert t.settled["e"] and 0 < t.bounds["e"] <= TOLERANCE
    with mpmath.workprec(200):
        assert abs(t.values["e"][0] - mpmath.e) <= t.bounds["e"] * mpmath.e


def test_settle_uses_what_the_enclosure_lacks_rather_than_doubling():
    seen = []

    def f(ex):  # x + x - x triples the width: log2(3) bits a step, like a matrix product
        seen.append(ex.prec)
        x = ex.one / 3
        for _ in range(50):  # 79 bits lost: 113 leaves 34, short of 80 by 46
            x = x + x - x
        return {"x": [x]}
    t = settle(f, start=113, exact_first=False)
    assert t.settled["x"]
    assert len(seen) == 2  # one run to learn the loss, one to pay it


def test_settle_decides_the_truth_class_in_every_format():
    fmt = FORMATS["float16"]
    half_subnormal = 2.0 ** (fmt.min_exponent - fmt.precision)  # rounds to 0 (a tie)

    def f(ex):  # half the smallest subnormal, plus or minus an invisible irrational bit
        return {"x": [ex.point(half_subnormal) * (1 + ex.exp(-ex.point(200)))]}
    # At 113 bits the interval is narrow enough, but the class it falls in (rounds to 0, or to
    # the smallest subnormal) is decided only where it does not straddle the tie.
    t = settle(f, start=113, formats=[fmt], exact_first=False)
    assert t.settled["x"]
    assert t.values["x"][0] > half_subnormal


# -- the config from the issue: absorption that two precisions agree on ------------------------


def fraction_chain(activation, w, b, a0, slope, depth):
    """The chain a_k = g(w a_{k-1} + b) and its gradient, in exact Fractions."""
    w, b, a, slope = (Fraction(v) for v in (w, b, a0, slope))
    acts, grads, g = [], [], Fraction(1)
    for _ in range(depth):
        z = w * a + b
        if z > 0:
            a, d = z, Fraction(1)
        elif activation == "relu":
            a, d = Fraction(0), Fraction(0)
        else:
            a, d = slope * z, slope
        g *= w * d
        acts.append(a)
        grads.append(g)
    return acts, grads


@pytest.mark.parametrize("activation", ["leaky_relu", "relu"])
def test_absorbed_cancellation_is_an_avoidable_underflow(tmp_path, activation):
    exp = load_experiment(tmp_path, "activation_chain", f"""
activation = "{activation}"
w = -1.0
b = 2.037035976334486e90
a0 = 4.909093465297727e-91
max_depth = 3
""", dtypes=("float64",))
    records = compute_records(exp)
    acts, grads = fraction_chain(activation, -1.0, 2.0 ** 300, 2.0 ** -300, 0.01, 3)
    assert acts[1] == Fraction(1, 2 ** 300) and grads[1] == 1
    for r in records:
        exact = (acts if r["quantity"] == "activation" else grads)[r["depth"] - 1]
        assert r["truth"] == float(exact), (r["quantity"], r["depth"])
        assert r["truth_settled"] and r["truth_bound"] <= TOLERANCE
    depth2 = {r["quantity"]: r for r in records if r["depth"] == 2}
    # float64 computes z2 = -2**300 + 2**300 = 0: its activation is 0 where the truth is
    # 2**-300, a normal float64: an underflow the format could have avoided
    assert depth2["activation"]["value"] == 0.0
    assert depth2["activation"]["outcome"] == "underflow"
    assert depth2["activation"]["truth_class"] == "normal"
    assert depth2["gradient"]["truth"] == 1.0


def test_truth_settled_and_bound_in_records(write_config, tmp_path, run_cli):
    path = write_config("""
case = "deep_product"
dtypes = ["float16", "float64"]
[truth]
precision = 16
[grid]
scale = 1.5
max_depth = 40
""")
    status, _, err = run_cli("run", path, "--results", tmp_path / "r")
    assert status == 0, err
    records = fpstudy.load(tmp_path / "r" / "exp")
    # 1.5**d = 3**d / 2**d: products of points stay points once the precision holds them
    assert records["truth_settled"].all() and (records["truth_bound"] == 0).all()
    last = records[records["depth"] == 40].iloc[0]
    assert last["truth"] == float(Fraction(3 ** 40, 2 ** 40))


def test_pipeline_marks_a_truth_that_is_not_proven(write_config, tmp_path, run_cli):
    path = write_config("""
case = "sigmoid_saturation"
dtypes = ["float16"]
[truth]
precision = 16
max_precision = 24
[grid]
z = 1.0
""")
    status, out, err = run_cli("run", path, "--results", tmp_path / "r")
    assert status == 0, err
    assert "2 records whose truth is not proven" in out  # sigmoid and derivative at z = 1
    records = fpstudy.load(tmp_path / "r" / "exp")
    assert not records["truth_settled"].any()
    assert (records["truth_bound"] > TOLERANCE).all()
    assert set(records["truth_precision"]) == {24}


# -- the old acceptance test, kept as an independent check ---------------------------------------


def test_agree_is_relative_to_the_norm():
    assert agree([mpf(1), mpf(0)], [mpf(1), mpf("1e-30")], 80)   # 1e-30 below 2**-80 * 1
    assert not agree([mpf(1), mpf(0)], [mpf(1), mpf("1e-20")], 80)
    assert agree([mpf(0)], [mpf(0)], 80)


def test_proven_random_product_agrees_with_plain_mpmath_at_two_precisions():
    p = {"scale": 1.0, "width": 4, "init": "gaussian", "x": "ones", "max_depth": 60,
         "accumulate": "format"}
    raw = deep_product.inputs(p, np.random.default_rng(3))
    exact = {k: to_mpf_array(v) for k, v in raw.items()}
    proven = prove(deep_product, p, exact)

    def plain(prec):
        with mpmath.workprec(prec):
            y, out = list(exact["x"]), {}
            for d in range(1, 61):
                y = [mpmath.fdot(row, y) for row in exact["W"][d - 1]]
                out[d] = y
            return out
    low, high = plain(400), plain(800)
    for d in (1, 30, 60):
        assert agree(low[d], high[d], 80)
        assert agree(proven.values[("output", d)], high[d], 80)
        assert proven.settled[("output", d)]


def test_engines_do_not_share_precision():
    # two engines at different precisions, interleaved: each keeps its own
    a, b = Engine(20), Engine(200)
    third_a, third_b = a.one / 3, b.one / 3
    assert a.prec == 20 and b.prec == 200
    wa = float(third_a.delta)
    wb = float(third_b.delta)
    assert wa > 2.0 ** -24 and wb < 2.0 ** -190
    assert mpmath.mp.prec == 53 and mpmath.iv.prec == 53


def test_sign_refuses_to_guess():
    ex = Engine(64)
    z = (ex.point(1.0) + ex.point(2.0 ** -100)) - ex.point(1.0)
    with pytest.raises(Undecided):
        ex.sign(z)
    assert ex.sign(ex.zero) == 0 and ex.sign(ex.point(-3.0)) == -1


def test_case_truth_of_a_relu_chain_through_prove():
    p = {"activation": "relu", "max_depth": 2}
    exact = {k: to_mpf_array(np.float64(v)) for k, v in
             {"w": -1.0, "b": 2.0 ** 300, "a0": 2.0 ** -300, "slope": 0.01}.items()}
    t = prove(activation_chain, p, exact)
    assert t.values[("activation", 2)][0] == mpf(2) ** -300
    assert t.values[("gradient", 2)][0] == 1


def test_a_tiny_enclosure_is_not_mistaken_for_an_exact_one():
    # exp(-5000) ~ 2**-7213: its radius is far below float64's range, yet not zero
    t = settle(lambda ex: {"x": [ex.exp(-ex.point(5000))]}, start=113)
    assert t.settled["x"] and 0 < t.bounds["x"] <= TOLERANCE
    with mpmath.workprec(300):
        assert abs(t.values["x"][0] / mpmath.exp(-5000) - 1) < 2.0 ** -80


def test_hints_choose_the_precision_when_enclosures_straddle_zero():
    def f(ex):  # x + x - x, 300 times, triples the width: 475 bits lost; |x| = 1/3
        seen.append(type(ex).__name__)
        x = ex.one / 3
        for _ in range(300):
            x = x + x - x
        return {"x": [x]}
    seen = []
    t = settle(f, start=113, hints={"x": -1.58}, exact_first=False)
    assert t.settled["x"] and seen == ["Engine", "Engine"]
    seen.clear()  # without hints, a plain evaluation supplies the magnitude: one more run
    t = settle(f, start=113, exact_first=False)
    assert t.settled["x"] and seen == ["Engine", "PointEngine", "Engine"]


def test_exact_dyadic_truth_of_a_random_product_and_fallback():
    p = {"scale": 1.0, "width": 4, "init": "gaussian", "x": "ones", "max_depth": 40,
         "accumulate": "format"}
    raw = deep_product.inputs(p, np.random.default_rng(5))
    exact = {k: to_mpf_array(v) for k, v in raw.items()}
    t = prove(deep_product, p, exact)
    assert all(t.settled.values()) and set(t.bounds.values()) == {0.0}
    # independent: the same product in Fractions
    W = [[[Fraction(float(w)) for w in row] for row in layer] for layer in raw["W"]]
    y = [Fraction(1)] * 4
    for d in range(40):
        y = [sum(w * v for w, v in zip(row, y, strict=True)) for row in W[d]]
    assert [Fraction(*v.as_integer_ratio()) for v in t.values[("output", 40)]] == y
    # a truth with exp falls back to enclosures
    e = settle(lambda ex: {"e": [ex.exp(ex.one)]})
    assert e.bounds["e"] > 0 and e.precision >= 113


def test_log1p_and_expm1_enclosures_are_tight_for_tiny_arguments():
    ex = Engine(113)
    tiny = ex.point(2.0 ** -200)
    for f, ref in ((ex.log1p, mpmath.log1p), (ex.expm1, mpmath.expm1)):
        lo, hi = (mpmath.mp.make_mpf(e) for e in ex.ends(f(tiny)))
        with mpmath.workprec(400):
            exact = ref(mpmath.mpf(2) ** -200)
            assert lo <= exact <= hi
            assert (hi - lo) / exact < 2.0 ** -100  # relative to the tiny result


def test_an_enclosures_truth_is_reported_correctly_rounded_to_128_bits():
    """exp(1), log(3) and 1/3 are never points: each is reported as the exact value rounded to
    nearest at 128 bits (here e, ln 3 and 1/3 from mpmath at 1000 bits, rounded), whatever
    precision proved it; an exact (dyadic) truth is kept exactly."""
    def f(ex):
        return {"x": [ex.exp(ex.one), ex.log(ex.point(3)), ex.one / 3]}

    with mpmath.workprec(1000):
        exact = [mpmath.e + 0, mpmath.log(3), mpmath.mpf(1) / 3]
    with mpmath.workprec(128):
        want = [+x for x in exact]  # unary plus: rounded to nearest at 128 bits
    for start in (192, 300, 1000):
        t = settle(f, start=start, exact_first=False)
        assert t.values["x"] == want and t.settled["x"]
        assert all(abs(v - e) <= t.bounds["x"] * max(exact)
                   for v, e in zip(t.values["x"], exact, strict=True))
    with mpmath.workprec(300):
        big = mpf(2) ** 200 + 1  # 201 bits: exact, not rounded
    assert settle(lambda ex: {"y": [ex.point(big)]}).values["y"] == [big]
