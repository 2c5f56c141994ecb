"""The engine's specification: how Values, backward, grad and no_grad behave.

Each test shows the behaviour on small concrete numbers; hypothesis then shows
it for all. Derivatives of each operation against sympy and mpmath are in
test_engine_oracles.py.
"""

from __future__ import annotations

import _thread
import copy
import gc
import math
import pickle
import random
import sys
import threading
import weakref
from collections.abc import Callable

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from microgrid.engine import (
    Value,
    grad,
    is_grad_enabled,
    leaves_and_operations,
    no_grad,
    register_operation,
    topological_order,
    value_sum,
    weighted_sum,
)
from microgrid.ops import OPERATIONS, Operation

finite = st.floats(-100.0, 100.0)


# --- the chain rule through shared nodes, accumulation, intermediates -------------------


def test_fan_out_adds_the_gradients_of_every_path() -> None:
    a = Value(2.0)
    b = a + a  # a reaches b twice
    c = b * b  # and b reaches c twice: c = 4 a**2
    c.backward()
    assert a.grad == 16.0  # 8 a
    assert b.grad == 8.0  # 2 b


@given(finite)
def test_fan_out_gives_8a_for_c_equals_4a_squared(x: float) -> None:
    a = Value(x)
    b = a + a
    (b * b).backward()
    assert a.grad == pytest.approx(8.0 * x, rel=1e-12, abs=1e-300)


def test_a_node_used_twice_by_one_operation_counts_twice() -> None:
    x = Value(3.0)
    (x * x).backward()
    assert x.grad == 6.0


def test_backward_fills_intermediate_nodes_too() -> None:
    x = Value(3.0)
    y = x * x
    z = y.log()
    z.backward()
    assert z.grad == 1.0
    assert y.grad == pytest.approx(1 / 9)
    assert x.grad == pytest.approx(2 / 3)


def test_two_backward_calls_accumulate_like_pytorch() -> None:
    x = Value(3.0)
    y = x * x
    y.backward()
    y.backward()
    assert x.grad == 12.0  # 2 * 6
    assert y.grad == 2.0


def test_backward_with_a_gradient_scales_every_gradient() -> None:
    x = Value(3.0)
    y = x * x
    y.backward(0.5)
    assert x.grad == 3.0
    assert y.grad == 0.5


def test_backward_of_a_leaf_sets_its_own_gradient() -> None:
    x = Value(3.0)
    x.backward()
    assert x.grad == 1.0


# --- grad(): gradients without touching .grad, and higher orders -------------------------


def test_grad_returns_derivatives_and_touches_no_grad_attribute() -> None:
    x, y = Value(2.0), Value(5.0)
    out = x * y + x
    x.grad = 7.0  # whatever the user had stays
    dx, dy = grad(out, [x, y])
    assert (dx.data, dy.data) == (6.0, 2.0)
    assert all(node.grad == (7.0 if node is x else 0.0) for node in topological_order(out))


def test_grad_of_an_unrelated_input_is_zero() -> None:
    x, unrelated = Value(2.0), Value(5.0)
    (d,) = grad(x * x, [unrelated])
    assert d.data == 0.0


def test_grad_accepts_one_value_and_returns_a_list() -> None:
    x = Value(2.0)
    result = grad(x**3, x)
    assert isinstance(result, list) and result[0].data == 12.0


def test_grad_without_create_graph_returns_leaves() -> None:
    x = Value(2.0)
    (d,) = grad(x**3, x)
    assert d.children == () and d.op == ""


def test_grad_with_create_graph_gives_second_and_third_derivatives() -> None:
    x = Value(2.0)
    (d1,) = grad(x**4, x, create_graph=True)  # 4 x**3
    (d2,) = grad(d1, x, create_graph=True)  # 12 x**2
    (d3,) = grad(d2, x)  # 24 x
    assert (d1.data, d2.data, d3.data) == (32.0, 48.0, 48.0)


