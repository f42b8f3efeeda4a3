"""Import ``strace`` text logs into an fsrace event log.

Accepts what people attach to bug reports: ``strace -f -o FILE`` (``PID``
column), output pasted from a terminal (``[pid N]`` prefixes, the first
process without one), any timestamp style or none, ``-T``, ``-y``/``-yy``,
``-s``, ``-x``/``-xx``, and ``-ff`` per-process files (``prefix.PID``),
merged by timestamp.

The importer's jobs, in order, for each line:

1. parse it (``strace_parse``); count and sample what is not strace output;
2. decide which thread it belongs to, holding back the lines of threads
   whose creating ``clone`` has not returned yet (strace often prints a
   child's first calls before its parent's ``clone`` result);
3. join ``<unfinished ...>`` / ``<... resumed>`` halves per thread;
4. hand complete calls to the resolver, which keeps per-process state and
   emits events with absolute paths;
5. number the events and write them, with a header and a trailer that
   accounts for every line.
"""

from __future__ import annotations

import gzip
import heapq
import io
import os
import platform
import re
import socket
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Iterator

from .event_store import StoreWriter, open_writer
from fsrace import _core

from .core_import import CoreImporter
from .eventlog import EventLogWriter
from .resolve import Resolver
from .stdin_sniff import peek_stdin, stdin_bytes
from .strace_parse import ParsedLine, parse_line

#: A UTF-8 byte-order mark (some editors save logs with one).
BOM_BYTES = b"\xef\xbb\xbf"

#: Calls that create a thread or process: while one is unfinished, lines of
#: unknown threads may belong to its child.
_CLONES = frozenset(("clone", "clone3", "fork", "vfork"))

#: The placeholder thread id for lines without a pid column (terminal output
#: before the first fork, or a log whose pid column was cut away).
PLACEHOLDER = -1

#: How many unparsed lines are kept as samples in the trailer.
SAMPLES = 10

#: Events held back while the first process's pid is unknown.
_HOLD_LIMIT = 200_000

_ATTACH_INSIDE = re.compile(
    r"(?:/(?:[^\s/(]+/)*)?strace: Process \d+ (?:attached|detached)(?: with \d+ threads)?\n?\Z")
_RESUMING = re.compile(r"resuming interrupted (\w+)")
_FF_NAME = re.compile(r"^(.*)\.(\d+)(?:\.gz)?$")


class ImportError_(Exception):
    """The input cannot be imported; the message says why (exit status 2)."""


@dataclass
class ImportStats:
    """What the importer saw; written to the trailer."""

    lines_read: int = 0
    events: int = 0
    unparsed: int = 0
    unparsed_samples: list[dict[str, Any]] = field(default_factory=list)
    unmatched_resumed: int = 0
    unfinished_at_end: int = 0
    warnings: list[str] = field(default_factory=list)
    saw_pid_column: bool = False
    clock: str | None = None
    paths: int = 0
    unresolved: int = 0
    processes: int = 0

    def note_unparsed(self, source: str, lineno: int, text: str) -> None:
        """Count a line that is not strace output and keep a few samples."""
        self.unparsed += 1
        if len(self.unparsed_samples) < SAMPLES:
            self.unparsed_samples.append({"file": source, "line": lineno,
                                          "text": text[:200]})


# ---------------------------------------------------------------- inputs

class Follow:
    """How to read a log that another process is still writing.

    ``fsrace record`` imports strace's log while strace writes it, so the
    import is mostly done when the command ends.  The reader waits at the
    end of the file until ``done`` is set (strace has exited), then reads
    what is left; a line without its newline is only trusted once ``done``
    says nothing more will come.  Setting ``abort`` stops the import as a
    Ctrl-C would: the event log is closed, valid and marked interrupted.
    """

    #: Seconds to wait at the end of the file before looking again.
    POLL = 0.05
    #: Bytes read at a time.
    BLOCK = 1 << 20

    def __init__(self) -> None:
        self.done = threading.Event()
        self.abort = threading.Event()

    def lines(self, fh: IO[bytes]) -> Iterator[bytes]:
        """Yield the complete lines of ``fh`` as they are written.

        Reads blocks and cuts them at newlines itself: ``readlines()`` on a
        growing file returns a line cut at the end of the file and, when
        the writer appends the rest during the same call, that rest as a
        second "line" -- one call torn in two.
        """
        partial = b""
        while True:
            block = fh.read(self.BLOCK)
            if self.abort.is_set():
                raise KeyboardInterrupt
            if block:
                parts = (partial + block).split(b"\n") if partial else block.split(b"\n")
                partial = parts.pop()   # b"" when the block ended with a newline
                for part in parts:
                    yield part + b"\n"
                continue
            if self.done.is_set():
                # The writer has exited: this read sees all it wrote.
                rest = partial + fh.read()
                if rest:
                    parts = rest.split(b"\n")
                    for part in parts[:-1]:
                        yield part + b"\n"
                    if parts[-1]:
                        yield parts[-1]
                return
            self.done.wait(self.POLL)


