"""The Tape: a recorded graph compiled once, replayed at new points, with graph mode's results and errors."""

from __future__ import annotations

import itertools
import math
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from microgrid import checks
from microgrid.engine import Value, data_of, grad, set_data, topological_order, watching_comparisons
from microgrid.tape import capture as capturing
from microgrid.tape import checked
from microgrid.tape.capture import Program
from microgrid.tape.checked import GuardError

BACKENDS = ("python", "numpy")
_FLOAT_MAX = sys.float_info.max
_HERE = str(Path(__file__).resolve().parent)
_ENGINE = str(Path(__file__).resolve().parent.parent / "engine.py")


class TapeMismatchError(AssertionError):
    """``Tape.verify`` found a point where the tape and graph mode disagree."""


@dataclass
class _Replay:
    """One call's numbers, kept for ``backward``: the rows, the parameters then, the results."""

    rows: Any
    params: list[float]
    results: list[list[float]]  # a list per result (the output first), a number per row
    state: Any  # the backend's numbers for backward; None when the checked path ran
    batch: bool
    count: int  # rows (the result lists go to the caller, who may change them)


class Tape:
    """A recorded graph compiled into a program: call it at new inputs, then ``backward()``.

    ``Tape(output, inputs)`` captures the graph that made ``output`` (a Value)
    from the leaves ``inputs``: at each call they take the numbers given, while
    every other leaf is a parameter, read live (so an optimizer's updates are
    seen). A call with one point returns the output as a float; with a batch
    (a list of rows, or a 2-D numpy array) one float per row. ``backward()``
    then adds d output / d parameter into each parameter's ``.grad``, as
    ``output.backward()`` does (for a batch, ``reduce="mean"`` or ``"sum"``
    over the rows); ``input_grads()`` gives the gradients of the inputs. The
    tape computes what graph mode would, and raises what graph mode would (the
    same exception types, with the failing node named); a failed call or
    backward changes no ``.grad``.

    A graph records operations, not the Python that chose them: a tape made
    this way cannot know the comparisons (``if a < b``, ``max``) that picked
    its branches, nor numbers read with ``.data`` or ``float()`` while it was
    built; it replays the branches taken then, whatever the new inputs. Build
    it with ``Tape.trace(fn, point)`` instead to have those comparisons
    checked at every call (guards), and ``verify`` it to catch read numbers.

    Raises TypeError for a non-Value, a node with a micrograd-style
    ``_backward`` closure or an unknown backend, ValueError for inputs that
    repeat or are not leaves, and LookupError for an operation with no entry.

    Args:
        output: the Value to compute (a loss, for backward), or a list of
            Values (a model's outputs): a call then returns a list per point,
            and there is no backward.
        inputs: the leaves fed at each call, in the order of a point's numbers.
        aux: more Values to compute at each call (a model's outputs beside its
            loss); a call then returns ``(output, [aux values])``.
        backend: "python" (generated code), "numpy" (fused batches) or None to
            choose by the graph's shape (see ``backend``).

    """

    def __init__(
        self,
        output: Value | Sequence[Value],
        inputs: Sequence[Value] = (),
        *,
        aux: Sequence[Value] | Value = (),
        backend: str | None = None,
    ) -> None:
        self._build(output, list(inputs), aux, (), backend, None, aux != ())

    @classmethod
    def trace(
        cls,
        fn: Callable[..., Any],
        point: Sequence[float],
        *,
        has_aux: bool = False,
        backend: str | None = None,
    ) -> Tape:
        """Record ``fn(*inputs)`` at ``point`` and compile it, with every comparison of a Value as a guard.

        ``fn`` takes one Value per number of ``point`` and returns the output
        (or, with ``has_aux``, ``(output, aux)``, aux a Value or a list of
        them). Comparisons it makes (``if a < b``, ``max``, ``sorted``) are
        checked again at every call: when one comes out the other way, the
        call raises ``GuardError`` naming it, since the tape holds only the
        branch taken here. ``verify`` can then re-run ``fn`` in graph mode.
        """
        if not callable(fn):
            raise TypeError(f"Tape.trace needs a function, got {type(fn).__name__}: {fn!r}")
        inputs = [_point_value(x, i) for i, x in enumerate(_sequence(point, "the point"))]
        comparisons: list[Any] = []

        def watch(value: Value, comparison: str, other: Any, result: bool) -> None:
            comparisons.append((value, comparison, other, result, _caller()))

        result = watching_comparisons(watch, fn, *inputs)
        if has_aux:
            if not isinstance(result, tuple) or len(result) != 2:
                raise TypeError(f"with has_aux, fn must return (output, aux), got {type(result).__name__}")
            output, aux = result
        else:
            output, aux = result, ()
        tape = cls.__new__(cls)
        tape._build(output, inputs, aux, comparisons, backend, fn, has_aux)
        return tape

    def _build(
        self,
        output: Value | Sequence[Value],
        inputs: list[Value],
        aux: Sequence[Value] | Value,
        guards: Sequence[Any],
        backend: str | None,
        fn: Callable[..., Any] | None,
        has_aux: bool,
    ) -> None:
        aux_list = [aux] if isinstance(aux, Value) else list(aux)
        self._aux_single = isinstance(aux, Value)
        self._vector = not isinstance(output, Value)
        if self._vector:
            if has_aux:
                raise TypeError("a tape of several outputs takes no aux: list them all as the output")
            outputs = list(output)  # type: ignore[arg-type]
            if not outputs or not all(isinstance(x, Value) for x in outputs):
                raise TypeError(f"a tape's output is a Value or a non-empty list of Values, got {output!r}")
            output, aux_list = outputs[0], outputs[1:]
        assert isinstance(output, Value)
        program = capturing.capture(output, inputs, aux_list, guards)
        self._fn = fn
        self._has_aux = has_aux
        self._trace_point = [x.data for x in inputs]
        self._backend = _choose_backend(program, backend)
        self._code = _compile(program, self._backend)
        self._program: Program = self._code.program  # its parameters in the order the code reads them
        self._last: _Replay | None = None
        self._input_grads: list[Any] | None = None
        self._seeds: list[float] | None = None
        self.checked_runs = 0  # how often the checked path ran (after a failure or a false alarm)

    # --- what it is ---

    @property
    def backend(self) -> str:
        """Which backend runs the tape: "python" (generated code) or "numpy" (fused batches).

        Chosen per graph unless given: numpy (when installed) for wide graphs,
        where many nodes do the same operation at the same depth (a layer's
        neurons) and fuse into array operations; generated Python for narrow
        or deep ones (a chain), where numpy would run one tiny array operation
        per node.
        """
        return self._backend

    @property
    def inputs(self) -> list[Value]:
        """The input leaves, in the order of a point's numbers."""
        return list(self._program.inputs)

    @property
    def parameters(self) -> list[Value]:
        """The other leaves: read live at each call; ``backward`` adds into their ``.grad``.

        In the order the backend reads them (numpy lays out each layer's weights together).
        """
        return list(self._program.params)

    @property
    def guards(self) -> int:
        """How many comparisons ``Tape.trace`` recorded, each checked at every call."""
        return len(self._program.guards)

    def __len__(self) -> int:
        """The number of instructions (operation nodes) in the program."""
        return len(self._program.ops)

    def __repr__(self) -> str:
        p = self._program
        return (
            f"Tape({len(p.ops)} instructions, {p.n_inputs} inputs, {len(p.params)} parameters, "
            f"{len(p.guards)} guards, backend={self._backend!r})"
        )

    def source(self) -> str:
        """The generated program, as the backend runs it: the Wengert list of the graph, as Python."""
        return str(self._code.source)

    # --- calls ---

    def __call__(self, x: Any) -> Any:
        """The output at one point (a float) or at each row of a batch (a list of floats).

        A point is a sequence of numbers, one per input; a batch a sequence of
        points or a 2-D numpy array. With ``aux`` (or ``has_aux``) the result
        is ``(output, aux values)``, per row for a batch. Raises TypeError or
        ValueError for a point that is not finite numbers of the right count,
        and what graph mode raises for a bad value inside (naming the node).
        """
        self._last = None
        self._input_grads = None
        self._seeds = None
        rows, batch = self._rows(x)
        replay = self._forward(rows, batch)
        self._last = replay
        return self._presented(replay.results, batch)

    def _forward(self, rows: Any, batch: bool, params: Any = None) -> _Replay:
        # the results, and what backward needs; the checked path when the fast one fails
        if params is None:
            params = data_of(self._program.params)  # read live: an optimizer may have moved them
        try:
            results, state = self._code.forward(rows, params)
        except Exception:  # a check failed, or an error on the way: the checked path says exactly what
            self.checked_runs += 1
            results = self._checked_forward(rows, params, batch)
            state = None
        return _Replay(rows, params, results, state, batch, len(results[0]))

    def _checked_forward(self, rows: Any, params: list[float], batch: bool) -> list[list[float]]:
        program = self._program
        results: list[list[float]] = [[] for _ in program.results]
        for r, row in enumerate(self._code.row_lists(rows)):
            values = checked.forward(program, row, _floats(params), r if batch else None)
            for column, s in zip(results, program.results):
                column.append(values[s])
        return results

    def _presented(self, results: list[list[float]], batch: bool) -> Any:
        # the results (a list per result) as a call returns them
        if self._vector:
            rows = [list(row) for row in zip(*results)]
            return rows if batch else rows[0]
        outputs = results[0]
        if not self._has_aux:
            return outputs if batch else outputs[0]
        aux = results[1] if self._aux_single else [list(row) for row in zip(*results[1:])]
        return (outputs, aux) if batch else (outputs[0], aux[0])

    def backward(self, reduce: str | None = None) -> None:
        """Add d output / d parameter into every parameter's ``.grad``, at the last call's point(s).

        Like ``output.backward()``: gradients accumulate until zeroed. After a
        batch, ``reduce`` says how the rows' outputs combine: "mean" (the
        gradient of their mean, as a batch loss is) or "sum". All or nothing:
        raises as graph mode's backward does (an infinite derivative, a
        gradient overflow, naming the node and row) and then changes no
        ``.grad``. Raises RuntimeError before any call.
        """
        replay = self._last
        if self._vector:
            raise ValueError(
                f"backward needs one output (a loss); this tape computes {len(self._program.results)}"
            )
        if replay is None:
            raise RuntimeError("the tape has no point to go back from: call it on a point or a batch first")
        _check_reduce(reduce, replay.batch, "backward")
        seeds = _seeds(reduce, replay.count)
        param_grads, input_grads = self._gradients(replay, seeds, inputs=False)
        self._commit(param_grads)
        self._seeds = seeds
        self._input_grads = input_grads  # None until asked for, when the backend leaves them out

    def value_and_grad(self, x: Any, params: Any, *, reduce: str | None = None) -> tuple[Any, Any]:
        """(the call's result at ``x``, d output / d parameters) for the parameter numbers given.

        JAX's ``value_and_grad`` for a tape: a pure function of the parameter
        numbers and the inputs, which reads no Value and changes none (not
        ``.data``, not ``.grad``, not what ``backward`` would use). ``params``
        holds one number per parameter in the order of ``parameters``
        (``parameters_to_vector()`` gives the current ones). The gradient is a
        1-D numpy array on the numpy backend, else a list of floats; for a
        batch, ``reduce`` ("mean" or "sum") says how the rows' outputs
        combine. This is how to train with the parameters kept in an array,
        as PyTorch and JAX keep them: it spares reading every parameter from
        its Value and adding into every ``.grad`` at each step, which for
        13,002 parameters costs more than the numpy replay itself. Raises
        what a call and ``backward`` raise, and TypeError or ValueError naming
        a parameter number that is not a finite number or the wrong count.
        """
        if self._vector:
            raise ValueError(
                f"value_and_grad needs one output (a loss); this tape computes {len(self._program.results)}"
            )
        rows, batch = self._rows(x)
        _check_reduce(reduce, batch, "value_and_grad")
        replay = self._forward(rows, batch, self._parameter_numbers(params))
        param_grads = self._gradients(replay, _seeds(reduce, replay.count), inputs=False)[0]
        if self._backend == "numpy":
            import numpy as np

            # the array this call's backward made (or the checked path's list): no one else holds it
            gradient: Any = np.asarray(param_grads, dtype=np.float64)
        else:
            gradient = _floats(param_grads)
        return self._presented(replay.results, batch), gradient

    def parameters_to_vector(self) -> Any:
        """The parameters' numbers now, in the order of ``parameters``: a 1-D numpy array (numpy backend) or a list.

        Named after ``torch.nn.utils.parameters_to_vector``; the vector is a
        copy, for ``value_and_grad`` and an optimizer that steps arrays.
        """
        numbers = data_of(self._program.params)
        if self._backend == "numpy":
            import numpy as np

            return np.array(numbers, dtype=np.float64)
        return numbers

    def vector_to_parameters(self, vector: Any) -> None:
        """Set each parameter's ``.data`` from ``vector`` (the order of ``parameters``), all or nothing.

        Raises TypeError or ValueError, changing no Value, for a vector of the
        wrong length or with a number that is not finite.
        """
        set_data(self._program.params, _floats(self._parameter_numbers(vector)))

    def _parameter_numbers(self, params: Any) -> Any:
        # one finite float per parameter: a 1-D float array as it is (numpy's fast path), else a list
        n = len(self._program.params)
        if (
            type(params).__module__ == "numpy"
            and getattr(params, "ndim", 0) == 1
            and params.dtype.kind in "fiu"
        ):
            total = float(params.sum())  # a float: numpy's inf - inf would warn
            if params.shape[0] == n and total - total == 0.0:
                return params.astype("float64", copy=False) if self._backend == "numpy" else params.tolist()
        items = params if type(params) is list else _sequence(params, "the parameter numbers")
        return _checked_row(items, n, None, "parameter")

    def _gradients(self, replay: _Replay, seeds: list[float], inputs: bool) -> tuple[Any, Any]:
        # (parameters' gradients over the rows, each row's input gradients: None when the
        # backend skips them and they are not asked for), fast or checked
        if replay.state is not None:
            try:
                param_grads, input_grads = self._code.backward(replay.state, seeds, replay.params, inputs)
                if self._code.finite(param_grads, input_grads):
                    return param_grads, input_grads
            except Exception:
                pass  # the checked path below says what went wrong
        self.checked_runs += 1
        return self._checked_backward(replay, seeds)

    def _checked_backward(
        self, replay: _Replay, seeds: list[float]
    ) -> tuple[list[float], list[Sequence[float]]]:
        program = self._program
        n_params = len(program.params)
        param_grads = [-0.0] * n_params
        input_grads: list[Sequence[float]] = []
        params = _floats(replay.params)
        for r, (row, seed) in enumerate(zip(self._code.row_lists(replay.rows), seeds)):
            at = r if replay.batch else None
            values = checked.forward(program, row, params, at)
            leaves = checked.backward(program, values, seed, at)
            input_grads.append(leaves[: program.n_inputs])
            for j in range(n_params):
                param_grads[j] += leaves[program.n_inputs + j]
        return param_grads, input_grads

    def _commit(self, param_grads: Sequence[float]) -> None:
        # every .grad + gradient is checked before any .grad changes (as graph mode's backward)
        params = self._program.params
        totals, finite = self._code.added([p.grad for p in params], param_grads)
        if not finite:  # some sum is inf or nan (or, rarely, only their total overflowed)
            for j, (p, g, total) in enumerate(zip(params, _floats(param_grads), totals)):
                if not -_FLOAT_MAX <= total <= _FLOAT_MAX:
                    raise OverflowError(
                        f"gradient overflow: {self._program.describe(self._program.n_inputs + j)} has .grad "
                        f"{p.grad!r}, and adding d(output)/d(it) = {g!r} would make it {total!r}; "
                        "no .grad was changed (zero the grads between steps?)"
                    )
        for p, total in zip(params, totals):
            p.grad = total

    def input_grads(self) -> Any:
        """d output / d input for each input at the last ``backward``: a list, or one list per row.

        For a batch with ``reduce="mean"`` each row's gradient is that of the
        mean (the row's own, over the batch size). The numpy backend works
        them out when asked (training never needs them, and a layer's input
        gradients cost as much as its weights'), so an overflow in them is
        raised here rather than by ``backward``. Raises RuntimeError before any
        ``backward``.
        """
        replay = self._last
        if replay is None or self._seeds is None:
            raise RuntimeError("no gradients yet: call the tape, then backward()")
        if self._input_grads is None:
            self._input_grads = self._gradients(replay, self._seeds, inputs=True)[1]
        rows = [_floats(row) for row in self._input_grads]
        return rows if replay.batch else rows[0]

    # --- checking a tape against graph mode ---

    def verify(
        self,
        points: Sequence[Sequence[float]] | None = None,
        *,
        fn: Callable[..., Any] | None = None,
        samples: int = 5,
        seed: int = 0,
        rtol: float = 1e-9,
    ) -> bool:
        """Re-run the function in graph mode at new points and check the tape agrees; returns True.

        A number read with ``.data`` or ``float()`` while tracing (a baked
        value) is frozen into the tape, and shows up here: at another point the
        tape's output or gradients differ from graph mode's. ``points`` are
        the points to try; by default ``samples`` points near the traced one
        (each number moved by up to half its size, plus one, seeded). ``fn``
        is the traced function (``Tape.trace`` keeps it; a tape made from a
        graph needs it given). A point where a guard flips is skipped, as the
        tape rightly refuses it. No ``.grad`` is changed.

        Raises TapeMismatchError naming the point and what differs, or the
        error graph mode raised where the tape did not (or the reverse).
        """
        function = fn if fn is not None else self._fn
        if function is None:
            raise ValueError(
                "verify needs the function the tape was traced from: Tape.trace(fn, point), or fn="
            )
        chosen = _near(self._trace_point, samples, seed) if points is None else [list(p) for p in points]
        for point in chosen:
            self._verify_at(function, point, rtol)
        return True

    def _verify_at(self, function: Callable[..., Any], point: list[float], rtol: float) -> None:
        program = self._program
        rows, _ = self._rows(point)
        tape_error: Exception | None = None
        graph_error: Exception | None = None
        try:
            replay = self._forward(rows, False)
            got = [column[0] for column in replay.results]
            if not self._vector:
                param_grads, input_grads = self._gradients(replay, [1.0], inputs=True)
        except GuardError:
            return  # another branch at this point: the tape rightly refuses it
        except Exception as error:
            tape_error = error
        inputs = [Value(x) for x in point]
        try:
            outputs = self._outputs_of(function(*inputs))
            wanted = [v.data for v in outputs]
            labels: list[Any] = ["the output", *(f"result {k}" for k in range(1, len(outputs)))]
            if not self._vector:
                leaves = set(topological_order(outputs[0]))  # the parameters this graph shares with the tape
                shared = [j for j, p in enumerate(program.params) if p in leaves]
                expected = grad(outputs[0], [*inputs, *(program.params[j] for j in shared)])
                wanted += [g.data for g in expected]
                labels += [f"d output / d input {i}" for i in range(len(inputs))]
                labels += [program.n_inputs + j for j in shared]  # described only if it differs
        except Exception as error:
            graph_error = error
        if tape_error is not None or graph_error is not None:
            if type(tape_error) is type(graph_error):
                return  # both refuse the point alike
            raise TapeMismatchError(
                f"at the point {point}, graph mode "
                + (f"raised {graph_error!r}" if graph_error is not None else "computed a value")
                + " but the tape "
                + (f"raised {tape_error!r}" if tape_error is not None else "computed a value")
            )
        if not self._vector:
            found = _floats(param_grads)
            got += [*_floats(input_grads[0]), *(found[j] for j in shared)]
        scale = max(1.0, *(abs(x) for x in wanted))
        for label, a, b in zip(labels, got, wanted):
            if not math.isclose(a, b, rel_tol=rtol, abs_tol=rtol * scale):
                if isinstance(label, int):
                    label = f"d output / d {program.describe(label)}"
                raise TapeMismatchError(
                    f"at the point {point}, {label} is {a!r} by the tape but {b!r} in graph mode: the function "
                    "reads a number with .data, float() or a comparison outside the recorded operations "
                    "(a value baked into the tape at the traced point); record it as an operation instead"
                )

    def _outputs_of(self, result: Any) -> list[Value]:
        # what a call of the traced function gave, in the order of the tape's results
        if self._has_aux:
            output, aux = result
            found = [output, *([aux] if isinstance(aux, Value) else list(aux))]
        else:
            found = [result] if isinstance(result, Value) else list(result)
        if len(found) != len(self._program.results) or not all(isinstance(v, Value) for v in found):
            raise TypeError(f"the function returned {result!r}, not what it returned when traced")
        return found

    # --- inputs ---

    def _rows(self, x: Any) -> tuple[Any, bool]:
        # (the rows as the backend takes them, whether x was a batch); bad input raises here
        n = self._program.n_inputs
        if type(x).__module__ == "numpy":
            return _array_rows(self._code, x, n)
        items = _sequence(x, "a point or a batch")
        batch = bool(items) and not _is_number(items[0]) and not isinstance(items[0], Value)
        if not batch:
            return self._code.prepare([_checked_row(items, n, None)]), False
        rows = _float_rows(items, n)
        if rows is None:  # row by row, for the error that names the row and the number
            rows = [_checked_row(row, n, r) for r, row in enumerate(items)]
        return self._code.prepare(rows), True


