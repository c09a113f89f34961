"""The arb truth engine (fpstudy.arb, python-flint): its balls against independent exact
expectations, its isolation from other precisions, its selection by config and command line,
and every case's records against the mpmath engine's."""

from __future__ import annotations

import math
import sys
import tomllib
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np
import pytest

flint = pytest.importorskip("flint")  # `make` installs it (the arb extra): CI runs these

import fpstudy  # noqa: E402
from fpstudy import config, truth  # noqa: E402
from fpstudy.arb import ArbEngine  # noqa: E402
from fpstudy.cases import CASES  # noqa: E402
from fpstudy.enclosure import Engine, Undecided  # noqa: E402
from fpstudy.errors import ConfigError  # noqa: E402
from fpstudy.formats import FORMATS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def exact_ends(ex, x) -> tuple[Fraction, Fraction]:
    """The ends of an enclosure as exact rationals (from the raw mpf tuples)."""
    return tuple(_fraction(m) for m in ex.ends(x))


def _fraction(m) -> Fraction:
    sign, man, exp, _bc = m
    if not man and m != mpmath.libmp.fzero:
        raise ValueError(f"not finite: {m}")
    value = Fraction(int(man)) * Fraction(2) ** int(exp)
    return -value if sign else value


def reference(name: str, x: float, bits: int = 1000) -> Fraction:
    """mpmath's value of a function at 1000 bits, as a rational (good to ~2**-990)."""
    with mpmath.workprec(bits):
        v = getattr(mpmath, name)(mpmath.mpf(x))
    return _fraction(v._mpf_)


def inside(value: Fraction, lo: Fraction, hi: Fraction, slack: Fraction = Fraction(0)) -> bool:
    return lo - slack <= value <= hi + slack


# -- the balls -------------------------------------------------------------------------------------


def test_exp_of_one_contains_e_and_is_as_narrow_as_its_precision():
    ex = ArbEngine(113)
    lo, hi = exact_ends(ex, ex.exp(ex.one))
    e = reference("exp", 1.0)
    assert lo < e < hi
    assert (hi - lo) / e < Fraction(2) ** -100


@pytest.mark.parametrize("name, x", [
    ("exp", -700.5), ("exp", 3.25), ("log", 0.1), ("log", 1e300), ("sqrt", 2.0),
    ("tanh", 0.5), ("tanh", -20.0), ("erf", 0.75), ("erf", -3.0), ("erfc", 27.0),
    ("expm1", -1e-20), ("log1p", 1e-30), ("log1p", 5.0),
])
def test_elementary_functions_enclose_mpmath_at_1000_bits(name, x):
    ex = ArbEngine(113)
    lo, hi = exact_ends(ex, getattr(ex, name)(ex.point(x)))
    truth_value = reference(name, x)
    slack = abs(truth_value) * Fraction(2) ** -900  # the reference's own error
    assert inside(truth_value, lo, hi, slack)
    assert hi - lo <= abs(truth_value) * Fraction(2) ** -100


@pytest.mark.parametrize("x", [-800.0, -3.0, 0.0, 0.125, 40.0])
def test_sigmoid_encloses_the_exact_logistic(x):
    ex = ArbEngine(113)
    lo, hi = exact_ends(ex, ex.sigmoid(ex.point(x)))
    with mpmath.workprec(1000):
        value = _fraction((1 / (1 + mpmath.exp(-mpmath.mpf(x))))._mpf_)
    assert inside(value, lo, hi, value * Fraction(2) ** -900)
    assert hi - lo <= value * Fraction(2) ** -100


def test_pi_is_enclosed():
    ex = ArbEngine(200)
    lo, hi = exact_ends(ex, ex.pi())
    with mpmath.workprec(1000):
        pi = _fraction(mpmath.pi._mpf_)
    assert lo < pi < hi and hi - lo < Fraction(2) ** -190


