"""The softmax case: cliffs of naive softmax against closed forms from finfo, the stable
algorithms against Blanchard-Higham-Higham bounds, hand-derived float16 cases, the truth's cost,
scipy's honest dtypes and user implementations loaded from a module."""

import math
import sys
from pathlib import Path

import ml_dtypes
import mpmath
import numpy as np
import pytest
from conftest import HEADLINE, WITH_INF

from fpstudy import config, run_experiment
from fpstudy.arith import Arith
from fpstudy.cases import softmax as S
from fpstudy.enclosure import Engine
from fpstudy.exact import to_mpf_array
from fpstudy.formats import FORMATS
from fpstudy.truth import prove

DATA = Path(__file__).parent / "data"
STABLE = ["max_shift", "log1p_shift", "division_free"]


def finfo(fmt):
    return ml_dtypes.finfo(fmt.encoding) if fmt.encoding.type.__module__.startswith("ml_dtypes") \
        else np.finfo(fmt.encoding)


def run_grid(grid: dict, dtypes, seed=0):
    """records and summary of a softmax experiment given as a grid (in process)."""
    exp = config.parse({"case": "softmax", "dtypes": list(dtypes), "seed": seed,
                        "grid": grid}, Path("test.toml"))
    result = run_experiment(exp, progress=False)
    return result.records, result.summary


def exact_softmax(x) -> tuple[list, mpmath.mpf]:
    """Reference softmax and logsumexp of a format array, at 60 digits (independent of S)."""
    with mpmath.workdps(60):
        xs = [mpmath.mpf(float(v)) for v in np.asarray(x, dtype=np.float64)]
        a = max(xs)
        total = mpmath.fsum(mpmath.exp(v - a) for v in xs)
        return [mpmath.exp(v - a) / total for v in xs], a + mpmath.log(total)


def normwise_error(y, truth) -> float:
    with mpmath.workdps(60):
        ys = [mpmath.mpf(float(v)) for v in np.asarray(y, dtype=np.float64)]
        return float(max(abs(a - b) for a, b in zip(ys, truth, strict=True)) / max(truth))


# -- closed forms ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n, f in FORMATS.items() if f.has_nan and f.computable])
def test_cliffs_are_the_closed_forms_of_finfo(name):
    fmt, fi = FORMATS[name], finfo(FORMATS[name])
    k = S.cliffs(10, fmt)
    # exponent identities: smallest subnormal = 2**(minexp - nmant), smallest normal = 2**minexp
    assert k["exp_underflow"] == pytest.approx((fi.minexp - fi.nmant - 1) * math.log(2))
    assert k["subnormal"] == pytest.approx(fi.minexp * math.log(2))
    # max = (2 - 2**-nmant) * 2**(maxexp - 1), or one step less for float8_e4m3fn (its top
    # significand is NaN); either way ln max lies within one ulp of maxexp * ln 2
    top = fi.maxexp * math.log(2)
    assert top - 2.0 ** -fi.nmant * 2 - 1e-9 < k["exp_overflow"] <= top
    if name != "longdouble":  # float64 holds the rest of the limits
        assert k["exp_overflow"] == pytest.approx(math.log(float(fi.max)), abs=1e-12)
        assert k["sum_overflow"] == pytest.approx(math.log(float(fi.max)) - math.log(10),
                                                  abs=1e-12)
    assert k["exp_underflow"] < k["subnormal"] < k["sum_overflow"] < k["exp_overflow"]


def _spacing(fmt, c: float) -> float:
    """The gap between format values at |c| (c rounded to the format moves by up to it)."""
    e = max(math.frexp(abs(c))[1] - 1, fmt.min_exponent)
    return math.ldexp(1.0, e - fmt.precision + 1)


# (format, n) pairs where summing n equal terms in the format cannot stagnate (n < 2**(p-1)):
# there ln(max/n) is the sum's cliff. Beyond that, see test_bfloat16_sum_stagnation.
# (float4/float6 have no NaN: they saturate, a different story: test_rounding)
NO_STALL = [(name, n) for name in FORMATS for n in (2, 10)
            if n < 2 ** (FORMATS[name].precision - 1) and FORMATS[name].has_nan
            and FORMATS[name].computable and 1 / n >= FORMATS[name].smallest_normal]


