"""Drawings of computation graphs, with Graphviz (and only Graphviz).

``draw_dot(root)`` draws every Value of root's graph as a record (name, data,
grad) fed by a small node for the operation that made it, like micrograd, and
adds what a reader needs for bigger graphs: colours by role with a legend,
parameter names from a model, clusters per neuron and layer, shading by
|gradient|, and collapsing each neuron or layer into one box.
``backward_steps(root)`` draws the backward pass one node at a time.

The drawings are ``graphviz.Digraph`` objects: they display inline in Jupyter
and save with ``.render()``. Building them needs only the ``graphviz`` Python
package; rendering needs Graphviz's ``dot`` program, found on first use.
"""

from __future__ import annotations

import functools
import io
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from microgrid.engine import Value, gradients, local_derivatives, topological_order

if TYPE_CHECKING:
    import graphviz

DEFAULT_MAX_NODES = 2000
# With collapse, most Values vanish into boxes, so many more may be read; this
# bound (a multiple of max_nodes) only keeps a runaway graph from hanging.
_COLLAPSED_READ_FACTOR = 100

# Fill colours by role (pale, so black text reads on them); outlines when shading.
ROLE_COLORS: dict[str, str] = {
    "input": "#cfe2ff",
    "parameter": "#ffe69c",
    "intermediate": "#f1f3f5",
    "output": "#b2f2bb",
    "module": "#e5dbff",
}
_SHADE_COLOR = (224, 49, 49)  # red at the largest |gradient|
_HIGHLIGHT_COLOR = "#e03131"
_FONT = "Helvetica,Arial,sans-serif"

