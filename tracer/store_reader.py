"""Reading an event store (format 2): the same header, records and trailer as a v1 log.

``EventStore`` is an ``EventLog`` whose ``records()`` come from the SQLite
file instead of JSON lines, so ``analyzers/load.py`` validates and analyses
it exactly as the version 1 log of the same recording.
"""

from __future__ import annotations

import json
import os
import sqlite3
import zlib
from pathlib import Path
from typing import Any, Iterator

from .eventlog import EventLog, EventLogError
from .events import FORMAT
from .store_format import (COLUMNS, INT_FIELDS, STORE_SUFFIX, STORE_VERSION, STRING_FIELDS,
                           _from_db, is_event_store)

def _compile_shape(typ: Any, keys: list[str]):
    """A function building one event dict of this shape from a row (the
    per-event cost of reading is one call of it)."""
    parts = []
    for k in keys:
        if k == "seq":
            v = "r[0]"
        elif k == "type":
            v = repr(typ)
        elif k in ("pid", "tid", "proc"):
            v = f"T[r[2]][{('pid', 'tid', 'proc').index(k)}]"
        elif k == "ts":
            v = "None if r[3] is None else (B + r[3]) / 1e6"
        elif k == "ts_end":
            v = "None if r[4] is None else (B + r[3] + r[4]) / 1e6"
        elif k in STRING_FIELDS:
            i = 1 + COLUMNS.index(k)
            v = f"S[r[{i}]]"
        elif k in INT_FIELDS:
            v = f"r[{1 + COLUMNS.index(k)}]"
        elif k == "last":
            v = "L[r[14]]"
        elif k == "args":
            v = "a"
        else:
            v = "None"   # only in extra: never reached through this path
        parts.append(f"{k!r}: {v}")
    src = "lambda r, a, S, T, B, L: {" + ", ".join(parts) + "}"
    return eval(src, {"__builtins__": {}}), list(keys)   # noqa: S307 - built from a schema


class EventStore(EventLog):
    """An opened event store: header, events and trailer, as ``EventLog``.

    ``records()`` yields ``(n, obj)`` exactly as a version 1 log's lines
    (n counts as a line number would: the header is 1), ending with the
    trailer when the store has one; ``events()`` and ``trailer`` work as
    for ``EventLog``.
    """

    def __init__(self, header: dict[str, Any], path: str, db: sqlite3.Connection,
                 trailer: dict[str, Any] | None, ts_base: int):
        super().__init__(header=header, path=path)
        self._db = db
        self._stored_trailer = trailer
        self._base = ts_base

    @property
    def stored_trailer(self) -> dict[str, Any] | None:
        """The trailer the writer stored when it closed (None: killed first)."""
        return self._stored_trailer

    @property
    def complete(self) -> bool:
        """False when the writer never closed it (killed): no trailer."""
        return self._stored_trailer is not None

    def records(self) -> Iterator[tuple[int, Any]]:
        """Yield (line number, object) for every event, then the trailer."""
        db = self._db
        name = self.path
        lineno = 1
        try:
            try:
                strings: dict[Any, Any] = {None: None}
                for sid, parent, text in db.execute(
                        "SELECT id, parent, text FROM strings ORDER BY id"):
                    text = _from_db(text)
                    strings[sid] = text if parent is None else strings[parent] + "/" + text
                threads: dict[Any, Any] = {None: (None, None, None)}
                for tid_, pid, tid, proc in db.execute("SELECT id, pid, tid, proc FROM threads"):
                    threads[tid_] = (pid, tid, _from_db(proc))
                shapes: dict[int, Any] = {}
                for sh, typ, keys in db.execute("SELECT id, type, keys FROM shapes"):
                    shapes[sh] = _compile_shape(typ, json.loads(keys))
                blocks = db.execute("SELECT first_seq, last_seq, count, data FROM args_blocks "
                                    "ORDER BY first_seq")
                rows = db.execute("SELECT * FROM events ORDER BY seq")
                bools = {None: None, 0: False, 1: True}
                base = self._base
                loads = json.loads
                decompress = zlib.decompress
                for first, last, count, data in blocks:
                    args = loads(decompress(data))
                    batch = rows.fetchmany(count)
                    if (len(batch) != count or len(args) != count or batch[0][0] != first
                            or batch[-1][0] != last):
                        raise EventLogError(f"{name}: the event store is damaged: the events "
                                            f"from {first} to {last} do not match their args")
                    for r, a in zip(batch, args):
                        lineno += 1
                        make, keys = shapes[r[1]]
                        ev = make(r, a, strings, threads, base, bools)
                        if r[15] is not None:
                            ev = _with_extra(ev, keys, loads(r[15]))
                        yield lineno, ev
                if rows.fetchone() is not None:
                    raise EventLogError(f"{name}: the event store is damaged: events after the "
                                        "last args block")
            except (sqlite3.Error, zlib.error, ValueError, KeyError, IndexError, TypeError) as exc:
                raise EventLogError(f"{name}: the event store is damaged after record {lineno}: "
                                    f"{type(exc).__name__}: {exc}") from None
            if self._stored_trailer is not None:
                yield lineno + 1, self._stored_trailer
        finally:
            self.close()

    def close(self) -> None:
        """Close the database (records() does it when it ends)."""
        if self._db is not None:
            self._db.close()
            self._db = None


