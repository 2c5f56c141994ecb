"""Specification of microgrid.interop: an MLP to a torch Sequential and back, same numbers both ways."""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_oracle import needs_torch, torch

from microgrid.engine import Value
from microgrid.interop import from_torch, to_torch
from microgrid.nn import MLP, Layer, Neuron
from microgrid.serialize import load, save

ACTIVATIONS = ["relu", "tanh", "sigmoid", "leaky_relu", "linear"]
TORCH_NAMES = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "leaky_relu": "LeakyReLU"}


def outputs(model: MLP | Layer | Neuron, x: list[float]) -> list[float]:
    out = model(x)
    return [out.data] if isinstance(out, Value) else [v.data for v in out]


def torch_outputs(sequential: torch.nn.Module, x: list[float]) -> list[float]:
    with torch.no_grad():
        result: list[float] = sequential(torch.tensor(x, dtype=torch.float64)).tolist()
    return result


def assert_close(ours: list[float], theirs: list[float]) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12), (ours, theirs)


def linears(sequential: torch.nn.Sequential) -> list[torch.nn.Linear]:
    return [m for m in sequential if isinstance(m, torch.nn.Linear)]


# --- to_torch: small concrete cases ---


@needs_torch
def test_an_mlp_becomes_linear_layers_with_its_activation_between_and_a_linear_output() -> None:
    sequential = to_torch(MLP(3, [4, 5, 2], "tanh", seed=0))
    assert [type(m).__name__ for m in sequential] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert [(m.in_features, m.out_features) for m in linears(sequential)] == [(3, 4), (4, 5), (5, 2)]
    assert all(p.dtype == torch.float64 for p in sequential.parameters())


@needs_torch
def test_the_weights_are_copied_exactly_neuron_j_weight_i_at_row_j_column_i() -> None:
    mlp = MLP(2, [3, 1], seed=1)
    first = linears(to_torch(mlp))[0]
    neuron = mlp.layers[0].neurons[2]
    neuron.b.data = 0.25
    assert first.weight[2, 1].item() == neuron.w[1].data
    assert linears(to_torch(mlp))[0].bias[2].item() == 0.25


@needs_torch
def test_a_copy_shares_nothing_training_one_leaves_the_other() -> None:
    mlp = MLP(2, [2, 1], seed=0)
    before = mlp.state_dict()
    sequential = to_torch(mlp)
    with torch.no_grad():
        for p in sequential.parameters():
            p.add_(1.0)
    assert mlp.state_dict() == before


@needs_torch
def test_a_leaky_relu_network_keeps_the_slope_on_negative_inputs() -> None:
    mlp = MLP(1, [1, 1], "leaky_relu", seed=0)
    mlp.layers[0].neurons[0].w[0].data, mlp.layers[1].neurons[0].w[0].data = 1.0, 1.0
    sequential = to_torch(mlp)
    assert sequential[1].negative_slope == 0.01
    assert outputs(mlp, [-2.0]) == torch_outputs(sequential, [-2.0]) == [-0.02]


@needs_torch
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_a_layer_and_a_neuron_become_one_linear_and_their_activation(activation: str) -> None:
    layer, neuron = Layer(3, 2, activation, seed=0), Neuron(3, activation, seed=1)
    expected = ["Linear"] + ([TORCH_NAMES[activation]] if activation != "linear" else [])
    for model, width in ((layer, 2), (neuron, 1)):
        sequential = to_torch(model)
        assert [type(m).__name__ for m in sequential] == expected
        assert sequential[0].out_features == width
        assert_close(outputs(model, [0.5, -1.0, 2.0]), torch_outputs(sequential, [0.5, -1.0, 2.0]))


@needs_torch
def test_to_torch_draws_no_random_numbers_from_torch() -> None:
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    to_torch(MLP(4, [8, 2], seed=0))
    assert torch.equal(torch.rand(3), expected)


# --- from_torch: small concrete cases ---