@pytest.mark.parametrize(("name", "n"), NO_STALL, ids=[f"{a}-n{b}" for a, b in NO_STALL])
def test_naive_cliffs_within_a_grid_step_of_the_closed_forms(name, n):
    fmt, fi = FORMATS[name], finfo(FORMATS[name])
    with mpmath.workprec(113):  # closed forms straight from finfo (longdouble via mpmath)
        big, tiny = mpmath.mpf(float(fi.max)), mpmath.mpf(float(fi.smallest_subnormal))
        if name == "longdouble":
            big = mpmath.mpf(2) ** fi.maxexp * (1 - mpmath.mpf(2) ** -(fi.nmant + 1))
            tiny = mpmath.mpf(2) ** (fi.minexp - fi.nmant)
        low, high = float(mpmath.log(tiny / 2)), float(mpmath.log(big))
        sum_cliff = float(mpmath.log(big / n))
    step = 0.05 if fmt.precision <= 8 else 0.01
    # around each cliff: fine steps, and steps of the format's spacing there (c is rounded to
    # the format first, so in float8 the cliff can only be crossed a whole spacing away)
    cs = sorted({round(t + k * d, 6) for t in (low, sum_cliff, high)
                 for d in (step, _spacing(fmt, t)) for k in range(-3, 4)})
    _, summary = run_grid({"n": n, "input": "constant", "impl": "naive", "c": cs}, [name])
    soft = summary[summary["quantity"] == "softmax"]
    runs = list(zip(soft["outcome"], soft["start"], strict=True))
    tolerance = step + max(_spacing(fmt, t) for t in (low, sum_cliff, high))
    if not fmt.has_inf:  # the sum's overflow is already NaN, so exp's cliff is invisible
        expected = [("nan", None), ("ok", low), ("nan", sum_cliff)]
    elif _spacing(fmt, high) > high - sum_cliff and len(runs) == 3:
        expected = [("nan", None), ("ok", low), ("nan", high)]  # c's rounding jumps the window
    else:
        expected = [("nan", None), ("ok", low), ("underflow", sum_cliff), ("nan", high)]
    measured = runs[1:]
    expected = expected[1:]
    assert [o for o, _ in measured] == [o for o, _ in expected]
    for (outcome, start), (_, cliff) in zip(measured, expected, strict=True):
        assert abs(start - cliff) <= tolerance, (outcome, start, cliff)
    # the case's own prediction names the same grid points as the measurement
    assert (soft["predicted_start"] == soft["start"]).all(), soft


def test_predict_keys_the_two_nan_runs_in_order_of_c():
    fmt = FORMATS["float16"]
    cs = [-20.0, -18.0, -17.0, 0.0, 10.5, 11.0, 11.5, 12.0]
    pred = S.predict({"impl": "naive", "input": "constant", "n": 2}, fmt, sweep_values=cs)
    # exp(-17) = 4.1e-8 > 2**-25 survives as 2**-24; 2 * exp(10.5) = 72646 > 65504; and
    # exp(11.0938) (11.1 in float16) > 65520: hand-derived from float16's limits
    assert pred["softmax"] == {"nan": (-20.0, 11.5), "ok": -17.0, "underflow": 10.5}
    assert pred["logsumexp"] == {"overflow": (-20.0, 10.5), "ok": -17.0}
    assert S.predict({"impl": "max_shift", "input": "constant", "n": 2}, fmt, cs) == {}


# -- hand-derived float16 cases -------------------------------------------------------------


@pytest.mark.parametrize(("logits", "expected", "flags"), [
    # exp(11) = 59874 -> 59872 in float16; 59872 + 59872 > 65520 overflows: 59872/inf = 0
    ([11, 11], [0.0, 0.0], {"overflow"}),
    # exp(12) = 162755 > max: inf/inf = NaN; 1/inf = 0
    ([12, 0], [np.nan, 0.0], {"overflow", "invalid"}),
    # exp(-20) = 2.1e-9 < 2**-25 (half the smallest subnormal) flushes to 0: 0/0
    ([-20, -20], [np.nan, np.nan], {"underflow", "invalid"}),
    # exp(-18) = 1.5e-8 flushes to 0, exp(-17) = 4.1e-8 rounds to 2**-24: silently [0, 1]
    ([-18, -17], [0.0, 1.0], {"underflow"}),
], ids=["11,11", "12,0", "-20,-20", "-18,-17"])
def test_float16_naive_by_hand(logits, expected, flags):
    ar = Arith(FORMATS["float16"])
    with np.errstate(all="raise"):
        y = S.naive(ar, ar.asarray(np.array(logits, dtype=np.float64)))["softmax"]
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y.astype(np.float64), expected)
    assert flags <= ar.flags
    ar = Arith(FORMATS["float16"])
    with np.errstate(all="raise"):
        stable = S.max_shift(ar, ar.asarray(np.array(logits, dtype=np.float64)))["softmax"]
    truth, _ = exact_softmax(np.array(logits, dtype=np.float16))
    assert normwise_error(stable, truth) <= 4 * FORMATS["float16"].unit_roundoff