_INSTALL_GRAPHVIZ = (
    "Graphviz's `dot` program was not found on PATH; it is needed to render a drawing "
    "(building it and its DOT source, `.source`, works without it). Install Graphviz: "
    "`sudo apt install graphviz` (Debian, Ubuntu), `brew install graphviz` (macOS), "
    "`conda install -c conda-forge graphviz` (conda), or see https://graphviz.org/download/"
)


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program is missing, so a drawing cannot be rendered."""


class GraphTooLargeError(ValueError):
    """The graph has more nodes than ``max_nodes``: too many to draw readably."""


def format_number(x: float, digits: int = 4) -> str:
    """``x`` in at most ``digits`` significant digits, compactly: ``-0.0012``, ``3.142``, ``1.2e+05``.

    Trailing zeros are dropped (``2.0`` is ``2``); ``-0.0`` is ``0``.
    Raises ValueError if ``digits`` is not positive.
    """
    if digits < 1:
        raise ValueError(f"digits must be positive, got {digits}")
    if x == 0.0:
        return "0"  # also for -0.0, which would read as a sign error
    return f"{x:.{digits}g}"


def op_label(node: Value) -> str:
    """The text of ``node``'s operation node: its op and its constants, e.g. ``**2``, ``leaky_relu(0.01)``.

    An operator with a constant operand shows it: ``x * 3`` is ``*3``, ``x - (-1)``
    is ``-(-1)``. An empty string for a leaf.
    """
    consts = [format_number(k) for k in node.const]
    if not consts:
        return node.op
    if node.op in _OPERATORS:
        k = consts[0]
        return f"{node.op}{k}" if not k.startswith("-") else f"{node.op}({k})"
    return f"{node.op}({', '.join(consts)})"


_OPERATORS = ("+", "-", "*", "/", "**")


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


@functools.cache
def _drawing_class() -> type[Any]:
    # Built on first use, so that `import microgrid` does not import graphviz.
    import graphviz

    class Drawing(graphviz.Digraph):  # type: ignore[misc]
        """A ``graphviz.Digraph`` whose rendering says how to install Graphviz when ``dot`` is missing."""

        def pipe(self, *args: Any, **kwargs: Any) -> Any:
            dot_executable()
            return super().pipe(*args, **kwargs)

        def render(self, *args: Any, **kwargs: Any) -> Any:
            dot_executable()
            return super().render(*args, **kwargs)

        def __repr__(self) -> str:
            # fixed text: a notebook's plain-text output does not change between runs
            return "<microgrid drawing: a graphviz.Digraph; .render() to save, .source for DOT>"

    Drawing.__qualname__ = "Drawing"
    return Drawing


def draw_dot(
    root: Value,
    *,
    rankdir: str = "LR",
    show_grad: bool = True,
    model: Any = None,
    shade_grad: bool = False,
    collapse: str | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    legend: bool = True,
) -> graphviz.Digraph:
    """Draw root's computation graph: a record per Value, a small node per operation.

    Args:
        root: the Value whose graph is drawn (it and everything it was made from).
        rankdir: the direction of the drawing: "LR" (inputs left), "RL", "TB" or "BT".
        show_grad: show each Value's ``.grad`` under its data.
        model: a ``microgrid.nn.Module``: names parameters by their dotted names
            (``layers.0.neurons.3.w.1``) and nests clusters as the modules nest.
            Without it, nodes are still clustered by the module that made them.
        shade_grad: fill each node redder the larger its |grad|; roles become outlines.
        collapse: "neuron" or "layer" (any module class name): draw each such
            module as one box fed by its inputs, so a network's graph fits on a screen.
        max_nodes: refuse graphs with more Values than this (more drawn nodes
            with ``collapse``): checked before anything is built.
        legend: add a legend of the colours.

    Returns a ``graphviz.Digraph``: displays inline in Jupyter; ``.render(outfile="g.svg")``
    saves it (SVG, PNG, PDF by extension); ``.source`` is its DOT text.

    Raises:
        GraphTooLargeError: more than ``max_nodes`` (the message suggests ``collapse``).
        ValueError: a bad ``rankdir``, or a ``collapse`` that matches no module.
        TypeError: ``root`` is not a Value, or ``model`` is not a Module.

    """
    scene = _Scene.build(root, model=model, collapse=collapse, max_nodes=max_nodes)
    style = _Style(
        rankdir=_checked_rankdir(rankdir), show_grad=show_grad, shade_grad=shade_grad, legend=legend
    )
    return _render(scene, style, grad_of=lambda v: v.grad)


class BackwardSteps(Sequence["graphviz.Digraph"]):
    """The backward pass as drawings, one per node in the order backward visits them.

    Index it or iterate over it for the frames (``graphviz.Digraph`` each);
    ``save_frames`` writes them as numbered image files, ``save_gif`` as an animation.
    """

    def __init__(self, frames: list[graphviz.Digraph]) -> None:
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: Any) -> Any:
        return self.frames[index]

    def __iter__(self) -> Iterator[graphviz.Digraph]:
        return iter(self.frames)

    def save_frames(self, directory: str | Path, format: str = "svg") -> list[Path]:
        """Write each frame as ``step_000.svg``, ``step_001.svg``, ... in ``directory`` (created if needed).

        ``format`` is any Graphviz output format ("svg", "png", "pdf").
        Returns the paths written. Raises GraphvizNotFoundError without ``dot``.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        width = len(str(len(self.frames) - 1))
        paths = []
        for i, frame in enumerate(self.frames):
            path = directory / f"step_{i:0{max(width, 3)}d}.{format}"
            path.write_bytes(frame.pipe(format=format))
            paths.append(path)
        return paths

    def save_gif(self, path: str | Path, *, seconds_per_frame: float = 1.0) -> Path:
        """Write the frames as one looping animated GIF at ``path``; returns the path.

        Needs Pillow (``pip install pillow``) and Graphviz's ``dot``.
        Raises ImportError naming ``pip install pillow`` if Pillow is missing.
        """
        try:
            from PIL import Image
        except ImportError:
            raise ImportError("save_gif needs Pillow: pip install pillow") from None
        images = [Image.open(io.BytesIO(frame.pipe(format="png"))).convert("RGB") for frame in self.frames]
        # frames differ a little in size (labels come and go): pad all to the largest
        size = (max(im.width for im in images), max(im.height for im in images))
        padded = []
        for im in images:
            canvas = Image.new("RGB", size, "white")
            canvas.paste(im, (0, 0))
            padded.append(canvas)
        path = Path(path)
        padded[0].save(
            path,
            save_all=True,
            append_images=padded[1:],
            duration=int(seconds_per_frame * 1000),
            loop=0,
        )
        return path


