"""Property tests of microgrid.Tape: every backend computes graph mode's numbers, for random graphs and networks.

The generated Python calls the same functions as graph mode and adds up the
gradients in its order, so its floats are graph mode's exactly, but for one
known difference: an n-ary sum (``value_sum``, ``weighted_sum``) adds its terms
left to right where graph mode's ``fsum`` rounds once; and when wide groups
fuse into loops, the gradients meeting at a node are added in order of depth.
numpy differs in two:
its sums add up in another order (pairwise; BLAS in matrix products) and its
exp, log and tanh may differ from the math module's in the last bit. Such
results are compared with a bound on what that rounding can do: 1e-12 times
the output's condition (the sum over nodes of |d output / d node| times the
node's size, the sum of the sizes of its terms for a sum), and for gradients
1e-12 times the sum over paths of |the products of local derivatives|.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgrid import Value, no_grad, value_sum
from microgrid.engine import gradients, local_derivatives, topological_order
from microgrid.losses import binary_cross_entropy, cross_entropy, hinge, l2, mse
from microgrid.nn import ACTIVATIONS, MLP
from microgrid.tape import Tape, python_code, python_fused
from microgrid.testing import Expression, expressions, input_values

few = settings(max_examples=100, deadline=None, derandomize=True, database=None)
fewer = settings(max_examples=8, deadline=None, derandomize=True, database=None)
RTOL = 1e-12
SUMS = ("sum", "weighted_sum")  # added left to right by the generated Python, exactly by graph mode


def absolute_gradients(output: Value) -> dict[Value, float]:
    """Sum over paths of |the product of local derivatives|: how large a gradient's terms get."""
    order = topological_order(output)
    sizes: dict[Value, float] = {node: 0.0 for node in order}
    sizes[output] = 1.0
    for node in reversed(order):
        for child, local in zip(node.children, local_derivatives(node)):
            sizes[child] += abs(local) * sizes[node]
    return sizes


def condition(output: Value) -> float:
    """Sum over nodes of |d output / d node| times the node's size (its terms' for a sum)."""
    total = abs(output.data)
    for node, g in gradients(output).items():
        size = (
            sum(abs(c.data) for c in node.children) if node.op in ("sum", "weighted_sum") else abs(node.data)
        )
        total += abs(g) * size
    return total


def close(got: float, expected: float, scale: float) -> bool:
    return abs(got - expected) <= RTOL * scale


def make_tape(output: Value, inputs: list[Value], kind: str) -> Tape:
    if kind == "fused":  # like instructions at one depth as one loop (wide graphs), here from two
        saved_from = python_fused.FUSE_FROM
        python_fused.FUSE_FROM = 2
        try:
            return Tape(output, inputs, backend="python")
        finally:
            python_fused.FUSE_FROM = saved_from
    if kind == "chunked":  # the packing used for very large graphs, here with tiny chunks
        saved = python_code.ONE_FUNCTION_LINES, python_code.CHUNK_LINES
        python_code.ONE_FUNCTION_LINES, python_code.CHUNK_LINES = 0, 3
        try:
            return Tape(output, inputs, backend="python")
        finally:
            python_code.ONE_FUNCTION_LINES, python_code.CHUNK_LINES = saved
    return Tape(output, inputs, backend=kind)


def graph_mode(expr: Expression, point: list[float]) -> tuple[Value, list[Value]] | Exception:
    inputs = [Value(x) for x in point]
    try:
        return expr(*inputs), inputs
    except (ValueError, ZeroDivisionError, OverflowError) as error:
        return error


@pytest.mark.parametrize("kind", ["python", "chunked", "numpy"])
@few
@given(expr=expressions(), data=st.data())
def test_every_backend_replays_random_graphs_as_graph_mode_computes_them(
    kind: str, expr: Expression, data: st.DataObject
) -> None:
    traced = data.draw(input_values(expr.n_inputs))
    tape = make_tape(expr(*traced), traced, kind)
    rows = [[v.data for v in data.draw(input_values(expr.n_inputs))] for _ in range(2)]
    expected = [graph_mode(expr, row) for row in rows]
    failures = [e for e in expected if isinstance(e, Exception)]
    if failures:  # graph mode refuses a point: the tape raises the same, naming the node
        with pytest.raises(type(failures[0])):
            tape(rows)
        return
    outputs = tape(rows)
    tape.backward(reduce="sum")
    input_grads = tape.input_grads()
    assert tape.checked_runs == 0  # the fast path ran, and agreed
    for row_output, row_grads, found in zip(outputs, input_grads, expected):
        assert not isinstance(found, Exception)
        output, inputs = found
        exact = kind != "numpy" and not any(node.op in SUMS for node in topological_order(output))
        g = gradients(output)
        sizes = absolute_gradients(output)
        if exact:
            assert row_output == output.data
            assert row_grads == [g.get(x, 0.0) for x in inputs]
        else:
            assert close(row_output, output.data, condition(output))
            for got, x in zip(row_grads, inputs):
                assert close(got, g.get(x, 0.0), sizes.get(x, 0.0))


