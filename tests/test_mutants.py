"""Held out: every rule of the table, mutated, fails the README's three-line property, which names it.

Each rule is mutated four ways: negated, scaled by 1.5, shifted by 0.5, and (for
two Value operands or more) with the first two operands' derivatives swapped, the
classic slip of ``(a, b)`` for ``(b, a)``. A mutant that gives the same
derivatives as its rule wherever the operation is sampled cannot be caught by any
test: those equivalent mutants are named below, each with its reason.

Sampling wisely, to keep this to a few seconds: the README property's examples
(``expressions()`` and ``input_values``, the first 400 hypothesis draws,
derandomized) are drawn once, and each mutant meets only the examples that use
its operation, until one fails. Some mutants show only at some points (with
``a % b``'s derivatives swapped, only where a / b > 0), and hypothesis biases its
draws with numbers it finds in the loaded code, so the draws differ a little
from one set of test files to another: every operation must be drawn in at least
``AT_LEAST`` of them. The README test itself, run by hypothesis as a
user runs it (shrinking included), catches and names two of the mutants too.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, given, seed, settings
from hypothesis import strategies as st

from microgrid.engine import Value
from microgrid.ops import OPERATIONS, Operation
from microgrid.testing import Expression, GradcheckError, expressions, gradcheck, input_values
from microgrid.testing.operations import drawable, interval, operand_counts

Rule = Callable[..., tuple[Any, ...]]


def negated(rule: Rule) -> Rule:
    return lambda out, *xs: tuple(-d for d in rule(out, *xs))


def scaled(rule: Rule) -> Rule:
    return lambda out, *xs: tuple(1.5 * d for d in rule(out, *xs))


def shifted(rule: Rule) -> Rule:
    return lambda out, *xs: tuple(d + 0.5 for d in rule(out, *xs))


def swapped(rule: Rule) -> Rule:
    def mutant(out: Any, *xs: Any) -> tuple[Any, ...]:
        d = tuple(rule(out, *xs))
        return (d[1], d[0], *d[2:])

    return mutant


MUTATIONS = {"negated": negated, "scaled": scaled, "shifted": shifted, "swapped": swapped}


def value_operands(op: Operation) -> int:
    return max(operand_counts(op)) - op.constants


def mutants_of(op: Operation) -> Iterator[str]:
    yield from ("negated", "scaled", "shifted")
    if value_operands(op) >= 2:
        yield "swapped"


def grid(op: Operation) -> Iterator[list[float]]:
    """Points over op's sample: five per operand (both signs of a positive interval), three per constant."""
    count = max(c for c in operand_counts(op) if c <= 3) if op.arity is None else op.arity
    values = count - op.constants
    axes = []
    for i in range(values):
        lo, hi = interval(op, i)
        axis = [lo + (hi - lo) * t for t in (0.0, 0.3, 0.5, 0.7, 1.0)]
        axes.append(axis + [-x for x in axis] if lo > 0.0 else axis)
    for i in range(values, count):
        lo, hi = interval(op, i)
        axes.append([lo, lo + (hi - lo) * 0.7, hi])
    for point in itertools.product(*axes):
        yield list(point)


def equivalent(op: Operation, mutant: Rule) -> bool:
    """True if the mutant gives the rule's derivatives at every point of the grid where op is defined."""
    for point in grid(op):
        try:
            op.check(*point)
            out = op.forward(*point)
        except (ArithmeticError, ValueError):
            continue
        if not all(
            math.isclose(a, b, rel_tol=1e-12) for a, b in zip(op.rule(out, *point), mutant(out, *point))
        ):
            return False
    return True


# the table as collected (the README's example registers one more operation later in a run)
EVERY_MUTANT = [(name, kind) for name, op in OPERATIONS.items() if drawable(op) for kind in mutants_of(op)]
MUTANTS = [
    (name, kind)
    for name, kind in EVERY_MUTANT
    if not equivalent(OPERATIONS[name], MUTATIONS[kind](OPERATIONS[name].rule))
]
EQUIVALENT = {
    ("+", "swapped"): "both derivatives are 1",
    ("sum", "swapped"): "every derivative is 1",
    ("sign", "negated"): "its derivative is 0",
    ("sign", "scaled"): "its derivative is 0",
}


def test_the_only_equivalent_mutants_are_those_that_change_nothing() -> None:
    assert set(EVERY_MUTANT) - set(MUTANTS) == set(EQUIVALENT)
    assert len(MUTANTS) >= 130  # 44 operations, 3 or 4 mutants each


AT_LEAST = 8


@pytest.fixture(scope="module")
def readme_examples() -> list[tuple[Expression, list[float]]]:
    """The README property's first 400 examples: what its strategies draw, derandomized."""
    drawn = []

    @settings(max_examples=400, derandomize=True, database=None, deadline=None, phases=[Phase.generate])
    @given(expressions(), st.data())
    def collect(expr: Expression, data: st.DataObject) -> None:
        drawn.append((expr, [x.data for x in data.draw(input_values(expr.n_inputs))]))

    collect()
    return drawn


def mutated(monkeypatch: pytest.MonkeyPatch, name: str, kind: str) -> None:
    op = OPERATIONS[name]
    monkeypatch.setitem(OPERATIONS, name, dataclasses.replace(op, rule=MUTATIONS[kind](op.rule)))


@pytest.mark.parametrize(("name", "kind"), MUTANTS, ids=[f"{name}-{kind}" for name, kind in MUTANTS])
def test_each_mutated_rule_fails_the_readme_property_which_names_it(
    name: str,
    kind: str,
    readme_examples: list[tuple[Expression, list[float]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    using = [(expr, point) for expr, point in readme_examples if name in expr.ops]
    assert len(using) >= AT_LEAST, (
        f"the README property's first {len(readme_examples)} examples draw {name} {len(using)} times"
    )
    mutated(monkeypatch, name, kind)
    for expr, point in using:
        try:
            gradcheck(expr, point)  # the README property's body
        except GradcheckError as error:
            assert error.wrong_rule is not None and error.wrong_rule.op == name, str(error)
            return
    pytest.fail(f"{name} {kind}: none of the {len(using)} examples using it failed")


README = Path(__file__).resolve().parent.parent / "README.md"


def readme_property() -> Any:
    """The README's three-line property test, defined (and run once) exactly as the README writes it."""
    (block,) = [
        b
        for b in re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
        if "def test_gradients_match_finite_differences" in b
    ]
    namespace: dict[str, Any] = {}
    exec(compile(block, "README.md python block", "exec"), namespace)
    return seed(0)(namespace["test_gradients_match_finite_differences"])


@pytest.mark.parametrize(("name", "kind"), [("*", "swapped"), ("tanh", "shifted")])
def test_the_readme_test_itself_catches_shrinks_and_names_a_mutant(
    name: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    test = readme_property()
    mutated(monkeypatch, name, kind)
    with pytest.raises(GradcheckError) as raised:
        test()
    assert "test_gradients_match_finite_differences(" in "\n".join(raised.value.__notes__)
    assert raised.value.wrong_rule is not None and raised.value.wrong_rule.op == name
    assert isinstance(raised.value.wrong_rule.node, Value)
