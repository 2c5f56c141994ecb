"""The engine's error policy and its switches, as an adversarial user finds them.

Bad values are refused where they enter, naming them; a failed pass changes
nothing; and Ctrl-C (a real KeyboardInterrupt, at random moments) leaves no
switch (``no_grad``, ``scope``, a comparison watcher) in a wrong state.
"""

from __future__ import annotations

import _thread
import math
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microgrid import MLP, SGD, Adam, Operation, Value, grad, gradients, no_grad, register_operation
from microgrid.engine import (
    is_grad_enabled,
    leaves_and_operations,
    scope,
    set_grad_enabled,
    topological_order,
    watching_comparisons,
)
from microgrid.losses import mse
from microgrid.ops import OPERATIONS

# --- constants and seeds: finite, or refused where they enter ---------------------------


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("x ** inf", lambda x: x**math.inf),
        ("2 ** -inf", lambda x: 2.0 ** (x * -math.inf)),
        ("1 ** nan", lambda x: 1.0 ** (x * math.nan)),
        ("leaky_relu(nan)", lambda x: x.leaky_relu(math.nan)),
        ("x + nan", lambda x: x + math.nan),
        ("x * inf", lambda x: x * math.inf),
        ("inf - x", lambda x: math.inf - x),
        ("x / nan", lambda x: x / math.nan),
        ("x.maximum(-inf)", lambda x: x.maximum(-math.inf)),
    ],
)
def test_a_non_finite_constant_is_refused_with_a_value_error_naming_it(
    name: str, make: Callable[[Value], Value]
) -> None:
    with pytest.raises(ValueError, match="needs a finite number, got (inf|-inf|nan)"):
        make(Value(2.0))


def test_a_non_finite_seed_is_named_as_the_seed() -> None:
    y = Value(2.0) * 3.0
    with pytest.raises(ValueError, match=r"the gradient \(seed\) of backward needs a finite number, got nan"):
        y.backward(math.nan)
    with pytest.raises(ValueError, match="the seed of gradients needs a finite number, got inf"):
        gradients(y, math.inf)


def test_grads_that_would_overflow_when_added_up_raise_and_change_nothing() -> None:
    x = Value(1e300)
    y = x * 1e8  # d y / d x = 1e8: finite, but twice added to 1.7e308 it is not
    x.grad = 1.7e308
    before = [n.grad for n in topological_order(y)]
    with pytest.raises(OverflowError, match=r"gradient overflow: .* no \.grad was changed"):
        y.backward(1e300)
    assert [n.grad for n in topological_order(y)] == before


def test_an_operation_nodes_grad_that_would_overflow_raises_and_changes_nothing() -> None:
    x = Value(2.0)
    h = x * 3.0
    y = h * 1e8  # d y / d h = 1e8 times the seed
    h.grad = 1.7e308  # an inner node's .grad, left from an earlier pass
    before = [n.grad for n in topological_order(y)]
    with pytest.raises(OverflowError, match=r"gradient overflow: \*\(2\.0, 3\.0\) has \.grad 1\.7e\+308"):
        y.backward(1e300)
    assert [n.grad for n in topological_order(y)] == before


def test_grads_whose_total_overflows_but_each_of_which_is_finite_are_added() -> None:
    a, b = Value(1.0), Value(2.0)
    a.grad = b.grad = 1e308  # their sum is inf; each .grad + gradient is not
    (a + b).backward()
    assert a.grad == b.grad == 1e308 + 1.0


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda y: grad(y, [3.0]), "grad's inputs needs a Value, got float: 3.0"),
        (lambda y: grad(y, "x"), "grad's inputs must be a Value or Values, got str"),
        (lambda y: grad(3.0, [y]), "grad needs a Value, got float: 3.0"),
        (lambda y: gradients(y, seed="a"), "the seed of gradients expected a real number"),
        (lambda y: gradients([y]), "gradients needs a Value, got list"),
        (lambda y: topological_order(None), "topological_order needs a Value, got NoneType"),
        (lambda y: leaves_and_operations(1.5), "leaves_and_operations needs a Value, got float: 1.5"),
    ],
)
def test_the_gradient_functions_refuse_what_is_not_a_value(call: Callable[[Value], Any], words: str) -> None:
    with pytest.raises(TypeError, match=words.replace("(", r"\(").replace(")", r"\)")):
        call(Value(2.0) * 3.0)


