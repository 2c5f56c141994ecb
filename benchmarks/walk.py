"""Would a simpler backward walk keep the engine's speed? Three walks side by side, with micrograd.

- ``engine``: microgrid's ``backward()`` as it is: the walk marks nodes in place,
  gradients add up in the nodes' own slots, nodes of one or two children are read
  from their slots and their rule called on floats directly.
- ``dict walk``: autodidact's shape: a local topological order (an iterative
  depth-first search with a set of visited nodes) and a dict of gradients,
  with the same direct rule calls on slots. Nothing is stored in the nodes.
- ``plain loop``: the same dict walk written as STYLE.md's three lines, with the
  public API only: ``for child, local in zip(node.children, local_derivatives(node))``.
- ``micrograd``: micrograd 0.1.0's ``backward()`` (recursive order, closures).

The two simpler walks add their gradients into ``.grad`` at the end and leave
out what the engine's pass also does (checking every gradient for overflow,
all-or-nothing updates, taking turns between threads): they are lower bounds on
the cost of a dict walk. Every (workload, walk) runs in a fresh process,
``--repeats`` times, the walks taking turns; the figures are medians. Timed:
the forward pass and the backward pass separately (the forward is the same for
the three microgrid walks).

    python benchmarks/walk.py --repeats 5
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

N = 100_000
WALKS = ("engine", "dict walk", "plain loop", "micrograd")


# --- the two simpler walks -----------------------------------------------------------------


def dict_walk_backward(root: Any) -> None:
    """backward() as a local order and a dict of gradients, with the engine's direct rule calls."""
    from microgrid.ops import OPERATIONS

    order = []
    seen = set()
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if node is None:  # marker: everything above the node is placed
            order.append(stack.pop())
        elif node not in seen:
            seen.add(node)
            first = node._first
            if first is not None:
                stack += (node, None, first)
                if node._second is not None:
                    stack.append(node._second)
            elif node.op and getattr(node, "_second", None):
                stack += (node, None)
                stack += node._second
            else:
                order.append(node)
    grads = {root: 1.0}
    get = grads.get
    for node in reversed(order):
        g = get(node)
        first = node._first
        if first is None:
            if node.op and getattr(node, "_second", None):
                from microgrid.engine import local_derivatives

                for child, local in zip(node.children, local_derivatives(node)):
                    grads[child] = get(child, 0.0) + local * g
            continue
        rule = OPERATIONS[node.op].rule
        second = node._second
        if second is not None:
            d_first, d_second = rule(node._data, first._data, second._data)
            grads[first] = get(first, 0.0) + d_first * g
            grads[second] = get(second, 0.0) + d_second * g
        elif node._const is None:
            grads[first] = get(first, 0.0) + rule(node._data, first._data)[0] * g
        else:
            grads[first] = get(first, 0.0) + rule(node._data, first._data, node._const)[0] * g
    for node, g in grads.items():
        node.grad += g


def plain_loop_backward(root: Any) -> None:
    """backward() as STYLE.md's loop: a local order, a dict of gradients, the public API only."""
    from microgrid.engine import local_derivatives

    order = []
    seen = set()
    stack = [(root, False)]
    while stack:
        node, placed = stack.pop()
        if placed:
            order.append(node)
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))
            stack.extend((child, False) for child in node.children)
    grads = {root: 1.0}
    for node in reversed(order):
        for child, local in zip(node.children, local_derivatives(node)):
            grads[child] = grads.get(child, 0.0) + local * grads[node]
    for node, g in grads.items():
        node.grad += g


def _backward_of(walk: str) -> Callable[[Any], None]:
    if walk == "dict walk":
        return dict_walk_backward
    if walk == "plain loop":
        return plain_loop_backward
    return lambda root: root.backward()


def _value_class(walk: str) -> Any:
    if walk == "micrograd":
        from micrograd.engine import Value
    else:
        from microgrid import Value
    return Value


# --- the workloads: (forward seconds, backward seconds) --------------------------------------


def chain(walk: str) -> tuple[float, float]:
    """y = y * 1.0001 + 0.0001, N times; then backward."""
    value = _value_class(walk)
    start = time.perf_counter()
    y = value(1.0)
    for _ in range(N):
        y = y * 1.0001 + 0.0001
    middle = time.perf_counter()
    _backward_of(walk)(y)
    return middle - start, time.perf_counter() - middle


def sum_of_products(walk: str) -> tuple[float, float]:
    """sum(w_i * x_i) over N pairs with Python's sum; then backward."""
    return _sum_of_products(walk, sum)


def sum_of_products_value_sum(walk: str) -> tuple[float, float]:
    """The same sum as one value_sum node (micrograd, which has none, uses Python's sum)."""
    from microgrid import value_sum

    return _sum_of_products(walk, sum if walk == "micrograd" else value_sum)


