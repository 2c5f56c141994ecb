"""The engine: a scalar Value that records the graph of operations that made it.

Every operation states its local derivatives once, as a rule in ``RULES``; one
generic loop, ``_chain_rule`` (behind ``backward``, ``grad`` and ``gradients``),
multiplies them along the graph. Evaluated on floats the rules give first-order
gradients, fast; evaluated on Values they record a new graph, so gradients can
be differentiated again.

This module imports nothing from the rest of the package.
"""

from __future__ import annotations

import math
import numbers
import operator
import sys
import threading
import weakref
from collections.abc import Callable, Iterable
from contextlib import ContextDecorator
from typing import Any, Union

Operand = Union["Value", int, float]
_FLOAT_MAX = sys.float_info.max
_EXP_MAX = math.log(_FLOAT_MAX)  # exp of anything larger overflows a float


class _ThreadState(threading.local):
    """Per-thread switches: class attributes are each new thread's defaults."""

    paused = 0  # depth of nested no_grad blocks; record a graph only at 0
    scope: object = None  # the object (say, a neuron) whose code is running
    in_pass = False  # inside a backward pass (see _taking_turns)


_state = _ThreadState()

# A node's label, when it has one: few do, so labels live beside the nodes
# rather than in a slot that every node would pay for.
_labels: weakref.WeakKeyDictionary[Value, str] = weakref.WeakKeyDictionary()


