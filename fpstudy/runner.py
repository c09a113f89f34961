"""Run an experiment: every (grid point, format) computed, checked against its truth, measured.

The unit of work is one grid point with all its formats, so the exact truth is shared by the
formats whose rounded inputs coincide (W = 1.5*I is the same in every headline format). Points
run in this process, in a local process pool (--jobs N) or on a dask cluster. The result is a
list of record dicts in a fixed order, whatever ran them.
"""

from __future__ import annotations

import hashlib
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from .arith import Arith, flags_text, round_array, round_with_flags
from .cases import get_case
from .config import Experiment, applies
from .errors import ConfigError, UserError
from .exact import to_mpf_array
from .formats import FORMATS, register, user_format
from .metrics import measure
from .params import column_value
from .rounding import NEAREST, Rule
from .truth import prove

RULE_COLUMNS = ("rounding", "subnormals", "overflow", "trial")  # the arithmetic's rule, and
# which repetition of a stochastic rounding (0 for a deterministic rule)
MEASURE_COLUMNS = ("value", "value_log10", "truth", "truth_log10", "rel_error", "ulp_error",
                   "outcome", "truth_class", "fp_flags", "truth_precision", "truth_bound",
                   "truth_settled")


@dataclass(frozen=True)
class PointJob:
    """Everything a worker needs to run one grid point (picklable, no module objects)."""

    experiment: str
    case: str
    point: dict
    dtypes: tuple[str, ...]
    seed: int
    truth_precision: int
    max_precision: int
    math: str = "mpfr"
    rules: tuple[Rule, ...] = (NEAREST,)
    trials: int = 1
    user_formats: tuple = ()  # ((name, spec), ...): registered again in a worker process


def jobs_of(exp: Experiment) -> list[PointJob]:
    return [PointJob(exp.name, exp.case.NAME, point, tuple(exp.dtypes), exp.seed,
                     exp.truth_precision, exp.max_precision, exp.math, tuple(exp.rules),
                     exp.trials, tuple(exp.user_formats.items()))
            for point in exp.points]


def rounding_rng(seed: int, point: dict, dtype: str, rule: Rule, trial: int,
                 stream: str) -> np.random.Generator:
    """The generator of one (point, dtype, rule, trial)'s stochastic roundings: derived from
    the config's seed and these names alone, so a run is the same serially, with --jobs and on
    dask, and every trial draws independently. `stream` separates the rounding of the inputs
    from that of the operations."""
    key = repr((sorted((k, column_value(v)) for k, v in point.items()), dtype, str(rule),
                trial, stream))
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:16], "little")
    return np.random.default_rng([seed, digest])


def columns(exp: Experiment) -> list[str]:
    """The records columns, in order."""
    params = [k for k in exp.case.PARAMS if k != "impl"]
    sweep = [] if exp.case.SWEEP in exp.case.PARAMS else [exp.case.SWEEP]
    return ["experiment", "case", "dtype", "impl", "quantity", *params, *sweep, *RULE_COLUMNS,
            *MEASURE_COLUMNS, *getattr(exp.case, "EXTRA_COLUMNS", ())]


def check_inputs(exp: Experiment) -> None:
    """Raise ConfigError where a point's inputs do not fit a format it runs in.

    An input that overflows when rounded to the format (1e300 in float8) leaves nothing exact
    to compare with: the config must drop the format or narrow the grid. Checked for every
    point before anything runs, so a bad point stops the run before any result is written.
    """
    for point in exp.points:
        raw = exp.case.inputs(point, np.random.default_rng(exp.seed))
        for dtype in exp.dtypes:
            if not applies(point, dtype):
                continue
            rounded = {k: round_array(v, FORMATS[dtype]) for k, v in raw.items()}
            problem = unheld_input(exp.case, raw, rounded, FORMATS[dtype])
            if problem:
                given = ", ".join(f"{k} = {column_value(v)}" for k, v in point.items()
                                  if k in exp.given)
                raise ConfigError(exp.path, "grid", problem.format(
                    at=given or "the defaults", fix=f"leave {dtype} out or narrow the grid"))


