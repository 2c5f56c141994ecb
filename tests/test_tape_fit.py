"""Training on a tape: fit(compile=True), compiled predictions, and the command line's default."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from microgrid import Value, data, value_sum
from microgrid.nn import MLP, Module
from microgrid.train import evaluate, fit, outputs, predict

MOONS = data.moons(n=60, noise=0.1, seed=0).split(0.25, seed=0)


def trained(loss: Any, compile_: bool, model: Module | None = None, **settings: Any) -> tuple[Module, Any]:
    train_set, test_set = MOONS
    net = model or MLP(2, [8, 8, 2 if loss == "cross_entropy" else 1], seed=0)
    settings = {"optimizer": "sgd", "lr": 0.1, "steps": 6, "batch_size": 15, "l2": 1e-3, **settings}
    history = fit(net, train_set, loss=loss, test=test_set, progress=False, compile=compile_, **settings)
    return net, history


@pytest.mark.parametrize("loss", ["hinge", "binary_cross_entropy", "cross_entropy", "mse"])
def test_a_compiled_fit_trains_as_graph_mode_does(loss: str) -> None:
    graph_model, graph = trained(loss, False)
    tape_model, tape = trained(loss, True)
    assert (graph.backend, tape.backend, tape.not_compiled) == ("graph", "numpy", "")
    assert tape.step_loss == pytest.approx(graph.step_loss, rel=1e-12)
    assert tape.test_loss == pytest.approx(graph.test_loss, rel=1e-12)
    assert tape.accuracy == graph.accuracy and tape.test_accuracy == graph.test_accuracy
    assert list(tape_model.state_dict().values()) == pytest.approx(
        list(graph_model.state_dict().values()), rel=1e-10, abs=1e-14
    )


def test_regression_with_several_targets_compiles_too() -> None:
    points = data.Dataset(
        [[x / 4, -x / 8] for x in range(-8, 9)], [[x / 4, x * x / 16] for x in range(-8, 9)]
    )
    histories = []
    for compile_ in (False, True):
        model = MLP(2, [6, 2], "tanh", seed=1)
        histories.append(fit(model, points, loss="mse", lr=0.05, steps=5, progress=False, compile=compile_))
    assert histories[1].backend != "graph"
    assert histories[1].step_loss == pytest.approx(histories[0].step_loss, rel=1e-12)


def test_a_loss_that_is_not_a_mean_over_examples_trains_in_graph_mode_and_says_why() -> None:
    def summed_hinge(scores: list[Value], labels: list[int]) -> Value:
        return value_sum((1.0 - (2 * y - 1) * s).relu() for s, y in zip(scores, labels))

    with pytest.warns(
        UserWarning, match="trains in graph mode: ValueError: the loss of a batch .* is not the mean"
    ):
        _, history = trained(summed_hinge, True)
    assert history.backend == "graph" and "not the mean" in history.not_compiled


class Baked(Module):
    """A model that reads a number out of a Value while it runs: the tape would freeze it."""

    def __init__(self) -> None:
        self.inner = MLP(2, [4, 1], seed=0)

    def forward(self, x: list[Value]) -> Value:
        return self.inner(x) * float(x[0])


def test_a_model_that_reads_data_is_caught_by_verify_and_trains_in_graph_mode() -> None:
    with pytest.warns(UserWarning, match="TapeMismatchError"):
        _, history = trained("hinge", True, Baked())
    assert history.backend == "graph"


class Branching(Module):
    """A model that branches on a Value: the tape keeps the branch as a guard."""

    def __init__(self) -> None:
        self.inner = MLP(2, [4, 1], seed=0)

    def forward(self, x: list[Value]) -> Value:
        score = self.inner(x)
        return score * 2.0 if x[0] > 0.5 else score


def test_a_branch_that_flips_during_training_hands_the_rest_to_graph_mode() -> None:
    _, graph = trained("hinge", False, Branching())
    with pytest.warns(UserWarning, match="a branch of the model flipped"):
        _, tape = trained("hinge", True, Branching())
    assert tape.backend == "graph"
    assert tape.step_loss == pytest.approx(graph.step_loss, rel=1e-12)


def test_compiled_predictions_are_graph_modes() -> None:
    model, _ = trained("cross_entropy", True)
    _, test_set = MOONS
    compiled, graph = outputs(model, test_set.X, compile=True), outputs(model, test_set.X)
    assert sum(compiled, []) == pytest.approx(sum(graph, []), rel=1e-12)
    assert predict(model, test_set.X, compile=True) == predict(model, test_set.X)
    assert evaluate(model, test_set, compile=True) == evaluate(model, test_set)


def test_microgrid_train_compiles_by_default_and_says_so() -> None:
    command = [sys.executable, "-m", "microgrid", "train", "--steps", "5", "--samples", "30", "--no-progress"]
    compiled = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert "engine: a compiled tape, numpy backend" in compiled
    graph = subprocess.run([*command, "--no-compile"], capture_output=True, text=True, check=True).stdout
    assert "engine: graph mode (--no-compile)" in graph
    # the same accuracies either way (the time differs)
    summaries = [
        [ln.split(" (")[0] for ln in out.splitlines() if ln.startswith("train accuracy")]
        for out in (compiled, graph)
    ]
    assert summaries[0] == summaries[1] == ["train accuracy 80.0%, test accuracy 90.0%"]
