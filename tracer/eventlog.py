"""Reading and writing event logs: JSON Lines with a header and a trailer.

Layout of a log (one JSON object per line)::

    {"format": "fsrace-events", "version": "1.0", "backend": "strace", ...}
    {"seq": 1, "type": "exec", ...}
    ...
    {"format": "fsrace-events-trailer", "events": N, "lines_read": M, ...}

The header says how the log was made; the trailer accounts for everything
that went in (lines read, events written, lines not understood with samples,
unresolved paths) and whether the recording was interrupted.  A log without
a trailer was cut short (the writer was killed); readers still load it and
say so.  Files whose name ends in ``.gz`` are compressed transparently, and
``-`` means standard input/output.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator

from .events import FORMAT, TRAILER_FORMAT, VERSION
from .termination import CRITICAL, raise_pending
from .stdin_sniff import peek_stdin, stdin_bytes

#: A UTF-8 byte-order mark, as decoded text (some editors write one).
BOM = "\ufeff"


class EventLogError(Exception):
    """The file is not a usable event log; the message says why."""


def open_text(path: str | Path, mode: str) -> IO[str]:
    """Open ``path`` for text reading/writing, gunzipping ``.gz``; ``-`` is stdio."""
    if str(path) == "-":
        stream = stdin_bytes() if "r" in mode else sys.stdout.buffer
        return io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape",
                                write_through=False)
    if str(path).endswith(".gz"):
        return gzip.open(path, mode + "t", encoding="utf-8", errors="surrogateescape",
                         compresslevel=6)
    return open(path, mode, encoding="utf-8", errors="surrogateescape",
                buffering=1 << 20)


class EventLogWriter:
    """Write a header, events, and a trailer to an event log file.

    Use as a context manager; ``close()`` writes the trailer, so an
    exception inside the ``with`` block still leaves a complete, valid log
    (the caller records why in ``trailer``).
    """

    def __init__(self, path: str | Path, header: dict[str, Any]):
        self.path = path
        self._out = open_text(path, "w")
        head = {"format": FORMAT, "version": VERSION}
        head.update(header)
        self._out.write(json.dumps(head) + "\n")
        self.count = 0
        self.trailer: dict[str, Any] = {}
        # Bound once: the encoder is called once per event on the hot path.
        self._dumps = json.JSONEncoder(separators=(",", ":")).encode
        self._write = self._out.write
        # Encoded event lines (bytes from the compiled core) go straight to
        # the binary layer under the text one, skipping a decode and an
        # encode of every byte; text written since must reach it first.
        self._raw = getattr(self._out, "buffer", None)
        self._text_pending = True
        # In the main thread a Ctrl-C/SIGTERM must not land inside a write
        # (io drops what it had buffered): it is held until the event is out.
        if threading.current_thread() is threading.main_thread():
            self.write = self._write_guarded   # type: ignore[method-assign]

    def write(self, event: dict[str, Any]) -> None:
        """Append one event."""
        self._write(self._dumps(event))
        self._write("\n")
        self._text_pending = True
        self.count += 1

    def write_lines(self, text: str | bytes, count: int) -> None:
        """Append ``count`` events already encoded as JSON Lines (the
        compiled core writes each line as ``write`` would), as text or as
        ASCII bytes."""
        # Only the main thread's writes are guarded: signals are handled
        # there; a guard counted from the live-import thread would hold a
        # Ctrl-C that nothing then raises.
        guard = threading.current_thread() is threading.main_thread()
        CRITICAL.depth += guard
        try:
            if isinstance(text, str) or self._raw is None:
                self._write(text if isinstance(text, str) else text.decode("ascii"))
                self._text_pending = True
            else:
                if self._text_pending:
                    self._out.flush()
                    self._text_pending = False
                self._raw.write(text)
            self.count += count
        finally:
            CRITICAL.depth -= guard
        if guard and CRITICAL.pending is not None and CRITICAL.depth == 0:
            raise_pending()

    def _write_guarded(self, event: dict[str, Any]) -> None:
        line = self._dumps(event)
        CRITICAL.depth += 1
        try:
            self._write(line)
            self._write("\n")
            self._text_pending = True
            self.count += 1
        finally:
            CRITICAL.depth -= 1
        if CRITICAL.pending is not None:
            raise_pending()

    def close(self) -> None:
        """Write the trailer and close the file (idempotent)."""
        if self._out is None:
            return
        trailer = {"format": TRAILER_FORMAT, "events": self.count}
        trailer.update(self.trailer)
        out, self._out = self._out, None
        guard = threading.current_thread() is threading.main_thread()
        CRITICAL.depth += guard
        try:
            out.write(json.dumps(trailer) + "\n")
            if str(self.path) == "-":
                out.flush()
                out.detach()
            else:
                out.close()
        except BaseException:
            # A full disk: close the file anyway (its buffer cannot be
            # written) and let the caller discard it and say why.
            if str(self.path) != "-":
                try:
                    out.close()
                except (OSError, ValueError):
                    pass
            raise
        finally:
            CRITICAL.depth -= guard
        if guard and CRITICAL.pending is not None and CRITICAL.depth == 0:
            raise_pending()

    def __enter__(self) -> "EventLogWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class EventLog:
    """An opened event log: its header, an event iterator, and the trailer.

    ``trailer`` is filled once ``events`` has been consumed; it is ``None``
    when the log had none (cut short).
    """

    header: dict[str, Any]
    path: str
    trailer: dict[str, Any] | None = None
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    #: Why a compressed log ended early (set by ``records``), else None.
    cut_short: str | None = None
    _stream: Any = None

    def records(self) -> Iterator[tuple[int, Any]]:
        """Yield (line number, parsed JSON) for each non-blank line after the header.

        The value is ``None`` for a line that is not JSON (or nests too
        deep to parse); judging the rest is ``analyzers/validate.py``'s job.
        CRLF endings need nothing: JSON treats ``\\r`` as white space.
        """
        loads = json.loads
        lineno = 1
        try:
            with self._stream as stream:
                for line in stream:
                    lineno += 1
                    try:
                        obj = loads(line)
                    except (ValueError, RecursionError):
                        if not line.strip():
                            continue
                        obj = None
                    yield lineno, obj
        except EOFError as exc:
            # A .gz cut short (its writer was killed): what came before is
            # as good as the lines of an uncompressed log without a trailer.
            self.cut_short = f"{exc} (after line {lineno})"
        except (OSError, gzip.BadGzipFile, zlib.error) as exc:
            raise EventLogError(f"{self.path}: read error after line {lineno}: {exc}") from None

    def events(self) -> Iterator[dict[str, Any]]:
        """Yield each event-like object once, in file order; fills ``trailer``.

        No validation beyond "a JSON object with a seq" (tests and tools
        that read logs fsrace itself wrote); ``fsrace analyze`` validates
        through ``analyzers/validate.py``.
        """
        for lineno, obj in self.records():
            if type(obj) is not dict:
                self.bad_lines.append((lineno, repr(obj)[:200]))
            elif "seq" in obj:
                yield obj
            elif obj.get("format") == TRAILER_FORMAT:
                self.trailer = obj
            else:
                self.bad_lines.append((lineno, json.dumps(obj)[:200]))


def read_header(first_line: str, path: str) -> dict[str, Any]:
    """Parse and check an event-log header line; raise EventLogError if wrong."""
    try:
        head = json.loads(first_line.removeprefix(BOM))
    except (ValueError, RecursionError):
        head = None
    if isinstance(head, dict) and "seq" in head and "format" not in head:
        raise EventLogError(f"{path}: event log line 1 is an event, not the '{FORMAT}' "
                            f"header: the header line is missing")
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise EventLogError(f"{path}: not an fsrace event log (the first line is not "
                            f"a '{FORMAT}' header)")
    version = str(head.get("version", ""))
    major = version.split(".")[0]
    if major != VERSION.split(".")[0]:
        raise EventLogError(
            f"{path}: event-log format version {version or '?'} is not supported by this "
            f"fsrace (it reads version {VERSION.split('.')[0]}.x); use the fsrace version "
            f"that wrote it, or re-import the original strace log")
    return head


def open_event_log(path: str | Path, name: str | None = None) -> EventLog:
    """Open an event log for reading and check its header.

    ``name`` is what messages call the file (default: ``path``).
    """
    name = str(path) if name is None else name
    try:
        stream = open_text(path, "r")
        first = stream.readline()
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise EventLogError(f"{name}: cannot read: {exc}") from None
    try:
        header = read_header(first, name)
    except EventLogError:
        stream.close()
        raise
    return EventLog(header=header, path=name, _stream=stream)


def _starts_like_json_object(first: str) -> bool:
    # No strace line starts with "{" (they start with a pid, a time, a
    # syscall name, "+++", "---" or "["), so a first line that does is
    # judged as an event log, and a bad header is refused as one.
    return first.removeprefix(BOM).lstrip(" \t").startswith("{")


def looks_like_event_log(path: str | Path) -> bool:
    """True when the input's first line is a JSON object (cheap sniff; ``-`` is stdin).

    A UTF-8 byte-order mark before it is allowed.  Standard input is
    peeked at, not consumed (see ``stdin_sniff``).
    """
    if str(path) == "-":
        try:
            first = peek_stdin(1, 4096).decode("utf-8", "surrogateescape")
        except (OSError, EOFError, zlib.error):
            return False   # the strace importer's sniff reports it
        return _starts_like_json_object(first)
    try:
        with open_text(path, "r") as stream:
            first = stream.readline(4096)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error, UnicodeDecodeError):
        return False
    return _starts_like_json_object(first)
