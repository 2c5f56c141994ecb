"""check_operation(name): one operation, property-tested over its whole sample domain in one line.

A user's operation is registered for one test at a time (``a_new_operation``);
the table's own operations are checked too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from microgrid import ops
from microgrid.engine import Value, register_operation
from microgrid.ops import OPERATIONS, Operation
from microgrid.testing import GradcheckError, check_operation, operands
from microgrid.testing.operations import KINK_MARGIN, drawable

FIRST_FOUND = settings(max_examples=1000, database=None, phases=[Phase.generate])


def a_new_operation(monkeypatch: pytest.MonkeyPatch, op: Operation) -> Callable[..., Value]:
    """Register op for this test only (its Value method too); returns the function that applies it."""
    monkeypatch.setitem(OPERATIONS, op.name, op)
    if op.method:
        monkeypatch.setattr(Value, op.method, None, raising=False)  # taken away after the test
    return register_operation(op)


def softsign(rule: Callable[..., tuple[Any, ...]]) -> Operation:
    return Operation("softsign", lambda x: x / (1 + abs(x)), rule, sample=((-10.0, 10.0),), method="softsign")


def right(out: Any, x: Any) -> tuple[Any, ...]:
    return ((1 - abs(out)) ** 2,)  # 1 / (1 + |x|)^2, written with the output


def slipped(out: Any, x: Any) -> tuple[Any, ...]:
    return ((1 - out) ** 2,)  # the slip: right for x > 0 only


@pytest.mark.parametrize("name", [name for name, op in OPERATIONS.items() if drawable(op)])
def test_every_operation_of_the_table_passes_check_operation(name: str) -> None:
    assert check_operation(name, max_examples=20, derandomize=True) is True


def test_a_users_operation_is_checked_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    a_new_operation(monkeypatch, softsign(right))
    assert check_operation("softsign", max_examples=50)


def test_a_slip_is_found_shrunk_and_its_rule_named(monkeypatch: pytest.MonkeyPatch) -> None:
    a_new_operation(monkeypatch, softsign(slipped))
    with pytest.raises(GradcheckError) as raised:
        check_operation("softsign", max_examples=100, derandomize=True)
    error = raised.value
    notes = "\n".join(getattr(error, "__notes__", []))
    assert "rule_agrees_with_forward(" in notes and "operands=(" in notes  # hypothesis's falsifying point
    assert error.wrong_rule is not None and error.wrong_rule.op == "softsign"
    x = error.wrong_rule.operands[0]
    assert x < 0.0  # the slip shows for negative inputs only
    (_, analytic, numeric, _), *_ = error.wrong_rule.rows
    assert analytic == pytest.approx((1 - x / (1 - x)) ** 2) and numeric == pytest.approx(1 / (1 - x) ** 2)


def test_mpmath_catches_a_rule_too_close_for_finite_differences(monkeypatch: pytest.MonkeyPatch) -> None:
    # off by a millionth: inside gradcheck's tolerance (1e-3 relative), far outside mpmath's 30 digits
    almost = Operation("almost_exp", ops.exp, lambda out, x: (out * (1 + 1e-6),), sample=((-2.0, 2.0),))
    apply = a_new_operation(monkeypatch, almost)
    from microgrid.testing import gradcheck

    assert gradcheck(apply, [0.5])
    with pytest.raises(GradcheckError, match="disagrees with mpmath at 30 digits"):
        check_operation("almost_exp", max_examples=20, derandomize=True)


def test_a_forward_written_with_math_is_checked_by_finite_differences(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # math.exp serves floats only: no mpmath form, and finite differences still check the rule
    a_new_operation(
        monkeypatch, Operation("float_exp", math.exp, lambda out, x: (out,), sample=((-2.0, 2.0),))
    )
    assert check_operation("float_exp", max_examples=20)
    monkeypatch.setitem(OPERATIONS, "float_exp", Operation("float_exp", math.exp, lambda out, x: (2 * out,)))
    with pytest.raises(GradcheckError):
        check_operation("float_exp", max_examples=20)


def test_check_operation_refuses_what_it_cannot_check() -> None:
    with pytest.raises(LookupError, match="no operation named 'tahn'.*did you mean .*'tanh'"):
        check_operation("tahn")
    with pytest.raises(ValueError, match="'detach' has no sample: its rule is not the derivative"):
        check_operation("detach")


# --- operands: where an operation's points are drawn ---------------------------------------


def test_positive_intervals_are_drawn_with_both_signs_where_the_domain_allows() -> None:
    for name in ("relu", "abs", "atan2"):  # sampled on (0.1, 3), defined everywhere
        assert find(operands(name), lambda p: p[0] < 0.0, settings=FIRST_FOUND)[0] <= -0.1
        assert find(operands(name), lambda p: p[0] > 0.0, settings=FIRST_FOUND)[0] >= 0.1
    divisor = find(operands("/"), lambda p: p[1] < 0.0, settings=FIRST_FOUND)[1]
    assert -3.0 <= divisor <= -0.1


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_operands_stay_where_each_operation_is_defined(data: st.DataObject) -> None:
    for name in ("log", "sqrt", "log2", "acosh"):
        (x,) = data.draw(operands(name))
        OPERATIONS[name].check(x)  # raises outside the domain
        lo, hi = OPERATIONS[name].sample[0]
        assert lo <= x <= hi  # their mirror images are outside the domain: never drawn
    base, k = data.draw(operands("**"))
    assert base > 0.0 or k.is_integer()  # a negative base only to a whole power


@settings(max_examples=50, deadline=None)
@given(operands("maximum"), operands("weighted_sum"))
def test_operands_keep_off_kinks_and_give_sums_their_shapes(
    maximum: tuple[float, ...], weighted: tuple[float, ...]
) -> None:
    a, b = maximum
    assert abs(a - b) > KINK_MARGIN * max(1.0, abs(a), abs(b)) / 2  # never at a tie
    assert len(weighted) % 2 == 1  # w_1..w_n, x_1..x_n, b