def unheld_input(case, raw: dict, rounded: dict, fmt) -> str | None:
    """A message template ({at}, {fix}) if a finite input rounds to inf or NaN in `fmt`."""
    labels = getattr(case, "INPUT_LABELS", {})
    for name, values in raw.items():
        if values.dtype == object:  # exact rationals: finite by construction
            values = np.ones(values.shape)
        with np.errstate(all="ignore"):
            lost = np.isfinite(values) & ~np.isfinite(rounded[name])
            if not fmt.has_inf and not fmt.has_nan and values.dtype != object:
                # float4/float6 saturate: an input at or past max + half an ulp was clamped
                half_ulp = 2.0 ** (fmt.max_exponent - fmt.precision - 1)
                lost |= np.abs(values.astype(np.float64)) >= float(fmt.max) + half_ulp
        if np.any(lost):
            return (f"{fmt.name} cannot hold {labels.get(name, 'input ' + name)} "
                    f"(max {float(fmt.max):g}) at {{at}}: they round to inf or NaN, so there is "
                    "no exact answer to compare with; {fix}")
    return None


def run_point(job: PointJob) -> list[dict]:
    """All records of one grid point, for every format the point applies to."""
    for name, spec in job.user_formats:
        register(user_format(name, **spec))
    case = get_case(job.case)
    point = job.point
    raw = case.inputs(point, np.random.default_rng(job.seed))
    truth_params = tuple((k, point[k]) for k, prm in case.PARAMS.items() if prm.truth)
    truths: dict[str, object] = {}
    fixed = {"experiment": job.experiment, "case": case.NAME, "impl": point.get("impl", "")}
    fixed.update({k: column_value(v) for k, v in point.items() if k != "impl"})
    rows = []
    formats = [FORMATS[d] for d in job.dtypes if applies(point, d)]
    for dtype in job.dtypes:
        if not applies(point, dtype):
            continue
        for rule in job.rules:
            for trial in range(job.trials if rule.stochastic else 1):
                rows += _run_one(job, case, raw, truth_params, truths, fixed, formats, dtype,
                                 rule, trial)
    return rows


def _run_one(job, case, raw, truth_params, truths, fixed, formats, dtype, rule, trial):
    """The records of one (point, dtype, rule, trial)."""
    point = job.point
    extra_columns = getattr(case, "EXTRA_COLUMNS", ())
    fmt = FORMATS[dtype]
    acc = point.get("accumulate", "format")
    rng = rounding_rng(job.seed, point, dtype, rule, trial, "operations") \
        if rule.stochastic else None
    ar = Arith(fmt, None if acc == "format" else FORMATS[acc], math=job.math, rule=rule,
               rng=rng)
    emitted = []

    def emit(quantity, sweep_value, array, ar=ar, emitted=emitted, **extra):
        unknown = set(extra) - set(extra_columns)
        if unknown:
            raise ValueError(f"{case.NAME} emitted undeclared columns {sorted(unknown)}")
        emitted.append((quantity, sweep_value, np.asarray(array), flags_text(ar.flags),
                        extra))

    inputs = raw
    if rule.stochastic:
        # The inputs' stochastic rounding is done here, once, so the truth is computed on
        # exactly the values the case received (its own asarray of them is then exact).
        input_rng = rounding_rng(job.seed, point, dtype, rule, trial, "inputs")
        rounded = {}
        for k in sorted(raw):
            rounded[k], flags = round_with_flags(raw[k], fmt, rule, input_rng)
            ar.flags.update(flags)
        inputs = {k: _wide(v) for k, v in rounded.items()}
    else:
        rounded = {k: round_array(v, fmt, rule) for k, v in raw.items()}
    problem = unheld_input(case, raw, rounded, fmt)
    if problem:  # check_inputs refuses this first; this guards library callers
        raise UserError(problem.format(at=point, fix=f"leave {dtype} out"))
    with np.errstate(all="raise"):  # an operation outside `ar` is a bug, not a flag
        case.compute(point, inputs, ar, emit)
    key = _truth_key(truth_params, rounded)
    if key not in truths:
        exact = {k: to_mpf_array(v) for k, v in rounded.items()}
        truths[key] = prove(case, point, exact, start=job.truth_precision,
                            cap=job.max_precision, formats=formats)
    truth = truths[key]
    rows = []
    rule_columns = {"rounding": rule.rounding, "subnormals": rule.subnormals,
                    "overflow": rule.overflow, "trial": trial}
    for quantity, sweep_value, array, flags, extra in emitted:
        tkey = (quantity, sweep_value)
        m = measure(array, truth.values[tkey], fmt)
        rows.append({
            **fixed, "dtype": dtype, "quantity": quantity, case.SWEEP: sweep_value,
            **rule_columns,
            "value": m.value, "value_log10": m.value_log10,
            "truth": m.truth, "truth_log10": m.truth_log10,
            "rel_error": m.rel_error, "ulp_error": m.ulp_error, "outcome": m.outcome,
            "truth_class": m.truth_class, "fp_flags": flags,
            "truth_precision": truth.precision, "truth_bound": truth.bounds[tkey],
            "truth_settled": truth.settled[tkey],
            **{c: extra.get(c, "") for c in extra_columns},
        })
    return rows


