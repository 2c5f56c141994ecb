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
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from microgrid import checks
from microgrid.engine import Value, grad, scope, weighted_sum

# The activations by name, the one list that the constructors, the command line
# and saved files use: name -> (how repr shows it, the Value method; None for none)
ACTIVATIONS: dict[str, tuple[str, Callable[[Value], Value] | None]] = {
    "relu": ("ReLU", Value.relu),
    "tanh": ("Tanh", Value.tanh),
    "sigmoid": ("Sigmoid", Value.sigmoid),
    "leaky_relu": ("LeakyReLU", Value.leaky_relu),
    "linear": ("Linear", None),
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
        with scope(self):
            return self.forward(*args)

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

        A single input may be given bare. Raises ``ValueError`` when the number
        of inputs is not ``nin``.
        """
        inputs = [x] if isinstance(x, (Value, int, float, numbers.Real)) else x  # numpy scalars too
        if len(inputs) != self.nin:
            raise ValueError(f"{self!r} expects {self.nin} inputs, got {len(inputs)}")
        total = weighted_sum(self.w, inputs, self.b)  # one node, not a product per input
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

    def __repr__(self) -> str:
        return f"{ACTIVATIONS[self.activation][0]}Neuron({self.nin})"


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
        """Each neuron's output: a list, or a single Value for a one-neuron layer."""
        x = _leaves(x)  # once for all neurons, so they share each input's node
        outputs = [neuron(x) for neuron in self.neurons]
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

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(repr(n) for n in self.neurons)}]"


class MLP(Module):
    """A multi-layer perceptron: layers of sizes ``nouts`` after ``nin`` inputs; ``.layers``.

    Hidden layers use ``activation``; the last layer is linear (micrograd's
    choice: ReLU hidden, linear output). ``MLP(2, [16, 16, 1])`` has 337
    parameters. ``init``, ``seed`` and ``rng`` are as for Neuron.

    Raises ``ValueError`` for an empty ``nouts`` or a non-positive size.
    """

    def __init__(
        self,
        nin: int,
        nouts: Sequence[int],
        activation: str = "relu",
        *,
        init: str = "uniform",
        seed: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.nin = checks.positive_int(nin, "nin")
        if isinstance(nouts, (str, bytes)) or not isinstance(nouts, Sequence) or not nouts:
            raise ValueError(f"nouts must be a non-empty list of layer sizes, got {nouts!r}")
        self.nouts = [checks.positive_int(n, "layer sizes") for n in nouts]
        self.activation = _activation(activation, None)
        self.init = _init(init)
        self.seed = seed
        shared = _generator(seed, rng)
        sizes = [self.nin, *self.nouts]
        last = len(self.nouts) - 1
        self.layers = [
            Layer(sizes[i], sizes[i + 1], "linear" if i == last else activation, init=init, rng=shared)
            for i in range(len(self.nouts))
        ]

    def forward(self, x: Sequence[Value | float] | Value | float) -> Value | list[Value]:
        """The last layer's output: a list, or a single Value for one output."""
        x = _leaves(x)
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

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(repr(layer) for layer in self.layers)}]"


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


def _leaves(x: Sequence[Value | float] | Value | float) -> Sequence[Value] | Value:
    """Plain-number inputs as leaf Values (Values pass through): one node per input."""
    if isinstance(x, Value):
        return x
    if isinstance(x, (int, float, numbers.Real)):  # numpy scalars too
        return Value(x)
    return [xi if isinstance(xi, Value) else Value(xi) for xi in x]


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _activation(name: str, nonlin: bool | None) -> str:
    if nonlin is not None:
        if name != "relu":
            raise ValueError(f"give activation or nonlin, not both (got {name!r} and nonlin={nonlin!r})")
        return "relu" if nonlin else "linear"
    return checks.one_of(name, ACTIVATIONS, "activation")


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
