"""The tape: a recorded graph compiled into a program, replayed at new inputs fast.

``Tape(loss, inputs)`` flattens the graph that made ``loss`` into instructions
(``capture``), writes them as Python (``python_code``) or as numpy operations
over a batch (``numpy_code``), both from the formulas of the table of
operations (``formulas``, ``symbolic``), and replays them; anything that goes
wrong is replayed again on the checked path (``checked``), which raises what
graph mode raises. See ``Tape``.
"""

from __future__ import annotations

from microgrid.tape.checked import GuardError
from microgrid.tape.tape import BACKENDS, Tape, TapeMismatchError

__all__ = ["BACKENDS", "GuardError", "Tape", "TapeMismatchError"]