@few
@given(expr=expressions(), data=st.data())
def test_fused_python_replays_random_graphs_as_graph_mode_computes_them(
    expr: Expression, data: st.DataObject
) -> None:
    # every group of two or more like instructions at one depth as a loop; gradients meeting at a
    # node are then added in order of depth, not graph mode's: equal to rounding, never exactly
    traced = data.draw(input_values(expr.n_inputs))
    tape = make_tape(expr(*traced), traced, "fused")
    row = [v.data for v in data.draw(input_values(expr.n_inputs))]
    found = graph_mode(expr, row)
    if isinstance(found, Exception):  # graph mode refuses the point: the tape raises the same
        with pytest.raises(type(found)):
            tape(row)
        return
    output, inputs = found
    got = tape(row)
    tape.backward()
    assert tape.checked_runs == 0  # the fused path ran, and agreed
    assert close(got, output.data, condition(output))
    g, sizes = gradients(output), absolute_gradients(output)
    for grad, x in zip(tape.input_grads(), inputs):
        assert close(grad, g.get(x, 0.0), sizes.get(x, 0.0))


# --- networks: every activation, every loss, one example and a batch --------------------------------


def loss_of(name: str, outputs: Any, label: Any) -> Value:
    """One example's loss with its label (a number, or a Value when traced)."""
    if name == "hinge":
        return hinge([outputs], [label * 2.0 - 1.0])
    if name == "binary_cross_entropy":
        return binary_cross_entropy([outputs], [label])
    if name == "cross_entropy":
        return cross_entropy(outputs, label)
    return mse([outputs], [label])


@pytest.mark.parametrize("backend", ["python", "numpy"])
@pytest.mark.parametrize("loss", ["hinge", "binary_cross_entropy", "cross_entropy", "mse"])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@fewer
@given(data=st.data())
def test_random_networks_train_on_the_tape_as_in_graph_mode(
    backend: str, loss: str, activation: str, data: st.DataObject
) -> None:
    nin = data.draw(st.integers(1, 3))
    hidden = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=2))
    outputs = 3 if loss == "cross_entropy" else 1
    model = MLP(nin, [*hidden, outputs], activation, seed=data.draw(st.integers(0, 99)))
    params = model.parameters()
    alpha = data.draw(st.sampled_from([0.0, 1e-3]))

    def example(*numbers: Any) -> Value:
        # one example: its features, then its label (a class index, or 0/1, or a target)
        value = loss_of(loss, model(list(numbers[:nin])), numbers[nin])
        return value + l2(params, alpha) if alpha else value

    features = st.floats(-2.0, 2.0, allow_nan=False)
    labels = st.integers(0, outputs - 1) if loss == "cross_entropy" else st.sampled_from([0, 1])
    rows = [
        [*data.draw(st.lists(features, min_size=nin, max_size=nin)), data.draw(labels)]
        for _ in range(data.draw(st.integers(1, 4)))
    ]
    tape = Tape.trace(example, [float(x) for x in rows[0]], backend=backend)
    batch = data.draw(st.booleans())
    got = tape(rows if batch else rows[0])
    for p in params:
        p.grad = 0.0
    tape.backward(reduce="mean" if batch else None)
    tape_grads = [p.grad for p in params]
    assert tape.checked_runs == 0

    # graph mode: the same examples, labels as numbers, their mean
    for p in params:
        p.grad = 0.0
    used = rows if batch else rows[:1]
    terms = [example(*(Value(x) for x in row[:nin]), int(row[nin])) for row in used]
    mean = value_sum(terms) / len(terms)
    mean.backward()
    if batch:
        assert len(got) == len(used)
        got = math.fsum(got) / len(got)
    sizes = absolute_gradients(mean)
    assert close(got, mean.data, condition(mean))
    for p, found in zip(params, tape_grads):
        assert close(found, p.grad, sizes.get(p, 0.0) + abs(p.grad))


def test_a_traced_label_gives_the_loss_of_that_label_for_every_class() -> None:
    model = MLP(2, [3, 4], seed=1)
    tape = Tape.trace(lambda a, b, y: cross_entropy(model([a, b]), y), [0.5, -0.5, 0.0])
    for label in range(4):
        with no_grad():
            expected = cross_entropy(model([0.25, 1.0]), label).data
        assert tape([0.25, 1.0, float(label)]) == expected
