"""The lessons in notebooks/ run top to bottom and show what they promise.

Each notebook is executed by nbclient in a real Jupyter kernel (the venv's
ipykernel, kernel "python3") with MICROGRID_FAST=1, which makes the heavy
lessons use less data and fewer steps. A cell that raises fails the test, and
the lessons' own asserts check their numbers; here we check what they show:
drawings (SVG), plots (PNG) and key lines of text. The committed notebooks are
checked too: executed with the full settings, their outputs kept, small files.

To re-execute the notebooks in place with the full settings, as committed:
``.venv/bin/python tests/test_notebooks.py [name ...]``.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

# What each lesson must show: at least this many outputs of each kind, and these lines.
SHOWS: dict[str, dict[str, Any]] = {
    "01_derivatives_and_the_chain_rule": {
        "image/svg+xml": 1,
        "image/png": 1,
        "text": ["forward error = 4.5h + h², central error = h²: checked", "-y(1 - y)x by hand"],
    },
    "02_gradient_descent": {
        "image/png": 3,
        "text": [
            "each step multiplies x - 3 by 1 - 2 lr: checked",
            "x is multiplied by 1 - 2 lr",
            "lr 0.19: x arrives while y zigzags: checked",
        ],
    },
    "03_neurons_layers_mlp": {
        "image/svg+xml": 2,
        "image/png": 2,
        "text": ["three linear layers are one linear map: checked"],
    },
    "04_training_on_moons": {
        "image/png": 4,
        "text": ["after 100 steps the network classifies 100% of the points right", "OverflowError"],
    },
    "05_digits": {
        "image/png": 7,
        "text": [
            "13,002 parameters, from 'layers.0.neurons.0.w.0' to 'layers.2.neurons.9.b'",
            "by sum_squared_error",
            "the same, divided by 10 outputs",
            "2(a - y) and p - y: checked",
            "steps on a compiled tape (numpy backend)",
            "first-layer neurons never on",
            "weights are unchanged by training: True",
            "test images misclassified",
            "the gradient of the average cost is the average of the examples' gradients: checked on 20",
            "nudge it down",
            "a step of -ε·g lowers the average cost",
            "d cost/d z_j times the image: checked",
            "PyTorch",
        ],
    },
    "06_feature_attribution": {
        "image/png": 5,
        "text": [
            "most salient pixel",
            "their first-layer weights are the initial random ones: True",
            "dp/dx = p (dout_k/dx - sum_j p_j dout_j/dx): checked",
            "0 first-layer neurons are on",
            "its saliency maps are exactly 0, for all 10 classes: checked",
        ],
    },
    "07_property_based_gradient_testing": {
        "image/svg+xml": 1,
        "text": [
            "test_softsign_gradient(",
            "MISMATCH",
            "the rule of 'softsign' is wrong at softsign(-1.0)",
            "rule_agrees_with_forward(",
            "check_operation('softsign') passes too",
            "on top of every random graph",
        ],
    },
    "08_higher_order_derivatives": {"image/png": 2, "text": ["Hessian matches the hand-derived one"]},
    "09_backprop_step_by_step": {"text/html": 1, "text": ["d out/d w1 = d out/d x1w1 · d x1w1/d w1"]},
    "10_from_graph_to_tape": {
        "text": [
            "the same float",
            "GuardError: a branch of the traced function goes the other way here",
            "TapeMismatchError:",
            "W2 relu(W1 x + b1) + b2 computed by hand: checked",
            "the same losses: checked",
        ],
    },
}
# Lessons that read MICROGRID_FAST, with a line only their full run prints.
FULL_RUN_SHOWS = {
    "04_training_on_moons": "each trained for 100 steps",
    "05_digits": "4000 training images, 1000 test images",
    "06_feature_attribution": "4000 training images, 1000 test images",
    "10_from_graph_to_tape": "timed with the full settings: 100,000 steps and 100 images",
}
MAX_BYTES = 400_000  # a committed notebook must stay light to read on a code host


def read(name: str) -> Any:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def execute(name: str) -> Any:
    """Run notebooks/<name>.ipynb top to bottom in a fresh kernel; return it with its outputs.

    The file is not changed. Raises ``CellExecutionError`` (with the cell and its
    traceback) if a cell fails. The outputs are kept as a live run shows them
    (see ``as_shown``).
    """
    notebook = read(name)
    run(notebook)
    return notebook


def run_cells(sources: list[str], widgets: bool = True) -> Any:
    """A notebook of these code cells, run in a fresh kernel; for tests of what Jupyter shows."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    run(notebook, widgets)
    return notebook


