"""Every operation's value and derivatives, checked against independent oracles.

sympy differentiates each operation symbolically, mpmath numerically at 30
digits; random graphs from ``expressions()`` are checked against sympy and
PyTorch (float64). The engine's first derivatives come from two code paths,
both checked: ``backward`` (rules on floats) and ``grad(create_graph=True)``
(rules on Values), whose second derivatives are checked too.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import mpmath
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from microgrid.engine import Value, grad, value_sum, weighted_sum
from microgrid.testing import Expression, expressions, input_values

# Agreement wanted: 1e-9 relative; near zero, 1e-12 absolute, a few thousand
# ulps of the O(1) terms that cancel there (1 - tanh(x)**2 at large x, say).
REL, ABS = 1e-9, 1e-12


class Operation(NamedTuple):
    engine: Callable[..., Value]
    symbolic: Callable[..., Any]  # on sympy symbols
    numeric: Callable[..., Any]  # on mpmath numbers
    domains: tuple[st.SearchStrategy[float], ...]  # one per argument


def between(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi)


def away_from_zero(largest: float) -> st.SearchStrategy[float]:
    # kinks (relu, abs) and poles (1/x) are at 0; finite differences need room
    return st.builds(operator.mul, st.floats(0.05, largest), st.sampled_from([1.0, -1.0]))


def piecewise_linear(slope: float) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """(sympy, mpmath) forms of x if x > 0 else slope * x."""
    return (
        lambda x: sympy.Piecewise((x, x > 0), (slope * x, True)),
        lambda x: x if x > 0 else slope * x,
    )


def power(k: float, domain: st.SearchStrategy[float]) -> Operation:
    exact = sympy.Rational(k)
    return Operation(lambda x: x**k, lambda x: x**exact, lambda x: x ** mpmath.mpf(k), (domain,))


def with_number(
    op: Callable[[Any, Any], Any], c: float, domain: st.SearchStrategy[float], number_first: bool = False
) -> Operation:
    exact = sympy.Rational(c)

    def bind(number: Any) -> Callable[[Any], Any]:
        return (lambda x: op(number, x)) if number_first else (lambda x: op(x, number))

    return Operation(bind(c), bind(exact), bind(mpmath.mpf(c)), (domain,))


WIDE = between(-10.0, 10.0)
POSITIVE = between(0.01, 100.0)

OPERATIONS: dict[str, Operation] = {
    "x + y": Operation(operator.add, operator.add, operator.add, (WIDE, WIDE)),
    "x - y": Operation(operator.sub, operator.sub, operator.sub, (WIDE, WIDE)),
    "x * y": Operation(operator.mul, operator.mul, operator.mul, (WIDE, WIDE)),
    "x / y": Operation(operator.truediv, operator.truediv, operator.truediv, (WIDE, away_from_zero(10.0))),
    "-x": Operation(operator.neg, operator.neg, operator.neg, (WIDE,)),
    # a plain number operand takes other paths (a constant, or a leaf on the left)
    "x + 2.5": with_number(operator.add, 2.5, WIDE),
    "2.5 + x": with_number(operator.add, 2.5, WIDE, number_first=True),
    "x - 2.5": with_number(operator.sub, 2.5, WIDE),
    "2.5 - x": with_number(operator.sub, 2.5, WIDE, number_first=True),
    "x * -1.5": with_number(operator.mul, -1.5, WIDE),
    "-1.5 * x": with_number(operator.mul, -1.5, WIDE, number_first=True),
    "x / 2.5": with_number(operator.truediv, 2.5, WIDE),
    "2.5 / x": with_number(operator.truediv, 2.5, away_from_zero(10.0), number_first=True),
    "x ** 2": power(2.0, WIDE),
    "x ** 3": power(3.0, WIDE),
    "x ** -1": power(-1.0, away_from_zero(10.0)),
    "x ** -2": power(-2.0, away_from_zero(10.0)),
    "x ** 0.5": power(0.5, POSITIVE),
    "x ** 1.5": power(1.5, POSITIVE),
    "x ** -0.5": power(-0.5, POSITIVE),
    "x ** y": Operation(operator.pow, operator.pow, operator.pow, (between(0.05, 10.0), between(-3.0, 3.0))),
    "2.5 ** x": Operation(
        lambda x: 2.5**x, lambda x: sympy.Rational(5, 2) ** x, lambda x: mpmath.mpf(2.5) ** x, (WIDE,)
    ),
    "exp": Operation(Value.exp, sympy.exp, mpmath.exp, (between(-30.0, 30.0),)),
    "log": Operation(Value.log, sympy.log, mpmath.log, (between(1e-3, 1e3),)),
    "sqrt": Operation(Value.sqrt, sympy.sqrt, mpmath.sqrt, (POSITIVE,)),
    "tanh": Operation(Value.tanh, sympy.tanh, mpmath.tanh, (between(-20.0, 20.0),)),
    "sigmoid": Operation(
        Value.sigmoid,
        lambda x: 1 / (1 + sympy.exp(-x)),
        lambda x: 1 / (1 + mpmath.exp(-x)),
        (between(-30.0, 30.0),),
    ),
    "softplus": Operation(
        Value.softplus,
        lambda x: sympy.log(1 + sympy.exp(x)),
        lambda x: mpmath.log(1 + mpmath.exp(x)),
        (between(-30.0, 30.0),),
    ),
    "relu": Operation(Value.relu, *piecewise_linear(0.0), (away_from_zero(10.0),)),
    "leaky_relu(0.2)": Operation(
        lambda x: x.leaky_relu(0.2), *piecewise_linear(0.2), (away_from_zero(10.0),)
    ),
    "abs": Operation(Value.abs, sympy.Abs, mpmath.fabs, (away_from_zero(10.0),)),
    "sin": Operation(Value.sin, sympy.sin, mpmath.sin, (WIDE,)),
    "cos": Operation(Value.cos, sympy.cos, mpmath.cos, (WIDE,)),
    "value_sum(x, y, z)": Operation(
        lambda *xs: value_sum(xs), lambda *xs: sympy.Add(*xs), lambda *xs: mpmath.fsum(xs), (WIDE, WIDE, WIDE)
    ),
    "weighted_sum([w1, w2], [x1, x2], b)": Operation(
        lambda w1, w2, x1, x2, b: weighted_sum([w1, w2], [x1, x2], b),
        lambda w1, w2, x1, x2, b: w1 * x1 + w2 * x2 + b,
        lambda w1, w2, x1, x2, b: w1 * x1 + w2 * x2 + b,
        (WIDE,) * 5,
    ),
}


class Derivatives(NamedTuple):
    value: float
    gradient: list[float]
    hessian: list[list[float]]


def engine_derivatives(f: Callable[..., Value], point: Sequence[float]) -> Derivatives:
    """Value, gradient and Hessian of f at point, by the engine; gradients by both paths agree."""
    leaves = [Value(x) for x in point]
    out = f(*leaves)
    out.backward()
    first = grad(out, leaves, create_graph=True)
    for leaf, d in zip(leaves, first):
        assert_close(leaf.grad, d.data, "backward (float rules) vs grad(create_graph=True) (Value rules)")
    hessian = [[d2.data for d2 in grad(d, leaves)] for d in first]
    return Derivatives(out.data, [leaf.grad for leaf in leaves], hessian)


def sympy_derivatives(f: Callable[..., Any], point: Sequence[float]) -> Derivatives:
    """Exact symbolic derivatives of f, evaluated at point to 30 digits."""
    symbols = sympy.symbols(f"x0:{len(point)}", real=True)
    at = {s: sympy.Rational(x) for s, x in zip(symbols, point)}  # the float's exact value

    def evaluate(e: Any) -> float:
        # numeric substitution: exact rational powers like (p/q) ** (r/s) would take ages
        return float(sympy.N(e, 30, subs=at))

    expr = f(*symbols)
    first = [sympy.diff(expr, s) for s in symbols]
    return Derivatives(
        evaluate(expr),
        [evaluate(d) for d in first],
        [[evaluate(sympy.diff(d, s)) for s in symbols] for d in first],
    )


def mpmath_derivatives(f: Callable[..., Any], point: Sequence[float]) -> Derivatives:
    """Numeric derivatives of f by mpmath.diff, at 30 significant digits."""
    n = len(point)

    def partial(*orders: int) -> float:
        with mpmath.workdps(30):
            return float(mpmath.diff(f, [mpmath.mpf(x) for x in point], orders))

    def unit(*indices: int) -> list[int]:
        return [sum(i == k for k in indices) for i in range(n)]

    return Derivatives(
        partial(*unit()),
        [partial(*unit(i)) for i in range(n)],
        [[partial(*unit(i, j)) for j in range(n)] for i in range(n)],
    )


def assert_close(actual: float, expected: float, what: str) -> None:
    assert math.isclose(actual, expected, rel_tol=REL, abs_tol=ABS), (
        f"{what}: engine {actual!r}, oracle {expected!r}"
    )


def assert_derivatives_match(engine: Derivatives, oracle: Derivatives) -> None:
    assert_close(engine.value, oracle.value, "value")
    for i, (a, b) in enumerate(zip(engine.gradient, oracle.gradient)):
        assert_close(a, b, f"d out / d x{i}")
    for i, (row, expected_row) in enumerate(zip(engine.hessian, oracle.hessian)):
        for j, (a, b) in enumerate(zip(row, expected_row)):
            assert_close(a, b, f"d2 out / d x{i} d x{j}")


def points(op: Operation) -> st.SearchStrategy[tuple[float, ...]]:
    return st.tuples(*op.domains)


@pytest.mark.parametrize("name", OPERATIONS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_each_operation_value_and_first_and_second_derivatives_match_sympy(
    name: str, data: st.DataObject
) -> None:
    op = OPERATIONS[name]
    point = data.draw(points(op), label="point")
    assert_derivatives_match(engine_derivatives(op.engine, point), sympy_derivatives(op.symbolic, point))


@pytest.mark.parametrize("name", OPERATIONS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_each_operation_value_and_first_and_second_derivatives_match_mpmath(
    name: str, data: st.DataObject
) -> None:
    op = OPERATIONS[name]
    point = data.draw(points(op), label="point")
    assert_derivatives_match(engine_derivatives(op.engine, point), mpmath_derivatives(op.numeric, point))


@pytest.mark.xfail(strict=True, reason="in progress: the oracle table is being derived from microgrid.ops")
def test_the_oracle_table_covers_every_derivative_rule() -> None:
    from microgrid.ops import OPERATIONS as RULES

    used = set()
    for op in OPERATIONS.values():
        out = op.engine(*[Value(0.5) for _ in op.domains])
        used.add(out.op)
    assert used == set(RULES)


def test_a_small_expression_matches_sympy_at_a_concrete_point() -> None:
    # f(x, y) = x * log(y) + y ** 2 at (2, 3): f = 2 log 3 + 9, df/dx = log 3, df/dy = 2/3 + 6
    engine = engine_derivatives(lambda x, y: x * y.log() + y**2, [2.0, 3.0])
    assert engine.value == pytest.approx(2 * math.log(3) + 9, rel=1e-15)
    assert engine.gradient == pytest.approx([math.log(3), 2 / 3 + 6], rel=1e-15)
    assert engine.hessian[0] == pytest.approx([0.0, 1 / 3], rel=1e-15)
    assert engine.hessian[1] == pytest.approx([1 / 3, -2 / 9 + 2], rel=1e-15)


# --- random graphs -----------------------------------------------------------------------


def expression_derivatives(expr: Expression, inputs: list[Value], second_order: bool) -> Derivatives:
    point = [x.data for x in inputs]
    if second_order:
        return engine_derivatives(expr, point)
    out = expr(*inputs)
    out.backward()
    return Derivatives(out.data, [x.grad for x in inputs], [])


@settings(max_examples=40, deadline=None)
@given(expressions(max_ops=6), st.data())
def test_random_graphs_gradients_match_sympy(expr: Expression, data: st.DataObject) -> None:
    inputs = data.draw(input_values(expr.n_inputs), label="inputs")
    engine = expression_derivatives(expr, inputs, second_order=False)
    oracle = sympy_derivatives(lambda *s: expr.to_sympy(s), [x.data for x in inputs])
    assert_derivatives_match(engine, oracle._replace(hessian=[]))


@settings(max_examples=15, deadline=None)
@given(expressions(max_ops=3), st.data())
def test_random_graphs_hessians_match_sympy(expr: Expression, data: st.DataObject) -> None:
    inputs = data.draw(input_values(expr.n_inputs), label="inputs")
    engine = expression_derivatives(expr, inputs, second_order=True)
    assert_derivatives_match(engine, sympy_derivatives(lambda *s: expr.to_sympy(s), [x.data for x in inputs]))


def torch_derivatives(expr: Expression, point: Sequence[float]) -> Derivatives:
    torch = pytest.importorskip("torch")
    leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in point]
    out = expr.to_torch(leaves)
    first = torch.autograd.grad(out, leaves, create_graph=True, allow_unused=True)
    first = [d if d is not None else torch.zeros((), dtype=torch.float64) for d in first]

    def second(d: Any) -> list[float]:
        if not d.requires_grad:  # d is constant: its derivatives are 0
            return [0.0] * len(leaves)
        row = torch.autograd.grad(d, leaves, retain_graph=True, allow_unused=True)
        return [0.0 if r is None else r.item() for r in row]

    return Derivatives(out.item(), [d.item() for d in first], [second(d) for d in first])


@settings(max_examples=60, deadline=None)
@given(expressions(), st.data())
def test_random_graphs_first_and_second_derivatives_match_torch_float64(
    expr: Expression, data: st.DataObject
) -> None:
    inputs = data.draw(input_values(expr.n_inputs), label="inputs")
    engine = expression_derivatives(expr, inputs, second_order=True)
    assert_derivatives_match(engine, torch_derivatives(expr, [x.data for x in inputs]))
