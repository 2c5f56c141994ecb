"""The command line: ``microgrid train`` trains a network, ``microgrid draw`` draws an expression."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any


def build_parser() -> argparse.ArgumentParser:
    """The parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="microgrid", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(commands)
    _add_draw(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for bad usage)."""
    args = build_parser().parse_args(argv)
    result: int = args.run(args)
    return result


# --- microgrid train ----------------------------------------------------------

_DATASETS = ("moons", "circles", "spiral", "blobs", "digits")
# micrograd's demo: MLP(2, [16, 16, 1]), hinge + L2 1e-4, full-batch SGD, lr 1.0 -> 0.1 in 100 steps
_MICROGRAD_DEMO: dict[str, Any] = {
    "hidden": [16, 16],
    "init": "uniform",
    "loss": "hinge",
    "l2": 1e-4,
    "optimizer": "sgd",
    "lr": 1.0,
    "schedule": "linear",
    "steps": 100,
    "batch_size": None,
}
_ADAM_FULL_BATCH: dict[str, Any] = {
    **_MICROGRAD_DEMO,
    "init": "he",
    "loss": "cross_entropy",
    "l2": 0.0,
    "optimizer": "adam",
    "lr": 0.05,
    "schedule": "constant",
    "steps": 200,
}
# what training uses for each dataset unless an option says otherwise
_TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "moons": _MICROGRAD_DEMO,
    "circles": _MICROGRAD_DEMO,
    "spiral": _ADAM_FULL_BATCH,
    "blobs": {**_ADAM_FULL_BATCH, "steps": 50},
    "digits": {**_ADAM_FULL_BATCH, "lr": 0.01, "steps": None, "epochs": 5, "batch_size": 16},
}
_SAMPLES = 100  # examples in each generated training set, and in its test set
_DIGITS_TEST_FRACTION = 0.2


def _add_train(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    train = commands.add_parser(
        "train",
        help="train a network on a dataset",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train an MLP on a small dataset and print its train and test accuracy.\n"
        "With --out DIR, also write the model (model.json, for microgrid.serialize.load),\n"
        "the history (history.json), the loss curve (loss.png) and, for 2-D data, the\n"
        "decision boundary (decision_boundary.png). Options left out take the dataset's\n"
        "defaults (below); the default run is micrograd's moons demo.",
        epilog="defaults per dataset:\n"
        + "\n".join(f"  {name}: {_describe_defaults(name)}" for name in _DATASETS),
    )
    add = train.add_argument
    add("--dataset", choices=_DATASETS, default="moons", help="what to learn (default: moons)")
    add(
        "--samples",
        type=_positive_int,
        help=f"generated datasets: examples in the training set, and as many in the test set "
        f"(default: {_SAMPLES}); digits has 1,797, a fifth of them kept for testing",
    )
    add(
        "--hidden", type=_hidden_sizes, metavar="SIZES", help='hidden layer sizes, e.g. "16,16" ("" for none)'
    )
    add(
        "--activation",
        choices=["relu", "tanh", "sigmoid", "leaky_relu"],
        default="relu",
        help="of the hidden layers; the last layer is linear (default: relu)",
    )
    add("--init", choices=["uniform", "xavier", "he"], help="how the weights start: U(-1, 1), Glorot or He")
    add(
        "--loss",
        choices=["hinge", "binary_cross_entropy", "cross_entropy", "mse"],
        help="what training minimizes",
    )
    add("--optimizer", choices=["sgd", "adam"], help="how the parameters are updated")
    add("--lr", type=_positive_float, help="the learning rate (the starting one with --schedule linear)")
    add("--schedule", choices=["constant", "linear"], help="linear: lr falls linearly to lr/10 over the run")
    add("--l2", type=_non_negative_float, help="weight of the L2 penalty, l2 * sum(p * p)")
    length = train.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=_positive_int, help="passes over the training set")
    length.add_argument("--steps", type=_positive_int, help="parameter updates, one batch each")
    add("--batch-size", type=_positive_int, help="examples per step")
    add(
        "--seed",
        type=int,
        default=0,
        help="seeds the data, the split, the initial weights and the shuffling (default: 0)",
    )
    add("--out", metavar="DIR", help="write model.json, history.json and the plots to this directory")
    add("--no-progress", action="store_true", help="show no progress bar")
    train.set_defaults(run=_run_train, error=train.error)


def _run_train(args: argparse.Namespace) -> int:
    """Train as the options say, print the accuracies, write the results to --out. Exit 2 for bad usage."""
    import sys
    import time

    from microgrid import nn, train

    settings = _train_settings(args)
    training_set, test_set = _train_datasets(args)
    outputs = _output_size(args, settings["loss"], training_set.n_classes)
    if args.out is not None:
        _make_output_directory(args)  # before training, so a bad --out fails at once
    model = nn.MLP(
        training_set.n_features,
        [*settings["hidden"], outputs],
        args.activation,
        init=settings["init"],
        seed=args.seed,
    )
    batch_size = min(settings["batch_size"] or len(training_set), len(training_set))
    steps = settings["steps"] or settings["epochs"] * -(-len(training_set) // batch_size)
    lr = settings["lr"]
    schedule = train.linear_schedule(lr, lr / 10, steps) if settings["schedule"] == "linear" else lr

    print(
        f"{args.dataset}: {len(training_set)} training and {len(test_set)} test examples, "
        f"{training_set.n_features} features, {training_set.n_classes} classes"
    )
    print(
        f"model: MLP({training_set.n_features}, {[*settings['hidden'], outputs]}), {args.activation}, "
        f"{settings['init']} init, {len(model.parameters())} parameters"
    )
    print(f"training: {_describe_training(settings, steps, batch_size, len(training_set))}")
    started = time.perf_counter()
    try:
        history = train.fit(
            model,
            training_set,
            loss=settings["loss"],
            optimizer=settings["optimizer"],
            lr=schedule,
            steps=steps,
            batch_size=batch_size,
            l2=settings["l2"],
            test=test_set,
            seed=args.seed,
            progress=not args.no_progress,
        )
    except ArithmeticError:  # an overflow (the engine names the operation, at length)
        print(f"microgrid train: error: training diverged; try a smaller --lr than {lr:g}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - started
    train_accuracy, test_accuracy = train.evaluate(model, training_set), history.test_accuracy[-1]
    print(
        f"train accuracy {train_accuracy:.1%}, test accuracy {test_accuracy:.1%} "
        f"(final loss {history.loss[-1]:.4g}, {seconds:.1f} s)"
    )
    if args.out is not None:
        _write_train_outputs(args.out, model, history, training_set)
    return 0


def _train_settings(args: argparse.Namespace) -> dict[str, Any]:
    # the dataset's defaults, overridden by the options given
    settings = {"epochs": None, **_TRAIN_DEFAULTS[args.dataset]}
    if args.epochs is not None or args.steps is not None:
        settings["epochs"], settings["steps"] = args.epochs, args.steps
    for key in ("hidden", "init", "loss", "optimizer", "lr", "schedule", "l2", "batch_size"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    return settings


def _train_datasets(args: argparse.Namespace) -> tuple[Any, Any]:
    # (training set, test set): generated data is drawn twice as large and cut in half,
    # so both halves come from one distribution (blobs share their centres)
    from microgrid import data

    if args.dataset == "digits":
        if args.samples is not None:
            args.error("--samples is for the generated datasets; digits has a fixed 1,797 examples")
        return data.digits().split(_DIGITS_TEST_FRACTION, seed=args.seed)
    samples = _SAMPLES if args.samples is None else args.samples
    return data.GENERATORS[args.dataset](2 * samples, seed=args.seed).split(0.5, seed=args.seed)


def _output_size(args: argparse.Namespace, loss: str, n_classes: int) -> int:
    # one score per example for the two-class losses (and mse on two classes), else one per class
    if loss in ("hinge", "binary_cross_entropy"):
        if n_classes != 2:
            args.error(
                f"--loss {loss} is for two classes; {args.dataset} has {n_classes}: use cross_entropy or mse"
            )
        return 1
    return 1 if loss == "mse" and n_classes == 2 else n_classes


def _make_output_directory(args: argparse.Namespace) -> None:
    from pathlib import Path

    try:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        args.error(f"--out {args.out}: cannot make the directory ({error.strerror or error})")


def _write_train_outputs(out: str, model: Any, history: Any, training_set: Any) -> None:
    import dataclasses
    import json
    from pathlib import Path

    from microgrid import serialize

    directory = Path(out)
    serialize.save(model, directory / "model.json")
    (directory / "history.json").write_text(json.dumps(dataclasses.asdict(history), indent=1) + "\n")
    written = ["model.json", "history.json"]
    try:
        from microgrid import plots

        plots.loss_curve(history, directory / "loss.png")
        written.append("loss.png")
        if training_set.n_features == 2:
            plots.decision_boundary(model, training_set, directory / "decision_boundary.png")
            written.append("decision_boundary.png")
    except ImportError as error:  # matplotlib is optional; plots says how to install it
        print(f"no plots: {error}")
    print(f"wrote {', '.join(str(directory / name) for name in written)}")


def _describe_training(settings: dict[str, Any], steps: int, batch_size: int, examples: int) -> str:
    penalty = f" + {settings['l2']:g} * L2" if settings["l2"] else ""
    lr = f"lr {settings['lr']:g}" + (
        f" falling linearly to {settings['lr'] / 10:g}" if settings["schedule"] == "linear" else ""
    )
    batches = "full batch" if batch_size == examples else f"batches of {batch_size}"
    return f"{settings['loss']}{penalty}, {settings['optimizer']} {lr}, {steps} step{'s' if steps > 1 else ''}, {batches}"


def _describe_defaults(dataset: str) -> str:
    # the dataset's defaults written as the options that would set them
    settings = _TRAIN_DEFAULTS[dataset]
    words = [f"--hidden {','.join(map(str, settings['hidden']))}"]
    words += [
        f"--{key} {settings[key]:g}" if isinstance(settings[key], float) else f"--{key} {settings[key]}"
        for key in ("init", "loss", "l2", "optimizer", "lr", "schedule")
    ]
    words.append(
        f"--epochs {settings['epochs']}" if settings.get("epochs") else f"--steps {settings['steps']}"
    )
    words.append(f"--batch-size {settings['batch_size']}" if settings["batch_size"] else "(full batch)")
    return " ".join(words)


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {n}")
    return n


def _positive_float(text: str) -> float:
    x = _finite_float(text)
    if x <= 0.0:
        raise argparse.ArgumentTypeError(f"must be positive, got {x:g}")
    return x


def _non_negative_float(text: str) -> float:
    x = _finite_float(text)
    if x < 0.0:
        raise argparse.ArgumentTypeError(f"must be non-negative, got {x:g}")
    return x


def _finite_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return x


def _hidden_sizes(text: str) -> list[int]:
    if not text.strip():
        return []
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or any(n <= 0 for n in sizes):
        raise argparse.ArgumentTypeError(
            f'expected positive layer sizes separated by commas, like "16,16", got {text!r}'
        )
    return sizes


# --- microgrid draw -----------------------------------------------------------


_DRAW_FORMATS = ("svg", "png", "pdf", "dot", "gv")


# a drawing of a typed expression stays readable, and dot lays it out in well under a second
DRAW_MAX_NODES = 300
# dot is stopped after this long; every expression within DRAW_MAX_NODES is laid out in
# under a second (shared variables are drawn as references, not as long edges)
DRAW_LAYOUT_SECONDS = 10.0


def _add_draw(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    draw = commands.add_parser(
        "draw",
        help="draw an expression's graph with its gradients",
        description="Build the graph of EXPRESSION with the given values, run backward, print "
        "each variable's gradient and draw the graph. Example: "
        'microgrid draw "tanh(w*x + b)" x=0.5 w=-2 b=1 -o neuron.svg. '
        "With --html, also write a page that steps through backpropagation. "
        "An expression that starts with - goes after --, options first: "
        'microgrid draw -o neg.svg -- "-x*y" x=1 y=2',
    )
    draw.add_argument(
        "expression",
        metavar="EXPRESSION",
        help="numbers, variables, + - * / **, unary minus, parentheses and the functions "
        "exp log tanh sigmoid relu leaky_relu softplus sqrt abs sin cos",
    )
    draw.add_argument("values", metavar="NAME=VALUE", nargs="*", help="a value for each variable")
    draw.add_argument(
        "-o",
        "--output",
        help="the drawing's file; its extension picks the format: .svg .png .pdf, or .dot/.gv "
        "for the DOT source (needs no Graphviz) (default: graph.svg, unless --html is given)",
    )
    draw.add_argument(
        "--html",
        metavar="PAGE",
        help="write a self-contained HTML page that steps through backpropagation (buttons, arrow "
        "keys, a slider), e.g. --html backprop.html",
    )
    draw.add_argument(
        "--forward", action="store_true", help="with --html: step through the forward pass first"
    )
    draw.add_argument("--no-grad", action="store_true", help="draw data only, no gradients")
    draw.add_argument(
        "--rankdir", default="LR", choices=["LR", "RL", "TB", "BT"], help="direction (default: LR)"
    )
    draw.add_argument("--shade-grad", action="store_true", help="fill nodes redder the larger their |grad|")
    draw.set_defaults(run=_run_draw)


def _run_draw(args: argparse.Namespace) -> int:
    """Parse, evaluate, backpropagate, print gradients, draw. Exit 2 for bad input, 1 for a failure."""
    import sys
    from pathlib import Path

    from microgrid import expression, viz

    # graph.svg unless only the page was asked for
    output = Path(args.output) if args.output is not None else None if args.html else Path("graph.svg")
    extension = output.suffix.lower().lstrip(".") if output is not None else ""
    try:
        if output is not None and extension not in _DRAW_FORMATS:
            raise expression.ExpressionError(
                f"cannot tell the drawing's format from {args.output!r}: end it in "
                + ", ".join(f".{f}" for f in _DRAW_FORMATS)
            )
        if args.html is not None and not args.html.lower().endswith((".html", ".htm")):
            raise expression.ExpressionError(f"--html {args.html!r}: the page's name must end in .html")
        parsed = expression.parse(args.expression)
        values = expression.parse_assignments(args.values)
        result, leaves = parsed.evaluate(values)
    except expression.ExpressionError as error:
        print(f"microgrid draw: error: {error}", file=sys.stderr)
        return 2
    except expression.EvaluationError as error:
        print(f"microgrid draw: error: {error}", file=sys.stderr)
        return 1
    written = []
    try:
        result.backward()
        graph = viz.draw_dot(
            result,
            rankdir=args.rankdir,
            show_grad=not args.no_grad,
            shade_grad=args.shade_grad,
            max_nodes=DRAW_MAX_NODES,
        )
        print(f"f = {parsed.text} = {viz.format_number(result.data, 6)}")
        for name, leaf in leaves.items():
            print(f"df/d{name} = {viz.format_number(leaf.grad, 6)}")
        if output is not None:
            if extension in ("dot", "gv"):
                output.write_text(graph.source)
            else:
                output.write_bytes(viz.pipe(graph, extension, timeout=DRAW_LAYOUT_SECONDS))
            written.append(output)
        if args.html is not None:
            page = viz.explore(result, forward=args.forward, rankdir=args.rankdir, max_nodes=DRAW_MAX_NODES)
            page.timeout = DRAW_LAYOUT_SECONDS
            written.append(page.save(args.html))
    except viz.GraphTooLargeError:
        print(
            f"microgrid draw: error: the expression's graph has more than {DRAW_MAX_NODES} nodes, "
            "more than a drawing can show (and dot lays out slowly); draw big graphs from Python "
            "with microgrid.viz.draw_dot(..., collapse=...)",
            file=sys.stderr,
        )
        return 2
    except viz.LayoutTimeoutError:
        print(
            f"microgrid draw: error: dot could not lay out the drawing within {DRAW_LAYOUT_SECONDS:g} s "
            "(its graph is too tangled to draw); draw a smaller expression, or write the DOT source "
            "(-o graph.dot) and lay it out yourself",
            file=sys.stderr,
        )
        _remove(written)
        return 2
    except (ArithmeticError, ValueError, RuntimeError, OSError) as error:  # EvaluationError, dot's failures
        print(f"microgrid draw: error: {error}", file=sys.stderr)
        _remove(written)
        return 1
    print(f"wrote {', '.join(str(path) for path in written)}")
    return 0


def _remove(paths: list[Any]) -> None:
    # a failed command leaves no part of its outputs behind
    for path in paths:
        path.unlink(missing_ok=True)
