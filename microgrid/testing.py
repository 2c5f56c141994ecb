"""Gradient checking and random expressions, for testing derivatives.

``gradcheck`` compares the gradients from ``backward`` with central finite
differences; ``gradgradcheck`` does the same for second derivatives. Both
return True or raise ``GradcheckError`` with a table of analytic against
numeric values.

``expressions()`` draws random computation graphs (hypothesis strategies) that
use every operation of the engine, share subexpressions, and stay inside each
operation's domain for any inputs drawn by ``input_values``. A property test of
your own is three lines (after the imports)::

    from hypothesis import given, strategies as st
    from microgrid.testing import expressions, gradcheck, input_values

    @given(expressions(), st.data())
    def test_gradients_match_finite_differences(expr, data):
        assert gradcheck(expr, data.draw(input_values(expr.n_inputs)))

A failing example is printed as ``Expression(n_inputs=..., steps=(...))``,
which rebuilds it; ``print(expr)`` shows it as a little program.

hypothesis, sympy and torch are optional: each is imported only where used.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from microgrid.engine import Value, grad, no_grad, value_sum, weighted_sum

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

# Inputs drawn by ``values()`` have magnitudes in this range: never near 0, where
# relu and abs have kinks and 1/x and log blow up, and never large.
MIN_MAGNITUDE = 0.1
MAX_MAGNITUDE = 3.0


class GradcheckError(AssertionError):
    """Analytic derivatives disagree with finite differences; the message lists them all."""


def gradcheck(
    f: Callable[..., Value],
    inputs: Iterable[Value | float],
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Check f's gradients from ``backward`` against central finite differences.

    Args:
        f: takes one Value per input (positional) and returns a Value.
        inputs: the point, as Values or numbers; only their data is used, and
            no ``.grad`` is touched.
        eps: the finite-difference step.
        atol: the absolute tolerance: an input fails when
            ``|analytic - numeric| > atol + rtol * |numeric|``.
        rtol: the relative tolerance.

    Returns:
        True when every derivative agrees.

    Raises:
        GradcheckError: some derivative disagrees; the message lists every input
            with its analytic and numeric derivative, the disagreeing ones marked.
        ValueError: no inputs, or ``eps <= 0``.
        TypeError: an input is not a real number, or f does not return a Value.

    """
    point = _point(inputs, eps)
    analytic = _gradient(f, point)
    rows = []
    for j, a in enumerate(analytic):
        (numeric,) = _central_difference(lambda p: [_evaluate(f, p)], point, j, eps)
        rows.append((f"d out / d x{j}", a, numeric))
    return _compare("gradcheck", point, rows, eps, atol, rtol)


