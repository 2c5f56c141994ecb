"""The engine: a scalar Value that records the graph of operations that made it.

Every operation is one entry of the table in ``microgrid.ops``: its forward,
its domain, and its local derivatives as a rule. Value's methods and operators
are made from that table (``register_operation``, the same path a user's own
operation takes), and one generic loop, ``_chain_rule`` behind ``backward``,
``grad`` and ``gradients``, multiplies the rules' derivatives along the graph.
Evaluated on floats the rules give first-order gradients, fast; evaluated on
Values they record a new graph, so gradients can be differentiated again.

This module imports nothing from the rest of the package but its table.
"""

from __future__ import annotations

import functools
import math
import numbers
import operator
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Union

from microgrid import ops
from microgrid.ops import OPERATIONS, Operation, describe

Operand = Union["Value", int, float]
_FLOAT_MAX = sys.float_info.max
_INF = math.inf


class _Settings:
    """One thread's settings, each held by the blocks open in this thread (see "Switches").

    A setting is a stack of the values its open blocks hold, innermost last;
    it is the innermost value, or its default when no block holds one.
    """

    __slots__ = ("enabled", "scope", "on_compare", "base_enabled", "in_pass", "mark")

    def __init__(self) -> None:
        self.enabled: list[Any] = []  # record a graph? (False inside no_grad)
        self.scope: list[Any] = []  # the object (say, a neuron) whose code is running
        self.on_compare: list[Any] = []  # who watches comparisons (a tape's trace)
        self.base_enabled = True  # recording when no block holds it: set_grad_enabled(mode) sets it
        self.in_pass = False  # inside a backward pass (see _taking_turns)
        self.mark = object()  # in _changed while these settings are not the defaults

    def is_default(self) -> bool:
        """Recording on, no scope, no watcher: what every thread starts with."""
        return self.base_enabled and not (self.enabled or self.scope or self.on_compare)

    def recording(self) -> bool:
        """Whether operations record a graph now."""
        held = self.enabled
        return bool(held[-1].value) if held else self.base_enabled

    def innermost(self, setting: str) -> Any:
        """The scope or watcher held by the innermost block, or None."""
        held = getattr(self, setting)
        return held[-1].value if held else None


class _ThreadState(threading.local):
    """Each thread's _Settings: one thread-local read per operation, then plain slots."""

    def __init__(self) -> None:
        self.settings = _Settings()


_thread_state = _ThreadState()


def _settings() -> _Settings:
    settings: _Settings = _thread_state.settings
    return settings


# The marks of the threads whose settings are not the defaults. While it is
# empty (no no_grad, scope or watcher anywhere: most of the time outside a
# network's forward), the hot paths skip reading their thread's settings, a
# thread-local read that costs a sixth of a whole operation. A mark is added
# before a setting changes and taken away after it is put back, so a thread
# with changed settings is never without its mark.
_changed: set[object] = set()


def _unmark_if_default(settings: _Settings) -> None:
    if settings.is_default():
        _changed.discard(settings.mark)


class _Closure:
    """A micrograd-style ``_backward`` closure set on a node (see ``Value._backward``)."""

    __slots__ = ("function", "const")

    def __init__(self, function: Callable[[], None], const: Any) -> None:
        self.function = function
        self.const = const  # the node's own constants, kept while the closure replaces its rule


_UNRECORDED = object()  # in _const: this leaf is the result of an operation made under no_grad

# the labels of the nodes that have one (few do): a slot in every node would cost each a block
_labels: weakref.WeakKeyDictionary[Value, str] = weakref.WeakKeyDictionary()


