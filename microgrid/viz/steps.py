"""``backward_steps``: the backward pass as a sequence of drawings, one per step.

Each frame is a ``graphviz.Digraph`` of the whole graph at one step of a
``Walkthrough``: the node processed outlined in red, the local derivatives on
the edges it multiplies by, each gradient shown once it is final (``grad ?``
before, ``grad 0.5 + ?`` while partly summed). Frames save as image files or a
GIF; in Jupyter the sequence displays as the explorer, to step through.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from microgrid.engine import Value
from microgrid.viz.explorer import Explorer
from microgrid.viz.render import Style, checked_rankdir
from microgrid.viz.scene import Scene
from microgrid.viz.walk import Step, Walkthrough

if TYPE_CHECKING:
    import graphviz


class BackwardSteps(Sequence["graphviz.Digraph"]):
    """The backward pass as drawings, one per step (the seed, then each node processed).

    Index it or iterate over it for the frames (``graphviz.Digraph`` each);
    ``steps`` holds each step's caption and chain-rule products; ``save_frames``
    writes the frames as numbered image files, ``save_gif`` as an animation.
    In Jupyter it shows the explorer (``explore()``), stepping through the same steps.
    """

    def __init__(self, walkthrough: Walkthrough, style: Style) -> None:
        self.walkthrough = walkthrough
        self.style = style
        self.frames = [walkthrough.frame(k, style) for k in range(len(walkthrough))]

    @property
    def steps(self) -> list[Step]:
        """Each frame's step: its caption, nodes, chain-rule products and the gradients made final."""
        return self.walkthrough.steps

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: Any) -> Any:
        return self.frames[index]

    def __iter__(self) -> Iterator[graphviz.Digraph]:
        return iter(self.frames)

    def __repr__(self) -> str:
        return f"<BackwardSteps: {len(self)} frames of the backward pass; .save_frames(dir), .save_gif(path)>"

    def explore(self) -> Explorer:
        """The same steps as an interactive page (see ``microgrid.viz.explore``)."""
        return Explorer(self.walkthrough, Style(self.style.rankdir, legend=False))

    def _repr_html_(self) -> str:
        return self.explore()._repr_html_()

    def save_frames(self, directory: str | Path, format: str = "svg") -> list[Path]:
        """Write each frame as ``step_000.svg``, ``step_001.svg``, ... in ``directory`` (created if needed).

        ``format`` is any Graphviz output format ("svg", "png", "pdf").
        Returns the paths written. Raises GraphvizNotFoundError without ``dot``.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        width = max(len(str(len(self.frames) - 1)), 3)
        paths = []
        for i, frame in enumerate(self.frames):
            path = directory / f"step_{i:0{width}d}.{format}"
            path.write_bytes(frame.pipe(format=format))
            paths.append(path)
        return paths

    def save_gif(self, path: str | Path, *, seconds_per_frame: float = 1.0) -> Path:
        """Write the frames as one looping animated GIF at ``path``; returns the path.

        Needs Pillow (``pip install pillow``) and Graphviz's ``dot``.
        Raises ImportError naming ``pip install pillow`` if Pillow is missing.
        """
        try:
            from PIL import Image
        except ImportError:
            raise ImportError("save_gif needs Pillow: pip install pillow") from None
        images = [Image.open(io.BytesIO(frame.pipe(format="png"))).convert("RGB") for frame in self.frames]
        # frames differ a little in size (labels come and go): pad all to the largest
        size = (max(im.width for im in images), max(im.height for im in images))
        padded = []
        for im in images:
            canvas = Image.new("RGB", size, "white")
            canvas.paste(im, (0, 0))
            padded.append(canvas)
        path = Path(path)
        padded[0].save(
            path, save_all=True, append_images=padded[1:], duration=int(seconds_per_frame * 1000), loop=0
        )
        return path


def backward_steps(
    root: Value,
    *,
    rankdir: str = "LR",
    model: Any = None,
    collapse: str | None = None,
    max_nodes: int = 200,
) -> BackwardSteps:
    """The backward pass from ``root``, drawn one step at a time.

    Step 0 is the seed (d out/d out = 1); each later step is one node (with
    ``collapse``, one neuron or layer) passing its gradient to its operands, in
    reverse topological order. A node's gradient appears the moment it is final
    (every node that uses it processed); the edges of the node processed carry
    the local derivatives the chain rule multiplies by. Gradients are computed
    with the engine's rules into a separate table: no ``.grad`` is changed.

    ``collapse`` ("neuron" or "layer", with ``model=``) steps a network a neuron
    or a layer at a time, as ``draw_dot`` draws it.

    Returns a BackwardSteps (a sequence of ``graphviz.Digraph``, one per step).
    Raises GraphTooLargeError past ``max_nodes`` (suggesting ``collapse``).
    """
    style = Style(rankdir=checked_rankdir(rankdir))
    scene = Scene.build(root, model=model, collapse=collapse, max_nodes=max_nodes)
    return BackwardSteps(Walkthrough(scene), style)