def run(notebook: Any, widgets: bool = False) -> None:
    """Execute ``notebook`` in place in a fresh kernel, its outputs kept ``as_shown``.

    Without ``widgets`` the kernel runs as if ipywidgets were not installed,
    whether or not ``make lab`` installed it: a progress bar is then text,
    which a saved notebook keeps (a widget's picture is not saved with it).
    """
    hide_widgets = "--IPKernelApp.exec_lines=import sys; sys.modules['ipywidgets'] = None"
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=900,
        record_timing=False,  # no timestamps: re-running an unchanged lesson changes no byte
        resources={"metadata": {"path": str(NOTEBOOKS)}},
        extra_arguments=[] if widgets else [hide_widgets],
    )
    client.execute()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = as_shown(cell.outputs)


def as_shown(cell_outputs: list[Any]) -> list[Any]:
    """A cell's outputs as Jupyter shows them live, in the order they came.

    Text written to one stream with nothing between is one output (as a
    frontend joins it); a line redrawn with carriage returns (a progress bar)
    keeps only its last drawing. Text is never moved past a picture: a loop
    that prints and then displays shows each print before its picture.
    """
    shown: list[Any] = []
    for out in cell_outputs:
        previous = shown[-1] if shown else None
        if out.output_type == "stream" and previous is not None and previous.get("name") == out.name:
            previous.text += out.text
        else:
            shown.append(out)
    for out in shown:
        if out.output_type == "stream":
            out.text = REDRAWN.sub("", BACKSPACED.sub("", out.text))
    return shown


REDRAWN = re.compile(r"[^\n]*\r(?=[^\n])")  # a line's text before a \r that starts a new drawing
BACKSPACED = re.compile(r"[^\n]\x08")  # a character and the backspace that erases it


def outputs(notebook: Any) -> list[Any]:
    return [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]


def count(notebook: Any, mime: str) -> int:
    return sum(1 for out in outputs(notebook) if mime in out.get("data", {}))


def printed(notebook: Any) -> str:
    """Everything the notebook printed or displayed as text."""
    texts = [out.get("text", "") for out in outputs(notebook) if out.output_type == "stream"]
    texts += [out.data.get("text/plain", "") for out in outputs(notebook) if "data" in out]
    return "\n".join(texts)


def stdout_by_cell(notebook: Any) -> list[str]:
    """What each code cell printed, less hypothesis's hint to reproduce a failure.

    Hypothesis adds that hint only on a CI machine (its ``ci`` profile), so it is
    not part of what a learner's kernel prints.
    """
    return [
        REPRODUCE_HINT.sub(
            "",
            "".join(out.text for out in cell.outputs if out.output_type == "stream" and out.name == "stdout"),
        )
        for cell in notebook.cells
        if cell.cell_type == "code"
    ]


REPRODUCE_HINT = re.compile(
    r"\nYou can reproduce this test case by temporarily adding @reproduce_failure\(.*?\) as a decorator on your test function\n"
)


def kinds(notebook: Any) -> list[list[str]]:
    """Each code cell's outputs, by kind: "stream:stdout", "display_data:image/png text/plain", ..."""
    return [
        [
            f"stream:{out.name}"
            if out.output_type == "stream"
            else f"{out.output_type}:{' '.join(sorted(out.get('data', {})))}"
            for out in cell.outputs
        ]
        for cell in notebook.cells
        if cell.cell_type == "code"
    ]


def check_shows(name: str, notebook: Any) -> None:
    assert not [out for out in outputs(notebook) if out.output_type == "error"]
    for mime, least in SHOWS[name].items():
        if mime != "text":
            assert count(notebook, mime) >= least, f"{name} shows fewer than {least} {mime} outputs"
    text = printed(notebook)
    for line in SHOWS[name].get("text", []):
        assert line in text, f"{name} does not show {line!r}"


@pytest.fixture(scope="module")
def fast_runs() -> dict[str, Any]:
    """Each notebook executed once in MICROGRID_FAST mode, on demand."""
    return {}


