"""Rounding rules: how an exact result becomes a value of the format.

A `Rule` has three independent parts:

* ``rounding``: nearest_even (IEEE's default), toward_zero, upward, downward (IEEE's directed
  roundings), or stochastic: round up (away from the lower neighbour) with probability
  (x - lower) / (upper - lower), so the rounded value is x in expectation;
* ``subnormals``: gradual (IEEE) or flush: a result whose rounded magnitude is below the
  smallest normal becomes a zero of the exact result's sign (flush-to-zero), and an operand
  below the smallest normal is read as zero (denormals-are-zero, `Arith` does that);
* ``overflow``: inf (IEEE: a result beyond max goes to +-inf, NaN in a format without
  infinity, except where the directed rounding points back to the range: toward_zero gives
  +-max, upward gives -max for a negative result, downward +max for a positive one), or
  saturate: every result beyond max becomes +-max (OCP fp8 "satfinite").

`round_wide` is the one place a rule is applied to arrays: the conversion of inputs, every
+ - * / of the emulated formats (and of float32 under a non-default rule) and the end of a
wider accumulation go through it (fpstudy.arith); fpstudy.crmath applies the same rule to
MPFR's results with `finish`. The exact value is given as x (float64 or longdouble) plus an
optional residual: the exact value is x + residual, the residual smaller than half an ulp of
x in x's own type (an error-free transformation's error term: `two_sum`, `div_residual`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

ROUNDINGS = ("nearest_even", "toward_zero", "upward", "downward", "stochastic")
SUBNORMALS = ("gradual", "flush")
OVERFLOWS = ("inf", "saturate")
RULE_AXES = {"rounding": ROUNDINGS, "subnormals": SUBNORMALS, "overflow": OVERFLOWS}


@dataclass(frozen=True)
class Rule:
    """A rounding rule: direction, subnormal handling and overflow handling."""

    rounding: str = "nearest_even"
    subnormals: str = "gradual"
    overflow: str = "inf"

    def __post_init__(self):
        for axis, allowed in RULE_AXES.items():
            if getattr(self, axis) not in allowed:
                raise ValueError(f"{axis} must be one of {', '.join(allowed)}, "
                                 f"not {getattr(self, axis)!r}")

    @cached_property  # asked for at every operation
    def is_default(self) -> bool:
        """IEEE's default: nearest-even, gradual underflow, overflow to inf."""
        return self == NEAREST

    @property
    def stochastic(self) -> bool:
        return self.rounding == "stochastic"

    @property
    def flush(self) -> bool:
        return self.subnormals == "flush"

    def __str__(self) -> str:
        return f"{self.rounding}/{self.subnormals}/{self.overflow}"


NEAREST = Rule()


def overflow_to_max(negative, rule: Rule):
    """Where a result beyond max becomes +-max (True) rather than +-inf (False), by the rule.

    saturate: always. inf: IEEE 754 section 7.4, where the rounding direction points back to
    the range (toward_zero; upward for a negative result; downward for a positive one).
    """
    negative = np.asarray(negative, dtype=bool)
    if rule.overflow == "saturate" or rule.rounding == "toward_zero":
        return np.ones_like(negative)
    if rule.rounding == "upward":
        return negative
    if rule.rounding == "downward":
        return ~negative
    return np.zeros_like(negative)


