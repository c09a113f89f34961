"""Every refusal of the config loader is one line: the file, the key, what is allowed.

Each row is a config written by hand and the whole line a user must see for it. The lists a
message offers (cases, formats, keys) are the loader's own tables, read here as data; the
wording around them is the promise being pinned.
"""

from __future__ import annotations

import pytest

from fpstudy.cases import CASES
from fpstudy.config import (
    ARITH_KEYS,
    MAX_TRIALS,
    TOP_KEYS,
    TRUTH_KEYS,
    USER_FORMAT_KEYS,
    load,
)
from fpstudy.errors import ConfigError
from fpstudy.formats import FORMATS

CASE = 'case = "deep_product"\n'
ALL_CASES = ", ".join(CASES)
ALL_FORMATS = "<every format>"  # filled in when the test runs: a test may register formats
RULES = {"rounding": "nearest_even, toward_zero, upward, downward, stochastic",
         "subnormals": "gradual, flush", "overflow": "inf, saturate"}

REFUSALS = {
    "unknown top key": ("colour = 1\n" + CASE,
                        f"colour: unknown key; allowed: {', '.join(TOP_KEYS)}"),
    "no case": ('dtypes = ["float16"]\n', f"case: missing; choose from {ALL_CASES}"),
    "unknown case": ('case = "deep"\n', f"case: 'deep' is not a case; choose from {ALL_CASES}"),
    "case not a string": ("case = 3\n", f"case: 3 is not a case; choose from {ALL_CASES}"),
    "bad name": ('name = "a b"\n' + CASE,
                 "name: 'a b' is not allowed; use letters, digits, '_', '.', '-'"),
    "description not a string": ("description = 3\n" + CASE, "description: must be a string"),
    "dtypes not a list": (CASE + 'dtypes = "float16"\n',
                          f"dtypes: must be a non-empty list of formats from {ALL_FORMATS}"),
    "dtypes empty": (CASE + "dtypes = []\n",
                     f"dtypes: must be a non-empty list of formats from {ALL_FORMATS}"),
    "unknown dtype": (CASE + 'dtypes = ["float16", "float17"]\n',
                      f"dtypes[1]: 'float17' is not a format; choose from {ALL_FORMATS}"),
    "dtype twice": (CASE + 'dtypes = ["float16", "float16"]\n',
                    "dtypes: lists a format twice"),
    "negative seed": (CASE + "seed = -1\n",
                      "seed: -1 is not allowed; expected an integer >= 0"),
    "boolean seed": (CASE + "seed = true\n",
                     "seed: True is not allowed; expected an integer >= 0"),
    "truth not a table": (CASE + "truth = 3\n",
                          f"truth: must be a table with keys {', '.join(TRUTH_KEYS)}"),
    "unknown truth key": (CASE + "[truth]\nbits = 3\n",
                          f"truth.bits: unknown key; allowed: {', '.join(TRUTH_KEYS)}"),
    "precision too low": (CASE + "[truth]\nprecision = 7\n",
                          "truth.precision: 7 is not allowed; expected an integer from 8 to "
                          "1000000"),
    "precision 8 allowed, cap too high": (
        CASE + "[truth]\nprecision = 8\nmax_precision = 1000001\n",
        "truth.max_precision: 1000001 is not allowed; expected an integer from 8 to 1000000"),
    "boolean precision": (CASE + "[truth]\nprecision = true\n",
                          "truth.precision: True is not allowed; expected an integer from 8 "
                          "to 1000000"),
    "cap below start": (CASE + "[truth]\nprecision = 300\nmax_precision = 200\n",
                        "truth.max_precision: 200 is below truth.precision = 300"),
    "unknown engine": (CASE + '[truth]\nengine = "flint"\n',
                       "truth.engine: 'flint' is not an engine; choose from mpmath, arb"),
    "engine not a string": (CASE + '[truth]\nengine = ["arb"]\n',
                            "truth.engine: ['arb'] is not an engine; choose from mpmath, arb"),
    "engine a table": (CASE + "[truth]\nengine = {a = 1}\n",
                       "truth.engine: {'a': 1} is not an engine; choose from mpmath, arb"),
    "arith not a table": (CASE + "arith = 1\n",
                          f"arith: must be a table with keys {', '.join(ARITH_KEYS)}"),
    "unknown arith key": (CASE + "[arith]\nfma = true\n",
                          f"arith.fma: unknown key; allowed: {', '.join(ARITH_KEYS)}"),
    "unknown math": (CASE + '[arith]\nmath = "libm"\n',
                     "arith.math: 'libm' is not allowed; choose mpfr or numpy (mpfr: correctly "
                     "rounded, the same on every machine; numpy: the platform's own "
                     "functions)"),
    "empty rounding list": (CASE + "[arith]\nrounding = []\n",
                            f"arith.rounding: empty list; choose from {RULES['rounding']}"),
    "unknown rounding": (CASE + '[arith]\nrounding = "nearest"\n',
                         f"arith.rounding: 'nearest' is not allowed; choose from "
                         f"{RULES['rounding']} (or a list of them, to compare)"),
    "unknown overflow in a list": (
        CASE + '[arith]\noverflow = ["inf", "wrap"]\n',
        f"arith.overflow[1]: 'wrap' is not allowed; choose from {RULES['overflow']} "
        "(or a list of them, to compare)"),
    "repeated subnormals": (CASE + '[arith]\nsubnormals = ["flush", "flush"]\n',
                            "arith.subnormals: repeats a value"),
    "numpy math under a rule": (
        CASE + '[arith]\nmath = "numpy"\nsubnormals = "flush"\n',
        'arith.math: "numpy" measures the platform\'s own functions, which round to nearest '
        'with gradual underflow; use math = "mpfr" with a rounding rule (it applies the rule '
        "to every function)"),
    "zero trials": (CASE + "[arith]\ntrials = 0\n",
                    f"arith.trials: 0 is not allowed; expected an integer from 1 to "
                    f"{MAX_TRIALS} (repetitions of a stochastic rounding)"),
    "too many trials": (CASE + f'[arith]\nrounding = "stochastic"\ntrials = {MAX_TRIALS + 1}\n',
                        f"arith.trials: {MAX_TRIALS + 1} is not allowed; expected an integer "
                        f"from 1 to {MAX_TRIALS} (repetitions of a stochastic rounding)"),
    "trials without stochastic": (
        CASE + "[arith]\ntrials = 2\n",
        'arith.trials: 2 trials repeat a stochastic rounding, but arith.rounding has no '
        '"stochastic" (the others are deterministic)'),
    "grid not a table": (CASE + "grid = 3\n", "grid: must be a table of case parameters"),
    "formats not a table": (CASE + "formats = 3\n",
                            "formats: must be a table of formats: [formats.NAME] precision = "
                            "..., emax = ..."),
    "built-in format name": (CASE + "[formats.float16]\nprecision = 11\nemax = 15\n",
                             "formats.float16: float16 is a built-in format; give yours "
                             "another name"),
    "format not a table": (CASE + "[formats]\nfp9 = 3\n",
                           f"formats.fp9: must be a table with keys "
                           f"{', '.join(USER_FORMAT_KEYS)}"),
    "unknown format key": (CASE + "[formats.fp9]\nprecision = 4\nemax = 7\nbias = 3\n",
                           f"formats.fp9.bias: unknown key; allowed: "
                           f"{', '.join(USER_FORMAT_KEYS)}"),
    "format without emax": (CASE + "[formats.fp9]\nprecision = 4\n",
                            "formats.fp9.emax: missing; a format needs precision and emax"),
    "format precision 1": (CASE + "[formats.fp9]\nprecision = 1\nemax = 7\n",
                           "formats.fp9.precision: 1 is not allowed; expected an integer from "
                           "2 to 24"),
    "format emax 0": (CASE + "[formats.fp9]\nprecision = 4\nemax = 0\n",
                      "formats.fp9.emax: 0 is not allowed; expected an integer from 1 to 500"),
    "format emin 1": (CASE + "[formats.fp9]\nprecision = 4\nemax = 7\nemin = 1\n",
                      "formats.fp9.emin: 1 is not allowed; expected an integer from -500 to 0"),
    "format inf not a boolean": (CASE + "[formats.fp9]\nprecision = 4\nemax = 7\ninf = 1\n",
                                 "formats.fp9.inf: 1 is not allowed; expected true or false"),
}


