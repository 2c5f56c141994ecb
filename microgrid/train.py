"""A fit loop, like Keras's ``fit`` but small enough to read in one sitting.

``fit`` runs the classic loop on a ``Dataset``: shuffle, cut into batches, and
for each batch run the model, compute the loss, ``backward``, let the
optimizer step. It shows a progress bar (with tqdm, if installed) and returns
a ``History`` of loss and accuracy per epoch. ``predict``, ``outputs`` and
``evaluate`` run a trained model without recording any graph.

The dataset says what is learned: class labels (classification) or
real-valued targets (regression, with ``mse``). ``LOSSES`` names the losses
``fit`` and the command line know.

With ``compile=True`` the same loop runs on a ``microgrid.Tape``: one
example's loss is traced once, with the example's numbers and its label as
the tape's inputs, and each batch is replayed through it (numpy batches for a
network); the numbers are graph mode's, to rounding.
"""

from __future__ import annotations

import math
import numbers
import random
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from microgrid import checks, losses, optim
from microgrid.data import Dataset
from microgrid.display import ELLIPSIS, elided, html_table, short_list
from microgrid.engine import Value, no_grad, set_grad_enabled
from microgrid.nn import Module
from microgrid.tape import GuardError, Tape

# a loss the user writes: (the model's outputs for a batch, their targets) -> one Value;
# the targets are class labels, or for regression real numbers (or lists of them)
LossFunction = Callable[[list[Any], list[Any]], Value]
Schedule = Callable[[int], float]


@dataclass
class History:
    """What happened in ``fit``, per epoch (the lists ``loss``, ``accuracy``, ...) and per step.

    ``loss``: the mean training loss of each epoch (with the L2 penalty, if
    any: the number the optimizer minimizes). ``accuracy``: the fraction of
    training examples classified right in each epoch, as seen during the epoch
    (each batch before its step, like Keras). ``test_accuracy`` and
    ``test_loss``: accuracy and loss (with the penalty, like Keras's
    ``val_loss``) on the test set after each epoch (empty without one).
    ``step_loss``: the loss of every step. With ``steps``, the last epoch may
    be partial. For regression (real-valued targets) there is no accuracy:
    ``accuracy`` and ``test_accuracy`` stay empty, and the losses tell.
    ``backend``: what ran the steps: "graph" (graph mode), or a tape's
    backend ("numpy", "python"); ``not_compiled`` says why a run asked to
    compile trained in graph mode ("" otherwise).
    """

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    backend: str = "graph"
    not_compiled: str = ""

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
    _check_outputs("per class", len(_row(outputs[0])), "cross_entropy")
    return losses.cross_entropy(outputs, labels)


def mse(outputs: list[Any], labels: list[int]) -> Value:
    """Mean squared error to +1/-1 for one score per example, or to one-hot vectors for several."""
    if not isinstance(outputs[0], list):
        return losses.mse(outputs, [2.0 * y - 1.0 for y in _binary(labels, "mse")])
    predictions = [z for row in outputs for z in row]
    targets = [t for y, row in zip(labels, outputs) for t in losses.one_hot(y, len(row))]
    return losses.mse(predictions, targets)


def mse_to_targets(outputs: list[Any], targets: list[Any]) -> Value:
    """Mean squared error to real-valued targets (regression), over every output of every example.

    Each example's output is one Value with a number as its target, or a list
    of k Values with a list of k numbers: the mean is over all of them, as
    ``torch.nn.MSELoss()`` takes it.
    """
    return losses.mse([z for row in outputs for z in _row(row)], [t for row in targets for t in _row(row)])


@dataclass(frozen=True)
class NamedLoss:
    """A loss ``fit`` and the command line know by name: its function for each kind of target."""

    summary: str  # what it is, in a few words, for --help
    for_labels: LossFunction | None  # with class labels; None if it cannot learn classes
    for_targets: LossFunction | None = None  # with real-valued targets (regression)
    # the outputs it needs for classes: "one" score per example, one "per class", or "either"
    outputs: Literal["one", "per class", "either"] = "either"


