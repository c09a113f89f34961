"""What an experiment will cost, from its config alone: records, memory, operations.

Computed before anything is allocated, so `fpstudy check` can print it and `fpstudy run` can
refuse an experiment that cannot fit in memory instead of dying in numpy with a MemoryError.
Each case declares its sizes per grid point with an optional hook

    estimate(p) -> {"inputs": float64 numbers the case's inputs hold (the weights),
                    "outputs": numbers it emits per format (every emitted array's size),
                    "records": records per format,
                    "format_ops": arithmetic operations per format,
                    "truth_ops": mpmath operations per exact truth}

and the bytes per number below turn that into memory. They were measured on numpy 2.4 /
mpmath 1.3 with gmpy2 (an exact input: 240 bytes by tracemalloc, about 440 in the process's
resident size; an output's proven truth, held per format until the point is done: 900 to 1130
bytes traced; a record as the runner's dict and then as a DataFrame row: about 1.4 kB) and are
rounded up: the estimate is meant to be above the peak, not exact.
tests/test_reliability.py checks it against the traced peak of a grid point of every case; the
peak resident size of whole runs (/usr/bin/time): experiments/deep_product.toml 272 MiB
against an estimate of 354 MiB; deep_product gaussian, width 32, max_depth 1000, float16 and
float32: 591 MiB against 798 MiB.

The memory limit is the machine's available memory (MemAvailable, or the cgroup's limit when
lower), or what `--memory-limit` / the FPSTUDY_MEMORY_LIMIT environment variable say.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .config import Experiment, applies
from .errors import UserError

MEMORY_LIMIT_ENV = "FPSTUDY_MEMORY_LIMIT"

# bytes per number or per record (see the module docstring)
FLOAT64_BYTES = 8
FORMAT_COPY_BYTES = 2 * 16  # the input rounded to the format, and the array compute makes of it
MPF_BYTES = 448             # an exact input (measured 240 traced, ~440 resident)
TRUTH_BYTES = 1280          # an output's proven truth (its enclosure; measured 900-1130)
RECORD_BYTES = 1536         # a record dict, then its DataFrame row (measured 1030 + 320)
EMIT_BYTES = 160            # an emitted array's numpy header and its bookkeeping
BASE_BYTES = 200 * 2**20    # the interpreter with numpy, pandas, mpmath loaded


@dataclass(frozen=True)
class Estimate:
    """What one experiment needs (memory in bytes)."""

    records: int
    runs: int
    weights_bytes: int     # the inputs: float64, rounded to each format, and exact (mpf)
    records_bytes: int     # every record, as the runner collects them and as a DataFrame
    truth_bytes: int       # the exact results of one grid point, every format's at once
    format_ops: int
    truth_ops: int
    jobs: int = 1

    @property
    def memory_bytes(self) -> int:
        """Peak: the records of all points plus `jobs` points in flight."""
        return (BASE_BYTES + self.records_bytes
                + self.jobs * (self.weights_bytes + self.truth_bytes))

    def describe(self) -> str:
        return (f"{self.records:,} records from {self.runs:,} runs; memory about "
                f"{size(self.memory_bytes)} (weights {size(self.weights_bytes)}, records "
                f"{size(self.records_bytes)}, truth {size(self.truth_bytes)}"
                f"{f', {self.jobs} points at once' if self.jobs > 1 else ''}); work about "
                f"{_count(self.format_ops)} format operations and {_count(self.truth_ops)} "
                "exact (mpmath) operations")


def estimate(exp: Experiment, jobs: int = 1) -> Estimate:
    """The experiment's size, from its grid and its case's `estimate(p)` hook."""
    hook = getattr(exp.case, "estimate", None)
    records = runs = format_ops = truth_ops = 0
    weights = truth = 0
    # every format runs once per rounding rule, a stochastic rule once per trial
    repeats = sum(exp.trials if r.stochastic else 1 for r in exp.rules)
    for point in exp.points:
        sizes = hook(point) if hook is not None else _unknown(point)
        formats = sum(1 for d in exp.dtypes if applies(point, d))
        runs += formats
        records += formats * repeats * sizes["records"]
        format_ops += formats * repeats * sizes["format_ops"]
        # at most one truth per format, rule and trial (one per distinct rounded inputs)
        truth_ops += formats * repeats * sizes["truth_ops"]
        weights = max(weights, sizes["inputs"] * (FLOAT64_BYTES + FORMAT_COPY_BYTES
                                                  + MPF_BYTES))
        # every truth of the point is kept until it is done, one more while proving
        truth = max(truth, (formats * repeats + 1) * sizes["outputs"] * TRUTH_BYTES
                    + sizes["records"] * EMIT_BYTES + sizes["outputs"] * FORMAT_COPY_BYTES)
    truth += _kept_truths(exp, hook)
    return Estimate(records=records, runs=runs, weights_bytes=weights,
                    records_bytes=records * RECORD_BYTES, truth_bytes=truth,
                    format_ops=format_ops, truth_ops=truth_ops, jobs=max(1, jobs))


def _kept_truths(exp: Experiment, hook) -> int:
    """The proven truths fpstudy.runner keeps across grid points (the last _TRUTHS_KEPT of at
    most _TRUTH_ELEMENTS_KEPT numbers each): bytes, at most."""
    from . import runner

    kept = getattr(runner, "_TRUTHS_KEPT", 0)
    largest = getattr(runner, "_TRUTH_ELEMENTS_KEPT", 0)
    if not kept or hook is None:
        return 0
    sizes = sorted((hook(p)["outputs"] for p in exp.points), reverse=True)
    small = [n for n in sizes if n <= largest]
    formats = len(exp.dtypes)
    return sum(small[: -(-kept // formats)]) * formats * TRUTH_BYTES


def _unknown(point: dict) -> dict:
    """A case without an estimate hook: its sizes are not known, taken as small."""
    return {"inputs": 0, "outputs": 0, "records": 0, "format_ops": 0, "truth_ops": 0}


# -- the limit -------------------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(text: str, where: str) -> int:
    """'16G', '512MiB', '1.5T', '1000000' (bytes; K, M, G, T are powers of 1024)."""
    match = _SIZE.match(str(text))
    if not match:
        raise UserError(f"{where} {text!r}: not a size; use bytes or a number with K, M, G or "
                        "T (powers of 1024), e.g. 16G")
    number, unit = float(match[1]), match[2].upper()
    value = int(number * _UNITS[unit])
    if value <= 0:
        raise UserError(f"{where} {text!r}: must be more than 0")
    return value


def memory_limit(option: str | None = None) -> tuple[int, str]:
    """The limit in bytes and where it came from: --memory-limit, the environment, or the
    machine's available memory."""
    if option is not None:
        return parse_size(option, "--memory-limit"), "--memory-limit"
    env = os.environ.get(MEMORY_LIMIT_ENV)
    if env:
        return parse_size(env, MEMORY_LIMIT_ENV), MEMORY_LIMIT_ENV
    return available_memory(), "available memory"