def _with_extra(ev: dict[str, Any], keys: list[str], extra: dict[str, Any]) -> dict[str, Any]:
    """The event with the fields kept in ``extra`` put back in their place."""
    return {k: (extra[k] if k in extra else ev[k]) for k in keys}


def open_event_store(path: str | Path, name: str | None = None) -> EventStore:
    """Open an event store for reading; raise EventLogError with the reason if
    it is not one (another SQLite file, a damaged one, another version)."""
    name = str(path) if name is None else name
    if str(path) == "-":
        raise EventLogError("an event store cannot be read from standard input here: give "
                            "its file name")
    if not is_event_store(path):
        raise EventLogError(f"{name}: not an fsrace event store (a '{STORE_SUFFIX}' file is "
                            f"a SQLite database; this file is not one)")
    try:
        # A hot journal (writer killed while committing) must be rolled back
        # to the last commit, which needs a read-write open.
        mode = "rw" if os.path.exists(f"{path}-journal") else "ro"
        uri = "file:" + _uri_path(str(path)) + f"?mode={mode}"
        db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        meta = dict(db.execute("SELECT key, value FROM meta"))
    except sqlite3.Error as exc:
        raise EventLogError(f"{name}: the event store cannot be read ({exc}): the file is "
                            "damaged or is not an fsrace event store") from None
    try:
        if meta.get("format") != FORMAT:
            raise EventLogError(f"{name}: not an fsrace event store (a SQLite database "
                                "without its 'fsrace-events' format mark)")
        version = str(meta.get("version") or "")
        if version.split(".")[0] != STORE_VERSION.split(".")[0]:
            raise EventLogError(
                f"{name}: event-store format version {version or '?'} is not supported by this "
                f"fsrace (it reads version {STORE_VERSION.split('.')[0]}.x); use the fsrace "
                "version that wrote it")
        try:
            header = json.loads(meta["header"])
            trailer = json.loads(meta["trailer"]) if "trailer" in meta else None
            base = int(meta.get("ts_base_us") or 0)
        except (KeyError, ValueError, TypeError) as exc:
            raise EventLogError(f"{name}: the event store is damaged: its header or trailer "
                                f"cannot be read ({exc})") from None
        if not isinstance(header, dict) or (trailer is not None and not isinstance(trailer, dict)):
            raise EventLogError(f"{name}: the event store is damaged: its header or trailer "
                                "is not an object")
    except BaseException:
        db.close()
        raise
    return EventStore(header, name, db, trailer, base)


def _uri_path(path: str) -> str:
    from urllib.parse import quote

    return quote(os.path.abspath(path).encode("utf-8", "surrogateescape"))


def read_store_trailer(path: str | Path) -> dict[str, Any] | None:
    """The trailer of the store at ``path`` (None if it has none or cannot be read)."""
    try:
        store = open_event_store(path)
    except EventLogError:
        return None
    store.close()
    return store._stored_trailer
