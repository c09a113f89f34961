"""Scaling benchmarks, run by `make bench`. They print ratios measured in one run, never assert.

Rows (issue #10's table): peak memory of a run of 1 000 000 records; fpstudy against a plain
mpmath script (benchmarks/plain_mpmath.py) on a width-16 gaussian deep product at depth 1000 in
the four headline formats; --jobs 2 against --jobs 1 on 8 equal points and on unequal ones;
depth 8000 against 2000 (below); the shipped suite, `make -j2 all` from clean results, with
the default engine and with TRUTH=arb.

deep_product: the time of one grid point at max_depth 8000 against 2000 (the forward pass and
the truth are each one pass over the depths, so the ratio should be near 4), and the share of
the time spent in the exact truth (precision escalation included) and in measuring the records,
as the run itself records them (meta.json's time_s).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
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


def _command_seconds(command: list[str]) -> float:
    import time

    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def versus_plain(depth: int, engine: str = "") -> None:
    """`fpstudy run` (proven truths, measuring, the formats, writing the results) against the
    plain script, each a whole process as a user would start it."""
    import tempfile

    here = Path(__file__).resolve().parent
    plain = _command_seconds([sys.executable, str(here / "plain_mpmath.py"), "--depth",
                              str(depth)])
    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch) / "versus_plain.toml"
        config.write_text('case = "deep_product"\n'
                          'dtypes = ["float16", "bfloat16", "float32", "float64"]\n[grid]\n'
                          f'init = "gaussian"\nwidth = 16\nscale = 1.0\nmax_depth = {depth}\n')
        ours = _command_seconds([sys.executable, "-m", "fpstudy", "run", str(config),
                                 "--results", f"{scratch}/results",
                                 *(["--truth-engine", engine] if engine else [])])
    goal = 5.0 if engine == "arb" else 1.0
    print(f"gaussian width 16, depth {depth}, 4 formats: plain mpmath {plain:.1f} s, "
          f"fpstudy{' --truth-engine ' + engine if engine else ''} {ours:.1f} s: "
          f"{plain / ours:.2f}x (goal >= {goal}x)")


def _timed_runs(exp, jobs_list, repeats: int = 3) -> tuple[list, list]:
    """The time of each jobs setting, the least of `repeats` runs taken in turn (as timeit
    advises: the others are the same work plus the machine's noise), and its records."""
    import time

    from fpstudy import runner
    from fpstudy.cases import softmax

    fpstudy.run_experiment(exp, jobs=1, progress=False)  # warm: imports, mpmath's contexts
    times, records = [float("inf")] * len(jobs_list), [None] * len(jobs_list)
    for _ in range(repeats):
        for k, jobs in enumerate(jobs_list):
            runner._TRUTHS.clear()  # no truth of an earlier run is reused (a pool's forked
            softmax._TRUTH_MEMO.clear()  # workers would inherit them too)
            started = time.perf_counter()
            records[k] = fpstudy.run_experiment(exp, jobs=jobs, progress=False).records
            times[k] = min(times[k], time.perf_counter() - started)
    return times, records


def versus_plain_in_process(depth: int, engine: str = "arb") -> None:
    """The arb row's run and the plain script's truths timed within this process, their
    imports and Python's start left out: what each costs once started (the row itself,
    `versus_plain`, times whole processes, as a user starts them). An exact dyadic truth is
    tried first with either engine, so arb only shows where a truth needs enclosures."""
    import time

    from plain_mpmath import truths

    started = time.perf_counter()
    truths(depth)
    plain = time.perf_counter() - started
    exp = parse({"case": "deep_product", "truth": {"engine": engine},
                 "grid": {"init": "gaussian", "width": 16, "scale": 1.0, "max_depth": depth}},
                Path("bench.toml"))
    started = time.perf_counter()
    fpstudy.run_experiment(exp, progress=False)
    ours = time.perf_counter() - started
    print(f"  the same within one process, imports left out, {engine} engine (exact dyadic "
          f"tried first): plain mpmath {plain:.1f} s, fpstudy {ours:.1f} s: {plain / ours:.2f}x")


def jobs_scaling(points: int = 8) -> None:
    """--jobs 2 against --jobs 1 on `points` equal grid points (of about 0.15 s each, a run of
    about a second, and of 0.5 s), and on a softmax grid of very unequal points (n = 10 and
    1000), after a warm-up run, each time the least of three runs; identical records checked.
    The pool's fixed costs (forking this process, about 0.03 s, and the records and summary
    made after it, about 0.05 s) weigh most on the short run; the small points run first,
    before this process has grown."""
    for depth in (400, 1200):
        grid = {"init": "gaussian", "width": 8, "max_depth": depth,
                "scale": [1.0 + k / 1000 for k in range(points)]}
        exp = parse({"case": "deep_product", "dtypes": ["float16", "float32"], "grid": grid},
                    Path("bench.toml"))
        times, records = _timed_runs(exp, (1, 2))
        print(f"--jobs 2 vs --jobs 1, {points} equal points (width 8, depth {depth}: "
              f"{times[0]:.1f} s with --jobs 1, least of 3): {times[0] / times[1]:.2f}x "
              "(goal >= 1.8x), "
              f"records identical: {records[0].equals(records[1])}")
    exp = parse({"case": "softmax", "dtypes": ["float16", "bfloat16", "float32", "float64"],
                 "grid": {"n": [10, 1000], "input": "normal", "spread": 30.0,
                          "impl": ["naive", "max_shift"],
                          "c": [-100.0, -20.0, 0.0, 20.0, 90.0, 700.0]}}, Path("bench.toml"))
    times, records = _timed_runs(exp, (1, 2))
    print(f"--jobs 2 vs --jobs 1, softmax grid over n = 10 and 1000 (unequal points): "
          f"{times[0] / times[1]:.2f}x, records identical: {records[0].equals(records[1])}")


def shipped_suite(truth: str = "") -> None:
    """`make -j2 all` from clean results (a scratch results directory), the environment
    present; TRUTH=arb proves every truth with the arb engine."""
    import tempfile
    import time

    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        done = subprocess.run(["make", "-j2", "all", f"RESULTS={scratch}/results",
                               *([f"TRUTH={truth}"] if truth else [])],
                              cwd=root, capture_output=True, text=True)
        wall = time.perf_counter() - started
    goal = 45 if truth == "arb" else 120
    status = "" if done.returncode == 0 else f" (FAILED: {done.stderr.strip()[-300:]})"
    print(f"shipped suite, make -j2 all{' TRUTH=' + truth if truth else ''} from clean "
          f"results: {wall:.0f} s (goal <= {goal} s){status}")


def million_records(depth: int = 250_000) -> None:
    """Peak memory (max RSS) of `fpstudy run` making 1 000 000 records: one deep_product
    point of width 2 and max_depth 250 000 in the four headline formats."""
    import resource
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch) / "million.toml"
        config.write_text('case = "deep_product"\n'
                          'dtypes = ["float16", "bfloat16", "float32", "float64"]\n'
                          f"[grid]\nwidth = 2\nscale = 1.0\nmax_depth = {depth}\n")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        subprocess.run([sys.executable, "-m", "fpstudy", "run", str(config), "--results",
                        f"{scratch}/results"], check=True, capture_output=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    shown = f"{peak / 2**20:.2f} GiB" if peak > before else "not measured (an earlier child " \
        "was larger)"
    print(f"{4 * depth:,} records: peak memory {shown} (goal <= 1 GiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=2000)
    parser.add_argument("--long", type=int, default=8000)
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--plain-depth", type=int, default=1000)
    parser.add_argument("--skip-suite", action="store_true",
                        help="leave out the shipped-suite rows (they run make -j2 all twice)")
    parser.add_argument("--jobs-only", action="store_true",
                        help="only the --jobs rows")
    args = parser.parse_args()
    if args.jobs_only:
        jobs_scaling()
        return
    million_records()  # first: ru_maxrss of children is the largest child so far
    versus_plain(args.plain_depth)
    versus_plain(args.plain_depth, "arb")
    versus_plain_in_process(args.plain_depth)
    # in a process of their own, as `fpstudy run --jobs` is: forking this one, grown by the
    # rows above, would time its size, not the pool
    sys.stdout.flush()
    subprocess.run([sys.executable, __file__, "--jobs-only"], check=True)
    print(f"deep_product, one grid point in {args.dtype}: depth {args.long} vs {args.short}")
    for label, grid in SETUPS.items():
        short = time_point(grid, args.short, args.dtype)
        long = time_point(grid, args.long, args.dtype)
        ratio = long["total"] / short["total"]
        print(f"  {label:<24} time ratio {ratio:5.2f} (linear: {args.long / args.short:.2f})"
              f"   truth share {long['truth'] / long['total']:5.1%}"
              f"   measuring share {long['measure'] / long['total']:5.1%}"
              f"   in-format share {long['compute'] / long['total']:5.1%}")
    if not args.skip_suite:
        shipped_suite()
        shipped_suite("arb")


if __name__ == "__main__":
    main()
