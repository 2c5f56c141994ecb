"""Rendering a scene as a Graphviz drawing: records, operation nodes, clusters, colours.

``draw_dot(root)`` draws every Value of root's graph as a record (name, data,
grad) fed by a small node for the operation that made it, like micrograd, and
adds what a reader needs for bigger graphs: colours by role with a legend,
parameter names from a model, clusters per neuron and layer, shading by
|gradient|, collapsing each neuron or layer into one box, and highlighting.

The DOT source is written here, every string through ``labels.dot_string``.
The drawings are ``graphviz.Digraph`` objects: they display inline in Jupyter
and save with ``.render()``. Building them needs only the ``graphviz`` Python
package; rendering needs Graphviz's ``dot`` program, found on first use.
"""

from __future__ import annotations

import functools
import math
import shutil
import subprocess
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from microgrid.engine import Value
from microgrid.viz.labels import dot_record, dot_string, format_number, op_label, record_field
from microgrid.viz.scene import DEFAULT_MAX_NODES, Group, Scene

if TYPE_CHECKING:
    import graphviz

# Fill colours by role (pale, so black text reads on them); outlines when shading.
ROLE_COLORS: dict[str, str] = {
    "input": "#cfe2ff",
    "parameter": "#ffe69c",
    "intermediate": "#f1f3f5",
    "output": "#b2f2bb",
    "module": "#e5dbff",
}
HIGHLIGHT_COLOR = "#e03131"
_SHADE_COLOR = (224, 49, 49)  # red at the largest |gradient|
_NAN_COLOR = "#adb5bd"  # a gradient that is not a number: grey, not a shade of red
_FONT = "Helvetica,Arial,sans-serif"
# dot's own bounds on its search: network simplex and crossing minimisation
# iterations. Small drawings come out the same; big ones lay out in bounded time.
_LAYOUT_LIMITS = {"nslimit": "1", "nslimit1": "1", "mclimit": "0.5", "searchsize": "10"}
_RANKDIRS = ("LR", "RL", "TB", "BT")

