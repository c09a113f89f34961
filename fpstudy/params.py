"""Case parameters: each declares its type, default and allowed values, and checks a value.

A case module's ``PARAMS`` maps a name to a `Param`. Its kind is a key of `KINDS`, one table
from kind to its description and its validator (a new kind is one entry there). `Param.check`
returns the normalised value or raises ParamError with a message that says what is allowed;
the config loader adds the file and the key.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from numbers import Integral, Real
from typing import Any

import numpy as np

from .errors import ParamError
from .formats import FORMATS

REQUIRED = object()


class Number(float):
    """A config number: a float64 for everything that computes with it, and `exact`, the
    decimal as written in the config (a Fraction), for the one rounding to each format.

    TOML numbers are parsed exactly (as Decimal), so ``scale = 1.000488281250000001`` rounds
    to float16's 1.0009765625 and not, through float64's 1.00048828125 (a tie), to 1.0.

    >>> v = Number(Decimal("0.1"))
    >>> v == 0.1, v.exact == Fraction(1, 10), v.exact == Fraction(0.1)
    (True, True, False)
    """

    def __new__(cls, value):
        self = super().__new__(cls, float(value))  # float(Decimal) rounds correctly
        self.exact = value.exact if isinstance(value, Number) else Fraction(value)
        return self

    def __reduce__(self):
        return Number, (self.exact,)

    def __repr__(self) -> str:
        return float.__repr__(self)


def in_format(value, fmt) -> list:
    """A number or vector parameter rounded once to `fmt` from its exact value, as exact mpf
    numbers (a list; one element for a number) — what the format received."""
    from .arith import round_array  # arith -> exact -> formats; params is imported first
    from .exact import to_mpf_list
    return to_mpf_list(round_array(exact_array(value), fmt))


def exact_array(value) -> np.ndarray:
    """A parameter value that enters a computation as an input, as an array to round to each
    format: float64 where every number is a float64 exactly (the usual case), otherwise an
    object array of the exact rationals, which `round_array` rounds once, exactly."""
    values = value if isinstance(value, tuple) else (value,)
    shape = (len(values),) if isinstance(value, tuple) else ()
    if all(getattr(v, "exact", v) == float(v) for v in values):
        return np.array([float(v) for v in values], dtype=np.float64).reshape(shape)
    out = np.empty(len(values), dtype=object)
    out[:] = [getattr(v, "exact", Fraction(float(v))) for v in values]
    return out.reshape(shape)


# "package.module:function" (the module path dotted, the function a plain name)
_FUNCTION_SPEC = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Param:
    """One case parameter.

    kind: a key of KINDS (float, int, choice, vector, accumulate, names, impl), which says what is
    allowed and how a value is checked. low/high bound a number (inclusive unless
    low_open/high_open); choices are the names a choice, vector or impl allows. truth=False
    marks a parameter the exact result does not depend on (an implementation, the
    accumulation), so one truth serves every value of it.
    """

    kind: str
    default: Any = REQUIRED
    help: str = ""
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    truth: bool = True

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown parameter kind {self.kind!r}; kinds: {', '.join(KINDS)}")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def spec(self) -> Kind:
        return KINDS[self.kind]

    def allowed(self) -> str:
        """What is allowed, in words (for messages and `fpstudy list`)."""
        return self.spec.describe(self)

    def check(self, value):
        """The value, normalised (ints for int, floats for float, tuples for vectors), or
        ParamError saying what is allowed."""
        return self.spec.check(self, value)

    def is_sweep_list(self, raw) -> bool:
        """Whether a TOML list is several values of this parameter rather than one value."""
        return not self.spec.list_is_one_value or all(isinstance(v, list | str) for v in raw)


# --------------------------------------------------------------------------- the kinds

@dataclass(frozen=True)
class Kind:
    """A parameter kind: what it allows (in words) and how it checks a value.

    range_of: "int" or "float" when a grid range table ({start, stop, step | num}) makes
    values of this kind, None when a range is not allowed. list_is_one_value: a TOML list of
    numbers is one value (a vector), a list of lists a sweep.
    """

    describe: Callable[[Param], str]
    check: Callable[[Param, Any], Any]
    range_of: str | None = None
    list_is_one_value: bool = False


def _not_allowed(param: Param, value):
    return ParamError("", f"{shown(value)} is not allowed; choose {param.allowed()}")


def _bounds(param: Param, noun: str) -> str:
    bounds = []
    if param.low is not None:
        bounds.append(f"{'>' if param.low_open else '>='} {_num(param.low)}")
    if param.high is not None:
        bounds.append(f"{'<' if param.high_open else '<='} {_num(param.high)}")
    return noun + (" " + " and ".join(bounds) if bounds else "")


def _in_range(param: Param, value):
    low, high = param.low, param.high
    if (low is not None and (value <= low if param.low_open else value < low)) or \
            (high is not None and (value >= high if param.high_open else value > high)):
        raise ParamError("", f"{_num(value)} is out of range; expected {param.allowed()}")
    return value


def check_float(param: Param, value) -> Number:
    if not _is_number(value) or not math.isfinite(float(value)):
        raise ParamError("", f"{shown(value)} is not a finite number; expected {param.allowed()}")
    return _in_range(param, Number(value))


def check_int(param: Param, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ParamError("", f"{shown(value)} is not an integer; expected {param.allowed()}")
    return _in_range(param, int(value))


def check_choice(param: Param, value) -> str:
    if isinstance(value, str) and value in param.choices:
        return value
    raise _not_allowed(param, value)


def check_vector(param: Param, value):
    if isinstance(value, str):
        return check_choice(param, value)
    if isinstance(value, list | tuple) and value and all(_is_number(v) for v in value):
        if not all(math.isfinite(float(v)) for v in value):  # before Number: inf has no ratio
            raise ParamError("", "vector entries must be finite numbers")
        return tuple(Number(v) for v in value)
    raise _not_allowed(param, value)


def check_accumulate(param: Param, value) -> str:
    if value == "format" or (isinstance(value, str) and value in FORMATS):
        return value
    raise _not_allowed(param, value)


def check_impl(param: Param, value) -> str:
    if isinstance(value, str) and value in param.choices:
        return value
    if isinstance(value, str) and _FUNCTION_SPEC.match(value):
        load_function(value)  # fails now, at config time, rather than mid-run
        return value
    raise _not_allowed(param, value)


def check_names(param: Param, value) -> str:
    """One of `choices`, or several comma-separated ("relu,tanh,identity"), normalised."""
    if isinstance(value, str):
        names = [n.strip() for n in value.split(",")]
        for name in names:
            if name not in param.choices:
                raise ParamError("", f"{name!r} is not allowed; choose {param.allowed()}")
        return ",".join(names)
    raise _not_allowed(param, value)


def _describe_vector(param: Param) -> str:
    words = " or ".join(f'"{c}"' for c in param.choices)
    return f"{words} or a list of numbers" if words else "a list of numbers"


KINDS: dict[str, Kind] = {
    "float": Kind(lambda p: _bounds(p, "a finite number"), check_float, range_of="float"),
    "int": Kind(lambda p: _bounds(p, "an integer"), check_int, range_of="int"),
    "choice": Kind(lambda p: "one of " + ", ".join(p.choices), check_choice),
    "vector": Kind(_describe_vector, check_vector, list_is_one_value=True),
    "accumulate": Kind(lambda p: '"format" or a wider format: ' + ", ".join(FORMATS),
                       check_accumulate),
    "names": Kind(lambda p: "one of " + ", ".join(p.choices) + ", or several comma-separated",
                  check_names),
    "impl": Kind(lambda p: ("one of " + ", ".join(p.choices)
                            + ', or "package.module:function" (a function of a numpy array)'),
                 check_impl),
}


def load_function(spec: str):
    """The function a "package.module:function" string names, imported now.

    The module is looked up on sys.path and, like ``python -m`` does, in the current
    directory. Anything that stops the import (no such module, an error while importing it, no
    such attribute, not callable) is a ParamError naming the string and the reason.
    """
    module_name, _, attr = spec.partition(":")
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.append(cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ParamError("", f"{spec!r}: cannot import module {module_name!r} ({e}); "
                             "it must be on sys.path or in the current directory") from None
    except Exception as e:  # the user's module failed while being imported
        raise ParamError("", f"{spec!r}: importing {module_name!r} raised "
                             f"{type(e).__name__}: {e}") from None
    finally:
        if added:
            sys.path.remove(cwd)
    func = getattr(module, attr, None)
    if func is None:
        raise ParamError("", f"{spec!r}: module {module_name!r} has no attribute {attr!r}")
    if not callable(func):
        raise ParamError("", f"{spec!r}: {module_name}.{attr} is not a function")
    return func


def _is_number(v) -> bool:
    return isinstance(v, Real | Decimal) and not isinstance(v, bool)


def shown(v) -> str:
    """A config value as the user wrote it (a TOML float is a Decimal here)."""
    return str(v) if isinstance(v, Decimal) else repr(v)


def _num(v) -> str:
    return f"{v:g}" if isinstance(v, float | Decimal) else str(v)


def column_value(value):
    """A parameter value as a records column holds it (vectors as compact text)."""
    if isinstance(value, tuple):
        return "[" + ", ".join(f"{v:g}" for v in value) + "]"
    return float(value) if isinstance(value, Number) else value
