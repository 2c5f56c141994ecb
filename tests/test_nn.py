"""Specification of microgrid.nn: Module, Neuron, Layer, MLP, input_gradients."""

from __future__ import annotations

import json
import math
import random

import micrograd.engine
import micrograd.nn
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_oracle import needs_torch, torch

from microgrid.engine import Value
from microgrid.nn import MLP, Layer, Module, Neuron, input_gradients

inputs_in_range = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False)


def set_weights(neuron: Neuron, weights: list[float], bias: float) -> None:
    for w, x in zip(neuron.w, weights):
        w.data = x
    neuron.b.data = bias


# --- structure and parameters ---


def test_micrograd_demo_network_has_337_parameters() -> None:
    # (2*16 + 16) + (16*16 + 16) + (16*1 + 1)
    assert len(MLP(2, [16, 16, 1]).parameters()) == 337


def test_a_neuron_has_one_weight_per_input_and_a_bias_that_starts_at_zero() -> None:
    neuron = Neuron(3)
    assert len(neuron.w) == 3
    assert neuron.b.data == 0.0
    assert neuron.parameters() == [*neuron.w, neuron.b]


def test_parameters_have_stable_dotted_names_weights_before_bias() -> None:
    model = MLP(2, [3, 1], seed=0)
    names = [name for name, _ in model.named_parameters()]
    assert names[:4] == [
        "layers.0.neurons.0.w.0",
        "layers.0.neurons.0.w.1",
        "layers.0.neurons.0.b",
        "layers.0.neurons.1.w.0",
    ]
    assert names[-1] == "layers.1.neurons.0.b"
    assert len(names) == len(set(names)) == 13
    assert [p for _, p in model.named_parameters()] == model.parameters()
    assert model.named_parameters()[5][1] is model.layers[0].neurons[1].b


def test_named_modules_lists_the_root_first_then_each_submodule_like_torch() -> None:
    model = MLP(2, [2, 1])
    assert [name for name, _ in model.named_modules()] == [
        "",
        "layers.0",
        "layers.0.neurons.0",
        "layers.0.neurons.1",
        "layers.1",
        "layers.1.neurons.0",
    ]
    assert model.named_modules()[0][1] is model
    assert model.named_modules()[3][1] is model.layers[0].neurons[1]


def test_a_users_own_module_finds_its_parameters_and_submodules_by_attribute() -> None:
    class Affine(Module):
        def __init__(self) -> None:
            self.scale = Value(2.0)
            self.hidden = Layer(1, 2, seed=0)
            self.note = "numbers and strings are not parameters"
            self.step = 3

        def forward(self, x: float) -> Value:
            return self.scale * sum(self.hidden(x))

    model = Affine()
    assert [name for name, _ in model.named_parameters()] == [
        "scale",
        "hidden.neurons.0.w.0",
        "hidden.neurons.0.b",
        "hidden.neurons.1.w.0",
        "hidden.neurons.1.b",
    ]
    assert isinstance(model(1.5), Value)


def test_a_parameter_shared_by_two_modules_is_listed_once() -> None:
    first = Neuron(2, seed=0)
    second = Neuron(2, seed=1)
    second.b = first.b

    class Pair(Module):
        def __init__(self) -> None:
            self.parts = [first, second]

    assert len(Pair().parameters()) == 5


def test_a_module_without_forward_says_so_when_called() -> None:
    with pytest.raises(NotImplementedError, match="Module does not define forward"):
        Module()(1.0)


