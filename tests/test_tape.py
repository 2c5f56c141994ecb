"""Specification of microgrid.Tape: a recorded graph compiled, replayed with graph mode's numbers and errors."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable

import numpy as np
import pytest

import microgrid
from microgrid import Value, value_sum
from microgrid.engine import gradients, register_operation
from microgrid.nn import MLP
from microgrid.ops import OPERATIONS, Domain, Operation
from microgrid.tape import GuardError, Tape, TapeMismatchError, numpy_code, python_code, python_fused

BACKENDS = ["python", "numpy"]


def neuron() -> tuple[list[Value], Value, Value, Value]:
    x = [Value(0.5), Value(-1.0)]
    w = [Value(-3.0, "w0"), Value(2.0, "w1")]
    b = Value(1.0, "b")
    return x, w[0], w[1], b


def grads(values: list[Value]) -> list[float]:
    return [v.grad for v in values]


# --- a point, a batch, backward ------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_replay_at_a_new_point_gives_graph_modes_output_and_gradients(backend: str) -> None:
    (x0, x1), w0, w1, b = neuron()
    tape = Tape((w0 * x0 + w1 * x1 + b).tanh(), [x0, x1], backend=backend)
    assert tape(np.array([2.0, 0.25]) if backend == "numpy" else [2.0, 0.25]) == math.tanh(
        -3.0 * 2.0 + 0.5 + 1.0
    )
    tape.backward()
    # graph mode at the same point, into fresh leaves
    u0, u1 = Value(2.0), Value(0.25)
    y = (w0 * u0 + w1 * u1 + b).tanh()
    g = gradients(y)
    assert grads([w0, w1, b]) == [g[w0], g[w1], g[b]]
    assert tape.input_grads() == [g[u0], g[u1]]


def test_the_python_backend_adds_up_in_graph_modes_order_so_the_floats_are_the_same() -> None:
    (x0, x1), w0, w1, b = neuron()
    loss = ((w0 * x0 + w1 * x1 + b).tanh() - 0.3) ** 2 + (w0 * w1).exp()
    tape = Tape(loss, [x0, x1], backend="python")
    assert tape([0.5, -1.0]) == loss.data
    tape.backward()
    tape_grads = grads([w0, w1, b])
    for v in (w0, w1, b):
        v.grad = 0.0
    loss.backward()
    assert tape_grads == grads([w0, w1, b])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_batch_gives_one_output_per_row_and_backward_reduces_them(backend: str) -> None:
    (x0, x1), w0, w1, b = neuron()
    tape = Tape((w0 * x0 + w1 * x1 + b).relu(), [x0, x1], backend=backend)
    rows = [[1.0, 1.0], [-1.0, 0.5], [0.25, 2.0]]
    assert tape(rows) == [0.0, 5.0, 4.25]
    tape.backward(reduce="mean")
    # d mean / d w0 = mean of x0 over the rows where relu passes: (-1 + 0.25) / 3
    assert grads([w0, w1, b]) == pytest.approx([-0.75 / 3, 2.5 / 3, 2.0 / 3], rel=1e-15)
    # d mean / d x = w / 3 on the rows where relu passes
    assert sum(tape.input_grads(), []) == pytest.approx([0.0, 0.0, -1.0, 2 / 3, -1.0, 2 / 3], rel=1e-15)
    for v in (w0, w1, b):
        v.grad = 0.0
    tape.backward(reduce="sum")
    assert grads([w0, w1, b]) == pytest.approx([-0.75, 2.5, 2.0], rel=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_backward_adds_into_grad_like_graph_mode(backend: str) -> None:
    x, w = Value(3.0), Value(2.0)
    tape = Tape(w * x, [x], backend=backend)
    w.grad = 10.0
    tape([3.0])
    tape.backward()
    tape.backward()  # like loss.backward() twice: adds again
    assert w.grad == 16.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_parameters_are_read_live_at_each_call(backend: str) -> None:
    x, w = Value(1.0), Value(2.0)
    tape = Tape(w * x + 1.0, [x], backend=backend)
    assert tape([3.0]) == 7.0
    w.data = -1.0  # an optimizer's step
    assert tape([3.0]) == -2.0
    assert tape.parameters == [w] and tape.inputs == [x]


def test_backward_refuses_what_it_cannot_do() -> None:
    x, w = Value(1.0), Value(2.0)
    tape = Tape(w * x, [x])
    with pytest.raises(RuntimeError, match="call it on a point or a batch first"):
        tape.backward()
    tape([[1.0], [2.0]])
    with pytest.raises(ValueError, match=r"backward\(reduce='mean'\) or 'sum'"):
        tape.backward()
    with pytest.raises(ValueError, match="reduce must be 'mean' or 'sum', got 'max'"):
        tape.backward(reduce="max")
    with pytest.raises(RuntimeError, match="no gradients yet"):
        tape.input_grads()
    assert w.grad == 0.0


def test_the_source_is_the_wengert_list_as_python() -> None:
    (x0, x1), w0, w1, b = neuron()
    tape = Tape(((w0 * x0) + b).tanh(), [x0], backend="python")
    source = tape.source()
    assert "def forward(rows, P):" in source and "def backward(S, seeds, statics, P):" in source
    assert "tanh(" in source and "(1.0 - (" in source  # tanh's rule, 1 - out**2, written from the table
    assert len(tape) == 3 and tape.backend == "python"
    assert repr(tape) == "Tape(3 instructions, 1 inputs, 2 parameters, 0 guards, backend='python')"


def test_a_function_with_hundreds_of_locals_numbers_its_row_loops_names_first() -> None:
    # past 256 locals CPython needs an extra instruction per use: the row loop's names come first
    model = MLP(2, [16, 16, 1])
    x = [Value(0.0), Value(0.0)]
    tape = Tape(model(x).relu(), x, backend="python")
    namespace: dict[str, object] = {}
    exec(compile(tape.source(), "<test>", "exec"), namespace)  # noqa: S102 (the tape's own source)
    for name in ("forward", "backward"):
        code = namespace[name].__code__  # type: ignore[attr-defined]
        assert code.co_nlocals > 256
        function = tape.source().split(f"def {name}")[1].split("\ndef ")[0]
        in_loop = re.findall(r"\b[vg]\d+\b", function.split("    for ")[1])
        assert max(code.co_varnames.index(n) for n in set(in_loop)) < 256
    # (a weighted sum adds left to right here, graph mode rounds once: equal to rounding)
    assert tape([[0.5, -1.0]]) == pytest.approx([model([Value(0.5), Value(-1.0)]).relu().data], rel=1e-12)


def test_tape_is_exported_from_microgrid() -> None:
    assert microgrid.Tape is Tape


# --- choosing a backend --------------------------------------------------------------------------


def test_a_deep_chain_runs_as_generated_python_and_a_layer_as_numpy() -> None:
    x = Value(1.0)
    y = x
    for _ in range(50):
        y = y * 1.01 + 0.01
    assert Tape(y, [x]).backend == "python"
    inputs = [Value(0.0) for _ in range(8)]
    layer_out = value_sum(MLP(8, [16, 16, 1], seed=0)(inputs) for _ in range(1))
    assert Tape(layer_out, inputs).backend == "numpy"
    with pytest.raises(ValueError, match="unknown backend 'gpu'; choose one of python, numpy"):
        Tape(y, [x], backend="gpu")


def test_a_200000_node_chain_compiles_and_replays() -> None:
    x = Value(1.0)
    y = x
    for _ in range(100_000):
        y = y * 1.0001 + 0.0001
    tape = Tape(y, [x])
    assert len(tape) == 200_000 and isinstance(tape._code, python_code.Chunked)
    assert tape([1.0]) == y.data
    tape.backward()
    assert tape.input_grads() == [pytest.approx(1.0001**100_000, rel=1e-12)]
    assert tape([0.5]) == pytest.approx(0.5 * 1.0001**100_000 + (y.data - 1.0001**100_000), rel=1e-9)


@pytest.mark.parametrize("chunked", [False, True])
def test_a_sum_of_thousands_of_terms_is_added_a_thousand_a_line(
    chunked: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if chunked:  # the packing of very large graphs, with chunks small enough to cut between the lines
        monkeypatch.setattr(python_code, "ONE_FUNCTION_LINES", 0)
        monkeypatch.setattr(python_code, "CHUNK_LINES", 200)
    # the straight-line writing of a wide sum (its 2,500 products would fuse: see the fused tests below)
    monkeypatch.setattr(python_fused, "FUSE_FROM", 10**9)
    w = [Value(0.001 * k) for k in range(2_500)]
    x = [Value(1.0 - 0.0005 * k) for k in range(2_500)]
    total = value_sum(a * b for a, b in zip(w, x))
    tape = Tape(total, [*w, *x], backend="python")
    assert isinstance(tape._code, python_code.Chunked) == chunked
    assert tape.source().count(" = sum((") == 3  # 1,000 + 1,000 + 500 terms
    point = [0.5 - 0.0003 * k for k in range(5_000)]
    assert tape(point) == pytest.approx(sum(a * b for a, b in zip(point[:2_500], point[2_500:])), rel=1e-12)
    tape.backward()
    assert tape.input_grads() == [*point[2_500:], *point[:2_500]]
    point[1_234] = point[3_734] = 1e200  # one term overflows: graph mode's error, naming its node
    with pytest.raises(
        OverflowError, match=r"\*\(1e\+200, 1e\+200\) overflows .* instruction \d+ of 2501 \(\*\)"
    ):
        tape(point)


# --- wide graphs: like instructions at one depth fused into one loop -----------------------------


def test_a_wide_sum_of_products_runs_as_one_loop_and_its_sum_reads_the_list() -> None:
    w = [Value(0.001 * k) for k in range(300)]
    x = [Value(1.0 - 0.002 * k) for k in range(300)]
    tape = Tape(value_sum(a * b for a, b in zip(w, x)), [*w, *x], backend="python")
    source = tape.source()
    assert "# f0: 300 x *" in source  # a comment names the group
    assert "f0 = [(a0 * a1) for a0, a1 in zip(X[0:300], X[300:600])]" in source
    assert "= sum(f0)" in source and source.count("\n") < 40  # not a line per instruction
    point = [0.5 - 0.001 * k for k in range(600)]
    assert tape(point) == sum(a * b for a, b in zip(point[:300], point[300:]))  # left to right
    tape.backward()
    assert tape.input_grads() == [*point[300:], *point[:300]]
    assert tape.checked_runs == 0


def wide_loss(x: list[Value], params: list[Value]) -> Value:
    """tanh of w_i * x_i + b_i for each input, times a shared scale, summed, less 1, squared."""
    n = len(x)
    w, b, scale = params[:n], params[n : 2 * n], params[-1]
    return (value_sum((wk * xk + bk).tanh() * scale for wk, xk, bk in zip(w, x, b)) - 1.0) ** 2


def test_a_fused_graph_gives_graph_modes_outputs_and_gradients_on_a_point_and_a_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(python_fused, "FUSE_FROM", 4)
    params = [Value(0.5 - 0.07 * k) for k in range(6)] + [Value(0.01 * k) for k in range(6)] + [Value(0.7)]
    x = [Value(0.0) for _ in range(6)]
    tape = Tape(wide_loss(x, params), x, backend="python")
    assert tape.source().count("# f") >= 8  # products, sums, tanh, scaling: each a loop, forward and back
    rows = [[0.2 * k - 0.5 for k in range(6)], [0.3 - 0.1 * k for k in range(6)]]
    losses, input_grads, param_grads = [], [], [0.0] * len(params)
    for row in rows:  # graph mode, a row at a time, the parameters' gradients added up
        inputs = [Value(number) for number in row]
        loss = wide_loss(inputs, params)
        loss.backward()
        losses.append(loss.data)
        input_grads.append([v.grad for v in inputs])
        param_grads = [g + p.grad for g, p in zip(param_grads, params)]
        for p in params:
            p.grad = 0.0
    assert tape(rows[0]) == pytest.approx(losses[0], rel=1e-12)
    tape.backward()
    assert tape.input_grads() == pytest.approx(input_grads[0], rel=1e-12)
    for p in params:
        p.grad = 0.0
    assert tape(rows) == pytest.approx(losses, rel=1e-12)
    tape.backward(reduce="sum")
    assert [p.grad for p in params] == pytest.approx(param_grads, rel=1e-12)
    for got, expected in zip(tape.input_grads(), input_grads):
        assert got == pytest.approx(expected, rel=1e-12)
    assert tape.checked_runs == 0  # the fused code ran, and agreed


def test_a_domain_error_or_overflow_inside_a_fused_group_raises_graph_modes_error_naming_the_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(python_fused, "FUSE_FROM", 4)
    x = [Value(1.0 + k) for k in range(5)]
    w = Value(2.0, "w")
    tape = Tape(
        value_sum((xk * w).log() for xk in x) + value_sum((xk * w).exp() for xk in x), x, backend="python"
    )
    assert "x log" in tape.source() and "x exp" in tape.source()  # both groups fused
    w.grad = 3.0
    with pytest.raises(
        ValueError, match=r"log\(-4.0\) is undefined: non-positive input .*instruction \d+ of \d+ \(log"
    ):
        tape([1.0, 2.0, -2.0, 4.0, 5.0])
    with pytest.raises(
        OverflowError, match=r"exp\(1000.0\) overflows a float .*instruction \d+ of \d+ \(exp"
    ):
        tape([[1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0, 500.0, 5.0]])
    with pytest.raises(RuntimeError):
        tape.backward(reduce="sum")  # the failed call left nothing to go back from
    assert w.grad == 3.0
    assert tape.checked_runs == 2


def test_a_guard_still_holds_in_a_fused_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(python_fused, "FUSE_FROM", 4)

    def clipped(*xs: Value) -> Value:
        total = value_sum(x * 2.0 for x in xs)
        return total if total < 10.0 else total * 0.0  # a branch: a guard

    tape = Tape.trace(clipped, [1.0, 1.0, 1.0, 1.0], backend="python")
    assert tape.guards == 1 and "# f0: 4 x *" in tape.source()
    assert tape([[1.0, 0.0, 0.0, 2.0], [0.5, 0.5, 0.5, 0.5]]) == [6.0, 4.0]
    with pytest.raises(GuardError, match=r"row 1 of the batch"):
        tape([[1.0, 0.0, 0.0, 2.0], [3.0, 3.0, 3.0, 3.0]])


# --- inputs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("point", "error", "message"),
    [
        ([1.0], ValueError, "the tape has 2 inputs, got 1 numbers"),
        ([1.0, "2"], TypeError, "input 1: Value expected a real number"),
        ([1.0, float("nan")], ValueError, "input 1: Value needs a finite number, got nan"),
        ([[1.0, 2.0], [3.0, math.inf]], ValueError, "row 1: input 1: Value needs a finite number, got inf"),
        ([[1.0, 2.0], [3.0]], ValueError, "row 1: the tape has 2 inputs, got 1 numbers"),
        (
            np.array([[1.0, 2.0], [np.nan, 0.0]]),
            ValueError,
            "row 1: input 0: Value needs a finite number, got nan",
        ),
        (np.array([1.0, 2.0, 3.0]), ValueError, "the tape has 2 inputs, got rows of 3 numbers"),
        ("12", TypeError, "a point or a batch must be a sequence of numbers, got str"),
    ],
)
def test_bad_points_are_refused_naming_the_row_and_input(point: object, error: type, message: str) -> None:
    x, y = Value(1.0), Value(2.0)
    tape = Tape(x * y, [x, y])
    with pytest.raises(error, match=message):
        tape(point)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_batch_of_lists_is_taken_as_it_is_meant_and_copied(backend: str) -> None:
    x, w = Value(1.0), Value(0.5)
    tape = Tape(w * x, [x], backend=backend)
    # huge numbers whose sum overflows, ints and floats mixed, a tuple among lists: all fine
    assert tape([[1e308], [1e308], [3], (0.5,)]) == [5e307, 5e307, 1.5, 0.25]
    rows = [[1.0], [2.0]]
    assert tape(rows) == [0.5, 1.0]
    rows[1][0] = 100.0  # the caller's list changes after the call: backward uses the numbers called with
    tape.backward(reduce="sum")
    assert w.grad == 3.0


def test_inputs_must_be_distinct_leaves_and_everything_values() -> None:
    x = Value(1.0)
    y = x * 2
    with pytest.raises(ValueError, match=r"inputs\[0\] is the result of '\*', not a leaf"):
        Tape(y * 3, [y])
    with pytest.raises(ValueError, match=r"inputs\[1\] is inputs\[0\] again"):
        Tape(y, [x, x])
    with pytest.raises(TypeError, match=r"a Tape needs Values: inputs\[0\] is float"):
        Tape(y, [1.0])  # type: ignore[list-item]


def test_a_micrograd_style_backward_closure_cannot_be_compiled() -> None:
    a, b = Value(2.0), Value(3.0)
    out = Value(a.data * b.data, (a, b), "*")

    def _backward() -> None:
        a.grad += b.data * out.grad
        b.grad += a.data * out.grad

    out._backward = _backward
    with pytest.raises(TypeError, match="micrograd-style _backward closure"):
        Tape(out, [a])


# --- a user's operations --------------------------------------------------------------------------


def a_new_operation(monkeypatch: pytest.MonkeyPatch, op: Operation) -> Callable[..., Value]:
    monkeypatch.setitem(OPERATIONS, op.name, op)
    return register_operation(op)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_users_registered_operation_replays_from_its_table_entry(
    monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    softsign = a_new_operation(
        monkeypatch,
        Operation(
            "softsign_t",
            lambda x: x / (1 + abs(x)),
            lambda out, x: ((1 - abs(out)) ** 2,),
            domain=(Domain(lambda x: x > -5.0, "below -5"),),
        ),
    )
    x, w = Value(2.0), Value(0.5)
    tape = Tape(softsign(w * x), [x], backend=backend)
    assert tape([[2.0], [-4.0]]) == [1.0 / 2.0, -2.0 / 3.0]
    tape.backward(reduce="sum")
    assert w.grad == pytest.approx(2.0 * (1 - 0.5) ** 2 + -4.0 * (1 - 2 / 3) ** 2, rel=1e-15)
    with pytest.raises(
        ValueError, match=r"softsign_t\(-6.0\) is undefined: below -5 \[in the tape: instruction 1"
    ):
        tape([-12.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_operation_written_with_the_math_module_is_called_as_it_is(
    monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    # math.exp cannot take a name: the tape calls the forward and rule on floats
    expish = a_new_operation(monkeypatch, Operation("expish", lambda x: math.exp(x), lambda out, x: (out,)))
    x = Value(0.0)
    tape = Tape(expish(x) * 2.0, [x], backend=backend)
    assert tape([[1.0], [0.0]]) == [2.0 * math.e, 2.0]
    tape.backward(reduce="sum")
    assert tape.input_grads() == [[2.0 * math.e], [2.0]]
    assert tape.checked_runs == 0


# --- the parameters as a vector (value_and_grad) ---------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_value_and_grad_is_a_call_and_backward_that_reads_and_changes_no_value(backend: str) -> None:
    (x0, x1), w0, w1, b = neuron()
    tape = Tape((w0 * x0 + w1 * x1 + b).tanh(), [x0, x1], backend=backend)
    order = tape.parameters  # the vector's order
    assert list(tape.parameters_to_vector()) == [p.data for p in order] and set(order) == {w0, w1, b}
    w0.grad = 7.0
    # at w = (0.5, -1), b = 0.25, x = (2, 1): a = 0.25, so d/dw = (1 - tanh(a)^2) x, d/db = 1 - tanh(a)^2
    at = {w0: 0.5, w1: -1.0, b: 0.25}
    slope = 1.0 - math.tanh(0.25) ** 2
    output, gradient = tape.value_and_grad([2.0, 1.0], [at[p] for p in order])
    assert output == pytest.approx(math.tanh(0.25), rel=1e-15)
    assert dict(zip(order, gradient)) == pytest.approx({w0: 2.0 * slope, w1: slope, b: slope}, rel=1e-15)
    assert isinstance(gradient, np.ndarray) == (backend == "numpy")
    assert (w0.data, w1.data, b.data, w0.grad, w1.grad, b.grad) == (-3.0, 2.0, 1.0, 7.0, 0.0, 0.0)
    outputs, summed = tape.value_and_grad([[2.0, 1.0], [0.0, 0.0]], [at[p] for p in order], reduce="sum")
    assert outputs == pytest.approx([math.tanh(0.25), math.tanh(0.25)], rel=1e-15)
    assert dict(zip(order, summed)) == pytest.approx({w0: 2.0 * slope, w1: slope, b: 2.0 * slope}, rel=1e-15)
    with pytest.raises(RuntimeError, match="call it on a point or a batch first"):
        tape.backward()  # value_and_grad is not a call that backward goes back from


@pytest.mark.parametrize("backend", BACKENDS)
def test_value_and_grad_gives_what_a_call_and_backward_add_on_a_network(backend: str) -> None:
    model = MLP(3, [4, 2], seed=1)
    tape = Tape.trace(lambda *v: microgrid.losses.cross_entropy(model(list(v[:3])), v[3]), [0.1, 0.2, 0.3, 1])
    rows = [[0.5, -1.0, 2.0, 0.0], [1.5, 0.25, -0.5, 1.0], [0.0, 0.0, 1.0, 1.0]]
    losses, gradient = tape.value_and_grad(rows, tape.parameters_to_vector(), reduce="mean")
    assert losses == tape(rows)
    tape.backward(reduce="mean")
    assert list(gradient) == pytest.approx([p.grad for p in tape.parameters], rel=1e-14)


@pytest.mark.parametrize(
    ("numbers", "error", "message"),
    [
        ([1.0, 2.0], ValueError, "the tape has 3 parameters, got 2 numbers"),
        ([1.0, math.nan, 2.0], ValueError, "parameter 1: Value needs a finite number, got nan"),
        (np.array([1.0, 2.0, math.inf]), ValueError, "parameter 2: Value needs a finite number, got inf"),
        ([1.0, "2", 3.0], TypeError, "parameter 1: Value expected a real number"),
        (3.0, TypeError, "the parameter numbers must be a sequence of numbers, got float"),
    ],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_parameter_numbers_are_refused_naming_the_number(
    backend: str, numbers: object, error: type, message: str
) -> None:
    (x0, x1), w0, w1, b = neuron()
    tape = Tape(w0 * x0 + w1 * x1 + b, [x0, x1], backend=backend)
    with pytest.raises(error, match=re.escape(message)):
        tape.value_and_grad([1.0, 1.0], numbers)
    with pytest.raises(error, match=re.escape(message)):
        tape.vector_to_parameters(numbers)
    assert (w0.data, w1.data, b.data) == (-3.0, 2.0, 1.0)  # all or nothing


@pytest.mark.parametrize("backend", BACKENDS)
def test_value_and_grad_raises_graph_modes_error_naming_the_node(backend: str) -> None:
    x, w = Value(2.0), Value(1.0, "w")
    tape = Tape((x * w).log(), [x], backend=backend)
    with pytest.raises(
        ValueError, match=r"log\(-2.0\) is undefined: non-positive input .*row 1 of the batch"
    ):
        tape.value_and_grad(
            [[-2.0], [2.0]], [-1.0] if backend == "python" else np.array([-1.0]), reduce="mean"
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_vector_to_parameters_sets_every_parameter_in_order(backend: str) -> None:
    (x0, x1), w0, w1, b = neuron()
    tape = Tape(w0 * x0 + w1 * x1 + b, [x0, x1], backend=backend)
    vector = tape.parameters_to_vector()
    vector[tape.parameters.index(w0)] = 4.0
    assert w0.data == -3.0  # the vector is a copy
    tape.vector_to_parameters(vector)
    assert (w0.data, w1.data, b.data) == (4.0, 2.0, 1.0)
    assert tape([1.0, 1.0]) == 7.0


def test_a_replay_with_a_large_layer_runs_blas_on_one_thread_and_puts_the_setting_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # an operation written with the math module is called per number during the replay: it
    # reads how many threads BLAS has then (numpy_code.BLAS_THREADS_FROM)
    from threadpoolctl import threadpool_info, threadpool_limits

    libraries = numpy_code._blas_libraries()
    assert libraries  # threadpoolctl found numpy's BLAS
    threads_seen: set[int] = set()

    def tanh_noting_threads(x: float) -> float:
        threads_seen.add(libraries[0].get_num_threads())
        return math.tanh(x)

    probe = a_new_operation(
        monkeypatch, Operation("blas_probe", tanh_noting_threads, lambda out, x: (1 - out * out,))
    )
    model = MLP(64, [64, 1], seed=0)
    tape = Tape.trace(lambda *v: probe(model(list(v))), [0.0] * 64)
    assert tape.backend == "numpy"
    rows = np.random.default_rng(0).normal(size=(300, 64))  # 64 x 64 x 300 multiply-adds: BLAS would thread
    threads_seen.clear()  # tracing ran the probe in graph mode, with BLAS as it was
    with threadpool_limits(limits=2, user_api="blas"):
        tape(rows)
        assert threads_seen == {1} and tape.checked_runs == 0
        assert {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"} == {2}
    assert tape(rows[:2]) == pytest.approx(
        [math.tanh(model(list(map(Value, row))).data) for row in rows[:2].tolist()], rel=1e-12
    )


# --- errors, as graph mode's -----------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_domain_error_in_a_replay_names_the_node_and_row_and_changes_no_grad(backend: str) -> None:
    x, w = Value(2.0), Value(1.0)
    tape = Tape((x * w).log(), [x], backend=backend)
    w.grad = 5.0
    with pytest.raises(
        ValueError, match=r"log\(-3.0\) is undefined: non-positive input .*row 1 of the batch"
    ):
        tape([[2.0], [-3.0]])
    with pytest.raises(RuntimeError):
        tape.backward(reduce="mean")  # the failed call left nothing to go back from
    assert w.grad == 5.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_overflow_in_a_replay_is_an_overflow_error_naming_the_operation(backend: str) -> None:
    x = Value(1.0)
    tape = Tape(x.exp().tanh(), [x], backend=backend)  # tanh would hide the inf: the tape must not
    with pytest.raises(OverflowError, match=r"exp\(1000.0\) overflows a float .*instruction 0 of 2 \(exp"):
        tape([1000.0])


@pytest.mark.parametrize("backend", [*BACKENDS, "python, cut into functions"])
def test_an_overflow_that_relu_would_hide_is_found_though_its_check_waits_for_the_row_end(
    monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    # the generated Python checks a row's values for inf and nan together, after the relus
    if backend.endswith("functions"):  # a check line then reads numbers made in other functions
        monkeypatch.setattr(python_code, "ONE_FUNCTION_LINES", 0)
        monkeypatch.setattr(python_code, "CHUNK_LINES", 7)
        backend = "python"
    x, w = Value(1.0), Value(1e300)
    hidden = [(w * x * float(k + 1)).relu() for k in range(40)]  # 40 checked values: two check lines
    tape = Tape(value_sum(hidden), [x], backend=backend)
    assert tape([[1.0], [-1.0]]) == pytest.approx([1e300 * 820.0, 0.0], rel=1e-12)
    with pytest.raises(OverflowError, match=r"overflows .*instruction"):
        tape([[1.0], [-1e10]])  # row 1: -inf, which relu makes 0


@pytest.mark.parametrize("backend", [*BACKENDS, "python, fused"])
def test_a_users_operation_never_sees_an_inf_that_a_check_still_to_come_would_find(
    monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    seen: list[object] = []

    def halved(x: float) -> float:  # float(x): not a formula, so the tape calls it, as it would
        seen.append(x)  # an operation that loops on inf (see the next test)
        return float(x) / 2.0

    if backend.endswith("fused"):  # the other operations run as groups, list comprehensions
        monkeypatch.setattr(python_fused, "FUSE_FROM", 2)
        backend = "python"
    half = a_new_operation(monkeypatch, Operation("half_t", halved, lambda out, x: (0.5,)))
    x, w = Value(1.0), Value(1e300)
    # w * x * k overflows to -inf, which the operation would be handed
    tape = Tape(value_sum([half(w * x * k + 1.0) for k in (1.0, 2.0)]), [x], backend=backend)
    seen.clear()
    tape([1.0])
    assert seen  # called as a function at each point
    seen.clear()
    with pytest.raises(OverflowError):
        tape([-1e10])
    assert all(math.isfinite(s) for s in seen if isinstance(s, float))


def test_an_operation_looping_on_its_number_is_called_as_a_function_not_traced_forever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def halve_until_small(x: float) -> float:  # on a name, x > 1 could be decided true forever
        while abs(x) > 1.0:
            x /= 2.0
        return x

    small = a_new_operation(monkeypatch, Operation("small_t", halve_until_small, lambda out, x: (0.0,)))
    x = Value(1.0)
    made: list[Tape] = []
    worker = threading.Thread(target=lambda: made.append(Tape(small(x * 8.0), [x])), daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert made, "making the tape did not end"
    assert made[0]([[3.0]]) == [0.75]


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_infinite_derivative_in_backward_raises_and_changes_no_grad(backend: str) -> None:
    x, w = Value(1.0), Value(1.0)
    tape = Tape((x * w).sqrt(), [x], backend=backend)
    tape([[4.0], [0.0]])
    w.grad = 2.0
    with pytest.raises(ZeroDivisionError, match=r"the derivative of sqrt\(0.0\) is infinite .*row 1"):
        tape.backward(reduce="sum")
    assert w.grad == 2.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_gradient_that_would_overflow_grad_is_refused_whole(backend: str) -> None:
    x, w, v = Value(1.0), Value(1.0, "w"), Value(1.0, "v")
    tape = Tape(x * w + x * v * 1e308, [x], backend=backend)
    w.grad, v.grad = 1.0, 1.7e308
    tape([1.0])
    with pytest.raises(
        OverflowError, match=r"gradient overflow: parameter \d \('v'\) has .grad 1.7e\+308, and adding"
    ):
        tape.backward()
    assert (w.grad, v.grad) == (1.0, 1.7e308)


# --- guards and baked values ------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_comparison_traced_is_a_guard_and_a_flipped_guard_raises(backend: str) -> None:
    def larger_doubled(a: Value, b: Value) -> Value:
        return max(a, b) * 2.0  # max compares a and b: a branch the graph cannot show

    tape = Tape.trace(larger_doubled, [3.0, 1.0], backend=backend)
    assert tape.guards == 1
    assert tape([[5.0, 2.0], [4.0, -1.0]]) == [10.0, 8.0]  # the same branch: fine
    with pytest.raises(GuardError, match=r"row 1 of the batch.*test_tape.py:\d+ \(in larger_doubled\)"):
        tape([[5.0, 2.0], [1.0, 4.0]])


def test_relu_abs_and_maximum_branch_inside_their_operation_and_need_no_guard() -> None:
    tape = Tape.trace(lambda a, b: a.relu() + abs(b) + a.maximum(b), [1.0, -2.0])
    assert tape.guards == 0
    assert tape([-1.0, 3.0]) == 0.0 + 3.0 + 3.0


def test_verify_catches_a_number_read_with_data_while_tracing() -> None:
    tape = Tape.trace(lambda x: x * x.data, [3.0])  # x.data is 3.0, frozen into the tape
    with pytest.raises(TapeMismatchError, match="baked into the tape"):
        tape.verify()
    honest = Tape.trace(lambda x: x * x, [3.0])
    assert honest.verify(samples=3)


def test_verify_needs_the_function_for_a_tape_made_from_a_graph() -> None:
    x = Value(2.0)
    tape = Tape(x * x, [x])
    with pytest.raises(ValueError, match="verify needs the function"):
        tape.verify()
    assert tape.verify(fn=lambda v: v * v)


# --- outputs beyond one loss --------------------------------------------------------------------------


def test_aux_values_come_back_beside_the_output() -> None:
    x, w = Value(1.0), Value(2.0)
    hidden = w * x
    tape = Tape(hidden * hidden, [x], aux=[hidden])
    assert tape([3.0]) == (36.0, [6.0])
    assert tape([[1.0], [2.0]]) == ([4.0, 16.0], [[2.0], [4.0]])


def test_a_tape_of_several_outputs_has_no_backward() -> None:
    model = MLP(2, [3, 2], seed=0)
    tape = Tape.trace(lambda a, b: model([a, b]), [0.5, 1.0])
    with microgrid.no_grad():
        expected = [z.data for z in model([0.5, 1.0])]
    assert tape([0.5, 1.0]) == pytest.approx(expected, rel=1e-15)
    with pytest.raises(ValueError, match="backward needs one output"):
        tape.backward()


def test_a_non_finite_number_in_a_numpy_batch_is_raised_naming_its_row_never_warned() -> None:
    x, w = Value(1.0), Value(2.0)
    tape = Tape((x * w).exp().tanh() + (x * w).log(), [x], backend="numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy RuntimeWarning would fail the test
        with pytest.raises(OverflowError, match=r"exp\(2000.0\) overflows a float .*row 2 of the batch"):
            tape(np.array([[1.0], [2.0], [1000.0]]))
        with pytest.raises(ValueError, match=r"log\(-2.0\) is undefined: .*row 1 of the batch"):
            tape(np.array([[1.0], [-1.0]]))


def test_without_numpy_the_tape_runs_generated_python() -> None:
    program = """
import sys
sys.modules["numpy"] = None  # as if numpy were not installed
from microgrid import MLP, Tape, data
from microgrid.losses import hinge
from microgrid.train import fit
model = MLP(2, [8, 8, 1], seed=0)
tape = Tape.trace(lambda a, b, y: hinge([model([a, b])], [y]), [0.5, -1.0, 1.0])
assert tape.backend == "python", tape.backend
assert tape([[0.5, -1.0, 1.0], [1.0, 1.0, -1.0]])
history = fit(model, data.moons(n=20, seed=0), loss="hinge", steps=2, progress=False, compile=True)
assert history.backend == "python", history.backend
try:
    Tape.trace(lambda a: a * 2, [1.0], backend="numpy")
except ImportError:
    print("numpy backend refused: ImportError")
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "numpy backend refused: ImportError" in done.stdout
