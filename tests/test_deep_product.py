"""The deep_product case against hand-derived depths and an independent re-computation.

The independent reference re-does the forward pass with Python Fractions: every product and
sum rounded by `round_to_format` (integer arithmetic), in the same fixed order; the exact truth
is the Fraction product itself, with no mpmath involved.
"""

import math
from fractions import Fraction

import ml_dtypes
import mpmath
import numpy as np
import pytest
from conftest import compute_records as records
from conftest import load_experiment
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fpstudy.arith import round_array
from fpstudy.cases import deep_product
from fpstudy.exact import round_to_format
from fpstudy.formats import FORMATS

NAN = float("nan")


def experiment(tmp_path, **grid):
    dtypes = grid.pop("dtypes", ["float16"])
    lines = [f"{k} = {v!r}".replace("'", '"').replace("(", "[").replace(")", "]")
             for k, v in grid.items()]
    return load_experiment(tmp_path, "deep_product", "\n".join(lines), dtypes)


def by_depth(rows, dtype):
    return {r["depth"]: r for r in rows if r["dtype"] == dtype}


def test_float16_scale_1_5_overflows_at_28_and_is_nan_from_29(tmp_path):
    # 1.5**27 = 57665.0 < 65504 = max; 1.5**28 = 86497.6 > 65520 (max + half an ulp), so the
    # 28th product overflows to inf. At depth 29 each row computes 1.5*inf + 0*inf, and
    # 0*inf is NaN: the NaN a real network makes, which a diagonal shortcut would hide.
    rows = by_depth(records(experiment(tmp_path, scale=1.5, max_depth=40)), "float16")
    outcomes = [rows[d]["outcome"] for d in range(1, 41)]
    assert outcomes == ["ok"] * 27 + ["overflow"] + ["nan"] * 12
    assert rows[28]["fp_flags"] == "overflow"
    assert rows[29]["fp_flags"] == "overflow|invalid"
    assert rows[28]["truth_class"] == "overflows"


def simulate_scalar(scale: float, depth: int, fmt) -> int | None:
    """First depth at which y <- fl(scale*y), y0 = 1, overflows (exact rounding each step)."""
    y = Fraction(1)
    s = Fraction(float(round_array(np.float64(scale), fmt)))
    for d in range(1, depth + 1):
        y = round_to_format(_mpf_of(y * s), fmt)
        if y in (math.inf, -math.inf):
            return d
    return None


def _mpf_of(q: Fraction):
    """The Fraction as an mpf, exactly (numerator and a power-of-two denominator)."""
    with mpmath.workprec(max(64, q.numerator.bit_length() + 8)):
        return mpmath.mpf(q.numerator) / q.denominator


def test_bfloat16_is_computed_in_bfloat16(tmp_path):
    # In bfloat16 arithmetic (8 bits, rounding every step) 1.5**d drifts below the truth and
    # first overflows at depth 220; in float32 arithmetic it overflows at 219 (issue #2).
    assert simulate_scalar(1.5, 300, FORMATS["bfloat16"]) == 220
    assert simulate_scalar(1.5, 300, FORMATS["float32"]) == 219
    rows = records(experiment(tmp_path, scale=1.5, max_depth=230,
                              dtypes=["bfloat16", "float32"]))
    first = {dt: min(d for d, r in by_depth(rows, dt).items() if r["outcome"] != "ok")
             for dt in ("bfloat16", "float32")}
    assert first == {"bfloat16": 220, "float32": 219}


def reference_forward(W: np.ndarray, x: np.ndarray, fmt, accumulate: str):
    """Independent forward pass: Fractions, rounded per the policy, fixed order."""
    def rnd(q, target):
        if isinstance(q, float):  # inf or nan already
            return q
        r = round_to_format(_mpf_of(q), target)
        if r in (math.inf, -math.inf) and not target.has_inf:
            return NAN
        return r

    def mul(a, b):
        if isinstance(a, float) or isinstance(b, float):
            return float(a) * float(b)
        return a * b

    def add(a, b):
        if isinstance(a, float) or isinstance(b, float):
            return float(a) + float(b)
        return a + b

    def frac(v):
        v = float(v)
        return Fraction(v) if math.isfinite(v) else v

    acc = fmt if accumulate == "format" else FORMATS[accumulate]
    y = [rnd(frac(v), fmt) for v in x]
    exact = [frac(float(v)) for v in round_array(x, fmt)]
    values, truths = [], []
    for layer in W:
        Wf = [[frac(v) for v in row] for row in round_array(layer, fmt)]
        new = []
        for row in Wf:
            s = rnd(mul(row[0], y[0]), acc)
            for a, b in zip(row[1:], y[1:], strict=True):
                s = rnd(add(s, rnd(mul(a, b), acc)), acc)
            new.append(rnd(s, fmt) if acc is not fmt else s)
        y = new
        exact = [sum((a * b for a, b in zip(row, exact, strict=True)), Fraction(0)) for row in Wf]
        values.append(y)
        truths.append(exact)
    return values, truths


