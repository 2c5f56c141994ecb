"""An operation's forward, local derivatives and domain as formulas, and as source text.

``formulas(op, values, consts)`` traces a table entry on named numbers (see
``symbolic``): operands 0 .. values - 1 are the Value operands, then the
constants, either as the numbers themselves (a rule may branch on them) or
named too (one formula for a group of nodes whose constants differ). Both are
cached: a graph has few distinct (operation, constants) pairs.
``text(formulas, numpy)`` writes them as format strings, filled in per
instruction with the names of its operands.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from microgrid.ops import Operation
from microgrid.tape import symbolic
from microgrid.tape.symbolic import Untraceable, trace, var

OUT = "out"  # the key of the result's name in a rule


@dataclass(frozen=True, eq=False)
class Formulas:
    """An operation's parts traced for some constants; None where it cannot be traced.

    ``forward``: the result from the operands. ``rule``: d result / d operand
    for each Value operand (named ``OUT`` for the result). ``domain``: the
    conditions that must hold (those always true left out). ``passes``: per
    Value operand, whether an inf or nan in it always reaches the result;
    ``selects``: whether the result is finite when the operands are (see
    ``symbolic.passing`` and ``symbolic.selects``).
    """

    op: Operation
    values: int
    consts: tuple[float, ...] | None  # None: the constants are named, after the Value operands
    forward: Any
    rule: tuple[Any, ...] | None
    domain: tuple[Any, ...] | None
    passes: tuple[bool, ...]
    selects: bool
    forward_keys: frozenset[Any]
    zero_locals: frozenset[int]  # the operands whose local derivative is the constant 0 (detach's, sign's)


_CACHE: dict[tuple[int, int, Any, int], Formulas] = {}
_CACHE_SIZE = 100_000  # distinct (operation, constants): a graph with more is traced again as needed


def formulas(op: Operation, values: int, consts: tuple[float, ...] | None, n_consts: int = 0) -> Formulas:
    """``op`` traced with ``values`` named Value operands and ``consts`` (or ``n_consts`` named ones); cached."""
    key = (id(op), values, consts, n_consts)
    found = _CACHE.get(key)
    if found is None or found.op is not op:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        found = _CACHE[key] = _traced(op, values, consts, n_consts)
    return found


def _traced(op: Operation, values: int, consts: tuple[float, ...] | None, n_consts: int) -> Formulas:
    operands: list[Any] = [var(k) for k in range(values)]
    operands += list(consts) if consts is not None else [var(values + k) for k in range(n_consts)]
    forward: Any = None
    rule: tuple[Any, ...] | None = None
    domain: tuple[Any, ...] | None = None
    try:
        forward = trace(op.forward, *operands)
        if isinstance(forward, tuple):
            forward = None  # not a number
    except Untraceable:
        pass
    try:
        traced = trace(op.rule, var(OUT), *operands)
        if isinstance(traced, tuple) and len(traced) >= values:
            rule = tuple(traced[:values])
    except Untraceable:
        pass
    try:
        conditions = [trace(condition.holds, *operands) for condition in op.domain]
        domain = tuple(c for c in conditions if c is not True)
        if any(isinstance(c, tuple) for c in domain):
            domain = None
    except Untraceable:
        pass
    passing = symbolic.passing(forward) if forward is not None else set()
    passes = tuple(j in passing for j in range(values))
    selects = forward is not None and symbolic.selects(forward)
    zero_locals = frozenset(
        j for j, local in enumerate(rule or ()) if not isinstance(local, (symbolic.Sym, str)) and local == 0
    )
    return Formulas(
        op,
        values,
        consts,
        forward,
        rule,
        domain,
        passes,
        selects,
        frozenset(symbolic.keys(forward)),
        zero_locals,
    )


@dataclass(frozen=True)
class Text:
    """Formulas as format strings: ``{0}``, ``{1}`` ... name the operands, ``{o}`` the result, ``{t}`` temporaries.

    ``alias`` is set when the forward is an operand itself (``detach``); a
    local derivative that is a number stays a number (1.0 becomes just the
    gradient). A local derivative that picks 1 or a number by a condition
    (relu's ``where(x > 0, 1, 0)``) has a gate, (the condition, the number),
    so that code can pass the gradient through instead of multiplying it by
    1. The ``*_keys`` sets say which operands (and OUT) each part reads.
    A Python sum of many terms has ``forward_lines`` that add them into ``{o}``
    a thousand at a time (see ``symbolic.source``).
    """

    forward_lines: tuple[str, ...]
    forward: str | None
    alias: int | None
    rule_lines: tuple[str, ...]
    locals: tuple[Any, ...] | None
    conditions: tuple[str, ...] | None
    forward_keys: frozenset[Any]
    rule_keys: frozenset[Any]
    condition_keys: frozenset[Any]
    forward_counts: tuple[int, ...]  # per operand, how often the forward expression names it
    gates: tuple[tuple[str, float] | None, ...] | None = None  # per local derivative (see above)


def _placeholder(key: Any) -> str:
    return "{o}" if key == OUT else "{" + str(key) + "}"


@functools.lru_cache(maxsize=8192)
def text(parts: Formulas, numpy: bool) -> Text:
    """The formulas of ``parts`` as source for Python floats or numpy arrays."""
    forward_lines: list[str] = []
    forward: str | None = None
    alias: int | None = None
    if isinstance(parts.forward, symbolic.Sym) and parts.forward.kind == "var":
        alias = parts.forward.args[0]
    elif parts.forward is not None:
        forward_lines, result = symbolic.source(
            parts.forward, _placeholder, numpy, "{t}f", None if numpy else _placeholder(OUT)
        )
        forward = result if isinstance(result, str) else symbolic.number_text(result)
    rule_lines: list[str] = []
    locals_: tuple[Any, ...] | None = None
    gates: tuple[tuple[str, float] | None, ...] | None = None
    if parts.rule is not None:
        rule_lines, made = symbolic.source(parts.rule, _placeholder, numpy, "{t}r")
        locals_ = tuple(made)
        gates = tuple(_gate(local, numpy) for local in parts.rule)
    conditions: tuple[str, ...] | None = None
    if parts.domain is not None:
        made_conditions: list[str] | None = []
        for condition in parts.domain:
            lines, result = symbolic.source(condition, _placeholder, numpy, "{t}c")
            if lines:  # a condition with shared parts: rare enough to call instead
                made_conditions = None
                break
            made_conditions.append(result if isinstance(result, str) else symbolic.number_text(result))  # type: ignore[union-attr]
        conditions = None if made_conditions is None else tuple(made_conditions)
    return Text(
        tuple(forward_lines),
        forward,
        alias,
        tuple(rule_lines),
        locals_,
        conditions,
        parts.forward_keys,
        frozenset(symbolic.keys(parts.rule)),
        frozenset(symbolic.keys(parts.domain)) if parts.domain else frozenset(),
        _reads(parts.forward, parts.values) if forward is not None else (0,) * parts.values,
        gates if gates is not None and any(gates) else None,
    )


def _gate(local: Any, numpy: bool) -> tuple[str, float] | None:
    # (the condition's source, the number) for where(condition, 1, number) with a condition
    # that shares no part: 1.0 * g is g exactly, so the gradient passes where the condition holds
    if not (isinstance(local, symbolic.Sym) and local.kind == "where"):
        return None
    condition, if_true, if_false = local.args
    if not (symbolic.is_one(if_true) and symbolic.is_number(if_false)):
        return None
    lines, made = symbolic.source(condition, _placeholder, numpy, "{t}g")
    if lines or not isinstance(made, str):
        return None
    return made, float(if_false)


def _reads(formula: Any, values: int) -> tuple[int, ...]:
    # how often the written formula names each operand (a part used twice is bound once)
    counts = [0] * values
    for node in symbolic.walk(formula):
        for operand in node.args[1:] if node.kind == "call" else node.args:
            if (
                isinstance(operand, symbolic.Sym)
                and operand.kind == "var"
                and isinstance(operand.args[0], int)
            ):
                if operand.args[0] < values:
                    counts[operand.args[0]] += 1
    if isinstance(formula, symbolic.Sym) and formula.kind == "var" and formula.args[0] < values:
        counts[formula.args[0]] += 1
    return tuple(counts)
