"""Numbers that are names: an operation's forward, rule and domain traced into formulas.

A ``Sym`` stands for a number by name (an operand, the result). Python's
operators and the functions of ``microgrid.ops`` (through the world registered
here) build expressions of Syms, so calling a table entry's ``forward``,
``rule`` or domain condition on Syms gives its formula, written once in the
table and never copied here. The backends print the formula as source: Python
on floats, or numpy on batches.

A condition used as a bool (``if``, ``and``, ``or``, a chained comparison)
cannot be decided from names, so ``trace`` runs the function once per way
each such condition can go and joins the results with ``where``. A function
that needs a real number (``math.exp`` on a Sym, ``float()``) cannot be traced:
``Untraceable``, and the backends call it instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from microgrid import ops


class Untraceable(Exception):
    """A function that needs real numbers, not names (``float(x)``, ``math.exp(x)``)."""


class Sym:
    """A number known by name: an operand (``var``) or an expression of them.

    ``kind`` says what it is: "var" (args: a key), a Python operator ("+",
    "<", "neg", "abs"), "call" (args: a function of the world, its operands),
    "where" (condition, if true, if false) or "fsum" (the terms).
    """

    __slots__ = ("kind", "args")
    __array_ufunc__ = None  # numpy scalars defer to our operators instead of making object arrays

    def __init__(self, kind: str, *args: Any) -> None:
        self.kind = kind
        self.args = args

    def __repr__(self) -> str:
        return f"Sym({python_text(self)})"

    # arithmetic: each builds a node of the formula
    def __add__(self, other: Any) -> Sym:
        return Sym("+", self, other)

    def __radd__(self, other: Any) -> Sym:
        return Sym("+", other, self)

    def __sub__(self, other: Any) -> Sym:
        return Sym("-", self, other)

    def __rsub__(self, other: Any) -> Sym:
        return Sym("-", other, self)

    # x * 1 and x / 1 are x, exactly (nan, inf and -0.0 too): no operation to write
    def __mul__(self, other: Any) -> Sym:
        return self if is_one(other) else Sym("*", self, other)

    def __rmul__(self, other: Any) -> Sym:
        return self if is_one(other) else Sym("*", other, self)

    def __truediv__(self, other: Any) -> Sym:
        return self if is_one(other) else Sym("/", self, other)

    def __rtruediv__(self, other: Any) -> Sym:
        return Sym("/", other, self)

    def __mod__(self, other: Any) -> Sym:
        return Sym("%", self, other)

    def __rmod__(self, other: Any) -> Sym:
        return Sym("%", other, self)

    def __pow__(self, other: Any) -> Sym:
        return Sym("**", self, other)

    def __rpow__(self, other: Any) -> Sym:
        return Sym("**", other, self)

    def __neg__(self) -> Sym:
        return Sym("neg", self)

    def __pos__(self) -> Sym:
        return self  # +x is x, for floats and arrays alike

    def __abs__(self) -> Sym:
        return Sym("abs", self)

    # comparisons give conditions (a Sym too), decided only when used as a bool
    def __lt__(self, other: Any) -> Sym:
        return Sym("<", self, other)

    def __le__(self, other: Any) -> Sym:
        return Sym("<=", self, other)

    def __gt__(self, other: Any) -> Sym:
        return Sym(">", self, other)

    def __ge__(self, other: Any) -> Sym:
        return Sym(">=", self, other)

    def __eq__(self, other: Any) -> Sym:  # type: ignore[override]
        return Sym("==", self, other)

    def __ne__(self, other: Any) -> Sym:  # type: ignore[override]
        return Sym("!=", self, other)

    __hash__ = object.__hash__  # by identity, so formulas can be dict keys

    def __bool__(self) -> bool:
        return _decide(self)

    def _needs_a_number(self, *args: Any) -> Any:
        raise Untraceable("a real number was needed where only its name is known")

    __float__ = __int__ = __index__ = __complex__ = _needs_a_number
    __round__ = __floor__ = __ceil__ = __trunc__ = _needs_a_number


def var(key: Any) -> Sym:
    """A named number: ``key`` is an operand's position, or "out" for the result."""
    return Sym("var", key)


