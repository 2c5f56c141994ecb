"""sympy, mpmath and torch as worlds of numbers: every operation's oracle forms, from its own forward.

An operation's forward is written once with Python's operators and the
functions of ``microgrid.ops`` (``exp``, ``where``, ...). Registered here as
worlds (``ops.register_world``), sympy expressions, mpmath numbers and torch
tensors run that same forward, so each operation of the table, a user's
included, has a symbolic form (exact derivatives), a 30-digit form and an
autograd form without a second table to keep in step. ``sympy_world()``,
``mpmath_world()`` and ``torch_world()`` import their library and register it
on first use: each library stays optional.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from microgrid import ops


@functools.cache
def sympy_world() -> Any:
    """Register sympy's expressions as a world (once) and return that world."""
    import sympy  # type: ignore[import-untyped]

    class Floor(sympy.floor):  # type: ignore[misc]
        """sympy's floor, whose derivative is 0 (sympy leaves it unevaluated): right off the jumps.

        Known real, so that sign and abs of expressions holding it can be
        differentiated too (a floor is taken only of finite quotients here).
        """

        is_extended_real = True
        is_real = True

        def fdiff(self, argindex: int = 1) -> Any:
            return sympy.Integer(0)

    class SympyWorld:
        exp = staticmethod(sympy.exp)
        exp2 = staticmethod(lambda x: 2**x)
        expm1 = staticmethod(lambda x: sympy.exp(x) - 1)
        log = staticmethod(sympy.log)
        log2 = staticmethod(lambda x: sympy.log(x, 2))
        log10 = staticmethod(lambda x: sympy.log(x, 10))
        log1p = staticmethod(lambda x: sympy.log(1 + x))
        sqrt = staticmethod(sympy.sqrt)
        sin = staticmethod(sympy.sin)
        cos = staticmethod(sympy.cos)
        tan = staticmethod(sympy.tan)
        sinh = staticmethod(sympy.sinh)
        cosh = staticmethod(sympy.cosh)
        tanh = staticmethod(sympy.tanh)
        asin = staticmethod(sympy.asin)
        acos = staticmethod(sympy.acos)
        atan = staticmethod(sympy.atan)
        asinh = staticmethod(sympy.asinh)
        acosh = staticmethod(sympy.acosh)
        atanh = staticmethod(sympy.atanh)
        sigmoid = staticmethod(lambda x: 1 / (1 + sympy.exp(-x)))
        softplus = staticmethod(lambda x: sympy.log(1 + sympy.exp(x)))
        floor = staticmethod(Floor)
        sign = staticmethod(sympy.sign)
        atan2 = staticmethod(sympy.atan2)
        hypot = staticmethod(lambda x, y: sympy.sqrt(x**2 + y**2))
        fsum = staticmethod(lambda terms: sympy.Add(*terms))
        where = staticmethod(lambda condition, a, b: _step_between(sympy, condition, a, b))

    ops.register_world(sympy.Basic, SympyWorld)
    return SympyWorld


def _step_between(sympy: Any, condition: Any, if_true: Any, if_false: Any) -> Any:
    # where(u > v, a, b) as a H(u - v) + b (1 - H(u - v)), H the unit step. Not Piecewise:
    # a Piecewise whose condition holds another makes sympy solve the inequality, which
    # takes minutes and can fail outright. Off the kinks, where oracles are asked, the
    # step's derivative (a delta) is 0 and its value is exact.
    if isinstance(condition, (sympy.StrictGreaterThan, sympy.GreaterThan)):
        step = sympy.Heaviside(condition.lhs - condition.rhs)
    elif isinstance(condition, (sympy.StrictLessThan, sympy.LessThan)):
        step = sympy.Heaviside(condition.rhs - condition.lhs)
    else:  # a decided condition (sympy.true), or an equality: rules only
        return sympy.Piecewise((if_true, condition), (if_false, True))
    return if_true * step + if_false * (1 - step)


def differentiable(expression: Any) -> Any:
    """A sympy expression with its piecewise functions spelled out so that sympy differentiates them.

    ``Mod`` (from ``%``) becomes ``a - b floor(a / b)``; ``Abs`` and ``sign``
    become unit steps (sympy leaves the derivative of ``sign(e)`` unevaluated
    when it cannot prove ``e`` real, as after ``sin(atan2(y, x))`` simplifies).
    Derivatives of the steps are deltas: 0 off the kinks (see ``off_kinks``).
    """
    import sympy

    floor = sympy_world().floor
    return (
        expression.replace(sympy.Mod, lambda a, b: a - b * floor(a / b))
        .replace(sympy.Abs, lambda e: e * (2 * sympy.Heaviside(e) - 1))
        .replace(sympy.sign, lambda e: 2 * sympy.Heaviside(e) - 1)
    )