def gradgradcheck(
    f: Callable[..., Value],
    inputs: Iterable[Value | float],
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Check f's second derivatives against central differences of its gradient.

    For each pair of inputs (i, j), d/dx_j of df/dx_i from ``grad(...,
    create_graph=True)`` is compared with the central difference in x_j of the
    first-order gradient. Arguments, return value and errors as in ``gradcheck``.
    """
    point = _point(inputs, eps)
    leaves = [Value(x) for x in point]
    first = grad(_call(f, leaves), leaves, create_graph=True)
    analytic = [[d.data for d in grad(df, leaves)] for df in first]
    rows = []
    for j in range(len(point)):
        column = _central_difference(lambda p: _gradient(f, p), point, j, eps)
        rows += [(f"d2 out / d x{i} d x{j}", analytic[i][j], column[i]) for i in range(len(point))]
    return _compare("gradgradcheck", point, rows, eps, atol, rtol)


def _point(inputs: Iterable[Value | float], eps: float) -> list[float]:
    if not eps > 0.0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    point = [x.data if isinstance(x, Value) else Value(x).data for x in inputs]
    if not point:
        raise ValueError("gradient checking needs at least one input, got none")
    return point


def _call(f: Callable[..., Value], args: list[Value]) -> Value:
    out = f(*args)
    if not isinstance(out, Value):
        raise TypeError(f"the checked function must return a Value, got {type(out).__name__}: {out!r}")
    return out


def _evaluate(f: Callable[..., Value], point: list[float]) -> float:
    with no_grad():  # finite differences need values only, not graphs
        return _call(f, [Value(x) for x in point]).data


def _gradient(f: Callable[..., Value], point: list[float]) -> list[float]:
    leaves = [Value(x) for x in point]
    return [d.data for d in grad(_call(f, leaves), leaves)]


def _central_difference(
    fn: Callable[[list[float]], list[float]], point: list[float], j: int, eps: float
) -> list[float]:
    """(fn(point + eps e_j) - fn(point - eps e_j)) / 2 eps, elementwise: error O(eps**2)."""
    after = fn([x + eps if k == j else x for k, x in enumerate(point)])
    before = fn([x - eps if k == j else x for k, x in enumerate(point)])
    return [(a - b) / (2.0 * eps) for a, b in zip(after, before)]


def _compare(
    name: str,
    point: list[float],
    rows: list[tuple[str, float, float]],
    eps: float,
    atol: float,
    rtol: float,
) -> bool:
    """True if every row's analytic value is close to its numeric one; else raise listing all rows."""
    bad = [abs(a - n) > atol + rtol * abs(n) for _, a, n in rows]
    if not any(bad):
        return True
    width = max(len(label) for label, _, _ in rows)
    lines = [
        f"{label:<{width}}  analytic {a:< 22.15g} numeric {n:< 22.15g}{'  <-- MISMATCH' if wrong else ''}"
        for (label, a, n), wrong in zip(rows, bad)
    ]
    header = (
        f"{name}: {sum(bad)} of {len(rows)} derivatives disagree with central differences "
        f"(eps={eps!r}, need |analytic - numeric| <= {atol!r} + {rtol!r} * |numeric|)\n"
        f"at inputs ({', '.join(repr(x) for x in point)}):"
    )
    raise GradcheckError("\n".join([header, *lines]))


# --- random expressions ---------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One operation of an ``Expression``: ``op`` applied to ``args``.

    ``op`` is an engine operation ("+", "log", "**", ...), or "pow" for
    Value ** Value, or "rpow" for number ** Value. Each arg is an ``int``, the
    index of an earlier node (the inputs are nodes 0 .. n_inputs - 1, then one
    node per step), or a ``float``, a plain number (an exponent, a slope, a
    constant operand).
    """

    op: str
    args: tuple[int | float, ...]


@dataclass(frozen=True)
class Expression:
    """A replayable recipe for a computation graph over ``n_inputs`` inputs.

    Calling it builds the graph on the given Values and returns the last
    step's result. ``to_sympy`` and ``to_torch`` build the same function in
    sympy and PyTorch, as oracles for tests. Usually drawn by
    ``expressions()``; written by hand it is a regression test::

        Expression(2, (Step("*", (0, 1)), Step("log", (2,))))  # log(x0 * x1)
    """

    n_inputs: int
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        if self.n_inputs < 1 or not self.steps:
            raise ValueError(f"an Expression needs inputs and steps, got {self.n_inputs} and {self.steps!r}")
        for index, step in enumerate(self.steps, start=self.n_inputs):
            if step.op not in _OPERATORS and step.op not in _FUNCTION_NAMES:
                raise ValueError(f"unknown operation {step.op!r} in {step!r}")
            if any(type(arg) is int and not 0 <= arg < index for arg in step.args):
                raise ValueError(f"node {index} can only use nodes 0 .. {index - 1}, got {step!r}")

    @property
    def ops(self) -> frozenset[str]:
        """The names of the operations used."""
        return frozenset(step.op for step in self.steps)

    def __call__(self, *inputs: Value) -> Value:
        """Build the graph on ``inputs`` (one Value per input) and return its output."""
        result: Value = self._replay(inputs, _VALUE_FUNCTIONS, float)
        return result

    def to_sympy(self, symbols: Sequence[Any]) -> Any:
        """The same function as a sympy expression of ``symbols`` (declare them real).

        Constants become exact rationals equal to the floats used, so the
        expression is the function the engine computes, without rounding.
        """
        import sympy  # type: ignore[import-untyped]

        def leaky_relu(x: Any, slope: Any) -> Any:
            return sympy.Piecewise((x, x > 0), (slope * x, True))

        functions: dict[str, Callable[..., Any]] = {
            "exp": sympy.exp,
            "log": sympy.log,
            "sqrt": sympy.sqrt,
            "tanh": sympy.tanh,
            "sigmoid": lambda x: 1 / (1 + sympy.exp(-x)),
            "softplus": lambda x: sympy.log(1 + sympy.exp(x)),
            "relu": lambda x: leaky_relu(x, 0),
            "leaky_relu": leaky_relu,
            "abs": sympy.Abs,
            "sin": sympy.sin,
            "cos": sympy.cos,
            "sum": sympy.Add,
            "weighted_sum": _weighted_sum,
        }
        return self._replay(symbols, functions, sympy.Rational)

    def to_torch(self, tensors: Sequence[Any]) -> Any:
        """The same function on torch tensors (use float64 for an oracle)."""
        import torch
        import torch.nn.functional as F

        functions: dict[str, Callable[..., Any]] = {
            "exp": torch.exp,
            "log": torch.log,
            "sqrt": torch.sqrt,
            "tanh": torch.tanh,
            "sigmoid": torch.sigmoid,
            # log(e^x + e^0): exact everywhere (F.softplus returns x itself above 20)
            "softplus": lambda x: torch.logaddexp(x, torch.zeros_like(x)),
            "relu": torch.relu,
            "leaky_relu": F.leaky_relu,
            "abs": torch.abs,
            "sin": torch.sin,
            "cos": torch.cos,
            "sum": lambda *terms: sum(terms),
            "weighted_sum": _weighted_sum,
        }
        return self._replay(tensors, functions, float)

    def _replay(
        self,
        inputs: Sequence[Any],
        functions: Mapping[str, Callable[..., Any]],
        constant: Callable[[float], Any],
    ) -> Any:
        """Run the steps with one table of functions: the same recipe for Values, sympy and torch."""
        if len(inputs) != self.n_inputs:
            raise TypeError(f"this Expression takes {self.n_inputs} inputs, got {len(inputs)}")
        nodes = list(inputs)
        for step in self.steps:
            args = [nodes[arg] if type(arg) is int else constant(arg) for arg in step.args]
            apply = _OPERATORS.get(step.op) or functions[step.op]
            nodes.append(apply(*args))
        return nodes[-1]

    def __repr__(self) -> str:
        n = self.n_inputs
        lines = [f"    {_name(i, n)} = {_format(step, n)}" for i, step in enumerate(self.steps, start=n)]
        inputs = ", ".join(_name(i, n) for i in range(n))
        last = _name(n + len(self.steps) - 1, n)
        return "\n".join([f"Expression({inputs}):", *lines, f"    return {last}"])


_OPERATORS: dict[str, Callable[..., Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,  # args: node, number exponent
    "pow": operator.pow,  # args: node, node exponent
    "rpow": operator.pow,  # args: number base, node
    "neg": operator.neg,
}
_FUNCTION_NAMES = (  # sum is value_sum; weighted_sum's args are the weights, the inputs, the bias
    "exp log sqrt tanh sigmoid softplus relu leaky_relu abs sin cos sum weighted_sum".split()
)


def _split_weighted(wxb: Sequence[Any]) -> tuple[Sequence[Any], Sequence[Any], Any]:
    n = len(wxb) // 2
    return wxb[:n], wxb[n : 2 * n], wxb[-1]


def _weighted_sum(*wxb: Any) -> Any:
    weights, inputs, bias = _split_weighted(wxb)
    return sum((w * x for w, x in zip(weights, inputs)), bias)


_VALUE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    **{name: getattr(Value, name) for name in _FUNCTION_NAMES if name not in ("sum", "weighted_sum")},
    "sum": lambda *terms: value_sum(terms),
    "weighted_sum": lambda *wxb: weighted_sum(*_split_weighted(wxb)),
}


def _name(index: int, n_inputs: int) -> str:
    return f"x{index}" if index < n_inputs else f"v{index}"


def _format(step: Step, n_inputs: int) -> str:
    args = [_name(a, n_inputs) if type(a) is int else repr(a) for a in step.args]
    if step.op == "neg":
        return f"-{args[0]}"
    if step.op in _OPERATORS:
        return f"{args[0]} {'**' if 'pow' in step.op else step.op} {args[1]}"
    if step.op == "weighted_sum":
        weights, inputs, bias = _split_weighted(args)
        return f"weighted_sum([{', '.join(weights)}], [{', '.join(inputs)}], {bias})"
    return f"{'value_sum' if step.op == 'sum' else step.op}({', '.join(args)})"


# --- hypothesis strategies ---------------------------------------------------------------


def values(
    min_magnitude: float = MIN_MAGNITUDE, max_magnitude: float = MAX_MAGNITUDE
) -> SearchStrategy[float]:
    """Well-conditioned input floats: ``min_magnitude <= |x| <= max_magnitude``, either sign.

    Away from 0 (the kinks of relu and abs, the poles of 1/x and log) and from
    overflow. ``expressions()`` are safe for the default range.
    """
    from hypothesis import strategies as st

    if not 0.0 < min_magnitude <= max_magnitude:
        raise ValueError(f"need 0 < min_magnitude <= max_magnitude, got {min_magnitude!r}, {max_magnitude!r}")
    magnitudes = st.floats(min_magnitude, max_magnitude)
    return st.builds(operator.mul, magnitudes, st.sampled_from([1.0, -1.0]))


def input_values(n: int) -> SearchStrategy[list[Value]]:
    """Lists of ``n`` leaf Values drawn from ``values()``: inputs for an ``Expression``."""
    from hypothesis import strategies as st

    return st.lists(values().map(Value), min_size=n, max_size=n)


def expressions(n_inputs: int | None = None, max_ops: int = 8) -> SearchStrategy[Expression]:
    """Random computation graphs, as replayable ``Expression`` recipes.

    Every engine operation can appear (+ - * / with Values and numbers, ** with
    a number and with a Value exponent, number ** Value, unary -, exp, log,
    sqrt, tanh, sigmoid, softplus, relu, leaky_relu, abs, sin, cos, value_sum
    and weighted_sum); operands are drawn from all earlier nodes, so intermediates
    are shared (fan-out). Each operation is kept inside its domain, away from
    kinks and overflow, for every input with magnitude in [0.1, 3] (see
    ``values``): an operand that could leave the domain is first passed
    through a guard such as ``softplus(sin(e)) + 0.1`` or ``tanh(e)``.
    Unused intermediates are summed into the output, so every step counts.

    Args:
        n_inputs: how many inputs; drawn from 1 to 3 when None.
        max_ops: at most this many drawn operations (guards come on top).

    """
    from hypothesis import strategies as st

    if max_ops < 1 or (n_inputs is not None and n_inputs < 1):
        raise ValueError(f"need n_inputs >= 1 and max_ops >= 1, got {n_inputs!r} and {max_ops!r}")

    @st.composite
    def draw_expression(draw: Callable[[SearchStrategy[Any]], Any]) -> Expression:
        n = n_inputs if n_inputs is not None else draw(st.integers(1, 3))
        builder = _Builder(n, lambda options: draw(st.sampled_from(options)))
        for _ in range(draw(st.integers(1, max_ops))):
            builder.add_random_step()
        return builder.finish()

    return draw_expression()


# What the builder knows of a node: lo <= value <= hi and |value| >= away, for
# every input in the range of ``values()``.
@dataclass(frozen=True)
class _Range:
    lo: float
    hi: float
    away: float

    @property
    def largest(self) -> float:
        return max(-self.lo, self.hi)


def _interval(lo: float, hi: float, away: float = 0.0) -> _Range:
    sign_definite = lo if lo > 0.0 else -hi if hi < 0.0 else 0.0
    return _Range(lo, hi, max(away, sign_definite))


def _monotone(f: Callable[[float], float], r: _Range, away: float = 0.0) -> _Range:
    a, b = f(r.lo), f(r.hi)
    return _interval(min(a, b), max(a, b), away)


def _product(a: _Range, b: _Range) -> _Range:
    corners = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
    return _interval(min(corners), max(corners), a.away * b.away)


def _power(r: _Range, k: float) -> _Range:
    if r.lo > 0.0:
        return _monotone(lambda x: x**k, r)
    small, big = sorted((r.away**k, r.largest**k))  # integer k here; r.away > 0 when k < 0
    return _interval(small, big) if k % 2 == 0 else _interval(-big, big, small)


def _reciprocal(r: _Range) -> _Range:
    if r.lo > 0.0 or r.hi < 0.0:
        return _interval(1.0 / r.hi, 1.0 / r.lo)
    return _interval(-1.0 / r.away, 1.0 / r.away, 1.0 / r.largest)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))  # |x| <= 100 here: no overflow


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def _leaky(slope: float) -> Callable[[float], float]:
    return lambda x: x if x > 0.0 else slope * x


_MONOTONE: dict[str, Callable[[float], float]] = {
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "relu": _leaky(0.0),
}


def _range_of(op: str, args: list[_Range], same_operands: bool) -> _Range:
    """The range of op's result from its arguments' ranges (a number is a point range)."""
    a, b = args[0], args[-1]
    if op in _MONOTONE:
        return _monotone(_MONOTONE[op], a)
    if op == "+":
        return _interval(a.lo + b.lo, a.hi + b.hi)
    if op == "-":
        return _interval(a.lo - b.hi, a.hi - b.lo)
    if op == "*":
        return _power(a, 2.0) if same_operands else _product(a, b)
    if op == "/":
        return _product(a, _reciprocal(b))
    if op == "neg":
        return _Range(-a.hi, -a.lo, a.away)
    if op == "**":
        return _power(a, b.lo)
    if op in ("pow", "rpow"):  # a ** b = exp(b log a), a > 0
        return _monotone(math.exp, _product(b, _monotone(math.log, a)))
    if op == "tanh":
        return _monotone(math.tanh, a, math.tanh(a.away))
    if op == "leaky_relu":
        return _monotone(_leaky(b.lo), a, b.lo * a.away)
    if op == "abs":
        return _interval(a.away, a.largest, a.away)
    if op == "sum":
        return _interval(sum(r.lo for r in args), sum(r.hi for r in args))
    if op == "weighted_sum":
        weights, inputs, bias = _split_weighted(args)
        return _range_of("sum", [*map(_product, weights, inputs), bias], False)
    return _interval(-1.0, 1.0)  # sin, cos


_BOUND = 100.0  # every node but the output stays within +-_BOUND


@dataclass(frozen=True)
class _Need:
    """What an operation needs of an operand to stay in its domain and bounded."""

    bound: float = _BOUND
    positive: bool = False  # at least MIN_MAGNITUDE
    nonzero: bool = False  # at least MIN_MAGNITUDE from 0

    def met_by(self, r: _Range) -> bool:
        return (
            r.largest <= self.bound
            and (r.lo >= MIN_MAGNITUDE or not self.positive)
            and (r.away >= MIN_MAGNITUDE or not self.nonzero)
        )


def _power_need(k: float) -> _Need:
    # a fractional power needs a positive base, a negative one a base away from 0
    return _Need(_BOUND ** (1.0 / k) if k > 0 else _BOUND, not k.is_integer(), k < 0)


# Needs per operand, chosen so that results stay within _BOUND: a product of
# two operands within 10, a quotient by something at least 0.1 from 0, ...
_NEEDS: dict[str, tuple[_Need, ...]] = {
    "+": (_Need(50.0), _Need(50.0)),
    "-": (_Need(50.0), _Need(50.0)),
    "*": (_Need(10.0), _Need(10.0)),
    "/": (_Need(10.0), _Need(10.0, nonzero=True)),
    "pow": (_Need(10.0, positive=True), _Need(2.0)),
    "rpow": (_Need(4.0),),
    "exp": (_Need(4.0),),
    "log": (_Need(positive=True),),
    "sqrt": (_Need(positive=True),),
    "relu": (_Need(nonzero=True),),
    "leaky_relu": (_Need(nonzero=True),),
    "abs": (_Need(nonzero=True),),
    "sum": (_Need(25.0),),
    "weighted_sum": (_Need(5.0),),  # at most 2 products and a bias: 55
}
_OPS = "+ - * / neg ** pow rpow exp log sqrt tanh sigmoid softplus relu leaky_relu abs sin cos sum weighted_sum".split()
_CONSTANTS = (2.0, 0.5, -1.5, 3.0)
_EXPONENTS = (2.0, 3.0, -1.0, -2.0, 0.5, 1.5, -0.5)
_BASES = (2.0, 0.5, 3.0)
_SLOPES = (0.01, 0.1, 0.3)


class _Builder:
    """Grows an Expression step by step, guarding each operand into its operation's domain."""

    def __init__(self, n_inputs: int, choose: Callable[[Sequence[Any]], Any]) -> None:
        self.n_inputs = n_inputs
        self.choose = choose  # picks one of the options: the only source of randomness
        self.steps: list[Step] = []
        self.ranges = [_interval(-MAX_MAGNITUDE, MAX_MAGNITUDE, MIN_MAGNITUDE)] * n_inputs

    def add(self, op: str, *args: int | float) -> int:
        """Append a step; return its node index."""
        ranges = [self.ranges[a] if type(a) is int else _interval(a, a) for a in args]
        same_operands = len(args) == 2 and type(args[0]) is int and args[0] == args[1]
        self.ranges.append(_range_of(op, ranges, same_operands))
        self.steps.append(Step(op, args))
        return len(self.ranges) - 1

    def operand(self, need: _Need) -> int:
        """Any earlier node, passed through a guard if it might not meet the need."""
        index: int = self.choose(range(len(self.ranges)))
        if need.met_by(self.ranges[index]):
            return index
        if need.positive or need.nonzero:
            index = self.positive(index)
            if not need.positive and self.choose((False, True)):
                index = self.add("neg", index)
        else:
            index = self.add(self.choose(("tanh", "sin", "cos", "sigmoid")), index)
        assert need.met_by(self.ranges[index]), "every guard lands in [-3, 3], at least 0.1 from 0"
        return index

    def positive(self, index: int) -> int:
        """A node within [0.1, 3] made from node ``index``, by one of four guards."""
        guard = self.choose(range(4))
        if guard == 0:
            return self.add("exp", self.add("tanh", index))
        if guard == 1:
            return self.add("+", self.add("sigmoid", index), 0.1)
        if guard == 2:
            return self.add("+", self.add("softplus", self.add("sin", index)), 0.1)
        squashed = self.add("tanh", index)
        return self.add("+", self.add("*", squashed, squashed), 0.5)

    def add_random_step(self) -> None:
        """Append one randomly chosen operation on randomly chosen (guarded) operands."""
        op: str = self.choose(_OPS)
        needs = _NEEDS.get(op, (_Need(),))
        if op in ("+", "-", "*", "/"):
            form = self.choose(("node op node", "node op number", "number op node"))
            left = self.operand(needs[0]) if form != "number op node" else self.choose(_CONSTANTS)
            right = self.operand(needs[1]) if form != "node op number" else self.choose(_CONSTANTS)
            self.add(op, left, right)
        elif op == "**":
            k = self.choose(_EXPONENTS)
            self.add(op, self.operand(_power_need(k)), k)
        elif op == "rpow":
            self.add(op, self.choose(_BASES), self.operand(needs[0]))
        elif op == "leaky_relu":
            self.add(op, self.operand(needs[0]), self.choose(_SLOPES))
        elif op == "sum":
            self.add(op, *[self.operand(needs[0]) for _ in range(self.choose((2, 3, 4)))])
        elif op == "weighted_sum":
            self.add(op, *[self.operand(needs[0]) for _ in range(2 * self.choose((1, 2)) + 1)])
        else:
            self.add(op, *[self.operand(need) for need in needs])

    def finish(self) -> Expression:
        """The Expression whose output sums the last step and every unused intermediate."""
        used = {a for step in self.steps for a in step.args if type(a) is int}
        last = len(self.ranges) - 1
        unused = [i for i in range(self.n_inputs, last) if i not in used]
        if unused:
            self.add("sum", *unused, last)
        return Expression(self.n_inputs, tuple(self.steps))
