"""The mlp case: its backward pass against mpmath differentiation and against deep_gradients;
named inits by their formulas; weights, inputs and targets from [data] files."""

import math

import mpmath
import numpy as np
import pytest
from conftest import compute_records

from fpstudy import config
from fpstudy.arith import round_array
from fpstudy.cases import mlp
from fpstudy.enclosure import Engine
from fpstudy.errors import ConfigError
from fpstudy.exact import to_mpf_array
from fpstudy.formats import FORMATS
from fpstudy.truth import prove


def _exact_truth(p, raw, fmt="float64"):
    rounded = {k: round_array(v, FORMATS[fmt]) for k, v in raw.items()}
    exact = {k: to_mpf_array(v) for k, v in rounded.items()}
    return prove(mlp, p, exact), rounded


def _point(**kw):
    p = {k: prm.default for k, prm in mlp.PARAMS.items()}
    p.update(kw)
    p["sizes"] = tuple(float(v) for v in p["sizes"])
    return p


# -- independent mpmath forward pass, differentiated by mpmath.diff ----------------------------

_G = {
    "identity": lambda z: z,
    "tanh": mpmath.tanh,
    "sigmoid": lambda z: 1 / (1 + mpmath.exp(-z)),
    "gelu": lambda z: z * (1 + mpmath.erf(z / mpmath.sqrt(2))) / 2,
    "leaky_relu": lambda z: z if z > 0 else mpmath.mpf(0.01) * z  # the float64 slope the format received,
}


def _loss(Ws, bs, x, target, names, loss):
    a = [mpmath.mpf(v) for v in x]
    for W, b, name in zip(Ws, bs, names, strict=True):
        a = [_G[name](mpmath.fsum(w * v for w, v in zip(row, a, strict=True)) + bi)
             for row, bi in zip(W, b, strict=True)]
    if loss == "squared_error":
        return mpmath.fsum((o - t) ** 2 for o, t in zip(a, target, strict=True)) / 2
    label = int(np.argmax(target))
    return mpmath.log(mpmath.fsum(mpmath.exp(o) for o in a)) - a[label]


@pytest.mark.parametrize("names, loss", [
    ("tanh,sigmoid", "squared_error"),
    ("gelu,identity", "cross_entropy"),
    ("sigmoid,tanh", "cross_entropy"),
    ("leaky_relu,gelu", "squared_error"),
])
def test_backward_pass_equals_mpmath_differentiation(names, loss):
    p = _point(sizes=(3, 4, 2), activation=names, loss=loss, init="xavier_normal", scale=1.5,
               x=(0.5, -1.25, 2.0), slope=0.01)
    raw = mlp.inputs(p, np.random.default_rng(4))
    raw["b1"] = np.array([0.25, -0.5, 0.125, 1.0])  # nonzero biases: their gradient is delta
    raw["b2"] = np.array([-0.75, 0.5])
    if loss == "squared_error":
        raw["target"] = np.array([0.3, -0.2])
    truth, rounded = _exact_truth(p, raw)
    Ws = [[[mpmath.mpf(float(v)) for v in row] for row in rounded[f"W{k}"]] for k in (1, 2)]
    bs = [[mpmath.mpf(float(v)) for v in rounded[f"b{k}"]] for k in (1, 2)]
    x = [float(v) for v in rounded["x"]]
    target = [float(v) for v in rounded["target"]]
    layer_names = names.split(",")
    with mpmath.workdps(60):
        def loss_at(k, i, j=None):
            def f(v):
                W2 = [[list(r) for r in W] for W in Ws]
                b2 = [list(b) for b in bs]
                if j is None:
                    b2[k][i] = v
                else:
                    W2[k][i][j] = v
                return _loss(W2, b2, x, target, layer_names, loss)
            return f
        assert abs(truth.values[("loss", 2)][0]
                   - _loss(Ws, bs, x, target, layer_names, loss)) < mpmath.mpf(10) ** -22  # truths are proven to 2**-80
        for k in (0, 1):
            grads = truth.values[("grad", k + 1)]
            deltas = truth.values[("delta", k + 1)]
            n_out, n_in = len(Ws[k]), len(Ws[k][0])
            for i in range(n_out):
                for j in range(n_in):
                    d = mpmath.diff(loss_at(k, i, j), Ws[k][i][j])
                    assert abs(grads[i * n_in + j] - d) < mpmath.mpf(10) ** -22, (k, i, j)
                d = mpmath.diff(loss_at(k, i), bs[k][i])  # d loss / d b_k = delta_k
                assert abs(deltas[i] - d) < mpmath.mpf(10) ** -22, (k, i)


