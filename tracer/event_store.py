"""The event store: event-log format version 2, one SQLite file (``NAME.fsrace``).

Version 1 (``eventlog.py``) is JSON Lines: simple, but several times the
size of the strace text it came from.  The store keeps the same header,
events and trailer in a SQLite database (Python's standard library; any SQL
tool can query it) in a fraction of the space:

* strings that repeat (paths, syscall names, errnos, flags) are interned
  once in ``strings``; (pid, tid, proc) triples once in ``threads``; the
  key order of each kind of event once in ``shapes``;
* each event is one compact row of small integers in ``events``;
* the raw ``args`` text (most of the bytes) is kept whole, in
  zlib-compressed JSON arrays of one flush each (``args_blocks``);
* whatever does not fit a column (``argv``, ``lock``, an odd type) goes
  into the row's ``extra`` JSON object, so every event comes back exactly,
  field for field and in its key order.

The writer commits every ``BATCH`` events (or ``COMMIT_SECONDS`` after the
last commit, at the next event): a writer that is killed leaves a store
readable up to its last commit, without a trailer (the reader says it is
incomplete, as for a version 1 log cut short).  ``docs/event-store.md``
documents the schema for readers in other languages.
"""

from __future__ import annotations

import errno as errno_mod
import json
import math
import os
import sqlite3
import time
import zlib
from pathlib import Path
from typing import Any

from .eventlog import EventLogWriter
from .events import FORMAT, TRAILER_FORMAT, VERSION
from .store_format import (_INT_MAX, _INT_MIN, COLUMN_FIELDS, COLUMNS, INT_FIELDS, SQLITE_MAGIC,
                           STORE_SUFFIX, STORE_VERSION, STRING_FIELDS, _SCHEMA, _to_db,
                           is_event_store, is_store_name)
# The reader, re-exported: callers import the store's API from this module.
from .store_reader import EventStore, open_event_store, read_store_trailer

__all__ = ["BATCH", "COMMIT_SECONDS", "EventStore", "SQLITE_MAGIC", "STORE_SUFFIX",
           "STORE_VERSION", "StoreWriter", "is_event_store", "is_store_name", "open_event_store",
           "open_writer", "read_store_trailer"]

#: Events per flush: one transaction and one compressed args block each.
BATCH = 4096
#: A flush also happens at the first event this long after the last commit,
#: so a slow live recording that is killed loses at most that much.
COMMIT_SECONDS = 1.0
#: zlib level of the args blocks (6: 9 gains ~2 % for twice the CPU).
ZLEVEL = 6

def open_writer(path: str | Path, header: dict[str, Any]) -> "EventLogWriter | StoreWriter":
    """The writer the output name asks for: the store for ``.fsrace``, else JSON Lines."""
    if str(path) != "-" and is_store_name(path):
        return StoreWriter(path, header)
    return EventLogWriter(path, header)


def _fits_int(v: Any) -> bool:
    return v is None or (type(v) is int and _INT_MIN <= v <= _INT_MAX)


def _micros(v: Any) -> int | None:
    """``v`` as integer microseconds when that restores it exactly, else None."""
    if type(v) is not float or not math.isfinite(v) or abs(v) > 1e12:
        return None
    n = round(v * 1e6)
    return n if n / 1e6 == v else None