_INSTALL_GRAPHVIZ = (
    "Graphviz's `dot` program was not found on PATH; it is needed to render a drawing "
    "(building it and its DOT source, `.source`, works without it). Install Graphviz: "
    "`sudo apt install graphviz` (Debian, Ubuntu), `brew install graphviz` (macOS), "
    "`conda install -c conda-forge graphviz` (conda), or see https://graphviz.org/download/"
)


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program is missing, so a drawing cannot be rendered."""


class LayoutTimeoutError(RuntimeError):
    """``dot`` did not finish laying out a drawing in the time allowed."""


def dot_executable() -> str:
    """The path of Graphviz's ``dot`` program, looked up once.

    Raises GraphvizNotFoundError, saying how to install Graphviz, if it is missing.
    """
    path = _find_dot()
    if path is None:
        raise GraphvizNotFoundError(_INSTALL_GRAPHVIZ)
    return path


@functools.cache
def _find_dot() -> str | None:
    return shutil.which("dot")


def pipe(graph: graphviz.Digraph, format: str = "svg", *, timeout: float | None = None) -> bytes:
    """Render ``graph`` with ``dot`` and return the output (``format``: "svg", "png", "pdf", ...).

    Unlike ``graph.pipe``, this stops ``dot`` after ``timeout`` seconds.
    Raises LayoutTimeoutError then, GraphvizNotFoundError without ``dot``, and
    RuntimeError with dot's message if it fails.
    """
    command = [dot_executable(), f"-T{format}"]
    try:
        run = subprocess.run(command, input=graph.source.encode(), capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:  # subprocess.run has killed dot
        raise LayoutTimeoutError(f"dot did not lay out the drawing within {timeout:g} s") from None
    if run.returncode != 0:
        raise RuntimeError(f"dot failed: {run.stderr.decode(errors='replace').strip()}")
    output: bytes = run.stdout
    return output


@functools.cache
def _drawing_class() -> type[Any]:
    # Built on first use, so that `import microgrid` does not import graphviz.
    import graphviz

    class Drawing(graphviz.Digraph):  # type: ignore[misc]
        """A ``graphviz.Digraph`` that says how to install Graphviz when ``dot`` is missing.

        ``render`` removes the DOT source file it writes on the way (pass
        ``cleanup=False`` to keep it).
        """

        def pipe(self, *args: Any, **kwargs: Any) -> Any:
            dot_executable()
            return super().pipe(*args, **kwargs)

        def render(self, *args: Any, cleanup: bool = True, **kwargs: Any) -> Any:
            dot_executable()
            return super().render(*args, cleanup=cleanup, **kwargs)

        def __repr__(self) -> str:
            # fixed text: a notebook's plain-text output does not change between runs
            return "<microgrid drawing: a graphviz.Digraph; .render() to save, .source for DOT>"

    Drawing.__qualname__ = "Drawing"
    return Drawing


def draw_dot(
    root: Value,
    format: str = "svg",
    rankdir: str = "LR",
    *,
    show_grad: bool = True,
    model: Any = None,
    shade_grad: bool = False,
    collapse: str | None = None,
    highlight: Value | Iterable[Value] | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    legend: bool = True,
) -> graphviz.Digraph:
    """Draw root's computation graph: a record per Value, a small node per operation.

    Args:
        root: the Value whose graph is drawn (it and everything it was made from).
        format: what ``.render()`` and ``.pipe()`` write by default ("svg", "png", "pdf", ...),
            as in micrograd's ``draw_dot(root, format="svg", rankdir="LR")``.
        rankdir: the direction of the drawing: "LR" (inputs left), "RL", "TB" or "BT".
        show_grad: show each Value's ``.grad`` under its data.
        model: a ``microgrid.nn.Module``: names parameters by their dotted names
            (``layers.0.neurons.3.w.1``) and nests clusters as the modules nest.
            Without it, nodes are still clustered by the module that made them.
        shade_grad: fill each node redder the larger its |grad|; roles become outlines.
        collapse: "neuron" or "layer" (any module class name): draw each such
            module as one box fed by its inputs, so a network's graph fits on a screen.
        highlight: a node (or several) to outline in red, e.g. where a gradient check
            failed; a node inside a collapsed box highlights the box.
        max_nodes: refuse graphs with more Values than this (more drawn nodes
            with ``collapse``): checked before anything is built.
        legend: add a legend of the colours.

    Returns a ``graphviz.Digraph``: displays inline in Jupyter; ``.render(outfile="g.svg")``
    saves it (SVG, PNG, PDF by extension) and leaves no DOT file behind; ``.source`` is its DOT text.

    Raises:
        GraphTooLargeError: more than ``max_nodes`` (the message suggests ``collapse``).
        ValueError: a bad ``format`` or ``rankdir``, a ``collapse`` that matches no module,
            a ``highlight`` node not in the graph, or a label Graphviz cannot draw (a NUL).
        TypeError: ``root`` is not a Value, or ``model`` is not a Module.

    """
    scene = Scene.build(root, model=model, collapse=collapse, max_nodes=max_nodes)
    style = Style(rankdir=checked_rankdir(rankdir), show_grad=show_grad, legend=legend)
    marked = _highlighted(scene, highlight)
    return render_scene(scene, style, format=checked_format(format), highlight=marked, shade=shade_grad)


def checked_rankdir(rankdir: str) -> str:
    """``rankdir`` if it is one of LR, RL, TB, BT; else ValueError."""
    if rankdir not in _RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(_RANKDIRS)}, got {rankdir!r}")
    return rankdir


def checked_format(format: str) -> str:
    """``format`` if Graphviz can write it (svg, png, pdf, ...); else ValueError."""
    import graphviz

    if not isinstance(format, str) or format.lower() not in graphviz.FORMATS:
        raise ValueError(
            f"format must be a Graphviz output format like 'svg', 'png' or 'pdf', got {format!r}"
        )
    return format.lower()


def _highlighted(scene: Scene, highlight: Value | Iterable[Value] | None) -> set[Value]:
    if highlight is None:
        return set()
    nodes = [highlight] if isinstance(highlight, Value) else list(highlight)
    for node in nodes:
        if not isinstance(node, Value):
            raise TypeError(f"highlight must be a Value or Values, got {type(node).__name__}: {node!r}")
        if node not in scene.users:
            raise ValueError(f"cannot highlight {node!r}: it is not in the graph drawn")
    return set(nodes)


# --- the DOT source ---------------------------------------------------------


@dataclass(frozen=True)
class Style:
    """How a scene is drawn, whatever is shown in it."""

    rankdir: str
    show_grad: bool = True
    legend: bool = True


Show = Callable[[Value], tuple[str, str]]  # a node's data and grad fields: ("data 0.5", "grad ?")


def shown_as_computed(v: Value) -> tuple[str, str]:
    """A node's data and ``.grad``, as ``draw_dot`` shows them."""
    return f"data {format_number(v.data)}", f"grad {format_number(v.grad)}"


