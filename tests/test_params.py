"""Parameter kinds: one table from kind to its description and validator."""

import pytest

from fpstudy.cases import CASES
from fpstudy.errors import ParamError
from fpstudy.params import KINDS, Param

# per kind: a Param of it, a value it accepts (and its normal form), a value it refuses
EXAMPLES = {
    "float": (Param("float", low=0.0, low_open=True), 2, 2.0, 0.0),
    "int": (Param("int", low=1, high=3), 3, 3, 2.5),
    "choice": (Param("choice", choices=("a", "b")), "b", "b", "c"),
    "vector": (Param("vector", choices=("ones",)), [1, 2], (1.0, 2.0), [1, float("inf")]),
    "accumulate": (Param("accumulate"), "float32", "float32", "float99"),
    "names": (Param("names", choices=("relu", "tanh")), "relu, tanh", "relu,tanh", "relu,gelu"),
    "impl": (Param("impl", choices=("naive",)), "naive", "naive", "not a spec"),
}


def test_every_kind_has_an_example():
    assert set(EXAMPLES) == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_describes_itself_and_checks_a_value(kind):
    param, good, normal, bad = EXAMPLES[kind]
    assert param.allowed() == KINDS[kind].describe(param) and param.allowed()
    assert param.check(good) == normal and isinstance(param.check(good), type(normal))
    with pytest.raises(ParamError):
        param.check(bad)


def test_a_float_keeps_its_exact_decimal():
    from decimal import Decimal
    from fractions import Fraction

    value = Param("float").check(Decimal("0.1"))
    assert value == 0.1 and value.exact == Fraction(1, 10)


def test_number_bounds_in_words():
    assert Param("float", low=0.0, low_open=True).allowed() == "a finite number > 0"
    assert Param("int", low=1, high=3).allowed() == "an integer >= 1 and <= 3"


def test_an_unknown_kind_is_refused_when_the_case_is_defined():
    with pytest.raises(ValueError, match="unknown parameter kind 'str'"):
        Param("str")


@pytest.mark.parametrize("name", CASES)
def test_every_case_default_passes_its_own_check(name):
    for pname, param in CASES[name].PARAMS.items():
        if not param.required:
            assert param.check(param.default) is not None, pname