def test_relu_kink_is_decided_not_guessed():
    """A pre-activation exactly 0 is a decided sign (relu' = 0, as z > 0 says); one that is
    tiny but nonzero is resolved by raising the precision, never by the midpoint."""
    ex = Engine(64)
    z0 = ex.point(0.0)
    assert mlp.activate_exact(ex, z0, "relu", ex.point(0.01))[1] == ex.point(0)
    tiny = (ex.point(2.0**300) + ex.point(2.0**-300)) - ex.point(2.0**300)
    from fpstudy.enclosure import Undecided
    with pytest.raises(Undecided):
        mlp.activate_exact(ex, tiny, "relu", ex.point(0.01))


# -- identity activations and square layers: the deep linear network of deep_gradients --------

def test_identity_mlp_equals_deep_gradients(tmp_path):
    depth, width = 5, 3
    dg_path = tmp_path / "dg.toml"
    dg_path.write_text(
        'case = "deep_gradients"\ndtypes = ["float16", "bfloat16"]\n[grid]\n'
        f'init = "gaussian"\nscale = 6.0\nwidth = {width}\ndepth = {depth}\n'
        'x = [1.0, -2.0, 0.5]\ntarget = [0.25, 0.5, -1.0]\n')
    dg = config.load(dg_path)
    from fpstudy.cases import deep_gradients
    W = deep_gradients.inputs(dg.points[0], np.random.default_rng(dg.seed))["W"]
    np.save(tmp_path / "stack.npy", W)
    mlp_path = tmp_path / "mlp.toml"
    mlp_path.write_text(
        'case = "mlp"\ndtypes = ["float16", "bfloat16"]\n[data]\nweights = "stack.npy"\n'
        '[grid]\nactivation = "identity"\nloss = "squared_error"\n'
        'x = [1.0, -2.0, 0.5]\ntarget = [0.25, 0.5, -1.0]\n')
    mine = {(r["dtype"], r["quantity"], r["layer"]): r
            for r in compute_records(config.load(mlp_path))}
    theirs = compute_records(dg)
    assert any(r["outcome"] != "ok" for r in theirs)  # the comparison covers failures too
    for r in theirs:
        m = mine[(r["dtype"], r["quantity"], r["layer"])]
        for key in ("value", "truth", "outcome", "truth_class", "rel_error"):
            assert m[key] == r[key] or (m[key] != m[key] and r[key] != r[key]), \
                (r["dtype"], r["quantity"], r["layer"], key)
    assert {q for _, q, _ in mine} == {"preactivation", "activation", "delta", "grad", "loss"}


# -- named inits -----------------------------------------------------------------------------

@pytest.mark.parametrize("init, bound, std", [
    ("xavier_uniform", math.sqrt(6 / (300 + 200)), None),
    ("glorot_normal", None, math.sqrt(2 / (300 + 200))),
    ("he_uniform", math.sqrt(6 / 300), None),
    ("kaiming_normal", None, math.sqrt(2 / 300)),
])
def test_named_inits_follow_their_formulas(init, bound, std):
    W = mlp.init_weights(_point(sizes=(300, 200), init=init, scale=1.0),
                         np.random.default_rng(0))[0]
    assert W.shape == (200, 300)
    if bound is not None:  # U(-a, a): the extremes approach a, the variance is a^2 / 3
        assert np.abs(W).max() <= bound and np.abs(W).max() > 0.99 * bound
        assert abs(W.var() / (bound**2 / 3) - 1) < 0.02
    else:
        assert abs(W.std() / std - 1) < 0.01


@pytest.mark.parametrize("sizes", [(3, 5), (5, 3), (4, 4)])
def test_orthogonal_init_is_semi_orthogonal_times_scale(sizes):
    W = mlp.init_weights(_point(sizes=sizes, init="orthogonal", scale=2.0),
                         np.random.default_rng(1))[0]
    small = min(W.shape)
    gram = W @ W.T if W.shape[0] == small else W.T @ W
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-12)


# -- [data] files ----------------------------------------------------------------------------

def _model(tmp_path, **arrays):
    np.savez(tmp_path / "model.npz", **arrays)
    return "model.npz"


def test_weights_archive_sets_sizes_and_samples(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "model.npz", W1=rng.standard_normal((5, 3)), b1=np.ones(5),
             W2=rng.standard_normal((2, 5)))
    np.savez(tmp_path / "set.npz", x=rng.standard_normal((4, 3)), y=np.array([0, 1, 1, 0]))
    path = tmp_path / "e.toml"
    path.write_text('case = "mlp"\ndtypes = ["float16"]\n[data]\nweights = "model.npz"\n'
                    'x = "set.npz:x"\ntarget = "set.npz:y"\n[grid]\nactivation = "tanh"\n')
    exp = config.load(path)
    assert exp.grid["sizes"] == [(3.0, 5.0, 2.0)] and exp.grid["sample"] == [0, 1, 2, 3]
    records = compute_records(exp)
    assert {r["sample"] for r in records} == {0, 1, 2, 3}
    raw = mlp.inputs(exp.points[2], None, {k: d.value for k, d in exp.data.items()})
    np.testing.assert_array_equal(raw["b1"], np.ones(5))
    np.testing.assert_array_equal(raw["target"], [0.0, 1.0])



