"""microgrid.viz: drawings rendered by the real `dot`, read back as SVG (XML)."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microgrid import nn, viz
from microgrid.engine import Value
from microgrid.viz import render

SVG = "{http://www.w3.org/2000/svg}"


def svg_of(graph: object) -> ET.Element:
    return ET.fromstring(graph.pipe(format="svg"))  # type: ignore[attr-defined]


def nodes(svg: ET.Element) -> dict[str, list[str]]:
    """Node id (its <title>) -> the texts drawn in it."""
    return {
        g.find(SVG + "title").text: [t.text for t in g.iter(SVG + "text")]  # type: ignore[union-attr]
        for g in svg.iter(SVG + "g")
        if g.get("class") == "node"
    }


def of_class(svg: ET.Element, name: str) -> list[ET.Element]:
    return [g for g in svg.iter(SVG + "g") if g.get("class") == name]


def fill_of(svg: ET.Element, node_id: str) -> str:
    for g in of_class(svg, "node"):
        if g.find(SVG + "title").text == node_id:  # type: ignore[union-attr]
            return next(p.get("fill") for p in g.iter(SVG + "polygon") if p.get("fill") != "none")  # type: ignore[return-value]
    raise KeyError(node_id)


def node_with(svg: ET.Element, text: str) -> str:
    """The id of the node whose texts include ``text``."""
    return next(node_id for node_id, texts in nodes(svg).items() if text in texts)


def neuron() -> tuple[Value, Value, Value, Value]:
    x, w, b = Value(0.5, "x"), Value(-2.0, "w"), Value(1.5, "b")
    y = (w * x + b).tanh()
    y.label = "y"
    y.backward()
    return x, w, b, y


def test_format_number_is_compact() -> None:
    assert viz.format_number(-0.0012) == "-0.0012"
    assert viz.format_number(123456.0) == "1.235e+05"
    assert viz.format_number(120000.0) == "1.2e+05"
    assert viz.format_number(2.0) == "2"
    assert viz.format_number(-0.0) == "0"
    assert viz.format_number(math.pi) == "3.142"
    with pytest.raises(ValueError, match="digits must be positive, got 0"):
        viz.format_number(1.0, 0)


@given(st.floats(-1e300, 1e300), st.integers(1, 8))  # rounding up past 1.8e308 would read inf
def test_format_number_keeps_the_leading_digits(x: float, digits: int) -> None:
    text = viz.format_number(x, digits)
    assert len(text.lstrip("-").split("e")[0].replace(".", "").lstrip("0")) <= digits
    assert math.isclose(float(text), x, rel_tol=10.0 ** (1 - digits), abs_tol=1e-300)
    assert float(viz.format_number(x, 17)) == x  # 17 digits: every double round-trips


def test_op_label_shows_the_operation_and_its_constants() -> None:
    x = Value(3.0)
    assert viz.op_label(x**2) == "**2"
    assert viz.op_label(x.leaky_relu(0.01)) == "leaky_relu(0.01)"
    assert viz.op_label(x * -2) == "*(-2)"
    assert viz.op_label(x * x) == "*"
    assert viz.op_label(x) == ""


def test_a_neuron_draws_a_record_per_value_and_a_node_per_operation() -> None:
    x, w, b, y = neuron()
    svg = svg_of(viz.draw_dot(y, legend=False))
    drawn = nodes(svg)
    # 6 Values (x, w, b, w*x, w*x+b, y) and 3 operations (*, +, tanh)
    assert len(drawn) == 9
    assert len(of_class(svg, "edge")) == 5 + 3  # operands into ops, ops into results
    assert sorted(t[0] for t in drawn.values() if len(t) == 1) == ["*", "+", "tanh"]
    assert ["x", "data 0.5", f"grad {viz.format_number(x.grad)}"] in drawn.values()
    assert ["w", "data -2", f"grad {viz.format_number(w.grad)}"] in drawn.values()
    assert ["y", f"data {viz.format_number(y.data)}", "grad 1"] in drawn.values()
    assert x.grad == pytest.approx(-2.0 * (1 - math.tanh(0.5) ** 2))


def test_show_grad_false_draws_data_only_and_rankdir_is_passed_on() -> None:
    *_, y = neuron()
    graph = viz.draw_dot(y, show_grad=False, rankdir="TB")
    assert "rankdir=TB" in graph.source
    assert not any(text.startswith("grad") for texts in nodes(svg_of(graph)).values() for text in texts)
    with pytest.raises(ValueError, match="rankdir must be one of LR, RL, TB, BT, got 'up'"):
        viz.draw_dot(y, rankdir="up")


def test_nodes_are_coloured_by_role_with_a_legend() -> None:
    *_, y = neuron()
    model_free = svg_of(viz.draw_dot(y))
    assert fill_of(model_free, node_with(model_free, "x")) == viz.ROLE_COLORS["input"]
    assert fill_of(model_free, node_with(model_free, "y")) == viz.ROLE_COLORS["output"]
    assert fill_of(model_free, node_with(model_free, "data -1")) == viz.ROLE_COLORS["intermediate"]
    legend = {texts[0] for node_id, texts in nodes(model_free).items() if node_id.startswith("legend_")}
    assert legend == {"input", "intermediate", "output"}
    net = nn.Neuron(2, "tanh", seed=1)
    out = net([0.5, -1.0])
    svg = svg_of(viz.draw_dot(out, model=net))
    assert fill_of(svg, node_with(svg, "w.0")) == viz.ROLE_COLORS["parameter"]
    assert fill_of(svg, node_with(svg, "b")) == viz.ROLE_COLORS["parameter"]


def test_labels_with_record_characters_are_drawn_as_written() -> None:
    a = Value(1.0, 'a|b{c}<d> "e" \\f')
    svg = svg_of(viz.draw_dot(a * 2))
    assert 'a|b{c}<d> "e" \\f' in [text for texts in nodes(svg).values() for text in texts]


def mlp_loss(seed: int = 0) -> tuple[nn.MLP, Value]:
    model = nn.MLP(2, [3, 2, 1], seed=seed)
    loss = (model([1.0, -2.0]) - 1.0) ** 2
    loss.backward()
    return model, loss


def boxes(svg: ET.Element) -> dict[str, tuple[float, float, float, float]]:
    """Cluster label -> its bounding box (x0, y0, x1, y1); the last of clusters with one label."""
    found = {}
    for g in of_class(svg, "cluster"):
        outline = g.find(SVG + "path")  # rounded clusters are drawn as a path
        numbers = [float(n) for n in re.findall(r"-?[\d.]+", outline.get("d"))]  # type: ignore[union-attr, arg-type]
        xs, ys = numbers[0::2], numbers[1::2]
        found[" ".join(t.text for t in g.iter(SVG + "text"))] = (min(xs), min(ys), max(xs), max(ys))  # type: ignore[misc]
    return found


def inside(inner: tuple[float, ...], outer: tuple[float, ...]) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def test_a_model_names_parameters_and_nests_neuron_clusters_in_layer_clusters() -> None:
    model, loss = mlp_loss()
    svg = svg_of(viz.draw_dot(loss, model=model))
    texts = [text for texts in nodes(svg).values() for text in texts]
    for name, p in model.named_parameters():
        assert name in texts
        drawn = nodes(svg)[node_with(svg, name)]
        assert drawn == [name, f"data {viz.format_number(p.data)}", f"grad {viz.format_number(p.grad)}"]
    clusters = boxes(svg)
    # the MLP, 3 layers, 3 + 2 + 1 neurons, and the legend
    assert len(of_class(svg, "cluster")) == 1 + 3 + 6 + 1
    assert inside(clusters["neurons.2 (Neuron)"], clusters["layers.0 (Layer)"])
    assert inside(clusters["layers.0 (Layer)"], clusters["MLP"])
    assert not inside(clusters["neurons.2 (Neuron)"], clusters["layers.1 (Layer)"])
    # the parameter sits in its neuron's cluster
    param = next(
        g for g in of_class(svg, "node") if "layers.0.neurons.2.w.1" in [t.text for t in g.iter(SVG + "text")]
    )
    x = float(next(param.iter(SVG + "text")).get("x"))  # type: ignore[arg-type]
    y = float(next(param.iter(SVG + "text")).get("y"))  # type: ignore[arg-type]
    x0, y0, x1, y1 = clusters["neurons.2 (Neuron)"]
    assert x0 <= x <= x1 and y0 <= y <= y1


def test_without_a_model_nodes_are_clustered_by_the_module_that_made_them() -> None:
    _, loss = mlp_loss()
    svg = svg_of(viz.draw_dot(loss))
    labels = set(boxes(svg))
    # the inputs are made by the MLP (once, shared by the first layer's neurons)
    assert {f"Neuron {i}" for i in range(6)} | {"MLP 0", "legend"} == labels
    assert fill_of(svg, node_with(svg, "w.0")) == viz.ROLE_COLORS["parameter"]  # named by its neuron


def cluster_texts(svg: ET.Element) -> dict[str, list[str]]:
    """Cluster label -> the texts of the nodes drawn inside it (by position)."""
    found = {}
    for label, (x0, y0, x1, y1) in boxes(svg).items():
        found[label] = [
            t.text or ""
            for g in of_class(svg, "node")
            for t in g.iter(SVG + "text")
            if x0 <= float(t.get("x", "nan")) <= x1 and y0 <= float(t.get("y", "nan")) <= y1
        ]
    return found


def test_without_a_model_neurons_are_numbered_in_the_models_own_order() -> None:
    model, loss = mlp_loss()
    neurons = [n for layer in model.layers for n in layer.neurons]
    inside = cluster_texts(svg_of(viz.draw_dot(loss, legend=False)))
    for k, neuron in enumerate(neurons):  # "Neuron k" holds the k-th neuron's weights
        assert f"data {viz.format_number(neuron.w[0].data)}" in inside[f"Neuron {k}"]
    collapsed = svg_of(viz.draw_dot(loss, collapse="neuron", legend=False))
    box_texts = {texts[0]: texts[1:] for texts in nodes(collapsed).values() if texts[0].startswith("Neuron")}
    outputs = [neuron(model.layers[0]([1.0, -2.0])) for neuron in model.layers[1].neurons]
    assert box_texts["Neuron 3"][1] == f"data {viz.format_number(outputs[0].data)}"
    assert box_texts["Neuron 4"][1] == f"data {viz.format_number(outputs[1].data)}"
    assert [box_texts[f"Neuron {k}"][0] for k in range(6)] == [
        f"{len(n.parameters())} parameters" for n in neurons
    ]


def test_collapse_neuron_draws_each_neuron_as_one_box() -> None:
    model, loss = mlp_loss()
    svg = svg_of(viz.draw_dot(loss, model=model, collapse="neuron", legend=False))
    drawn = nodes(svg)
    neuron_boxes = [texts for texts in drawn.values() if texts[0].startswith("neurons.")]
    assert len(neuron_boxes) == 6
    assert sorted(texts[1] for texts in neuron_boxes) == ["3 parameters"] * 4 + ["4 parameters"] * 2
    output = model([1.0, -2.0])
    assert [f"data {viz.format_number(output.data)}", f"grad {viz.format_number(2 * (output.data - 1))}"] in [
        texts[2:] for texts in neuron_boxes
    ]
    # the 2 inputs, 6 boxes, and after them: the ops -1 and **2 with their results
    assert len(drawn) == 2 + 6 + 4
    # each input feeds each of the 3 first neurons, which feed each of the 2 next, which feed
    # the last; then 1 + 3 edges
    assert len(of_class(svg, "edge")) == 2 * 3 + 3 * 2 + 2 * 1 + 1 + 3


def test_collapse_layer_draws_each_layer_as_one_box() -> None:
    model, loss = mlp_loss()
    svg = svg_of(viz.draw_dot(loss, model=model, collapse="layer", legend=False))
    drawn = nodes(svg)
    assert sorted(t[:2] for t in drawn.values() if t[0].startswith("layers.")) == [
        ["layers.0 (Layer)", "9 parameters"],
        ["layers.1 (Layer)", "8 parameters"],
        ["layers.2 (Layer)", "3 parameters"],
    ]
    assert "3 outputs" in drawn[node_with(svg, "layers.0 (Layer)")]
    # each input to the first layer, layer to layer, then to -1 and on
    assert len(of_class(svg, "edge")) == 2 + 1 + 1 + 1 + 3


def test_collapsed_max_nodes_counts_the_nodes_drawn() -> None:
    model = nn.MLP(2, [3, 1])
    y = model([Value(0.5, "a"), Value(1.0, "b")])
    drawn = nodes(svg_of(viz.draw_dot(y, model=model, collapse="layer", max_nodes=4, legend=False)))
    assert len(drawn) == 4  # a, b (leaves: no operation node) and two layer boxes
    with pytest.raises(viz.GraphTooLargeError, match="the drawing has 4 nodes, more than max_nodes=3"):
        viz.draw_dot(y, model=model, collapse="layer", max_nodes=3)


def test_collapse_layer_without_a_model_says_to_pass_the_model() -> None:
    _, loss = mlp_loss()
    with pytest.raises(ValueError, match=r"collapse='layer' matches no module.*Neuron.*model="):
        viz.draw_dot(loss, collapse="layer")


def test_shade_grad_fills_the_largest_gradient_reddest() -> None:
    x, y = Value(3.0, "x"), Value(0.0, "y")
    z = x * y + y * 10.0  # dz/dx = 0, dz/dy = 13
    z.backward()
    svg = svg_of(viz.draw_dot(z, shade_grad=True))
    assert fill_of(svg, node_with(svg, "y")) == "#e03131"
    assert fill_of(svg, node_with(svg, "x")) == "#ffffff"
    assert "|grad| 13" in [t[0] for t in nodes(svg).values()]


def test_a_graph_past_max_nodes_is_refused_at_once_suggesting_collapse() -> None:
    v = Value(1.0)
    for _ in range(200_000):
        v = v + 1.0
    start = time.perf_counter()
    with pytest.raises(viz.GraphTooLargeError, match=r"more than 2000 nodes.*collapse='neuron'"):
        viz.draw_dot(v)
    assert time.perf_counter() - start < 0.5  # stopped early, nothing built
    assert issubclass(viz.GraphTooLargeError, ValueError)


def test_a_long_chain_over_one_shared_input_renders_in_seconds() -> None:
    x = Value(1.0, "x")
    y = x
    for _ in range(80):
        y = y + x * x  # x feeds 161 operations: dot's default placement takes minutes
    y.backward()
    source = viz.draw_dot(y).source
    run = subprocess.run(["dot", "-Tsvg"], input=source, capture_output=True, text=True, timeout=10)
    assert run.returncode == 0 and "<svg" in run.stdout


def test_a_drawing_displays_in_ipython_as_svg() -> None:
    from IPython.core.formatters import DisplayFormatter

    *_, y = neuron()
    data, _ = DisplayFormatter().format(viz.draw_dot(y))
    assert "image/svg+xml" in data
    assert ET.fromstring(data["image/svg+xml"]).tag == SVG + "svg"


def test_render_writes_svg_png_pdf_by_extension_and_leaves_no_dot_file(tmp_path: Path) -> None:
    *_, y = neuron()
    graph = viz.draw_dot(y)
    magic = {"svg": b"<?xml", "png": b"\x89PNG", "pdf": b"%PDF"}
    for ext, start in magic.items():
        graph.render(outfile=tmp_path / f"g.{ext}")
        assert (tmp_path / f"g.{ext}").read_bytes().startswith(start)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.pdf", "g.png", "g.svg"]  # no g.gv
    graph.render(outfile=tmp_path / "kept.svg", cleanup=False)  # asked for: the source stays
    assert (tmp_path / "kept.gv").read_text() == graph.source


def test_draw_dot_takes_micrograds_format_and_rankdir_arguments(tmp_path: Path) -> None:
    *_, y = neuron()
    graph = viz.draw_dot(
        y, format="png", rankdir="TB"
    )  # micrograd: draw_dot(root, format="svg", rankdir="LR")
    assert graph.format == "png" and "rankdir=TB" in graph.source
    assert viz.draw_dot(y, "svg", "LR").format == "svg"
    path = graph.render(tmp_path / "neuron")  # micrograd's dot.render("gout"): the format picks the file
    assert Path(path).name == "neuron.png" and Path(path).read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["neuron.png"]
    with pytest.raises(ValueError, match="format must be a Graphviz output format.*got 'svgz2'"):
        viz.draw_dot(y, format="svgz2")


def stroke_of(svg: ET.Element, node_id: str) -> set[str | None]:
    return {
        p.get("stroke")
        for g in of_class(svg, "node")
        if g.find(SVG + "title").text == node_id  # type: ignore[union-attr]
        for p in g.iter(SVG + "polygon")
    }


def test_highlight_outlines_the_nodes_given_in_red() -> None:
    x, w, b, y = neuron()
    svg = svg_of(viz.draw_dot(y, highlight=w))
    assert "#e03131" in stroke_of(svg, node_with(svg, "w"))
    assert "#e03131" not in stroke_of(svg, node_with(svg, "x"))
    svg = svg_of(viz.draw_dot(y, highlight=[x, b]))
    assert {node_with(svg, "x"), node_with(svg, "b")} == {
        node for node in nodes(svg) if "#e03131" in stroke_of(svg, node)
    }
    with pytest.raises(ValueError, match="cannot highlight .* not in the graph drawn"):
        viz.draw_dot(y, highlight=Value(3.0))
    with pytest.raises(TypeError, match="highlight must be a Value or Values, got str"):
        viz.draw_dot(y, highlight=["x"])


def test_highlight_inside_a_collapsed_neuron_outlines_its_box() -> None:
    model, loss = mlp_loss()
    weight = model.layers[1].neurons[0].w[1]
    svg = svg_of(viz.draw_dot(loss, model=model, collapse="neuron", highlight=weight, legend=False))
    (marked,) = [n for n in nodes(svg) if "#e03131" in stroke_of(svg, n)]
    output = model.layers[1].neurons[0](model.layers[0]([1.0, -2.0]))
    assert nodes(svg)[marked][:3] == [
        "neurons.0 (Neuron)",
        "4 parameters",
        f"data {viz.format_number(output.data)}",
    ]


def test_shade_grad_draws_infinite_and_nan_gradients() -> None:
    x, y = Value(3.0, "x"), Value(2.0, "y")
    z = x * y
    x.grad, y.grad, z.grad = math.inf, 1.0, math.nan  # as a hand-written or overflowed backward leaves them
    svg = svg_of(viz.draw_dot(z, shade_grad=True))
    assert fill_of(svg, node_with(svg, "x")) == "#e03131"  # the largest: inf
    assert fill_of(svg, node_with(svg, "y")) == "#e03131"  # the largest finite one
    assert fill_of(svg, node_with(svg, "grad nan")) == "#adb5bd"
    legend = [t[0] for t in nodes(svg).values()]
    assert "|grad| inf" in legend and "grad nan" in legend


NO_DOT_SCRIPT = """
import microgrid, sys
assert "graphviz" not in sys.modules, "import microgrid imported graphviz"
from microgrid import viz
from microgrid.engine import Value, topological_order
x = Value(0.5, "x")
y = (x * 3.0).tanh()
y.backward()
graph = viz.draw_dot(y)
print(graph.source)
try:
    graph.render(outfile="never.svg")
except viz.GraphvizNotFoundError as error:
    print("RENDER:", error)
try:
    graph._repr_mimebundle_()
except viz.GraphvizNotFoundError as error:
    print("DISPLAY:", error)
"""


def test_without_dot_the_source_builds_and_rendering_says_how_to_install(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # a real PATH without Graphviz
    run = subprocess.run(
        [sys.executable, "-c", NO_DOT_SCRIPT], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert 'label="{x|data\\ 0.5|grad\\ ' in run.stdout
    assert "tanh" in run.stdout
    render = next(line for line in run.stdout.splitlines() if line.startswith("RENDER:"))
    for way in ("apt install graphviz", "brew install graphviz", "conda install"):
        assert way in render
    assert "DISPLAY:" in run.stdout
    assert not (tmp_path / "never.svg").exists()


def test_dot_is_looked_up_once_and_the_lookup_follows_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    render._find_dot.cache_clear()
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(viz.GraphvizNotFoundError, match="brew install graphviz"):
        viz.dot_executable()
    render._find_dot.cache_clear()
    monkeypatch.undo()
    assert Path(viz.dot_executable()).name == "dot"
