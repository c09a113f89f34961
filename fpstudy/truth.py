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

import gc
import importlib
import math
from collections.abc import Callable, Hashable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field

import gmpy2
import mpmath
import numpy as np
from mpmath import libmp

from .enclosure import DyadicEngine, Engine, NotDyadic, PointEngine, Undecided, _mpf_max
from .exact import raw_mpfs
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
    # key -> (n, 4) float64 array of rows (hi, lo, is_zero, log2_abs): hi + lo = midpoint to
    # ~106 bits where it lies well inside float64's range (2**-900 < |mid| < 2**900; hi = lo
    # = 0 outside it), and log2|mid| for every element; absent when a midpoint is not finite.
    # Lets `metrics.measure` find the few elements that decide each column without mpmath.
    approx: dict[Hashable, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class _Assessment:
    mids: list
    bound: float
    decided: bool  # every element's zero-ness and class decided
    max_rad: tuple  # the widest radius (raw mpf), for a precision estimate from a hint
    approx: np.ndarray | None  # (n, 4): hi, lo, is_zero, log2_abs; see Truth.approx
    rounded: bool = True  # every element's REPORTED_BITS rounding decided
    rounding_lacks: float = 0.0  # bits more that the widest undecided rounding needs


def settle(
    compute: Callable[[Engine], dict[Hashable, list]],
    start: int = DEFAULT_START_PRECISION,
    cap: int = DEFAULT_MAX_PRECISION,
    tolerance_bits: int = DEFAULT_TOLERANCE_BITS,
    formats: Iterable[Format] = (),
    engine: Callable[[int], Engine] = Engine,
    hints: dict[Hashable, float] | None = None,
    exact_first: bool = True,
) -> Truth:
    """Run `compute(engine(prec))` from `start`, raising prec until every quantity is proven.

    `hints` give each quantity's approximate magnitude as log2; they only help choose the next
    precision when an enclosure straddles 0. Without them, a plain mpmath evaluation
    (enclosure.PointEngine) supplies them when needed.

    With `exact_first`, the truth is first tried in exact dyadic arithmetic
    (enclosure.DyadicEngine): a truth that only adds and multiplies its inputs is then exact,
    with bound 0 and `precision` the largest significand it needed.

    Cancellation that no fixed precision sees (2**300 - 2**-300 - 2**300 is 0 at 113 and at
    226 bits) leaves an interval around 0, which is raised until it excludes 0:

    >>> def f(ex):
    ...     big, tiny = ex.point(2.0**300), ex.point(2.0**-300)
    ...     return {"x": [(big - tiny) - big]}
    >>> t = settle(f, exact_first=False)
    >>> t.values["x"][0] == -mpmath.mpf(2) ** -300, t.settled["x"], t.precision > 600
    (True, True, True)
    """
    formats = tuple(formats)
    tolerance = 2.0 ** -tolerance_bits
    if exact_first:
        try:
            result = compute(DyadicEngine())
        except NotDyadic:
            pass
        else:
            bits = max((x.m[3] for v in result.values() for x in v), default=0)
            assessed = _assess_all(result, formats)
            return Truth({k: a.mids for k, a in assessed.items()},
                         {k: 0.0 for k in assessed}, {k: True for k in assessed},
                         max(bits, 1), {k: a.approx for k, a in assessed.items()
                          if a.approx is not None})
    prec = min(cap, max(start, REPORTED_BITS + 64))  # decides most 128-bit roundings at once
    while True:
        ex = engine(prec)
        try:
            result = compute(ex)
        except Undecided:
            result = None
        if result is not None:
            ends = None if ex.ends is Engine.ends else ex.ends  # None: mpmath's, read directly
            assessed = {k: _assess(v, formats, ends) for k, v in result.items()}
            settled = {k: a.decided and a.rounded and a.bound <= tolerance
                       for k, a in assessed.items()}
            if all(settled.values()) or prec >= cap:
                return Truth({k: a.mids for k, a in assessed.items()},
                             {k: a.bound for k, a in assessed.items()}, settled, prec,
                             {k: a.approx for k, a in assessed.items()
                          if a.approx is not None})
            if hints is None and not all(a.decided and math.isfinite(a.bound)
                                         for a in assessed.values()):
                # an engine whose midpoints are a plain evaluation's (arb's) reads them;
                # else one plain mpmath evaluation supplies the magnitudes
                estimate = getattr(ex, "magnitudes", None)
                hints = estimate(result) if estimate else _magnitudes(compute, prec)
            prec = min(cap, _next_precision(prec, assessed, tolerance_bits, hints or {}))
        elif prec >= cap:
            return _guessed(compute, prec)
        else:
            prec = min(cap, 2 * prec)


# The enclosure engines a config or the command line may choose, by name: the module and class
# of each, imported when chosen (python-flint, arb's, is an optional extra).
ENGINES = {"mpmath": ("fpstudy.enclosure", "Engine"), "arb": ("fpstudy.arb", "ArbEngine")}
DEFAULT_ENGINE = "mpmath"
ENGINE_EXTRAS = {"arb": "python-flint"}  # what a missing engine needs


def engine_named(name: str) -> Callable[[int], Engine]:
    """The engine class of a name in ENGINES (ImportError when its library is missing).

    >>> engine_named("mpmath").name
    'mpmath'
    """
    module, cls = ENGINES[name]
    return getattr(importlib.import_module(module), cls)


def engine_missing(name: str) -> str:
    """What to say when an engine's library is not installed."""
    return (f"the {name} engine needs {ENGINE_EXTRAS.get(name, 'its library')}, which is not "
            f"installed; install it with: pip install 'fpstudy[{name}]' (make installs it)")


def engine_available(name: str) -> bool:
    """Whether the engine's library is installed (the name being one of ENGINES)."""
    try:
        engine_named(name)
    except ImportError:
        return False
    return True


def describe(engine: Callable[[int], Engine] = Engine) -> dict:
    """How the truth was proven, for meta.json."""
    enclosures = "arb ball" if engine.name == "arb" else "interval"
    return {"engine": engine.name, "version": engine(8).version,
            "tolerance_bits": DEFAULT_TOLERANCE_BITS,
            "method": f"{enclosures} enclosures, precision raised until every quantity's "
                      "relative width is below 2**-tolerance_bits and every sign and class is "
                      "decided"}


def prove(case, point: dict, exact: dict, start: int = DEFAULT_START_PRECISION,
          cap: int = DEFAULT_MAX_PRECISION, formats: Iterable[Format] = (),
          engine: Callable[[int], Engine] = Engine, hints: dict | None = None) -> Truth:
    """The proven truth of a case at a point: `case.truth` settled on `exact`, the inputs the
    format received (format arrays, or object arrays of exact mpf numbers). Each is split into
    exact significands and exponents once, whatever the engines and precisions tried."""
    raw = {k: (raw_mpfs(v), np.shape(v)) for k, v in exact.items()}

    def enclosed(ex):
        return case.truth(point, {k: ex.from_raw(*r) for k, r in raw.items()}, ex)

    with no_cycle_collection():
        return settle(enclosed, start=start, cap=cap, formats=formats, engine=engine,
                      hints=hints)


@contextmanager
def no_cycle_collection():
    """Python's cycle collector off while a truth is computed: a truth makes millions of small
    objects (one per input and per operation) and no reference cycles, and each collection of
    the oldest generation would walk all of them again, which cost up to half the truth's
    time. Its garbage is freed by reference counting as usual; the collector runs again after.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _magnitudes(compute, prec: int) -> dict:
    """Each quantity's magnitude from a plain (unproven) evaluation at `prec` bits: where an
    enclosure straddles 0 it says how small the value is. A function of the inputs alone, so
    the precision chosen, and every column, is the same whoever asks."""
    try:
        result = compute(PointEngine(prec))
    except (ArithmeticError, ValueError):
        return {}
    out = {}
    for key, values in result.items():
        norm = max((abs(v) for v in values), default=0)
        out[key] = _exponent(norm._mpf_) if norm else -math.inf  # log2, within one
    return out


def _next_precision(prec: int, assessed: dict, tolerance_bits: int, hints: dict) -> int:
    """The precision the widest enclosure says is enough, or twice prec where it cannot say.

    An enclosure around 0 says nothing about the magnitude it should have been measured
    against; a hint (the magnitude a format computed for that quantity) stands in for it. A
    wrong hint costs another run, never a wrong truth.
    """
    lacking = 0.0
    for key, a in assessed.items():
        lacking = max(lacking, a.rounding_lacks)
        if a.decided and math.isfinite(a.bound):
            if a.bound > 0:
                lacking = max(lacking, math.log2(a.bound) + tolerance_bits)
            continue
        hint_log2 = hints.get(key, -math.inf)
        if not math.isfinite(hint_log2) or a.max_rad in (libmp.finf, libmp.fnan):
            return 2 * prec
        rad_log2 = _exponent(a.max_rad) + 1  # an upper bound on log2(rad)
        lacking = max(lacking, rad_log2 - hint_log2 + tolerance_bits)
    wanted = max(prec + int(math.ceil(lacking)) + _MARGIN_BITS, prec + prec // 4)
    return -(-wanted // 64) * 64  # whole limbs: few distinct precisions, few contexts


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


def _assess_all(result: dict, formats: tuple[Format, ...]) -> dict:
    """_assess of every exact quantity, each one's numbers let go once assessed (`result` is
    emptied): a deep product's exact values and their midpoints are not all held at once."""
    assessed = {}
    for key in list(result):
        assessed[key] = _assess(result.pop(key), formats)
    return assessed