def test_data_samples_run_under_rounding_rules_and_trials(tmp_path):
    """[data] samples with every rule axis and stochastic trials: every sample under every
    rule and trial, each trial measured against the truth on its own rounded inputs."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "model.npz", W1=rng.standard_normal((5, 3)), b1=np.ones(5),
             W2=rng.standard_normal((2, 5)))
    np.savez(tmp_path / "set.npz", x=rng.standard_normal((2, 3)), y=np.array([0, 1]))
    path = tmp_path / "e.toml"
    path.write_text('case = "mlp"\ndtypes = ["bfloat16"]\n[data]\nweights = "model.npz"\n'
                    'x = "set.npz:x"\ntarget = "set.npz:y"\n[arith]\n'
                    'rounding = ["nearest_even", "stochastic"]\nsubnormals = ["gradual", "flush"]\n'
                    'overflow = ["inf", "saturate"]\ntrials = 2\n[grid]\nactivation = "tanh"\n')
    records = compute_records(config.load(path))
    seen = {(r["sample"], r["rounding"], r["subnormals"], r["overflow"], r["trial"])
            for r in records}
    assert len(seen) == 2 * (1 + 2) * 2 * 2  # samples x (nearest + 2 trials) x flush x overflow
    assert all(r["truth_settled"] for r in records)
    loss = {(r["sample"], r["rounding"], r["trial"]): r["truth"] for r in records
            if r["quantity"] == "loss" and r["subnormals"] == "gradual"
            and r["overflow"] == "inf"}
    # the weights are not bfloat16 numbers: each trial rounded them its own way
    assert loss[(0, "stochastic", 0)] != loss[(0, "stochastic", 1)]


@pytest.mark.parametrize("files, grid, message", [
    ({"W1": np.ones((4, 3)), "W2": np.ones((2, 5))}, "",
     "data.weights: W2 has shape (2, 5) but W1 gives 4 numbers; W2 must have 4 columns"),
    ({"W1": np.ones((4, 3)), "W3": np.ones((2, 4))}, "",
     "data.weights: holds W1, W3; expected W1, ..., WL (and optional b1, ..., bL)"),
    ({"W1": np.ones((4, 3)), "b1": np.ones(3)}, "",
     "data.weights: b1 has shape (3,); expected (4,) to go with W1 (4, 3)"),
    ({"W1": np.ones((4, 3))}, "sizes = [3, 4]",
     "grid.sizes: comes from data.weights (sizes [3, 4]); leave it out"),
])
def test_weight_file_errors(tmp_path, files, grid, message):
    path = tmp_path / "e.toml"
    path.write_text(f'case = "mlp"\n[data]\nweights = "{_model(tmp_path, **files)}"\n'
                    f"[grid]\n{grid}\n")
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value).startswith(f"{path}: {message}")


@pytest.mark.parametrize("x, target, grid, message", [
    (np.ones((2, 4)), None, "", "data.x: has 4 numbers per sample; the first layer takes n_0 = 3"),
    (np.ones((2, 3)), np.array([0, 5]), "",
     "data.target: 1-D targets are class labels: integers from 0 to n_L - 1 = 1"),
    (np.ones((2, 3)), np.array([0, 1, 1]), "", "data.target: has 3 samples; data.x has 2"),
    (np.ones((2, 3)), np.ones((2, 2)), "",
     "data.target: cross_entropy takes class labels, a 1-D array"),
    (np.ones((2, 3)), None, "x = [1, 2, 3]", "grid.x: comes from data.x; leave it out"),
])
def test_input_and_target_file_errors(tmp_path, x, target, grid, message):
    np.save(tmp_path / "x.npy", x)
    text = '[data]\nx = "x.npy"\n'
    if target is not None:
        np.save(tmp_path / "t.npy", target)
        text += 'target = "t.npy"\n'
    path = tmp_path / "e.toml"
    path.write_text(f'case = "mlp"\n{text}[grid]\nsizes = [3, 4, 2]\n{grid}\n')
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value).startswith(f"{path}: {message}")


@pytest.mark.parametrize("grid, message", [
    ('activation = "swish"', "grid.activation: 'swish' is not allowed; choose one of identity, "
                             "relu, leaky_relu, sigmoid, tanh, gelu, or several comma-separated"),
    ('activation = "relu, tanh,gelu"', None),  # spaces allowed: "relu,tanh,gelu"
    ('activation = "relu,tanh"', "grid.activation: has 2 names for 3 layers"),
    ("sizes = [4]", "grid.sizes: [4.0] is not allowed; expected at least two integers"),
    ("sizes = [4, 2.5]", "grid.sizes: [4.0, 2.5] is not allowed"),
    ("label = 3", "grid.label: 3 is not a class of the last layer (n_L = 3: 0 to 2)"),
    ('target = [1, 0, 0]', "grid.target: cross_entropy takes a class"),
    ('init = "data"', 'grid.init: "data" is set by [data] weights, and the config has none'),
])
def test_parameter_errors(write_config, grid, message):
    if message is None:
        exp = config.load(write_config(f'case = "mlp"\n[grid]\n{grid}\n'))
        assert exp.grid["activation"] == ["relu,tanh,gelu"]
        return
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(").replace(")", r"\)")):
        config.load(write_config(f'case = "mlp"\n[grid]\n{grid}\n'))


def test_overflow_in_float16_is_located(write_config):
    """Weights scaled to overflow float16 in the forward pass: first_nonfinite names it, the
    truth_class says the exact value overflows, and float32 holds the same network (its only
    failure is a probability whose exact value is below float32's range)."""
    path = write_config('case = "mlp"\ndtypes = ["float16", "float32"]\n[grid]\n'
                        'sizes = [4, 8, 8, 3]\ninit = "he_normal"\nscale = 200.0\nx = "ones"\n')
    records = compute_records(config.load(path))
    f16 = [r for r in records if r["dtype"] == "float16"]
    f32 = [r for r in records if r["dtype"] == "float32"]
    assert f16[0]["first_nonfinite"] == "forward preactivation layer 2: inf"
    assert any(r["outcome"] == "overflow" and r["truth_class"] == "overflows" for r in f16)
    assert all(r["outcome"] == "ok" or r["truth_class"] == "underflows" for r in f32)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "tanh", "gelu"])