def _check_reduce(reduce: str | None, batch: bool, method: str) -> None:
    if reduce not in (None, "mean", "sum"):
        raise ValueError(f"reduce must be 'mean' or 'sum', got {reduce!r}")
    if batch and reduce is None:
        raise ValueError(
            f"a batch has one output per row: say how they combine, {method}(reduce='mean') or 'sum'"
        )


def _seeds(reduce: str | None, n: int) -> list[float]:
    # d (the rows' outputs combined) / d (each row's output): 1/n each for a mean, 1 for a sum
    return [1.0 / n if reduce == "mean" else 1.0] * n


def _choose_backend(program: Program, backend: str | None) -> str:
    if backend is not None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)} (or None)")
        if backend == "numpy":
            import numpy  # noqa: F401 (raises ImportError, saying numpy is missing, when it is)
        return backend
    from microgrid.tape import numpy_code

    return "numpy" if numpy_code.available() and numpy_code.pays(program) else "python"


def _compile(program: Program, backend: str) -> Any:
    from microgrid.tape import python_code

    if backend == "numpy":
        from microgrid.tape import numpy_code

        return numpy_code.NumpyCode(program)
    return python_code.compiled(program)


def _sequence(x: Any, what: str) -> list[Any]:
    if isinstance(x, (str, bytes)) or not hasattr(x, "__iter__"):
        raise TypeError(f"{what} must be a sequence of numbers, got {type(x).__name__}: {x!r}")
    return list(x)