def backward_steps(
    root: Value,
    *,
    rankdir: str = "LR",
    model: Any = None,
    max_nodes: int = 200,
) -> BackwardSteps:
    """The backward pass from ``root``, drawn one node at a time.

    Frame k shows the k-th node that backward visits (reverse topological order:
    root first) highlighted, the gradients of it and the nodes before it filled
    in (the others show ``grad ?``), and on the edges to its operands the local
    derivative the chain rule multiplies by. Gradients are computed with the
    engine's rules into a separate table: no ``.grad`` is changed.

    Returns a BackwardSteps (a sequence of ``graphviz.Digraph``, one per node).
    Raises GraphTooLargeError past ``max_nodes`` Values.
    """
    style = _Style(rankdir=_checked_rankdir(rankdir), show_grad=True, shade_grad=False, legend=True)
    scene = _Scene.build(root, model=model, collapse=None, max_nodes=max_nodes)
    final: dict[Value, float] = gradients(root)
    order = list(reversed(scene.order))  # the order backward visits nodes
    frames = []
    for step, current in enumerate(order):
        reached = set(order[: step + 1])
        labels = {(current, i): f"local {format_number(d)}" for i, d in enumerate(local_derivatives(current))}
        grad_of = functools.partial(_grad_if_reached, final, reached)
        frames.append(_render(scene, style, grad_of, highlight=current, edge_labels=labels))
    return BackwardSteps(frames)


def _grad_if_reached(final: dict[Value, float], reached: set[Value], v: Value) -> float | None:
    return final[v] if v in reached else None


# --- the scene: what is drawn where, independent of how it looks -------------


@dataclass(eq=False)
class _Group:
    """A module (or any scope owner) that made nodes: a cluster, or a box when collapsed."""

    owner: object
    title: str
    key: int
    parent: _Group | None = None
    box: _Group | None = None  # the collapsed group this one is drawn inside, if any
    children: list[_Group] = field(default_factory=list)

    def matches(self, class_name: str) -> bool:
        return any(cls.__name__.lower() == class_name for cls in type(self.owner).__mro__)


