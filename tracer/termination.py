"""SIGTERM and SIGHUP as exceptions, for the recorders' clean shutdown.

A recorder that is told to stop (a service manager's SIGTERM, a closed
terminal's SIGHUP) must stop its tracees and still write a complete log,
exactly as after Ctrl-C.  While the handlers are installed those signals
raise ``Terminate``.  It is a KeyboardInterrupt, so every place that
finishes its work cleanly after a Ctrl-C (the importer closing its event log
with a trailer marked interrupted) does the same after SIGTERM or SIGHUP;
``signal_of`` tells which signal it was (for exit status 128 + N).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator

#: The signals that stop fsrace cleanly.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Terminate(KeyboardInterrupt):
    """Raised by the SIGTERM/SIGHUP handler; ``signum`` is the signal."""

    @property
    def signum(self) -> int:
        """The signal number (SIGTERM when unknown)."""
        return self.args[0] if self.args and isinstance(self.args[0], int) else signal.SIGTERM


def signal_of(exc: BaseException) -> int:
    """The signal behind an interruption: SIGINT for a plain Ctrl-C."""
    return exc.signum if isinstance(exc, Terminate) else signal.SIGINT


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class _Critical:
    """While ``depth`` > 0 the main thread is inside a write that must not be
    cut: an exception raised inside io's C code drops the bytes it had
    buffered (up to 8 KiB of events vanish from an event log).  The handler
    then only notes the signal; ``raise_pending`` raises it afterwards."""

    depth = 0
    pending: int | None = None


CRITICAL = _Critical()


def _interruption(signum: int) -> KeyboardInterrupt:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminate(signum)


def _raise_terminate(signum: int, frame: Any) -> None:
    if CRITICAL.depth:
        CRITICAL.pending = signum
        return
    raise _interruption(signum)


def raise_pending() -> None:
    """Raise the interruption a critical write held back, if any."""
    signum, CRITICAL.pending = CRITICAL.pending, None
    if signum is not None:
        raise _interruption(signum)


def install_terminate_handlers() -> dict[int, Any]:
    """Make SIGTERM/SIGHUP raise Terminate (and SIGINT KeyboardInterrupt,
    unless it is ignored); returns the old handlers.

    Only the main thread can set handlers; elsewhere nothing changes.
    """
    old: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return old
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        try:
            if sig == signal.SIGINT and signal.getsignal(sig) not in (
                    signal.default_int_handler, _raise_terminate):
                continue   # ignored (a background job) or the caller's own
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


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP back while a file is being finished.

    Used while an event log's trailer is written and the file renamed into
    place: a second Ctrl-C there would leave it without its end.  The held
    signal is delivered (and raised) when the block ends.  Only the main
    thread can do this; elsewhere nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def hold_stop_signals() -> None:
    """Block SIGINT/SIGTERM/SIGHUP (main thread only) until
    ``release_stop_signals``: one that comes meanwhile waits, it is not lost."""
    if threading.current_thread() is threading.main_thread():
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def release_stop_signals() -> None:
    """Unblock what ``hold_stop_signals`` blocked; a held signal is raised now."""
    if threading.current_thread() is threading.main_thread():
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
