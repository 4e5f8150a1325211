"""Child processes that end with their parent, and starts that a signal cannot split.

``loadgen run`` starts the reference gateway and a Locust master in their own sessions,
so a Ctrl-C in the terminal reaches only ``loadgen run``, which stops them in order. If
``loadgen run`` itself is killed (SIGKILL, the OOM killer, a closed CI job), nothing would
stop them: Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``), set in the child
between fork and exec, makes the kernel send them a signal when ``loadgen run`` ends.
Elsewhere it is a no-op.

:func:`held_signals` blocks SIGINT and SIGTERM while a child is started, so the signal
arrives after the caller holds the child's handle and can stop it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

PR_SET_PDEATHSIG = 1
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, looked up before any fork, or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def die_with_parent(sig: int) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent ends.

    Returns False where that cannot be asked (not Linux). The setting survives exec but
    not fork: each process that needs it asks for itself.
    """
    prctl = _prctl()
    return prctl is not None and prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0


def preexec(sig: int) -> Callable[[], None]:
    """A ``preexec_fn`` for :class:`subprocess.Popen`: the child gets ``sig`` when this
    process ends, and does not inherit :func:`held_signals`' blocked signals."""
    parent = os.getpid()
    prctl = _prctl()

    def in_child() -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent ended before the request took effect
            os.kill(os.getpid(), sig)

    return in_child


@contextmanager
def held_signals() -> Iterator[None]:
    """Block SIGINT and SIGTERM inside the block; they are delivered when it ends."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