def test_zero_grad_sets_every_parameter_gradient_to_zero() -> None:
    model = MLP(2, [3, 1], seed=0)
    model([1.0, -2.0]).backward()
    assert any(p.grad != 0.0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


# --- forward ---


@pytest.mark.parametrize(
    ("activation", "expected"),
    [
        ("linear", -0.5),
        ("relu", 0.0),
        ("tanh", math.tanh(-0.5)),
        ("sigmoid", 1.0 / (1.0 + math.exp(0.5))),
        ("leaky_relu", -0.005),
    ],
)
def test_neuron_computes_activation_of_weighted_sum_plus_bias(activation: str, expected: float) -> None:
    neuron = Neuron(2, activation)
    set_weights(neuron, [0.5, -1.0], bias=0.5)
    # 0.5 * 1 + (-1) * 1.5 + 0.5 = -0.5
    assert neuron([1.0, 1.5]).data == pytest.approx(expected, abs=1e-15)


def test_nonlin_false_is_linear_and_nonlin_true_is_relu_like_micrograd() -> None:
    linear, relu = Neuron(1, nonlin=False), Neuron(1, nonlin=True)
    set_weights(linear, [1.0], bias=0.0)
    set_weights(relu, [1.0], bias=0.0)
    assert linear([-2.0]).data == -2.0
    assert relu([-2.0]).data == 0.0
    assert linear.activation == "linear" and relu.activation == "relu"


def test_giving_both_activation_and_nonlin_is_an_error() -> None:
    with pytest.raises(ValueError, match="not both"):
        Neuron(2, "tanh", nonlin=True)


def test_an_unknown_activation_is_named_along_with_the_choices() -> None:
    with pytest.raises(
        ValueError, match="unknown activation 'gelu'.*relu, tanh, sigmoid, leaky_relu, linear"
    ):
        Neuron(2, "gelu")


def test_inputs_may_be_values_and_gradients_flow_back_to_them() -> None:
    neuron = Neuron(2, "linear")
    set_weights(neuron, [3.0, -2.0], bias=1.0)
    x = [Value(1.0), Value(4.0)]
    neuron(x).backward()
    assert [xi.grad for xi in x] == [3.0, -2.0]


def test_a_wrong_number_of_inputs_is_an_error_naming_both_counts() -> None:
    with pytest.raises(ValueError, match=r"Neuron\(3, activation='relu'\) expects 3 inputs.*; got 2"):
        Neuron(3)([1.0, 2.0])


def test_a_one_input_neuron_takes_a_bare_number() -> None:
    neuron = Neuron(1, "linear")
    set_weights(neuron, [2.0], bias=1.0)
    assert neuron(3.0).data == 7.0


def test_neuron_sums_its_terms_in_one_node() -> None:
    out = Neuron(4, "linear")([1.0, 2.0, 3.0, 4.0])
    assert out.op == "weighted_sum" and len(out.children) == 9  # four weights, four inputs, the bias


def test_a_layer_returns_a_list_or_one_value_for_a_single_neuron() -> None:
    assert isinstance(Layer(2, 3)([1.0, 2.0]), list) and len(Layer(2, 3)([1.0, 2.0])) == 3
    assert isinstance(Layer(2, 1)([1.0, 2.0]), Value)


def test_mlp_hidden_layers_use_the_activation_and_the_last_layer_is_linear() -> None:
    model = MLP(3, [4, 4, 2], "tanh")
    assert [n.activation for layer in model.layers for n in layer.neurons] == ["tanh"] * 8 + ["linear"] * 2


def test_an_mlp_may_have_a_one_neuron_hidden_layer() -> None:
    assert len(MLP(2, [1, 3], seed=0)([1.0, 2.0])) == 3


def test_values_made_by_a_neuron_carry_the_neuron_as_their_scope() -> None:
    model = MLP(2, [2, 1], seed=0)
    out = model([1.0, 2.0])
    last_neuron = model.layers[1].neurons[0]
    assert out.scope is last_neuron
    hidden_outputs = out.children[2:4]  # weights, inputs, bias: the inputs are relu(...)
    assert [h.scope for h in hidden_outputs] == model.layers[0].neurons  # each made by its neuron
    assert model.parameters()[0].scope is None  # parameters are made outside any call


@needs_torch
@settings(max_examples=25, deadline=None)
@given(st.lists(inputs_in_range, min_size=3, max_size=3), st.integers(0, 2**32 - 1))
def test_mlp_output_and_parameter_gradients_match_torch(x: list[float], seed: int) -> None:
    model = MLP(3, [4, 3, 2], seed=seed)
    outputs = model(x)
    (outputs[0] + outputs[1] * 2.0).backward()

    activation = torch.tensor(x, dtype=torch.float64)
    tensors = []
    for i, layer in enumerate(model.layers):
        weight = torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64)
        bias = torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64)
        weight.requires_grad_(True)
        bias.requires_grad_(True)
        tensors += [weight, bias]
        activation = weight @ activation + bias
        if i < len(model.layers) - 1:
            activation = torch.relu(activation)
    (activation[0] + activation[1] * 2.0).backward()

    assert [o.data for o in outputs] == pytest.approx(activation.tolist(), rel=1e-12, abs=1e-12)
    for layer, weight, bias in zip(model.layers, tensors[::2], tensors[1::2]):
        assert weight.grad is not None and bias.grad is not None
        for n, weight_grads, bias_grad in zip(layer.neurons, weight.grad.tolist(), bias.grad.tolist()):
            assert [w.grad for w in n.w] == pytest.approx(weight_grads, rel=1e-12, abs=1e-12)
            assert n.b.grad == pytest.approx(bias_grad, rel=1e-12, abs=1e-12)


# --- initialization ---