def _assess(enclosures: list, formats: tuple[Format, ...], ends=None) -> _Assessment:
    """Midpoints, the normwise relative bound and whether every element is decided.

    `ends(x)` gives an enclosure's (lower, upper) ends as raw mpf (the engine's `ends`); by
    default they are read from mpmath's intervals (`_mpi_`) directly.

    Radii and norms stay mpmath numbers (a float would round a radius of 2**-2000 to 0 and
    claim an exact truth); only the ratio, rounded up, becomes a float.

    Most enclosures are the common case: narrow, away from 0, both ends in one binade that
    holds no class boundary and rounding to the same REPORTED_BITS number. `_usual` assesses
    those with integer arithmetic and one C rounding each; `_unusual` takes everything else
    the general way. Both give what the general way gives (tests/test_truth_mutants.py).
    """
    zero = libmp.fzero
    critical = _all_critical(formats)
    cache: dict = {}
    mids, parts = [], []
    max_rad = zero
    decided = in_range = rounded = True
    lacks = 0.0
    for a, b in (x._mpi_ for x in enclosures) if ends is None else map(ends, enclosures):
        # equal enclosures share one entry, and so one midpoint object (a constant vector of
        # a million elements holds one); an exact end pair (a dyadic truth) is keyed by its
        # one end, its significand hashed once, not twice; a long exact number (a deep
        # product's) has an entry of its own: it rarely recurs, and hashing it costs its length
        if a is b and a[3] > _HASHED_BITS:
            key, hit = len(mids), None  # (an int: never the key of another entry)
        else:
            key = a if a is b else (a, b)
            hit = cache.get(key)
        if hit is None:
            if a is b or a == b:  # exact (a dyadic truth): kept exactly
                mid, ok, done = a, True, True
            else:
                found = _usual(a, b, critical)
                if found is None:
                    found = _unusual(a, b, formats)
                mid, rad, ok, done, lacking = found
                lacks = max(lacks, lacking)
                if _may_exceed(rad, max_rad) and libmp.mpf_gt(rad, max_rad):
                    max_rad = rad
            split = _split(mid)
            hit = cache[key] = (_make_mpf(mid), mid, ok, split, done)
            in_range = in_range and split is not None
        mids.append(hit[0])
        parts.append(hit[3])
        decided = decided and hit[2]
        rounded = rounded and hit[4]
    approx = None
    if in_range:
        approx = _columns(parts)
    norm = zero  # max |mid|: it only matters to a radius (an exact truth's bound is 0)
    if max_rad != zero:
        for hit in cache.values():
            if _may_exceed(hit[1], norm) and libmp.mpf_gt(libmp.mpf_abs(hit[1]), norm):
                norm = libmp.mpf_abs(hit[1])
    return _Assessment(mids, _ratio_up(max_rad, norm), decided, max_rad, approx, rounded,
                       lacks)


