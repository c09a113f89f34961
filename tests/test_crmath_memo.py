"""crmath.evaluate's memo of MPFR's results gives what the per-element loop it replaced gave
(copied here as `reference_evaluate`), bit for bit, with the same flags and the same draws:
cold, warm, and with a memo emptied again and again."""

from __future__ import annotations

import gmpy2
import numpy as np
import pytest
from test_small_paths import FP12, same_array, value_pool

from fpstudy import crmath
from fpstudy.arith import round_array
from fpstudy.crmath import BINARY, FUNCTIONS, evaluate
from fpstudy.formats import FORMATS
from fpstudy.rounding import NEAREST, Rule


def reference_evaluate(name, x, fmt, rule=NEAREST, rng=None):
    """crmath.evaluate as it was before the memo, without its deduplication: MPFR on every
    element, each in a fresh copy of the format's context."""
    func = crmath._ALL[name]
    operands = [np.asarray(a) for a in x] if name in BINARY else [np.asarray(x)]
    shape = np.broadcast_shapes(*(a.shape for a in operands))
    cols = [np.broadcast_to(a, shape).astype(np.float64).reshape(-1) for a in operands]
    size = cols[0].size
    stochastic = rule.stochastic
    flags: set[str] = set()
    low, high, position, special, inexacts = [], [], [], [], []
    ctx_down = crmath._context(fmt, "downward" if stochastic else rule.rounding)
    ctx_up = crmath._context(fmt, "upward")
    for args in zip(*([gmpy2.mpfr(v, 53) for v in c.tolist()] for c in cols), strict=True):
        with gmpy2.context(ctx_down) as ctx_now:
            r = func(*args)
            inexact, invalid, divzero = ctx_now.inexact, ctx_now.invalid, ctx_now.divzero
        if invalid and not gmpy2.is_nan(r):
            flags.add("invalid")
        if gmpy2.is_nan(r):
            if not any(gmpy2.is_nan(a) for a in args):
                flags.add("invalid")
        elif gmpy2.is_infinite(r) and (divzero or not all(gmpy2.is_finite(a) for a in args)):
            if divzero:
                flags.add("divide")
            r = r if fmt.has_inf else gmpy2.nan()
        else:
            special.append(False)
            inexacts.append(bool(inexact))
            hi, where = r, 0.0
            if stochastic and inexact:
                with gmpy2.context(ctx_up):
                    hi = func(*args)
                with gmpy2.context(crmath._fine_context(fmt)):
                    fine = func(*args)
                    if not (gmpy2.is_finite(hi) and gmpy2.is_finite(r)):
                        where = 1.0
                    elif fine > 0:
                        where = float((fine - r) / (hi - r))
                    else:
                        where = float((hi - fine) / (hi - r))
            low.append(r)
            high.append(hi)
            position.append(where)
            continue
        special.append(True)
        inexacts.append(False)
        low.append(r)
        high.append(r)
        position.append(0.0)
    low_v = np.array([float(r) for r in low], dtype=np.float64)
    high_v = np.array([float(r) for r in high], dtype=np.float64)
    if stochastic:
        draws = rng.random(size)
        away = draws < np.asarray(position, dtype=np.float64)
        negative = (low_v < 0) | ((low_v == 0) & (high_v == 0) & np.signbit(low_v))
        values = np.where(away != negative, high_v, low_v)
    else:
        values = low_v
    values, more = crmath._finish(values, np.asarray(special, dtype=bool),
                                  np.asarray(inexacts, dtype=bool), fmt, rule)
    flags.update(more)
    return crmath.to_storage(values.reshape(shape), fmt), flags


MEMO_FORMATS = [FORMATS[n] for n in ("float16", "bfloat16", "float32", "float64",
                                     "float8_e4m3fn", "float8_e5m2fnuz", "float4_e2m1fn")]
MEMO_FORMATS.append(FP12)


def function_arguments(fmt, seed: int) -> np.ndarray:
    """Edge values, random values over the range, and repeats (the memo's hits)."""
    rng = np.random.default_rng(seed)
    pool = value_pool(fmt, seed)
    near = round_array(rng.uniform(-12, 12, 40), fmt).astype(np.float64)
    values = np.concatenate([pool, near, pool[:20], near[::-1]])
    return round_array(values, fmt)


@pytest.mark.parametrize("rule", [NEAREST, Rule("downward"), Rule("upward", "flush"),
                                  Rule("stochastic"), Rule("stochastic", "flush", "saturate")],
                         ids=str)
@pytest.mark.parametrize("fmt", MEMO_FORMATS, ids=lambda f: f.name)
def test_memo_equals_the_per_element_loop(monkeypatch, fmt, rule):
    x = function_arguments(fmt, 5)
    cases = [(name, x) for name in sorted(FUNCTIONS)]
    if fmt.name == "float64":  # + - * / by MPFR (float64 under a non-default rule)
        y = np.random.default_rng(6).permutation(x)
        cases += [(name, (x, y)) for name in sorted(BINARY)]
    for memo_limit in (crmath._MEMO_LIMIT, 3):  # a memo that is emptied again and again
        monkeypatch.setattr(crmath, "_MEMO", {})
        monkeypatch.setattr(crmath, "_MEMO_LIMIT", memo_limit)
        for name, args in cases:
            for part in (slice(None), slice(0, 1), slice(0, 0), slice(10, 30)):
                sub = tuple(a[part] for a in args) if isinstance(args, tuple) else args[part]
                with np.errstate(all="ignore"):
                    want, want_flags = reference_evaluate(name, sub, fmt, rule,
                                                          np.random.default_rng(8))
                for _ in range(2):  # cold, then warm
                    rng = np.random.default_rng(8)
                    got, got_flags = evaluate(name, sub, fmt, rule, rng)
                    assert same_array(got, want), (name, part, got, want)
                    assert got_flags == want_flags, (name, part)


def test_memo_keeps_zeros_signs_and_nans_apart(monkeypatch):
    monkeypatch.setattr(crmath, "_MEMO", {})
    f16 = FORMATS["float16"]
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 0.0], dtype=np.float16)
    for _ in range(2):
        got, flags = evaluate("log", x, f16)
        assert got.tolist()[:4] == [-np.inf, -np.inf, np.inf, np.nan] or np.isnan(got[3])
        assert flags == {"divide", "invalid"}
        got, _ = evaluate("tanh", x[:2], f16)
        assert np.signbit(got).tolist() == [False, True]
