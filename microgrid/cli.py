"""The command line: ``microgrid train`` trains a network, ``microgrid draw`` draws an expression."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


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


def _add_train(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    train = commands.add_parser("train", help="train a network on a dataset")
    train.set_defaults(run=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    raise NotImplementedError("train: to be written (issue 3)")


# --- microgrid draw -----------------------------------------------------------


_DRAW_FORMATS = ("svg", "png", "pdf", "dot", "gv")


def _add_draw(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    draw = commands.add_parser(
        "draw",
        help="draw an expression's graph with its gradients",
        description="Build the graph of EXPRESSION with the given values, run backward, print "
        "each variable's gradient and draw the graph. Example: "
        'microgrid draw "tanh(w*x + b)" x=0.5 w=-2 b=1 -o neuron.svg',
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
        default="graph.svg",
        help="the drawing's file; its extension picks the format: .svg .png .pdf, or .dot/.gv "
        "for the DOT source (needs no Graphviz) (default: graph.svg)",
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

    output = Path(args.output)
    extension = output.suffix.lower().lstrip(".")
    try:
        if extension not in _DRAW_FORMATS:
            raise expression.ExpressionError(
                f"cannot tell the drawing's format from {args.output!r}: end it in "
                + ", ".join(f".{f}" for f in _DRAW_FORMATS)
            )
        parsed = expression.parse(args.expression)
        values = expression.parse_assignments(args.values)
        result, leaves = parsed.evaluate(values)
    except expression.ExpressionError as error:
        print(f"microgrid draw: error: {error}", file=sys.stderr)
        return 2
    except expression.EvaluationError as error:
        print(f"microgrid draw: error: {error}", file=sys.stderr)
        return 1
    try:
        result.backward()
        graph = viz.draw_dot(
            result, rankdir=args.rankdir, show_grad=not args.no_grad, shade_grad=args.shade_grad
        )
        print(f"f = {parsed.text} = {viz.format_number(result.data, 6)}")
        for name, leaf in leaves.items():
            print(f"df/d{name} = {viz.format_number(leaf.grad, 6)}")
        if extension in ("dot", "gv"):
            output.write_text(graph.source)
        else:
            output.write_bytes(graph.pipe(format=extension))
    except (
        expression.EvaluationError,
        ArithmeticError,
        ValueError,
        viz.GraphvizNotFoundError,
        OSError,
    ) as error:
        print(f"microgrid draw: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {output}")
    return 0
