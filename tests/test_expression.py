"""microgrid.expression: the grammar (read from the table of operations) draws, anything else is refused unrun."""

from __future__ import annotations

import keyword
import math
import operator
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgrid.engine import Value, register_operation
from microgrid.expression import (
    EvaluationError,
    ExpressionError,
    functions,
    grammar,
    parse,
    parse_assignments,
)
from microgrid.ops import OPERATIONS, Operation

Env = dict[str, Value]
Built = tuple[str, Callable[[Env], Value | float]]


def test_a_neuron_parses_to_its_variables_and_evaluates_like_the_engine() -> None:
    expression = parse("tanh(w*x + b)")
    assert expression.variables == ("w", "x", "b")
    y, leaves = expression.evaluate({"x": 0.5, "w": -2.0, "b": 1.5})
    y.backward()
    assert y.data == math.tanh(-2.0 * 0.5 + 1.5)
    assert leaves["x"].label == "x"
    assert leaves["x"].grad == pytest.approx(-2.0 * (1 - math.tanh(0.5) ** 2))


def test_number_operands_fold_into_the_operation() -> None:
    y, leaves = parse("x ** 2 + 3 * x - -1").evaluate({"x": 2.0})
    assert y.data == 4.0 + 6.0 + 1.0
    assert y.op == "-" and y.const == (-1.0,)
    assert parse("leaky_relu(x, 0.1)").evaluate({"x": -2.0})[0].data == pytest.approx(-0.2)


def test_operators_make_the_tables_nodes_whichever_side_the_number_is_on() -> None:
    cases = {
        "x % 0.75": ("%", 2.5 % 0.75),
        "2 % x": ("rmod", 2 % 2.5),
        "2 - x": ("rsub", -0.5),
        "2 ** x": ("rpow", 2**2.5),
        "x ** y": ("pow", 2.5**1.5),
        "x ** 2": ("**", 6.25),
        "-x": ("neg", -2.5),
        "+x": ("", 2.5),  # x itself
    }
    for text, (op, value) in cases.items():
        expression = parse(text)
        y, _ = expression.evaluate({"x": 2.5, "y": 1.5} if "y" in expression.variables else {"x": 2.5})
        assert (y.op, y.data) == (op, pytest.approx(value, rel=1e-15)), text


def test_functions_of_two_operands_and_constants_take_numbers_where_the_table_allows() -> None:
    y, leaves = parse("atan2(y, 2) + hypot(3, x) + maximum(x, y) + minimum(-1, x)").evaluate(
        {"x": 4.0, "y": 1.0}
    )
    assert y.data == pytest.approx(math.atan2(1.0, 2.0) + 5.0 + 4.0 - 1.0, rel=1e-15)
    assert parse("leaky_relu(x)").evaluate({"x": -2.0})[0].data == pytest.approx(-0.02)  # the default slope
    slope = parse("leaky_relu(x, -0.5)").evaluate({"x": -2.0})[0]
    assert (slope.data, slope.const) == (1.0, (-0.5,))


def test_the_grammar_names_every_operator_and_function_of_the_table() -> None:
    text = grammar()
    assert "+ - * / % **" in text and "unary minus" in text
    for name, op in functions().items():
        assert (f"{name}(x" if op.arity != 1 else name) in text
    assert {"exp", "tan", "log1p", "sign", "atan2", "hypot", "maximum", "leaky_relu"} <= set(functions())
    assert "leaky_relu(x, number=0.01)" in text and "atan2(x, y)" in text


def test_an_operation_registered_with_a_method_can_be_called_by_name_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cube = Operation("cube", lambda x: x * x * x, lambda out, x: (3.0 * x * x,), method="cube")
    monkeypatch.setitem(OPERATIONS, "cube", cube)
    monkeypatch.setattr(Value, "cube", None, raising=False)  # taken away again after the test
    register_operation(cube)
    y, leaves = parse("cube(x) + 1").evaluate({"x": 2.0})
    y.backward()
    assert (y.data, leaves["x"].grad) == (9.0, 12.0)
    assert "cube" in grammar()


