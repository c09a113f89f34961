"""Experiment configs: TOML in, a validated `Experiment` out, or one ConfigError.

Validation is eager and complete before anything runs or is written: unknown keys, cases,
formats, wrong types and out-of-range values are reported with the file, the key (e.g.
``grid.scale[2]``) and what is allowed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import ModuleType

import numpy as np

from . import formats as formats_module
from .arith import MATHS
from .cases import CASES, get_case
from .errors import ConfigError, ParamError, UserError
from .formats import FORMATS, HEADLINE
from .params import shown
from .rounding import NEAREST, RULE_AXES, Rule
from .truth import (
    DEFAULT_ENGINE,
    DEFAULT_MAX_PRECISION,
    DEFAULT_START_PRECISION,
    ENGINES,
    engine_available,
    engine_missing,
)

TOP_KEYS = ("name", "case", "description", "dtypes", "seed", "truth", "arith", "formats", "grid",
            "data")
USER_FORMAT_KEYS = ("precision", "emax", "emin", "inf", "nan", "subnormals")
TRUTH_KEYS = ("precision", "max_precision", "engine")
ARITH_KEYS = ("math", "rounding", "subnormals", "overflow", "trials")
MAX_TRIALS = 100_000
RANGE_KEYS = {"start", "stop", "step", "num", "log"}
MAX_GRID_VALUES = 1_000_000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class Experiment:
    """A validated experiment: everything needed to run it, nothing left to check."""

    path: Path
    name: str
    case: ModuleType
    description: str
    dtypes: list[str]
    seed: int
    truth_precision: int
    max_precision: int
    grid: dict[str, list]  # every case parameter -> its values (defaults as one value)
    given: list[str] = field(default_factory=list)  # parameters the config set
    math: str = "mpfr"  # who evaluates exp, log, ...: "mpfr" (correctly rounded) or "numpy"
    data: dict = field(default_factory=dict)  # [data] input name -> fpstudy.data.DataFile
    rule_axes: dict[str, list[str]] = field(
        default_factory=lambda: {k: [getattr(NEAREST, k)] for k in RULE_AXES})
    trials: int = 1  # repetitions of each point under a stochastic rule
    user_formats: dict[str, dict] = field(default_factory=dict)  # [formats.NAME], resolved
    truth_engine: str = DEFAULT_ENGINE  # [truth] engine: a name in fpstudy.truth.ENGINES

    @property
    def rules(self) -> list[Rule]:
        """Every rounding rule of the run: the product of [arith]'s rounding, subnormals and
        overflow, in config order."""
        return [Rule(*combo) for combo in itertools.product(
            *(self.rule_axes[k] for k in RULE_AXES))]

    @property
    def points(self) -> list[dict]:
        """The cartesian product of the grid, in config order, as parameter dicts.

        A case may say which parameters do not apply at a point (`ignores(p)`, e.g. the
        sigmoid's derivative formula for a relu chain); such a point is run once, with those
        parameters at their first grid value, instead of once per value.
        """
        names = list(self.grid)
        ignores = getattr(self.case, "ignores", None)
        out, seen = [], set()
        for combo in itertools.product(*(self.grid[n] for n in names)):
            point = dict(zip(names, combo, strict=True))
            if ignores is not None:
                point.update({k: self.grid[k][0] for k in ignores(point)})
                key = tuple(point.items())
                if key in seen:
                    continue
                seen.add(key)
            out.append(point)
        return out

    def runs(self) -> list[tuple[dict, str]]:
        """Every (point, dtype) that is computed: a point whose accumulate format is not
        wider than the dtype is left out (it would repeat the in-format run)."""
        return [(p, d) for p in self.points for d in self.dtypes if applies(p, d)]

    def resolved(self) -> dict:
        """The config as run, with defaults filled in (JSON-able; written to meta.json)."""
        return {
            "name": self.name,
            "case": self.case.NAME,
            "description": self.description,
            "dtypes": list(self.dtypes),
            "seed": self.seed,
            "truth": {"precision": self.truth_precision, "max_precision": self.max_precision,
                      "engine": self.truth_engine},
            "arith": {"math": self.math, **{k: list(v) for k, v in self.rule_axes.items()},
                      "trials": self.trials},
            **({"formats": self.user_formats} if self.user_formats else {}),
            "grid": {k: [list(v) if isinstance(v, tuple) else v for v in vs]
                     for k, vs in self.grid.items()},
            **({"data": {k: d.describe() for k, d in self.data.items()}} if self.data else {}),
        }

    def sha256(self) -> str:
        text = json.dumps(self.resolved(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def applies(point: dict, dtype: str) -> bool:
    """Whether (point, dtype) is a run: accumulate must be "format" or wider than dtype."""
    acc = point.get("accumulate", "format")
    return acc == "format" or FORMATS[acc].wider_than(FORMATS[dtype])


def load(path) -> Experiment:
    """Read and validate one config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UserError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        line = text_line(path, e.start)
        raise ConfigError(path, "", f"not UTF-8 text: byte 0x{e.object[e.start]:02x} at "
                                    f"line {line}; save the file as UTF-8") from None
    try:
        raw = tomllib.loads(text, parse_float=Decimal)  # exact: rounded once, to each format
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(path, "", f"not valid TOML: {e}") from None
    except RecursionError:  # tomllib recurses once per level of [[[...]]] or {a={...}}
        raise ConfigError(path, "", f"nested too deeply; a config nests at most "
                                    f"{MAX_NESTING} levels") from None
    key, depth = deepest(raw)
    if depth > MAX_NESTING:
        raise ConfigError(path, key, f"nested {depth} levels deep; a config nests at most "
                                     f"{MAX_NESTING} levels") from None
    return parse(raw, path)


MAX_NESTING = 8  # [grid] x = [[1, 2], [3, 4]] is 3; no config needs more than a few


def deepest(raw: dict) -> tuple[str, int]:
    """The key of the most deeply nested value and its depth (iteratively: no recursion)."""
    best = ("", 1)
    stack = [(raw, "", 1)]
    while stack:
        value, key, depth = stack.pop()
        if depth > best[1]:
            best = (key, depth)
        if depth > MAX_NESTING:
            continue  # deep enough to refuse; no need to walk further
        if isinstance(value, dict):
            stack.extend((v, f"{key}.{k}" if key else str(k), depth + 1)
                         for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{key}[{i}]", depth + 1) for i, v in enumerate(value))
    return best


def text_line(path: Path, offset: int) -> int:
    """The 1-based line of a byte offset in the file (for messages)."""
    try:
        return path.read_bytes()[:offset].count(b"\n") + 1
    except OSError:
        return 0


def parse(raw: dict, path: Path) -> Experiment:
    """Validate a parsed config (path is used for messages and the default name)."""
    def fail(key, message):
        raise ConfigError(path, key, message)

    for key in raw:
        if key not in TOP_KEYS:
            fail(key, f"unknown key; allowed: {', '.join(TOP_KEYS)}")
    if "case" not in raw:
        fail("case", f"missing; choose from {', '.join(CASES)}")
    if not isinstance(raw["case"], str) or raw["case"] not in CASES:
        fail("case", f"{shown(raw['case'])} is not a case; choose from {', '.join(CASES)}")
    case = get_case(raw["case"])

    name = raw.get("name", Path(path).stem)
    if not isinstance(name, str) or not _NAME.match(name):
        fail("name", f"{shown(name)} is not allowed; use letters, digits, '_', '.', '-'")
    description = raw.get("description", case.DESCRIPTION)
    if not isinstance(description, str):
        fail("description", "must be a string")

    user_formats = _user_formats(raw.get("formats", {}), fail)

    dtypes = raw.get("dtypes", list(HEADLINE))
    if not isinstance(dtypes, list) or not dtypes:
        fail("dtypes", f"must be a non-empty list of formats from {', '.join(FORMATS)}")
    for i, d in enumerate(dtypes):
        if not isinstance(d, str) or d not in FORMATS:
            fail(f"dtypes[{i}]", f"{shown(d)} is not a format; choose from {', '.join(FORMATS)}")
    for i, d in enumerate(dtypes):
        if not FORMATS[d].computable:
            fail(f"dtypes[{i}]", f"{d} cannot be computed in ({FORMATS[d].note}); "
                                 "`fpstudy formats` lists its limits")
    if len(set(dtypes)) != len(dtypes):
        fail("dtypes", "lists a format twice")

    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        fail("seed", f"{shown(seed)} is not allowed; expected an integer >= 0")

    truth = raw.get("truth", {})
    if not isinstance(truth, dict):
        fail("truth", f"must be a table with keys {', '.join(TRUTH_KEYS)}")
    for key in truth:
        if key not in TRUTH_KEYS:
            fail(f"truth.{key}", f"unknown key; allowed: {', '.join(TRUTH_KEYS)}")
    start = truth.get("precision", DEFAULT_START_PRECISION)
    cap = truth.get("max_precision", DEFAULT_MAX_PRECISION)
    for key, v in (("precision", start), ("max_precision", cap)):
        if isinstance(v, bool) or not isinstance(v, int) or not 8 <= v <= 1_000_000:
            fail(f"truth.{key}",
                 f"{shown(v)} is not allowed; expected an integer from 8 to 1000000")
    if cap < start:
        fail("truth.max_precision", f"{cap} is below truth.precision = {start}")
    engine = truth.get("engine", DEFAULT_ENGINE)
    if not isinstance(engine, str) or engine not in ENGINES:
        fail("truth.engine", f"{shown(engine)} is not an engine; choose from {', '.join(ENGINES)}")
    if not engine_available(engine):
        fail("truth.engine", engine_missing(engine))

    arith = raw.get("arith", {})
    if not isinstance(arith, dict):
        fail("arith", f"must be a table with keys {', '.join(ARITH_KEYS)}")
    for key in arith:
        if key not in ARITH_KEYS:
            fail(f"arith.{key}", f"unknown key; allowed: {', '.join(ARITH_KEYS)}")
    math_by = arith.get("math", "mpfr")
    if math_by not in MATHS:
        fail("arith.math", f"{shown(math_by)} is not allowed; choose {' or '.join(MATHS)} "
                           "(mpfr: correctly rounded, the same on every machine; numpy: the "
                           "platform's own functions)")

    rule_axes = {}
    for key, allowed in RULE_AXES.items():
        value = arith.get(key, getattr(NEAREST, key))
        values = value if isinstance(value, list) else [value]
        if not values:
            fail(f"arith.{key}", f"empty list; choose from {', '.join(allowed)}")
        for i, v in enumerate(values):
            if v not in allowed:
                where = f"arith.{key}[{i}]" if isinstance(value, list) else f"arith.{key}"
                fail(where, f"{shown(v)} is not allowed; choose from {', '.join(allowed)} "
                            "(or a list of them, to compare)")
        if len(set(values)) != len(values):
            fail(f"arith.{key}", "repeats a value")
        rule_axes[key] = values
    if math_by == "numpy" and any(v != getattr(NEAREST, k) for k, vs in rule_axes.items()
                                  for v in vs):
        fail("arith.math", '"numpy" measures the platform\'s own functions, which round to '
                           'nearest with gradual underflow; use math = "mpfr" with a '
                           "rounding rule (it applies the rule to every function)")
    trials = arith.get("trials", 1)
    if isinstance(trials, bool) or not isinstance(trials, int) or not 1 <= trials <= MAX_TRIALS:
        fail("arith.trials", f"{shown(trials)} is not allowed; expected an integer from 1 to "
                             f"{MAX_TRIALS} (repetitions of a stochastic rounding)")
    if trials > 1 and "stochastic" not in rule_axes["rounding"]:
        fail("arith.trials", f"{trials} trials repeat a stochastic rounding, but "
                             "arith.rounding has no \"stochastic\" (the others are deterministic)")

    grid_raw = raw.get("grid", {})
    if not isinstance(grid_raw, dict):
        fail("grid", "must be a table of case parameters")
    grid: dict[str, list] = {}
    for key in grid_raw:
        if key not in case.PARAMS:
            fail(f"grid.{key}", f"not a parameter of case {case.NAME}; "
                                f"allowed: {', '.join(case.PARAMS)}")
    for pname, param in case.PARAMS.items():
        if pname in grid_raw:
            grid[pname] = _expand(param, grid_raw[pname], f"grid.{pname}", fail)
        elif param.required:
            fail(f"grid.{pname}", f"missing; expected {param.allowed()}")
        else:
            grid[pname] = [param.check(param.default)]

    given = [k for k in case.PARAMS if k in grid_raw]
    data = _data(raw.get("data"), case, grid, given, path, fail)
    total = math.prod(len(v) for v in grid.values())
    if total > MAX_GRID_VALUES:
        fail("grid", f"{total} points is more than {MAX_GRID_VALUES}; narrow a range")
    exp = Experiment(path=Path(path), name=name, case=case, description=description.strip(),
                     dtypes=dtypes, seed=seed, truth_precision=start, max_precision=cap,
                     grid=grid, given=given, math=math_by, data=data, rule_axes=rule_axes,
                     trials=trials, user_formats=user_formats, truth_engine=engine)
    validate = getattr(case, "validate", None)
    if validate is not None:
        for point in exp.points:
            try:
                validate(point)
            except ParamError as e:
                fail(f"grid.{e.key}", f"{e.message} (at {_describe(point, exp.given)})")
    if "accumulate" in grid:
        for i, acc in enumerate(grid["accumulate"]):
            if acc != "format" and not any(applies({"accumulate": acc}, d) for d in dtypes):
                fail(f"grid.accumulate[{i}]",
                     f"{acc!r} is not wider than any of the dtypes ({', '.join(dtypes)}); "
                     'use "format" or a wider format')
    return exp


def _user_formats(table, fail) -> dict[str, dict]:
    """[formats.NAME] tables: each checked, built and registered (so every format name in the
    config, dtypes and accumulate included, may use it). Returns name -> resolved spec."""
    if not isinstance(table, dict):
        fail("formats", "must be a table of formats: [formats.NAME] precision = ..., emax = ...")
    out = {}
    for name, spec in table.items():
        key = f"formats.{name}"
        if not _NAME.match(name):
            fail(key, "a format name uses letters, digits, '_', '.', '-'")
        if name in FORMATS and FORMATS[name].encoding is not None:
            fail(key, f"{name} is a built-in format; give yours another name")
        if not isinstance(spec, dict):
            fail(key, f"must be a table with keys {', '.join(USER_FORMAT_KEYS)}")
        for k in spec:
            if k not in USER_FORMAT_KEYS:
                fail(f"{key}.{k}", f"unknown key; allowed: {', '.join(USER_FORMAT_KEYS)}")
        for k in ("precision", "emax"):
            if k not in spec:
                fail(f"{key}.{k}", "missing; a format needs precision and emax")
        lo, hi = formats_module.USER_PRECISION
        limit = formats_module.USER_EXPONENT
        checks = {"precision": (lo, hi), "emax": (1, limit), "emin": (-limit, 0)}
        for k, (low, high) in checks.items():
            v = spec.get(k, 0 if k == "emin" else None)
            if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
                fail(f"{key}.{k}", f"{shown(v)} is not allowed; expected an integer from "
                                   f"{low} to {high}")
        for k in ("inf", "nan", "subnormals"):
            if not isinstance(spec.get(k, True), bool):
                fail(f"{key}.{k}", f"{shown(spec[k])} is not allowed; expected true or false")
        resolved = {"precision": spec["precision"], "emax": spec["emax"],
                    "emin": spec.get("emin", 1 - spec["emax"]),
                    **{k: spec.get(k, True) for k in ("inf", "nan", "subnormals")}}
        try:
            formats_module.register(formats_module.user_format(name, **resolved))
        except UserError as e:
            fail(key, str(e))
        out[name] = resolved
    return out


def _data(table, case, grid: dict, given: list[str], path: Path, fail) -> dict:
    """The `[data]` table: each file read and checked (fpstudy.data), then the case fits its
    grid to them (`case.with_data`: the number of samples, sizes the files fix). A case without
    DATA takes no [data] table."""
    from . import data as datafiles

    specs = getattr(case, "DATA", {})
    if table is None:
        table = {}
    if not isinstance(table, dict):
        fail("data", "must be a table of input = \"file\"")
    if table and not specs:
        fail("data", f"case {case.NAME} reads no data files")
    for key in table:
        if key not in specs:
            fail(f"data.{key}", f"not a data input of case {case.NAME}; "
                                f"allowed: {', '.join(specs)}")
    loaded = {k: datafiles.load(k, table[k], path, specs[k]) for k in specs if k in table}
    with_data = getattr(case, "with_data", None)
    if with_data is not None:
        try:
            with_data(grid, given, {k: d.value for k, d in loaded.items()})
        except ParamError as e:
            fail(e.key, e.message)
    return loaded


def _describe(point: dict, keys: list[str]) -> str:
    return ", ".join(f"{k} = {point[k]!r}" for k in keys) or "the defaults"


def _expand(param, raw, key: str, fail) -> list:
    """The values of one grid entry: a scalar, a list, or a range table."""
    indexed = False  # whether an error names an element, grid.scale[2]
    if isinstance(raw, dict):
        values = _range(param, raw, key, fail)
    elif isinstance(raw, list) and param.is_sweep_list(raw):
        if not raw:
            fail(key, f"empty list; expected {param.allowed()}")
        values, indexed = raw, True
    else:
        values = [raw]
    out = []
    for i, v in enumerate(values):
        try:
            out.append(param.check(v))
        except ParamError as e:
            fail(f"{key}[{i}]" if indexed else key, e.message)
    if len({getattr(v, "exact", v) for v in out}) != len(out):
        fail(key, "repeats a value")
    return out


def _range(param, raw: dict, key: str, fail) -> list:
    integer = param.spec.range_of == "int"
    if param.spec.range_of is None:
        fail(key, f"a range is only allowed for numbers; expected {param.allowed()}")
    for k in raw:
        if k not in RANGE_KEYS:
            fail(f"{key}.{k}", "unknown range key; a range is {start, stop, step} "
                               "or {start, stop, num, log}")
    if "start" not in raw or "stop" not in raw or ("step" in raw) == ("num" in raw):
        fail(key, "a range needs start, stop and exactly one of step or num")
    for k in ("start", "stop", "step"):
        if k in raw and (isinstance(raw[k], bool) or not isinstance(raw[k], int | Decimal)
                         or not math.isfinite(raw[k])):
            fail(f"{key}.{k}", f"{shown(raw[k])} is not a finite number")
    start, stop = raw["start"], raw["stop"]
    log = raw.get("log", False)
    if not isinstance(log, bool):
        fail(f"{key}.log", f"{shown(log)} is not allowed; expected true or false")
    if "step" in raw:
        step = raw["step"]
        if log:
            fail(f"{key}.log", "log = true goes with num, not step")
        if step <= 0:
            fail(f"{key}.step", f"{shown(step)} is not allowed; expected a number > 0")
        if stop < start:
            fail(f"{key}.stop", f"{shown(stop)} is below start = {shown(start)}")
        # exact decimal arithmetic: 0.1-steps neither drift nor miss the stop
        first, last, by = (Fraction(raw[k]) for k in ("start", "stop", "step"))
        count = math.floor((last - first) / by) + 1
        if count > MAX_GRID_VALUES:
            fail(key, f"{count} values is more than {MAX_GRID_VALUES}")
        if integer:
            if not all(isinstance(raw[k], int) for k in ("start", "stop", "step")):
                fail(key, "an integer range needs integer start, stop and step")
            return list(range(start, stop + 1, step))
        return [first + i * by for i in range(count)]
    num = raw["num"]
    if isinstance(num, bool) or not isinstance(num, int) or not 1 <= num <= MAX_GRID_VALUES:
        fail(f"{key}.num", f"{shown(num)} is not allowed; expected an integer from 1 to "
                           f"{MAX_GRID_VALUES}")
    if log:
        if start <= 0 or stop <= 0:
            fail(key, "a log range needs start > 0 and stop > 0")
        values = np.geomspace(float(start), float(stop), num)
    else:
        values = np.linspace(float(start), float(stop), num)
    if integer:
        ints = sorted({int(round(v)) for v in values})
        return ints
    return [_clean(float(v)) for v in values]


def _clean(v: float) -> float:
    """Drop representation noise from range arithmetic (0.30000000000000004 -> 0.3)."""
    return float(f"{v:.15g}")