class Value:
    """One real number, a node of the computation graph that produced it.

    ``data`` and ``grad`` are floats; ``children`` are the operands, in order;
    ``op`` names the operation ("" for a leaf); ``const`` holds the operation's
    constant arguments (the exponent of ``x ** 3``, the slope of a leaky ReLU);
    ``scope`` is whatever owned the code that made it (see ``scope``).

    ``Value(data, label="")`` makes a leaf; micrograd's ``Value(data,
    (a, b), "+")`` makes a node with those children and op. Unlike micrograd's,
    a Value takes no attributes of your own (``p.m = 0.0`` is an
    AttributeError): keep them beside it, in a dict keyed by the Value.

    Values are graph nodes: ``==`` and ``hash`` are by identity, so Values can
    be dict keys and set members. ``< <= > >=`` compare ``data``.
    """

    # Everything lives in slots, and a slot a node does not need stays empty
    # (not even None): the garbage collector passes over every live node again
    # and again while a big graph is built, and each filled slot costs it time.
    # Nearly every operation has one or two children and at most one constant:
    #   _first, _second  those children (_second None for one child);
    #   _const           a one-child operation's constant (a float) or None.
    # Any other operation has _first None, all its children in _second (a
    # tuple) and its constants, as a tuple or None, in _const. A leaf has
    # _first None and no _second. _scope is filled only when there is one;
    # _pending is where a backward pass adds up the node's gradient. Labels, which
    # few nodes have, live in _labels beside the nodes. No __dict__: on CPython 3.11
    # one is made with every object, and it cost graph mode 24 bytes a node and 18%
    # on a wide graph (benchmarks/README.md), so micrograd's p.m = 0 is refused.
    __slots__ = ("_data", "grad", "op", "_first", "_second", "_const", "_pending", "_scope", "__weakref__")
    _data: float
    grad: float
    op: str
    _first: Value | None
    _second: Any
    _const: Any
    _pending: Any
    _scope: object

    def __init__(self, data: Any, _children: Any = (), _op: str = "", label: str = "") -> None:
        """Make a leaf from a real number (int, float, numpy scalar), or micrograd's node.

        ``Value(2.0, "x")`` and ``Value(2.0, label="x")`` name the leaf;
        ``Value(data, (a, b), "+")`` (micrograd's constructor) records a node
        with children ``a, b`` and op "+" (its gradient comes from the rule of
        that op, or from a ``_backward`` closure set on it).

        Raises ``TypeError`` for a data that is not a real number, a label that
        is not a str, or children that are not Values; ``ValueError`` for inf
        and nan.
        """
        if type(data) is not float:
            data = _as_float(data, "Value")
        if data - data != 0.0:  # inf - inf and nan - nan are nan: true just when data is not finite
            raise ValueError(f"Value needs a finite number, got {data!r}")
        self._data = data
        self.grad = 0.0
        self._first = None
        self._pending = None
        self.op = _op
        if _changed:
            scope = _thread_state.settings.innermost("scope")
            if scope is not None:
                self._scope = scope
        if _children or _op or label:  # rarer: a label, or micrograd's node
            _name_and_link(self, _children, _op, label)

    if TYPE_CHECKING:  # a property below: a C getter reads as fast as a slot; writes are checked

        @property
        def data(self) -> float:
            """The number this node holds: always a finite float."""

        @data.setter
        def data(self, number: float) -> None: ...

    else:

        def _set_data(self, number: Any) -> None:
            # _finite written out: one Python frame per `p.data -= lr * p.grad`, not three
            if type(number) is not float:
                number = _as_float(number, "Value.data")
            if number - number != 0.0:  # inf - inf and nan - nan are nan: true just when not finite
                raise ValueError(f"Value.data needs a finite number, got {number!r}")
            self._data = number

        data = property(
            operator.attrgetter("_data"), _set_data, doc="The number this node holds: always a finite float."
        )
        del _set_data

    @property
    def label(self) -> str:
        """A name for drawings ("" when it has none)."""
        return _labels.get(self, "")

    @label.setter
    def label(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"a label must be a str, got {type(name).__name__}: {name!r}")
        if name:
            _labels[self] = name
        else:
            _labels.pop(self, None)

    def __getstate__(self) -> dict[str, Any]:
        # for copy and pickle: the filled slots, and the label kept beside them
        state = {name: getattr(self, name) for name in _SLOTS if hasattr(self, name)}
        if self.label:
            state["label"] = self.label
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

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
        if type(const) is _Closure:
            const = const.const
        return () if const is None or const is _UNRECORDED else const if type(const) is tuple else (const,)

    # --- comparisons and conversions use data; identity stays the node's ---

    def __lt__(self, other: Operand) -> bool:
        return _compared(self, "<", other, self._data < _data(other))

    def __le__(self, other: Operand) -> bool:
        return _compared(self, "<=", other, self._data <= _data(other))

    def __gt__(self, other: Operand) -> bool:
        return _compared(self, ">", other, self._data > _data(other))

    def __ge__(self, other: Operand) -> bool:
        return _compared(self, ">=", other, self._data >= _data(other))

    __eq__ = object.__eq__  # identity: a Value is a node, not a number
    __hash__ = object.__hash__

    def __float__(self) -> float:
        return self._data

    def __int__(self) -> int:
        return int(self._data)

    def __round__(self, ndigits: int | None = None) -> float:
        return round(self._data, ndigits)

    def __format__(self, spec: str) -> str:
        # f"{v:.3f}" formats the number; f"{v}" is the repr, as for any object
        return format(self._data, spec) if spec else repr(self)

    def item(self) -> float:
        """The number, as a plain float (PyTorch's ``tensor.item()``)."""
        return self._data

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label else ""
        return f"Value(data={self._data!r}, grad={self.grad!r}{label})"

    # micrograd's private names, so code written against it keeps working
    @property
    def _prev(self) -> set[Value]:
        return set(self.children)

    @property
    def _op(self) -> str:
        return self.op

    @property
    def _backward(self) -> Callable[[], None]:
        """micrograd's ``_backward``: add this node's share of ``self.grad`` into its children's ``.grad``.

        A closure set on a node (micrograd's way of writing an operation's
        backward) is what ``backward()`` uses for that node, first order only.
        """
        const = getattr(self, "_const", None)
        if type(const) is _Closure:
            return const.function
        return functools.partial(_micrograd_step, self)

    @_backward.setter
    def _backward(self, function: Callable[[], None]) -> None:
        if not callable(function):
            raise TypeError(f"_backward must be a function, got {type(function).__name__}")
        children = self.children
        if not children:
            return  # a leaf has nothing to pass a gradient to (micrograd sets a no-op)
        # the generic branch of backward handles it: children in _second, the closure in _const
        self._const = _Closure(function, self.const or None)
        self._first = None
        self._second = children

    if TYPE_CHECKING:
        # The methods and operators made from the table of operations (see
        # register_operation), declared for type checkers; a test checks that
        # these are exactly the table's.
        def __add__(self, other: Operand) -> Value: ...
        def __radd__(self, other: Operand) -> Value: ...
        def __sub__(self, other: Operand) -> Value: ...
        def __rsub__(self, other: Operand) -> Value: ...
        def __mul__(self, other: Operand) -> Value: ...
        def __rmul__(self, other: Operand) -> Value: ...
        def __truediv__(self, other: Operand) -> Value: ...
        def __rtruediv__(self, other: Operand) -> Value: ...
        def __mod__(self, other: Operand) -> Value: ...
        def __rmod__(self, other: Operand) -> Value: ...
        def __pow__(self, other: Operand) -> Value: ...
        def __rpow__(self, other: Operand) -> Value: ...
        def __neg__(self) -> Value: ...
        def __abs__(self) -> Value: ...

        exp: ClassVar[Callable[[Value], Value]]
        exp2: ClassVar[Callable[[Value], Value]]
        expm1: ClassVar[Callable[[Value], Value]]
        log: ClassVar[Callable[[Value], Value]]
        log2: ClassVar[Callable[[Value], Value]]
        log10: ClassVar[Callable[[Value], Value]]
        log1p: ClassVar[Callable[[Value], Value]]
        sqrt: ClassVar[Callable[[Value], Value]]
        sin: ClassVar[Callable[[Value], Value]]
        cos: ClassVar[Callable[[Value], Value]]
        tan: ClassVar[Callable[[Value], Value]]
        sinh: ClassVar[Callable[[Value], Value]]
        cosh: ClassVar[Callable[[Value], Value]]
        tanh: ClassVar[Callable[[Value], Value]]
        asin: ClassVar[Callable[[Value], Value]]
        acos: ClassVar[Callable[[Value], Value]]
        atan: ClassVar[Callable[[Value], Value]]
        asinh: ClassVar[Callable[[Value], Value]]
        acosh: ClassVar[Callable[[Value], Value]]
        atanh: ClassVar[Callable[[Value], Value]]
        sigmoid: ClassVar[Callable[[Value], Value]]
        softplus: ClassVar[Callable[[Value], Value]]
        relu: ClassVar[Callable[[Value], Value]]
        leaky_relu: ClassVar[Callable[..., Value]]  # (self, slope=0.01)
        abs: ClassVar[Callable[[Value], Value]]
        sign: ClassVar[Callable[[Value], Value]]
        detach: ClassVar[Callable[[Value], Value]]
        atan2: ClassVar[Callable[[Value, Operand], Value]]
        hypot: ClassVar[Callable[[Value, Operand], Value]]
        maximum: ClassVar[Callable[[Value, Operand], Value]]
        minimum: ClassVar[Callable[[Value, Operand], Value]]

    # --- differentiation ---

    def backward(self, gradient: float = 1.0) -> None:
        """Add d(self)/d(node) * gradient to the ``.grad`` of every node of the graph.

        Leaves and intermediate nodes alike are filled in. Like PyTorch, gradients
        accumulate: a second call adds again; zero them between steps. Nothing is
        changed if the pass fails (an overflowing or infinite derivative, or a
        sum of gradients that would overflow). Raises RuntimeError for a result
        computed under ``no_grad`` (it has no graph to go back through).
        """
        _backpropagate(self, _finite(gradient, "the gradient (seed) of backward"), False, True)