class _Source:
    """One input file, read as lines with numbers and byte progress."""

    def __init__(self, path: str, pid: int | None, follow: Follow | None = None):
        self.path = path
        self.pid = pid  # from a -ff file name
        self.follow = follow
        self.size = 0
        if path == "-":
            self._raw = stdin_bytes()
            self._fh: IO[bytes] = self._raw
        else:
            try:
                self.size = os.path.getsize(path)
                self._raw = open(path, "rb")
            except OSError as exc:
                raise ImportError_(f"{path}: cannot read: {exc.strerror}") from None
            if path.endswith(".gz"):
                self._fh = gzip.GzipFile(fileobj=self._raw)
            else:
                self._fh = self._raw

    def position(self) -> int:
        """Bytes of the underlying file consumed so far."""
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def total(self) -> int:
        """The size to report progress against (it grows while followed)."""
        if self.follow is not None:
            try:
                return os.path.getsize(self.path)
            except OSError:
                return self.size
        return self.size

    def lines(self) -> Iterator[tuple[int, str]]:
        """Yield (line number, decoded text) pairs.

        CRLF endings become LF and a UTF-8 byte-order mark before the first
        line is dropped (a log saved by a Windows editor), so the parser
        only ever sees ``...\\n`` lines.
        """
        raws = self._fh if self.follow is None else self.follow.lines(self._fh)
        try:
            for lineno, raw in enumerate(raws, 1):
                if raw.endswith(b"\r\n"):
                    raw = raw[:-2] + b"\n"
                if lineno == 1 and raw.startswith(BOM_BYTES):
                    raw = raw[len(BOM_BYTES):]
                yield lineno, raw.decode("utf-8", "surrogateescape")
        except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
            name = "standard input" if self.path == "-" else self.path
            raise ImportError_(f"{name}: read error: {exc}") from None

    def close(self) -> None:
        if self.path != "-":
            self._raw.close()


def classify_inputs(paths: list[str]) -> tuple[list[str], bool]:
    """Expand and classify the inputs: returns (files, per_process).

    Several files named ``PREFIX.PID`` are the ``-ff`` output of one run.
    A single name that does not exist but has ``NAME.PID`` siblings is the
    ``-o`` prefix of such a run.
    """
    if len(paths) == 1 and paths[0] != "-" and not os.path.exists(paths[0]):
        parent = os.path.dirname(paths[0]) or "."
        base = os.path.basename(paths[0])
        try:
            siblings = sorted(n for n in os.listdir(parent)
                              if n.startswith(base + ".")
                              and n[len(base) + 1:].removesuffix(".gz").isdigit())
        except OSError:
            siblings = []
        if not siblings:
            raise ImportError_(f"{paths[0]}: no such file")
        return [os.path.join(parent, n) for n in siblings], True
    if len(paths) > 1:
        if "-" in paths:
            raise ImportError_("'-' (standard input) cannot be combined with other files")
        prefixes = set()
        for p in paths:
            m = _FF_NAME.match(p)
            if not m:
                raise ImportError_(
                    f"several logs were given but {p} is not named PREFIX.PID: only the "
                    f"per-process files of one 'strace -ff' run can be merged")
            prefixes.add(m.group(1))
        if len(prefixes) > 1:
            raise ImportError_("the files come from different 'strace -ff -o PREFIX' runs "
                               f"(prefixes: {', '.join(sorted(prefixes))})")
        return paths, True
    return paths, False


