"""Scaling benchmarks, run by `make bench`. They print ratios measured in one run, never assert.

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=2000)
    parser.add_argument("--long", type=int, default=8000)
    parser.add_argument("--dtype", default="float16")
    args = parser.parse_args()
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