def test_an_operation_with_no_rule_names_itself_at_backward() -> None:
    x = Value(2.0)
    y = Value(4.0, (x,), "nope")  # micrograd's constructor, with no rule and no _backward
    with pytest.raises(LookupError, match=r"no rule for the operation 'nope' of nope\(2.0\): register one"):
        y.backward()
    assert x.grad == 0.0


@pytest.mark.parametrize(
    ("rule", "got"),
    [
        (lambda out, a, b: (b,), "1 derivatives"),
        (lambda out, a, b: b * 1.0, "a float"),
        (lambda out, a, b: (), "0 derivatives"),
        (lambda out, a, b: (b * 1j, a), "a derivative that is not a real number"),
    ],
)
def test_a_rule_that_gives_too_few_derivatives_is_named(
    monkeypatch: pytest.MonkeyPatch, rule: Any, got: str
) -> None:
    op = Operation("twice", lambda a, b: 2 * a * b, rule, arity=2)
    monkeypatch.setitem(OPERATIONS, op.name, op)
    twice = register_operation(op)
    a, b = Value(1.0), Value(3.0)
    with pytest.raises(TypeError, match=f"the rule of 'twice' returned {got} for twice"):
        twice(a, b).backward()
    assert (a.grad, b.grad) == (0.0, 0.0)


def test_registering_an_operation_under_a_taken_name_or_method_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="'exp' is a built-in operation; give yours another name"):
        register_operation(Operation("exp", math.exp, lambda out, x: (out,)))
    mine = Operation("my_exp", math.exp, lambda out, x: (out,), method="exp")
    monkeypatch.setitem(OPERATIONS, mine.name, mine)
    with pytest.raises(ValueError, match="Value already has 'exp'"):
        register_operation(mine)
    assert Value(1.0).exp().op == "exp"


def test_registering_your_operation_again_replaces_it_as_a_notebook_cell_run_twice_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def entry(slope: float) -> Operation:
        return Operation("ramp", lambda x: slope * x, lambda out, x: (slope,), method="ramp")

    monkeypatch.setattr(Value, "ramp", None, raising=False)
    monkeypatch.delattr(Value, "ramp")
    first = entry(2.0)
    monkeypatch.setitem(OPERATIONS, "ramp", first)
    register_operation(first)
    x = Value(3.0)
    made_before = x.ramp()  # type: ignore[attr-defined]
    ramp = register_operation(entry(5.0))  # the same cell, run again with the slip fixed
    try:
        assert (ramp(x).data, x.ramp().data) == (15.0, 15.0)  # type: ignore[attr-defined]
        assert grad(made_before, x)[0].data == 5.0  # an old node takes the new rule by its name
    finally:
        delattr(Value, "ramp")


def test_a_registered_operation_gets_its_method_and_first_and_second_derivatives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    op = Operation(
        "softsign",
        lambda x: x / (1 + abs(x)),
        lambda out, x: ((1 - abs(out)) ** 2,),
        method="softsign",
        doc="x / (1 + |x|)",
    )
    monkeypatch.setitem(OPERATIONS, op.name, op)
    monkeypatch.delattr(Value, "softsign", raising=False)
    softsign = register_operation(op)
    try:
        x = Value(0.5)
        assert softsign(x).data == Value(0.5).softsign().data == 1 / 3  # type: ignore[attr-defined]
        (first,) = grad(softsign(x), x, create_graph=True)
        (second,) = grad(first, x)
        assert first.data == pytest.approx(1 / 1.5**2) and second.data == pytest.approx(-2 / 1.5**3)
        assert "x / (1 + |x|)" in (Value.softsign.__doc__ or "")  # type: ignore[attr-defined]
    finally:
        delattr(Value, "softsign")