def _wide(values: np.ndarray) -> np.ndarray:
    """Format values as float64 (longdouble for longdouble), exactly."""
    return values if values.dtype.itemsize > 8 else values.astype(np.float64)


def _truth_key(params: tuple, rounded: dict) -> str:
    h = hashlib.sha256(repr(params).encode())
    for name in sorted(rounded):
        arr = rounded[name]
        wide = arr if arr.dtype.itemsize > 8 else arr.astype(np.float64)  # exact either way
        h.update(name.encode())
        h.update(wide.dtype.str.encode())
        h.update(np.ascontiguousarray(wide).tobytes())
    return h.hexdigest()


def run(exp: Experiment, jobs: int = 1, executor: str = "local", scheduler: str | None = None,
        progress: bool | None = None) -> list[dict]:
    """Every record of the experiment, in grid order then format order."""
    work = jobs_of(exp)
    if progress is None:
        progress = sys.stderr.isatty()
    if executor == "dask":
        results = _run_dask(work, scheduler)
    elif jobs > 1 and len(work) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(_progress(pool.map(run_point, work), len(work), exp.name, progress))
    else:
        results = list(_progress(map(run_point, work), len(work), exp.name, progress))
    return [row for rows in results for row in rows]


def _progress(iterable, total: int, name: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm
    return tqdm(iterable, total=total, desc=name, unit="point", leave=False)


def _run_dask(work: list[PointJob], scheduler: str | None) -> list[list[dict]]:
    try:
        from dask.distributed import Client
    except ImportError:
        raise UserError("--executor dask needs dask.distributed; "
                        "install it with: pip install 'fpstudy[dask]'") from None
    # mpmath's working precision is global to a process, so two truths computed in threads of
    # one process would change each other's precision: every worker runs one thread.
    client = Client(scheduler) if scheduler else Client(processes=True, threads_per_worker=1)
    try:
        threads = {w: info.get("nthreads", 1)
                   for w, info in client.scheduler_info().get("workers", {}).items()}
        crowded = sorted(w for w, n in threads.items() if n != 1)
        if crowded:
            raise UserError(f"--scheduler {scheduler}: workers {', '.join(crowded)} run several "
                            "threads; mpmath's precision is per process, so start workers with "
                            "`dask worker --nthreads 1`")
        return client.gather(client.map(run_point, work, pure=False))
    finally:
        client.close()
