"""Losses: one Value saying how wrong a model's outputs are, to call ``backward`` on.

Predictions may be Values or plain numbers; targets and labels are numbers,
or Values: the inputs of a traced computation (``microgrid.Tape.trace``). The
losses are traceable: they never branch on a label or read a number out of a
Value, so a label that is a Value is used through recorded operations (a
product with the label, a one-hot vector made from it) and a tape replays the
loss correctly for any label. Batch losses are means over the examples, like
PyTorch's default ``reduction="mean"``. Sums use ``value_sum``: one graph node
for many terms. Every loss checks its inputs where they enter and names the
bad value (a label that is a Value is an input of a trace, checked by whoever
feeds it). ``accuracy`` is a metric, not a loss: it returns a plain float.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

from microgrid import checks
from microgrid.engine import Value, value_sum, weighted_sum

Scalar = Value | float
Scalars = Iterable[Scalar] | Scalar


def mse(preds: Scalars, targets: Scalars) -> Value:
    """Mean squared error: mean of (pred - target) ** 2 over the examples.

    A lone number or Value counts as one example. Raises ``ValueError`` for
    empty inputs or different lengths, ``TypeError`` for a non-number.
    """
    diffs = _differences(preds, targets)
    return value_sum([d**2 for d in diffs]) / len(diffs)


def sum_squared_error(preds: Scalars, targets: Scalars) -> Value:
    """The cost of one example: the sum of (pred - target) ** 2 over its outputs.

    Raises ``ValueError`` for empty inputs or different lengths, ``TypeError``
    for a non-number.
    """
    return value_sum([d**2 for d in _differences(preds, targets)])


def hinge(scores: Scalars, labels: Iterable[float] | float) -> Value:
    """Max-margin loss for labels +1/-1: mean of relu(1 - label * score).

    Zero once every example is on its side with a margin of 1 (micrograd's
    demo loss). Raises ``ValueError`` for a label other than +1 or -1 and
    ``TypeError`` for one that is not a number (True and False included).
    """
    score_list, label_list = _paired(scores, labels)
    _check_labels(label_list, (1, -1), "hinge labels must be +1 or -1")
    margins = [_margin(s, y) for s, y in zip(_values(score_list, "scores"), label_list)]
    return value_sum(margins) / len(margins)


def _margin(score: Value, label: Any) -> Value:
    if isinstance(label, Value):  # an input of a trace: recorded, 1 - y*s
        return (1.0 - label * score).relu()
    # a number: 1 - y*s written as 1 - s or s + 1 (the same floats, fewer nodes)
    return (1.0 - score if label == 1 else score + 1.0).relu()


def binary_cross_entropy(logits: Scalars, labels: Iterable[float] | float) -> Value:
    """Cross-entropy of labels 0/1 against sigmoid(logit), from the logits; mean.

    Each term is softplus(z) - y * z, which is softplus(-z) when y is 1 and
    softplus(z) when y is 0: finite for any logit, even 1000 (like PyTorch's
    ``binary_cross_entropy_with_logits``). A label that is a Value (a traced
    input) picks its term by arithmetic, y * softplus(-z) + (1 - y) *
    softplus(z), the same floats for y of 0 or 1. Raises ``ValueError`` for a
    label other than 0 or 1 and ``TypeError`` for one that is not a number.
    """
    logit_list, label_list = _paired(logits, labels)
    _check_labels(label_list, (0, 1), "binary_cross_entropy labels must be 0 or 1")
    terms = [_log_loss(z, y) for z, y in zip(_values(logit_list, "logits"), label_list)]
    return value_sum(terms) / len(terms)


def _log_loss(logit: Value, label: Any) -> Value:
    if isinstance(label, Value):
        return label * (-logit).softplus() + (1.0 - label) * logit.softplus()
    return (-logit if label == 1 else logit).softplus()


def cross_entropy(logits: Iterable[Any], target: int | Iterable[int]) -> Value:
    """Softmax cross-entropy: -log softmax(logits)[target].

    One example: ``logits`` is a list of class scores (Values or numbers) and
    ``target`` the index of the right class (an int, or a Value holding one:
    a traced input, then used through a one-hot vector). A batch: a list of
    such lists and a list of indices; the result is the mean over the batch.
    Computed as log-sum-exp minus the target's logit, both shifted by the
    largest logit (a recorded ``maximum``, its gradient stopped by ``detach``),
    so any finite logits are safe: ``cross_entropy([1e308, -1e308], 0)`` is
    0.0, as in PyTorch.

    Raises ``ValueError`` for empty inputs, different lengths or a class index
    out of range, ``TypeError`` for an index that is not an int.
    """
    if isinstance(target, (numbers.Real, Value)):  # one example (a non-int index is refused there)
        return _cross_entropy_one(_values(_as_list(logits), "logits"), target)
    rows, targets = _paired(logits, target)
    terms = [_cross_entropy_one(_logit_row(row, i), t) for i, (row, t) in enumerate(zip(rows, targets))]
    return value_sum(terms) / len(terms)


def l2(params: Iterable[Scalar], alpha: float) -> Value:
    """L2 penalty: alpha * sum(p * p), added to a loss to keep weights small.

    Raises ``ValueError`` for no parameters or a negative or infinite ``alpha``.
    """
    alpha = checks.non_negative(alpha, "the L2 weight (alpha)")
    return value_sum([p * p for p in _values(_as_list(params), "params")]) * alpha


def accuracy(scores: Iterable[Any] | Scalar, labels: Iterable[int] | int) -> float:
    """The fraction of examples classified right, a float in [0, 1].

    Two kinds of input:
    - one score per example, with labels +1/-1 (or 1/0): a score above 0
      predicts the positive class (like micrograd's demo);
    - a list of class logits per example, with class indices: the largest
      logit predicts (the first one on a tie, like ``torch.argmax``).

    Raises ``ValueError`` for empty inputs, different lengths or a bad label.
    """
    score_list, label_list = _paired(scores, labels)
    if _plain_scores_and_labels(score_list, label_list):
        # floats and +1/-1 (or 1/0) ints, as a tape's batch and a dataset give them: counted with
        # no check per example
        hits = len([1 for s, y in zip(score_list, label_list) if (s > 0.0) == (y == 1)])
    elif not isinstance(score_list[0], (Value, numbers.Real)):
        rows = [_logit_numbers(row, i) for i, row in enumerate(score_list)]
        indices = [_class_index(t, len(row)) for row, t in zip(rows, label_list)]
        hits = sum(row.index(max(row)) == t for row, t in zip(rows, indices))
    else:
        # one -1 settles it (looked for first: is_real's abstract-class test is slow)
        zero_one = not any(type(y) is int and y == -1 for y in label_list) and all(
            checks.is_real(y) and y in (0, 1) for y in label_list
        )
        signs = (0, 1) if zero_one else (1, -1)
        _check_labels(
            label_list, signs, "accuracy labels must be +1/-1 (or 1/0) for one score per example", False
        )
        scores_ = [
            s if type(s) is float else s.data if isinstance(s, Value) else s
            for s in _scalars(score_list, "scores")
        ]
        hits = sum((s > 0.0) == (y == 1) for s, y in zip(scores_, label_list))
    return hits / len(label_list)


# --- helpers ---


def _paired(preds: object, targets: object) -> tuple[list[Any], list[Any]]:
    """Both as lists (a lone number or Value is one example), non-empty and equally long."""
    pred_list, target_list = _as_list(preds), _as_list(targets)
    if not pred_list:
        raise ValueError("got no predictions (an empty list)")
    if len(pred_list) != len(target_list):
        raise ValueError(f"got {len(pred_list)} predictions but {len(target_list)} targets")
    return pred_list, target_list


def _as_list(xs: object) -> list[Any]:
    if isinstance(xs, (Value, numbers.Real)):
        return [xs]
    if not isinstance(xs, Iterable):
        raise TypeError(f"expected a list of numbers or Values, got {type(xs).__name__}: {xs!r}")
    return list(xs)


def _differences(preds: object, targets: object) -> list[Value]:
    pred_list, target_list = _paired(preds, targets)
    # a number target stays a number: the engine keeps it as a constant, not a leaf
    return [p - t for p, t in zip(_values(pred_list, "predictions"), _scalars(target_list, "targets"))]


def _scalars(xs: list[Any], what: str) -> list[Any]:
    """The list itself, once each item is checked to be a Value or a finite real number."""
    if not xs:
        raise ValueError(f"{what} is empty")
    total = sum(x for x in xs if type(x) is float)  # finite floats, the common case, at C speed
    if total - total == 0.0 and all(type(x) is float or type(x) is Value for x in xs):
        return xs
    for i, x in enumerate(xs):
        if not isinstance(x, Value):
            if not checks.is_real(x):
                raise TypeError(f"{what}[{i}] must be a number or a Value, got {type(x).__name__}: {x!r}")
            checks.finite(x, f"{what}[{i}]")  # nan and inf: named here, not met later as an overflow
    return xs


def _values(xs: list[Any], what: str) -> list[Value]:
    """Each item as a Value (numbers become leaves); empty or non-numbers raise."""
    return [x if isinstance(x, Value) else Value(x) for x in _scalars(xs, what)]


def _logit_row(row: object, i: int) -> list[Value]:
    if isinstance(row, (Value, numbers.Real)):
        raise TypeError(f"logits[{i}] must be a list of class logits, got {type(row).__name__}: {row!r}")
    return _values(_as_list(row), f"logits[{i}]")


def _logit_numbers(row: object, i: int) -> list[float]:
    # a row of class logits as floats (Values read, numbers checked), making no Values
    if isinstance(row, (Value, numbers.Real)):
        raise TypeError(f"logits[{i}] must be a list of class logits, got {type(row).__name__}: {row!r}")
    items = _scalars(_as_list(row), f"logits[{i}]")
    return [z.data if isinstance(z, Value) else float(z) for z in items]


def _plain_scores_and_labels(scores: list[Any], labels: list[Any]) -> bool:
    # True for finite floats and labels all of +1/-1 or all of 1/0 (ints): the common case of
    # accuracy, known without a Python step per example; anything else takes the checked path
    if set(map(type, labels)) != {int} or not checks.finite_floats(scores):
        return False
    kinds = set(labels)
    return kinds <= {1, -1} or kinds <= {0, 1}


def _check_labels(labels: list[Any], allowed: tuple[int, int], message: str, traced: bool = True) -> None:
    # the one rule for labels: a number equal to an allowed one (never a bool, as for class
    # indices), or, where ``traced``, a Value (a traced input, fed by a tape)
    if all(type(y) is int and y in allowed for y in labels):  # the common case, quickly
        return
    for i, y in enumerate(labels):
        if isinstance(y, Value) and traced:
            continue
        if not checks.is_real(y):
            raise TypeError(f"{message}, got {type(y).__name__}: {checks.shown(y)} at index {i}")
        if y not in allowed:
            raise ValueError(f"{message}, got {y!r} at index {i}")


def _class_index(target: object, classes: int) -> int:
    index = checks.integer(target, "a class index")
    if not 0 <= index < classes:
        raise ValueError(f"class index {index} is out of range for {classes} classes")
    return index


def one_hot(label: Value | int, classes: int) -> list[Any]:
    """The one-hot vector of a class: 1.0 at ``label``, 0.0 elsewhere (``classes`` long).

    For a Value (a traced label) each entry is recorded, relu(1 - |label -
    k|): exactly 1 and 0 at a whole-number label, with no branch on it, so a
    tape replays it for any label. For an int, plain floats. Raises
    ValueError for an int out of range, TypeError for a non-int.
    """
    classes = checks.positive_int(classes, "classes")
    if isinstance(label, Value):
        return [(1.0 - (label - float(k)).abs()).relu() for k in range(classes)]
    index = _class_index(label, classes)
    return [1.0 if k == index else 0.0 for k in range(classes)]


def _cross_entropy_one(logits: list[Value], target: object) -> Value:
    # log-sum-exp is unchanged by a shift; shifting by the largest logit makes every exp <= 1.
    # The largest is recorded (maximum), so a tape finds it at every point, and detached:
    # the shift changes no gradient.
    level = logits
    while len(level) > 1:  # pairwise: log2(n) deep, so a tape fuses each level
        level = [a.maximum(b) for a, b in zip(level[::2], level[1::2])] + level[len(level) - len(level) % 2 :]
    peak = level[0].detach()
    # a logit far below the peak counts as exp(-inf) = 0; raising it to peak - (|peak|/2 + 1000)
    # first keeps z - peak from overflowing (as -1e308 - 1e308 would) and changes no float:
    # below that, exp underflows to 0 either way
    floor = peak - (peak.abs() * 0.5 + 1000.0)
    total = value_sum([(z.maximum(floor) - peak).exp() for z in logits])
    if isinstance(target, Value):
        chosen = weighted_sum(one_hot(target, len(logits)), logits)  # exactly the target's logit
    else:
        chosen = logits[_class_index(target, len(logits))]
    return total.log() - (chosen - peak)