class Value:
    """One real number, a node of the computation graph that produced it.

    ``data`` and ``grad`` are floats; ``children`` are the operands, in order;
    ``op`` names the operation ("" for a leaf); ``const`` holds the operation's
    constant arguments (the exponent of ``x ** 3``, the slope of a leaky ReLU);
    ``scope`` is whatever owned the code that made it (see ``scope``).

    Values are graph nodes: ``==`` and ``hash`` are by identity, so Values can
    be dict keys and set members. ``< <= > >=`` compare ``data``.
    """

    # Everything lives in slots, and a slot a node does not need stays empty
    # (not even None): the garbage collector passes over every live node again
    # and again while a big graph is built, and each filled slot costs it time.
    # Nearly every operation has one or two children and at most one constant:
    #   _first, _second  those children (_second None for one child);
    #   _const           a one-child operation's constant (a float) or None.
    # Any other operation has _first None, all its children in _many and its
    # constants, as a tuple, in _const. A leaf has _first None and op "".
    # _scope is filled only when there is one; _pending is where a backward
    # pass adds up the node's gradient. Labels, rarer still, live in _labels.
    __slots__ = (
        "data", "grad", "op", "_first", "_second", "_const", "_many",
        "_pending", "_scope", "__weakref__",
    )  # fmt: skip
    data: float
    grad: float
    op: str
    _first: Value | None
    _second: Value | None
    _const: Any
    _many: tuple[Value, ...]
    _pending: Any
    _scope: object

    def __init__(self, data: Any, label: str = "") -> None:
        """Make a leaf from a real number (int, float, numpy scalar).

        Raises ``TypeError`` for anything that is not a real number and
        ``ValueError`` for inf and nan.
        """
        if type(data) is not float:
            data = _as_float(data)
        if data - data != 0.0:  # inf - inf and nan - nan are nan: true just when data is not finite
            raise ValueError(f"Value needs a finite number, got {data!r}")
        self.data = data
        self.grad = 0.0
        self.op = ""
        self._first = None
        self._pending = None
        if label:
            _labels[self] = label
        scope = _state.scope
        if scope is not None:
            self._scope = scope

    def __getstate__(self) -> tuple[dict[str, Any], str]:
        # for copy and pickle: the filled slots, and the label (kept outside them)
        filled = {name: getattr(self, name) for name in _VALUE_SLOTS if hasattr(self, name)}
        return filled, self.label

    def __setstate__(self, state: tuple[dict[str, Any], str]) -> None:
        filled, self.label = state
        for name, value in filled.items():
            setattr(self, name, value)

    @property
    def label(self) -> str:
        """A name for drawings ("" when it has none)."""
        return _labels.get(self, "")

    @label.setter
    def label(self, name: str) -> None:
        if name:
            _labels[self] = name
        else:
            _labels.pop(self, None)

    @property
    def scope(self) -> object:
        """What owned the code that made this node (a neuron, say), or None."""
        return getattr(self, "_scope", None)

    @scope.setter
    def scope(self, owner: object) -> None:
        self._scope = owner

    @property
    def children(self) -> tuple[Value, ...]:
        """The operand Values, in order (``()`` for a leaf)."""
        first = self._first
        if first is None:
            return _many_of(self)
        second = self._second
        return (first,) if second is None else (first, second)

    @property
    def const(self) -> tuple[float, ...]:
        """The operation's constant operands, in order (``x * 2`` keeps ``(2.0,)``)."""
        const = getattr(self, "_const", None)
        return () if const is None else const if type(const) is tuple else (const,)

    # --- arithmetic: each returns a new node. A plain-number operand is kept in
    # ``const`` rather than made a leaf: constants get no gradient, and fewer
    # objects per operation keep the garbage collector out of the way.

    def __add__(self, other: Operand) -> Value:
        if isinstance(other, Value):
            return _node(self.data + other.data, "+", self, other)
        c = other if type(other) is float else _as_float(other)
        return _node(self.data + c, "+", self, None, c)

    def __sub__(self, other: Operand) -> Value:
        if isinstance(other, Value):
            return _node(self.data - other.data, "-", self, other)
        c = other if type(other) is float else _as_float(other)
        return _node(self.data - c, "-", self, None, c)

    def __mul__(self, other: Operand) -> Value:
        if isinstance(other, Value):
            return _node(self.data * other.data, "*", self, other)
        c = other if type(other) is float else _as_float(other)
        return _node(self.data * c, "*", self, None, c)

    def __truediv__(self, other: Operand) -> Value:
        if isinstance(other, Value):
            return _node(_divide(self.data, other.data), "/", self, other)
        c = other if type(other) is float else _as_float(other)
        return _node(_divide(self.data, c), "/", self, None, c)

    def __pow__(self, exponent: Operand) -> Value:
        if isinstance(exponent, Value):
            # d/d(exponent) is out * log(base): real only for a positive base
            if self.data <= 0.0:
                raise ValueError(
                    f"{self.data!r} ** Value({exponent.data!r}): a Value exponent needs a "
                    "positive base (the derivative with respect to the exponent is "
                    "out * log(base)); use a plain number as the exponent"
                )
            return _node(_power(self.data, exponent.data), "pow", self, exponent)
        k = _as_float(exponent)
        return _node(_power(self.data, k), "**", self, None, k)

    __radd__ = __add__  # c + x is x + c
    __rmul__ = __mul__

    def __rsub__(self, other: Operand) -> Value:
        return Value(other) - self

    def __rtruediv__(self, other: Operand) -> Value:
        return Value(other) / self

    def __rpow__(self, base: Operand) -> Value:
        return Value(base) ** self

    def __neg__(self) -> Value:
        return _node(-self.data, "neg", self)

    def __abs__(self) -> Value:
        return self.abs()

    # --- functions ---

    def exp(self) -> Value:
        """e ** self. Raises OverflowError above about 709.78."""
        x = self.data
        return _node(math.exp(x) if x <= _EXP_MAX else math.inf, "exp", self)

    def log(self) -> Value:
        """Natural logarithm. Raises ValueError for a non-positive input."""
        if self.data <= 0.0:
            raise ValueError(f"log is undefined for {self.data!r} (non-positive input)")
        return _node(math.log(self.data), "log", self)

    def sqrt(self) -> Value:
        """Square root. Raises ValueError for a negative input."""
        if self.data < 0.0:
            raise ValueError(f"sqrt is undefined for {self.data!r} (negative input)")
        return _node(math.sqrt(self.data), "sqrt", self)

    def tanh(self) -> Value:
        """Hyperbolic tangent; finite for every input."""
        return _node(math.tanh(self.data), "tanh", self)

    def sigmoid(self) -> Value:
        """1 / (1 + e ** -self), computed without overflow for any input."""
        return _node(_sigmoid(self.data), "sigmoid", self)

    def softplus(self) -> Value:
        """log(1 + e ** self), computed without overflow for any input."""
        x = self.data
        # log1p(e^-|x|) + max(x, 0): the exponent is never positive
        return _node(math.log1p(math.exp(-abs(x))) + max(x, 0.0), "softplus", self)

    def relu(self) -> Value:
        """max(0, self); its derivative at 0 is taken as 0, like PyTorch."""
        return _node(max(self.data, 0.0), "relu", self)

    def leaky_relu(self, slope: float = 0.01) -> Value:
        """self if positive, else slope * self."""
        k = _as_float(slope)
        x = self.data
        return _node(x if x > 0.0 else k * x, "leaky_relu", self, None, k)

    def abs(self) -> Value:
        """|self|; its derivative at 0 is taken as 0, like PyTorch."""
        return _node(abs(self.data), "abs", self)

    def sin(self) -> Value:
        """Sine (radians)."""
        return _node(math.sin(self.data), "sin", self)

    def cos(self) -> Value:
        """Cosine (radians)."""
        return _node(math.cos(self.data), "cos", self)

    # --- comparisons and conversions use data; identity stays the node's ---

    def __lt__(self, other: Operand) -> bool:
        return self.data < _data(other)

    def __le__(self, other: Operand) -> bool:
        return self.data <= _data(other)

    def __gt__(self, other: Operand) -> bool:
        return self.data > _data(other)

    def __ge__(self, other: Operand) -> bool:
        return self.data >= _data(other)

    __eq__ = object.__eq__  # identity: a Value is a node, not a number
    __hash__ = object.__hash__

    def __float__(self) -> float:
        return self.data

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label else ""
        return f"Value(data={self.data!r}, grad={self.grad!r}{label})"

    # micrograd's private names, so code written against it keeps working
    @property
    def _prev(self) -> set[Value]:
        return set(self.children)

    @property
    def _op(self) -> str:
        return self.op

    # --- differentiation ---

    def backward(self, gradient: float = 1.0) -> None:
        """Add d(self)/d(node) * gradient to the ``.grad`` of every node of the graph.

        Leaves and intermediate nodes alike are filled in. Like PyTorch, gradients
        accumulate: a second call adds again; zero them between steps. Nothing is
        changed if the pass fails (an overflowing or infinite derivative).
        """
        _backpropagate(self, _as_float(gradient), create_graph=False, into_grad=True)