# ------------------------------------------------------------ the import

class StraceImporter:
    """Stateful line consumer: feed parsed lines, get events written."""

    def __init__(self, writer_emit: Callable[[dict[str, Any]], None],
                 initial_cwd: str | None = None):
        self.stats = ImportStats()
        self._write = writer_emit
        self._seq = 0
        self._held: list[dict[str, Any]] | None = None
        self.resolver = Resolver(self._emit, initial_cwd)
        self._unfinished: dict[int, tuple[str, str, float | None]] = {}
        self._pending: dict[int, list[ParsedLine]] = {}
        self._placeholder_bound: int | None = None
        self._clock_base: float | None = None
        self._last_clock = 0.0
        self._day = 0.0
        self._relative_sum = 0.0
        self._call = self.resolver.call

    # ---------------------------------------------------------- emission

    def _emit(self, ev: dict[str, Any]) -> None:
        self._seq += 1
        ev["seq"] = self._seq
        if self._held is not None:
            self._held.append(ev)
            if len(self._held) >= _HOLD_LIMIT:
                self._release_held(None)
        else:
            self._write(ev)

    def _release_held(self, real_pid: int | None) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        if real_pid is not None:
            key = str(real_pid)
            for ev in held:
                for f in ("pid", "tid", "child"):
                    if ev.get(f) == PLACEHOLDER:
                        ev[f] = real_pid
                for f in ("proc", "child_proc"):
                    if ev.get(f) == str(PLACEHOLDER):
                        ev[f] = key
        else:
            self.stats.warnings.append(
                "the first process's pid never appeared in the log: its events are "
                f"recorded with pid {PLACEHOLDER}")
        for ev in held:
            self._write(ev)

    # ------------------------------------------------------------- times

    def _time(self, pl: ParsedLine) -> float | None:
        ts = pl.ts
        if ts is None:
            return None
        kind = pl.ts_kind
        if kind == "unix":
            return ts
        if kind == "relative":
            self._relative_sum += ts
            return self._relative_sum
        # Wall clock since midnight: a large step back means the day changed.
        if ts + self._day < self._last_clock - 43200:
            self._day += 86400.0
        value = ts + self._day
        self._last_clock = value
        return value

    # ------------------------------------------------------------- lines

    def feed(self, pl: ParsedLine) -> None:
        """Consume one parsed line (in log order)."""
        tid = pl.pid
        if tid is None:
            tid = self._unprefixed_tid()
        else:
            self.stats.saw_pid_column = True
        if self.stats.clock is None and pl.ts_kind is not None:
            self.stats.clock = pl.ts_kind
        kind = pl.kind
        if kind in ("attached", "info"):
            return
        if tid not in self.resolver.threads:
            if not self._admit(tid, pl):
                return
        self._dispatch(tid, pl)

    def _unprefixed_tid(self) -> int:
        """Which thread a line without a pid column belongs to."""
        bound = self._placeholder_bound
        if bound is None:
            return PLACEHOLDER
        proc = self.resolver.threads.get(bound)
        if proc is not None:
            return bound
        live = self.resolver.live_processes()
        return live[0].pid if len(live) == 1 else bound

    def _pending_clone(self) -> bool:
        for name, _args, _ts in self._unfinished.values():
            if name in _CLONES:
                return True
        return False

    def _admit(self, tid: int, pl: ParsedLine) -> bool:
        """Decide about a thread seen for the first time; False = held back."""
        if tid in self._pending:
            self._pending[tid].append(pl)
            return False
        if tid == PLACEHOLDER:
            self.resolver.new_root(PLACEHOLDER)
            self._held = []
            return True
        ph = self.resolver.threads.get(PLACEHOLDER)
        if ph is not None and self._placeholder_bound is None:
            ph_call = self._unfinished.get(PLACEHOLDER)
            if (pl.kind == "resumed" and ph_call is not None and ph_call[0] == pl.name) \
                    or not self._pending_clone():
                self._bind_placeholder(tid)
                return True
        if self._pending_clone():
            self._pending[tid] = [pl]
            return False
        self.resolver.new_root(tid)
        return True

    def _bind_placeholder(self, tid: int) -> None:
        self.resolver.rebind(PLACEHOLDER, tid)
        if PLACEHOLDER in self._unfinished:
            self._unfinished[tid] = self._unfinished.pop(PLACEHOLDER)
        self._placeholder_bound = tid
        self._release_held(tid)

    def _dispatch(self, tid: int, pl: ParsedLine) -> None:
        kind = pl.kind
        if kind == "call":
            name = pl.name
            args = pl.args
            if name == "restart_syscall":
                m = _RESUMING.search(args)
                if m and m.group(1) in ("wait4", "waitid"):
                    name, args = m.group(1), ""
            self._complete(tid, name, args, pl, self._time(pl))
        elif kind == "unfinished":
            # "<pid changed to N ...>": a thread's execve; the call returns in
            # the thread-group leader N, which the new program runs as.
            self._unfinished[pl.pid_in_text or tid] = (pl.name, pl.args, self._time(pl))
        elif kind == "resumed":
            start = self._unfinished.pop(tid, None)
            if start is None or start[0] != pl.name:
                self.stats.unmatched_resumed += 1
                if start is not None:
                    self._flush_unfinished(tid, start)
                self._complete(tid, pl.name, pl.args, pl, self._time(pl), incomplete=True)
            else:
                end = self._time(pl)
                self._complete(tid, pl.name, start[1] + pl.args, pl, start[2], end)
        elif kind in ("exited", "killed"):
            proc = self.resolver.threads.get(tid)
            tids = proc.tids if proc is not None and proc.pid == tid else {tid}
            for t in list(tids):
                start = self._unfinished.pop(t, None)
                if start is not None:
                    self._flush_unfinished(t, start)
            self.resolver.exited(tid, pl.status, pl.name if kind == "killed" else None,
                                 pl.core, self._time(pl))
        elif kind == "signal":
            self.resolver.signal(tid, pl.name or "?", pl.args, self._time(pl))
        elif kind == "detached":
            start = self._unfinished.pop(tid, None)
            if start is not None:
                self._flush_unfinished(tid, start)
            elif pl.name:
                self._call(tid, pl.name, pl.args, None, None, self._time(pl), None, None)

    def _complete(self, tid: int, name: str, args: str, pl: ParsedLine,
                  ts: float | None, ts_end: float | None = None,
                  incomplete: bool = False) -> None:
        if ts_end is None and pl.duration is not None and ts is not None:
            ts_end = ts + pl.duration
        self._call(tid, name, args, pl.ret, pl.errno, ts, ts_end, pl.ret_path)
        if name in _CLONES and pl.ret is not None:
            self._on_clone_result(pl.ret)

    def _flush_unfinished(self, tid: int, start: tuple[str, str, float | None]) -> None:
        """A call that never returned (process killed, log cut)."""
        self._call(tid, start[0], start[1], None, None, start[2], None, None)

    def _on_clone_result(self, ret: str) -> None:
        try:
            child = int(ret)
        except ValueError:
            child = -2
        lines = self._pending.pop(child, None)
        if lines:
            for held in lines:
                self.feed(held)
        if self._pending and not self._pending_clone():
            self._drain_pending()

    def _drain_pending(self) -> None:
        """No clone is in flight: held threads are not anyone's new child."""
        pending, self._pending = self._pending, {}
        for tid, lines in pending.items():
            for pl in lines:
                self.feed(pl)

    def finish(self) -> None:
        """End of input: flush what is still open and note what was odd."""
        if self._pending:
            self._drain_pending()
        for tid, start in list(self._unfinished.items()):
            self.stats.unfinished_at_end += 1
            self._flush_unfinished(tid, start)
        self._unfinished.clear()
        if self._held is not None:
            self._release_held(None)
        if not self.stats.saw_pid_column and self.resolver.child_processes > 0:
            self.stats.warnings.append(
                "the log has no pid column but the program created child processes: "
                "all lines were attributed to one process, so processes cannot be told "
                "apart and races between them cannot be judged (record with 'strace -f "
                "-o FILE', which writes the pid on every line)")
        self.stats.events = self._seq


