"""Code people write from micrograd runs on microgrid with only the import changed.

Each habit below is copied in spirit from where people learn it: micrograd's
README and demo notebook, its trace_graph notebook, and the lecture that
builds it ("The spelled-out intro to neural networks and backpropagation").
Each is written once, against a library passed in (micrograd's ``engine``
and ``nn`` modules, or microgrid's), so the only difference between the two
runs is the import. Where micrograd itself runs the code, it is the oracle:
the same seed gives the same weights, so the numbers must agree (to rounding:
microgrid sums a neuron's terms in one node). The lecture's own Value has
``tanh``, which micrograd's package lacks; there the oracle is the lecture's
printed numbers and finite differences of the forward pass.

The last section holds the habits of EurekaLabs' micrograd (an optimizer that
keeps its moments on the parameters, a drawing that colours nodes with
``setattr``), micrograd's own way of writing an operation (``Value(data,
children, op)`` with a ``_backward`` closure) and what people do with a scalar.
One habit is refused on purpose: a Value takes no attributes of its own (a
``__dict__`` in every node cost graph mode 18% on a wide graph), so the
optimizer and the drawing keep theirs in dicts keyed by the Value, which
runs unchanged on micrograd too.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import graphviz
import micrograd.engine
import micrograd.nn
import numpy as np
import pytest

import microgrid.engine
import microgrid.nn
from microgrid import data, topological_order

MICROGRAD = SimpleNamespace(Value=micrograd.engine.Value, nn=micrograd.nn)
MICROGRID = SimpleNamespace(Value=microgrid.engine.Value, nn=microgrid.nn)


def on_both(habit: Callable[[Any], Any]) -> tuple[Any, Any]:
    """(micrograd's result, microgrid's result) of the same code."""
    return habit(MICROGRAD), habit(MICROGRID)


# --- micrograd's README ---


def readme_example(lib: Any) -> tuple[float, float, float]:
    Value = lib.Value
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    return g.data, a.grad, b.grad


def test_the_readme_example_gives_the_readmes_numbers() -> None:
    theirs, ours = on_both(readme_example)
    assert [f"{x:.4f}" for x in ours] == ["24.7041", "138.8338", "645.5773"]  # as the README prints
    assert ours == pytest.approx(theirs, rel=1e-12)


# --- micrograd's demo notebook, with numpy as it is written ---


def demo_notebook(lib: Any) -> dict[str, Any]:
    Value, MLP = lib.Value, lib.nn.MLP
    np.random.seed(1337)
    random.seed(1337)
    moons = data.moons(n=40, noise=0.1, seed=1)  # the notebook: sklearn's make_moons(n_samples=100, ...)
    X, y = np.array(moons.X), np.array(moons.y)
    y = y * 2 - 1  # make y be -1 or 1

    model = MLP(2, [16, 16, 1])  # 2-layer neural network
    printed = str(model)
    n_parameters = len(model.parameters())

    def loss(batch_size: int | None = None) -> tuple[Any, float]:
        if batch_size is None:
            Xb, yb = X, y
        else:
            ri = np.random.permutation(X.shape[0])[:batch_size]
            Xb, yb = X[ri], y[ri]
        inputs = [list(map(Value, xrow)) for xrow in Xb]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(yb, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        alpha = 1e-4
        reg_loss = alpha * sum(p * p for p in model.parameters())
        total_loss = data_loss + reg_loss
        accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(yb, scores)]
        return total_loss, sum(accuracy) / len(accuracy)

    history = []
    for k, batch_size in enumerate([None, 16]):  # the notebook: 100 full-batch steps
        total_loss, acc = loss(batch_size)
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        history.append((total_loss.data, acc))

    # visualize decision boundary, as the notebook does before plotting
    h = 0.5  # the notebook: 0.25
    x_min, x_max = X[:, 0].min() - 1, X[:, 0].max() + 1
    y_min, y_max = X[:, 1].min() - 1, X[:, 1].max() + 1
    xx, yy = np.meshgrid(np.arange(x_min, x_max, h), np.arange(y_min, y_max, h))
    Xmesh = np.c_[xx.ravel(), yy.ravel()]
    inputs = [list(map(Value, xrow)) for xrow in Xmesh]
    scores = list(map(model, inputs))
    Z = np.array([s.data > 0 for s in scores]).reshape(xx.shape)
    return {"printed": printed, "n_parameters": n_parameters, "history": history, "Z": Z}


def test_the_demo_notebook_trains_exactly_as_micrograd_and_draws_the_same_boundary() -> None:
    theirs, ours = on_both(demo_notebook)
    assert ours["n_parameters"] == theirs["n_parameters"] == 337
    assert [loss for loss, _ in ours["history"]] == pytest.approx(
        [loss for loss, _ in theirs["history"]], rel=1e-9
    )
    assert [acc for _, acc in ours["history"]] == [acc for _, acc in theirs["history"]]
    assert (ours["Z"] == theirs["Z"]).all()
    # print(model) is short here (micrograd prints all 33 neurons on one line)
    assert len(ours["printed"].splitlines()) == 4 and len(ours["printed"]) < 300


# --- the lecture: its MLP(3, [4, 4, 1]) training loop ---

LECTURE_XS = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
LECTURE_YS = [1.0, -1.0, -1.0, 1.0]  # desired targets


def lecture_loop(lib: Any, zero_grad_by_hand: bool) -> list[float]:
    random.seed(0)
    n = lib.nn.MLP(3, [4, 4, 1])
    losses = []
    for _ in range(20):
        # forward pass
        ypred = [n(x) for x in LECTURE_XS]
        loss = sum((yout - ygt) ** 2 for ygt, yout in zip(LECTURE_YS, ypred))
        # backward pass
        if zero_grad_by_hand:
            for p in n.parameters():
                p.grad = 0.0
        else:
            n.zero_grad()
        loss.backward()
        # update
        for p in n.parameters():
            p.data += -0.01 * p.grad
        losses.append(loss.data)
    return losses


@pytest.mark.parametrize("zero_grad_by_hand", [True, False], ids=["p.grad = 0.0", "n.zero_grad()"])
def test_the_lectures_training_loop_runs_and_learns_as_with_micrograd(zero_grad_by_hand: bool) -> None:
    theirs, ours = on_both(lambda lib: lecture_loop(lib, zero_grad_by_hand))
    assert ours == pytest.approx(theirs, rel=1e-9)
    assert ours[-1] < ours[0] / 2


def test_a_network_reads_like_the_lectures() -> None:
    n = microgrid.nn.MLP(3, [4, 4, 1])
    assert len(n.parameters()) == 41
    assert isinstance(n([2.0, 3.0, -1.0]), microgrid.engine.Value)  # one output: a Value, not a list
    assert len(n.layers[0].neurons) == 4 and len(n.layers[0].neurons[0].w) == 3
    n.layers[0].neurons[0].w[0].data = 0.5  # reaching in by index, as the lecture does
    assert n.parameters()[0].data == 0.5


# --- the lecture: a network written by hand on Value (nn.Module-style) ---


def lecture_classes(Value: type) -> type:
    """The lecture's Neuron, Layer and MLP, written on the library's Value: tanh neurons."""

    class Neuron:
        def __init__(self, nin: int) -> None:
            self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
            self.b = Value(random.uniform(-1, 1))

        def __call__(self, x: list[Any]) -> Any:
            act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)  # w . x + b
            out = act.tanh()
            return out

        def parameters(self) -> list[Any]:
            return self.w + [self.b]

    class Layer:
        def __init__(self, nin: int, nout: int) -> None:
            self.neurons = [Neuron(nin) for _ in range(nout)]

        def __call__(self, x: list[Any]) -> Any:
            outs = [n(x) for n in self.neurons]
            return outs[0] if len(outs) == 1 else outs

        def parameters(self) -> list[Any]:
            return [p for neuron in self.neurons for p in neuron.parameters()]

    class MLP:
        def __init__(self, nin: int, nouts: list[int]) -> None:
            sz = [nin] + nouts
            self.layers = [Layer(sz[i], sz[i + 1]) for i in range(len(nouts))]

        def __call__(self, x: list[Any]) -> Any:
            for layer in self.layers:
                x = layer(x)
            return x

        def parameters(self) -> list[Any]:
            return [p for layer in self.layers for p in layer.parameters()]

    return MLP


def lecture_loss(n: Any) -> Any:
    return sum((yout - ygt) ** 2 for ygt, yout in zip(LECTURE_YS, [n(x) for x in LECTURE_XS]))


def test_the_lectures_hand_written_network_gets_true_gradients_and_learns() -> None:
    random.seed(1)
    n = lecture_classes(microgrid.engine.Value)(3, [4, 4, 1])
    params = n.parameters()
    assert len(params) == 41
    loss = lecture_loss(n)
    loss.backward()
    for p in params[::7]:  # a few parameters: the gradient is the slope of the forward pass
        step, start = 1e-6, p.data
        p.data = start + step
        up = lecture_loss(n).data
        p.data = start - step
        down = lecture_loss(n).data
        p.data = start
        assert p.grad == pytest.approx((up - down) / (2 * step), rel=1e-5, abs=1e-8)
    for _ in range(50):
        loss = lecture_loss(n)
        for p in params:
            p.grad = 0.0
        loss.backward()
        for p in params:
            p.data += -0.05 * p.grad
    assert loss.data < 0.1  # the lecture's loss goes towards 0


def test_micrograds_own_module_class_style_runs_unchanged() -> None:
    # micrograd's nn: subclass Module, call the layers yourself, list parameters yourself
    def two_layers(lib: Any) -> tuple[list[float], list[float], list[float]]:
        class TwoLayer(lib.nn.Module):
            def __init__(self) -> None:
                self.hidden = lib.nn.Layer(2, 8)  # nonlin=True by default: ReLU
                self.out = lib.nn.Layer(8, 1, nonlin=False)

            def __call__(self, x: list[Any]) -> Any:
                return self.out(self.hidden(x))

            def parameters(self) -> list[Any]:
                return self.hidden.parameters() + self.out.parameters()

        random.seed(7)
        model = TwoLayer()
        score = model([lib.Value(0.5), lib.Value(-1.5)])
        score.backward()
        grads = [p.grad for p in model.parameters()]
        model.zero_grad()
        return [score.data], grads, [p.grad for p in model.parameters()]

    theirs, ours = on_both(two_layers)
    assert ours[0] == pytest.approx(theirs[0], rel=1e-12)
    assert ours[1] == pytest.approx(theirs[1], rel=1e-12)
    assert ours[2] == theirs[2] == [0.0] * 33


# --- the lecture's neuron, and the draw_dot helper people copy from it ---


def trace(root: Any) -> tuple[set[Any], set[tuple[Any, Any]]]:
    """The lecture's trace: builds a set of all nodes and edges in a graph."""
    nodes, edges = set(), set()

    def build(v: Any) -> None:
        if v not in nodes:
            nodes.add(v)
            for child in v._prev:
                edges.add((child, v))
                build(child)

    build(root)
    return nodes, edges


