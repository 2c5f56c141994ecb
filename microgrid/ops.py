"""The table of operations: every operation microgrid knows, each in one entry.

An entry, an ``Operation``, holds all there is to say about one operation: its
name, its forward, where it is defined (and the error outside), its local
derivatives (the rule), where random tests may draw its operands, and how it is
called (a Value method, a Python operator). Everything else is made from the
table: Value's methods and operators, the expression language of ``microgrid
draw``, the strategies and symbolic forms of ``microgrid.testing``, and the
tape's generated code and numpy batches.

Forward and rule are written once, with Python's operators and the functions of
this module (``exp``, ``where``, ...). Those work on every kind of number that
is registered with ``register_world``: floats here, Values in the engine (so
the rules give higher-order gradients), numpy arrays in the tape (batches),
sympy, mpmath and torch in the tests (oracles). So a rule never branches on an
operand with ``if``, which would not trace: it says ``where(x > 0, 1, 0)``.
(It may branch on a constant, such as the exponent of ``x ** k``: constants are
always plain floats.)

This module imports nothing from the package, and only the standard library.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

# --- numbers of every kind: the functions rules are written with ------------------------

# A world is a namespace of the functions below for one kind of number (a class
# with static methods, a module, ...), registered with the type it serves.
_WORLDS: dict[type, Any] = {}


def register_world(kind: type, world: Any) -> None:
    """Make the functions of this module (``exp``, ``where``, ...) work on numbers of ``kind``.

    ``world`` has an attribute of the same name for each function (numpy's
    world has ``exp = numpy.exp``, ``where = numpy.where``, ...). Subclasses of
    ``kind`` are served too. Registering a kind again replaces its world.
    """
    _WORLDS[kind] = world
    _world_cache.clear()


_world_cache: dict[type, Any] = {}


def world_of(*xs: Any) -> Any:
    """The world of the first operand that is not a plain float (floats' own when all are).

    Raises TypeError for a kind of number no world serves.
    """
    for x in xs:
        kind = type(x)
        if kind is float or kind is int or kind is bool:
            continue
        world = _world_cache.get(kind)
        if world is None:
            world = next((_WORLDS[k] for k in kind.__mro__ if k in _WORLDS), None)
            if world is None:
                raise TypeError(f"no world of numbers serves {kind.__name__} (see ops.register_world)")
            _world_cache[kind] = world
        if world is not Floats:  # a float subclass (numpy's float64) is a float
            return world
    return Floats


class Floats:
    """The world of plain floats: the math module, made stable where it is not."""

    exp = staticmethod(math.exp)  # raises OverflowError above ~709.78: the engine names the operation
    log = staticmethod(math.log)
    log1p = staticmethod(math.log1p)
    expm1 = staticmethod(math.expm1)
    log2 = staticmethod(math.log2)
    log10 = staticmethod(math.log10)
    sqrt = staticmethod(math.sqrt)
    sin = staticmethod(math.sin)
    cos = staticmethod(math.cos)
    tan = staticmethod(math.tan)
    sinh = staticmethod(math.sinh)
    cosh = staticmethod(math.cosh)
    tanh = staticmethod(math.tanh)
    asin = staticmethod(math.asin)
    acos = staticmethod(math.acos)
    atan = staticmethod(math.atan)
    asinh = staticmethod(math.asinh)
    acosh = staticmethod(math.acosh)
    atanh = staticmethod(math.atanh)
    atan2 = staticmethod(math.atan2)
    hypot = staticmethod(math.hypot)
    fsum = staticmethod(math.fsum)  # exact: the order of the terms does not matter

    @staticmethod
    def exp2(x: float) -> float:
        """2 ** x."""
        return float(2.0**x)

    @staticmethod
    def floor(x: float) -> float:
        """The largest whole number not above x, as a float."""
        return float(math.floor(x))

    @staticmethod
    def sign(x: float) -> float:
        """1, -1 or 0 by the sign of x."""
        return 1.0 if x > 0.0 else -1.0 if x < 0.0 else 0.0

    @staticmethod
    def sigmoid(x: float) -> float:
        """1 / (1 + e ** -x)."""
        # exp of a non-positive number only: no overflow for any x
        if x >= 0.0:
            return 1.0 / (1.0 + math.exp(-x))
        e = math.exp(x)
        return e / (1.0 + e)

    @staticmethod
    def softplus(x: float) -> float:
        """log(1 + e ** x)."""
        # log(1 + e^x) = log1p(e^-|x|) + max(x, 0): the exponent is never positive
        return math.log1p(math.exp(-abs(x))) + max(x, 0.0)

    @staticmethod
    def where(condition: Any, if_true: Any, if_false: Any) -> Any:
        """if_true if the condition holds, else if_false."""
        return if_true if condition else if_false


register_world(float, Floats)


# One function per name, each passing plain floats straight to Floats (the hot
# path of backward) and anything else to its world.


def exp(x: Any) -> Any:
    """e ** x."""
    return Floats.exp(x) if type(x) is float else world_of(x).exp(x)


def log(x: Any) -> Any:
    """The natural logarithm."""
    return math.log(x) if type(x) is float else world_of(x).log(x)


def log1p(x: Any) -> Any:
    """log(1 + x), exact for small x."""
    return math.log1p(x) if type(x) is float else world_of(x).log1p(x)


def expm1(x: Any) -> Any:
    """e ** x - 1, exact for small x."""
    return math.expm1(x) if type(x) is float else world_of(x).expm1(x)


def log2(x: Any) -> Any:
    """The base-2 logarithm."""
    return math.log2(x) if type(x) is float else world_of(x).log2(x)


def log10(x: Any) -> Any:
    """The base-10 logarithm."""
    return math.log10(x) if type(x) is float else world_of(x).log10(x)


def exp2(x: Any) -> Any:
    """2 ** x."""
    return Floats.exp2(x) if type(x) is float else world_of(x).exp2(x)


def sqrt(x: Any) -> Any:
    """The square root."""
    return math.sqrt(x) if type(x) is float else world_of(x).sqrt(x)


def sin(x: Any) -> Any:
    """Sine (radians)."""
    return math.sin(x) if type(x) is float else world_of(x).sin(x)


def cos(x: Any) -> Any:
    """Cosine (radians)."""
    return math.cos(x) if type(x) is float else world_of(x).cos(x)


def tan(x: Any) -> Any:
    """Tangent (radians)."""
    return math.tan(x) if type(x) is float else world_of(x).tan(x)


def sinh(x: Any) -> Any:
    """Hyperbolic sine."""
    return math.sinh(x) if type(x) is float else world_of(x).sinh(x)


def cosh(x: Any) -> Any:
    """Hyperbolic cosine."""
    return math.cosh(x) if type(x) is float else world_of(x).cosh(x)


def tanh(x: Any) -> Any:
    """Hyperbolic tangent."""
    return math.tanh(x) if type(x) is float else world_of(x).tanh(x)


def asin(x: Any) -> Any:
    """Inverse sine."""
    return math.asin(x) if type(x) is float else world_of(x).asin(x)


def acos(x: Any) -> Any:
    """Inverse cosine."""
    return math.acos(x) if type(x) is float else world_of(x).acos(x)


def atan(x: Any) -> Any:
    """Inverse tangent."""
    return math.atan(x) if type(x) is float else world_of(x).atan(x)


def asinh(x: Any) -> Any:
    """Inverse hyperbolic sine."""
    return math.asinh(x) if type(x) is float else world_of(x).asinh(x)


def acosh(x: Any) -> Any:
    """Inverse hyperbolic cosine."""
    return math.acosh(x) if type(x) is float else world_of(x).acosh(x)


def atanh(x: Any) -> Any:
    """Inverse hyperbolic tangent."""
    return math.atanh(x) if type(x) is float else world_of(x).atanh(x)


def sigmoid(x: Any) -> Any:
    """1 / (1 + e ** -x), without overflow for any x."""
    return Floats.sigmoid(x) if type(x) is float else world_of(x).sigmoid(x)


def softplus(x: Any) -> Any:
    """log(1 + e ** x), without overflow for any x."""
    return Floats.softplus(x) if type(x) is float else world_of(x).softplus(x)


def floor(x: Any) -> Any:
    """The largest integer not above x (as a float)."""
    return Floats.floor(x) if type(x) is float else world_of(x).floor(x)


def sign(x: Any) -> Any:
    """1, -1 or 0 by the sign of x."""
    return Floats.sign(x) if type(x) is float else world_of(x).sign(x)


def atan2(y: Any, x: Any) -> Any:
    """The angle of the point (x, y), in (-pi, pi]."""
    return world_of(y, x).atan2(y, x)


def hypot(x: Any, y: Any) -> Any:
    """sqrt(x ** 2 + y ** 2), without overflow or underflow on the way."""
    return world_of(x, y).hypot(x, y)


def fsum(terms: Iterable[Any]) -> Any:
    """The sum of the terms (exact for floats)."""
    terms = list(terms)
    return world_of(*terms).fsum(terms)


def where(condition: Any, if_true: Any, if_false: Any) -> Any:
    """``if_true`` where the condition holds, else ``if_false``: elementwise for arrays.

    A plain bool (a comparison of floats or of Values) picks one, in any world.
    """
    if type(condition) is bool:
        return if_true if condition else if_false
    return world_of(condition, if_true, if_false).where(condition, if_true, if_false)


# --- the entries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Domain:
    """A condition on an operation's operands, and what is said when it fails.

    ``holds(*operands)`` is true inside the domain (operands are floats).
    Outside it, the operation raises ``error`` with a message naming the
    operation, its operands and ``reason``.
    """

    holds: Callable[..., bool]
    reason: str
    error: type[Exception] = ValueError


@dataclass(frozen=True)
class Operation:
    """One operation: what it computes, where, its local derivatives, and how it is called.

    Attributes:
        name: the node's ``op`` ("+", "exp"), unique in the table.
        forward: ``forward(*operands)`` -> the result; operands are the Value
            operands' numbers, then the constants, in order.
        rule: ``rule(out, *operands)`` -> one local derivative per operand
            (d out / d operand; those of constants are ignored), written with
            operators and this module's functions so that it serves every world.
        arity: how many operands forward takes, constants included; None for
            any number (``sum``).
        constants: how many of the last operands are always plain numbers
            (leaky_relu's slope). A binary operation without such constants
            takes a number as its second operand too (``x * 2``), kept as a
            constant of the node rather than a leaf.
        defaults: default values of those constants, if any.
        domain: conditions on the operands (on floats); each failing one raises.
        sample: an interval per operand where random tests draw it: well inside
            the domain, clear of kinks, and small enough not to overflow (one
            interval for every operand of an operation of any arity). An interval
            of positive numbers is drawn with either sign wherever the domain
            holds throughout its mirror image (see ``microgrid.testing``). Empty
            for an operation whose rule is by design not the derivative of its
            forward (``detach``): finite differences cannot check it, so random
            tests leave it out.
        method: the Value method that applies it (``x.exp()``), if any.
        operators: the Value special methods that apply it (``__add__``).
        symbol: how an expression writes it: an infix operator ("+"), or "-"
            for negation; "" for a function called by name.
        with_number: the operation used instead when the last operand is a
            plain number (``x ** 2`` is "**", ``x ** y`` is "pow"); "" for itself.
        doc: one line for the method's docstring and the command line's help.

    """

    name: str
    forward: Callable[..., Any]
    rule: Callable[..., tuple[Any, ...]]
    arity: int | None = 1
    constants: int = 0
    defaults: tuple[float, ...] = ()
    domain: tuple[Domain, ...] = ()
    sample: tuple[tuple[float, float], ...] = ((-3.0, 3.0),)
    method: str = ""
    operators: tuple[str, ...] = ()
    symbol: str = ""
    with_number: str = ""
    doc: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"an operation needs a name (a non-empty str), got {self.name!r}")
        if not callable(self.forward) or not callable(self.rule):
            raise TypeError(f"operation {self.name!r}: forward and rule must be functions")
        if self.arity is None:
            if self.constants:
                raise ValueError(f"operation {self.name!r}: an operation of any arity takes no constants")
        elif isinstance(self.arity, bool) or not isinstance(self.arity, int) or self.arity < 1:
            raise ValueError(
                f"operation {self.name!r}: arity must be a positive int or None, got {self.arity!r}"
            )
        elif not 0 <= self.constants < self.arity:
            raise ValueError(
                f"operation {self.name!r}: {self.constants} constants leave no Value operand of {self.arity}"
            )
        if len(self.defaults) > self.constants:
            raise ValueError(
                f"operation {self.name!r}: {len(self.defaults)} defaults for {self.constants} constants"
            )

    def check(self, *operands: float) -> None:
        """Raise the domain's error if the operands (floats) are outside it."""
        for condition in self.domain:
            if not condition.holds(*operands):
                raise condition.error(f"{describe(self.name, operands)} is undefined: {condition.reason}")


def describe(op: str, operands: Iterable[Any]) -> str:
    """``op(1.0, 2.0)``: an operation and its operands, as errors name them (long lists cut)."""
    shown = [repr(x) for x in operands]
    if len(shown) > 8:  # a sum of a thousand terms: the first few say enough
        shown[6:] = [f"... {len(shown) - 6} more"]
    return f"{op}({', '.join(shown)})"


OPERATIONS: dict[str, Operation] = {}


def add_operation(op: Operation) -> Operation:
    """Put ``op`` in the table (by its name) and return it; raises ValueError for a name taken."""
    if op.name in OPERATIONS:
        raise ValueError(f"an operation named {op.name!r} is already registered")
    OPERATIONS[op.name] = op
    return op


# --- domains and samples used by several entries ----------------------------------------

_POSITIVE = Domain(lambda x, *_: x > 0.0, "non-positive input")
_NONZERO_DIVISOR = Domain(lambda a, b: b != 0.0, "division by zero", ZeroDivisionError)
_NONZERO = Domain(lambda x, *_: x != 0.0, "division by zero", ZeroDivisionError)
_UNIT = Domain(lambda x: -1.0 <= x <= 1.0, "input outside [-1, 1]")
WIDE = (-10.0, 10.0)  # operands of + - *
NARROW = (-3.0, 3.0)
POSITIVE = (0.1, 3.0)
AWAY_FROM_ZERO = (0.1, 3.0)  # drawn with either sign by the strategies (see microgrid.testing)


def _real_power(base: float, k: float) -> bool:
    return base > 0.0 or (base < 0.0 and k.is_integer()) or (base == 0.0 and k >= 0.0)


# --- the table: arithmetic --------------------------------------------------------------
# Rules: (out, *operands) -> d out / d operand for each; out is the result.

_ARITHMETIC = [
    Operation(
        "+",
        operator.add,
        lambda out, a, b: (1.0, 1.0),
        arity=2,
        sample=(WIDE, WIDE),
        operators=("__add__", "__radd__"),  # c + x is x + c
        symbol="+",
        doc="a + b",
    ),
    Operation(
        "-",
        operator.sub,
        lambda out, a, b: (1.0, -1.0),
        arity=2,
        sample=(WIDE, WIDE),
        operators=("__sub__",),
        symbol="-",
        doc="a - b",
    ),
    Operation(
        "rsub",
        lambda a, c: c - a,
        lambda out, a, c: (-1.0,),
        arity=2,
        constants=1,
        sample=(WIDE, WIDE),
        operators=("__rsub__",),
        doc="c - a, for a plain number c (torch.rsub)",
    ),
    Operation(
        "*",
        operator.mul,
        lambda out, a, b: (b, a),
        arity=2,
        sample=(WIDE, WIDE),
        operators=("__mul__", "__rmul__"),
        symbol="*",
        doc="a * b",
    ),
    Operation(
        "/",
        operator.truediv,
        lambda out, a, b: (1.0 / b, -out / b),
        arity=2,
        domain=(_NONZERO_DIVISOR,),
        sample=(WIDE, AWAY_FROM_ZERO),
        operators=("__truediv__",),
        symbol="/",
        doc="a / b",
    ),
    Operation(
        "rdiv",
        lambda a, c: c / a,
        lambda out, a, c: (-out / a,),
        arity=2,
        constants=1,
        domain=(_NONZERO,),
        sample=(AWAY_FROM_ZERO, WIDE),
        operators=("__rtruediv__",),
        doc="c / a, for a plain number c",
    ),
    Operation(
        "%",
        operator.mod,
        # Python's remainder a - b * floor(a / b), with the sign of b
        lambda out, a, b: (1.0, -floor(a / b)),
        arity=2,
        domain=(_NONZERO_DIVISOR,),
        sample=((0.1, 0.9), (1.1, 3.0)),  # a / b clear of the jumps at whole numbers
        operators=("__mod__",),
        symbol="%",
        doc="a % b, Python's remainder (the sign of b)",
    ),
    Operation(
        "rmod",
        lambda a, c: c % a,
        lambda out, a, c: (-floor(c / a),),
        arity=2,
        constants=1,
        domain=(_NONZERO,),
        sample=((1.1, 3.0), (0.1, 0.9)),
        operators=("__rmod__",),
        doc="c % a, for a plain number c",
    ),
    Operation(
        "neg",
        operator.neg,
        lambda out, a: (-1.0,),
        sample=(WIDE,),
        operators=("__neg__",),
        symbol="-",
        doc="-a",
    ),
    Operation(
        "**",
        operator.pow,
        # x ** 0 is the constant 1: its derivative is 0, even at x = 0
        lambda out, a, k: (k * a ** (k - 1.0) if k != 0.0 else 0.0,),
        arity=2,
        constants=1,
        domain=(
            Domain(lambda a, k: a != 0.0 or k >= 0.0, "zero to a negative power", ZeroDivisionError),
            Domain(_real_power, "a negative base to a non-integer power is not real"),
        ),
        sample=(POSITIVE, (-2.0, 3.0)),
        doc="a ** k, for a plain number k",
    ),
    Operation(
        "pow",
        operator.pow,
        # d/db a**b = a**b log a; at a = 0 (b > 0) a**b is 0 for every b, so 0
        lambda out, a, b: (b * a ** (b - 1.0), where(a > 0.0, out * log(where(a > 0.0, a, 1.0)), 0.0)),
        arity=2,
        domain=(
            Domain(
                lambda a, b: a > 0.0 or (a == 0.0 and b > 0.0),
                "a Value exponent needs a positive base (or a zero base and a positive exponent): "
                "the derivative in the exponent is out * log(base); use a plain number as the exponent",
            ),
        ),
        sample=(POSITIVE, (-2.0, 2.0)),
        operators=("__pow__",),
        symbol="**",
        with_number="**",
        doc="a ** b",
    ),
    Operation(
        "rpow",
        lambda a, c: c**a,
        lambda out, a, c: (where(c > 0.0, out * log(where(c > 0.0, c, 1.0)), 0.0),),
        arity=2,
        constants=1,
        domain=(
            Domain(
                lambda a, c: c > 0.0 or (c == 0.0 and a > 0.0),
                "a Value exponent needs a positive base (or a zero base and a positive exponent)",
            ),
        ),
        sample=(NARROW, (0.5, 3.0)),
        operators=("__rpow__",),
        doc="c ** a, for a plain number c",
    ),
]

# --- the table: functions of one operand ------------------------------------------------

_FUNCTIONS = [
    Operation("exp", exp, lambda out, x: (out,), sample=((-4.0, 4.0),), method="exp", doc="e ** x"),
    Operation(
        "exp2",
        exp2,
        lambda out, x: (out * math.log(2.0),),
        sample=((-4.0, 4.0),),
        method="exp2",
        doc="2 ** x",
    ),
    Operation(
        "expm1",
        expm1,
        lambda out, x: (exp(x),),  # not out + 1, which loses e**x for large negative x
        sample=((-4.0, 4.0),),
        method="expm1",
        doc="e ** x - 1, exact for small x",
    ),
    Operation(
        "log",
        log,
        lambda out, x: (1.0 / x,),
        domain=(_POSITIVE,),
        sample=(POSITIVE,),
        method="log",
        doc="the natural logarithm",
    ),
    Operation(
        "log2",
        log2,
        lambda out, x: (1.0 / (x * math.log(2.0)),),
        domain=(_POSITIVE,),
        sample=(POSITIVE,),
        method="log2",
        doc="the base-2 logarithm",
    ),
    Operation(
        "log10",
        log10,
        lambda out, x: (1.0 / (x * math.log(10.0)),),
        domain=(_POSITIVE,),
        sample=(POSITIVE,),
        method="log10",
        doc="the base-10 logarithm",
    ),
    Operation(
        "log1p",
        log1p,
        lambda out, x: (1.0 / (1.0 + x),),
        domain=(Domain(lambda x: x > -1.0, "input at or below -1"),),
        sample=((-0.9, 3.0),),
        method="log1p",
        doc="log(1 + x), exact for small x",
    ),
    Operation(
        "sqrt",
        sqrt,
        lambda out, x: (0.5 / out,),  # infinite at 0: raised as ZeroDivisionError by backward
        domain=(Domain(lambda x: x >= 0.0, "negative input"),),
        sample=(POSITIVE,),
        method="sqrt",
        doc="the square root",
    ),
    Operation("sin", sin, lambda out, x: (cos(x),), method="sin", doc="sine (radians)"),
    Operation("cos", cos, lambda out, x: (-sin(x),), method="cos", doc="cosine (radians)"),
    Operation(
        "tan",
        tan,
        lambda out, x: (1.0 + out * out,),
        sample=((-1.2, 1.2),),  # clear of the poles at +-pi/2
        method="tan",
        doc="tangent (radians)",
    ),
    Operation(
        "sinh", sinh, lambda out, x: (cosh(x),), sample=((-4.0, 4.0),), method="sinh", doc="hyperbolic sine"
    ),
    Operation(
        "cosh", cosh, lambda out, x: (sinh(x),), sample=((-4.0, 4.0),), method="cosh", doc="hyperbolic cosine"
    ),
    Operation(
        "tanh",
        tanh,
        lambda out, x: (1.0 - out * out,),
        method="tanh",
        doc="hyperbolic tangent; finite for any x",
    ),
    Operation(
        "asin",
        asin,
        lambda out, x: (1.0 / sqrt((1.0 - x) * (1.0 + x)),),  # factored: exact near +-1
        domain=(_UNIT,),
        sample=((-0.9, 0.9),),
        method="asin",
        doc="inverse sine",
    ),
    Operation(
        "acos",
        acos,
        lambda out, x: (-1.0 / sqrt((1.0 - x) * (1.0 + x)),),
        domain=(_UNIT,),
        sample=((-0.9, 0.9),),
        method="acos",
        doc="inverse cosine",
    ),
    Operation("atan", atan, lambda out, x: (1.0 / (1.0 + x * x),), method="atan", doc="inverse tangent"),
    Operation(
        "asinh",
        asinh,
        lambda out, x: (1.0 / hypot(x, 1.0),),  # hypot: no overflow of x * x for huge x
        method="asinh",
        doc="inverse hyperbolic sine",
    ),
    Operation(
        "acosh",
        acosh,
        lambda out, x: (1.0 / sqrt((x - 1.0) * (x + 1.0)),),
        domain=(Domain(lambda x: x >= 1.0, "input below 1"),),
        sample=((1.1, 4.0),),
        method="acosh",
        doc="inverse hyperbolic cosine",
    ),
    Operation(
        "atanh",
        atanh,
        lambda out, x: (1.0 / ((1.0 - x) * (1.0 + x)),),
        domain=(Domain(lambda x: -1.0 < x < 1.0, "input outside (-1, 1)"),),
        sample=((-0.9, 0.9),),
        method="atanh",
        doc="inverse hyperbolic tangent",
    ),
    Operation(
        "sigmoid",
        sigmoid,
        lambda out, x: (out * (1.0 - out),),
        method="sigmoid",
        doc="1 / (1 + e ** -x), without overflow for any x",
    ),
    Operation(
        "softplus",
        softplus,
        lambda out, x: (sigmoid(x),),
        method="softplus",
        doc="log(1 + e ** x), without overflow for any x",
    ),
    Operation(
        "relu",
        lambda x: where(x > 0.0, x, 0.0),
        # the derivative at the kink (0) is taken as 0, like PyTorch; read from the output, as
        # micrograd and PyTorch do (out > 0 just when x > 0), so a tape keeps the outputs only
        lambda out, x: (where(out > 0.0, 1.0, 0.0),),
        sample=(AWAY_FROM_ZERO,),
        method="relu",
        doc="max(x, 0)",
    ),
    Operation(
        "leaky_relu",
        lambda x, slope: where(x > 0.0, x, slope * x),
        lambda out, x, slope: (where(x > 0.0, 1.0, slope),),
        arity=2,
        constants=1,
        defaults=(0.01,),
        sample=(AWAY_FROM_ZERO, (0.01, 0.3)),
        method="leaky_relu",
        doc="x if x > 0, else slope * x",
    ),
    Operation(
        "abs",
        abs,
        lambda out, x: (sign(x),),  # 0 at the kink, like PyTorch
        sample=(AWAY_FROM_ZERO,),
        method="abs",
        operators=("__abs__",),
        doc="|x|",
    ),
    Operation(
        "sign",
        sign,
        lambda out, x: (0.0,),
        sample=(AWAY_FROM_ZERO,),
        method="sign",
        doc="1, -1 or 0 by the sign of x; its derivative is 0",
    ),
    Operation(
        "detach",
        lambda x: x,
        lambda out, x: (0.0,),  # no gradient flows through (JAX's stop_gradient)
        sample=(),  # its rule is not its forward's derivative: finite differences cannot check it
        method="detach",
        doc="x, recorded so that no gradient flows back through it",
    ),
]

# --- the table: functions of two operands -----------------------------------------------


def _atan2_rule(out: Any, y: Any, x: Any) -> tuple[Any, Any]:
    # d/dy = x / (x^2 + y^2), d/dx = -y / (x^2 + y^2); through hypot, so no square overflows
    r = hypot(y, x)
    return (x / r / r, -y / r / r)


_BINARY = [
    Operation(
        "atan2",
        atan2,
        _atan2_rule,
        arity=2,
        sample=(AWAY_FROM_ZERO, AWAY_FROM_ZERO),
        method="atan2",
        doc="the angle of the point (other, self), like torch.atan2(self, other)",
    ),
    Operation(
        "hypot",
        hypot,
        lambda out, a, b: (a / out, b / out),
        arity=2,
        sample=(AWAY_FROM_ZERO, AWAY_FROM_ZERO),
        method="hypot",
        doc="sqrt(self ** 2 + other ** 2), without overflow",
    ),
    Operation(
        "maximum",
        lambda a, b: where(a >= b, a, b),
        # a tie splits the gradient evenly, like torch.maximum
        lambda out, a, b: (
            where(a > b, 1.0, where(a == b, 0.5, 0.0)),
            where(b > a, 1.0, where(a == b, 0.5, 0.0)),
        ),
        arity=2,
        sample=(NARROW, NARROW),
        method="maximum",
        doc="the larger of self and other",
    ),
    Operation(
        "minimum",
        lambda a, b: where(a <= b, a, b),
        lambda out, a, b: (
            where(a < b, 1.0, where(a == b, 0.5, 0.0)),
            where(b < a, 1.0, where(a == b, 0.5, 0.0)),
        ),
        arity=2,
        sample=(NARROW, NARROW),
        method="minimum",
        doc="the smaller of self and other",
    ),
]

# --- the table: sums of many terms ------------------------------------------------------


def _weighted_sum(*operands: Any) -> Any:
    # the operands are w_1..w_n, x_1..x_n, b
    n = len(operands) // 2
    return fsum([*(w * x for w, x in zip(operands[:n], operands[n : 2 * n])), operands[-1]])


def _weighted_sum_rule(out: Any, *operands: Any) -> tuple[Any, ...]:
    n = len(operands) // 2
    weights, inputs = operands[:n], operands[n : 2 * n]
    return (*inputs, *weights, 1.0)  # d/dw_i = x_i, d/dx_i = w_i, d/db = 1


_SUMS = [
    Operation(
        "sum",
        lambda *terms: fsum(terms),
        lambda out, *terms: (1.0,) * len(terms),
        arity=None,
        sample=((-10.0, 10.0),),
        doc="the sum of the terms, as one node",
    ),
    Operation(
        "weighted_sum",
        _weighted_sum,
        _weighted_sum_rule,
        arity=None,
        sample=((-5.0, 5.0),),
        doc="w . x + b, a neuron's weighted input, as one node (operands: the weights, the inputs, b)",
    ),
]

for _op in [*_ARITHMETIC, *_FUNCTIONS, *_BINARY, *_SUMS]:
    add_operation(_op)
