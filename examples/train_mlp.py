"""Train a small classifier with numpy and save what the shipped `*_trained` experiments read.

No network access and no dataset download: the data are three gaussian classes in 8
dimensions (centres drawn from a seed), the model an 8-16-16-3 relu MLP trained by full-batch
gradient descent with momentum on the softmax cross-entropy, in float32 (as a model is usually
stored). Written to OUT (default experiments/data/, out of git):

    mlp_model.npz   W1, b1, W2, b2, W3, b3 (float32; W_k has shape (n_k, n_(k-1)))
    mlp_data.npz    x (held-out inputs, float32, (samples, 8)), y (their labels, int64),
                    logits (the model's pre-softmax outputs on x, float32, (samples, 3))

    python examples/train_mlp.py [--out DIR] [--seed N] [--samples N]

The same seed gives the same files on any machine with the same numpy (the float32 matrix
products may differ in the last bits between BLAS builds; fpstudy records each file's sha256).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SIZES = (8, 16, 16, 3)


def make_data(rng: np.random.Generator, means: np.ndarray, count: int):
    """`count` points (x, label) of gaussian classes around `means`, unit variance."""
    y = rng.integers(0, SIZES[-1], count)
    x = means[y] + rng.standard_normal((count, SIZES[0]))
    return x.astype(np.float32), y.astype(np.int64)


def forward(params, x):
    acts = [x]
    for k in range(1, len(SIZES)):
        z = acts[-1] @ params[f"W{k}"].T + params[f"b{k}"]
        acts.append(np.maximum(z, 0) if k < len(SIZES) - 1 else z)
    return acts


def train(x, y, rng, steps: int = 1500, lr: float = 0.01, momentum: float = 0.9) -> dict:
    params = {}
    for k, (fan_in, fan_out) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True), start=1):
        params[f"W{k}"] = (np.sqrt(2 / fan_in) * rng.standard_normal((fan_out, fan_in))
                           ).astype(np.float32)
        params[f"b{k}"] = np.zeros(fan_out, np.float32)
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    onehot = np.eye(SIZES[-1], dtype=np.float32)[y]
    for _ in range(steps):
        acts = forward(params, x)
        logits = acts[-1]
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        delta = (p - onehot) / len(x)
        for k in range(len(SIZES) - 1, 0, -1):
            grad_w, grad_b = delta.T @ acts[k - 1], delta.sum(axis=0)
            if k > 1:
                delta = (delta @ params[f"W{k}"]) * (acts[k - 1] > 0)
            for name, g in ((f"W{k}", grad_w), (f"b{k}", grad_b)):
                velocity[name] = momentum * velocity[name] - lr * g
                params[name] = (params[name] + velocity[name]).astype(np.float32)
    return params


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="experiments/data", type=Path)
    parser.add_argument("--seed", default=0, type=int)
    parser.add_argument("--samples", default=48, type=int, help="held-out samples saved")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    means = 1.5 * rng.standard_normal((SIZES[-1], SIZES[0]))  # the classes' centres
    x_train, y_train = make_data(rng, means, 600)
    x_test, y_test = make_data(rng, means, args.samples)
    params = train(x_train, y_train, rng)
    logits = forward(params, x_test)[-1].astype(np.float32)
    accuracy = float((logits.argmax(axis=1) == y_test).mean())
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez(args.out / "mlp_model.npz", **params)
    np.savez(args.out / "mlp_data.npz", x=x_test, y=y_test, logits=logits)
    print(f"trained {'-'.join(map(str, SIZES))} MLP: held-out accuracy {accuracy:.2f}, "
          f"logits from {logits.min():.1f} to {logits.max():.1f} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
