"""fpstudy.params on what its mutants showed untested: loading a "module:function" spec and its
messages, vectors, names, records columns, and the exact array of a parameter.

Expected values come from the parameter's definition: a decimal as written is its Fraction
(0.1 = 1/10), a float64 its own exact value.
"""

from __future__ import annotations

import math
import sys
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from fpstudy.errors import ParamError
from fpstudy.params import (
    Number,
    Param,
    column_value,
    exact_array,
    load_function,
)


def message(excinfo) -> str:
    return excinfo.value.message


# -- load_function -----------------------------------------------------------------------------

def test_load_function_returns_the_function():
    assert load_function("math:sqrt") is math.sqrt
    assert load_function("os.path:join") is __import__("os").path.join


def test_load_function_messages():
    with pytest.raises(ParamError) as e:
        load_function("no_such_module_xyz:f")
    assert message(e).startswith("'no_such_module_xyz:f': cannot import module "
                                 "'no_such_module_xyz' (")
    assert message(e).endswith("); it must be on sys.path or in the current directory")
    with pytest.raises(ParamError) as e:
        load_function("math:no_such_function")
    assert message(e) == "'math:no_such_function': module 'math' has no attribute " \
                         "'no_such_function'"
    with pytest.raises(ParamError) as e:
        load_function("math:pi")
    assert message(e) == "'math:pi': math.pi is not a function"