def record_id(scene: Scene, v: Value) -> str:
    """The DOT id of what shows ``v``: its record, or the box it is collapsed into."""
    box = scene.box_of(v)
    return scene.ids[v] if box is None else box_id(box)


def box_id(box: Group) -> str:
    """The DOT id of a collapsed box."""
    return f"m{box.key}"


def edge_ends(scene: Scene, user: Value, i: int) -> tuple[str, str]:
    """The DOT ids at the two ends of the edge that carries ``user``'s operand ``i``."""
    head = record_id(scene, user) if scene.box_of(user) is not None else scene.ids[user] + "op"
    if (user, i) in scene.references:
        return f"{scene.ids[user]}r{i}", head
    return record_id(scene, user.children[i]), head


def render_scene(
    scene: Scene,
    style: Style,
    *,
    format: str = "svg",
    show: Show = shown_as_computed,
    names: Mapping[Value, str] | None = None,
    highlight: Collection[Value] = (),
    edge_labels: Mapping[tuple[Value, int], str] | None = None,
    shade: bool = False,
) -> graphviz.Digraph:
    """Write ``scene`` as a Digraph.

    ``show`` gives each node's data and grad texts; ``names`` each node's name
    (default: its parameter name or label); ``highlight`` nodes are outlined in
    red, as are the edges into them that carry an ``edge_labels`` text.
    """
    names = names if names is not None else {v: scene.names.get(v) or v.label for v in scene.order}
    edge_labels = edge_labels or {}
    shader = _Shader([v.grad for v in scene.order]) if shade else None
    body: dict[Group | None, list[str]] = {}  # statements by cluster (None: top level)
    roles = set()
    for v in scene.drawn_values():
        role = scene.role(v)
        roles.add(role)
        attrs = _fill(role, shader.color(v.grad) if shader else None)
        if v in highlight:
            attrs.update(color=HIGHLIGHT_COLOR, penwidth="3")
        data, grad = show(v)
        fields = [record_field(names[v])] if names.get(v) else []
        fields += [record_field(data)] + ([record_field(grad)] if style.show_grad else [])
        group = scene.group_of.get(v)
        body.setdefault(group, []).append(_node(scene.ids[v], dot_record(fields), shape="record", **attrs))
        if v.op:
            op_text = dot_string(op_label(v), what="an operation's name")
            body.setdefault(group, []).append(_node(scene.ids[v] + "op", op_text, **_OP_ATTRS))
            body.setdefault(None, []).append(_edge(scene.ids[v] + "op", scene.ids[v]))
    for box in scene.boxes():
        outputs = scene.box_outputs(box)
        role = "output" if scene.root in outputs else "module"
        roles.add(role)
        attrs = _fill(role, None)
        if shader:
            attrs = _fill("module", shader.color(max((abs(v.grad) for v in outputs), default=0.0)))
        if any(scene.box_of(v) is box for v in highlight):
            attrs.update(color=HIGHLIGHT_COLOR, penwidth="3")
        label = _box_label(box, outputs, style, show)
        body.setdefault(box.parent, []).append(_node(box_id(box), label, shape="record", **attrs))
    body.setdefault(None, []).extend(_edges(scene, names, highlight, edge_labels))
    lines = list(body.get(None, []))
    lines += _clusters(scene.groups, body)
    if style.legend:
        lines += _legend(roles, shader)
    graph_attr = {"rankdir": style.rankdir, "fontname": _FONT, "fontsize": "11", **_LAYOUT_LIMITS}
    return _drawing_class()(
        format=format,
        graph_attr=graph_attr,
        node_attr={"fontname": _FONT, "fontsize": "11"},
        edge_attr={"fontname": _FONT, "fontsize": "9", "arrowsize": "0.6", "color": "#868e96"},
        body=lines,
    )


