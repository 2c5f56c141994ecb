"""A small, safe expression language for ``microgrid draw``: ``tanh(w*x + b)``.

Numbers, variables, parentheses, and what the table of operations
(``microgrid.ops``) offers: its operators (``+ - * / % **`` and unary minus)
and its functions by name, with their constant arguments (``leaky_relu(x,
0.1)``) and second operands (``atan2(y, x)``). The grammar is read from the
table when an expression is parsed, so an operation registered with a method
can be called by name at once. Text is parsed with Python's ``ast`` and then
checked against an explicit allow-list of node types; nothing is ever passed to
``eval``, and anything else (attribute access, other names called, strings,
subscripts, lambdas, ...) is refused with a message that quotes the offending
part and its column. Evaluation builds a graph of Values, one per variable,
labelled by name.
"""

from __future__ import annotations

import ast
import math
import operator
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from microgrid.engine import Value
from microgrid.ops import OPERATIONS, Operation

# Python's operators as ast writes them: (symbol, the function that applies it,
# dispatching to Value's special methods on either side). Which of them an
# expression may use is the table's to say (see ``operators``).
_BINARY_SYNTAX: dict[type[ast.operator], tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv),
    ast.Mod: ("%", operator.mod),
    ast.Pow: ("**", operator.pow),
    ast.FloorDiv: ("//", operator.floordiv),
    ast.MatMult: ("@", operator.matmul),
    ast.LShift: ("<<", operator.lshift),
    ast.RShift: (">>", operator.rshift),
    ast.BitOr: ("|", operator.or_),
    ast.BitXor: ("^", operator.xor),
    ast.BitAnd: ("&", operator.and_),
}
_UNARY_SYNTAX: dict[type[ast.unaryop], tuple[str, Callable[[Any], Any]]] = {
    ast.USub: ("-", operator.neg),
    ast.UAdd: ("+", lambda x: x),  # +x is x (a Value has no __pos__)
    ast.Not: ("not", operator.not_),
    ast.Invert: ("~", operator.invert),
}


def functions() -> dict[str, Operation]:
    """The functions an expression may call, by name: every operation of the table with a Value method."""
    return {op.method: op for op in OPERATIONS.values() if op.method and op.arity is not None}


def operators() -> tuple[list[str], list[str]]:
    """The symbols of the table's infix operators and of its prefix ones: (["+", "-", ...], ["-"])."""
    infix = [op.symbol for op in OPERATIONS.values() if op.symbol and op.arity == 2]
    prefix = [op.symbol for op in OPERATIONS.values() if op.symbol and op.arity == 1]
    return infix, prefix


def signature(op: Operation) -> str:
    """How an expression calls ``op``: ``exp(x)``, ``atan2(x, y)``, ``leaky_relu(x, number=0.01)``."""
    assert op.arity is not None
    operands = ["x", "y", "z", "w"][: op.arity - op.constants]
    optional = len(op.defaults)
    constants = [
        "number" if i < op.constants - optional else f"number={op.defaults[i - op.constants + optional]!r}"
        for i in range(op.constants)
    ]
    return f"{op.method}({', '.join([*operands, *constants])})"


def grammar() -> str:
    """The language in one sentence, from the table: for error messages and ``microgrid draw --help``."""
    infix, prefix = operators()
    unary = sorted(name for name, op in functions().items() if op.arity == 1)
    others = sorted(signature(op) for op in functions().values() if op.arity != 1)
    unary_minus = "unary minus, " if "-" in prefix else ""
    return (
        f"numbers, variables, {' '.join(infix)}, {unary_minus}parentheses, the functions of one "
        f"operand {', '.join(unary)}, and {', '.join(others)}"
    )


_DESCRIPTIONS = {
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.Compare: "a comparison",
    ast.BoolOp: "a boolean operator",
    ast.IfExp: "a conditional expression",
    ast.NamedExpr: "an assignment expression",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.JoinedStr: "an f-string",
    ast.Starred: "a starred expression",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Slice: "a slice",
}
_COMMENT_OR_LINE_BREAK = re.compile(r"#|\\|[^\S \t]")  # a backslash continues a line


class ExpressionError(ValueError):
    """The text is not an expression of the language (or its values do not fit it).

    ``column`` (1-based) and ``fragment`` locate the offending part, when there is one.
    """

    def __init__(
        self, problem: str, text: str = "", start: int | None = None, end: int | None = None
    ) -> None:
        self.problem = problem
        self.column = None if start is None else start + 1
        self.fragment = "" if start is None else text[start:end]
        message = problem
        if start is not None:
            width = max(1, len(self.fragment))
            message += f": `{self.fragment}` at column {self.column}\n  {text}\n  {' ' * start}{'^' * width}"
        super().__init__(message)


class EvaluationError(ArithmeticError):
    """The expression is well formed, but the engine refused to compute it (``log(0)``, overflow)."""


