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

from fractions import Fraction

import gmpy2
import mpmath
import numpy as np
from mpmath import libmp
from mpmath.ctx_iv import MPIntervalContext

from .exact import to_mpf

ENGINES = ("mpmath",)


class Undecided(ArithmeticError):
    """A comparison an enclosure cannot decide at the current precision."""


class Engine:
    """Interval arithmetic at `prec` bits with mpmath's interval context (one per engine)."""

    name = "mpmath"

    def __init__(self, prec: int):
        self.prec = int(prec)
        self.ctx = MPIntervalContext()
        self.ctx.prec = self.prec
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

    def points(self, mpf_array: np.ndarray) -> np.ndarray:
        """Point enclosures of an object array of exact mpf numbers (same shape)."""
        out = np.empty(mpf_array.shape, dtype=object)
        flat = out.reshape(-1)
        make = self._make
        for i, v in enumerate(mpf_array.reshape(-1)):
            m = v._mpf_
            flat[i] = make((m, m))
        return out

    # -- elementary functions ------------------------------------------------------------------

    def exp(self, x):
        return self.ctx.exp(x)

    def log(self, x):
        return self.ctx.ln(x)

    def sqrt(self, x):
        return self.ctx.sqrt(x)

    def log1p(self, x):
        """log(1 + x): the interval 1 + x is exact or outward rounded, then log."""
        return self.ctx.ln(self.one + x)

    def expm1(self, x):
        return self.ctx.exp(x) - self.one

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
        lo, hi = self.ends(x)
        with gmpy2.context(precision=self.prec, round=gmpy2.RoundDown):
            a = _from_mpfr(gmpy2.erf(_to_mpfr(lo)))
        with gmpy2.context(precision=self.prec, round=gmpy2.RoundUp):
            b = _from_mpfr(gmpy2.erf(_to_mpfr(hi)))
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
        return self.ctx.fdot(a, b)

    def matvec(self, A, x) -> list:
        """[row . x for each row of A] (A: a 2-D object array or a list of rows)."""
        fdot = self.ctx.fdot
        return [fdot(row, x) for row in A]

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
