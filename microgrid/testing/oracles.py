"""A function's value, gradient and Hessian, by the engine and by three independent oracles.

sympy differentiates symbolically (exact, evaluated to 30 digits), mpmath
numerically at 30 digits, torch by its own autograd in float64. Each oracle
runs the same function on its own kind of number, so an operation of the table
is handed to them as its forward (see ``microgrid.testing.worlds``) and an
``Expression`` as its recipe. ``disagreements`` lists what differs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from microgrid.engine import Value, grad
from microgrid.testing.worlds import differentiable, mpmath_world, off_kinks, sympy_world, torch_world


class Derivatives(NamedTuple):
    """A function's value, gradient and Hessian at a point (an empty Hessian when not computed)."""

    value: float
    gradient: list[float]
    hessian: list[list[float]]


def engine_derivatives(
    f: Callable[..., Value], point: Sequence[float], second_order: bool = True
) -> Derivatives:
    """By the engine: the gradient from ``backward`` (rules on floats), the Hessian from ``grad``'s graphs."""
    leaves = [Value(x) for x in point]
    out = f(*leaves)
    out.backward()
    hessian = []
    if second_order:
        first = grad(out, leaves, create_graph=True)
        hessian = [[d2.data for d2 in grad(d, leaves)] for d in first]
    return Derivatives(out.data, [leaf.grad for leaf in leaves], hessian)


def sympy_derivatives(
    f: Callable[..., Any], point: Sequence[float], second_order: bool = True
) -> Derivatives:
    """By sympy: f on real symbols, differentiated exactly, evaluated at point (its floats' exact values) to 30 digits.

    The point must be off the kinks of f, as ``operands`` and ``expressions`` draw them.
    """
    import sympy  # type: ignore[import-untyped]

    sympy_world()
    symbols = sympy.symbols(f"x0:{len(point)}", real=True)
    at = {s: sympy.Rational(x) for s, x in zip(symbols, point)}

    def evaluate(e: Any) -> float:
        # numeric substitution: exact rational powers like (p/q) ** (r/s) would take ages
        return float(sympy.N(off_kinks(e), 30, subs=at))

    expression = differentiable(sympy.sympify(f(*symbols)))
    first = [sympy.diff(expression, s) for s in symbols]
    hessian = [[evaluate(sympy.diff(d, s)) for s in symbols] for d in first] if second_order else []
    return Derivatives(evaluate(expression), [evaluate(d) for d in first], hessian)


def mpmath_derivatives(
    f: Callable[..., Any], point: Sequence[float], second_order: bool = True
) -> Derivatives:
    """By mpmath: f on mpmath numbers, differentiated numerically (``mpmath.diff``) at 30 digits.

    The step is 2 ** -110 times the smallest nonzero coordinate, so points of
    any scale (1e-200, 1e200) are differentiated alike, with the working precision
    raised to match; even 2 ** -30 from a singularity the error of such central
    differences is far below a double's.
    """
    import mpmath  # type: ignore[import-untyped]

    mpmath_world()
    n = len(point)
    # mpmath's own recipe (a step of 2 ** -110, with the working precision raised to
    # match), but scaled to the point: its default step is absolute, and at 3e200 it
    # would see no change; bits are added for a point far below 1
    scale = min((abs(x) for x in point if x != 0.0), default=1.0)
    extra_bits = 10 + 2 * max(0, -math.frexp(scale)[1])

    def partial(*orders: int) -> float:
        with mpmath.workdps(30):
            step = mpmath.mpf(scale) * mpmath.mpf(2) ** -110
            found = mpmath.diff(f, [mpmath.mpf(x) for x in point], orders, h=step, addprec=extra_bits)
            return float(found)

    def unit(*indices: int) -> list[int]:
        return [sum(i == k for k in indices) for i in range(n)]

    hessian = [[partial(*unit(i, j)) for j in range(n)] for i in range(n)] if second_order else []
    return Derivatives(partial(*unit()), [partial(*unit(i)) for i in range(n)], hessian)


def torch_derivatives(
    f: Callable[..., Any], point: Sequence[float], second_order: bool = True
) -> Derivatives:
    """By PyTorch: f on float64 tensors, differentiated by torch.autograd (twice for the Hessian)."""
    import torch

    torch_world()
    leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in point]
    out = f(*leaves)
    found = torch.autograd.grad(out, leaves, create_graph=second_order, allow_unused=True)
    first = [torch.zeros((), dtype=torch.float64) if d is None else d for d in found]

    def second(d: Any) -> list[float]:
        if not d.requires_grad:  # a constant derivative: its own derivatives are 0
            return [0.0] * len(leaves)
        row = torch.autograd.grad(d, leaves, retain_graph=True, allow_unused=True)
        return [0.0 if r is None else r.item() for r in row]

    hessian = [second(d) for d in first] if second_order else []
    return Derivatives(out.item(), [d.item() for d in first], hessian)


def disagreements(
    engine: Derivatives, oracle: Derivatives, rtol: float, atol: float
) -> list[tuple[str, float, float, bool]]:
    """Every value compared, as (what, engine, oracle, disagrees), by ``math.isclose(rtol, atol)``."""
    rows = [("value", engine.value, oracle.value)]
    rows += [(f"d out / d x{i}", a, b) for i, (a, b) in enumerate(zip(engine.gradient, oracle.gradient))]
    rows += [
        (f"d2 out / d x{i} d x{j}", a, b)
        for i, (row, expected) in enumerate(zip(engine.hessian, oracle.hessian))
        for j, (a, b) in enumerate(zip(row, expected))
    ]
    return [(what, a, b, not math.isclose(a, b, rel_tol=rtol, abs_tol=atol)) for what, a, b in rows]
