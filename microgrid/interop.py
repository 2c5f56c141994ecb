"""To and from PyTorch: an MLP as a ``torch.nn.Sequential`` with the same weights, and back.

For the learner who outgrows a scalar engine: train a network here and go on
training it in PyTorch, or bring a small PyTorch network here to look inside
it. Both directions copy the numbers, so the two models share nothing. torch is
optional: it is imported when these functions run, never by ``import microgrid``.
"""

from __future__ import annotations

import importlib.util
import math
import random
from typing import TYPE_CHECKING, NamedTuple

from microgrid.nn import MLP, Layer, Neuron

if TYPE_CHECKING:  # imported where used, after _require_torch
    import torch

_INSTALL = "pip install torch==2.13.0"
# microgrid's activation -> the torch.nn module that computes it; "linear" has none
_TORCH_ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "leaky_relu": "LeakyReLU"}
_LEAKY_RELU_SLOPE = 0.01  # Value.leaky_relu's default: the slope an MLP's neurons use
_SUPPORTED = "Linear (with bias), ReLU, Tanh, Sigmoid, LeakyReLU(negative_slope=0.01), Identity"


def to_torch(model: MLP | Layer | Neuron) -> torch.nn.Sequential:
    """A ``torch.nn.Sequential`` computing what ``model`` computes, with a copy of its weights.

    Each layer becomes a float64 ``torch.nn.Linear`` (``weight[j, i]`` is
    neuron ``j``'s ``w[i]``, ``bias[j]`` its ``b``) followed by its activation
    (``ReLU``, ``Tanh``, ``Sigmoid`` or ``LeakyReLU(0.01)``; nothing after a
    linear layer). An MLP ``MLP(784, [16, 16, 10])`` becomes ``Linear(784, 16),
    ReLU(), Linear(16, 16), ReLU(), Linear(16, 10)``; a Layer or a Neuron
    becomes one Linear (a Neuron's has one output) and its activation. Outputs
    agree with microgrid's to about 1e-15: both compute in float64, only the
    order of the sums differs. torch's random number generator is not used.

    Raises:
        ImportError: torch is not installed (the message gives the command).
        TypeError: ``model`` is not an MLP, Layer or Neuron.
        ValueError: a layer mixes activations, or a layer's inputs do not
            match the outputs of the layer before it (possible only after
            editing a model's lists by hand).

    """
    layers = _layers_of(model)
    _require_torch()
    import torch

    modules: list[torch.nn.Module] = []
    for index, (name, neurons) in enumerate(layers):
        nin, activations = len(neurons[0].w), {neuron.activation for neuron in neurons}
        if len(activations) > 1 or any(len(neuron.w) != nin for neuron in neurons):
            raise ValueError(
                f"{name} mixes neurons of different activations or sizes "
                f"({', '.join(repr(neuron) for neuron in neurons)}); a torch layer has one of each"
            )
        if index and nin != len(layers[index - 1][1]):
            raise ValueError(
                f"{name} takes {nin} inputs but the layer before it gives {len(layers[index - 1][1])}"
            )
        # made on the meta device, then given memory: no random initial weights are drawn
        # (they are overwritten at once), so torch's generator is left as it was
        linear = torch.nn.Linear(nin, len(neurons), dtype=torch.float64, device="meta").to_empty(device="cpu")
        with torch.no_grad():
            rows = [[w.data for w in neuron.w] for neuron in neurons]
            linear.weight.copy_(torch.tensor(rows, dtype=torch.float64))
            linear.bias.copy_(torch.tensor([neuron.b.data for neuron in neurons], dtype=torch.float64))
        modules.append(linear)
        (activation,) = activations
        if activation == "leaky_relu":
            modules.append(torch.nn.LeakyReLU(_LEAKY_RELU_SLOPE))
        elif activation in _TORCH_ACTIVATIONS:
            modules.append(getattr(torch.nn, _TORCH_ACTIVATIONS[activation])())
    return torch.nn.Sequential(*modules)


