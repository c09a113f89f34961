"""metrics.measure against the implementation it replaced: every column computed with mpmath's
own numbers (an mpf object per step, at mpmath's default 53 bits and 192 bits for the errors),
element by element, no approximation. measure now computes on raw mpf tuples with the libmp
operations those objects call, and picks the deciding elements of a vector from float
approximations first; on random and edge arrays in every format both must give the same
Measurement, bit for bit.

The reference below is the measure of fpstudy 0.1 (its exact path), kept as written then, with
one deliberate change: |value| is compared exactly with the smallest normal and with max (it
was rounded to 53 bits, which put a 64-bit longdouble just below the smallest normal among the
normals).
"""

from __future__ import annotations

import math
import random
import warnings

import mpmath
import numpy as np
import pytest

from fpstudy.exact import to_mpf, to_mpf_list, ulp
from fpstudy.formats import FORMATS
from fpstudy.metrics import OUTCOMES, measure, truth_class
from fpstudy.truth import approximation

mpf = mpmath.mpf
_SEVERITY = {o: i for i, o in enumerate(OUTCOMES)}


def _ref_outcome(value, truth, fmt) -> str:
    if mpmath.isnan(value):
        return "nan"
    if mpmath.isinf(value):
        return "overflow"
    exact_abs = mpmath.mp.make_mpf(mpmath.libmp.mpf_abs(value._mpf_))
    if exact_abs == to_mpf(fmt.max) and truth_class(truth, fmt) == "overflows":
        return "overflow"
    if value == 0:
        return "underflow" if truth != 0 else "ok"
    if exact_abs < to_mpf(fmt.smallest_normal):
        return "subnormal"
    return "ok"


def _ref_special(values) -> float:
    return math.nan if any(mpmath.isnan(v) for v in values) else math.inf


def reference_measure(value_array, truth, fmt) -> tuple:
    value_array = np.asarray(value_array)
    values = to_mpf_list(value_array)
    outcomes = [_ref_outcome(v, t, fmt) for v, t in zip(values, truth, strict=True)]
    if outcomes:
        worst = max(outcomes, key=_SEVERITY.__getitem__)
        culprit = max((abs(truth[i]), i) for i, o in enumerate(outcomes) if o == worst)[1]
        cls = truth_class(truth[culprit], fmt)
    else:
        worst, cls = "ok", "zero"
    if any(mpmath.isnan(v) for v in values):
        value_log10 = math.nan
    else:
        value_log10 = float(mpmath.log10(max((abs(v) for v in values), default=mpf(0))))
    norm = max((abs(t) for t in truth), default=mpf(0))
    if any(not mpmath.isfinite(v) for v in values):
        rel = ulps = _ref_special(values)
    else:
        with mpmath.workprec(192):
            err = max((abs(v - t) for v, t in zip(values, truth, strict=True)), default=mpf(0))
            rel = (0.0 if err == 0 else math.inf) if norm == 0 else float(err / norm)
            ulps = float(err / ulp(norm, fmt))
    exact_truth = truth[0] if value_array.ndim == 0 else norm
    with np.errstate(all="ignore"):
        wide = value_array.astype(np.float64)
        shown = float(wide if wide.ndim == 0 else np.abs(wide).max(initial=0.0))
    return (shown, value_log10, float(exact_truth), float(mpmath.log10(abs(exact_truth))),
            rel, ulps, worst, cls)


def _same(a: tuple, b: tuple) -> bool:
    return all((x == y) or (isinstance(x, float) and math.isnan(x) and math.isnan(y))
               for x, y in zip(a, b, strict=True))


def _columns(m) -> tuple:
    return (m.value, m.value_log10, m.truth, m.truth_log10, m.rel_error, m.ulp_error,
            m.outcome, m.truth_class)


NAMES = ["float16", "bfloat16", "float32", "float64", "float8_e4m3fn", "float8_e5m2",
         "longdouble"]


def _edges(fmt) -> list:
    """Exact values at every class boundary of fmt: 0, half the smallest subnormal (a tie to
    0), the smallest subnormal, the smallest normal and its neighbours, 1, max and past it."""
    tiny = to_mpf(fmt.smallest_subnormal)
    normal = to_mpf(fmt.smallest_normal)
    top = to_mpf(fmt.max)
    out = [mpf(0), tiny / 2, tiny, tiny * 3 / 2, normal, normal - tiny, normal + tiny,
           mpf(1), top, top * (1 + mpmath.ldexp(1, -fmt.precision - 1)), top * 2]
    return out + [-x for x in out]


def _nearby(rng: random.Random, x, fmt):
    """x moved by a few bits below its precision (or left alone)."""
    if x == 0 or rng.random() < 0.3:
        return x
    shift = rng.choice([1, 2, fmt.precision - 1, fmt.precision, fmt.precision + 1, 60, 130])
    return x * (1 + rng.choice([-1, 1]) * mpmath.ldexp(rng.randint(1, 7), -shift))


