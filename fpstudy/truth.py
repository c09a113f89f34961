"""Proven ground truth: enclosures narrowed until every quantity is pinned down.

A case's truth function computes, with an enclosure engine at some precision
(fpstudy.enclosure), an interval around the exact value of every element of every quantity.
`settle` starts at the config's precision and raises it until, for every quantity,

* the enclosure is narrower than the tolerance relative to the quantity's magnitude:
  max_i rad_i <= 2**-tolerance_bits * max_i |mid_i| (normwise, like the errors measured);
* every element is decided: its interval is the point 0 or excludes 0, so "the format gave 0
  where the truth is not 0" is a fact, not a guess;
* every element's truth class is decided in every format of the run (both ends of the interval
  round to the same class), so truth_class and avoidability are facts too.

A comparison inside the truth that the enclosure cannot decide (`enclosure.Undecided`) also
raises the precision. The precision is raised by what the widest enclosure says it lacks (so
the wrapping effect of a long product, about two bits a layer, costs one rerun, not a
doubling ladder), or doubled where the enclosure says nothing (an interval around 0).

The result is the midpoint of each interval, with its certified relative bound per quantity
(`bounds`): the exact value lies within bound * max|mid| of the midpoint, elementwise. A
quantity not pinned down below the precision cap is returned with ``settled[key] = False``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

import mpmath
from mpmath import libmp

from .enclosure import Engine, Undecided
from .formats import Format
from .metrics import truth_class

DEFAULT_START_PRECISION = 113
DEFAULT_MAX_PRECISION = 65536
# Certified relative width required of every quantity's enclosure: 2**-80 is 2**-16 below
# longdouble's unit roundoff and 2**-27 below float64's, so every error measured against the
# midpoint is the exact error to within a relative 2**-16 or better.
DEFAULT_TOLERANCE_BITS = 80
_MARGIN_BITS = 32  # added to what an enclosure says it lacks, for what it does not say

_make_mpf = mpmath.mp.make_mpf


@dataclass(frozen=True)
class Truth:
    values: dict[Hashable, list]  # key -> exact midpoints (mpf), a vector or one element
    bounds: dict[Hashable, float]  # key -> certified relative bound (normwise)
    settled: dict[Hashable, bool]  # key -> bound below the tolerance and every element decided
    precision: int  # bits of the engine that produced it


@dataclass(frozen=True)
class _Assessment:
    mids: list
    bound: float
    decided: bool  # every element's zero-ness and class decided


def settle(
    compute: Callable[[Engine], dict[Hashable, list]],
    start: int = DEFAULT_START_PRECISION,
    cap: int = DEFAULT_MAX_PRECISION,
    tolerance_bits: int = DEFAULT_TOLERANCE_BITS,
    formats: Iterable[Format] = (),
    engine: Callable[[int], Engine] = Engine,
) -> Truth:
    """Run `compute(engine(prec))` from `start`, raising prec until every quantity is proven.

    Cancellation that no fixed precision sees (2**300 - 2**-300 - 2**300 is 0 at 113 and at
    226 bits) leaves an interval around 0, which is raised until it excludes 0:

    >>> def f(ex):
    ...     big, tiny = ex.point(2.0**300), ex.point(2.0**-300)
    ...     return {"x": [(big - tiny) - big]}
    >>> t = settle(f)
    >>> t.values["x"][0] == -mpmath.mpf(2) ** -300, t.settled["x"], t.precision > 600
    (True, True, True)
    """
    formats = tuple(formats)
    tolerance = 2.0 ** -tolerance_bits
    prec = start
    while True:
        ex = engine(prec)
        try:
            result = compute(ex)
        except Undecided:
            result = None
        if result is not None:
            assessed = {k: _assess(v, formats) for k, v in result.items()}
            settled = {k: a.decided and a.bound <= tolerance for k, a in assessed.items()}
            if all(settled.values()) or prec >= cap:
                return Truth({k: a.mids for k, a in assessed.items()},
                             {k: a.bound for k, a in assessed.items()}, settled, prec)
            prec = min(cap, _next_precision(prec, assessed.values(), tolerance_bits))
        elif prec >= cap:
            return _guessed(compute, prec)
        else:
            prec = min(cap, 2 * prec)


def describe(engine: Callable[[int], Engine] = Engine) -> dict:
    """How the truth was proven, for meta.json."""
    return {"engine": engine.name, "version": engine(8).version,
            "tolerance_bits": DEFAULT_TOLERANCE_BITS,
            "method": "interval enclosures, precision raised until every quantity's relative "
                      "width is below 2**-tolerance_bits and every sign and class is decided"}


def prove(case, point: dict, exact: dict, start: int = DEFAULT_START_PRECISION,
          cap: int = DEFAULT_MAX_PRECISION, formats: Iterable[Format] = (),
          engine: Callable[[int], Engine] = Engine) -> Truth:
    """The proven truth of a case at a point: `case.truth` settled on `exact`, the inputs the
    format received as object arrays of exact mpf numbers."""
    def enclosed(ex):
        return case.truth(point, {k: ex.points(v) for k, v in exact.items()}, ex)

    return settle(enclosed, start=start, cap=cap, formats=formats, engine=engine)


def _next_precision(prec: int, assessed, tolerance_bits: int) -> int:
    """The precision the widest enclosure says is enough, or twice prec where it cannot say."""
    lacking = 0.0
    for a in assessed:
        if not a.decided or not math.isfinite(a.bound):
            return 2 * prec
        if a.bound > 0:
            lacking = max(lacking, math.log2(a.bound) + tolerance_bits)
    return max(prec + int(math.ceil(lacking)) + _MARGIN_BITS, prec + prec // 4)


def _guessed(compute, prec: int) -> Truth:
    """At the cap with a decision still open: branches by the midpoint's sign, nothing proven."""
    ex = _GuessingEngine(prec)
    result = compute(ex)
    values = {k: _assess(v, ()).mids for k, v in result.items()}
    return Truth(values, {k: math.inf for k in values}, {k: False for k in values}, prec)


