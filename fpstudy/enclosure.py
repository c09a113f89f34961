"""Rigorous enclosures: the exact-arithmetic interface handed to a case's truth function.

A case computes its ground truth as ``truth(p, exact, ex)``, where ``ex`` is an `Engine` at
one working precision and ``exact`` holds the case's inputs (the values the format received) as
point enclosures. Every operation on enclosures returns an interval that contains the exact
real result: + - * / and exp, log, sqrt are mpmath's interval arithmetic (outward rounding),
and the functions mpmath's interval context lacks are built from those or from MPFR's
correctly rounded functions in directed rounding (`erf`). So the truth a case returns is an
interval around the exact answer, whatever the precision; the precision only sets how wide it
is. `fpstudy.truth.settle` raises the precision until every interval is narrow enough.

A decision the truth must make (relu's branch, a sign) is made with `Engine.sign`, which
raises `Undecided` when the interval contains 0 but is not the point 0: the precision is then
raised, never guessed.

Each engine owns its own interval context, so engines at different precisions (in threads of
one process) never share state: nothing here reads or writes ``mpmath.mp.prec`` or
``mpmath.iv.prec``.
"""

from __future__ import annotations

import operator
from fractions import Fraction

import gmpy2
import mpmath
import numpy as np
from mpmath import libmp
from mpmath.ctx_iv import MPIntervalContext

from .exact import SharedRaw, raw_mpfs, to_mpf

_CONTEXTS: dict = {}


def _context(kind, prec: int):
    """An mpmath context of `kind` at `prec` bits, made once (making one costs ~10 ms) and
    never changed afterwards, so engines in any thread can share it: no precision is ever
    set on a context in use."""
    ctx = _CONTEXTS.get((kind, prec))
    if ctx is None:
        ctx = kind()
        ctx.prec = prec
        _CONTEXTS[(kind, prec)] = ctx
    return ctx


class Undecided(ArithmeticError):
    """A comparison an enclosure cannot decide at the current precision."""


