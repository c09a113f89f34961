"""config.py key by key: the values each kind of grid range makes, the whole dict written to
meta.json, and the whole one-line message of each kind of bad input (the file, the key, what is
allowed), written out here from the config text and the README's promises."""

from __future__ import annotations

import hashlib
import json
import tomllib
import types
from fractions import Fraction

import numpy as np
import pytest

from fpstudy import config, truth
from fpstudy.cases import CASES
from fpstudy.cases.deep_product import PARAMS as DEEP_PRODUCT
from fpstudy.errors import ConfigError, ParamError, UserError
from fpstudy.formats import FORMATS
from fpstudy.params import Param
from fpstudy.rounding import Rule

CASE_NAMES = ", ".join(CASES)  # the registry's order: what "choose from" lists
TOP_KEYS = "name, case, description, dtypes, seed, truth, arith, formats, grid, data"
DEEP_PRODUCT_KEYS = "scale, width, init, x, max_depth, accumulate, sample"
ROUNDINGS = "nearest_even, toward_zero, upward, downward, stochastic"
RANGE_KINDS = "a range is {start, stop, step} or {start, stop, num, log}"
NEEDS_ONE = "a range needs start, stop and exactly one of step or num"


@pytest.fixture(autouse=True)
def formats_restored():
    """The formats a test declares are registered globally; forget them after it."""
    before = dict(FORMATS)
    yield
    FORMATS.clear()
    FORMATS.update(before)


def loaded(write_config, text: str, name: str = "exp.toml"):
    return config.load(write_config(text, name))


def refusal(write_config, text: str, name: str = "exp.toml") -> tuple:
    """(path, the whole message) of a config that is refused."""
    path = write_config(text, name)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    message = str(info.value)
    assert "\n" not in message
    return path, message


def grid_values(write_config, case: str, line: str) -> list:
    exp = loaded(write_config, f'case = "{case}"\n[grid]\n{line}\n')
    return exp.grid[line.split()[0]]


def must_not_fail(key, message):
    raise AssertionError(f"refused: {key}: {message}")


# --------------------------------------------------------------------------- range values

def test_a_decimal_step_range_is_exactly_its_decimals(write_config):
    values = grid_values(write_config, "sigmoid_saturation",
                         "z = { start = 0.1, stop = 0.5, step = 0.1 }")
    assert [v.exact for v in values] == [Fraction(k, 10) for k in (1, 2, 3, 4, 5)]
    assert values == [0.1, 0.2, 0.3, 0.4, 0.5]


@pytest.mark.parametrize("line, exact", [
    # the stop is included when a step lands on it, and not passed when none does
    ("z = { start = -1, stop = 1, step = 0.75 }", [Fraction(-1), Fraction(-1, 4), Fraction(1, 2)]),
    ("z = { start = 2.5, stop = 2.5, step = 1 }", [Fraction(5, 2)]),
    ("z = { start = 0, stop = 1, step = 0.5, log = false }", [0, Fraction(1, 2), 1]),
])
def test_step_ranges(write_config, line, exact):
    assert [v.exact for v in grid_values(write_config, "sigmoid_saturation", line)] == exact


@pytest.mark.parametrize("line, expected", [
    ("z = { start = 0, stop = 1, num = 11 }", [k / 10 for k in range(11)]),
    ("z = { start = 1, stop = -1, num = 3 }", [1.0, 0.0, -1.0]),
    ("z = { start = 3, stop = 7, num = 1 }", [3.0]),
    ("z = { start = 0.001, stop = 1000, num = 7, log = true }",
     [0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]),
    ("z = { start = 0.01, stop = 1, num = 3, log = true }", [0.01, 0.1, 1.0]),
])
def test_num_ranges(write_config, line, expected):
    assert grid_values(write_config, "sigmoid_saturation", line) == expected


@pytest.mark.parametrize("line, expected", [
    ("max_depth = { start = 2, stop = 8, step = 3 }", list(range(2, 9, 3))),
    ("max_depth = { start = 1, stop = 4, step = 2 }", list(range(1, 5, 2))),  # 1, 3: not 5
    ("max_depth = { start = 5, stop = 5, step = 3 }", [5]),
    ("max_depth = { start = 1, stop = 1000, num = 4, log = true }", [1, 10, 100, 1000]),
    # 1, 1.5, 2, 2.5, 3 rounded half to even are 1, 2, 2, 2, 3: each integer once
    ("max_depth = { start = 1, stop = 3, num = 5 }", [1, 2, 3]),
])
def test_integer_ranges(write_config, line, expected):
    values = grid_values(write_config, "deep_product", line)
    assert values == expected and all(type(v) is int for v in values)