def test_float16_spike_through_the_pipeline():
    # [12, 0] is the spike c = 0, spread = 12: the NaN is avoidable (max_shift is ok)
    records, _ = run_grid({"n": 2, "input": "spike", "c": 0.0, "spread": 12.0,
                           "impl": ["naive", "max_shift"]}, ["float16"])
    soft = records[records["quantity"] == "softmax"].set_index("impl")
    assert soft.loc["naive", "outcome"] == "nan" and soft.loc["naive", "truth_class"] == "normal"
    # max_shift: exp(-12) = 6.1e-6 is subnormal in float16, as is the truth; no NaN
    assert soft.loc["max_shift", "outcome"] == "subnormal"
    assert soft.loc["max_shift", "truth_class"] == "subnormal"
    assert soft.loc["max_shift", "rel_error"] <= FORMATS["float16"].unit_roundoff * 2


# -- the stable algorithms --------------------------------------------------------------------


@pytest.mark.parametrize("name", WITH_INF)
@pytest.mark.parametrize("impl", STABLE)
def test_stable_softmax_never_nan_or_inf_for_finite_logits(name, impl):
    fmt = FORMATS[name]
    rng = np.random.default_rng(7)
    wide = np.longdouble if name == "longdouble" else np.float64
    big = wide(fmt.max) / 4
    for x in (np.full(5, big), np.full(5, -big), np.array([big, -big, 0, big / 2]),
              rng.uniform(-1, 1, 50) * big, np.array([-big])):
        ar = Arith(fmt)
        with np.errstate(all="raise"):
            y = S.IMPLS[impl](ar, ar.asarray(x))["softmax"]
        assert np.all(np.isfinite(y.astype(np.float64))), (x, y)


@pytest.mark.parametrize("name", HEADLINE)
def test_blanchard_higham_higham_bounds_on_random_logits(name):
    """Leading-order bounds (BHH 2021): shifted softmax <= (n + 2 + 2(max x - min x)) u;
    division-free <= (|lse| + n + 2 + 2(max x - min x + ln n)) u (it grows with |lse|)."""
    fmt = FORMATS[name]
    u = fmt.unit_roundoff
    rng = np.random.default_rng(2021)
    for n in (10, 200):
        for spread in (1.0, 10.0):
            for c in (-5.0, 0.0, 30.0, 80.0):
                ar = Arith(fmt)
                x = ar.asarray(c + spread * rng.standard_normal(n))
                truth, lse = exact_softmax(x)
                width = float(x.astype(np.float64).max() - x.astype(np.float64).min())
                for impl in STABLE:
                    with np.errstate(all="raise"):
                        y = S.IMPLS[impl](ar, x)["softmax"]
                    if impl == "division_free":
                        bound = (abs(float(lse)) + n + 2 + 2 * (width + math.log(n))) * u
                    else:
                        bound = (n + 2 + 2 * width) * u
                    assert normwise_error(y, truth) <= bound, (impl, n, spread, c)


def test_division_free_error_grows_with_logsumexp():
    fmt, rng = FORMATS["float64"], np.random.default_rng(3)
    errors = {impl: {0.0: [], 700.0: []} for impl in ("max_shift", "division_free")}
    z = rng.standard_normal((20, 10))
    for c in (0.0, 700.0):
        for row in z:
            ar = Arith(fmt)
            x = ar.asarray(c + row)
            truth, _ = exact_softmax(x)
            for impl in errors:
                with np.errstate(all="raise"):
                    errors[impl][c].append(normwise_error(S.IMPLS[impl](ar, x)["softmax"], truth))
    df = errors["division_free"]
    assert np.mean(df[700.0]) > 20 * np.mean(df[0.0])  # ~ |lse| u: 700 u against a few u
    assert max(errors["max_shift"][700.0]) <= 16 * fmt.unit_roundoff  # shift-invariant


