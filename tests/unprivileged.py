"""Run a subprocess that file permissions apply to, even when the tests run as root.

Root may write a read-only file or create files in a read-only directory: it
has the capabilities that override file permissions. Tests of "refuses what
``open(p, "w")`` would refuse" run the real code in a real process which, under
root (CI, containers), first drops those two capabilities. It stays root
otherwise, so it can still run this interpreter, wherever it is installed.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

NOBODY = 65534
_PR_CAPBSET_DROP = 24  # prctl: remove a capability from the bounding set, for this process and what it runs
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


def as_unprivileged() -> dict[str, Any]:
    """Keyword arguments for ``subprocess.run`` that make file permissions bind (none unless root)."""
    if os.geteuid() != 0:
        return {}
    assert sys.platform == "linux", "dropping root's file-permission override is written for Linux"
    return {"preexec_fn": _drop_permission_override}


def _drop_permission_override() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def python_command(code: str) -> list[str]:
    """``python -c code`` with this interpreter."""
    return [sys.executable, "-c", code]