def test_a_range_may_make_exactly_the_most_values():
    key = "grid.max_depth"
    param = DEEP_PRODUCT["max_depth"]
    step = {"start": 1, "stop": 1_000_000, "step": 1}
    num = {"start": 1, "stop": 1_000_000, "num": 1_000_000}
    for raw in (step, num):
        assert config._range(param, raw, key, must_not_fail) == list(range(1, 1_000_001))


# --------------------------------------------------------------------------- range errors

@pytest.mark.parametrize("line, message", [
    ("init = { start = 1, stop = 2, step = 1 }",
     "grid.init: a range is only allowed for numbers; "
     "expected one of scaled_identity, gaussian, orthogonal"),
    ('x = { start = 1, stop = 2, num = 2 }',
     'grid.x: a range is only allowed for numbers; expected "ones" or a list of numbers'),
    ("scale = { start = 0, stop = 1, step = 0.1, steps = 2 }",
     f"grid.scale.steps: unknown range key; {RANGE_KINDS}"),
    ("scale = { begin = 0, stop = 1, step = 0.1 }",
     f"grid.scale.begin: unknown range key; {RANGE_KINDS}"),
    ("scale = { stop = 1, step = 0.1 }", f"grid.scale: {NEEDS_ONE}"),
    ("scale = { start = 0, step = 0.1 }", f"grid.scale: {NEEDS_ONE}"),
    ("scale = { start = 0, stop = 1 }", f"grid.scale: {NEEDS_ONE}"),
    ("scale = { start = 0, stop = 1, step = 0.1, num = 11 }", f"grid.scale: {NEEDS_ONE}"),
    ("scale = { start = true, stop = 1, step = 0.1 }", "grid.scale.start: True is not a finite number"),
    ('scale = { start = "0", stop = 1, step = 0.1 }', "grid.scale.start: '0' is not a finite number"),
    ("scale = { start = -inf, stop = 1, step = 0.1 }",
     "grid.scale.start: -Infinity is not a finite number"),
    ("scale = { start = 0, stop = inf, step = 0.1 }",
     "grid.scale.stop: Infinity is not a finite number"),
    ("scale = { start = 0, stop = false, num = 2 }", "grid.scale.stop: False is not a finite number"),
    ("scale = { start = 0, stop = 1, step = nan }", "grid.scale.step: NaN is not a finite number"),
    ('scale = { start = 0, stop = 1, step = "0.1" }', "grid.scale.step: '0.1' is not a finite number"),
    ("scale = { start = 0, stop = 1, num = 3, log = 1 }",
     "grid.scale.log: 1 is not allowed; expected true or false"),
    ('scale = { start = 0, stop = 1, num = 3, log = "yes" }',
     "grid.scale.log: 'yes' is not allowed; expected true or false"),
    ("scale = { start = 1, stop = 100, step = 10, log = true }",
     "grid.scale.log: log = true goes with num, not step"),
    ("scale = { start = 0, stop = 1, step = 0 }",
     "grid.scale.step: 0 is not allowed; expected a number > 0"),
    ("scale = { start = 0, stop = 1, step = -0.5 }",
     "grid.scale.step: -0.5 is not allowed; expected a number > 0"),
    ("scale = { start = 1.5, stop = 0.5, step = 0.1 }", "grid.scale.stop: 0.5 is below start = 1.5"),
    ("scale = { start = 1, stop = 0, step = 0.1 }", "grid.scale.stop: 0 is below start = 1"),
    # (1 - 0) / 0.000001 + 1 values
    ("scale = { start = 0, stop = 1, step = 0.000001 }",
     "grid.scale: 1000001 values is more than 1000000"),
    ("max_depth = { start = 1.5, stop = 4, step = 1 }",
     "grid.max_depth: an integer range needs integer start, stop and step"),
    ("max_depth = { start = 1, stop = 4.0, step = 1 }",
     "grid.max_depth: an integer range needs integer start, stop and step"),
    ("max_depth = { start = 1, stop = 4, step = 1.0 }",
     "grid.max_depth: an integer range needs integer start, stop and step"),
    ("scale = { start = 0, stop = 1, num = true }",
     "grid.scale.num: True is not allowed; expected an integer from 1 to 1000000"),
    ("scale = { start = 0, stop = 1, num = 2.0 }",
     "grid.scale.num: 2.0 is not allowed; expected an integer from 1 to 1000000"),
    ("scale = { start = 0, stop = 1, num = 0 }",
     "grid.scale.num: 0 is not allowed; expected an integer from 1 to 1000000"),
    ("scale = { start = 0, stop = 1, num = 1000001 }",
     "grid.scale.num: 1000001 is not allowed; expected an integer from 1 to 1000000"),
    ("scale = { start = 0, stop = 1, num = 3, log = true }",
     "grid.scale: a log range needs start > 0 and stop > 0"),
    ("scale = { start = 1, stop = 0, num = 3, log = true }",
     "grid.scale: a log range needs start > 0 and stop > 0"),
    ("scale = { start = -1, stop = -10, num = 3, log = true }",
     "grid.scale: a log range needs start > 0 and stop > 0"),
    # a value of the range that the parameter does not allow: the range's key, no index
    ("width = { start = 0, stop = 2, step = 1 }",
     "grid.width: 0 is out of range; expected an integer >= 1 and <= 4096"),
])
def test_bad_ranges(write_config, line, message):
    path, said = refusal(write_config, f'case = "deep_product"\n[grid]\n{line}\n')
    assert said == f"{path}: {message}"


