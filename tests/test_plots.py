"""microgrid.plots: figures that Jupyter shows by themselves, and a clear word when matplotlib is missing.

The figures are drawn without pyplot, so Jupyter has no hook of its own to
show them: they carry their picture (``_repr_png_``). Checked in a real
kernel with no ``%matplotlib`` line, and with one (still one picture).
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

from matplotlib.figure import Figure
from test_notebooks import run_cells

from microgrid import data, plots
from microgrid.nn import MLP
from microgrid.train import History

HISTORY = (
    "History(loss=[0.9, 0.4], accuracy=[0.5, 0.9], test_accuracy=[0.5, 0.8], step_loss=[1.0, 0.8, 0.5, 0.3])"
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_plots_show_as_pictures_in_a_plain_kernel_without_matplotlib_inline() -> None:
    setup = (
        "from microgrid import data, plots\nfrom microgrid.nn import MLP\nfrom microgrid.train import History\n"
        f"history = {HISTORY}\nmoons = data.moons(20)"
    )
    with_pyplot = "%matplotlib inline\nimport matplotlib.pyplot as plt\nplots.loss_curve(history)"
    notebook = run_cells(
        [
            setup,
            "plots.loss_curve(history)",
            "plots.decision_boundary(MLP(2, [4, 1]), moons, resolution=8)",
            with_pyplot,
        ]
    )
    _, loss, boundary, pyplot_too = (cell.outputs for cell in notebook.cells)
    for outputs in (loss, boundary, pyplot_too):
        assert [out.output_type for out in outputs] == ["execute_result"]  # one picture, not two
        assert "image/png" in outputs[0].data
        assert outputs[0].data["text/plain"].startswith("<InlineFigure size ")


def test_the_picture_is_a_png_of_the_figures_size() -> None:
    figure = plots.loss_curve(History(loss=[1.0], accuracy=[0.5], step_loss=[1.0]))
    picture = figure._repr_png_()
    assert picture.startswith(PNG_SIGNATURE)
    width, height = int.from_bytes(picture[16:20], "big"), int.from_bytes(picture[20:24], "big")
    assert (width, height) == (round(9.0 * figure.dpi), round(3.6 * figure.dpi))


def test_a_figure_is_still_a_matplotlib_figure(tmp_path: Path) -> None:
    figure = plots.decision_boundary(MLP(2, [4, 1], seed=0), data.moons(20), resolution=8)
    assert isinstance(figure, Figure)
    figure.savefig(tmp_path / "boundary.svg")
    figure.savefig(tmp_path / "boundary.png")
    assert (tmp_path / "boundary.svg").read_text().startswith("<?xml")
    assert (tmp_path / "boundary.png").read_bytes().startswith(PNG_SIGNATURE)
    copy = pickle.loads(pickle.dumps(figure))
    assert type(copy) is type(figure) and len(copy.axes) == len(figure.axes)


def test_without_matplotlib_plots_say_what_to_install() -> None:
    script = (
        "import sys\n"
        "sys.modules['matplotlib'] = None  # as if it were not installed\n"
        "from microgrid import data, plots\nfrom microgrid.nn import MLP\nfrom microgrid.train import History\n"
        "for draw in (lambda: plots.loss_curve(History()),\n"
        "             lambda: plots.decision_boundary(MLP(2, [1]), data.moons(4))):\n"
        "    try:\n"
        "        draw()\n"
        "    except ModuleNotFoundError as error:\n"
        "        print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert lines == [plots.INSTALL_MATPLOTLIB] * 2
    assert 'pip install -e ".[plot]"' in lines[0] and "pip install microgrid" not in lines[0]


def test_without_matplotlib_the_command_line_trains_and_says_the_same(tmp_path: Path) -> None:
    script = (
        "import sys\nsys.modules['matplotlib'] = None\nfrom microgrid.cli import main\n"
        "main(['train', '--steps', '2', '--no-progress', '--out', sys.argv[1]])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert f"no plots: {plots.INSTALL_MATPLOTLIB}" in result.stdout.splitlines()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["history.json", "model.json"]