def round_wide(x, fmt, rule: Rule = NEAREST, rng: np.random.Generator | None = None,
               residual=None):
    """The exact values x + residual rounded to `fmt` by `rule`, and the IEEE flags raised.

    Returns (values, flags): values in x's type (float64 or longdouble), each a value of the
    format, +-inf (where the format has no infinity the caller turns it into NaN: `to_storage`)
    or NaN; flags a subset of {"overflow", "underflow"}: overflow where a finite value rounds
    beyond max (whatever the rule then makes of it), underflow where the result is below the
    smallest normal and inexact (a flushed nonzero result included).

    The magnitude is scaled by the quantum (the ulp) of its binade, clamped at the subnormal
    range, so that the two neighbours are the consecutive integers n and n + 1; the position
    between them is frac (exact, from x) plus the scaled residual, which only decides where
    frac alone cannot: at 0 (exact or just below n) and at the tie 1/2.
    """
    x = np.asarray(x)
    if x.ndim == 0 and x.dtype.itemsize <= 8 and np.ndim(residual) == 0:
        one = round_one(float(x), 0.0 if residual is None else float(residual), fmt, rule,
                         rng)
        if one is not None:
            return np.array(one[0]), one[1]
    if x.dtype not in (np.float64, np.longdouble):
        x = x.astype(np.float64)
    wide = x.dtype.type
    with np.errstate(all="ignore"):
        if residual is None:
            res = np.zeros_like(x)
        else:
            res = np.broadcast_to(np.asarray(residual, dtype=x.dtype), x.shape)
            moved = (x == 0) & (res != 0)  # the exact value is the residual alone
            x, res = np.where(moved, res, x), np.where(moved, 0, res)
        finite = np.isfinite(x)
        negative = np.signbit(x)
        a = np.where(finite, np.abs(x), 0).astype(x.dtype)
        ra = np.where(finite, np.where(negative, -res, res), 0).astype(x.dtype)
        # the exact magnitude lies strictly between nextafter(a, 0) and a when ra < 0: its binade
        a_binade = np.where(ra < 0, np.nextafter(a, wide(0)), a)
        _, e = np.frexp(a_binade)
        quantum = np.maximum(e.astype(np.int64) - 1, fmt.min_exponent) - (fmt.precision - 1)
        y = np.ldexp(a, -quantum)
        n = np.floor(y)
        frac = y - n
        r = np.ldexp(ra, -quantum)
        wrap = (frac == 0) & (r < 0)  # just below the integer n: between n - 1 and n
        n = np.where(wrap, n - 1, n)
        frac = np.where(wrap, wide(1), frac)
        exact = (frac == 0) & (r == 0)
        up = _round_up(rule, n, frac, r, exact, negative, rng)
        magnitude = np.ldexp(n + up, quantum)
        beyond = magnitude > wide(fmt.max)
        tiny = magnitude < wide(fmt.smallest_normal)
        flags = set()
        if (finite & beyond).any():
            flags.add("overflow")
        if rule.flush or not fmt.has_subnormals:
            inexact_tiny = tiny & (~exact | (magnitude != 0))
            magnitude = np.where(tiny, wide(0), magnitude)
        else:
            inexact_tiny = tiny & ~exact
        if (finite & inexact_tiny).any():
            flags.add("underflow")
        clamp = overflow_to_max(negative, rule)
        if not fmt.has_inf and not fmt.has_nan:  # nothing else to show it with (float4, float6)
            clamp = np.ones_like(clamp)
        magnitude = np.where(beyond, np.where(clamp, wide(fmt.max), wide(np.inf)), magnitude)
        out = np.where(finite, np.where(negative, -magnitude, magnitude), x)
    return out, flags


def round_one(x: float, res: float, fmt, rule: Rule, rng) -> tuple[float, set] | None:
    """round_wide of one finite float64 value and residual, step for step in Python floats
    (a rounding in a loop of scalar operations costs a few microseconds, not forty numpy
    calls); None where it would leave float64's range on the way (or x, res is not finite):
    the array path then decides. Draws what the array path draws, from the same generator."""
    if not (math.isfinite(x) and math.isfinite(res)):
        return None
    if x == 0 and res != 0:  # the exact value is the residual alone
        x, res = res, 0.0
    negative = math.copysign(1.0, x) < 0
    a = abs(x)
    ra = -res if negative else res
    # the exact magnitude lies strictly between nextafter(a, 0) and a when ra < 0: its binade
    quantum = max(math.frexp(math.nextafter(a, 0.0) if ra < 0 else a)[1] - 1,
                  fmt.min_exponent) - (fmt.precision - 1)
    try:
        y = math.ldexp(a, -quantum)
        n = float(math.floor(y))
        frac = y - n
        r = math.ldexp(ra, -quantum)
        if frac == 0 and r < 0:  # just below the integer n: between n - 1 and n
            n, frac = n - 1, 1.0
        exact = frac == 0 and r == 0
        mode = rule.rounding
        if mode == "nearest_even":
            up = frac > 0.5 or (frac == 0.5 and (r > 0 or r == 0 and math.fmod(n, 2) == 1))
        elif mode == "toward_zero":
            up = False
        elif mode == "upward":
            up = not exact and not negative
        elif mode == "downward":
            up = not exact and negative
        else:  # stochastic, as _round_up: one draw, whether or not it is needed
            if rng is None:
                raise ValueError("stochastic rounding needs a random generator")
            up = (rng.random() - frac) < r  # never when exact: a draw is >= 0
        magnitude = math.ldexp(n + up, quantum)
    except OverflowError:
        return None
    flags = set()
    beyond = magnitude > float(fmt.max)
    tiny = magnitude < float(fmt.smallest_normal)
    if beyond:
        flags.add("overflow")
    if rule.flush or not fmt.has_subnormals:
        inexact_tiny = tiny and (not exact or magnitude != 0)
        if tiny:
            magnitude = 0.0
    else:
        inexact_tiny = tiny and not exact
    if inexact_tiny:
        flags.add("underflow")
    if beyond:
        clamp = bool(overflow_to_max(negative, rule)) or (not fmt.has_inf and not fmt.has_nan)
        magnitude = float(fmt.max) if clamp else math.inf
    return (-magnitude if negative else magnitude), flags


