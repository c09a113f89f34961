"""User-defined formats: checked like every key, and indistinguishable from the built-in format
they re-declare (float16 is p = 11, emax = 15; bfloat16 is p = 8, emax = 127)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import compute_records

from fpstudy import config
from fpstudy.arith import Arith, round_array
from fpstudy.errors import ConfigError
from fpstudy.formats import FORMATS, user_format
from fpstudy.rounding import ROUNDINGS, Rule

TEXT = """
case = "{case}"
dtypes = {dtypes}
[arith]
rounding = {rounding}
{formats}
[grid]
{grid}
"""


def load(write_config, formats, dtypes, grid="scale = 0.9\nmax_depth = 120",
         case="deep_product", rounding='["nearest_even", "toward_zero", "upward"]'):
    return config.load(write_config(TEXT.format(case=case, dtypes=dtypes, formats=formats,
                                                grid=grid, rounding=rounding)))


HALF = "[formats.half_again]\nprecision = 11\nemax = 15\n"


def test_a_redeclared_float16_gives_float16s_records(write_config):
    exp = load(write_config, HALF, '["float16", "half_again"]')
    records = compute_records(exp)
    mine = [r for r in records if r["dtype"] == "half_again"]
    theirs = [r for r in records if r["dtype"] == "float16"]
    assert len(mine) == len(theirs) == 3 * 120
    for a, b in zip(mine, theirs, strict=True):
        assert (a["value"], a["outcome"], a["truth_class"], a["fp_flags"]) == \
            (b["value"], b["outcome"], b["truth_class"], b["fp_flags"])


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_user_bfloat16_agrees_with_bfloat16_on_functions_and_sums(rounding):
    mine = user_format("bf_again", 8, 127)
    bf = FORMATS["bfloat16"]
    x = np.linspace(-30, 30, 301)
    results = []
    for fmt in (mine, bf):
        rng = np.random.default_rng(3)
        ar = Arith(fmt, rule=Rule(rounding), rng=rng)
        v = ar.asarray(x)
        results.append(np.concatenate([ar.exp(v), ar.tanh(v), ar.sum(v)[None],
                                       ar.div(v, ar.const(3.0))]).astype(np.float64))
    assert np.array_equal(results[0], results[1], equal_nan=True)


def test_switches_inf_nan_subnormals():
    no_inf = user_format("a", 4, 7, inf=False)
    assert np.isnan(round_array(np.float64(1e6), no_inf))
    neither = user_format("b", 4, 7, inf=False, nan=False)
    assert float(round_array(np.float64(1e6), neither)) == float(neither.max) == 240
    no_sub = user_format("c", 4, 7, subnormals=False)
    assert float(no_sub.smallest_subnormal) == float(no_sub.smallest_normal) == 2.0 ** -6
    assert float(round_array(np.float64(2.0 ** -8), no_sub)) == 0.0
    assert float(round_array(np.float64(2.0 ** -8), user_format("d", 4, 7))) == 2.0 ** -8


@pytest.mark.parametrize("formats, message", [
    ("[formats.fp12]\nprecision = 7", "formats.fp12.emax: missing"),
    ("[formats.fp12]\nprecision = 30\nemax = 15", "formats.fp12.precision: 30 is not allowed; "
                                                   "expected an integer from 2 to 24"),
    ("[formats.fp12]\nprecision = 7\nemax = 15\ninf = 1", "formats.fp12.inf: 1 is not allowed"),
    ("[formats.fp12]\nprecision = 7\nemax = 15\nbias = 3", "formats.fp12.bias: unknown key"),
    ("[formats.float16]\nprecision = 7\nemax = 15", "formats.float16: float16 is a built-in"),
])
def test_bad_user_formats(write_config, formats, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load(write_config, formats, '["float16"]')


def test_user_format_as_accumulator(write_config):
    text = "[formats.wide_acc]\nprecision = 24\nemax = 127\n"
    exp = load(write_config, text, '["bfloat16"]', case="softmax",
               grid='n = 1000\ninput = "constant"\nimpl = "max_shift"\nc = 0\n'
                    'accumulate = ["format", "wide_acc", "float32"]', rounding='"nearest_even"')
    records = [r for r in compute_records(exp) if r["quantity"] == "softmax"]
    by_acc = {r["accumulate"]: r["value"] for r in records}
    assert by_acc["format"] == 2.0 ** -8   # the bfloat16 sum stalls at 256
    assert by_acc["wide_acc"] == by_acc["float32"] != by_acc["format"]


def test_formats_command_shows_user_formats_and_quirks(run_cli, write_config):
    path = write_config('case = "deep_product"\ndtypes = ["fp12"]\n'
                        "[formats.fp12]\nprecision = 7\nemax = 15\n")
    status, out, _ = run_cli("formats", "--config", path, "fp12", "float4_e2m1fn",
                             "float8_e4m3fnuz")
    assert status == 0
    fp12 = out.split("float4_e2m1fn")[0]
    assert "bits                   12" in fp12 and "65024.0" in fp12
    assert "no (overflow saturates)" in out and "no (-0 reads as +0)" in out


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float8_e4m3fn", "float4_e2m1fn"])
def test_sigmoid_saturation_point(name):
    """Below the shown z, sigmoid(z) rounds below 1; from it on, to 1 (exact sigmoid at 200
    bits, rounded by round_rational)."""
    from fractions import Fraction

    import mpmath

    from fpstudy.cli import sigmoid_saturation
    from fpstudy.exact import round_rational

    fmt = FORMATS[name]
    z = sigmoid_saturation(fmt)
    with mpmath.workprec(200):
        for dz, rounds_to_one in ((-1e-6, False), (1e-6, True)):
            s = 1 / (1 + mpmath.exp(-(z + dz)))
            q = Fraction(*s.as_integer_ratio())
            assert (round_rational(q, fmt) == 1) is rounds_to_one
