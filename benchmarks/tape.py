"""The compiled tape beside plain floats, graph mode, micrograd 0.1.0 and torch float64, in one run.

Every (workload, contender) runs in a fresh process, the contenders taking
turns run after run, and the table shows each one's median over the runs and
its ratio to the tape's. BLAS runs on one thread for numpy as for torch
(``torch.set_num_threads(1)``, and OPENBLAS_NUM_THREADS=1 in every worker):
two cores shared with other work make threaded BLAS on small matrices erratic.

    python benchmarks/tape.py                 # every table
    python benchmarks/tape.py --repeats 7     # more runs per figure
    python benchmarks/tape.py --only demo_step

Workloads:
- chain: y = y * 1.0001 + 0.0001, 100,000 times; forward and backward (the
  tape: one replay of the recorded chain, tape([1.0]) and backward()).
- sum_of_products: w . x over 100,000 pairs, and the gradient of every w and x
  (floats: the sum, then x_i * g and w_i * g as backprop computes them, g
  the upstream gradient 1.0; the tape: a point of 200,000 inputs, backward,
  input_grads()).
- demo_step: micrograd's demo step: MLP(2, [16, 16, 1]) on 100 moons points,
  hinge loss + 1e-4 * L2, accuracy, zero_grad, backward, and micrograd's
  update p.data -= lr * p.grad. "floats" is that step written by hand with
  plain floats, per example, in micrograd's structure (neurons of float
  weights; a backward pass per example written out). A figure is the median
  of 20 steps after 10 (micrograd: 3 after 1; see DEMO_WARM).
- mnist_100, mnist_1000: MLP(784, [16, 16, 10]) with cross-entropy on a batch
  of 100 (1,000) MNIST images: forward and backward (torch: loss.backward();
  the tape: tape(batch) and backward(reduce="mean"), which reads the 13,002
  parameters from their Values and adds into their .grad; "tape, vector":
  tape.value_and_grad(batch, vector, reduce="mean"), the parameters kept in an
  array as torch keeps them, the gradient returned as one).
- mnist_epoch: one epoch of ``fit`` on the 4,000 shipped MNIST training images,
  batches of 100, Adam (lr 0.01): the tape (compile=True, counting its trace,
  verify and every optimizer step on the 13,002 Values) against torch's own
  loop with torch.optim.Adam, and graph mode once.
- compile: capture plus compile of chains of 10,000 to 200,000 instructions,
  of the sum of 100,000 products and of the MNIST network's loss, in
  microseconds per instruction (and, for the last two, whose sums have
  100,000 and 784 operands, per operand), and the memory it holds at its peak
  (tracemalloc), in bytes per instruction.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import _plain_chain  # noqa: E402 (the engine table's plain-float chain)
from training_step import micrograd_step_function, moons  # noqa: E402 (the demo step as training_step.py runs it)

N = 100_000
POINTS = 100
SEED = 1337
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _timed(function: Callable[[], Any], warm: int = 1, runs: int = 5) -> float:
    # the median seconds of a few calls, after warm-up calls
    for _ in range(warm):
        function()
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


# --- chain ---------------------------------------------------------------------------------------------


def chain(contender: str) -> float:
    """Seconds for the 100,000-step chain, forward and backward."""
    if contender == "floats":  # run.py's lower bound, the same loops on floats
        return statistics.median(_plain_chain() for _ in range(9))
    if contender == "tape":
        from microgrid import Tape, Value

        x = Value(1.0)
        y = x
        for _ in range(N):
            y = y * 1.0001 + 0.0001
        tape = Tape(y, [x])
        assert tape.backend == "python"

        def replay() -> None:
            tape([1.0])
            tape.backward()
            tape.input_grads()

        return _timed(replay, runs=9)
    if contender == "torch":
        torch = _torch()
        x = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)

        def run() -> None:
            y = x
            for _ in range(N):
                y = y * 1.0001 + 0.0001
            y.backward()

        return _timed(run, warm=0, runs=1)
    value_class = _value_class(contender)

    def build_and_backward() -> None:
        x = value_class(1.0)
        y = x
        for _ in range(N):
            y = y * 1.0001 + 0.0001
        y.backward()

    return _timed(build_and_backward, warm=0, runs=1)


# --- sum of products -----------------------------------------------------------------------------------


def sum_of_products(contender: str) -> float:
    """Seconds for w . x over 100,000 pairs and the gradients of every w and x."""
    ws = [0.001 * (i % 997) for i in range(N)]
    xs = [0.002 * (i % 991) for i in range(N)]
    if contender == "floats":

        def run() -> None:
            sum(w * x for w, x in zip(ws, xs))
            g = 1.0  # d total / d total: backprop multiplies each local derivative by it
            [x * g for x in xs]  # d total / d w_i = x_i * g
            [w * g for w in ws]  # d total / d x_i = w_i * g

        return _timed(run, runs=9)
    if contender == "tape":
        from microgrid import Tape, Value, value_sum

        w_values, x_values = [Value(w) for w in ws], [Value(x) for x in xs]
        tape = Tape(
            value_sum(w * x for w, x in zip(w_values, x_values)), [*w_values, *x_values], backend="python"
        )
        point = ws + xs

        def replay() -> None:
            tape(point)
            tape.backward()
            tape.input_grads()

        return _timed(replay, runs=9)
    if contender == "torch":
        torch = _torch()
        w = torch.tensor(ws, dtype=torch.float64, requires_grad=True)
        x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)

        def run() -> None:
            w.grad = x.grad = None
            (w * x).sum().backward()

        return _timed(run, runs=9)
    value_class = _value_class(contender)

    def build_and_backward() -> None:
        w_values, x_values = [value_class(w) for w in ws], [value_class(x) for x in xs]
        sum(w * x for w, x in zip(w_values, x_values)).backward()

    return _timed(build_and_backward, warm=0, runs=1)


# --- micrograd's demo step -----------------------------------------------------------------------------


class _FloatNeuron:
    """A neuron of micrograd's demo, with plain floats: weights, bias and their gradients."""

    def __init__(self, nin: int, nonlin: bool) -> None:
        self.w = [random.uniform(-1, 1) for _ in range(nin)]
        self.b = 0.0
        self.nonlin = nonlin
        self.gw = [0.0] * nin
        self.gb = 0.0

    def __call__(self, x: list[float]) -> float:
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return max(act, 0.0) if self.nonlin else act