_HASHED_BITS = 1024  # exact numbers longer than this are not looked up (see _assess)


def _may_exceed(x, y) -> bool:
    """False only where |x| < |y| is plain from the binades (both finite and nonzero): the
    exact comparison is then skipped, as it would say no."""
    return not (x[1] and y[1]) or x[2] + x[3] >= y[2] + y[3]


_round = gmpy2._mpmath_normalize  # (sign, man, exp, bc, prec, rnd): mpmath's rounding, in C


def _usual(a, b, critical: frozenset) -> tuple | None:
    """(mid, rad, decided, rounded, lacks) of the enclosure [a, b] (a < b) in the usual case,
    or None outside it: both ends finite and nonzero, in one binade that holds no class
    boundary of any format (so every class is decided), and rounding to the same number at
    REPORTED_BITS, the midpoint reported (so both have one sign: 0 is excluded). rad =
    max(b - mid, mid - a) rounded up to 53 bits, as `_unusual` computes it, here on integers
    over the least exponent."""
    sa, ma, xa, ba = a
    sb, mb, xb, bb = b
    if not ma or not mb:  # touches 0, or an inf or NaN end (ends of two signs round apart)
        return None
    top = xa + ba
    if top != xb + bb or top - 1 in critical:
        return None
    r = a if ba <= REPORTED_BITS else _round(sa, ma, xa, ba, REPORTED_BITS, "n")
    if (b if bb <= REPORTED_BITS else _round(sb, mb, xb, bb, REPORTED_BITS, "n")) != r:
        return None
    # (r may be 2**top, rounded up out of the binade: its class is still theirs, as no class
    # boundary is a power of two with another class just below it; see _critical_exponents)
    _sr, mr, xr, br = r
    low = min(xa, xb)  # (r, a rounding of a and of b, has an exponent at least theirs)
    ia, ib, ir = ma << (xa - low), mb << (xb - low), mr << (xr - low)
    # |a| < |b| for positive ends, |a| > |b| for negative ones: b - r and r - a in magnitudes
    wide = max(ib - ir, ir - ia) if not sa else max(ir - ib, ia - ir)
    return r, _round(0, wide, low, wide.bit_length(), 53, "u"), True, True, 0.0


