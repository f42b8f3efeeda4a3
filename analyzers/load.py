"""Load a run for analysis: an fsrace event log, or a raw strace log.

A raw strace log is imported on the fly, straight into the history builder
(no event log is written and no JSON is encoded), so ``fsrace analyze``
accepts whatever the user has.
"""

from __future__ import annotations

from typing import Any, Callable

from fsrace.tracer.eventlog import EventLogError, looks_like_event_log, open_event_log
from fsrace.tracer.strace_import import ImportError_, stream_strace

from .history import History, HistoryBuilder


class LoadError(Exception):
    """The input cannot be analysed; the message says why."""


def load_history(inputs: list[str], *, initial_cwd: str | None = None,
                 on_progress: Callable[[int, int], None] | None = None,
                 on_event: Callable[[dict[str, Any]], None] | None = None
                 ) -> tuple[History, dict[str, Any], dict[str, Any]]:
    """Build the History of a run from an event log or strace log(s).

    ``on_event`` also sees every event (for renderers that draw them all).
    Returns (history, header, trailer).  Raises LoadError for unusable input.
    """
    builder = HistoryBuilder()
    add: Callable[[dict[str, Any]], None] = builder.add
    if on_event is not None:
        def tapped(ev: dict[str, Any], _add=builder.add) -> None:
            _add(ev)
            on_event(ev)
        add = tapped
    if len(inputs) == 1 and inputs[0] != "-" and looks_like_event_log(inputs[0]):
        try:
            log = open_event_log(inputs[0])
            for ev in log.events():
                add(ev)
        except EventLogError as exc:
            raise LoadError(str(exc)) from None
        trailer = log.trailer or {}
        if log.trailer is None:
            trailer = {"incomplete": True}
        if log.bad_lines:
            trailer = dict(trailer, bad_event_lines=len(log.bad_lines),
                           bad_event_samples=[{"line": n, "text": t} for n, t in log.bad_lines[:10]])
        return builder.finish(), log.header, trailer
    header: dict[str, Any] = {}
    trailer: dict[str, Any] = {}

    def start(head: dict[str, Any]):
        header.update(head)
        return add

    try:
        stream_strace(inputs, start, trailer, initial_cwd=initial_cwd, on_progress=on_progress)
    except ImportError_ as exc:
        raise LoadError(str(exc)) from None
    return builder.finish(), header, trailer
