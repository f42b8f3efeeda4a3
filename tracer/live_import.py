"""Import a strace log in a background thread while strace is writing it.

``fsrace record`` used to wait for strace to end and only then import its
log, which roughly doubled the time a user waited.  Here the import runs
beside the recording: it reads the log as strace writes it (``Follow``) and
is mostly done when the command ends.  The thread runs at a low CPU
priority (nice 19) while the command runs, so the analysis does not take
CPU from the traced programs and change the very interleavings it records;
once the recording has ended it goes back to normal priority.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable

from .outputs import AtomicOutput, OutputError, describe_os_error
from .strace_import import Follow, ImportStats, import_strace
from .termination import release_stop_signals, signals_deferred

#: Niceness of the import thread while the recorded command runs.
RECORDING_NICE = 19


class LiveImport:
    """One background import of a growing strace log into an event log.

    ``start(header_extra)`` once strace has been started; fill
    ``trailer_extra`` with what is known at the end; then ``finish()``
    returns the import's stats (or raises its error), or ``cancel()``
    stops it and removes the partial event log.

    The events go to a hidden file beside ``output`` that replaces it only
    when the import ends (also after a Ctrl-C: the log is valid then), so a
    recording that fails to start leaves an older log of that name alone.
    """

    def __init__(self, strace_log: Path | str, output: str, **import_kwargs: Any):
        self.strace_log = Path(strace_log)
        self.output = output
        self._out = AtomicOutput(output)
        self.partial = self._out.path
        self.follow = Follow()
        self.trailer_extra: dict[str, Any] = {}
        self._kwargs = import_kwargs
        self._thread: threading.Thread | None = None
        # Set when the import thread has ended.  Waited on instead of
        # Thread.join(): a KeyboardInterrupt inside join() (Python < 3.13)
        # releases the thread's state lock and marks it stopped while it
        # still runs, so the log would be published without its end.
        self._ended = threading.Event()
        self._tid: int | None = None
        self._nice: int | None = None
        self._stats: ImportStats | None = None
        self._error: BaseException | None = None
        self._priority_lock = threading.Lock()
        self.progress = (0, 0)

    def prepare(self) -> None:
        """Create the log empty before strace opens it, so the reader can
        open it at once and never sees an older file's content."""
        self.strace_log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.strace_log, "wb"):
            pass

    def start(self, header_extra: dict[str, Any]) -> None:
        """Start the import thread (strace is running)."""
        self._thread = threading.Thread(target=self._run, args=(header_extra,),
                                        name="fsrace-live-import", daemon=True)
        self._thread.start()

    def _run(self, header_extra: dict[str, Any]) -> None:
        with self._priority_lock:
            # Lowered only while the recording runs (finish() not yet called).
            if not self.follow.done.is_set():
                self._tid = threading.get_native_id()
                try:
                    self._nice = os.getpriority(os.PRIO_PROCESS, self._tid)
                    os.setpriority(os.PRIO_PROCESS, self._tid, RECORDING_NICE)
                except OSError:
                    self._nice = None
        try:
            self._stats = import_strace([str(self.strace_log)], self.partial, follow=self.follow,
                                        header_extra=header_extra,
                                        trailer_extra=self.trailer_extra,
                                        on_progress=self._on_progress, **self._kwargs)
        except BaseException as exc:  # handed over to the caller's thread
            self._error = exc
        finally:
            self._ended.set()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress = (done, total)

    def _normal_priority(self) -> None:
        # Raising a priority back needs CAP_SYS_NICE; without it the import
        # finishes at nice 19, which only matters on a busy machine.
        if self._tid is not None and self._nice is not None:
            try:
                os.setpriority(os.PRIO_PROCESS, self._tid, self._nice)
            except OSError:
                pass

    def finish(self, on_progress: Callable[[int, int], None] | None = None,
               signals_held: bool = False) -> ImportStats:
        """Let the import read the rest of the log, wait for it, return its stats.

        A Ctrl-C while waiting stops the import: the event log is closed,
        valid, and marked interrupted; the KeyboardInterrupt goes on.
        """
        with self._priority_lock:
            self.follow.done.set()
            self._normal_priority()
        try:
            if signals_held:
                # A signal held back since strace ended is raised here, where
                # it stops the import and publishes the log (below).
                release_stop_signals()
            while self._thread is not None and not self._ended.wait(0.1):
                if on_progress is not None:
                    on_progress(*self.progress)
        except KeyboardInterrupt:   # also SIGTERM/SIGHUP (termination.Terminate)
            self.follow.abort.set()
            self._join()
            with signals_deferred():
                self._publish()   # closed, valid, marked interrupted
            raise
        if self._error is not None:
            if isinstance(self._error, KeyboardInterrupt):
                with signals_deferred():
                    self._publish()
                raise self._error
            self._discard()
            if isinstance(self._error, OSError):
                raise OutputError(f"cannot write the event log {self.output}: "
                                  f"{describe_os_error(self._error)}") from None
            raise self._error
        with signals_deferred():
            self._publish()
        if self._stats is None:  # pragma: no cover - start() was not called
            raise RuntimeError("the live import was never started")
        return self._stats

    def cancel(self) -> None:
        """Stop the import and remove its partial event log."""
        self.follow.abort.set()
        self.follow.done.set()
        self._join()
        self._discard()

    def _publish(self) -> None:
        if self._out.direct or os.path.exists(self.partial):
            self._out.commit()

    def _discard(self) -> None:
        self._out.discard()

    def _join(self) -> None:
        """Wait for the import thread to end; a further Ctrl-C does not cut
        the wait short (the thread is closing the event log with its trailer)."""
        while self._thread is not None:
            try:
                if self._ended.wait(1.0):
                    return
            except KeyboardInterrupt:
                continue