def _unusual(a, b, formats: tuple[Format, ...]) -> tuple:
    """(mid, rad, decided, rounded, lacks) of the enclosure [a, b] (a < b), in general."""
    middle = libmp.mpf_shift(libmp.mpf_add(a, b, 0), -1)  # exact
    rad = libmp.mpf_sub(b, middle, 53, "u")
    ok = _decided(a, b, formats)
    mid, done = _reported(a, b, middle, formats) if ok else (middle, False)
    if mid is not middle:  # the exact value lies within [a, b] of the rounded one
        rad = _mpf_max((libmp.mpf_sub(b, mid, 53, "u"), libmp.mpf_sub(mid, a, 53, "u")))
    lacks = 0.0
    if ok and not done:
        lacks = _exponent(rad) - _exponent(middle) + REPORTED_BITS + 4
    return mid, rad, ok, done, lacks


# The truth of an enclosure is reported correctly rounded to this many bits (binary128's
# precision and more): a number every engine and precision agree on, so every column measured
# against it is the same whichever engine proved it. 128 bits is 2**-64 below longdouble's
# unit roundoff: the errors measured against it are exact to that.
REPORTED_BITS = 128


def _reported(a, b, middle, formats: tuple[Format, ...]) -> tuple:
    """(the value reported for the enclosure [a, b] (a < b), whether it is decided): both ends
    rounded to nearest at REPORTED_BITS bits agree, so the exact value rounds to that too, and
    it lies in the class the exact value lies in for every format. In the rare case where
    the rounding crosses a class boundary (the exact value within 2**-128 of one), the
    enclosure's own midpoint is reported instead."""
    ra = libmp.mpf_pos(a, REPORTED_BITS, "n")
    if ra != libmp.mpf_pos(b, REPORTED_BITS, "n"):
        return middle, False
    same_binade = _exponent(ra) == _exponent(a)
    if same_binade and _exponent(a) not in _all_critical(formats):
        return ra, True  # one binade holding no class boundary of any format
    for fmt in formats:
        if same_binade and _exponent(a) not in _critical_exponents(fmt):
            continue  # one binade holding no class boundary of this format
        if truth_class(_make_mpf(ra), fmt) != truth_class(_make_mpf(a), fmt):
            return middle, True
    return ra, True


def approximation(values: list) -> np.ndarray | None:
    """The (n, 4) float64 array of (hi, lo, is_zero, log2_abs) of exact mpf values (see
    Truth.approx), or None when one is not finite."""
    parts = [_split(v._mpf_) for v in values]
    if any(p is None for p in parts):
        return None
    return _columns(parts)


def _columns(parts: list) -> np.ndarray:
    """The (n, 4) array of (hi, lo, is_zero, log2_abs) rows: one object per quantity, not four
    (a deep product has one quantity per depth)."""
    return np.array(parts, dtype=np.float64).reshape(len(parts), 4)