# --------------------------------------------------------------------------- the grid

@pytest.mark.parametrize("grid, message", [
    ("scale = []", "grid.scale: empty list; expected a finite number"),
    ('scale = [1.0, "a"]', "grid.scale[1]: 'a' is not a finite number; expected a finite number"),
    ("width = 0", "grid.width: 0 is out of range; expected an integer >= 1 and <= 4096"),
    ("scale = [0.5, 1.0, 0.5]", "grid.scale: repeats a value"),
    ("x = [[1.0, 2.0], [1.0, 2.0]]", "grid.x: repeats a value"),
    ("depth = 3", f"grid.depth: not a parameter of case deep_product; allowed: {DEEP_PRODUCT_KEYS}"),
    # a case's own check of a point, with the parameters the config gave
    ("x = [1.0, 2.0, 3.0]", "grid.x: has 3 entries; expected width = 2 (at x = (1.0, 2.0, 3.0))"),
    ("width = [2, 3]\nx = [1.0, 2.0]",
     "grid.x: has 2 entries; expected width = 3 (at width = 3, x = (1.0, 2.0))"),
])
def test_bad_grid_values(write_config, grid, message):
    path, said = refusal(write_config, f'case = "deep_product"\n[grid]\n{grid}\n')
    assert said == f"{path}: {message}"


def test_two_decimals_one_float64_apart_are_two_values(write_config):
    # 0.1 and 0.1000000000000000001 are the same float64 but not the same number
    values = grid_values(write_config, "deep_product", "scale = [0.1, 0.1000000000000000001]")
    assert [v.exact for v in values] == [Fraction(1, 10), Fraction(1000000000000000001, 10**19)]


def test_grid_must_be_a_table(write_config):
    path, said = refusal(write_config, 'case = "deep_product"\ngrid = 3\n')
    assert said == f"{path}: grid: must be a table of case parameters"


def test_at_most_a_million_points(write_config):
    # activation_chain has no per-point check: a million points are only counted
    text = 'case = "activation_chain"\n[grid]\nw = {{ start = 1, stop = 1000, num = 1000 }}\n' \
           "b = {{ start = 1, stop = {stop}, num = {stop} }}\n"
    exp = loaded(write_config, text.format(stop=1000))
    assert len(exp.grid["w"]) * len(exp.grid["b"]) == 1_000_000
    path, said = refusal(write_config, text.format(stop=1001))
    assert said == f"{path}: grid: 1001000 points is more than 1000000; narrow a range"


@pytest.mark.parametrize("dtypes, accumulate, message", [
    ('["float32"]', '"float32"', "grid.accumulate[0]: 'float32' is not wider than any of the "
                                 'dtypes (float32); use "format" or a wider format'),
    ('["float32", "float64"]', '["format", "float16"]',
     "grid.accumulate[1]: 'float16' is not wider than any of the dtypes (float32, float64); "
     'use "format" or a wider format'),
])
def test_an_accumulate_format_not_wider_than_any_dtype(write_config, dtypes, accumulate,
                                                       message):
    path, said = refusal(write_config, f'case = "deep_product"\ndtypes = {dtypes}\n[grid]\n'
                                       f"accumulate = {accumulate}\n")
    assert said == f"{path}: {message}"


def test_runs_leave_out_an_accumulate_format_not_wider_than_the_dtype(write_config):
    exp = loaded(write_config, 'case = "deep_product"\ndtypes = ["float16", "float64"]\n'
                               '[grid]\naccumulate = ["format", "float64"]\n')
    assert [(p["accumulate"], d) for p, d in exp.runs()] == [
        ("format", "float16"), ("format", "float64"), ("float64", "float16")]


def test_a_parameter_that_does_not_apply_runs_at_its_first_value_once(write_config):
    # impl applies only to the sigmoid, slope only to leaky_relu
    exp = loaded(write_config, 'case = "activation_chain"\n[grid]\n'
                               'activation = ["relu", "sigmoid"]\nimpl = ["naive", "stable"]\n'
                               "slope = [0.01, 0.1]\n")
    assert [(p["activation"], p["impl"], p["slope"]) for p in exp.points] == [
        ("relu", "naive", 0.01), ("sigmoid", "naive", 0.01), ("sigmoid", "stable", 0.01)]