@dataclass(frozen=True)
class Expression:
    """A parsed, checked expression: ``text``, its ``variables`` (in order of first use)."""

    text: str
    tree: ast.Expression
    variables: tuple[str, ...]

    def evaluate(self, values: Mapping[str, float | Value]) -> tuple[Value, dict[str, Value]]:
        """Build the graph with the given variable values; return (result, Values by variable name).

        A number becomes a leaf Value labelled by its variable name (a Value is used as is).
        Raises ExpressionError for a missing or unknown variable, EvaluationError
        when the engine refuses an operation (``log(0)``), naming the part that failed.
        """
        missing = [name for name in self.variables if name not in values]
        if missing:
            raise ExpressionError(f"no value given for {_names(missing)}: give one as {missing[0]}=NUMBER")
        unknown = [name for name in values if name not in self.variables]
        if unknown:
            raise ExpressionError(
                f"{_names(unknown)} not in the expression (its variables: {', '.join(self.variables) or 'none'})"
            )
        leaves = {}  # in order of first use, as printed and drawn
        for name in self.variables:
            value = values[name]
            leaves[name] = value if isinstance(value, Value) else Value(value, label=name)
        results: dict[ast.AST, Value | float] = {}
        for node in _postorder(self.tree.body):
            try:
                results[node] = _apply(node, results, leaves)
            except (ArithmeticError, ValueError) as error:
                raise EvaluationError(f"{error}; in `{ast.get_source_segment(self.text, node)}`") from None
        result = results[self.tree.body]
        if not isinstance(result, Value):  # a constant expression still draws as one node
            result = Value(result)
        return result, leaves


def parse(text: str) -> Expression:
    """Parse and check ``text`` against the language; nothing in it is run.

    Raises ExpressionError (quoting the offending part and its column) for
    anything outside the language.
    """
    if not isinstance(text, str):
        raise TypeError(f"expression must be a str, got {type(text).__name__}")
    text = text.strip()
    if not text:
        raise ExpressionError("the expression is empty")
    # one line, so that ast's columns (which restart on each line) locate parts in the text
    unwritten = _COMMENT_OR_LINE_BREAK.search(text)
    if unwritten:
        start = unwritten.start()
        problem = (
            "a comment is not allowed" if unwritten.group() == "#" else "the expression must be one line"
        )
        raise ExpressionError(problem, text, start, start + 1)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        if "Exceeds the limit" in error.msg:  # Python reads at most 4300 digits of an int
            raise ExpressionError("numbers must be finite floats; one has thousands of digits") from None
        start = (error.offset or 1) - 1
        raise ExpressionError(f"not a valid expression ({error.msg})", text, start, start + 1) from None
    except (RecursionError, MemoryError):  # what CPython's parser raises past its depth limit
        raise ExpressionError("the expression is nested too deeply to parse") from None
    except ValueError as error:
        raise ExpressionError(f"not a valid expression ({error})") from None
    variables: list[str] = []
    stack: list[ast.AST] = [tree.body]
    while stack:  # outermost first, so the message names the construct as written
        node = stack.pop()
        _check(node, text)
        if isinstance(node, ast.Name) and node.id not in variables:
            variables.append(node.id)
        stack.extend(reversed(_operands(node)))
    return Expression(text, tree, tuple(variables))


def parse_assignments(items: Sequence[str]) -> dict[str, float]:
    """``["x=0.5", "w=-2"]`` -> ``{"x": 0.5, "w": -2.0}``.

    Raises ExpressionError for an item without ``=``, a name that is not an
    identifier or is a function's, a name given twice, or a value that is not a finite number.
    """
    values: dict[str, float] = {}
    for item in items:
        name, sep, number = item.partition("=")
        # Python reads identifiers in NFKC form: the expression's fullwidth x is x
        name, number = unicodedata.normalize("NFKC", name.strip()), number.strip()
        if not sep:
            raise ExpressionError(f"expected NAME=NUMBER, got {item!r}")
        if not name.isidentifier():
            raise ExpressionError(f"{name!r} is not a variable name (in {item!r})")
        if name in functions():
            raise ExpressionError(f"{name!r} is a function, not a variable (in {item!r})")
        if name in values:
            raise ExpressionError(f"{name} is given twice ({name}={values[name]!r} and {item!r})")
        try:
            value = float(number)
        except ValueError:
            raise ExpressionError(f"the value of {name} must be a number, got {number!r}") from None
        if not math.isfinite(value):
            raise ExpressionError(f"the value of {name} must be a finite number, got {number!r}")
        values[name] = value
    return values


# --- checking: the allow-list ----------------------------------------------


