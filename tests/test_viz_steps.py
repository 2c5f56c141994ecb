"""Backward steps: the pass cut into steps, each with its chain-rule products; frames drawn by the real dot."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgrid import nn, viz
from microgrid.engine import Value, gradients

SVG = "{http://www.w3.org/2000/svg}"


def texts_by_node(frame: object) -> dict[str, list[str]]:
    svg = ET.fromstring(frame.pipe(format="svg"))  # type: ignore[attr-defined]
    return {
        g.find(SVG + "title").text: [t.text or "" for t in g.iter(SVG + "text")]  # type: ignore[union-attr]
        for g in svg.iter(SVG + "g")
        if g.get("class") == "node"
    }


def grads_shown(frame: object) -> dict[str, str]:
    """Name -> the grad text of each named record in a frame."""
    return {t[0]: t[-1] for t in texts_by_node(frame).values() if len(t) == 3 and t[-1].startswith("grad")}


def shared_input() -> tuple[Value, Value, Value, Value]:
    a, b = Value(2.0, "a"), Value(-3.0, "b")
    c = a * b
    c.label = "c"
    d = c + a  # a is used twice: d d/d a = b + 1 = -2
    d.label = "d"
    return a, b, c, d


def test_a_gradient_appears_the_moment_it_is_final_and_is_partial_before() -> None:
    a, b, c, d = shared_input()
    steps = viz.backward_steps(d)
    assert len(steps) == 3  # the seed, then d and c pass their gradients on (leaves have nothing to pass)
    assert (a.grad, b.grad, c.grad, d.grad) == (0.0, 0.0, 0.0, 0.0)  # nobody's .grad touched
    assert [grads_shown(f) for f in steps] == [
        {"a": "grad ?", "b": "grad ?", "c": "grad ?", "d": "grad 1"},
        {"a": "grad 1 + ?", "b": "grad ?", "c": "grad 1", "d": "grad 1"},  # a: one of its two uses done
        {"a": "grad -2", "b": "grad 2", "c": "grad 1", "d": "grad 1"},
    ]
    assert [s.finals for s in steps.steps] == [(d,), (c,), (a, b)]


def test_each_step_states_the_chain_rule_products_it_applies() -> None:
    x, w, b = Value(0.5, "x"), Value(-2.0, "w"), Value(1.5, "b")
    n = w * x + b
    n.label = "n"
    out = n.tanh()
    steps = viz.backward_steps(out).steps
    local = 1 - math.tanh(0.5) ** 2
    assert steps[0].caption.startswith("backward: d out/d out = 1, the seed")
    assert (
        steps[1].caption.splitlines()[1]
        == f"d out/d n = d out/d out · d out/d n = 1 · {local:.4g} = {local:.4g}"
    )
    (product,) = steps[1].products
    assert (product.target, product.via, product.upstream, product.final) == (n, out, 1.0, True)
    assert product.local == pytest.approx(local, rel=1e-15)
    last = steps[-1]
    assert last.caption.splitlines()[1:] == [
        f"d out/d w = d out/d n1 · d n1/d w = {local:.4g} · 0.5 = {0.5 * local:.4g}",
        f"d out/d x = d out/d n1 · d n1/d x = {local:.4g} · -2 = {-2 * local:.4g}",
    ]
    final = gradients(out)
    assert {p.target: p.total for p in last.products} == {w: final[w], x: final[x]}


def test_a_node_used_twice_is_summed_in_the_caption() -> None:
    *_, d = shared_input()
    caption = viz.backward_steps(d).steps[1].caption.splitlines()
    assert caption[0] == "backward: d = c + a passes d d/d d = 1 to its operands"
    assert caption[2] == "d d/d a += d d/d d · d d/d a = 1 · 1 = 1, so d d/d a = 1 (so far)"
    caption = viz.backward_steps(d).steps[2].caption.splitlines()
    assert caption[1] == "d d/d a += d d/d c · d c/d a = 1 · -3 = -3, so d d/d a = -2 (final)"


@st.composite
def graphs(draw: st.DrawFn) -> Value:
    """A random graph over three leaves, with shared subexpressions."""
    nodes = [Value(draw(st.floats(-2, 2)), name) for name in "xyz"]
    for _ in range(draw(st.integers(1, 12))):
        a, b = draw(st.sampled_from(nodes)), draw(st.sampled_from(nodes))
        op = draw(st.sampled_from(["+", "*", "tanh", "-"]))
        nodes.append(a + b if op == "+" else a * b if op == "*" else a.tanh() if op == "tanh" else a - b)
    return nodes[-1]


@settings(max_examples=40, deadline=None)
@given(graphs())
def test_the_products_of_all_steps_add_up_to_the_engines_gradients(out: Value) -> None:
    scene = viz.scene.Scene.build(out, model=None, collapse=None, max_nodes=200)
    walk = viz.walk.Walkthrough(scene)
    final = gradients(out)
    summed: dict[Value, float] = {}
    made_final = [v for step in walk.steps for v in step.finals]
    assert sorted(map(id, made_final)) == sorted(map(id, scene.order))  # each node's gradient once
    for k, step in enumerate(walk.steps):
        for p in step.products:
            summed[p.target] = summed.get(p.target, 0.0) + p.contribution
            assert p.upstream == final[p.via]  # the user's gradient is final when it is passed on
        for v in step.finals:  # final at this step: every use processed by now
            assert all(any(user in s.nodes for s in walk.steps[: k + 1]) for user, _ in scene.users[v])
    for v, total in summed.items():
        assert total == pytest.approx(final[v], rel=1e-9, abs=1e-12)


def test_collapse_steps_a_network_a_neuron_at_a_time() -> None:
    model = nn.MLP(2, [3, 2, 1], seed=0)
    loss = (model([1.0, -2.0]) - 1.0) ** 2
    with pytest.raises(viz.GraphTooLargeError, match="collapse='neuron'"):
        viz.backward_steps(loss, max_nodes=20)
    steps = viz.backward_steps(loss, model=model, collapse="neuron", max_nodes=20)
    # the seed, **2, -1, then the 6 neurons from the last to the first
    assert len(steps) == 1 + 2 + 6
    heads = [s.caption.splitlines()[0] for s in steps.steps[3:]]
    assert heads == [
        f"backward: {name} passes the gradients of its outputs to its inputs"
        for name in ("layers.2.neurons.0", "layers.1.neurons.1", "layers.1.neurons.0")
        + ("layers.0.neurons.2", "layers.0.neurons.1", "layers.0.neurons.0")
    ]
    final = gradients(loss)
    for step in steps.steps[3:]:  # each neuron makes its own parameters' gradients final
        params = [v for v in step.nodes if v in set(model.parameters())]
        assert params and set(params) <= set(step.finals)
        for p in step.products:  # through the neuron's output, to the neuron's inputs
            assert p.via in step.nodes and p.target not in step.nodes
            assert p.upstream == final[p.via]
    frame = texts_by_node(steps[3])
    boxes = [t for t in frame.values() if t[0].startswith("neurons.")]
    assert len(boxes) == 6


def test_forward_steps_show_the_values_appearing_in_order() -> None:
    x, w = Value(0.5, "x"), Value(-2.0, "w")
    y = (w * x).tanh()
    y.label = "y"
    walk = viz.explore(y, forward=True).walkthrough
    phases = [s.phase for s in walk.steps]
    assert phases == ["forward"] * 3 + ["backward"] * 3
    assert walk.steps[0].caption == "forward: the leaves hold their values: w = -2, x = 0.5"
    assert walk.steps[1].caption == "forward: n1 = w * x = -2 * 0.5 = -1"
    assert walk.steps[2].caption == f"forward: y = tanh(n1) = tanh(-1) = {math.tanh(-1):.4g}"
    shown = [{rid: s[0] for rid, s in walk.shown_at(k).items()} for k in range(3)]
    assert shown[0] == {"n0": "data -2", "n1": "data 0.5", "n2": "data ?", "n3": "data ?"}
    assert shown[2]["n3"] == f"data {math.tanh(-1):.4g}"


def test_backward_steps_save_numbered_frames_and_a_gif(tmp_path: Path) -> None:
    from PIL import Image

    x, w, b = Value(0.5, "x"), Value(-2.0, "w"), Value(1.5, "b")
    steps = viz.backward_steps((w * x + b).tanh())
    paths = steps.save_frames(tmp_path / "frames")
    assert [p.name for p in paths] == [f"step_{i:03d}.svg" for i in range(4)]
    assert all(ET.parse(p).getroot().tag == SVG + "svg" for p in paths)
    gif = steps.save_gif(tmp_path / "backward.gif")
    with Image.open(gif) as image:
        assert image.format == "GIF"
        assert image.n_frames == 4


def test_backward_steps_display_in_jupyter_as_the_explorer() -> None:
    from IPython.core.formatters import DisplayFormatter

    a, b, c, d = shared_input()
    data, _ = DisplayFormatter().format(viz.backward_steps(d))
    assert "microgridExplorer(" in data["text/html"]
    assert data["text/plain"].startswith("<BackwardSteps: 3 frames")


def test_explore_names_parameters_and_steps_a_collapsed_network_by_layer() -> None:
    import json
    import re

    model = nn.MLP(2, [3, 2, 1], seed=0)
    loss = (model([1.0, -2.0]) - 1.0) ** 2
    with pytest.raises(viz.GraphTooLargeError, match="collapse='neuron' or collapse='layer'"):
        viz.explore(loss, max_nodes=20)  # draw_dot's limit and message
    explorer = viz.explore(loss, model, collapse="layer", max_nodes=20)
    assert [s.caption.splitlines()[0] for s in explorer.steps[3:]] == [
        f"backward: layers.{k} passes the gradients of its outputs to its inputs" for k in (2, 1, 0)
    ]
    page = explorer.html()
    data = json.loads(re.search(r"microgridExplorer\(host, (\{.*?\}), \"", page).group(1))  # type: ignore[union-attr]
    boxes = [f"m{box.key}" for box in explorer.walkthrough.scene.boxes()]  # layers 0, 1, 2
    assert [s["current"] for s in data["steps"][3:]] == [[box] for box in reversed(boxes)]
    details = viz.explore(loss, model)._data()["details"]
    names = {d.get("parameter") for d in details.values()} - {None}
    assert names == {name for name, _ in model.named_parameters()}
