"""Turning decoded fanotify batches and process events into log events.

The converter keeps the process bookkeeping (fsrace process keys for pids,
exec and exit from the proc connector), splits events the kernel merged back
into their lifecycle order, places merged deletions, and merges the two
sources into one seq-ordered timeline.  See ``tracer/fanotify_backend.py``
for the whole design.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from fsrace.tracer.events import proc_key
from fsrace.tracer.filelock_trace import LockRecord
from fsrace.tracer.proc_connector import ProcEvent, describe_exit
from fsrace.tracer.fanotify_decode import Counters, Namespace
from fsrace.tracer.fanotify_kernel import (
    FAN_CLOSE_WRITE, FAN_CREATE, FAN_DELETE, FAN_MODIFY, FAN_MOVED_FROM, FAN_MOVED_TO,
    FAN_ONDIR, FAN_OPEN, FAN_RENAME, LIFECYCLE_ORDER)


@dataclass
class _Proc:
    key: str
    alive: bool = True


class Converter:
    """Turns decoded fanotify batches and process events into log events."""

    def __init__(self, ns: Namespace, counters: Counters, write: Callable[[dict], None],
                 clock_offset: float, root_pid: int | None = None):
        self.ns = ns
        self.c = counters
        self.write = write
        self.offset = clock_offset          # add to monotonic seconds -> epoch
        self.root_pid = root_pid            # None: every process (watch)
        self.tracked: set[int] = set()
        self.procs: dict[int, _Proc] = {}
        self.incarnations: dict[int, int] = {}
        self.pending_proc: list[ProcEvent] = []
        # Lock events from tracefs with the path of their file: (record, path).
        self.pending_locks: list[tuple[LockRecord, str | None]] = []
        self.lock_events = 0
        # Paths each process was seen opening, newest last (lock-file lookup).
        self.opened_by: dict[int, dict[str, None]] = {}
        self.find_lock_path: Callable[[LockRecord, list[str]], str | None] | None = None
        self.dirty: set[tuple[int, bytes, bytes]] = set()
        self.moved_from: dict[int, tuple] = {}   # pid -> pending MOVED_FROM (fallback)
        self.seq = 0
        self.argv: dict[tuple[int, int], tuple] = {}   # (tgid, ts_ns) -> (argv, exe, ppid, note)
        self.processes = 0
        if root_pid is not None:
            self.tracked.add(root_pid)

    # ------------------------------------------------------------ processes

    def _key(self, pid: int, new: bool = False) -> str:
        p = self.procs.get(pid)
        if p is None or new:
            n = self.incarnations.get(pid, 0) + 1
            self.incarnations[pid] = n
            p = self.procs[pid] = _Proc(proc_key(pid, n))
            self.processes += 1
        return p.key

    def _emit_proc(self, pe: ProcEvent) -> None:
        ts = pe.ts_ns / 1e9 + self.offset
        if pe.kind == "fork":
            if pe.thread:
                return
            parent = pe.ptgid
            if self.root_pid is not None and parent not in self.tracked:
                return
            self.tracked.add(pe.tgid)
            pkey = self._key(parent)
            ckey = self._key(pe.tgid, new=True)
            self.seq += 1
            self.write({"seq": self.seq, "type": "fork", "ts": ts, "pid": parent, "tid": pe.ppid,
                        "proc": pkey, "syscall": "clone", "result": pe.tgid, "child": pe.tgid,
                        "child_proc": ckey, "thread": False, "vfork": False})
        elif pe.kind == "exec":
            if self.root_pid is not None and pe.tgid not in self.tracked:
                return
            info = self.argv.pop((pe.tgid, pe.ts_ns), None)
            argv, exe, ppid, note = info if info else (None, None, None, "not read")
            self.seq += 1
            ev = {"seq": self.seq, "type": "exec", "ts": ts, "pid": pe.tgid, "tid": pe.pid,
                  "proc": self._key(pe.tgid), "syscall": "execve", "result": 0,
                  "path": exe, "argv": argv}
            if ppid is not None:
                ev["ppid"] = ppid
            if note:
                ev["note"] = note
            self.write(ev)
        elif pe.kind == "exit":
            if pe.thread:
                return
            if self.root_pid is not None and pe.tgid not in self.tracked:
                return
            code, sig, core = describe_exit(pe.status)
            self.seq += 1
            ev = {"seq": self.seq, "type": "exit", "ts": ts, "pid": pe.tgid, "tid": pe.pid,
                  "proc": self._key(pe.tgid)}
            if sig is not None:
                ev["signal"] = sig
                ev["core"] = core
            else:
                ev["code"] = code
            self.write(ev)
            p = self.procs.get(pe.tgid)
            if p is not None:
                p.alive = False
            if self.root_pid is not None:
                self.tracked.discard(pe.tgid)

    def add_proc_events(self, events: list[ProcEvent]) -> None:
        """Queue process events; each goes out with the batch whose window holds it."""
        self.pending_proc.extend(events)

    def add_lock_events(self, records: list[tuple[LockRecord, str | None]]) -> None:
        """Queue lock events (with their file's path), placed like process events."""
        self.pending_locks.extend(records)

    def _emit_lock(self, rec: LockRecord, path: str | None) -> None:
        pid = rec.pid
        if self.root_pid is not None and pid not in self.tracked:
            self.c.other += 1
            return
        if path is None and self.find_lock_path is not None:
            seen = self.opened_by.get(pid, {})
            path = self.find_lock_path(rec, list(reversed(seen)))
        self.seq += 1
        self.lock_events += 1
        p = self.procs.get(pid)
        key = p.key if p is not None else self._key(pid)
        ev = {"seq": self.seq, "type": "syscall", "ts": rec.ts_ns / 1e9 + self.offset,
              "pid": pid, "tid": pid, "proc": key,
              "syscall": "flock" if rec.kind == "flock" else "fcntl", "path": path,
              "result": -1 if rec.errno else 0,
              "lock": {"op": rec.op, "kind": rec.kind, "start": rec.start, "len": rec.length,
                       "wait": rec.wait},
              "source": "tracefs"}
        if rec.kind != "posix":
            # flock and OFD locks belong to the open file description; the
            # kernel's owner cookie for them is that description.
            ev["ofd"] = rec.owner
        if rec.errno:
            ev["errno"] = rec.errno
        if rec.closing:
            ev["closing"] = True
        if path is None:
            ev["unresolved"] = True
        self.write(ev)

    def _emit_timed(self, item: tuple) -> None:
        """Emit a queued process event or lock event (see ``_window``)."""
        if item[1] == "lock":
            self._emit_lock(*item[2])
        else:
            self._emit_proc(item[2])

    def _window(self, lo_ns: int, hi_ns: int) -> tuple[list[tuple], list[tuple]]:
        """The queued process and lock events before and inside ``(lo, hi]``, in time order.

        Items are ``(ts_ns, "proc"|"lock", payload)``; later ones stay queued.
        """
        items = [(pe.ts_ns, "proc", pe) for pe in self.pending_proc]
        items += [(rec.ts_ns, "lock", (rec, path)) for rec, path in self.pending_locks]
        items.sort(key=lambda it: it[0])
        before = [it for it in items if it[0] <= lo_ns]
        inside = [it for it in items if lo_ns < it[0] <= hi_ns]
        self.pending_proc = [pe for pe in self.pending_proc if pe.ts_ns > hi_ns]
        self.pending_locks = [rp for rp in self.pending_locks if rp[0].ts_ns > hi_ns]
        return before, inside

    # ------------------------------------------------------------- batches

    def batch(self, events: list, lo_ns: int, hi_ns: int) -> None:
        """Convert one batch of decoded kernel events read in ``(lo, hi]``.

        Process and lock events carry kernel times; fanotify events only
        their batch.  Those before ``lo`` go first.  Those inside the window
        are placed, in time order, at the position the batch allows:
        a fork or exec before the process's first event; an exit, or a lock
        released, after the process's last event in the batch (the latest
        consistent position: nothing it did in the batch escapes the lock);
        a lock taken as early as possible (but after the process opened the
        lock file, when the batch shows that open).  Under a lock that is
        respected, the next holder's locked work follows the previous
        holder's in the kernel's queue, so these positions order them as
        the lock did; events that broke the lock still interleave.
        """
        before, inside = self._window(lo_ns, hi_ns)
        for item in before:
            self._emit_timed(item)
        if not events:
            for item in inside:
                self._emit_timed(item)
            return
        maybe = None
        if self.root_pid is not None:
            forks = {it[2].tgid for it in before + inside
                     if it[1] == "proc" and it[2].kind == "fork"}
            maybe = self.tracked | forks
        rows = self._expand(events, maybe)
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        opened: dict[tuple[int, str | None], int] = {}
        for i, row in enumerate(rows):
            pid = row[0]
            if pid not in first:
                first[pid] = i
            last[pid] = i
            if row[1] == "openat":
                opened.setdefault((pid, row[2]), i)
        slots: dict[int, list[tuple]] = {}
        pos = 0
        for item in inside:
            if item[1] == "lock":
                rec, path = item[2]
                if rec.op == "un" and not rec.errno:
                    pos = max(pos, last.get(rec.pid, -1) + 1)
                else:
                    pos = max(pos, opened.get((rec.pid, path), -1) + 1)
            else:
                pe = item[2]
                if pe.kind == "exit" and not pe.thread:
                    pos = max(pos, last.get(pe.tgid, -1) + 1)
                else:
                    limit = first.get(pe.tgid, len(rows))
                    pos = min(pos, limit) if pos > limit else pos
            slots.setdefault(pos, []).append(item)
        ts = hi_ns / 1e9 + self.offset
        for i, row in enumerate(rows):
            for item in slots.pop(i, ()):
                self._emit_timed(item)
            self._emit_fs(row, ts)
        for i in sorted(slots):
            for item in slots[i]:
                self._emit_timed(item)

    def _expand(self, events: list, maybe: set[int] | None) -> list[tuple]:
        """Split merged masks; resolve paths; one row per log event.

        Row: (pid, syscall, path, path2, flags, fan, merged).  ``maybe``:
        the processes that can be of interest in this batch (None: all);
        others' events are skipped, except that their directory creations
        and renames still update the namespace.
        """
        ns = self.ns
        rows: list[tuple] = []
        deferred: list[tuple[int, tuple]] = []   # merged deletions: (pid, row)
        c = self.c
        for mask, pid, dkey, name, okey, dkey2, name2 in events:
            ondir = mask & FAN_ONDIR
            if maybe is not None and pid not in maybe:
                c.other += 1
                if ondir and okey is not None:
                    if mask & FAN_RENAME and dkey2 is not None:
                        ns.bind(okey, dkey2, name2)
                    elif mask & (FAN_CREATE | FAN_MOVED_TO):
                        ns.bind(okey, dkey, name)
                continue
            if mask & FAN_RENAME:
                old = ns.path(dkey)
                new = ns.path(dkey2) if dkey2 is not None else None
                p1 = _join(old, name)
                p2 = _join(new, name2)
                if ondir and okey is not None and dkey2 is not None:
                    ns.bind(okey, dkey2, name2)
                rows.append((pid, "rename", p1, p2, None, "RENAME", False))
                continue
            dpath = ns.path(dkey)
            path = dpath if name == b"." else _join(dpath, name)
            bits = [b for b in LIFECYCLE_ORDER if mask & b]
            merged = len(bits) > 1
            if merged:
                c.merged += len(bits) - 1
            for b in bits:
                if b == FAN_CREATE:
                    if ondir and okey is not None:
                        ns.bind(okey, dkey, name)
                    row = (pid, "mkdir" if ondir else "openat", path, None,
                           None if ondir else "O_CREAT", "CREATE", merged)
                elif b == FAN_OPEN:
                    row = (pid, "openat", path, None,
                           "O_RDONLY|O_DIRECTORY" if ondir else "O_RDONLY", "OPEN", merged)
                elif b == FAN_MODIFY:
                    k = (pid, dkey, name)
                    if k in self.dirty:
                        continue
                    self.dirty.add(k)
                    row = (pid, "write", path, None, None, "MODIFY", merged)
                elif b == FAN_CLOSE_WRITE:
                    self.dirty.discard((pid, dkey, name))
                    row = (pid, "close", path, None, "write", "CLOSE_WRITE", merged)
                elif b == FAN_DELETE:
                    row = (pid, "rmdir" if ondir else "unlink", path, None, None, "DELETE",
                           merged)
                    if merged:
                        deferred.append((len(rows), row))
                        continue
                elif b == FAN_MOVED_FROM:
                    self.moved_from[pid] = (path, okey, ondir)
                    continue
                elif b == FAN_MOVED_TO:
                    src = self.moved_from.pop(pid, None)
                    if src is None:
                        c.unpaired_moves += 1
                    elif ondir and okey is not None:
                        ns.bind(okey, dkey, name)
                    row = (pid, "rename", src[0] if src else None, path, None,
                           "MOVED_FROM+MOVED_TO", merged)
                else:
                    continue
                rows.append(row)
        if deferred:
            rows = _place_deletions(rows, deferred)
        return rows

    def _emit_fs(self, row: tuple, ts: float) -> None:
        pid, syscall, path, path2, flags, fan, merged = row
        if self.root_pid is not None and pid not in self.tracked:
            self.c.other += 1
            return
        self.seq += 1
        p = self.procs.get(pid)
        key = p.key if p is not None else self._key(pid)
        ev = {"seq": self.seq, "type": "syscall", "ts": ts, "pid": pid, "tid": pid, "proc": key,
              "syscall": syscall, "path": path, "result": 0, "fan": fan}
        c = self.c
        c.paths += 1
        if path is None:
            ev["unresolved"] = True
            c.unresolved += 1
        if syscall == "rename":
            ev["path2"] = path2
            c.paths += 1
            if path2 is None:
                ev["unresolved"] = True
                c.unresolved += 1
        if flags is not None:
            ev["flags"] = flags
        if syscall == "openat" and path is not None and self.find_lock_path is not None:
            seen = self.opened_by.setdefault(pid, {})
            seen.pop(path, None)
            seen[path] = None
            if len(seen) > OPENED_KEPT:
                del seen[next(iter(seen))]
        if merged:
            ev["merged"] = True
        self.write(ev)

    def flush(self) -> None:
        """Emit every process event still waiting (end of the recording)."""
        before, _inside = self._window(1 << 62, 1 << 62)
        for item in before:
            self._emit_timed(item)
        for pid, (path, _okey, _ondir) in self.moved_from.items():
            # Moved out of the watched filesystems (or its pair was lost).
            self.c.unpaired_moves += 1
            self.seq += 1
            self.write({"seq": self.seq, "type": "syscall", "pid": pid, "tid": pid,
                        "proc": self._key(pid), "syscall": "rename", "path": path,
                        "path2": None, "result": 0, "fan": "MOVED_FROM", "unresolved": True})
        self.moved_from = {}


#: How many recently opened paths per process are kept to find lock files by.
OPENED_KEPT = 64


def _join(dpath: str | None, name: bytes | None) -> str | None:
    if dpath is None or name is None:
        return None
    if dpath == "/":
        return "/" + os.fsdecode(name)
    return dpath + "/" + os.fsdecode(name)


#: How many later rows of the same process a merged deletion looks through.
PLACE_WINDOW = 4096


def _place_deletions(rows: list[tuple], deferred: list[tuple[int, tuple]]) -> list[tuple]:
    """Put merged deletions after the process's last event on the path's subtree."""
    from bisect import bisect_left
    by_pid: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        by_pid.setdefault(r[0], []).append(i)
    where: dict[int, list[tuple]] = {}
    for start, row in deferred:
        pid, path = row[0], row[2]
        at = start - 1
        if path is not None:
            prefix = path + "/"
            mine = by_pid.get(pid, ())
            j = bisect_left(mine, start)
            for i in mine[j:j + PLACE_WINDOW]:
                r = rows[i]
                p1, p2 = r[2], r[3]
                if (p1 is not None and (p1 == path or p1.startswith(prefix))) or \
                        (p2 is not None and (p2 == path or p2.startswith(prefix))):
                    at = i
        where.setdefault(at, []).append(row)
    out: list[tuple] = []
    for i, row in enumerate(rows):
        out.append(row)
        extra = where.pop(i, None)
        if extra:
            # Deeper paths first: a directory's entries go before it.
            extra.sort(key=lambda r: -(r[2] or "").count("/"))
            out.extend(extra)
    for i in sorted(where):
        out.extend(where[i])
    return out


# ---------------------------------------------------------------- recorder

