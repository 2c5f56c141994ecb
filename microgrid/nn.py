"""Neural networks built from Values: Module, Neuron, Layer, MLP.

A ``Module`` finds its parameters by looking at its attributes: every Value
(or list of Values) is a parameter, every Module (or list of Modules) a
submodule. So a user's own module needs no registration, and parameters get
stable dotted names such as ``layers.0.neurons.3.w.1``.

Written to run code made for micrograd's ``nn`` unchanged:
``MLP(2, [16, 16, 1])``, ``model(x)``, ``model.parameters()``,
``model.zero_grad()``, ``Neuron(nin, nonlin=False)``.
"""

from __future__ import annotations

import math
import numbers
import random
import reprlib
import textwrap
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from typing import Any

from microgrid import checks
from microgrid.display import html_table
from microgrid.engine import Value, call_in_scope, grad, weighted_sum

# The activations by name, the one list that the constructors, the command line,
# saved files and interop use: name -> (PyTorch's name for it, the Value method; None for none)
ACTIVATIONS: dict[str, tuple[str, Callable[[Value], Value] | None]] = {
    "relu": ("ReLU", Value.relu),
    "tanh": ("Tanh", Value.tanh),
    "sigmoid": ("Sigmoid", Value.sigmoid),
    "leaky_relu": ("LeakyReLU", Value.leaky_relu),
    "linear": ("Identity", None),
}
# The initialisations by name: name -> (what it is, the bound a of the weights' U(-a, a)
# from the neuron's fan-in and fan-out). Glorot and Kaiming: the variance of U(-a, a) is a^2 / 3.
INITS: dict[str, tuple[str, Callable[[int, int], float]]] = {
    "uniform": ("U(-1, 1), micrograd's", lambda nin, fan_out: 1.0),
    "xavier": ("Glorot uniform, for tanh and sigmoid", lambda nin, fan_out: math.sqrt(6.0 / (nin + fan_out))),
    "he": ("Kaiming uniform, for relu", lambda nin, fan_out: math.sqrt(6.0 / nin)),
}


