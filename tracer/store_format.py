"""The event store's file format (version 2): names, schema, and string values.

Shared by the writer (``event_store.py``) and the reader (``store_reader.py``);
``docs/event-store.md`` documents the schema for readers in other languages.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

#: The name ending that selects the store (``-o run.fsrace``).
STORE_SUFFIX = ".fsrace"
#: Version of the store's container format (the events inside follow the
#: event fields of ``events.VERSION``).
STORE_VERSION = "2.0"
#: The first 16 bytes of every SQLite 3 database file.
SQLITE_MAGIC = b"SQLite format 3\x00"
#: The columns of ``events`` after ``seq`` (see docs/event-store.md).
COLUMNS = ("shape", "thread", "ts", "dur", "syscall", "result", "errno", "path", "path2",
           "fd", "dirfd", "flags", "ofd", "last", "extra")
#: Event fields kept as an interned string id in the column of that name.
STRING_FIELDS = ("syscall", "errno", "path", "path2", "flags")
#: Event fields kept as a plain integer in the column of that name.
INT_FIELDS = ("result", "fd", "dirfd", "ofd")
#: Every field that has a home outside ``extra``.
COLUMN_FIELDS = frozenset(("seq", "type", "ts", "ts_end", "pid", "tid", "proc", "args",
                           "last") + STRING_FIELDS + INT_FIELDS)

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE strings (id INTEGER PRIMARY KEY, parent INTEGER, text);
CREATE TABLE threads (id INTEGER PRIMARY KEY, pid INTEGER, tid INTEGER, proc);
CREATE TABLE shapes (id INTEGER PRIMARY KEY, type, keys TEXT NOT NULL);
CREATE TABLE events (seq INTEGER PRIMARY KEY, shape INTEGER NOT NULL, thread INTEGER,
    ts INTEGER, dur INTEGER, syscall INTEGER, result INTEGER, errno INTEGER, path INTEGER,
    path2 INTEGER, fd INTEGER, dirfd INTEGER, flags INTEGER, ofd INTEGER, last INTEGER,
    extra TEXT);
CREATE TABLE args_blocks (first_seq INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL,
    count INTEGER NOT NULL, data BLOB NOT NULL);
CREATE VIEW string_view AS WITH RECURSIVE full(id, text) AS (
    SELECT id, text FROM strings WHERE parent IS NULL
    UNION ALL SELECT s.id, f.text || '/' || s.text FROM strings s JOIN full f ON s.parent = f.id)
  SELECT id, text FROM full;
CREATE VIEW event_view AS SELECT e.seq AS seq, sh.type AS type,
    COALESCE(json_extract(e.extra, '$.ts'),
             (CAST((SELECT value FROM meta WHERE key = 'ts_base_us') AS INTEGER) + e.ts) / 1e6)
        AS ts,
    COALESCE(json_extract(e.extra, '$.ts_end'),
             (CAST((SELECT value FROM meta WHERE key = 'ts_base_us') AS INTEGER) + e.ts + e.dur)
             / 1e6) AS ts_end,
    t.pid AS pid, t.tid AS tid, t.proc AS proc, sc.text AS syscall, e.result AS result,
    er.text AS errno, p.text AS path, p2.text AS path2, e.fd AS fd, e.dirfd AS dirfd,
    fl.text AS flags, e.ofd AS ofd, e.last AS last, e.extra AS extra
  FROM events e JOIN shapes sh ON sh.id = e.shape LEFT JOIN threads t ON t.id = e.thread
  LEFT JOIN strings sc ON sc.id = e.syscall LEFT JOIN strings er ON er.id = e.errno
  LEFT JOIN string_view p ON p.id = e.path LEFT JOIN string_view p2 ON p2.id = e.path2
  LEFT JOIN strings fl ON fl.id = e.flags;
"""

_INT_MIN, _INT_MAX = -(1 << 63), (1 << 63) - 1
#: The partial name AtomicOutput writes beside the output: .NAME.PID.partial
_PARTIAL_TAIL = re.compile(r"\.\d+\.partial$")


def is_store_name(path: str | Path) -> bool:
    """True when an output name asks for the store (``NAME.fsrace``, or the
    hidden ``.NAME.fsrace.PID.partial`` it is written to first)."""
    name = _PARTIAL_TAIL.sub("", os.path.basename(str(path)))
    return name.endswith(STORE_SUFFIX) and name != STORE_SUFFIX.lstrip(".")


def is_event_store(path: str | Path) -> bool:
    """True when ``path`` is a SQLite file (cheap sniff of the magic bytes).

    Standard input (``-``) is peeked at, not consumed (``stdin_sniff``):
    ``fsrace analyze -`` spools it to a file, which then opens as a store.
    """
    if str(path) == "-":
        from .stdin_sniff import peek_stdin

        try:
            return peek_stdin(1, 4096)[:16] == SQLITE_MAGIC
        except (OSError, EOFError, ValueError):
            return False
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == SQLITE_MAGIC
    except OSError:
        return False


# ------------------------------------------------------------------ strings

def _to_db(text: str) -> str | bytes | None:
    """The SQL value of a string: TEXT when it is valid UTF-8, else a BLOB of
    the original bytes (surrogate escapes); None when neither restores it."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return None
    return raw if raw.decode("utf-8", "surrogateescape") == text else None


def _from_db(value: Any) -> Any:
    return value.decode("utf-8", "surrogateescape") if type(value) is bytes else value