@pytest.mark.parametrize(
    ("text", "problem", "fragment", "column"),
    [
        ("__import__('os').system('true')", "only functions called by name", "__import__('os').system", 1),
        ("x.__class__", "attribute access is not allowed", "x.__class__", 1),
        ("open('f')", "unknown function open", "open", 1),
        ("1 + x[0]", "indexing is not allowed", "x[0]", 5),
        ("lambda: 1", "a lambda is not allowed", "lambda: 1", 1),
        ("[x for x in y]", "a comprehension is not allowed", "[x for x in y]", 1),
        ("x // 2", "the operator // is not allowed", "x // 2", 1),
        ("exp + 1", "exp is a function", "exp", 1),
        ("tanh(x, 2)", "tanh() takes 1 argument, as in tanh(x); got 2", "tanh(x, 2)", 1),
        ("atan2(x)", "atan2() takes 2 arguments, as in atan2(x, y); got 1", "atan2(x)", 1),
        ("leaky_relu(x, y)", "must be a number, as in leaky_relu(x, number=0.01)", "y", 15),
        ("leaky_relu(x, 1e999)", "numbers must be finite", "1e999", 15),
        ("leaky_relu(x, " + "9" * 310 + ")", "this one is too large", "9" * 310, 15),
        ("sin(x=1)", "sin() takes no keyword arguments", "x=1", 5),
        ("x + 'a'", "only numbers are allowed as constants, not a str", "'a'", 5),
        ("1e999 * x", "numbers must be finite", "1e999", 1),
        ("é * x.y", "attribute access", "x.y", 5),  # columns count characters, not bytes
    ],
)
def test_anything_outside_the_grammar_is_refused_pointing_at_it(
    text: str, problem: str, fragment: str, column: int
) -> None:
    with pytest.raises(ExpressionError, match=re.escape(problem)) as caught:
        parse(text)
    assert (caught.value.fragment, caught.value.column) == (fragment, column)
    assert f"`{fragment}` at column {column}" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "problem", "column"),
    [
        ("x # the input", "a comment is not allowed", 3),
        ("(x\n+ y.z)", "the expression must be one line", 3),
        ("(x\r\n+ 1)", "the expression must be one line", 3),
        ("x \\\n+ 1", "the expression must be one line", 3),
    ],
)
def test_comments_and_line_breaks_are_refused(text: str, problem: str, column: int) -> None:
    with pytest.raises(ExpressionError, match=problem) as caught:
        parse(text)
    assert caught.value.column == column


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("-" * 10_000 + "x", "nested too deeply"),  # the parser's MemoryError
        ("x" + " + x" * 10_000, "nested too deeply"),  # the parser's RecursionError
        ("(" * 5_000 + "x" + ")" * 5_000, "too many nested parentheses"),
    ],
)
def test_too_deep_nesting_is_refused_with_a_message(text: str, problem: str) -> None:
    with pytest.raises(ExpressionError, match=problem):
        parse(text)


def test_unicode_names_match_their_assignments_as_python_normalizes_them() -> None:
    expression = parse("\uff58 * \U0001d431")  # fullwidth x, mathematical bold x: both are x
    assert expression.variables == ("x",)
    assert parse_assignments(["\uff58=2"]) == {"x": 2.0}


def test_a_refused_expression_runs_nothing(tmp_path: Path) -> None:
    target = tmp_path / "created"
    for text in (f"open({str(target)!r}, 'w')", f"__import__('pathlib').Path({str(target)!r}).touch()"):
        with pytest.raises(ExpressionError):
            parse(text)
    assert not target.exists()


def test_evaluation_names_missing_and_unknown_variables() -> None:
    expression = parse("x * y")
    with pytest.raises(ExpressionError, match="no value given for variable y: give one as y=NUMBER"):
        expression.evaluate({"x": 1.0})
    with pytest.raises(ExpressionError, match=r"variable z not in the expression \(its variables: x, y\)"):
        expression.evaluate({"x": 1.0, "y": 2.0, "z": 3.0})


def test_engine_errors_name_the_part_that_failed() -> None:
    with pytest.raises(
        EvaluationError, match=r"log\(0.0\) is undefined: non-positive input; in `log\(x - 1\)`"
    ):
        parse("2 * log(x - 1)").evaluate({"x": 1.0})
    with pytest.raises(EvaluationError, match="overflows"):
        parse("9 ** 9 ** 9").evaluate({})  # floats throughout: never a giant int


def test_assignments_parse_and_each_problem_has_its_own_message() -> None:
    assert parse_assignments(["x=0.5", "w = -2"]) == {"x": 0.5, "w": -2.0}
    cases = {
        ("x",): "expected NAME=NUMBER, got 'x'",
        ("x=1", "x=2"): r"x is given twice \(x=1.0 and 'x=2'\)",
        ("x=abc",): "the value of x must be a number, got 'abc'",
        ("x=nan",): "must be a finite number, got 'nan'",
        ("1x=2",): "'1x' is not a variable name",
        ("exp=2",): "'exp' is a function, not a variable",
    }
    for items, message in cases.items():
        with pytest.raises(ExpressionError, match=message):
            parse_assignments(list(items))


# --- hypothesis: every expression of the grammar evaluates like the engine ---

VARIABLES = ("x", "y", "z")
OPERATORS = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "%": operator.mod,
}
UNARY = sorted(name for name, op in functions().items() if op.arity == 1)
BINARY = sorted(name for name, op in functions().items() if op.arity == 2 and not op.constants)