class Module:
    """A piece of a network: it owns parameters and submodules, and has a ``forward``.

    Calling a module runs ``forward`` inside ``scope(self)``, so every Value
    made there remembers which module made it (drawings group nodes by it).
    Attributes that are Values, Modules, or lists of them are found
    automatically; everything else (numbers, strings) is ignored.
    """

    def __call__(self, *args: Any) -> Any:
        """Run ``forward(*args)`` with ``scope(self)``, so the Values made know their module."""
        return call_in_scope(self, self.forward, *args)

    def forward(self, *args: Any) -> Any:
        """Compute the module's output; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def named_modules(self) -> list[tuple[str, Module]]:
        """Every module, root ("") first, each once, parents before children.

        Names are dotted attribute paths, like torch's: ``layers.0``,
        ``layers.0.neurons.3``.
        """
        found: list[tuple[str, Module]] = []
        seen: set[int] = set()
        pending: list[tuple[str, Module]] = [("", self)]
        while pending:
            name, module = pending.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            found.append((name, module))
            children = [
                (_join(name, key), item) for key, item in _members(module) if isinstance(item, Module)
            ]
            pending.extend(reversed(children))  # reversed: the stack pops them in order
        return found

    def named_parameters(self) -> list[tuple[str, Value]]:
        """Every parameter once, with its dotted name, e.g. ``layers.0.neurons.3.w.1``.

        The order is stable: module by module (as ``named_modules``), and
        within a neuron its weights, then its bias (micrograd's order).
        """
        found: list[tuple[str, Value]] = []
        seen: set[int] = set()
        for prefix, module in self.named_modules():
            for key, item in _members(module):
                if isinstance(item, Value) and id(item) not in seen:
                    seen.add(id(item))
                    found.append((_join(prefix, key), item))
        return found

    def parameters(self) -> list[Value]:
        """Every parameter once, in the order of ``named_parameters``."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Set every parameter's ``grad`` to 0 (gradients accumulate until zeroed)."""
        for p in self.parameters():
            p.grad = 0.0

    def state_dict(self) -> dict[str, float]:
        """The parameter values by dotted name, as plain floats."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        """Set the parameters from ``state`` (as made by ``state_dict``).

        Everything is checked before anything is changed. Raises ``ValueError``
        for missing or unexpected names and for inf or nan, ``TypeError`` for a
        value that is not a real number.
        """
        params = dict(self.named_parameters())
        missing = [name for name in params if name not in state]
        unexpected = [name for name in state if name not in params]
        if missing or unexpected:
            raise ValueError(
                f"state does not match {type(self).__name__}'s parameters: "
                f"missing {missing}, unexpected {unexpected}"
            )
        values = {name: checks.finite(state[name], f"state[{name!r}]") for name in params}
        for name, p in params.items():
            p.data = values[name]

    def config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-able, to build this module again."""
        raise NotImplementedError(f"{type(self).__name__} does not define config()")

    def extra_repr(self) -> str:
        """What the repr shows inside ``Name(...)``, like torch's: here nothing; subclasses add their arguments."""
        return ""

    def __repr__(self) -> str:
        # like torch: the module and its arguments, then each submodule indented under its
        # name; a run of identical submodules is one line ("(layers.0-2): 3 x ...")
        groups = _submodule_groups(self)
        if not groups:
            return self._title()
        lines = [f"{self._title()}  # {_parameters(self)}"]
        for label, copies, module in groups:
            text = repr(module)
            count = "" if "\n" in text else f"  # {_parameters(module, copies)}"  # a nested one counts itself
            times = f"{copies} x " if copies > 1 else ""
            lines.append(textwrap.indent(f"({label}): {times}{text}{count}", "  "))
        return "\n".join(lines)

    def _repr_html_(self) -> str | None:
        # Jupyter's table of the submodules; a module without any shows its repr as text
        groups = _submodule_groups(self)
        if not groups:
            return None
        rows = [
            (
                label,
                f"{copies} x {module._title()}" if copies > 1 else module._title(),
                _parameters(module, copies),
            )
            for label, copies, module in groups
        ]
        return html_table(f"{self._title()}: {_parameters(self)}", ("", "module", "parameters"), rows)

    def _title(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class Neuron(Module):
    """One neuron: ``activation(w . x + b)``, with weights ``.w`` and bias ``.b``.

    What to give:
        nin: the number of inputs.
        activation: relu, tanh, sigmoid, leaky_relu or linear.
        nonlin: micrograd's switch; True means relu, False means linear
            (give it or ``activation``, not both).
        init: "uniform" (U(-1, 1), micrograd's), "xavier" (Glorot uniform) or
            "he" (Kaiming uniform); the bias starts at 0.
        seed, rng: an int seed or a ``random.Random`` for reproducible weights;
            with neither, the module-level ``random`` is used, like micrograd.
        fan_out: the size of the neuron's layer (only "xavier" uses it).

    Raises ``ValueError`` for a non-positive ``nin``, an unknown activation or
    init, or both ``seed`` and ``rng``.
    """

    def __init__(
        self,
        nin: int,
        activation: str = "relu",
        *,
        nonlin: bool | None = None,
        init: str = "uniform",
        seed: int | None = None,
        rng: random.Random | None = None,
        fan_out: int = 1,
    ) -> None:
        self.nin = checks.positive_int(nin, "nin")
        self.activation = _activation(activation, nonlin)
        self.init = _init(init)
        self.seed = seed
        self.fan_out = checks.positive_int(fan_out, "fan_out")
        self.w = _initial_weights(self.nin, self.fan_out, self.init, _uniform(seed, rng))
        self.b = Value(0.0)

    def forward(self, x: Sequence[Value | float] | Value | float) -> Value:
        """activation(sum(w_i * x_i) + b) for inputs x (numbers or Values).

        A single input may be given bare. Raises ``TypeError`` for inputs that
        are not a list of numbers (None, a string, a dict, a nested list) and
        ``ValueError`` when the number of inputs is not ``nin``.
        """
        # the fast path is a layer's list of Values; anything else is checked first
        inputs = x if type(x) is list and len(x) == self.nin else _inputs(self, x, self.nin)
        try:
            total = weighted_sum(self.w, inputs, self.b)  # one node, not a product per input
        except (TypeError, ValueError):
            _inputs(self, inputs, self.nin)  # an element that is not a number: say which
            raise
        activate = ACTIVATIONS[self.activation][1]
        return total if activate is None else activate(total)

    def config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-able."""
        return {
            "nin": self.nin,
            "activation": self.activation,
            "init": self.init,
            "seed": self.seed,
            "fan_out": self.fan_out,
        }

    def extra_repr(self) -> str:
        """``nin`` and the activation (and the init, when not micrograd's uniform)."""
        return f"{self.nin}, activation={self.activation!r}{_init_repr(self.init)}"


class Layer(Module):
    """``nout`` neurons reading the same inputs; ``.neurons``.

    Takes Neuron's arguments. Called on inputs it returns a list of ``nout``
    Values, or a single Value when ``nout`` is 1 (like micrograd).
    """

    def __init__(
        self,
        nin: int,
        nout: int,
        activation: str = "relu",
        *,
        nonlin: bool | None = None,
        init: str = "uniform",
        seed: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.nin = checks.positive_int(nin, "nin")
        self.nout = checks.positive_int(nout, "nout")
        self.activation = _activation(activation, nonlin)
        self.init = _init(init)
        self.seed = seed
        shared = _generator(seed, rng)  # one stream for all neurons, so they differ
        self.neurons = [
            Neuron(nin, self.activation, init=init, rng=shared, fan_out=nout) for _ in range(nout)
        ]

    def forward(self, x: Sequence[Value | float] | Value | float) -> Value | list[Value]:
        """Each neuron's output: a list, or a single Value for a one-neuron layer.

        Raises ``TypeError`` or ``ValueError`` for inputs that are not ``nin`` numbers.
        """
        inputs = _inputs(self, x, self.nin)  # once for all neurons, so they share each input's node
        outputs = [neuron(inputs) for neuron in self.neurons]
        return outputs[0] if len(outputs) == 1 else outputs

    def config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-able."""
        return {
            "nin": self.nin,
            "nout": self.nout,
            "activation": self.activation,
            "init": self.init,
            "seed": self.seed,
        }

    def extra_repr(self) -> str:
        """``nin``, ``nout`` and the activation (and the init, when not micrograd's uniform)."""
        return f"{self.nin}, {self.nout}, activation={self.activation!r}{_init_repr(self.init)}"

    def __repr__(self) -> str:
        return self._title()  # one line: its arguments say what its neurons are

    def _repr_html_(self) -> str | None:
        return None


class MLP(Module):
    """A multi-layer perceptron: layers of sizes ``nouts`` after ``nin`` inputs; ``.layers``.

    Hidden layers use ``activation``; the last layer is linear (micrograd's
    choice: ReLU hidden, linear output). ``MLP(2, [16, 16, 1])`` has 337
    parameters. ``nonlin``, ``init``, ``seed`` and ``rng`` are as for Neuron
    (``nonlin=False`` makes the hidden layers linear too).

    Raises ``ValueError`` for an empty ``nouts`` or a non-positive size.
    """

    def __init__(
        self,
        nin: int,
        nouts: Sequence[int],
        activation: str = "relu",
        *,
        nonlin: bool | None = None,
        init: str = "uniform",
        seed: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.nin = checks.positive_int(nin, "nin")
        if isinstance(nouts, (str, bytes)) or not isinstance(nouts, Sequence) or not nouts:
            raise ValueError(f"nouts must be a non-empty list of layer sizes, got {nouts!r}")
        self.nouts = [checks.positive_int(n, "layer sizes") for n in nouts]
        self.activation = _activation(activation, nonlin)
        self.init = _init(init)
        self.seed = seed
        shared = _generator(seed, rng)
        sizes = [self.nin, *self.nouts]
        last = len(self.nouts) - 1
        self.layers = [
            Layer(sizes[i], sizes[i + 1], "linear" if i == last else self.activation, init=init, rng=shared)
            for i in range(len(self.nouts))
        ]

    def forward(self, x: Sequence[Value | float] | Value | float) -> Value | list[Value]:
        """The last layer's output: a list, or a single Value for one output.

        Raises ``TypeError`` or ``ValueError`` for inputs that are not ``nin`` numbers.
        """
        x = _inputs(self, x, self.nin)
        for layer in self.layers:
            x = layer(x)
        return x  # type: ignore[return-value]  # a layer's output, not the raw input

    def config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-able."""
        return {
            "nin": self.nin,
            "nouts": list(self.nouts),
            "activation": self.activation,
            "init": self.init,
            "seed": self.seed,
        }

    def extra_repr(self) -> str:
        """``nin``, the layer sizes and the hidden activation (and the init, when not uniform)."""
        return f"{self.nin}, {self.nouts}, activation={self.activation!r}{_init_repr(self.init)}"


def input_gradients(
    model: Callable[[list[Value]], Value | Sequence[Value]],
    x: Sequence[Value | float],
    target: int | None = None,
) -> list[float]:
    """d output / d x_i for each input: how sensitive the model is to each input.

    For a model with several outputs, the output is ``output[target]``.
    Parameter ``.grad``s are not touched. Raises ``ValueError`` when a
    multi-output model gets no ``target`` or one out of range.
    """
    inputs = [Value(xi.data if isinstance(xi, Value) else xi) for xi in x]
    output = model(inputs)
    if isinstance(output, Value):
        if target not in (None, 0):
            raise ValueError(f"the model has a single output; target must be None or 0, got {target!r}")
    else:
        if target is None:
            raise ValueError(f"the model has {len(output)} outputs; give target, the index of one")
        target = checks.integer(target, "target")
        if not 0 <= target < len(output):
            raise ValueError(f"target must be in [0, {len(output)}), got {target!r}")
        output = output[target]
    return [g.data for g in grad(output, inputs)]


# --- helpers ---


def _members(module: Module) -> Iterator[tuple[str, object]]:
    """(name, item) for each attribute, with list and tuple items named by index."""
    for key, attr in vars(module).items():
        if isinstance(attr, (list, tuple)):
            for i, item in enumerate(attr):
                yield f"{key}.{i}", item
        else:
            yield key, attr


def _inputs(module: Module, x: object, nin: int) -> list[Value]:
    """``x`` as ``nin`` Values, plain numbers made leaves (one node per input).

    Raises TypeError or ValueError, naming the module, what it expects and what
    it got, for anything else.
    """
    if isinstance(x, (Value, numbers.Real)):  # a single input may be given bare; numpy scalars too
        x = [x]
    expected = f"{module._title()} expects {nin} input{'s' if nin != 1 else ''}, a list of numbers or Values"
    if isinstance(x, (str, bytes, Mapping, Set)) or not isinstance(x, Iterable):
        raise TypeError(f"{expected}; got {type(x).__name__}: {reprlib.repr(x)}")
    given = list(x)  # a tuple, a numpy array or a generator
    if len(given) != nin:
        raise ValueError(f"{expected}; got {len(given)}: {reprlib.repr(x)}")
    inputs = []
    for i, xi in enumerate(given):
        try:
            inputs.append(xi if isinstance(xi, Value) else Value(xi))
        except TypeError:
            batch = isinstance(xi, Iterable) and not isinstance(xi, (str, bytes))
            hint = (
                " (a batch? call the model on one example at a time: [model(x) for x in X])" if batch else ""
            )
            raise TypeError(
                f"{expected}; input {i} is {type(xi).__name__}: {reprlib.repr(xi)}{hint}"
            ) from None
        except ValueError as error:  # a number Value refuses: nan, inf
            raise ValueError(f"{expected}; input {i}: {error}") from None
    return inputs


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _activation(name: str, nonlin: bool | None) -> str:
    if nonlin is not None:
        if name != "relu":
            raise ValueError(f"give activation or nonlin, not both (got {name!r} and nonlin={nonlin!r})")
        return "relu" if nonlin else "linear"
    return checks.one_of(name, ACTIVATIONS, "activation")


def _parameters(module: Module, copies: int = 1) -> str:
    # "337 parameters"; for a run of identical submodules, "17 parameters each"
    count = len(module.parameters())
    return f"{count:,} parameter{'s' if count != 1 else ''}{' each' if copies > 1 else ''}"


def _submodule_groups(module: Module) -> list[tuple[str, int, Module]]:
    """(label, copies, module) for the direct submodules; a run of identical ones in a list is one group."""
    groups: list[tuple[list[str], Module, str]] = []
    for name, item in _members(module):
        if not isinstance(item, Module):
            continue
        text = repr(item)
        if groups and groups[-1][2] == text and _list_of(groups[-1][0][-1]) == _list_of(name) != "":
            groups[-1][0].append(name)
        else:
            groups.append(([name], item, text))
    return [
        (names[0] if len(names) == 1 else f"{names[0]}-{names[-1].rsplit('.', 1)[1]}", len(names), item)
        for names, item, _ in groups
    ]


def _list_of(name: str) -> str:
    # "layers.3" -> "layers": the list a member belongs to ("" for a plain attribute)
    return name.rsplit(".", 1)[0] if "." in name else ""


def _init_repr(init: str) -> str:
    return "" if init == "uniform" else f", init={init!r}"


def _init(name: str) -> str:
    return checks.one_of(name, INITS, "init")


def _generator(seed: int | None, rng: random.Random | None) -> random.Random | None:
    """A generator from a seed or the given one; None means the module-level ``random``."""
    if seed is not None and rng is not None:
        raise ValueError("give seed or rng, not both")
    if seed is not None:
        return random.Random(checks.integer(seed, "seed"))
    if rng is not None and not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random, got {type(rng).__name__}")
    return rng


def _uniform(seed: int | None, rng: random.Random | None) -> Callable[[float, float], float]:
    generator = _generator(seed, rng)
    return random.uniform if generator is None else generator.uniform


def _initial_weights(
    nin: int, fan_out: int, init: str, uniform: Callable[[float, float], float]
) -> list[Value]:
    bound = INITS[init][1](nin, fan_out)
    return [Value(uniform(-bound, bound)) for _ in range(nin)]
