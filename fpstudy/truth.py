"""Ground truth whose own accuracy is checked: precision raised until two results agree.

A case's truth function computes, at a given mpmath precision, the exact result of its
computation on the inputs the format received. `settle` runs it at the starting precision p,
then 2p, 4p, ... and stops when two successive results agree to within `tolerance` relative to
each quantity's norm, far below the resolution of the formats measured. The precision of the
accepted (higher) run is recorded; a result that never agrees below the cap is returned with
``settled=False`` and the records say so.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

import mpmath

DEFAULT_START_PRECISION = 113
DEFAULT_MAX_PRECISION = 8192
# Agreement required between successive precisions, relative to the norm of each quantity:
# 2**-80 is 2**-16 below longdouble's unit roundoff and 2**-27 below float64's.
DEFAULT_TOLERANCE_BITS = 80


@dataclass(frozen=True)
class Truth:
    values: dict[Hashable, list]  # key -> list of exact mpf (a vector, or one element)
    precision: int
    settled: bool


def agree(a: list, b: list, tolerance_bits: int) -> bool:
    """True when max|a_i - b_i| <= 2**-tolerance_bits * max|b_i| (both zero agrees)."""
    if len(a) != len(b):
        return False
    with mpmath.workprec(64):
        norm = max((abs(x) for x in b), default=mpmath.mpf(0))
        diff = max((abs(x - y) for x, y in zip(a, b, strict=True)), default=mpmath.mpf(0))
        return diff <= mpmath.ldexp(norm, -tolerance_bits)


def settle(
    compute: Callable[[int], dict[Hashable, list]],
    start: int = DEFAULT_START_PRECISION,
    cap: int = DEFAULT_MAX_PRECISION,
    tolerance_bits: int = DEFAULT_TOLERANCE_BITS,
) -> Truth:
    """Run `compute(prec)` at start, 2*start, ... until two successive runs agree.

    Cancellation that only a higher precision resolves is caught when the lower precisions
    disagree (0 at 53 bits, 1 at 106, 1 again at 212):

    >>> big = mpmath.mpf(2) ** 100
    >>> t = settle(lambda prec: _at(prec, lambda: {"x": [(big + 1) - big]}), start=53)
    >>> (t.values["x"][0], t.precision, t.settled)
    (mpf('1.0'), 212, True)

    Agreement is evidence, not proof: two precisions that both lose everything agree (2**200
    would need 201 bits, and 53 and 106 both give 0). The starting precision must be sensible
    for the case, which is why it is part of each experiment's config.
    """
    prec = start
    previous = compute(prec)
    while prec < cap:
        prec = min(2 * prec, cap)
        current = compute(prec)
        if previous.keys() == current.keys() and all(
            agree(previous[k], current[k], tolerance_bits) for k in current
        ):
            return Truth(current, prec, True)
        previous = current
    return Truth(previous, prec, False)


def _at(prec: int, f):
    """f() evaluated at `prec` bits (doctest helper)."""
    with mpmath.workprec(prec):
        return f()