def _name_and_link(node: Value, children: Any, op: Any, label: Any) -> None:
    # the rest of Value(data, _children, _op, label): checks, then the label and the children
    if type(children) is str:  # Value(2.0, "x"): a label given by position
        if op or label:
            raise TypeError(
                f"Value's second argument is its children (micrograd's) or its label, got {children!r}"
            )
        children, label = (), children
    if not isinstance(label, str):
        raise TypeError(f"a label must be a str, got {type(label).__name__}: {label!r}")
    if not isinstance(op, str):
        raise TypeError(f"an op must be a str, got {type(op).__name__}: {op!r}")
    operands = tuple(children)
    bad = next((c for c in operands if not isinstance(c, Value)), None)
    if bad is not None:
        raise TypeError(f"a Value's children must be Values, got {type(bad).__name__}: {bad!r}")
    if label:
        node.label = label
    if len(operands) in (1, 2):
        node._first = operands[0]
        node._second = operands[1] if len(operands) == 2 else None
    elif operands:
        node._second = operands
        node._const = None


def _micrograd_step(node: Value) -> None:
    # what micrograd's _backward closure does, with this engine's rule
    for child, local in zip(node.children, local_derivatives(node)):
        child.grad += local * node.grad


# --- making nodes --------------------------------------------------------------------------


def _node(
    data: float,
    op: str,
    first: Value | None,
    second: Any = None,
    const: Any = None,
) -> Value:
    # Every operation's node is made here, with its operands already in Value's
    # slots (see there; second is the tuple of children when first is None).
    # Positional and without __init__: the hot path of every forward.
    if data - data != 0.0:  # inf - inf and nan - nan are nan: true just when data is not finite
        operands = [c._data for c in _operands_of(first, second)]
        consts = () if const is None else const if type(const) is tuple else (const,)
        raise OverflowError(
            f"{describe(op, [*operands, *consts])} overflows a float (|result| > {_FLOAT_MAX:.4g})"
        )
    node = _new_value(Value)
    node._data = data
    node.grad = 0.0
    node._pending = None
    if _changed:  # some thread's settings changed: this one's decide
        settings = _thread_state.settings
        held = settings.scope
        if held:
            scope = held[-1].value
            if scope is not None:
                node._scope = scope
        held = settings.enabled
        if not (held[-1].value if held else settings.base_enabled):  # under no_grad: a result, not a node
            node.op = ""
            node._first = None
            node._const = _UNRECORDED
            return node
    node.op = op
    node._first = first
    if first is None:
        node._second = second
        node._const = const
    else:
        node._second = second
        if second is None:
            node._const = const
    return node


_new_value = object.__new__
_SLOTS = tuple(name for name in Value.__slots__ if name != "__weakref__")


def _operands_of(first: Value | None, second: Any) -> tuple[Value, ...]:
    if first is None:
        return second  # type: ignore[no-any-return]
    return (first,) if second is None else (first, second)


def _many_of(node: Value) -> tuple[Value, ...]:
    return getattr(node, "_second", None) or ()  # a leaf has no _second


def _apply(op: Operation, values: tuple[Value, ...], constants: tuple[float, ...]) -> Value:
    # op on Value operands and number constants, any shape: the general path
    operands = [v._data for v in values]
    op.check(*operands, *constants)
    try:
        data = float(op.forward(*operands, *constants))
    except OverflowError:  # math.exp and friends raise; the node reports it, naming op and operands
        data = _INF
    if len(values) == 1 and len(constants) <= 1:
        return _node(data, op.name, values[0], None, constants[0] if constants else None)
    if len(values) == 2 and not constants:
        return _node(data, op.name, values[0], values[1])
    return _node(data, op.name, None, values, constants or None)


# Python's own operators: an operation whose forward is one of these has its
# forward written inline in its Value method (see _compile_method)
_INFIX = {operator.add: "+", operator.sub: "-", operator.mul: "*", operator.truediv: "/", operator.mod: "%"}


