"""Any text reaches Graphviz verbatim: labels and operation names, rendered by the real `dot`."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgrid import viz
from microgrid.engine import Value

SVG = "{http://www.w3.org/2000/svg}"

HOSTILE = [
    "&amp;",  # an XML entity: shown as typed, not as "&"
    "&lt;b&gt; &#65; a & b",
    "\\N \\G \\E \\T \\H \\L",  # Graphviz's escString substitutions (node name, graph name, ...)
    "\\l\\r\\n",  # and its line-break escapes, as two characters each
    "ends in a backslash \\",
    "\\",
    "\\\\",
    "<b>",  # an HTML-like label, if passed on unquoted
    "<<b>bold</b>>",
    '"',
    'say "hi" \\"',
    '"]; evil -> n0; x [label="',  # would add a node and an edge if not escaped
    "} | { <port> | a",  # record structure
    "é € 😀 日本",
    "a\u2028b",
]


def drawn(graph: object) -> tuple[dict[str, list[str]], int]:
    """Node id -> its texts, and the number of edges, from the SVG the real dot writes."""
    svg = ET.fromstring(graph.pipe(format="svg"))  # type: ignore[attr-defined]
    found = {}
    for g in svg.iter(SVG + "g"):
        if g.get("class") == "node":
            found[g.find(SVG + "title").text] = [t.text or "" for t in g.iter(SVG + "text")]  # type: ignore[union-attr]
    edges = sum(1 for g in svg.iter(SVG + "g") if g.get("class") == "edge")
    return found, edges


def seen(lines: list[str]) -> list[str]:
    """The lines as a reader sees them: a no-break space is a space."""
    return [line.replace("\xa0", " ") for line in lines]


def labelled(label: str, op: str = "*") -> Value:
    x = Value(2.0, label)
    y = x * 3.0
    y.op = op  # the name of a user's own operation, as drawn
    return y


@pytest.mark.parametrize("text", HOSTILE)
def test_a_label_is_drawn_verbatim_and_changes_nothing_else(text: str) -> None:
    found, edges = drawn(viz.draw_dot(labelled(text), legend=False))
    assert len(found) == 3 and edges == 2  # x, y and the operation: no node or edge added
    assert found["n0"] == [text, "data 2", "grad 0"]


@pytest.mark.parametrize("text", HOSTILE)
def test_an_operation_name_is_drawn_verbatim_and_changes_nothing_else(text: str) -> None:
    found, edges = drawn(viz.draw_dot(labelled("x", op=text), legend=False))
    assert len(found) == 3 and edges == 2
    assert found["n1op"] == [text + "(3)"]  # the op and its constant


def test_a_newline_breaks_the_line_and_nothing_else() -> None:
    found, _ = drawn(viz.draw_dot(labelled("two\nlines"), legend=False))
    assert found["n0"] == ["two", "lines", "data 2", "grad 0"]


def test_a_100_kb_label_is_drawn_whole() -> None:
    text = "&\\<" * 34_000  # 102,000 characters, each escaped: past dot's 16,384-byte strings
    found, _ = drawn(viz.draw_dot(labelled(text), legend=False))
    assert found["n0"] == [text, "data 2", "grad 0"]
    found, _ = drawn(viz.draw_dot(labelled("x", op=text), legend=False))
    assert found["n1op"] == [text + "(3)"]


@pytest.mark.parametrize("bad", ["\x00", "a\x00b", "\x1b[31m", "tab\there", "\r", "\x7f", "\ud800", "\uffff"])
def test_what_graphviz_cannot_draw_is_refused_naming_the_character(bad: str) -> None:
    char = next(c for c in bad if c not in "abtherm[31")
    with pytest.raises(ValueError, match=rf"cannot draw a label .*U\+{ord(char):04X}"):
        viz.draw_dot(labelled(bad))
    with pytest.raises(ValueError, match=rf"cannot draw an operation's name .*U\+{ord(char):04X}"):
        viz.draw_dot(labelled("x", op=bad))


DRAWABLE = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x7f\ufffe\uffff", min_codepoint=0x20),
    max_size=40,
)


@settings(max_examples=25, deadline=None)
@given(DRAWABLE, DRAWABLE)
def test_any_drawable_text_is_drawn_as_written(label: str, op: str) -> None:
    y = labelled(label or "x", op=op or "*")
    found, edges = drawn(viz.draw_dot(y, legend=False))
    assert len(found) == 3 and edges == 2
    # dot writes a run of spaces as space, no-break space, ...: SVG keeps them so
    assert seen(found["n0"][: label.count("\n") + 1]) == seen((label or "x").split("\n"))
    assert seen(found["n1op"]) == seen(viz.op_label(y).split("\n"))
