"""activation_chain and sigmoid_saturation against independent values.

Independent sources: the sigmoid fixed point a* = 0.6590460684 and sigma'(a*) = 0.2247043481
(the issue's published values, and mpmath.findroot); mpmath.diff of the composed chain; an
exact re-iteration of the chain written here in mpmath with the format's limits from finfo;
and the naive derivative's cliff p ln 2 from the format's precision.
"""

from __future__ import annotations

import math
from pathlib import Path

import ml_dtypes
import mpmath
import numpy as np
import pytest
from conftest import COMPUTABLE, HEADLINE, load_experiment
from conftest import compute_records as records

from fpstudy import config
from fpstudy.cases import activation_chain, sigmoid_saturation
from fpstudy.exact import to_mpf_array
from fpstudy.formats import FORMATS
from fpstudy.truth import prove

A_STAR = mpmath.mpf("0.6590460684")
SIGMA_PRIME_STAR = mpmath.mpf("0.2247043481")


load = load_experiment


def pick(rows, **match):
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def finfo(name):
    dtype = FORMATS[name].dtype
    return ml_dtypes.finfo(dtype) if "ml_dtypes" in dtype.type.__module__ else np.finfo(dtype)


def chain_truth(p, prec=100):
    exact = {k: to_mpf_array(v) for k, v in activation_chain.inputs(p, None).items()}
    return prove(activation_chain, p, exact, start=prec).values


def sigmoid_params(**kw):
    p = {"activation": "sigmoid", "w": 1.0, "b": 0.0, "a0": 0.0, "slope": 0.01,
         "max_depth": 60, "impl": "naive"}
    p.update(kw)
    return p


def test_sigmoid_chain_reaches_the_fixed_point():
    out = chain_truth(sigmoid_params())
    a60 = out[("activation", 60)][0]
    ratio = out[("gradient", 60)][0] / out[("gradient", 59)][0]
    assert abs(a60 - A_STAR) < 1e-10
    assert abs(ratio - SIGMA_PRIME_STAR) < 1e-10
    with mpmath.workprec(100):
        star = mpmath.findroot(lambda a: 1 / (1 + mpmath.exp(-a)) - a, 0.5)
        assert abs(star * (1 - star) - SIGMA_PRIME_STAR) < 1e-10


@pytest.mark.parametrize("activation,w,b,a0", [
    ("sigmoid", 1.5, -0.3, 0.2), ("tanh", 0.9, 0.1, -0.7), ("relu", 1.2, 0.5, 0.3),
    ("leaky_relu", 0.8, -0.5, 0.1),
])
def test_chain_gradient_is_the_derivative_of_the_chain(activation, w, b, a0):
    p = sigmoid_params(activation=activation, w=w, b=b, a0=a0, slope=0.125, max_depth=6)
    out = chain_truth(p)
    g = {"sigmoid": lambda z: 1 / (1 + mpmath.exp(-z)), "tanh": mpmath.tanh,
         "relu": lambda z: max(z, 0), "leaky_relu": lambda z: z if z > 0 else 0.125 * z}[activation]
    with mpmath.workprec(100):
        def chain(a, depth):
            for _ in range(depth):
                a = g(w * a + b)
            return a
        for depth in (1, 3, 6):
            numeric = mpmath.diff(lambda a, depth=depth: chain(a, depth), mpmath.mpf(a0))
            assert abs(out[("gradient", depth)][0] - numeric) < 1e-20
            assert abs(out[("activation", depth)][0] - chain(mpmath.mpf(a0), depth)) < 1e-25