@needs_torch
def test_a_torch_sequential_becomes_the_mlp_with_its_weights() -> None:
    torch.manual_seed(0)
    sequential = torch.nn.Sequential(
        torch.nn.Linear(3, 4),
        torch.nn.Sigmoid(),
        torch.nn.Linear(4, 4),
        torch.nn.Sigmoid(),
        torch.nn.Linear(4, 2),
    )
    mlp = from_torch(sequential)
    assert (mlp.nin, mlp.nouts, mlp.activation) == (3, [4, 4, 2], "sigmoid")
    # float32 weights come over as exactly the float32 numbers
    assert mlp.layers[1].neurons[3].w[2].data == sequential[2].weight[3, 2].item()
    assert_close(outputs(mlp, [0.1, 0.2, -0.3]), torch_outputs(sequential.double(), [0.1, 0.2, -0.3]))


@needs_torch
def test_identity_layers_nested_sequentials_and_a_lone_linear_are_read() -> None:
    torch.manual_seed(1)
    inner = torch.nn.Sequential(torch.nn.Linear(2, 3, dtype=torch.float64), torch.nn.ReLU())
    nested = torch.nn.Sequential(torch.nn.Identity(), inner, torch.nn.Linear(3, 1, dtype=torch.float64))
    mlp = from_torch(nested)
    assert (mlp.nouts, mlp.activation) == ([3, 1], "relu")
    assert_close(outputs(mlp, [0.7, -0.4]), torch_outputs(nested, [0.7, -0.4]))
    lone = torch.nn.Linear(2, 3, dtype=torch.float64)
    assert_close(outputs(from_torch(lone), [1.0, 2.0]), torch_outputs(lone, [1.0, 2.0]))


@needs_torch
def test_linear_hidden_layers_come_back_as_a_linear_mlp() -> None:
    sequential = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Identity(), torch.nn.Linear(2, 1))
    assert from_torch(sequential).activation == "linear"


@needs_torch
def test_from_torch_draws_no_random_numbers_from_python_or_torch() -> None:
    sequential = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    random.seed(3)
    torch.manual_seed(3)
    expected = (random.random(), torch.rand(2))
    random.seed(3)
    torch.manual_seed(3)
    from_torch(sequential)
    python_next, torch_next = random.random(), torch.rand(2)
    assert python_next == expected[0] and torch.equal(torch_next, expected[1])


@needs_torch
def test_a_network_from_torch_saves_and_loads_like_any_mlp(tmp_path: Path) -> None:
    torch.manual_seed(2)
    sequential = torch.nn.Sequential(linear(2, 3), torch.nn.Tanh(), linear(3, 1))
    save(from_torch(sequential), tmp_path / "model.json")
    assert_close(
        outputs(load(tmp_path / "model.json"), [0.3, -0.6]), torch_outputs(sequential.double(), [0.3, -0.6])
    )


# --- refusals ---


def linear(nin: int, nout: int, **options: object) -> torch.nn.Linear:
    return torch.nn.Linear(nin, nout, **options)