@dataclass
class _Scene:
    """root's graph, with each node's role, name, cluster and (when collapsed) box."""

    root: Value
    order: list[Value]  # topological: children before parents, root last
    names: dict[Value, str]
    parameters: set[Value]
    group_of: dict[Value, _Group]
    groups: list[_Group]
    users: dict[Value, list[Value]]  # the nodes each node is an operand of (only when collapsed)

    @classmethod
    def build(cls, root: Value, *, model: Any, collapse: str | None, max_nodes: int) -> _Scene:
        if not isinstance(root, Value):
            raise TypeError(f"draw a Value, got {type(root).__name__}: {root!r}")
        if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
            raise ValueError(f"max_nodes must be a positive int, got {max_nodes!r}")
        if collapse is not None and (not isinstance(collapse, str) or not collapse):
            raise ValueError(
                f"collapse must be a module class name like 'neuron' or 'layer', got {collapse!r}"
            )
        read_limit = max_nodes * _COLLAPSED_READ_FACTOR if collapse else max_nodes
        order = _nodes_in_order(root, read_limit, collapsed=collapse is not None)
        named_modules = _named_modules(model)
        names, owners = _parameter_owners(model, named_modules, order)
        groups_by_owner = _groups(named_modules, order)
        group_of = {}
        for v in order:
            owner = v.scope if v.scope is not None else owners.get(v)
            if owner is not None and id(owner) in groups_by_owner:
                group_of[v] = groups_by_owner[id(owner)]
        groups = list(groups_by_owner.values())
        if collapse is not None:
            _mark_boxes(groups, collapse.lower(), collapse)
        users: dict[Value, list[Value]] = {}
        if collapse is not None:
            for v in order:
                for child in v.children:
                    users.setdefault(child, []).append(v)
        scene = cls(root, order, names, set(owners), group_of, groups, users)
        if collapse is not None:
            # a record per Value outside the boxes (and an ellipse for its operation), a node per box
            drawn = sum(1 + bool(v.op) for v in order if scene.box_of(v) is None)
            drawn += sum(1 for g in groups if g.box is g)
            if drawn > max_nodes:
                bigger = (
                    "" if collapse.lower() == "layer" else "collapse a bigger module (collapse='layer'), "
                )
                raise GraphTooLargeError(
                    f"even collapsed by {collapse!r}, the drawing has {drawn} nodes, more than "
                    f"max_nodes={max_nodes}; {bigger}draw a smaller graph (one sample instead of "
                    "a batch), or raise max_nodes"
                )
        return scene

    def box_of(self, v: Value) -> _Group | None:
        group = self.group_of.get(v)
        return group.box if group is not None else None

    def role(self, v: Value) -> str:
        if v is self.root:
            return "output"
        if v.children:
            return "intermediate"
        return "parameter" if v in self.parameters else "input"


def _nodes_in_order(root: Value, limit: int, *, collapsed: bool) -> list[Value]:
    # Count first, stopping early: a huge graph is refused before any work on it.
    seen = {root}
    stack = [root]
    while stack:
        for child in stack.pop().children:
            if child not in seen:
                seen.add(child)
                stack.append(child)
                if len(seen) > limit:
                    raise GraphTooLargeError(_too_large_message(limit, collapsed))
    return topological_order(root)


def _too_large_message(limit: int, collapsed: bool) -> str:
    if collapsed:
        return (
            f"the graph has more than {limit} Values, too many to read even collapsed; "
            "draw a smaller graph (one sample instead of a batch)"
        )
    return (
        f"the graph has more than {limit} nodes, too many to draw readably; pass "
        "collapse='neuron' or collapse='layer' (with model=your_model) to draw each neuron "
        "or layer as one box, draw a smaller graph (one sample instead of a batch), "
        "or raise max_nodes"
    )


def _named_modules(model: Any) -> list[tuple[str, object]]:
    if model is None:
        return []
    if not (hasattr(model, "named_modules") and hasattr(model, "named_parameters")):
        raise TypeError(
            "model must be a microgrid.nn.Module (with named_parameters() and named_modules()), "
            f"got {type(model).__name__}"
        )
    return list(model.named_modules())


def _parameter_owners(
    model: Any, named_modules: list[tuple[str, object]], order: list[Value]
) -> tuple[dict[Value, str], dict[Value, object]]:
    """Each parameter's name and the innermost module that holds it."""
    names: dict[Value, str] = {}
    owners: dict[Value, object] = {}
    if model is not None:
        module_named = dict(named_modules)
        for name, p in model.named_parameters():
            names[p] = name
            path = name.split(".")[:-1]
            while ".".join(path) not in module_named:  # "" (the model) always is
                path.pop()
            owners[p] = module_named[".".join(path)]
        return names, owners
    # Without a model, the modules that made nodes name their own parameters;
    # the innermost (fewest parameters) wins, so processed last.
    scopes = {id(v.scope): v.scope for v in order if v.scope is not None}.values()
    holders = [s for s in scopes if hasattr(s, "named_parameters")]
    for scope in sorted(holders, key=lambda s: -len(s.named_parameters())):
        for name, p in scope.named_parameters():
            names[p] = name
            owners[p] = scope
    return names, owners


