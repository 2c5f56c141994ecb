"""PyTorch as an optional oracle: tests marked ``needs_torch`` skip, saying how to install it.

``make test`` installs torch==2.13.0 where it can; the rest of each test file runs
either way.
"""

from __future__ import annotations

import pytest

try:
    import torch
    import torch.nn.functional as F  # noqa: N812 (torch's own convention)
except ImportError:  # the tests that use them are skipped below
    torch = None  # type: ignore[assignment]
    F = None  # type: ignore[assignment]

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed: pip install torch==2.13.0")

__all__ = ["F", "needs_torch", "torch"]
