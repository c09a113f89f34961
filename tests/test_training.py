"""training: gradient descent in the format against an independent exact descent.

The independent reference is the scalar deep linear network (width 1), where every layer
keeps the same weight w by symmetry and one step is
    w <- w - lr (w^L x - t) w^(L-1) x,
iterated here in mpmath (or with Fractions), with nothing from the case.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np
import pytest
from conftest import compute_records as records
from conftest import load_experiment

from fpstudy import config
from fpstudy.cases import training
from fpstudy.exact import to_mpf_array
from fpstudy.truth import prove

DATA = Path(__file__).parent / "data"


def load(tmp_path, grid: str, dtypes=("float16",)):
    return load_experiment(tmp_path, "training", grid, dtypes)


def pick(rows, **match):
    return sorted((r for r in rows if all(r[k] == v for k, v in match.items())),
                  key=lambda r: r["step"])


def scalar_descent(w, x, t, lr, depth, steps, prec=300):
    """[(loss, update)] per step of the width-1 network, in mpmath at `prec` bits."""
    out = []
    with mpmath.workprec(prec):
        w, x, t, lr = (mpmath.mpf(v) for v in (w, x, t, lr))
        for _ in range(steps):
            r = w ** depth * x - t
            grad = r * w ** (depth - 1) * x
            out.append((r * r / 2, lr * grad))
            w = w - lr * grad
    return out


def test_truth_is_the_exact_scalar_descent():
    p = {"scale": 0.75, "width": 1, "init": "scaled_identity", "x": (1.5,), "depth": 3,
         "target": (2.0,), "lr": 0.125, "steps": 12, "accumulate": "format"}
    exact = {k: to_mpf_array(v) for k, v in training.inputs(p, np.random.default_rng(0)).items()}
    out = prove(training, p, exact, start=200).values
    want = scalar_descent(0.75, 1.5, 2.0, 0.125, 3, 12, prec=400)
    for step, (loss, update) in enumerate(want, start=1):
        # the truth is the exact value correctly rounded to 128 bits: within 2**-128 of it
        assert abs(out[("loss", step)][0] - loss) <= abs(loss) * mpmath.mpf(2) ** -128
        assert abs(out[("update", step)][0] - update) <= abs(update) * mpmath.mpf(2) ** -128


def test_truth_on_a_fraction_trajectory():
    """Two steps done with Fractions (exact rationals), width 2, depth 2, gaussian weights."""
    p = {"scale": 1.0, "width": 2, "init": "gaussian", "x": (1.0, -0.5), "depth": 2,
         "target": (0.25, 0.5), "lr": 0.1, "steps": 2, "accumulate": "format"}
    raw = training.inputs(p, np.random.default_rng(5))
    exact = {k: to_mpf_array(v) for k, v in raw.items()}
    out = prove(training, p, exact, start=400).values
    W = [[[Fraction(float(v)) for v in row] for row in Wk] for Wk in raw["W"]]
    x, t, lr = [Fraction(1), Fraction(-1, 2)], [Fraction(1, 4), Fraction(1, 2)], Fraction(0.1)

    def matvec(A, v):
        return [sum(a * b for a, b in zip(row, v, strict=True)) for row in A]

    for step in (1, 2):
        a1 = matvec(W[0], x)
        y = matvec(W[1], a1)
        r = [yi - ti for yi, ti in zip(y, t, strict=True)]
        loss = sum(ri * ri for ri in r) / 2
        d1 = [sum(W[1][i][j] * r[i] for i in range(2)) for j in range(2)]  # W_2^T r
        g2 = [[r[i] * a1[j] for j in range(2)] for i in range(2)]
        g1 = [[d1[i] * x[j] for j in range(2)] for i in range(2)]
        update1 = max(abs(lr * g) for row in g1 for g in row)
        with mpmath.workprec(400):
            got_loss = out[("loss", step)][0]
            assert abs(got_loss - mpmath.mpf(loss.numerator) / loss.denominator) < 1e-100
            got_update = max(abs(v) for v in out[("update", step)])
            assert abs(got_update - mpmath.mpf(update1.numerator) / update1.denominator) < 1e-100
        W = [[[W[0][i][j] - lr * g1[i][j] for j in range(2)] for i in range(2)],
             [[W[1][i][j] - lr * g2[i][j] for j in range(2)] for i in range(2)]]


def test_float64_loss_follows_the_exact_trajectory_to_a_few_ulps(tmp_path):
    # target < 0 cannot be reached by w^2 x > 0: w -> 0, the loss -> t^2/2 = 2 without the
    # cancellation of a residual going to 0, so every step's loss is a well-conditioned number
    exp = load(tmp_path, "scale = 0.75\nwidth = 1\nx = [1.5]\ntarget = [-2.0]\ndepth = 2\n"
               "lr = 0.125\nsteps = 40", dtypes=("float64",))
    rows = records(exp)
    want = scalar_descent(0.75, 1.5, -2.0, 0.125, 2, 40)
    losses = pick(rows, quantity="loss")
    assert len(losses) == 40
    for row, (loss, _update) in zip(losses, want, strict=True):
        assert row["outcome"] == "ok"
        assert abs(row["value"] - float(loss)) <= 4 * np.spacing(float(loss)), row["step"]
        assert row["ulp_error"] <= 4
    assert losses[0]["value"] > losses[-1]["value"] >= 2.0  # it descends towards t^2/2


def test_exploding_loss_goes_inf_then_nan(tmp_path):
    exp = load(tmp_path, 'scale = 0.5\nx = [8.0, 8.0]\ntarget = [4.0, 4.0]\ndepth = 2\n'
               'lr = 0.6\nsteps = 12', dtypes=("float16", "float64"))
    rows = records(exp)
    for name in ("float16", "float64"):
        outcomes = [r["outcome"] for r in pick(rows, dtype=name, quantity="loss")]
        first_inf, first_nan = outcomes.index("overflow"), outcomes.index("nan")
        assert set(outcomes[:first_inf]) == {"ok"}
        assert first_inf < first_nan and set(outcomes[first_nan:]) == {"nan"}
        row = pick(rows, dtype=name, quantity="loss")[0]
        assert row["first_nan"].startswith(f"step {first_nan} ")  # made the step before
        assert "nan from inf" in row["first_nan"]
    # the truth keeps growing: every truth is finite and above float64's max at the end
    last = pick(rows, dtype="float64", quantity="loss")[-1]
    assert last["truth_log10"] > 308.3


def test_vanishing_update_is_zero_while_the_true_update_is_representable(tmp_path):
    """s = 0.5, depth 28, x = 8, t = 4: delta_1 = 2^-27 (2^-28 * 8 - 4) = -2^-25 (1 - 2^-27)
    is below half float16's smallest subnormal 2^-24: it rounds to 0, and so does the update,
    while the true update lr * 8 * 2^-25 (1 - 2^-27) = fl16(0.6) * 2^-22 is a subnormal."""
    exp = load(tmp_path, 'scale = 0.5\nx = [8.0, 8.0]\ntarget = [4.0, 4.0]\ndepth = 28\n'
               'lr = 0.6\nsteps = 5')
    rows = records(exp)
    updates = pick(rows, quantity="update")
    lr16 = float(np.float16(0.6))
    true_update = lr16 * 8 * 2.0 ** -25 * (1 - 2.0 ** -27)
    assert updates[0]["truth"] == pytest.approx(true_update, rel=1e-12)
    for row in updates:  # the true weights move a little; the format's do not move at all
        assert row["value"] == 0.0
        assert row["outcome"] == "underflow" and row["truth_class"] == "subnormal"
    assert all(r["outcome"] == "ok" for r in pick(rows, quantity="loss"))


def test_data_config_and_experiment_are_valid(run_cli, tmp_path):
    exp = config.load(Path(__file__).parent.parent / "experiments" / "training.toml")
    assert exp.case.NAME == "training"
    status, out, _err = run_cli("run", DATA / "training_small.toml", "--results", tmp_path)
    assert status == 0 and "overflow" in out and "nan" in out


def test_bad_learning_rate_is_one_line_error(run_cli, write_config):
    path = write_config('case = "training"\n[grid]\nlr = -0.1\n')
    status, _out, err = run_cli("check", path)
    assert status == 2 and "grid.lr" in err and "> 0" in err