@settings(max_examples=30, deadline=None)
@given(st.floats(-3.0, 3.0), st.floats(-3.0, 3.0))
def test_hessian_by_grad_of_grad_matches_sympy(x0: float, y0: float) -> None:
    def f(x: Value, y: Value) -> Value:
        return x**3 * y + (x * y).sin() + (x - y).exp()

    x, y = sympy.symbols("x y", real=True)
    expected = sympy.hessian(x**3 * y + sympy.sin(x * y) + sympy.exp(x - y), (x, y))
    at = {x: sympy.Rational(x0), y: sympy.Rational(y0)}
    leaves = [Value(x0), Value(y0)]
    first = grad(f(*leaves), leaves, create_graph=True)
    hessian = [[d2.data for d2 in grad(d, leaves)] for d in first]
    for i in range(2):
        for j in range(2):
            exact = float(expected[i, j].evalf(30, subs=at))
            assert hessian[i][j] == pytest.approx(exact, rel=1e-9, abs=1e-12)


def test_grad_with_create_graph_does_not_touch_grad_either() -> None:
    x = Value(2.0)
    out = x**3
    grad(out, x, create_graph=True)
    assert x.grad == 0.0 and out.grad == 0.0


# --- no_grad ------------------------------------------------------------------------------


def test_no_grad_block_records_no_graph() -> None:
    x = Value(2.0)
    with no_grad():
        assert not is_grad_enabled()
        y = (x * 3.0).tanh()
    assert is_grad_enabled()
    assert y.children == () and y.op == ""
    assert y.data == pytest.approx(math.tanh(6.0))


def test_no_grad_as_decorator() -> None:
    @no_grad()
    def predict(x: Value) -> Value:
        return x * x

    x = Value(2.0)
    assert predict(x).children == ()
    assert (x * x).children == (x, x)


def test_no_grad_nests_and_restores_after_an_exception() -> None:
    with no_grad():
        with no_grad():
            assert not is_grad_enabled()
        assert not is_grad_enabled()  # still inside the outer block
    assert is_grad_enabled()
    with pytest.raises(RuntimeError), no_grad():
        raise RuntimeError("boom")
    assert is_grad_enabled()


def test_no_grad_is_per_thread() -> None:
    inside, checked = threading.Event(), threading.Event()

    def pause() -> None:
        with no_grad():
            inside.set()
            checked.wait(timeout=10)

    other = threading.Thread(target=pause)
    other.start()
    try:
        assert inside.wait(timeout=10)
        x = Value(2.0)
        assert is_grad_enabled()
        assert (x * x).children == (x, x)  # this thread still records
    finally:
        checked.set()
        other.join()


# --- construction and conversions --------------------------------------------------------


@pytest.mark.parametrize(
    "number", [3, 2.5, True, np.float64(1.5), np.float32(0.5), np.int64(-4), np.bool_(True)], ids=repr
)
def test_value_accepts_real_numbers_including_numpy_scalars(number: object) -> None:
    v = Value(number)
    assert type(v.data) is float and v.data == float(number)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bad", "type_name"), [("1.0", "str"), (None, "NoneType"), (1 + 2j, "complex"), ([1.0], "list")]
)
def test_value_rejects_non_real_input_with_a_type_error_naming_the_type(bad: object, type_name: str) -> None:
    with pytest.raises(TypeError, match=type_name):
        Value(bad)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_value_rejects_inf_and_nan(bad: float) -> None:
    with pytest.raises(ValueError, match=repr(bad)):
        Value(bad)


def test_value_rejects_an_int_too_large_for_a_float() -> None:
    with pytest.raises(OverflowError, match="too large"):
        Value(10**400)


def test_float_of_a_value_is_its_data() -> None:
    assert float(Value(2.5)) == 2.5


