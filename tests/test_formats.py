"""Format limits: identities between finfo's numbers, and IEEE 754 values derived by hand."""

import math
from fractions import Fraction

import ml_dtypes
import mpmath
import numpy as np
import pytest
from conftest import ALL_FORMATS, WITH_INF, WITHOUT_INF

from fpstudy.errors import UserError
from fpstudy.exact import to_mpf
from fpstudy.formats import FORMATS, get_format


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_limits_are_powers_of_two_where_ieee_says(name):
    fmt = FORMATS[name]
    assert to_mpf(fmt.smallest_normal) == mpmath.ldexp(1, fmt.min_exponent)
    assert to_mpf(fmt.smallest_subnormal) == mpmath.ldexp(1, fmt.min_exponent - fmt.precision + 1)
    assert to_mpf(fmt.eps) == mpmath.ldexp(1, 1 - fmt.precision)
    assert fmt.unit_roundoff == 2.0 ** -fmt.precision


@pytest.mark.parametrize("name", WITH_INF)
def test_max_is_all_ones_significand_at_the_top_exponent(name):
    fmt = FORMATS[name]
    two = Fraction(2)
    expected = (2 - two ** (1 - fmt.precision)) * two ** (fmt.max_exponent - 1)
    assert Fraction(*np.longdouble(fmt.max).as_integer_ratio()) == expected


def test_float8_e4m3fn_max_gives_up_the_top_code_to_nan():
    # e4m3fn: bias 7, exponent field 1111 with mantissa 111 is NaN, so the largest finite
    # value is 1.110b * 2**8 = 448 (OCP 8-bit float spec).
    fmt = FORMATS["float8_e4m3fn"]
    assert float(fmt.max) == 1.75 * 2 ** 8 == 448
    assert "float8_e4m3fn" in WITHOUT_INF


@pytest.mark.parametrize("name, bits, precision, max_value", [
    # hand-derived: max = (2 - 2**(1-p)) * 2**emax
    ("float16", 16, 11, (2 - 2 ** -10) * 2 ** 15),          # 65504
    ("bfloat16", 16, 8, (2 - 2 ** -7) * 2 ** 127),
    ("float32", 32, 24, (2 - 2 ** -23) * 2 ** 127),
    ("float64", 64, 53, (2 - 2 ** -52) * 2 ** 1023),
    ("float8_e5m2", 8, 3, (2 - 2 ** -2) * 2 ** 15),        # 57344
])
def test_ieee_values_by_hand(name, bits, precision, max_value):
    fmt = FORMATS[name]
    assert (fmt.bits, fmt.precision) == (bits, precision)
    assert float(fmt.max) == max_value


@pytest.mark.parametrize("name", [n for n in ALL_FORMATS if n != "longdouble"])
def test_bits_split_into_sign_exponent_and_stored_significand(name):
    fmt = FORMATS[name]
    finfo = np.finfo(fmt.encoding) if fmt.encoding.type.__module__ == "numpy" \
        else ml_dtypes.finfo(fmt.encoding)
    sign = 0 if name == "float8_e8m0fnu" else 1  # e8m0: unsigned, exponent bits only
    assert sign + finfo.nexp + (fmt.precision - 1) == fmt.bits


def test_longdouble_is_at_least_float64():
    fmt = FORMATS["longdouble"]
    assert fmt.precision >= 53 and not fmt.emulated


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_emulated_formats_satisfy_the_double_rounding_condition(name):
    fmt = FORMATS[name]
    if fmt.emulated:
        assert 2 * fmt.precision + 2 <= 53  # float64 then one rounding is exact IEEE
        assert fmt.max_exponent < 1024 and fmt.min_exponent - fmt.precision > -1022


def test_wider_than():
    f = FORMATS
    assert f["float32"].wider_than(f["float16"]) and f["float32"].wider_than(f["bfloat16"])
    assert not f["float16"].wider_than(f["bfloat16"]) and not f["bfloat16"].wider_than(f["float16"])
    assert not f["float32"].wider_than(f["float32"])
    assert f["longdouble"].wider_than(f["float64"])


def test_unknown_format_lists_the_valid_names():
    with pytest.raises(UserError, match="choose from float16, bfloat16"):
        get_format("float17")


def test_ln_thresholds_in_formats_command(run_cli):
    status, out, _ = run_cli("formats", "float16")
    assert status == 0
    ln_max = float(out.split("ln_max")[1].split()[0])
    assert ln_max == pytest.approx(math.log(65504), rel=1e-7)
    ln_sub = float(out.split("ln_smallest_subnormal")[1].split()[0])
    assert ln_sub == pytest.approx(-24 * math.log(2), rel=1e-7)