def _array_rows(code: Any, x: Any, n: int) -> tuple[Any, bool]:
    # a numpy array: a point (1-D) or a batch (2-D) of finite numbers, checked at array speed
    import numpy as np

    if x.ndim not in (1, 2):
        raise TypeError(f"a point is a 1-D array and a batch a 2-D array, got an array of shape {x.shape}")
    batch = x.ndim == 2
    rows = x if batch else x.reshape(1, -1)
    if rows.shape[1] != n:
        raise ValueError(f"the tape has {n} inputs, got rows of {rows.shape[1]} numbers")
    if batch and rows.shape[0] == 0:
        raise ValueError("the batch is empty")
    total = rows.sum() if rows.dtype.kind in "fiub" else math.nan  # inf or nan anywhere: inf or nan here
    if total - total != 0.0:
        for r, row in enumerate(rows.tolist()):  # find the culprit, named as for a list
            _checked_row(row, n, r if batch else None)
    return code.prepare_array(np.ascontiguousarray(rows, dtype=np.float64)), batch


def _float_rows(items: list[Any], n: int) -> list[list[float]] | None:
    # a batch of lists of n finite floats, as a dataset gives it, checked at C speed and copied
    # (None when it is not all such, or only the sum of its numbers overflowed)
    if set(map(type, items)) != {list} or set(map(len, items)) != {n}:
        return None
    if not checks.finite_floats(list(itertools.chain.from_iterable(items))):
        return None
    return list(map(list.copy, items))


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) or (hasattr(x, "__float__") and not hasattr(x, "__iter__"))


