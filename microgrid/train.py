"""A fit loop, like Keras's ``fit`` but small enough to read in one sitting.

``fit`` runs the classic loop on a ``Dataset``: shuffle, cut into batches, and
for each batch run the model, compute the loss, ``backward``, let the
optimizer step. It shows a progress bar (with tqdm, if installed) and returns
a ``History`` of loss and accuracy per epoch. ``predict`` and ``evaluate`` run
a trained model without recording any graph.
"""

from __future__ import annotations

import random
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from microgrid import losses, optim
from microgrid.data import Dataset
from microgrid.display import ELLIPSIS, elided, html_table, short_list
from microgrid.engine import Value, no_grad
from microgrid.nn import Module

# a loss the user writes: (the model's outputs for a batch, their class labels) -> one Value
LossFunction = Callable[[list[Any], list[int]], Value]
Schedule = Callable[[int], float]


@dataclass
class History:
    """What happened in ``fit``, per epoch (the lists ``loss``, ``accuracy``, ...) and per step.

    ``loss``: the mean training loss of each epoch (with the L2 penalty, if
    any: the number the optimizer minimizes). ``accuracy``: the fraction of
    training examples classified right in each epoch, as seen during the epoch
    (each batch before its step, like Keras). ``test_accuracy``: accuracy on
    the test set after each epoch (empty without one). ``step_loss``: the
    loss of every step. With ``steps``, the last epoch may be partial.
    """

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)

    def __repr__(self) -> str:
        # the first and last epochs of each list, not every step
        lists = [("loss", self.loss), ("accuracy", self.accuracy), ("test_accuracy", self.test_accuracy)]
        shown = "".join(f", {name}={short_list(values)}" for name, values in lists if values)
        return f"History(epochs={len(self.loss)}, steps={len(self.step_loss)}{shown})"

    def _repr_html_(self) -> str:
        # Jupyter's view: a table of the first and last epochs
        lists = [("loss", self.loss), ("accuracy", self.accuracy), ("test accuracy", self.test_accuracy)]
        lists = [(name, values) for name, values in lists if values]
        rows = [
            [ELLIPSIS] * (1 + len(lists))
            if isinstance(epoch, str)
            else [epoch + 1, *(f"{values[epoch]:.4g}" if epoch < len(values) else "" for _, values in lists)]
            for epoch in elided(range(max((len(values) for _, values in lists), default=0)))
        ]
        caption = f"History: {len(self.loss)} epochs, {len(self.step_loss)} steps"
        return html_table(caption, ["epoch", *(name for name, _ in lists)], rows)


def hinge(outputs: list[Any], labels: list[int]) -> Value:
    """micrograd's max-margin loss for one score per example; class 1 is +1, class 0 is -1."""
    return losses.hinge(_scores(outputs, "hinge"), [2 * y - 1 for y in _binary(labels, "hinge")])


def binary_cross_entropy(outputs: list[Any], labels: list[int]) -> Value:
    """Cross-entropy of sigmoid(score) against classes 0/1, for one score per example."""
    loss_name = "binary_cross_entropy"
    return losses.binary_cross_entropy(_scores(outputs, loss_name), _binary(labels, loss_name))


def cross_entropy(outputs: list[Any], labels: list[int]) -> Value:
    """Softmax cross-entropy of class logits (one output per class) against class indices."""
    if not isinstance(outputs[0], list):
        raise ValueError("cross_entropy needs one output per class; this model has a single output")
    return losses.cross_entropy(outputs, labels)


def mse(outputs: list[Any], labels: list[int]) -> Value:
    """Mean squared error to +1/-1 for one score per example, or to one-hot vectors for several."""
    if not isinstance(outputs[0], list):
        return losses.mse(outputs, [2.0 * y - 1.0 for y in _binary(labels, "mse")])
    predictions = [z for row in outputs for z in row]
    targets = [float(k == y) for y, row in zip(labels, outputs) for k in range(len(row))]
    return losses.mse(predictions, targets)