def _sum_of_products(walk: str, add_up: Callable[..., Any]) -> tuple[float, float]:
    value = _value_class(walk)
    start = time.perf_counter()
    ws = [value(0.001 * (i % 997)) for i in range(N)]
    xs = [value(0.002 * (i % 991)) for i in range(N)]
    total = add_up(w * x for w, x in zip(ws, xs))
    middle = time.perf_counter()
    _backward_of(walk)(total)
    return middle - start, time.perf_counter() - middle


def training_step(walk: str) -> tuple[float, float]:
    """micrograd's demo step (benchmarks/training_step.py), the median of 5 after a warm-up."""
    import random

    from training_step import POINTS, SEED, moons

    xs, ys = moons(POINTS)
    random.seed(SEED)
    if walk == "micrograd":
        from micrograd.engine import Value
        from micrograd.nn import MLP

        model: Any = MLP(2, [16, 16, 1])

        def loss_of() -> Any:
            scores = [model(list(map(Value, x))) for x in xs]
            losses = [(1 + -y * s).relu() for y, s in zip(ys, scores)]
            return sum(losses) * (1.0 / len(losses)) + 1e-4 * sum(p * p for p in model.parameters())

    else:
        from microgrid.losses import hinge, l2
        from microgrid.nn import MLP as OurMLP

        model = OurMLP(2, [16, 16, 1])

        def loss_of() -> Any:
            return hinge([model(x) for x in xs], ys) + l2(model.parameters(), 1e-4)

    backward = _backward_of(walk)
    forwards, backwards = [], []
    for k in range(6):
        start = time.perf_counter()
        loss = loss_of()
        for p in model.parameters():
            p.grad = 0.0
        middle = time.perf_counter()
        backward(loss)
        end = time.perf_counter()
        for p in model.parameters():
            p.data -= (1.0 - 0.9 * k / 100) * p.grad
        if k:  # the first step warms up
            forwards.append(middle - start)
            backwards.append(end - middle)
    return statistics.median(forwards), statistics.median(backwards)


WORKLOADS = {
    "chain": chain,
    "sum_of_products": sum_of_products,
    "sum_of_products_value_sum": sum_of_products_value_sum,
    "training_step": training_step,
}


def check_walks_agree() -> None:
    """The simpler walks give backward()'s gradients (on a graph with fan-out, constants and sums)."""
    from microgrid import Value, value_sum

    grads = []
    for walk in ("engine", "dict walk", "plain loop"):
        x, y = Value(0.7), Value(-1.3)
        shared = (x * y).tanh()
        out = value_sum([shared * shared, (shared + 2.0).log(), x**3, 2.0 - y]) * shared
        _backward_of(walk)(out)
        grads.append((x.grad, y.grad))
    assert all(math.isclose(a, b, rel_tol=1e-12) for g in grads[1:] for a, b in zip(g, grads[0])), grads


def _worker(workload: str, walk: str) -> None:
    sys.setrecursionlimit(10_000_000)
    threading.stack_size(1 << 29)  # micrograd recurses once per node of depth
    result: dict[str, tuple[float, float]] = {}
    thread = threading.Thread(target=lambda: result.update(value=WORKLOADS[workload](walk)))
    thread.start()
    thread.join()
    print(json.dumps(result["value"]))


def measure(workload: str, repeats: int) -> dict[str, tuple[float, float]]:
    """Each walk's median (forward, backward) seconds over ``repeats`` fresh processes, taking turns."""
    runs: dict[str, list[tuple[float, float]]] = {walk: [] for walk in WALKS}
    for _ in range(repeats):
        for walk in WALKS:
            command = [sys.executable, __file__, "--worker", workload, walk]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            forward, backward = json.loads(out.strip().splitlines()[-1])
            runs[walk].append((forward, backward))
    return {
        walk: (statistics.median(f for f, _ in found), statistics.median(b for _, b in found))
        for walk, found in runs.items()
    }


def main() -> None:
    """Print the table: per workload and walk, forward and backward seconds, and the speed-up on micrograd."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", nargs=2, metavar=("WORKLOAD", "WALK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(*args.worker)
        return
    check_walks_agree()
    print(f"python {sys.version.split()[0]}, N = {N}, median of {args.repeats} fresh processes, gc on\n")
    print(
        "| workload | walk | forward (s) | backward (s) | total (s) | total vs micrograd | backward vs engine |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for workload in WORKLOADS:
        medians = measure(workload, args.repeats)
        theirs = sum(medians["micrograd"])
        engine_backward = medians["engine"][1]
        for walk, (forward, backward) in medians.items():
            vs_engine = "" if walk in ("engine", "micrograd") else f"{backward / engine_backward:.2f}x"
            print(
                f"| {workload} | {walk} | {forward:.4f} | {backward:.4f} | {forward + backward:.4f} "
                f"| {theirs / (forward + backward):.1f}x faster | {vs_engine} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
