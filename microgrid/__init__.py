"""microgrid: a small, readable scalar automatic-differentiation engine.

A ``Value`` holds one number and remembers the operations that made it;
``backward()`` fills in every node's gradient by the chain rule.
"""

from __future__ import annotations

from microgrid.engine import Value, grad, is_grad_enabled, no_grad, topological_order, value_sum

__all__ = ["Value", "grad", "is_grad_enabled", "no_grad", "topological_order", "value_sum"]
__version__ = "0.1.0"
