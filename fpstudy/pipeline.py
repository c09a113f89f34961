"""One experiment from config to results: records, summary and meta, in memory.

`run_experiment` is the library's entry point; the command line (`fpstudy run`), the tests,
the benchmarks and a notebook all use it. Nothing is written until `Result.save`.

    >>> import fpstudy
    >>> result = fpstudy.run_experiment("experiments/deep_product.toml")   # doctest: +SKIP
    >>> result.summary.query("dtype == 'float16'")                          # doctest: +SKIP
    >>> result.save("results")              # results/deep_product/      # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import arith, config, results, runner, schema, truth
from .config import Experiment
from .summarize import summarize


@dataclass
class Result:
    """The results of one experiment: records, summary and meta.json's content."""

    experiment: Experiment
    records: pd.DataFrame
    summary: pd.DataFrame
    meta: dict

    @property
    def name(self) -> str:
        return self.experiment.name

    def save(self, results_dir=results.DEFAULT_RESULTS) -> Path:
        """Write records.parquet, summary.csv and meta.json as a new results_dir/<name>/,
        swapped in whole (fpstudy.results.write_experiment); return that directory."""
        written = results.write_experiment(Path(results_dir), self.name, self.records,
                                           self.summary, self.meta)
        return written["dir"]


def run_experiment(experiment, jobs: int = 1, executor: str = "local",
                   scheduler: str | None = None, progress: bool | None = None,
                   check: bool = True, timeout: float | None = None) -> Result:
    """Run one experiment (a config path or a validated `Experiment`) and return its Result.

    jobs: grid points run in parallel in a local process pool; executor "dask" runs them on
    a dask cluster (scheduler: its address, or None for a local one). progress: a progress
    bar on stderr (default: when stderr is a terminal). check=False skips the input check
    (`runner.check_inputs`) for a caller that has made it already. timeout: seconds a grid
    point may take (a UserError naming it after that; local executor only). Records are the
    same whichever runs them.
    """
    exp = experiment if isinstance(experiment, Experiment) else config.load(experiment)
    if check:
        runner.check_inputs(exp)
    started = time.perf_counter()
    points = runner.run(exp, jobs=jobs, executor=executor, scheduler=scheduler,
                        progress=progress, timeout=timeout)
    records = _records(points, schema.record_columns(exp.case))
    table = summarize(records, exp)
    wall = time.perf_counter() - started
    seconds = {part: round(sum(p.seconds[part] for p in points), 3)
               for part in runner.TIME_PARTS}
    meta = {
        "format_version": schema.FORMAT_VERSION,
        "experiment": exp.name,
        "config_path": str(exp.path),
        "config": exp.resolved(),
        "config_sha256": exp.sha256(),
        "config_file_sha256": _file_sha256(exp.path),
        "case": exp.case.NAME,
        "sweep": exp.case.SWEEP,
        "arith": arith.describe(exp.math),
        "truth": truth.describe(truth.engine_named(exp.truth_engine)),
        "records": len(records),
        "wall_time_s": round(wall, 3),
        "time_s": seconds,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **results.environment(),
    }
    return Result(exp, records, table, meta)


def _records(points: list, columns: tuple, batch: int = 200_000) -> pd.DataFrame:
    """One DataFrame of every point's records, made `batch` records at a time with each
    point's tuples released once they are in a frame: the peak holds the tuples and one
    batch's frame, not two copies of everything."""
    frames, pending = [], []
    for p in points:
        if tuple(p.columns) != tuple(columns):
            raise ValueError(f"a point's columns {p.columns} are not the experiment's {columns}")
        if p.frames:
            if pending:
                frames.append(pd.DataFrame.from_records(pending, columns=list(columns)))
                pending = []
            frames += p.frames
            p.frames = []
        pending += p.values
        p.values = []
        if len(pending) >= batch:
            frames.append(pd.DataFrame.from_records(pending, columns=list(columns)))
            pending = []
    if pending or not frames:
        frames.append(pd.DataFrame.from_records(pending, columns=list(columns)))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:  # an Experiment made by config.parse from a dict has no file
        return None
