"""Run the strace importer of the compiled core (``fsrace._core.Importer``).

The Rust core does the importer's work -- cutting lines, parsing them,
deciding which thread and process each belongs to, joining unfinished and
resumed halves, resolving paths -- and hands back the same event dicts the
Python ``StraceImporter`` emits (``tests/test_core_import.py`` proves it on
every test log).  This module only moves bytes in and events out: it reads
a source in blocks (following a growing log the way ``Follow`` does), and
merges the per-process files of ``strace -ff`` by timestamp, which needs the
whole set of files and stays here.
"""

from __future__ import annotations

import gzip
import heapq
import os
import threading
import zlib
from types import SimpleNamespace
from typing import IO, Any, Callable, Iterator

from fsrace import _core

from .termination import CRITICAL, raise_pending

#: Bytes read at a time from a log that is complete.
BLOCK = 1 << 20

_READ_ERRORS = (OSError, EOFError, gzip.BadGzipFile, zlib.error)


def follow_blocks(follow: Any, fh: IO[bytes]) -> Iterator[bytes]:
    """Yield blocks of ``fh`` while its writer still writes it.

    The same protocol as ``Follow.lines`` (wait at the end of the file
    until ``follow.done``, stop on ``follow.abort``), but blocks: the core
    keeps a line cut at the end of a block until its newline comes.
    """
    while True:
        block = fh.read(follow.BLOCK)
        if follow.abort.is_set():
            raise KeyboardInterrupt
        if block:
            yield block
            continue
        if follow.done.is_set():
            rest = fh.read()
            if rest:
                yield rest
            return
        follow.done.wait(follow.POLL)


class CoreImporter:
    """The core's importer with the interface ``stream_strace`` uses.

    ``stats`` is the caller's ``ImportStats``, filled by ``sync()``;
    ``resolver`` carries the resolver's counters for the trailer.
    """

    def __init__(self, emit: Callable[[dict[str, Any]], None], initial_cwd: str | None,
                 stats: Any):
        self._emit = emit
        # A JSON Lines writer takes the core's own encoding of the events
        # (byte for byte json.dumps's, tests/test_core_import.py), which
        # saves building a dict and encoding it per event.
        self._lines = getattr(getattr(emit, "__self__", None), "write_lines", None)
        self._core = _core.Importer(os.fsencode(initial_cwd) if initial_cwd else None)
        self.stats = stats
        self.resolver = SimpleNamespace(paths=0, unresolved=0, truncated=0, unknown_fds=0,
                                        processes=[])
        self._ff_lines = 0
        self._ff_samples: list[dict[str, Any]] = []
        self._ff_unparsed = 0
        self._source = ""
        self._finished = False

    def _out(self, events: list[dict[str, Any]]) -> None:
        emit = self._emit
        for ev in events:
            emit(ev)

    def run(self, src: Any, error: Callable[[str], Exception],
            on_block: Callable[[], None] | None = None) -> None:
        """Import one source (a ``_Source``): its raw bytes, in blocks."""
        self._source = src.path
        feed = self._core.feed
        if self._lines is not None:
            feed = self._core.feed_json
        fh = src._fh
        guard = threading.current_thread() is threading.main_thread()
        blocks = follow_blocks(src.follow, fh) if src.follow is not None else \
            iter(lambda: fh.read(BLOCK), b"")
        try:
            for block in blocks:
                if self._lines is not None:
                    # A Ctrl-C/SIGTERM that lands while the core parses a
                    # block is held until its events are written (it would
                    # otherwise drop the block's events: lines counted as
                    # read, events missing).  Main thread only.
                    CRITICAL.depth += guard
                    try:
                        text, n = feed(block)
                        if n:
                            self._lines(text, n)
                    finally:
                        CRITICAL.depth -= guard
                    if guard and CRITICAL.pending is not None and not CRITICAL.depth:
                        raise_pending()
                else:
                    self._out(feed(block))
                if on_block is not None:
                    on_block()
        except _READ_ERRORS as exc:
            name = "standard input" if src.path == "-" else src.path
            raise error(f"{name}: read error: {exc}") from None

    def run_ff(self, sources: list[Any], error: Callable[[str], Exception],
               on_line: Callable[[], None]) -> None:
        """Import the per-process files of one ``strace -ff`` run, merged by time."""
        parse = _core.parse_line

        def keyed(src: Any, index: int) -> Iterator[tuple[float, int, int, bytes, int]]:
            for lineno, text in src.lines():
                on_line()
                self._ff_lines += 1
                raw = text.encode("utf-8", "surrogateescape")
                t = parse(raw) if raw.endswith(b"\n") else None
                if t is None:
                    if text.strip():
                        self._ff_unparsed += 1
                        if len(self._ff_samples) < 10:
                            self._ff_samples.append({"file": src.path, "line": lineno,
                                                     "text": text[:200]})
                    continue
                ts, kind, duration = t[1], t[2], t[9]
                if ts is None:
                    raise error(
                        f"{src.path}: the per-process files of 'strace -ff' carry no timestamps, "
                        "so the order of calls between processes is unknown and they cannot be "
                        "merged into one timeline; re-record with 'strace -ff -ttt' (or use "
                        "'strace -f -o FILE', which writes one file in order)")
                if kind == "relative":
                    raise error(
                        f"{src.path}: '-r' timestamps are relative to each file's previous line, "
                        "so per-process files cannot be merged; re-record with -ttt")
                yield ts + (duration or 0.0), index, lineno, raw, src.pid

        streams = [keyed(src, i) for i, src in enumerate(sources)]
        feed = self._core.feed_ff_line
        for _key, _i, _n, raw, pid in heapq.merge(*streams, key=lambda t: (t[0], t[1], t[2])):
            self._out(feed(raw, pid)[1])

    def finish(self) -> None:
        """End of input: the core flushes what is still open."""
        if self._lines is not None:
            text, n = self._core.finish_json()
            if n:
                self._lines(text, n)
        else:
            self._out(self._core.finish())
        self._finished = True

    def sync(self) -> int:
        """Copy the core's counts into ``stats`` and ``resolver``; return
        the number of lines read."""
        s = self._core.stats()
        st = self.stats
        st.unparsed = s["unparsed"] + self._ff_unparsed
        st.unparsed_samples = (self._ff_samples + [
            {"file": self._source, "line": n, "text": t} for n, t in s["unparsed_samples"]])[:10]
        st.unmatched_resumed = s["unmatched_resumed"]
        st.unfinished_at_end = s["unfinished_at_end"]
        st.warnings = s["warnings"]
        st.saw_pid_column = s["saw_pid_column"]
        st.clock = s["clock"]
        if self._finished:
            st.events = s["events"]
        r = self.resolver
        r.paths, r.unresolved = s["paths"], s["unresolved"]
        r.truncated, r.unknown_fds = s["truncated"], s["unknown_fds"]
        r.processes = range(s["processes"])
        r.child_processes = s["child_processes"]
        return s["lines_read"] + self._ff_lines

