"""Testing derivatives: gradient checks that name the wrong rule, and random expressions.

``gradcheck`` compares the gradients from ``backward`` with central finite
differences, ``gradgradcheck`` the second derivatives; when one fails, its
``GradcheckError`` names the first node whose own rule disagrees with its own
forward (``find_wrong_rule``). ``check_operation(name)`` property-tests one
operation of the table over its whole sample domain. ``expressions()`` draws
random computation graphs using every operation of the table, a user's
registered ones too, kept inside each operation's domain for any inputs drawn
by ``input_values``. A property test of your own is three lines (after the
imports)::

    from hypothesis import given, strategies as st
    from microgrid.testing import expressions, gradcheck, input_values

    @given(expressions(), st.data())
    def test_gradients_match_finite_differences(expr, data):
        assert gradcheck(expr, data.draw(input_values(expr.n_inputs)))

hypothesis prints a failing example as ``Expression(n_inputs=..., steps=(...))``,
which rebuilds it; ``print(expr)`` shows it as a little program.

The rooms: ``gradient_checks`` (the checks and the rule to blame), ``operations``
(one operation: where to draw its operands, ``check_operation``),
``random_graphs`` (random expressions), ``intervals`` (where a node can be, from the
forwards), ``worlds`` and ``oracles`` (sympy, mpmath and torch forms of any
operation, from its forward). hypothesis, sympy, mpmath and torch are optional:
each is imported only where used.
"""

from __future__ import annotations

from microgrid.testing.gradient_checks import (
    GradcheckError,
    WrongRule,
    find_wrong_rule,
    gradcheck,
    gradgradcheck,
)
from microgrid.testing.operations import check_operation, operands
from microgrid.testing.random_graphs import (
    MAX_MAGNITUDE,
    MIN_MAGNITUDE,
    Expression,
    Step,
    expressions,
    input_values,
    values,
)

__all__ = [
    "MAX_MAGNITUDE",
    "MIN_MAGNITUDE",
    "Expression",
    "GradcheckError",
    "Step",
    "WrongRule",
    "check_operation",
    "expressions",
    "find_wrong_rule",
    "gradcheck",
    "gradgradcheck",
    "input_values",
    "operands",
    "values",
]