class _SymWorld:
    """The world of Syms: each function of ``microgrid.ops`` makes a call node."""

    @staticmethod
    def where(condition: Any, if_true: Any, if_false: Any) -> Sym:
        return Sym("where", condition, if_true, if_false)

    @staticmethod
    def fsum(terms: Any) -> Any:
        terms = tuple(terms)
        # a sum of one term is the term (fsum([-0.0]) is 0.0: only the sign of a zero differs)
        return terms[0] if len(terms) == 1 else Sym("fsum", *terms)


# the functions a formula may call: the world of floats names them all, once
FUNCTIONS = tuple(
    name for name in vars(ops.Floats) if not name.startswith("_") and name not in ("where", "fsum")
)
for _name in FUNCTIONS:
    setattr(_SymWorld, _name, staticmethod(lambda *args, _name=_name: Sym("call", _name, *args)))
ops.register_world(Sym, _SymWorld)


# --- tracing: every way the conditions can go ---------------------------------------------

_MAX_RUNS = 64  # more paths (or conditions on one path) than this: too many branches for a formula


class _Path:
    """The decisions of one run: those forced by a prefix, then free ones (taken as true)."""

    def __init__(self, forced: list[bool]) -> None:
        self.forced = forced
        self.taken: list[tuple[Sym, bool]] = []


class _Tracing(threading.local):
    def __init__(self) -> None:
        self.path: _Path | None = None


_tracing = _Tracing()


def _decide(condition: Sym) -> bool:
    path = _tracing.path
    if path is None:
        raise Untraceable("a condition on a named number was used as a bool outside a trace")
    at = len(path.taken)
    if at >= _MAX_RUNS:  # a loop on a named number (while x > 1: x /= 2) would never end
        raise Untraceable("too many conditions in one run")
    decision = path.forced[at] if at < len(path.forced) else True
    path.taken.append((condition, decision))
    return decision


