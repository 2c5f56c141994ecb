"""Losses: one Value saying how wrong a model's outputs are, to call ``backward`` on.

Predictions may be Values or plain numbers; targets and labels are numbers.
Batch losses are means over the examples, like PyTorch's default
``reduction="mean"``. Sums use ``value_sum``: one graph node for many terms.
Every loss checks its inputs where they enter and names the bad value.
``accuracy`` is a metric, not a loss: it returns a plain float.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

from microgrid import checks
from microgrid.engine import Value, value_sum

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
    demo loss). Raises ``ValueError`` for a label other than +1 or -1.
    """
    score_list, label_list = _paired(scores, labels)
    _check_labels(label_list, (1, -1), "hinge labels must be +1 or -1")
    # 1 - y*s written as 1 - s or s + 1: y is +-1, and this makes fewer nodes
    margins = [
        (1.0 - s if y == 1 else s + 1.0).relu() for s, y in zip(_values(score_list, "scores"), label_list)
    ]
    return value_sum(margins) / len(margins)


def binary_cross_entropy(logits: Scalars, labels: Iterable[float] | float) -> Value:
    """Cross-entropy of labels 0/1 against sigmoid(logit), from the logits; mean.

    Each term is softplus(z) - y * z, which is softplus(-z) when y is 1 and
    softplus(z) when y is 0: finite for any logit, even 1000 (like PyTorch's
    ``binary_cross_entropy_with_logits``). Raises ``ValueError`` for a label
    other than 0 or 1.
    """
    logit_list, label_list = _paired(logits, labels)
    _check_labels(label_list, (0, 1), "binary_cross_entropy labels must be 0 or 1")
    terms = [(-z if y == 1 else z).softplus() for z, y in zip(_values(logit_list, "logits"), label_list)]
    return value_sum(terms) / len(terms)


def cross_entropy(logits: Iterable[Any], target: int | Iterable[int]) -> Value:
    """Softmax cross-entropy: -log softmax(logits)[target].

    One example: ``logits`` is a list of class scores (Values or numbers) and
    ``target`` the index of the right class. A batch: a list of such lists and
    a list of indices; the result is the mean over the batch. Computed as
    log-sum-exp minus the target's logit, both shifted by the largest logit,
    so any logits are safe.

    Raises ``ValueError`` for empty inputs, different lengths or a class index
    out of range, ``TypeError`` for an index that is not an int.
    """
    if isinstance(target, numbers.Real):  # one example (a non-int index is refused there)
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
    if not isinstance(score_list[0], (Value, numbers.Real)):
        rows = [[z.data for z in _logit_row(row, i)] for i, row in enumerate(score_list)]
        indices = [_class_index(t, len(row)) for row, t in zip(rows, label_list)]
        hits = sum(row.index(max(row)) == t for row, t in zip(rows, indices))
    else:
        signs = (0, 1) if all(y in (0, 1) for y in label_list) else (1, -1)
        _check_labels(label_list, signs, "accuracy labels must be +1/-1 (or 1/0) for one score per example")
        values = _values(score_list, "scores")
        hits = sum((s.data > 0.0) == (y == 1) for s, y in zip(values, label_list))
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
    """The list itself, once each item is checked to be a Value or a real number."""
    if not xs:
        raise ValueError(f"{what} is empty")
    for i, x in enumerate(xs):
        if not isinstance(x, Value) and not checks.is_real(x):
            raise TypeError(f"{what}[{i}] must be a number or a Value, got {type(x).__name__}: {x!r}")
    return xs


def _values(xs: list[Any], what: str) -> list[Value]:
    """Each item as a Value (numbers become leaves); empty or non-numbers raise."""
    return [x if isinstance(x, Value) else Value(x) for x in _scalars(xs, what)]


def _logit_row(row: object, i: int) -> list[Value]:
    if isinstance(row, (Value, numbers.Real)):
        raise TypeError(f"logits[{i}] must be a list of class logits, got {type(row).__name__}: {row!r}")
    return _values(_as_list(row), f"logits[{i}]")


def _check_labels(labels: list[Any], allowed: tuple[int, int], message: str) -> None:
    for i, y in enumerate(labels):
        if isinstance(y, Value) or y not in allowed:
            raise ValueError(f"{message}, got {y!r} at index {i}")


def _class_index(target: object, classes: int) -> int:
    index = checks.integer(target, "a class index")
    if not 0 <= index < classes:
        raise ValueError(f"class index {index} is out of range for {classes} classes")
    return index


def _cross_entropy_one(logits: list[Value], target: object) -> Value:
    t = _class_index(target, len(logits))
    # log-sum-exp is unchanged by a shift; shifting by the max makes every exp <= 1
    peak = max(z.data for z in logits)
    shifted = [z - peak for z in logits]
    return value_sum([s.exp() for s in shifted]).log() - shifted[t]
