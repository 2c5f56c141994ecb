"""Engine benchmarks: microgrid beside micrograd 0.1.0 and plain floats, in one run.

Each (workload, library) runs in a fresh process, several times, the
libraries taking turns; the table shows the median, with the garbage collector
on as users have it (and a collector-off row for micrograd, whose closures
make the collector dominate).

    python benchmarks/run.py            # the engine table
    python benchmarks/run.py --all      # also the training step (training_step.py)

micrograd's recursive topological sort needs the recursion limit (and the C
stack) raised for deep graphs; the worker does that for every library alike.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

N = 100_000
LIBRARIES = ("plain floats", "microgrid", "micrograd")


def _value_class(library: str) -> Any:
    if library == "micrograd":
        from micrograd.engine import Value
    else:
        from microgrid import Value
    return Value


def chain(library: str) -> float:
    """x*1.0001 + 0.0001, N times, then backward; returns seconds."""
    if library == "plain floats":
        return _plain_chain()
    value_class = _value_class(library)
    start = time.perf_counter()
    x = value_class(1.0)
    y = x
    for _ in range(N):
        y = y * 1.0001 + 0.0001
    y.backward()
    return time.perf_counter() - start


def _plain_chain() -> float:
    # the lower bound: the same arithmetic, forward and backward, on floats
    start = time.perf_counter()
    y = 1.0
    for _ in range(N):
        y = y * 1.0001 + 0.0001
    grad = 1.0
    for _ in range(N):
        grad *= 1.0001
    return time.perf_counter() - start


def sum_of_products(library: str) -> float:
    """sum(w_i * x_i) over N terms with Python's sum, then backward; returns seconds."""
    return _sum_of_products(library, sum)


def sum_of_products_value_sum(library: str) -> float:
    """The same sum written idiomatically: microgrid's value_sum (one n-ary node).

    micrograd has no n-ary sum, so its side is Python's sum, as above.
    """
    if library != "microgrid":
        return sum_of_products(library)
    from microgrid import value_sum

    return _sum_of_products(library, value_sum)


def _sum_of_products(library: str, add_up: Any) -> float:
    ws = [0.001 * (i % 997) for i in range(N)]
    xs = [0.002 * (i % 991) for i in range(N)]
    if library == "plain floats":
        start = time.perf_counter()
        total = sum(w * x for w, x in zip(ws, xs))
        grads_w = list(xs)
        grads_x = list(ws)
        del total, grads_w, grads_x
        return time.perf_counter() - start
    value_class = _value_class(library)
    start = time.perf_counter()
    w_values = [value_class(w) for w in ws]
    x_values = [value_class(x) for x in xs]
    total = add_up(w * x for w, x in zip(w_values, x_values))
    total.backward()
    return time.perf_counter() - start


def bytes_per_node(library: str) -> float:
    """Memory held by the graph of sum_of_products, per operation node."""
    if library == "plain floats":
        return 24.0  # one float per step
    value_class = _value_class(library)
    inputs = [value_class(0.5) for _ in range(2 * 1000)]
    tracemalloc.start()
    total = inputs[0] * inputs[1]
    for i in range(1, 1000):
        total = total + inputs[2 * i] * inputs[2 * i + 1]
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return held / 1999  # 1000 products and 999 sums


WORKLOADS = {
    "chain": chain,
    "sum_of_products": sum_of_products,
    "sum_of_products_value_sum": sum_of_products_value_sum,
    "bytes_per_node": bytes_per_node,
}


def _worker(workload: str, library: str, gc_off: bool) -> None:
    sys.setrecursionlimit(10_000_000)
    threading.stack_size(1 << 29)  # micrograd recurses once per node of depth
    result: dict[str, float] = {}

    def run() -> None:
        if gc_off:
            gc.disable()
        result["value"] = WORKLOADS[workload](library)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    print(json.dumps(result))


def measure(workload: str, gc_off: bool, repeats: int) -> dict[str, float]:
    """Each library's median over ``repeats`` fresh processes.

    The libraries take turns, run after run, so a machine that slows down
    partway through slows them all alike and the ratios stay fair.
    """
    results: dict[str, list[float]] = {library: [] for library in LIBRARIES}
    for _ in range(repeats):
        for library in LIBRARIES:
            command = [sys.executable, __file__, "--worker", workload, library]
            if gc_off:
                command.append("--gc-off")
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            results[library].append(json.loads(out.strip().splitlines()[-1])["value"])
    return {library: statistics.median(values) for library, values in results.items()}


def engine_table(repeats: int) -> str:
    """The engine workloads as a markdown table; ratios compare like with like (same gc)."""
    rows = ["| workload | gc | library | result | microgrid is |", "|---|---|---|---|---|"]
    for workload in WORKLOADS:
        unit = "bytes/node" if workload == "bytes_per_node" else "s"
        gc_states = [False] if workload == "bytes_per_node" else [False, True]
        for gc_off in gc_states:
            medians = measure(workload, gc_off, repeats)
            ours = medians["microgrid"]
            for library, value in medians.items():
                ratio = "" if library == "microgrid" else _ratio(workload, ours, value)
                gc_state = "off" if gc_off else "on"
                rows.append(f"| {workload} | {gc_state} | {library} | {value:.4g} {unit} | {ratio} |")
                print(rows[-1], flush=True)
    return "\n".join(rows)


def _ratio(workload: str, ours: float, theirs: float) -> str:
    if workload == "bytes_per_node":
        return f"{theirs / ours:.1f}x smaller" if theirs >= ours else f"{ours / theirs:.1f}x larger"
    return f"{theirs / ours:.1f}x faster" if theirs >= ours else f"{ours / theirs:.1f}x slower"


def main() -> None:
    """Print the engine table (and with --all, the training-step table)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worker", nargs=2, metavar=("WORKLOAD", "LIBRARY"))
    parser.add_argument("--gc-off", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--all", action="store_true", help="also run training_step.py")
    args = parser.parse_args()
    if args.worker:
        _worker(*args.worker, args.gc_off)
        return
    print(f"python {sys.version.split()[0]}, N = {N}, median of {args.repeats} fresh processes\n")
    engine_table(args.repeats)
    if args.all:
        subprocess.run([sys.executable, str(Path(__file__).with_name("training_step.py"))], check=True)


if __name__ == "__main__":
    main()
