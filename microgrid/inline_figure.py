"""A matplotlib Figure that shows itself in Jupyter, with no pyplot and no ``%matplotlib inline``.

Jupyter draws a pyplot figure through a hook that pyplot installs; a Figure
made directly (as ``microgrid.plots`` does, to leave the user's pyplot state
alone) has no such hook and would show as ``<Figure size 900x360 ...>``. This
subclass carries its own picture, ``_repr_png_``, and is otherwise a Figure:
``savefig``, axes, pickling all work. Imported only by ``microgrid.plots``,
when matplotlib is there.
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure


class InlineFigure(Figure):
    """A matplotlib ``Figure`` that Jupyter shows as a PNG picture."""

    def _repr_png_(self) -> bytes:
        # at the figure's own dpi (rcParams["figure.dpi"] when made), like Jupyter's inline backend
        picture = io.BytesIO()
        self.savefig(picture, format="png", dpi=self.dpi)
        return picture.getvalue()