def available_memory() -> int:
    """Memory this process can still get: MemAvailable, lowered to a cgroup v2 limit."""
    candidates = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                candidates.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        cgroup = Path("/sys/fs/cgroup")
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            used = int((cgroup / "memory.current").read_text())
            candidates.append(int(limit) - used)
    except (OSError, ValueError):
        pass
    if not candidates:
        try:
            candidates.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return 2**63  # not known: nothing is refused
    return max(1, min(candidates))


def check_fits(exp: Experiment, est: Estimate, limit: int, source: str) -> None:
    """Raise UserError if the estimate is above the limit: one line with both."""
    if est.memory_bytes > limit:
        raise UserError(
            f"{exp.path}: needs about {size(est.memory_bytes)} of memory (weights "
            f"{size(est.weights_bytes)}, records {size(est.records_bytes)}, truth "
            f"{size(est.truth_bytes)}), more than the limit of {size(limit)} ({source}); "
            f"narrow the grid, or raise the limit with --memory-limit or {MEMORY_LIMIT_ENV}")


def size(n: int) -> str:
    """Bytes in binary units: 512 B, 1.5 KiB, 122 TiB."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if value < 1024 or unit == "EiB":
            return f"{value:.0f} {unit}" if unit == "B" or value >= 100 else f"{value:.3g} {unit}"
        value /= 1024
    return f"{n} B"


def _count(n: int) -> str:
    if n < 10_000:
        return str(n)
    exponent = int(math.floor(math.log10(n)))
    return f"{n / 10**exponent:.1f}e{exponent}"