def draw_dot(root: Any, format: str = "svg", rankdir: str = "LR") -> graphviz.Digraph:
    """The helper from micrograd's trace_graph notebook and the lecture, as people paste it."""
    assert rankdir in ["LR", "TB"]
    nodes, edges = trace(root)
    dot = graphviz.Digraph(format=format, graph_attr={"rankdir": rankdir})
    for n in nodes:
        uid = str(id(n))
        # for any value in the graph, create a rectangular ('record') node for it
        dot.node(name=uid, label="{ %s | data %.4f | grad %.4f }" % (n.label, n.data, n.grad), shape="record")  # noqa: UP031  # as pasted
        if n._op:
            # if this value is a result of some operation, create an op node for it
            dot.node(name=uid + n._op, label=n._op)
            dot.edge(uid + n._op, uid)
    for n1, n2 in edges:
        # connect n1 to the op node of n2
        dot.edge(str(id(n1)), str(id(n2)) + n2._op)
    return dot


def lecture_neuron() -> dict[str, Any]:
    Value = microgrid.engine.Value
    # inputs x1, x2; weights w1, w2; the bias b, chosen so the numbers come out nice
    x1 = Value(2.0, label="x1")
    x2 = Value(0.0, label="x2")
    w1 = Value(-3.0, label="w1")
    w2 = Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    x1w1 = x1 * w1
    x1w1.label = "x1*w1"
    x2w2 = x2 * w2
    x2w2.label = "x2*w2"
    x1w1x2w2 = x1w1 + x2w2
    x1w1x2w2.label = "x1*w1 + x2*w2"
    n = x1w1x2w2 + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    o.backward()
    return {v.label: v for v in (x1, x2, w1, w2, b, x1w1, x2w2, x1w1x2w2, n, o)}


