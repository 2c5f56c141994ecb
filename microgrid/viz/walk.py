"""Backpropagation as a sequence of steps, each with the chain-rule products it applies.

A ``Walkthrough`` cuts a pass over root's graph into steps: optionally the
forward pass first (the leaves, then each operation in topological order),
then the backward pass: the seed (d out/d out = 1), then each operation in
reverse topological order passing its gradient to its operands. Collapsed, a
step is a whole neuron or layer. Each step records its caption, its products
and the gradients that became final (a node's gradient is final once every
node that uses it has been processed); from these it knows what every drawn
node shows at every step. ``frame(k)`` draws step k; the explorer and
``backward_steps`` are views of a walkthrough.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from microgrid.engine import Value, gradients, local_derivatives
from microgrid.viz.labels import format_number
from microgrid.viz.render import Style, box_id, edge_ends, record_id, render_scene
from microgrid.viz.scene import Group, Scene

if TYPE_CHECKING:
    import graphviz

_MAX_CAPTION_LINES = 12  # a neuron with 784 inputs: the first products, then a count
_PLAIN_NAME = re.compile(r"[\w.\[\]]+")
_INFIX = ("+", "-", "*", "/", "**")


@dataclass(frozen=True)
class Product:
    """One chain-rule product: ``d out/d target += d out/d via * d via/d target``."""

    target: Value
    via: Value
    upstream: float  # d out / d via
    local: float  # d via / d target
    total: float  # d out / d target with this product added
    final: bool  # no use of target is left to process: total is its gradient

    @property
    def contribution(self) -> float:
        """``upstream * local``: what this product adds to target's gradient."""
        return self.upstream * self.local


@dataclass(frozen=True)
class Step:
    """One step: the nodes it processes, its caption, its products, the gradients it makes final."""

    phase: str  # "forward" or "backward"
    nodes: tuple[Value, ...]  # the node processed (a collapsed module: all of its nodes)
    caption: str
    products: tuple[Product, ...] = ()
    finals: tuple[Value, ...] = ()


# What a drawn record shows at a step: its data field, its grad field, and the
# grad's state: "pending" (no use processed yet), "partial" or "final".
Shown = tuple[str, str, str]


