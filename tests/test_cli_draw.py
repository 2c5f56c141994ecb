"""`microgrid draw`, run as a user runs it: a subprocess, real files, the real `dot`."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from microgrid.expression import functions

SVG = "{http://www.w3.org/2000/svg}"


def draw(*args: str, cwd: Path, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path} if path is not None else None
    return subprocess.run(
        [sys.executable, "-m", "microgrid", "draw", *args], capture_output=True, text=True, cwd=cwd, env=env
    )


def printed(stdout: str) -> dict[str, float]:
    """``df/dx = 0.25`` lines -> {"x": 0.25}."""
    return {
        line.split(" = ")[0][4:]: float(line.split(" = ")[1])
        for line in stdout.splitlines()
        if line.startswith("df/d")
    }


def test_draw_prints_the_gradients_and_writes_the_svg(tmp_path: Path) -> None:
    run = draw("tanh(w*x + b)", "x=0.5", "w=-2", "b=1.5", "-o", "neuron.svg", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    local = 1 - math.tanh(0.5) ** 2  # tanh' at w*x + b = 0.5
    grads = printed(run.stdout)
    assert list(grads) == ["w", "x", "b"]
    assert grads == pytest.approx({"w": 0.5 * local, "x": -2 * local, "b": local}, rel=1e-5)
    assert run.stdout.splitlines()[0] == f"f = tanh(w*x + b) = {math.tanh(0.5):.6g}"
    svg = ET.parse(tmp_path / "neuron.svg").getroot()
    texts = [t.text for t in svg.iter(SVG + "text")]
    assert {"x", "w", "b", "data 0.5", "data -2", "tanh", "*", "+"} <= set(texts)
    assert f"grad {-2 * local:.4g}" in texts


def test_the_extension_picks_the_format_and_no_grad_rankdir_apply(tmp_path: Path) -> None:
    for name, start in (("g.png", b"\x89PNG"), ("g.pdf", b"%PDF")):
        assert draw("x * y", "x=2", "y=3", "-o", name, cwd=tmp_path).returncode == 0
        assert (tmp_path / name).read_bytes().startswith(start)
    run = draw("x ** 2", "x=3", "-o", "g.dot", "--no-grad", "--rankdir", "TB", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    source = (tmp_path / "g.dot").read_text()
    assert "rankdir=TB" in source and "grad" not in source and "**2" in source
    run = draw("x", "x=1", "-o", "g.jpeg2000", cwd=tmp_path)
    assert run.returncode == 2 and "end it in .svg, .png, .pdf, .dot, .gv" in run.stderr


def test_dot_output_needs_no_graphviz_and_images_say_how_to_install_it(tmp_path: Path) -> None:
    run = draw("x * y", "x=2", "y=3", "-o", "g.dot", cwd=tmp_path, path=str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert "{x|data\\ 2|grad\\ 3}" in (tmp_path / "g.dot").read_text()
    run = draw("x * y", "x=2", "y=3", "-o", "g.svg", cwd=tmp_path, path=str(tmp_path))
    assert run.returncode == 1
    assert "apt install graphviz" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "g.svg").exists()


@pytest.mark.parametrize(
    ("expression", "quoted"),
    [
        ("__import__('os').system('touch pwned')", "`__import__('os').system` at column 1"),
        ("x.__class__", "`x.__class__` at column 1"),
        ("open('pwned', 'w')", "`open` at column 1"),
        ("x + [y for y in x]", "`[y for y in x]` at column 5"),
        ("x # comment", "`#` at column 3"),
        ("x + " + "-" * 100_000 + "x", "nested too deeply"),
    ],
)
def test_hostile_expressions_are_refused_with_exit_2_and_run_nothing(
    tmp_path: Path, expression: str, quoted: str
) -> None:
    run = draw(expression, "x=1", "-o", "g.svg", cwd=tmp_path)
    assert run.returncode == 2
    assert quoted in run.stderr
    assert "Traceback" not in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no pwned, no drawing


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["x * y", "x=1"], 2, "no value given for variable y"),
        (["x", "x=1", "y=2"], 2, "variable y not in the expression"),
        (["x", "x=1", "x=2"], 2, "x is given twice"),
        (["x", "x=two"], 2, "the value of x must be a number, got 'two'"),
        (["x +", "x=1"], 2, "not a valid expression"),
        (["leaky_relu(x, " + "9" * 300 + "9" * 10 + ")", "x=-1"], 2, "numbers must be finite floats"),
        (["leaky_relu(x, " + "9" * 5000 + ")", "x=-1"], 2, "one has thousands of digits"),
        (["log(x)", "x=0"], 1, "log(0.0) is undefined: non-positive input; in `log(x)`"),
        (["1 / (x - 1)", "x=1"], 1, "division by zero"),
        (["exp(x)", "x=1000"], 1, "overflows a float"),
    ],
)
def test_bad_input_and_engine_errors_get_a_clear_message_not_a_traceback(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    run = draw(*args, cwd=tmp_path)
    assert run.returncode == code
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_an_expression_too_big_to_draw_is_refused_before_dot_runs(tmp_path: Path) -> None:
    expression = " + ".join(["x*x"] * 200)  # 400 nodes, past the command's limit of 300
    result = draw(expression, "x=1", cwd=tmp_path)
    assert result.returncode == 2
    assert "more than 300 nodes" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "graph.svg").exists()


def test_an_expression_starting_with_minus_goes_after_double_dash(tmp_path: Path) -> None:
    result = draw("-o", "neg.svg", "--", "-x*y", "x=1", "y=2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "df/dx = -2" in result.stdout and (tmp_path / "neg.svg").exists()


@pytest.mark.parametrize(
    "expression",
    [
        "+".join(["x"] * 150),  # a leaf feeding every rank: 5-7 s before
        "+".join(["x*y"] * 99),  # 99 products over 2 variables: 70-90 s before
        "+".join(["v0*v1"] * 149),  # 893 characters, 299 Values: 7 minutes before
    ],
)
def test_shared_variables_feeding_every_rank_are_drawn(tmp_path: Path, expression: str) -> None:
    names = sorted(set(expression.replace("*", "+").split("+")))
    run = draw(expression, *[f"{n}=1.5" for n in names], "-o", "g.svg", cwd=tmp_path)
    assert run.returncode == 0, run.stderr  # within DRAW_LAYOUT_SECONDS, or it would exit 2
    svg = ET.parse(tmp_path / "g.svg").getroot()
    texts = [t.text for t in svg.iter(SVG + "text")]
    assert texts.count(names[0]) > 2  # the variable's record, and references beside far uses


def test_a_layout_past_the_time_limit_is_refused_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from microgrid import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "DRAW_LAYOUT_SECONDS", 0.001)  # the real dot, stopped at once
    assert cli.main(["draw", "tanh(w*x + b)", "x=1", "w=2", "b=3", "-o", "g.png"]) == 2
    error = capsys.readouterr().err
    assert "dot could not lay out the drawing within 0.001 s" in error and "-o graph.dot" in error
    assert list(tmp_path.iterdir()) == []


def test_html_writes_the_explorer_page(tmp_path: Path) -> None:
    run = draw(
        "tanh(w*x + b)", "x=0.5", "w=-2", "b=1.5", "--html", "backprop.html", "--forward", cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "wrote backprop.html"
    page = (tmp_path / "backprop.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "microgridExplorer(" in page
    assert "forward: the leaves hold their values: w = -2, x = 0.5, b = 1.5" in page
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backprop.html"]  # no graph.svg unless asked
    run = draw("x*y", "x=1", "y=2", "-o", "g.svg", "--html", "p.html", cwd=tmp_path)
    assert run.returncode == 0 and (tmp_path / "g.svg").exists() and (tmp_path / "p.html").exists()
    run = draw("x", "x=1", "--html", "page.txt", cwd=tmp_path)
    assert run.returncode == 2 and "the page's name must end in .html" in run.stderr


# the table's functions as a fresh process has them (the README's example registers one more here)
BUILT_IN_FUNCTIONS = list(functions())


def test_help_describes_the_expressions_the_table_allows(tmp_path: Path) -> None:
    run = draw("--help", cwd=tmp_path)
    assert run.returncode == 0
    text = " ".join(run.stdout.split())  # argparse wraps lines
    assert "+ - * / % **" in text and "atan2(x, y)" in text and "leaky_relu(x, number=0.01)" in text
    assert all(name in text for name in BUILT_IN_FUNCTIONS)