def _weighted_sum_rule(*operands: Any) -> tuple[Any, ...]:
    # the operands are w_1..w_n, x_1..x_n, b
    n = len(operands) // 2
    weights, inputs = operands[:n], operands[n : 2 * n]
    return (*inputs, *weights, 1.0)  # d/dw_i = x_i, d/dx_i = w_i, d/db = 1


# The table of derivative rules: op -> rule(out, *operands) -> a tuple of
# d out / d operand, one per child. The operands are the children, then the
# constants: ``x * 2`` has children (x,) and const (2.0,), so its rule sees
# (out, x, 2.0) and a derivative for the constant is ignored. Written with operators, so one rule
# serves floats (first order) and Values (recorded, for higher orders) alike.
RULES: dict[str, Callable[..., tuple[Any, ...]]] = {
    "+": lambda out, a, b: (1.0, 1.0),
    "-": lambda out, a, b: (1.0, -1.0),
    "*": lambda out, a, b: (b, a),
    "/": lambda out, a, b: (1.0 / b, -out / b),
    "neg": lambda out, a: (-1.0,),
    "**": lambda out, a, k: (k * a ** (k - 1.0) if k != 0.0 else 0.0,),  # x**0 is constant
    "pow": lambda out, a, b: (b * a ** (b - 1.0), out * _log(a)),
    "exp": lambda out, a: (out,),
    "log": lambda out, a: (1.0 / a,),
    "sqrt": lambda out, a: (0.5 / out,),
    "tanh": lambda out, a: (1.0 - out * out,),
    "sigmoid": lambda out, a: (out * (1.0 - out),),
    "softplus": lambda out, a: (_sigmoid_of(a),),
    "relu": lambda out, a: (1.0 if a > 0.0 else 0.0,),
    "leaky_relu": lambda out, a, k: (1.0 if a > 0.0 else k,),
    "abs": lambda out, a: (1.0 if a > 0.0 else -1.0 if a < 0.0 else 0.0,),
    "sin": lambda out, a: (_cos(a),),
    "cos": lambda out, a: (-_sin(a),),
    "sum": lambda out, *terms: (1.0,) * len(terms),
    "weighted_sum": lambda out, *operands: _weighted_sum_rule(*operands),
}