def test_the_same_seed_gives_the_same_weights_and_different_seeds_differ() -> None:
    def weights(model: MLP) -> list[float]:
        return [p.data for p in model.parameters()]

    assert weights(MLP(2, [4, 1], seed=7)) == weights(MLP(2, [4, 1], seed=7))
    assert weights(MLP(2, [4, 1], seed=7)) != weights(MLP(2, [4, 1], seed=8))
    assert weights(MLP(2, [4, 1], rng=random.Random(7))) == weights(MLP(2, [4, 1], seed=7))


def test_neurons_of_a_seeded_layer_get_different_weights() -> None:
    layer = Layer(3, 2, seed=0)
    assert [w.data for w in layer.neurons[0].w] != [w.data for w in layer.neurons[1].w]


def test_without_seed_or_rng_weights_come_from_the_random_module_exactly_like_micrograd() -> None:
    random.seed(1337)
    ours = MLP(2, [16, 16, 1])
    random.seed(1337)
    theirs = micrograd.nn.MLP(2, [16, 16, 1])
    assert [p.data for p in ours.parameters()] == [p.data for p in theirs.parameters()]


def test_giving_both_seed_and_rng_is_an_error() -> None:
    with pytest.raises(ValueError, match="seed or rng, not both"):
        MLP(2, [1], seed=1, rng=random.Random(1))


@pytest.mark.parametrize(
    ("init", "bound"),
    [("uniform", 1.0), ("xavier", math.sqrt(6.0 / (50 + 40))), ("he", math.sqrt(6.0 / 50))],
)
def test_initial_weights_are_uniform_within_the_bound_of_the_init_scheme(init: str, bound: float) -> None:
    weights = [w.data for n in Layer(50, 40, init=init, seed=0).neurons for w in n.w]
    assert max(abs(w) for w in weights) <= bound
    assert max(weights) > 0.99 * bound and min(weights) < -0.99 * bound  # the whole range is used
    # the variance of U(-a, a) is a^2 / 3
    variance = sum(w * w for w in weights) / len(weights)
    assert variance == pytest.approx(bound**2 / 3.0, rel=0.05)


def test_an_unknown_init_is_named_along_with_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown init 'normal'; choose one of uniform, xavier, he"):
        MLP(2, [1], init="normal")


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: Neuron(0), ValueError, "nin must be positive, got 0"),
        (lambda: Layer(2, -1), ValueError, "nout must be positive, got -1"),
        (lambda: MLP(2, [16, -3, 1]), ValueError, "layer sizes must be positive, got -3"),
        (lambda: MLP(2, []), ValueError, r"nouts must be a non-empty list of layer sizes, got \[\]"),
        (lambda: MLP(2, [2.5]), TypeError, "layer sizes must be an int, got float: 2.5"),
        (lambda: Neuron(True), TypeError, "nin must be an int, got bool"),
        (lambda: Neuron(2, seed=1.5), TypeError, "seed must be an int, got float"),
    ],
)
def test_bad_sizes_are_errors_that_name_the_value(build: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        build()  # type: ignore[operator]


# --- micrograd compatibility ---


def micrograd_demo_losses(value_class: type, mlp_class: type, steps: int = 4) -> list[float]:
    """micrograd's demo training loop, written against micrograd's API only."""
    rng = random.Random(0)
    xs = [[rng.uniform(-2, 2), rng.uniform(-2, 2)] for _ in range(20)]
    ys = [1 if x[0] * x[1] > 0 else -1 for x in xs]
    random.seed(1337)
    model = mlp_class(2, [16, 16, 1])
    losses = []
    for k in range(steps):
        inputs = [list(map(value_class, x)) for x in xs]
        scores = list(map(model, inputs))
        data_loss = sum((1 + -yi * si).relu() for yi, si in zip(ys, scores)) * (1.0 / len(ys))
        reg_loss = 1e-4 * sum(p * p for p in model.parameters())
        total = data_loss + reg_loss
        model.zero_grad()
        total.backward()
        learning_rate = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        losses.append(total.data)
    return losses


def test_micrograd_demo_loop_runs_unchanged_and_trains_identically() -> None:
    theirs = micrograd_demo_losses(micrograd.engine.Value, micrograd.nn.MLP)
    ours = micrograd_demo_losses(Value, MLP)
    # sums are rounded differently (one exact n-ary sum against a chain of +)
    assert ours == pytest.approx(theirs, rel=1e-9)
    assert ours[-1] < ours[0]


# --- state and config ---


def test_state_dict_round_trips_parameter_values() -> None:
    source, target = MLP(2, [3, 1], seed=1), MLP(2, [3, 1], seed=2)
    state = source.state_dict()
    assert state["layers.0.neurons.2.w.1"] == source.layers[0].neurons[2].w[1].data
    target.load_state_dict(state)
    assert target.state_dict() == state
    assert target([0.3, -0.7]).data == source([0.3, -0.7]).data


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda s: s.pop("layers.1.neurons.0.b"), ValueError, r"missing \['layers.1.neurons.0.b'\]"),
        (lambda s: s.update(extra=1.0), ValueError, r"unexpected \['extra'\]"),
        (lambda s: s.update({"layers.0.neurons.0.b": "0.5"}), TypeError, "must be a real number, got str"),
        (lambda s: s.update({"layers.1.neurons.0.b": math.nan}), ValueError, "must be finite, got nan"),
        (lambda s: s.update({"layers.1.neurons.0.b": -(10**400)}), ValueError, "must be finite, got -inf"),
    ],
)
def test_a_bad_state_is_rejected_before_any_parameter_changes(
    change: object, error: type, message: str
) -> None:
    model = MLP(2, [3, 1], seed=1)
    before = model.state_dict()
    state = {name: value + 1.0 for name, value in before.items()}
    change(state)  # type: ignore[operator]
    with pytest.raises(error, match=message):
        model.load_state_dict(state)
    assert model.state_dict() == before