def test_comparisons_compare_data_and_return_bool() -> None:
    a, b = Value(1.0), Value(2.0)
    results = [a < b, a <= b, b > a, b >= a, a < 1.5, b > 1]
    assert results == [True] * 6
    assert all(type(r) is bool for r in results)
    assert not (b < a)


def test_equality_and_hash_are_by_identity() -> None:
    a, b = Value(1.0), Value(1.0)
    assert a == a and a != b
    assert len({a, b}) == 2
    assert {a: "a", b: "b"}[b] == "b"


@pytest.mark.parametrize("duplicate", [copy.copy, copy.deepcopy, lambda v: pickle.loads(pickle.dumps(v))])
def test_copies_and_pickles_keep_data_grad_label_operands_and_constants(
    duplicate: Callable[[Value], Value],
) -> None:
    a = Value(2.0, label="a")
    out = (a * 3.0).tanh()
    out.label, out.grad = "out", 0.5
    twin = duplicate(out)
    assert (twin.data, twin.grad, twin.label, twin.op) == (out.data, 0.5, "out", "tanh")
    (product,) = twin.children
    (leaf,) = product.children
    assert (product.op, product.const, leaf.data, leaf.label) == ("*", (3.0,), 2.0, "a")


def test_children_are_the_operands_in_order() -> None:
    a, b = Value(1.0), Value(2.0)
    assert (a - b).children == (a, b)
    assert (b - a).children == (b, a)
    assert value_sum([b, a, b]).children == (b, a, b)


ALL_OPS: list[tuple[str, Callable[[Value, Value], Value], str, tuple[float, ...]]] = [
    ("a + b", lambda a, b: a + b, "+", ()),
    ("a + 3", lambda a, b: a + 3, "+", (3.0,)),
    ("a - b", lambda a, b: a - b, "-", ()),
    ("a * b", lambda a, b: a * b, "*", ()),
    ("a / b", lambda a, b: a / b, "/", ()),
    ("-a", lambda a, b: -a, "neg", ()),
    ("a ** 3", lambda a, b: a**3, "**", (3.0,)),
    ("a ** b", lambda a, b: a**b, "pow", ()),
    ("2 ** a", lambda a, b: 2**a, "rpow", (2.0,)),
    ("1 - a", lambda a, b: 1 - a, "rsub", (1.0,)),
    ("2 / a", lambda a, b: 2 / a, "rdiv", (2.0,)),
    ("5 % a", lambda a, b: 5 % a, "rmod", (5.0,)),
    ("a % b", lambda a, b: a % b, "%", ()),
    ("exp", lambda a, b: a.exp(), "exp", ()),
    ("log", lambda a, b: a.log(), "log", ()),
    ("sqrt", lambda a, b: a.sqrt(), "sqrt", ()),
    ("tanh", lambda a, b: a.tanh(), "tanh", ()),
    ("sigmoid", lambda a, b: a.sigmoid(), "sigmoid", ()),
    ("softplus", lambda a, b: a.softplus(), "softplus", ()),
    ("relu", lambda a, b: a.relu(), "relu", ()),
    ("leaky_relu", lambda a, b: a.leaky_relu(0.2), "leaky_relu", (0.2,)),
    ("abs", lambda a, b: abs(a), "abs", ()),
    ("sin", lambda a, b: a.sin(), "sin", ()),
    ("cos", lambda a, b: a.cos(), "cos", ()),
    ("value_sum", lambda a, b: value_sum([a, b]), "sum", ()),
    ("weighted_sum", lambda a, b: weighted_sum([a], [b], 1.0), "weighted_sum", ()),
]


@pytest.mark.parametrize(("name", "make", "op", "const"), ALL_OPS, ids=[t[0] for t in ALL_OPS])
def test_each_operation_names_itself_in_op_and_keeps_its_constants(
    name: str, make: Callable[[Value, Value], Value], op: str, const: tuple[float, ...]
) -> None:
    out = make(Value(2.0), Value(3.0))
    assert (out.op, out.const) == (op, const)
    assert Value(2.0).op == ""