def test_load_function_from_the_current_directory(tmp_path, monkeypatch):
    """A module in the current directory loads (as with python -m) though the directory is
    not on sys.path; sys.path is left as it was. One that raises while imported is named with
    its exception."""
    (tmp_path / "fpstudy_mut_good.py").write_text("def f(x):\n    return x\n")
    (tmp_path / "fpstudy_mut_bad.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.chdir(tmp_path)
    before = list(sys.path)
    assert load_function("fpstudy_mut_good:f")(3) == 3
    assert sys.path == before
    with pytest.raises(ParamError) as e:
        load_function("fpstudy_mut_bad:f")
    assert message(e) == "'fpstudy_mut_bad:f': importing 'fpstudy_mut_bad' raised " \
                         "RuntimeError: boom"
    assert sys.path == before
    sys.modules.pop("fpstudy_mut_good", None)


def test_load_function_keeps_sys_path_when_cwd_is_on_it(tmp_path, monkeypatch):
    (tmp_path / "fpstudy_mut_here.py").write_text("def g():\n    return 7\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path)] + [p for p in sys.path if p != ""])
    before = list(sys.path)
    assert load_function("fpstudy_mut_here:g")() == 7
    assert sys.path == before
    sys.modules.pop("fpstudy_mut_here", None)


def test_impl_accepts_a_function_spec_and_refuses_a_broken_one():
    p = Param("impl", default="naive", choices=("naive", "max_shift"))
    assert p.check("naive") == "naive"
    assert p.check("math:exp") == "math:exp"
    with pytest.raises(ParamError, match="cannot import module"):
        p.check("no_such_module_xyz:f")
    with pytest.raises(ParamError) as e:
        p.check("not a spec")
    assert message(e) == "'not a spec' is not allowed; choose one of naive, max_shift, or " \
                         '"package.module:function" (a function of a numpy array)'


# -- vectors, names ----------------------------------------------------------------------------

def test_vector_kind():
    p = Param("vector", default="ones", choices=("ones", "random"))
    assert p.allowed() == '"ones" or "random" or a list of numbers'
    assert Param("vector", default=(1.0,)).allowed() == "a list of numbers"
    assert p.check("random") == "random"
    got = p.check([Decimal("0.1"), 2, Decimal("-3.5")])
    assert got == (0.1, 2.0, -3.5) and all(isinstance(v, Number) for v in got)
    assert [v.exact for v in got] == [Fraction(1, 10), Fraction(2), Fraction(-7, 2)]
    for bad in ([], [1, "a"], [True], "zeros", 3):
        with pytest.raises(ParamError) as e:
            p.check(bad)
        assert message(e).endswith('is not allowed; choose "ones" or "random" or a list of '
                                   "numbers")
    with pytest.raises(ParamError) as e:
        p.check([1.0, float("inf")])
    assert message(e) == "vector entries must be finite numbers"
    assert p.is_sweep_list([[1, 2], [3]]) and not p.is_sweep_list([1, 2])


def test_names_kind():
    p = Param("names", default="relu", choices=("relu", "tanh", "identity"))
    assert p.allowed() == "one of relu, tanh, identity, or several comma-separated"
    assert p.check("relu") == "relu"
    assert p.check(" tanh ,identity,relu ") == "tanh,identity,relu"
    with pytest.raises(ParamError) as e:
        p.check("relu,sigmoid")
    assert message(e) == "'sigmoid' is not allowed; choose one of relu, tanh, identity, or " \
                         "several comma-separated"
    with pytest.raises(ParamError) as e:
        p.check(3)
    assert message(e).startswith("3 is not allowed; choose one of relu")


# -- records columns and exact arrays ----------------------------------------------------------

def test_column_value():
    assert column_value((Number(Decimal("0.5")), Number(Decimal("1e-5")), Number(3))) == \
        "[0.5, 1e-05, 3]"
    v = column_value(Number(Decimal("0.1")))
    assert v == 0.1 and type(v) is float
    assert column_value(7) == 7 and column_value("naive") == "naive"


def test_exact_array_float64_when_every_number_is_a_float64():
    a = exact_array(Number(Decimal("0.5")))
    assert a.dtype == np.float64 and a.shape == () and a == 0.5
    v = exact_array((Number(Decimal("0.25")), Number(3), 1.5))
    assert v.dtype == np.float64 and v.shape == (3,) and v.tolist() == [0.25, 3.0, 1.5]


def test_exact_array_keeps_decimals_float64_cannot_hold():
    a = exact_array(Number(Decimal("0.1")))
    assert a.dtype == object and a.shape == () and a[()] == Fraction(1, 10)
    v = exact_array((Number(Decimal("0.1")), 0.5, Number(Decimal("1.000488281250000001"))))
    assert v.dtype == object and v.shape == (3,)
    assert list(v) == [Fraction(1, 10), Fraction(1, 2), Fraction("1.000488281250000001")]


# -- words and keys of the messages --------------------------------------------------------------

def test_bounds_in_words():
    assert Param("float", default=0.5, low=0, high=1, high_open=True).allowed() == \
        "a finite number >= 0 and < 1"
    assert Param("float", default=0.5).allowed() == "a finite number"
    assert Param("int", default=1, low=0, high=10 ** 7).allowed() == \
        "an integer >= 0 and <= 10000000"


def test_open_upper_bound_refuses_the_bound():
    p = Param("float", default=0.5, low=0, high=1, high_open=True)
    assert p.check(Decimal("0.999")) == 0.999
    with pytest.raises(ParamError) as e:
        p.check(Decimal("1"))
    assert message(e) == "1 is out of range; expected a finite number >= 0 and < 1"


def test_vector_refusal_names_the_value():
    p = Param("vector", default="ones", choices=("ones",))
    with pytest.raises(ParamError) as e:
        p.check([])
    assert message(e) == '[] is not allowed; choose "ones" or a list of numbers'


@pytest.mark.parametrize("param, value", [
    (Param("float", default=0.5, low=0, high=1), Decimal("2")),
    (Param("float", default=0.5), "x"),
    (Param("int", default=1), 1.5),
    (Param("choice", default="a", choices=("a",)), "b"),
    (Param("names", default="a", choices=("a",)), "a,b"),
    (Param("vector", default="ones", choices=("ones",)), [1, float("nan")]),
    (Param("vector", default="ones", choices=("ones",)), "twos"),
    (Param("impl", default="a", choices=("a",)), "no_such_module_xyz:f"),
    (Param("impl", default="a", choices=("a",)), "math:no_such_function"),
    (Param("impl", default="a", choices=("a",)), "math:pi"),
])
def test_check_errors_leave_the_key_to_the_config_loader(param, value):
    """Param.check raises ParamError with an empty key: the loader adds file and key."""
    with pytest.raises(ParamError) as e:
        param.check(value)
    assert e.value.key == ""


def test_import_error_leaves_the_key_to_the_config_loader(tmp_path, monkeypatch):
    (tmp_path / "fpstudy_mut_bad2.py").write_text("raise ValueError('no')\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParamError) as e:
        load_function("fpstudy_mut_bad2:f")
    assert e.value.key == ""


def test_in_format_rounds_the_exact_decimal_once():
    """0.1 in float16: 0.1 * 2**14 = 1638.4, so 1638 / 2**14; 1.000488281250000001 is just
    past the tie between 1 and 1 + 2**-10, so 1 + 2**-10 (through float64 it would be the
    tie itself, and 1)."""
    import mpmath

    from fpstudy.formats import FORMATS
    from fpstudy.params import in_format
    f16 = FORMATS["float16"]
    assert in_format(Number(Decimal("0.1")), f16) == [mpmath.mpf(1638) / 2 ** 14]
    assert in_format((Number(Decimal("1.000488281250000001")), Number(Decimal("-2"))), f16) \
        == [1 + mpmath.mpf(2) ** -10, mpmath.mpf(-2)]