def _groups(named_modules: list[tuple[str, object]], order: list[Value]) -> dict[int, _Group]:
    """A group per module of the model (nested as named), and per other scope owner (flat)."""
    groups: dict[int, _Group] = {}
    by_name: dict[str, _Group] = {}
    for name, module in named_modules:
        parent_name = name.rpartition(".")[0]
        while parent_name and parent_name not in by_name:  # e.g. "layers.0" -> "layers" -> ""
            parent_name = parent_name.rpartition(".")[0]
        parent = by_name.get(parent_name) if name else None
        relative = name[len(parent_name) + 1 :] if parent_name else name
        title = f"{relative} ({type(module).__name__})" if name else type(module).__name__
        group = _Group(module, title, len(groups), parent)
        if parent is not None:
            parent.children.append(group)
        groups[id(module)] = by_name[name] = group
    counts: dict[str, int] = {}
    for v in order:
        if v.scope is not None and id(v.scope) not in groups:
            cls = type(v.scope).__name__
            counts[cls] = counts.get(cls, -1) + 1
            groups[id(v.scope)] = _Group(v.scope, f"{cls} {counts[cls]}", len(groups))
    return groups


def _mark_boxes(groups: list[_Group], class_name: str, asked: str) -> None:
    """Set each group's ``box``: its outermost ancestor-or-self of the collapsed class."""
    matched = False
    for group in groups:
        ancestor: _Group | None = group
        while ancestor is not None:
            if ancestor.matches(class_name):
                group.box = ancestor
                matched = True
            ancestor = ancestor.parent
    if not matched:
        made_by = sorted({type(g.owner).__name__ for g in groups}) or ["no module"]
        raise ValueError(
            f"collapse={asked!r} matches no module that made a node of this graph (nodes were made "
            f"by: {', '.join(made_by)}); pass model=your_model so that layers are known, "
            "or collapse one of those"
        )


# --- rendering a scene as a Digraph ------------------------------------------


@dataclass(frozen=True)
class _Style:
    rankdir: str
    show_grad: bool
    shade_grad: bool
    legend: bool


_RANKDIRS = ("LR", "RL", "TB", "BT")


def _checked_rankdir(rankdir: str) -> str:
    if rankdir not in _RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(_RANKDIRS)}, got {rankdir!r}")
    return rankdir


def _render(
    scene: _Scene,
    style: _Style,
    grad_of: Callable[[Value], float | None],
    highlight: Value | None = None,
    edge_labels: Mapping[tuple[Value, int], str] | None = None,
) -> graphviz.Digraph:
    edge_labels = edge_labels or {}
    graph = _drawing_class()(
        # nslimit bounds dot's placement search, which runs for minutes when one input
        # feeds hundreds of operations (x + x*x + x*x + ...); small drawings are unchanged
        graph_attr={"rankdir": style.rankdir, "fontname": _FONT, "fontsize": "11", "nslimit": "1"},
        node_attr={"fontname": _FONT, "fontsize": "11"},
        edge_attr={"fontname": _FONT, "fontsize": "9", "arrowsize": "0.6", "color": "#868e96"},
    )
    ids = {v: f"n{i}" for i, v in enumerate(scene.order)}
    shade = _Shader(scene, grad_of) if style.shade_grad else None
    # statements by cluster (None: top level), so each cluster is written in one piece
    body: dict[_Group | None, list[Callable[[Any], None]]] = {}

    def add(group: _Group | None, statement: Callable[[Any], None]) -> None:
        body.setdefault(group, []).append(statement)

    roles_seen = set()
    for v in scene.order:
        if scene.box_of(v) is not None:
            continue
        role = scene.role(v)
        roles_seen.add(role)
        attrs = _fill(role, shade.color(grad_of(v)) if shade else None)
        if v is highlight:
            attrs.update(color=_HIGHLIGHT_COLOR, penwidth="3")
        label = _record(scene.names.get(v) or v.label, v.data, grad_of(v), style.show_grad)
        group = scene.group_of.get(v)
        add(group, functools.partial(_node, ids[v], label, shape="record", **attrs))
        if v.op:
            add(group, functools.partial(_node, ids[v] + "op", op_label(v), shape="ellipse", **_OP_ATTRS))
            add(None, functools.partial(_edge, ids[v] + "op", ids[v]))

    boxes = [g for g in scene.groups if g.box is g]
    for box in boxes:
        outputs = [v for v in scene.order if scene.box_of(v) is box and _leaves_box(scene, v, box)]
        roles_seen.add("output" if scene.root in outputs else "module")
        attrs = _fill("output" if scene.root in outputs else "module", None)
        if shade:
            attrs = _fill("module", shade.color(max((abs(grad_of(v) or 0.0) for v in outputs), default=0.0)))
        label = _box_record(box, outputs, style, grad_of)
        add(box.parent, functools.partial(_node, f"m{box.key}", label, shape="record", **attrs))

    _add_edges(scene, ids, highlight, edge_labels, lambda s: add(None, s))
    for group, statements in body.items():
        if group is None:
            for statement in statements:
                statement(graph)
    _write_clusters(graph, scene.groups, body)
    if style.legend:
        _write_legend(graph, roles_seen, style.shade_grad, shade)
    return graph