def _case(rng: random.Random, name: str, size: int):
    """(values in the format, truths as exact mpf): a mix of edges, random magnitudes across the
    whole range, truths near the values, and NaN, inf and signed zeros among the values."""
    fmt = FORMATS[name]
    dtype = fmt.dtype
    with mpmath.workprec(256):
        truths = []
        for _ in range(size):
            pick = rng.random()
            if pick < 0.35:
                t = rng.choice(_edges(fmt))
            else:
                lo, hi = fmt.min_exponent - fmt.precision - 3, fmt.max_exponent + 2
                t = mpmath.ldexp(mpf(rng.random()) + mpf(rng.getrandbits(100)) / 2**100,
                                 rng.randint(lo, hi)) * rng.choice([-1, 1])
            truths.append(+_nearby(rng, t, fmt))
        values = []
        for t in truths:
            pick = rng.random()
            if pick < 0.05:
                values.append(math.nan)
            elif pick < 0.1:
                values.append(rng.choice([math.inf, -math.inf]))
            elif pick < 0.15:
                values.append(rng.choice([0.0, -0.0]))
            else:
                values.append(_nearby(rng, t, fmt))
    array = np.empty(size, dtype=dtype)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a longdouble past max from its decimal string
        for i, v in enumerate(values):
            if isinstance(v, float):
                array[i] = v
            elif dtype == np.longdouble:
                array[i] = np.longdouble(mpmath.nstr(v, 30, strip_zeros=False)) \
                    if mpmath.isfinite(v) else np.longdouble(float(v))
            else:  # nearest in float64, then to the format by ml_dtypes (or numpy)
                array[i] = np.float64(float(v)).astype(dtype)
    # the truths are rounded to 128 bits, as fpstudy.truth reports them
    make, pos = mpmath.mp.make_mpf, mpmath.libmp.mpf_pos
    return array, [make(pos(t._mpf_, 128, "n")) for t in truths]


@pytest.mark.parametrize("name", NAMES)
def test_measure_equals_the_reference_on_random_and_edge_arrays(name):
    rng = random.Random(f"measure-{name}")
    fmt = FORMATS[name]
    for size in (1, 1, 2, 3, 9, 40, 200):
        for _ in range(25 if size < 10 else 6):
            array, truths = _case(rng, name, size)
            expected = reference_measure(array, truths, fmt)
            got = measure(array, truths, fmt)
            assert _same(_columns(got), expected), (name, array, truths)
            fast = measure(array, truths, fmt, approximation(truths))
            assert _same(_columns(fast), expected), (name, array, truths)
            scalar = measure(array[0].reshape(()), truths[:1], fmt)  # a 0-d result
            assert _same(_columns(scalar), reference_measure(array[0].reshape(()),
                                                             truths[:1], fmt))


def test_the_edge_cases_are_drawn():
    """The cases above reach every outcome and every truth class, in the small formats."""
    outcomes, classes = set(), set()
    rng = random.Random("coverage")
    for name in ("float16", "bfloat16", "float8_e4m3fn"):
        for _ in range(40):
            array, truths = _case(rng, name, 5)
            for v, t in zip(array, truths, strict=True):
                m = measure(v.reshape(()), [t], FORMATS[name])
                outcomes.add(m.outcome)
                classes.add(m.truth_class)
    assert outcomes == set(OUTCOMES)
    assert classes == {"normal", "subnormal", "underflows", "overflows", "zero"}


def test_longdouble_just_below_the_smallest_normal_is_subnormal():
    """A 64-bit longdouble one ulp below the smallest normal: its |value| rounded to 53 bits is
    the smallest normal itself, so the old comparison called it ok; compared exactly it is
    subnormal, as its exponent says."""
    fmt = FORMATS["longdouble"]
    if fmt.precision <= 53:
        pytest.skip("longdouble is float64 here")
    below = np.nextafter(np.longdouble(fmt.smallest_normal), np.longdouble(0))
    truth = to_mpf(below)
    m = measure(np.array(below), [truth], fmt)
    assert (m.outcome, m.truth_class, m.rel_error) == ("subnormal", "subnormal", 0.0)



def test_measure_all_equals_measure_one_by_one(monkeypatch):
    """measure_all (vectors of one size with an approximation picked together by numpy, in
    windows) yields, in order, exactly what measure gives for each result: a mix of sizes,
    scalars, results without an approximation and constant vectors (many ties), across
    window boundaries."""
    import fpstudy.metrics as metrics

    monkeypatch.setattr(metrics, "_WINDOW_ROWS", 7)
    rng = random.Random("measure_all")
    for name in ("float16", "bfloat16", "float32", "float64"):
        fmt = FORMATS[name]
        items = []
        for k in range(40):
            size = rng.choice([1, 9, 9, 16, 16, 100])
            array, truths = _case(rng, name, size)
            if k % 5 == 0:  # a constant vector: every element ties
                array = np.full(size, array[0])
                truths = [truths[0]] * size
            if size == 1 and k % 2:
                array = array.reshape(())
            approx = approximation(truths) if k % 7 else None
            items.append((array, truths, approx))
        expected = [_columns(measure(a, t, fmt, ap)) for a, t, ap in items]
        got = [_columns(m) for m in metrics.measure_all(iter(items), fmt)]
        assert len(got) == len(expected)
        assert all(_same(g, e) for g, e in zip(got, expected, strict=True)), name
