"""A second enclosure engine: python-flint's arb balls (the `fpstudy[arb]` extra).

`ArbEngine` has `fpstudy.enclosure.Engine`'s interface, so a case's truth function runs on it
unchanged, and `fpstudy.truth.settle` proves truths with it the same way. A ball is a midpoint
and a radius that arb keeps rigorous through every operation (+ - * /, exp, log, log1p, expm1,
tanh, erf, erfc, sqrt, a matrix-vector product), so every ball contains the exact real result
whatever the precision; the precision only sets how wide it is. arb is a C library: an
operation costs about a tenth of a microsecond against several for mpmath's interval context,
and a 16x16 matrix-vector product one `arb_mat` product (one rounding per element of the
result) instead of 256 interval operations.

flint's working precision is one global (``flint.ctx.prec``), read by every operation,
operators between balls included. Every method of an engine sets it to the engine's precision
first, so a truth computation (which starts with `points`) runs at its engine's precision from
its first call on. Two engines at different precisions must not interleave in threads of one
process (fpstudy runs one truth at a time per process: processes for --jobs, one thread per
dask worker); if they did, a ball would still contain the exact value (arb is rigorous at any
precision), only its width, and so the precision `settle` needs, would change.

A ball's ends go to `fpstudy.truth` as mpmath raw mpf tuples (`ends`): arb's lower and upper
bounds of the ball, rounded outward (so they enclose it), are exact binary numbers whose
`man_exp()` integers become the raw tuples.
"""

from __future__ import annotations

import math
import operator
from collections import OrderedDict
from fractions import Fraction

import mpmath
import numpy as np
from mpmath import libmp

try:
    import flint
    from flint import arb, arb_mat, fmpq
except ImportError as e:  # pragma: no cover - the config refuses engine = "arb" first
    raise ImportError("the arb truth engine needs python-flint: "
                      "pip install 'fpstudy[arb]'") from e

from .enclosure import Undecided

_ctx = flint.ctx
_from_man_exp = libmp.from_man_exp
_MPZ = libmp.MPZ  # the integer type of mpmath's raw numbers (gmpy2's mpz, or int)
_FZERO, _FINF, _FNINF = libmp.fzero, libmp.finf, libmp.fninf
_ENDS_BITS = 256  # a ball's ends have at most this many bits, or prec/4 (see ArbEngine.ends)


def _at_precision(name: str):
    """The engine method x -> x.<name>() evaluated at the engine's precision."""
    def method(self, x):
        _ctx.prec = self.prec
        return getattr(x, name)()
    method.__name__ = name
    method.__doc__ = f"arb's rigorous {name}, at the engine's precision."
    return method


