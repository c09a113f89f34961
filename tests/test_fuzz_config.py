"""Fuzzing the config reader: no input makes `fpstudy check` crash (exit 1) or print a traceback.

Hypothesis writes TOML documents for every case: the right structure with wrong types,
out-of-range and edge values, unknown keys, deep nesting, huge arrays, unicode and control
characters in strings, and random bytes. Every one must give exit status 0, or 2 with one line
naming the file. `make test` runs a few examples of each; `make fuzz` runs a long campaign
(FPSTUDY_FUZZ_EXAMPLES examples per test).
"""

from __future__ import annotations

import contextlib
import io
import math
import os

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from fpstudy.cases import CASES
from fpstudy.cli import main
from fpstudy.config import RANGE_KEYS, TOP_KEYS, TRUTH_KEYS
from fpstudy.formats import FORMATS

EXAMPLES = int(os.environ.get("FPSTUDY_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize="FPSTUDY_FUZZ_EXAMPLES" not in os.environ,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])


# -- TOML text from Python values ---------------------------------------------------------------


def toml_string(s: str) -> str:
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, Huge):
        return "[" + ", ".join([toml_value(v.item)] * v.count) + "]"
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_string(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def toml_document(doc: dict) -> str:
    return "".join(f"{toml_string(str(k))} = {toml_value(v)}\n" for k, v in doc.items())


class Huge:
    """A long array of one value (written out in full in the TOML text)."""

    def __init__(self, item, count):
        self.item, self.count = item, count

    def __repr__(self):
        return f"Huge({self.item!r}, {self.count})"


# -- strategies ------------------------------------------------------------------------------

EDGE_NUMBERS = [0, 1, -1, 2, 3, 7, 10, 100, 4096, 4097, 1_000_000, 1_000_001, 2**63 - 1, -2**63,
                0.0, -0.0, 0.5, 1.5, -2.5, 1e-300, 5e-324, 1e300, 1.7976931348623157e308,
                math.inf, -math.inf, math.nan, 0.1]
WORDS = sorted({*FORMATS, *CASES, "format", "ones", "zeros", "naive", "max_shift", "scipy",
                "gaussian", "orthogonal", "scaled_identity", "sigmoid", "relu", "constant",
                "normal", "spike", "stable", "os:system", "user_softmax:shifted", ""})

texts = st.text(max_size=20)  # any unicode but surrogates, control characters included
scalars = st.one_of(st.sampled_from(EDGE_NUMBERS), st.integers(), st.floats(), st.booleans(),
                    st.sampled_from(WORDS), texts)
ranges = st.dictionaries(st.sampled_from(sorted(RANGE_KEYS | {"stpe", "end"})), scalars,
                         max_size=5)
values = st.recursive(
    st.one_of(scalars, ranges),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.sampled_from(WORDS), texts), inner,
                                            max_size=3)),
    max_leaves=8)
huge = st.builds(Huge, scalars, st.integers(1_000, 30_000))


@st.composite
def documents(draw, case_name: str) -> dict:
    """A config for `case_name`: mostly the right structure, with a few keys made wrong (a
    wrong type, an edge or out-of-range value, an unknown key, deep nesting, a huge array,
    odd characters), so that the checks past the first are reached too."""
    case = CASES[case_name]

    def wrong() -> bool:
        return draw(st.integers(0, 5)) == 0

    doc: dict = {"case": draw(scalars) if wrong() else case_name}
    if draw(st.booleans()):
        doc["dtypes"] = draw(values) if wrong() else draw(
            st.lists(st.sampled_from(list(FORMATS)), min_size=1, max_size=4, unique=True))
    if wrong():
        doc["name"] = draw(st.one_of(texts, scalars))
    if draw(st.booleans()):
        doc["seed"] = draw(scalars) if wrong() else draw(st.integers(0, 2**64))
    if wrong():
        doc["description"] = draw(st.one_of(texts, values))
    if wrong():
        doc["truth"] = draw(st.dictionaries(st.sampled_from([*TRUTH_KEYS, "prec"]), scalars,
                                            max_size=3))
    grid = {}
    for name in draw(st.lists(st.sampled_from(list(case.PARAMS)), max_size=4, unique=True)):
        plausible = st.one_of(st.sampled_from(EDGE_NUMBERS), st.sampled_from(WORDS),
                              st.lists(st.sampled_from(EDGE_NUMBERS), min_size=1, max_size=3,
                                       unique_by=repr), ranges)
        grid[name] = draw(st.one_of(scalars, values, huge)) if wrong() else draw(plausible)
    if wrong():
        grid[draw(st.one_of(st.sampled_from(["depht", "Width", "é"]), texts))] = draw(values)
    if grid or draw(st.booleans()):
        doc["grid"] = grid
    if wrong():
        doc.setdefault(draw(st.one_of(st.sampled_from([*TOP_KEYS, "colour", "data"]), texts)),
                       draw(values))
    return doc