# The losses by name: the one list fit and the command line read (the functions are in microgrid.losses)
LOSSES: dict[str, NamedLoss] = {
    "hinge": NamedLoss("micrograd's max-margin loss; one score, two classes", hinge, outputs="one"),
    "binary_cross_entropy": NamedLoss(
        "the log loss of sigmoid(score); one score, two classes", binary_cross_entropy, outputs="one"
    ),
    "cross_entropy": NamedLoss(
        "softmax cross-entropy; one output per class", cross_entropy, outputs="per class"
    ),
    "mse": NamedLoss(
        "squared error: to +-1 or one-hot for classes, to the targets for regression", mse, mse_to_targets
    ),
}


def output_count(loss: str, n_classes: int) -> int:
    """How many outputs a model needs to learn ``n_classes`` classes with the named ``loss``.

    One score for the two-class losses (hinge, binary_cross_entropy), one per
    class for cross_entropy, and for mse one score for two classes, else one
    per class. Raises ``ValueError`` for a loss that cannot learn that many.
    """
    named = LOSSES[checks.one_of(loss, LOSSES, "loss")]
    if named.outputs == "per class" or (named.outputs == "either" and n_classes != 2):
        return n_classes
    if n_classes != 2:
        raise ValueError(f"{loss} is for two classes, got {n_classes}: use cross_entropy or mse")
    return 1