class ArbEngine:
    """Ball arithmetic at `prec` bits with python-flint's arb (see the module docstring)."""

    name = "arb"

    def __init__(self, prec: int):
        self.prec = int(prec)
        self.ends_bits = min(self.prec + 64, max(_ENDS_BITS, self.prec // 4))
        self._last = (None, None)  # the last ball `ends` converted, and its ends
        self.zero = arb(0)
        self.one = arb(1)

    @property
    def version(self) -> str:
        return flint.__version__

    # -- making enclosures ---------------------------------------------------------------------

    def point(self, x):
        """The exact ball of a number: int, float, numpy float, Fraction or mpmath mpf.

        A Fraction that is not dyadic (1/3) becomes a rigorous ball around it.
        """
        _ctx.prec = self.prec
        if isinstance(x, Fraction):
            if x.denominator & (x.denominator - 1) == 0:  # a power of two: exact
                return arb((x.numerator, 1 - x.denominator.bit_length()))
            return arb(fmpq(x.numerator, x.denominator))
        if isinstance(x, int):
            return arb(x)  # exact, whatever its size
        if isinstance(x, np.floating) and x.dtype.itemsize > 8:  # longdouble
            return _from_ratio(x)
        mpf = getattr(x, "_mpf_", None)
        if mpf is not None:
            return _from_raw(mpf)
        return arb(float(x))  # exact for every format up to float64

    def points(self, values: np.ndarray) -> np.ndarray:
        """Exact balls of an array (same shape): an object array of mpmath mpf numbers (or
        anything `point` takes), or a numpy float array (float16 ... float64 exactly through
        float64; longdouble through its integer ratio).

        An exact ball does not depend on the precision, so the balls of the last few arrays
        are kept: `settle` asks again at every precision it tries, for the same arrays. A kept
        array is used again only while it holds what it held (compared, not trusted).
        """
        _ctx.prec = self.prec
        kept = _POINTS.get(id(values))
        if kept is not None and kept[0] is values and _unchanged(values, kept[1]):
            _POINTS.move_to_end(id(values))
            return kept[2].copy()  # a case may not change what another call gets
        balls = self._points(values)
        if isinstance(values, np.ndarray) and values.size <= _POINTS_KEPT:
            snapshot = values.ravel().tolist() if values.dtype == object else values.copy()
            old = _POINTS.pop(id(values), None)
            _POINTS[id(values)] = (values, snapshot, balls)  # values kept: its id stays its own
            _POINTS_SIZE[0] += balls.size - (old[2].size if old else 0)
            while _POINTS_SIZE[0] > _POINTS_KEPT or len(_POINTS) > _ARRAYS_KEPT:
                _POINTS_SIZE[0] -= _POINTS.popitem(last=False)[1][2].size
        return balls.copy()

    def from_raw(self, raw: list, shape: tuple) -> np.ndarray:
        """Exact balls of raw mpf tuples (`exact.raw_mpfs`, as `truth.prove` hands them to
        every engine it tries), one per distinct number. `prove` makes each list once and
        never changes it, so the balls of the last few lists are kept for the next
        precision, keyed by the list itself (held, so its id stays its own)."""
        _ctx.prec = self.prec
        kept = _RAW.get(id(raw))
        if kept is not None and kept[0] is raw:
            _RAW.move_to_end(id(raw))
            return kept[1].copy()
        seen: dict = {}
        balls = []
        for m in raw:
            ball = seen.get(m)
            if ball is None:
                ball = seen[m] = _from_raw(m)
            balls.append(ball)
        out = np.empty(len(balls), dtype=object)
        out[:] = balls
        out = out.reshape(shape)
        if out.size <= _POINTS_KEPT:
            _RAW[id(raw)] = (raw, out)
            while len(_RAW) > 8 or sum(v[1].size for v in _RAW.values()) > _POINTS_KEPT:
                _RAW.popitem(last=False)
        return out.copy()

    def _points(self, values) -> np.ndarray:
        values = np.asarray(values)
        out = np.empty(values.shape, dtype=object)
        if not values.size:
            return out
        flat = out.reshape(-1)
        # one ball per distinct value, shared by its repeats (a constant vector is one ball:
        # `ends` then converts it once)
        if values.dtype == object:
            mpf, seen = mpmath.mpf, {}
            for i, v in enumerate(values.reshape(-1)):
                if isinstance(v, mpf):
                    ball = seen.get(v._mpf_)
                    if ball is None:
                        ball = seen[v._mpf_] = _from_raw(v._mpf_)
                    flat[i] = ball
                else:
                    flat[i] = self.point(v)
        else:
            distinct, where = np.unique(values.reshape(-1), return_inverse=True)
            if values.dtype.itemsize > 8:
                balls = [_from_ratio(v) for v in distinct]
            else:
                balls = [arb(f) for f in distinct.astype(np.float64).tolist()]
            ball_array = np.empty(len(balls), dtype=object)
            ball_array[:] = balls
            flat[:] = ball_array[where.reshape(-1)]
        return out

    # -- elementary functions ------------------------------------------------------------------

    # arb's own rigorous functions, each at this engine's precision (flint's is global)
    exp = _at_precision("exp")
    log = _at_precision("log")
    sqrt = _at_precision("sqrt")
    log1p = _at_precision("log1p")  # as tight relative to a tiny x as x itself
    expm1 = _at_precision("expm1")
    tanh = _at_precision("tanh")
    erf = _at_precision("erf")
    erfc = _at_precision("erfc")

    def sigmoid(self, x):
        """1 / (1 + exp(-x)): x appears once, so the ball is not widened by dependency."""
        _ctx.prec = self.prec
        return 1 / (1 + (-x).exp())

    def pi(self):
        _ctx.prec = self.prec
        return arb.pi()

    def abs(self, x):
        _ctx.prec = self.prec
        return abs(x)

    # -- reductions ----------------------------------------------------------------------------

    def sum(self, xs):
        _ctx.prec = self.prec
        total = self.zero
        for x in xs:
            total = total + x
        return total

    def dot(self, a, b):
        """sum_i a_i b_i as one arb_mat product (arb's dot product: one rounding)."""
        _ctx.prec = self.prec
        a, b = list(a), list(b)
        if len(a) != len(b):
            raise ValueError(f"dot of {len(a)} and {len(b)} elements")
        if not a:
            return self.zero
        return (arb_mat(1, len(a), a) * arb_mat(len(b), 1, b))[0, 0]

    def matvec(self, A, x) -> list:
        """[row . x for each row of A] (A: a 2-D object array or a list of rows) as one
        arb_mat product."""
        _ctx.prec = self.prec
        x = list(x)
        if isinstance(A, np.ndarray):
            rows, cols = A.shape
            flat = A.reshape(-1).tolist()
        else:
            A = [list(row) for row in A]
            rows, cols = len(A), len(A[0]) if A else 0
            flat = [v for row in A for v in row]
        if cols != len(x):
            raise ValueError(f"a {rows}x{cols} matrix times {len(x)} elements")
        if rows == 0:
            return []
        if cols == 0:
            return [self.zero] * rows
        return (arb_mat(rows, cols, flat) * arb_mat(cols, 1, x)).entries()

    def max(self, xs):
        """A ball around max(xs) (arb's max: exact for points)."""
        _ctx.prec = self.prec
        best = None
        for x in xs:
            best = x if best is None else best.max(x)
        return best

    def magnitudes(self, result: dict) -> dict:
        """Each quantity's magnitude (log2 of its largest midpoint, within one; -inf for 0)
        from a run whose balls did not settle: a ball's midpoint is what plain floating-point
        arithmetic at this precision computes (arb carries the error in the radius), so it
        stands in for a plain evaluation (`fpstudy.truth._magnitudes`) without running one."""
        out = {}
        for key, balls in result.items():
            top = -math.inf
            for x in balls:
                mid = x.mid()
                if mid.is_finite() and not mid.is_zero():
                    man, exp = mid.man_exp()
                    top = max(top, int(exp) + int(man).bit_length() - 1)
            out[key] = top
        return out

    # -- decisions -----------------------------------------------------------------------------

    def sign(self, x) -> int:
        """-1, 0 or 1 when the ball decides it; `Undecided` when it contains 0 but is not 0."""
        if x > 0:
            return 1
        if x < 0:
            return -1
        if x.is_zero():
            return 0
        raise Undecided(f"the sign of a ball around 0 at {self.prec} bits")

    def ends(self, x) -> tuple:
        """(lower, upper) end of a ball as mpmath raw mpf tuples: exact for a point, else
        mid -+ rad rounded outward (arb's own bounds, directed) to a few bits more than the
        ball's relative accuracy; (-inf, inf) for a ball that says nothing (NaN or an infinite
        radius).

        Rounding outward keeps the ends around the ball, 64 bits more than its accuracy keeps
        them about as wide as the ball, and no more bits than that (at least 128, at most
        `ends_bits`: the engine's precision + 64, or less where it is high) keeps what
        `fpstudy.truth` does with them cheap: a ball narrower than 2**-ends_bits is reported
        that wide, far inside the tolerance, and the midpoint moves by less. ends_bits still
        grows with the precision, so a value very close to a class boundary is decided once
        the precision has been raised far enough, as with exact ends.
        """
        if x is self._last[0]:  # a vector's repeats are one ball (see `points`)
            return self._last[1]
        found = self._ends(x)
        self._last = (x, found)
        return found

    def _ends(self, x) -> tuple:
        if x.is_exact():
            mid = x.mid()
            if mid.is_finite():
                m = _raw(mid)
            elif mid.is_nan():
                return _FNINF, _FINF
            else:
                m = _FINF if mid > 0 else _FNINF
            return m, m
        if not x.is_finite():
            return _FNINF, _FINF
        bits = self.ends_bits
        if bits > 192:  # a high precision: as few bits as the ball's accuracy needs
            bits = min(bits, max(x.rel_accuracy_bits() + 64, 128))
        _ctx.prec = bits
        lower, upper = x.lower(), x.upper()
        _ctx.prec = self.prec
        return _raw(lower), _raw(upper)


# The balls of the last input arrays, by the array's id: {id: (array, its contents, balls)},
# at most _ARRAYS_KEPT arrays and _POINTS_KEPT balls in all (a deep product's weights are one
# array).
_RAW: OrderedDict = OrderedDict()  # id(raw list) -> (the list, its balls), see from_raw
_POINTS: OrderedDict = OrderedDict()
_POINTS_KEPT = 1 << 20
_ARRAYS_KEPT = 64
_POINTS_SIZE = [0]  # the balls kept in all


def _unchanged(values: np.ndarray, snapshot) -> bool:
    """Whether an array still holds what it held: the same mpf objects (immutable), or equal
    floats bit for bit."""
    if values.dtype == object:
        return len(snapshot) == values.size and all(map(operator.is_, values.ravel().tolist(),
                                                        snapshot))
    return snapshot.dtype == values.dtype and snapshot.shape == values.shape and \
        np.array_equal(snapshot.view(np.uint8), values.view(np.uint8))


def _raw(exact) -> tuple:
    """An exact, finite arb as an mpmath raw mpf. arb gives the significand odd (or 0), as
    mpmath keeps it, so the tuple is built as it stands."""
    man, exp = exact.man_exp()
    man = int(man)
    if not man & 1:  # 0 (or, should arb ever give one, an even significand)
        return _from_man_exp(man, int(exp))
    if man < 0:
        return (1, _MPZ(-man), int(exp), (-man).bit_length())
    return (0, _MPZ(man), int(exp), man.bit_length())


def _from_raw(m) -> arb:
    """An mpmath raw mpf (sign, man, exp, bc) as an exact arb (inf and NaN included)."""
    sign, man, exp, bc = m
    if man:
        if bc <= 53 and -1074 <= exp and exp + bc <= 1024:  # a float64: exact, and quicker
            return arb(math.ldexp(-man if sign else man, exp))
        return arb((int(-man if sign else man), exp))
    if m == _FZERO:
        return arb(0)
    if m == _FINF:
        return arb("+inf")
    if m == _FNINF:
        return arb("-inf")
    return arb("nan")


def _from_ratio(v) -> arb:
    """A longdouble as an exact arb, through its integer ratio (a power-of-two denominator)."""
    if not np.isfinite(v):
        return arb("nan") if np.isnan(v) else arb("+inf" if v > 0 else "-inf")
    num, den = v.as_integer_ratio()
    return arb((num, 1 - den.bit_length()))