LOSSES: dict[str, LossFunction] = {
    "hinge": hinge,
    "binary_cross_entropy": binary_cross_entropy,
    "cross_entropy": cross_entropy,
    "mse": mse,
}
OPTIMIZERS = ("sgd", "adam")
DEFAULT_LR = {"sgd": 0.1, "adam": 0.001}


def linear_schedule(start: float, end: float, steps: int) -> Schedule:
    """A learning rate going linearly from ``start`` (step 0) towards ``end`` (step ``steps``).

    micrograd's demo uses ``linear_schedule(1.0, 0.1, 100)``: ``1.0 - 0.9 * k / 100``.
    After ``steps`` it stays at ``end``. Raises ValueError unless ``steps`` > 0.
    """
    steps = _positive(steps, "steps")
    return lambda k: start + (end - start) * min(k, steps) / steps


def fit(
    model: Module,
    data: Dataset,
    *,
    loss: str | LossFunction,
    optimizer: str | optim.Optimizer = "sgd",
    lr: float | Schedule | None = None,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    l2: float = 0.0,
    test: Dataset | None = None,
    seed: int = 0,
    progress: bool = True,
) -> History:
    """Train ``model`` on ``data``; returns the ``History``.

    A bad setting raises ValueError before any parameter changes. Raises
    OverflowError when training diverges (an update would overflow a
    parameter to inf); the model keeps the parameters of the last good step.

    Args:
        model: the network (an ``nn.Module``); its parameters are updated in place.
        data: the training ``Dataset``.
        loss: a name in ``LOSSES`` (hinge, binary_cross_entropy, cross_entropy,
            mse), or a function ``(outputs, labels) -> Value`` of a batch: the
            model's outputs (a Value, or a list of Values, per example) and the
            class labels.
        optimizer: "sgd" or "adam" (built on ``model.parameters()`` with ``lr``),
            or an optimizer you built (then leave ``lr`` out).
        lr: a number or a function of the 0-based step (see
            ``linear_schedule``); default 0.1 for sgd, 0.001 for adam.
        epochs: how many passes over the data (give this or ``steps``).
        steps: how many updates, one batch each (give this or ``epochs``).
        batch_size: examples per step; None means all of them (full batch).
        l2: adds ``l2 * sum(p * p)`` over the parameters to the loss.
        test: a dataset to measure accuracy on after each epoch.
        seed: seeds the shuffling, so a run can be repeated exactly.
        progress: show a progress bar with this step's loss and the epoch's accuracy so
            far (tqdm.auto: a widget in Jupyter with ipywidgets, else text on stderr;
            none if tqdm is not installed).

    """
    loss_function = _loss_function(loss)
    step_optimizer = _optimizer(model, optimizer, lr)
    if len(data) == 0:
        raise ValueError("cannot fit on an empty dataset")
    size = len(data) if batch_size is None else _positive(batch_size, "batch_size")
    size = min(size, len(data))
    batches_per_epoch = -(-len(data) // size)  # ceiling division: the last batch may be smaller
    total_steps = _total_steps(epochs, steps, batches_per_epoch)
    if l2:
        losses.l2(model.parameters(), l2)  # checks the weight before any step, as every step uses it

    history = History()
    rng = random.Random(seed)
    bar = _progress_bar(total_steps, progress)
    step = 0
    while step < total_steps:
        order = list(range(len(data)))
        rng.shuffle(order)  # a new order every epoch
        batches = [order[start : start + size] for start in range(0, len(order), size)]
        epoch_loss, hits, seen = 0.0, 0.0, 0
        for batch in batches[: total_steps - step]:
            batch_loss, batch_accuracy = _step(model, data, batch, loss_function, l2, step_optimizer)
            step += 1
            history.step_loss.append(batch_loss)
            epoch_loss += batch_loss * len(batch)
            hits += batch_accuracy * len(batch)
            seen += len(batch)
            if bar is not None:  # this step's numbers, then the count: the bar shows them together
                bar.set_postfix(loss=f"{batch_loss:.4f}", acc=f"{hits / seen:.3f}", refresh=False)
                bar.update()
        history.loss.append(epoch_loss / seen)
        history.accuracy.append(hits / seen)
        if test is not None:
            history.test_accuracy.append(evaluate(model, test))
    if bar is not None:
        bar.close()
        sys.stderr.flush()  # tqdm's closing newline, before anything printed after fit (in Jupyter too)
    return history


def _step(
    model: Module,
    data: Dataset,
    batch: list[int],
    loss_function: LossFunction,
    l2: float,
    optimizer: optim.Optimizer,
) -> tuple[float, float]:
    # one update from the examples in batch: (their loss, their accuracy before the update)
    labels = [data.y[i] for i in batch]
    outputs = [model(data.X[i]) for i in batch]
    loss = loss_function(outputs, labels)
    if l2:
        loss = loss + losses.l2(model.parameters(), l2)
    accuracy = losses.accuracy(outputs, labels)  # before the step, so a bad label changes nothing
    optimizer.zero_grad()  # like torch: gradients accumulate until zeroed
    loss.backward()
    optimizer.step()  # raises OverflowError, changing nothing, if an update overflows
    return loss.data, accuracy


@no_grad()
def predict(model: Module, X: Sequence[Sequence[float]]) -> list[int]:
    """The class the model picks for each example, recording no graph.

    One output: class 1 when the score is above 0, else 0 (micrograd's rule).
    Several outputs: the index of the largest (the first on a tie, like argmax).
    """
    classes = []
    for x in X:
        output = model(x)
        if isinstance(output, list):
            scores = [z.data for z in output]
            classes.append(scores.index(max(scores)))
        else:
            classes.append(int(output.data > 0.0))
    return classes


def evaluate(model: Module, data: Dataset) -> float:
    """The model's accuracy on ``data``: the fraction of examples ``predict`` gets right."""
    if len(data) == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    predicted = predict(model, data.X)
    return float(sum(p == y for p, y in zip(predicted, data.y)) / len(data))


def _loss_function(loss: str | LossFunction) -> LossFunction:
    if callable(loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)} or pass a function")
    return LOSSES[loss]