def _checked_row(row: Any, n: int, r: int | None, what: str = "input") -> list[float]:
    # a point (or the parameter numbers) as n floats: fast when it is fine, and a TypeError or
    # ValueError naming the bad number
    where = f"row {r}: " if r is not None else ""
    if isinstance(row, Value) or _is_number(row):
        raise TypeError(f"{where}a point is a sequence of {n} numbers, got {type(row).__name__}: {row!r}")
    items = row if type(row) is list else _sequence(row, f"{where}a point")
    if len(items) != n:
        raise ValueError(f"{where}the tape has {n} {what}s, got {len(items)} numbers")
    try:
        # at C speed: sum refuses what is not a number (a str, None, a Decimal) and gives a
        # complex, inf or nan for those; then float() converts the rest (ints, numpy scalars)
        total = sum(items, 0.0)
        fine = type(total) is float and total - total == 0.0
    except (TypeError, OverflowError):
        fine = False
    if not fine:  # find the culprit (or learn the sum only overflowed): as Value refuses it
        for i, item in enumerate(items):
            try:
                _point_value(item, i, what)
            except (TypeError, ValueError, OverflowError) as error:
                raise type(error)(f"{where}{error}") from None
    return list(map(float, items))


def _point_value(x: Any, i: int, what: str = "input") -> Value:
    try:
        return Value(x)
    except (TypeError, ValueError, OverflowError) as error:
        raise type(error)(f"{what} {i}: {error}") from None


def _floats(xs: Any) -> list[float]:
    return xs.tolist() if hasattr(xs, "tolist") else list(xs)


def _caller() -> str:
    # where the user's code made a comparison: the first frame outside the engine and the tape
    frame = sys._getframe(2)
    while frame is not None and (
        frame.f_code.co_filename == _ENGINE or frame.f_code.co_filename.startswith(_HERE)
    ):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return "(made inside microgrid)"
    return f"at {Path(frame.f_code.co_filename).name}:{frame.f_lineno} (in {frame.f_code.co_name})"


def _near(point: list[float], samples: int, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    return [[x + rng.uniform(-1.0, 1.0) * (0.5 * abs(x) + 1.0) for x in point] for _ in range(samples)]
