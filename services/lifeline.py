"""Children that die with their parent: a ``kill -9`` of ``parley up`` leaves nothing behind.

Linux: ``prctl(PR_SET_PDEATHSIG)`` in the child between fork and exec asks the kernel to signal
the child when the thread that started it exits. So children must be started from a thread that
lives as long as the process (``parley up`` starts them all from its main thread). Elsewhere this
is a no-op and an orderly stop is the only cleanup.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


def supported() -> bool:
    return _LIBC is not None


def preexec(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child gets ``sig`` when its parent dies.

    Python runs ``preexec_fn`` after ``user=`` has switched the uid, and a later exec of a plain
    binary keeps the setting, so it holds for PostgreSQL started as another user too."""
    if _LIBC is None:
        return None
    parent = os.getpid()

    def arm() -> None:
        _LIBC.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: nobody would signal us
            os.kill(os.getpid(), sig)

    return arm