def off_kinks(expression: Any) -> Any:
    """A derivative with its deltas (of steps, at kinks) set to 0: its value anywhere off the kinks."""
    import sympy

    return expression.replace(sympy.DiracDelta, lambda *_: sympy.Integer(0))


@functools.cache
def mpmath_world() -> Any:
    """Register mpmath's numbers as a world (once) and return that world."""
    import mpmath  # type: ignore[import-untyped]

    class MpmathWorld:
        exp = staticmethod(mpmath.exp)
        exp2 = staticmethod(lambda x: mpmath.mpf(2) ** x)
        expm1 = staticmethod(mpmath.expm1)
        log = staticmethod(mpmath.log)
        log2 = staticmethod(lambda x: mpmath.log(x, 2))
        log10 = staticmethod(mpmath.log10)
        log1p = staticmethod(mpmath.log1p)
        sqrt = staticmethod(mpmath.sqrt)
        sin = staticmethod(mpmath.sin)
        cos = staticmethod(mpmath.cos)
        tan = staticmethod(mpmath.tan)
        sinh = staticmethod(mpmath.sinh)
        cosh = staticmethod(mpmath.cosh)
        tanh = staticmethod(mpmath.tanh)
        asin = staticmethod(mpmath.asin)
        acos = staticmethod(mpmath.acos)
        atan = staticmethod(mpmath.atan)
        asinh = staticmethod(mpmath.asinh)
        acosh = staticmethod(mpmath.acosh)
        atanh = staticmethod(mpmath.atanh)
        sigmoid = staticmethod(lambda x: 1 / (1 + mpmath.exp(-x)))
        softplus = staticmethod(lambda x: mpmath.log1p(mpmath.exp(x)))
        floor = staticmethod(mpmath.floor)
        sign = staticmethod(mpmath.sign)
        atan2 = staticmethod(mpmath.atan2)
        hypot = staticmethod(mpmath.hypot)
        fsum = staticmethod(mpmath.fsum)
        where = staticmethod(ops.Floats.where)  # mpmath's comparisons are plain bools

    ops.register_world(mpmath.mpf, MpmathWorld)
    return MpmathWorld


@functools.cache
def torch_world() -> Any:
    """Register torch's tensors as a world (once) and return that world (use float64 tensors)."""
    import torch

    def tensor(x: Any, like: Any) -> Any:
        return x if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=like.dtype)

    def pair(function: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        # torch's binary functions take two tensors; a number operand becomes one
        def on_tensors(a: Any, b: Any) -> Any:
            like = a if isinstance(a, torch.Tensor) else b
            return function(tensor(a, like), tensor(b, like))

        return on_tensors

    class TorchWorld:
        exp = staticmethod(torch.exp)
        exp2 = staticmethod(torch.exp2)
        expm1 = staticmethod(torch.expm1)
        log = staticmethod(torch.log)
        log2 = staticmethod(torch.log2)
        log10 = staticmethod(torch.log10)
        log1p = staticmethod(torch.log1p)
        sqrt = staticmethod(torch.sqrt)
        sin = staticmethod(torch.sin)
        cos = staticmethod(torch.cos)
        tan = staticmethod(torch.tan)
        sinh = staticmethod(torch.sinh)
        cosh = staticmethod(torch.cosh)
        tanh = staticmethod(torch.tanh)
        asin = staticmethod(torch.asin)
        acos = staticmethod(torch.acos)
        atan = staticmethod(torch.atan)
        asinh = staticmethod(torch.asinh)
        acosh = staticmethod(torch.acosh)
        atanh = staticmethod(torch.atanh)
        sigmoid = staticmethod(torch.sigmoid)
        # log(e^x + e^0): exact everywhere (F.softplus returns x itself above 20)
        softplus = staticmethod(lambda x: torch.logaddexp(x, torch.zeros_like(x)))
        floor = staticmethod(torch.floor)
        sign = staticmethod(torch.sign)
        atan2 = staticmethod(pair(torch.atan2))
        hypot = staticmethod(pair(torch.hypot))
        fsum = staticmethod(lambda terms: sum(terms[1:], terms[0]))
        where = staticmethod(lambda condition, a, b: torch.where(condition, a, b))

    ops.register_world(torch.Tensor, TorchWorld)
    return TorchWorld
