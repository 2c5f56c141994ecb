"""What a model takes: a list of numbers (or Values) of its input size, and a clear error for anything else.

``model(None)`` used to say "'NoneType' object is not iterable". Every
Neuron, Layer and MLP now refuses bad input where it enters, naming itself,
what it expects and what it got: TypeError for something that is not a list
of numbers, ValueError for a wrong length or a number a Value refuses.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from microgrid.engine import Value
from microgrid.nn import MLP, Layer, Module, Neuron

MODELS = [Neuron(2, seed=0), Layer(2, 3, seed=0), MLP(2, [4, 1], seed=0)]
IDS = ["Neuron", "Layer", "MLP"]
# how each names itself in an error: its repr's first line
TITLES = [
    "Neuron(2, activation='relu')",
    "Layer(2, 3, activation='relu')",
    "MLP(2, [4, 1], activation='relu')",
]


@pytest.mark.parametrize(("model", "title"), list(zip(MODELS, TITLES)), ids=IDS)
@pytest.mark.parametrize(
    ("given", "error", "says"),
    [
        (None, TypeError, "got NoneType: None"),
        ("ab", TypeError, "got str: 'ab'"),
        ({"x": 1.0, "y": 2.0}, TypeError, "got dict: {'x': 1.0, 'y': 2.0}"),
        ({1.0, 2.0}, TypeError, "got set"),
        ([[1.0, 2.0], [3.0, 4.0]], TypeError, "input 0 is list: [1.0, 2.0] (a batch? call the model on one"),
        ([1.0, "2"], TypeError, "input 1 is str: '2'"),
        ([1.0, None], TypeError, "input 1 is NoneType: None"),
        ([1.0, 2.0, 3.0], ValueError, "got 3: [1.0, 2.0, 3.0]"),
        ([], ValueError, "got 0: []"),
        (5.0, ValueError, "got 1: [5.0]"),
        ([1.0, math.nan], ValueError, "input 1: "),
        ([math.inf, 1.0], ValueError, "input 0: "),
    ],
)
def test_bad_input_names_the_model_what_it_expects_and_what_it_got(
    model: Module, title: str, given: object, error: type[Exception], says: str
) -> None:
    before = model.state_dict()
    with pytest.raises(error) as caught:
        model(given)
    message = str(caught.value)
    assert message.startswith(f"{title} expects 2 inputs, a list of numbers or Values; ")
    assert repr(model).startswith(title)
    assert says in message
    assert model.state_dict() == before


def test_a_one_input_model_says_input_not_inputs() -> None:
    with pytest.raises(TypeError, match=re.escape("MLP(1, [1], activation='relu') expects 1 input, a list")):
        MLP(1, [1])(None)


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_lists_tuples_arrays_generators_and_values_are_all_inputs(model: Module) -> None:
    def outputs(x: object) -> list[float]:
        out = model(x)
        return [v.data for v in out] if isinstance(out, list) else [out.data]

    expected = outputs([0.5, -1.5])
    assert outputs((0.5, -1.5)) == expected
    assert outputs(np.array([0.5, -1.5])) == expected
    assert outputs([np.float64(0.5), np.float64(-1.5)]) == expected
    assert outputs(x for x in [0.5, -1.5]) == expected
    assert outputs([Value(0.5), Value(-1.5)]) == expected


def test_a_one_input_model_takes_a_bare_number() -> None:
    model = MLP(1, [3, 1], seed=0)
    assert model(2.0).data == model([2.0]).data == model(Value(2.0)).data


@given(st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=6))
def test_a_list_of_the_wrong_length_is_refused_and_the_right_length_taken(x: list[float]) -> None:
    model = MLP(3, [2, 1], seed=0)
    if len(x) == 3:
        assert math.isfinite(model(x).data)
    else:
        with pytest.raises(ValueError, match=f"expects 3 inputs, .*; got {len(x)}"):
            model(x)


# --- micrograd's nonlin switch, on every module ---


def test_mlp_takes_micrograds_nonlin_switch_for_its_hidden_layers() -> None:
    linear = MLP(2, [3, 1], nonlin=False, seed=0)
    assert [layer.activation for layer in linear.layers] == ["linear", "linear"]
    relu = MLP(2, [3, 1], nonlin=True, seed=0)
    assert [layer.activation for layer in relu.layers] == ["relu", "linear"]
    assert relu.state_dict() == MLP(2, [3, 1], seed=0).state_dict()  # the same draws from the seed
    # a linear network is a linear map: f(2x) - f(0) = 2 (f(x) - f(0))
    f = [linear([t, -t]).data for t in (0.0, 1.0, 2.0)]
    assert f[2] - f[0] == pytest.approx(2 * (f[1] - f[0]), rel=1e-12)
    with pytest.raises(ValueError, match="not both"):
        MLP(2, [3, 1], "tanh", nonlin=True)
    assert MLP(**linear.config()).activation == "linear"  # saved and rebuilt as it was


def test_layer_takes_nonlin_too() -> None:
    assert Layer(2, 3, nonlin=False).activation == "linear"
    assert all(neuron.activation == "linear" for neuron in Layer(2, 3, nonlin=False).neurons)