class _GuessingEngine(Engine):
    def sign(self, x) -> int:
        try:
            return super().sign(x)
        except Undecided:
            a, b = x._mpi_
            return libmp.mpf_sign(libmp.mpf_add(a, b, 0))


def _assess(enclosures: list, formats: tuple[Format, ...]) -> _Assessment:
    """Midpoints, the normwise relative bound and whether every element is decided."""
    cache: dict = {}
    mids = []
    max_rad = 0.0
    decided = True
    for x in enclosures:
        a, b = x._mpi_
        key = (a, b)
        hit = cache.get(key)
        if hit is None:
            if a == b:
                mid, rad, ok = a, 0.0, True
            else:
                mid = libmp.mpf_shift(libmp.mpf_add(a, b, 0), -1)  # exact
                rad = libmp.to_float(libmp.mpf_sub(b, mid, 53, "u"), rnd="u")
                ok = _decided(a, b, formats)
            hit = cache[key] = (_make_mpf(mid), rad, ok)
        mids.append(hit[0])
        max_rad = max(max_rad, hit[1])
        decided = decided and hit[2]
    norm = max((abs(m) for m in mids), default=mpmath.mpf(0))
    if max_rad == 0.0:
        bound = 0.0
    elif norm == 0 or not mpmath.isfinite(norm):
        bound = math.inf
    else:
        # rad rounded up, norm down: the ratio is an upper bound (times 1 + 2**-50 for the
        # division's own rounding)
        norm_down = libmp.to_float(abs(norm)._mpf_, rnd="d")
        bound = max_rad / norm_down * (1 + 2.0**-50) if norm_down > 0 else math.inf
    return _Assessment(mids, bound, decided)


def _decided(a, b, formats: tuple[Format, ...]) -> bool:
    """Whether [a, b] (a < b) excludes 0 and lies in one truth class of every format."""
    if libmp.mpf_sign(a) <= 0 <= libmp.mpf_sign(b):
        return False  # straddles or touches 0: zero or not is open
    if a in (libmp.finf, libmp.fninf, libmp.fnan) or b in (libmp.finf, libmp.fninf, libmp.fnan):
        return False
    ea, eb = _exponent(a), _exponent(b)
    for fmt in formats:
        if ea == eb and ea not in _critical_exponents(fmt):
            continue  # one binade that holds no class boundary of this format
        if truth_class(_make_mpf(a), fmt) != truth_class(_make_mpf(b), fmt):
            return False
    return True


def _exponent(m) -> int:
    _sign, _man, exp, bc = m
    return exp + bc - 1


_CRITICAL: dict[str, frozenset] = {}


def _critical_exponents(fmt: Format) -> frozenset:
    """The binades in which a class boundary of `fmt` lies (rounding to 0, to the smallest
    normal, beyond max)."""
    found = _CRITICAL.get(fmt.name)
    if found is None:
        lowest = fmt.min_exponent - fmt.precision  # half the smallest subnormal
        found = _CRITICAL[fmt.name] = frozenset(
            {lowest - 1, lowest, fmt.min_exponent - 1, fmt.max_exponent - 1, fmt.max_exponent})
    return found


def agree(a: list, b: list, tolerance_bits: int) -> bool:
    """True when max|a_i - b_i| <= 2**-tolerance_bits * max|b_i| (both zero agrees).

    The old acceptance test (two precisions agree), kept as an independent check for tests.
    """
    if len(a) != len(b):
        return False
    with mpmath.workprec(64):
        norm = max((abs(x) for x in b), default=mpmath.mpf(0))
        diff = max((abs(x - y) for x, y in zip(a, b, strict=True)), default=mpmath.mpf(0))
        return diff <= mpmath.ldexp(norm, -tolerance_bits)
