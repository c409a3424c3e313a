"""Processes of ours never outlive the one that made them."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def when_orphaned(
    action: Callable[[], None], parent: int | None = None, interval: float = 1.0
) -> None:
    """Run `action` in a daemon thread once this process's parent (`parent`, by default
    the one it has now) has gone: checked every `interval` seconds, the parent pid changes."""
    if parent is None:
        parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        action()

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def exit_with_parent(parent: int) -> None:
    """Called first thing in a child process (a pool's initializer) with its parent's
    pid: the child then ends when its parent does, even a parent killed with -9 (nothing
    of it runs then) or stopped by SIGTERM under uvicorn (which raises the signal again
    once it has shut down, so no exit handler of the parent runs either).

    On Linux the kernel kills the child when its parent goes (PR_SET_PDEATHSIG, which
    follows the thread that started the child: start children from a thread that lives as
    long as the process); elsewhere, and had the parent gone before that was set, a thread
    sees the parent change. A multiprocessing resource tracker started for such children
    exits once the last process holding its pipe (the parent, the children) has gone."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)
    when_orphaned(lambda: os._exit(0), parent)
