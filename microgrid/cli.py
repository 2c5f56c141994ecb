"""The command line: ``microgrid train`` trains a network, ``microgrid draw`` draws an expression."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import microgrid
from microgrid import checks, data, nn, optim, train


def build_parser() -> argparse.ArgumentParser:
    """The parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="microgrid", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {microgrid.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(commands)
    _add_draw(commands)
    for command in commands.choices.values():
        command.set_defaults(command_parser=command)  # main suggests its options for a mistyped one
    parser.set_defaults(commands=list(commands.choices))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for bad usage, 130 for Ctrl-C)."""
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    _refuse_unknown_command(parser, arguments)
    args, unknown = parser.parse_known_args(arguments)
    if unknown:
        _refuse_unknown_options(args.command_parser, unknown)
    try:
        result: int = args.run(args)
    except KeyboardInterrupt:
        print(f"microgrid {args.command}: interrupted", file=sys.stderr)
        return 130
    return result


def _refuse_unknown_command(parser: argparse.ArgumentParser, arguments: list[str]) -> None:
    # "microgrid trian": the command, with the nearest name (argparse suggests only from Python 3.14)
    commands = parser.get_default("commands")
    if arguments and not arguments[0].startswith("-") and arguments[0] not in commands:
        parser.error(
            f"unknown command {arguments[0]!r}{_did_you_mean(arguments[0], commands)}; "
            f"choose from {', '.join(commands)}"
        )


def _refuse_unknown_options(parser: argparse.ArgumentParser, unknown: list[str]) -> NoReturn:
    # "--datset moons": name it and suggest the nearest option, as argparse does on no Python yet
    options = [option for action in parser._actions for option in action.option_strings]
    hints = [_did_you_mean(word.split("=")[0], options) for word in unknown if word.startswith("-")]
    parser.error(f"unrecognized arguments: {' '.join(unknown)}{''.join(hints)}")


def _did_you_mean(word: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


# --- microgrid train ----------------------------------------------------------

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
    # the network of the classic explanation, 784-16-16-10: 400 steps of 100 images, ~91% on
    # the 1,000 held out (seeds 0-9: 90.3-94.2%); the falling lr steadies the last epochs
    "mnist": {
        **_ADAM_FULL_BATCH,
        "lr": 0.01,
        "schedule": "linear",
        "steps": None,
        "epochs": 10,
        "batch_size": 100,
    },
}
_DATASETS = tuple(_TRAIN_DEFAULTS)
_SAMPLES = 100  # examples in each generated training set, and in its test set
_GENERATED_FEATURES = 2  # the generated datasets are points in the plane
_DIGITS_TEST_FRACTION = 0.2
# what the shipped datasets hold, for --help and for a --samples they cannot take
_SHIPPED = {
    "digits": "digits has 1,797, a fifth of them kept for testing",
    "mnist": "mnist has 5,000 shipped images, 1,000 of them kept for testing (or MNIST's 70,000 "
    "with --data-dir)",
}
_OUTPUTS = ("model.json", "history.json", "loss.png", "decision_boundary.png")


def _add_train(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    train_parser = commands.add_parser(
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
    add = train_parser.add_argument
    add("--dataset", **_choices(_DATASETS), default="moons", help="what to learn (default: moons)")
    add(
        "--samples",
        type=_positive_int,
        help=f"generated datasets: examples in the training set, and as many in the test set "
        f"(default: {_SAMPLES}); {'; '.join(_SHIPPED.values())}",
    )
    add(
        "--data-dir",
        metavar="DIR",
        help="mnist: train on the full MNIST, read from its four standard files in DIR "
        "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte, each may be .gz): 60,000 training and 10,000 test images, "
        "MNIST's own split, instead of the 5,000 shipped",
    )
    add(
        "--hidden", type=_hidden_sizes, metavar="SIZES", help='hidden layer sizes, e.g. "16,16" ("" for none)'
    )
    add(
        "--activation",
        **_choices(nn.ACTIVATIONS),
        default="relu",
        help="of the hidden layers; the last layer is linear (default: relu)",
    )
    add(
        "--init",
        **_choices(nn.INITS),
        help="how the weights start: " + _listed(nn.INITS, lambda init: init[0]),
    )
    add(
        "--loss",
        **_choices(train.LOSSES),
        help="what training minimizes: " + _listed(train.LOSSES, lambda loss: loss.summary),
    )
    add(
        "--optimizer",
        **_choices(optim.OPTIMIZERS),
        help="how the parameters are updated: "
        + _listed(optim.OPTIMIZERS, lambda kind: (kind.__doc__ or "").splitlines()[0].rstrip(".")),
    )
    add("--lr", type=_positive_float, help="the learning rate (the starting one with --schedule linear)")
    add(
        "--schedule",
        **_choices(("constant", "linear")),
        help="linear: lr falls linearly to lr/10 over the run",
    )
    add("--l2", type=_non_negative_float, help="weight of the L2 penalty, l2 * sum(p * p)")
    length = train_parser.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=_positive_int, help="passes over the training set")
    length.add_argument("--steps", type=_positive_int, help="parameter updates, one batch each")
    add("--batch-size", type=_positive_int, help="examples per step")
    add(
        "--seed",
        type=int,
        default=0,
        help="seeds the data, the split, the initial weights and the shuffling (default: 0)",
    )
    add(
        "--out",
        metavar="DIR",
        help="write model.json, history.json and the plots to this directory (all of them, or none)",
    )
    add("--no-progress", action="store_true", help="show no progress bar")
    add(
        "--no-compile",
        action="store_true",
        help="train in graph mode (a graph of Values per step) instead of on a compiled tape",
    )
    train_parser.set_defaults(run=_run_train, error=train_parser.error)


def _run_train(args: argparse.Namespace) -> int:
    """Train as the options say, print the accuracies, write the results to --out. Exit 2 for bad usage."""
    import time

    settings = _train_settings(args)
    if args.dataset in data.GENERATORS:  # before drawing any: the examples must fit in memory
        samples = _SAMPLES if args.samples is None else args.samples
        _check_memory(args, examples=2 * samples, features=_GENERATED_FEATURES, sizes=[], batch=0)
    training_set, test_set = _train_datasets(args)
    assert training_set.n_classes is not None  # every dataset here has class labels
    try:
        outputs = train.output_count(settings["loss"], training_set.n_classes)
    except ValueError as error:
        args.error(f"--loss {error} ({args.dataset} has {training_set.n_classes} classes)")
    sizes = [training_set.n_features, *settings["hidden"], outputs]
    batch_size = min(settings["batch_size"] or len(training_set), len(training_set))
    _check_memory(
        args,
        examples=len(training_set) + len(test_set),
        features=training_set.n_features,
        sizes=sizes,
        batch=batch_size,
        bytes_per_feature=_BYTES_PER_PIXEL if args.dataset == "mnist" else _BYTES_PER_FEATURE,
    )
    outputs_written = _outputs(training_set) if args.out is not None else []
    if args.out is not None:
        _check_output_directory(args, outputs_written)  # before training, so a bad --out fails at once
    model = nn.MLP(
        training_set.n_features,
        [*settings["hidden"], outputs],
        args.activation,
        init=settings["init"],
        seed=args.seed,
    )
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
            compile=not args.no_compile,
        )
    except ArithmeticError:  # an overflow (the engine names the operation, at length)
        print(f"microgrid train: error: training diverged; try a smaller --lr than {lr:g}", file=sys.stderr)
        return 1
    except MemoryError:  # the estimate let it start, but the machine had less to give
        print(
            "microgrid train: error: out of memory; try fewer --samples, smaller --hidden or --batch-size",
            file=sys.stderr,
        )
        return 1
    seconds = time.perf_counter() - started
    print(f"engine: {_engine(history)}")
    train_accuracy = train.evaluate(model, training_set, compile=not args.no_compile)
    test_accuracy = history.test_accuracy[-1]
    print(
        f"train accuracy {train_accuracy:.1%}, test accuracy {test_accuracy:.1%} "
        f"(final loss {history.loss[-1]:.4g}, {seconds:.1f} s)"
    )
    if args.out is not None:
        try:
            _write_train_outputs(Path(args.out), outputs_written, model, history, training_set)
        except OSError as error:
            print(
                f"microgrid train: error: cannot write to --out {args.out}: {error}; nothing was written",
                file=sys.stderr,
            )
            return 1
        print(f"wrote {', '.join(str(Path(args.out) / name) for name in outputs_written)}")
    return 0


def _engine(history: train.History) -> str:
    # what ran the steps, in a few words
    if history.backend != "graph":
        return f"a compiled tape, {history.backend} backend"
    if history.not_compiled:
        return f"graph mode (the model and loss did not compile: {history.not_compiled})"
    return "graph mode (--no-compile)"


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
    if args.data_dir is not None and args.dataset != "mnist":
        args.error(f"--data-dir is for --dataset mnist (MNIST's own files), not {args.dataset}")
    if args.dataset in _SHIPPED and args.samples is not None:
        args.error(f"--samples is for the generated datasets; {_SHIPPED[args.dataset]}")
    if args.dataset == "digits":
        return data.digits().split(_DIGITS_TEST_FRACTION, seed=args.seed)
    if args.dataset == "mnist":
        return _mnist(args)
    samples = _SAMPLES if args.samples is None else args.samples
    return data.GENERATORS[args.dataset](2 * samples, seed=args.seed).split(0.5, seed=args.seed)


def _mnist(args: argparse.Namespace) -> tuple[Any, Any]:
    # the shipped 5,000 split by --seed, or MNIST's own 60,000 / 10,000 from --data-dir
    if args.data_dir is None:
        return data.mnist(seed=args.seed)
    refuse: Callable[[str], NoReturn] = args.error  # argparse's: exits 2
    try:
        return data.mnist(args.data_dir)  # --seed still seeds the weights and the shuffling
    except (OSError, ValueError) as error:  # a missing folder or file, a damaged file (DataFileError)
        refuse(f"--data-dir {args.data_dir}: {error}")
    except MemoryError:
        refuse(
            f"--data-dir {args.data_dir}: out of memory reading MNIST (its 70,000 images take "
            "about 0.6 GB, and a run on them about 2 GB)"
        )


# --- what a run needs: memory, and a place to write -----------------------------

# bytes, measured with tracemalloc (each rounded up): an example of the data, with its features
# (a float of its own each; MNIST's pixels are 256 shared floats, so 8 bytes a pixel in its list,
# and 24 more for its row on the tape, a list and an array: 33 measured);
# a parameter (a Value and its place in lists); one example's graph in a step, per weight
# (a weighted_sum node holds its weights and inputs) and per neuron (its nodes)
_BYTES_PER_EXAMPLE, _BYTES_PER_FEATURE, _BYTES_PER_PIXEL = 300, 100, 40
_BYTES_PER_PARAMETER = 160
_GRAPH_BYTES_PER_WEIGHT, _GRAPH_BYTES_PER_NEURON = 24, 500
_BASE_BYTES = 200 * 2**20  # Python, microgrid, and matplotlib for the plots


def _check_memory(
    args: argparse.Namespace,
    examples: int,
    features: int,
    sizes: list[int],
    batch: int,
    bytes_per_feature: int = _BYTES_PER_FEATURE,
) -> None:
    """Exit 2 (before allocating) when the run would need more memory than the machine allows."""
    weights = sum(n_in * n_out for n_in, n_out in zip(sizes, sizes[1:]))
    neurons = sum(sizes[1:])
    parts = {
        "the data": examples * (_BYTES_PER_EXAMPLE + features * bytes_per_feature),
        "the model": (weights + neurons) * _BYTES_PER_PARAMETER,
        "one step's graph": batch * (weights * _GRAPH_BYTES_PER_WEIGHT + neurons * _GRAPH_BYTES_PER_NEURON),
    }
    needed = _BASE_BYTES + sum(parts.values())
    limit = _memory_limit()
    if limit is None or needed <= limit[0]:
        return
    shown = ", ".join(f"{name} {_bytes(size)}" for name, size in parts.items() if size)
    remedy = {
        "the data": "use fewer --samples",
        "the model": "use smaller --hidden sizes",
        "one step's graph": "use smaller --hidden sizes or a smaller --batch-size",
    }[max(parts, key=lambda name: parts[name])]
    args.error(
        f"this run would need about {_bytes(needed)} of memory ({shown}), more than the "
        f"{_bytes(limit[0])} {limit[1]}: {remedy}"
    )


def _memory_limit() -> tuple[int, str] | None:
    """(bytes, where the limit comes from): the least of the machine's memory, its cgroup's and ulimit's."""
    limits: list[tuple[int, str]] = []
    try:
        limits.append((os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine has"))
    except (AttributeError, ValueError, OSError):  # not on every system
        pass
    for control in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            limits.append((int(Path(control).read_text().strip()), "its control group allows"))
        except (OSError, ValueError):  # absent, or "max"
            pass
    try:
        import resource

        for kind, name in ((resource.RLIMIT_AS, "ulimit -v"), (resource.RLIMIT_DATA, "ulimit -d")):
            soft = resource.getrlimit(kind)[0]
            if soft != resource.RLIM_INFINITY:
                limits.append((soft, f"{name} allows"))
    except ImportError:  # Windows
        pass
    return min(limits) if limits else None


def _bytes(size: int) -> str:
    for unit, scale in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}"
    return f"{size / 2**10:.1f} KB"


def _outputs(training_set: data.Dataset) -> list[str]:
    # what --out gets: the model and history, and the plots if matplotlib is installed
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        from microgrid.plots import INSTALL_MATPLOTLIB

        print(f"no plots: {INSTALL_MATPLOTLIB}")
        return list(_OUTPUTS[:2])
    return list(_OUTPUTS if training_set.n_features == 2 else _OUTPUTS[:3])


def _check_output_directory(args: argparse.Namespace, names: list[str]) -> None:
    """Exit 2 unless --out is (or can be made) a directory where every output can be written."""
    import tempfile

    directory = Path(args.out)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        args.error(f"--out {args.out}: cannot make the directory ({error.strerror or error})")
    for name in names:
        path = directory / name
        if path.is_dir():
            args.error(f"--out {args.out}: {path} is a directory, where training writes a file")
        if path.exists() and not path.is_file():
            args.error(f"--out {args.out}: {path} is not a regular file")
        if path.exists() and not os.access(path, os.W_OK):
            args.error(f"--out {args.out}: {path} is read-only")
    try:  # a file made and removed: the one test that says yes for every reason (permissions, a read-only disk)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        args.error(f"--out {args.out}: cannot write there ({error.strerror or error})")


def _write_train_outputs(
    directory: Path, names: list[str], model: Any, history: Any, training_set: Any
) -> None:
    """Write every output, or none: each into a new directory inside --out, then all moved into place."""
    import dataclasses
    import json
    import shutil
    import tempfile

    from microgrid import serialize

    staging = Path(tempfile.mkdtemp(prefix=".microgrid-train-", dir=directory))
    try:
        writers: dict[str, Callable[[Path], Any]] = {
            "model.json": lambda path: serialize.save(model, path),
            "history.json": lambda path: path.write_text(
                json.dumps(dataclasses.asdict(history), indent=1) + "\n"
            ),
            "loss.png": lambda path: _plots().loss_curve(history, path),
            "decision_boundary.png": lambda path: _plots().decision_boundary(model, training_set, path),
        }
        for name in names:
            writers[name](staging / name)
        for name in names:  # renames in one directory: they do not fail for want of space
            os.replace(staging / name, directory / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _plots() -> Any:
    from microgrid import plots

    return plots


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


def _listed(registry: dict[str, Any], describe: Callable[[Any], str]) -> str:
    # a registry's names, each with what it is, for --help
    return "; ".join(f"{name} ({describe(entry)})" for name, entry in registry.items())


def _choices(names: Sequence[str] | dict[str, Any]) -> dict[str, Any]:
    """add_argument's choices, with the nearest name suggested for a mistyped one (on any Python)."""
    known = list(names)

    def choice(text: str) -> str:
        if text not in known:
            raise argparse.ArgumentTypeError(
                f"invalid choice: {text!r}{_did_you_mean(text, known)} (choose from {', '.join(known)})"
            )
        return text

    return {"choices": known, "type": choice}


def _option(
    parse: Callable[[str], Any], check: Callable[[Any, str], Any], expected: str
) -> Callable[[str], Any]:
    """An argparse type: the text parsed (else "expected ..."), then checked by microgrid.checks."""

    def convert(text: str) -> Any:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        try:
            return check(value, "")
        except (TypeError, ValueError) as error:
            raise argparse.ArgumentTypeError(str(error).strip()) from None

    return convert


_positive_int = _option(int, checks.positive_int, "a positive integer")
_positive_float = _option(float, checks.positive, "a number")
_non_negative_float = _option(float, checks.non_negative, "a number")


def _hidden_sizes(text: str) -> list[int]:
    if not text.strip():
        return []
    layer_size = _option(int, checks.positive_int, "a positive integer")
    try:
        return [layer_size(part) for part in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f'expected positive layer sizes separated by commas, like "16,16", got {checks.shown(text)}'
        ) from None


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
    from microgrid import expression

    # the table's grammar; argparse reads % in a help as a format, so it is doubled
    draw.add_argument("expression", metavar="EXPRESSION", help=expression.grammar().replace("%", "%%"))
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
