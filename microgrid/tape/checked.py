"""The checked replay: one point at a time, with every check graph mode makes and the errors it raises.

The fast backends check little and, on any exception or any inf or nan,
hand the point (or the batch) to this replay, which raises what graph mode
would have raised (the same exception type and words), then says where in the
tape: the instruction, the node it was captured from, and the row of a batch.
It is also the reference the backends are tested against.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from microgrid.ops import describe
from microgrid.tape.capture import Guard, Program

_FLOAT_MAX = sys.float_info.max
_SUMS = (
    "sum",
    "weighted_sum",
)  # made by value_sum and weighted_sum, whose fsum reports inf - inf as overflow


class GuardError(RuntimeError):
    """A comparison made while tracing came out the other way at a new point: the branch is not the traced one."""


def located(error: Exception, where: str) -> Exception:
    """``error`` again, its message followed by ``where`` (the same type, so callers catch it alike)."""
    try:
        made = type(error)(f"{error}{where}")
    except Exception:  # an exception type whose constructor takes other arguments: keep it as it is
        return error
    made.__cause__ = error.__cause__
    return made


def where(program: Program, slot: int, row: int | None) -> str:
    """`` [in the tape: instruction 4 of 9 (log, made by Neuron(2)); row 3]``: a place in words."""
    row_text = f"; row {row} of the batch" if row is not None else ""
    return f" [in the tape: {program.describe(slot)}{row_text}]"


def _guards_by_instruction(program: Program) -> dict[int, list[Guard]]:
    # each guard is checked once both of its numbers are known: after the later of its slots
    ready: dict[int, list[Guard]] = {}
    for guard in program.guards:
        last = max(guard.left, guard.right if guard.right_is_slot else 0)
        ready.setdefault(max(program.instruction_of(last), -1), []).append(guard)
    return ready


def check_guard(guard: Guard, values: list[float], row: int | None) -> None:
    """Raise GuardError if the guard's comparison no longer gives the traced result."""
    left = values[guard.left]
    right = values[guard.right] if guard.right_is_slot else guard.right
    result = _compare(left, guard.comparison, right)
    if result != guard.result:
        row_text = f" (row {row} of the batch)" if row is not None else ""
        raise GuardError(
            f"a branch of the traced function goes the other way here{row_text}: when traced, the "
            f"comparison {guard.comparison} {guard.where} was {guard.result}; here {left!r} "
            f"{guard.comparison} {right!r} is {result}. The tape holds the traced branch only: "
            "trace the function again at this point (Tape.trace), or write the branch with an "
            "operation (maximum, minimum, relu, abs) so that it is recorded"
        )


def _compare(left: float, comparison: str, right: float) -> bool:
    if comparison == "<":
        return left < right
    if comparison == "<=":
        return left <= right
    if comparison == ">":
        return left > right
    return left >= right


def forward(program: Program, point: list[float], params: list[float], row: int | None = None) -> list[float]:
    """Every slot's value at ``point``, checked as graph mode checks; raises as graph mode raises.

    ``point`` and ``params`` are already finite floats. Raises the domain's
    error (ValueError, ZeroDivisionError), OverflowError for a result that is
    not finite, and GuardError for a guard that flips, each naming the node.
    """
    values = [*point, *params]
    guards = _guards_by_instruction(program)
    for guard in guards.get(-1, ()):
        check_guard(guard, values, row)
    for i, (op, operands, consts) in enumerate(zip(program.ops, program.operands, program.consts)):
        args = [values[s] for s in operands]
        slot = program.first + i
        try:
            op.check(*args, *consts)
            data = float(op.forward(*args, *consts))
        except OverflowError:  # math.exp and friends raise; graph mode reports it as below
            data = math.inf
        except ValueError:
            if op.name not in _SUMS:
                raise _located_now(program, slot, row) from None
            data = math.inf
        except Exception:
            raise _located_now(program, slot, row) from None
        if data - data != 0.0:  # inf - inf and nan - nan are nan: true just when not finite
            raise OverflowError(
                f"{describe(op.name, [*args, *consts])} overflows a float (|result| > {_FLOAT_MAX:.4g})"
                f"{where(program, slot, row)}"
            )
        values.append(data)
        for guard in guards.get(i, ()):
            check_guard(guard, values, row)
    return values


def _located_now(program: Program, slot: int, row: int | None) -> Exception:
    error = sys.exc_info()[1]
    assert isinstance(error, Exception)
    return located(error, where(program, slot, row))


def backward(program: Program, values: list[float], seed: float, row: int | None = None) -> list[float]:
    """d output / d slot times ``seed`` for every input and parameter slot, as graph mode's backward.

    Raises ZeroDivisionError for an infinite derivative, OverflowError for one
    or a gradient that overflows, naming the node (as ``Value.backward`` does).
    """
    output = program.results[0]
    pending: dict[int, float] = {output: seed}
    for i in range(program.cone - 1, -1, -1):
        slot = program.first + i
        g = pending.get(slot)
        if g is None:
            continue
        op, operands, consts = program.ops[i], program.operands[i], program.consts[i]
        args = [values[s] for s in operands]
        named = describe(op.name, [*args, *consts])
        if not -_FLOAT_MAX <= g <= _FLOAT_MAX:
            raise OverflowError(
                f"gradient overflow: d(output)/d({named}) is {g!r}{where(program, slot, row)}"
            )
        try:
            local: Any = op.rule(values[slot], *args, *consts)
        except ZeroDivisionError:
            raise ZeroDivisionError(
                f"the derivative of {named} is infinite (at the edge of its domain){where(program, slot, row)}"
            ) from None
        except OverflowError as error:
            raise OverflowError(
                f"the derivative of {named} overflows a float ({error}){where(program, slot, row)}"
            ) from None
        if len(local) < len(operands):
            raise ValueError(
                f"the rule of {op.name!r} gave {len(local)} derivatives for the {len(operands)} operands "
                f"of {named}; a rule returns one per operand{where(program, slot, row)}"
            )
        for child, derivative in zip(operands, local):
            contribution = derivative * g
            pending[child] = pending[child] + contribution if child in pending else contribution
    leaves = [pending.get(slot, 0.0) for slot in range(program.first)]
    for slot, g in enumerate(leaves):
        if not -_FLOAT_MAX <= g <= _FLOAT_MAX:
            raise OverflowError(
                f"gradient overflow: d(output)/d({values[slot]!r}) is {g!r} [in the tape: "
                f"{program.describe(slot)}{f'; row {row} of the batch' if row is not None else ''}]"
            )
    return leaves