def from_torch(module: torch.nn.Module) -> MLP:
    """The MLP that computes what a torch ``Sequential`` of Linear layers and activations computes.

    Read: ``Linear`` (with a bias), each optionally followed by ``ReLU``,
    ``Tanh``, ``Sigmoid`` or ``LeakyReLU`` with microgrid's slope 0.01;
    ``Identity`` is skipped, nested Sequentials are read in order, and a lone
    ``Linear`` is a one-layer MLP. The network must be one an MLP is: the
    Linear layers' sizes chain, every hidden layer has the same activation (or
    none, which is ``"linear"``), and the last layer has none (an MLP's output
    is linear). The weights (any float dtype, any device) are copied as Python
    floats. Python's and torch's random number generators are not used.

    Raises:
        ImportError: torch is not installed (the message gives the command).
        TypeError: ``module`` is not a ``torch.nn.Sequential`` or ``Linear``.
        ValueError: anything an MLP cannot represent: a layer of another kind
            (named, with the kinds supported), another LeakyReLU slope, a
            Linear without bias, sizes that do not chain, hidden layers with
            different activations, an activation first, two in a row or one at
            the end, non-float or non-finite weights. The message names the
            layer by its position in the Sequential.

    """
    _require_torch()
    import torch

    if not isinstance(module, (torch.nn.Sequential, torch.nn.Linear)):
        # another module's forward could do anything: only a Sequential says what runs in what order
        raise TypeError(f"from_torch takes a torch.nn.Sequential (or a Linear), got {type(module).__name__}")
    stages: list[_Stage] = []
    for position, layer in _flattened(module):
        where = _where(layer, position)
        if isinstance(layer, torch.nn.Identity):
            continue
        if isinstance(layer, torch.nn.Linear):
            stages.append(_Stage(layer, where, "linear", ""))
            continue
        activation = _activation_of(layer, where)
        if not stages:
            raise ValueError(f"{where} comes before any Linear; an MLP starts with a Linear layer")
        if stages[-1].activation != "linear":
            raise ValueError(
                f"{where} follows {stages[-1].activation_where}; an MLP has one activation after each Linear"
            )
        stages[-1] = stages[-1]._replace(activation=activation, activation_where=where)
    if not stages:
        raise ValueError(f"{type(module).__name__} holds no Linear layer; an MLP needs at least one")
    if stages[-1].activation != "linear":
        raise ValueError(
            f"{stages[-1].activation_where} follows the last Linear, but an MLP's output layer is "
            "linear; leave it out (losses such as cross_entropy and binary_cross_entropy take the "
            "linear outputs)"
        )
    hidden = stages[:-1]
    if len({stage.activation for stage in hidden}) > 1:
        listed = ", ".join(stage.activation_where or f"none after {stage.where}" for stage in hidden)
        raise ValueError(f"the hidden layers use different activations ({listed}); an MLP uses one for all")
    for stage, after in zip(stages, stages[1:]):
        if stage.linear.out_features != after.linear.in_features:
            raise ValueError(
                f"{after.where} takes {after.linear.in_features} inputs but "
                f"{stage.where} before it gives {stage.linear.out_features}"
            )
    weights = [_weights_of(stage.linear, stage.where) for stage in stages]
    # its own generator: the initial weights are replaced below, and the global `random` is left alone
    mlp = MLP(
        stages[0].linear.in_features,
        [stage.linear.out_features for stage in stages],
        hidden[0].activation if hidden else "relu",
        rng=random.Random(0),
    )
    for microgrid_layer, (rows, biases) in zip(mlp.layers, weights):
        for neuron, row, bias in zip(microgrid_layer.neurons, rows, biases):
            for w, number in zip(neuron.w, row):
                w.data = number
            neuron.b.data = bias
    return mlp


def _require_torch() -> None:
    if importlib.util.find_spec("torch") is None:
        raise ImportError(f"microgrid.interop needs PyTorch, which is not installed: {_INSTALL}")


def _layers_of(model: MLP | Layer | Neuron) -> list[tuple[str, list[Neuron]]]:
    """Each layer of ``model`` as (its name for messages, its neurons)."""
    if isinstance(model, MLP):
        return [(f"layers.{i}", layer.neurons) for i, layer in enumerate(model.layers)]
    if isinstance(model, Layer):
        return [("the layer", model.neurons)]
    if isinstance(model, Neuron):
        return [("the neuron", [model])]
    raise TypeError(f"to_torch takes an MLP, Layer or Neuron, got {type(model).__name__}")


def _flattened(module: torch.nn.Module, position: str = "") -> list[tuple[str, torch.nn.Module]]:
    """The layers in the order they run, with their dotted positions (``2``, or ``1.0`` when nested)."""
    import torch

    if not isinstance(module, torch.nn.Sequential):
        return [(position, module)]
    return [
        layer
        for name, child in module.named_children()
        for layer in _flattened(child, f"{position}.{name}" if position else name)
    ]


class _Stage(NamedTuple):
    """A Linear layer of a Sequential, and the activation after it ("linear" and "" for none)."""

    linear: torch.nn.Linear
    where: str
    activation: str
    activation_where: str


def _where(layer: torch.nn.Module, position: str) -> str:
    return f"{type(layer).__name__} at position {position}" if position else type(layer).__name__


def _activation_of(layer: torch.nn.Module, where: str) -> str:
    """microgrid's name for an activation module, or ValueError naming it and what is supported."""
    import torch

    for name, torch_name in _TORCH_ACTIVATIONS.items():
        if isinstance(layer, getattr(torch.nn, torch_name)):
            if name == "leaky_relu" and layer.negative_slope != _LEAKY_RELU_SLOPE:
                raise ValueError(
                    f"{where} has negative_slope={layer.negative_slope!r}; "
                    f"an MLP's leaky_relu has slope {_LEAKY_RELU_SLOPE}"
                )
            return name
    raise ValueError(f"{where} ({layer!r}) is not supported; an MLP is built of {_SUPPORTED}")


def _weights_of(layer: torch.nn.Linear, where: str) -> tuple[list[list[float]], list[float]]:
    """A Linear's (weight rows, biases) as Python floats, checked: float, finite, with a bias."""
    import torch

    if layer.bias is None:
        raise ValueError(f"{where} has no bias (bias=False); every microgrid neuron has one")
    for what, tensor in (("weight", layer.weight), ("bias", layer.bias)):
        if not tensor.is_floating_point():
            raise ValueError(f"{where}'s {what} holds {tensor.dtype}, not floats")
    rows: list[list[float]] = layer.weight.detach().to("cpu", torch.float64).tolist()
    biases: list[float] = layer.bias.detach().to("cpu", torch.float64).tolist()
    for what, numbers in (("weight", [x for row in rows for x in row]), ("bias", biases)):
        bad = next((x for x in numbers if not math.isfinite(x)), None)
        if bad is not None:
            raise ValueError(f"{where}'s {what} holds {bad}; a Value must be finite")
    return rows, biases