def norm(v):
    floats = [float(a) for a in v]
    if any(math.isnan(a) for a in floats):
        return NAN
    return max(abs(a) for a in floats)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    dtype=st.sampled_from(["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "float32"]),
    init=st.sampled_from(deep_product.INITS),
    scale=st.floats(0.3, 3.0),
    width=st.integers(1, 4),
    depth=st.integers(1, 12),
    ones=st.booleans(),
    seed=st.integers(0, 2 ** 16),
)
def test_any_config_matches_an_independent_forward_pass(tmp_path, dtype, init, scale, width,
                                                         depth, ones, seed):
    rng = np.random.default_rng(seed)
    x = "ones" if ones else [float(v) for v in rng.normal(size=width) * 4]
    exp = experiment(tmp_path, dtypes=[dtype], init=init, scale=scale, width=width,
                     max_depth=depth, x=x)
    p = exp.points[0]
    raw = deep_product.inputs(p, np.random.default_rng(exp.seed))
    values, truths = reference_forward(raw["W"], raw["x"], FORMATS[dtype], "format")
    rows = by_depth(records(exp), dtype)
    for d in range(1, depth + 1):
        got, want = rows[d]["value"], norm(values[d - 1])
        assert (math.isnan(got) and math.isnan(want)) or got == want, (d, got, want)
        assert rows[d]["truth"] == float(max(abs(t) for t in truths[d - 1]))


def test_accumulating_in_float32_differs_from_the_format_where_it_should(tmp_path):
    rows = {}
    for acc in ("format", "float32"):
        exp = experiment(tmp_path, init="gaussian", width=48, max_depth=1, accumulate=acc,
                         scale=1.0)
        raw = deep_product.inputs(exp.points[0], np.random.default_rng(exp.seed))
        values, _ = reference_forward(raw["W"], raw["x"], FORMATS["float16"], acc)
        r = records(exp)[0]
        assert r["value"] == norm(values[0])
        rows[acc] = r
    # 48 terms of size ~0.15: float16 partial sums lose bits at every step that a float32
    # accumulator keeps; the one final rounding is at least as accurate here.
    assert rows["format"]["value"] != rows["float32"]["value"]
    assert rows["float32"]["rel_error"] < rows["format"]["rel_error"]


def test_truth_is_computed_on_the_rounded_inputs(tmp_path):
    rows = by_depth(records(experiment(tmp_path, scale=0.1, max_depth=3)), "float16")
    s = float(np.float16(0.1))  # 0.0999755859375, not 0.1
    assert rows[1]["truth"] == s
    assert rows[3]["truth"] == float(Fraction(s) ** 3)


def test_format_without_infinity_reports_the_overflow_behind_its_nan(tmp_path):
    rows = by_depth(records(experiment(tmp_path, scale=1.5, max_depth=30,
                                       dtypes=["float8_e4m3fn"])), "float8_e4m3fn")
    first = min(d for d, r in rows.items() if r["outcome"] != "ok")
    assert rows[first]["outcome"] == "nan"
    assert "overflow" in rows[first]["fp_flags"] and "invalid" not in rows[first]["fp_flags"]
    assert rows[first]["truth_class"] == "overflows"


def test_longdouble_holds_what_float64_cannot(tmp_path):
    # (1e300)**16 = 1e4800 < 1.19e4932 (longdouble max) < 1e5100 = (1e300)**17
    rows = by_depth(records(experiment(tmp_path, scale=1e300, max_depth=18,
                                       dtypes=["longdouble", "float64"])), "longdouble")
    assert [rows[d]["outcome"] for d in (1, 16, 17, 18)] == ["ok", "ok", "overflow", "nan"]
    assert rows[16]["truth_log10"] == pytest.approx(4800, abs=1e-9)
    # float64 cannot show the longdouble result; value_log10 can (value itself is inf)
    assert rows[16]["value"] == np.inf and rows[16]["value_log10"] == pytest.approx(4800, abs=1e-9)
    assert rows[16]["rel_error"] < 16 * 2.0 ** -63


def exact_limits(dtype: str) -> dict[str, Fraction]:
    """A format's max, smallest normal and smallest subnormal as exact Fractions, from the
    bit-level description in finfo (nmant, minexp, maxexp) alone."""
    fi = ml_dtypes.finfo(FORMATS[dtype].dtype) if dtype not in ("float16", "float32", "float64") \
        else np.finfo(dtype)
    nmant, minexp, maxexp = int(fi.nmant), int(fi.minexp), int(fi.maxexp)
    return {"max": (2 - Fraction(1, 2**nmant)) * Fraction(2) ** (maxexp - 1),
            "ulp_of_max": Fraction(2) ** (maxexp - 1 - nmant),
            "smallest_normal": Fraction(2) ** minexp,
            "smallest_subnormal": Fraction(2) ** (minexp - nmant)}


def first_depth(s: Fraction, holds, limit: int = 100_000) -> int | None:
    """The first d >= 1 where holds(s**d), by exact Fraction powers."""
    power = Fraction(1)
    for d in range(1, limit + 1):
        power *= s
        if holds(power):
            return d
    return None


@pytest.mark.parametrize("dtype, scale", [("float16", 1.5), ("bfloat16", 1.5), ("float32", 1.1),
                                          ("float64", 1.5), ("float16", 0.5), ("float32", 0.5),
                                          ("float16", 0.9), ("bfloat16", 0.9), ("float16", 1.1)])
def test_predictions_match_exact_fraction_arithmetic(dtype, scale):
    # W = s*I, x = ones: the exact output is s^d with s the scale rounded to the format
    # (numpy's own cast, not fpstudy's rounding). Overflow: the first d with s^d at or past the
    # tie max + ulp(max)/2 (max's significand is odd, so the tie rounds up to 2^maxexp); NaN
    # one layer later (inf * 0 off the diagonal). Subnormal: the first s^d below the smallest
    # normal; underflow: the first s^d at or below half the smallest subnormal (the tie rounds
    # to the even 0).
    fmt = FORMATS[dtype]
    p = {"init": "scaled_identity", "scale": scale, "x": "ones", "width": 2, "max_depth": 5000}
    pred = deep_product.predict(p, fmt)
    assert set(pred) == {"output"}
    s = Fraction(float(np.asarray(scale).astype(fmt.dtype)))
    lim = exact_limits(dtype)
    expected = dict.fromkeys(("subnormal", "underflow", "overflow", "nan"))
    if s > 1:
        overflow = first_depth(s, lambda v: v >= lim["max"] + lim["ulp_of_max"] / 2)
        expected.update(overflow=overflow, nan=overflow + 1)
    else:
        expected.update(subnormal=first_depth(s, lambda v: v < lim["smallest_normal"]),
                        underflow=first_depth(s, lambda v: v <= lim["smallest_subnormal"] / 2))
    assert pred["output"] == expected


def test_predictions_by_hand_for_float16():
    # 1.5^27 = 57665 < 65520 = 65504 + 32/2 <= 1.5^28 = 86498; 2^-15 < 2^-14 (smallest
    # normal); 2^-25 = 2^-24 / 2 (half the smallest subnormal, a tie to 0)
    fp16 = FORMATS["float16"]
    p = {"init": "scaled_identity", "x": "ones", "width": 2, "max_depth": 100}
    assert deep_product.predict({**p, "scale": 1.5}, fp16)["output"] == \
        {"subnormal": None, "underflow": None, "overflow": 28, "nan": 29}
    assert deep_product.predict({**p, "scale": 0.5}, fp16)["output"] == \
        {"subnormal": 15, "underflow": 25, "overflow": None, "nan": None}
    assert deep_product.predict({**p, "scale": 1.5, "width": 1}, fp16)["output"]["nan"] is None


def test_weights_are_prefix_stable_and_orthogonal():
    p = {"init": "orthogonal", "scale": 2.0, "width": 5}
    long = deep_product.weights(p, 10, np.random.default_rng(3))
    short = deep_product.weights(p, 4, np.random.default_rng(3))
    np.testing.assert_array_equal(long[:4], short)
    q = long / 2.0
    np.testing.assert_allclose(q.transpose(0, 2, 1) @ q, np.broadcast_to(np.eye(5), q.shape),
                               atol=1e-12)
    g = deep_product.weights({**p, "init": "gaussian"}, 2000, np.random.default_rng(0))
    assert np.std(g) == pytest.approx(2.0 / math.sqrt(5), rel=0.02)


def test_bfloat16_dtype_is_kept_end_to_end():
    bf = FORMATS["bfloat16"]
    assert round_array(np.ones(2), bf).dtype == ml_dtypes.bfloat16
