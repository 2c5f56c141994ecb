"""Capture: a recorded graph flattened into a program of numbered instructions (a Wengert list).

Every number of the program has a slot: first the inputs (fed at each call),
then the parameters (every other leaf, read live from its Value at each call),
then one slot per instruction, in the order graph mode's backward uses
(``topological_order`` of the output), so a replay adds up gradients in the
same order and gets the same floats. An instruction is an entry of the table
of operations (``microgrid.ops``), the slots of its Value operands and its
constants: built-in operations, n-ary sums and users' registered operations
alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

from microgrid import engine
from microgrid.engine import Value, leaves_and_operations
from microgrid.ops import OPERATIONS, Operation

COMPARISONS = ("<", "<=", ">", ">=")


@dataclass(frozen=True)
class Guard:
    """A comparison a traced function made, and its result then; a replay checks it again.

    ``left`` is a slot; ``right`` a slot or, when ``right_is_slot`` is false,
    a constant. ``where`` says where in the user's code it was made.
    """

    left: int
    comparison: str
    right: Any
    right_is_slot: bool
    result: bool
    where: str


@dataclass
class Program:
    """A captured graph: instructions over numbered slots (see the module docstring).

    Attributes:
        inputs: the input Values (slots 0 .. n_inputs - 1), fed at each call.
        params: the other leaves (the next slots), read live at each call.
        ops, operands, consts: per instruction, its table entry, the slots of
            its Value operands and its constants.
        nodes: per instruction, the graph node it was captured from (to name
            it in errors).
        results: the slots a call returns per point, the output first.
        cone: how many instructions, from the first, the output depends on
            (those backward goes through); the rest serve other results or guards.
        guards: comparisons to check again at each call (see ``Tape.trace``).

    """

    inputs: list[Value]
    params: list[Value]
    ops: list[Operation] = field(default_factory=list)
    operands: list[tuple[int, ...]] = field(default_factory=list)
    consts: list[tuple[float, ...]] = field(default_factory=list)
    nodes: list[Value] = field(default_factory=list)
    results: list[int] = field(default_factory=list)
    cone: int = 0
    guards: list[Guard] = field(default_factory=list)

    @property
    def n_inputs(self) -> int:
        """How many inputs a point has."""
        return len(self.inputs)

    @property
    def first(self) -> int:
        """The slot of the first instruction's result (after the inputs and parameters)."""
        return len(self.inputs) + len(self.params)

    @property
    def n_slots(self) -> int:
        """Every slot: inputs, parameters and instructions."""
        return self.first + len(self.ops)

    def instruction_of(self, slot: int) -> int:
        """The index of the instruction whose result is ``slot``."""
        return slot - self.first

    def statics(self) -> list[bool]:
        """Per slot, whether it is the same for every point: parameters and what they alone make."""
        static = [False] * len(self.inputs) + [True] * len(self.params)
        for operands in self.operands:
            static.append(all(static[s] for s in operands))
        return static

    def with_params(self, order: Sequence[int]) -> Program:
        """The same program with its parameters in another order: ``params[order[k]]`` becomes the k-th.

        A backend lays the parameters out the way its code reads them (numpy:
        each layer's weights as one block, a view of the array, not a copy).
        """
        if list(order) == list(range(len(self.params))):
            return self
        n_inputs = self.n_inputs
        moved = list(range(self.n_slots))  # old slot -> new slot
        for k, j in enumerate(order):
            moved[n_inputs + j] = n_inputs + k
        return Program(
            self.inputs,
            [self.params[j] for j in order],
            self.ops,
            [tuple(moved[s] for s in operands) for operands in self.operands],
            self.consts,
            self.nodes,
            [moved[s] for s in self.results],
            self.cone,
            [
                replace(g, left=moved[g.left], right=moved[g.right] if g.right_is_slot else g.right)
                for g in self.guards
            ],
        )

    def describe(self, slot: int) -> str:
        """The slot in words: an input, a parameter (with its label), or an instruction."""
        if slot < len(self.inputs):
            return f"input {slot}"
        if slot < self.first:
            label = self.params[slot - len(self.inputs)].label
            return f"parameter {slot - len(self.inputs)}" + (f" ({label!r})" if label else "")
        i = self.instruction_of(slot)
        node = self.nodes[i]
        made_by = f", made by {_owner(node.scope)}" if node.scope is not None else ""
        label = f", labelled {node.label!r}" if node.label else ""
        return f"instruction {i} of {len(self.ops)} ({self.ops[i].name}{label}{made_by})"


def _owner(scope: object) -> str:
    text = repr(scope)
    return text if len(text) <= 60 else f"{type(scope).__name__} at {id(scope):#x}"


