"""What a program's code must do: which numbers to check, and which gradients are worth working out.

Both backends write code from these. A number is checked for inf and nan only
where a later operation could hide it (``needs_check``). Backward skips the
gradients that are zero whatever the inputs (everything behind a ``detach``)
and, when the inputs' gradients are not wanted, the gradients that reach no
parameter (``Flow``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from microgrid.tape.capture import Program
from microgrid.tape.formulas import Formulas, formulas


def needs_check(program: Program, parts: list[Formulas]) -> list[bool]:
    """Per slot: must the code check it for inf and nan?

    Only a number that can be inf or nan (an operation that can overflow
    quietly, as ``*`` does, or one fed such a number) and that some use could
    hide: a result, a guard, or an operand of an operation that does not pass
    inf and nan on (relu of -inf is 0, tanh of inf is 1).
    """
    first = program.first
    maybe = [False] * program.n_slots
    for i, (p, operands) in enumerate(zip(parts, program.operands)):
        if p.selects:
            maybe[first + i] = any(maybe[operands[k]] for k in p.forward_keys if isinstance(k, int))
        else:
            maybe[first + i] = True
    exposed = [False] * program.n_slots
    for s in program.results:
        exposed[s] = True
    for guard in program.guards:
        exposed[guard.left] = True
        if guard.right_is_slot:
            exposed[guard.right] = True
    for p, operands in zip(parts, program.operands):
        for j, c in enumerate(operands):
            if not p.passes[j]:
                exposed[c] = True
    return [m and e for m, e in zip(maybe, exposed)]


@dataclass(frozen=True)
class Flow:
    """Which gradients backward works out.

    ``zero``: per slot, True when its gradient is 0 whatever the inputs (every
    path to it from the output goes through a local derivative that is the
    constant 0). ``feeds_params``: per slot, True when some parameter is among
    the leaves below it (else its gradient reaches inputs only).
    ``checked``: per slot, True when a term of its gradient is skipped as 0: the
    gradient itself must then be checked, as 0 * inf is nan in graph mode.
    """

    zero: list[bool]
    feeds_params: list[bool]
    checked: list[bool]

    def skips(self, slot: int, lean: bool) -> bool:
        """True when backward needs no gradient for ``slot`` (``lean``: no inputs' gradients wanted)."""
        return self.zero[slot] or (lean and not self.feeds_params[slot])


def flow(program: Program, parts: list[Formulas]) -> Flow:
    """The gradients worth working out in ``program`` (see ``Flow``)."""
    first, n = program.first, program.n_slots
    feeds = [program.n_inputs <= s < first for s in range(first)] + [False] * len(program.ops)
    for i, operands in enumerate(program.operands):
        feeds[first + i] = any(feeds[c] for c in operands)
    reached = [False] * n  # a nonzero term of its gradient exists
    reached[program.results[0]] = True
    checked = [False] * n
    for i in range(program.cone - 1, -1, -1):
        slot = first + i
        if not reached[slot]:
            continue
        zeros = parts[i].zero_locals
        for j, c in enumerate(program.operands[i]):
            if j in zeros:
                checked[slot] = True
            else:
                reached[c] = True
    return Flow([not r for r in reached], feeds, checked)


def depths(program: Program) -> list[int]:
    """Per slot, its depth: 0 for a leaf, else one more than its deepest operand's."""
    depth = [0] * program.n_slots
    of = depth.__getitem__
    for slot, operands in enumerate(program.operands, program.first):
        depth[slot] = 1 + max(map(of, operands)) if operands else 1
    return depth


def varying_constants_trace(op: Any, values: int, n_consts: int) -> bool:
    """Can one formula serve nodes of ``op`` whose constants differ (constants named, not branched on)?"""
    parts = formulas(op, values, None, n_consts)
    return parts.forward is not None and parts.rule is not None and parts.domain is not None


def groups(
    program: Program,
    parts: list[Formulas],
    found: Flow | None = None,
    depth: list[int] | None = None,
    static: list[bool] | None = None,
) -> dict[Any, list[int]]:
    """The instructions that can run as one: slots, in program order, by what they have in common.

    Nodes fuse when they do the same operation at the same depth (so none
    reads another), with constants alike or named in one formula, and their
    gradients are worked out alike: per row or once, in the output's cone or
    not, zero or not, reaching parameters or not. ``found``, ``depth`` and
    ``static`` are ``flow(program, parts)``, ``depths(program)`` and
    ``program.statics()`` when already worked out.
    """
    depth = depths(program) if depth is None else depth
    static = program.statics() if static is None else static
    found = flow(program, parts) if found is None else found
    grouped: dict[Any, list[int]] = {}
    for i, (op, operands, consts) in enumerate(zip(program.ops, program.operands, program.consts)):
        slot = program.first + i
        shared = () if not consts or varying_constants_trace(op, len(operands), len(consts)) else consts
        kind = (static[slot], i < program.cone, found.zero[slot], found.feeds_params[slot])
        key = (depth[slot], id(op), len(operands), len(consts), kind, shared)
        grouped.setdefault(key, []).append(slot)
    return grouped