def test_rules_are_the_product_of_the_arith_lists_in_config_order(write_config):
    exp = loaded(write_config, 'case = "deep_product"\n[arith]\nrounding = ["upward", '
                               '"downward"]\noverflow = ["saturate", "inf"]\n')
    assert exp.rules == [Rule(rounding=r, subnormals="gradual", overflow=o)
                         for r in ("upward", "downward") for o in ("saturate", "inf")]


def fake_case(monkeypatch, **attrs):
    """A case added to the registry for one test (adding a case is adding one module)."""
    case = types.ModuleType("fpstudy.cases.fake")
    case.NAME, case.DESCRIPTION = "fake", "a case for one test"
    for k, v in attrs.items():
        setattr(case, k, v)
    monkeypatch.setitem(CASES, "fake", case)
    return case


def test_a_required_parameter_must_be_given(write_config, monkeypatch):
    fake_case(monkeypatch, PARAMS={"n": Param("int", help="n", low=1)})
    path, said = refusal(write_config, 'case = "fake"\n')
    assert said == f"{path}: grid.n: missing; expected an integer >= 1"
    assert loaded(write_config, 'case = "fake"\n[grid]\nn = 3\n').grid == {"n": [3]}


def test_a_point_of_defaults_that_the_case_refuses(write_config, monkeypatch):
    def validate(p):
        raise ParamError("n", "is never allowed")
    fake_case(monkeypatch, PARAMS={"n": Param("int", 1, "n")}, validate=validate)
    path, said = refusal(write_config, 'case = "fake"\n')
    assert said == f"{path}: grid.n: is never allowed (at the defaults)"


# --------------------------------------------------------------------------- top level

@pytest.mark.parametrize("text, message", [
    ('case = "deep_product"\ncolour = 1', f"colour: unknown key; allowed: {TOP_KEYS}"),
    ('name = "x"', f"case: missing; choose from {CASE_NAMES}"),
    ("case = 3", f"case: 3 is not a case; choose from {CASE_NAMES}"),
    ('case = "deep_prodcut"', f"case: 'deep_prodcut' is not a case; choose from {CASE_NAMES}"),
    ('case = "deep_product"\nname = "../x"',
     "name: '../x' is not allowed; use letters, digits, '_', '.', '-'"),
    ('case = "deep_product"\nname = "-x"',
     "name: '-x' is not allowed; use letters, digits, '_', '.', '-'"),
    ('case = "deep_product"\nname = 3', "name: 3 is not allowed; use letters, digits, '_', '.', '-'"),
    ('case = "deep_product"\ndescription = 3', "description: must be a string"),
    ('case = "deep_product"\nseed = -1', "seed: -1 is not allowed; expected an integer >= 0"),
    ('case = "deep_product"\nseed = true', "seed: True is not allowed; expected an integer >= 0"),
    ('case = "deep_product"\nseed = 1.5', "seed: 1.5 is not allowed; expected an integer >= 0"),
])
def test_bad_top_level_keys(write_config, text, message):
    path, said = refusal(write_config, text)
    assert said == f"{path}: {message}"


def test_the_default_name_is_the_file_stem(write_config):
    assert loaded(write_config, 'case = "deep_product"\n', "a.b-c_1.toml").name == "a.b-c_1"
    path, said = refusal(write_config, 'case = "deep_product"\n', "two words.toml")
    assert said == f"{path}: name: 'two words' is not allowed; use letters, digits, '_', '.', '-'"


def test_the_description_is_stripped_and_defaults_to_the_cases(write_config):
    exp = loaded(write_config, 'case = "deep_product"\ndescription = "  two words \\n"\n')
    assert exp.description == "two words"
    exp = loaded(write_config, 'case = "deep_product"\n')
    assert exp.description == CASES["deep_product"].DESCRIPTION.strip()


@pytest.mark.parametrize("dtypes, message", [
    ('"float16"', "dtypes: must be a non-empty list of formats from {formats}"),
    ("[]", "dtypes: must be a non-empty list of formats from {formats}"),
    ('["float16", 3]', "dtypes[1]: 3 is not a format; choose from {formats}"),
    ('["float16", "float17"]', "dtypes[1]: 'float17' is not a format; choose from {formats}"),
    ('["float16", "float8_e8m0fnu"]',
     "dtypes[1]: float8_e8m0fnu cannot be computed in ({note}); `fpstudy formats` lists its limits"),
    ('["float16", "float32", "float16"]', "dtypes: lists a format twice"),
])
def test_bad_dtypes(write_config, dtypes, message):
    path, said = refusal(write_config, f'case = "deep_product"\ndtypes = {dtypes}\n')
    expected = message.format(formats=", ".join(FORMATS), note=FORMATS["float8_e8m0fnu"].note)
    assert said == f"{path}: {expected}"