def test_config_is_json_and_rebuilds_the_same_architecture() -> None:
    model = MLP(3, [5, 2], "tanh", init="xavier", seed=4)
    config = json.loads(json.dumps(model.config()))
    assert config == {"nin": 3, "nouts": [5, 2], "activation": "tanh", "init": "xavier", "seed": 4}
    rebuilt = MLP(**config)
    assert repr(rebuilt) == repr(model)
    assert rebuilt.state_dict() == model.state_dict()  # same seed, same weights
    assert Neuron(**Neuron(2, nonlin=False).config()).activation == "linear"
    assert repr(Layer(**Layer(2, 3, "sigmoid").config())) == repr(Layer(2, 3, "sigmoid"))


# --- input gradients ---


def test_input_gradients_of_a_linear_neuron_are_its_weights() -> None:
    neuron = Neuron(3, nonlin=False)
    set_weights(neuron, [0.5, -2.0, 4.0], bias=3.0)
    assert input_gradients(neuron, [10.0, 20.0, 30.0]) == [0.5, -2.0, 4.0]


def test_input_gradients_pick_the_target_output_of_a_multi_output_model() -> None:
    layer = Layer(2, 2, "linear")
    set_weights(layer.neurons[0], [1.0, 2.0], bias=0.0)
    set_weights(layer.neurons[1], [3.0, 4.0], bias=0.0)
    assert input_gradients(layer, [1.0, 1.0], target=1) == [3.0, 4.0]


def test_input_gradients_leave_parameter_gradients_alone() -> None:
    model = MLP(2, [4, 1], seed=0)
    input_gradients(model, [0.5, -1.0])
    assert all(p.grad == 0.0 for p in model.parameters())


@settings(max_examples=30, deadline=None)
@given(st.lists(inputs_in_range, min_size=2, max_size=2), st.integers(0, 2**32 - 1), st.integers(0, 2))
def test_input_gradients_match_central_finite_differences(x: list[float], seed: int, target: int) -> None:
    model = MLP(2, [5, 3], "tanh", seed=seed)  # smooth, so differences converge
    h = 1e-6

    def output(point: list[float]) -> float:
        return float(model(point)[target].data)

    numeric = [
        (output([*x[:i], x[i] + h, *x[i + 1 :]]) - output([*x[:i], x[i] - h, *x[i + 1 :]])) / (2 * h)
        for i in range(2)
    ]
    assert input_gradients(model, x, target) == pytest.approx(numeric, rel=1e-5, abs=1e-7)


@pytest.mark.parametrize(
    ("model", "target", "error", "message"),
    [
        (Layer(2, 3), None, ValueError, "the model has 3 outputs; give target"),
        (Layer(2, 3), 3, ValueError, r"target must be in \[0, 3\), got 3"),
        (Layer(2, 3), 1.0, TypeError, "target must be an int, got float"),
        (Neuron(2), 1, ValueError, "single output; target must be None or 0, got 1"),
    ],
)
def test_input_gradients_need_a_valid_target(
    model: Module, target: object, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        input_gradients(model, [1.0, 2.0], target)  # type: ignore[arg-type]


def test_a_layers_neurons_share_one_leaf_per_plain_number_input() -> None:
    layer = Layer(2, 3, seed=0)
    outputs = layer([1.0, -2.0])
    inputs_seen = {id(x) for out in outputs for x in out.children[0].children[2:4]}  # relu(weighted_sum)
    assert len(inputs_seen) == 2


def test_numpy_scalars_are_inputs_like_numbers() -> None:
    import numpy as np

    neuron = Neuron(1, "linear", seed=0)
    assert neuron(np.float32(2.0)).data == neuron(2.0).data
    model = MLP(1, [2, 1], seed=0)
    assert model(np.int64(3)).data == model(3).data