# -- the property ----------------------------------------------------------------------------


def check(path, tmp) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(["check", str(path), "--results", str(tmp / "res")])
    return status, err.getvalue()


def assert_clean(status, err, path, tmp):
    assert status in (0, 2), (status, err)
    assert "Traceback" not in err and "internal error" not in err, err
    if status == 2:
        assert err.count("\n") == 1 and err.startswith(f"fpstudy: {path}"), err
    assert not (tmp / "res").exists()


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(autouse=True)
def small_memory_limit(monkeypatch):
    # a valid config must still be cheap to check: large ones are refused by the estimate
    monkeypatch.setenv("FPSTUDY_MEMORY_LIMIT", "300M")


@pytest.mark.parametrize("case_name", list(CASES))
@FUZZ
@given(data=st.data())
def test_no_config_crashes_check(fuzz_dir, case_name, data):
    doc = data.draw(documents(case_name))
    path = fuzz_dir / f"{case_name}.toml"
    path.write_text(toml_document(doc), encoding="utf-8")
    status, err = check(path, fuzz_dir)
    event("accepted" if status == 0 else "refused: " + err.split(": ")[2][:20])
    assert_clean(status, err, path, fuzz_dir)


@FUZZ
@given(raw=st.binary(max_size=400))
@example(raw=b'case = "deep_product"\ndescription = "caf\xff"\n')
@example(raw=b'case = "deep_product"\n[grid]\nscale = ' + b"[" * 600 + b"1" + b"]" * 600)
@example(raw=b'case = "deep_product"\n[grid]\nscale = ' + b"{a=" * 600 + b"1" + b"}" * 600)
@example(raw=b'case = "deep_product"\n[grid]\nscale = ' + b"[" * 30 + b"1" + b"]" * 30)
@example(raw=b"\xef\xbb\xbfcase = 'deep_product'\n")  # a UTF-8 byte order mark
@example(raw=b'case = "deep_product"\x00\n')
def test_no_bytes_crash_check(fuzz_dir, raw):
    path = fuzz_dir / "bytes.toml"
    path.write_bytes(raw)
    status, err = check(path, fuzz_dir)
    assert_clean(status, err, path, fuzz_dir)


@FUZZ
@given(text=st.text(max_size=300))
@example(text='case = "deep_product"\nname = "a\u0000b"\n')
@example(text='case = "softmax"\n[grid]\nimpl = "os:system"\n')
@example(text='case = "deep_product"\n[grid]\nx = [0, inf]\n')  # found by make fuzz
@example(text='case = "training"\n[grid]\nx = [nan]\nwidth = 1\n')
def test_no_text_crashes_check(fuzz_dir, text):
    path = fuzz_dir / "text.toml"
    path.write_text(text, encoding="utf-8")
    status, err = check(path, fuzz_dir)
    assert_clean(status, err, path, fuzz_dir)


def test_the_toml_writer_round_trips():
    """The fuzzer's TOML is what it means (so a refusal is the checker's, not the writer's)."""
    import tomllib

    doc = {"a": "x\u0001\"\\\u00e9\n", "b": [1, 2.5, True], "c": {"k": -0.0}, "d": Huge(1, 3)}
    parsed = tomllib.loads(toml_document(doc))
    assert parsed == {"a": "x\u0001\"\\\u00e9\n", "b": [1, 2.5, True], "c": {"k": -0.0},
                      "d": [1, 1, 1]}


@pytest.mark.slow
@pytest.mark.parametrize("case_name", list(CASES))
@FUZZ
@given(data=st.data())
def test_configs_that_pass_check_run_cleanly(fuzz_dir, case_name, data):
    """`make fuzz` only: a config that passes check and is small by its estimate also runs
    to exit 0 or 2, with no traceback, and leaves complete results or none."""
    from fpstudy import config, estimate

    doc = data.draw(documents(case_name))
    path = fuzz_dir / f"run_{case_name}.toml"
    path.write_text(toml_document(doc), encoding="utf-8")
    status, err = check(path, fuzz_dir)
    assert_clean(status, err, path, fuzz_dir)
    if status != 0:
        return
    est = estimate.estimate(config.load(path))
    if est.format_ops + est.truth_ops > 200_000 or est.records > 20_000:
        return  # the fuzzer is for odd inputs, not long runs
    res = fuzz_dir / "run_res"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(["run", str(path), "--results", str(res), "--point-timeout", "20"])
    err = err.getvalue()
    assert status in (0, 2), err
    assert "Traceback" not in err and "internal error" not in err, err
    assert not [p for p in res.rglob(".*")] if res.exists() else True