# --- the error policy: raised where the bad value enters, naming op and value -------------


def overflow_in_the_gradient() -> None:
    x = Value(1e-300)
    y = (x * 1.0).log() * 1e10  # d y / d (x * 1.0) = 1e10 / 1e-300: no float holds it
    y.backward()


FORWARD_ERRORS = [
    ("log(0)", lambda: Value(0.0).log(), ValueError, ["log", "0.0"]),
    ("log(-1)", lambda: Value(-1.0).log(), ValueError, ["log", "-1.0"]),
    ("sqrt(-1)", lambda: Value(-1.0).sqrt(), ValueError, ["sqrt", "-1.0"]),
    ("x / 0", lambda: Value(1.0) / 0, ZeroDivisionError, ["division", "1.0", "0.0"]),
    ("x / Value(0)", lambda: Value(1.0) / Value(0.0), ZeroDivisionError, ["division", "1.0", "0.0"]),
    ("0 ** -1", lambda: Value(0.0) ** -1, ZeroDivisionError, ["**(0.0, -1.0)", "zero to a negative power"]),
    ("(-2) ** 0.5", lambda: Value(-2.0) ** 0.5, ValueError, ["**(-2.0, 0.5)", "non-integer power"]),
    ("(-2) ** Value", lambda: Value(-2.0) ** Value(2.0), ValueError, ["pow(-2.0, 2.0)", "positive base"]),
    ("0 ** Value(-1)", lambda: Value(0.0) ** Value(-1.0), ValueError, ["pow(0.0, -1.0)", "positive base"]),
    ("(-2) ** x", lambda: (-2.0) ** Value(0.5), ValueError, ["rpow(0.5, -2.0)", "positive base"]),
    ("2 / Value(0)", lambda: 2 / Value(0.0), ZeroDivisionError, ["rdiv(0.0, 2.0)", "division by zero"]),
    ("exp(1000)", lambda: Value(1000.0).exp(), OverflowError, ["exp(1000.0)", "overflow"]),
    ("1e200 * 1e200", lambda: Value(1e200) * Value(1e200), OverflowError, ["*(1e+200, 1e+200)", "overflow"]),
    ("1e200 * 1e200 (number)", lambda: Value(1e200) * 1e200, OverflowError, ["1e+200, 1e+200", "overflow"]),
    ("10 ** 400", lambda: Value(10.0) ** 400, OverflowError, ["**(10.0, 400.0)", "overflow"]),
]


@pytest.mark.parametrize(
    ("name", "fail", "error", "words"), FORWARD_ERRORS, ids=[case[0] for case in FORWARD_ERRORS]
)
def test_each_bad_operation_raises_an_error_naming_the_operation_and_value(
    name: str, fail: Callable[[], object], error: type[Exception], words: list[str]
) -> None:
    with pytest.raises(error) as raised:
        fail()
    for word in words:
        assert word in str(raised.value)


def backward_of(make: Callable[[Value], Value], x: float) -> Callable[[list[Value]], None]:
    def run(nodes: list[Value]) -> None:
        leaf = Value(x)
        out = make(leaf)
        nodes += topological_order(out)
        for i, node in enumerate(nodes):
            node.grad = float(i)  # whatever the user had
        out.backward()

    return run