def leaf() -> st.SearchStrategy[Built]:
    numbers = st.floats(-3, 3, allow_nan=False).map(lambda c: round(c, 3))
    return st.one_of(
        st.sampled_from(VARIABLES).map(lambda name: (name, lambda env, name=name: env[name])),
        numbers.map(lambda c: (repr(c) if c >= 0 else f"({c!r})", lambda env, c=c: c)),
    )


def extend(children: st.SearchStrategy[Built]) -> st.SearchStrategy[Built]:
    def binary(op: str) -> st.SearchStrategy[Built]:
        def build(a: Built, b: Built) -> Built:
            def run(env: Env) -> Value | float:
                left, right = a[1](env), b[1](env)
                left = left if isinstance(left, Value) or isinstance(right, Value) else Value(left)
                return OPERATORS[op](left, right)  # type: ignore[no-any-return]

            return f"({a[0]} {op} {b[0]})", run

        return st.builds(build, children, children)

    def call(name: str, a: Built) -> Built:
        def run(env: Env) -> Value:
            value = a[1](env)
            return getattr(value if isinstance(value, Value) else Value(value), name)()  # type: ignore[no-any-return]

        return f"{name}({a[0]})", run

    def power(a: Built, k: int) -> Built:
        def run(env: Env) -> Value:
            value = a[1](env)
            return (value if isinstance(value, Value) else Value(value)) ** k

        return f"{a[0]} ** {k}", run

    def call2(name: str, a: Built, b: Built) -> Built:
        def run(env: Env) -> Value:
            first, second = a[1](env), b[1](env)
            return getattr(first if isinstance(first, Value) else Value(first), name)(second)  # type: ignore[no-any-return]

        return f"{name}({a[0]}, {b[0]})", run

    def leaky(a: Built, slope: float) -> Built:
        def run(env: Env) -> Value:
            value = a[1](env)
            return (value if isinstance(value, Value) else Value(value)).leaky_relu(slope)

        return f"leaky_relu({a[0]}, {slope!r})", run

    return st.one_of(
        *(binary(op) for op in OPERATORS),
        st.builds(call, st.sampled_from(UNARY), children),
        st.builds(call2, st.sampled_from(BINARY), children, children),
        st.builds(leaky, children, st.sampled_from([0.01, 0.2, 1.5])),
        st.builds(power, children.map(lambda c: (f"({c[0]})", c[1])), st.integers(-2, 3)),
        children.map(lambda c: (f"-({c[0]})", lambda env, c=c: -c[1](env))),
    )


expressions = st.recursive(leaf(), extend, max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(expressions, st.tuples(*[st.floats(-2, 2, allow_nan=False)] * 3))
def test_any_expression_of_the_grammar_evaluates_like_the_engine(
    built: Built, values: tuple[float, ...]
) -> None:
    text, direct = built
    env = {name: Value(v, name) for name, v in zip(VARIABLES, values)}
    try:
        expected = direct(env)
    except (ArithmeticError, ValueError) as error:
        with pytest.raises(EvaluationError):
            expression = parse(text)
            expression.evaluate({name: values[VARIABLES.index(name)] for name in expression.variables})
        assert str(error)
        return
    expression = parse(text)
    got, leaves = expression.evaluate({name: values[VARIABLES.index(name)] for name in expression.variables})
    expected_data = expected.data if isinstance(expected, Value) else expected
    assert got.data == pytest.approx(expected_data, rel=1e-12, abs=1e-12)
    if isinstance(expected, Value):
        try:
            expected.backward()
        except ArithmeticError as error:  # an infinite derivative: the same failure either way
            with pytest.raises(type(error)):
                got.backward()
            return
        got.backward()
        for name, value in leaves.items():
            assert value.grad == pytest.approx(env[name].grad, rel=1e-9, abs=1e-9)


# --- hypothesis: anything outside the grammar is refused ---------------------

names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: n not in functions() and not keyword.iskeyword(n)
)
hostile = st.one_of(
    names.map(lambda n: f"{n}(x)"),
    names.map(lambda n: f"x.{n}"),
    names.map(lambda n: f"tanh(x).{n}"),
    st.integers(0, 9).map(lambda i: f"x[{i}]"),
    names.map(lambda n: f"lambda {n}: {n}"),
    names.map(lambda n: f"[{n} for {n} in x]"),
    names.map(lambda n: f"{{{n}: 1 for {n} in x}}"),
    names.map(lambda n: f"'{n}'"),
    st.sampled_from(["x < 1", "x and y", "x if y else z", "x // 2", "~x", "(x, y)", "f'{x}'", "(y := 2)"]),
)


@settings(max_examples=150, deadline=None)
@given(hostile, st.sampled_from(["{}", "1 + {}", "tanh({}) * x", "-({})"]))
def test_any_string_outside_the_grammar_is_refused(fragment: str, context: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(context.format(fragment))
    assert caught.value.column is not None