TRUTH_RANGE = "is not allowed; expected an integer from 8 to 1000000"


@pytest.mark.parametrize("table, message", [
    ("[truth]\nprec = 200", "truth.prec: unknown key; allowed: precision, max_precision, engine"),
    ("[truth]\nprecision = 7", f"truth.precision: 7 {TRUTH_RANGE}"),
    ("[truth]\nprecision = true", f"truth.precision: True {TRUTH_RANGE}"),
    ("[truth]\nprecision = 200.0", f"truth.precision: 200.0 {TRUTH_RANGE}"),
    ("[truth]\nmax_precision = 1000001", f"truth.max_precision: 1000001 {TRUTH_RANGE}"),
    ("[truth]\nprecision = 8\nmax_precision = 7", f"truth.max_precision: 7 {TRUTH_RANGE}"),
    ("[truth]\nprecision = 200\nmax_precision = 199",
     "truth.max_precision: 199 is below truth.precision = 200"),
    ('[truth]\nengine = "flint"', "truth.engine: 'flint' is not an engine; choose from mpmath, arb"),
])
def test_bad_truth(write_config, table, message):
    path, said = refusal(write_config, f'case = "deep_product"\n{table}\n')
    assert said == f"{path}: {message}"


def test_truth_must_be_a_table(write_config):
    path, said = refusal(write_config, 'case = "deep_product"\ntruth = 3\n')
    assert said == f"{path}: truth: must be a table with keys precision, max_precision, engine"


@pytest.mark.parametrize("start, cap", [(8, 8), (1_000_000, 1_000_000), (200, 200)])
def test_truth_precisions_at_the_limits(write_config, start, cap):
    exp = loaded(write_config, f'case = "deep_product"\n[truth]\nprecision = {start}\n'
                               f"max_precision = {cap}\n")
    assert (exp.truth_precision, exp.max_precision) == (start, cap)


def test_an_engine_that_is_not_installed(write_config, monkeypatch):
    monkeypatch.setattr(config, "engine_available", lambda name: name != "arb")
    path, said = refusal(write_config, 'case = "deep_product"\n[truth]\nengine = "arb"\n')
    assert said == f"{path}: truth.engine: {truth.engine_missing('arb')}"


NUMPY_MATH = ('arith.math: "numpy" measures the platform\'s own functions, which round to '
              'nearest with gradual underflow; use math = "mpfr" with a rounding rule (it '
              "applies the rule to every function)")
TRIALS = "is not allowed; expected an integer from 1 to 100000 (repetitions of a stochastic rounding)"


@pytest.mark.parametrize("table, message", [
    ('round = "upward"',
     "arith.round: unknown key; allowed: math, rounding, subnormals, overflow, trials"),
    ('math = "gmp"', "arith.math: 'gmp' is not allowed; choose mpfr or numpy (mpfr: correctly "
                     "rounded, the same on every machine; numpy: the platform's own functions)"),
    ("rounding = []", f"arith.rounding: empty list; choose from {ROUNDINGS}"),
    ('rounding = "nearest"',
     f"arith.rounding: 'nearest' is not allowed; choose from {ROUNDINGS} (or a list of them, "
     "to compare)"),
    ('rounding = ["upward", "up"]',
     f"arith.rounding[1]: 'up' is not allowed; choose from {ROUNDINGS} (or a list of them, "
     "to compare)"),
    ('subnormals = "none"', "arith.subnormals: 'none' is not allowed; choose from gradual, flush "
                            "(or a list of them, to compare)"),
    ("overflow = []", "arith.overflow: empty list; choose from inf, saturate"),
    ('overflow = ["inf", "inf"]', "arith.overflow: repeats a value"),
    ('rounding = ["upward", "toward_zero", "upward"]', "arith.rounding: repeats a value"),
    ('math = "numpy"\nrounding = "upward"', NUMPY_MATH),
    ('math = "numpy"\nrounding = ["nearest_even", "stochastic"]', NUMPY_MATH),
    ('math = "numpy"\nsubnormals = "flush"', NUMPY_MATH),
    ('math = "numpy"\noverflow = ["inf", "saturate"]', NUMPY_MATH),
    ('rounding = "stochastic"\ntrials = 0', f"arith.trials: 0 {TRIALS}"),
    ('rounding = "stochastic"\ntrials = 100001', f"arith.trials: 100001 {TRIALS}"),
    ('rounding = "stochastic"\ntrials = true', f"arith.trials: True {TRIALS}"),
    ('rounding = "stochastic"\ntrials = 2.0', f"arith.trials: 2.0 {TRIALS}"),
    ('rounding = ["upward", "downward"]\ntrials = 2',
     'arith.trials: 2 trials repeat a stochastic rounding, but arith.rounding has no '
     '"stochastic" (the others are deterministic)'),
])
def test_bad_arith(write_config, table, message):
    path, said = refusal(write_config, f'case = "deep_product"\n[arith]\n{table}\n')
    assert said == f"{path}: {message}"