def _as_os_error(exc: sqlite3.Error) -> OSError:
    """A write failure in the words callers report ("No space left on device")."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code == getattr(sqlite3, "SQLITE_FULL", 13) or "full" in str(exc):
        return OSError(errno_mod.ENOSPC, os.strerror(errno_mod.ENOSPC))
    return OSError(errno_mod.EIO, f"event store: {exc}")


# ------------------------------------------------------------------- writer

class StoreWriter:
    """Write a header, events and a trailer to an event store (version 2).

    The same interface as ``EventLogWriter``: ``write(event)``, ``trailer``,
    ``count``, ``close()`` (writes the trailer; idempotent), and a context
    manager.  The caller (``outputs.AtomicOutput``) gives it the hidden
    partial name and renames the closed file into place.
    """

    def __init__(self, path: str | Path, header: dict[str, Any], *, batch: int = BATCH,
                 commit_seconds: float = COMMIT_SECONDS):
        self.path = path
        self.count = 0
        self.trailer: dict[str, Any] = {}
        self._batch = batch
        self._commit_seconds = commit_seconds
        head = {"format": FORMAT, "version": VERSION}
        head.update(header)
        try:
            if os.path.exists(path):
                os.unlink(path)   # a stale partial: never append to another store
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            db = self._db
            # A killed process loses nothing the kernel has: no fsync per commit
            # (AtomicOutput fsyncs the finished file before the rename).
            db.execute("PRAGMA journal_mode=DELETE")
            db.execute("PRAGMA synchronous=OFF")
            db.execute("PRAGMA page_size=8192")
            db.execute("BEGIN")
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    db.execute(stmt)
            db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("format", FORMAT), ("version", STORE_VERSION),
                ("header", json.dumps(head))])
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _as_os_error(exc) from None
        # None maps to None so that the fast path looks a missing value up too.
        self._strings: dict[Any, int | None] = {None: None}
        self._nstrings = 0
        self._threads: dict[tuple, int] = {}
        self._shapes: dict[tuple, dict[Any, int]] = {}   # key order -> type -> shape id
        self._nshapes = 0
        self._fast: dict[tuple, Any] = {}
        self._new_strings: list[tuple] = []
        self._new_threads: list[tuple] = []
        self._new_shapes: list[tuple] = []
        self._rows: list[tuple] = []
        self._args: list[Any] = []
        self._last_seq = 0
        self._base: int | None = None
        self._last_commit = time.monotonic()

    def _sid_of_str(self, value: Any) -> int | None:
        """``_sid`` for a value that may be no str (None then)."""
        return self._sid(value) if type(value) is str else None

    def _sid(self, text: str) -> int | None:
        """The id of ``text`` in ``strings``, interning it (None: it cannot be
        stored exactly, the caller keeps it in ``extra``).

        A string with a "/" after its first character is stored as its
        parent (the part before the last "/", interned the same way) plus
        the rest, so a directory's path is kept once for all its entries.
        """
        sid = self._strings.get(text)
        if sid is not None:
            return sid
        chain: list[tuple[str, str | None]] = []
        s = text
        parent = None
        while True:   # a loop, not recursion: a path can have 2000 parts
            found = self._strings.get(s)
            if found is not None:
                parent = found
                break
            head, _, name = s.rpartition("/")
            if not head:
                chain.append((s, None))
                break
            chain.append((s, name))
            s = head
        for s, name in reversed(chain):
            value = _to_db(s if name is None else name)
            if value is None:
                return None
            self._nstrings += 1
            sid = self._strings[s] = self._nstrings
            self._new_strings.append((sid, None if name is None else parent, value))
            parent = sid
        return parent

    def write(self, event: dict[str, Any]) -> None:
        """Append one event (buffered; committed every ``batch`` events)."""
        keys = tuple(event)
        fast = self._fast.get(keys)
        got = None if fast is None else fast(event, self._last_seq, self._base)
        if got is None:
            self._write_slow(event, keys)
        else:
            self._rows.append(got[0])
            self._args.append(got[1])
            self._last_seq = got[0][0]
            self.count += 1
        if len(self._rows) >= self._batch or (
                not self.count & 63 and time.monotonic() - self._last_commit > self._commit_seconds):
            self.flush()

    def _write_slow(self, event: dict[str, Any], keys: tuple) -> None:
        """Any event: fields that fit no column go to ``extra``; also interns
        what the fast path of its key order will then find."""
        extra: dict[str, Any] = {}
        get = event.get
        # seq is the row id when it increases (always, for fsrace's logs).
        seq = get("seq")
        if type(seq) is int and self._last_seq < seq <= _INT_MAX:
            rowid = seq
        else:
            rowid = self._last_seq + 1
            if "seq" in event:
                extra["seq"] = seq
        self._last_seq = rowid
        typ = get("type")
        if typ is not None and type(typ) is not str:
            extra["type"] = typ
            typ = None
        by_type = self._shapes.setdefault(keys, {})
        shape = by_type.get(typ)
        if shape is None:
            self._nshapes += 1
            shape = by_type[typ] = self._nshapes
            self._new_shapes.append((shape, typ, json.dumps(list(keys))))
        if keys not in self._fast:
            self._fast[keys] = _compile_writer(keys, self._strings, self._threads, by_type,
                                               self._sid_of_str)
        # pid, tid, proc: one interned triple.
        pid, tid, proc = get("pid"), get("tid"), get("proc")
        if not _fits_int(pid):
            extra["pid"], pid = pid, None
        if not _fits_int(tid):
            extra["tid"], tid = tid, None
        if proc is not None and (type(proc) is not str or _to_db(proc) is None):
            extra["proc"], proc = proc, None
        triple = (pid, tid, proc)
        thread = self._threads.get(triple)
        if thread is None:
            thread = self._threads[triple] = len(self._threads) + 1
            self._new_threads.append((thread, pid, tid, _to_db(proc) if proc else proc))
        # Times as integer microseconds (exact for strace's 6 decimals).
        ts = dur = None
        if "ts" in event:
            ts_v = event["ts"]
            us = _micros(ts_v)
            if us is None:
                if ts_v is not None:
                    extra["ts"] = ts_v
            else:
                if self._base is None:
                    self._base = us
                ts = us - self._base
        if "ts_end" in event:
            end = event["ts_end"]
            eus = _micros(end)
            if eus is not None and ts is not None and (self._base + ts + (eus - us)) / 1e6 == end:
                dur = eus - us
            elif end is not None:
                extra["ts_end"] = end
        cols: list[Any] = []
        for name in STRING_FIELDS:
            v = get(name)
            if v is None:
                cols.append(None)
            elif type(v) is str and (sid := self._sid(v)) is not None:
                cols.append(sid)
            else:
                extra[name] = v
                cols.append(None)
        syscall, errno_id, path, path2, flags = cols
        ints = []
        for name in INT_FIELDS:
            v = get(name)
            if _fits_int(v):
                ints.append(v)
            else:
                extra[name] = v
                ints.append(None)
        result, fd, dirfd, ofd = ints
        last = get("last")
        if last is not None and type(last) is not bool:
            extra["last"], last = last, None
        args = get("args")
        if args is not None and type(args) is not str:
            extra["args"], args = args, None
        for k in keys:
            if k not in COLUMN_FIELDS:
                extra[k] = event[k]
        self._rows.append((rowid, shape, thread, ts, dur, syscall, result, errno_id, path, path2,
                           fd, dirfd, flags, ofd, None if last is None else int(last),
                           json.dumps(extra) if extra else None))
        self._args.append(args)
        self.count += 1

    def flush(self) -> None:
        """Commit the buffered events in one transaction (a crash keeps them).

        The buffers are emptied only once the commit is known to be done, so
        a Ctrl-C (or SIGTERM) landing anywhere in here loses nothing: the
        next flush (``close()`` runs one) rolls back a half-made transaction
        and writes the batch again, or sees it was committed after all.
        """
        db = self._db
        rows = self._rows
        try:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if rows:
                top = db.execute("SELECT max(seq) FROM events").fetchone()[0]
                if top is not None and top >= rows[-1][0]:
                    self._clear()   # committed, then interrupted before the clear
                    return
            elif not self._new_strings:
                return
            db.execute("BEGIN")
            if self._base is not None:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('ts_base_us', ?)",
                           (str(self._base),))
            db.executemany("INSERT INTO strings VALUES (?, ?, ?)", self._new_strings)
            db.executemany("INSERT INTO threads VALUES (?, ?, ?, ?)", self._new_threads)
            db.executemany("INSERT INTO shapes VALUES (?, ?, ?)", self._new_shapes)
            db.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            if rows:
                blob = zlib.compress(json.dumps(self._args, separators=(",", ":"))
                                     .encode("ascii"), ZLEVEL)
                db.execute("INSERT INTO args_blocks VALUES (?, ?, ?, ?)",
                           (rows[0][0], rows[-1][0], len(rows), blob))
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _as_os_error(exc) from None
        self._clear()

    def _clear(self) -> None:
        self._rows, self._args = [], []
        self._new_strings, self._new_threads, self._new_shapes = [], [], []
        self._last_commit = time.monotonic()

    def close(self) -> None:
        """Commit the rest, write the trailer and close the file (idempotent)."""
        if self._db is None:
            return
        db = self._db
        try:
            self.flush()
            trailer = {"format": TRAILER_FORMAT, "events": self.count}
            trailer.update(self.trailer)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('trailer', ?)",
                       (json.dumps(trailer),))
        except sqlite3.Error as exc:
            self._db = None
            db.close()
            raise _as_os_error(exc) from None
        except BaseException:
            self._db = None
            db.close()
            raise
        self._db = None
        db.close()

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _compile_writer(keys: tuple, strings: dict, threads: dict, shapes: dict, intern: Any):
    """The fast path of ``StoreWriter.write`` for events with these keys in
    this order: the row, or None when a value does not fit its column
    exactly (then the slow path decides).  None when the keys need ``extra``.

    A dict hit proves a value: the tables hold only strs (and None), so a
    hit means the same str; pids and tids are checked for int because
    ``1 == True == 1.0`` would hit too.
    """
    if "seq" not in keys or "type" not in keys or any(k not in COLUMN_FIELDS for k in keys) or (
            "ts_end" in keys and "ts" not in keys):
        return None
    body = ["  seq = ev['seq']",
            "  if type(seq) is not int or seq <= last or seq > M: return None",
            "  shape = SH[ev['type']]"]
    col: dict[str, str] = {}
    if any(k in keys for k in ("pid", "tid", "proc")):
        for k in ("pid", "tid", "proc"):
            body.append(f"  {k}_ = ev[{k!r}]" if k in keys else f"  {k}_ = None")
        body += ["  if type(pid_) is not int and pid_ is not None: return None",
                 "  if type(tid_) is not int and tid_ is not None: return None",
                 "  thread = TH[(pid_, tid_, proc_)]"]
        col["thread"] = "thread"
    if "ts" in keys:
        body += ["  t = ev['ts']", "  if type(t) is not float: return None",
                 "  us = round(t * 1e6)", "  if us / 1e6 != t: return None"]
        col["ts"] = "us - base"
    if "ts_end" in keys:
        body += ["  te = ev['ts_end']", "  if type(te) is not float: return None",
                 "  ue = round(te * 1e6)", "  if ue / 1e6 != te: return None"]
        col["dur"] = "ue - us"
    for k in STRING_FIELDS:
        if k in keys:
            # A new string is interned here too (most new paths come so).
            body += [f"  {k}_ = ev[{k!r}]", f"  {k}_i = S.get({k}_)",
                     f"  if {k}_i is None and {k}_ is not None:",
                     f"    {k}_i = SID({k}_)",
                     f"    if {k}_i is None: return None"]
            col[k] = f"{k}_i"
    for k in INT_FIELDS:
        if k in keys:
            body += [f"  {k}_ = ev[{k!r}]",
                     f"  if {k}_ is not None and (type({k}_) is not int or {k}_ > M or "
                     f"{k}_ < -M - 1): return None"]
            col[k] = f"{k}_"
    if "last" in keys:
        body += ["  l = ev['last']", "  if type(l) is not bool: return None"]
        col["last"] = "1 if l else 0"
    args = "None"
    if "args" in keys:
        body += ["  a = ev['args']", "  if type(a) is not str: return None"]
        args = "a"
    row = ", ".join(["seq", "shape"] + [col.get(c, "None") for c in COLUMNS[1:]])
    src = ("def w(ev, last, base):\n try:\n" + "\n".join(body)
           + f"\n  return ({row}), {args}\n except (KeyError, TypeError, ValueError, "
           "OverflowError):\n  return None\n")
    scope = {"S": strings, "TH": threads, "SH": shapes, "M": _INT_MAX, "SID": intern}
    exec(src, scope)   # noqa: S102 - generated from the fixed column list above
    return scope["w"]
