"""The ground truth checks itself: precision is raised until two successive results agree."""

from fractions import Fraction

import mpmath
import pytest

import fpstudy
from fpstudy.truth import agree, settle

mpf = mpmath.mpf


def test_settle_escalates_past_cancellation():
    big = mpf(2) ** 300  # (2**300 + 1) - 2**300 needs 301 bits

    def f(prec):
        with mpmath.workprec(prec):
            return {"x": [(big + 1) - big]}
    t = settle(f, start=160, cap=4096)
    # 160: 0, 320: 1, 640: 1 -> settled at 640
    assert (t.values["x"][0], t.precision, t.settled) == (1, 640, True)


def test_settle_reports_a_truth_that_never_agrees():
    def f(prec):  # a different answer at every precision
        return {"x": [mpf(prec)]}
    t = settle(f, start=16, cap=128)
    assert not t.settled and t.precision == 128


def test_agree_is_relative_to_the_norm():
    assert agree([mpf(1), mpf(0)], [mpf(1), mpf("1e-30")], 80)   # 1e-30 below 2**-80 * 1
    assert not agree([mpf(1), mpf(0)], [mpf(1), mpf("1e-20")], 80)
    assert agree([mpf(0)], [mpf(0)], 80)


@pytest.fixture
def low_precision_config(write_config):
    return write_config("""
case = "deep_product"
dtypes = ["float16"]
[truth]
precision = 16
[grid]
scale = 1.5
max_depth = 40
""")


def test_pipeline_escalates_from_a_too_low_start(low_precision_config, tmp_path, run_cli):
    status, _, err = run_cli("run", low_precision_config, "--results", tmp_path / "r")
    assert status == 0, err
    records = fpstudy.load(tmp_path / "r" / "exp")
    # 1.5**d = 3**d / 2**d has 64 significant bits at d = 40 (2**63 < 3**40 < 2**64): at 16
    # and 32 bits the deep values are rounded and the two disagree far above 2**-80; at 64
    # bits every product is exact, so 32 vs 64 disagree and 64 vs 128 agree exactly.
    assert set(records["truth_precision"]) == {128}
    assert records["truth_settled"].all()
    last = records[records["depth"] == 40].iloc[0]
    assert last["truth"] == float(Fraction(3 ** 40, 2 ** 40))


def test_pipeline_marks_a_truth_that_did_not_settle(write_config, tmp_path, run_cli):
    path = write_config("""
case = "deep_product"
dtypes = ["float16"]
[truth]
precision = 16
max_precision = 32
[grid]
scale = 1.5
max_depth = 40
""")
    status, _, err = run_cli("run", path, "--results", tmp_path / "r")
    assert status == 0, err
    records = fpstudy.load(tmp_path / "r" / "exp")
    assert not records["truth_settled"].any()
    assert set(records["truth_precision"]) == {32}