_OP_ATTRS = {"shape": "ellipse", "fontsize": "10", "width": "0.3", "height": "0.3", "margin": "0.03,0.02"}


def _attributes(attrs: Mapping[str, str]) -> str:
    return " ".join(f"{key}={dot_string(value)}" for key, value in attrs.items())


def _node(node_id: str, label: str, **attrs: str) -> str:
    """A node statement; ``label`` is already a DOT string, the attributes plain text."""
    return f"\t{node_id} [label={label} {_attributes(attrs)}]\n"


def _edge(tail: str, head: str, **attrs: str) -> str:
    return f"\t{tail} -> {head}" + (f" [{_attributes(attrs)}]" if attrs else "") + "\n"


def _edges(
    scene: Scene,
    names: Mapping[Value, str],
    highlight: Collection[Value],
    edge_labels: Mapping[tuple[Value, int], str],
) -> list[str]:
    """An edge from each operand to its operation (or between boxes, once per pair); references."""
    lines = []
    box_edges = set()
    for v in scene.order:
        for i, child in enumerate(v.children):
            tail, head = edge_ends(scene, v, i)
            if scene.box_of(v) is None and scene.box_of(child) is None:
                attrs = {}
                if (v, i) in edge_labels:
                    attrs = {
                        "label": edge_labels[(v, i)],
                        "color": HIGHLIGHT_COLOR,
                        "fontcolor": HIGHLIGHT_COLOR,
                    }
                elif v in highlight:
                    attrs = {"color": HIGHLIGHT_COLOR}
                if (v, i) in scene.references:
                    lines.append(_reference(scene, names, child, tail))
                lines.append(_edge(tail, head, **attrs))
            elif tail != head and (tail, head) not in box_edges:
                box_edges.add((tail, head))
                lines.append(_edge(tail, head))
    return lines


def _reference(scene: Scene, names: Mapping[Value, str], v: Value, ref_id: str) -> str:
    """A small dashed node standing for ``v`` beside a far-away user (no long edge to draw)."""
    name = names.get(v) or f"data {format_number(v.data)}"
    style = {**_fill(scene.role(v), None), "style": "filled,dashed"}
    tooltip = f"the same node as {name}, drawn again here to keep the drawing small"
    return _node(ref_id, dot_string(name), shape="box", fontsize="9", height="0.2", tooltip=tooltip, **style)


def _box_label(box: Group, outputs: list[Value], style: Style, show: Show) -> str:
    """A collapsed module's record: its title, parameter count, and its output's data and grad."""
    count = len(getattr(box.owner, "parameters", list)())
    fields = [record_field(box.title, what="a module's title"), f"{count}\\ parameter{'s' * (count != 1)}"]
    if len(outputs) == 1:
        data, grad = show(outputs[0])
        fields.append(record_field(data))
        if style.show_grad:
            fields.append(record_field(grad))
    else:
        fields.append(f"{len(outputs)}\\ outputs")
    return dot_record(fields)