def operation(data: float, children: tuple[Value, ...], op: str, const: tuple[float, ...] = ()) -> Value:
    """Make the node for an operation's result: how every operation records itself.

    ``data`` is the result (a float), ``children`` the operand Values in order,
    ``op`` the name of its rule in ``RULES``, ``const`` any constant operands.
    Under ``no_grad`` the result is a plain leaf. To add an operation, register
    its rule and return ``operation(...)``::

        RULES["softsign"] = lambda out, x: ((1 - abs(out)) ** 2,)
        def softsign(x): return operation(x.data / (1 + abs(x.data)), (x,), "softsign")

    Raises OverflowError, naming the operation, for a result too large for a float.
    """
    data, children, const = _as_float(data), tuple(children), tuple(const)
    # the shapes of the engine's own operations go in slots, anything else whole
    if len(children) == 1 and not const:
        return _node(data, op, children[0])
    if len(children) == 1 and len(const) == 1 and type(const[0]) is float:
        return _node(data, op, children[0], None, const[0])
    if len(children) == 2 and not const:
        return _node(data, op, children[0], children[1])
    return _node(data, op, None, None, const or None, children)


def _node(
    data: float,
    op: str,
    first: Value | None,
    second: Value | None = None,
    const: Any = None,
    many: tuple[Value, ...] = (),
) -> Value:
    # operation() with the operands already in Value's slots: the engine's own
    # operations call this, on the hot path, positionally and without __init__
    if data - data != 0.0:  # inf - inf and nan - nan are nan: true just when data is not finite
        operands = [c.data for c in (first, second, *many) if c is not None]
        consts = () if const is None else const if type(const) is tuple else (const,)
        described = _describe_operation(op, operands, consts)
        raise OverflowError(f"{described} overflows a float (|result| > {_FLOAT_MAX:.4g})")
    node = _new_value(Value)
    node.data = data
    node.grad = 0.0
    node._pending = None
    scope = _state.scope
    if scope is not None:
        node._scope = scope
    if _state.paused:  # under no_grad: a result, not a node of any graph
        node.op = ""
        node._first = None
        return node
    node.op = op
    node._first = first
    if first is None:
        node._many = many
        if const is not None:
            node._const = const
    else:
        node._second = second
        if second is None:
            node._const = const
    return node


_new_value = object.__new__
_VALUE_SLOTS = [name for name in Value.__slots__ if name != "__weakref__"]
_data_of = operator.attrgetter("data")
_pending_of = operator.attrgetter("_pending")


def _many_of(node: Value) -> tuple[Value, ...]:
    return getattr(node, "_many", ())  # empty on a leaf, even one given an op


