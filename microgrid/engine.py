"""The engine: a scalar Value that records the graph of operations that made it.

Every operation states its local derivatives once, as a rule in ``RULES``; one
generic loop in ``_gradients`` multiplies them along the graph (the chain rule).
Evaluated on floats the rules give first-order gradients, fast; evaluated on
Values they record a new graph, so gradients can be differentiated again.

This module imports nothing from the rest of the package.
"""

from __future__ import annotations

import math
import numbers
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import ContextDecorator, contextmanager
from typing import Any, Union

Number = int | float
Operand = Union["Value", int, float]
_FLOAT_MAX = sys.float_info.max
_EXP_MAX = math.log(_FLOAT_MAX)  # exp of anything larger overflows a float


class _ThreadState(threading.local):
    """Per-thread switches: class attributes are each new thread's defaults."""

    paused = 0  # depth of nested no_grad blocks; record a graph only at 0
    scope: object = None  # the object (say, a neuron) whose code is running


_state = _ThreadState()


class Value:
    """One real number, a node of the computation graph that produced it.

    ``data`` and ``grad`` are floats; ``children`` are the operands, in order;
    ``op`` names the operation ("" for a leaf); ``const`` holds the operation's
    constant arguments (the exponent of ``x ** 3``, the slope of a leaky ReLU);
    ``scope`` is whatever owned the code that made it (see ``scope``).

    Values are graph nodes: ``==`` and ``hash`` are by identity, so Values can
    be dict keys and set members. ``< <= > >=`` compare ``data``.
    """

    __slots__ = ("data", "grad", "label", "children", "op", "const", "scope", "__weakref__")

    def __init__(
        self,
        data: Any,
        label: str = "",
        *,
        children: tuple[Value, ...] = (),
        op: str = "",
        const: tuple[float, ...] = (),
    ) -> None:
        """Make a leaf from a real number (int, float, numpy scalar).

        Raises ``TypeError`` for anything that is not a real number,
        ``ValueError`` for inf and nan, and ``OverflowError`` for a result too
        large for a float.
        """
        if type(data) is not float:
            data = _as_float(data)
        if not -_FLOAT_MAX <= data <= _FLOAT_MAX:  # also false for nan
            raise _not_finite(data, children, op, const)
        self.data: float = data
        self.grad: float = 0.0
        self.label = label
        if _state.paused:  # under no_grad: a result, not a node of any graph
            children, op, const = (), "", ()
        self.children = children
        self.op = op
        self.const = const
        self.scope = _state.scope

    # --- arithmetic: each returns a new node; a plain number becomes a leaf ---

    def __add__(self, other: Operand) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, children=(self, other), op="+")

    def __sub__(self, other: Operand) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data - other.data, children=(self, other), op="-")

    def __mul__(self, other: Operand) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, children=(self, other), op="*")

    def __truediv__(self, other: Operand) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        if other.data == 0.0:
            raise ZeroDivisionError(f"division by zero: {self.data!r} / {other.data!r}")
        return Value(self.data / other.data, children=(self, other), op="/")

    def __pow__(self, exponent: Operand) -> Value:
        if isinstance(exponent, Value):
            return self._pow_value(exponent)
        k = _as_float(exponent)
        return Value(_power(self.data, k), children=(self,), op="**", const=(k,))

    def _pow_value(self, exponent: Value) -> Value:
        # d/d(exponent) is out * log(base): real only for a positive base
        if self.data <= 0.0:
            raise ValueError(
                f"{self.data!r} ** Value({exponent.data!r}): a Value exponent needs a "
                "positive base (the derivative with respect to the exponent is "
                "out * log(base)); use a plain number as the exponent"
            )
        return Value(_power(self.data, exponent.data), children=(self, exponent), op="pow")

    def __radd__(self, other: Operand) -> Value:
        return Value(other) + self

    def __rsub__(self, other: Operand) -> Value:
        return Value(other) - self

    def __rmul__(self, other: Operand) -> Value:
        return Value(other) * self

    def __rtruediv__(self, other: Operand) -> Value:
        return Value(other) / self

    def __rpow__(self, base: Operand) -> Value:
        return Value(base) ** self

    def __neg__(self) -> Value:
        return Value(-self.data, children=(self,), op="neg")

    def __abs__(self) -> Value:
        return self.abs()

    # --- functions ---

    def exp(self) -> Value:
        """e ** self. Raises OverflowError above about 709.78."""
        x = self.data
        return Value(math.exp(x) if x <= _EXP_MAX else math.inf, children=(self,), op="exp")

    def log(self) -> Value:
        """Natural logarithm. Raises ValueError for a non-positive input."""
        if self.data <= 0.0:
            raise ValueError(f"log is undefined for {self.data!r} (non-positive input)")
        return Value(math.log(self.data), children=(self,), op="log")

    def sqrt(self) -> Value:
        """Square root. Raises ValueError for a negative input."""
        if self.data < 0.0:
            raise ValueError(f"sqrt is undefined for {self.data!r} (negative input)")
        return Value(math.sqrt(self.data), children=(self,), op="sqrt")

    def tanh(self) -> Value:
        """Hyperbolic tangent; finite for every input."""
        return Value(math.tanh(self.data), children=(self,), op="tanh")

    def sigmoid(self) -> Value:
        """1 / (1 + e ** -self), computed without overflow for any input."""
        return Value(_sigmoid(self.data), children=(self,), op="sigmoid")

    def softplus(self) -> Value:
        """log(1 + e ** self), computed without overflow for any input."""
        x = self.data
        # log1p(e^-|x|) + max(x, 0): the exponent is never positive
        return Value(math.log1p(math.exp(-abs(x))) + max(x, 0.0), children=(self,), op="softplus")

    def relu(self) -> Value:
        """max(0, self); its derivative at 0 is taken as 0, like PyTorch."""
        return Value(max(self.data, 0.0), children=(self,), op="relu")

    def leaky_relu(self, slope: float = 0.01) -> Value:
        """self if positive, else slope * self."""
        k = _as_float(slope)
        x = self.data
        return Value(x if x > 0.0 else k * x, children=(self,), op="leaky_relu", const=(k,))

    def abs(self) -> Value:
        """|self|; its derivative at 0 is taken as 0, like PyTorch."""
        return Value(abs(self.data), children=(self,), op="abs")

    def sin(self) -> Value:
        """Sine (radians)."""
        return Value(math.sin(self.data), children=(self,), op="sin")

    def cos(self) -> Value:
        """Cosine (radians)."""
        return Value(math.cos(self.data), children=(self,), op="cos")

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
        for node, g in _gradients(self, _as_float(gradient)).items():
            node.grad += g