BACKWARD_ERRORS = [
    (
        "sqrt at 0: infinite derivative",
        backward_of(Value.sqrt, 0.0),
        ZeroDivisionError,
        ["sqrt(0.0)", "infinite"],
    ),
    (
        "x ** 0.5 at 0: infinite derivative",
        backward_of(lambda x: x**0.5, 0.0),
        ZeroDivisionError,
        ["**(0.0, 0.5)", "infinite"],
    ),
    (
        "gradient overflow",
        backward_of(lambda x: (x * 1.0).log() * 1e10, 1e-300),
        OverflowError,
        ["gradient overflow", "*(1e-300, 1.0)"],
    ),
    (
        "gradient overflow inside the Value-power rule",
        backward_of(lambda x: x ** Value(-1.0), 1e-200),  # d/dx = -x**-2 = -1e400
        OverflowError,
        ["pow(1e-200, -1.0)"],
    ),
    (
        "gradient overflow inside a power rule",
        backward_of(lambda x: x**-1.0, 1e-200),  # d/dx = -x**-2 = -1e400
        OverflowError,
        ["**(1e-200, -1.0)"],
    ),
]


@pytest.mark.parametrize(
    ("name", "run", "error", "words"), BACKWARD_ERRORS, ids=[case[0] for case in BACKWARD_ERRORS]
)
def test_a_failed_backward_names_the_node_and_changes_no_grad(
    name: str, run: Callable[[list[Value]], None], error: type[Exception], words: list[str]
) -> None:
    nodes: list[Value] = []
    with pytest.raises(error) as raised:
        run(nodes)
    for word in words:
        assert word in str(raised.value)
    assert [node.grad for node in nodes] == [float(i) for i in range(len(nodes))]


def test_an_overflowing_recorded_gradient_raises_overflow_error() -> None:
    x = Value(1e-300)
    with pytest.raises(OverflowError, match="overflow"):
        grad((x * 1.0).log() * 1e10, x, create_graph=True)


@pytest.mark.parametrize(
    ("k", "order"),
    [(1, 1), (2, 2), (3, 3), (0, 1), (1, 2), (2, 3), (3, 4)],
    ids=lambda n: str(n),
)
def test_integer_powers_have_every_derivative_at_zero(k: int, order: int) -> None:
    # d^n/dx^n x**k at 0 is k! when n == k, else 0: finite, like torch (which gives 0 for x**0)
    x = Value(0.0)
    derivative = x**k
    for _ in range(order):
        (derivative,) = grad(derivative, x, create_graph=True)
    assert derivative.data == (math.factorial(k) if order == k else 0.0)


# --- numerical stability -------------------------------------------------------------------


@pytest.mark.parametrize("x", [-1000.0, 1000.0])
@pytest.mark.parametrize(
    ("name", "f", "value", "slope"),
    [
        ("tanh", Value.tanh, math.tanh, lambda x: 0.0),
        ("sigmoid", Value.sigmoid, lambda x: 1.0 if x > 0 else 0.0, lambda x: 0.0),
        ("softplus", Value.softplus, lambda x: max(x, 0.0), lambda x: 1.0 if x > 0 else 0.0),
    ],
)
def test_saturating_functions_are_finite_and_exact_at_plus_minus_1000(
    name: str,
    f: Callable[[Value], Value],
    value: Callable[[float], float],
    slope: Callable[[float], float],
    x: float,
) -> None:
    v = Value(x)
    out = f(v)
    out.backward()
    assert out.data == value(x)  # exact in float: e**-1000 is far below an ulp
    assert v.grad == slope(x)


# --- the backward pass itself: its order, threads, interruptions, operations of any shape ----


def test_topological_order_lists_the_leaves_then_each_operation_after_its_operands() -> None:
    a, b = Value(1.0, label="a"), Value(2.0, label="b")
    shared = a * b
    out = (shared + a).tanh() * shared
    order = topological_order(out)
    assert len(order) == len(set(order)) == 6 and order[-1] is out
    assert set(order[:2]) == {a, b}  # the leaves, then the operations
    for position, node in enumerate(order):
        assert all(order.index(child) < position for child in node.children)
    leaves, operations = leaves_and_operations(out)  # the same order, in its two parts
    assert leaves + operations == order and set(leaves) == {a, b}