def value_sum(terms: Iterable[Operand]) -> Value:
    """Sum many terms into one node (one graph node, not a chain of ``+``).

    Plain numbers become leaves. An empty sum is ``Value(0.0)``.
    """
    children = tuple(t if isinstance(t, Value) else Value(t) for t in terms)
    return _node(_sum(map(_data_of, children)), "sum", None, None, None, children)


def weighted_sum(weights: Iterable[Operand], inputs: Iterable[Operand], bias: Operand = 0.0) -> Value:
    """Sum w_i * x_i, plus bias, as one node: a neuron's weighted input.

    One node instead of a product per input and a sum: a network's graph is
    many times smaller, so forward and backward are many times faster. The
    children are the weights, then the inputs, then the bias; plain numbers
    become leaves. Raises ``ValueError`` when the lengths differ.
    """
    ws = [w if isinstance(w, Value) else Value(w) for w in weights]
    xs = [x if isinstance(x, Value) else Value(x) for x in inputs]
    if len(ws) != len(xs):
        raise ValueError(
            f"weighted_sum needs one weight per input, got {len(ws)} weights and {len(xs)} inputs"
        )
    b = bias if isinstance(bias, Value) else Value(bias)
    products = map(operator.mul, map(_data_of, ws), map(_data_of, xs))
    return _node(_sum([*products, b.data]), "weighted_sum", None, None, None, (*ws, *xs, b))


def topological_order(root: Value) -> list[Value]:
    """Every node of root's graph, each after all of its children (root last).

    The leaves come first, then the operations in depth-first order. No
    recursion: a graph of any depth works at the default recursion limit.
    """
    with _taking_turns():
        leaves, operations, _ = _walk(root)
    return leaves + operations


def gradients(output: Value, seed: Any = 1.0, *, create_graph: bool = False) -> dict[Value, Any]:
    """Return {node: d(output)/d(node) * seed} for every node of output's graph.

    No ``.grad`` is touched (``backward`` and ``grad`` are built on this). With
    ``create_graph`` the rules are evaluated on Values, so the gradients are
    themselves recorded graphs (pass a Value seed); otherwise on floats.
    Raises OverflowError or ZeroDivisionError, naming the node, when a
    gradient overflows or a derivative is infinite.
    """
    return _backpropagate(output, seed, create_graph, into_grad=False)


_one_walk_at_a_time = threading.Lock()


def _taking_turns() -> threading.Lock:
    # Walks mark nodes in place, so they take turns across threads. A pass
    # started from within a derivative rule would wait for itself forever:
    # it is refused instead.
    if _state.in_pass:
        raise RuntimeError("a backward pass cannot run inside another (from a derivative rule?)")
    return _one_walk_at_a_time


def _backpropagate(output: Value, seed: Any, create_graph: bool, into_grad: bool) -> dict[Value, Any]:
    # The pass behind backward (into_grad: add each gradient to .grad, once
    # all of them are known) and gradients (return them, touching no .grad).
    leaves: list[Value] = []
    operations: list[Value] = []
    with _taking_turns():  # a with statement: Ctrl-C cannot leave the lock held
        try:
            _state.in_pass = True
            leaves, operations, mark = _walk(output)
            output._pending = seed
            _chain_rule(leaves, operations, mark, create_graph)
            if into_grad:
                for nodes in (leaves, operations):
                    for node in nodes:
                        node.grad += node._pending
                        node._pending = None
                return {}
            return {node: node._pending for nodes in (leaves, operations) for node in nodes}
        finally:
            _state.in_pass = False
            if not into_grad:
                for nodes in (leaves, operations):
                    for node in nodes:
                        node._pending = None  # drop the gradients: recorded ones hold graphs