class Engine:
    """Interval arithmetic at `prec` bits with mpmath's interval context (one per engine)."""

    name = "mpmath"

    def __init__(self, prec: int):
        self.prec = int(prec)
        self.ctx = _context(MPIntervalContext, self.prec)
        self._make = self.ctx.make_mpf
        self.zero = self._make((libmp.fzero, libmp.fzero))
        self.one = self._make((libmp.fone, libmp.fone))

    @property
    def version(self) -> str:
        return mpmath.__version__

    # -- making enclosures ---------------------------------------------------------------------

    def point(self, x):
        """The exact point enclosure of a number: int, float, numpy float, Fraction or mpf.

        A Fraction that is not dyadic (1/3) becomes a rigorous enclosure of it.
        """
        if isinstance(x, Fraction):
            if x.denominator & (x.denominator - 1) == 0:  # a power of two: exact
                m = libmp.from_man_exp(x.numerator, 1 - x.denominator.bit_length())
                return self._make((m, m))
            return self.point(x.numerator) / self.point(x.denominator)
        if isinstance(x, int):
            m = libmp.from_int(x)
            return self._make((m, m))
        if not isinstance(x, mpmath.mpf):
            x = to_mpf(x)
        return self._make((x._mpf_, x._mpf_))

    def points(self, values) -> np.ndarray:
        """Point enclosures of an array of exact numbers (a format array or an object array of
        mpf), same shape."""
        return self.from_raw(raw_mpfs(values), np.shape(values))

    def from_raw(self, raw: list, shape: tuple) -> np.ndarray:
        """Point enclosures of raw mpf tuples (`exact.raw_mpfs`), as an array of `shape`."""
        make = self._make
        return _object_array(_made_once(lambda m: make((m, m)), raw), shape)

    # -- elementary functions ------------------------------------------------------------------

    def exp(self, x):
        return self.ctx.exp(x)

    def log(self, x):
        return self.ctx.ln(x)

    def sqrt(self, x):
        return self.ctx.sqrt(x)

    def log1p(self, x):
        """log(1 + x) by MPFR, rounded down at the lower end and up at the upper end: as
        tight relative to a tiny x as x itself (log(1 + x) would lose it to 1 + x)."""
        return self._mpfr_increasing(gmpy2.log1p, x)

    def expm1(self, x):
        """exp(x) - 1 by MPFR, directed at each end (tight for tiny x, unlike exp(x) - 1)."""
        return self._mpfr_increasing(gmpy2.expm1, x)

    def tanh(self, x):
        """tanh(x) = expm1(2x) / (expm1(2x) + 2), increasing: evaluated at both ends."""
        def at(v):
            e = self.expm1(v + v)
            return e / (e + 2)
        return self._increasing(at, x)

    def sigmoid(self, x):
        """1 / (1 + exp(-x)), increasing: evaluated at both ends."""
        return self._increasing(lambda v: self.one / (self.one + self.ctx.exp(-v)), x)

    def erf(self, x):
        """erf by MPFR, correctly rounded down at the lower end and up at the upper end."""
        return self._mpfr_increasing(gmpy2.erf, x)

    def erfc(self, x):
        """erfc by MPFR, decreasing: its lower end from x's upper end rounded down, its upper
        end from x's lower end rounded up (no cancellation where erfc is tiny)."""
        lo, hi = self.ends(x)
        with gmpy2.context(precision=self.prec, round=gmpy2.RoundDown):
            a = _from_mpfr(gmpy2.erfc(_to_mpfr(hi)))
        with gmpy2.context(precision=self.prec, round=gmpy2.RoundUp):
            b = _from_mpfr(gmpy2.erfc(_to_mpfr(lo)))
        return self._make((a, b))

    def pi(self):
        """An enclosure of pi."""
        return self.ctx.pi

    def _mpfr_increasing(self, f, x):
        """An increasing function by MPFR at both ends, each rounded outward: MPFR's
        correct rounding in every direction makes the enclosure rigorous."""
        lo, hi = self.ends(x)
        with gmpy2.context(precision=self.prec, round=gmpy2.RoundDown, emin=gmpy2.get_emin_min(),
                           emax=gmpy2.get_emax_max()):
            a = _from_mpfr(f(_to_mpfr(lo)))
        with gmpy2.context(precision=self.prec, round=gmpy2.RoundUp, emin=gmpy2.get_emin_min(),
                           emax=gmpy2.get_emax_max()):
            b = _from_mpfr(f(_to_mpfr(hi)))
        return self._make((a, b))

    def abs(self, x):
        return abs(x)

    def _increasing(self, f, x):
        lo, hi = self.ends(x)
        if lo == hi:
            return f(x)
        a = f(self._make((lo, lo)))._mpi_[0]
        b = f(self._make((hi, hi)))._mpi_[1]
        return self._make((a, b))

    # -- reductions ----------------------------------------------------------------------------

    def sum(self, xs):
        return self.ctx.fsum(xs)

    def dot(self, a, b):
        """sum_i a_i b_i, each end accumulated with its own directed rounding.

        The same enclosure mpmath's interval fdot gives, without an interval object per
        operation: a point times an interval is two directed products, a point times a
        point one exact product.
        """
        prec = self.prec
        lo = hi = libmp.fzero
        for x, y in zip(a, b, strict=True):
            xa, xb = x._mpi_
            ya, yb = y._mpi_
            if ya == yb and xa != xb:
                xa, xb, ya, yb = ya, yb, xa, xb  # the point first
            if xa == xb:
                if ya == yb:
                    plo = phi = _mul(xa, ya)  # exact
                elif libmp.mpf_sign(xa) >= 0:
                    plo, phi = _mul(xa, ya, prec, "f"), _mul(xa, yb, prec, "c")
                else:
                    plo, phi = _mul(xa, yb, prec, "f"), _mul(xa, ya, prec, "c")
            else:
                plo, phi = libmp.mpi_mul((xa, xb), (ya, yb), prec)
            lo = _add(lo, plo, prec, "f")
            hi = _add(hi, phi, prec, "c")
        return self._make((lo, hi))

    def matvec(self, A, x) -> list:
        """[row . x for each row of A] (A: a 2-D object array or a list of rows)."""
        return [self.dot(row, x) for row in A]

    def max(self, xs):
        """The enclosure of max(xs): [max of the lower ends, max of the upper ends]."""
        ends = [x._mpi_ for x in xs]
        return self._make((_mpf_max(e[0] for e in ends), _mpf_max(e[1] for e in ends)))

    # -- decisions -----------------------------------------------------------------------------

    def sign(self, x) -> int:
        """-1, 0 or 1 when the enclosure decides it; `Undecided` when it straddles 0."""
        a, b = x._mpi_
        if libmp.mpf_sign(a) > 0:
            return 1
        if libmp.mpf_sign(b) < 0:
            return -1
        if a == libmp.fzero and b == libmp.fzero:
            return 0
        raise Undecided(f"the sign of an interval around 0 at {self.prec} bits")

    @staticmethod
    def ends(x) -> tuple:
        """(lower, upper) end of an enclosure as mpmath's raw mpf tuples."""
        return x._mpi_


_mul, _add = libmp.mpf_mul, libmp.mpf_add


def _object_array(items: list, shape: tuple) -> np.ndarray:
    """An object array of `shape` holding `items` in order (never unpacked as sequences)."""
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out.reshape(shape)


