"""Seconds per training step of micrograd's demo, microgrid against micrograd 0.1.0.

The step: forward of MLP(2, [16, 16, 1]) on 100 moons points, hinge loss plus
an L2 penalty of 1e-4 * sum(p * p), accuracy, zero_grad, backward, and an SGD
update with micrograd's decaying learning rate. micrograd's side is written the
way its demo notebook writes it.

Each (library, garbage collector on/off) runs in a fresh subprocess, so no run
inherits another's heap; a run's figure is the median of its timed steps after
one warm-up step. With several rounds (the runs alternate between libraries) the
smallest median is kept: other load on the machine only ever adds time. Run it:

    python benchmarks/training_step.py            # the table
    python benchmarks/training_step.py --profile  # where microgrid's step spends its time
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import math
import pstats
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

POINTS = 100
SEED = 1337  # micrograd's demo seed, for the weights


def moons(n: int, noise: float = 0.1, seed: int = 0) -> tuple[list[list[float]], list[int]]:
    """Two interleaved half circles with Gaussian noise, labels +1/-1 (like sklearn's make_moons)."""
    rng = random.Random(seed)
    xs, ys = [], []
    for i in range(n):
        upper = i < n // 2
        angle = math.pi * rng.random()
        x, y = (math.cos(angle), math.sin(angle)) if upper else (1 - math.cos(angle), 0.5 - math.sin(angle))
        xs.append([x + rng.gauss(0, noise), y + rng.gauss(0, noise)])
        ys.append(1 if upper else -1)
    return xs, ys


def microgrid_step_function() -> Callable[[int], float]:
    """One training step with microgrid's nn, losses and optim."""
    from microgrid.losses import accuracy, hinge, l2
    from microgrid.nn import MLP
    from microgrid.optim import SGD

    xs, ys = moons(POINTS)
    random.seed(SEED)
    model = MLP(2, [16, 16, 1])
    optimizer = SGD(model.parameters(), lr=lambda k: 1.0 - 0.9 * k / 100)

    def step(k: int) -> float:
        scores = [model(x) for x in xs]
        total_loss = hinge(scores, ys) + l2(model.parameters(), 1e-4)
        accuracy(scores, ys)
        optimizer.zero_grad()
        total_loss.backward()
        optimizer.step()
        return total_loss.data

    return step


def micrograd_step_function(library: str = "micrograd") -> Callable[[int], float]:
    """One training step as micrograd's demo notebook writes it, on micrograd or on microgrid."""
    if library == "micrograd":
        from micrograd.engine import Value
        from micrograd.nn import MLP
    else:  # the same code with only the import changed
        from microgrid import Value  # type: ignore[assignment]
        from microgrid.nn import MLP  # type: ignore[assignment]

    xs, ys = moons(POINTS)
    random.seed(SEED)
    model = MLP(2, [16, 16, 1])

    def step(k: int) -> float:
        inputs = [list(map(Value, xrow)) for xrow in xs]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(ys, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        alpha = 1e-4
        reg_loss = alpha * sum(p * p for p in model.parameters())
        total_loss = data_loss + reg_loss
        [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(ys, scores)]
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        return float(total_loss.data)

    return step


STEP_FUNCTIONS = {"microgrid": microgrid_step_function, "micrograd": micrograd_step_function}


def worker(library: str, gc_on: bool, steps: int) -> None:
    """Time the steps in this process and print the seconds of each as JSON."""
    step = STEP_FUNCTIONS[library]()
    if not gc_on:
        gc.disable()
    step(0)  # warm-up
    seconds = []
    for k in range(1, steps + 1):
        start = time.perf_counter()
        step(k)
        seconds.append(time.perf_counter() - start)
    print(json.dumps(seconds))


def profile(steps: int) -> None:
    """Print where microgrid's step spends its time (gc on, as users have it)."""
    step = microgrid_step_function()
    step(0)
    profiler = cProfile.Profile()
    profiler.enable()
    for k in range(1, steps + 1):
        step(k)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(18)


def measure(library: str, gc_on: bool, steps: int) -> float:
    """The median seconds per step, from a fresh subprocess."""
    command = [sys.executable, __file__, "--worker", library, "--gc", "on" if gc_on else "off"]
    result = subprocess.run([*command, "--steps", str(steps)], capture_output=True, text=True, check=True)
    return statistics.median(json.loads(result.stdout.splitlines()[-1]))


def table(steps: int, rounds: int) -> str:
    """The markdown table: seconds per step and how many times faster microgrid is."""
    rows = ["| gc | micrograd 0.1.0 (s/step) | microgrid (s/step) | speed-up |", "|---|---:|---:|---:|"]
    for gc_on in (True, False):
        runs = [
            (measure("micrograd", gc_on, steps), measure("microgrid", gc_on, steps)) for _ in range(rounds)
        ]
        theirs, ours = min(t for t, _ in runs), min(o for _, o in runs)
        rows.append(f"| {'on' if gc_on else 'off'} | {theirs:.4f} | {ours:.4f} | {theirs / ours:.1f}x |")
    return "\n".join(rows)


def main() -> None:
    """Print the table (or run one worker, or the profile)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=5, help="timed steps per run (after 1 warm-up)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per configuration; the best is kept")
    parser.add_argument("--profile", action="store_true", help="profile microgrid's step instead")
    parser.add_argument("--worker", choices=sorted(STEP_FUNCTIONS), help=argparse.SUPPRESS)
    parser.add_argument("--gc", choices=["on", "off"], default="on", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.gc == "on", args.steps)
    elif args.profile:
        profile(args.steps)
    else:
        print(
            f"Training step of micrograd's demo: MLP(2, [16, 16, 1]), {POINTS} moons points, Python {sys.version.split()[0]}\n"
        )
        print(table(args.steps, args.rounds))


if __name__ == "__main__":
    main()
