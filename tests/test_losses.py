"""Specification of microgrid.losses: values, gradients, stability and input checks."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch_oracle import F, needs_torch, torch

from microgrid.engine import Value, topological_order
from microgrid.losses import (
    accuracy,
    binary_cross_entropy,
    cross_entropy,
    hinge,
    l2,
    mse,
    one_hot,
    sum_squared_error,
)
from microgrid.testing import gradcheck

few = settings(max_examples=30, deadline=None)
moderate = st.floats(min_value=-4.0, max_value=4.0, allow_nan=False)


def tensor(xs: list[float], grad: bool = False) -> torch.Tensor:
    return torch.tensor(xs, dtype=torch.float64, requires_grad=grad)


def values(xs: list[float]) -> list[Value]:
    return [Value(x) for x in xs]


def grads(vs: list[Value]) -> list[float]:
    return [v.grad for v in vs]


def assert_same_as_torch(
    loss: Value, ours: list[Value], expected: torch.Tensor, theirs: torch.Tensor
) -> None:
    # loss has been backpropagated; expected is torch's loss of the same inputs, theirs
    expected.backward()
    assert loss.data == pytest.approx(expected.item(), rel=1e-12, abs=1e-12)
    assert theirs.grad is not None
    assert grads(ours) == pytest.approx(theirs.grad.tolist(), rel=1e-12, abs=1e-12)


# --- values on concrete numbers ---


def test_mse_is_the_mean_of_squared_differences() -> None:
    # (0 + 4 + 9) / 3
    assert mse([1.0, 2.0, 3.0], [1.0, 0.0, 0.0]).data == pytest.approx(13 / 3)


def test_sum_squared_error_is_the_sum_over_one_examples_outputs() -> None:
    assert sum_squared_error([1.0, 2.0], [0.0, 4.0]).data == 5.0


def test_hinge_is_the_mean_of_relu_of_one_minus_label_times_score() -> None:
    # relu(1-2), relu(1-0.5), relu(1+0.5), relu(1+0.5)
    assert hinge([2.0, 0.5, -0.5, 0.5], [1, 1, 1, -1]).data == pytest.approx(3.5 / 4)


def test_binary_cross_entropy_is_minus_log_likelihood_of_the_labels_under_sigmoid() -> None:
    # -log sigmoid(0) and -log(1 - sigmoid(2))
    expected = (math.log(2.0) + math.log(1.0 + math.exp(2.0))) / 2
    assert binary_cross_entropy([0.0, 2.0], [1, 0]).data == pytest.approx(expected)


def test_cross_entropy_of_one_example_is_log_sum_exp_minus_the_target_logit() -> None:
    expected = math.log(math.e + math.e**2 + math.e**3) - 1.0
    assert cross_entropy([1.0, 2.0, 3.0], 0).data == pytest.approx(expected)


def test_cross_entropy_of_a_batch_is_the_mean_over_its_examples() -> None:
    batch = cross_entropy([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]], [0, 2]).data
    singles = [cross_entropy([1.0, 2.0, 3.0], 0).data, cross_entropy([0.5, -1.0, 0.0], 2).data]
    assert batch == pytest.approx(sum(singles) / 2)


def test_l2_is_alpha_times_the_sum_of_squares() -> None:
    assert l2(values([1.0, -2.0, 3.0]), 0.1).data == pytest.approx(1.4)


def test_a_lone_prediction_counts_as_one_example() -> None:
    assert mse(Value(3.0), 1.0).data == 4.0
    assert hinge(0.25, 1).data == 0.75


def test_losses_accept_plain_numbers_and_return_values() -> None:
    assert isinstance(mse([1.0, 2.0], [0, 0]), Value)
    assert isinstance(binary_cross_entropy([1, 2], [0, 1]), Value)


def test_a_loss_sums_its_terms_in_one_node() -> None:
    loss = hinge(values([0.1, 0.2, 0.3, 0.4]), [1, -1, 1, -1])
    assert loss.op == "/" and loss.children[0].op == "sum" and len(loss.children[0].children) == 4


def test_gradient_of_mse_is_two_times_the_difference_over_n() -> None:
    preds = values([1.0, 2.0])
    mse(preds, [0.0, 5.0]).backward()
    assert grads(preds) == [1.0, -3.0]


# --- against torch.nn.functional, float64 ---


@needs_torch
@few
@given(st.lists(st.tuples(moderate, moderate), min_size=1, max_size=6))
def test_mse_value_and_gradient_match_torch(pairs: list[tuple[float, float]]) -> None:
    preds, targets = [p for p, _ in pairs], [t for _, t in pairs]
    ours = values(preds)
    loss = mse(ours, targets)
    loss.backward()
    theirs = tensor(preds, grad=True)
    expected = F.mse_loss(theirs, tensor(targets))
    assert_same_as_torch(loss, ours, expected, theirs)


@needs_torch
@few
@given(st.lists(st.tuples(moderate, st.sampled_from([0, 1])), min_size=1, max_size=6))
def test_binary_cross_entropy_value_and_gradient_match_torch(pairs: list[tuple[float, int]]) -> None:
    logits, labels = [z * 5 for z, _ in pairs], [y for _, y in pairs]
    ours = values(logits)
    loss = binary_cross_entropy(ours, labels)
    loss.backward()
    theirs = tensor(logits, grad=True)
    expected = F.binary_cross_entropy_with_logits(theirs, tensor([float(y) for y in labels]))
    assert_same_as_torch(loss, ours, expected, theirs)


@needs_torch
@few
@given(st.integers(1, 4), st.integers(2, 5), st.data())
def test_cross_entropy_value_and_gradient_match_torch(batch: int, classes: int, data: st.DataObject) -> None:
    rows = [data.draw(st.lists(moderate, min_size=classes, max_size=classes)) for _ in range(batch)]
    targets = [data.draw(st.integers(0, classes - 1)) for _ in range(batch)]
    ours = [values(row) for row in rows]
    loss = cross_entropy(ours, targets)
    loss.backward()
    theirs = torch.tensor(rows, dtype=torch.float64, requires_grad=True)
    expected = F.cross_entropy(theirs, torch.tensor(targets))
    expected.backward()
    assert loss.data == pytest.approx(expected.item(), rel=1e-12, abs=1e-12)
    assert theirs.grad is not None
    for row, expected_grads in zip(ours, theirs.grad.tolist()):
        assert grads(row) == pytest.approx(expected_grads, rel=1e-10, abs=1e-12)


@needs_torch
@few
@given(st.lists(st.tuples(moderate, st.sampled_from([1, -1])), min_size=1, max_size=6))
def test_hinge_value_and_gradient_match_the_formula_in_torch(pairs: list[tuple[float, int]]) -> None:
    scores, labels = [s for s, _ in pairs], [y for _, y in pairs]
    assume(all(abs(1 - y * s) > 1e-9 for s, y in pairs))  # away from the kink
    ours = values(scores)
    loss = hinge(ours, labels)
    loss.backward()
    theirs = tensor(scores, grad=True)
    expected = torch.relu(1 - tensor([float(y) for y in labels]) * theirs).mean()
    assert_same_as_torch(loss, ours, expected, theirs)


@needs_torch
@few
@given(st.lists(moderate, min_size=1, max_size=6), st.floats(0.0, 2.0))
def test_l2_value_and_gradient_match_torch(params: list[float], alpha: float) -> None:
    ours = values(params)
    loss = l2(ours, alpha)
    loss.backward()
    theirs = tensor(params, grad=True)
    expected = alpha * (theirs * theirs).sum()
    assert_same_as_torch(loss, ours, expected, theirs)


# --- gradients pass gradcheck ---


def checked(loss: Callable[[list[Value]], Value], inputs: list[float]) -> bool:
    return gradcheck(lambda *xs: loss(list(xs)), inputs)


@few
@given(st.lists(st.tuples(moderate, moderate), min_size=1, max_size=5))
def test_squared_error_gradients_pass_gradcheck(pairs: list[tuple[float, float]]) -> None:
    preds, targets = [p for p, _ in pairs], [t for _, t in pairs]
    assert checked(lambda xs: mse(xs, targets), preds)
    assert checked(lambda xs: sum_squared_error(xs, targets), preds)


@few
@given(st.lists(st.tuples(moderate, st.sampled_from([1, -1])), min_size=1, max_size=5))
def test_hinge_gradient_passes_gradcheck(pairs: list[tuple[float, int]]) -> None:
    scores, labels = [s for s, _ in pairs], [y for _, y in pairs]
    assume(all(abs(1 - y * s) > 1e-3 for s, y in pairs))  # finite differences straddle no kink
    assert checked(lambda xs: hinge(xs, labels), scores)


@few
@given(st.lists(st.tuples(moderate, st.sampled_from([0, 1])), min_size=1, max_size=5))
def test_binary_cross_entropy_gradient_passes_gradcheck(pairs: list[tuple[float, int]]) -> None:
    logits, labels = [z for z, _ in pairs], [y for _, y in pairs]
    assert checked(lambda xs: binary_cross_entropy(xs, labels), logits)


@few
@given(st.lists(moderate, min_size=2, max_size=5), st.data())
def test_cross_entropy_gradient_passes_gradcheck(logits: list[float], data: st.DataObject) -> None:
    target = data.draw(st.integers(0, len(logits) - 1))
    assert checked(lambda xs: cross_entropy(xs, target), logits)
    # a batch whose two rows share the inputs: their gradients add up
    assert checked(lambda xs: cross_entropy([xs, xs[::-1]], [target, 0]), logits)


@few
@given(st.lists(moderate, min_size=1, max_size=5), st.floats(0.0, 2.0))
def test_l2_gradient_passes_gradcheck(params: list[float], alpha: float) -> None:
    assert checked(lambda xs: l2(xs, alpha), params)


# --- stability at extreme logits ---


@pytest.mark.parametrize(
    ("logit", "label", "loss", "gradient"),
    [(1000.0, 1, 0.0, 0.0), (1000.0, 0, 1000.0, 1.0), (-1000.0, 1, 1000.0, -1.0), (-1000.0, 0, 0.0, 0.0)],
)
def test_binary_cross_entropy_is_exact_for_logits_of_size_1000(
    logit: float, label: int, loss: float, gradient: float
) -> None:
    z = Value(logit)
    result = binary_cross_entropy([z], [label])
    result.backward()
    assert result.data == loss
    assert z.grad == gradient  # sigmoid(z) - y


def test_cross_entropy_is_exact_for_logits_of_size_1000() -> None:
    logits = values([1000.0, 0.0, -1000.0])
    loss = cross_entropy(logits, 1)
    loss.backward()
    assert loss.data == 1000.0
    assert grads(logits) == [1.0, -1.0, 0.0]  # softmax minus the one-hot target


# --- accuracy ---


def test_accuracy_of_scores_is_the_fraction_with_the_right_sign() -> None:
    # right, right, wrong (0 is not above 0), wrong
    assert accuracy([0.5, -0.2, 0.0, 3.0], [1, -1, 1, -1]) == 0.5
    assert accuracy(values([0.5, -0.2, 0.0, 3.0]), [1, 0, 1, 0]) == 0.5
    assert accuracy([1.0, -1.0], [1, -1]) == 1.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-5.0, 5.0), min_size=1, max_size=30),
    st.sampled_from([(1, -1), (0, 1)]),
    st.randoms(use_true_random=False),
)
def test_accuracy_of_floats_and_int_labels_counts_as_the_checked_path_does(
    scores: list[float], classes: tuple[int, int], rng: Any
) -> None:
    # plain floats and ints are counted at C speed; Values take the checked path: the same count
    labels = [rng.choice(classes) for _ in scores]
    assert accuracy(scores, labels) == accuracy([Value(s) for s in scores], labels)


def test_accuracy_of_class_logits_is_the_fraction_whose_largest_logit_is_the_target() -> None:
    # right, right, wrong: a tie goes to the first class
    rows = [[1.0, 2.0, 3.0], values([3.0, 2.0, 1.0]), [1.0, 1.0, 0.0]]
    assert accuracy(rows, [2, 0, 1]) == pytest.approx(2 / 3)
    assert isinstance(accuracy(rows, [2, 0, 0]), float)


# --- input checks ---


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: mse([], []), ValueError, r"got no predictions \(an empty list\)"),
        (lambda: mse([1.0, 2.0], [1.0]), ValueError, "got 2 predictions but 1 targets"),
        (
            lambda: sum_squared_error(["a"], [1.0]),
            TypeError,
            "predictions.0. must be a number or a Value, got str",
        ),
        (lambda: mse([1.0], [None]), TypeError, "targets.0. must be a number or a Value, got NoneType"),
        (lambda: hinge([1.0, 2.0], [1, 0]), ValueError, "hinge labels must be .1 or -1, got 0 at index 1"),
        (lambda: hinge([1.0], 2), ValueError, "got 2 at index 0"),
        (
            lambda: binary_cross_entropy([1.0, 2.0], [1, 0.5]),
            ValueError,
            "binary_cross_entropy labels must be 0 or 1, got 0.5 at index 1",
        ),
        (lambda: binary_cross_entropy([1.0], [-1]), ValueError, "got -1 at index 0"),
        (lambda: cross_entropy([1.0, 2.0], 2), ValueError, "class index 2 is out of range for 2 classes"),
        (lambda: cross_entropy([1.0, 2.0], -1), ValueError, "class index -1 is out of range for 2 classes"),
        (lambda: cross_entropy([1.0], [0]), TypeError, "logits.0. must be a list of class logits"),
        (lambda: cross_entropy([1.0, 2.0], 1.0), TypeError, "a class index must be an int, got float: 1.0"),
        (
            lambda: cross_entropy([[1.0, 2.0]], [1.0]),
            TypeError,
            "a class index must be an int, got float: 1.0",
        ),
        (lambda: cross_entropy([[1.0, 2.0]], [0, 1]), ValueError, "got 1 predictions but 2 targets"),
        (lambda: cross_entropy([], 0), ValueError, "logits is empty"),
        (lambda: cross_entropy([[1.0], []], [0, 0]), ValueError, r"logits\[1\] is empty"),
        (lambda: l2([], 0.1), ValueError, "params is empty"),
        (
            lambda: l2(values([1.0]), -0.5),
            ValueError,
            r"the L2 weight \(alpha\) must be non-negative and finite, got -0.5",
        ),
        (lambda: accuracy([1.0], [2]), ValueError, "accuracy labels must be .1/-1 .or 1/0.*got 2 at index 0"),
        (lambda: accuracy([1.0, 2.0], [0, -1]), ValueError, "got 0 at index 0"),
        (lambda: accuracy([[1.0, 2.0]], [2]), ValueError, "class index 2 is out of range for 2 classes"),
        (lambda: accuracy([], []), ValueError, "got no predictions"),
    ],
)
def test_bad_inputs_are_errors_that_name_the_value(
    call: Callable[[], object], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        call()


# --- traceable: labels as Values, the shift recorded ---


@pytest.mark.parametrize(
    ("loss", "predictions", "labels"),
    [
        (hinge, [0.5, -2.0, 0.25], [1, -1, -1]),
        (binary_cross_entropy, [0.5, -2.0, 30.0], [1, 0, 1]),
        (mse, [0.5, -2.0, 3.0], [1.0, 0.25, -4.0]),
    ],
)
def test_a_label_that_is_a_value_gives_the_same_floats_as_the_number(
    loss: Callable[..., Value], predictions: list[float], labels: list[float]
) -> None:
    # a traced label (an input of a tape) is used through recorded arithmetic, never a branch
    ours, theirs = values(predictions), values(predictions)
    with_numbers = loss(ours, labels)
    with_values = loss(theirs, values([float(y) for y in labels]))
    with_numbers.backward()
    with_values.backward()
    assert with_values.data == with_numbers.data
    assert grads(theirs) == grads(ours)


def test_cross_entropy_with_a_value_target_picks_its_logit_through_a_one_hot_vector() -> None:
    rows = [[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]
    ours, theirs = [values(r) for r in rows], [values(r) for r in rows]
    with_numbers = cross_entropy(ours, [0, 2])
    with_values = cross_entropy(theirs, values([0.0, 2.0]))
    with_numbers.backward()
    with_values.backward()
    assert with_values.data == with_numbers.data
    assert [grads(r) for r in theirs] == [grads(r) for r in ours]


def test_one_hot_is_exact_for_ints_and_for_values_holding_them() -> None:
    assert one_hot(2, 4) == [0.0, 0.0, 1.0, 0.0]
    assert [v.data for v in one_hot(Value(2.0), 4)] == [0.0, 0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="class index 4 is out of range for 4 classes"):
        one_hot(4, 4)


def test_the_log_sum_exp_shift_is_a_recorded_maximum_whose_gradient_is_stopped() -> None:
    logits = values([1.0, 3.0, 2.0])
    loss = cross_entropy(logits, 0)
    ops = {node.op for node in topological_order(loss)}
    assert {"maximum", "detach"} <= ops  # not a number read with .data
    loss.backward()
    softmax = [math.exp(z - 3.0) / sum(math.exp(u - 3.0) for u in (1.0, 3.0, 2.0)) for z in (1.0, 3.0, 2.0)]
    assert grads(logits) == pytest.approx([softmax[0] - 1.0, softmax[1], softmax[2]], rel=1e-15)


@pytest.mark.parametrize(
    ("logits", "target"), [([1e308, -1e308], 0), ([-1e308, 1e308], 1), ([-1e308, 1e308, 0.0], 1)]
)
def test_cross_entropy_is_safe_for_any_finite_logits(logits: list[float], target: int) -> None:
    zs = values(logits)
    loss = cross_entropy(zs, target)  # like torch: 0.0, where z - max would overflow
    loss.backward()
    assert loss.data == 0.0
    assert grads(zs) == [0.0] * len(logits)


def test_true_and_false_are_refused_as_labels_by_every_loss_and_accuracy() -> None:
    with pytest.raises(TypeError, match="hinge labels must be .1 or -1, got bool: True at index 0"):
        hinge([1.0], [True])
    with pytest.raises(TypeError, match="binary_cross_entropy labels must be 0 or 1, got bool: False"):
        binary_cross_entropy([1.0], [False])
    with pytest.raises(TypeError, match="accuracy labels must be .1/-1 .or 1/0.*got bool: True"):
        accuracy([1.0], [True])
    with pytest.raises(TypeError, match="a class index must be an int, got bool: True"):
        cross_entropy([1.0, 2.0], True)


@pytest.mark.parametrize("target", [math.nan, math.inf, -math.inf])
def test_mse_with_a_target_that_is_not_finite_is_a_value_error_naming_it(target: float) -> None:
    with pytest.raises(ValueError, match=rf"targets\[1\] must be finite, got {target!r}"):
        mse([1.0, 2.0], [0.0, target])