def _compile_method(op: Operation) -> Callable[..., Value]:
    """Value's method for ``op`` of one or two operands: the hot path of every forward.

    The method is written out as source for ``op`` and compiled, so that it
    costs what a hand-written one does (``x * y`` computes ``a * b`` in place,
    with no call to ``operator.mul``; a closure would pay for its cells on every
    call). For two operands it is exactly this function, with ``op``'s parts
    filled in (``numbered`` is the operation used for a plain-number operand:
    ``x ** 2`` is "**", ``x ** y`` is "pow")::

        def method(self, other):
            if isinstance(other, Value):
                a, b = self._data, other._data
                op.check(a, b)                     # when op has a domain
                data = op.forward(a, b)            # inf, if it overflows
                return _node(data, op.name, self, other)
            b = _finite(other, ...)                # a number: kept as the constant
            a = self._data
            numbered.check(a, b)
            data = numbered.forward(a, b)
            return _node(data, numbered.name, self, None, b)

    and for one operand the first branch alone, on ``x = self._data``.
    """
    numbered = OPERATIONS[op.with_number] if op.with_number else op
    names: dict[str, Any] = {"Value": Value, "_node": _node, "_finite": _finite, "_INF": _INF}

    def compute(entry: Operation, operands: str, prefix: str) -> list[str]:
        # lines that check the operands and set data
        lines = []
        if entry.domain:
            names[f"{prefix}check"] = entry.check
            lines.append(f"{prefix}check({operands})")
        symbol = _INFIX.get(entry.forward) if operands.count(",") == 1 else None
        if symbol is not None:  # IEEE arithmetic: an overflow is inf, never an exception
            lines.append(f"data = {operands.replace(', ', f' {symbol} ')}")
        else:
            names[f"{prefix}forward"] = entry.forward
            lines += [
                "try:",
                f"    data = {prefix}forward({operands})",
                "except OverflowError:  # math.exp and friends raise; _node names op and operands",
                "    data = _INF",
            ]
        return lines

    if op.arity == 1:
        body = ["x = self._data", *compute(op, "x", "_"), f"return _node(data, {op.name!r}, self)"]
        source = "def method(self):\n" + "".join(f"    {line}\n" for line in body)
    else:
        value_branch = ["a, b = self._data, other._data", *compute(op, "a, b", "_")]
        number_branch = [
            f"b = other if type(other) is float and other - other == 0.0 else _finite(other, {f'the operand of {op.name}'!r})",
            "a = self._data",
            *compute(numbered, "a, b", "_number_"),
        ]
        body = [
            "if isinstance(other, Value):",
            *(f"    {line}" for line in value_branch),
            f"    return _node(data, {op.name!r}, self, other)",
            *number_branch,
            f"return _node(data, {numbered.name!r}, self, None, b)",
        ]
        source = "def method(self, other):\n" + "".join(f"    {line}\n" for line in body)
    exec(compile(source, f"<microgrid operation {op.name!r}>", "exec"), names)
    method: Callable[..., Value] = names["method"]
    return method


def _with_constants(op: Operation) -> Callable[..., Value]:
    # a Value and op.constants plain numbers (leaky_relu's slope, c in c - x)
    count, name = op.constants, op.name
    defaults = op.defaults

    def method(self: Value, *constants: Any) -> Value:
        given = len(constants)
        if not count - len(defaults) <= given <= count:
            raise TypeError(f"{name} takes {count} constant(s) after the Value, got {given}")
        constants = (*constants, *defaults[len(defaults) - (count - given) :])
        return _apply(op, (self,), tuple(_finite(c, f"the constant of {name}") for c in constants))

    return method


def _any_operands(op: Operation) -> Callable[..., Value]:
    # a user's operation of another shape: Values, then op.constants numbers
    name = op.name

    def apply(*operands: Any) -> Value:
        if op.arity is not None and len(operands) != op.arity:
            raise TypeError(f"{name} takes {op.arity} operands, got {len(operands)}")
        split = len(operands) - op.constants
        values = tuple(_as_value(x, name) for x in operands[:split])
        constants = tuple(_finite(c, f"the constant of {name}") for c in operands[split:])
        if not values:
            raise TypeError(f"{name} needs at least one operand")
        return _apply(op, values, constants)

    return apply


def _method_of(op: Operation) -> Callable[..., Value]:
    if op.arity == 1 or (op.arity == 2 and not op.constants):
        return _compile_method(op)
    if op.constants:
        return _with_constants(op)
    return _any_operands(op)


def register_operation(op: Operation) -> Callable[..., Value]:
    """Add ``op`` to the table of operations and return the function that applies it.

    The way every operation, built in or a user's, becomes part of the engine:
    ``backward`` uses its rule, ``op.method`` (if given) becomes a Value method
    and ``op.operators`` Value's operators. The function returned takes the
    Value operands, then the constants, and returns the result's node::

        softsign = register_operation(Operation(
            "softsign",
            forward=lambda x: x / (1 + abs(x)),
            rule=lambda out, x: ((1 - abs(out)) ** 2,),
            method="softsign",
        ))
        y = softsign(x)  # or x.softsign()

    Registering an operation of the same name again replaces your earlier
    entry (a notebook cell run twice, a rule fixed); nodes already made keep
    the name, so they take the new rule. Raises ValueError for the name of a
    built-in operation, or a method or operator name Value already has for
    something else.
    """
    if not isinstance(op, Operation):
        raise TypeError(f"register_operation takes an Operation, got {type(op).__name__}: {op!r}")
    earlier = OPERATIONS.get(op.name)
    if earlier is not None and earlier is not op and op.name in _BUILT_IN:
        raise ValueError(f"{op.name!r} is a built-in operation; give yours another name")
    names = [op.method] if op.method else []
    names += list(op.operators)
    for attribute in names:
        existing = Value.__dict__.get(attribute)  # not getattr: that would compile a method not yet used
        made_for = getattr(existing, "operation", None)
        if existing is not None and made_for not in (op, earlier) and attribute not in _DEFAULT_DUNDERS:
            raise ValueError(f"Value already has {attribute!r}; choose another method name for {op.name!r}")
    if earlier is None:
        ops.add_operation(op)
    else:
        OPERATIONS[op.name] = op
    if earlier is not None and earlier is not op:  # the earlier entry's methods go with it
        for attribute in [earlier.method, *earlier.operators]:
            if attribute and getattr(Value.__dict__.get(attribute), "operation", None) is earlier:
                delattr(Value, attribute)
    for attribute in names:
        setattr(Value, attribute, _MadeOnFirstUse(op, attribute))
    return _named(_any_operands(op), op, op.name)


class _MadeOnFirstUse:
    """Value's method for an operation, made (and compiled) the first time it is looked up.

    So ``import microgrid`` does not compile forty methods a program may never
    use; after the first use the method itself takes this one's place.
    """

    __slots__ = ("operation", "attribute")

    def __init__(self, operation: Operation, attribute: str) -> None:
        self.operation = operation
        self.attribute = attribute

    def __get__(self, value: Value | None, owner: type | None = None) -> Any:
        method = _named(_method_of(self.operation), self.operation, self.attribute)
        setattr(Value, self.attribute, method)
        return method if value is None else method.__get__(value, owner)