@pytest.mark.parametrize("loss", ["squared_error", "cross_entropy"])
def test_float64_forward_and_backward_within_rounding_of_the_truth(write_config, activation,
                                                                   loss):
    """The format's own pass (autograd's formulas) in float64 stays within a few hundred ulps
    of the exact pass: a wrong derivative or a missing factor shows as an O(1) error."""
    path = write_config(f'case = "mlp"\ndtypes = ["float64"]\n[grid]\nsizes = [5, 7, 6, 4]\n'
                        f'activation = "{activation}"\nloss = "{loss}"\n'
                        f'init = "he_normal"\ntarget = "label"\nlabel = 2\n')
    records = compute_records(config.load(path))
    assert len(records) == 4 * 3 + 1
    for r in records:
        assert r["outcome"] == "ok" and r["rel_error"] < 1e-13, (r["quantity"], r["layer"])


def test_confident_and_saturated_truths_are_proven_at_the_starting_precision(tmp_path):
    """A confident softmax (p_label = 1 - e^-800) and gelu far left (Phi(-40) ~ 4e-350) are
    enclosed without cancellation: the loss -log p_label = log1p(e^-800), delta_label =
    p_label - 1 and gelu(-40) = -40 Phi(-40) come out exact at 113 bits, where 1 - p and
    1 + erf would need thousands."""
    np.savez(tmp_path / "eye.npz", W1=np.eye(2))
    (tmp_path / "ce.toml").write_text(
        'case = "mlp"\ndtypes = ["float64"]\n[data]\nweights = "eye.npz"\n'
        '[grid]\nx = [0.0, -800.0]\nactivation = "identity"\n')
    ce = {(r["quantity"], r["layer"]): r for r in compute_records(config.load(tmp_path / "ce.toml"))}
    with mpmath.workdps(50):
        tiny = mpmath.exp(-800)
        assert ce[("loss", 1)]["truth_log10"] == pytest.approx(float(mpmath.log10(mpmath.log1p(tiny))),
                                                               abs=1e-12)
        assert ce[("delta", 1)]["truth_log10"] == pytest.approx(float(mpmath.log10(tiny / (1 + tiny))),
                                                                abs=1e-12)
    assert ce[("loss", 1)]["truth_precision"] == 192  # the first precision tried

    np.savez(tmp_path / "one.npz", W1=np.ones((1, 1)), W2=np.ones((1, 1)))
    (tmp_path / "gelu.toml").write_text(
        'case = "mlp"\ndtypes = ["float64"]\n[data]\nweights = "one.npz"\n'
        '[grid]\nx = [-40.0]\nactivation = "gelu,identity"\nloss = "squared_error"\n'
        'target = [0.0]\n')
    g = {(r["quantity"], r["layer"]): r for r in compute_records(config.load(tmp_path / "gelu.toml"))}
    with mpmath.workdps(50):
        expected = float(mpmath.log10(40 * mpmath.ncdf(-40)))
    assert g[("activation", 1)]["truth_log10"] == pytest.approx(expected, abs=1e-12)
    assert g[("activation", 1)]["truth_precision"] == 192
