"""The backprop explorer: one self-contained HTML page to step through backpropagation.

``explore(output)`` lays the graph out once with Graphviz and writes a page
that holds the SVG, the steps of a ``Walkthrough`` and a little plain
JavaScript (``explorer.js``, ``explorer.css`` beside this file): buttons, arrow
keys, a slider and play/pause step through the pass; the node processed is
outlined, the caption states the chain-rule products just applied, each
gradient appears when it is final, and a node shows its details on hover or
click. Nothing is fetched: no network, no library.

Where scripts do not run (an untrusted notebook, a static viewer such as a code
host), the page shows what it was written with: a strip of still frames with
their captions. The script, when it runs, replaces that strip.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

from microgrid.engine import Value, local_derivatives
from microgrid.viz.labels import format_number, op_label
from microgrid.viz.render import ROLE_COLORS, Style, box_id, checked_rankdir, pipe, record_id, render_scene
from microgrid.viz.scene import DEFAULT_MAX_NODES, Scene
from microgrid.viz.walk import Step, Walkthrough

_FALLBACK_FRAMES = 12  # still frames written for viewers that run no script
_FALLBACK_BYTES = 600_000  # and no more SVG than this in them: a notebook stays light
_displayed = itertools.count()  # numbers each page written in this process: unique element ids


class Explorer:
    """An interactive page stepping through the backward pass (and the forward pass first, if asked).

    Displays itself in Jupyter (``_repr_html_``); ``save(path)`` writes it as a
    standalone HTML file; ``html()`` returns that file's text. ``steps`` holds
    each step's caption and chain-rule products.
    """

    def __init__(self, walkthrough: Walkthrough, style: Style, *, timeout: float | None = None) -> None:
        self.walkthrough = walkthrough
        self.style = style
        self.timeout = timeout  # seconds dot may take per layout (None: no limit)
        self.seconds_per_step = 1.0
        self._svg: str | None = None
        self._frames: str | None = None

    @property
    def steps(self) -> list[Step]:
        """The steps, in order: their captions, nodes, products and the gradients made final."""
        return self.walkthrough.steps

    def __len__(self) -> int:
        return len(self.walkthrough)

    def __repr__(self) -> str:
        phases = "forward and backward passes" if self.steps[0].phase == "forward" else "backward pass"
        return f"<microgrid explorer: {len(self)} steps of the {phases}; .save('backprop.html') writes it>"

    def _repr_html_(self) -> str:
        return self.fragment()

    def save(self, path: str | Path) -> Path:
        """Write the explorer as one self-contained HTML file at ``path``; returns the path."""
        path = Path(path)
        path.write_text(self.html(), encoding="utf-8")
        return path

    def html(self) -> str:
        """The explorer as a standalone HTML document (no network access: a strict content policy)."""
        policy = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
            f"<title>microgrid: backpropagation through {html.escape(self.walkthrough.out)}</title>\n"
            "<style>body { margin: 16px; font-family: Helvetica, Arial, sans-serif; }</style>\n"
            f"</head>\n<body>\n{self.fragment(focus=True)}\n</body>\n</html>\n"
        )

    def fragment(self, *, focus: bool = False) -> str:
        """The explorer as an HTML fragment: the still frames, and the script that replaces them."""
        payload = json.dumps(self._data(), ensure_ascii=True, separators=(",", ":"))
        svg = self.svg()
        digest = hashlib.sha1((payload + svg).encode()).hexdigest()[:10]
        element_id = f"mg-explorer-{digest}-{next(_displayed)}"
        call = (
            f"microgridExplorer(host, {_script_safe(payload)}, {_script_safe(json.dumps(svg))}, "
            f"{_script_safe(json.dumps(_asset('explorer.css')))})"
        )
        # JupyterLab runs a copy of the script in place (currentScript finds the host
        # beside it); classic Notebook runs it from <head>, after the host is in the page
        script = (
            "(function () {\n"
            f"{_asset('explorer.js')}\n"
            "var mine = document.currentScript && document.currentScript.previousElementSibling;\n"
            f'var host = mine && mine.id === "{element_id}" ? mine : document.getElementById("{element_id}");\n'
            f"if (host) {{ var root = {call};{' root.focus();' if focus else ''} }}\n"
            "})();"
        )
        return f'<div id="{element_id}" class="mg-explorer-host">{self._fallback()}</div><script>{script}</script>'

    def svg(self) -> str:
        """The drawing the page steps through (laid out once; every record wide enough for all it shows)."""
        if self._svg is None:
            walk = self.walkthrough
            widest: dict[str, tuple[str, str]] = {}
            for states in [walk.initial, *walk.changes]:
                for rid, (data, grad, _) in states.items():
                    old = widest.get(rid, ("", ""))
                    widest[rid] = (max(old[0], data, key=len), max(old[1], grad, key=len))
            graph = render_scene(
                walk.scene, self.style, show=lambda v: widest[record_id(walk.scene, v)], names=walk.names
            )
            self._svg = _bare_svg(pipe(graph, "svg", timeout=self.timeout).decode())
        return self._svg

    def _data(self) -> dict[str, Any]:
        """What the script needs: each step, what each record shows, each node's details."""
        walk = self.walkthrough
        scene = walk.scene
        steps = []
        shows = {v: rid for rid, v in walk.records.items() if v is not None}
        for step, changes in zip(walk.steps, walk.changes):
            current = {record_id(scene, v): None for v in step.nodes}
            current.update(
                {scene.ids[v] + "op": None for v in step.nodes if v.op and scene.box_of(v) is None}
            )
            edges = [f"{tail}->{head}" for tail, head in walk.edges(step)]
            edges += [
                f"{scene.ids[v]}op->{scene.ids[v]}" for v in step.nodes if v.op and scene.box_of(v) is None
            ]
            steps.append(
                {
                    "phase": step.phase,
                    "caption": step.caption,
                    "current": list(current),
                    "edges": edges,
                    "changes": {rid: list(shown) for rid, shown in changes.items()},
                    "finals": [shows[v] for v in step.finals if v in shows],
                }
            )
        details: dict[str, Any] = {}
        refs: dict[str, str] = {}
        roles = {scene.role(v) for v in scene.drawn_values()} | {"module" for _ in scene.boxes()}
        for v in scene.drawn_values():
            details[scene.ids[v]] = self._value_details(v)
            if v.op:
                refs[scene.ids[v] + "op"] = scene.ids[v]
        for user, i in scene.references:
            refs[f"{scene.ids[user]}r{i}"] = scene.ids[user.children[i]]
        for box in scene.boxes():
            outputs = scene.box_outputs(box)
            details[box_id(box)] = {
                "name": box.title,
                "role": "a collapsed module",
                "data": format_number(outputs[0].data, 17) if len(outputs) == 1 else "",
                "grad": format_number(walk.final[outputs[0]], 17) if len(outputs) == 1 else "",
                "parameters": len(getattr(box.owner, "parameters", list)()),
                "outputs": [
                    f"{walk.names[o]}: data {format_number(o.data)}, grad {format_number(walk.final[o])}"
                    for o in outputs
                ],
            }
        return {
            "steps": steps,
            "initial": {rid: list(shown) for rid, shown in walk.initial.items()},
            "details": details,
            "refs": refs,
            "grads": True,
            "roles": [[role, color] for role, color in ROLE_COLORS.items() if role in roles],
            "seconds": self.seconds_per_step,
        }

    def _value_details(self, v: Value) -> dict[str, Any]:
        walk = self.walkthrough
        info: dict[str, Any] = {
            "name": walk.names[v],
            "role": walk.scene.role(v),
            "data": repr(v.data),
            "grad": repr(walk.final[v]),
            "uses": len(walk.scene.users[v]),
        }
        if v in walk.scene.parameters:
            info["parameter"] = walk.scene.names.get(v, "")
        if v.op:
            info["op"] = op_label(v)
            info["formula"] = walk.formula(v)
            info["operands"] = [
                [walk.names[child], repr(d)] for child, d in zip(v.children, local_derivatives(v))
            ]
        return info

    def _fallback(self) -> str:
        """Still frames with captions, for viewers that run no script (drawn once)."""
        if self._frames is None:
            self._frames = self._still_frames()
        return self._frames

    def _still_frames(self) -> str:
        walk = self.walkthrough
        count = max(2, min(_FALLBACK_FRAMES, _FALLBACK_BYTES // max(len(self.svg()), 1)))
        chosen = sorted({round(k * (len(walk) - 1) / max(count - 1, 1)) for k in range(count)})
        note = (
            "This explorer steps through backpropagation with a small script, which does not run here "
            "(an untrusted notebook, or a page that shows notebooks without running them): run the cell, "
            "trust the notebook, or open the saved page in a browser to step through it. "
            + (
                f"The {len(walk)} steps, as still frames:"
                if len(chosen) == len(walk)
                else f"{len(chosen)} of its {len(walk)} steps, as still frames:"
            )
        )
        frames = []
        for k in chosen:
            svg = _bare_svg(pipe(walk.frame(k, self.style), "svg", timeout=self.timeout).decode())
            svg = svg.replace(
                "<svg ", '<svg style="max-width:100%;height:auto" ', 1
            )  # fit the output's width
            caption = html.escape(f"step {k + 1} of {len(walk)}: {walk.steps[k].caption}")
            frames.append(
                '<figure style="margin:0 0 12px 0">'
                f'<figcaption style="font:12px monospace;white-space:pre-wrap">{caption}</figcaption>'
                f"{svg}</figure>"
            )
        return f'<div class="mg-fallback"><p style="color:#495057">{html.escape(note)}</p>{"".join(frames)}</div>'


def explore(
    output: Value,
    model: Any = None,
    *,
    forward: bool = False,
    collapse: str | None = None,
    rankdir: str = "LR",
    max_nodes: int = DEFAULT_MAX_NODES,
) -> Explorer:
    """An interactive, self-contained page that steps through backpropagation from ``output``.

    Step 0 is the seed (d out/d out = 1); each later step is one node (with
    ``collapse``, one neuron or layer) passing its gradient to its operands, in
    reverse topological order, its caption the chain-rule products applied
    (``d out/d w = d out/d n · d n/d w = 0.5 · -2 = -1``). A gradient appears the
    moment it is final; before, it shows as pending. Buttons, the arrow keys
    (Home, End, space to play), a slider and play/pause move between steps;
    hovering or clicking a node shows its data, gradient, operation, local
    derivatives and, with ``model=``, its parameter name. Gradients are computed
    into a separate table: no ``.grad`` is changed.

    Args:
        output: the Value to backpropagate from.
        model: a ``microgrid.nn.Module``: parameters are named by their dotted names.
        forward: show the forward pass first (the values appearing in topological order).
        collapse: "neuron" or "layer": step a network a module at a time, as ``draw_dot`` draws it.
        rankdir: the drawing's direction: "LR", "RL", "TB" or "BT".
        max_nodes: as for ``draw_dot``: refuse bigger graphs (the message suggests ``collapse``).

    Returns an Explorer: shows itself in Jupyter, ``.save("backprop.html")`` writes the page.
    Raises GraphTooLargeError, ValueError and TypeError as ``draw_dot`` does.

    """
    style = Style(rankdir=checked_rankdir(rankdir), legend=False)  # the page has its own legend
    scene = Scene.build(output, model=model, collapse=collapse, max_nodes=max_nodes)
    return Explorer(Walkthrough(scene, forward=bool(forward)), style)


def _asset(name: str) -> str:
    return (resources.files("microgrid.viz") / name).read_text(encoding="utf-8")


def _script_safe(json_text: str) -> str:
    # JSON inside <script>: no "</script>" or "<!--" can end or change it
    return json_text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_SVG_START = re.compile(r"<svg\b")


def _bare_svg(document: str) -> str:
    """The <svg> element of dot's output, without the XML prolog, doctype and comments."""
    start = _SVG_START.search(document)
    body = document[start.start() :] if start else document
    return re.sub(r"<!--.*?-->\n?", "", body, flags=re.DOTALL)