def linear_schedule(start: float, end: float, steps: int) -> Schedule:
    """A learning rate going linearly from ``start`` (step 0) towards ``end`` (step ``steps``).

    micrograd's demo uses ``linear_schedule(1.0, 0.1, 100)``: ``1.0 - 0.9 * k / 100``.
    After ``steps`` it stays at ``end``. Raises ValueError unless ``steps`` > 0
    and both rates are non-negative and finite.
    """
    start, end = checks.non_negative(start, "start"), checks.non_negative(end, "end")
    steps = checks.positive_int(steps, "steps")
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
    compile: bool = False,
) -> History:
    """Train ``model`` on ``data``; returns the ``History``.

    Everything is checked before the first step, so a bad setting or a bad
    example anywhere in the data raises (``ValueError``, ``TypeError``) with
    the model unchanged: the settings, every example and target (a label the
    loss cannot take, a nan feature), and the model's outputs against the
    targets (one forward pass, recording nothing). Raises ``OverflowError``
    when training diverges (an update would overflow a parameter to inf); the
    model keeps the parameters of the last good step.

    Args:
        model: the network (an ``nn.Module``); its parameters are updated in place.
        data: the training ``Dataset``: class labels, or real-valued targets
            for regression (then only ``mse`` or your own loss).
        loss: a name in ``LOSSES`` (hinge, binary_cross_entropy, cross_entropy,
            mse), or a function ``(outputs, targets) -> Value`` of a batch: the
            model's outputs (a Value, or a list of Values, per example) and the
            targets (class labels, or real numbers). With ``test`` it is also
            called once per epoch on the whole test set.
        optimizer: a name in ``optim.OPTIMIZERS`` ("sgd", "adam"), built on
            ``model.parameters()`` with ``lr``, or an optimizer you built (then
            leave ``lr`` out).
        lr: a number or a function of the 0-based step (see
            ``linear_schedule``); default: the optimizer's ``default_lr``
            (0.1 for sgd, 0.001 for adam).
        epochs: how many passes over the data (give this or ``steps``).
        steps: how many updates, one batch each (give this or ``epochs``).
        batch_size: examples per step; None means all of them (full batch).
        l2: adds ``l2 * sum(p * p)`` over the parameters to the loss.
        test: a dataset of the same kind to measure loss and accuracy on after each epoch.
        seed: seeds the shuffling, so a run can be repeated exactly.
        progress: show a progress bar with this step's loss and the epoch's accuracy so
            far (tqdm.auto: a widget in Jupyter with ipywidgets, else text on stderr;
            none if tqdm is not installed).
        compile: run the steps on a ``microgrid.Tape`` of one example's loss
            (the model, the loss and the L2 penalty traced once, at the first
            example, and checked against graph mode at a few others), which is
            many times faster; the numbers are graph mode's to rounding. When
            the model or loss does not trace (it branches on a Value, reads
            ``.data``, or its batch loss is not the mean of its examples'),
            training runs in graph mode and a warning says why
            (``History.not_compiled`` too).

    """
    _check_dataset(data, "data")
    if test is not None:
        _check_dataset(test, "test")
        _check_same_kind(data, test)
    loss_function = _loss_function(loss, data)
    step_optimizer = _optimizer(model, optimizer, lr)
    size = len(data) if batch_size is None else checks.positive_int(batch_size, "batch_size")
    size = min(size, len(data))
    batches_per_epoch = -(-len(data) // size)  # ceiling division: the last batch may be smaller
    total_steps = _total_steps(epochs, steps, batches_per_epoch)
    if l2:
        losses.l2(model.parameters(), l2)  # checks the weight before any step, as every step uses it
    seed = checks.integer(seed, "seed")
    width = _output_width(model, data)
    for dataset, what in ((data, "data"), (test, "test")):
        if dataset is not None:
            _check_targets(dataset, what, width, loss)

    classes = data.n_classes is not None  # else regression: no accuracy
    history = History()
    compiled = _compiled(model, data, test, loss_function, l2, history) if compile else None
    rng = random.Random(seed)
    bar = _progress_bar(total_steps, progress)
    try:
        step = 0
        while step < total_steps:
            order = list(range(len(data)))
            rng.shuffle(order)  # a new order every epoch
            batches = [order[start : start + size] for start in range(0, len(order), size)]
            epoch_loss, hits, seen = 0.0, 0.0, 0
            for batch in batches[: total_steps - step]:
                if compiled is not None:
                    try:
                        batch_loss, batch_accuracy = compiled.step(batch, step_optimizer)
                    except GuardError as error:  # raised before any change: this batch goes to graph mode
                        _uncompiled(history, f"a branch of the model flipped: {error}")
                        compiled = None
                if compiled is None:
                    batch_loss, batch_accuracy = _step(model, data, batch, loss_function, l2, step_optimizer)
                step += 1
                history.step_loss.append(batch_loss)
                epoch_loss += batch_loss * len(batch)
                hits += batch_accuracy * len(batch)
                seen += len(batch)
                if bar is not None:  # this step's numbers, then the count: the bar shows them together
                    accuracy = {"acc": f"{hits / seen:.3f}"} if classes else {}
                    bar.set_postfix(loss=f"{batch_loss:.4f}", **accuracy, refresh=False)
                    bar.update()
            history.loss.append(epoch_loss / seen)
            if classes:
                history.accuracy.append(hits / seen)
            if test is not None:
                measured = compiled.measure() if compiled is not None else None
                test_loss, test_accuracy = measured or _measure(model, test, loss_function, l2)
                history.test_loss.append(test_loss)
                if classes:
                    history.test_accuracy.append(test_accuracy)
    finally:  # also on Ctrl-C: a bar left open would push later bars down
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
    # one update from the examples in batch: (their loss, their accuracy before the update; 0 for regression)
    targets = [data.y[i] for i in batch]
    model_outputs = [model(data.X[i]) for i in batch]
    loss = loss_function(model_outputs, targets)
    if l2:
        loss = loss + losses.l2(model.parameters(), l2)
    accuracy = losses.accuracy(model_outputs, targets) if data.n_classes is not None else 0.0
    optimizer.zero_grad()  # like torch: gradients accumulate until zeroed
    loss.backward()
    optimizer.step()  # raises OverflowError, changing nothing, if an update overflows
    return loss.data, accuracy


class _CompiledSteps:
    """fit's steps replayed on a tape of one example's loss (with the model's outputs beside it)."""

    def __init__(self, tape: Tape, data: Dataset, test: Dataset | None) -> None:
        self.tape = tape
        self.data = data
        self.test = test
        self.rows = _as_rows(_example_rows(data), tape.backend)
        self.test_rows = _as_rows(_example_rows(test), tape.backend) if test is not None else None

    def step(self, batch: list[int], optimizer: optim.Optimizer) -> tuple[float, float]:
        """One update from the examples in batch: (their loss, their accuracy before the update)."""
        rows = self.rows[batch] if hasattr(self.rows, "shape") else [self.rows[i] for i in batch]
        row_losses, model_outputs = self.tape(rows)
        accuracy = (
            losses.accuracy(model_outputs, [self.data.y[i] for i in batch])
            if self.data.n_classes is not None
            else 0.0
        )
        optimizer.zero_grad()  # like torch: gradients accumulate until zeroed
        self.tape.backward(reduce="mean")
        optimizer.step()
        return math.fsum(row_losses) / len(row_losses), accuracy

    def measure(self) -> tuple[float, float] | None:
        """(the loss, the accuracy) on the test set, from one replay; None when a guard refuses it."""
        assert self.test is not None
        try:
            row_losses, model_outputs = self.tape(self.test_rows)
        except GuardError:
            return None
        classes = self.test.n_classes is not None
        accuracy = losses.accuracy(model_outputs, list(self.test.y)) if classes else 0.0
        return math.fsum(row_losses) / len(row_losses), accuracy


def _compiled(
    model: Module,
    data: Dataset,
    test: Dataset | None,
    loss_function: LossFunction,
    l2: float,
    history: History,
) -> _CompiledSteps | None:
    # a tape of one example's loss (and the model's outputs), traced at the first example and
    # verified against graph mode at others; None (graph mode, with a warning) when it does not trace
    n = data.n_features
    single_target = data.n_classes is not None or len(_row(data.y[0])) == 1

    def example(*numbers: Value) -> tuple[Value, Any]:
        target = numbers[n] if single_target else list(numbers[n:])
        output = model(list(numbers[:n]))
        loss = loss_function([output], [target])
        if l2:
            loss = loss + losses.l2(model.parameters(), l2)
        return loss, output

    rows = _example_rows(data)
    try:
        _check_batch_is_mean(model, data, loss_function)
        tape = Tape.trace(example, rows[0], has_aux=True)
        if not isinstance(tape(rows[0])[0], float):
            raise TypeError("the loss of one example is not one number")
        tape.verify(points=[rows[i] for i in _other_examples(data)])
    except Exception as error:  # any reason at all: graph mode, which always works, says why
        _uncompiled(history, f"{type(error).__name__}: {checks.shortened(str(error), 300)}")
        return None
    history.backend = tape.backend
    return _CompiledSteps(tape, data, test)


def _uncompiled(history: History, reason: str) -> None:
    history.backend, history.not_compiled = "graph", reason
    warnings.warn(f"fit(compile=True) trains in graph mode: {reason}", stacklevel=3)


def _check_batch_is_mean(model: Module, data: Dataset, loss_function: LossFunction) -> None:
    # a tape replays one example's loss and averages the rows: right only for a loss that
    # is the mean of its examples' losses (the named ones are; a sum is not)
    if len(data) < 2:
        return
    with no_grad():
        outputs_ = [model(data.X[0]), model(data.X[1])]
        both = loss_function(outputs_, [data.y[0], data.y[1]]).data
        each = [loss_function([o], [y]).data for o, y in zip(outputs_, data.y[:2])]
    if not math.isclose(both, (each[0] + each[1]) / 2, rel_tol=1e-9, abs_tol=1e-12):
        raise ValueError(
            f"the loss of a batch ({both!r} for the first two examples) is not the mean of its examples' "
            f"losses ({each[0]!r} and {each[1]!r}), so one example's loss cannot stand for it"
        )


def _other_examples(data: Dataset) -> list[int]:
    # up to three examples besides the first, with other labels where there are any
    if data.n_classes is None:
        return list(range(1, min(4, len(data))))
    seen, chosen = {data.y[0]}, []
    for i, label in enumerate(data.y):
        if label not in seen:
            seen.add(label)
            chosen.append(i)
            if len(chosen) == 3:
                break
    return chosen or list(range(1, min(3, len(data))))


def _example_rows(data: Dataset) -> list[list[float]]:
    # each example's numbers and then its target's, as one row (a tape's point)
    return [[*x, *map(float, _row(y))] for x, y in zip(data.X, data.y)]


def _as_rows(rows: list[list[float]], backend: str) -> Any:
    if backend == "numpy":
        import numpy

        return numpy.array(rows, dtype=float)
    return rows


@no_grad()
def _measure(model: Module, data: Dataset, loss_function: LossFunction, l2: float) -> tuple[float, float]:
    # (the loss, the accuracy) on a whole dataset, from one forward pass; accuracy 0 for regression
    model_outputs = [model(x) for x in data.X]
    loss = loss_function(model_outputs, list(data.y))
    if l2:
        loss = loss + losses.l2(model.parameters(), l2)
    accuracy = losses.accuracy(model_outputs, list(data.y)) if data.n_classes is not None else 0.0
    return loss.data, accuracy


@no_grad()
def outputs(model: Module, X: Sequence[Sequence[float]], *, compile: bool = False) -> list[Any]:
    """The model's output for each example as plain numbers, recording no graph.

    A float per example for a model with one output, a list of floats for
    several: a regression model's predictions (Keras's ``predict``). With
    ``compile``, the model is traced once into a ``microgrid.Tape`` and the
    examples replayed through it (checked against graph mode at a few of them
    first; graph mode when it does not trace).
    """
    if compile and len(X) > 1:
        found = _compiled_outputs(model, X)
        if found is not None:
            return found
    results: list[Any] = []
    for x in X:
        output = model(x)
        results.append([z.data for z in output] if isinstance(output, list) else output.data)
    return results


def _compiled_outputs(model: Module, X: Sequence[Sequence[float]]) -> list[Any] | None:
    # the model's outputs replayed through a tape; None when it does not trace
    rows = [list(map(float, x)) for x in X]
    try:
        with set_grad_enabled(True):  # a tape records (even when called under no_grad)
            tape = Tape.trace(lambda *x: model(list(x)), rows[0])
            tape.verify(points=rows[1:4])
            return list(tape(_as_rows(rows, tape.backend)))
    except Exception:  # graph mode, which always works
        return None


def predict(model: Module, X: Sequence[Sequence[float]], *, compile: bool = False) -> list[int]:
    """The class the model picks for each example, recording no graph.

    One output: class 1 when the score is above 0, else 0 (micrograd's rule).
    Several outputs: the index of the largest (the first on a tie, like argmax).
    For a regression model's real-valued predictions, use ``outputs``.
    ``compile``: as for ``outputs``.
    """
    return [_class_of(output) for output in outputs(model, X, compile=compile)]


def _class_of(output: float | list[float]) -> int:
    if isinstance(output, list):
        return output.index(max(output))
    return int(output > 0.0)


def evaluate(model: Module, data: Dataset, *, compile: bool = False) -> float:
    """How well the model does on ``data``, recording no graph.

    For class labels, the accuracy: the fraction of examples ``predict`` gets
    right. For real-valued targets (regression), the mean squared error, as
    ``mse_to_targets`` computes it (like Keras's ``evaluate``, the loss).
    ``compile``: as for ``outputs``.
    """
    if len(data) == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    if data.n_classes is None:
        with no_grad():
            found = outputs(model, data.X, compile=compile)
            return float(mse_to_targets(found, list(data.y)).data)
    predicted = predict(model, data.X, compile=compile)
    return sum(bool(p == y) for p, y in zip(predicted, data.y)) / len(data)


def _check_dataset(dataset: object, what: str) -> None:
    if not isinstance(dataset, Dataset):
        raise TypeError(
            f"{what} must be a microgrid.data.Dataset (Dataset(X, y, n_classes)), got {type(dataset).__name__}"
        )
    if len(dataset) == 0:
        raise ValueError("cannot fit on an empty dataset" if what == "data" else f"the {what} set is empty")
    dataset.check()  # again: its lists may have changed since it was made


def _check_same_kind(data: Dataset, test: Dataset) -> None:
    if (data.n_classes is None) != (test.n_classes is None):
        kinds = {True: "real-valued targets", False: "class labels"}
        raise ValueError(
            f"data has {kinds[data.n_classes is None]} but test has {kinds[test.n_classes is None]}"
        )
    if test.n_features != data.n_features:
        raise ValueError(f"test has {test.n_features} features per example, but data has {data.n_features}")


def _loss_function(loss: str | LossFunction, data: Dataset) -> LossFunction:
    if callable(loss):
        return loss
    named = LOSSES[checks.one_of(loss, LOSSES, "loss", hint=" or pass a function")]
    function = named.for_labels if data.n_classes is not None else named.for_targets
    if function is None:
        raise ValueError(
            f"{loss} is for class labels, but the data has real-valued targets (n_classes=None): "
            "use mse, or give the dataset n_classes"
        )
    return function


def _optimizer(
    model: Module, optimizer: str | optim.Optimizer, lr: float | Schedule | None
) -> optim.Optimizer:
    if not isinstance(optimizer, str):
        if not isinstance(optimizer, optim.Optimizer):
            raise TypeError(
                f"optimizer must be a name ({', '.join(optim.OPTIMIZERS)}) or an optimizer, "
                f"got {type(optimizer).__name__}: {checks.shown(optimizer)}"
            )
        if lr is not None:
            raise ValueError("lr is for a named optimizer; an optimizer you built has its own lr")
        return optimizer
    kind = optim.OPTIMIZERS[checks.one_of(optimizer, optim.OPTIMIZERS, "optimizer")]
    return kind(model.parameters(), lr=kind.default_lr if lr is None else lr)  # lr is checked there


def _total_steps(epochs: int | None, steps: int | None, batches_per_epoch: int) -> int:
    if (epochs is None) == (steps is None):
        raise ValueError(f"give exactly one of epochs and steps, got epochs={epochs}, steps={steps}")
    if epochs is not None:
        return checks.positive_int(epochs, "epochs") * batches_per_epoch
    return checks.positive_int(steps, "steps")


def _output_width(model: Module, data: Dataset) -> int:
    # how many outputs the model gives, from one forward pass that records nothing
    with no_grad():
        output = model(data.X[0])
    if isinstance(output, Value):
        return 1
    if isinstance(output, list) and output and all(isinstance(z, Value) for z in output):
        return len(output)
    raise TypeError(f"the model must return a Value or a list of Values, got {type(output).__name__}")


def _check_targets(dataset: Dataset, what: str, width: int, loss: str | LossFunction) -> None:
    # every target of the dataset against the model's outputs and the named loss, before any step
    named = LOSSES[loss] if isinstance(loss, str) else None
    if named is not None and isinstance(loss, str):
        _check_outputs(named.outputs, width, loss)
    if dataset.n_classes is None:
        target_width = len(_row(dataset.y[0]))
        if named is not None and target_width != width:
            raise ValueError(
                f"{what}'s targets have {target_width} number{'s' if target_width > 1 else ''} each, "
                f"but the model has {width} output{'s' if width > 1 else ''}"
            )
        return
    if width == 1 and isinstance(loss, str):
        _binary(dataset.y, f"{loss} (on {what})")  # in the loss's own words
    classes = 2 if width == 1 else width  # one score tells two classes apart (labels 0 and 1)
    bad = next((i for i, label in enumerate(dataset.y) if label >= classes), None)
    if bad is not None:
        raise ValueError(
            f"{what}.y[{bad}] is class {dataset.y[bad]!r}, but a model with {width} output"
            f"{'s' if width > 1 else ''} tells only classes 0..{classes - 1} apart: give it one output per class"
        )


def _row(item: Any) -> list[Any]:
    # an example's outputs or targets as a list: a lone Value or number is a list of one
    return [item] if isinstance(item, (Value, numbers.Real)) else list(item)


def _scores(outputs: list[Any], loss_name: str) -> list[Value]:
    _check_outputs("one", len(_row(outputs[0])), loss_name)
    return outputs


def _check_outputs(needed: Literal["one", "per class", "either"], width: int, loss_name: str) -> None:
    if needed == "one" and width != 1:
        raise ValueError(
            f"{loss_name} needs a model with one output (a score per example); "
            f"this one has {width}: use cross_entropy"
        )
    if needed == "per class" and width == 1:
        raise ValueError(f"{loss_name} needs one output per class; this model has a single output")


def _binary(labels: Sequence[Any], loss_name: str) -> list[int]:
    # a label that is a Value is a traced input (compile=True): fed from checked data
    bad = next((i for i, y in enumerate(labels) if not isinstance(y, Value) and y not in (0, 1)), None)
    if bad is not None:
        raise ValueError(
            f"{loss_name} is for two classes (labels 0 and 1), got label {labels[bad]!r} at y[{bad}]: "
            "use cross_entropy"
        )
    return list(labels)


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