def _shared_weights_and_two_losses(size: int) -> tuple[list[Value], Value, Value]:
    weights = [Value(0.001 * i) for i in range(size)]
    first = value_sum(w * w for w in weights)  # d/dw = 2w
    second = value_sum(w * 3.0 for w in weights)  # d/dw = 3
    return weights, first, second


def test_backward_passes_in_two_threads_over_shared_weights_both_count() -> None:
    weights, first, second = _shared_weights_and_two_losses(2_000)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, mid-pass
    try:
        threads = [
            threading.Thread(target=lambda loss=loss: [loss.backward() for _ in range(20)])
            for loss in (first, second)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert [w.grad for w in weights] == pytest.approx([20 * (2 * w.data + 3.0) for w in weights])


def a_new_operation(monkeypatch: pytest.MonkeyPatch, op: Operation) -> Callable[..., Value]:
    """Register op for this test only; returns the function that applies it."""
    monkeypatch.setitem(OPERATIONS, op.name, op)
    return register_operation(op)


def test_a_backward_pass_inside_a_derivative_rule_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def meddling_rule(out: float, x: float) -> tuple[float]:
        inner.backward()
        return (1.0,)

    meddle = a_new_operation(monkeypatch, Operation("meddle", lambda x: x, meddling_rule))
    x = Value(2.0)
    inner = x * x
    with pytest.raises(RuntimeError, match="cannot run inside another"):
        meddle(x).backward()
    assert x.grad == 0.0
    inner.backward()  # the graph and the engine are as they were
    assert x.grad == 4.0


@pytest.fixture(scope="module")
def big_sum_of_products() -> tuple[list[Value], list[Value], Value]:
    ws = [Value(0.001 * (i % 97)) for i in range(30_000)]
    xs = [Value(0.002 * (i % 89) - 0.05) for i in range(30_000)]
    return ws, xs, sum((w * x for w, x in zip(ws, xs)), Value(0.0))


@pytest.mark.parametrize("delay", [0.001 * k for k in (1, 3, 6, 10, 15, 20, 25, 30, 35, 40, 50, 60)])
def test_a_backward_interrupted_by_ctrl_c_leaves_the_graph_ready_for_the_next(
    delay: float, big_sum_of_products: tuple[list[Value], list[Value], Value]
) -> None:
    # Ctrl-C (a real KeyboardInterrupt, from another thread) lands somewhere in
    # the walk, the chain rule or the bookkeeping: the walk marks nodes in place,
    # and no mark it leaves behind may mislead the next pass.
    ws, xs, total = big_sum_of_products
    ctrl_c = threading.Timer(delay, _thread.interrupt_main)
    try:
        ctrl_c.start()
        total.backward()
        ctrl_c.join()  # when backward was faster, the interrupt lands here
    except KeyboardInterrupt:
        ctrl_c.join()
    for node in topological_order(total):
        node.grad = 0.0
    total.backward()
    assert [w.grad for w in ws] == [x.data for x in xs]
    assert [x.grad for x in xs] == [w.data for w in ws]


def test_a_node_without_children_is_a_leaf_whatever_its_op() -> None:
    x = Value(2.0)
    constant = Value(5.0, (), "const")  # no rule needed: nothing to differentiate through
    named = Value(3.0)
    named.op, named.scope = "input", "layer 0"
    (x * constant * named).backward()
    assert (x.grad, constant.grad, named.grad) == (15.0, 6.0, 10.0)
    assert (named.children, named.scope) == ((), "layer 0")


def test_gradients_keep_the_sign_of_zero() -> None:
    x = Value(2.0)
    assert math.copysign(1.0, grad(-(x * 0.0), x)[0].data) == -1.0  # like torch: -0.0


def test_ctrl_c_at_any_moment_never_leaves_backward_locked_or_refused() -> None:
    # Backward in a loop, Ctrl-C at a random moment, the exception kept alive (as
    # a REPL keeps sys.last_value): the next backward must run, from this thread
    # and from another one.
    x = Value(2.0)
    y = (x * x).tanh() + x
    rng = random.Random(7)
    for _ in range(300):
        kept: BaseException | None = None
        ctrl_c = threading.Timer(rng.uniform(0.0, 0.002), _thread.interrupt_main)
        try:
            ctrl_c.start()
            while True:
                y.backward()
        except KeyboardInterrupt as interrupt:
            kept = interrupt
        ctrl_c.join()
        elsewhere = threading.Thread(target=y.backward)
        elsewhere.start()
        elsewhere.join(timeout=10)
        assert not elsewhere.is_alive(), "backward waits for a lock nobody will release"
        y.backward()
        del kept


def test_operations_of_any_shape_keep_their_operands_and_differentiate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # lerp(a, b, t) = a + t (b - a): two children and a constant
    lerp_of = a_new_operation(
        monkeypatch, Operation("lerp", lambda a, b, t: a + t * (b - a), lambda out, a, b, t: (1 - t, t), 3, 1)
    )
    affine_of = a_new_operation(  # k x + c: two constants
        monkeypatch, Operation("affine", lambda x, k, c: k * x + c, lambda out, x, k, c: (k,), 3, 2)
    )
    product3 = a_new_operation(
        monkeypatch,
        Operation("product3", lambda x, y, z: x * y * z, lambda out, x, y, z: (y * z, x * z, x * y), 3),
    )
    a, b, c = Value(2.0), Value(5.0), Value(-1.0)
    lerp, affine, product = lerp_of(a, b, 0.25), affine_of(a, 3, 1.0), product3(a, b, c)
    assert (lerp.data, affine.data, product.data) == (2.75, 7.0, -10.0)
    assert (lerp.children, lerp.const) == ((a, b), (0.25,))
    assert (affine.children, affine.const) == ((a,), (3.0, 1.0))
    assert (product.children, product.const) == ((a, b, c), ())
    assert [d.data for d in grad(lerp + affine + product, [a, b, c])] == [0.75 + 3 - 5.0, 0.25 - 2.0, 10.0]
    (d2,) = grad(grad(product * a, a, create_graph=True)[0], a)  # d2/da2 of a^2 b c = 2 b c
    assert d2.data == -10.0


# --- deep graphs and memory -------------------------------------------------------------


def test_a_chain_of_a_million_operations_backpropagates_at_the_default_recursion_limit() -> None:
    assert sys.getrecursionlimit() == 1000  # Python's default: no raising it behind our back
    x = Value(1.0)
    y = x
    for _ in range(1_000_000):
        y = y + x  # depth one million; x fans out to every step
    y.backward()
    assert y.data == 1_000_001.0
    assert x.grad == 1_000_001.0


def test_a_dropped_graph_is_freed_by_reference_counting_alone() -> None:
    gc.disable()  # no cycle collector: only reference counting may free it
    try:
        x = Value(2.0)
        hidden = (x * 3.0).tanh()
        out = hidden * hidden + x
        out.backward()
        (d,) = grad(out, x, create_graph=True)
        refs = [weakref.ref(node) for node in topological_order(out) + topological_order(d) if node is not x]
        del hidden, out, d
        assert all(ref() is None for ref in refs)
    finally:
        gc.enable()


def test_a_new_operation_is_a_rule_and_an_operation_node(monkeypatch: pytest.MonkeyPatch) -> None:
    cube = a_new_operation(monkeypatch, Operation("cube", lambda x: x**3, lambda out, x: (3 * x * x,)))
    x = Value(2.0)
    y = cube(x)
    assert (y.data, y.children, y.op) == (8.0, (x,), "cube")
    y.backward()
    assert x.grad == 12.0
    (second,) = grad(grad(cube(x), x, create_graph=True)[0], x)
    assert second.data == 12.0  # 6x, from the same rule evaluated on Values
    with no_grad():
        assert cube(x).children == ()