REFUSED = [
    (
        lambda: torch.nn.Sequential(linear(3, 4), torch.nn.Dropout(), linear(4, 2)),
        r"Dropout at position 1 \(Dropout\(p=0.5.*\)\) is not supported; an MLP is built of Linear "
        r"\(with bias\), ReLU, Tanh, Sigmoid, LeakyReLU\(negative_slope=0.01\), Identity",
    ),
    (
        lambda: torch.nn.Sequential(torch.nn.Sequential(linear(3, 4), torch.nn.GELU()), linear(4, 1)),
        r"GELU at position 0.1 .* is not supported",
    ),
    (
        lambda: torch.nn.Sequential(linear(3, 4), torch.nn.LeakyReLU(0.2), linear(4, 1)),
        r"LeakyReLU at position 1 has negative_slope=0.2; an MLP's leaky_relu has slope 0.01",
    ),
    (
        lambda: torch.nn.Sequential(linear(3, 4), torch.nn.ReLU(), linear(5, 1)),
        r"Linear at position 2 takes 5 inputs but Linear at position 0 before it gives 4",
    ),
    (
        lambda: torch.nn.Sequential(
            linear(3, 4), torch.nn.ReLU(), linear(4, 4), torch.nn.Tanh(), linear(4, 1)
        ),
        r"the hidden layers use different activations \(ReLU at position 1, Tanh at position 3\); "
        r"an MLP uses one for all",
    ),
    (
        lambda: torch.nn.Sequential(linear(3, 4), torch.nn.ReLU(), linear(4, 4), linear(4, 1)),
        r"different activations \(ReLU at position 1, none after Linear at position 2\)",
    ),
    (
        lambda: torch.nn.Sequential(linear(3, 4), torch.nn.ReLU(), linear(4, 1), torch.nn.Sigmoid()),
        r"Sigmoid at position 3 follows the last Linear, but an MLP's output layer is linear",
    ),
    (
        lambda: torch.nn.Sequential(torch.nn.Tanh(), linear(3, 1)),
        r"Tanh at position 0 comes before any Linear; an MLP starts with a Linear layer",
    ),
    (
        lambda: torch.nn.Sequential(linear(3, 4), torch.nn.ReLU(), torch.nn.ReLU(), linear(4, 1)),
        r"ReLU at position 2 follows ReLU at position 1; an MLP has one activation after each Linear",
    ),
    (
        lambda: torch.nn.Sequential(linear(3, 1, bias=False)),
        r"Linear at position 0 has no bias \(bias=False\); every microgrid neuron has one",
    ),
    (lambda: torch.nn.Sequential(), r"Sequential holds no Linear layer; an MLP needs at least one"),
    (
        lambda: torch.nn.Sequential(torch.nn.Identity(), torch.nn.Identity()),
        r"Sequential holds no Linear layer",
    ),
    (
        lambda: torch.nn.Sequential(linear(2, 2, dtype=torch.complex128)),
        r"Linear at position 0's weight holds torch.complex128, not floats",
    ),
]