def _merged_lines(sources: list[_Source], stats: ImportStats,
                  on_line: Callable[[], None]) -> Iterator[ParsedLine]:
    """Yield the parsed lines of -ff per-process files in timestamp order."""
    def keyed(src: _Source, index: int) -> Iterator[tuple[float, int, int, ParsedLine]]:
        for lineno, text in src.lines():
            on_line()
            pl = parse_line(text) if text.endswith("\n") else None
            if pl is None:
                if text.strip():
                    stats.note_unparsed(src.path, lineno, text)
                continue
            pl.pid = src.pid
            if pl.ts is None:
                raise ImportError_(
                    f"{src.path}: the per-process files of 'strace -ff' carry no timestamps, "
                    "so the order of calls between processes is unknown and they cannot be "
                    "merged into one timeline; re-record with 'strace -ff -ttt' (or use "
                    "'strace -f -o FILE', which writes one file in order)")
            if pl.ts_kind == "relative":
                raise ImportError_(
                    f"{src.path}: '-r' timestamps are relative to each file's previous line, "
                    "so per-process files cannot be merged; re-record with -ttt")
            key = pl.ts + (pl.duration or 0.0)
            yield key, index, lineno, pl
    streams = [keyed(src, i) for i, src in enumerate(sources)]
    for _key, _i, _n, pl in heapq.merge(*streams, key=lambda t: (t[0], t[1], t[2])):
        yield pl


