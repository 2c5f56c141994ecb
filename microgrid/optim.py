"""Optimizers: SGD and Adam, the same update rules as torch.optim.SGD and AdamW.

An optimizer holds a list of parameters (Values). After ``loss.backward()``
has filled in their ``.grad``, ``step()`` moves each parameter's ``.data``
against its gradient; ``zero_grad()`` clears the gradients for the next step.
Updates are plain float arithmetic on ``.data``: they record no graph.

Each optimizer writes its update rule once, for one parameter, with
operators that work on floats and on numpy arrays alike (``_rule``). For
many parameters, when numpy is installed, ``step`` applies it to all of them
at once as arrays; otherwise number by number. The two give the same floats,
bit for bit: the same IEEE operations in the same order.

The learning rate ``lr`` is a number or a schedule: a function of the step
index (0 for the first ``step()``) returning the rate, e.g. micrograd's demo
``lambda k: 1.0 - 0.9 * k / 100``.

``OPTIMIZERS`` names them, for ``fit`` and the command line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from microgrid import checks
from microgrid.engine import Value, data_of, no_grad, set_data

LearningRate = float | Callable[[int], float]
# one parameter's update, on floats or on arrays: (p, g, *state) -> (new p, *new state)
Rule = Callable[..., tuple[Any, ...]]

# from this many parameters, step runs the rule on numpy arrays (when numpy is installed):
# below it, converting to arrays and back costs more than the loop saves (measured)
VECTORIZED_FROM = 64


class Optimizer:
    """What every optimizer shares: the parameters, the learning rate, the step count.

    Subclasses define ``_rule(lr, sqrt)``: this step's update of one
    parameter, ``(p, g, *state) -> (new p, *new state)`` with the running
    averages in the order of ``self.state`` (name -> one float per
    parameter), written with operators and ``sqrt`` so that it runs on
    floats and on arrays alike. ``step`` works out every parameter's update
    without changing anything, checks it, then commits it to ``.data`` and
    ``self.state``, which ``state_dict`` saves.
    """

    # the learning rate fit and the command line use when none is given
    default_lr: ClassVar[float] = 1e-3
    # running averages that are never negative (a mean of squares), checked by load_state_dict
    non_negative_state: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: Iterable[Value], lr: LearningRate) -> None:
        self.params = _parameter_list(params)
        self.lr = _learning_rate(lr)
        self.steps = 0  # how many step() calls so far
        self.state: dict[str, list[float]] = {}

    def current_lr(self) -> float:
        """The learning rate the next ``step()`` will use.

        Raises ``ValueError`` if a schedule returns a negative or non-finite rate.
        """
        if not callable(self.lr):
            return self.lr
        lr = self.lr(self.steps)
        try:
            return checks.non_negative(lr, "lr")
        except (TypeError, ValueError):
            raise ValueError(
                f"the lr schedule returned {lr!r} at step {self.steps}; expected a number >= 0"
            ) from None

    @no_grad()
    def step(self) -> None:
        """Update every parameter once from its ``.grad``.

        All or nothing: raises ``OverflowError`` naming the parameter, and
        changes nothing, when the update would make a parameter or a running
        average inf or nan (too large a step: training diverged).
        """
        new_data, new_state = self._updated(self.current_lr())
        # a Value must stay finite; torch would carry the inf on, silently
        for what, numbers_ in [("params", new_data), *new_state.items()]:
            i = _first_not_finite(numbers_)
            if i is not None:
                raise OverflowError(
                    f"this step would make {what}[{i}] {numbers_[i]} (params[{i}] is "
                    f"{self.params[i].data!r}, its grad {self.params[i].grad!r}); nothing was "
                    "changed: try a smaller learning rate"
                )
        set_data(self.params, new_data)  # checked above: the engine assigns them at a slot's speed
        self.state.update(new_state)
        self.steps += 1

    def _updated(self, lr: float) -> tuple[list[float], dict[str, list[float]]]:
        # every parameter's new value and running averages, changing nothing: the rule on
        # numpy arrays for many parameters, else on each parameter's floats
        names = list(self.state)
        columns: list[Any] = [data_of(self.params), [p.grad for p in self.params]]
        columns += [self.state[name] for name in names]
        np = _numpy() if len(self.params) >= VECTORIZED_FROM else None
        if np is not None:
            arrays = [np.fromiter(column, np.float64, len(column)) for column in columns]
            with np.errstate(all="ignore"):  # inf and nan are looked for by step, not warned about
                found = [result.tolist() for result in self._rule(lr, np.sqrt)(*arrays)]
        else:
            found = [list(result) for result in zip(*map(self._rule(lr, math.sqrt), *columns))]
        return found[0], dict(zip(names, found[1:]))

    def _rule(self, lr: float, sqrt: Callable[[Any], Any]) -> Rule:
        raise NotImplementedError

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to 0 (gradients accumulate until zeroed)."""
        for p in self.params:
            p.grad = 0.0

    def state_dict(self) -> dict[str, Any]:
        """The step count and running averages, JSON-able (hyperparameters are not included)."""
        return {"steps": self.steps, **{name: list(values) for name, values in self.state.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` returned; checked completely before anything changes.

        Raises ``ValueError`` for missing or unexpected keys, a step count
        beyond ``sys.maxsize``, lists of the wrong length, non-finite numbers
        and negative running averages of squares; ``TypeError`` for
        non-numbers and a ``state`` that is not a mapping.
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                f"optimizer state must be a dict, got {type(state).__name__}: {checks.shown(state)}"
            )
        expected = ["steps", *self.state]
        if set(state) != set(expected):
            given = sorted(state, key=repr)  # by repr: keys of mixed types do not sort
            raise ValueError(
                f"optimizer state must have keys {expected}, got {len(given)} keys: {checks.shown(given)}"
            )
        steps = checks.non_negative_int(state["steps"], "state['steps']")
        loaded = {
            name: _float_list(state[name], name, len(self.params), name in self.non_negative_state)
            for name in self.state
        }
        self.steps = steps
        self.state.update(loaded)


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum and weight decay (torch.optim.SGD).

    Each step, with g the gradient plus ``weight_decay * p``::

        b = g on the first step, then momentum * b + (1 - dampening) * g
        g = g + momentum * b   if nesterov, else   g = b     (when momentum > 0)
        p = p - lr * g

    Raises ``ValueError`` for a negative ``lr``, ``momentum``, ``dampening``
    or ``weight_decay``, for nesterov without momentum (or with dampening),
    and for an empty list of parameters; ``TypeError`` for a non-Value
    parameter.
    """

    default_lr = 0.1

    def __init__(
        self,
        params: Iterable[Value],
        lr: LearningRate,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        dampening: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = checks.non_negative(momentum, "momentum")
        self.dampening = checks.non_negative(dampening, "dampening")
        self.weight_decay = checks.non_negative(weight_decay, "weight_decay")
        if nesterov and (self.momentum == 0.0 or self.dampening != 0.0):
            raise ValueError(
                f"nesterov needs momentum > 0 and dampening 0, got momentum={momentum!r}, "
                f"dampening={dampening!r}"
            )
        self.nesterov = bool(nesterov)
        if self.momentum:
            self.state["momentum_buffer"] = [0.0] * len(self.params)

    def _rule(self, lr: float, sqrt: Callable[[Any], Any]) -> Rule:
        momentum, dampening, decay, nesterov = self.momentum, self.dampening, self.weight_decay, self.nesterov
        first = self.steps == 0

        def update(p: Any, g: Any, *buffer: Any) -> tuple[Any, ...]:
            if decay:
                g = g + decay * p
            if not momentum:
                return (p - lr * g,)
            # like torch: the first step starts the buffer at g, undamped
            b = g if first else momentum * buffer[0] + (1.0 - dampening) * g
            g = g + momentum * b if nesterov else b
            return p - lr * g, b

        return update


class Adam(Optimizer):
    """Adam with decoupled weight decay: the update of torch.optim.AdamW.

    Each step t = 1, 2, ... with gradient g::

        p = p - lr * weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)

    With ``weight_decay=0`` (the default) this is plain Adam. Raises
    ``ValueError`` for a negative ``lr`` or ``weight_decay``, an ``eps`` that
    is not positive (torch allows 0, which makes 0 / 0 for a parameter whose
    gradient has always been 0), betas outside [0, 1), and an empty list of
    parameters; ``TypeError`` for a non-Value parameter, betas that are not
    a pair, or a non-number.
    """

    default_lr = 1e-3
    non_negative_state = ("exp_avg_sq",)

    def __init__(
        self,
        params: Iterable[Value],
        lr: LearningRate = default_lr,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence):
            raise TypeError(
                f"betas must be a pair (beta1, beta2), got {type(betas).__name__}: {checks.shown(betas)}"
            )
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {checks.shown(betas)}")
        beta1, beta2 = (
            checks.between(beta, f"betas[{i}]", 0.0, 1.0, high_open=True) for i, beta in enumerate(betas)
        )
        self.betas = (beta1, beta2)
        self.eps = checks.positive(eps, "eps")
        self.weight_decay = checks.non_negative(weight_decay, "weight_decay")
        self.state["exp_avg"] = [0.0] * len(self.params)
        self.state["exp_avg_sq"] = [0.0] * len(self.params)

    def _rule(self, lr: float, sqrt: Callable[[Any], Any]) -> Rule:
        beta1, beta2 = self.betas
        t = self.steps + 1
        step_size = lr / (1.0 - beta1**t)  # the bias corrections undo the zero start of m and v
        root_correction = math.sqrt(1.0 - beta2**t)
        shrink = 1.0 - lr * self.weight_decay
        eps = self.eps

        def update(p: Any, g: Any, m: Any, v: Any) -> tuple[Any, ...]:
            m = beta1 * m + (1.0 - beta1) * g
            v = beta2 * v + (1.0 - beta2) * g * g
            return p * shrink - step_size * m / (sqrt(v) / root_correction + eps), m, v

        return update


# The optimizers by name: the one list fit and the command line read
OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam}


# --- argument checks ---


def _parameter_list(params: Iterable[Value]) -> list[Value]:
    if isinstance(params, Value) or not isinstance(params, Iterable):
        hint = " (call model.parameters())" if hasattr(params, "parameters") else ""
        raise TypeError(f"params must be an iterable of Values{hint}, got {type(params).__name__}")
    found = list(params)
    if not found:
        raise ValueError("the optimizer got no parameters (an empty list)")
    for i, p in enumerate(found):
        if not isinstance(p, Value):
            raise TypeError(f"params[{i}] must be a Value, got {type(p).__name__}: {p!r}")
    if len({id(p) for p in found}) != len(found):
        raise ValueError("params holds the same Value more than once; it would be updated twice")
    return found


def _first_not_finite(numbers: list[float]) -> int | None:
    total = sum(numbers)  # inf or nan when any number is (or, rarely, when only their sum overflows)
    if total - total == 0.0:
        return None
    return next((i for i, x in enumerate(numbers) if not math.isfinite(x)), None)


def _numpy() -> Any:
    # numpy, or None when it is not installed (it is optional)
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def _learning_rate(lr: LearningRate) -> LearningRate:
    if callable(lr):
        return lr
    return checks.non_negative(lr, "lr")


def _float_list(values: object, name: str, length: int, non_negative: bool) -> list[float]:
    if not isinstance(values, (list, tuple)) or len(values) != length:
        raise ValueError(f"state[{name!r}] must be a list of {length} numbers, got {checks.shown(values)}")
    check = checks.non_negative if non_negative else checks.finite
    return [check(x, f"state[{name!r}][{i}]") for i, x in enumerate(values)]
