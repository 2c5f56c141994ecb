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


def _add_draw(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    draw = commands.add_parser("draw", help="draw an expression's graph with its gradients")
    draw.set_defaults(run=_run_draw)


def _run_draw(args: argparse.Namespace) -> int:
    raise NotImplementedError("draw: to be written (issue 4)")
