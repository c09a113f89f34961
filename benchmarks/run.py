"""Scaling benchmarks, run by `make bench`. They print ratios measured in one run, never assert.

Rows (issue #10's table): fpstudy against a plain mpmath script (benchmarks/plain_mpmath.py) on
a width-16 gaussian deep product at depth 1000 in the four headline formats; --jobs 2 against
--jobs 1 on 8 equal points; depth 8000 against 2000 (below).

deep_product: the time of one grid point at max_depth 8000 against 2000 (the forward pass and
the truth are each one pass over the depths, so the ratio should be near 4), and the share of
the time spent in the exact truth (precision escalation included) and in measuring the records,
as the run itself records them (meta.json's time_s).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import fpstudy
from fpstudy.config import parse

SETUPS = {
    "scaled_identity width 2": {"init": "scaled_identity", "width": 2, "scale": 1.0},
    "gaussian width 16": {"init": "gaussian", "width": 16, "scale": 1.0},
}


def time_point(grid: dict, depth: int, dtype: str) -> dict:
    exp = parse({"case": "deep_product", "dtypes": [dtype],
                 "grid": {**grid, "max_depth": depth}}, Path("bench.toml"))
    meta = fpstudy.run_experiment(exp, progress=False).meta
    return {"total": sum(meta["time_s"].values()), **meta["time_s"]}


def versus_plain(depth: int) -> None:
    """fpstudy's whole run (proven truths, measuring, the formats) against the plain script."""
    import time

    from plain_mpmath import truths

    started = time.perf_counter()
    truths(depth)
    plain = time.perf_counter() - started
    exp = parse({"case": "deep_product", "grid": {"init": "gaussian", "width": 16,
                 "scale": 1.0, "max_depth": depth}}, Path("bench.toml"))
    started = time.perf_counter()
    fpstudy.run_experiment(exp, progress=False)
    ours = time.perf_counter() - started
    print(f"gaussian width 16, depth {depth}, 4 formats: plain mpmath {plain:.1f} s, "
          f"fpstudy {ours:.1f} s: {plain / ours:.2f}x (goal >= 1.0x)")


def versus_plain_arb(depth: int, plain: float | None = None) -> None:
    """The same run as `versus_plain` with the truths proven by the arb engine
    (--truth-engine arb), against the plain script (timed again unless `plain` is given).
    An exact dyadic truth is tried first with either engine, so arb only shows where a truth
    needs enclosures."""
    import time

    from plain_mpmath import truths

    if plain is None:
        started = time.perf_counter()
        truths(depth)
        plain = time.perf_counter() - started
    exp = parse({"case": "deep_product", "truth": {"engine": "arb"},
                 "grid": {"init": "gaussian", "width": 16, "scale": 1.0, "max_depth": depth}},
                Path("bench.toml"))
    started = time.perf_counter()
    fpstudy.run_experiment(exp, progress=False)
    ours = time.perf_counter() - started
    print(f"gaussian width 16, depth {depth}, 4 formats, arb engine (exact dyadic tried first): "
          f"plain mpmath {plain:.1f} s, fpstudy {ours:.1f} s: {plain / ours:.2f}x (goal >= 5x)")


def jobs_scaling(points: int = 8) -> None:
    """--jobs 2 against --jobs 1 on `points` equal grid points (identical records checked)."""
    import time

    grid = {"init": "gaussian", "width": 8, "max_depth": 400,
            "scale": [1.0 + k / 1000 for k in range(points)]}
    exp = parse({"case": "deep_product", "dtypes": ["float16", "float32"], "grid": grid},
                Path("bench.toml"))
    times, records = [], []
    for jobs in (1, 2):
        started = time.perf_counter()
        records.append(fpstudy.run_experiment(exp, jobs=jobs, progress=False).records)
        times.append(time.perf_counter() - started)
    same = records[0].equals(records[1])
    print(f"--jobs 2 vs --jobs 1, {points} equal points: {times[0] / times[1]:.2f}x "
          f"(goal >= 1.8x), records identical: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=2000)
    parser.add_argument("--long", type=int, default=8000)
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--plain-depth", type=int, default=1000)
    args = parser.parse_args()
    versus_plain(args.plain_depth)
    versus_plain_arb(args.plain_depth)
    jobs_scaling()
    print(f"deep_product, one grid point in {args.dtype}: depth {args.long} vs {args.short}")
    for label, grid in SETUPS.items():
        short = time_point(grid, args.short, args.dtype)
        long = time_point(grid, args.long, args.dtype)
        ratio = long["total"] / short["total"]
        print(f"  {label:<24} time ratio {ratio:5.2f} (linear: {args.long / args.short:.2f})"
              f"   truth share {long['truth'] / long['total']:5.1%}"
              f"   measuring share {long['measure'] / long['total']:5.1%}"
              f"   in-format share {long['compute'] / long['total']:5.1%}")


if __name__ == "__main__":
    main()