# -- accumulation -----------------------------------------------------------------------------


def test_bfloat16_sum_stagnation_and_float32_accumulation():
    # 1000 ones summed in bfloat16 stall at 256 (256 + 1 is a tie, to even): softmax = 2**-8
    # where the truth is 1/1000, a relative error of 1000/256 - 1 exactly. In float32 the sum
    # is 1000 and the one rounding of 1/1000 to bfloat16 leaves at most u = 2**-8.
    records, _ = run_grid({"n": 1000, "input": "constant", "c": 0.0, "impl": "max_shift",
                           "accumulate": ["format", "float32"]}, ["bfloat16"])
    soft = records[records["quantity"] == "softmax"].set_index("accumulate")
    assert soft.loc["format", "value"] == 2.0 ** -8
    assert soft.loc["format", "rel_error"] == pytest.approx(1000 / 256 - 1, rel=1e-12)
    assert soft.loc["float32", "rel_error"] <= 2.0 ** -8


# -- truth ------------------------------------------------------------------------------------


def test_truth_matches_an_independent_mpmath_softmax():
    x = np.array([3.0, -1.5, 3.0, 0.25, 7.0])
    out = prove(S, {"c": 0.0}, {"x": to_mpf_array(x)}).values
    truth, lse = exact_softmax(x)
    with mpmath.workdps(30):
        for got, want in zip(out[("softmax", 0.0)], truth, strict=True):
            assert abs(got - want) <= 1e-30 * want
        assert abs(out[("logsumexp", 0.0)][0] - lse) <= 1e-30
        for got, xi in zip(out[("log_softmax", 0.0)], x, strict=True):
            assert abs(got - (mpmath.mpf(xi) - lse)) <= 1e-30


def test_truth_costs_one_exp_per_distinct_value(monkeypatch):
    calls = []
    real_exp = Engine.exp
    monkeypatch.setattr(Engine, "exp", lambda self, v: calls.append(1) or real_exp(self, v))
    monkeypatch.setattr(S, "_TRUTH_MEMO", {})
    for n in (10, 100_000):
        calls.clear()
        out = prove(S, {"c": 2.0}, {"x": to_mpf_array(np.full(n, 2.0))}).values
        assert len(out[("softmax", 2.0)]) == n
        assert abs(out[("softmax", 2.0)][-1] * n - 1) < 1e-30
        assert len(calls) == 1  # one for the sum and the probability: not n
    calls.clear()
    _ = prove(S, {"c": 0.0}, {"x": to_mpf_array(np.array([1.0, 2.0, 1.0, 2.0, 5.0]))}).values
    assert len(calls) == 3  # one per distinct value


# -- scipy ------------------------------------------------------------------------------------


def test_scipy_records_the_dtype_it_returned():
    pytest.importorskip("scipy")
    records, _ = run_grid({"n": 10, "input": "normal", "c": 1.0, "impl": "scipy"},
                          ["float16", "bfloat16"])
    dtypes = records.set_index(["dtype", "quantity"])["output_dtype"]
    assert dtypes["float16", "softmax"] == "float16"
    assert dtypes["bfloat16", "softmax"] == "bfloat16"
    # scipy's logsumexp widens bfloat16 to float64: measured as returned, far below bf16's u
    assert dtypes["bfloat16", "logsumexp"] == "float64"
    lse = records[(records["dtype"] == "bfloat16") & (records["quantity"] == "logsumexp")]
    assert lse["rel_error"].iloc[0] < 1e-12


def test_scipy_missing_is_a_clear_error(monkeypatch, write_config, run_cli):
    monkeypatch.setitem(sys.modules, "scipy", None)  # import scipy now raises ImportError
    monkeypatch.delitem(sys.modules, "scipy.special", raising=False)
    path = write_config('case = "softmax"\n[grid]\nimpl = ["naive", "scipy"]\n')
    status, _, err = run_cli("check", path)
    assert status == 2 and err.count("\n") == 1
    assert "grid.impl" in err and "pip install 'fpstudy[scipy]'" in err


# -- user implementations ---------------------------------------------------------------------


