"""``python -m microgrid``: the same command line as the ``microgrid`` script."""

from __future__ import annotations

from microgrid.cli import main

raise SystemExit(main())