@needs_torch
@pytest.mark.parametrize(("build", "message"), REFUSED)
def test_what_an_mlp_cannot_represent_is_refused_naming_the_layer(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_torch(build())  # type: ignore[operator]


@needs_torch
@pytest.mark.parametrize(("bad", "shown"), [(math.nan, "nan"), (math.inf, "inf")])
def test_a_weight_that_is_not_finite_is_refused_naming_the_layer(bad: float, shown: str) -> None:
    sequential = torch.nn.Sequential(linear(2, 2), torch.nn.ReLU(), linear(2, 1))
    with torch.no_grad():
        sequential[2].bias[0] = bad
    with pytest.raises(
        ValueError, match=f"Linear at position 2's bias holds {shown}; a Value must be finite"
    ):
        from_torch(sequential)


@needs_torch
def test_a_module_that_is_not_a_sequential_is_refused_since_its_forward_is_unknown() -> None:
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(2, 1)

    with pytest.raises(TypeError, match=r"from_torch takes a torch.nn.Sequential \(or a Linear\), got Net"):
        from_torch(Net())
    with pytest.raises(TypeError, match="got list"):
        from_torch([torch.nn.Linear(2, 1)])  # type: ignore[arg-type]


@needs_torch
def test_to_torch_refuses_what_is_not_a_microgrid_network() -> None:
    with pytest.raises(TypeError, match="to_torch takes an MLP, Layer or Neuron, got Sequential"):
        to_torch(torch.nn.Sequential())  # type: ignore[arg-type]


@needs_torch
def test_to_torch_refuses_a_layer_whose_neurons_were_mixed_by_hand() -> None:
    mlp = MLP(2, [2, 1], seed=0)
    mlp.layers[0].neurons[1] = Neuron(2, "tanh", seed=0)
    with pytest.raises(ValueError, match=r"layers.0 mixes neurons of different activations or sizes"):
        to_torch(mlp)
    mlp = MLP(2, [2, 1], seed=0)
    mlp.layers[1] = Layer(3, 1, "linear", seed=0)
    with pytest.raises(ValueError, match="layers.1 takes 3 inputs but the layer before it gives 2"):
        to_torch(mlp)


def test_without_torch_both_functions_say_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # what Python does for a module that cannot be imported
    for call in (lambda: to_torch(MLP(1, [1], seed=0)), lambda: from_torch(None)):  # type: ignore[arg-type]
        with pytest.raises(
            ImportError, match=r"needs PyTorch, which is not installed: pip install torch==2.13.0"
        ):
            call()


# --- properties: same outputs and gradients, round trips both ways ---

architectures = st.tuples(
    st.integers(1, 4),  # inputs
    st.lists(st.integers(1, 4), min_size=1, max_size=3),  # layer sizes
    st.sampled_from(ACTIVATIONS),
    st.integers(0, 2**16),  # seed
)


@needs_torch
@settings(max_examples=40, deadline=None)
@given(architecture=architectures, data=st.data())
def test_outputs_and_gradients_equal_torch_autograd(
    architecture: tuple[int, list[int], str, int], data: st.DataObject
) -> None:
    nin, nouts, activation, seed = architecture
    mlp = MLP(nin, nouts, activation, seed=seed)
    sequential = to_torch(mlp)
    x = data.draw(st.lists(st.floats(-3.0, 3.0), min_size=nin, max_size=nin))
    weights = data.draw(st.lists(st.floats(-2.0, 2.0), min_size=nouts[-1], max_size=nouts[-1]))
    # microgrid: a weighted sum of the outputs, backward, then every parameter's and input's grad
    inputs = [Value(xi) for xi in x]
    out = mlp(inputs)
    out = [out] if isinstance(out, Value) else out
    sum(w * o for w, o in zip(weights, out)).backward()
    # torch: the same on a copy of the network
    x_torch = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out_torch = sequential(x_torch)
    (out_torch * torch.tensor(weights, dtype=torch.float64)).sum().backward()
    assert_close([o.data for o in out], out_torch.tolist())
    assert_close([xi.grad for xi in inputs], x_torch.grad.tolist())
    for layer, torch_layer in zip(mlp.layers, linears(sequential)):
        assert_close([w.grad for n in layer.neurons for w in n.w], torch_layer.weight.grad.flatten().tolist())
        assert_close([n.b.grad for n in layer.neurons], torch_layer.bias.grad.tolist())


@needs_torch
@settings(max_examples=25, deadline=None)
@given(architecture=architectures)
def test_to_torch_then_from_torch_gives_back_the_same_mlp(
    architecture: tuple[int, list[int], str, int],
) -> None:
    nin, nouts, activation, seed = architecture
    mlp = MLP(nin, nouts, activation, seed=seed)
    back = from_torch(to_torch(mlp))
    assert back.state_dict() == mlp.state_dict()
    assert (back.nin, back.nouts) == (mlp.nin, mlp.nouts)
    assert back.activation == (activation if len(nouts) > 1 else "relu")  # one layer: no hidden activation


@needs_torch
@settings(max_examples=25, deadline=None)
@given(architecture=architectures, dtype=st.sampled_from(["float32", "float64"]), data=st.data())
def test_from_torch_then_to_torch_gives_back_the_same_network(
    architecture: tuple[int, list[int], str, int], dtype: str, data: st.DataObject
) -> None:
    nin, nouts, activation, seed = architecture
    torch.manual_seed(seed)
    sizes = [nin, *nouts]
    modules: list[torch.nn.Module] = []
    for i in range(len(nouts)):
        modules.append(torch.nn.Linear(sizes[i], sizes[i + 1], dtype=getattr(torch, dtype)))
        if i < len(nouts) - 1 and activation != "linear":
            modules.append(getattr(torch.nn, TORCH_NAMES[activation])())
    sequential = torch.nn.Sequential(*modules)
    mlp = from_torch(sequential)
    again = to_torch(mlp)
    assert [type(m) for m in again] == [type(m) for m in sequential]
    for ours, theirs in zip(again.parameters(), sequential.parameters()):
        assert torch.equal(ours, theirs.double())
    x = data.draw(st.lists(st.floats(-3.0, 3.0), min_size=nin, max_size=nin))
    assert_close(outputs(mlp, x), torch_outputs(sequential.double(), x))