@pytest.mark.parametrize("text, line", REFUSALS.values(), ids=REFUSALS)
def test_each_refusal_is_one_line_naming_file_key_and_what_is_allowed(tmp_path, text, line):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load(path)
    assert str(e.value) == f"{path}: {line}".replace(ALL_FORMATS, ", ".join(FORMATS))


def test_the_boundary_values_are_allowed(tmp_path):
    """8 and 1000000 bits, one trial, seed 0, a format of p = 2..24, emax 1..500."""
    path = tmp_path / "ok.toml"
    path.write_text(CASE + "seed = 0\n[truth]\nprecision = 8\nmax_precision = 1000000\n"
                    "[arith]\ntrials = 1\n"
                    "[formats.fpa]\nprecision = 2\nemax = 1\nemin = 0\n"
                    "[formats.fpb]\nprecision = 24\nemax = 500\nemin = -500\n")
    exp = load(path)
    assert (exp.truth_precision, exp.max_precision, exp.trials, exp.seed) == (8, 1000000, 1, 0)
    assert exp.user_formats["fpa"] == {"precision": 2, "emax": 1, "emin": 0, "inf": True,
                                       "nan": True, "subnormals": True}
    assert exp.user_formats["fpb"]["emin"] == -500


def test_defaults_fill_what_the_config_leaves_out(tmp_path):
    """A config of its case alone: the headline formats, seed 0, the file's stem as name, the
    case's description, IEEE's default rule, one trial, the engine and precisions of
    fpstudy.truth, and the emin of a format without one is 1 - emax (IEEE's bias)."""
    from fpstudy.cases import get_case

    path = tmp_path / "plain_name.toml"
    path.write_text(CASE + "[formats.fp9]\nprecision = 4\nemax = 7\n")
    exp = load(path)
    assert exp.name == "plain_name" and exp.seed == 0 and exp.trials == 1
    assert exp.dtypes == ["float16", "bfloat16", "float32", "float64"]
    assert exp.description == get_case("deep_product").DESCRIPTION.strip()
    assert exp.rule_axes == {"rounding": ["nearest_even"], "subnormals": ["gradual"],
                             "overflow": ["inf"]}
    assert (exp.truth_precision, exp.max_precision, exp.truth_engine) == (113, 65536, "mpmath")
    assert exp.math == "mpfr" and exp.user_formats["fp9"]["emin"] == -6
