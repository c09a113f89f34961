"""Config loading: grid expansion, defaults, and one clear error per kind of bad input."""

import hashlib
import json

import pytest

from fpstudy import config
from fpstudy.errors import ConfigError

GOOD = """
case = "deep_product"
dtypes = ["float16", "float32"]
[grid]
scale = [0.5, 1.5]
max_depth = 10
"""


def load_text(write_config, text):
    return config.load(write_config(text))


def test_defaults_and_product(write_config):
    exp = load_text(write_config, GOOD)
    assert exp.name == "exp"  # the file's stem
    assert exp.grid["width"] == [2] and exp.grid["init"] == ["scaled_identity"]
    assert exp.grid["accumulate"] == ["format"]
    assert [p["scale"] for p in exp.points] == [0.5, 1.5]
    assert len(exp.runs()) == 4
    assert exp.seed == 0 and exp.truth_precision == 113
    canonical = json.dumps(exp.resolved(), sort_keys=True, separators=(",", ":"))
    assert exp.sha256() == hashlib.sha256(canonical.encode()).hexdigest()


@pytest.mark.parametrize("grid, expected", [
    ("scale = { start = 0.1, stop = 0.5, step = 0.1 }", [0.1, 0.2, 0.3, 0.4, 0.5]),
    ("scale = { start = -1, stop = 1, num = 5 }", [-1.0, -0.5, 0.0, 0.5, 1.0]),
    ("scale = { start = 1, stop = 100, num = 3, log = true }", [1.0, 10.0, 100.0]),
    ("scale = 2", [2.0]),
    ("max_depth = { start = 2, stop = 8, step = 3 }", [2, 5, 8]),
])
def test_ranges(write_config, grid, expected):
    exp = load_text(write_config, f'case = "deep_product"\n[grid]\n{grid}\n')
    key = grid.split()[0]
    assert exp.grid[key] == expected


def test_vector_parameter_is_one_value_or_a_list_of_them(write_config):
    exp = load_text(write_config, 'case = "deep_product"\n[grid]\nx = [1.0, 2.0]\n')
    assert exp.grid["x"] == [(1.0, 2.0)]
    exp = load_text(write_config, 'case = "deep_product"\n[grid]\nx = [[1.0, 2.0], "ones"]\n')
    assert exp.grid["x"] == [(1.0, 2.0), "ones"]


@pytest.mark.parametrize("text, message", [
    ('case = "deep_prodcut"', "case: 'deep_prodcut' is not a case; choose from"),
    ('case = "deep_product"\ncolour = 1', "colour: unknown key; allowed: name, case"),
    ('case = "deep_product"\ndtypes = ["float16", "float17"]',
     "dtypes[1]: 'float17' is not a format; choose from float16, bfloat16"),
    ('case = "deep_product"\n[grid]\nscale = [1.0, "a"]', "grid.scale[1]: 'a' is not a finite number"),
    ('case = "deep_product"\n[grid]\nwidth = 0', "grid.width: 0 is out of range; expected an integer >= 1"),
    ('case = "deep_product"\n[grid]\nwidth = 2.5', "grid.width: 2.5 is not an integer"),
    ('case = "deep_product"\n[grid]\ninit = "gausian"',
     "grid.init: 'gausian' is not allowed; choose one of scaled_identity, gaussian, orthogonal"),
    ('case = "deep_product"\n[grid]\ndepth = 3', "grid.depth: not a parameter of case deep_product"),
    ('case = "deep_product"\n[grid]\nx = [1.0, 2.0, 3.0]', "grid.x: has 3 entries; expected width = 2"),
    ('case = "deep_product"\ndtypes = ["float32"]\n[grid]\naccumulate = "float32"',
     "grid.accumulate[0]: 'float32' is not wider than any of the dtypes"),
    ('case = "deep_product"\n[grid]\naccumulate = "float128"', "grid.accumulate: 'float128' is not allowed"),
    ('case = "deep_product"\n[grid]\nscale = { start = 1, stop = 0, step = 0.1 }',
     "grid.scale.stop: 0 is below start = 1"),
    ('case = "deep_product"\n[grid]\nscale = { start = 1, stop = 2 }',
     "grid.scale: a range needs start, stop and exactly one of step or num"),
    ('case = "deep_product"\n[truth]\nprecision = 4', "truth.precision: 4 is not allowed"),
    ('case = "deep_product"\nseed = -1', "seed: -1 is not allowed"),
    ('case = "deep_product"\n[grid]\nscale = [1.0, 1.0]', "grid.scale: repeats a value"),
    ('case = "deep_product"\nname = "../x"', "name: '../x' is not allowed"),
    ("case = ", "not valid TOML"),
])
def test_bad_input_names_the_key_and_what_is_allowed(write_config, text, message):
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_accumulate_skips_the_formats_it_is_not_wider_than(write_config):
    exp = load_text(write_config, """
case = "deep_product"
dtypes = ["float16", "bfloat16", "float32"]
[grid]
accumulate = ["format", "float32"]
""")
    runs = [(p["accumulate"], d) for p, d in exp.runs()]
    assert runs == [("format", "float16"), ("format", "bfloat16"), ("format", "float32"),
                    ("float32", "float16"), ("float32", "bfloat16")]


def test_parameters_that_do_not_apply_run_once(write_config):
    exp = load_text(write_config, """
case = "activation_chain"
dtypes = ["float16"]
[grid]
activation = ["sigmoid", "relu"]
impl = ["naive", "stable"]
max_depth = 3
""")
    combos = [(p["activation"], p["impl"]) for p in exp.points]
    assert combos == [("sigmoid", "naive"), ("sigmoid", "stable"), ("relu", "naive")]


@pytest.mark.parametrize("path", sorted(config.Path(__file__).parent.parent.glob(
    "experiments/*.toml")), ids=lambda p: p.stem)
def test_shipped_experiments_are_valid_and_named_after_their_file(path):
    data = path.parent / "data"
    if "[data]" in path.read_text() and not (data / "mlp_data.npz").exists():
        import runpy  # a fresh clone: make the example data as `make all` would
        runpy.run_path(str(path.parent.parent / "examples" / "train_mlp.py"),
                       run_name="train")["main"](["--out", str(data)])
    exp = config.load(path)
    # make tracks results/<stem>/meta.json: a different name would rerun every time
    assert exp.name == path.stem
    assert exp.description and len(exp.runs()) > 0