_OP_ATTRS = {"fontsize": "10", "width": "0.3", "height": "0.3", "margin": "0.03,0.02"}


def _node(node_id: str, label: str, graph: Any, **attrs: str) -> None:
    graph.node(node_id, label, **attrs)


def _edge(tail: str, head: str, graph: Any, **attrs: str) -> None:
    graph.edge(tail, head, **attrs)


def _leaves_box(scene: _Scene, v: Value, box: _Group) -> bool:
    """True when v is used outside its box, or is the root: one of the box's outputs."""
    return v is scene.root or any(scene.box_of(user) is not box for user in scene.users.get(v, ()))


def _add_edges(
    scene: _Scene,
    ids: dict[Value, str],
    highlight: Value | None,
    edge_labels: Mapping[tuple[Value, int], str],
    add: Callable[[Callable[[Any], None]], None],
) -> None:
    """An edge from each operand to its operation (or between boxes); once per box pair."""
    box_edges = set()
    for v in scene.order:
        v_box = scene.box_of(v)
        head = ids[v] + "op" if v_box is None else f"m{v_box.key}"
        for i, child in enumerate(v.children):
            child_box = scene.box_of(child)
            tail = ids[child] if child_box is None else f"m{child_box.key}"
            if v_box is None and child_box is None:
                attrs = {}
                if (v, i) in edge_labels:
                    attrs = {
                        "label": edge_labels[(v, i)],
                        "color": _HIGHLIGHT_COLOR,
                        "fontcolor": _HIGHLIGHT_COLOR,
                    }
                elif v is highlight:
                    attrs = {"color": _HIGHLIGHT_COLOR}
                add(functools.partial(_edge, tail, head, **attrs))
            elif tail != head and (tail, head) not in box_edges:
                box_edges.add((tail, head))
                add(functools.partial(_edge, tail, head))


def _write_clusters(
    graph: Any, groups: list[_Group], body: dict[_Group | None, list[Callable[[Any], None]]]
) -> None:
    """Each group with something drawn in it as a cluster, nested as the modules nest."""
    populated = set()
    for group in body:
        while group is not None and group not in populated:
            populated.add(group)
            group = group.parent

    import graphviz

    def write(parent_graph: Any, group: _Group) -> None:
        # graphviz copies a subgraph's text when attached, so fill it before attaching
        cluster = graphviz.Digraph(name=f"cluster_{group.key}")
        cluster.attr(label=group.title, style="rounded,dashed", color="#adb5bd", fontcolor="#495057")
        for statement in body.get(group, ()):
            statement(cluster)
        for child in group.children:
            if child in populated:
                write(cluster, child)
        parent_graph.subgraph(cluster)

    for group in groups:
        if group.parent is None and group in populated:
            write(graph, group)