def test_the_lectures_neuron_gets_the_lectures_gradients() -> None:
    v = lecture_neuron()
    assert v["o"].data == pytest.approx(0.7071, abs=1e-4)
    grads = {label: round(v[label].grad, 4) for label in ("n", "x1", "w1", "x2", "w2", "b")}
    assert grads == {"n": 0.5, "x1": -1.5, "w1": 1.0, "x2": 0.5, "w2": 0.0, "b": 0.5}  # as in the lecture


def test_the_copied_draw_dot_helper_draws_a_microgrid_graph_with_real_graphviz() -> None:
    o = lecture_neuron()["o"]
    dot = draw_dot(o)
    svg = dot.pipe(format="svg").decode()
    nodes = topological_order(o)
    assert svg.count('class="node"') == len(nodes) + sum(1 for v in nodes if v._op)  # a box per value and op
    ops = [v for v in nodes if v._op]
    assert svg.count('class="edge"') == len(ops) + sum(len(v._prev) for v in ops)  # operands -> op -> result
    for label in ("x1", "w2", "x1*w1 + x2*w2", "tanh"):
        assert label in svg
    assert "grad 0.5000" in svg and "data 0.7071" in svg


def test_the_trace_graph_notebooks_examples_draw() -> None:
    Value, nn = microgrid.engine.Value, microgrid.nn
    x = Value(1.0)
    y = (x * 2 + 1).relu()
    y.backward()
    assert x.grad == 2.0
    assert draw_dot(y).pipe(format="svg").startswith(b"<?xml")

    # a simple 2D neuron
    random.seed(1337)
    n = nn.Neuron(2)
    x = [Value(1.0), Value(-2.0)]
    y = n(x)
    y.backward()
    svg = draw_dot(y, rankdir="TB").pipe(format="svg").decode()
    assert svg.count('class="node"') == len(topological_order(y)) + sum(
        1 for v in topological_order(y) if v._op
    )
    assert [xi.grad for xi in x] == ([w.data for w in n.w] if y.data > 0 else [0.0, 0.0])