def _round_up(rule: Rule, n, frac, r, exact, negative, rng):
    """Whether each magnitude goes to the upper neighbour n + 1 (0 or 1, in n's type)."""
    mode = rule.rounding
    if mode == "nearest_even":
        above_half = (frac > 0.5) | ((frac == 0.5) & (r > 0))
        tie = (frac == 0.5) & (r == 0)
        up = above_half | (tie & (np.fmod(n, 2) == 1))
    elif mode == "toward_zero":
        up = np.zeros(n.shape, bool)
    elif mode == "upward":
        up = ~exact & ~negative
    elif mode == "downward":
        up = ~exact & negative
    else:  # stochastic: up with probability (x - lower) / gap = frac + r
        if rng is None:
            raise ValueError("stochastic rounding needs a random generator")
        draws = rng.random(n.shape)
        # draw < frac + r, decided exactly: draw and frac are multiples of 2**-53 in [0, 1],
        # so their difference is exact in float64 (and longdouble)
        up = ~exact & ((draws.astype(n.dtype) - frac) < r)
    return up.astype(n.dtype)


def to_storage(values, fmt) -> np.ndarray:
    """Values of the format (in float64 or longdouble) as an array of the format's dtype:
    +-inf becomes NaN where the format has no infinity, -0 becomes +0 where it has no negative
    zero (the fnuz formats)."""
    values = np.asarray(values)
    with np.errstate(all="ignore"):
        if not fmt.has_inf:
            values = np.where(np.isinf(values), np.nan, values)
        if not fmt.has_negative_zero:
            values = np.where(values == 0, 0.0, values).astype(values.dtype)
        return values.astype(fmt.dtype)


def flush_operands(arrays, fmt):
    """Denormals-are-zero: every operand below the smallest normal read as a zero of its sign."""
    out = []
    for a in arrays:
        a = np.asarray(a)
        with np.errstate(all="ignore"):
            wide = a.astype(np.longdouble if a.dtype.itemsize > 8 else np.float64)
            tiny = (wide != 0) & (np.abs(wide) < fmt.smallest_normal)
        if tiny.any():
            a = np.where(tiny, np.copysign(0.0, wide), wide).astype(a.dtype)
        out.append(a)
    return out


# -- error-free transformations: the exact result of an operation as value + residual ---------


def two_sum(a, b):
    """(s, e) with s = fl(a + b) and s + e = a + b exactly (Knuth), where s is finite."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, np.where(np.isfinite(s), e, 0)


def two_sum_float(a: float, b: float) -> tuple[float, float]:
    """`two_sum` of two Python floats whose sum is finite: the same operations, the same
    result."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def div_residual_float(a: float, b: float, q: float) -> float:
    """`div_residual` of Python floats (q = a / b finite, b nonzero, a*b far from overflow):
    the same operations, the same result."""
    p = q * b
    q_hi, q_lo = _split_float(q)
    b_hi, b_lo = _split_float(b)
    e = ((q_hi * b_hi - p) + q_hi * b_lo + q_lo * b_hi) + q_lo * b_lo
    r = ((a - p) - e) / b
    return r if math.isfinite(r) else 0.0


def _split_float(a: float) -> tuple[float, float]:
    c = 134217729.0 * a  # 2**27 + 1: Veltkamp's factor for float64, as _split
    hi = c - (c - a)
    return hi, a - hi


def div_residual(a, b, q):
    """An approximation, of the right sign, of a/b - q for q = fl(a / b): (a - q*b) / b, with
    q*b formed exactly by Dekker's product (a - q*b is then exact to one rounding)."""
    hi, lo = _two_product(q, b)
    d = (a - hi) - lo
    with np.errstate(all="ignore"):
        r = d / b
    return np.where(np.isfinite(q) & np.isfinite(r), r, 0)


def _two_product(a, b):
    """(p, e) with p = fl(a * b) and p + e = a * b exactly (Dekker, Veltkamp's split)."""
    p = a * b
    a_hi, a_lo = _split(a)
    b_hi, b_lo = _split(b)
    e = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return p, e


def _split(a):
    bits = np.finfo(a.dtype).nmant + 1
    factor = a.dtype.type(2.0 ** ((bits + 1) // 2) + 1)
    c = factor * a
    hi = c - (c - a)
    return hi, a - hi