def test_log1p_of_a_tiny_argument_keeps_its_digits():
    """log(1 + x) would lose x to the rounding of 1 + x; log1p is as tight as x itself."""
    ex = ArbEngine(113)
    x = Fraction(2) ** -200
    lo, hi = exact_ends(ex, ex.log1p(ex.point(x)))
    # x - x**2/2 < log1p(x) < x - x**2/2 + x**3/3 for 0 < x < 1
    assert lo <= x - x ** 2 / 2 + x ** 3 / 3 and hi >= x - x ** 2 / 2
    assert (hi - lo) / x < Fraction(2) ** -100


def test_a_third_is_enclosed_and_a_dyadic_fraction_is_exact():
    ex = ArbEngine(113)
    lo, hi = exact_ends(ex, ex.point(Fraction(1, 3)))
    assert lo < Fraction(1, 3) < hi and (hi - lo) < Fraction(2) ** -110
    assert exact_ends(ex, ex.point(Fraction(-5, 8))) == (Fraction(-5, 8), Fraction(-5, 8))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64", "longdouble",
                                   "float8_e4m3fn"])
def test_points_of_a_format_array_are_its_exact_values(dtype):
    fmt = FORMATS[dtype]
    values = np.concatenate([
        np.array([0.0, -0.0, 1.0, -2.5, 0.1, 1e-3]).astype(fmt.dtype),
        np.array([fmt.max, fmt.smallest_subnormal], dtype=fmt.dtype)]).reshape(2, 4)
    if dtype == "longdouble":  # a significand past float64's
        values[0, 0] = np.longdouble(1) + np.longdouble(2) ** -(fmt.precision - 1)
    ex = ArbEngine(24)
    balls = ex.points(values)
    assert balls.shape == values.shape
    for v, ball in zip(values.ravel(), balls.ravel(), strict=True):
        expected = Fraction(*v.as_integer_ratio()) if dtype == "longdouble" else Fraction(float(v))
        assert exact_ends(ex, ball) == (expected, expected)


def test_points_of_an_mpf_array_match_those_of_its_floats_and_keep_long_significands():
    rng = np.random.default_rng(1)
    floats = rng.standard_normal(12) * 10.0 ** rng.integers(-300, 300, 12)
    objects = np.array([mpmath.mpf(f) for f in floats], dtype=object)
    ex = ArbEngine(24)  # below float64's precision: conversions are exact nonetheless
    assert [exact_ends(ex, b) for b in ex.points(objects)] == \
        [exact_ends(ex, b) for b in ex.points(floats)]
    big = mpmath.mp.make_mpf(mpmath.libmp.from_int(2 ** 300 + 1))  # 301 bits, exactly
    (ball,) = ex.points(np.array([big], dtype=object))
    assert exact_ends(ex, ball) == (Fraction(2 ** 300 + 1),) * 2


def test_matvec_dot_sum_and_max_enclose_the_exact_rationals():
    rng = np.random.default_rng(7)
    A = rng.standard_normal((5, 4))
    x = rng.standard_normal(4)
    ex = ArbEngine(60)
    rows = ex.matvec(ex.points(A), list(ex.points(x)))
    same = ex.matvec([list(r) for r in ex.points(A)], list(ex.points(x)))  # a list of rows
    for i, (ball, twin) in enumerate(zip(rows, same, strict=True)):
        exact = sum(Fraction(a) * Fraction(b) for a, b in zip(A[i], x, strict=True))
        lo, hi = exact_ends(ex, ball)
        assert lo <= exact <= hi and hi - lo <= abs(exact) * Fraction(2) ** -50
        assert exact_ends(ex, twin) == (lo, hi)
    lo, hi = exact_ends(ex, ex.dot(list(ex.points(x)), list(ex.points(x) / 3)))
    exact = sum(Fraction(v) * Fraction(v) for v in x) / 3
    assert lo <= exact <= hi
    lo, hi = exact_ends(ex, ex.sum(list(ex.points(x)) + [ex.point(Fraction(1, 3))]))
    assert lo <= sum(Fraction(v) for v in x) + Fraction(1, 3) <= hi
    assert exact_ends(ex, ex.max(list(ex.points(x)))) == (Fraction(x.max()),) * 2


