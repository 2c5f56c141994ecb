"""Short summaries for people looking at objects: a few numbers, and HTML tables for Jupyter.

A dataset of 1,797 examples or a history of 1,000 steps must not print every
number. These helpers elide long lists (the first and last few, like numpy)
and build the small HTML tables that Jupyter shows for ``_repr_html_``. They
use only the standard library, so every room of the package may use them.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TypeVar

ELLIPSIS = "…"
T = TypeVar("T")


def elided(items: Sequence[T], keep: int = 3) -> list[T | str]:
    """``items`` whole when short, else the first and last ``keep`` with ``ELLIPSIS`` between them."""
    if len(items) <= 2 * keep + 1:
        return list(items)
    return [*items[:keep], ELLIPSIS, *items[-keep:]]


def short_list(numbers: Sequence[float]) -> str:
    """A list of numbers to 4 significant digits, elided when long: ``[0.6931, 0.4, …, 0.0123]``."""
    return "[" + ", ".join(x if isinstance(x, str) else f"{x:.4g}" for x in elided(numbers)) + "]"


def html_table(caption: str, columns: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    """An HTML table with a caption and a header row; every cell is escaped as text."""

    def cells(tag: str, values: Sequence[object]) -> str:
        return "".join(f"<{tag}>{html.escape(str(value))}</{tag}>" for value in values)

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return (
        f"<table><caption style='text-align:left'>{html.escape(caption)}</caption>"
        f"<thead><tr>{cells('th', columns)}</tr></thead><tbody>{body}</tbody></table>"
    )
