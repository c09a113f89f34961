"""Elementwise functions are correctly rounded in the format, the same on every machine.

The reference here is independent of fpstudy.crmath: the function evaluated by mpmath at 300
bits, and the nearest format value found among the neighbours of a candidate (numpy's
nextafter in the format), ties impossible at that precision for these arguments.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import ml_dtypes
import mpmath
import numpy as np
import pytest
from conftest import HEADLINE

from fpstudy.arith import Arith, round_array
from fpstudy.crmath import FUNCTIONS, evaluate
from fpstudy.formats import FORMATS

REFERENCE = {"exp": mpmath.exp, "log": mpmath.log, "log1p": mpmath.log1p,
             "expm1": mpmath.expm1, "tanh": mpmath.tanh, "erf": mpmath.erf,
             "sqrt": mpmath.sqrt}
DOMAIN = {"exp": (-120.0, 90.0), "log": (1e-30, 1e30), "log1p": (-0.9, 1e6),
          "expm1": (-50.0, 20.0), "tanh": (-10.0, 10.0), "erf": (-4.0, 4.0),
          "sqrt": (0.0, 1e6)}


def neighbours(v, dtype):
    """v and the format values either side of it (for ml_dtypes via their bit patterns)."""
    v = np.asarray(v, dtype=dtype)
    if dtype in (np.float32, np.float64, np.float16):
        return [np.nextafter(v, dtype(-np.inf)), v, np.nextafter(v, dtype(np.inf))]
    bits = int(v.view(np.uint16))
    return [np.array(b, dtype=np.uint16).view(dtype) for b in (bits - 1, bits, bits + 1)
            if 0 <= b < 2 ** 16]


def nearest(x, name, dtype):
    """The format value nearest to f(x), from mpmath at 300 bits and a candidate's neighbours."""
    with mpmath.workprec(300):
        exact = REFERENCE[name](mpmath.mpf(float(x)))
        with np.errstate(over="ignore"):
            candidate = np.asarray(float(exact)).astype(dtype)
        best = min((c for c in neighbours(candidate, dtype) if math.isfinite(float(c))),
                   key=lambda c: abs(mpmath.mpf(float(c)) - exact))
    return best


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64],
                         ids=["float16", "bfloat16", "float32", "float64"])
def test_correctly_rounded_against_mpmath(name, dtype):
    fmt = next(f for f in FORMATS.values() if f.dtype == np.dtype(dtype))
    rng = np.random.default_rng(7)
    lo, hi = DOMAIN[name]
    x = round_array(rng.uniform(lo, min(hi, float(fmt.max) / 4), 300), fmt)
    got, _ = evaluate(name, x, fmt)
    compared = 0
    for xi, gi in zip(x, got, strict=True):
        if not math.isfinite(float(xi)):
            continue  # the input itself overflowed the format
        want = nearest(xi, name, dtype)
        with mpmath.workprec(100):
            if abs(REFERENCE[name](mpmath.mpf(float(xi)))) >= float(fmt.max):
                assert not np.isfinite(gi) or abs(float(gi)) == float(fmt.max)
                continue  # overflow: tested by hand below
        assert float(gi) == float(want), (name, float(xi), float(gi), float(want))
        compared += 1
    assert compared > 100


def test_the_float32_exp_numpy_gets_wrong():
    # from the issue: numpy's SIMD exp gives 2.7398882e-34; correctly rounded 2.7398886e-34
    x = np.array([-77.27997589111328], dtype=np.float32)
    got, _ = evaluate("exp", x, FORMATS["float32"])
    assert got[0] == nearest(x[0], "exp", np.float32)
    assert got[0] == np.float32("2.7398886e-34")


@pytest.mark.parametrize("fmt_name", HEADLINE + ["longdouble", "float8_e4m3fn", "float8_e5m2"])
def test_signed_zeros_inf_and_nan(fmt_name):
    fmt = FORMATS[fmt_name]
    x = round_array(np.array([-0.0, 0.0, np.inf, -np.inf, np.nan]), fmt)
    t, flags = evaluate("tanh", x, fmt)
    assert np.signbit(t[0]) and not np.signbit(t[1])
    assert np.isnan(t[4]) and flags == set()
    e, _ = evaluate("exp", x, fmt)
    assert [float(v) for v in e[:2]] == [1.0, 1.0]
    if fmt.has_inf:
        assert float(t[2]) == 1.0 and float(t[3]) == -1.0
        assert [float(v) for v in e[2:4]] == [np.inf, 0.0]