# The table of derivative rules. Each maps the output and the operands (floats
# or Values), then the operation's constants, to d out / d operand for each
# operand. Written with operators, so one rule serves floats and Values alike.
RULES: dict[str, Callable[..., tuple[Any, ...]]] = {
    "+": lambda out, a, b: (1.0, 1.0),
    "-": lambda out, a, b: (1.0, -1.0),
    "*": lambda out, a, b: (b, a),
    "/": lambda out, a, b: (1.0 / b, -out / b),
    "neg": lambda out, a: (-1.0,),
    "**": lambda out, a, k: (k * a ** (k - 1.0),),
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
}


def value_sum(terms: Iterable[Operand]) -> Value:
    """The sum of many terms as one node (one graph node, not a chain of ``+``).

    Plain numbers become leaves. An empty sum is ``Value(0.0)``.
    """
    children = tuple(t if isinstance(t, Value) else Value(t) for t in terms)
    return Value(math.fsum(c.data for c in children), children=children, op="sum")


def topological_order(root: Value) -> list[Value]:
    """Every node of root's graph, each after all of its children (root last).

    Iterative depth-first search: no recursion, so any depth works.
    """
    order: list[Value] = []
    visited = {root}
    stack: list[tuple[Value, Iterator[Value]]] = [(root, iter(root.children))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if child not in visited:
                visited.add(child)
                stack.append((child, iter(child.children)))
                break
        else:  # every child is placed, so the node can be
            stack.pop()
            order.append(node)
    return order


def _gradients(output: Value, seed: Any, on_values: bool = False) -> dict[Value, Any]:
    """d output / d node * seed for every node of output's graph.

    With ``on_values`` the rules are evaluated on Values, so the gradients are
    themselves recorded graphs; otherwise on floats.
    """
    grads: dict[Value, Any] = {output: seed}
    for node in reversed(topological_order(output)):  # outputs before inputs
        g = grads[node]
        if not -_FLOAT_MAX <= g <= _FLOAT_MAX:
            raise OverflowError(f"gradient overflow: d(output)/d({_describe(node)}) is {g!r}")
        if not node.children:
            continue
        for child, local in zip(node.children, _local_derivatives(node, on_values)):
            contribution = local * g  # chain rule; paths through a node add up
            grads[child] = grads[child] + contribution if child in grads else contribution
    return grads


def _local_derivatives(node: Value, on_values: bool) -> tuple[Any, ...]:
    operands = node.children if on_values else [c.data for c in node.children]
    out = node if on_values else node.data
    try:
        return RULES[node.op](out, *operands, *node.const)
    except ZeroDivisionError:
        raise ZeroDivisionError(
            f"the derivative of {_describe(node)} is infinite (at the edge of its domain)"
        ) from None


def grad(output: Value, inputs: Value | Iterable[Value], *, create_graph: bool = False) -> list[Value]:
    """d output / d input for each input, like ``torch.autograd.grad``.

    No ``.grad`` is touched. An input the output does not depend on gets 0.
    With ``create_graph=True`` the results are recorded Values that can be
    differentiated again (second, third derivatives, Hessians); otherwise they
    are leaves.
    """
    inputs = [inputs] if isinstance(inputs, Value) else list(inputs)
    if create_graph:
        grads = _gradients(output, Value(1.0), on_values=True)
        return [grads[x] if x in grads else Value(0.0) for x in inputs]
    grads = _gradients(output, 1.0)
    return [Value(grads.get(x, 0.0)) for x in inputs]


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


@contextmanager
def scope(owner: object) -> Iterator[None]:
    """Mark Values made within this block as made by ``owner`` (a neuron, say).

    ``Value.scope`` keeps it, so drawings can group a network's nodes.
    """
    previous = _state.scope
    _state.scope = owner
    try:
        yield
    finally:
        _state.scope = previous


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


def _power(base: float, k: float) -> float:
    if base == 0.0 and k < 0.0:
        raise ZeroDivisionError(f"0.0 ** {k!r}: zero to a negative power")
    if base < 0.0 and not k.is_integer():
        raise ValueError(f"{base!r} ** {k!r}: a negative base to a non-integer power is not real")
    try:
        return float(base**k)
    except OverflowError:
        return math.inf  # reported by Value() with the operation and operands


def _as_float(x: Any) -> float:
    if isinstance(x, numbers.Real) and not isinstance(x, Value):
        try:
            return float(x)
        except OverflowError:
            raise OverflowError(f"{x!r} is too large for a float") from None
    raise TypeError(f"expected a real number (int, float), got {type(x).__name__}: {x!r}")


def _data(x: Operand) -> float:
    return x.data if isinstance(x, Value) else _as_float(x)


def _describe(node: Value) -> str:
    operands = ", ".join(repr(c.data) for c in node.children)
    consts = "".join(f", {k!r}" for k in node.const)
    return f"{node.op}({operands}{consts})" if node.op else repr(node.data)


def _not_finite(data: float, children: tuple[Value, ...], op: str, const: tuple[float, ...]) -> Exception:
    if not op:
        return ValueError(f"Value needs a finite number, got {data!r}")
    node = Value.__new__(Value)  # only to describe the operation
    node.children, node.op, node.const = children, op, const
    return OverflowError(f"{_describe(node)} overflows a float (|result| > {_FLOAT_MAX:.4g})")