def _float_demo_step() -> Callable[[int], float]:
    # micrograd's demo step written by hand with floats: per example, forward through the
    # layers, hinge, then its backward pass layer by layer; then the L2 term and the update
    xs, ys = moons(POINTS)
    random.seed(SEED)
    sizes = [2, 16, 16, 1]
    layers = [
        [_FloatNeuron(sizes[i], i != len(sizes) - 2) for _ in range(sizes[i + 1])]
        for i in range(len(sizes) - 1)
    ]
    neurons = [n for layer in layers for n in layer]
    alpha = 1e-4

    def step(k: int) -> float:
        for n in neurons:
            n.gw = [0.0] * len(n.w)
            n.gb = 0.0
        data_loss, hits = 0.0, 0
        for x, y in zip(xs, ys):
            activations = [x]
            for layer in layers:
                activations.append([n(activations[-1]) for n in layer])
            score = activations[-1][0]
            data_loss += max(1.0 - y * score, 0.0)
            hits += (y > 0) == (score > 0)
            grads = [(-y if 1.0 - y * score > 0.0 else 0.0) / len(xs)]
            for layer, inputs, outputs in reversed(list(zip(layers, activations, activations[1:]))):
                back = [0.0] * len(inputs)
                for n, out, g in zip(layer, outputs, grads):
                    if n.nonlin and out <= 0.0:
                        continue  # relu's gradient is 0 here
                    n.gb += g
                    for i, (wi, xi) in enumerate(zip(n.w, inputs)):
                        n.gw[i] += g * xi
                        back[i] += g * wi
                grads = back
        reg_loss = alpha * sum(p * p for n in neurons for p in [*n.w, n.b])
        lr = 1.0 - 0.9 * k / 100
        for n in neurons:
            n.w = [wi - lr * (gi + 2 * alpha * wi) for wi, gi in zip(n.w, n.gw)]
            n.b -= lr * (n.gb + 2 * alpha * n.b)
        return data_loss / len(xs) + reg_loss

    return step