def test_overflow_underflow_and_flags_follow_the_format():
    f16 = FORMATS["float16"]
    # ln(65504) = 11.0898...: exp(11.09) is past max + ulp/2 = 65520 (e^11.09 = 65517.9 rounds
    # to 65504); exp(11.1) = 66171 rounds past max: inf and the overflow flag
    got, flags = evaluate("exp", round_array(np.array([11.0859375]), f16), f16)
    assert float(got[0]) == 65248.0 and flags == set()  # e^11.0859375 = 65247.1, spacing 32
    got, flags = evaluate("exp", round_array(np.array([11.1]), f16), f16)
    assert np.isinf(got[0]) and flags == {"overflow"}
    # a format without infinity gives NaN, still flagged as overflow
    e4 = FORMATS["float8_e4m3fn"]
    got, flags = evaluate("exp", round_array(np.array([7.0]), e4), e4)   # e^7 = 1096.6 > 448
    assert np.isnan(got[0]) and flags == {"overflow"}
    got, _ = evaluate("exp", round_array(np.array([6.0]), e4), e4)  # e^6 = 403.4; spacing 32
    assert float(got[0]) == 416.0
    # subnormal results: tiny and inexact is underflow; 2**-24 * 0.5 rounds to 0 (a tie)
    got, flags = evaluate("exp", round_array(np.array([-16.0]), f16), f16)  # 1.1e-7: subnormal
    assert float(got[0]) == 2.0 ** -23 and flags == {"underflow"}
    got, flags = evaluate("log", np.array([0.0, -1.0], dtype=np.float16), f16)
    assert float(got[0]) == -np.inf and np.isnan(got[1]) and flags == {"divide", "invalid"}


def test_arith_routes_every_function_through_mpfr_unless_asked():
    fmt = FORMATS["float32"]
    x = np.array([-77.27997589111328], dtype=np.float32)
    assert Arith(fmt).exp(x)[0] == np.float32("2.7398886e-34")
    assert Arith(fmt).apply(np.exp, x)[0] == np.float32("2.7398886e-34")
    assert Arith(fmt, math="numpy").exp(x)[0] == np.exp(x)[0]  # whatever this numpy says


EXPERIMENT = textwrap.dedent("""
    case = "softmax"
    dtypes = ["float32", "float64"]
    [arith]
    math = "{math}"
    [grid]
    n = 50
    input = "normal"
    spread = 30.0
    impl = ["naive", "max_shift", "log1p_shift"]
    c = [-100.0, 0.0, 77.7]
""")
SIGMOID = textwrap.dedent("""
    case = "sigmoid_saturation"
    dtypes = ["float32", "float64"]
    [arith]
    math = "{math}"
    [grid]
    z = {{ start = -90.3, stop = 90.3, step = 7.3 }}
    impl = ["naive", "stable"]
""")


def run_with_features(tmp_path, text: str, disabled: str) -> list:
    """Records of one config computed in a fresh process with some CPU features disabled."""
    config = tmp_path / "exp.toml"
    config.write_text(text)
    script = textwrap.dedent(f"""
        import json
        from fpstudy import config, runner
        exp = config.load({str(config)!r})
        rows = [r for job in runner.jobs_of(exp) for r in runner.run_point(job).rows]
        print(json.dumps([[r["value"], r["truth"], r["outcome"]] for r in rows]))
    """)
    env = dict(os.environ)
    env.pop("NPY_DISABLE_CPU_FEATURES", None)
    if disabled:
        env["NPY_DISABLE_CPU_FEATURES"] = disabled
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def dispatchable() -> list[str]:
    """The SIMD targets numpy dispatches to on this machine above its baseline."""
    from numpy._core import _multiarray_umath as umath
    on = {k for k, v in umath.__cpu_features__.items() if v}
    return [t for t in umath.__cpu_dispatch__ if t in on]


@pytest.mark.parametrize("text", [EXPERIMENT, SIGMOID], ids=["softmax", "sigmoid"])
def test_records_do_not_depend_on_the_cpu_features(tmp_path, text):
    targets = dispatchable()
    if not targets:
        pytest.skip("numpy dispatches nothing above its baseline on this machine")
    full = run_with_features(tmp_path, text.format(math="mpfr"), "")
    reduced = run_with_features(tmp_path, text.format(math="mpfr"), " ".join(targets))
    assert full == reduced


def test_numpy_math_measures_the_platform(tmp_path):
    targets = dispatchable()
    if not targets:
        pytest.skip("numpy dispatches nothing above its baseline on this machine")
    full = run_with_features(tmp_path, EXPERIMENT.format(math="numpy"), "")
    reduced = run_with_features(tmp_path, EXPERIMENT.format(math="numpy"), " ".join(targets))
    if full == reduced:
        pytest.skip("this machine's numpy gives the same exp/log with and without "
                    f"{', '.join(targets)}")
    assert [r[1] for r in full] == [r[1] for r in reduced]  # the truth never moves
