"""Drawings of computation graphs, with Graphviz (and only Graphviz), and the backprop explorer.

``draw_dot(root)`` draws root's graph (``render``); ``backward_steps(root)`` draws
the backward pass one step at a time (``steps``); ``explore(root)`` writes an
interactive page that steps through it (``explorer``). Below them: ``walk`` cuts
a pass into steps, ``scene`` reads the graph (order, roles, clusters, boxes),
``labels`` writes the text Graphviz shows. Imports point down that list.
"""

from __future__ import annotations

from microgrid.viz.explorer import Explorer, explore
from microgrid.viz.labels import format_number, op_label
from microgrid.viz.render import (
    ROLE_COLORS,
    GraphvizNotFoundError,
    LayoutTimeoutError,
    dot_executable,
    draw_dot,
    pipe,
)
from microgrid.viz.scene import DEFAULT_MAX_NODES, GraphTooLargeError
from microgrid.viz.steps import BackwardSteps, backward_steps
from microgrid.viz.walk import Product, Step

__all__ = [
    "DEFAULT_MAX_NODES",
    "ROLE_COLORS",
    "BackwardSteps",
    "Explorer",
    "GraphTooLargeError",
    "GraphvizNotFoundError",
    "LayoutTimeoutError",
    "Product",
    "Step",
    "backward_steps",
    "dot_executable",
    "draw_dot",
    "explore",
    "format_number",
    "op_label",
    "pipe",
]