def test_numpy_rows_and_scalars_go_in_as_micrograd_takes_them() -> None:
    # the demo maps Value over numpy rows; others pass the rows (or numpy floats) straight in
    random.seed(3)
    model = microgrid.nn.MLP(2, [4, 1])
    row = np.array([0.25, -0.75])
    expected = model([0.25, -0.75]).data
    assert model(list(map(microgrid.engine.Value, row))).data == expected
    assert model(row).data == expected
    assert model([np.float64(0.25), np.float32(-0.75)]).data == expected


# --- EurekaLabs' micrograd, micrograd's way of writing an operation, scalars ---


def adamw_keeping_moments_beside_the_parameters(lib: Any) -> list[float]:
    # EurekaLabs' micrograd keeps m and v on each parameter (p.m); here they sit in
    # dicts keyed by the parameter, as torch.optim keeps its state
    random.seed(3)
    model = lib.nn.MLP(2, [4, 1])
    params = model.parameters()
    m = {p: 0.0 for p in params}
    v = {p: 0.0 for p in params}
    beta1, beta2, lr, eps = 0.9, 0.95, 0.05, 1e-8
    for t in range(1, 6):
        loss = sum((model([x, -x]) - x) ** 2 for x in (0.5, -1.0, 2.0))
        for p in params:
            p.grad = 0.0
        loss.backward()
        for p in params:
            m[p] = beta1 * m[p] + (1 - beta1) * p.grad
            v[p] = beta2 * v[p] + (1 - beta2) * p.grad**2
            m_hat, v_hat = m[p] / (1 - beta1**t), v[p] / (1 - beta2**t)
            p.data -= lr * (m_hat / (v_hat**0.5 + eps) + 1e-4 * p.data)
    return [p.data for p in params]


def test_an_optimizer_that_keeps_its_moments_beside_the_parameters_runs_as_on_micrograd() -> None:
    theirs, ours = on_both(adamw_keeping_moments_beside_the_parameters)
    assert ours == pytest.approx(theirs, rel=1e-9)


def test_a_value_refuses_attributes_of_its_own_and_a_dict_keyed_by_it_holds_them() -> None:
    Value = microgrid.engine.Value
    x, w = Value(0.5), Value(-2.0)
    out = (w * x).tanh()
    with pytest.raises(AttributeError, match="'Value' object has no attribute 'm'"):
        x.m = 0.0  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="_vis_color"):
        out._vis_color = "lightblue"  # type: ignore[attr-defined]  # EurekaLabs' drawing helper
    colour = dict.fromkeys((x, w, out), "lightblue")  # Values hash by identity
    assert [colour.get(n, "white") for n in topological_order(out)] == [
        "lightblue",
        "lightblue",
        "white",
        "lightblue",
    ]


def micrograd_style_operations(lib: Any) -> tuple[float, float, float]:
    # an operation written micrograd's way: a node made with Value(data, children, op)
    # and a _backward closure that adds into the children's .grad
    Value = lib.Value

    def cube(x: Any) -> Any:
        out = Value(x.data**3, (x,), "cube")

        def _backward() -> None:
            x.grad += 3 * x.data**2 * out.grad

        out._backward = _backward
        return out

    def swish(x: Any) -> Any:  # two children, and an op name the engine also knows
        s = 1 / (1 + math.exp(-x.data))
        out = Value(x.data * s, (x,), "*")

        def _backward() -> None:
            x.grad += (s + x.data * s * (1 - s)) * out.grad

        out._backward = _backward
        return out

    a, b = Value(1.5), Value(-0.5)
    y = cube(a) * b + swish(a + b) + cube(a + a)
    y.backward()
    return y.data, a.grad, b.grad