# object's own special methods that a Value operation may replace (only __abs__ & co. come from nowhere)
_DEFAULT_DUNDERS = frozenset(name for name in dir(object) if name.startswith("__"))


def _named(function: Callable[..., Value], op: Operation, name: str) -> Callable[..., Value]:
    # a name and docstring for help() and tracebacks (each function is a new closure)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"{op.doc or op.name} (the operation {op.name!r} of microgrid.ops)."
    function.operation = op  # type: ignore[attr-defined]
    return function


def describe_node(node: Value) -> str:
    """How errors name a node: its operation and operands (``log(0.0)``), or a leaf's number."""
    return _describe(node)


def backward_closure(node: Value) -> Callable[[], None] | None:
    """The micrograd-style ``_backward`` closure set on ``node``, or None when its rule is the table's."""
    const = getattr(node, "_const", None)
    return const.function if type(const) is _Closure else None


def data_of(values: Iterable[Value]) -> list[float]:
    """Every Value's number, as a list: ``[v.data for v in values]``, at the speed of a slot read.

    For code that moves many parameters at once (a tape, an optimizer).
    """
    return [v._data for v in values]  # a comprehension's slot read beats map(attrgetter) on CPython 3.11


def set_data(values: Sequence[Value], numbers: Sequence[float]) -> None:
    """Set each Value's number, all or nothing: ``v.data = x`` for each pair, checked first.

    For code that moves many parameters at once (an optimizer's step): every
    number is checked before any Value changes. Raises ``ValueError`` when the
    lengths differ or a number is inf or nan, ``TypeError`` for a number that
    is not a real number, naming the first.
    """
    if len(values) != len(numbers):
        raise ValueError(f"set_data needs one number per Value, got {len(numbers)} numbers for {len(values)}")
    if set(map(type, numbers)) == {float}:  # floats already (an optimizer's): looked at at C speed
        floats = list(numbers)
    else:
        floats = [
            x if type(x) is float else _as_float(x, f"set_data's numbers[{i}]") for i, x in enumerate(numbers)
        ]
    total = sum(floats)  # not finite when any number is (or, rarely, when they add up past the largest float)
    if total - total != 0.0:
        for i, x in enumerate(floats):
            _finite(x, f"set_data's numbers[{i}]")
    for value, x in zip(values, floats):
        value._data = x


def value_sum(terms: Iterable[Operand]) -> Value:
    """Sum many terms into one node (one graph node, not a chain of ``+``).

    Plain numbers become leaves. An empty sum is ``Value(0.0)``.
    """
    children = tuple(t if isinstance(t, Value) else Value(t) for t in terms)
    if not children:
        return Value(0.0)
    return _node(_fsum(map(_data_of, children)), "sum", None, children)


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
    return _node(_fsum([*products, b._data]), "weighted_sum", None, (*ws, *xs, b))


_data_of = operator.attrgetter("_data")
_pending_of = operator.attrgetter("_pending")
_grad_of = operator.attrgetter("grad")


def _fsum(terms: Iterable[float]) -> float:
    try:
        return math.fsum(terms)  # exact: the order of the terms does not matter
    except (OverflowError, ValueError):  # a term or the total is out of range (inf - inf, say)
        return _INF  # reported by _node, naming the operation and operands


# --- the backward pass ---------------------------------------------------------------------


def topological_order(root: Value) -> list[Value]:
    """Every node of root's graph, each after all of its children (root last).

    The leaves come first, then the operations in depth-first order. No
    recursion: a graph of any depth works at the default recursion limit.
    """
    _check_value(root, "topological_order")  # named as the user called it
    leaves, operations = leaves_and_operations(root)
    return leaves + operations


def leaves_and_operations(root: Value) -> tuple[list[Value], list[Value]]:
    """``topological_order(root)`` in its two parts: (the leaves, the operations each after its operands).

    For code that treats the two apart (a tape's parameters and instructions)
    without asking each node for its ``children``.
    """
    _check_value(root, "leaves_and_operations")
    with _taking_turns():
        leaves, operations, _ = _walk(root)
    return leaves, operations


def gradients(output: Value, seed: Any = 1.0, *, create_graph: bool = False) -> dict[Value, Any]:
    """Return {node: d(output)/d(node) * seed} for every node of output's graph.

    No ``.grad`` is touched (``backward`` and ``grad`` are built on this). With
    ``create_graph`` the rules are evaluated on Values, so the gradients are
    themselves recorded graphs (pass a Value seed); otherwise on floats.
    Raises OverflowError or ZeroDivisionError, naming the node, when a
    gradient overflows or a derivative is infinite; TypeError for an output
    that is not a Value or a seed that is not a number or a Value.
    """
    _check_value(output, "gradients")
    if not isinstance(seed, Value):
        seed = _finite(seed, "the seed of gradients")
    return _backpropagate(output, seed, create_graph, into_grad=False)


def grad(output: Value, inputs: Value | Iterable[Value], *, create_graph: bool = False) -> list[Value]:
    """d output / d input for each input, like ``torch.autograd.grad``.

    No ``.grad`` is touched. An input the output does not depend on gets 0.
    With ``create_graph=True`` the results are recorded Values that can be
    differentiated again (second, third derivatives, Hessians); otherwise they
    are leaves. Raises TypeError for an output or an input that is not a Value.
    """
    _check_value(output, "grad")
    if isinstance(inputs, (str, bytes)) or not isinstance(inputs, (Value, Iterable)):
        raise TypeError(f"grad's inputs must be a Value or Values, got {type(inputs).__name__}: {inputs!r}")
    inputs = [inputs] if isinstance(inputs, Value) else list(inputs)
    for x in inputs:
        _check_value(x, "grad's inputs")
    grads = gradients(output, Value(1.0) if create_graph else 1.0, create_graph=create_graph)
    found = [grads.get(x, 0.0) for x in inputs]
    return [g if isinstance(g, Value) else Value(g) for g in found]


_one_walk_at_a_time = threading.Lock()


def _taking_turns() -> threading.Lock:
    # Walks mark nodes in place, so they take turns across threads. A pass
    # started from within a derivative rule would wait for itself forever:
    # it is refused instead.
    if _settings().in_pass:
        raise RuntimeError("a backward pass cannot run inside another (from a derivative rule?)")
    return _one_walk_at_a_time


