"""One operation of the table on its own: where its operands may be drawn, and ``check_operation``.

An operation's ``sample`` gives an interval per operand (one for all operands
of a sum). An interval of positive numbers is also drawn with the other sign
where the operation allows it: where its domain holds throughout the mirror
image, as its domain conditions evaluated on intervals show. Points that sit
within a hair of a kink of the forward (a tie of ``maximum``, the jump of a
remainder) are left out, as the forward evaluated on intervals shows. So the
strategies need nothing of an operation but its entry, a user's included.

``check_operation(name)`` is a property test of one operation over all of that,
at first and second order, against finite differences and (where mpmath is
installed and the forward works on its numbers) against mpmath at 30 digits.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from microgrid.engine import Value
from microgrid.ops import OPERATIONS, Operation, describe
from microgrid.testing.calling import function_of
from microgrid.testing.gradient_checks import GradcheckError, _table, gradcheck, gradgradcheck
from microgrid.testing.intervals import Interval, evaluate
from microgrid.testing.oracles import disagreements, engine_derivatives, mpmath_derivatives

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

Box = tuple[tuple[float, float], ...]  # an interval per operand

# A point closer than this (relative) to a kink of the forward is left out: far
# more than the steps of finite differences (1e-6) and of mpmath.diff.
KINK_MARGIN = 1e-4
# Agreement wanted with mpmath's 30 digits: 1e-8 relative, or 1e-10 absolute near 0.
MPMATH_RTOL, MPMATH_ATOL = 1e-8, 1e-10
_MOST_VARIADIC_OPERANDS = 5


def operation(name: str | Operation) -> Operation:
    """The entry of the table named ``name`` (an Operation is returned as it is).

    Raises LookupError for a name not in the table, naming the closest ones.
    """
    if isinstance(name, Operation):
        return name
    op = OPERATIONS.get(name)
    if op is None:
        close = difflib.get_close_matches(str(name), list(OPERATIONS), n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise LookupError(
            f"no operation named {name!r} in the table (register it with microgrid.register_operation){hint}"
        )
    return op


def drawable(op: Operation) -> bool:
    """True if random tests may draw ``op``: it has a sample (``detach``, whose rule is by design
    not the derivative of its forward, has none).
    """
    return bool(op.sample)


def operand_counts(op: Operation) -> tuple[int, ...]:
    """How many operands (constants included) ``op`` may be given: its arity, or for an
    operation of any arity the counts up to 5 at which its rule gives one derivative per operand.
    """
    if op.arity is not None:
        return (op.arity,)
    counts = []
    for count in range(1, _MOST_VARIADIC_OPERANDS + 1):
        point = [sum(interval(op, i)) / 2.0 for i in range(count)]
        try:
            if len(op.rule(op.forward(*point), *point)) == count:
                counts.append(count)
        except (ArithmeticError, ValueError, TypeError, IndexError):
            continue
    return tuple(counts)


def interval(op: Operation, i: int) -> tuple[float, float]:
    """Where operand ``i`` of ``op`` is sampled (an operation of any arity has one interval for all)."""
    if not op.sample:
        raise ValueError(f"the operation {op.name!r} has no sample: random tests do not draw it")
    lo, hi = op.sample[min(i, len(op.sample) - 1)]
    if not lo < hi:
        raise ValueError(
            f"the sample of {op.name!r} for operand {i} must be an interval lo < hi, got {(lo, hi)!r}"
        )
    return lo, hi


def boxes(op: Operation, count: int, constants: Sequence[float]) -> list[Box]:
    """Where ``op``'s Value operands may be drawn, given its constants: its sample, then each way of
    mirroring positive intervals to negative that keeps the whole box inside the domain.
    """
    values = count - op.constants
    choices = []
    for i in range(values):
        lo, hi = interval(op, i)
        choices.append([(lo, hi), (-hi, -lo)] if lo > 0.0 else [(lo, hi)])
    found = []
    for box in itertools.product(*choices):
        mirrored = any(b != interval(op, i) for i, b in enumerate(box))
        if not mirrored or _inside_domain(op, box, constants):
            found.append(tuple(box))
    return found


def _inside_domain(op: Operation, box: Box, constants: Sequence[float]) -> bool:
    # the domain holds all over the box, and the forward can be followed on it (so its kinks show)
    intervals = [Interval(lo, hi) for lo, hi in box]
    checked = evaluate(op.check, *intervals, *constants)
    return checked is not None and checked[1] and evaluate(op.forward, *intervals, *constants) is not None


def off_kinks(op: Operation, values: Sequence[float], constants: Sequence[float]) -> bool:
    """False if a kink or jump of ``op``'s forward lies within ``KINK_MARGIN`` of the operands.

    True when the forward cannot be followed on intervals (then the sample alone keeps it off kinks).
    """
    near = [Interval(x - KINK_MARGIN * max(1.0, abs(x)), x + KINK_MARGIN * max(1.0, abs(x))) for x in values]
    found = evaluate(op.forward, *near, *constants)
    return found is None or found[1]


def operands(op: str | Operation) -> SearchStrategy[tuple[float, ...]]:
    """Points where random tests evaluate ``op``: its Value operands' numbers, then its constants.

    Each operand is drawn from its sample interval (or that interval's mirror
    image, see ``boxes``), each constant from its own; points within a hair of
    a kink of the forward are left out. The count of a sum's operands is drawn too.
    """
    from hypothesis import strategies as st

    op = operation(op)
    if not drawable(op):
        raise ValueError(
            f"the operation {op.name!r} has no sample: its rule is not the derivative of its forward "
            "(like detach), so finite differences cannot check it"
        )

    @st.composite
    def points(draw: Callable[[SearchStrategy[Any]], Any]) -> tuple[float, ...]:
        count = draw(st.sampled_from(operand_counts(op)))
        values = count - op.constants
        constants = [draw(st.floats(*interval(op, i))) for i in range(values, count)]
        box = draw(st.sampled_from(boxes(op, count, constants)))
        return (*(draw(st.floats(lo, hi)) for lo, hi in box), *constants)

    def clear_of_kinks(point: tuple[float, ...]) -> bool:
        split = len(point) - op.constants
        return off_kinks(op, point[:split], point[split:])

    return points().filter(clear_of_kinks)


def check_operation(name: str, *, max_examples: int = 100, derandomize: bool = False) -> bool:
    """Property-test one registered operation over its whole sample domain, in one line.

    hypothesis draws points from ``operands(name)``: every operand over its
    sample interval (both signs where the domain allows), every constant over
    its own. At each, the operation alone is checked at first order
    (``gradcheck``) and second order (``gradgradcheck``) against finite
    differences of its forward, and, where mpmath is installed and the forward
    works on mpmath numbers, its value, gradient and Hessian against mpmath's
    at 30 digits (to ``MPMATH_RTOL``, ``MPMATH_ATOL``). A failure is shrunk to
    the simplest point hypothesis finds.

    Args:
        name: the operation's name in the table (``"softsign"``).
        max_examples: how many points hypothesis tries.
        derandomize: the same points on every run.

    Returns:
        True when every point passes.

    Raises:
        GradcheckError: the rule disagrees somewhere; hypothesis adds the
            falsifying point as a note, and the message names the rule.
        LookupError: no operation of that name; ValueError: it has no sample.

    """
    from hypothesis import Phase, given, settings

    op = operation(name)
    apply = function_of(op)
    strategy = operands(op)

    # no explain phase: its report lists the engine's own lines, which say nothing of the rule
    phases = [Phase.explicit, Phase.generate, Phase.shrink]

    @settings(max_examples=max_examples, deadline=None, database=None, derandomize=derandomize, phases=phases)
    @given(strategy)
    def rule_agrees_with_forward(operands: tuple[float, ...]) -> None:
        split = len(operands) - op.constants
        values, constants = list(operands[:split]), operands[split:]

        def alone(*xs: Value) -> Value:
            return apply(*xs, *constants)

        gradcheck(alone, values)
        gradgradcheck(alone, values)
        _against_mpmath(op, alone, values, constants)

    rule_agrees_with_forward()
    return True


def _against_mpmath(
    op: Operation, alone: Callable[..., Value], values: list[float], constants: Sequence[float]
) -> None:
    try:
        import mpmath  # type: ignore[import-untyped]
    except ImportError:  # optional: finite differences alone then
        return
    form = _mpmath_form(op, mpmath, len(values), constants)
    if form is None:
        return
    rows = disagreements(
        engine_derivatives(alone, values), mpmath_derivatives(form, values), MPMATH_RTOL, MPMATH_ATOL
    )
    if any(bad for *_, bad in rows):
        header = (
            f"check_operation: {describe(op.name, [*values, *constants])} disagrees with mpmath at 30 "
            f"digits (need |engine - mpmath| <= {MPMATH_ATOL!r} + {MPMATH_RTOL!r} * |mpmath|):"
        )
        table = _table([(w, a, b) for w, a, b, _ in rows], [bad for *_, bad in rows])
        raise GradcheckError("\n".join([header, *table]), [(w, a, b) for w, a, b, _ in rows])


def _mpmath_form(
    op: Operation, mpmath: Any, count: int, constants: Sequence[float]
) -> Callable[..., Any] | None:
    # op's forward on mpmath numbers, if it works there (a forward written with math.exp does not)
    from microgrid.testing.worlds import mpmath_world

    mpmath_world()
    exact = [mpmath.mpf(c) for c in constants]

    def form(*xs: Any) -> Any:
        return op.forward(*xs, *exact)

    try:
        probe = form(*(mpmath.mpf(sum(interval(op, i)) / 2.0) for i in range(count)))
    except Exception:  # noqa: BLE001 (any failure means: not a forward of this world)
        return None
    return form if isinstance(probe, mpmath.mpf) else None
