"""Argument checks shared by every room above the engine: "a real number", "a positive int", ...

Each check takes the value and the name to call it by, and returns the value in
the form callers use (a float, an int) or raises where the bad value enters,
by the error policy: ``TypeError`` when it is not the right kind of thing (a
str for a number, a float for a count, a bool for either), ``ValueError`` when
it is the right kind but out of range. Messages name the argument and show the
value, cut short when it is huge, so no error message is ever megabytes long.
The engine does its own checks: it imports nothing from the package.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Iterable
from typing import TypeGuard, cast

# the longest reprs an error message shows whole
_SHOWN_CHARACTERS = 80


def shown(value: object) -> str:
    """``repr(value)`` for an error message, cut to about 80 characters.

    A huge int is described by its digits (its repr may even be refused:
    Python limits int-to-str conversion to 4,300 digits).
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        digits = int(value.bit_length() * math.log10(2)) + 1
        return f"{'a negative' if value < 0 else 'an'} int of about {digits} digits"
    try:
        text = repr(value)
    except Exception:  # a repr that fails (or recurses too deep) must not hide the real error
        return f"<{type(value).__name__} object>"
    return shortened(text, _SHOWN_CHARACTERS)


def shortened(text: str, limit: int = 300) -> str:
    """``text`` if it has at most ``limit`` characters, else its start and end with the length between."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}...{text[-12:]} ({len(text):,} characters)"


def is_real(x: object) -> TypeGuard[numbers.Real]:
    """True for a real number (int, float, Fraction, numpy scalar) that is not a bool."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def is_int(x: object) -> TypeGuard[numbers.Integral]:
    """True for an int (or numpy integer) that is not a bool."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def finite_floats(xs: list[object]) -> bool:
    """True when every item is a finite float, looked at at C speed (a batch's numbers, scores).

    False too, rarely, when they are but their sum overflows: a caller then
    looks item by item, as it does for anything else.
    """
    if set(map(type, xs)) != {float}:
        return False
    total = sum(cast(list[float], xs))
    return total - total == 0.0  # inf - inf and nan - nan are nan


def number(x: object, name: str) -> float:
    """``x`` as a float; ``TypeError`` unless it is a real number (bools are not)."""
    if not is_real(x):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}: {shown(x)}")
    try:
        return float(x)
    except OverflowError:  # only an int beyond the largest float overflows: as a float it is inf
        return math.inf if cast(int, x) > 0 else -math.inf


def finite(x: object, name: str) -> float:
    """``x`` as a finite float; ``ValueError`` for inf, nan and ints beyond the largest float."""
    value = number(x, name)
    if not math.isfinite(value):
        beyond = f" ({shown(x)}, beyond the largest float)" if isinstance(x, int) else ""
        raise ValueError(f"{name} must be finite, got {value!r}{beyond}")
    return value


def non_negative(x: object, name: str) -> float:
    """``x`` as a float in [0, inf): a rate, a weight, a noise level."""
    value = number(x, name)
    if not 0.0 <= value < math.inf:
        raise ValueError(f"{name} must be non-negative and finite, got {shown(x)}")
    return value


def positive(x: object, name: str) -> float:
    """``x`` as a float in (0, inf)."""
    value = number(x, name)
    if not 0.0 < value < math.inf:
        raise ValueError(f"{name} must be positive and finite, got {shown(x)}")
    return value


def between(
    x: object, name: str, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> float:
    """``x`` as a float in the interval from ``low`` to ``high``, each end closed unless said open."""
    value = number(x, name)
    above = low < value if low_open else low <= value
    below = value < high if high_open else value <= high
    if not (above and below):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {shown(x)}")
    return value


def integer(x: object, name: str) -> int:
    """``x`` as an int; ``TypeError`` for a float (even 2.0), a bool or a non-number."""
    if not is_int(x):
        raise TypeError(f"{name} must be an int, got {type(x).__name__}: {shown(x)}")
    return int(x)


def positive_int(x: object, name: str) -> int:
    """``x`` as an int in 1 .. sys.maxsize: a count or a size (nothing bigger can be allocated)."""
    n = integer(x, name)
    if n <= 0:
        raise ValueError(f"{name} must be positive, got {shown(x)}")
    return _at_most_maxsize(n, name)


def non_negative_int(x: object, name: str) -> int:
    """``x`` as an int in 0 .. sys.maxsize."""
    n = integer(x, name)
    if n < 0:
        raise ValueError(f"{name} must be non-negative, got {shown(x)}")
    return _at_most_maxsize(n, name)


def one_of(x: object, choices: Iterable[str], what: str, hint: str = "") -> str:
    """``x`` if it is one of the names in ``choices`` (a registry); else an error listing them.

    ``TypeError`` for a name that is not a str, ``ValueError`` for an unknown
    one: ``unknown loss 'l1'; choose one of hinge, mse``, then ``hint``.
    """
    known = list(choices)
    if not isinstance(x, str):
        raise TypeError(f"{what} must be a name (a str), got {type(x).__name__}: {shown(x)}")
    if x not in known:
        raise ValueError(f"unknown {what} {shown(x)}; choose one of {', '.join(known)}{hint}")
    return x


def _at_most_maxsize(n: int, name: str) -> int:
    if n > sys.maxsize:
        raise ValueError(f"{name} must be at most sys.maxsize ({sys.maxsize:,}), got {shown(n)}")
    return n