def _walk(root: Value) -> tuple[list[Value], list[Value], float]:
    # root's graph as (leaves, operations each after its operands, mark), by an
    # iterative depth-first search. Each node reached gets _pending = mark:
    # faster than a set, and the zero that backward adds gradients to (-0.0,
    # the float that adds to anything exactly). The mark is a new float each
    # walk, known by identity, so whatever an earlier walk left in _pending (a
    # walk cut short by Ctrl-C, say) is not this one's mark.
    mark = -float(0)
    leaves: list[Value] = []
    operations: list[Value] = []
    stack: list[Value | None] = [root]
    while stack:
        node = stack.pop()
        if node is None:  # marker: everything above the node is placed
            operations.append(stack.pop())  # type: ignore[arg-type]
        elif node._pending is not mark:  # not reached before, from another path
            node._pending = mark
            first = node._first  # the slots, not .children: this is the hot path
            if first is not None:
                stack += (node, None, first)
                if node._second is not None:
                    stack.append(node._second)
            elif node.op and _many_of(node):  # any other shape of operation
                stack += (node, None)
                stack += node._many
            else:
                leaves.append(node)  # (a node with an op but no children is one too)
    return leaves, operations, mark


def _chain_rule(leaves: list[Value], operations: list[Value], mark: float, create_graph: bool) -> None:
    # Adds each operation's gradient, times its local derivatives, into its
    # children's _pending: outputs first, so a node's gradient is complete
    # before it is passed on. Raises on the first gradient out of range.
    try:
        for node in reversed(operations):
            g = node._pending
            if not -_FLOAT_MAX <= g <= _FLOAT_MAX:
                break
            rule = RULES[node.op]
            first = node._first
            if create_graph or first is None:  # any operation, on Values or floats
                children = node.children
                local_grads = rule(node, *children, *node.const) if create_graph else local_derivatives(node)
                for child, local in zip(children, local_grads):
                    pending = child._pending
                    # the first term replaces the mark: a recorded sum never records "0 + term"
                    child._pending = local * g if pending is mark else pending + local * g
                continue
            # On floats, the shapes in slots (one or two children, at most one
            # constant: nearly every node) spelled out, as most time goes here.
            second = node._second
            if second is not None:
                d_first, d_second = rule(node.data, first.data, second.data)
                first._pending += d_first * g
                second._pending += d_second * g
            elif node._const is None:
                first._pending += rule(node.data, first.data)[0] * g
            else:
                first._pending += rule(node.data, first.data, node._const)[0] * g
        else:
            # the operations were checked on the way; this is for the leaves
            if all(map(math.isfinite, map(_pending_of, leaves))):
                return
            node = next(node for node in leaves if not math.isfinite(node._pending))
            g = node._pending
    except ZeroDivisionError:
        raise ZeroDivisionError(
            f"the derivative of {_describe(node)} is infinite (at the edge of its domain)"
        ) from None
    except OverflowError as error:
        raise OverflowError(f"the derivative of {_describe(node)} overflows a float ({error})") from None
    raise OverflowError(f"gradient overflow: d(output)/d({_describe(node)}) is {g!r}")


def local_derivatives(node: Value) -> tuple[float, ...]:
    """Return d node / d child for each of node's children: its rule, on floats.

    These are the numbers backward multiplies along each edge; a leaf has none.
    """
    rule = RULES[node.op] if node.children else None
    if rule is None:
        return ()
    # the operands are the children and then the constants; keep one per child
    operands = [child.data for child in node.children]
    return tuple(rule(node.data, *operands, *node.const))[: len(node.children)]


def grad(output: Value, inputs: Value | Iterable[Value], *, create_graph: bool = False) -> list[Value]:
    """d output / d input for each input, like ``torch.autograd.grad``.

    No ``.grad`` is touched. An input the output does not depend on gets 0.
    With ``create_graph=True`` the results are recorded Values that can be
    differentiated again (second, third derivatives, Hessians); otherwise they
    are leaves.
    """
    inputs = [inputs] if isinstance(inputs, Value) else list(inputs)
    grads = gradients(output, Value(1.0) if create_graph else 1.0, create_graph=create_graph)
    found = [grads.get(x, 0.0) for x in inputs]
    return [g if isinstance(g, Value) else Value(g) for g in found]


