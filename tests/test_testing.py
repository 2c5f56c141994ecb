"""microgrid.testing: gradient checks that name the wrong rule, and random expressions from the table.

A wrong derivative is made by putting a wrong rule in the table of operations
(``microgrid.ops.OPERATIONS``), the path every real derivative takes.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import pytest
import sympy
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from microgrid import draw_dot, format_number
from microgrid.engine import Value, register_operation, topological_order
from microgrid.ops import OPERATIONS, Operation
from microgrid.testing import (
    MAX_MAGNITUDE,
    MIN_MAGNITUDE,
    Expression,
    GradcheckError,
    Step,
    expressions,
    find_wrong_rule,
    gradcheck,
    gradgradcheck,
    input_values,
    values,
)
from microgrid.testing.operations import drawable
from microgrid.testing.random_graphs import GUARDS

# --- gradcheck and gradgradcheck ---------------------------------------------------------


def test_gradcheck_passes_on_correct_gradients() -> None:
    assert gradcheck(lambda x, y: x * y + x.sin() + (y * y).log(), [1.5, -0.3]) is True


def test_gradgradcheck_passes_on_correct_second_derivatives() -> None:
    assert gradgradcheck(lambda x, y: x**3 * y + (x * y).tanh(), [0.7, -1.2]) is True


def test_gradcheck_takes_values_and_touches_none_of_their_grads() -> None:
    x, y = Value(1.5), Value(2.0)
    x.grad = 7.0
    assert gradcheck(lambda a, b: a / b, [x, y])
    assert (x.grad, y.grad) == (7.0, 0.0)


def with_rule(monkeypatch: pytest.MonkeyPatch, name: str, rule: Any) -> None:
    """Give the operation ``name`` another rule, for this test only."""
    monkeypatch.setitem(OPERATIONS, name, dataclasses.replace(OPERATIONS[name], rule=rule))


def sin_rule_claims_derivative_sin(out: Any, a: Any) -> tuple[Any, ...]:
    return (out,)  # wrong: d sin(a) / da is cos(a)


def numeric_of(line: str) -> float:
    return float(re.search(r"numeric\s+(\S+)", line).group(1))  # type: ignore[union-attr]


def test_gradcheck_reports_a_wrong_derivative_rule_with_analytic_and_numeric(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_rule(monkeypatch, "sin", sin_rule_claims_derivative_sin)
    with pytest.raises(GradcheckError) as raised:
        gradcheck(lambda x, y: x.sin() + y * y, [0.5, 2.0])
    message = str(raised.value)
    lines = message.splitlines()
    x_line = next(line for line in lines if "d x0" in line)
    y_line = next(line for line in lines if "d x1" in line)
    # every input is listed, the wrong one marked, with both numbers
    assert "MISMATCH" in x_line and "MISMATCH" not in y_line
    assert f"{math.sin(0.5):.15g}" in x_line  # analytic: the wrong rule's value
    assert numeric_of(x_line) == pytest.approx(math.cos(0.5), rel=1e-8)
    assert "at inputs (0.5, 2.0)" in message


def test_a_failing_gradcheck_names_the_node_whose_rule_is_wrong_with_its_operands_and_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # sin is buried: both inputs' derivatives go wrong, and only one rule is to blame
    with_rule(monkeypatch, "sin", sin_rule_claims_derivative_sin)
    with pytest.raises(GradcheckError) as raised:
        gradcheck(lambda x, y: (x * y).sin() + y.exp(), [0.5, 2.0])
    wrong = raised.value.wrong_rule
    assert wrong is not None
    assert (wrong.op, wrong.operands, wrong.order) == ("sin", (1.0,), 1)
    ((what, analytic, numeric, disagrees),) = wrong.rows
    assert (what, analytic, disagrees) == ("d out / d operand 0", math.sin(1.0), True)
    assert numeric == pytest.approx(math.cos(1.0), rel=1e-8)
    # the node is the sin of the checked graph, at the failing point
    output = raised.value.output
    assert output is not None and wrong.node in topological_order(output)
    assert (wrong.node.op, wrong.node.data) == ("sin", math.sin(1.0))
    message = str(raised.value)
    assert "the rule of 'sin' is wrong at sin(1.0)" in message
    assert "draw_dot(error.output, highlight=error.wrong_rule.node)" in message


def test_the_node_to_blame_can_be_drawn_outlined(monkeypatch: pytest.MonkeyPatch) -> None:
    with_rule(monkeypatch, "sin", sin_rule_claims_derivative_sin)
    with pytest.raises(GradcheckError) as raised:
        gradcheck(lambda x, y: (x * y).sin() + y.exp(), [0.5, 2.0])
    error = raised.value
    assert error.output is not None and error.wrong_rule is not None
    source = draw_dot(error.output, highlight=error.wrong_rule.node).source
    (outlined,) = [line for line in source.splitlines() if 'penwidth="3"' in line]
    assert f"data\\ {format_number(math.sin(1.0))}" in outlined  # the sin node's record


def cos_rule_on_floats_only(out: Any, a: Any) -> tuple[Any, ...]:
    # right value, but computed on floats: the recorded graph loses the second derivative
    return (math.cos(a.data) + 0.0 * a,) if isinstance(a, Value) else (math.cos(a),)


def test_gradgradcheck_catches_and_names_a_rule_that_is_right_only_to_first_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_rule(monkeypatch, "sin", cos_rule_on_floats_only)
    assert gradcheck(lambda x: x.sin(), [0.5])
    with pytest.raises(GradcheckError) as raised:
        gradgradcheck(lambda x: x.sin() * 2.0, [0.5])
    (line,) = [line for line in str(raised.value).splitlines() if "d2 out / d x0 d x0" in line]
    assert "MISMATCH" in line
    assert numeric_of(line) == pytest.approx(-2.0 * math.sin(0.5), rel=1e-6)
    wrong = raised.value.wrong_rule
    assert wrong is not None and (wrong.op, wrong.order) == ("sin", 2)
    second = next(row for row in wrong.rows if row[0] == "d2 out / d operand 0 d operand 0")
    assert second[1] == 0.0 and second[2] == pytest.approx(-math.sin(0.5), rel=1e-6) and second[3]


def test_when_every_rule_agrees_the_error_says_no_rule_is_to_blame() -> None:
    # x.data leaves the graph: the engine differentiates x * 1.5, the function is x * x
    with pytest.raises(GradcheckError) as raised:
        gradcheck(lambda x: x * x.data, [1.5])
    assert raised.value.wrong_rule is None
    assert "no rule is to blame" in str(raised.value) and "from outside the graph" in str(raised.value)


@settings(max_examples=30, deadline=None)
@given(expressions(max_ops=6), st.data())
def test_no_rule_of_a_drawn_graph_is_blamed(expr: Expression, data: st.DataObject) -> None:
    inputs = data.draw(input_values(expr.n_inputs))
    assert find_wrong_rule(expr(*inputs), second_order=True) is None


def test_gradcheck_tolerances_are_atol_plus_rtol_times_numeric() -> None:
    def off_by(error: float) -> Any:
        def rule(out: Any, a: Any, k: Any) -> tuple[Any, ...]:
            return (2.0 * a + error,)  # d (a**2) / da is 2a

        return rule

    with pytest.MonkeyPatch.context() as patch:
        with_rule(patch, "**", off_by(1e-4))  # 2e-5 + 1e-3*2 allowed at x = 1
        assert gradcheck(lambda x: x**2, [1.0], atol=2e-5, rtol=1e-3)
        with_rule(patch, "**", off_by(3e-3))
        with pytest.raises(GradcheckError):
            gradcheck(lambda x: x**2, [1.0], atol=2e-5, rtol=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"inputs": [], "f": lambda: Value(1.0)}, ValueError, "at least one input"),
        ({"inputs": [1.0], "f": lambda x: x, "eps": 0.0}, ValueError, "eps must be positive, got 0.0"),
        ({"inputs": [1.0], "f": lambda x: 2.0}, TypeError, "must return a Value, got float"),
        ({"inputs": ["1.0"], "f": lambda x: x}, TypeError, "str"),
    ],
)
def test_gradcheck_rejects_bad_arguments(kwargs: dict[str, Any], error: type[Exception], words: str) -> None:
    for check in (gradcheck, gradgradcheck):
        with pytest.raises(error, match=re.escape(words)):
            check(**kwargs)


# --- values and input_values ------------------------------------------------------------------


@given(values())
def test_values_are_bounded_and_away_from_zero(x: float) -> None:
    assert MIN_MAGNITUDE <= abs(x) <= MAX_MAGNITUDE


@given(input_values(3))
def test_input_values_are_n_leaves(xs: list[Value]) -> None:
    assert len(xs) == 3 and all(x.children == () for x in xs)


def test_values_rejects_an_empty_or_inverted_range() -> None:
    with pytest.raises(ValueError, match="min_magnitude"):
        values(2.0, 1.0)


# --- expressions --------------------------------------------------------------------------------


@settings(max_examples=120, deadline=None)
@given(expressions(max_ops=15), st.data())
def test_drawn_expressions_pass_gradcheck_and_gradgradcheck(expr: Expression, data: st.DataObject) -> None:
    inputs = data.draw(input_values(expr.n_inputs))
    assert gradcheck(expr, inputs)
    assert gradgradcheck(expr, inputs)


@given(expressions(), st.data())
def test_the_three_line_usage_from_the_module_docstring(expr: Expression, data: st.DataObject) -> None:
    assert gradcheck(expr, data.draw(input_values(expr.n_inputs)))


def inside_sample(op: Operation, i: int, x: float) -> bool:
    lo, hi = op.sample[min(i, len(op.sample) - 1)]
    return lo <= x <= hi or (lo > 0.0 and -hi <= x <= -lo)


@pytest.mark.parametrize(
    "extreme", [MIN_MAGNITUDE, -MIN_MAGNITUDE, MAX_MAGNITUDE, -MAX_MAGNITUDE], ids=lambda x: f"inputs {x}"
)
@settings(max_examples=40, deadline=None)
@given(expr=expressions(), data=st.data())
def test_every_drawn_operation_gets_operands_from_its_sample_for_any_inputs(
    extreme: float, expr: Expression, data: st.DataObject
) -> None:
    # at the inputs' extremes and anywhere between, each drawn operation sees operands where its
    # entry says random tests may draw them (guards bring them there; the last step may be the
    # sum that gathers what no step used)
    drawn = [step for step in expr.steps[:-1] if not step.guard]
    if expr.steps[-1].op != "sum":
        drawn.append(expr.steps[-1])
    for inputs in ([Value(extreme)] * expr.n_inputs, data.draw(input_values(expr.n_inputs))):
        nodes = expr.nodes(*inputs)
        for step in drawn:
            numbers = [nodes[a].data if type(a) is int else a for a in step.args]
            assert all(inside_sample(OPERATIONS[step.op], i, x) for i, x in enumerate(numbers)), step
        out = nodes[-1]
        out.backward()
        assert all(math.isfinite(node.grad) for node in topological_order(out))


# the first example found will do: shrinking it would only cost time
FIRST_FOUND = settings(max_examples=2000, database=None, phases=[Phase.generate])


@pytest.mark.parametrize("op", [name for name, op in OPERATIONS.items() if drawable(op)])
def test_every_operation_of_the_table_can_be_drawn(op: str) -> None:
    expr = find(expressions(), lambda e: op in e.ops, settings=FIRST_FOUND)
    assert op in expr.ops


def test_the_engine_has_no_operation_that_expressions_cannot_draw() -> None:
    # all but detach, whose rule is by design not the derivative of its forward (its sample is empty)
    assert [name for name, op in OPERATIONS.items() if not drawable(op)] == ["detach"]
    drawn: set[str] = set()

    @settings(max_examples=300, database=None, deadline=None, derandomize=True, phases=[Phase.generate])
    @given(expressions())
    def collect(expr: Expression) -> None:
        drawn.update(expr.ops)

    collect()
    assert drawn == {name for name, op in OPERATIONS.items() if drawable(op)}


def test_a_users_registered_operation_is_drawn_and_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    cube = Operation("cube", lambda x: x * x * x, lambda out, x: (3.0 * x * x,), sample=((-2.0, 2.0),))
    monkeypatch.setitem(OPERATIONS, "cube", cube)
    register_operation(cube)
    expr = find(expressions(), lambda e: "cube" in e.ops, settings=FIRST_FOUND)
    inputs = [Value(0.7)] * expr.n_inputs
    assert gradcheck(expr, inputs) and gradgradcheck(expr, inputs)


def test_expressions_can_be_kept_to_some_operations_and_refuse_what_they_cannot_draw() -> None:
    expr = find(
        expressions(operations=["hypot", "leaky_relu"]), lambda e: len(e.steps) > 4, settings=FIRST_FOUND
    )
    assert expr.ops <= {"hypot", "leaky_relu", "sum", "*", "+", *GUARDS}
    with pytest.raises(ValueError, match="'detach' has no sample"):
        expressions(operations=["detach"])
    with pytest.raises(LookupError, match="no operation named 'hypt'.*did you mean 'hypot'"):
        expressions(operations=["hypt"])


def uses(expr: Expression) -> dict[int, int]:
    counts: dict[int, int] = {}
    for step in expr.steps:
        for arg in step.args:
            if type(arg) is int:
                counts[arg] = counts.get(arg, 0) + 1
    return counts


def test_drawn_expressions_share_intermediates() -> None:
    def fans_out(e: Expression) -> bool:
        return any(n > 1 for index, n in uses(e).items() if index >= e.n_inputs)

    expr = find(expressions(), fans_out, settings=FIRST_FOUND)
    assert fans_out(expr)


@given(expressions())
def test_every_step_of_a_drawn_expression_reaches_the_output(expr: Expression) -> None:
    inputs = [Value(1.0) for _ in range(expr.n_inputs)]
    reached = topological_order(expr(*inputs))
    assert len([node for node in reached if node.op]) == len(expr.steps)


# --- the Expression recipe ----------------------------------------------------------------------

EXAMPLE = Expression(
    2,
    (
        Step("*", (0, 1)),  # v2 = x0 * x1
        Step("+", (2, 0.5)),  # v3 = v2 + 0.5
        Step("log", (3,)),  # v4: v3 >= 0.5 for inputs where x0 * x1 >= 0
        Step("weighted_sum", (2, 4, 0, 1, 1.0)),  # v5 = v2 * x0 + v4 * x1 + 1
        Step("rpow", (5, 2.0)),  # v6 = 2 ** v5: the table's order, the Value operand first
        Step("rsub", (6, 3.0)),  # v7 = 3 - v6
        Step("leaky_relu", (7, 0.1)),  # v8
    ),
)


def example_by_hand(x0: float, x1: float) -> float:
    v2 = x0 * x1
    v4 = math.log(v2 + 0.5)
    v7 = 3.0 - 2.0 ** (v2 * x0 + v4 * x1 + 1.0)
    return v7 if v7 > 0 else 0.1 * v7


def test_an_expression_replays_its_steps_on_values_as_user_code_would() -> None:
    out = EXAMPLE(Value(1.5), Value(2.0))
    assert out.data == pytest.approx(example_by_hand(1.5, 2.0), rel=1e-15)
    ops = [node.op for node in topological_order(out) if node.op]
    assert ops == ["*", "+", "log", "weighted_sum", "rpow", "rsub", "leaky_relu"]


def test_an_expression_reads_as_a_program() -> None:
    assert repr(EXAMPLE) == "\n".join(
        [
            "Expression(x0, x1):",
            "    v2 = x0 * x1",
            "    v3 = v2 + 0.5",
            "    v4 = log(v3)",
            "    v5 = weighted_sum(v2, v4, x0, x1, 1.0)",
            "    v6 = 2.0 ** v5",
            "    v7 = 3.0 - v6",
            "    v8 = leaky_relu(v7, 0.1)",
            "    return v8",
        ]
    )


def test_an_expression_builds_the_same_function_in_sympy_mpmath_and_torch() -> None:
    import mpmath

    expected = example_by_hand(1.5, 2.0)
    x0, x1 = sympy.symbols("x0 x1", real=True)
    symbolic = EXAMPLE.to_sympy([x0, x1])
    assert float(symbolic.evalf(30, subs={x0: 1.5, x1: 2.0})) == pytest.approx(expected, rel=1e-14)
    assert float(EXAMPLE.to_mpmath([mpmath.mpf(1.5), mpmath.mpf(2.0)])) == pytest.approx(expected, rel=1e-14)
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(1.5, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64)]
    assert EXAMPLE.to_torch(tensors).item() == pytest.approx(expected, rel=1e-14)


def test_an_expression_checks_its_recipe_and_its_inputs() -> None:
    with pytest.raises(ValueError, match="unknown operation 'tangent'"):
        Expression(1, (Step("tangent", (0,)),))
    with pytest.raises(ValueError, match="node 1 can only use nodes 0 .. 0"):
        Expression(1, (Step("+", (0, 1)),))
    with pytest.raises(ValueError, match="'exp' takes 1 operands"):
        Expression(1, (Step("exp", (0, 0)),))
    with pytest.raises(ValueError, match="the first operand must be a node"):
        Expression(1, (Step("rpow", (2.0, 0)),))
    with pytest.raises(TypeError, match="takes 2 inputs, got 1"):
        EXAMPLE(Value(1.0))


def test_expressions_rejects_nonsense_sizes() -> None:
    with pytest.raises(ValueError, match="max_ops"):
        expressions(max_ops=0)