@pytest.fixture
def user_module(monkeypatch):
    monkeypatch.syspath_prepend(str(DATA))
    monkeypatch.delitem(sys.modules, "user_softmax", raising=False)


def test_user_implementation_is_measured_like_the_builtins(user_module):
    records, _ = run_grid({"n": 10, "input": "normal", "c": [0.0, 5.0],
                           "impl": ["max_shift", "user_softmax:shifted"]},
                          ["float16", "float32"])
    user = records[records["impl"] == "user_softmax:shifted"]
    assert set(user["quantity"]) == {"softmax"}  # a user function gives the probabilities
    assert len(user) == 2 * 2
    assert (user["output_dtype"] == user["dtype"]).all()
    assert (user["outcome"] == "ok").all() and user["truth_settled"].all()
    f16 = user[user["dtype"] == "float16"]
    assert (f16["rel_error"] <= 12 * FORMATS["float16"].unit_roundoff).all()
    builtin = records[(records["impl"] == "max_shift") & (records["quantity"] == "softmax")]
    assert (builtin["truth"].to_numpy() == user["truth"].to_numpy()).all()  # one truth


def test_user_module_found_in_the_current_directory(monkeypatch, write_config, run_cli,
                                                    tmp_path):
    monkeypatch.chdir(DATA)
    monkeypatch.delitem(sys.modules, "user_softmax", raising=False)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(DATA))])
    path = write_config('case = "softmax"\ndtypes = ["float32"]\n'
                        '[grid]\nimpl = "user_softmax:shifted"\nn = 3\n')
    status, out, err = run_cli("run", path, "--results", tmp_path / "res")
    assert status == 0, err


@pytest.mark.parametrize(("spec", "message"), [
    ("user_softmax:missing", "has no attribute 'missing'"),
    ("user_softmax:NOT_CALLABLE", "is not a function"),
    ("no_such_module_here:f", "cannot import module 'no_such_module_here'"),
    ("stable", "choose one of naive, max_shift, log1p_shift, division_free, scipy, or "
               '"package.module:function"'),
])
def test_bad_impl_is_a_config_error(user_module, write_config, run_cli, spec, message):
    path = write_config(f'case = "softmax"\n[grid]\nimpl = ["naive", "{spec}"]\n')
    status, _, err = run_cli("check", path)
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"{path}: grid.impl[1]: " in err and message in err


@pytest.mark.parametrize(("func", "message"), [
    ("raises", "raised RuntimeError: deliberate failure"),
    ("wrong_shape", "returned shape (3,); expected (4,)"),
    ("wrong_dtype", "returned dtype float64; expected float16"),
    ("not_an_array", "returned list, not a numpy array"),
])
def test_user_function_failures_name_the_impl_and_point(user_module, write_config, run_cli,
                                                        tmp_path, func, message):
    path = write_config(f'case = "softmax"\ndtypes = ["float16"]\n[grid]\n'
                        f'impl = "user_softmax:{func}"\nn = 4\nc = 2.5\n')
    status, _, err = run_cli("run", path, "--results", tmp_path / "res")
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"impl 'user_softmax:{func}' {message}" in err
    assert "dtype=float16, n=4, input=constant, c=2.5" in err
    assert not (tmp_path / "res").exists()


def test_accumulate_only_for_implementations_that_sum_in_fpstudy(user_module, write_config,
                                                                 run_cli):
    path = write_config('case = "softmax"\ndtypes = ["float16"]\n[grid]\n'
                        'impl = "user_softmax:shifted"\naccumulate = "float32"\n')
    status, _, err = run_cli("check", path)
    assert status == 2 and "grid.accumulate: 'float32' cannot apply to impl" in err


def test_logits_beyond_the_format_are_a_clear_error(write_config, run_cli, tmp_path):
    path = write_config('case = "softmax"\ndtypes = ["float8_e4m3fn"]\n[grid]\nc = 500.0\n')
    for command in ("check", "run"):  # refused before anything runs, with the point named
        status, _, err = run_cli(command, path, "--results", tmp_path / "res")
        assert status == 2 and "float8_e4m3fn cannot hold logits (max 448) at c = 500" in err
    assert not (tmp_path / "res").exists()


def test_list_shows_the_implementations(run_cli):
    status, out, _ = run_cli("list")
    assert status == 0
    assert "implementations: naive, max_shift, log1p_shift, division_free, scipy" in out
    assert '"package.module:function"' in out
