"""Specification of microgrid.optim: SGD and Adam follow torch.optim's update rules."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_oracle import needs_torch, torch

from microgrid import optim
from microgrid.engine import Value, is_grad_enabled
from microgrid.nn import MLP
from microgrid.optim import OPTIMIZERS, SGD, Adam, Optimizer

START = [0.3, -1.2, 2.0]


def objective(ps: list[Any]) -> Any:
    """A small non-quadratic loss, written with operators so Values and tensors both work."""
    return (ps[0] - 1.0) ** 2 + 3.0 * (ps[1] + 2.0) ** 2 + ps[0] * ps[2] + (ps[2] - 0.5) ** 4


def trajectory_ours(make: Callable[[list[Value]], Optimizer], steps: int) -> list[list[float]]:
    params = [Value(x) for x in START]
    optimizer = make(params)
    path = []
    for _ in range(steps):
        optimizer.zero_grad()
        objective(params).backward()
        optimizer.step()
        path.append([p.data for p in params])
    return path


def trajectory_torch(
    make: Callable[[list[torch.Tensor]], torch.optim.Optimizer],
    steps: int,
    schedule: Callable[[int], float] | None = None,
) -> list[list[float]]:
    params = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in START]
    optimizer = make(params)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule) if schedule else None
    path = []
    for _ in range(steps):
        optimizer.zero_grad()
        objective(params).backward()
        optimizer.step()
        if scheduler:
            scheduler.step()
        path.append([p.item() for p in params])
    return path


def assert_same_paths(ours: list[list[float]], theirs: list[list[float]]) -> None:
    assert len(ours) == len(theirs)
    for step, (a, b) in enumerate(zip(ours, theirs)):
        # float rounding differs (torch uses lerp), so allow drift far below any rule change
        assert a == pytest.approx(b, rel=1e-8, abs=1e-10), f"step {step}"


# --- SGD ---


def test_plain_sgd_moves_each_parameter_by_minus_lr_times_its_gradient() -> None:
    p, q = Value(1.0), Value(-2.0)
    p.grad, q.grad = 0.5, -4.0
    SGD([p, q], lr=0.1).step()
    assert (p.data, q.data) == (pytest.approx(0.95), pytest.approx(-1.6))


def test_sgd_momentum_starts_its_buffer_at_the_first_gradient() -> None:
    p = Value(0.0)
    optimizer = SGD([p], lr=1.0, momentum=0.9, dampening=0.5)
    p.grad = 2.0
    optimizer.step()  # b = 2 (no dampening on the first step)
    assert p.data == -2.0
    optimizer.step()  # b = 0.9 * 2 + 0.5 * 2 = 2.8
    assert p.data == pytest.approx(-4.8)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-10, 10), min_size=1, max_size=30),
    st.floats(0.01, 0.99),
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
)
def test_sgd_with_momentum_follows_the_recurrence(
    gradients: list[float], momentum: float, dampening: float, lr: float
) -> None:
    p = Value(1.0)
    optimizer = SGD([p], lr=lr, momentum=momentum, dampening=dampening)
    expected, buffer = 1.0, 0.0
    for k, g in enumerate(gradients):
        p.grad = g
        optimizer.step()
        buffer = g if k == 0 else momentum * buffer + (1.0 - dampening) * g
        expected -= lr * buffer
        assert p.data == pytest.approx(expected, rel=1e-12, abs=1e-12)


@needs_torch
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"momentum": 0.9},
        {"momentum": 0.9, "dampening": 0.3},
        {"momentum": 0.9, "nesterov": True},
        {"weight_decay": 0.1},
        {"momentum": 0.5, "nesterov": True, "weight_decay": 0.05},
    ],
)
def test_sgd_matches_torch_sgd_over_many_steps(options: dict[str, Any]) -> None:
    ours = trajectory_ours(lambda ps: SGD(ps, lr=0.01, **options), steps=60)
    theirs = trajectory_torch(lambda ps: torch.optim.SGD(ps, lr=0.01, **options), steps=60)
    assert_same_paths(ours, theirs)


# --- Adam ---


def test_adams_first_step_moves_each_parameter_by_about_lr_against_its_gradient() -> None:
    # m and v after bias correction are g and g*g, so the step is lr * g / (|g| + eps)
    p, q = Value(1.0), Value(1.0)
    p.grad, q.grad = 300.0, -0.002
    Adam([p, q], lr=0.1).step()
    assert p.data == pytest.approx(0.9, rel=1e-9)
    assert q.data == pytest.approx(1.1, rel=1e-6)


def test_adam_weight_decay_is_decoupled_from_the_gradient() -> None:
    # with a zero gradient only the decay acts: p * (1 - lr * weight_decay)
    p = Value(2.0)
    Adam([p], lr=0.1, weight_decay=0.5).step()
    assert p.data == pytest.approx(2.0 * (1 - 0.05))


@needs_torch
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"weight_decay": 0.1},
        {"betas": (0.5, 0.9), "eps": 1e-3},
        {"betas": (0.0, 0.99), "weight_decay": 0.01},
    ],
)
def test_adam_matches_torch_adamw_over_many_steps(options: dict[str, Any]) -> None:
    decay = {"weight_decay": 0.0, **options}  # torch's AdamW decays by 0.01 unless told
    ours = trajectory_ours(lambda ps: Adam(ps, lr=0.05, **options), steps=80)
    theirs = trajectory_torch(lambda ps: torch.optim.AdamW(ps, lr=0.05, **decay), steps=80)
    assert_same_paths(ours, theirs)


@needs_torch
def test_adam_without_weight_decay_matches_torch_adam() -> None:
    ours = trajectory_ours(lambda ps: Adam(ps, lr=0.05), steps=80)
    theirs = trajectory_torch(lambda ps: torch.optim.Adam(ps, lr=0.05), steps=80)
    assert_same_paths(ours, theirs)


# --- learning-rate schedules ---


def test_a_schedule_is_called_with_the_step_index_from_zero() -> None:
    seen: list[int] = []
    p = Value(0.0)
    optimizer = SGD([p], lr=lambda k: seen.append(k) or 0.1)
    for _ in range(3):
        optimizer.step()
    assert seen == [0, 1, 2]


@needs_torch
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda ps, lr: SGD(ps, lr, momentum=0.9), lambda ps: torch.optim.SGD(ps, lr=1.0, momentum=0.9)),
        (lambda ps, lr: Adam(ps, lr), lambda ps: torch.optim.Adam(ps, lr=1.0)),
    ],
)
def test_a_scheduled_lr_matches_torch_lambda_lr(
    ours: Callable[..., Optimizer], theirs: Callable[..., Any]
) -> None:
    def schedule(k: int) -> float:
        return 0.05 * (1.0 - 0.9 * k / 100)  # micrograd's demo decay, scaled

    # LambdaLR multiplies the base rate by the schedule: with a base rate of 1 it is the schedule
    assert_same_paths(
        trajectory_ours(lambda ps: ours(ps, schedule), steps=40),
        trajectory_torch(theirs, steps=40, schedule=schedule),
    )


def test_current_lr_reports_the_rate_of_the_next_step() -> None:
    optimizer = SGD([Value(0.0)], lr=lambda k: 1.0 - 0.9 * k / 100)
    assert optimizer.current_lr() == 1.0
    optimizer.step()
    assert optimizer.current_lr() == pytest.approx(0.991)


def test_a_schedule_returning_a_negative_rate_is_an_error_at_that_step() -> None:
    optimizer = SGD([Value(0.0)], lr=lambda k: 0.1 - 0.1 * k)
    optimizer.step()
    with pytest.raises(ValueError, match=r"the lr schedule returned -0.1 at step 2"):
        optimizer.step()
        optimizer.step()


# --- what step and zero_grad do to the graph ---


def test_step_records_no_graph_and_keeps_the_parameters_as_leaves() -> None:
    params = [Value(1.0), Value(2.0)]
    grad_enabled_during_step: list[bool] = []
    optimizer = Adam(params, lr=lambda k: grad_enabled_during_step.append(is_grad_enabled()) or 0.1)
    objective([*params, Value(0.0)]).backward()
    optimizer.step()
    assert grad_enabled_during_step == [False]
    assert all(p.children == () and p.op == "" for p in params)
    assert is_grad_enabled()


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: SGD(ps, lr=1e308),
        lambda ps: SGD(ps, lr=1e308, momentum=0.9),
        lambda ps: Adam(ps, lr=1e308, betas=(0.0, 0.0)),  # betas 0: the first update is lr
    ],
)
def test_a_step_that_would_overflow_a_parameter_changes_nothing(
    make: Callable[[list[Value]], Optimizer],
) -> None:
    # both move by -1e308: fine for the first, beyond the largest float for the second
    params = [Value(1.0), Value(-1e308)]
    params[0].grad, params[1].grad = 1.0, 1.0
    optimizer = make(params)
    before = optimizer.state_dict()
    with pytest.raises(
        OverflowError,
        match=r"would make params\[1\] -inf \(params\[1\] is -1e\+308, its grad 1.0\); nothing was changed",
    ):
        optimizer.step()
    assert [p.data for p in params] == [1.0, -1e308]
    assert optimizer.state_dict() == before


def test_adam_refuses_eps_zero_which_divides_zero_by_zero_for_a_zero_gradient() -> None:
    # torch accepts eps=0 and makes such a parameter nan
    with pytest.raises(ValueError, match="eps must be positive and finite, got 0.0"):
        Adam([Value(1.0)], eps=0.0)


def test_zero_grad_clears_every_gradient() -> None:
    params = [Value(1.0), Value(2.0)]
    params[0].grad, params[1].grad = 3.0, -1.0
    SGD(params, lr=0.1).zero_grad()
    assert [p.grad for p in params] == [0.0, 0.0]


def test_training_an_mlp_with_sgd_and_adam_lowers_the_loss() -> None:
    xs = [[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]]
    ys = [-1.0, 1.0, 1.0, -1.0]  # xor
    for make in (lambda ps: SGD(ps, lr=0.05, momentum=0.9), lambda ps: Adam(ps, lr=0.05)):
        model = MLP(2, [8, 1], "tanh", seed=3)
        optimizer = make(model.parameters())
        losses = []
        for _ in range(60):
            loss = sum((model(x) - y) ** 2 for x, y in zip(xs, ys))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.data)
        assert losses[-1] < 0.1 * losses[0]


# --- many parameters at once ---


def path_with(
    make: Callable[[list[Value]], Optimizer], start: list[float], grads: list[list[float]], vectorized: bool
) -> list[list[str]]:
    """Each step's parameters and running averages, as exact hex strings, with numpy's arrays or float by float."""
    saved = optim.VECTORIZED_FROM
    optim.VECTORIZED_FROM = 0 if vectorized else sys.maxsize
    try:
        params = [Value(x) for x in start]
        optimizer = make(params)
        path = []
        for step_grads in grads:
            for p, g in zip(params, step_grads):
                p.grad = g
            optimizer.step()
            state = optimizer.state_dict()
            path.append(
                [p.data.hex() for p in params] + [x.hex() for name in optimizer.state for x in state[name]]
            )
        return path
    finally:
        optim.VECTORIZED_FROM = saved


OPTIONS = [
    lambda ps: SGD(ps, lr=0.1),
    lambda ps: SGD(ps, lr=lambda k: 1.0 - 0.9 * k / 100),
    lambda ps: SGD(ps, lr=0.03, momentum=0.9, dampening=0.2, weight_decay=0.01),
    lambda ps: SGD(ps, lr=0.03, momentum=0.7, nesterov=True),
    lambda ps: Adam(ps, lr=0.01),
    lambda ps: Adam(ps, lr=0.02, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.1),
]


def test_many_parameters_step_as_arrays_with_the_floats_of_one_by_one() -> None:
    # an MLP's worth of parameters: the step runs the same rule on numpy arrays
    start = [((i * 7919) % 201 - 100) / 37.0 for i in range(300)]
    grads = [[((i * k * 104729) % 401 - 200) / 53.0 for i in range(300)] for k in range(1, 5)]
    for make in OPTIONS:
        assert path_with(make, start, grads, vectorized=True) == path_with(
            make, start, grads, vectorized=False
        )


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, len(OPTIONS) - 1),
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=8),
    st.data(),
)
def test_the_array_step_and_the_float_step_agree_bit_for_bit(
    option: int, start: list[float], data: st.DataObject
) -> None:
    gradient = st.floats(-1e3, 1e3) | st.sampled_from([0.0, -0.0, 1e-300, -5e-324])
    grads = [data.draw(st.lists(gradient, min_size=len(start), max_size=len(start))) for _ in range(3)]
    make = OPTIONS[option]
    assert path_with(make, start, grads, vectorized=True) == path_with(make, start, grads, vectorized=False)


def test_an_overflowing_step_on_arrays_names_the_parameter_and_changes_nothing() -> None:
    params = [Value(float(i)) for i in range(100)]
    for p in params:
        p.grad = 1.0
    params[57].data, params[57].grad = -1e308, 1e308
    optimizer = SGD(params, lr=1e308)
    assert len(params) >= optim.VECTORIZED_FROM
    with pytest.raises(OverflowError, match=r"would make params\[57\] -inf"):
        optimizer.step()
    assert [p.data for p in params] == [*map(float, range(57)), -1e308, *map(float, range(58, 100))]


# --- state ---


@pytest.mark.parametrize(
    "make", [lambda ps: SGD(ps, lr=0.02, momentum=0.9), lambda ps: Adam(ps, lr=0.05, weight_decay=0.1)]
)
def test_state_dict_lets_training_resume_exactly(make: Callable[[list[Value]], Optimizer]) -> None:
    uninterrupted = trajectory_ours(make, steps=6)[-1]

    params = [Value(x) for x in START]
    first = make(params)
    for _ in range(3):
        first.zero_grad()
        objective(params).backward()
        first.step()
    saved = json.loads(json.dumps(first.state_dict()))
    assert saved["steps"] == 3

    resumed_params = [Value(p.data) for p in params]
    second = make(resumed_params)
    second.load_state_dict(saved)
    for _ in range(3):
        second.zero_grad()
        objective(resumed_params).backward()
        second.step()
    assert [p.data for p in resumed_params] == uninterrupted


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda s: s.pop("exp_avg"), ValueError, "must have keys"),
        (lambda s: s.update(extra=[]), ValueError, "must have keys"),
        (lambda s: s.update(steps=-1), ValueError, r"state\['steps'\] must be non-negative, got -1"),
        (lambda s: s.update(steps=2.0), TypeError, r"state\['steps'\] must be an int, got float: 2.0"),
        (lambda s: s.update(steps=True), TypeError, r"state\['steps'\] must be an int, got bool"),
        (
            lambda s: s.update(steps=10**400),
            ValueError,
            r"state\['steps'\] must be at most sys.maxsize .*, got an int of about 401 digits",
        ),
        (lambda s: s.update(exp_avg=[1.0]), ValueError, r"state\['exp_avg'\] must be a list of 2 numbers"),
        (
            lambda s: s.update(exp_avg=None),
            ValueError,
            r"state\['exp_avg'\] must be a list of 2 numbers, got None",
        ),
        (
            lambda s: s.update(exp_avg_sq=[1.0, math.inf]),
            ValueError,
            r"state\['exp_avg_sq'\]\[1\] must be non-negative and finite, got inf",
        ),
        (
            lambda s: s.update(exp_avg_sq=[1.0, -1e-3]),
            ValueError,
            r"state\['exp_avg_sq'\]\[1\] must be non-negative and finite, got -0.001",
        ),
        (
            lambda s: s.update(exp_avg=[1.0, math.nan]),
            ValueError,
            r"state\['exp_avg'\]\[1\] must be finite, got nan",
        ),
        (
            lambda s: s.update(exp_avg=[-(10**400), 1.0]),
            ValueError,
            r"state\['exp_avg'\]\[0\] must be finite, got -inf",
        ),
        (
            lambda s: s.update(exp_avg=[1.0, "x"]),
            TypeError,
            r"state\['exp_avg'\]\[1\] must be a real number, got str: 'x'",
        ),
        (
            lambda s: s.update({1: 2}),
            ValueError,
            r"must have keys \['steps', 'exp_avg', 'exp_avg_sq'\], got 4 keys: \['exp_avg', 'exp_avg_sq', 'steps', 1\]",
        ),
    ],
)
def test_a_bad_optimizer_state_is_rejected_before_anything_changes(
    change: Callable[[dict[str, Any]], object], error: type, message: str
) -> None:
    optimizer = Adam([Value(1.0), Value(2.0)])
    before = optimizer.state_dict()
    state = {**before, "steps": 5}
    change(state)
    with pytest.raises(error, match=message):
        optimizer.load_state_dict(state)
    assert optimizer.state_dict() == before


def test_a_loaded_state_that_is_not_a_dict_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="optimizer state must be a dict, got NoneType"):
        SGD([Value(1.0)], lr=0.1).load_state_dict(None)  # type: ignore[arg-type]


def test_a_state_with_thousands_of_unexpected_keys_gives_a_short_message() -> None:
    state = {"steps": 0, **{f"key{i}": [] for i in range(100_000)}}
    with pytest.raises(ValueError) as raised:
        SGD([Value(1.0)], lr=0.1).load_state_dict(state)
    assert "got 100001 keys" in str(raised.value) and len(str(raised.value)) < 300


@settings(max_examples=30, deadline=None)
@given(steps=st.integers(0, 2**80), v=st.floats(allow_nan=True, allow_infinity=True))
def test_a_loaded_state_is_all_or_nothing_and_a_loaded_adam_can_always_step(steps: int, v: float) -> None:
    param = Value(1.0)
    optimizer = Adam([param], lr=0.01)
    before = optimizer.state_dict()
    try:
        optimizer.load_state_dict({"steps": steps, "exp_avg": [0.5], "exp_avg_sq": [v]})
    except ValueError:
        assert optimizer.state_dict() == before
        assert not (0 <= steps <= sys.maxsize and 0.0 <= v < math.inf)
        return
    param.grad = 1.0
    optimizer.step()  # what was accepted is a state a step can use
    assert math.isfinite(param.data)


# --- argument checks ---


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: SGD([Value(1.0)], lr=-0.1), ValueError, "lr must be non-negative and finite, got -0.1"),
        (lambda: SGD([Value(1.0)], lr="fast"), TypeError, "lr must be a real number, got str"),
        (lambda: SGD([Value(1.0)], lr=True), TypeError, "lr must be a real number, got bool"),
        (lambda: SGD([Value(1.0)], lr=0.1, momentum=-0.5), ValueError, "momentum must be non-negative"),
        (lambda: SGD([Value(1.0)], lr=0.1, nesterov=True), ValueError, "nesterov needs momentum > 0"),
        (
            lambda: SGD([Value(1.0)], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
            ValueError,
            "nesterov needs momentum > 0 and dampening 0",
        ),
        (lambda: SGD([Value(1.0)], lr=0.1, weight_decay=-1), ValueError, "weight_decay must be non-negative"),
        (
            lambda: Adam([Value(1.0)], betas=(0.9, 1.0)),
            ValueError,
            r"betas\[1\] must be in \[0, 1\), got 1.0",
        ),
        (lambda: Adam([Value(1.0)], betas=(-0.1, 0.9)), ValueError, r"betas\[0\] must be in \[0, 1\)"),
        (lambda: Adam([Value(1.0)], betas=(0.9,)), ValueError, "betas must be a pair"),
        (
            lambda: Adam([Value(1.0)], betas=None),
            TypeError,
            r"betas must be a pair \(beta1, beta2\), got NoneType: None",
        ),
        (
            lambda: Adam([Value(1.0)], betas=0.9),
            TypeError,
            r"betas must be a pair \(beta1, beta2\), got float: 0.9",
        ),
        (
            lambda: Adam([Value(1.0)], betas="ab"),
            TypeError,
            r"betas must be a pair \(beta1, beta2\), got str: 'ab'",
        ),
        (
            lambda: Adam([Value(1.0)], betas=(0.9, "x")),
            TypeError,
            r"betas\[1\] must be a real number, got str",
        ),
        (
            lambda: Adam([Value(1.0)], betas=(math.nan, 0.9)),
            ValueError,
            r"betas\[0\] must be in \[0, 1\), got nan",
        ),
        (lambda: Adam([Value(1.0)], eps=-1e-8), ValueError, "eps must be positive and finite, got -1e-08"),
        (lambda: Adam([Value(1.0)], eps=math.inf), ValueError, "eps must be positive and finite, got inf"),
        (lambda: Adam([]), ValueError, "the optimizer got no parameters"),
        (lambda: SGD([Value(1.0), 2.0], lr=0.1), TypeError, r"params\[1\] must be a Value, got float: 2.0"),
        (lambda: SGD(Value(1.0), lr=0.1), TypeError, "params must be an iterable of Values"),
        (lambda: SGD(MLP(1, [1]), lr=0.1), TypeError, r"call model.parameters\(\)"),
        (lambda: SGD([Value(1.0)] * 2, lr=0.1), ValueError, "the same Value more than once"),
    ],
)
def test_bad_arguments_are_errors_that_name_the_value(
    build: Callable[[], object], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        build()


def test_the_optimizers_are_known_by_name_in_one_registry() -> None:
    assert OPTIMIZERS == {"sgd": SGD, "adam": Adam}
    # the rate fit and the command line use when none is given; Adam's own default is the same
    assert (SGD.default_lr, Adam.default_lr) == (0.1, 1e-3)
    assert Adam([Value(1.0)]).lr == Adam.default_lr