class Walkthrough:
    """The steps of a pass over a scene, and what each drawn record shows at each step.

    ``steps[k]`` is step k; ``shown_at(k)`` what every record shows after it;
    ``names`` names every node (its label, its parameter name, or ``n1``, ``n2``, ...;
    the output is ``out`` unless labelled); ``final`` holds the engine's gradients.
    """

    def __init__(self, scene: Scene, *, forward: bool = False) -> None:
        self.scene = scene
        self.names = _names(scene)
        self.out = self.names[scene.root]
        self.final: dict[Value, float] = gradients(scene.root)  # the engine's own: no .grad touched
        self.units = _units(scene)  # (box or None, its nodes), each after the units it reads
        # record id -> the Value whose data and grad it shows (a box: its one output, if one)
        self.records: dict[str, Value | None] = {record_id(scene, v): v for v in scene.drawn_values()}
        for box in scene.boxes():
            outputs = scene.box_outputs(box)
            self.records[box_id(box)] = outputs[0] if len(outputs) == 1 else None
        self.initial: dict[str, Shown] = {
            rid: (_data(v, known=not forward), _PENDING, "pending") for rid, v in self.records.items()
        }
        self.steps: list[Step] = []
        self.changes: list[dict[str, Shown]] = []  # what each step changes: record id -> shown
        if forward:
            self._forward()
        self._backward()

    def __len__(self) -> int:
        return len(self.steps)

    def shown_at(self, k: int) -> dict[str, Shown]:
        """What every drawn record shows after step ``k``."""
        state = dict(self.initial)
        for changes in self.changes[: k + 1]:
            state.update(changes)
        return state

    def frame(self, k: int, style: Style) -> graphviz.Digraph:
        """Step ``k`` drawn: its nodes outlined in red, the local derivative on each edge it multiplies by."""
        shown = self.shown_at(k)
        step = self.steps[k]
        labels = {}
        if step.products and len(step.nodes) == 1 and self.scene.box_of(step.nodes[0]) is None:
            node = step.nodes[0]
            labels = {(node, i): f"local {format_number(d)}" for i, d in enumerate(local_derivatives(node))}
        return render_scene(
            self.scene,
            style,
            show=lambda v: shown[record_id(self.scene, v)][:2],
            names=self.names,
            highlight=step.nodes,
            edge_labels=labels,
        )

    def edges(self, step: Step) -> list[tuple[str, str]]:
        """The drawn edges (tail id, head id) that carry the operands of a step's nodes into them."""
        inside = set(step.nodes)
        ends = {
            edge_ends(self.scene, n, i): None
            for n in step.nodes
            for i, child in enumerate(n.children)
            if child not in inside or self.scene.box_of(n) is None
        }
        return [(tail, head) for tail, head in ends if tail != head]

    def formula(self, v: Value, *, numbers: bool = False) -> str:
        """How ``v`` was computed: ``w * x``, ``tanh(n)``; with ``numbers``, its operands' values."""
        operands = [format_number(c.data) if numbers else _wrapped(self.names[c]) for c in v.children]
        operands += [format_number(k) for k in v.const]
        if v.op in _INFIX and len(operands) == 2:
            return f"{operands[0]} {v.op} {operands[1]}"
        shown = operands if len(operands) <= 6 else [*operands[:5], f"... {len(operands) - 5} more"]
        return f"{v.op}({', '.join(shown)})"

    # --- the two passes ------------------------------------------------------

    def _forward(self) -> None:
        leaves = [v for v in self.scene.order if not v.children]
        listed = ", ".join(f"{self.names[v]} = {format_number(v.data)}" for v in leaves[:8])
        more = f", and {len(leaves) - 8} more" if len(leaves) > 8 else ""
        self._add(Step("forward", tuple(leaves), f"forward: the leaves hold their values: {listed}{more}"))
        for box, nodes in self.units:
            if box is None:
                v = nodes[0]
                caption = (
                    f"forward: {self.names[v]} = {self.formula(v)} = {self.formula(v, numbers=True)} "
                    f"= {format_number(v.data)}"
                )
            else:
                outputs = self.scene.box_outputs(box)
                computed = ", ".join(f"{self.names[o]} = {format_number(o.data)}" for o in outputs[:8])
                caption = f"forward: {box.name} computes {computed}" + (" ..." if len(outputs) > 8 else "")
            self._add(Step("forward", tuple(nodes), caption))

    def _backward(self) -> None:
        root = self.scene.root
        everything_known = {
            rid: (_data(v, known=True), _PENDING, "pending") for rid, v in self.records.items()
        }
        seed = f"backward: d {self.out}/d {self.out} = 1, the seed (the output's gradient with respect to itself)"
        self._add(Step("backward", (root,), seed, finals=(root,)), everything_known)
        uses_left = {v: len(users) for v, users in self.scene.users.items()}
        running: dict[Value, float] = {}
        finished = {root}
        for box, nodes in reversed(self.units):
            if box is None:
                node = nodes[0]
                raw = [
                    (node, child, self.final[node], d)
                    for child, d in zip(node.children, local_derivatives(node))
                ]
            else:
                raw = self._through_box(box, nodes)
            for n in nodes:  # every use by this step's nodes is processed now
                for child in n.children:
                    uses_left[child] -= 1
            last = {target: k for k, (_, target, _, _) in enumerate(raw)}
            products = []
            for k, (via, target, upstream, local) in enumerate(raw):
                running[target] = running.get(target, 0.0) + upstream * local
                final = uses_left[target] == 0 and last[target] == k
                total = self.final[target] if final else running[target]
                products.append(Product(target, via, upstream, local, total, final))
            newly = [p.target for p in products if p.final] + [v for v in nodes if box is not None]
            finals = tuple(v for v in dict.fromkeys(newly) if v not in finished)
            finished.update(finals)
            self._add(
                Step("backward", tuple(nodes), self._caption(box, nodes, products), tuple(products), finals)
            )

    def _add(self, step: Step, extra: Mapping[str, Shown] | None = None) -> None:
        """Append a step, with what it changes in the drawn records."""
        changes = dict(extra or {})
        shows = {v: rid for rid, v in self.records.items() if v is not None}
        if step.phase == "forward":
            for v in step.nodes:
                if v in shows:
                    changes[shows[v]] = (_data(v, known=True), _PENDING, "pending")
        for p in step.products:
            if p.target in shows and not p.final:
                rid = shows[p.target]
                changes[rid] = (_data(p.target, known=True), f"grad {format_number(p.total)} + ?", "partial")
        for v in step.finals:
            if v in shows:
                changes[shows[v]] = (_data(v, known=True), f"grad {format_number(self.final[v])}", "final")
        self.steps.append(step)
        self.changes.append(changes)

    def _caption(self, box: Group | None, nodes: list[Value], products: list[Product]) -> str:
        if box is None:
            node = nodes[0]
            name = self.names[node]
            formula = self.formula(node)
            made = name if formula == name else f"{name} = {formula}"  # a label may be its formula
            head = (
                f"backward: {made} passes {self._d(name)} = {format_number(self.final[node])} to its operands"
            )
        else:
            head = f"backward: {box.name} passes the gradients of its outputs to its inputs"
        lines = [head] + [self._product_line(p) for p in products[:_MAX_CAPTION_LINES]]
        if len(products) > _MAX_CAPTION_LINES:
            lines.append(
                f"... and {len(products) - _MAX_CAPTION_LINES} more products (click a node for its own)"
            )
        if box is not None:
            params = [v for v in nodes if v in self.scene.parameters]
            if params:
                lines.append(f"and its {len(params)} parameters get their final gradients")
        return "\n".join(lines)

    def _product_line(self, p: Product) -> str:
        target, via = self.names[p.target], self.names[p.via]
        numbers = f"{format_number(p.upstream)} · {format_number(p.local)} = {format_number(p.contribution)}"
        chain = f"{self._d(via)} · d {_wrapped(via)}/d {_wrapped(target)} = {numbers}"
        if len(self.scene.users[p.target]) == 1:
            return f"{self._d(target)} = {chain}"
        now = "final" if p.final else "so far"
        return f"{self._d(target)} += {chain}, so {self._d(target)} = {format_number(p.total)} ({now})"

    def _d(self, name: str) -> str:
        return f"d {_wrapped(self.out)}/d {_wrapped(name)}"

    def _through_box(self, box: Group, nodes: list[Value]) -> list[tuple[Value, Value, float, float]]:
        """(via, target, d out/d via, d via/d target) from each output of box to each input it reads."""
        inside = set(nodes)
        found = []
        for output in self.scene.box_outputs(box):
            within = {output: 1.0}  # d output / d node, by the chain rule inside the box
            for n in reversed(nodes):
                if n in within and n.children:
                    for child, d in zip(n.children, local_derivatives(n)):
                        within[child] = within.get(child, 0.0) + within[n] * d
            found += [(output, v, self.final[output], d) for v, d in within.items() if v not in inside]
        return found


