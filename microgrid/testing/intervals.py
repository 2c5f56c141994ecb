"""Intervals as a world of numbers: where an operation's result can be, and whether it sits on a kink.

Evaluated on ``Interval`` operands (registered with ``ops.register_world``), an
operation's own forward gives an interval holding every result for operands
anywhere in theirs. And it tells whether the operands may straddle one of the
forward's kinks or jumps: a comparison (``where(x > 0, ...)``), ``abs``, ``sign``
or ``floor`` whose outcome differs across the intervals is *undecided*, and
``evaluate`` reports it. ``expressions()`` uses both to keep every operation of
the table where it is smooth, without a word about any operation in particular.

An enclosure can be loose (a guard too many) but never too tight, save for the
rounding of its ends, which the strategies' margins absorb. A forward that
cannot be evaluated on intervals (a user's ``math.exp``, an ``if``) tells nothing.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from typing import Any

from microgrid import ops

_INF = math.inf


class Interval:
    """The closed interval [lo, hi] (ends may be infinite), with arithmetic on enclosures."""

    __slots__ = ("lo", "hi")

    def __init__(self, lo: float, hi: float) -> None:
        if not lo <= hi:  # also refuses nan
            raise ValueError(f"an interval needs lo <= hi, got [{lo!r}, {hi!r}]")
        self.lo = float(lo)
        self.hi = float(hi)

    def __repr__(self) -> str:
        return f"Interval({self.lo!r}, {self.hi!r})"

    def within(self, lo: float, hi: float) -> bool:
        """True if this interval lies inside [lo, hi]."""
        return lo <= self.lo and self.hi <= hi

    def __add__(self, other: Any) -> Interval:
        o = _of(other)
        return Interval(self.lo + o.lo, self.hi + o.hi)

    __radd__ = __add__

    def __sub__(self, other: Any) -> Interval:
        o = _of(other)
        return Interval(self.lo - o.hi, self.hi - o.lo)

    def __rsub__(self, other: Any) -> Interval:
        return _of(other) - self

    def __neg__(self) -> Interval:
        return Interval(-self.hi, -self.lo)

    def __mul__(self, other: Any) -> Interval:
        o = _of(other)
        corners = [_times(a, b) for a in (self.lo, self.hi) for b in (o.lo, o.hi)]
        return Interval(min(corners), max(corners))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Interval:
        o = _of(other)
        if o.lo <= 0.0 <= o.hi:
            raise ZeroDivisionError(f"division by an interval holding 0: {o!r}")
        return self * Interval(1.0 / o.hi, 1.0 / o.lo)

    def __rtruediv__(self, other: Any) -> Interval:
        return _of(other) / self

    def __mod__(self, other: Any) -> Interval:
        quotient: Interval = IntervalWorld.floor(self / other)
        return self - _of(other) * quotient  # Python's remainder

    def __rmod__(self, other: Any) -> Interval:
        return _of(other) % self

    def __pow__(self, exponent: Any) -> Interval:
        if isinstance(exponent, Interval):
            if exponent.lo != exponent.hi:  # a ** b = e ** (b log a), for a > 0
                return IntervalWorld.exp(exponent * IntervalWorld.log(self))
            exponent = exponent.lo
        k = float(exponent)
        if self.lo > 0.0 or (k.is_integer() and not self.lo <= 0.0 <= self.hi):
            ends = [_power(self.lo, k), _power(self.hi, k)]  # monotone on an interval without 0
            return Interval(min(ends), max(ends))
        if k.is_integer() and k >= 0.0:  # through 0: the least |x| ** k is 0
            if k % 2.0 == 0.0:
                return Interval(0.0, max(_power(self.lo, k), _power(self.hi, k)))
            return Interval(_power(self.lo, k), _power(self.hi, k))
        raise ValueError(f"{self!r} ** {k!r} is not real (or not finite) throughout")

    def __rpow__(self, base: Any) -> Interval:
        return _of(base) ** self

    def __abs__(self) -> Interval:
        if self.lo >= 0.0:
            return self
        if self.hi <= 0.0:
            return -self
        _undecided()  # the kink at 0 is inside
        return Interval(0.0, max(-self.lo, self.hi))

    # Comparisons are True or False when they hold or fail throughout, else UNDECIDED.
    def __lt__(self, other: Any) -> Any:
        o = _of(other)
        return _decide(self.hi < o.lo, self.lo >= o.hi)

    def __le__(self, other: Any) -> Any:
        o = _of(other)
        return _decide(self.hi <= o.lo, self.lo > o.hi)

    def __gt__(self, other: Any) -> Any:
        return _of(other) < self

    def __ge__(self, other: Any) -> Any:
        return _of(other) <= self

    def __eq__(self, other: Any) -> Any:
        o = _of(other)
        return _decide(self.lo == self.hi == o.lo == o.hi, self.hi < o.lo or o.hi < self.lo)

    def __ne__(self, other: Any) -> Any:
        o = _of(other)
        return _decide(self.hi < o.lo or o.hi < self.lo, self.lo == self.hi == o.lo == o.hi)

    __hash__ = None  # type: ignore[assignment]


class Undecided:
    """The outcome of a comparison that holds for some points of the intervals and fails for others."""

    __slots__ = ()

    def __bool__(self) -> bool:
        # an ``if`` on it: the forward branches in Python, which intervals cannot follow
        raise TypeError("a comparison of intervals is undecided")

    def __repr__(self) -> str:
        return "UNDECIDED"


UNDECIDED = Undecided()


def _of(x: Any) -> Interval:
    if isinstance(x, Interval):
        return x
    if isinstance(x, Undecided):
        raise TypeError("an undecided comparison used as a number")
    return Interval(float(x), float(x))


def _times(a: float, b: float) -> float:
    return 0.0 if a == 0.0 or b == 0.0 else a * b  # 0 * inf is 0 for an enclosure


def _power(x: float, k: float) -> float:
    try:
        return float(x**k)
    except OverflowError:
        return _INF
    except ZeroDivisionError:
        raise ValueError(f"{x!r} ** {k!r} is infinite") from None


# Undecided outcomes are counted per thread while ``evaluate`` runs a function.
class _Tally(threading.local):
    count = 0


_tally = _Tally()


def _undecided() -> None:
    _tally.count += 1


def _decide(holds: bool, fails: bool) -> Any:
    if holds:
        return True
    if fails:
        return False
    _undecided()
    return UNDECIDED


def evaluate(function: Callable[..., Any], *operands: Any) -> tuple[Any, bool] | None:
    """``(function(*operands), every piece decided)``, or None if the function raises on these intervals.

    With Interval operands, "decided" means the result is one smooth piece of
    the function throughout: no comparison, ``abs``, ``sign`` or ``floor`` in it
    changes its outcome inside the intervals. None means outside the domain
    somewhere, or a function intervals cannot follow (``math.exp``, an ``if``).
    """
    before = _tally.count
    try:
        result = function(*operands)
    except Exception:  # outside its domain, or a forward intervals cannot follow
        return None
    return result, _tally.count == before


def hull(values: Iterable[Any]) -> Interval:
    """The smallest interval holding all of ``values`` (numbers or intervals)."""
    intervals = [_of(v) for v in values]
    return Interval(min(i.lo for i in intervals), max(i.hi for i in intervals))


def _increasing(f: Callable[[float], float]) -> Callable[[Any], Interval]:
    def on_interval(x: Any) -> Interval:
        x = _of(x)
        return Interval(_end(f, x.lo, -_INF), _end(f, x.hi, _INF))

    return on_interval


def _decreasing(f: Callable[[float], float]) -> Callable[[Any], Interval]:
    def on_interval(x: Any) -> Interval:
        x = _of(x)
        return Interval(_end(f, x.hi, -_INF), _end(f, x.lo, _INF))

    return on_interval


def _end(f: Callable[[float], float], x: float, overflow: float) -> float:
    try:
        return float(f(x))
    except OverflowError:
        return overflow


def _sine(x: Any) -> Interval:
    x = _of(x)
    if x.hi - x.lo >= 2.0 * math.pi:
        return Interval(-1.0, 1.0)
    ends = [math.sin(x.lo), math.sin(x.hi)]
    # a peak at pi/2 + 2k pi or a trough at -pi/2 + 2k pi inside the interval
    peak = math.ceil((x.lo - math.pi / 2.0) / (2.0 * math.pi)) * 2.0 * math.pi + math.pi / 2.0
    trough = math.ceil((x.lo + math.pi / 2.0) / (2.0 * math.pi)) * 2.0 * math.pi - math.pi / 2.0
    return Interval(-1.0 if trough <= x.hi else min(ends), 1.0 if peak <= x.hi else max(ends))


def _tangent(x: Any) -> Interval:
    x = _of(x)
    pole = math.ceil((x.lo - math.pi / 2.0) / math.pi) * math.pi + math.pi / 2.0
    if pole <= x.hi:
        raise ValueError(f"tan has a pole in {x!r}")
    return Interval(math.tan(x.lo), math.tan(x.hi))


def _cosh(x: Any) -> Interval:
    return _increasing(math.cosh)(_magnitude(_of(x)))  # even, and smooth through 0


def _hypot(x: Any, y: Any) -> Interval:
    a, b = (_magnitude(_of(v)) for v in (x, y))
    return Interval(math.hypot(a.lo, b.lo), math.hypot(a.hi, b.hi))


def _magnitude(x: Interval) -> Interval:
    # |x| without counting the kink: hypot is smooth in x through 0 when the other is not 0
    if x.lo >= 0.0:
        return x
    if x.hi <= 0.0:
        return -x
    return Interval(0.0, max(-x.lo, x.hi))


def _atan2(y: Any, x: Any) -> Interval:
    y, x = _of(y), _of(x)
    if x.lo > 0.0 or y.lo > 0.0 or y.hi < 0.0:  # clear of the cut along the negative x-axis
        if x.lo <= 0.0 <= x.hi and y.lo <= 0.0 <= y.hi:
            raise ValueError("atan2 at the origin")
        corners = [math.atan2(b, a) for a in (x.lo, x.hi) for b in (y.lo, y.hi)]
        return Interval(min(corners), max(corners))
    _undecided()  # the jump from pi to -pi may be inside
    return Interval(-math.pi, math.pi)


def _floor(x: Any) -> Interval:
    x = _of(x)
    lo, hi = (float(math.floor(end)) if math.isfinite(end) else end for end in (x.lo, x.hi))
    if lo != hi:
        _undecided()  # a jump at a whole number inside
    return Interval(lo, hi)


def _sign(x: Any) -> Interval:
    x = _of(x)
    lo, hi = ops.Floats.sign(x.lo), ops.Floats.sign(x.hi)
    if lo != hi:
        _undecided()
    return Interval(lo, hi)


def _where(condition: Any, if_true: Any, if_false: Any) -> Any:
    # a decided condition is a bool, which ops.where picks with before it gets here
    return hull([if_true, if_false])


class IntervalWorld:
    """The functions of ``microgrid.ops`` on intervals: each returns an enclosure of its results."""

    exp = staticmethod(_increasing(math.exp))
    exp2 = staticmethod(_increasing(ops.Floats.exp2))
    expm1 = staticmethod(_increasing(math.expm1))
    log = staticmethod(_increasing(math.log))
    log2 = staticmethod(_increasing(math.log2))
    log10 = staticmethod(_increasing(math.log10))
    log1p = staticmethod(_increasing(math.log1p))
    sqrt = staticmethod(_increasing(math.sqrt))
    sin = staticmethod(_sine)
    cos = staticmethod(lambda x: _sine(_of(x) + math.pi / 2.0))
    tan = staticmethod(_tangent)
    sinh = staticmethod(_increasing(math.sinh))
    cosh = staticmethod(_cosh)
    tanh = staticmethod(_increasing(math.tanh))
    asin = staticmethod(_increasing(math.asin))
    acos = staticmethod(_decreasing(math.acos))
    atan = staticmethod(_increasing(math.atan))
    asinh = staticmethod(_increasing(math.asinh))
    acosh = staticmethod(_increasing(math.acosh))
    atanh = staticmethod(_increasing(math.atanh))
    sigmoid = staticmethod(_increasing(ops.Floats.sigmoid))
    softplus = staticmethod(_increasing(ops.Floats.softplus))
    floor = staticmethod(_floor)
    sign = staticmethod(_sign)
    atan2 = staticmethod(_atan2)
    hypot = staticmethod(_hypot)
    fsum = staticmethod(lambda terms: sum(terms, Interval(0.0, 0.0)))
    where = staticmethod(_where)


ops.register_world(Interval, IntervalWorld)
ops.register_world(Undecided, IntervalWorld)