def _backpropagate(output: Value, seed: Any, create_graph: bool, into_grad: bool) -> dict[Value, Any]:
    # The pass behind backward (into_grad: add each gradient to .grad, once
    # all of them are known and checked) and gradients (return them, touching
    # no .grad). Either way every _pending is emptied again, even after Ctrl-C:
    # recorded gradients hold graphs.
    if getattr(output, "_const", None) is _UNRECORDED:
        raise RuntimeError(
            f"{output!r} was computed under no_grad, so it has no graph to differentiate "
            "(like PyTorch's 'element 0 of tensors does not require grad'); compute it outside no_grad"
        )
    nodes: list[Value] = []
    settings = _settings()
    with _taking_turns():  # a with statement: Ctrl-C cannot leave the lock held
        try:
            settings.in_pass = True
            leaves, operations, mark = _walk(output)
            nodes = leaves + operations
            output._pending = seed
            # all or nothing: the pass checks every .grad + gradient before any .grad changes
            _chain_rule(leaves, operations, mark, create_graph, into_grad)
            if not into_grad:
                return {node: node._pending for node in nodes}
            for node in nodes:
                node.grad += node._pending
                node._pending = None
            nodes = []  # emptied already
            return {}
        finally:
            settings.in_pass = False  # first, and with no call before it: Ctrl-C cannot skip it
            for node in nodes:
                node._pending = None


def _refuse_overflowing_sum(node: Value) -> None:
    new = node.grad + node._pending
    raise OverflowError(
        f"gradient overflow: {_describe(node)} has .grad {node.grad!r}, and adding "
        f"d(output)/d(node) = {node._pending!r} would make it {new!r}; no .grad was changed "
        "(zero the grads between steps?)"
    )


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
                stack += node._second
            else:
                leaves.append(node)  # (a node with an op but no children is one too)
    return leaves, operations, mark


def _chain_rule(
    leaves: list[Value], operations: list[Value], mark: float, create_graph: bool, into_grad: bool = False
) -> None:
    """Add each operation's gradient, times its local derivatives, into its children's ``_pending``.

    It computes exactly this loop, the chain rule, in which each node's
    gradient is complete before it is passed on (outputs first)::

        for node in reversed(operations):
            for child, local in zip(node.children, local_derivatives(node)):
                child._pending += local * node._pending

    (with ``create_graph`` the rules are evaluated on the Values themselves).
    The loop below is that loop made fast: nodes with one or two children and
    at most one constant, nearly all of them, are read from their slots and
    their rule called on floats directly. Raises on the first gradient out of
    range, naming the node, and with ``into_grad`` (backward on floats) on the
    first node whose ``.grad`` plus its gradient is: checked here, where each
    gradient is read anyway, a separate pass would cost wide graphs 7%.
    """
    try:
        for node in reversed(operations):
            g = node._pending
            if (
                not -_FLOAT_MAX <= g <= _FLOAT_MAX
                or into_grad
                and not -_FLOAT_MAX <= g + node.grad <= _FLOAT_MAX
            ):
                break
            first = node._first
            if create_graph or first is None:  # any operation, on Values or floats
                children = node.children
                const = getattr(node, "_const", None)
                local_grads: Sequence[Any]
                if type(const) is _Closure:
                    local_grads = _closure_derivatives(node, const, create_graph)
                elif create_graph:
                    local_grads = _operation(node).rule(node, *children, *node.const)
                else:
                    local_grads = local_derivatives(node)
                for child, local in zip(children, local_grads):
                    pending = child._pending
                    # the first term replaces the mark: a recorded sum never records "0 + term"
                    child._pending = local * g if pending is mark else pending + local * g
                continue
            rule = OPERATIONS[node.op].rule
            second = node._second
            if second is not None:
                d_first, d_second = rule(node._data, first._data, second._data)
                first._pending += d_first * g
                second._pending += d_second * g
            elif node._const is None:
                first._pending += rule(node._data, first._data)[0] * g
            else:
                first._pending += rule(node._data, first._data, node._const)[0] * g
        else:
            # the operations were checked on the way; this is for the leaves (the total of
            # the sums is not finite when any sum is, or, rarely, when only it overflows)
            if into_grad:
                total = sum(map(operator.add, map(_grad_of, leaves), map(_pending_of, leaves)))
                if -_FLOAT_MAX <= total <= _FLOAT_MAX:  # (and a TypeError for a complex derivative)
                    return
                bad = (n for n in leaves if not -_FLOAT_MAX <= n._pending + n.grad <= _FLOAT_MAX)
            else:
                if all(map(math.isfinite, map(_pending_of, leaves))):
                    return
                bad = (n for n in leaves if not math.isfinite(n._pending))
            node = next(bad, None)  # type: ignore[assignment]
            if node is None:
                return  # each sum is finite; only their total was not
            g = node._pending
    except KeyError:
        _operation(node)  # raises, saying how to give the operation a rule
        raise
    except (TypeError, ValueError, IndexError) as error:
        _check_rule_result(node)  # a rule that gave too few derivatives, or not a tuple: say so
        raise error from None
    except ZeroDivisionError:
        raise ZeroDivisionError(
            f"the derivative of {_describe(node)} is infinite (at the edge of its domain)"
        ) from None
    except OverflowError as error:
        raise OverflowError(f"the derivative of {_describe(node)} overflows a float ({error})") from None
    if -_FLOAT_MAX <= g <= _FLOAT_MAX:  # the gradient is finite: .grad + gradient is not
        _refuse_overflowing_sum(node)
    raise OverflowError(f"gradient overflow: d(output)/d({_describe(node)}) is {g!r}")


def _check_rule_result(node: Value) -> None:
    # raises a clear error when node's rule does not return one derivative per operand
    children = node.children
    result = _operation(node).rule(node._data, *(c._data for c in children), *node.const)
    count = len(result) if isinstance(result, (tuple, list)) else None
    if count is None or count < len(children):
        got = f"{count} derivatives" if count is not None else f"a {type(result).__name__}"
        raise TypeError(
            f"the rule of {node.op!r} returned {got} for {_describe(node)}; a rule returns a tuple "
            f"with one derivative per operand ({len(children)} here)"
        )
    bad = next((d for d in result[: len(children)] if not isinstance(d, numbers.Real)), None)
    if bad is not None:
        raise TypeError(
            f"the rule of {node.op!r} returned a derivative that is not a real number for "
            f"{_describe(node)}: {type(bad).__name__} {bad!r}"
        )