# --- no_grad, set_grad_enabled, a result made under no_grad ------------------------------


def test_backward_on_a_result_made_under_no_grad_raises_instead_of_giving_zeros() -> None:
    x = Value(2.0)
    with no_grad():
        loss = (x * 3.0).tanh()
    with pytest.raises(RuntimeError, match="computed under no_grad, so it has no graph"):
        loss.backward()
    with pytest.raises(RuntimeError, match="computed under no_grad"):
        grad(loss, x)
    Value(5.0).backward()  # a leaf you made is fine: its gradient is 1


def test_set_grad_enabled_works_as_a_call_a_block_and_a_decorator_like_pytorch() -> None:
    x = Value(2.0)
    set_grad_enabled(False)
    try:
        assert not is_grad_enabled() and (x * x).children == ()
        with set_grad_enabled(True):
            assert (x * x).children == (x, x)
        assert not is_grad_enabled()
    finally:
        set_grad_enabled(True)
    assert is_grad_enabled()

    @set_grad_enabled(False)
    def predict(v: Value) -> Value:
        return v * v

    assert is_grad_enabled() and predict(x).children == () and (x * x).children == (x, x)
    with pytest.raises(TypeError, match="set_grad_enabled takes True or False, got int: 1"):
        set_grad_enabled(1)  # type: ignore[arg-type]


# --- Ctrl-C: a real KeyboardInterrupt at a random moment changes no switch -----------------


def interrupted(loop: Callable[[], None], rng: random.Random, most: float) -> None:
    """Run ``loop`` (forever) until a real Ctrl-C, sent from another thread, stops it.

    Python prints and drops a KeyboardInterrupt that lands in a finalizer or a
    weakref callback, so a Ctrl-C can be lost (a full run once hung here): the
    sender presses again every half second until the loop has stopped, as a
    user would.
    """
    stopped = threading.Event()
    delay = rng.uniform(0.0, most)

    def press() -> None:
        time.sleep(delay)
        while True:
            _thread.interrupt_main()
            if stopped.wait(0.5):
                return

    sender = threading.Thread(target=press)
    try:
        sender.start()
        loop()
    except KeyboardInterrupt:
        stopped.set()
    finally:
        stopped.set()
        sender.join()


def settings_as_before() -> None:
    x = Value(1.0)
    y = x * 2.0
    assert is_grad_enabled() and y.children == (x,), "recording was left off"
    assert y.scope is None, "a scope was left behind"
    assert watching_comparisons(lambda *seen: None, lambda: x < 2.0) is True
    assert (x < 2.0) is True


def test_ctrl_c_in_a_tight_no_grad_loop_never_leaves_recording_off() -> None:
    def loop() -> None:
        while True:
            with no_grad():
                pass

    rng = random.Random(1)
    for _ in range(400):
        interrupted(loop, rng, 0.001)
        settings_as_before()


def test_ctrl_c_in_nested_scopes_set_grad_enabled_and_watchers_leaves_every_switch_as_it_was() -> None:
    def loop() -> None:
        x = Value(1.0)
        while True:
            with scope("outer"), no_grad():
                with set_grad_enabled(True), scope("inner"):
                    watching_comparisons(lambda *seen: None, lambda: x < 0.5 and x * 2.0)

    rng = random.Random(2)
    for _ in range(300):
        interrupted(loop, rng, 0.001)
        settings_as_before()


