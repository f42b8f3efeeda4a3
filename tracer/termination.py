"""SIGTERM and SIGHUP as exceptions, for the recorders' clean shutdown.

A recorder that is told to stop (a service manager's SIGTERM, a closed
terminal's SIGHUP) must stop its tracees and still write a complete log,
exactly as after Ctrl-C.  While the handlers are installed those signals
raise ``Terminate``, which the recorders catch next to KeyboardInterrupt.
"""

from __future__ import annotations

import signal
import threading
from typing import Any


class Terminate(BaseException):
    """Raised by the SIGTERM/SIGHUP handler while a recorder runs."""


def _raise_terminate(signum: int, frame: Any) -> None:
    raise Terminate(signum)


def install_terminate_handlers() -> dict[int, Any]:
    """Make SIGTERM/SIGHUP raise Terminate; returns the old handlers.

    Only the main thread can set handlers; elsewhere nothing changes.
    """
    old: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return old
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            old[sig] = signal.signal(sig, _raise_terminate)
        except (ValueError, OSError):
            pass
    return old


def restore_handlers(old: dict[int, Any]) -> None:
    """Put back what ``install_terminate_handlers`` replaced."""
    for sig, handler in old.items():
        try:
            signal.signal(sig, handler)
        except (ValueError, OSError):
            pass