def _operation(node: Value) -> Operation:
    # node's entry in the table, with an error that says how to add one
    op = OPERATIONS.get(node.op)
    if op is None:
        raise LookupError(
            f"no rule for the operation {node.op!r} of {_describe(node)}: register one with "
            "microgrid.register_operation(Operation(name, forward, rule)), or set a micrograd-style "
            "_backward closure on the node"
        )
    return op


def _closure_derivatives(node: Value, closure: _Closure, create_graph: bool) -> list[float]:
    # A micrograd closure adds d out/d child * out.grad into each child's .grad:
    # run it with out.grad = 1 and the children's .grad at 0, read what it
    # added, and put every .grad back as it was.
    if create_graph:
        raise RuntimeError(
            f"{_describe(node)} has a micrograd-style _backward closure, which gives first-order "
            "gradients only; register its rule with microgrid.register_operation for higher orders"
        )
    children = node.children
    distinct = list(dict.fromkeys(children))
    saved = [(child, child.grad) for child in [node, *distinct]]
    try:
        for child in distinct:
            child.grad = 0.0
        node.grad = 1.0
        closure.function()
        added = {child: child.grad for child in distinct}
    finally:
        for child, value in saved:
            child.grad = value
    # a child that appears twice got both shares at once: give it to its first place
    seen: set[Value] = set()
    local = []
    for child in children:
        local.append(0.0 if child in seen else added[child])
        seen.add(child)
    return local


def local_derivatives(node: Value) -> tuple[float, ...]:
    """Return d node / d child for each of node's children: its rule, on floats.

    These are the numbers backward multiplies along each edge; a leaf has none.
    Raises LookupError for an operation with no registered rule.
    """
    children = node.children
    if not children:
        return ()
    const = getattr(node, "_const", None)
    if type(const) is _Closure:
        return tuple(_closure_derivatives(node, const, False))
    # the operands are the children and then the constants; keep one per child
    operands = [child._data for child in children]
    local = tuple(_operation(node).rule(node._data, *operands, *node.const))
    if len(local) < len(children):
        raise ValueError(
            f"the rule of {node.op!r} gave {len(local)} derivatives for the {len(children)} operands "
            f"of {_describe(node)}; a rule returns one per operand"
        )
    return local[: len(children)]


# --- switches: no_grad, set_grad_enabled, scope, watching_comparisons -------------------------
#
# A block holds a value in one of its thread's settings while it is open (see
# _Settings). Ctrl-C may land anywhere, even as __exit__ begins, before it has
# run a line: then __exit__ never runs. So the value a with block holds is tied
# to the block's object by a weak reference (_Tied): dropped while still open,
# as the interrupted block unwinds, the object takes its value out of the stack
# as it goes. A call (a decorator's, a module's) holds its value in a
# try/finally, which no interrupt can skip. Nothing else ever changes a
# setting, so nothing an interrupt leaves half-done can outlive the block.


class _Held:
    """A value held in a setting by a call (see _call_holding), which takes it out itself."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


class _Tied(weakref.ref):  # type: ignore[type-arg]
    """A value held in a setting by a with block, for as long as the block's object lives."""

    __slots__ = ("value",)
    value: Any


def _take_out(held: list[Any], entry: Any) -> None:
    # a _Tied entry's callback: its block's object was dropped without closing it
    if entry in held:
        held.remove(entry)


def _open(setting: str, owner: object, value: object) -> None:
    # owner's with block holds value in setting, until _close (or until owner is dropped)
    settings = _settings()
    held: list[Any] = getattr(settings, setting)
    entry = _Tied(owner, functools.partial(_take_out, held))
    entry.value = value
    _changed.add(settings.mark)  # before the change: the hot paths must look
    held.append(entry)


def _close(setting: str, owner: object) -> None:
    # owner's with block is over: its value goes (a value a block inside it left,
    # stale after Ctrl-C, goes when its own object does)
    settings = _settings()
    held: list[Any] = getattr(settings, setting)
    for i in range(len(held) - 1, -1, -1):
        entry = held[i]
        if type(entry) is _Tied and entry() is owner:
            del entry  # so that it dies with its place in the stack, and its callback never runs
            del held[i]
            break
    _unmark_if_default(settings)


def _call_holding(
    setting: str, value: object, function: Callable[..., Any], *args: Any, **kwargs: Any
) -> Any:
    # function(*args, **kwargs) with value held in setting. No call comes
    # between the finally's start and the value's removal: nothing can skip it.
    settings = _settings()
    held: list[Any] = getattr(settings, setting)
    entry = _Held(value)
    try:
        _changed.add(settings.mark)
        held.append(entry)
        return function(*args, **kwargs)
    finally:
        if entry in held:
            held.remove(entry)
        _unmark_if_default(settings)


class no_grad:
    """Within this block (or decorated function) operations record no graph.

    For inference and parameter updates. Per thread, and nestable. Use as
    ``with no_grad():`` or ``@no_grad()``. Ctrl-C at any moment leaves
    recording as it was before the block.
    """

    __slots__ = ("__weakref__",)

    def __enter__(self) -> no_grad:
        _open("enabled", self, False)
        return self

    def __exit__(self, *exc: object) -> None:
        _close("enabled", self)

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """Decorate ``function`` so that it runs without recording a graph."""

        @functools.wraps(function)
        def without_graph(*args: Any, **kwargs: Any) -> Any:
            return _call_holding("enabled", False, function, *args, **kwargs)

        return without_graph


