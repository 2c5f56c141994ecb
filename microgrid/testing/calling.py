"""How code calls an operation of the table on Values: its method, its operator, or its function.

The tests apply an operation the way a user's code does, so that what they
check is what users get: ``x.exp()`` for "exp", ``x - y`` for "-", ``c - x``
for "rsub", ``x ** 2`` for "**" (through ``__pow__``, whose entry hands a plain
exponent to "**"), and for an operation with neither method nor operator
("sum", a user's "lerp") the function ``register_operation`` made for it.
"""

from __future__ import annotations

from collections.abc import Callable

from microgrid.engine import Value, register_operation
from microgrid.ops import OPERATIONS, Operation


def function_of(op: Operation) -> Callable[..., Value]:
    """The function that applies ``op`` as user code does: Value operands first, then the constants.

    Raises LookupError for an operation that is not in the table.
    """
    if OPERATIONS.get(op.name) is not op:
        raise LookupError(f"the operation {op.name!r} is not in the table (microgrid.ops.OPERATIONS)")
    if op.method:
        return getattr(Value, op.method)  # type: ignore[no-any-return]
    if op.operators:
        return getattr(Value, op.operators[0])  # type: ignore[no-any-return]
    # an operation reached by another's operator when its last operand is a number ("**" by __pow__)
    for other in OPERATIONS.values():
        if other.with_number == op.name and (other.method or other.operators):
            return getattr(Value, other.method or other.operators[0])  # type: ignore[no-any-return]
    # no method, no operator: the function register_operation returns (which then sets nothing on Value)
    return register_operation(op)


def infix(op: Operation) -> tuple[str, bool]:
    """How an expression writes ``op``: (its operator symbol or "", whether the operands are reflected).

    ``x - y`` is ("-", False); "rsub", made by ``__rsub__``, is ("-", True): ``c - x``;
    "**", reached by ``__pow__`` with a number, writes as "pow" does.
    """
    if op.symbol:
        return op.symbol, False
    for other in OPERATIONS.values():
        if other.with_number == op.name and other.symbol:
            return other.symbol, False
    reflected = [name for name in op.operators if name.startswith("__r")]
    for name in reflected:
        plain = "__" + name[3:]
        for other in OPERATIONS.values():
            if plain in other.operators and other.symbol:
                return other.symbol, True
    return "", False