def _clusters(groups: list[Group], body: Mapping[Group | None, list[str]]) -> list[str]:
    """Each group with something drawn in it as a cluster, nested as the modules nest."""
    populated = set()
    for start in body:
        group = start
        while group is not None and group not in populated:
            populated.add(group)
            group = group.parent

    def write(group: Group) -> list[str]:
        title = dot_string(group.title, what="a module's title")
        lines = [
            f"\tsubgraph cluster_{group.key} {{\n",
            f'\t\tlabel={title} style="rounded,dashed" color="#adb5bd" fontcolor="#495057"\n',
        ]
        lines += ["\t" + statement for statement in body.get(group, ())]
        for child in group.children:
            if child in populated:
                lines += ["\t" + line for line in write(child)]
        return [*lines, "\t}\n"]

    return [line for group in groups if group.parent is None and group in populated for line in write(group)]


def _legend(roles: set[str], shader: _Shader | None) -> list[str]:
    """A small cluster naming the colours used."""
    lines = [
        "\tsubgraph cluster_legend {\n",
        '\t\tlabel=legend style=rounded color="#dee2e6" fontcolor="#868e96"\n',
    ]
    names = [role for role in ROLE_COLORS if role in roles]
    for role in names:
        fill = _fill(role, "white" if shader else None)
        lines.append("\t" + _node(f"legend_{role}", dot_string(role), shape="box", fontsize="9", **fill))
    if shader is not None:
        entries = [
            ("grad_zero", "|grad| 0", "#ffffff"),
            ("grad_max", f"|grad| {format_number(shader.largest)}", shader.color(shader.largest)),
        ]
        if shader.has_nan:
            entries.append(("grad_nan", "grad nan", _NAN_COLOR))
        for key, text, color in entries:
            lines.append(
                "\t"
                + _node(
                    f"legend_{key}",
                    dot_string(text),
                    shape="box",
                    fontsize="9",
                    style="filled",
                    fillcolor=color,
                )
            )
            names.append(key)
    # invisible edges keep the entries in one row, in order
    lines += [
        "\t" + _edge(f"legend_{left}", f"legend_{right}", style="invis")
        for left, right in zip(names, names[1:])
    ]
    return [*lines, "\t}\n"]


def _fill(role: str, shade_color: str | None) -> dict[str, str]:
    """Node colours: filled by role, or (when shading) filled by |grad| and outlined by role."""
    if shade_color is None:
        return {"style": "filled", "fillcolor": ROLE_COLORS[role]}
    return {"style": "filled", "fillcolor": shade_color, "color": _darker(ROLE_COLORS[role]), "penwidth": "2"}


def _darker(hex_color: str) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return "#{:02x}{:02x}{:02x}".format(*(int(c * 0.6) for c in (r, g, b)))


class _Shader:
    """Colours from white (|grad| 0) to red (the largest |grad| drawn); inf is red, nan grey."""

    def __init__(self, grads: list[float]) -> None:
        finite = [abs(g) for g in grads if math.isfinite(g)]
        self.largest = math.inf if any(math.isinf(g) for g in grads) else max(finite, default=0.0)
        self._scale = max(finite, default=0.0)  # an inf gradient is drawn red; the rest scale as usual
        self.has_nan = any(math.isnan(g) for g in grads)

    def color(self, grad: float) -> str:
        if math.isnan(grad):
            return _NAN_COLOR
        if math.isinf(grad):
            t = 1.0
        else:
            t = abs(grad) / self._scale if self._scale > 0.0 else 0.0
        r, g, b = (round(255 + (c - 255) * t) for c in _SHADE_COLOR)
        return f"#{r:02x}{g:02x}{b:02x}"