def _write_legend(graph: Any, roles: set[str], shaded: bool, shade: _Shader | None) -> None:
    """A small cluster naming the colours used."""
    import graphviz

    legend = graphviz.Digraph(name="cluster_legend")
    legend.attr(label="legend", style="rounded", color="#dee2e6", fontcolor="#868e96")
    names = [role for role in ROLE_COLORS if role in roles]
    for role in names:
        legend.node(
            f"legend_{role}", role, shape="box", fontsize="9", **_fill(role, "white" if shaded else None)
        )
    if shade is not None:
        legend.node(
            "legend_grad_zero", "|grad| 0", shape="box", fontsize="9", style="filled", fillcolor="white"
        )
        legend.node(
            "legend_grad_max",
            f"|grad| {format_number(shade.largest)}",
            shape="box",
            fontsize="9",
            style="filled",
            fillcolor=shade.color(shade.largest),
        )
        names += ["grad_zero", "grad_max"]
    # invisible edges keep the entries in one row, in order
    for left, right in zip(names, names[1:]):
        legend.edge(f"legend_{left}", f"legend_{right}", style="invis")
    graph.subgraph(legend)


def _fill(role: str, shade_color: str | None) -> dict[str, str]:
    """Node colours: filled by role, or (when shading) filled by |grad| and outlined by role."""
    if shade_color is None:
        return {"style": "filled", "fillcolor": ROLE_COLORS[role]}
    return {"style": "filled", "fillcolor": shade_color, "color": _darker(ROLE_COLORS[role]), "penwidth": "2"}


def _darker(hex_color: str) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return "#{:02x}{:02x}{:02x}".format(*(int(c * 0.6) for c in (r, g, b)))


class _Shader:
    """Colours from white (|grad| 0) to red (the largest |grad| drawn)."""

    def __init__(self, scene: _Scene, grad_of: Callable[[Value], float | None]) -> None:
        self.largest = max((abs(grad_of(v) or 0.0) for v in scene.order), default=0.0)

    def color(self, grad: float | None) -> str:
        t = abs(grad or 0.0) / self.largest if self.largest > 0.0 else 0.0
        r, g, b = (round(255 + (c - 255) * t) for c in _SHADE_COLOR)
        return f"#{r:02x}{g:02x}{b:02x}"


def _record(name: str, data: float, grad: float | None, show_grad: bool) -> str:
    """A record label: ``{ name | data 0.5 | grad -1.2 }`` (grad ``?`` when not yet known)."""
    fields = [_escape(name)] if name else []
    fields.append(f"data {format_number(data)}")
    if show_grad:
        fields.append(f"grad {'?' if grad is None else format_number(grad)}")
    return "{ " + " | ".join(fields) + " }"


def _box_record(
    box: _Group, outputs: list[Value], style: _Style, grad_of: Callable[[Value], float | None]
) -> str:
    """A collapsed module's label: its title, parameter count, and its output's data and grad."""
    count = len(getattr(box.owner, "parameters", list)())
    fields = [_escape(box.title), f"{count} parameter{'s' * (count != 1)}"]
    if len(outputs) == 1:
        fields.append(f"data {format_number(outputs[0].data)}")
        if style.show_grad:
            g = grad_of(outputs[0])
            fields.append(f"grad {'?' if g is None else format_number(g)}")
    else:
        fields.append(f"{len(outputs)} outputs")
    return "{ " + " | ".join(fields) + " }"


def _escape(text: str) -> str:
    # characters that structure a record label, and the escape character itself
    for ch in "\\{}|<>":
        text = text.replace(ch, "\\" + ch)
    return text