def trace(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` with Syms among the args, as a formula over every branch.

    Returns a Sym, a number, or a tuple of them. Raises ``Untraceable`` when
    the function needs real numbers or branches on more than a few conditions.
    """
    runs = [0]

    def run(forced: list[bool]) -> tuple[Any, _Path]:
        runs[0] += 1
        if runs[0] > _MAX_RUNS:
            raise Untraceable("too many branches")
        path, outer = _Path(forced), _tracing.path
        _tracing.path = path
        try:
            result = function(*args)
        except Untraceable:
            raise
        except Exception as error:  # raised on the way (a check in the function): not a formula
            raise Untraceable(f"{type(error).__name__}: {error}") from None
        finally:
            _tracing.path = outer
        return _settled(result, path), path

    def explore(forced: list[bool]) -> Any:
        result, path = run(forced)
        if len(path.taken) == len(forced):
            return result
        condition = path.taken[len(forced)][0]  # the first free decision on this path
        return select(condition, explore([*forced, True]), explore([*forced, False]))

    return explore([])


def _settled(result: Any, path: _Path) -> Any:
    # a condition returned by `and`/`or` after being decided on this path is that decision
    decided = {id(condition): decision for condition, decision in path.taken}
    if isinstance(result, (tuple, list)):
        return tuple(_settled(item, path) for item in result)
    if isinstance(result, Sym) and id(result) in decided:
        return decided[id(result)]
    return result


def select(condition: Any, if_true: Any, if_false: Any) -> Any:
    """``where(condition, if_true, if_false)``, elementwise for tuples, skipped when both agree."""
    if isinstance(if_true, tuple) and isinstance(if_false, tuple) and len(if_true) == len(if_false):
        return tuple(select(condition, a, b) for a, b in zip(if_true, if_false))
    if if_true is if_false or (is_number(if_true) and is_number(if_false) and _same(if_true, if_false)):
        return if_true
    return Sym("where", condition, if_true, if_false)


def is_number(x: Any) -> bool:
    """True for a number in a formula (a constant), False for a Sym or a formula's source text."""
    return isinstance(x, (int, float))


def is_one(x: Any) -> bool:
    """True for the constant 1 (int or float, not True): a factor that can be left out."""
    return type(x) in (int, float) and x == 1


def _same(a: Any, b: Any) -> bool:
    # the same number, and the same type (True and 1.0 differ as results)
    return type(a) is type(b) and (a == b or a != a and b != b)


# --- what a formula is made of ----------------------------------------------------------------


def walk(formula: Any) -> Iterator[Sym]:
    """Every Sym node of a formula (a Sym, number or tuple), each once, operands first."""
    # a stack of iterators over operands, each with the node whose operands they are: a var
    # (no operands) is yielded where it is met, so a sum of 100,000 terms costs no stack push each
    seen: set[int] = set()
    stack: list[Iterator[Any]] = [iter((formula,))]
    owners: list[Sym | None] = [None]
    while stack:
        for item in stack[-1]:
            if isinstance(item, tuple):
                stack.append(iter(item))
                owners.append(None)
                break
            if isinstance(item, Sym) and id(item) not in seen:
                if item.kind == "var":
                    seen.add(id(item))
                    yield item
                    continue
                stack.append(iter(item.args[1:] if item.kind == "call" else item.args))
                owners.append(item)
                break
        else:
            stack.pop()
            owner = owners.pop()
            if owner is not None and id(owner) not in seen:
                seen.add(id(owner))
                yield owner


def keys(formula: Any) -> set[Any]:
    """The keys of the named numbers a formula reads."""
    return {node.args[0] for node in walk(formula) if node.kind == "var"}


_PASSES_ON = frozenset({"+", "-", "*", "neg", "abs", "fsum"})


def passing(formula: Any) -> set[Any]:
    """The keys of the named numbers whose inf or nan always makes the formula's value inf or nan.

    Through ``+ - *``, negation, ``abs`` and sums it always does (inf * 0 is
    nan), and through a division's numerator; anything else (a comparison, a
    function like tanh, a division by it) may turn it into a finite number.
    """
    found: dict[int, set[Any]] = {}  # per node that is not a var: the keys that pass through it

    def passed(x: Any) -> set[Any]:
        if not isinstance(x, Sym):
            return set()
        return {x.args[0]} if x.kind == "var" else found[id(x)]

    for node in walk(formula):
        if node.kind == "var":
            continue  # its key is its own (a wide sum's 100,000 vars make no set each)
        if node.kind in _PASSES_ON:
            keys_: set[Any] = set()
            for x in node.args:
                if isinstance(x, Sym):
                    if x.kind == "var":
                        keys_.add(x.args[0])
                    else:
                        keys_ |= found[id(x)]
        elif node.kind == "/":
            keys_ = passed(node.args[0])
        else:
            keys_ = set()
        found[id(node)] = keys_
    return passed(formula)


def selects(formula: Any) -> bool:
    """True if the formula's value is one of its operands, a constant or such a value negated.

    Such a result (relu's, abs's, maximum's) is finite whenever its operands
    are: it needs no check of its own.
    """
    if isinstance(formula, Sym):
        if formula.kind == "var":
            return True
        if formula.kind == "where":
            return selects(formula.args[1]) and selects(formula.args[2])
        if formula.kind in ("neg", "abs"):
            return selects(formula.args[0])
        return False
    return is_number(formula) and formula - formula == 0.0


# --- formulas as source -------------------------------------------------------------------------


def number_text(x: Any) -> str:
    """A constant as source that reads back exactly (negative numbers in parentheses)."""
    if isinstance(x, bool):
        return repr(x)
    if isinstance(x, int):
        return repr(x) if x >= 0 else f"({x!r})"
    x = float(x)
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "(-inf)"
    text = repr(x)
    return f"({text})" if text.startswith("-") else text


CHAINED_TERMS = 100  # a sum of up to this many terms is written a + b + c; more, with sum()
TERMS_PER_LINE = 1_000  # a sum of more terms (at the top of a formula) is added up line by line


def source(
    formula: Any, name: Callable[[Any], str], numpy: bool, temporary: str, result: str | None = None
) -> tuple[list[str], Any]:
    """The formula as source: (statements binding shared parts, the expression).

    ``name(key)`` is the source of a named number; a part used more than once
    is bound once to ``{temporary}{k}``. For numpy, ``where`` evaluates both
    sides (elementwise); for Python it is a conditional expression, which
    evaluates the side it picks, and an ``fsum`` adds its terms left to right
    (faster than fsum's one rounding; graph mode's result to rounding). A tuple formula gives a tuple of expressions;
    a number is returned as the number itself (so callers can see 1.0).

    With ``result`` (the source of the name the value is bound to), a Python
    formula that is a sum of more than ``TERMS_PER_LINE`` terms, with no
    shared parts, is added up in statements of that many terms each,
    ``result = sum((a, b, ...), result)``, left to right as one sum would: no
    line holds 100,000 terms, and code cut into functions can cut between them.
    """
    uses: dict[int, int] = {}
    for node in walk(formula):
        for operand in node.args[1:] if node.kind == "call" else node.args:
            if isinstance(operand, Sym) and operand.kind != "var":
                uses[id(operand)] = uses.get(id(operand), 0) + 1
    if isinstance(formula, tuple):
        for item in formula:
            if isinstance(item, Sym) and item.kind != "var":
                uses[id(item)] = uses.get(id(item), 0) + 1
    statements: list[str] = []
    bound: dict[int, str] = {}

    def text(x: Any) -> str:
        if not isinstance(x, Sym):
            return number_text(x)
        if id(x) in bound:
            return bound[id(x)]
        made = _text_of(x, text, name, numpy)
        if uses.get(id(x), 0) > 1:
            label = f"{temporary}{len(bound)}"
            statements.append(f"{label} = {made}")
            bound[id(x)] = label
            return label
        return made

    # operands first, so each shared part is bound before its first use
    if any(count > 1 for count in uses.values()):
        for node in walk(formula):
            if node.kind != "var" and uses.get(id(node), 0) > 1:
                text(node)
    if (
        result is not None
        and not numpy
        and not statements
        and isinstance(formula, Sym)
        and formula.kind == "fsum"
        and len(formula.args) > TERMS_PER_LINE
    ):
        return _added_by_lines([text(term) for term in formula.args], result)
    if isinstance(formula, tuple):
        made: Any = tuple(text(x) if isinstance(x, Sym) else x for x in formula)
    else:
        made = text(formula) if isinstance(formula, Sym) else formula
    return statements, made


def _added_by_lines(terms: list[str], result: str) -> tuple[list[str], str]:
    # sum(terms, start) adds left to right from start: these lines add what one sum() would
    lines = [terms[k : k + TERMS_PER_LINE] for k in range(0, len(terms), TERMS_PER_LINE)]
    statements = [f"{result} = sum(({', '.join(lines[0])},), 0.0)"]
    statements += [f"{result} = sum(({', '.join(line)},), {result})" for line in lines[1:-1]]
    return statements, f"sum(({', '.join(lines[-1])},), {result})"


def _text_of(x: Sym, text: Callable[[Any], str], name: Callable[[Any], str], numpy: bool) -> str:
    kind, args = x.kind, x.args
    if kind == "var":
        return name(args[0])
    if kind == "neg":
        return f"(-{text(args[0])})"
    if kind == "abs":
        return f"abs({text(args[0])})"
    if kind == "call":
        return f"{args[0]}({', '.join(text(a) for a in args[1:])})"
    if kind == "fsum":
        terms = [text(a) for a in args]
        if numpy:
            return f"fsum(({', '.join(terms)},))"
        # Python adds left to right (graph mode's fsum rounds once: they agree to rounding),
        # as a + b + c for a few terms, with sum() for many (a chain that deep would not compile)
        if len(terms) <= CHAINED_TERMS:
            return f"({' + '.join(terms)})" if terms else "0.0"
        return f"sum(({', '.join(terms)},), 0.0)"
    if kind == "where":
        test = args[0]
        if numpy and isinstance(test, Sym) and test.kind == ">" and _picks_larger(test.args, args[1:]):
            # a > b ? a : b in one array operation (relu's): numpy's maximum gives b on a tie, as
            # the where does; they differ on a nan only, and a nan there is checked for
            # (analysis.needs_check: relu would hide it)
            return f"maximum({text(args[1])}, {text(args[2])})"
        condition, if_true, if_false = (text(a) for a in args)
        if numpy:
            return f"where({condition}, {if_true}, {if_false})"
        return f"({if_true} if {condition} else {if_false})"
    return f"({text(args[0])} {kind} {text(args[1])})"


def _picks_larger(compared: tuple[Any, ...], picked: tuple[Any, ...]) -> bool:
    # where(a > b, a, b): the same parts compared and picked, in that order
    return all(
        x is y or not isinstance(x, Sym) and not isinstance(y, Sym) and _same(x, y)
        for x, y in zip(compared, picked)
    )


def python_text(formula: Any) -> str:
    """The formula as one Python expression, operands by their keys (for reprs and tests)."""
    statements, result = source(
        formula, lambda key: f"x{key}" if isinstance(key, int) else str(key), False, "t"
    )
    return "; ".join([*statements, str(result)])
