"""Random computation graphs for property tests: ``Expression`` recipes and hypothesis strategies.

``expressions()`` draws graphs that use every operation of the table (a user's
registered ones too), with shared subexpressions. Each operand is kept where its
operation's entry says random tests may draw it (its ``sample`` interval, or
that interval's mirror image) and clear of the forward's kinks, for every input
``input_values`` may draw: the builder knows where each node can be by
evaluating each forward on intervals (``microgrid.testing.intervals``), and
passes an operand that might stray through a guard, a bounded smooth function
scaled into place (``tanh(e) * 1.2 + 1.6``). Nothing here names an operation
but the guards' pieces (a bounded function, ``*`` and ``+``) and the ``sum`` that
gathers unused nodes into the output.

An ``Expression`` replays on Values (through each operation's method or
operator, as user code calls it) and, through the same forwards evaluated in
other worlds, in sympy, mpmath and torch: the oracles' forms of any graph.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from microgrid.engine import Value
from microgrid.ops import OPERATIONS, Operation
from microgrid.testing.calling import function_of, infix
from microgrid.testing.intervals import Interval, evaluate
from microgrid.testing.operations import boxes, drawable, interval, operand_counts, operation

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

# Inputs drawn by ``values()`` have magnitudes in this range: never near 0, where
# relu and abs have kinks and 1/x and log blow up, and never large.
MIN_MAGNITUDE = 0.1
MAX_MAGNITUDE = 3.0

# Guards: functions defined, smooth and bounded on the whole line, which the
# builder scales into an operand's interval. Those in the table are used.
GUARDS = ("tanh", "sigmoid", "atan", "sin", "cos")


@dataclass(frozen=True)
class Step:
    """One operation of an ``Expression``: the table's operation ``op`` applied to ``args``.

    The args are in the table's operand order: the Value operands, then the
    constants. An ``int`` is the index of an earlier node (the inputs are nodes
    0 .. n_inputs - 1, then one node per step); a ``float`` is a plain number:
    a constant (an exponent, a slope), or the second operand of a two-operand
    operation (``x * 2.0``). ``guard`` marks the steps ``expressions()`` adds to
    bring an operand where the next operation may take it (not themselves drawn).
    """

    op: str
    args: tuple[int | float, ...]
    guard: bool = False


@dataclass(frozen=True)
class Expression:
    """A replayable recipe for a computation graph over ``n_inputs`` inputs.

    Calling it builds the graph on the given Values and returns the last
    step's result. ``to_sympy``, ``to_mpmath`` and ``to_torch`` build the same
    function in sympy, mpmath and PyTorch, as oracles for tests. Usually drawn
    by ``expressions()``; written by hand it is a regression test::

        Expression(2, (Step("*", (0, 1)), Step("log", (2,))))  # log(x0 * x1)
    """

    n_inputs: int
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        if self.n_inputs < 1 or not self.steps:
            raise ValueError(f"an Expression needs inputs and steps, got {self.n_inputs} and {self.steps!r}")
        for index, step in enumerate(self.steps, start=self.n_inputs):
            if step.op not in OPERATIONS:
                raise ValueError(f"unknown operation {step.op!r} in {step!r}")
            if any(type(arg) is int and not 0 <= arg < index for arg in step.args):
                raise ValueError(f"node {index} can only use nodes 0 .. {index - 1}, got {step!r}")
            op = OPERATIONS[step.op]
            if op.arity is not None and len(step.args) != op.arity:
                raise ValueError(f"{step.op!r} takes {op.arity} operands, got {step!r}")
            if not step.args or type(step.args[0]) is not int:
                raise ValueError(f"the first operand must be a node (an int), got {step!r}")

    @property
    def ops(self) -> frozenset[str]:
        """The names of the operations used."""
        return frozenset(step.op for step in self.steps)

    def __call__(self, *inputs: Value) -> Value:
        """Build the graph on ``inputs`` (one Value per input) and return its output."""
        return self.nodes(*inputs)[-1]

    def nodes(self, *inputs: Value) -> list[Value]:
        """Build the graph on ``inputs`` and return every node by index: the inputs, then one per step."""
        found: list[Value] = self._replay(inputs, lambda op, args: function_of(op)(*args), float)
        return found

    def to_sympy(self, symbols: Sequence[Any]) -> Any:
        """The same function as a sympy expression of ``symbols`` (declare them real).

        Numbers become exact rationals equal to the floats used, so the
        expression is the function the engine computes, without rounding.
        """
        import sympy  # type: ignore[import-untyped]

        from microgrid.testing.worlds import sympy_world

        sympy_world()
        return self._replay(symbols, _forward, sympy.Rational)[-1]

    def to_mpmath(self, numbers: Sequence[Any]) -> Any:
        """The same function on mpmath numbers (for ``mpmath.diff`` at any precision)."""
        import mpmath  # type: ignore[import-untyped]

        from microgrid.testing.worlds import mpmath_world

        mpmath_world()
        return self._replay(numbers, _forward, mpmath.mpf)[-1]

    def to_torch(self, tensors: Sequence[Any]) -> Any:
        """The same function on torch tensors (use float64 for an oracle)."""
        from microgrid.testing.worlds import torch_world

        torch_world()
        return self._replay(tensors, _forward, float)[-1]

    def _replay(
        self,
        inputs: Sequence[Any],
        run: Callable[[Operation, list[Any]], Any],
        number: Callable[[float], Any],
    ) -> list[Any]:
        """Run the steps in one world (the same recipe for Values, sympy, mpmath and torch); every node."""
        if len(inputs) != self.n_inputs:
            raise TypeError(f"this Expression takes {self.n_inputs} inputs, got {len(inputs)}")
        nodes = list(inputs)
        for step in self.steps:
            args = [nodes[arg] if type(arg) is int else number(arg) for arg in step.args]
            nodes.append(run(OPERATIONS[step.op], args))
        return nodes

    def __repr__(self) -> str:
        n = self.n_inputs
        lines = [
            f"    {_name(i, n)} = {_format(step, n)}{'  # guard' if step.guard else ''}"
            for i, step in enumerate(self.steps, start=n)
        ]
        inputs = ", ".join(_name(i, n) for i in range(n))
        last = _name(n + len(self.steps) - 1, n)
        return "\n".join([f"Expression({inputs}):", *lines, f"    return {last}"])


def _forward(op: Operation, args: list[Any]) -> Any:
    return op.forward(*args)


def _name(index: int, n_inputs: int) -> str:
    return f"x{index}" if index < n_inputs else f"v{index}"


def _format(step: Step, n_inputs: int) -> str:
    args = [_name(a, n_inputs) if type(a) is int else repr(a) for a in step.args]
    symbol, reflected = infix(OPERATIONS[step.op])
    if symbol and len(args) == 1:
        return f"{symbol}{args[0]}"
    if symbol and len(args) == 2:
        left, right = reversed(args) if reflected else args
        return f"{left} {symbol} {right}"
    return f"{step.op}({', '.join(args)})"


# --- hypothesis strategies ---------------------------------------------------------------


def values(
    min_magnitude: float = MIN_MAGNITUDE, max_magnitude: float = MAX_MAGNITUDE
) -> SearchStrategy[float]:
    """Well-conditioned input floats: ``min_magnitude <= |x| <= max_magnitude``, either sign.

    Away from 0 (the kinks of relu and abs, the poles of 1/x and log) and from
    overflow. ``expressions()`` are safe for the default range.
    """
    from hypothesis import strategies as st

    if not 0.0 < min_magnitude <= max_magnitude:
        raise ValueError(f"need 0 < min_magnitude <= max_magnitude, got {min_magnitude!r}, {max_magnitude!r}")
    magnitudes = st.floats(min_magnitude, max_magnitude)
    return st.builds(operator.mul, magnitudes, st.sampled_from([1.0, -1.0]))


def input_values(n: int) -> SearchStrategy[list[Value]]:
    """Lists of ``n`` leaf Values drawn from ``values()``: inputs for an ``Expression``."""
    from hypothesis import strategies as st

    return st.lists(values().map(Value), min_size=n, max_size=n)


def expressions(
    n_inputs: int | None = None, max_ops: int = 8, operations: Sequence[str] | None = None
) -> SearchStrategy[Expression]:
    """Random computation graphs, as replayable ``Expression`` recipes.

    Every operation of the table can appear, a user's registered ones included
    (all but those with no ``sample``, such as ``detach``): with Value operands,
    with a number as the second operand (``x * 2.0``), with constants drawn
    from their sample intervals. Operands are drawn from all earlier nodes, so
    intermediates are shared (fan-out). Each operation is kept inside its
    sample intervals and off its kinks for every input with magnitude in
    [0.1, 3] (see ``values``): an operand that could stray is first passed
    through a guard such as ``tanh(e) * 1.2 + 1.6``. Unused intermediates are
    summed into the output, so every step counts.

    Args:
        n_inputs: how many inputs; drawn from 1 to 3 when None.
        max_ops: at most this many drawn operations (guards come on top).
        operations: the names of the operations to draw (all drawable ones of
            the table when None, as it is when the example is drawn).

    Raises:
        ValueError: n_inputs or max_ops below 1, or an operation with no sample.
        LookupError: a name not in the table.

    """
    from hypothesis import strategies as st

    if max_ops < 1 or (n_inputs is not None and n_inputs < 1):
        raise ValueError(f"need n_inputs >= 1 and max_ops >= 1, got {n_inputs!r} and {max_ops!r}")
    if operations is not None:
        for name in operations:
            if not drawable(operation(name)):
                raise ValueError(f"the operation {name!r} has no sample: expressions() cannot draw it")

    @st.composite
    def draw_expression(draw: Callable[[SearchStrategy[Any]], Any]) -> Expression:
        n = n_inputs if n_inputs is not None else draw(st.integers(1, 3))
        names = (
            list(operations) if operations is not None else [k for k, v in OPERATIONS.items() if drawable(v)]
        )
        builder = _Builder(n, lambda options: options[draw(_index_below(len(options)))])
        wanted = draw(st.integers(1, max_ops))
        for _ in range(4 * wanted):  # an operation that fits nowhere gives way to another
            if len(builder.drawn) == wanted:
                break
            builder.add_step(OPERATIONS[builder.choose(names)])
        return builder.finish()

    return draw_expression()


@functools.cache
def _index_below(n: int) -> SearchStrategy[int]:
    # one strategy per size, made once: hypothesis checks each new strategy, which would dominate
    from hypothesis import strategies as st

    return st.integers(0, n - 1)


# --- the builder -----------------------------------------------------------------------------

_WHOLE_LINE = Interval(-math.inf, math.inf)


def nice_numbers(lo: float, hi: float) -> list[float]:
    """Short numbers in [lo, hi], for constants a reader can follow: multiples of a round step, and the ends.

    Zero is left out (``x * 0`` would cut the graph).
    """
    width = hi - lo
    step = 10.0 ** math.floor(math.log10(width)) / 2.0 if width > 0.0 else 1.0
    found = {round(k * step, 10) for k in range(math.ceil(lo / step), math.floor(hi / step) + 1)}
    return sorted(x for x in found | {lo, hi} if lo <= x <= hi and x != 0.0)


def _halves(lo: float, hi: float) -> list[tuple[float, float]]:
    # the lower and upper parts of an interval, a tenth of it apart
    width = hi - lo
    return [(lo, lo + 0.45 * width), (lo + 0.55 * width, hi)]


class _Builder:
    """Grows an Expression step by step, guarding each operand into where its operation may draw it."""

    def __init__(self, n_inputs: int, choose: Callable[[Sequence[Any]], Any]) -> None:
        self.n_inputs = n_inputs
        self.choose = choose  # picks one of the options: the only source of randomness
        self.steps: list[Step] = []
        self.drawn: list[int] = []  # the nodes of drawn operations (the rest are guards)
        self.ranges = [Interval(-MAX_MAGNITUDE, MAX_MAGNITUDE)] * n_inputs

    def add(self, op: Operation, args: Sequence[int | float], guard: bool = False) -> int:
        """Append a step; return its node index."""
        operands = [self.ranges[a] if type(a) is int else a for a in args]
        found = evaluate(op.forward, *operands)
        self.ranges.append(found[0] if found is not None and isinstance(found[0], Interval) else _WHOLE_LINE)
        self.steps.append(Step(op.name, tuple(args), guard))
        return len(self.ranges) - 1

    def add_step(self, op: Operation) -> None:
        """Append op on randomly chosen, guarded operands (if it fits anywhere)."""
        count = self.choose([c for c in operand_counts(op) if c > 1] or operand_counts(op))
        values = count - op.constants
        constants = [self.choose(nice_numbers(*interval(op, i))) for i in range(values, count)]
        box = self.smooth_box(op, count, constants)
        if box is None:
            return
        number_second = op.arity == 2 and not op.constants and not op.with_number
        args: list[int | float] = []
        for i, (lo, hi) in enumerate(box):
            if i == 1 and number_second and self.choose((False, True)):
                args.append(self.choose(nice_numbers(lo, hi)))  # x * 2.0: kept as the node's constant
            else:
                args.append(self.operand(lo, hi))
        self.drawn.append(self.add(op, [*args, *constants]))

    def smooth_box(self, op: Operation, count: int, constants: Sequence[float]) -> tuple[Any, ...] | None:
        """Intervals for op's Value operands inside its domain where its forward is one smooth piece.

        A sample box (or a mirror image of it) where the forward is undecided
        (``maximum`` over two overlapping intervals) is cut: each operand's
        interval into its lower or upper part, a tenth of it apart, and one of
        the combinations that decide it is taken; None if none does.
        """
        box: tuple[Any, ...] = self.choose(boxes(op, count, constants))
        if _smooth(op, box, constants):
            return box
        smooth = [b for b in _half_boxes(box) if _smooth(op, b, constants)]
        chosen: tuple[Any, ...] | None = self.choose(smooth) if smooth else None
        return chosen

    def operand(self, lo: float, hi: float) -> int:
        """Any earlier node, passed through a guard if it might not lie in [lo, hi]."""
        index: int = self.choose(range(len(self.ranges)))
        if self.ranges[index].within(lo, hi):
            return index
        return self.guard(index, lo, hi)

    def guard(self, index: int, lo: float, hi: float) -> int:
        """A node inside [lo, hi] made from node ``index``: g(e) * a + b, g a bounded guard function."""
        guards = [OPERATIONS[name] for name in GUARDS if name in OPERATIONS]
        squash = self.choose(guards)
        bounds = evaluate(squash.forward, _WHOLE_LINE)
        assert bounds is not None, f"the guard {squash.name!r} is bounded on the whole line"
        g_lo, g_hi = bounds[0].lo, bounds[0].hi
        # map [g_lo, g_hi] onto [lo, hi] shrunk by a tenth at each end, with short numbers
        width = (hi - lo) * 0.8
        scale = _round_down(width / (g_hi - g_lo))
        shift = round((lo + hi) / 2.0 - scale * (g_lo + g_hi) / 2.0, 3)
        node = self.add(squash, [index], guard=True)
        if scale != 1.0:
            node = self.add(OPERATIONS["*"], [node, scale], guard=True)
        if shift != 0.0:
            node = self.add(OPERATIONS["+"], [node, shift], guard=True)
        assert self.ranges[node].within(lo, hi), f"a guard lands in [{lo}, {hi}]"
        return node

    def finish(self) -> Expression:
        """The Expression whose output sums the last step and every unused intermediate."""
        if not self.steps:  # nothing fitted: the simplest graph of all
            self.add(OPERATIONS["+"], [0, 0])
        used = {a for step in self.steps for a in step.args if type(a) is int}
        last = len(self.ranges) - 1
        unused = [i for i in range(self.n_inputs, last) if i not in used]
        if unused:
            self.add(OPERATIONS["sum"], [*unused, last])
        return Expression(self.n_inputs, tuple(self.steps))


def _smooth(op: Operation, box: Sequence[tuple[float, float]], constants: Sequence[float]) -> bool:
    found = evaluate(op.forward, *(Interval(lo, hi) for lo, hi in box), *constants)
    return found is None or found[1]  # a forward intervals cannot follow: its sample keeps it smooth


def _half_boxes(box: Sequence[tuple[float, float]]) -> list[tuple[tuple[float, float], ...]]:
    return [tuple(parts) for parts in itertools.product(*(_halves(lo, hi) for lo, hi in box))]


def _round_down(x: float) -> float:
    # x to two significant digits, never above it
    digits = 10.0 ** (math.floor(math.log10(x)) - 1)
    return round(math.floor(x / digits) * digits, 12)