def expected_sigmoid_boundaries(name, max_depth=200):
    """First depths where the exact gradient of the w = 1, b = 0, a0 = 0 sigmoid chain is below
    the format's smallest normal, and at most half its smallest subnormal (rounds to 0)."""
    fi = finfo(name)
    normal, tiny = mpmath.mpf(float(fi.smallest_normal)), mpmath.mpf(float(fi.smallest_subnormal))
    first_sub = first_zero = None
    with mpmath.workprec(100):
        a, grad = mpmath.mpf(0), mpmath.mpf(1)
        for k in range(1, max_depth + 1):
            s = 1 / (1 + mpmath.exp(-a))
            grad *= s * (1 - s)
            a = s
            if first_sub is None and grad < normal * (1 - mpmath.mpf(2) ** -(fi.nmant + 2)):
                first_sub = k
            if first_zero is None and grad <= tiny / 2:
                first_zero = k
    return first_sub, first_zero


@pytest.mark.parametrize("impl", ["naive", "stable"])
def test_sigmoid_gradient_vanishes_where_the_exact_product_leaves_the_range(tmp_path, impl):
    exp = load(tmp_path, "activation_chain",
               f'activation = "sigmoid"\nimpl = "{impl}"\nmax_depth = 200', dtypes=HEADLINE)
    rows = records(exp)
    for name in ("float16", "bfloat16", "float32"):
        first_sub, first_zero = expected_sigmoid_boundaries(name)
        grads = sorted(pick(rows, dtype=name, quantity="gradient"), key=lambda r: r["depth"])
        outcome = {r["depth"]: r["outcome"] for r in grads}
        assert min(k for k, o in outcome.items() if o == "subnormal") == first_sub, name
        assert min(k for k, o in outcome.items() if o == "underflow") == first_zero, name
        pred = activation_chain.predict(exp.points[0], FORMATS[name])["gradient"]
        assert (pred["subnormal"], pred["underflow"]) == (first_sub, first_zero)
    # "underflows within a dozen layers in float16"
    assert expected_sigmoid_boundaries("float16")[1] <= 12
    assert all(r["outcome"] == "ok" for r in pick(rows, dtype="float64"))


@pytest.mark.parametrize("name", COMPUTABLE)
def test_relu_with_unit_weight_keeps_the_gradient_exactly_one(tmp_path, name):
    exp = load(tmp_path, "activation_chain", 'activation = "relu"\na0 = 0.5\nmax_depth = 300',
               dtypes=(name,))
    rows = records(exp)
    assert len(rows) == 600
    assert all(r["value"] == 1.0 for r in pick(rows, quantity="gradient"))
    assert all(r["value"] == 0.5 and r["rel_error"] == 0 for r in pick(rows, quantity="activation"))


@pytest.mark.parametrize("name", HEADLINE)
def test_relu_gradient_overflows_where_8_to_the_k_passes_max(tmp_path, name):
    exp = load(tmp_path, "activation_chain",
               'activation = "relu"\nw = 8.0\na0 = 0.5\nmax_depth = 400', dtypes=(name,))
    expected = math.floor(math.log2(float(finfo(name).max)) / 3) + 1  # 8^k = 2^3k > max
    grads = sorted(pick(records(exp), quantity="gradient"), key=lambda r: r["depth"])
    first = next(r["depth"] for r in grads if r["outcome"] == "overflow")
    assert first == expected
    assert activation_chain.predict(exp.points[0], FORMATS[name])["gradient"]["overflow"] == first


def test_leaky_relu_negative_chain_is_exact_in_float64(tmp_path):
    exp = load(tmp_path, "activation_chain",
               'activation = "leaky_relu"\nslope = 0.25\na0 = -1.0\nmax_depth = 540',
               dtypes=("float64",))
    grads = {r["depth"]: r for r in pick(records(exp), quantity="gradient")}
    for k in (1, 10, 500, 511):
        assert grads[k]["value"] == 2.0 ** (-2 * k)  # 0.25^k, exact down to 2^-1074
    assert grads[511]["outcome"] == "ok"       # 2^-1022: the smallest normal
    assert grads[512]["outcome"] == "subnormal"
    assert grads[538]["outcome"] == "underflow"  # 2^-1076 < 2^-1075


# -- sigmoid_saturation ---------------------------------------------------------------------------

