"""The case registry: every module in this package that defines NAME is a case.

Adding a case is adding one file. A case module defines:

    NAME: str                      the config's `case`
    DESCRIPTION: str               one paragraph: what is computed, what to look for
    SWEEP: str                     the sweep axis column (depth, layer, step, c, z, ...)
    QUANTITIES: tuple[str, ...]    what is measured (output, grad, softmax, ...)
    PARAMS: dict[str, Param]       name -> type, default, allowed values (fpstudy.params)

    inputs(p, rng) -> dict[str, ndarray]
        the case's inputs in float64, before rounding to any format; every random draw
        comes from `rng` (seeded from the config's seed). A config number that is itself
        an input goes in as `params.exact_array(p[name])`, so its decimal is rounded once
        to each format.
    compute(p, inputs, ar, emit) -> None
        the computation in the format: round inputs with ar.asarray, do every operation
        through `ar` (fpstudy.arith.Arith), and call emit(quantity, sweep_value, array)
        for each measured result.
    truth(p, exact, ex) -> dict[(quantity, sweep_value), list[enclosure]]
        the same computation with the enclosure engine `ex` (fpstudy.enclosure: + - * /
        on enclosures, ex.exp, ex.log, ex.tanh, ex.sum, ex.dot, ex.matvec, ex.max, and
        ex.sign for a branch, which raises the precision rather than guess), on `exact`
        (the inputs rounded to the format, as object arrays of exact point enclosures);
        keys match what compute emits. fpstudy.truth.settle raises the engine's precision
        until every returned enclosure is proven narrow (see fpstudy.truth).

and optionally

    validate(p)                    raise ParamError(key, message) for a bad combination
    predict(p, fmt) -> {quantity: {outcome: first sweep value or None}}
                                   closed-form thresholds from the format's limits
    ignores(p) -> set[str]         parameters that do not apply at this point; the point runs
                                   once, with them at their first grid value
    estimate(p) -> dict            the point's size for fpstudy.estimate: inputs, outputs,
                                   records, format_ops, truth_ops (see there)
    INPUT_LABELS: dict[str, str]    what to call an input in messages (softmax: x -> "logits")
    DATA: dict[str, DataSpec]      the [data] inputs it reads from files (fpstudy.data); such a
                                   case's inputs take a third argument, inputs(p, rng, data),
                                   the checked float64 arrays by input name ({} without data)
    with_data(grid, given, data)   fit the grid to the files (sizes, one `sample` per row) or
                                   raise ParamError("data.<name>" or "grid.<key>", message);
                                   called with data = {} too, to refuse "data" values
    EXTRA_COLUMNS: tuple[str, ...] more per-record columns (strings); compute passes them
                                   as keywords: emit(quantity, sweep, array, first_nonfinite=...)

If SWEEP is one of PARAMS, the sweep runs over the config grid (one emit per point);
otherwise compute produces every sweep value in one pass. A parameter named `impl` is
recorded in the `impl` column; one named `accumulate` selects the accumulation format.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from ..errors import UserError

REQUIRED_ATTRS = ("NAME", "DESCRIPTION", "SWEEP", "QUANTITIES", "PARAMS",
                  "inputs", "compute", "truth")


def discover(path, package: str, key: str) -> dict[str, ModuleType]:
    """Every module of a package (its __path__ and __name__) that defines `key`, by that value.

    Modules whose names start with '_' are helpers, not plug-ins.
    """
    found = {}
    for info in sorted(pkgutil.iter_modules(path), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        if hasattr(module, key):
            found[getattr(module, key)] = module
    return found


def _check(cases: dict[str, ModuleType]) -> dict[str, ModuleType]:
    for module in cases.values():
        missing = [a for a in REQUIRED_ATTRS if not hasattr(module, a)]
        if missing:
            raise ImportError(f"case module {module.__name__} lacks {', '.join(missing)}")
    return cases


CASES: dict[str, ModuleType] = _check(discover(__path__, __name__, "NAME"))


def get_case(name: str) -> ModuleType:
    try:
        return CASES[name]
    except KeyError:
        raise UserError(f"unknown case {name!r}; choose from {', '.join(CASES)}") from None


def impls(case: ModuleType) -> tuple[str, ...]:
    """The implementations a case offers (empty when it has one)."""
    param = case.PARAMS.get("impl")
    return tuple(param.choices) if param is not None else ()
