"""Load a run for analysis: an fsrace event log, or a raw strace log.

A raw strace log is imported on the fly, straight into the history builder
(no event log is written and no JSON is encoded), so ``fsrace analyze``
accepts whatever the user has.  An event log is validated line by line on
the way in (``validate.py`` holds the rules): bad logs are refused with the
first offending line, and whatever the analysis must say about the input
goes into ``trailer["warnings"]`` (plain sentences) for every report format.
Standard input (``-``) may hold either kind; it is sniffed, and an event log
on it is spooled to a temporary file so that it gets exactly the verdict
the same bytes in a file would get.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import zlib
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from fsrace.tracer.event_store import is_event_store, open_event_store
from fsrace.tracer.eventlog import EventLogError, looks_like_event_log, open_event_log
from fsrace.tracer.stdin_sniff import stdin_bytes
from fsrace.tracer.strace_import import ImportError_, stream_strace

from .history import History, HistoryBuilder, MemoryGuard
from .validate import Disordered, Refused, Validator, clean_header


class LoadError(Exception):
    """The input cannot be analysed; the message says why."""


def load_history(inputs: list[str], *, initial_cwd: str | None = None,
                 on_progress: Callable[[int, int], None] | None = None,
                 on_event: Callable[[dict[str, Any]], None] | None = None
                 ) -> tuple[History, dict[str, Any], dict[str, Any]]:
    """Build the History of a run from an event log or strace log(s).

    ``on_event`` also sees every event (for renderers that draw them all);
    if the log must be read twice (its lines are out of seq order) it is
    reset with its ``reset()`` method first.  Returns (history, header,
    trailer); ``trailer["warnings"]`` lists what the reports must say about
    the input.  Raises LoadError for unusable input.
    """
    if len(inputs) == 1 and (is_event_store(inputs[0]) or looks_like_event_log(inputs[0])):
        try:
            if inputs[0] == "-":
                with _spooled_stdin() as (path, cut_short):
                    return _load_event_log(path, "standard input", on_event, cut_short)
            return _load_event_log(inputs[0], inputs[0], on_event)
        except EventLogError as exc:
            raise LoadError(str(exc)) from None
    builder = HistoryBuilder(memory_guard=MemoryGuard())
    add = _tapped(builder, on_event)
    header: dict[str, Any] = {}
    trailer: dict[str, Any] = {}

    def start(head: dict[str, Any]):
        header.update(head)
        return add

    try:
        stream_strace(inputs, start, trailer, initial_cwd=initial_cwd, on_progress=on_progress)
    except ImportError_ as exc:
        raise LoadError(str(exc)) from None
    warning = unresolved_warning(trailer, hint=not initial_cwd)
    if warning:
        trailer["warnings"] = list(trailer.get("warnings") or []) + [warning]
    return builder.finish(), header, trailer


def unresolved_warning(trailer: dict[str, Any], *, hint: bool) -> str | None:
    """The warning for paths an import could not resolve, with the ``--cwd`` hint."""
    paths = trailer.get("paths") or 0
    unresolved = trailer.get("unresolved_paths") or 0
    if not unresolved or type(paths) is not int or type(unresolved) is not int:
        return None
    share = 100.0 * unresolved / paths if paths else 100.0
    hint = ("" if not hint else
            "; the log does not show the directory the first process started in: give it "
            "with --cwd DIR to resolve its relative paths")
    return (f"{unresolved} of {paths} path arguments ({share:.1f}%) could not be resolved and "
            f"are left out of the analysis{hint}")


def _tapped(builder: HistoryBuilder,
            on_event: Callable[[dict[str, Any]], None] | None) -> Callable[[dict[str, Any]], None]:
    if on_event is None:
        return builder.add

    def tapped(ev: dict[str, Any], _add=builder.add) -> None:
        _add(ev)
        on_event(ev)
    return tapped


@contextmanager
def _spooled_stdin() -> Iterator[tuple[str, str | None]]:
    """Copy standard input to a private temporary file.

    Yields (its path, why gzip data on stdin ended early or None): a cut
    ``.gz`` stream is treated as a cut ``.gz`` file is.
    """
    tmpdir = tempfile.mkdtemp(prefix="fsrace-stdin-")
    path = os.path.join(tmpdir, "stdin.jsonl")
    cut_short = None
    try:
        with open(path, "wb") as out:
            src = stdin_bytes()
            try:
                while True:
                    # read1: one raw read at a time, so an error at the end
                    # of cut gzip data loses no block read before it.
                    block = src.read1(1 << 20)
                    if not block:
                        break
                    out.write(block)
            except EOFError as exc:
                cut_short = f"{exc} (after byte {out.tell()} of the decompressed data)"
            except (zlib.error, gzip.BadGzipFile) as exc:
                raise LoadError(f"standard input: read error: {exc}") from None
    except OSError as exc:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise LoadError(f"cannot spool standard input to {path}: {exc}") from None
    try:
        yield path, cut_short
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _load_event_log(path: str, name: str, on_event: Callable[[dict[str, Any]], None] | None,
                    cut_short: str | None = None
                    ) -> tuple[History, dict[str, Any], dict[str, Any]]:
    """Validate and load one event log (read twice when it must be sorted)."""
    try:
        return _read_event_log(path, name, on_event, sort=False, cut_short=cut_short)
    except Disordered:
        pass
    # Seqs go backwards: read it again, keeping the events, and sort them.
    reset = getattr(on_event, "reset", None)
    if on_event is not None:
        if reset is None:
            raise LoadError(f"{name}: the event log's lines are out of seq order, and this "
                            "caller cannot read it twice to sort them")
        reset()
    return _read_event_log(path, name, on_event, sort=True, cut_short=cut_short)


def _read_event_log(path: str, name: str, on_event: Callable[[dict[str, Any]], None] | None,
                    *, sort: bool, cut_short: str | None = None
                    ) -> tuple[History, dict[str, Any], dict[str, Any]]:
    # An event store (format 2) reads as the same header, records and trailer.
    log = (open_event_store if is_event_store(path) else open_event_log)(path, name)
    header, header_warnings = clean_header(log.header)
    validator = Validator(name, log.header, sort=sort)
    builder = HistoryBuilder(memory_guard=MemoryGuard())
    add = _tapped(builder, on_event)
    feed = validator.feed
    records = log.records()
    try:
        if not sort:
            for lineno, obj in records:
                ev = feed(lineno, obj)
                if ev is not None:
                    add(ev)
            trailer, warnings = validator.finish()
        else:
            kept = []
            for lineno, obj in records:
                ev = feed(lineno, obj)
                if ev is not None:
                    kept.append((lineno, ev))
            ordered = validator.ordered(kept)
            trailer, warnings = validator.finish()
            for ev in ordered:
                add(ev)
    except Refused as exc:
        raise LoadError(exc.message) from None
    finally:
        records.close()
    cut_short = log.cut_short or cut_short
    if cut_short:
        warnings.insert(0, f"{name}: the compressed data ends early: {cut_short}; "
                           f"the events before that were analysed")
    warnings = header_warnings + warnings
    trailer = dict(trailer)
    old = trailer.get("warnings") or []
    if not any("--cwd" in w for w in old):
        # The strace backend misses the start directory only when imported
        # without --cwd; fanotify's unresolved paths are outside its mounts.
        unresolved = unresolved_warning(
            trailer, hint=not header.get("cwd") and header.get("backend", "strace") == "strace")
        if unresolved:
            warnings.append(unresolved)
    if warnings:
        trailer["warnings"] = list(trailer.get("warnings") or []) + warnings
    return builder.finish(), header, trailer
