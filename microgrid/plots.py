"""Pictures of training with matplotlib: the loss curve and a 2-D decision boundary.

matplotlib is optional and imported only here, inside the functions; without
it they raise ModuleNotFoundError saying what to install. Figures are drawn
with matplotlib's object interface (no pyplot), so nothing changes the user's
global matplotlib state or needs a display: they render with Agg. Each is an
``InlineFigure``, a Figure that Jupyter shows as a picture by itself.
"""

from __future__ import annotations

import os
from typing import Any

from microgrid.data import Dataset
from microgrid.nn import Module
from microgrid.train import History, predict


def loss_curve(history: History, path: str | os.PathLike[str] | None = None) -> Any:
    """Plot the loss of every step (smoothed too, with minibatches) and the accuracy of every epoch.

    Returns the matplotlib ``Figure`` (shown as a picture in Jupyter); with
    ``path`` it is also saved there (the format follows the extension: .png,
    .svg, .pdf). Raises ModuleNotFoundError, saying what to install, without
    matplotlib.
    """
    figure = _figure(figsize=(9.0, 3.6))
    from matplotlib.ticker import MaxNLocator

    loss_axes, accuracy_axes = figure.subplots(1, 2)
    steps = range(1, len(history.step_loss) + 1)
    if len(history.step_loss) > len(history.loss):  # minibatches: noisy steps, so smooth them
        loss_axes.plot(steps, history.step_loss, color="tab:blue", lw=0.8, alpha=0.35, label="each step")
        loss_axes.plot(steps, _smoothed(history.step_loss), color="tab:blue", lw=1.5, label="smoothed")
        loss_axes.legend(loc="upper right")
    else:
        loss_axes.plot(steps, history.step_loss, color="tab:blue", lw=1.5)
    loss_axes.set(title="training loss", xlabel="step", ylabel="loss")
    if history.step_loss and min(history.step_loss) > 0.0:
        loss_axes.set_yscale("log")  # losses shrink by orders of magnitude
    epochs = range(1, len(history.accuracy) + 1)
    accuracy_axes.plot(epochs, history.accuracy, color="tab:blue", label="train (during the epoch)")
    if history.test_accuracy:
        accuracy_axes.plot(epochs, history.test_accuracy, color="tab:orange", label="test (after the epoch)")
    accuracy_axes.set(title="accuracy", xlabel="epoch", ylabel="fraction right", ylim=(-0.02, 1.02))
    accuracy_axes.legend(loc="lower right")
    accuracy_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axes in (loss_axes, accuracy_axes):
        axes.grid(alpha=0.3)
    _save(figure, path)
    return figure


def decision_boundary(
    model: Module,
    data: Dataset,
    path: str | os.PathLike[str] | None = None,
    *,
    resolution: int = 80,
    title: str = "decision boundary",
) -> Any:
    """Colour the plane by the class the model picks, with ``data``'s points on top.

    For 2-D data only. The grid is ``resolution`` x ``resolution`` points over
    the data's range plus a margin; each is one forward pass, so the cost grows
    with the square. Returns the matplotlib ``Figure`` (shown as a picture in
    Jupyter), saved to ``path`` if given. Raises ValueError for data that is
    not 2-D, and ModuleNotFoundError, saying what to install, without matplotlib.
    """
    if data.n_features != 2:
        raise ValueError(f"a decision boundary needs 2-D data, got {data.n_features} features")
    if data.n_classes is None:
        raise ValueError("a decision boundary needs class labels; this dataset has real-valued targets")
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    xs, ys = _grid_axis([x[0] for x in data.X], resolution), _grid_axis([x[1] for x in data.X], resolution)
    classes = predict(model, [[x, y] for y in ys for x in xs])
    grid = [classes[row * resolution : (row + 1) * resolution] for row in range(resolution)]

    colours = [f"C{k % 10}" for k in range(data.n_classes)]
    figure = _figure(figsize=(5.0, 4.6))
    from matplotlib.colors import ListedColormap

    axes = figure.subplots()
    # one flat cell per grid point: class k gets colour k, with no blending between classes
    palette = ListedColormap(colours)
    axes.pcolormesh(
        xs, ys, grid, cmap=palette, vmin=-0.5, vmax=data.n_classes - 0.5, shading="nearest", alpha=0.3
    )
    for k, colour in enumerate(colours):
        points = [x for x, label in zip(data.X, data.y) if label == k]
        axes.scatter(
            [p[0] for p in points], [p[1] for p in points], s=18, color=colour, edgecolors="k", lw=0.4
        )
    axes.set(title=title, xlabel="x[0]", ylabel="x[1]")
    _save(figure, path)
    return figure


INSTALL_MATPLOTLIB = (
    'microgrid.plots needs matplotlib: pip install -e ".[plot]" in your microgrid checkout '
    "(or pip install matplotlib)"
)


def _figure(figsize: tuple[float, float]) -> Any:
    # an empty InlineFigure, or the error that says how to get matplotlib
    try:
        from microgrid.inline_figure import InlineFigure
    except ModuleNotFoundError as error:
        if error.name is None or error.name.partition(".")[0] != "matplotlib":
            raise
        raise ModuleNotFoundError(INSTALL_MATPLOTLIB, name=error.name) from error
    return InlineFigure(figsize=figsize, layout="constrained")


def _smoothed(values: list[float], weight: float = 0.9) -> list[float]:
    # an exponential moving average, bias-corrected so the start is not pulled towards 0
    smoothed, average = [], 0.0
    for k, value in enumerate(values, start=1):
        average = weight * average + (1.0 - weight) * value
        smoothed.append(average / (1.0 - weight**k))
    return smoothed


def _grid_axis(values: list[float], resolution: int) -> list[float]:
    # the data's range with a 10% margin on each side, evenly spaced
    low, high = min(values), max(values)
    margin = 0.1 * (high - low) or 1.0
    low, high = low - margin, high + margin
    return [low + (high - low) * i / (resolution - 1) for i in range(resolution)]


def _save(figure: Any, path: str | os.PathLike[str] | None) -> None:
    if path is not None:
        figure.savefig(path, dpi=110)
