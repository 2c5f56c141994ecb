"""Gradient checks against finite differences, and, when one fails, the rule to blame.

``gradcheck`` compares the gradients from ``backward`` with central finite
differences; ``gradgradcheck`` does the same for second derivatives. Both
return True or raise ``GradcheckError``, whose message lists every derivative
(analytic against numeric) and then names the first node of the graph whose
own rule disagrees with finite differences of its own forward at its own
operands (``find_wrong_rule``): the operation to fix. ``error.output`` is the
graph at the failing point and ``error.wrong_rule.node`` the node, so
``draw_dot(error.output, highlight=error.wrong_rule.node)`` shows where it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from microgrid.engine import Value, grad, local_derivatives, no_grad, topological_order
from microgrid.ops import OPERATIONS, Operation, describe
from microgrid.testing.calling import function_of

# (what, analytic, numeric): one derivative compared
Row = tuple[str, float, float]


@dataclass(frozen=True)
class WrongRule:
    """A node whose rule disagrees with finite differences of its own forward, at its own operands.

    Attributes:
        node: the node (draw it with ``draw_dot(output, highlight=node)``).
        op: its operation's name.
        operands: its operands' numbers, then its constants.
        order: 1 when the rule's derivatives are wrong; 2 when they are right on
            floats but the rule evaluated on Values (``create_graph``) has the
            wrong derivatives, so second derivatives through it are wrong.
        rows: every derivative compared: (what, analytic, numeric, disagrees).

    """

    node: Value
    op: str
    operands: tuple[float, ...]
    order: int
    rows: tuple[tuple[str, float, float, bool], ...]

    def __str__(self) -> str:
        where = describe(self.op, self.operands)
        what = "derivatives" if self.order == 1 else "second derivatives (the rule evaluated on Values)"
        header = (
            f"the rule of {self.op!r} is wrong at {where}: its {what} disagree with "
            f"finite differences of its own forward"
        )
        return "\n".join(
            [header, *_table([(w, a, n) for w, a, n, _ in self.rows], [b for *_, b in self.rows])]
        )


class GradcheckError(AssertionError):
    """Analytic derivatives disagree with finite differences.

    The message lists them all, then names the rule to blame. Attributes:
    ``rows`` (what, analytic, numeric), ``output`` (the checked function's
    graph at the failing point), ``wrong_rule`` (a ``WrongRule``, or None when
    every node's rule agrees with its forward: then the fault is outside the
    rules, such as a number taken from ``.data``).
    """

    def __init__(
        self,
        message: str,
        rows: Sequence[Row] = (),
        output: Value | None = None,
        wrong_rule: WrongRule | None = None,
    ) -> None:
        super().__init__(message)
        self.rows = list(rows)
        self.output = output
        self.wrong_rule = wrong_rule


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
            with its analytic and numeric derivative, the disagreeing ones marked,
            and names the first node whose own rule disagrees with its forward.
        ValueError: no inputs, or ``eps <= 0``.
        TypeError: an input is not a real number, or f does not return a Value.

    """
    point = _point(inputs, eps)
    leaves = [Value(x) for x in point]
    output = _call(f, leaves)
    analytic = [d.data for d in grad(output, leaves)]
    rows = []
    for j, a in enumerate(analytic):
        (numeric,) = _central_difference(lambda p: [_evaluate(f, p)], point, j, eps)
        rows.append((f"d out / d x{j}", a, numeric))
    return _compare("gradcheck", point, rows, eps, atol, rtol, output, second_order=False)


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
    first-order gradient. Arguments, return value and errors as in ``gradcheck``;
    the rule to blame is checked at first and at second order.
    """
    point = _point(inputs, eps)
    leaves = [Value(x) for x in point]
    output = _call(f, leaves)
    first = grad(output, leaves, create_graph=True)
    analytic = [[d.data for d in grad(df, leaves)] for df in first]
    rows = []
    for j in range(len(point)):
        column = _central_difference(lambda p: _gradient(f, p), point, j, eps)
        rows += [(f"d2 out / d x{i} d x{j}", analytic[i][j], column[i]) for i in range(len(point))]
    return _compare("gradgradcheck", point, rows, eps, atol, rtol, output, second_order=True)


def find_wrong_rule(
    output: Value,
    *,
    second_order: bool = False,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> WrongRule | None:
    """The first node of output's graph whose rule disagrees with its own forward, or None.

    Each operation node is checked on its own, leaves first: its local
    derivatives (``local_derivatives``, its rule on floats) against central
    differences of its operation's forward at its own operands. With
    ``second_order``, nodes whose first derivatives pass are checked again with
    the rule evaluated on Values, as ``grad(create_graph=True)`` uses it: its
    values and their derivatives against central differences of the rule on
    floats. Nodes of operations outside the table are skipped. Tolerances as
    in ``gradcheck``.
    """
    nodes = [(node, OPERATIONS.get(node.op)) for node in topological_order(output) if node.children]
    checked = [(node, op) for node, op in nodes if op is not None]
    for order in (1, 2) if second_order else (1,):
        for node, op in checked:
            assert op is not None
            rows = _first_order_rows(node, op, eps) if order == 1 else _second_order_rows(node, op, eps)
            wrong = [abs(a - n) > atol + rtol * abs(n) for _, a, n in rows]
            if any(wrong):
                operands = (*(c.data for c in node.children), *node.const)
                marked = tuple((w, a, n, b) for (w, a, n), b in zip(rows, wrong))
                return WrongRule(node, op.name, operands, order, marked)
    return None


# --- one node's rule against its forward ---------------------------------------------------


def _forward(op: Operation, operands: Sequence[float]) -> float | None:
    # op's result on floats, or None where it is undefined (a step off the domain's edge)
    try:
        op.check(*operands)
        result = float(op.forward(*operands))
    except (ArithmeticError, ValueError, TypeError):
        return None
    return result if result - result == 0.0 else None


def _as_list(x: float | None) -> list[float] | None:
    return None if x is None else [x]


def _local_rule(op: Operation, operands: Sequence[float]) -> list[float] | None:
    # op's rule on floats at operands, or None where the operation is undefined
    out = _forward(op, operands)
    if out is None:
        return None
    try:
        return [float(d) for d in op.rule(out, *operands)]
    except (ArithmeticError, ValueError):
        return None


def _nudged(
    fn: Callable[[list[float]], list[float] | None], operands: Sequence[float], i: int, eps: float
) -> list[float] | None:
    """Central differences of fn in operand i, with a step scaled to it (smaller steps near a domain's edge)."""
    step = eps * max(1.0, abs(operands[i]))
    for _ in range(3):
        after = fn([x + step if k == i else x for k, x in enumerate(operands)])
        before = fn([x - step if k == i else x for k, x in enumerate(operands)])
        if after is not None and before is not None:
            return [(a - b) / (2.0 * step) for a, b in zip(after, before)]
        step /= 16.0
    return None


def _first_order_rows(node: Value, op: Operation, eps: float) -> list[Row]:
    operands = [*(c.data for c in node.children), *node.const]
    analytic = local_derivatives(node)
    rows = []
    for i, a in enumerate(analytic):
        numeric = _nudged(lambda xs: _as_list(_forward(op, xs)), operands, i, eps)
        if numeric is not None:
            rows.append((f"d out / d operand {i}", float(a), numeric[0]))
    return rows


def _second_order_rows(node: Value, op: Operation, eps: float) -> list[Row]:
    count = len(node.children)
    operands = [*(c.data for c in node.children), *node.const]
    leaves = [Value(x) for x in operands[:count]]
    try:
        out = function_of(op)(*leaves, *operands[count:])
        on_values = list(op.rule(out, *leaves, *operands[count:]))[:count]
    except (ArithmeticError, ValueError, LookupError):
        return []
    on_floats = _local_rule(op, operands)
    if on_floats is None:
        return []
    rows: list[Row] = []
    for i, d in enumerate(on_values):
        value = d.data if isinstance(d, Value) else float(d)
        rows.append((f"d out / d operand {i}, the rule on Values", value, on_floats[i]))
        seconds = grad(d, leaves) if isinstance(d, Value) else [Value(0.0)] * count
        for j in range(count):
            numeric = _nudged(lambda xs: _local_rule(op, xs), operands, j, eps)
            if numeric is not None:
                rows.append((f"d2 out / d operand {i} d operand {j}", seconds[j].data, numeric[i]))
    return rows


# --- the whole function ----------------------------------------------------------------------


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


def _table(rows: Sequence[Row], wrong: Sequence[bool]) -> list[str]:
    width = max((len(label) for label, _, _ in rows), default=0)
    return [
        f"  {label:<{width}}  analytic {a:< 22.15g} numeric {n:< 22.15g}{'  <-- MISMATCH' if bad else ''}"
        for (label, a, n), bad in zip(rows, wrong)
    ]


def _compare(
    name: str,
    point: list[float],
    rows: list[Row],
    eps: float,
    atol: float,
    rtol: float,
    output: Value,
    second_order: bool,
) -> bool:
    """True if every row's analytic value is close to its numeric one; else raise, naming the rule to blame."""
    bad = [abs(a - n) > atol + rtol * abs(n) for _, a, n in rows]
    if not any(bad):
        return True
    header = (
        f"{name}: {sum(bad)} of {len(rows)} derivatives disagree with central differences "
        f"(eps={eps!r}, need |analytic - numeric| <= {atol!r} + {rtol!r} * |numeric|)\n"
        f"at inputs ({', '.join(repr(x) for x in point)}):"
    )
    wrong = find_wrong_rule(output, second_order=second_order, eps=eps, atol=atol, rtol=rtol)
    if wrong is None:
        blame = (
            "Every node's rule agrees with finite differences of its own forward, so no rule is to "
            "blame: the function may use a number from outside the graph (a Value made from .data, "
            "float(x)), or be too curved for eps."
        )
    else:
        blame = f"{wrong}\nDraw it: draw_dot(error.output, highlight=error.wrong_rule.node)"
    message = "\n".join([header, *_table(rows, bad), blame])
    raise GradcheckError(message, rows, output, wrong)
