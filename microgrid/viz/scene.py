"""The scene: what a drawing shows and where, before any question of how it looks.

A ``Scene`` is root's graph read once: its nodes in a topological order
(operands left to right, as the code computed them), each node's users, role
and name, the module (cluster) that made it, the box it is collapsed into, and
which long edges are drawn as small references instead. Drawings, backward
steps and the explorer are all built from a scene.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from microgrid.engine import Value

DEFAULT_MAX_NODES = 2000
# With collapse, most Values vanish into boxes, so many more may be read; this
# bound (a multiple of max_nodes) only keeps a runaway graph from hanging.
_COLLAPSED_READ_FACTOR = 100
# dot lays out an edge across k ranks as a chain of k - 1 hidden nodes, and a
# leaf that feeds every rank of a long chain (x + x + ... + x) makes this
# quadratic: 149 products of the same two leaves kept dot busy for minutes.
# Past this many hidden nodes, the longest edges are drawn as references.
LONG_EDGE_BUDGET = 1500
_SHORT_EDGE = 4  # hidden nodes: an edge this long is still easy to follow


class GraphTooLargeError(ValueError):
    """The graph has more nodes than ``max_nodes``: too many to draw readably."""


@dataclass(eq=False)
class Group:
    """A module (or any scope owner) that made nodes: a cluster, or a box when collapsed."""

    owner: object
    title: str  # as its cluster shows it: "neurons.2 (Neuron)", or "Neuron 2" without a model
    name: str  # its full name: "layers.0.neurons.2", or "Neuron 2"
    key: int
    parent: Group | None = None
    box: Group | None = None  # the collapsed group this one is drawn inside, if any
    children: list[Group] = field(default_factory=list)

    def matches(self, class_name: str) -> bool:
        """True when the owner is an instance of a class of that (lower-case) name."""
        return any(cls.__name__.lower() == class_name for cls in type(self.owner).__mro__)


@dataclass
class Scene:
    """root's graph, with each node's role, name, cluster and (when collapsed) box."""

    root: Value
    order: list[Value]  # topological: operands before the node, left to right; root last
    names: dict[Value, str]  # parameter names (from the model, or from the module that made them)
    parameters: set[Value]
    group_of: dict[Value, Group]
    groups: list[Group]  # in the modules' own order
    users: dict[Value, list[tuple[Value, int]]]  # (user, operand index) for each use of a node
    references: set[tuple[Value, int]] = field(default_factory=set)  # uses drawn as a reference
    ids: dict[Value, str] = field(default_factory=dict)  # each node's id in the DOT source: n0, n1, ...

    @classmethod
    def build(cls, root: Value, *, model: Any, collapse: str | None, max_nodes: int) -> Scene:
        """Read root's graph; raise GraphTooLargeError past ``max_nodes`` (see ``draw_dot``)."""
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
        users: dict[Value, list[tuple[Value, int]]] = {v: [] for v in order}
        for v in order:
            for i, child in enumerate(v.children):
                users[child].append((v, i))
        scene = cls(root, order, names, set(owners), group_of, groups, users)
        if collapse is not None:
            drawn = len(scene.drawn_values()) + sum(1 for v in scene.drawn_values() if v.op)
            drawn += len(scene.boxes())
            if drawn > max_nodes:
                bigger = (
                    "" if collapse.lower() == "layer" else "collapse a bigger module (collapse='layer'), "
                )
                raise GraphTooLargeError(
                    f"even collapsed by {collapse!r}, the drawing has {drawn} nodes, more than "
                    f"max_nodes={max_nodes}; {bigger}draw a smaller graph (one sample instead of "
                    "a batch), or raise max_nodes"
                )
        scene.references = _long_edges_as_references(scene)
        scene.ids = {v: f"n{k}" for k, v in enumerate(order)}
        return scene

    def box_of(self, v: Value) -> Group | None:
        """The collapsed box ``v`` is drawn inside, or None when it is drawn itself."""
        group = self.group_of.get(v)
        return group.box if group is not None else None

    def drawn_values(self) -> list[Value]:
        """The Values drawn as records (those not inside a box), in order."""
        return [v for v in self.order if self.box_of(v) is None]

    def boxes(self) -> list[Group]:
        """The collapsed boxes, in the modules' order."""
        return [g for g in self.groups if g.box is g]

    def box_outputs(self, box: Group) -> list[Value]:
        """The Values of ``box`` used outside it (or the root): what the box shows and passes on."""
        return [
            v
            for v in self.order
            if self.box_of(v) is box
            and (v is self.root or any(self.box_of(user) is not box for user, _ in self.users[v]))
        ]

    def role(self, v: Value) -> str:
        """One of "output", "intermediate", "parameter", "input"."""
        if v is self.root:
            return "output"
        if v.children:
            return "intermediate"
        return "parameter" if v in self.parameters else "input"