def _made_once(make, raw: list) -> list:
    """[make(m) for m in raw], made once per tuple of a SharedRaw list (many values of a short
    format, whose repeats are one tuple): a million float16 weights make at most 65536."""
    if not isinstance(raw, SharedRaw):
        return list(map(make, raw))
    made: dict = {}
    out = []
    for m in raw:
        number = made.get(id(m))  # (raw holds every tuple: no id is reused meanwhile)
        if number is None:
            number = made[id(m)] = make(m)
        out.append(number)
    return out


def _mpf_max(values):
    best = None
    for v in values:
        if best is None or libmp.mpf_gt(v, best):
            best = v
    return best


def _to_mpfr(m):
    """An mpmath raw mpf tuple as an exact gmpy2 mpfr."""
    if m == libmp.finf:
        return gmpy2.inf()
    if m == libmp.fninf:
        return -gmpy2.inf()
    sign, man, exp, bc = m
    r = gmpy2.mpfr(man, max(bc, 2)) if man else gmpy2.mpfr(0)
    r = gmpy2.mul_2exp(r, exp) if man else r
    return -r if sign else r


def _from_mpfr(r):
    """A finite or infinite gmpy2 mpfr as an exact mpmath raw mpf tuple."""
    if gmpy2.is_nan(r):
        return libmp.fnan
    if gmpy2.is_infinite(r):
        return libmp.finf if r > 0 else libmp.fninf
    num, den = r.as_integer_ratio()
    return libmp.from_man_exp(num, 1 - den.bit_length())


class NotDyadic(ArithmeticError):
    """The truth needs an operation exact dyadic arithmetic cannot do (exp, a division by 3),
    or its numbers outgrew the budget: fall back to enclosures."""


class Dyadic:
    """An exact dyadic rational m * 2**e (an mpmath raw mpf), with exact + - * and division
    by powers of two. It looks like a point enclosure (`_mpi_`) to everything downstream."""

    __slots__ = ("m",)

    def __init__(self, m):
        self.m = m

    @property
    def _mpi_(self):
        return (self.m, self.m)

    def _other(self, y):
        if isinstance(y, Dyadic):
            return y.m
        if isinstance(y, int):
            return libmp.from_int(y)
        raise NotDyadic(f"an operand of type {type(y).__name__}")

    def __add__(self, y):
        return Dyadic(_add(self.m, self._other(y), 0))

    __radd__ = __add__

    def __sub__(self, y):
        return Dyadic(libmp.mpf_sub(self.m, self._other(y), 0))

    def __rsub__(self, y):
        return Dyadic(libmp.mpf_sub(self._other(y), self.m, 0))

    def __mul__(self, y):
        return Dyadic(_mul(self.m, self._other(y), 0))

    __rmul__ = __mul__

    def __truediv__(self, y):
        d = self._other(y)
        sign, man, exp, _bc = d
        if man == 0 or man & (man - 1):
            raise NotDyadic("a division by a number that is not a power of two")
        q = libmp.mpf_shift(self.m, -exp)
        return Dyadic(libmp.mpf_neg(q) if sign else q)

    def __rtruediv__(self, y):
        raise NotDyadic("a division by a computed number")

    def __neg__(self):
        return Dyadic(libmp.mpf_neg(self.m))

    def __abs__(self):
        return Dyadic(libmp.mpf_abs(self.m))


def _integers(values: list) -> tuple[list, int]:
    """Raw mpf numbers as integers over one exponent: values[i] = ints[i] * 2**exp, exactly."""
    exps = [m[2] for m in values if m[1]]
    if not exps:
        return [0] * len(values), 0
    low = min(exps)
    return [(-(m[1] << (m[2] - low)) if m[0] else m[1] << (m[2] - low)) if m[1] else 0
            for m in values], low