def execute_fast(name: str, runs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    if name not in runs:
        monkeypatch.setenv("MICROGRID_FAST", "1")  # the kernel inherits this environment
        runs[name] = execute(name)
    return runs[name]


def test_the_notebooks_are_the_lessons_listed_in_the_readme() -> None:
    on_disk = sorted(path.stem for path in NOTEBOOKS.glob("*.ipynb"))
    assert on_disk == sorted(SHOWS)
    readme = (NOTEBOOKS / "README.md").read_text(encoding="utf-8")
    listed = re.findall(r"\(([0-9]{2}_[a-z_]+)\.ipynb\)", readme)
    assert listed == on_disk, "README.md lists each notebook once, in order"


@pytest.mark.parametrize("name", sorted(SHOWS))
def test_lessons_use_only_public_names(name: str) -> None:
    code = "\n".join(cell.source for cell in read(name).cells if cell.cell_type == "code")
    assert "import microgrid" in code or "from microgrid" in code
    assert not re.findall(r"from microgrid[\w.]* import [^\n]*\b_[a-z]", code), "a private name is imported"
    assert not re.findall(r"\._[a-z]\w*", code), "a private attribute is used"


@pytest.mark.parametrize("name", sorted(SHOWS))
def test_notebook_runs_top_to_bottom_and_shows_its_lesson(
    name: str, fast_runs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    check_shows(name, execute_fast(name, fast_runs, monkeypatch))


@pytest.mark.parametrize("name", sorted(set(SHOWS) - set(FULL_RUN_SHOWS)))
def test_notebook_prints_the_same_numbers_as_its_committed_run(
    name: str, fast_runs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # These lessons ignore MICROGRID_FAST, and every number in them is seeded:
    # a fresh run reproduces the committed outputs exactly.
    fresh = execute_fast(name, fast_runs, monkeypatch)
    assert stdout_by_cell(fresh) == stdout_by_cell(read(name))


@pytest.mark.parametrize("name", sorted(SHOWS))
def test_committed_notebook_carries_the_outputs_of_a_full_run(name: str) -> None:
    notebook = read(name)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code_cells] == list(range(1, len(code_cells) + 1)), (
        f"{name} is committed executed, top to bottom, in one run"
    )
    check_shows(name, notebook)
    if name in FULL_RUN_SHOWS:
        assert FULL_RUN_SHOWS[name] in printed(notebook), f"{name} was committed from a MICROGRID_FAST run"


@pytest.mark.parametrize("name", sorted(SHOWS))
def test_committed_outputs_come_in_the_order_a_live_run_makes_them(
    name: str, fast_runs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = execute_fast(name, fast_runs, monkeypatch)
    assert kinds(read(name)) == kinds(fresh)


def test_text_printed_between_pictures_stays_between_them() -> None:
    notebook = run_cells(
        [
            "from IPython.display import SVG, display\n"
            "for k in range(3):\n"
            "    print(f'step {k}')\n"
            '    display(SVG(\'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\'))',
            "import sys\nprint('a')\nprint('b')\n_ = sys.stderr.write('\\r 10%\\r 50%\\r100%\\n')",
        ]
    )
    loop, text = notebook.cells
    assert kinds(notebook)[0] == ["stream:stdout", "display_data:image/svg+xml text/plain"] * 3
    assert [out.text for out in loop.outputs if out.output_type == "stream"] == [
        "step 0\n",
        "step 1\n",
        "step 2\n",
    ]
    assert [(out.name, out.text) for out in text.outputs] == [("stdout", "a\nb\n"), ("stderr", "100%\n")]


@pytest.mark.parametrize("name", sorted(SHOWS))
def test_committed_notebook_is_small(name: str) -> None:
    size = (NOTEBOOKS / f"{name}.ipynb").stat().st_size
    assert size <= MAX_BYTES, f"{name}.ipynb is {size:,} bytes; keep figures small"


if __name__ == "__main__":
    os.environ.pop("MICROGRID_FAST", None)  # the full settings: what a learner gets
    for name in sys.argv[1:] or sorted(SHOWS):
        nbformat.write(execute(name), NOTEBOOKS / f"{name}.ipynb")
        print(f"executed {name}.ipynb")