def _nodes_in_order(root: Value, limit: int, *, collapsed: bool) -> list[Value]:
    """Every node, each after its operands (visited left to right); root last.

    Refuses past ``limit`` nodes as soon as it has seen that many: a huge graph
    costs nothing. No recursion: any depth works.
    """
    order: list[Value] = []
    seen = {root}
    stack = [(root, iter(root.children))]
    while stack:
        node, operands = stack[-1]
        for child in operands:
            if child not in seen:
                seen.add(child)
                if len(seen) > limit:
                    raise GraphTooLargeError(_too_large_message(limit, collapsed))
                stack.append((child, iter(child.children)))
                break
        else:
            stack.pop()
            order.append(node)
    return order


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


def _groups(named_modules: list[tuple[str, object]], order: list[Value]) -> dict[int, Group]:
    """A group per module of the model (nested as named), and per other scope owner (flat)."""
    groups: dict[int, Group] = {}
    by_name: dict[str, Group] = {}
    for name, module in named_modules:
        parent_name = name.rpartition(".")[0]
        while parent_name and parent_name not in by_name:  # e.g. "layers.0" -> "layers" -> ""
            parent_name = parent_name.rpartition(".")[0]
        parent = by_name.get(parent_name) if name else None
        relative = name[len(parent_name) + 1 :] if parent_name else name
        title = f"{relative} ({type(module).__name__})" if name else type(module).__name__
        group = Group(module, title, name or type(module).__name__, len(groups), parent)
        if parent is not None:
            parent.children.append(group)
        groups[id(module)] = by_name[name] = group
    counts: dict[str, int] = {}
    for owner in _scopes_in_module_order(order, groups):
        cls = type(owner).__name__
        counts[cls] = counts.get(cls, -1) + 1
        title = f"{cls} {counts[cls]}"
        groups[id(owner)] = Group(owner, title, title, len(groups))
    return groups


def _scopes_in_module_order(order: list[Value], known: dict[int, Group]) -> list[object]:
    """The scope owners not in ``known``, in their modules' own order.

    Owners that list others among their ``named_modules`` (an MLP that made its
    inputs lists its neurons) give the order of those; the rest keep the order
    in which the graph first uses them.
    """
    owners = list(
        {id(v.scope): v.scope for v in order if v.scope is not None and id(v.scope) not in known}.values()
    )
    listings = {id(o): [m for _, m in o.named_modules()] for o in owners if hasattr(o, "named_modules")}
    position: dict[int, int] = {}
    for owner in sorted(owners, key=lambda o: -len(listings.get(id(o), ()))):  # containers first
        for module in listings.get(id(owner), ()):
            position.setdefault(id(module), len(position))
    ranked = [(position.get(id(owner), len(position) + i), owner) for i, owner in enumerate(owners)]
    return [owner for _, owner in sorted(ranked, key=lambda pair: pair[0])]


def _mark_boxes(groups: list[Group], class_name: str, asked: str) -> None:
    """Set each group's ``box``: its outermost ancestor-or-self of the collapsed class."""
    matched = False
    for group in groups:
        ancestor: Group | None = group
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


def _long_edges_as_references(scene: Scene) -> set[tuple[Value, int]]:
    """The uses to draw as a small reference beside their user rather than as a long edge.

    Each drawn node is ranked by its distance from the root (two ranks per
    operation: its record and its operation node), as far right as it can go; a
    node then sits just before its farthest user, and each nearer use is an edge
    across ``depth(node) - depth(user) - 2`` hidden nodes. dot's own placement
    needs no more. While they stay within LONG_EDGE_BUDGET, nothing changes;
    past it, every use more than _SHORT_EDGE ranks long becomes a reference
    (the farthest use stays an edge), so the drawing reads as short steps.
    """
    depth: dict[Value, int] = {}
    for v in reversed(scene.order):
        if scene.box_of(v) is not None:
            continue
        user_depths = [depth[u] for u, _ in scene.users[v] if u in depth]
        depth[v] = max(user_depths) + 2 if user_depths else 0
    spans = []
    for v, uses in scene.users.items():
        drawn = sorted(((depth[u], u, i) for u, i in uses if u in depth and v in depth), key=lambda d: -d[0])
        spans += [(depth[v] - d - 2, u, i) for d, u, i in drawn[1:]]
    if sum(span for span, _, _ in spans) <= LONG_EDGE_BUDGET:
        return set()
    return {(user, i) for span, user, i in spans if span > _SHORT_EDGE}