def test_arith_must_be_a_table(write_config):
    path, said = refusal(write_config, 'case = "deep_product"\narith = "mpfr"\n')
    assert said == f"{path}: arith: must be a table with keys math, rounding, subnormals, " \
                   "overflow, trials"


@pytest.mark.parametrize("table, math, axes, trials", [
    ("", "mpfr", (["nearest_even"], ["gradual"], ["inf"]), 1),
    ('math = "numpy"', "numpy", (["nearest_even"], ["gradual"], ["inf"]), 1),
    ('rounding = ["nearest_even", "stochastic"]\ntrials = 100000', "mpfr",
     (["nearest_even", "stochastic"], ["gradual"], ["inf"]), 100_000),
    ('rounding = "toward_zero"\nsubnormals = ["flush", "gradual"]\noverflow = "saturate"', "mpfr",
     (["toward_zero"], ["flush", "gradual"], ["saturate"]), 1),
])
def test_arith_as_given(write_config, table, math, axes, trials):
    exp = loaded(write_config, f'case = "deep_product"\n[arith]\n{table}\n')
    assert exp.math == math and exp.trials == trials
    assert exp.rule_axes == dict(zip(("rounding", "subnormals", "overflow"), axes, strict=True))


# --------------------------------------------------------------------------- [formats]

FORMAT_KEYS = "precision, emax, emin, inf, nan, subnormals"


@pytest.mark.parametrize("table, message", [
    ("formats = 3", "formats: must be a table of formats: [formats.NAME] precision = ..., "
                    "emax = ..."),
    ('[formats."fp 12"]\nprecision = 7\nemax = 15',
     "formats.fp 12: a format name uses letters, digits, '_', '.', '-'"),
    ("[formats.float16]\nprecision = 11\nemax = 15",
     "formats.float16: float16 is a built-in format; give yours another name"),
    ("[formats]\nfp = 3", f"formats.fp: must be a table with keys {FORMAT_KEYS}"),
    ("[formats.fp]\nprecision = 7\nemax = 15\nbias = 3",
     f"formats.fp.bias: unknown key; allowed: {FORMAT_KEYS}"),
    ("[formats.fp]\nemax = 15", "formats.fp.precision: missing; a format needs precision and emax"),
    ("[formats.fp]\nprecision = 7", "formats.fp.emax: missing; a format needs precision and emax"),
    ("[formats.fp]\nprecision = 1\nemax = 15",
     "formats.fp.precision: 1 is not allowed; expected an integer from 2 to 24"),
    ("[formats.fp]\nprecision = 25\nemax = 15",
     "formats.fp.precision: 25 is not allowed; expected an integer from 2 to 24"),
    ("[formats.fp]\nprecision = true\nemax = 15",
     "formats.fp.precision: True is not allowed; expected an integer from 2 to 24"),
    ("[formats.fp]\nprecision = 7.0\nemax = 15",
     "formats.fp.precision: 7.0 is not allowed; expected an integer from 2 to 24"),
    ("[formats.fp]\nprecision = 7\nemax = 0",
     "formats.fp.emax: 0 is not allowed; expected an integer from 1 to 500"),
    ("[formats.fp]\nprecision = 7\nemax = 501",
     "formats.fp.emax: 501 is not allowed; expected an integer from 1 to 500"),
    ("[formats.fp]\nprecision = 7\nemax = 15\nemin = 1",
     "formats.fp.emin: 1 is not allowed; expected an integer from -500 to 0"),
    ("[formats.fp]\nprecision = 7\nemax = 15\nemin = -501",
     "formats.fp.emin: -501 is not allowed; expected an integer from -500 to 0"),
    ("[formats.fp]\nprecision = 7\nemax = 15\nemin = false",
     "formats.fp.emin: False is not allowed; expected an integer from -500 to 0"),
    ("[formats.fp]\nprecision = 7\nemax = 15\ninf = 1",
     "formats.fp.inf: 1 is not allowed; expected true or false"),
    ('[formats.fp]\nprecision = 7\nemax = 15\nnan = "no"',
     "formats.fp.nan: 'no' is not allowed; expected true or false"),
    ("[formats.fp]\nprecision = 7\nemax = 15\nsubnormals = 0",
     "formats.fp.subnormals: 0 is not allowed; expected true or false"),
])
def test_bad_formats(write_config, table, message):
    path, said = refusal(write_config, f'case = "deep_product"\n{table}\n')
    assert said == f"{path}: {message}"


