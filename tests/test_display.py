"""What a person sees when they look at an object: short reprs, HTML tables, the progress bar.

In Jupyter the last expression of a cell is shown by its ``_repr_html_`` (a
table) or its repr; both stay a few lines however big the object. The
progress bar shows the step just taken, and in a kernel it is quiet about
ipywidgets when they are missing.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_notebooks import run_cells
from tqdm.std import tqdm

from microgrid import data, fit
from microgrid.data import Dataset
from microgrid.display import ELLIPSIS, elided, short_list
from microgrid.nn import MLP, Layer, Module, Neuron
from microgrid.train import History

# --- models: like torch, the structure and the parameter counts, never a weight ---


def test_an_mlp_shows_its_layers_one_line_each_with_parameter_counts() -> None:
    assert repr(MLP(2, [16, 16, 1])) == "\n".join(
        [
            "MLP(2, [16, 16, 1], activation='relu')  # 337 parameters",
            "  (layers.0): Layer(2, 16, activation='relu')  # 48 parameters",
            "  (layers.1): Layer(16, 16, activation='relu')  # 272 parameters",
            "  (layers.2): Layer(16, 1, activation='linear')  # 17 parameters",
        ]
    )


def test_neurons_and_layers_are_one_line_with_their_arguments() -> None:
    assert repr(Neuron(3)) == "Neuron(3, activation='relu')"
    assert repr(Neuron(3, nonlin=False)) == "Neuron(3, activation='linear')"
    assert repr(Layer(2, 3, "tanh", init="xavier")) == "Layer(2, 3, activation='tanh', init='xavier')"


class Net(Module):
    """A user's own module: submodules found by attribute, identical ones in a list folded."""

    def __init__(self) -> None:
        self.body = MLP(2, [4, 4], "tanh", seed=0)
        self.heads = [Neuron(4, "linear", seed=k) for k in range(3)]
        self.scale = 2.0

    def forward(self, x: list[float]) -> list[object]:
        features = self.body(x)
        return [head(features) for head in self.heads]


def test_a_users_module_lists_its_submodules_nested_and_folds_identical_ones() -> None:
    assert repr(Net()) == "\n".join(
        [
            "Net()  # 47 parameters",
            "  (body): MLP(2, [4, 4], activation='tanh')  # 32 parameters",
            "    (layers.0): Layer(2, 4, activation='tanh')  # 12 parameters",
            "    (layers.1): Layer(4, 4, activation='linear')  # 20 parameters",
            "  (heads.0-2): 3 x Neuron(4, activation='linear')  # 5 parameters each",
        ]
    )


def test_a_module_shows_as_an_html_table_of_its_submodules_in_jupyter() -> None:
    table = MLP(2, [16, 16, 1])._repr_html_()
    assert table is not None
    assert "MLP(2, [16, 16, 1], activation=&#x27;relu&#x27;): 337 parameters" in table
    assert re.findall(r"<tr><td>(layers\.\d)</td>", table) == ["layers.0", "layers.1", "layers.2"]
    assert "<td>272 parameters</td>" in table
    assert Neuron(2)._repr_html_() is None and Layer(2, 3)._repr_html_() is None  # their one line says it all


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 64), st.lists(st.integers(1, 64), min_size=1, max_size=8))
def test_a_models_repr_covers_every_layer_in_order_and_counts_every_parameter(
    nin: int, nouts: list[int]
) -> None:
    model = MLP(nin, nouts, seed=0)
    header, *lines = repr(model).splitlines()
    assert header.endswith(f"# {len(model.parameters()):,} parameters")
    covered = []  # "(layers.1-3): 3 x Layer(...)" covers layers 1, 2 and 3
    for line in lines:
        first, last = re.fullmatch(r"  \(layers\.(\d+)(?:-(\d+))?\): .*", line).groups()  # type: ignore[union-attr]
        covered += range(int(first), int(last or first) + 1)
    assert covered == list(range(len(nouts)))
    assert "Value(" not in repr(model)


# --- datasets and histories: the sizes and a few numbers ---


def test_a_dataset_shows_its_sizes_not_its_examples() -> None:
    digits = data.digits()
    assert repr(digits) == "Dataset(name='digits', examples=1797, features=64, classes=10)"
    assert repr(Dataset([[1.0, 2.0]], [0], 1)) == "Dataset(examples=1, features=2, classes=1)"


