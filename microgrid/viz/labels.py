"""The text of a drawing: numbers, operation names, and DOT strings that Graphviz shows verbatim.

Every string that reaches Graphviz (a label, an operation's name, a module's
title) goes through ``dot_string``: whatever it holds, it is drawn as written
and cannot change the drawing's structure. The few characters Graphviz cannot
draw are refused with a ValueError naming the text.
"""

from __future__ import annotations

from microgrid.engine import Value

_OPERATORS = ("+", "-", "*", "/", "**")

# dot's scanner refuses a quoted string longer than 16,384 bytes; DOT joins
# "a" + "b", so a long text goes in pieces of at most 4,000 escaped characters
# (16,000 bytes in UTF-8)
_PIECE = 4000
# characters a record label gives a meaning (fields, ports), and the space,
# which records collapse unless escaped
_RECORD_SPECIALS = frozenset("{}|<> ")


def format_number(x: float, digits: int = 4) -> str:
    """``x`` in at most ``digits`` significant digits, compactly: ``-0.0012``, ``3.142``, ``1.2e+05``.

    Trailing zeros are dropped (``2.0`` is ``2``); ``-0.0`` is ``0``; inf and nan are ``inf``, ``nan``.
    Raises ValueError if ``digits`` is not positive.
    """
    if digits < 1:
        raise ValueError(f"digits must be positive, got {digits}")
    if x == 0.0:
        return "0"  # also for -0.0, which would read as a sign error
    return f"{x:.{digits}g}"


def op_label(node: Value) -> str:
    """The text of ``node``'s operation node: its op and its constants, e.g. ``**2``, ``leaky_relu(0.01)``.

    An operator with a constant operand shows it: ``x * 3`` is ``*3``, ``x - (-1)``
    is ``-(-1)``. An empty string for a leaf.
    """
    consts = [format_number(k) for k in node.const]
    if not consts:
        return node.op
    if node.op in _OPERATORS:
        k = consts[0]
        return f"{node.op}{k}" if not k.startswith("-") else f"{node.op}({k})"
    return f"{node.op}({', '.join(consts)})"


def check_drawable(text: str, what: str = "a label") -> str:
    """Return ``text`` if Graphviz can draw it; else raise ValueError naming the character.

    Graphviz reads C strings and writes XML: a NUL, another control character
    (newlines excepted: they break the line), a lone surrogate or U+FFFE/U+FFFF
    cannot be drawn.
    """
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string, got {type(text).__name__}: {text!r}")
    for ch in text:
        code = ord(ch)
        if (
            (code < 0x20 and ch != "\n")
            or code == 0x7F
            or 0xD800 <= code <= 0xDFFF
            or code in (0xFFFE, 0xFFFF)
        ):
            shown = text if len(text) <= 60 else text[:57] + "..."
            raise ValueError(
                f"cannot draw {what} {shown!r}: Graphviz cannot draw the character {ch!r} "
                f"(U+{code:04X}); remove it or give the node another label"
            )
    return text


def dot_string(text: str, *, record: bool = False, what: str = "a label") -> str:
    r"""``text`` as a quoted DOT string that Graphviz draws verbatim (``record``: as a record field).

    Backslashes, quotes and ``&`` lose their meaning (so ``\N``, ``&amp;`` and
    ``<b>`` are shown as typed); a newline breaks the line; a long text is
    split into pieces joined by DOT's ``+``. Raises ValueError, naming the
    character, for what Graphviz cannot draw (see ``check_drawable``).
    """
    return _quoted(_escape(check_drawable(text, what), record))


def record_field(text: str, *, what: str = "a label") -> str:
    """``text`` escaped as one field of a record label (to go inside ``dot_record``)."""
    return _escape(check_drawable(text, what), record=True)


def dot_record(fields: list[str]) -> str:
    """A quoted record label ``{ a | b | c }`` from fields escaped by ``record_field``."""
    return _quoted("{" + "|".join(fields) + "}")  # no spaces: beside an escaped space they would show


def _quoted(escaped: str) -> str:
    # pieces of at most _PIECE characters, none ending inside an escape (\" would
    # not close the string)
    pieces = []
    while len(escaped) > _PIECE:
        cut = _PIECE
        while _trailing_backslashes(escaped, cut) % 2 == 1:
            cut -= 1
        pieces.append(escaped[:cut])
        escaped = escaped[cut:]
    pieces.append(escaped)
    return " + ".join(f'"{piece}"' for piece in pieces)


def _trailing_backslashes(text: str, end: int) -> int:
    count = 0
    while end - count > 0 and text[end - count - 1] == "\\":
        count += 1
    return count


def _escape(text: str, record: bool) -> str:
    if record and text != text.strip(" "):
        # a record trims spaces at either end of a field, even escaped ones; entities it keeps
        body = text.strip(" ")
        lead = len(text) - len(text.lstrip(" "))
        trail = len(text) - lead - len(body)
        return "&#32;" * lead + _escape(body, record) + "&#32;" * trail
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")  # \N, \G, \l ... would be substituted
        elif ch == '"':
            out.append('\\"')
        elif ch == "&":
            out.append("&amp;")  # &lt; and &#65; would be read as entities
        elif ch == "\n":
            out.append("\\n")  # records drop a raw newline; \n breaks the line in any label
        elif record and ch in _RECORD_SPECIALS:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)
