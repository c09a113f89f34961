"""deep_gradients: backprop in the format against closed forms for W = s*I and mpmath.diff.

Expected values come from the closed forms of the linear network with W = s*I
(a_k = s^k x, delta_k = s^(L-k) r, grad_k = s^(L-1) r x^T with r = s^L x - t, computed with
Fractions), from finfo limits, and from mpmath's numerical differentiation of the loss.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np
import pytest
from conftest import compute_records as records
from conftest import load_experiment

from fpstudy import config
from fpstudy.cases import deep_gradients, deep_product
from fpstudy.exact import to_mpf_array
from fpstudy.formats import FORMATS
from fpstudy.truth import prove

DATA = Path(__file__).parent / "data"


def load(tmp_path, grid: str, dtypes=("float16",)):
    return load_experiment(tmp_path, "deep_gradients", grid, dtypes)


def pick(rows, **match):
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def closed_form(s: Fraction, x: list, t: list, depth: int):
    """(activations, deltas, grads) of W = s*I, exactly, indexed by layer 1..depth."""
    r = [s ** depth * xi - ti for xi, ti in zip(x, t, strict=True)]
    acts = {k: [s ** k * xi for xi in x] for k in range(1, depth + 1)}
    deltas = {k: [s ** (depth - k) * ri for ri in r] for k in range(1, depth + 1)}
    grads = {k: [s ** (depth - 1) * ri * xj for ri in r for xj in x]
             for k in range(1, depth + 1)}
    loss = sum(ri * ri for ri in r) / 2
    return acts, deltas, grads, loss


@pytest.mark.parametrize("scale", [0.5, 1.5, -0.75])
def test_truth_matches_the_closed_form_for_scaled_identity(scale):
    p = {"scale": scale, "width": 3, "init": "scaled_identity", "x": (1.0, -2.0, 0.25),
         "depth": 7, "target": (0.5, 1.0, -3.0), "accumulate": "format"}
    raw = deep_gradients.inputs(p, np.random.default_rng(0))
    exact = {k: to_mpf_array(v) for k, v in raw.items()}
    out = prove(deep_gradients, p, exact, start=200).values
    s = Fraction(scale)
    acts, deltas, grads, loss = closed_form(s, [Fraction(v) for v in p["x"]],
                                            [Fraction(v) for v in p["target"]], 7)
    for k in range(1, 8):
        for name, want in (("activation", acts[k]), ("delta", deltas[k]), ("grad", grads[k])):
            got = out[(name, k)]
            assert [Fraction(int(g * 2**200), 2**200) for g in got] == want, (name, k)
    assert out[("loss", 7)][0] == mpmath.mpf(loss.numerator) / loss.denominator


def test_float64_backprop_is_exact_for_powers_of_two(tmp_path):
    # s = 0.5, x and t of few bits: every product and sum is exact in float64
    exp = load(tmp_path, 'scale = 0.5\nwidth = 2\nx = [3.0, -1.0]\n'
               'target = [1.0, 2.0]\ndepth = 12', dtypes=("float64",))
    rows = records(exp)
    acts, deltas, grads, loss = closed_form(Fraction(1, 2), [Fraction(3), Fraction(-1)],
                                            [Fraction(1), Fraction(2)], 12)
    for k in range(1, 13):
        for name, want in (("activation", acts[k]), ("delta", deltas[k]), ("grad", grads[k])):
            (row,) = pick(rows, quantity=name, layer=k)
            assert row["value"] == float(max(abs(w) for w in want))
            assert row["rel_error"] == 0.0 and row["outcome"] == "ok"
    (row,) = pick(rows, quantity="loss")
    assert row["value"] == float(loss) and row["layer"] == 12


def test_gradient_is_the_derivative_of_the_loss():
    """d loss / d W_k[i][j] by mpmath.diff of the loss as a function of one weight."""
    p = {"scale": 0.9, "width": 2, "init": "gaussian", "x": (1.0, -0.5), "depth": 3,
         "target": (0.25, 0.75), "accumulate": "format"}
    raw = deep_gradients.inputs(p, np.random.default_rng(3))
    exact = {k: to_mpf_array(v) for k, v in raw.items()}
    out = prove(deep_gradients, p, exact, start=120).values
    with mpmath.workprec(120):
        for layer, i, j in [(1, 0, 1), (2, 1, 0), (3, 1, 1)]:
            def loss_of(w, layer=layer, i=i, j=j):
                W = exact["W"].copy()
                W[layer - 1, i, j] = w
                y = list(exact["x"])
                for Wk in W:
                    y = [sum(a * b for a, b in zip(row, y, strict=True)) for row in Wk]
                return sum((a - t) ** 2 for a, t in zip(y, exact["target"], strict=True)) / 2
            numeric = mpmath.diff(loss_of, exact["W"][layer - 1, i, j])
            assert abs(out[("grad", layer)][i * 2 + j] - numeric) < mpmath.mpf(10) ** -25


@pytest.mark.parametrize("init", ["gaussian", "orthogonal", "scaled_identity"])
def test_same_weights_as_deep_product_for_the_same_seed(init):
    p = {"scale": 1.1, "width": 4, "init": init, "x": "ones", "depth": 9, "target": "zeros",
         "accumulate": "format"}
    mine = deep_gradients.inputs(p, np.random.default_rng(7))["W"]
    theirs = deep_product.inputs({**p, "max_depth": 9}, np.random.default_rng(7))["W"]
    np.testing.assert_array_equal(mine, theirs)


def overflow_depth(fmt, s=1.5):
    """First k with s^k beyond the format's max (x = ones), from finfo."""
    return math.floor(math.log(float(fmt.max)) / math.log(s)) + 1