def _header(sources: list[str], per_process: bool, command: list[str] | None,
            extra: dict[str, Any] | None) -> dict[str, Any]:
    head: dict[str, Any] = {
        "backend": "strace",
        "command": command,
        "host": socket.gethostname(),
        "kernel": platform.release(),
        "created": time.time(),
        "source": sources,
        "per_process_files": per_process,
        "created_by": "fsrace import",
    }
    if extra:
        head.update(extra)
    return head


def import_strace(inputs: list[str], output: str, *, command: list[str] | None = None,
                  initial_cwd: str | None = None, header_extra: dict[str, Any] | None = None,
                  trailer_extra: dict[str, Any] | None = None,
                  on_progress: Callable[[int, int], None] | None = None,
                  follow: Follow | None = None) -> ImportStats:
    """Import strace log(s) into the event log ``output``; return the stats.

    Raises ImportError_ with a clear message for input that cannot be used
    (missing, empty, not strace output, unmergeable -ff files).  With
    ``follow`` the single input is read while its writer still writes it.
    """
    writer: EventLogWriter | StoreWriter | None = None
    trailer: dict[str, Any] = {}

    def start(header: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
        nonlocal writer
        writer = open_writer(output, header)   # a NAME.fsrace output is an event store
        return writer.write

    try:
        stats = stream_strace(inputs, start, trailer, command=command,
                              initial_cwd=initial_cwd, header_extra=header_extra,
                              trailer_extra=trailer_extra, on_progress=on_progress,
                              follow=follow)
    except KeyboardInterrupt:
        trailer["interrupted"] = True
        trailer.setdefault("warnings", []).append("the import was interrupted: the log "
                                                  "holds the events read until then")
        raise
    finally:
        # Also on Ctrl-C or a read error: the log ends with a valid trailer.
        if writer is not None:
            writer.trailer.update(trailer)
            writer.close()
    return stats


def stream_strace(inputs: list[str], start: Callable[[dict[str, Any]], Callable[[dict[str, Any]], None]],
                  trailer: dict[str, Any], *, command: list[str] | None = None, initial_cwd: str | None = None,
                  header_extra: dict[str, Any] | None = None,
                  trailer_extra: dict[str, Any] | None = None,
                  on_progress: Callable[[int, int], None] | None = None,
                  follow: Follow | None = None) -> ImportStats:
    """Import strace log(s), pushing events into a sink; fill ``trailer``.

    ``start(header)`` is called once the input is known to be strace output
    and returns the function that receives each event.  This is the core of
    ``import_strace`` and of analysing a raw strace log without writing an
    event log first.
    """
    files, per_process = classify_inputs(inputs)
    if follow is not None and (per_process or files == ["-"]):
        raise ImportError_("only one strace log file can be imported while it is written")
    sources = []
    for path in files:
        pid = None
        if per_process:
            m = _FF_NAME.match(path)
            pid = int(m.group(2)) if m else None
        sources.append(_Source(path, pid, follow))
    counter = [0]

    def on_line() -> None:
        counter[0] += 1
        if on_progress is not None and not counter[0] & 0xFFFF:
            on_progress(sum(s.position() for s in sources), sum(s.total() for s in sources))

    head = _header(files, per_process, command, header_extra)
    if initial_cwd:
        head["cwd"] = initial_cwd
    try:
        # A followed log is still empty: its writer (fsrace record) vouches
        # for it and names its clock in header_extra.
        head["clock"] = head.get("clock") if follow is not None else _sniff(sources)
        emit = start(head)
        # The compiled core does the import (one implementation at run time;
        # StraceImporter stays as its test oracle, tests/test_core_import.py).
        importer = CoreImporter(emit, initial_cwd, ImportStats())
        stats = importer.stats
        try:
            if per_process:
                importer.run_ff(sources, ImportError_, on_line)
            else:
                importer.run(sources[0], ImportError_, lambda: on_progress and on_progress(
                    sum(s.position() for s in sources), sum(s.total() for s in sources)))
            importer.finish()
        finally:
            counter[0] = importer.sync()
            stats.lines_read = counter[0]
            res = importer.resolver
            stats.paths, stats.unresolved = res.paths, res.unresolved
            stats.processes = len(res.processes)
            trailer.update({
                "lines_read": stats.lines_read,
                "unparsed": stats.unparsed,
                "unparsed_samples": stats.unparsed_samples,
                "paths": res.paths,
                "unresolved_paths": res.unresolved,
                "truncated_paths": res.truncated,
                "unknown_fds": res.unknown_fds,
                "processes": len(res.processes),
                "unmatched_resumed": stats.unmatched_resumed,
                "unfinished_at_end": stats.unfinished_at_end,
                "warnings": stats.warnings,
                "clock": stats.clock,
                "interrupted": False,
            })
            if trailer_extra:
                trailer.update(trailer_extra)
        if stats.events == 0 and stats.lines_read and stats.unparsed == stats.lines_read:
            raise ImportError_(f"{files[0]}: no line of the input is strace output "
                               f"({stats.unparsed} lines not understood)")
        if on_progress is not None:
            total = sum(s.total() for s in sources)
            on_progress(total, total)
        return stats
    finally:
        for s in sources:
            s.close()


def _sniff(sources: list[_Source]) -> str | None:
    """Check that the input is strace output; return its clock kind.

    Standard input is judged on its first lines too, read ahead and
    replayed (``stdin_sniff``): junk on stdin gets the verdict it gets in
    a file.
    """
    src = sources[0]
    name = "standard input" if src.path == "-" else src.path
    if src.path != "-" and src.size == 0 and not src.path.endswith(".gz") and len(sources) == 1:
        raise ImportError_(f"{src.path}: the file is empty: there is nothing to import")
    if src.path == "-":
        opener: Any = lambda _path, _mode: io.BytesIO(peek_stdin())  # noqa: E731
    else:
        opener = gzip.open if src.path.endswith(".gz") else open
    seen = parsed = 0
    clock = None
    try:
        with opener(src.path, "rb") as fh:
            for raw in fh:
                if not raw.strip():
                    continue
                seen += 1
                if seen == 1:
                    raw = raw.removeprefix(BOM_BYTES)
                    if raw.lstrip().startswith(b"{") and b'"fsrace-events"' in raw:
                        raise ImportError_(
                            f"{name} is already an fsrace event log: analyse it with "
                            f"'fsrace analyze {src.path}' (fsrace import reads strace logs)")
                if raw.endswith(b"\r\n"):
                    raw = raw[:-2] + b"\n"
                pl = _core.parse_line(raw[:65536])   # (pid, ts, ts_kind, kind, ...)
                if pl is not None and pl[3] in ("call", "unfinished", "resumed",
                                                "exited", "killed", "signal"):
                    parsed += 1
                    clock = clock or pl[2]
                    if parsed >= 20:
                        break
                if seen >= 200:
                    break
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ImportError_(f"{name}: cannot read: {exc}") from None
    if seen == 0:
        raise ImportError_(f"{name}: {'it' if src.path == '-' else 'the file'} is empty: "
                           "there is nothing to import")
    if parsed == 0:
        raise ImportError_(
            f"{name}: this does not look like strace output (none of its first {seen} "
            "lines is a syscall line); fsrace imports logs written by 'strace -f -o FILE'")
    return clock