class set_grad_enabled:
    """Switch graph recording on (True) or off (False) in this thread, like PyTorch's.

    As a call, ``set_grad_enabled(False)`` takes effect at once and lasts until
    the innermost block around it ends (or for good, outside any); as ``with
    set_grad_enabled(mode):`` it lasts for the block, and as a decorator for
    each call. Raises TypeError unless ``mode`` is a bool.
    """

    __slots__ = ("mode", "_undo", "__weakref__")

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled takes True or False, got {type(mode).__name__}: {mode!r}")
        self.mode = mode
        settings = _settings()
        held = settings.enabled
        # a call sets the mode now: in the innermost block that holds it, or for good
        if held:
            entry, previous = held[-1], held[-1].value
            self._undo: Callable[[], None] = lambda: setattr(entry, "value", previous)
            entry.value = mode
        else:
            previous_base = settings.base_enabled
            self._undo = lambda: setattr(settings, "base_enabled", previous_base)
            _changed.add(settings.mark)
            settings.base_enabled = mode
            _unmark_if_default(settings)

    def __enter__(self) -> set_grad_enabled:
        self._undo()  # as a block, the mode lasts for the block only
        _open("enabled", self, self.mode)
        return self

    def __exit__(self, *exc: object) -> None:
        _close("enabled", self)

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """Decorate ``function`` so that it runs with recording on or off."""
        self._undo()  # as a decorator, the mode is for the calls, not from now on
        mode = self.mode

        @functools.wraps(function)
        def switched(*args: Any, **kwargs: Any) -> Any:
            return _call_holding("enabled", mode, function, *args, **kwargs)

        return switched


def is_grad_enabled() -> bool:
    """True when operations record a graph in this thread (outside ``no_grad``)."""
    return _settings().recording()


class scope:
    """Mark Values made within this block as made by ``owner`` (a neuron, say).

    ``Value.scope`` keeps it, so drawings can group a network's nodes. Per
    thread, and nestable: ``with scope(neuron): ...``. Ctrl-C at any moment
    leaves the scope as it was before the block. (A module's call uses
    ``call_in_scope``, which does the same for one call.)
    """

    __slots__ = ("owner", "__weakref__")

    def __init__(self, owner: object) -> None:
        self.owner = owner

    def __enter__(self) -> None:
        _open("scope", self, self.owner)

    def __exit__(self, *exc: object) -> None:
        _close("scope", self)


def _compared(value: Value, comparison: str, other: Any, result: bool) -> bool:
    # a comparison's result, shown first to whoever watches comparisons (a tape's trace)
    if _changed:
        watcher = _thread_state.settings.innermost("on_compare")
        if watcher is not None:
            watcher(value, comparison, other, result)
    return result


def watching_comparisons(
    watcher: Callable[[Value, str, Any, bool], None], function: Callable[..., Any], *args: Any
) -> Any:
    """``function(*args)``, calling ``watcher(value, "<", other, result)`` on every comparison of a Value.

    How a tape's trace learns the branches a function took (its guards):
    ``<``, ``<=``, ``>`` and ``>=`` (``max``, ``sorted`` and ``if a < b``
    use them) compare data, and each result is shown to ``watcher`` first. Per
    thread; Ctrl-C at any moment leaves no watcher behind.
    """
    return _call_holding("on_compare", watcher, function, *args)


def call_in_scope(owner: object, function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)``, with the Values made meanwhile marked as ``owner``'s (see ``scope``)."""
    return _call_holding("scope", owner, function, *args)


# --- helpers ---------------------------------------------------------------------------------


def _finite(x: Any, what: str) -> float:
    # x as a float: TypeError for a non-number, ValueError for inf and nan
    number = x if type(x) is float else _as_float(x, what)
    if number - number != 0.0:  # inf - inf and nan - nan are nan: true just when not finite
        raise ValueError(f"{what} needs a finite number, got {number!r}")
    return number


def _as_float(x: Any, what: str = "a Value") -> float:
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
            raise OverflowError(f"{what}: {x!r} is too large for a float") from None
    raise TypeError(f"{what} expected a real number (int, float), got {type(x).__name__}: {x!r}")


def _as_value(x: Any, what: str) -> Value:
    return x if isinstance(x, Value) else Value(_finite(x, f"the operand of {what}"))


def _check_value(x: Any, what: str) -> None:
    if not isinstance(x, Value):
        raise TypeError(f"{what} needs a Value, got {type(x).__name__}: {x!r}")


def _data(x: Operand) -> float:
    return x._data if isinstance(x, Value) else _as_float(x)


def _describe(node: Value) -> str:
    if not node.op:
        return repr(node._data)
    return describe(node.op, [*(c._data for c in node.children), *node.const])


# The world of Values: a rule evaluated on Values records a graph (create_graph).
class _ValueWorld:
    exp = staticmethod(lambda x: x.exp())
    log = staticmethod(lambda x: x.log())
    log1p = staticmethod(lambda x: x.log1p())
    expm1 = staticmethod(lambda x: x.expm1())
    log2 = staticmethod(lambda x: x.log2())
    log10 = staticmethod(lambda x: x.log10())
    exp2 = staticmethod(lambda x: x.exp2())
    sqrt = staticmethod(lambda x: x.sqrt())
    sin = staticmethod(lambda x: x.sin())
    cos = staticmethod(lambda x: x.cos())
    tan = staticmethod(lambda x: x.tan())
    sinh = staticmethod(lambda x: x.sinh())
    cosh = staticmethod(lambda x: x.cosh())
    tanh = staticmethod(lambda x: x.tanh())
    asin = staticmethod(lambda x: x.asin())
    acos = staticmethod(lambda x: x.acos())
    atan = staticmethod(lambda x: x.atan())
    asinh = staticmethod(lambda x: x.asinh())
    acosh = staticmethod(lambda x: x.acosh())
    atanh = staticmethod(lambda x: x.atanh())
    sigmoid = staticmethod(lambda x: x.sigmoid())
    softplus = staticmethod(lambda x: x.softplus())
    sign = staticmethod(lambda x: x.sign())
    floor = staticmethod(lambda x: ops.floor(_data(x)))  # piecewise constant: no gradient to record
    atan2 = staticmethod(lambda y, x: _as_value(y, "atan2").atan2(x))
    hypot = staticmethod(lambda x, y: _as_value(x, "hypot").hypot(y))
    fsum = staticmethod(value_sum)
    where = staticmethod(ops.Floats.where)  # the condition is a bool: a comparison of data


ops.register_world(Value, _ValueWorld)


# Every operation of the table becomes part of the engine the way a user's does.
_BUILT_IN = frozenset(OPERATIONS)
for _op in list(OPERATIONS.values()):
    register_operation(_op)