@pytest.mark.parametrize("optimizer", [SGD, Adam])
def test_ctrl_c_in_a_training_loop_leaves_recording_and_scope_as_they_were(optimizer: Any) -> None:
    model = MLP(2, [4, 1], seed=0)
    step = optimizer(model.parameters(), lr=0.01)
    xs = [[0.5, -1.0], [1.5, 0.25], [-0.5, 2.0]]

    def loop() -> None:
        while True:
            loss = mse([model(x) for x in xs], [1.0, -1.0, 0.5])
            step.zero_grad()
            loss.backward()
            step.step()

    rng = random.Random(3)
    for _ in range(60):
        interrupted(loop, rng, 0.02)
        settings_as_before()


# --- comparisons are shown to a watcher, and only to it ------------------------------------


@given(st.floats(-10, 10), st.floats(-10, 10))
def test_a_watcher_sees_each_comparison_of_a_value_with_its_result(a: float, b: float) -> None:
    seen: list[tuple[str, bool]] = []
    x, y = Value(a), Value(b)
    watching_comparisons(lambda value, op, other, result: seen.append((op, result)), lambda: (x < y, x >= b))
    assert seen == [("<", a < b), (">=", a >= b)]
    assert (x < y) == (a < b)  # no watcher outside the call
    assert seen == [("<", a < b), (">=", a >= b)]


# --- what the list above suggests, tried too ----------------------------------------------


def test_register_operation_takes_an_operation_entry() -> None:
    with pytest.raises(TypeError, match="register_operation takes an Operation, got str: 'cube'"):
        register_operation("cube")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="forward and rule must be functions"):
        Operation("cube", 3.0, lambda out, x: (3 * x * x,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="arity must be a positive int or None, got 0"):
        Operation("nothing", lambda: 0.0, lambda out: (), arity=0)


def test_a_rule_that_raises_leaves_every_grad_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_rule(out: float, x: float) -> tuple[float]:
        raise RuntimeError("a bug in my rule")

    op = Operation("buggy", lambda x: 2 * x, broken_rule)
    monkeypatch.setitem(OPERATIONS, op.name, op)
    buggy = register_operation(op)
    x = Value(3.0)
    y = buggy(x * x) + x
    nodes = topological_order(y)
    for i, node in enumerate(nodes):
        node.grad = float(i)
    with pytest.raises(RuntimeError, match="a bug in my rule"):
        y.backward()
    assert [n.grad for n in nodes] == [float(i) for i in range(len(nodes))]
    assert topological_order(y) == nodes  # nothing left marked: a new walk finds the whole graph


def test_a_graph_and_its_labels_survive_copy_and_pickle() -> None:
    import copy
    import pickle

    x = Value(0.5, label="x")
    y = (x * 3.0).tanh()
    y.label = "y"
    for twin in (copy.deepcopy(y), pickle.loads(pickle.dumps(y))):
        (product,) = twin.children
        (leaf,) = product.children
        assert (twin.data, twin.label, twin.op, product.const, leaf.data, leaf.label) == (
            y.data, "y", "tanh", (3.0,), 0.5, "x",
        )  # fmt: skip
        assert leaf is not x


@given(st.sampled_from([math.inf, -math.inf, math.nan]))
def test_numpy_and_python_non_finite_numbers_are_refused_alike(bad: float) -> None:
    import numpy as np

    x = Value(1.0)
    for number in (bad, np.float64(bad), np.float32(bad)):
        with pytest.raises(ValueError, match="finite"):
            x + number
        with pytest.raises(ValueError, match="finite"):
            Value(number)


def test_set_data_moves_many_parameters_all_or_nothing() -> None:
    from microgrid.engine import data_of, set_data

    params = [Value(1.0), Value(2.0), Value(3.0)]
    set_data(params, [0.5, -1, 2.5])
    assert data_of(params) == [0.5, -1.0, 2.5] and type(params[1].data) is float
    for bad, error in [([1.0, math.nan, 2.0], ValueError), ([1.0, "x", 2.0], TypeError), ([1.0], ValueError)]:
        with pytest.raises(error):
            set_data(params, bad)  # type: ignore[arg-type]
        assert data_of(params) == [0.5, -1.0, 2.5]