def test_float16_nan_is_born_where_inf_meets_zero(tmp_path):
    first = overflow_depth(FORMATS["float16"])
    assert first == 28
    exp = load(tmp_path, f"scale = 1.5\ntarget = \"ones\"\ndepth = [{first}, {first + 1}, 40]")
    rows = records(exp)
    at = {d: pick(rows, depth=d, quantity="loss")[0] for d in (first, first + 1, 40)}
    # depth 28: the forward pass only overflows; the NaN appears in W^T delta, inf * 0
    assert at[first]["first_nonfinite"] == f"forward activation layer {first}: inf"
    assert at[first]["first_nan"] == f"backward delta layer {first - 1}: nan from inf*0"
    for d in (first + 1, 40):
        assert at[d]["first_nonfinite"] == f"forward activation layer {first}: inf"
        assert at[d]["first_nan"] == f"forward activation layer {first + 1}: nan from inf*0"
    acts = sorted(pick(rows, depth=40, quantity="activation"), key=lambda r: r["layer"])
    outcomes = [r["outcome"] for r in acts]
    assert outcomes == ["ok"] * (first - 1) + ["overflow"] + ["nan"] * (40 - first)
    assert all(r["outcome"] == "nan" for r in pick(rows, depth=40, quantity="grad"))


def test_format_without_infinity_says_overflow_made_the_nan(tmp_path):
    exp = load(tmp_path, "scale = 1.5\ndepth = 20", dtypes=("float8_e4m3fn",))
    row = pick(records(exp), quantity="loss")[0]
    # 1.5^k exceeds 448 first at k = 16 (1.5^15 = 437.9)
    assert row["first_nonfinite"] == "forward activation layer 16: nan"
    assert row["first_nan"].endswith("overflow (no inf in this format)")


def test_vanishing_gradient_layers_in_float16(tmp_path):
    """s = 0.5, x = ones, t = ones, depth 28: grad_k = 2^-27 (2^-28 - 1) at every layer is
    below half float16's smallest subnormal (2^-25): it underflows at every layer; delta_k =
    2^-(28-k) (2^-28 - 1) underflows at layers 1..3 (|delta| < 2^-25) and is normal from
    layer 14 (2^-14)."""
    exp = load(tmp_path, 'scale = 0.5\ntarget = "ones"\ndepth = 28')
    rows = records(exp)
    grads = pick(rows, quantity="grad")
    assert all(r["outcome"] == "underflow" and r["truth_class"] == "underflows" for r in grads)
    delta = {r["layer"]: r for r in pick(rows, quantity="delta")}
    assert [delta[k]["outcome"] for k in (1, 2, 3)] == ["underflow"] * 3
    assert delta[4]["outcome"] == "subnormal"
    assert delta[13]["outcome"] == "subnormal" and delta[14]["outcome"] == "ok"