def test_sign_decides_or_refuses_a_ball_around_zero():
    ex = ArbEngine(113)
    third = ex.point(1) / 3
    assert ex.sign(third) == 1 and ex.sign(-third) == -1 and ex.sign(ex.zero) == 0
    with pytest.raises(Undecided):
        ex.sign(third - ex.point(Fraction(1, 3)))  # two balls around 1/3: 0 is inside


def test_a_ball_that_says_nothing_has_infinite_ends():
    ex = ArbEngine(53)
    lo, hi = ex.ends(ex.log(ex.point(1) / 3 - ex.point(1) / 3))  # log of a ball around 0
    assert (lo, hi) == (mpmath.libmp.fninf, mpmath.libmp.finf)


def test_engines_at_different_precisions_do_not_change_each_other():
    """flint's precision is global: each engine sets its own before every operation."""
    low, high = ArbEngine(64), ArbEngine(1024)
    x_low = low.point(3)
    high.exp(high.point(3))  # leaves flint at 1024 bits
    def relative_radius(x):
        return x.rad() / abs(x.mid())

    assert relative_radius(low.exp(x_low)) > 2.0 ** -70  # still 64 bits
    assert relative_radius(high.exp(high.point(3))) < 2.0 ** -1000
    ops = low.exp(x_low) * 3 + 1  # operators run at the precision of the last call: low's
    assert relative_radius(ops) > 2.0 ** -70


def test_settle_proves_a_cancellation_no_fixed_precision_sees():
    def f(ex):
        big, tiny = ex.point(2.0 ** 300), ex.point(2.0 ** -300)
        return {"x": [(big - tiny) - big]}
    t = truth.settle(f, exact_first=False, engine=ArbEngine)
    assert t.values["x"][0] == -mpmath.mpf(2) ** -300 and t.settled["x"] and t.precision > 600


def test_describe_names_the_engine_and_its_version():
    described = truth.describe(ArbEngine)
    assert described["engine"] == "arb" and described["version"] == flint.__version__
    assert truth.describe(Engine)["engine"] == "mpmath"


# -- choosing the engine ---------------------------------------------------------------------------