_PENDING = "grad ?"


def _data(v: Value | None, *, known: bool) -> str:
    if v is None:
        return ""
    return f"data {format_number(v.data)}" if known else "data ?"


def _wrapped(name: str) -> str:
    """A name as it reads inside ``d out/d name``: in parentheses unless a plain word."""
    return name if _PLAIN_NAME.fullmatch(name) else f"({name})"


def _names(scene: Scene) -> dict[Value, str]:
    """Every node's name: its parameter name or label, the output ``out``, a box's output
    its box's name; the rest ``n1``, ``n2``, ... (never a name already taken).
    """
    names = {v: scene.names.get(v) or v.label for v in scene.order}
    for box in scene.boxes():
        outputs = scene.box_outputs(box)
        for k, v in enumerate(outputs):
            if not names[v]:
                names[v] = box.name if len(outputs) == 1 else f"{box.name}[{k}]"
    taken = set(names.values())
    if not names[scene.root] and "out" not in taken:
        names[scene.root] = "out"
    counter = 0
    for v in scene.order:
        while not names[v]:
            counter += 1
            if f"n{counter}" not in taken:
                names[v] = f"n{counter}"
    return names


def _units(scene: Scene) -> list[tuple[Group | None, list[Value]]]:
    """The steps' units in forward order: each operation drawn alone, and each box whole.

    A box comes after every unit it reads from and before every unit that reads
    it. Raises ValueError if boxes read each other in a circle.
    """
    unit_of: dict[Value, int] = {}
    units: list[tuple[Group | None, list[Value]]] = []
    box_unit: dict[int, int] = {}
    for v in scene.order:
        if not v.children and scene.box_of(v) is None:
            continue  # a drawn leaf: nothing to process
        box = scene.box_of(v)
        if box is None:
            unit_of[v] = len(units)
            units.append((None, [v]))
        else:
            if box.key not in box_unit:
                box_unit[box.key] = len(units)
                units.append((box, []))
            unit_of[v] = box_unit[box.key]
            units[box_unit[box.key]][1].append(v)
    reads: list[set[int]] = [set() for _ in units]
    for v, u in unit_of.items():
        reads[u].update(unit_of[c] for c in v.children if c in unit_of and unit_of[c] != u)
    ordered: list[int] = []
    placed: set[int] = set()
    for start in range(len(units)):  # depth-first, in first-use order: stable for chains
        stack = [(start, iter(sorted(reads[start])))]
        if start in placed:
            continue
        visiting = {start}
        while stack:
            u, pending = stack[-1]
            for w in pending:
                if w in visiting:
                    raise ValueError(
                        "cannot step through this graph collapsed: its collapsed modules read each "
                        "other's outputs in a circle; step through it without collapse"
                    )
                if w not in placed:
                    visiting.add(w)
                    stack.append((w, iter(sorted(reads[w]))))
                    break
            else:
                stack.pop()
                visiting.discard(u)
                placed.add(u)
                ordered.append(u)
    return [units[u] for u in ordered]