def _check(node: ast.AST, text: str) -> None:
    """Raise ExpressionError unless ``node`` is in the language (its children are checked on their own)."""

    def refuse(problem: str, where: ast.AST = node) -> ExpressionError:
        return _refusal(problem, text, where)

    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise refuse(f"only numbers are allowed as constants, not a {type(node.value).__name__}")
        _finite(node.value, refuse)
    elif isinstance(node, ast.Name):
        if node.id in functions():
            raise refuse(f"{node.id} is a function: call it, as in {signature(functions()[node.id])}")
    elif isinstance(node, ast.BinOp):
        infix, _ = operators()
        symbol = _BINARY_SYNTAX[type(node.op)][0]
        if symbol not in infix:
            raise refuse(f"the operator {symbol} is not allowed (allowed: {' '.join(infix)})")
    elif isinstance(node, ast.UnaryOp):
        _, prefix = operators()
        symbol = _UNARY_SYNTAX[type(node.op)][0]
        if symbol not in prefix and symbol != "+":  # +x is x
            raise refuse(f"the operator {symbol} is not allowed (allowed: unary {' '.join(prefix)})")
    elif isinstance(node, ast.Call):
        _check_call(node, refuse)
    else:
        description = _DESCRIPTIONS.get(type(node), type(node).__name__)
        raise refuse(f"{description} is not allowed (allowed: {grammar()})")


def _check_call(node: ast.Call, refuse: Callable[..., ExpressionError]) -> None:
    if not isinstance(node.func, ast.Name):
        description = _DESCRIPTIONS.get(type(node.func), "this")
        raise refuse(f"only functions called by name can be called, not {description}", node.func)
    name = node.func.id
    op = functions().get(name)
    if op is None:
        raise refuse(f"unknown function {name} (allowed: {', '.join(sorted(functions()))})", node.func)
    assert op.arity is not None  # functions() keeps operations of a fixed arity
    if node.keywords:
        raise refuse(f"{name}() takes no keyword arguments", node.keywords[0])
    least, most = op.arity - len(op.defaults), op.arity
    if not least <= len(node.args) <= most:
        takes = f"{least} argument{'s' * (least != 1)}" if least == most else f"{least} to {most} arguments"
        raise refuse(f"{name}() takes {takes}, as in {signature(op)}; got {len(node.args)}")
    for argument in node.args[op.arity - op.constants :]:  # a constant: a number, written as one
        if not _is_number(argument):
            raise refuse(
                f"the argument of {name}() in this place must be a number, as in {signature(op)}", argument
            )
        _finite(_literal(argument), lambda problem, where=argument: refuse(problem, where))


def _finite(value: float, refuse: Callable[..., ExpressionError]) -> None:
    try:
        finite = math.isfinite(float(value))
    except OverflowError:
        finite = False
    if not finite:
        raise refuse("numbers must be finite floats; this one is too large")


def _refusal(problem: str, text: str, where: ast.AST) -> ExpressionError:
    """An ExpressionError pointing at ``where`` in ``text``."""
    if not hasattr(where, "col_offset"):
        return ExpressionError(problem)
    encoded = text.encode()  # ast's columns count UTF-8 bytes; the caret counts characters
    start = len(encoded[: where.col_offset].decode(errors="ignore"))
    end_byte = getattr(where, "end_col_offset", None)
    end = None if end_byte is None else len(encoded[:end_byte].decode(errors="ignore"))
    return ExpressionError(problem, text, start, end)


# --- evaluating -------------------------------------------------------------


def _operands(node: ast.AST) -> list[ast.AST]:
    """The sub-expressions of a checked node (a call's arguments, not its function's name)."""
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    if isinstance(node, ast.Call):
        return list(node.args)
    return []


def _postorder(root: ast.AST) -> list[ast.AST]:
    """The nodes under root, each after its operands: iterative, so any depth works."""
    order: list[ast.AST] = []
    stack: list[tuple[ast.AST, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
        else:
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(_operands(node)))
    return order


def _literal(node: ast.AST) -> int | float:
    """The value of a checked number literal, signed or not (``2``, ``-0.5``), exactly as written."""
    sign = 1
    while isinstance(node, ast.UnaryOp):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    assert isinstance(node, ast.Constant) and isinstance(node.value, (int, float))
    return sign * node.value


def _is_number(node: ast.AST) -> bool:
    """True for a number literal, signed or not."""
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    )


def _apply(node: ast.AST, results: dict[ast.AST, Value | float], leaves: dict[str, Value]) -> Value | float:
    """The value of one checked node, from its children's values (plain floats stay floats)."""
    if _is_number(node):
        return float(_literal(node))  # kept a float: ``x ** 2`` and ``2 * x`` fold it into the operation
    if isinstance(node, ast.Name):
        return leaves[node.id]
    if isinstance(node, ast.UnaryOp):
        negated: Value | float = _UNARY_SYNTAX[type(node.op)][1](results[node.operand])
        return negated
    if isinstance(node, ast.BinOp):
        left, right = results[node.left], results[node.right]
        if not isinstance(left, Value) and not isinstance(right, Value):
            left = Value(left)  # 2 * 3 is drawn too, and float ** float is never complex
        combined: Value | float = _BINARY_SYNTAX[type(node.op)][1](left, right)
        return combined
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)  # checked by parse
        first, *rest = (results[a] for a in node.args)
        method = getattr(Value, functions()[node.func.id].method)
        return method(first if isinstance(first, Value) else Value(first), *rest)  # type: ignore[no-any-return]
    raise AssertionError(f"unchecked node {ast.dump(node)}")  # parse refuses everything else


def _names(names: list[str]) -> str:
    return ("variable " if len(names) == 1 else "variables ") + ", ".join(names)