def test_config_engine_key_is_resolved_and_in_meta(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text('case = "sigmoid_saturation"\ndtypes = ["float16"]\n[truth]\nengine = "arb"\n'
                    '[grid]\nz = [-3.0, 12.0]\n')
    exp = config.load(path)
    assert exp.truth_engine == "arb" and exp.resolved()["truth"]["engine"] == "arb"
    meta = fpstudy.run_experiment(exp, progress=False).meta
    assert meta["truth"]["engine"] == "arb" and meta["truth"]["version"] == flint.__version__
    path.write_text('case = "sigmoid_saturation"\n')
    assert config.load(path).truth_engine == "mpmath"  # the default


def test_a_bad_engine_is_a_config_error_naming_file_key_and_choices(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text('case = "deep_product"\n[truth]\nengine = "mpfr"\n')
    with pytest.raises(ConfigError) as e:
        config.load(path)
    message = str(e.value)
    assert str(path) in message and "truth.engine" in message and "mpmath, arb" in message


def test_arb_without_python_flint_says_to_install_the_extra(tmp_path, monkeypatch, run_cli):
    monkeypatch.setitem(sys.modules, "flint", None)  # `import flint` now raises ImportError
    monkeypatch.delitem(sys.modules, "fpstudy.arb", raising=False)
    path = tmp_path / "e.toml"
    path.write_text('case = "deep_product"\n[truth]\nengine = "arb"\n')
    with pytest.raises(ConfigError) as e:
        config.load(path)
    assert "truth.engine" in str(e.value) and "pip install 'fpstudy[arb]'" in str(e.value)
    path.write_text('case = "deep_product"\n[grid]\nmax_depth = 3\n')
    status, out, err = run_cli("run", path, "--results", tmp_path / "r", "--truth-engine", "arb")
    assert status == 2 and "--truth-engine arb" in err and "fpstudy[arb]" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


def test_the_command_line_engine_overrides_the_config(tmp_path, run_cli):
    import json

    path = tmp_path / "e.toml"
    path.write_text('case = "activation_chain"\ndtypes = ["float16"]\n[grid]\n'
                    'activation = "tanh"\nmax_depth = 5\n')
    status, _out, err = run_cli("run", path, "--results", tmp_path, "--truth-engine", "arb")
    assert status == 0, err
    meta = json.loads((tmp_path / "e" / "meta.json").read_text())
    assert meta["truth"]["engine"] == "arb" and meta["config"]["truth"]["engine"] == "arb"
    with pytest.raises(SystemExit) as e:  # argparse refuses it, listing the choices
        run_cli("run", path, "--truth-engine", "mpfr")
    assert e.value.code == 2


# -- every case, both engines: the same records ----------------------------------------------------

SMALL = {  # each case on a few points, in the headline formats
    "deep_product": {"init": ["gaussian", "scaled_identity"], "scale": [0.9, 1.5], "width": 3,
                     "max_depth": 40},
    "deep_gradients": {"scale": [0.5, 1.5], "width": 2, "depth": [5, 29]},
    "activation_chain": {"activation": ["sigmoid", "tanh", "relu", "leaky_relu"],
                         "w": [1.0, 8.0], "a0": -0.5, "max_depth": 30},
    "sigmoid_saturation": {"z": [-800.0, -20.0, 0.25, 10.0, 90.0, 760.0],
                           "impl": ["naive", "stable"]},
    "training": {"scale": 0.5, "width": 2, "x": [8.0, 8.0], "target": [4.0, 4.0],
                 "depth": [2, 28], "lr": 0.6, "steps": 4},
    "softmax": {"n": [10, 300], "input": ["constant", "normal"], "spread": 3.0,
                "impl": ["naive", "log1p_shift"], "c": [-100.0, -18.5, 0.0, 11.5, 89.0]},
    "mlp": {"activation": ["relu", "gelu", "tanh", "sigmoid"],
            "loss": ["cross_entropy", "squared_error"]},
}
# Columns that may differ: how each engine proved the truth.
ENGINE_COLUMNS = ["truth_precision", "truth_bound"]


def test_every_case_has_a_small_config():
    assert set(SMALL) == set(CASES)


def run_both(exp):
    out = {}
    for engine in ("mpmath", "arb"):
        exp.truth_engine = engine
        out[engine] = fpstudy.run_experiment(exp, progress=False).records
    return out["mpmath"], out["arb"]


def same_records(a, b) -> None:
    """Identical records but for the engine's columns (truth_precision, truth_bound).

    Each engine proves its own enclosure, but an enclosure's truth is reported correctly
    rounded to 128 bits (truth.REPORTED_BITS) once the enclosure decides that rounding, and an
    exact truth exactly: both engines report the same numbers, so every column measured
    against them is the same to the last bit.
    """
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    strict = [c for c in a.columns if c not in ENGINE_COLUMNS]
    x, y = a[strict], b[strict]
    differs = ~((x == y) | (x.isna() & y.isna()))
    assert not differs.any().any(), a[strict][differs.any(axis=1)].head()
    assert (a["truth_settled"]).all() and (b["truth_settled"]).all()


@pytest.mark.parametrize("case", sorted(SMALL))
def test_both_engines_give_the_same_records_for_every_case(case, tmp_path):
    exp = config.parse({"case": case, "grid": SMALL[case]}, tmp_path / f"{case}.toml")
    same_records(*run_both(exp))


# The shipped experiments, each shrunk to a few values per grid axis and small sizes.
SHIPPED = sorted(p.name for p in (ROOT / "experiments").glob("*.toml"))
CAPS = {"max_depth": 40, "depth": 40, "steps": 4, "n": 60, "sample": 1}


def shrunk(path: Path):
    exp = config.parse(tomllib.loads(path.read_text(), parse_float=__import__("decimal").Decimal),
                       path)
    for key, values in exp.grid.items():
        if key in CAPS and all(isinstance(v, int) for v in values):
            values = sorted({min(v, CAPS[key]) for v in values})
        keep = 4 if key == exp.case.SWEEP else 2  # the ends, and two inside on the sweep
        if len(values) > keep:
            values = [values[round(i * (len(values) - 1) / (keep - 1))] for i in range(keep)]
        exp.grid[key] = values
    exp.trials = min(exp.trials, 2)
    return exp


@pytest.mark.parametrize("name", SHIPPED)
def test_both_engines_give_the_same_records_for_every_shipped_experiment(name):
    path = ROOT / "experiments" / name
    try:
        exp = shrunk(path)
    except ConfigError as e:
        if "data" in str(e):
            pytest.skip(f"{name}: its data files are generated by make ({e})")
        raise
    same_records(*run_both(exp))


def test_truth_key_holds_the_engine():
    from fpstudy import runner

    exp = config.parse({"case": "softmax", "dtypes": ["float16"]}, Path("s.toml"))
    point = exp.points[0]
    jobs = [runner.PointJob("s", "softmax", point, ("float16",), 0, 113, 65536,
                            truth_engine=e) for e in ("mpmath", "arb")]
    rounded = {"x": np.zeros(3, dtype=np.float16)}
    keys = {runner.truth_key(exp.case, point, rounded, j, [FORMATS["float16"]]) for j in jobs}
    assert len(keys) == 2


def test_magnitudes_are_log2_of_the_largest_midpoint():
    ex = ArbEngine(113)
    mags = ex.magnitudes({"a": [ex.point(3.0), ex.point(-40.0)], "z": [ex.zero]})
    assert mags["a"] == math.floor(math.log2(40)) and mags["z"] == -math.inf


def test_the_report_run_line_names_the_engine(tmp_path, run_cli):
    from fpstudy.report import write_report

    path = tmp_path / "e.toml"
    path.write_text('case = "sigmoid_saturation"\ndtypes = ["float16"]\n[grid]\nz = [1.0, 2.0]\n')
    assert run_cli("run", path, "--results", tmp_path / "r", "--truth-engine", "arb")[0] == 0
    write_report(tmp_path / "r")
    text = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert f"by the arb engine (python-flint {flint.__version__})" in text


def test_kept_balls_follow_an_array_changed_in_place():
    """Exact balls are kept across precisions, but never outlive what the array holds."""
    ex = ArbEngine(113)
    floats = np.array([1.0, 2.0, 3.0])
    objects = np.array([mpmath.mpf(1), mpmath.mpf(2)], dtype=object)
    assert [exact_ends(ex, b)[0] for b in ex.points(floats)] == [1, 2, 3]
    assert [exact_ends(ex, b)[0] for b in ArbEngine(300).points(floats)] == [1, 2, 3]
    floats[1] = 0.5
    objects_before = [exact_ends(ex, b)[0] for b in ex.points(objects)]
    objects[0] = mpmath.mpf(-7)
    assert [exact_ends(ex, b)[0] for b in ex.points(floats)] == [1, Fraction(1, 2), 3]
    assert objects_before == [1, 2]
    assert [exact_ends(ex, b)[0] for b in ex.points(objects)] == [-7, 2]
    balls = ex.points(floats)
    balls[0] = ex.zero  # a caller changing what it got changes nothing kept
    assert exact_ends(ex, ex.points(floats)[0])[0] == 1


def test_a_process_pool_gives_the_records_of_a_serial_run(tmp_path):
    exp = config.parse({"case": "activation_chain", "dtypes": ["float16", "float32"],
                        "truth": {"engine": "arb"},
                        "grid": {"activation": ["tanh", "sigmoid"], "w": [1.0, 8.0],
                                 "max_depth": 20}}, tmp_path / "j.toml")
    serial = fpstudy.run_experiment(exp, progress=False).records
    pooled = fpstudy.run_experiment(exp, jobs=2, progress=False).records
    assert serial.equals(pooled)
