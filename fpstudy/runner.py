"""Run an experiment: every (grid point, format) computed, checked against its truth, measured.

The unit of work is one grid point with all its formats, so the exact truth is shared by the
formats whose rounded inputs coincide (W = 1.5*I is the same in every headline format). Points
run in this process, in a local process pool (--jobs N) or on a dask cluster. The result is a
list of record dicts in a fixed order, whatever ran them.
"""

from __future__ import annotations

import hashlib
import signal
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .arith import Arith, flags_text, round_array, round_with_flags
from .cases import get_case
from .config import Experiment, applies
from .errors import ConfigError, PointTimeout, UserError
from .formats import FORMATS, register, user_format
from .metrics import measure_all
from .params import column_value
from .rounding import NEAREST, Rule
from .schema import extra_columns, record_columns
from .truth import DEFAULT_ENGINE, engine_named, no_cycle_collection, prove

# Where a point's time goes (meta.json's time_s), in this order.
TIME_PARTS = ("compute", "truth", "measure")


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
    timeout: float | None = None  # seconds a point may take (None: no limit)
    data: tuple = ()  # fpstudy.data.DataRef of each [data] input: a worker reads them again
    truth_engine: str = DEFAULT_ENGINE  # a name in fpstudy.truth.ENGINES


def jobs_of(exp: Experiment, timeout: float | None = None) -> list[PointJob]:
    refs = tuple(d.ref for d in exp.data.values())
    return [PointJob(exp.name, exp.case.NAME, point, tuple(exp.dtypes), exp.seed,
                     exp.truth_precision, exp.max_precision, exp.math,
                     rules=tuple(exp.rules), trials=exp.trials,
                     user_formats=tuple(exp.user_formats.items()), timeout=timeout, data=refs,
                     truth_engine=exp.truth_engine)
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
    """The records columns, in order (fpstudy.schema.record_columns)."""
    return record_columns(exp.case)


def case_inputs(case, point: dict, seed: int, refs=()) -> dict:
    """The case's float64 inputs at a point; a case that reads data files (DATA) also gets
    their arrays, by input name ({} when the config has no [data] table)."""
    rng = np.random.default_rng(seed)
    if not hasattr(case, "DATA"):
        return case.inputs(point, rng)
    from .data import read

    return case.inputs(point, rng, {ref.name: read(ref) for ref in refs})


def check_inputs(exp: Experiment) -> None:
    """Raise ConfigError where a point's inputs do not fit a format it runs in.

    An input that overflows when rounded to the format (1e300 in float8) leaves nothing exact
    to compare with: the config must drop the format or narrow the grid. Checked for every
    point before anything runs, so a bad point stops the run before any result is written.
    """
    refs = tuple(d.ref for d in exp.data.values())
    for point in exp.points:
        raw = case_inputs(exp.case, point, exp.seed, refs)
        for dtype in exp.dtypes:
            if not applies(point, dtype):
                continue
            rounded = {k: round_array(v, FORMATS[dtype]) for k, v in raw.items()}
            problem = unheld_input(exp.case, raw, rounded, FORMATS[dtype])
            if problem:
                given = ", ".join(f"{k} = {column_value(v)}" for k, v in point.items()
                                  if k in exp.given or len(exp.grid[k]) > 1)  # or a sample
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


@dataclass
class PointResult:
    """The records of one grid point, as tuples in the order of `columns` (a third of the
    memory of a dict per record), the first ones as DataFrames when the point has many (see
    FRAME_RECORDS), and the seconds spent per part (TIME_PARTS)."""

    columns: tuple[str, ...]
    values: list[tuple]  # the records after those in `frames`
    seconds: dict[str, float]
    frames: list = field(default_factory=list)  # the first records of a point with many

    @property
    def rows(self) -> list[dict]:
        """The records as dicts (column -> value)."""
        framed = [r for f in self.frames for r in f.to_dict("records")]
        return framed + [dict(zip(self.columns, v, strict=True)) for v in self.values]


def run_point(job: PointJob) -> PointResult:
    """All records of one grid point, for every format the point applies to and every rounding
    rule (and trial of a stochastic one), within job.timeout seconds (a UserError naming the
    point when it takes longer)."""
    for name, spec in job.user_formats:
        register(user_format(name, **spec))
    with time_limit(job.timeout), no_cycle_collection():
        try:
            return _run_point(job)
        except PointTimeout as e:
            given = ", ".join(f"{k} = {column_value(v)}" for k, v in job.point.items())
            raise UserError(f"{job.experiment}: the point at {given} took more than "
                            f"{e.seconds:g} s (--point-timeout); nothing was written") from None


@contextmanager
def time_limit(seconds: float | None):
    """Raise PointTimeout in this thread after `seconds` (SIGALRM; a no-op outside the main
    thread or without SIGALRM, as in dask's worker threads)."""
    usable = (seconds is not None and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def expire(signum, frame):
        raise PointTimeout(seconds)
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _run_point(job: PointJob) -> PointResult:
    case = get_case(job.case)
    point = job.point
    raw = case_inputs(case, point, job.seed, job.data)
    truths: dict = {}  # this point's, whatever their size
    fixed = {"experiment": job.experiment, "case": case.NAME, "impl": point.get("impl", "")}
    fixed.update({k: column_value(v) for k, v in point.items() if k != "impl"})
    seconds = dict.fromkeys(TIME_PARTS, 0.0)
    rows, frames = [], []
    columns = record_columns(case)
    formats = [FORMATS[d] for d in job.dtypes if applies(point, d)]
    for dtype in job.dtypes:
        if not applies(point, dtype):
            continue
        for rule in job.rules:
            for trial in range(job.trials if rule.stochastic else 1):
                _run_one(job, case, raw, truths, fixed, formats, dtype, rule, trial, seconds,
                         rows, frames)
    return PointResult(columns, rows, seconds, frames)


# A point with this many records keeps them as DataFrames (8 bytes a number) rather than tuples
# of Python objects (~600 bytes a record): a million records of one deep point fit in 1 GiB.
FRAME_RECORDS = 50_000


def _run_one(job, case, raw, truths, fixed, formats, dtype, rule, trial, seconds, rows,
             frames) -> None:
    """The records of one (point, dtype, rule, trial), appended to `rows` as tuples, which are
    moved into a DataFrame appended to `frames` whenever there are FRAME_RECORDS of them; its
    times are added to `seconds`."""
    point = job.point
    extra = extra_columns(case)
    clock = time.perf_counter
    fmt = FORMATS[dtype]
    acc = point.get("accumulate", "format")
    rng = rounding_rng(job.seed, point, dtype, rule, trial, "operations") \
        if rule.stochastic else None
    ar = Arith(fmt, None if acc == "format" else FORMATS[acc], math=job.math, rule=rule,
               rng=rng)
    emitted = []

    def emit(quantity, sweep_value, array, ar=ar, emitted=emitted, **more):
        unknown = set(more) - set(extra)
        if unknown:
            raise ValueError(f"{case.NAME} emitted undeclared columns {sorted(unknown)}")
        emitted.append((quantity, sweep_value, np.asarray(array), flags_text(ar.flags),
                        more))

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
    started = clock()
    with np.errstate(all="raise"):  # an operation outside `ar` is a bug, not a flag
        case.compute(point, inputs, ar, emit)
    computed = clock()
    # The truth is the exact result on the inputs as this format (rule, trial) rounded them:
    # it depends on the rule only through those rounded inputs, which the key holds.
    key = truth_key(case, point, rounded, job, formats)
    truth = truths.get(key) or _TRUTHS.get(key)
    if truth is None:
        truth = prove(case, point, rounded, start=job.truth_precision,
                      cap=job.max_precision, formats=formats,
                      engine=engine_named(job.truth_engine))
        _remember(key, truth)
    truths[key] = truth
    settled = clock()
    order = record_columns(case)
    rule_columns = {"rounding": rule.rounding, "subnormals": rule.subnormals,
                    "overflow": rule.overflow, "trial": trial}
    measurements = measure_all(((e[2], truth.values[e[:2]], truth.approx.get(e[:2]))
                               for e in emitted), fmt)
    for i, m in enumerate(measurements):
        quantity, sweep_value, array, flags, more = emitted[i]
        emitted[i] = None  # each emitted array is let go once it is a record
        tkey = (quantity, sweep_value)
        row = {
            **fixed, "dtype": dtype, "quantity": quantity, case.SWEEP: sweep_value,
            **rule_columns,
            "value": m.value, "value_log10": m.value_log10,
            "truth": m.truth, "truth_log10": m.truth_log10,
            "rel_error": m.rel_error, "ulp_error": m.ulp_error, "outcome": m.outcome,
            "truth_class": m.truth_class, "fp_flags": flags,
            "truth_precision": truth.precision, "truth_bound": truth.bounds[tkey],
            "truth_settled": truth.settled[tkey],
            **{c: more.get(c, "") for c in extra},
        }
        rows.append(tuple(row[c] for c in order))
        if len(rows) >= FRAME_RECORDS:  # a deep point: typed columns, not tuples
            frames.append(pd.DataFrame.from_records(rows, columns=list(order)))
            rows.clear()
    measured = clock()
    seconds["compute"] += computed - started
    seconds["truth"] += settled - computed
    seconds["measure"] += measured - settled


def _wide(values: np.ndarray) -> np.ndarray:
    """Format values as float64 (longdouble for longdouble), exactly."""
    return values if values.dtype.itemsize > 8 else values.astype(np.float64)


# Proven truths of the last points this process ran, shared by the formats, rules and trials
# whose rounded inputs coincide and by the grid points that differ only in what the truth does
# not depend on (an impl, the accumulation, the rounding rule). A truth is a function of its key
# alone (the precision it is proven at included), so what is cached changes no column, whatever
# ran before.
_TRUTHS: OrderedDict = OrderedDict()
_TRUTHS_KEPT = 64
_TRUTH_ELEMENTS_KEPT = 20_000  # larger truths (deep products) are not kept across points


def _remember(key, truth) -> None:
    if sum(len(v) for v in truth.values.values()) > _TRUTH_ELEMENTS_KEPT:
        return
    _TRUTHS[key] = truth
    while len(_TRUTHS) > _TRUTHS_KEPT:
        _TRUTHS.popitem(last=False)


def truth_key(case, point: dict, rounded: dict, job: PointJob, formats) -> tuple:
    """What a truth is a function of: the case, the parameters it depends on, the exact inputs
    as this format, rule and trial rounded them (so two rules or trials share a truth exactly
    when they rounded the inputs alike; the rule itself is no part of it), the precisions it is
    proven at and the engine that proves it, and the formats whose classes it decides (a name
    is one format in a process: fpstudy.formats.register refuses a second definition)."""
    truth_params = tuple((k, point[k]) for k, prm in case.PARAMS.items() if prm.truth)
    return (case.NAME, _truth_key(truth_params, rounded), job.truth_precision,
            job.max_precision, job.truth_engine, tuple(f.name for f in formats))


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
        progress: bool | None = None, timeout: float | None = None) -> list[PointResult]:
    """Every grid point's records and times, in grid order (records in format order), each
    point within `timeout` seconds where the executor allows a limit."""
    work = jobs_of(exp, timeout)
    if progress is None:
        progress = sys.stderr.isatty()
    if executor == "dask":
        results = _run_dask(work, scheduler)
    elif jobs > 1 and len(work) > 1:
        with no_cycle_collection():  # unpickling the records makes objects, not cycles
            results = _run_pool(work, _costs(exp), jobs, exp.name, progress,
                                _truth_groups(exp))
    else:
        results = list(_progress(map(run_point, work), len(work), exp.name, progress))
    return results


def _costs(exp: Experiment) -> list[float]:
    """Each grid point's relative cost, from its case's `estimate` hook (format and exact
    operations; 1 for every point of a case without one)."""
    hook = getattr(exp.case, "estimate", None)
    if hook is None:
        return [1.0] * len(exp.points)
    costs = []
    for point in exp.points:
        sizes = hook(point)
        costs.append(1.0 + sizes.get("format_ops", 0) + sizes.get("truth_ops", 0))
    return costs


def _truth_groups(exp: Experiment) -> list:
    """Each grid point's truth group: the values of the parameters its truth depends on.
    Points of one group (an impl, an accumulation apart) share their truths through the
    runner's cache, so a pool keeps them in one batch rather than proving them twice."""
    names = [k for k, prm in exp.case.PARAMS.items() if prm.truth]
    return [repr([(k, column_value(p[k])) for k in names if k in p]) for p in exp.points]


def chunks(costs: list[float], jobs: int, per_job: int = 16, most: int = 64,
           groups: list | None = None) -> list[list[int]]:
    """Grid point indices in batches for `jobs` workers, dearest first (largest-processing-
    time order, so one expensive point does not start last and leave a core idle), each batch
    at most 1/(jobs * per_job) of the total cost or one point, and at most `most` points: the
    thousands of cheap points of a fine grid travel in batches, not one message each.

    Points of one of `groups` (a key per point) travel together, as one unit of their summed
    cost (they share truths).

    >>> chunks([1, 1, 100, 1], jobs=2)
    [[2], [0, 1, 3]]
    >>> chunks([5, 5, 5, 5], jobs=2, groups=["a", "b", "a", "b"])
    [[0, 2], [1, 3]]
    """
    units: dict = {}
    for i in range(len(costs)):
        units.setdefault(i if groups is None else groups[i], []).append(i)
    members = list(units.values())
    cost = [sum(costs[i] for i in m) for m in members]
    order = sorted(range(len(members)), key=lambda u: -cost[u])  # stable: ties in grid order
    budget = sum(costs) / (jobs * per_job)
    out, batch, spent = [], [], 0.0
    for u in order:
        if batch and (spent + cost[u] > budget or len(batch) >= most):
            out.append(batch)
            batch, spent = [], 0.0
        batch += members[u]
        spent += cost[u]
    if batch:
        out.append(batch)
    return out


def run_points(batch: list[PointJob]) -> list[PointResult]:
    return [run_point(job) for job in batch]


def _run_pool(work: list[PointJob], costs: list[float], jobs: int, name: str,
              progress: bool, groups: list | None = None) -> list[PointResult]:
    """run_point of every job in a pool of `jobs` processes, batched by `chunks`; the results
    in the order of `work`."""
    batches = chunks(costs, jobs, groups=groups)
    results: list = [None] * len(work)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        done = pool.map(run_points, [[work[i] for i in b] for b in batches])
        for batch, out in zip(batches, _progress(done, len(batches), name, progress),
                              strict=True):
            for i, result in zip(batch, out, strict=True):
                results[i] = result
    return results


def _progress(iterable, total: int, name: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm
    return tqdm(iterable, total=total, desc=name, unit="point", leave=False)


def _run_dask(work: list[PointJob], scheduler: str | None) -> list[PointResult]:
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
