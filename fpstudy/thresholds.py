"""Where a monotone magnitude first enters a truth class: the search behind `predict`.

A case with a closed form (W = s*I, a sigmoid chain past its transient) knows its exact value
at every sweep step; as long as that magnitude moves monotonically, the truth classes are
crossed in order and a binary search finds the first step of each.
"""

from __future__ import annotations

from collections.abc import Callable

from .metrics import truth_class

GROWING = ("underflows", "subnormal", "normal", "overflows")
SHRINKING = tuple(reversed(GROWING))


def first_in_class(magnitude: Callable[[int], object], fmt, lo: int, hi: int, cls: str,
                   grows: bool) -> int | None:
    """The first k in lo..hi whose exact magnitude(k) has truth class `cls` for `fmt`.

    magnitude(k) must move monotonically in k (growing when `grows`), so the class rank along
    GROWING (or SHRINKING) never decreases. None when no k in the range is in `cls`, either
    because the range ends first or because the magnitude jumps past the class.

    >>> import mpmath
    >>> from fpstudy.formats import FORMATS
    >>> first_in_class(lambda k: mpmath.ldexp(1, -k), FORMATS["float16"], 1, 40,
    ...                "subnormal", grows=False)   # 2**-15 < 2**-14, float16's smallest normal
    15
    """
    order = GROWING if grows else SHRINKING
    target = order.index(cls)

    def rank(k: int) -> int:
        return order.index(truth_class(magnitude(k), fmt))

    if lo > hi or rank(hi) < target:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if rank(mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo if rank(lo) == target else None