# steps before the timed ones, and steps timed: a training step is run hundreds of times, and
# the first few are not like the rest. CPython 3.11 specializes a function's bytecode after its
# 8th call (code called once a step runs unspecialized before that), and the float loop's first
# steps took 9 ms in some processes where the rest took 5.2. micrograd, at a second a step: 1 and 3.
DEMO_WARM, DEMO_STEPS = 10, 20


def demo_step(contender: str) -> float:
    """Seconds per step of micrograd's demo: the median of DEMO_STEPS steps after DEMO_WARM."""
    if contender == "floats":
        step = _float_demo_step()
    elif contender in ("tape numpy", "tape python"):
        step = _tape_demo_step(contender.split()[1])
    elif contender == "torch":
        step = _torch_demo_step()
    else:
        step = micrograd_step_function(contender)
    warm, steps = (1, 3) if contender == "micrograd" else (DEMO_WARM, DEMO_STEPS)
    for k in range(warm):
        step(k)
    seconds = []
    for k in range(warm, warm + steps):
        start = time.perf_counter()
        step(k)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def _tape_demo_step(backend: str) -> Callable[[int], float]:
    from microgrid import Tape
    from microgrid.losses import accuracy, hinge, l2
    from microgrid.nn import MLP

    xs, ys = moons(POINTS)
    random.seed(SEED)
    model = MLP(2, [16, 16, 1])
    params = model.parameters()

    def example(x0: Any, x1: Any, y: Any) -> tuple[Any, Any]:
        score = model([x0, x1])
        return hinge([score], [y]) + l2(params, 1e-4), score

    rows: Any = [[*x, float(y)] for x, y in zip(xs, ys)]
    tape = Tape.trace(example, rows[0], has_aux=True, backend=backend)
    if backend == "numpy":
        import numpy

        rows = numpy.array(rows)

    def step(k: int) -> float:
        losses, scores = tape(rows)
        accuracy(scores, ys)
        for p in params:
            p.grad = 0.0
        tape.backward(reduce="mean")
        lr = 1.0 - 0.9 * k / 100
        for p in params:
            p.data -= lr * p.grad
        return math.fsum(losses) / len(losses)

    return step


def _torch_demo_step() -> Callable[[int], float]:
    torch = _torch()
    xs, ys = moons(POINTS)
    torch.manual_seed(SEED)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 1),
    ).double()
    inputs = torch.tensor(xs, dtype=torch.float64)
    labels = torch.tensor(ys, dtype=torch.float64)

    def step(k: int) -> float:
        scores = net(inputs)[:, 0]
        loss = torch.relu(1 - labels * scores).mean() + 1e-4 * sum((p * p).sum() for p in net.parameters())
        ((scores > 0) == (labels > 0)).double().mean()
        net.zero_grad()
        loss.backward()
        lr = 1.0 - 0.9 * k / 100
        with torch.no_grad():
            for p in net.parameters():
                p -= lr * p.grad
        return float(loss)

    return step


# --- MNIST 784-16-16-10 --------------------------------------------------------------------------------


def _mnist_batch(size: int) -> tuple[Any, Any]:
    import numpy

    from microgrid import data

    train, _ = data.mnist()
    return numpy.array(train.X[:size]), numpy.array(train.y[:size])