def naive_cliff(name):
    """p ln 2: where e^-z reaches 2^-p, half an ulp of 1, and 1 + e^-z rounds to 1."""
    return (finfo(name).nmant + 1) * math.log(2)


@pytest.mark.parametrize("name", HEADLINE)
def test_naive_derivative_cliff_from_the_format_limits(tmp_path, name):
    cliff = naive_cliff(name)
    below, above = round(cliff - 0.06, 2), round(cliff + 0.06, 2)
    normal_until = -finfo(name).minexp * math.log(2)  # e^-z >= smallest normal
    assert above < normal_until
    exp = load(tmp_path, "sigmoid_saturation",
               f'z = [{below}, {above}, {round(normal_until - 0.5, 2)}]\n'
               'impl = ["naive", "stable"]', dtypes=(name,))
    rows = records(exp)
    u = 2.0 ** -(finfo(name).nmant + 1)

    def row(impl, z):
        return pick(rows, impl=impl, z=z, quantity="derivative")[0]

    assert row("naive", below)["value"] > 0
    for z in (above, round(normal_until - 0.5, 2)):
        naive, stable = row("naive", z), row("stable", z)
        assert naive["value"] == 0.0
        assert naive["outcome"] == "underflow" and naive["truth_class"] == "normal"
        assert stable["outcome"] == "ok" and stable["rel_error"] <= 4 * u
    sig = pick(rows, impl="naive", z=above, quantity="sigmoid")[0]
    assert sig["outcome"] == "ok"


def test_stable_derivative_follows_the_truth_to_zero(tmp_path):
    # float16: subnormal below 2^-14 (z > 14 ln 2 = 9.70), 0 at or below 2^-25 (z > 17.33)
    exp = load(tmp_path, "sigmoid_saturation",
               'z = [9.5, 10.0, 17.0, 17.5]\nimpl = "stable"', dtypes=("float16",))
    out = {r["z"]: r for r in pick(records(exp), quantity="derivative")}
    assert [out[z]["outcome"] for z in (9.5, 10.0, 17.0, 17.5)] == \
        ["ok", "subnormal", "subnormal", "underflow"]
    assert out[17.5]["truth_class"] == "underflows"


def test_sigmoid_saturation_predictions_bracket_the_measured_starts(run_cli, tmp_path):
    status, _out, _err = run_cli("run", Path(__file__).parent / "data" /
                                 "activations_saturation.toml", "--results", tmp_path)
    assert status == 0
    import pandas as pd
    table = pd.read_csv(tmp_path / "activations_saturation" / "summary.csv",
                        keep_default_na=False)
    # both ends fail: sigma and sigma' are about e^z below 0; the naive derivative also dies
    # past p ln 2, the stable one only where the truth goes subnormal and 0
    naive = table[(table["impl"] == "naive") & (table["quantity"] == "derivative")
                  & (table["dtype"] == "float16")]
    assert list(naive["outcome"]) == ["underflow", "subnormal", "ok", "underflow"]
    assert naive["start"].iloc[-1] == math.ceil(naive_cliff("float16") * 8) / 8
    for row in table.itertuples():
        assert row.predicted_start == row.start, row
    # without the grid the prediction is the threshold itself
    pred = sigmoid_saturation.predict({"z": 0.0, "impl": "naive"}, FORMATS["float16"])
    assert pred["derivative"]["underflow"] == pytest.approx(naive_cliff("float16"), abs=1e-3)


def test_experiment_configs_are_valid():
    root = Path(__file__).parent.parent / "experiments"
    assert config.load(root / "activations.toml").case.NAME == "activation_chain"
    assert config.load(root / "sigmoid_saturation.toml").case.NAME == "sigmoid_saturation"


def test_unknown_activation_is_one_line_error(run_cli, write_config):
    path = write_config('case = "activation_chain"\n[grid]\nactivation = "swish"\n')
    status, _out, err = run_cli("check", path)
    assert status == 2 and "grid.activation" in err and "sigmoid" in err