def test_a_dataset_shows_as_a_small_table_of_its_first_and_last_examples() -> None:
    digits = data.digits()
    table = digits._repr_html_()
    assert len(table) < 2_000  # the text repr of X alone is 692 KB
    assert "examples per class: 0: 178, 1: 182" in table
    header = re.findall(r"<th>(.*?)</th>", table)
    assert header == ["", "x[0]", "x[1]", "x[2]", ELLIPSIS, "x[61]", "x[62]", "x[63]", "y"]
    first_cells = re.findall(r"<tr><td>(.*?)</td>", table)
    assert first_cells == ["0", "1", "2", ELLIPSIS, "1794", "1795", "1796"]
    assert f"<td>{digits.X[0][2]:.4g}</td>" in table


def test_a_history_shows_counts_and_the_first_and_last_epochs() -> None:
    history = History(
        loss=[0.9, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125],
        accuracy=[0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        step_loss=[0.5] * 80,
    )
    assert repr(history) == (
        "History(epochs=8, steps=80, loss=[0.9, 0.5, 0.25, …, 0.03125, 0.01562, 0.007812],"
        " accuracy=[0.5, 0.75, 1, …, 1, 1, 1])"
    )
    table = history._repr_html_()
    assert re.findall(r"<th>(.*?)</th>", table) == ["epoch", "loss", "accuracy"]  # no test set, no column
    assert re.findall(r"<tr><td>(.*?)</td>", table) == ["1", "2", "3", ELLIPSIS, "6", "7", "8"]


def test_an_empty_history_still_shows() -> None:
    assert repr(History()) == "History(epochs=0, steps=0)"
    assert "0 epochs, 0 steps" in History()._repr_html_()


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=200))
def test_a_long_list_is_cut_to_its_first_and_last_three(values: list[float]) -> None:
    shown = elided(values)
    if len(values) <= 7:
        assert shown == values
    else:
        assert shown == [*values[:3], ELLIPSIS, *values[-3:]]
    assert short_list(values).count(",") <= 6


# --- the progress bar ---


def test_the_progress_bar_shows_the_loss_of_the_step_it_counts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # what the bar holds each time it counts a step (and redraws, when it is time to)
    counted: list[tuple[int, str]] = []
    update = tqdm.update

    def counting_update(bar: Any, n: float = 1) -> Any:
        drawn = update(bar, n)
        counted.append((bar.n, bar.postfix))
        return drawn

    monkeypatch.setattr(tqdm, "update", counting_update)
    history = fit(MLP(2, [4, 1], seed=0), data.moons(20), loss="hinge", steps=4, batch_size=10)
    assert [step for step, _ in counted] == [1, 2, 3, 4]
    assert [re.search(r"loss=([0-9.]+)", postfix)[1] for _, postfix in counted] == [  # type: ignore[index]
        f"{loss:.4f}" for loss in history.step_loss
    ]
    last_drawing = capsys.readouterr().err.rstrip("\n").split("\r")[-1]
    assert "4/4 " in last_drawing and f"loss={history.step_loss[-1]:.4f}" in last_drawing


FIT = (
    "from microgrid import data, fit\nfrom microgrid.nn import MLP\n"
    "history = fit(MLP(2, [4, 1], seed=0), data.moons(20), loss='hinge', steps=3)\n"
    "print('printed after fit')"
)


def test_in_jupyter_the_bar_is_a_widget() -> None:
    (outputs,) = [cell.outputs for cell in run_cells([FIT], widgets=True).cells]
    assert [out.output_type for out in outputs] == ["display_data", "stream"]
    assert "application/vnd.jupyter.widget-view+json" in outputs[0].data


def test_in_jupyter_without_ipywidgets_the_bar_is_text_without_a_warning() -> None:
    (outputs,) = [cell.outputs for cell in run_cells([FIT], widgets=False).cells]
    # the whole bar first, then what was printed after fit: as it happened
    assert [(out.output_type, out.name) for out in outputs] == [("stream", "stderr"), ("stream", "stdout")]
    assert re.fullmatch(r"training: 100%\|█+\| 3/3 \[.*acc=0\.750, loss=0\.9332\]\n", outputs[0].text)