@pytest.mark.parametrize("table, resolved", [
    ("precision = 7\nemax = 15",
     {"precision": 7, "emax": 15, "emin": -14, "inf": True, "nan": True, "subnormals": True}),
    ("precision = 2\nemax = 1",
     {"precision": 2, "emax": 1, "emin": 0, "inf": True, "nan": True, "subnormals": True}),
    ("precision = 24\nemax = 500\nemin = -500\ninf = false\nnan = false\nsubnormals = false",
     {"precision": 24, "emax": 500, "emin": -500, "inf": False, "nan": False,
      "subnormals": False}),
    ("precision = 5\nemax = 7\nemin = 0\nnan = false",
     {"precision": 5, "emax": 7, "emin": 0, "inf": True, "nan": False, "subnormals": True}),
])
def test_a_declared_format_is_a_dtype(write_config, table, resolved):
    name = "mut_p{precision}_{emax}".format(**resolved)
    exp = loaded(write_config, f'case = "deep_product"\ndtypes = ["{name}"]\n'
                               f"[formats.{name}]\n{table}\n")
    assert exp.user_formats == {name: resolved} and exp.dtypes == [name]
    fmt = FORMATS[name]
    assert (fmt.precision, fmt.min_exponent, fmt.max_exponent) == (
        resolved["precision"], resolved["emin"], resolved["emax"] + 1)


def test_a_format_declared_twice_differently(write_config):
    loaded(write_config, 'case = "deep_product"\n[formats.mut_twice]\nprecision = 7\nemax = 15\n')
    path, said = refusal(write_config, 'case = "deep_product"\n[formats.mut_twice]\n'
                                       "precision = 8\nemax = 15\n")
    assert said == f"{path}: formats.mut_twice: format 'mut_twice' is declared twice, differently"


# --------------------------------------------------------------------------- [data]

@pytest.mark.parametrize("text, message", [
    ('case = "softmax"\ndata = 3', 'data: must be a table of input = "file"'),
    ('case = "sigmoid_saturation"\n[data]\nx = "x.npy"',
     "data: case sigmoid_saturation reads no data files"),
    ('case = "softmax"\n[data]\nweights = "w.npy"',
     "data.weights: not a data input of case softmax; allowed: logits"),
    ('case = "deep_product"\n[data]\nlogits = "l.npy"',
     "data.logits: not a data input of case deep_product; allowed: weights, x"),
    # the case fits its grid to the files, and is asked even without any
    ('case = "softmax"\n[grid]\ninput = "data"',
     "grid.input: 'data' takes the logits from a [data] table (logits = \"file.npy\"), and "
     "there is none"),
])
def test_bad_data_tables(write_config, text, message):
    path, said = refusal(write_config, text)
    assert said == f"{path}: {message}"


def test_an_empty_data_table_is_no_data(write_config):
    exp = loaded(write_config, 'case = "sigmoid_saturation"\n[data]\n')
    assert exp.data == {} and "data" not in exp.resolved()


def test_the_files_fit_the_grid(write_config, tmp_path):
    np.save(tmp_path / "l.npy", np.arange(6.0).reshape(2, 3))
    text = 'case = "softmax"\n[data]\nlogits = "l.npy"\n'
    exp = loaded(write_config, text)
    assert exp.grid["n"] == [3] and exp.grid["sample"] == [0, 1]
    path, said = refusal(write_config, text + "[grid]\nn = 3\n")
    assert said == f"{path}: grid.n: does not apply to [data] logits (3 per row); leave it out"


# --------------------------------------------------------------------------- meta.json

def canonical_sha256(d: dict) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def test_resolved_holds_every_key_as_given(write_config, tmp_path):
    exp = loaded(write_config, """
name = "every-key"
case = "deep_product"
description = "  all of them  "
dtypes = ["float32", "mut_fp12", "float16"]
seed = 7
[truth]
precision = 200
max_precision = 4000
engine = "arb"
[arith]
math = "mpfr"
rounding = ["stochastic", "toward_zero"]
subnormals = "flush"
overflow = ["saturate", "inf"]
trials = 3
[formats.mut_fp12]
precision = 7
emax = 15
[grid]
scale = [0.5, 1.5]
width = 3
x = [[1, 2, 3], "ones"]
max_depth = { start = 2, stop = 6, step = 2 }
accumulate = ["format", "float64"]
""")
    expected = {
        "name": "every-key",
        "case": "deep_product",
        "description": "all of them",
        "dtypes": ["float32", "mut_fp12", "float16"],
        "seed": 7,
        "truth": {"precision": 200, "max_precision": 4000, "engine": "arb"},
        "arith": {"math": "mpfr", "rounding": ["stochastic", "toward_zero"],
                  "subnormals": ["flush"], "overflow": ["saturate", "inf"], "trials": 3},
        "formats": {"mut_fp12": {"precision": 7, "emax": 15, "emin": -14, "inf": True,
                                 "nan": True, "subnormals": True}},
        "grid": {"scale": [0.5, 1.5], "width": [3], "init": ["scaled_identity"],
                 "x": [[1.0, 2.0, 3.0], "ones"], "max_depth": [2, 4, 6],
                 "accumulate": ["format", "float64"], "sample": [0]},
    }
    resolved = exp.resolved()
    assert resolved == expected
    assert exp.path == tmp_path / "exp.toml"
    assert exp.given == ["scale", "width", "x", "max_depth", "accumulate"]  # PARAMS' order
    assert [type(v) for v in resolved["grid"]["x"]] == [list, str]  # JSON has no tuples
    assert exp.sha256() == canonical_sha256(expected)