def test_operations_written_with_backward_closures_differentiate_as_on_micrograd() -> None:
    theirs, ours = on_both(micrograd_style_operations)
    assert ours == pytest.approx(theirs, rel=1e-12)


def test_micrograds_own_backward_loop_runs_on_microgrid_values() -> None:
    # people copy micrograd's backward: a topological sort, then each node's _backward
    Value = microgrid.engine.Value
    x, w, b = Value(0.5), Value(-2.0), Value(1.0)
    out = (w * x + b).tanh() * x
    topo: list[Any] = []
    visited: set[Any] = set()

    def build(v: Any) -> None:
        if v not in visited:
            visited.add(v)
            for child in v._prev:
                build(child)
            topo.append(v)

    build(out)
    out.grad = 1.0
    for v in reversed(topo):
        v._backward()
    manual = [x.grad, w.grad, b.grad]
    for v in topo:
        v.grad = 0.0
    out.backward()
    assert manual == pytest.approx([x.grad, w.grad, b.grad], rel=1e-15)


def test_a_closure_gives_first_order_gradients_and_says_so_for_higher_orders() -> None:
    Value = microgrid.engine.Value
    x = Value(2.0)
    out = Value(x.data**2, (x,), "square")

    def _backward() -> None:
        x.grad += 2 * x.data * out.grad

    out._backward = _backward
    assert microgrid.engine.grad(out * 3.0, x)[0].data == 12.0
    with pytest.raises(RuntimeError, match="first-order gradients only"):
        microgrid.engine.grad(out, x, create_graph=True)


def test_what_people_do_with_a_scalar() -> None:
    Value = microgrid.engine.Value
    v = Value(2.71828)
    assert f"{v:.2f}" == "2.72" and f"{v}" == repr(v)
    assert (round(v), round(v, 1), int(Value(-2.7)), float(v), v.item()) == (3, 2.7, -2, 2.71828, 2.71828)
    d = (v * 2).detach()
    (d * v).backward()
    assert (d.data, v.grad) == (5.43656, 5.43656)  # no gradient through the detached factor
    with pytest.raises(TypeError, match="got str: 'abc'"):
        v.data = "abc"  # type: ignore[assignment]
    with pytest.raises(ValueError, match="finite"):
        v.data = math.inf
    assert v.data == 2.71828


def test_micrograds_constructor_shape_makes_a_node_and_labels_must_be_strings() -> None:
    Value = microgrid.engine.Value
    a, b = Value(2.0, label="a"), Value(3.0, "b")
    c = Value(a.data + b.data, (a, b), "+")
    assert (c.children, c.op, c._prev, a.label, b.label) == ((a, b), "+", {a, b}, "a", "b")
    c.backward()
    assert (a.grad, b.grad) == (1.0, 1.0)
    with pytest.raises(TypeError, match="a label must be a str, got int: 3"):
        Value(1.0, label=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="children must be Values, got float"):
        Value(1.0, (2.0,), "+")
    d = Value(1.0)
    with pytest.raises(TypeError, match="a label must be a str"):
        d.label = ("a", "b")  # type: ignore[assignment]


def test_a_constant_on_the_left_stays_a_constant() -> None:
    Value = microgrid.engine.Value
    y = Value(4.0)
    for made, op, const in [
        (1 - y, "rsub", 1.0),
        (2 / y, "rdiv", 2.0),
        (2**y, "rpow", 2.0),
        (5 % y, "rmod", 5.0),
    ]:
        assert (made.op, made.children, made.const) == (op, (y,), (const,))
    assert [g.data for g in microgrid.engine.grad(1 - y + 2 / y + 2**y, [y])] == [
        pytest.approx(-1 - 2 / 16 + 16 * math.log(2))
    ]


def test_zero_to_a_value_power_is_zero_with_zero_gradients_like_pytorch() -> None:
    Value = microgrid.engine.Value
    base, exponent = Value(0.0), Value(2.5)
    out = base**exponent
    out.backward()
    assert (out.data, base.grad, exponent.grad) == (0.0, 0.0, 0.0)
    assert (0.0 ** Value(3.0)).data == 0.0
    with pytest.raises(ValueError, match=r"rpow\(-1.0, 0.0\) is undefined"):
        0.0 ** Value(-1.0)