class DyadicEngine:
    """Exact arithmetic on the inputs' dyadic values: no precision, no widening, bound 0.

    Every float is m * 2**e, so a truth that only adds, subtracts and multiplies them (a deep
    linear network, its gradients, relu chains) is an exact dyadic number. Its significands
    grow with every layer (about the weights' precision a layer), so the cost grows with the
    depth squared, but it knows no wrapping effect: where enclosures of a random product lose
    about two bits a layer and need thousands of bits, this needs none. Anything else (exp,
    log, a division by 3) or a significand past `budget` bits raises NotDyadic.
    """

    name = "dyadic"

    def __init__(self, budget: int = 1 << 18):
        self.budget = budget
        self.prec = 0
        self.zero = Dyadic(libmp.fzero)
        self.one = Dyadic(libmp.fone)

    @property
    def version(self) -> str:
        return mpmath.__version__

    def point(self, x):
        if isinstance(x, Fraction):
            if x.denominator & (x.denominator - 1):
                raise NotDyadic("a rational that is not dyadic")
            return Dyadic(libmp.from_man_exp(x.numerator, 1 - x.denominator.bit_length()))
        if isinstance(x, int):
            return Dyadic(libmp.from_int(x))
        if not isinstance(x, mpmath.mpf):
            x = to_mpf(x)
        return Dyadic(x._mpf_)

    def points(self, values) -> np.ndarray:
        return self.from_raw(raw_mpfs(values), np.shape(values))

    def from_raw(self, raw: list, shape: tuple) -> np.ndarray:
        return _object_array(_made_once(Dyadic, raw), shape)

    def _refuse(self, *_args):
        raise NotDyadic("an elementary function")

    exp = log = sqrt = log1p = expm1 = tanh = sigmoid = erf = erfc = pi = _refuse

    def abs(self, x):
        return abs(x)

    def sum(self, xs):
        total = libmp.fzero
        for x in xs:
            total = _add(total, x.m, 0)
        return self._checked(total)

    def dot(self, a, b):
        total = libmp.fzero
        for x, y in zip(a, b, strict=True):
            total = _add(total, _mul(x.m, y.m, 0), 0)
        return self._checked(total)

    def matvec(self, A, x) -> list:
        """A @ x with integers: A and x as integer significands over one exponent each, every
        row an integer dot product, one normalisation per result (not one per operation)."""
        if isinstance(A, np.ndarray) and A.ndim == 2:
            count, width = A.shape
            flat = [v.m for v in A.ravel().tolist()]
        else:
            rows = [list(row) for row in A]
            count, width = len(rows), len(rows[0]) if rows else 0
            if any(len(row) != width for row in rows):
                raise ValueError(f"matvec of ragged rows {[len(r) for r in rows]}")
            flat = [v.m for row in rows for v in row]
        a_ints, a_exp = _integers(flat)
        x_ints, x_exp = _integers([v.m for v in x])
        n = len(x_ints)
        if width != n:
            raise ValueError(f"matvec of rows of {width} by a vector of {n}")
        out = []
        for i in range(count):
            total = sum(map(operator.mul, a_ints[i * n:(i + 1) * n], x_ints))
            out.append(self._checked(libmp.from_man_exp(total, a_exp + x_exp)))
        return out

    def max(self, xs):
        return Dyadic(_mpf_max(x.m for x in xs))

    def sign(self, x) -> int:
        return libmp.mpf_sign(x.m)

    @staticmethod
    def ends(x) -> tuple:
        return (x.m, x.m)

    def _checked(self, m) -> Dyadic:
        if m[3] > self.budget:
            raise NotDyadic(f"a significand of {m[3]} bits")
        return Dyadic(m)


class PointEngine(Engine):
    """Plain mpmath at `prec` bits, no enclosures: a quick, unproven estimate of each
    quantity's magnitude, which tells `settle` how much precision an enclosure that straddles
    0 lacks. Never a truth. Same interface as `Engine`."""

    name = "mpmath-point"

    def __init__(self, prec: int):
        from mpmath.ctx_mp import MPContext
        self.prec = int(prec)
        self.ctx = _context(MPContext, self.prec)
        self.zero = self.ctx.mpf(0)
        self.one = self.ctx.mpf(1)

    def point(self, x):
        if isinstance(x, Fraction):
            return self.ctx.mpf(x.numerator) / x.denominator
        if not isinstance(x, int | mpmath.mpf):
            x = to_mpf(x)
        return self.ctx.mpf(x)

    def from_raw(self, raw: list, shape: tuple) -> np.ndarray:
        make, pos, prec = self.ctx.make_mpf, libmp.mpf_pos, self.prec
        return _object_array([make(pos(m, prec, "n")) for m in raw], shape)

    # exp, log, sqrt, abs, sum and matvec are Engine's, on this plain context

    def log1p(self, x):
        return self.ctx.log1p(x)

    def expm1(self, x):
        return self.ctx.expm1(x)

    def tanh(self, x):
        return self.ctx.tanh(x)

    def sigmoid(self, x):
        return 1 / (1 + self.ctx.exp(-x))

    def erf(self, x):
        return self.ctx.erf(x)

    def erfc(self, x):
        return self.ctx.erfc(x)

    def dot(self, a, b):
        return self.ctx.fdot(a, b)

    def max(self, xs):
        return max(xs)

    def sign(self, x) -> int:
        return (x > 0) - (x < 0)

    @staticmethod
    def ends(x) -> tuple:
        return (x._mpf_, x._mpf_)