def _torch_mnist_net() -> Any:
    # 784-16-16-10 with ReLU, in float64, seeded
    torch = _torch()
    torch.manual_seed(0)
    layers = [torch.nn.Linear(784, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(16, 10)).double()


def mnist(contender: str, size: int) -> float:
    """Seconds for forward and backward of the mean cross-entropy of a batch."""
    images, labels = _mnist_batch(size)
    if contender == "torch":
        torch = _torch()
        net = _torch_mnist_net()
        x, y = torch.tensor(images), torch.tensor(labels)

        def step() -> None:  # gradients accumulate (no zeroing on either side)
            torch.nn.functional.cross_entropy(net(x), y).backward()

        return _timed(step, warm=2, runs=15)
    import numpy

    from microgrid import Tape, Value
    from microgrid.losses import cross_entropy
    from microgrid.nn import MLP

    model = MLP(784, [16, 16, 10], init="he", seed=0)
    if contender == "graph mode":

        def graph_step() -> None:
            rows = [list(map(Value, image)) for image in images.tolist()]
            cross_entropy([model(row) for row in rows], labels.tolist()).backward()

        return _timed(graph_step, warm=0, runs=1)
    rows = numpy.hstack([images, labels[:, None].astype(float)])
    tape = Tape.trace(lambda *v: cross_entropy(model(list(v[:784])), v[784]), rows[0].tolist())
    assert tape.backend == "numpy"
    if contender == "tape numpy":

        def step() -> None:
            tape(rows)
            tape.backward(reduce="mean")

        return _timed(step, warm=2, runs=15)
    # the parameters kept in an array: nothing read from a Value or added into a .grad
    vector = tape.parameters_to_vector()
    return _timed(lambda: tape.value_and_grad(rows, vector, reduce="mean"), warm=2, runs=15)


def mnist_epoch(contender: str) -> float:
    """Seconds for one epoch of fit on the 4,000 shipped MNIST training images, batches of 100, Adam."""
    from microgrid import data

    train, _ = data.mnist()
    if contender == "torch":
        torch = _torch()
        net = _torch_mnist_net()
        images, labels = torch.tensor(train.X, dtype=torch.float64), torch.tensor(train.y)
        optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
        start = time.perf_counter()
        for batch in torch.randperm(len(train), generator=torch.Generator().manual_seed(0)).split(100):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(net(images[batch]), labels[batch]).backward()
            optimizer.step()
        return time.perf_counter() - start
    from microgrid.nn import MLP
    from microgrid.train import fit

    model = MLP(784, [16, 16, 10], init="he", seed=0)
    start = time.perf_counter()
    history = fit(
        model,
        train,
        loss="cross_entropy",
        optimizer="adam",
        lr=0.01,
        epochs=1,
        batch_size=100,
        progress=False,
        compile=contender == "tape numpy",
    )
    assert history.backend == ("numpy" if contender == "tape numpy" else "graph")
    return time.perf_counter() - start


# --- capture and compile --------------------------------------------------------------------------------


def compile_cost(what: str, measure: str) -> float:
    """Microseconds (or transient bytes, with measure="bytes") per instruction of Tape(...)."""
    import tracemalloc

    from microgrid import Tape, Value

    if what.startswith("mnist"):
        from microgrid.losses import cross_entropy
        from microgrid.nn import MLP

        model = MLP(784, [16, 16, 10], seed=0)
        inputs = [Value(0.5) for _ in range(785)]
        output = cross_entropy(model(inputs[:784]), inputs[784])
    elif what.startswith("sum"):
        from microgrid import value_sum

        inputs = [Value(0.001 * (i % 997)) for i in range(2 * N)]
        output = value_sum(w * x for w, x in zip(inputs[:N], inputs[N:]))
    else:
        inputs = [Value(1.0)]
        output = inputs[0]
        for _ in range(int(what) // 2):
            output = output * 1.0001 + 0.0001
    backend = None if what.startswith("mnist") else "python"
    per = _operands(output) if what.endswith("operand") else _instructions(output)
    if measure == "bytes":
        tracemalloc.start()
        tape = Tape(output, inputs, backend=backend)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del tape
        return peak / per
    start = time.perf_counter()
    Tape(output, inputs, backend=backend)
    return (time.perf_counter() - start) * 1e6 / per


def _instructions(output: Any) -> int:
    from microgrid.engine import topological_order

    return sum(1 for node in topological_order(output) if node.children)


def _operands(output: Any) -> int:
    from microgrid.engine import topological_order

    return sum(len(node.children) for node in topological_order(output))


# --- running them ------------------------------------------------------------------------------------


def _torch() -> Any:
    import torch

    torch.set_num_threads(1)
    return torch


def _value_class(library: str) -> Any:
    if library == "micrograd":
        from micrograd.engine import Value

        return Value
    from microgrid import Value

    return Value


WORKLOADS: dict[str, tuple[Callable[[str], float], list[str], str]] = {
    # name: (measure, contenders, the unit of the figure)
    "chain": (chain, ["tape", "floats", "graph mode", "micrograd", "torch"], "s"),
    "sum_of_products": (sum_of_products, ["tape", "floats", "graph mode", "micrograd", "torch"], "s"),
    "demo_step": (
        demo_step,
        ["tape numpy", "tape python", "floats", "graph mode", "micrograd", "torch"],
        "s",
    ),
    "mnist_100": (lambda c: mnist(c, 100), ["tape, vector", "tape numpy", "torch", "graph mode"], "s"),
    "mnist_1000": (lambda c: mnist(c, 1000), ["tape, vector", "tape numpy", "torch"], "s"),
    "mnist_epoch": (mnist_epoch, ["tape numpy", "torch", "graph mode"], "s"),
    "compile_us": (
        lambda c: compile_cost(c, "time"),
        [
            "10000",
            "50000",
            "200000",
            "sum per instruction",
            "sum per operand",
            "mnist per instruction",
            "mnist per operand",
        ],
        "us",
    ),
    "compile_bytes": (
        lambda c: compile_cost(c, "bytes"),
        ["10000", "50000", "200000", "sum per instruction", "mnist per instruction", "mnist per operand"],
        "bytes",
    ),
}


def _worker(workload: str, contender: str) -> None:
    sys.setrecursionlimit(1_000_000)  # micrograd's topological sort recurses once per node
    import threading

    threading.stack_size(1 << 29)
    result: dict[str, float] = {}
    thread = threading.Thread(target=lambda: result.update(value=WORKLOADS[workload][0](contender)))
    thread.start()
    thread.join()
    print(json.dumps(result))


def measure(workload: str, repeats: int) -> dict[str, float]:
    """Each contender's median over ``repeats`` fresh processes, the contenders taking turns."""
    contenders = WORKLOADS[workload][1]
    results: dict[str, list[float]] = {c: [] for c in contenders}
    for _ in range(repeats):
        for contender in contenders:
            if (
                contender in ("graph mode", "micrograd")
                and workload.startswith("mnist")
                and results[contender]
            ):
                continue  # seconds per step: once is enough to see it
            command = [sys.executable, __file__, "--worker", workload, contender]
            done = subprocess.run(
                command, capture_output=True, text=True, env={**os.environ, **ONE_THREAD}, check=False
            )
            if done.returncode != 0:
                print(
                    f"  ({workload}, {contender}) failed: {done.stderr.strip().splitlines()[-1:]}",
                    file=sys.stderr,
                )
                continue
            results[contender].append(json.loads(done.stdout.strip().splitlines()[-1])["value"])
    return {c: statistics.median(v) for c, v in results.items() if v}


def table(workloads: list[str], repeats: int) -> str:
    """The markdown table of the workloads: each contender's figure, and the tape against it."""
    rows = ["| workload | contender | figure | the tape is |", "|---|---|---:|---:|"]
    for workload in workloads:
        medians = measure(workload, repeats)
        unit = WORKLOADS[workload][2]
        ours_name = next((c for c in medians if c.startswith("tape")), None)
        for contender, value in medians.items():
            if workload.startswith("compile") or ours_name is None:
                ratio = ""
            elif contender == ours_name:
                ratio = "(this)"
            else:
                ratio = _ratio(medians[ours_name], value)
            if unit == "s":
                figure = f"{value * 1e3:.3f} ms" if value < 1 else f"{value:.2f} s"
            else:
                figure = f"{value:,.1f} {unit}" if unit == "us" else f"{value:,.0f} {unit}"
            if workload.startswith("compile") and contender.isdigit():
                figure += " per instruction"
                contender = f"chain of {int(contender):,}"
            rows.append(f"| {workload} | {contender} | {figure} | {ratio} |")
            print(rows[-1], flush=True)
    return "\n".join(rows)


def _ratio(ours: float, theirs: float) -> str:
    return f"{theirs / ours:.1f}x faster" if theirs >= ours else f"{ours / theirs:.2f}x slower"


def main() -> None:
    """Print the tables (or run one worker)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worker", nargs=2, metavar=("WORKLOAD", "CONTENDER"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", choices=sorted(WORKLOADS), help="some workloads only")
    args = parser.parse_args()
    if args.worker:
        _worker(*args.worker)
        return
    print(f"python {sys.version.split()[0]}, median of {args.repeats} fresh processes per figure\n")
    print("| workload | contender | figure | the tape is |\n|---|---|---:|---:|")
    table(args.only or list(WORKLOADS), args.repeats)


if __name__ == "__main__":
    main()