def test_resolved_of_the_defaults(write_config):
    exp = loaded(write_config, 'case = "sigmoid_saturation"\n', "defaults.toml")
    expected = {
        "name": "defaults",
        "case": "sigmoid_saturation",
        "description": CASES["sigmoid_saturation"].DESCRIPTION.strip(),
        "dtypes": ["float16", "bfloat16", "float32", "float64"],
        "seed": 0,
        "truth": {"precision": 113, "max_precision": 65536, "engine": "mpmath"},
        "arith": {"math": "mpfr", "rounding": ["nearest_even"], "subnormals": ["gradual"],
                  "overflow": ["inf"], "trials": 1},
        "grid": {"z": [0.0], "impl": ["naive"]},
    }
    assert exp.resolved() == expected
    assert exp.sha256() == canonical_sha256(expected)


def test_resolved_records_each_data_file(write_config, tmp_path):
    logits = np.array([[1.0, 2.0, 3.0], [0.5, -0.5, 0.0]], dtype=np.float32)
    np.save(tmp_path / "l.npy", logits)
    exp = loaded(write_config, 'case = "softmax"\ndtypes = ["float16"]\n[data]\n'
                               'logits = "l.npy"\n')
    data = exp.resolved()["data"]
    assert data == {"logits": {
        "file": "l.npy", "path": str(tmp_path / "l.npy"), "key": None, "shape": [2, 3],
        "dtype": "float32", "sha256": hashlib.sha256((tmp_path / "l.npy").read_bytes()).hexdigest(),
    }}
    assert exp.resolved()["grid"]["sample"] == [0, 1]
    assert exp.sha256() == canonical_sha256(exp.resolved())


# --------------------------------------------------------------------------- reading the file

def test_a_file_that_cannot_be_read(tmp_path):
    missing = tmp_path / "missing.toml"
    with pytest.raises(UserError) as info:
        config.load(missing)
    assert str(info.value) == f"{missing}: cannot read: No such file or directory"
    with pytest.raises(UserError) as info:
        config.load(tmp_path)
    assert str(info.value) == f"{tmp_path}: cannot read: Is a directory"


@pytest.mark.parametrize("text, line", [
    (b'case = "deep_product" # \xff\n', 1),
    (b'case = "deep_product"\n\ndescription = "caf\xe9"\n', 3),
])
def test_a_file_that_is_not_utf8_names_the_byte_and_its_line(tmp_path, text, line):
    path = tmp_path / "latin1.toml"
    path.write_bytes(text)
    byte = next(b for b in text if b >= 0x80)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value) == (f"{path}: not UTF-8 text: byte 0x{byte:02x} at line {line}; "
                               "save the file as UTF-8")


def test_the_line_of_an_offset_in_a_file_gone_is_0(tmp_path):
    assert config.text_line(tmp_path / "gone.toml", 5) == 0


def test_a_file_that_is_not_toml(write_config):
    text = 'case = "deep_product"\ncase = "softmax"\n'
    with pytest.raises(tomllib.TOMLDecodeError) as parsed:
        tomllib.loads(text)
    path, said = refusal(write_config, text)
    assert said == f"{path}: not valid TOML: {parsed.value}"


def test_nesting_deeper_than_a_config_needs(write_config):
    # raw is level 1, a's list 2, and each [ one more: the 1 in 7 brackets is at level 9
    path, said = refusal(write_config, "a = [[[[[[[1]]]]]]]\n")
    assert said == f"{path}: a{'[0]' * 7}: nested 9 levels deep; a config nests at most 8 levels"
    path, said = refusal(write_config, 'case = "deep_product"\n[a.b.c.d.e.f.g.h]\n')
    assert said == f"{path}: a.b.c.d.e.f.g.h: nested 9 levels deep; a config nests at most 8 levels"
    # 8 levels are read; the key is then unknown
    path, said = refusal(write_config, 'case = "deep_product"\na = [[[[[[1]]]]]]\n')
    assert said == f"{path}: a: unknown key; allowed: {TOP_KEYS}"


def test_nesting_too_deep_for_the_toml_reader(write_config):
    path, said = refusal(write_config, "a = " + "[" * 5000 + "]" * 5000 + "\n")
    assert said == f"{path}: nested too deeply; a config nests at most 8 levels"
