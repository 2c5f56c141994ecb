"""microgrid: a small, readable scalar automatic-differentiation engine.

A ``Value`` holds one number and remembers the operations that made it;
``backward()`` fills in every node's gradient by the chain rule; every
operation is one entry of ``microgrid.ops``. On top:
``microgrid.nn`` (neurons, layers, MLPs), ``microgrid.losses``,
``microgrid.optim`` (SGD, Adam), ``microgrid.data``, ``microgrid.train``,
``microgrid.testing`` (gradcheck, hypothesis strategies),
``microgrid.viz`` (Graphviz drawings) and ``microgrid.tape`` (``Tape``: a
recorded graph compiled, replayed fast on new inputs and whole batches).
"""

from __future__ import annotations

from microgrid.engine import (
    Value,
    grad,
    gradients,
    is_grad_enabled,
    local_derivatives,
    no_grad,
    register_operation,
    scope,
    set_grad_enabled,
    topological_order,
    value_sum,
    weighted_sum,
)
from microgrid.nn import MLP, Layer, Module, Neuron
from microgrid.ops import Domain, Operation
from microgrid.optim import SGD, Adam
from microgrid.serialize import load, load_into, save
from microgrid.tape import Tape
from microgrid.train import fit
from microgrid.viz import backward_steps, draw_dot, explore, format_number

__all__ = [
    "MLP",
    "SGD",
    "Adam",
    "Domain",
    "Operation",
    "Tape",
    "Layer",
    "Module",
    "Neuron",
    "Value",
    "backward_steps",
    "draw_dot",
    "explore",
    "format_number",
    "grad",
    "gradients",
    "is_grad_enabled",
    "local_derivatives",
    "no_grad",
    "register_operation",
    "scope",
    "set_grad_enabled",
    "topological_order",
    "value_sum",
    "weighted_sum",
    "fit",
    "load",
    "load_into",
    "save",
]
__version__ = "0.1.0"