def capture(
    output: Value, inputs: Sequence[Value], extra: Sequence[Value] = (), guards: Sequence[Any] = ()
) -> Program:
    """Flatten ``output``'s graph (and the graphs of ``extra`` results and of guards) into a Program.

    ``inputs`` must be distinct leaves; every other leaf is a parameter.
    ``guards`` are (value, comparison, other, result, where) as ``Tape.trace``
    records them. Raises TypeError for a node that is not a Value or whose
    derivative is a micrograd-style ``_backward`` closure (hidden in Python
    code), LookupError for an operation with no entry in the table, and
    ValueError for inputs that repeat or are not leaves, and for a node whose
    operand count does not fit its operation.
    """
    if not isinstance(output, Value):
        raise TypeError(f"a Tape needs Values: the output is {type(output).__name__}: {output!r}")
    for i, x in enumerate(inputs):
        if not isinstance(x, Value):
            raise TypeError(f"a Tape needs Values: inputs[{i}] is {type(x).__name__}: {x!r}")
    slots: dict[Value, int] = {}
    for i, x in enumerate(inputs):
        if x in slots:
            raise ValueError(f"inputs[{i}] is inputs[{slots[x]}] again: each input is one slot")
        slots[x] = i
    roots = [output, *extra]
    for value, _, other, _, _ in guards:
        roots.append(value)
        if isinstance(other, Value):
            roots.append(other)
    params: list[Value] = []
    operations: list[tuple[Value, tuple[Value, ...]]] = []  # each with its children (a property: asked once)
    placed: set[Value] = set()
    cone = 0
    for n, root in enumerate(roots):
        if root in placed:  # so is its whole graph: a model's outputs beside the loss made of them
            continue
        leaves, nodes = leaves_and_operations(root)
        for node in leaves:
            if node not in placed:
                placed.add(node)
                if node not in slots:
                    params.append(node)
        for node in nodes:
            if node not in placed:
                placed.add(node)
                if node in slots:
                    _not_a_leaf(slots[node], node)
                operations.append((node, node.children))
        if n == 0:
            cone = len(operations)
    for i, x in enumerate(inputs):
        if x not in placed and x.children:  # inputs in the graph were looked at on the way
            _not_a_leaf(i, x)
    program = Program(list(inputs), params, cone=cone)
    for j, p in enumerate(params):
        slots[p] = len(inputs) + j
    # each operation as an instruction (the loop written out: it runs once per node)
    ops, operands, constants, nodes_ = program.ops, program.operands, program.consts, program.nodes
    slot_of, entry_of, closure_of = slots.__getitem__, OPERATIONS.get, engine.backward_closure
    for slot, (node, children) in enumerate(operations, program.first):
        slots[node] = slot
        op, consts = entry_of(node.op), node.const
        count = len(children) + len(consts)
        if (
            op is None
            or (op.arity is not None and count != op.arity)
            or (op.name == "weighted_sum" and count % 2 == 0)
            or closure_of(node) is not None
        ):
            _refuse(node, op, children, consts)
        ops.append(op)
        operands.append(tuple(map(slot_of, children)))
        constants.append(consts)
        nodes_.append(node)
    program.results = [slots[root] for root in (output, *extra)]
    for value, comparison, other, result, where in guards:
        is_slot = isinstance(other, Value)
        right = slots[other] if is_slot else float(other)
        program.guards.append(Guard(slots[value], comparison, right, is_slot, result, where))
    return program


def _not_a_leaf(i: int, x: Value) -> NoReturn:
    raise ValueError(
        f"inputs[{i}] is the result of {x.op!r}, not a leaf: a tape's inputs are the leaves "
        "fed at each call (make them with Value(number))"
    )


def _refuse(
    node: Value, op: Operation | None, children: tuple[Value, ...], consts: tuple[float, ...]
) -> NoReturn:
    # why node cannot be an instruction
    if engine.backward_closure(node) is not None:
        raise TypeError(
            f"cannot compile {engine.describe_node(node)}: its derivative is a micrograd-style _backward "
            "closure, hidden in Python code; register the operation's rule with "
            "microgrid.register_operation(Operation(...)) instead"
        )
    if op is None:
        raise LookupError(
            f"no entry for the operation {node.op!r} of {engine.describe_node(node)}: register one with "
            "microgrid.register_operation(Operation(name, forward, rule))"
        )
    raise ValueError(
        f"cannot compile {engine.describe_node(node)}: {len(children)} operands and {len(consts)} constants "
        f"do not fit the operation {op.name!r}"
        + (f" (it takes {op.arity})" if op.arity is not None else " (weights, as many inputs, a bias)")
    )