def _optimizer(
    model: Module, optimizer: str | optim.Optimizer, lr: float | Schedule | None
) -> optim.Optimizer:
    if not isinstance(optimizer, str):
        if lr is not None:
            raise ValueError("lr is for a named optimizer; an optimizer you built has its own lr")
        return optimizer
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    rate = DEFAULT_LR[optimizer] if lr is None else lr  # checked by the optimizer
    if optimizer == "adam":
        return optim.Adam(model.parameters(), lr=rate)
    return optim.SGD(model.parameters(), lr=rate)


def _total_steps(epochs: int | None, steps: int | None, batches_per_epoch: int) -> int:
    if (epochs is None) == (steps is None):
        raise ValueError(f"give exactly one of epochs and steps, got epochs={epochs}, steps={steps}")
    if epochs is not None:
        return _positive(epochs, "epochs") * batches_per_epoch
    return _positive(steps, "steps")


def _positive(n: Any, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"{what} must be a positive integer, got {n!r}")
    return n


def _scores(outputs: list[Any], loss_name: str) -> list[Value]:
    if isinstance(outputs[0], list):
        raise ValueError(
            f"{loss_name} needs a model with one output (a score per example); "
            f"this one has {len(outputs[0])}: use cross_entropy"
        )
    return outputs


def _binary(labels: list[int], loss_name: str) -> list[int]:
    if any(y not in (0, 1) for y in labels):
        bad = next(y for y in labels if y not in (0, 1))
        raise ValueError(
            f"{loss_name} is for two classes (labels 0 and 1), got label {bad!r}: use cross_entropy"
        )
    return labels


def _progress_bar(total: int, progress: bool) -> Any:
    if not progress:
        return None
    try:
        with warnings.catch_warnings():
            # tqdm.auto: a widget in Jupyter, text elsewhere; without ipywidgets it warns once
            # and falls back to text, which is a fine bar too
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: no bar, same training
        return None
    return tqdm(total=total, unit="step", desc="training")