def test_experiment_config_is_valid():
    exp = config.load(Path(__file__).parent.parent / "experiments" / "gradients.toml")
    assert exp.case.NAME == "deep_gradients"
    assert set(exp.dtypes) == {"float16", "bfloat16", "float32", "float64"}


def test_target_of_the_wrong_length_is_one_line_error(run_cli, write_config):
    path = write_config('case = "deep_gradients"\n[grid]\nwidth = 3\ntarget = [1.0, 2.0]\n')
    status, _out, err = run_cli("check", path)
    assert status == 2
    assert "grid.target" in err and "expected width = 3" in err
    assert len(err.strip().splitlines()) == 1


def test_data_config_runs(run_cli, tmp_path):
    status, out, _err = run_cli("run", DATA / "gradients_small.toml", "--results", tmp_path)
    assert status == 0
    assert "overflow 28" in out


def test_predicted_layers_for_float16_by_hand():
    """W = 1.5*I, x = t = ones, float16 (max 65504):
    depth 28: 1.5^28 = 85222 overflows at layer 28; the residual, loss and grad_28 are inf and
    everything below is NaN. depth 20: r = 1.5^20 - 1 = 3324.3, loss r^2 = 1.1e7 overflows;
    delta_k = 1.5^(20-k) r overflows first (going down) at k = 12 (1.5^8 r = 85096, 1.5^7 r =
    56731), so delta and grad are NaN at 1..11 and inf at 12; grad_k = 1.5^19 r overflows at
    every layer above."""
    p = {"scale": 1.5, "width": 2, "init": "scaled_identity", "x": "ones", "target": "ones",
         "accumulate": "format"}
    fp16 = FORMATS["float16"]
    at28 = deep_gradients.predict({**p, "depth": 28}, fp16)
    assert at28["activation"]["overflow"] == 28 and at28["activation"]["nan"] is None
    assert at28["loss"]["overflow"] == 28
    for q in ("delta", "grad"):
        assert (at28[q]["nan"], at28[q]["overflow"]) == (1, 28)
    at20 = deep_gradients.predict({**p, "depth": 20}, fp16)
    assert at20["loss"]["overflow"] == 20
    assert (at20["delta"]["nan"], at20["delta"]["overflow"]) == (1, 12)
    assert (at20["grad"]["nan"], at20["grad"]["overflow"]) == (1, 12)
    assert all(v is None for v in at20["activation"].values())


def test_predictions_beside_measured_starts_in_float16(tmp_path):
    exp = load(tmp_path, "scale = [0.5, 1.5]\ntarget = \"ones\"\ndepth = [20, 28, 29]")
    rows = records(exp)
    predicted = 0
    for point in exp.points:
        pred = deep_gradients.predict(point, FORMATS["float16"])
        # every quantity measured is predicted, and every failing outcome measured in it
        assert set(pred) == {r["quantity"] for r in rows}, point
        for quantity, starts in pred.items():
            got = sorted(pick(rows, depth=point["depth"], scale=point["scale"],
                              quantity=quantity), key=lambda r: r["layer"])
            failing = {r["outcome"] for r in got} - {"ok"}
            assert failing <= {o for o, start in starts.items() if start is not None}, \
                (point, quantity, failing, starts)
            for outcome, start in starts.items():
                first = next((r["layer"] for r in got if r["outcome"] == outcome), None)
                assert first == start, (point["scale"], point["depth"], quantity, outcome)
                predicted += start is not None
    assert predicted >= 10  # the test compares something
