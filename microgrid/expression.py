"""A small, safe expression language for ``microgrid draw``: ``tanh(w*x + b)``.

Numbers, variables, ``+ - * / **``, unary minus, parentheses, and the engine's
functions by name. Text is parsed with Python's ``ast`` and then checked against
an explicit allow-list of node types; nothing is ever passed to ``eval``, and
anything else (attribute access, other names called, strings, subscripts,
lambdas, ...) is refused with a message that quotes the offending part and its
column. Evaluation builds a graph of Values, one per variable, labelled by name.
"""

from __future__ import annotations

import ast
import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from microgrid.engine import Value

# The engine's functions, by the name used in expressions: name -> how to apply
# it to its Value argument and its (optional) constant arguments.
FUNCTIONS: dict[str, Callable[..., Value]] = {
    "exp": Value.exp,
    "log": Value.log,
    "tanh": Value.tanh,
    "sigmoid": Value.sigmoid,
    "relu": Value.relu,
    "leaky_relu": Value.leaky_relu,
    "softplus": Value.softplus,
    "sqrt": Value.sqrt,
    "abs": Value.abs,
    "sin": Value.sin,
    "cos": Value.cos,
}
_CONSTANT_ARGUMENTS = {"leaky_relu": 1}  # leaky_relu(x, 0.1): the slope, a number

_OPERATORS: dict[type[ast.operator], Callable[[Value, Value | float], Value]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
_OPERATOR_SYMBOLS = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.Not: "not",
    ast.Invert: "~",
}
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
_GRAMMAR = "numbers, variables, + - * / **, unary minus, parentheses and the functions " + ", ".join(
    sorted(FUNCTIONS)
)


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
        if name in FUNCTIONS:
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
        if node.id in FUNCTIONS:
            raise refuse(f"{node.id} is a function: call it, as in {node.id}(x)")
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _OPERATORS:
            symbol = _OPERATOR_SYMBOLS.get(type(node.op), type(node.op).__name__)
            raise refuse(f"the operator {symbol} is not allowed (allowed: + - * / **)")
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            symbol = _OPERATOR_SYMBOLS.get(type(node.op), type(node.op).__name__)
            raise refuse(f"the operator {symbol} is not allowed (allowed: unary -)")
    elif isinstance(node, ast.Call):
        _check_call(node, refuse)
    else:
        description = _DESCRIPTIONS.get(type(node), type(node).__name__)
        raise refuse(f"{description} is not allowed (allowed: {_GRAMMAR})")


def _check_call(node: ast.Call, refuse: Callable[..., ExpressionError]) -> None:
    if not isinstance(node.func, ast.Name):
        description = _DESCRIPTIONS.get(type(node.func), "this")
        raise refuse(f"only functions called by name can be called, not {description}", node.func)
    name = node.func.id
    if name not in FUNCTIONS:
        raise refuse(f"unknown function {name} (allowed: {', '.join(sorted(FUNCTIONS))})", node.func)
    if node.keywords:
        raise refuse(f"{name}() takes no keyword arguments", node.keywords[0])
    constants = _CONSTANT_ARGUMENTS.get(name, 0)
    if not 1 <= len(node.args) <= 1 + constants:
        takes = "one argument" if not constants else f"one argument and up to {constants} number"
        raise refuse(f"{name}() takes {takes}, got {len(node.args)}")
    for argument in node.args[1:]:
        if _number(argument) is None:
            raise refuse(f"the extra arguments of {name}() must be numbers", argument)


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


def _number(node: ast.AST) -> float | None:
    """The value of a number literal, signed or not (``2``, ``-0.5``); None for anything else."""
    sign = 1.0
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    ):
        return sign * float(node.value)
    return None


def _apply(node: ast.AST, results: dict[ast.AST, Value | float], leaves: dict[str, Value]) -> Value | float:
    """The value of one checked node, from its children's values (plain floats stay floats)."""
    number = _number(node)
    if number is not None:
        return number  # kept a float: ``x ** 2`` and ``2 * x`` fold it into the operation
    if isinstance(node, ast.Name):
        return leaves[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = results[node.operand]
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left, right = results[node.left], results[node.right]
        if not isinstance(left, Value) and not isinstance(right, Value):
            left = Value(left)  # 2 * 3 is drawn too, and float ** float is never complex
        return _OPERATORS[type(node.op)](left, right)  # type: ignore[arg-type]
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)  # checked by parse
        argument = results[node.args[0]]
        value = argument if isinstance(argument, Value) else Value(argument)
        return FUNCTIONS[node.func.id](value, *(results[a] for a in node.args[1:]))
    raise AssertionError(f"unchecked node {ast.dump(node)}")  # parse refuses everything else


def _names(names: list[str]) -> str:
    return ("variable " if len(names) == 1 else "variables ") + ", ".join(names)
