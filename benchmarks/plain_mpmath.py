"""What a user would write without fpstudy: the exact outputs of a width-16 gaussian deep linear
network in mpmath at 113 bits, element by element, for the weights rounded to each headline
format. No proof, no measuring, no formats' own arithmetic: the yardstick for `make bench`.

    python benchmarks/plain_mpmath.py --depth 1000
"""

from __future__ import annotations

import argparse
import time

import ml_dtypes
import mpmath
import numpy as np

FORMATS = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32,
           "float64": np.float64}


def truths(depth: int, width: int = 16, seed: int = 0) -> dict[str, list]:
    """{format: [y_1, ..., y_depth]} with y_d = W_d ... W_1 ones, W_d rounded to the format."""
    z = np.random.default_rng(seed).standard_normal((depth, width, width))
    weights = z / np.sqrt(width)
    out = {}
    with mpmath.workprec(113):
        for name, dtype in FORMATS.items():
            rounded = weights.astype(dtype).astype(np.float64)
            W = [[[mpmath.mpf(float(v)) for v in row] for row in layer] for layer in rounded]
            y = [mpmath.mpf(1)] * width
            ys = []
            for layer in W:
                y = [mpmath.fdot(row, y) for row in layer]
                ys.append(y)
            out[name] = ys
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=1000)
    args = parser.parse_args()
    started = time.perf_counter()
    truths(args.depth)
    print(f"plain mpmath, width 16, depth {args.depth}, 4 formats: "
          f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