class no_grad(ContextDecorator):
    """Within this block (or decorated function) operations record no graph.

    For inference and parameter updates. Per thread, and nestable. Use as
    ``with no_grad():`` or ``@no_grad()``.
    """

    def __enter__(self) -> no_grad:
        _state.paused += 1
        return self

    def __exit__(self, *exc: object) -> None:
        _state.paused -= 1


def is_grad_enabled() -> bool:
    """True when operations record a graph in this thread (outside ``no_grad``)."""
    return not _state.paused


class scope:
    """Mark Values made within this block as made by ``owner`` (a neuron, say).

    ``Value.scope`` keeps it, so drawings can group a network's nodes. Per
    thread, and nestable: ``with scope(neuron): ...``.
    """

    __slots__ = ("owner", "previous")

    def __init__(self, owner: object) -> None:
        self.owner = owner
        self.previous: object = None

    def __enter__(self) -> None:
        # a class, not @contextmanager: modules enter one per call, on the hot path
        self.previous = _state.scope
        _state.scope = self.owner

    def __exit__(self, *exc: object) -> None:
        _state.scope = self.previous


# --- helpers: functions that work on floats and Values alike ---


def _log(x: Any) -> Any:
    return x.log() if isinstance(x, Value) else math.log(x)


def _sin(x: Any) -> Any:
    return x.sin() if isinstance(x, Value) else math.sin(x)


def _cos(x: Any) -> Any:
    return x.cos() if isinstance(x, Value) else math.cos(x)


def _sigmoid_of(x: Any) -> Any:
    return x.sigmoid() if isinstance(x, Value) else _sigmoid(x)


def _sigmoid(x: float) -> float:
    # exp of a non-positive number only: no overflow for any x
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _sum(terms: Iterable[float]) -> float:
    try:
        return math.fsum(terms)  # exact: the order of the terms does not matter
    except (OverflowError, ValueError):  # a term or the total is out of range (inf - inf, say)
        return math.inf  # reported by operation(), naming the operation and operands


def _divide(a: float, b: float) -> float:
    if b == 0.0:
        raise ZeroDivisionError(f"division by zero: {a!r} / {b!r}")
    return a / b


def _power(base: float, k: float) -> float:
    if base == 0.0 and k < 0.0:
        raise ZeroDivisionError(f"0.0 ** {k!r}: zero to a negative power")
    if base < 0.0 and not k.is_integer():
        raise ValueError(f"{base!r} ** {k!r}: a negative base to a non-integer power is not real")
    try:
        return float(base**k)
    except OverflowError:
        return math.inf  # reported by operation(), naming the operation and operands


def _as_float(x: Any) -> float:
    if type(x) is float:
        return x
    # numbers.Real covers int, bool, Fraction and most numpy scalars; numpy's
    # bool is not registered there, so numpy scalars are also known by dtype
    numpy_real = getattr(getattr(x, "dtype", None), "kind", "") in ("b", "i", "u", "f") and not getattr(
        x, "ndim", 1
    )
    if (isinstance(x, numbers.Real) or numpy_real) and not isinstance(x, Value):
        try:
            return float(x)
        except OverflowError:
            raise OverflowError(f"{x!r} is too large for a float") from None
    raise TypeError(f"expected a real number (int, float), got {type(x).__name__}: {x!r}")


def _data(x: Operand) -> float:
    return x.data if isinstance(x, Value) else _as_float(x)


def _describe(node: Value) -> str:
    if not node.op:
        return repr(node.data)
    return _describe_operation(node.op, [c.data for c in node.children], node.const)


def _describe_operation(op: str, operands: list[float], const: tuple[float, ...]) -> str:
    shown = [repr(x) for x in [*operands, *const]]
    if len(shown) > 8:  # a sum of a thousand terms: the first few say enough
        shown[6:] = [f"... {len(shown) - 6} more"]
    return f"{op}({', '.join(shown)})"