def _split(m) -> tuple | None:
    """(hi, lo, is_zero, log2|m|) with hi + lo = m to about 106 bits where 2**-900 < |m| <
    2**900 (hi = lo = 0 outside that range), or None for an infinite or NaN m. Integer
    arithmetic on m's significand: hi is its leading 53 bits, lo the next 53 of what is left.

    >>> _split(libmp.from_man_exp(2 ** 60 + 3, 0)) == (2.0 ** 60, 3.0, 0.0, 60.0)
    True
    """
    if m == libmp.fzero:
        return (0.0, 0.0, 1.0, -math.inf)
    if m in (libmp.finf, libmp.fninf, libmp.fnan):
        return None
    sign, man, exp, bc = m
    exponent = exp + bc - 1
    top = man >> (bc - 53) if bc > 53 else man << (53 - bc)  # in [2**52, 2**53): a float
    if not -900 < exponent < 900:
        return (0.0, 0.0, 0.0, exponent + math.log2(top) - 52)
    # hi: m's leading 53 bits (truncated), lo: the next 53 of the rest; exact conversions
    hi = math.ldexp(top, exponent - 52)
    window = (man >> (bc - 106)) & _BITS53 if bc > 106 else 0  # the 53 bits after the top
    if window:  # the rest's length from them, and its leading 53 bits shifted out of man:
        # no integer as long as m (an exact deep product's has 10**5 bits)
        drop = max(0, bc - 159 + window.bit_length())
        lo = math.ldexp((man >> drop) & _BITS53, exp + drop)
        return (-hi, -lo, 0.0, math.log2(hi)) if sign else (hi, lo, 0.0, math.log2(hi))
    rest = man - (top << (bc - 53)) if bc > 53 else 0
    lo = 0.0
    if rest:
        drop = max(0, rest.bit_length() - 53)
        lo = math.ldexp(rest >> drop, exp + drop)
    return (-hi, -lo, 0.0, math.log2(hi)) if sign else (hi, lo, 0.0, math.log2(hi))


_BITS53 = (1 << 53) - 1
_TINY_BOUND = 2.0 ** -1000


def _ratio_up(rad, norm) -> float:
    """rad / norm rounded up to a float: 0 only for an exact (zero-radius) truth."""
    if rad == libmp.fzero:
        return 0.0
    if norm == libmp.fzero or norm in (libmp.finf, libmp.fnan) or rad in (libmp.finf,
                                                                             libmp.fnan):
        return math.inf
    ratio = libmp.mpf_div(rad, norm, 53, "u")
    if _exponent(ratio) < -1000:
        return _TINY_BOUND  # an upper bound too, and a float
    return libmp.to_float(ratio, rnd="u")


def _decided(a, b, formats: tuple[Format, ...]) -> bool:
    """Whether [a, b] (a < b) excludes 0 and lies in one truth class of every format."""
    if libmp.mpf_sign(a) <= 0 <= libmp.mpf_sign(b):
        return False  # straddles or touches 0: zero or not is open
    if a in (libmp.finf, libmp.fninf, libmp.fnan) or b in (libmp.finf, libmp.fninf, libmp.fnan):
        return False
    ea, eb = _exponent(a), _exponent(b)
    if ea == eb and ea not in _all_critical(formats):
        return True  # one binade that holds no class boundary of any format
    for fmt in formats:
        if ea == eb and ea not in _critical_exponents(fmt):
            continue  # one binade that holds no class boundary of this format
        if truth_class(_make_mpf(a), fmt) != truth_class(_make_mpf(b), fmt):
            return False
    return True


def _exponent(m) -> int:
    _sign, _man, exp, bc = m
    return exp + bc - 1


_CRITICAL: dict[str, tuple[Format, frozenset]] = {}  # name -> (the format, its binades)
_ALL_CRITICAL: dict[tuple, tuple] = {}  # ids of formats -> (the formats, their binades)


def _all_critical(formats: tuple[Format, ...]) -> frozenset:
    """The binades holding a class boundary of any of `formats` (asked for every element of
    a truth: one set lookup instead of one per format)."""
    formats = tuple(formats)
    key = tuple(map(id, formats))
    found = _ALL_CRITICAL.get(key)
    if found is None:  # the formats are kept in the entry, so their ids are not reused
        found = _ALL_CRITICAL[key] = (formats, frozenset().union(
            *map(_critical_exponents, formats)))
    return found[1]


def _critical_exponents(fmt: Format) -> frozenset:
    """The binades in which a class boundary of `fmt` lies (rounding to 0, to the smallest
    normal, beyond max)."""
    found = _CRITICAL.get(fmt.name)
    if found is None or found[0] is not fmt:  # (two formats may share a name in a process)
        lowest = fmt.min_exponent - fmt.precision  # half the smallest subnormal
        found = _CRITICAL[fmt.name] = (fmt, frozenset(
            {lowest - 1, lowest, fmt.min_exponent - 1, fmt.max_exponent - 1, fmt.max_exponent}))
    return found[1]


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
