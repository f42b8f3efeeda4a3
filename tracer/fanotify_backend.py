"""Record file events with fanotify (no ptrace), processes from the proc connector.

``fsrace record --backend fanotify -- CMD`` and ``fsrace watch`` use this
module.  It writes the same event log as the strace backend (see
``tracer/events.py``), from two kernel sources merged into one timeline:

* **fanotify** (ctypes, ``fanotify_init``/``fanotify_mark``): one
  notification group reporting directory handles and names
  (``FAN_REPORT_DFID_NAME | FAN_REPORT_FID``, plus ``FAN_REPORT_TARGET_FID``
  where the kernel has it, so that creations, deletions and renames also
  carry the handle of the object itself), with a *filesystem* mark on each
  watched mount: every create, delete, rename (``FAN_RENAME``, or
  ``MOVED_FROM``/``MOVED_TO`` pairs on kernels before 5.17), open,
  close-after-write and modify, directories included, from every process.
  The kernel queues events in the order they happen, so the queue order is
  the log's ``seq`` order.  Each event carries the pid (thread-group id).

* **the netlink process connector** (``tracer/proc_connector.py``): fork,
  exec and exit with kernel timestamps; argv and parent from psutil at
  exec time (best effort: an ``exec`` event says so when the process was
  gone before it could be read).

Reading keeps up by batching: one ``read`` returns up to ``READ_SIZE`` bytes
of events, decoded with ``struct.unpack_from`` at fixed offsets.  Handles
become paths lazily, with a cache keyed by the handle bytes:

* a directory created (or renamed) while recording is known from its own
  event (parent handle + name, and its own handle from the target fid), so
  its path is derived, with no syscall, even after it is gone;
* a directory that existed before is resolved with ``open_by_handle_at`` +
  ``readlink(/proc/self/fd/N)`` *when the first event naming it is read*,
  while it still exists; a pre-existing directory deleted before that gets
  its path from its own deletion event (parent handle + name) when the
  kernel reports the target fid;
* what cannot be resolved is marked ``unresolved`` and counted, never
  guessed.

**What fanotify cannot see** (written to the header as ``invisible``):
failed syscalls and their errno (only successful changes produce events),
lock calls (flock/fcntl), wait (exit-then-wait ordering), stat/access
checks, reads of missing paths.  The analyzer then judges races by time
(``analyzers/analyze.py``): only operations that actually interleaved.

**Kernel merging.**  fanotify merges an event into an identical unread one
(same process, same directory and name): a file created, written and
deleted before the reader got to it arrives as one event with mask
``CREATE|OPEN|MODIFY|CLOSE_WRITE|DELETE``.  We split it back in lifecycle
order (create, moved-to, open, modify, close-write, moved-from, delete); a
merged deletion is placed after the process's last event in the batch that
touches the path or its subtree, the latest position consistent with what
was read.  Split events carry ``"merged": true``; the trailer counts them.

**Ordering the two sources.**  fanotify events carry no timestamp; each
read is stamped with ``CLOCK_MONOTONIC`` (the connector's clock), so every
event of a batch happened in ``(lo, hi]`` (``lo`` = the last time the queue
was seen empty).  Process events before ``lo`` go before the batch; those
inside the window are placed at the earliest position that keeps a fork
or exec before the process's first event, and an exit after its last one.
The ``ts`` of a fanotify event is its batch's ``hi`` (an upper bound).

Queue overflow (``FAN_Q_OVERFLOW``), connector drops (``ENOBUFS``) and
events we could not decode are counted in the trailer, never silent.  The
queue is unlimited (``FAN_UNLIMITED_QUEUE``, we are privileged anyway), so
overflow is the kernel running out of memory, not a slow reader.
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import logging
import os
import platform
import select
import signal
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from fsrace.tracer.eventlog import EventLogWriter
from fsrace.tracer.events import proc_key
from fsrace.tracer.proc_connector import ProcConnector, ProcEvent, describe_exit
from fsrace.tracer.strace_backend import LAUNCHER, CopyStatus, RecordError, _parse_status
from fsrace.tracer.termination import Terminate, install_terminate_handlers, restore_handlers

log = logging.getLogger(__name__)

# ----------------------------------------------------------------- constants
# linux/fanotify.h

FAN_CLOEXEC = 0x01
FAN_NONBLOCK = 0x02
FAN_CLASS_NOTIF = 0x00
FAN_UNLIMITED_QUEUE = 0x10
FAN_REPORT_FID = 0x200
FAN_REPORT_DIR_FID = 0x400
FAN_REPORT_NAME = 0x800
FAN_REPORT_TARGET_FID = 0x1000
FAN_REPORT_DFID_NAME = FAN_REPORT_DIR_FID | FAN_REPORT_NAME

FAN_MARK_ADD = 0x01
FAN_MARK_FILESYSTEM = 0x100

FAN_MODIFY = 0x02
FAN_CLOSE_WRITE = 0x08
FAN_OPEN = 0x20
FAN_MOVED_FROM = 0x40
FAN_MOVED_TO = 0x80
FAN_CREATE = 0x100
FAN_DELETE = 0x200
FAN_Q_OVERFLOW = 0x4000
FAN_RENAME = 0x10000000
FAN_ONDIR = 0x40000000

INFO_FID = 1
INFO_DFID_NAME = 2
INFO_DFID = 3
INFO_OLD_DFID_NAME = 10
INFO_NEW_DFID_NAME = 12

AT_FDCWD = -100
O_PATH = 0o10000000

#: Bytes asked for per read(): many thousands of events at once.
READ_SIZE = 4 << 20

#: While a command runs, read at most this often (seconds): every wake-up
#: costs the recorder CPU that the recorded command could use, and the
#: queue is unlimited, so nothing is lost by letting a batch grow a little.
#: (Longer waits let the kernel merge more events; see the module doc.)
MIN_READ_INTERVAL = 0.005

#: What we subscribe to (moves added per kernel support, see FanotifyGroup).
BASE_MASK = FAN_CREATE | FAN_DELETE | FAN_OPEN | FAN_CLOSE_WRITE | FAN_MODIFY | FAN_ONDIR

#: Facts this backend cannot see; written to the header as "invisible".
INVISIBLE = ["failed-syscalls", "errno", "locks", "wait", "checks", "reads-of-missing-paths"]

#: How a merged mask is split: lifecycle order of one name.
_ORDER = (FAN_CREATE, FAN_MOVED_TO, FAN_OPEN, FAN_MODIFY, FAN_CLOSE_WRITE, FAN_MOVED_FROM,
          FAN_DELETE)
_BIT_NAMES = {FAN_CREATE: "CREATE", FAN_MOVED_TO: "MOVED_TO", FAN_OPEN: "OPEN",
              FAN_MODIFY: "MODIFY", FAN_CLOSE_WRITE: "CLOSE_WRITE", FAN_MOVED_FROM: "MOVED_FROM",
              FAN_DELETE: "DELETE", FAN_RENAME: "RENAME"}

_META = struct.Struct("<IBBHQii")
_INFO_HDR = struct.Struct("<BBH")
_U32 = struct.Struct("<I")


# ------------------------------------------------------------------ ctypes

_libc = ctypes.CDLL(None, use_errno=True)
try:
    _fanotify_init = _libc.fanotify_init
    _fanotify_init.argtypes = [ctypes.c_uint, ctypes.c_uint]
    _fanotify_init.restype = ctypes.c_int
    _fanotify_mark = _libc.fanotify_mark
    _fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int,
                               ctypes.c_char_p]
    _fanotify_mark.restype = ctypes.c_int
    _open_by_handle_at = _libc.open_by_handle_at
    _open_by_handle_at.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    _open_by_handle_at.restype = ctypes.c_int
except AttributeError:  # pragma: no cover - not glibc/Linux
    _fanotify_init = _fanotify_mark = _open_by_handle_at = None


def _ename(err: int) -> str:
    return errno_mod.errorcode.get(err, str(err))


def _capability_message(call: str, err: int) -> str:
    return (f"fanotify refused fsrace: {call} failed with {_ename(err)} "
            f"({os.strerror(err)}). The fanotify backend needs the CAP_SYS_ADMIN "
            f"capability (filesystem marks and file-handle reports are privileged): "
            f"run fsrace as root, or give the container `--cap-add=SYS_ADMIN`. "
            f"Or record with `--backend strace`, which uses ptrace instead.")


# ------------------------------------------------------------------ group


class FanotifyGroup:
    """A notification group with filesystem marks on the given mounts."""

    def __init__(self, mounts: Sequence[str]):
        if _fanotify_init is None or not sys.platform.startswith("linux"):
            raise RecordError("The fanotify backend needs Linux (fanotify). Record with "
                              "`--backend strace`, or on a Linux machine.")
        self.fd = -1
        self.target_fid = True
        self.rename = True
        base = (FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE
                | FAN_REPORT_FID | FAN_REPORT_DFID_NAME)
        flags = base | FAN_REPORT_TARGET_FID
        fd = _fanotify_init(flags, os.O_RDONLY | os.O_LARGEFILE | os.O_CLOEXEC)
        if fd < 0 and ctypes.get_errno() == errno_mod.EINVAL:
            # Before Linux 5.17: no target fid (and no FAN_RENAME either).
            self.target_fid = False
            flags = base
            fd = _fanotify_init(flags, os.O_RDONLY | os.O_LARGEFILE | os.O_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            call = "fanotify_init(FAN_REPORT_DFID_NAME|FAN_REPORT_FID, ...)"
            if err in (errno_mod.EPERM, errno_mod.EACCES):
                raise RecordError(_capability_message(call, err))
            if err == errno_mod.ENOSYS:
                raise RecordError(f"{call} failed with ENOSYS: this kernel has no fanotify "
                                  f"(CONFIG_FANOTIFY). Record with `--backend strace`.")
            if err == errno_mod.EINVAL:
                raise RecordError(f"{call} failed with EINVAL: this kernel "
                                  f"({platform.release()}) cannot report directory handles "
                                  f"and names (needs Linux 5.9 or later). Record with "
                                  f"`--backend strace`.")
            raise RecordError(f"{call} failed with {_ename(err)} ({os.strerror(err)}). "
                              f"Record with `--backend strace`.")
        self.fd = fd
        self.init_flags = flags
        self.mounts: list[str] = []
        self.mount_fds: dict[bytes, int] = {}     # fsid bytes -> fd for open_by_handle_at
        self.mask = BASE_MASK | FAN_RENAME
        try:
            for m in mounts:
                self._mark(m)
        except BaseException:
            self.close()
            raise

    def _mark(self, path: str) -> None:
        path = os.path.abspath(path)
        if not os.path.exists(path):
            raise RecordError(f"--mount {path}: no such file or directory.")
        err = 0
        if _fanotify_mark(self.fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, self.mask, AT_FDCWD,
                          os.fsencode(path)) < 0:
            err = ctypes.get_errno()
            if err == errno_mod.EINVAL and self.mask & FAN_RENAME:
                # No FAN_RENAME (before 5.17): MOVED_FROM/MOVED_TO pairs.
                self.rename = False
                self.mask = BASE_MASK | FAN_MOVED_FROM | FAN_MOVED_TO
                err = 0
                if _fanotify_mark(self.fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, self.mask,
                                  AT_FDCWD, os.fsencode(path)) < 0:
                    err = ctypes.get_errno()
        if err:
            call = f"fanotify_mark(FAN_MARK_FILESYSTEM, {path})"
            if err in (errno_mod.EPERM, errno_mod.EACCES):
                raise RecordError(_capability_message(call, err))
            why = {errno_mod.EXDEV: "the path is on a filesystem (or subvolume) whose file "
                                    "handles do not identify it uniquely",
                   errno_mod.EOPNOTSUPP: "this filesystem does not support file handles",
                   errno_mod.ENODEV: "this filesystem does not support file handles",
                   }.get(err, os.strerror(err))
            raise RecordError(f"{call} failed with {_ename(err)}: {why}. Watch another mount "
                              f"with --mount, or record with `--backend strace`.")
        fsid = os.statvfs(path).f_fsid
        key = struct.pack("<Q", fsid & 0xFFFFFFFFFFFFFFFF)
        if key not in self.mount_fds:
            self.mount_fds[key] = os.open(path if os.path.isdir(path) else os.path.dirname(path),
                                          os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.mounts.append(path)

    def read(self) -> bytes:
        """One batch of events (b"" when the queue is empty)."""
        try:
            return os.read(self.fd, READ_SIZE)
        except BlockingIOError:
            return b""

    def resolve_handle(self, key: bytes) -> str | None:
        """Path of a directory handle (fsid + struct file_handle), or None."""
        mfd = self.mount_fds.get(key[:8])
        if mfd is None:
            if len(self.mount_fds) != 1:
                return None
            mfd = next(iter(self.mount_fds.values()))
        fd = _open_by_handle_at(mfd, key[8:], O_PATH | os.O_CLOEXEC)
        if fd < 0:
            return None
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return None
        finally:
            os.close(fd)
        if path.endswith(" (deleted)") or not path.startswith("/"):
            return None
        return path

    def close(self) -> None:
        for mfd in self.mount_fds.values():
            try:
                os.close(mfd)
            except OSError:
                pass
        self.mount_fds = {}
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# ---------------------------------------------------------------- decoding

# A decoded kernel event: (mask, pid, dir handle, name, object handle,
# new dir handle, new name).  Handles are bytes: fsid + struct file_handle.


def decode(buf: bytes, out: list, counters: "Counters", skip_pid: int) -> None:
    """Append the events of one read to ``out`` (see the tuple layout above)."""
    unpack_meta = _META.unpack_from
    unpack_hdr = _INFO_HDR.unpack_from
    unpack_u32 = _U32.unpack_from
    append = out.append
    off, end = 0, len(buf)
    while off + 24 <= end:
        elen, vers, _r, mlen, mask, _fd, pid = unpack_meta(buf, off)
        if elen < 24:
            counters.unparsed += 1
            break
        nxt = off + elen
        if mask & FAN_Q_OVERFLOW:
            counters.overflows += 1
            off = nxt
            continue
        counters.raw += 1
        if pid == skip_pid:
            counters.own += 1
            off = nxt
            continue
        dkey = name = okey = dkey2 = name2 = None
        p = off + mlen
        while p < nxt:
            itype, _pad, ilen = unpack_hdr(buf, p)
            if ilen == 0:
                break
            hb = unpack_u32(buf, p + 12)[0]
            hend = p + 20 + hb
            if itype == INFO_FID:
                okey = buf[p + 4:hend]
            elif itype == INFO_DFID_NAME or itype == INFO_OLD_DFID_NAME:
                dkey = buf[p + 4:hend]
                name = buf[hend:buf.index(b"\0", hend, p + ilen)]
            elif itype == INFO_NEW_DFID_NAME:
                dkey2 = buf[p + 4:hend]
                name2 = buf[hend:buf.index(b"\0", hend, p + ilen)]
            elif itype == INFO_DFID:
                dkey = buf[p + 4:hend]
                name = b"."
            p += ilen
        if dkey is None:
            counters.unparsed += 1
            if len(counters.samples) < 10:
                counters.samples.append({"mask": hex(mask), "pid": pid})
        else:
            append((mask, pid, dkey, name, okey, dkey2, name2))
        off = nxt


@dataclass
class Counters:
    raw: int = 0              # kernel events read (after overflow markers)
    own: int = 0              # events of fsrace itself, dropped
    overflows: int = 0        # FAN_Q_OVERFLOW markers
    unparsed: int = 0         # events without a usable info record
    samples: list = field(default_factory=list)
    merged: int = 0           # log events split off a merged kernel event
    other: int = 0            # events of processes outside CMD's tree
    unresolved: int = 0       # paths we could not resolve
    paths: int = 0            # path fields written
    resolved_by_handle: int = 0
    unpaired_moves: int = 0


# ---------------------------------------------------------------- resolving


class Namespace:
    """Directory handles -> paths, following creations and renames in order."""

    def __init__(self, group: FanotifyGroup | None):
        self.group = group
        self.parent: dict[bytes, tuple[bytes, bytes]] = {}   # handle -> (dir handle, name)
        self.fixed: dict[bytes, str | None] = {}             # resolved by open_by_handle_at
        self._cache: dict[bytes, str | None] = {}
        self.created: set[bytes] = set()                     # handles known from events

    # Called when a batch is read, before it is processed (in read order).
    def note_batch(self, events: list) -> None:
        """Learn new directory handles now, while the directories exist."""
        created, fixed, parent = self.created, self.fixed, self.parent
        for ev in events:
            mask, _pid, dkey, name, okey, dkey2, _n2 = ev
            if dkey not in created and dkey not in fixed:
                self._fix(dkey)
            if dkey2 is not None and dkey2 not in created and dkey2 not in fixed:
                self._fix(dkey2)
            if okey is not None and mask & FAN_ONDIR:
                if mask & (FAN_CREATE | FAN_RENAME | FAN_MOVED_TO):
                    created.add(okey)
                elif mask & FAN_DELETE and okey not in created and okey not in fixed \
                        and okey not in parent:
                    # A directory that existed before and is gone now: its own
                    # deletion says where it was.
                    parent[okey] = (dkey, name)
                    created.add(okey)

    def _fix(self, key: bytes) -> str | None:
        path = self.fixed[key] = self.group.resolve_handle(key) if self.group else None
        return path

    def prescan(self, events: list) -> None:
        """Deferred mode: where was each directory moved or deleted later, at the start?

        With target fids every creation, rename and deletion of a directory
        names the directory's own handle.  A directory whose first such
        event is a rename or a deletion existed before the recording: its
        first location is the old parent and name of that event.  Every
        other handle is resolved when first needed (``path``), and since
        nothing moved it, its current path is the one it had all along.
        """
        seen = self.created
        parent = self.parent
        for mask, _pid, dkey, name, okey, _d2, _n2 in events:
            if okey is None or not mask & FAN_ONDIR or okey in seen:
                continue
            if mask & FAN_CREATE:
                seen.add(okey)
            elif mask & (FAN_RENAME | FAN_DELETE | FAN_MOVED_FROM):
                seen.add(okey)
                parent[okey] = (dkey, name)

    def bind(self, okey: bytes, dkey: bytes, name: bytes) -> None:
        """Directory ``okey`` is now ``name`` in directory ``dkey``."""
        old = self.parent.get(okey)
        self.parent[okey] = (dkey, name)
        if old is not None and old != (dkey, name):
            self._cache.clear()        # a directory moved: its subtree's paths changed
        else:
            self._cache.pop(okey, None)

    def path(self, key: bytes) -> str | None:
        cached = self._cache.get(key, False)
        if cached is not False:
            return cached
        seen = 0
        chain = []
        k = key
        base: str | None = None
        while True:
            hit = self._cache.get(k, False)
            if hit is not False:
                base = hit
                break
            link = self.parent.get(k)
            if link is None:
                base = self.fixed[k] if k in self.fixed else self._fix(k)
                break
            chain.append((k, link[1]))
            k = link[0]
            seen += 1
            if seen > 4096:            # a cycle: never loop forever
                base = None
                break
        for k2, nm in reversed(chain):
            if base is not None:
                base = (base.rstrip("/") + "/" + os.fsdecode(nm)) if base != "/" \
                    else "/" + os.fsdecode(nm)
            self._cache[k2] = base
        self._cache[key] = base
        return base


# ----------------------------------------------------------- the converter


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
        self.pending_proc.extend(events)

    # ------------------------------------------------------------- batches

    def batch(self, events: list, lo_ns: int, hi_ns: int) -> None:
        """Convert one batch of decoded kernel events read in ``(lo, hi]``."""
        pending = self.pending_proc
        if pending:
            pending.sort(key=lambda e: e.ts_ns)
        before = [e for e in pending if e.ts_ns <= lo_ns]
        inside = [e for e in pending if lo_ns < e.ts_ns <= hi_ns]
        self.pending_proc = [e for e in pending if e.ts_ns > hi_ns]
        for pe in before:
            self._emit_proc(pe)
        if not events:
            for pe in inside:
                self._emit_proc(pe)
            return
        maybe = None
        if self.root_pid is not None:
            maybe = self.tracked | {pe.tgid for pe in before if pe.kind == "fork"} | \
                {pe.tgid for pe in inside if pe.kind == "fork"}
        rows = self._expand(events, maybe)
        # Where each process-connector event inside the window goes.
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for i, row in enumerate(rows):
            pid = row[0]
            if pid not in first:
                first[pid] = i
            last[pid] = i
        slots: dict[int, list[ProcEvent]] = {}
        pos = 0
        for pe in inside:
            if pe.kind == "exit" and not pe.thread:
                want = last.get(pe.tgid, -1) + 1
                pos = max(pos, want)
            else:
                limit = first.get(pe.tgid, len(rows))
                pos = min(pos, limit) if pos > limit else pos
            slots.setdefault(pos, []).append(pe)
        ts = hi_ns / 1e9 + self.offset
        for i, row in enumerate(rows):
            for pe in slots.pop(i, ()):
                self._emit_proc(pe)
            self._emit_fs(row, ts)
        for i in sorted(slots):
            for pe in slots[i]:
                self._emit_proc(pe)

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
            bits = [b for b in _ORDER if mask & b]
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
        if merged:
            ev["merged"] = True
        self.write(ev)

    def flush(self) -> None:
        """Emit every process event still waiting (end of the recording)."""
        for pe in sorted(self.pending_proc, key=lambda e: e.ts_ns):
            self._emit_proc(pe)
        self.pending_proc = []
        for pid, (path, _okey, _ondir) in self.moved_from.items():
            # Moved out of the watched filesystems (or its pair was lost).
            self.c.unpaired_moves += 1
            self.seq += 1
            self.write({"seq": self.seq, "type": "syscall", "pid": pid, "tid": pid,
                        "proc": self._key(pid), "syscall": "rename", "path": path,
                        "path2": None, "result": 0, "fan": "MOVED_FROM", "unresolved": True})
        self.moved_from = {}


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


@dataclass
class FanotifyStats:
    """What the summary shows (the fields print_record_summary reads)."""

    events: int = 0
    processes: int = 0
    paths: int = 0
    unresolved: int = 0
    unparsed: int = 0
    lost: int = 0
    overflows: int = 0
    merged: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class FanotifyResult:
    copies: list[CopyStatus]
    exit_status: int
    interrupted: bool
    started: float
    ended: float
    warnings: list[str] = field(default_factory=list)
    launcher_pid: int | None = None
    command_ended: float | None = None   # when the last copy had exited


def _argv_of(pid: int) -> tuple[list[str] | None, str | None, int | None, str | None]:
    try:
        import psutil
        p = psutil.Process(pid)
        with p.oneshot():
            argv = p.cmdline()
            ppid = p.ppid()
            try:
                exe = p.exe() or None
            except psutil.Error:
                exe = None
        if not argv:        # a zombie: its memory (and argv) is gone already
            return None, exe, ppid, "process gone before its argv could be read"
        return argv, exe, ppid, None
    except Exception:  # noqa: BLE001 - psutil.NoSuchProcess, AccessDenied, zombie
        return None, None, None, "process gone before its argv could be read"


class Session:
    """One recording: the fanotify group, the connector, the converter, the log."""

    def __init__(self, output: str | Path, mounts: Sequence[str], header: dict[str, Any],
                 root_pid_later: bool):
        self.group = FanotifyGroup(mounts)
        try:
            self.conn = ProcConnector()
        except BaseException:
            self.group.close()
            raise
        self.counters = Counters()
        self.ns = Namespace(self.group)
        self.offset = time.time() - time.monotonic()
        head = {"backend": "fanotify", "clock": "unix", "invisible": list(INVISIBLE),
                "mounts": self.group.mounts, "kernel": platform.release(),
                "fanotify": {"init_flags": hex(self.group.init_flags),
                             "mark_mask": hex(self.group.mask),
                             "rename": "FAN_RENAME" if self.group.rename
                             else "MOVED_FROM/MOVED_TO pairs",
                             "target_fid": self.group.target_fid},
                "event_time": "fanotify events: time of the read that returned them "
                              "(upper bound); process events: kernel time",
                "start_time": time.time()}
        head.update(header)
        try:
            self.writer = EventLogWriter(output, head)
        except OSError as exc:
            self.close()
            raise RecordError(f"Cannot write the event log {output}: {exc.strerror}. "
                              f"Choose a writable location.") from None
        self.conv = Converter(self.ns, self.counters, self.writer.write, self.offset,
                              root_pid=None)
        self.root_later = root_pid_later
        self.lineage: set[int] = set()      # read-time descendants (for argv capture)
        self.lo_ns = time.monotonic_ns()
        self.self_pid = os.getpid()
        # Deferred: keep the raw reads, decode after the command has ended
        # (needs target fids to rebuild directory paths from the events).
        self.deferred = root_pid_later and self.group.target_fid
        self.raw: list[tuple[int, int, bytes]] = []    # (lo, hi, buffer)
        self.writer.trailer["mode"] = "deferred" if self.deferred else "streaming"

    def set_root(self, pid: int) -> None:
        self.conv.root_pid = pid
        self.conv.tracked.add(pid)
        self.lineage.add(pid)

    def poll_fds(self) -> list[int]:
        return [self.group.fd, self.conn.fd]

    def pump(self) -> int:
        """Read everything queued now (and convert it when streaming); returns bytes read."""
        group = self.group
        bufs: list[bytes] = []
        total = 0
        # Process events first too: argv must be read before a short-lived
        # process is gone.  (Read again after fanotify: see batch().)
        self._read_proc()
        while True:
            buf = group.read()
            if not buf:
                break
            bufs.append(buf)
            total += len(buf)
            if len(buf) < READ_SIZE // 2:
                break
        hi = time.monotonic_ns()
        self._read_proc()
        if self.deferred:
            if bufs:
                self.raw.append((self.lo_ns, hi, b"".join(bufs) if len(bufs) > 1 else bufs[0]))
        else:
            decoded: list = []
            for buf in bufs:
                decode(buf, decoded, self.counters, self.self_pid)
            if decoded:
                self.ns.note_batch(decoded)
            self.conv.batch(decoded, self.lo_ns, hi)
        self.lo_ns = hi
        return total

    def _convert_deferred(self) -> None:
        batches = []
        everything: list = []
        for lo, hi, buf in self.raw:
            decoded: list = []
            decode(buf, decoded, self.counters, self.self_pid)
            batches.append((lo, hi, decoded))
            everything.extend(decoded)
        self.raw = []
        self.ns.prescan(everything)
        del everything
        for lo, hi, decoded in batches:
            self.conv.batch(decoded, lo, hi)

    def _read_proc(self) -> None:
        events = self.conn.read()
        if not events:
            return
        root = self.conv.root_pid
        lineage = self.lineage
        keep = []
        for pe in events:
            if pe.thread:
                continue            # threads are not processes; never logged
            keep.append(pe)
            if pe.kind == "fork" and (root is None or pe.ptgid in lineage):
                lineage.add(pe.tgid)
            elif pe.kind == "exec" and (root is None or pe.tgid in lineage):
                self.conv.argv[(pe.tgid, pe.ts_ns)] = _argv_of(pe.tgid)
        self.conv.add_proc_events(keep)

    def finish(self, trailer: dict[str, Any]) -> FanotifyStats:
        # Whatever is still queued, then the remaining process events.
        for _ in range(1000):
            if not self.pump():
                break
        # Stop watching before writing the log: our own writes make no events.
        self.group_close_keep_resolver()
        if self.deferred:
            self._convert_deferred()
        self.conv.flush()
        c = self.counters
        lost = c.overflows
        stats = FanotifyStats(events=self.writer.count, processes=self.conv.processes,
                              paths=c.paths, unresolved=c.unresolved, unparsed=c.unparsed,
                              lost=lost, overflows=c.overflows, merged=c.merged)
        warnings = list(trailer.pop("recorder_warnings", []))
        if c.overflows:
            warnings.append(f"the fanotify queue overflowed {c.overflows} time(s): events were "
                            f"lost, so races may be missed")
        if self.conn.lost:
            warnings.append(f"the process connector dropped messages {self.conn.lost} time(s) "
                            f"(ENOBUFS): some fork/exec/exit events are missing")
        stats.warnings = warnings
        self.writer.trailer.update({
            "fanotify_events": c.raw, "lost_events": lost, "queue_overflows": c.overflows,
            "proc_connector_lost": self.conn.lost, "merged_events": c.merged,
            "own_events_dropped": c.own, "other_process_events_dropped": c.other,
            "unparsed": c.unparsed, "unparsed_samples": c.samples,
            "paths": c.paths, "unresolved_paths": c.unresolved,
            "unpaired_moves": c.unpaired_moves, "processes": self.conv.processes,
            "recorder_warnings": warnings})
        self.writer.trailer.update(trailer)
        self.close()
        return stats

    def group_close_keep_resolver(self) -> None:
        """Close the notification fd (no more events) but keep the mount fds."""
        if self.group.fd >= 0:
            os.close(self.group.fd)
            self.group.fd = -1
        self.conn.close()

    def close(self) -> None:
        w = getattr(self, "writer", None)
        if w is not None:
            w.close()
        self.conn.close()
        self.group.close()


def default_mounts(cwd: str | None = None) -> list[str]:
    """The filesystem of the working directory (where installers write)."""
    return [os.path.abspath(cwd or os.getcwd())]


def record(cmd_argv: Sequence[str], output: str | Path, copies: int = 1,
           mounts: Sequence[str] | None = None, *, env: dict | None = None,
           cwd: str | None = None, stdin=None, stdout=None, stderr=None,
           grace: float = 2.0) -> tuple[FanotifyResult, FanotifyStats]:
    """Run ``copies`` concurrent copies of the command and record them with fanotify."""
    cmd_argv = [os.fspath(a) for a in cmd_argv]
    if not cmd_argv:
        raise RecordError("No command given: tell fsrace record what to run, "
                          "e.g. `fsrace record --backend fanotify -- uv sync`.")
    mounts = list(mounts or default_mounts(cwd))
    header = {"command": cmd_argv, "copies": copies, "created_by": "fsrace record"}
    session = Session(output, mounts, header, root_pid_later=True)
    status_r, status_w = os.pipe()
    os.set_blocking(status_r, False)
    pass_fds = [status_w]
    user_err = None
    try:
        user_err = os.dup(2 if stderr is None else (stderr if isinstance(stderr, int)
                                                    else stderr.fileno()))
        pass_fds.append(user_err)
    except (OSError, ValueError, AttributeError):
        user_err = None
    argv = [sys.executable, "-I", "-S", str(LAUNCHER), "-j", str(copies),
            "--status-fd", str(status_w)]
    if user_err is not None:
        argv += ["--stderr-fd", str(user_err)]
    argv += ["--", *cmd_argv]
    started = time.time()
    warnings: list[str] = []
    interrupted = False
    try:
        proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr,
                                pass_fds=pass_fds, env=env, cwd=cwd, start_new_session=True)
    except OSError as exc:
        session.close()
        raise RecordError(f"Cannot start the launcher ({sys.executable}): {exc}.") from None
    finally:
        os.close(status_w)
        if user_err is not None:
            os.close(user_err)
    session.set_root(proc.pid)
    pidfd = os.pidfd_open(proc.pid)
    status_data = b""
    old = install_terminate_handlers()
    command_ended = None
    stage = 0
    stage_at = 0.0
    try:
        poller = select.poll()
        for fd in session.poll_fds() + [pidfd, status_r]:
            poller.register(fd, select.POLLIN)
        while True:
            try:
                ready = poller.poll(250)
                if any(fd == status_r for fd, _ in ready):
                    status_data += _drain(status_r)
                if session.pump():
                    time.sleep(MIN_READ_INTERVAL)
                if proc.poll() is not None:
                    command_ended = time.time()
                    break
                if stage and time.monotonic() - stage_at > grace:
                    stage, stage_at = _escalate(proc, stage)
            except (KeyboardInterrupt, Terminate):
                interrupted = True
                stage, stage_at = _escalate(proc, stage)
        status_data += _drain(status_r)
    finally:
        restore_handlers(old)
        os.close(pidfd)
        os.close(status_r)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    parsed = _parse_status(status_data)
    launcher_pid, copies_status = parsed if parsed else (proc.pid, [])
    if not parsed:
        warnings.append("the launcher did not report the copies' exit statuses")
    exit_status = 0
    for c in copies_status:
        if c.status:
            exit_status = c.status
            break
    if not copies_status and proc.returncode:
        exit_status = proc.returncode if proc.returncode > 0 else 128 - proc.returncode
    for c in copies_status:
        if c.exec_errno is not None:
            session.close()
            raise RecordError(f"cannot run {cmd_argv[0]}: {os.strerror(c.exec_errno)}. Check "
                              f"the spelling, or give its full path.")
    ended = time.time()
    copies_info = [{"pid": c.pid, "exit_code": c.exit_code, "signal": c.signal}
                   for c in copies_status]
    stats = session.finish({"interrupted": interrupted, "copies": copies_info,
                            "exit_status": exit_status, "duration": ended - started,
                            "recorder_warnings": warnings, "launcher_pid": launcher_pid})
    result = FanotifyResult(copies=copies_status, exit_status=exit_status,
                            interrupted=interrupted, started=started, ended=time.time(),
                            warnings=[], launcher_pid=launcher_pid,
                            command_ended=command_ended)
    return result, stats


def _escalate(proc: subprocess.Popen, stage: int) -> tuple[int, float]:
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
    sig = sigs[min(stage, len(sigs) - 1)]
    try:
        if sig == signal.SIGINT:
            proc.send_signal(sig)         # the launcher forwards it to each copy
        else:
            os.killpg(proc.pid, sig)
            for child in _children(proc.pid):
                try:
                    os.killpg(child, sig)
                except OSError:
                    pass
    except OSError:
        pass
    return stage + 1, time.monotonic()


def _children(pid: int) -> list[int]:
    try:
        import psutil
        return [c.pid for c in psutil.Process(pid).children()]
    except Exception:  # noqa: BLE001
        return []


def _drain(fd: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except (BlockingIOError, OSError):
            return data
        if not chunk:
            return data
        data += chunk


def watch(mounts: Sequence[str], output: str | Path, duration: float | None = None,
          on_status: Callable[[float, int], None] | None = None) -> tuple[FanotifyStats, bool]:
    """Record every process's events on ``mounts`` until Ctrl-C or ``duration``.

    Returns (stats, interrupted).
    """
    if not mounts:
        raise RecordError("fsrace watch needs at least one --mount PATH.")
    header = {"command": None, "created_by": "fsrace watch", "duration_limit": duration}
    session = Session(output, mounts, header, root_pid_later=False)
    started = time.monotonic()
    interrupted = False
    old = install_terminate_handlers()
    try:
        poller = select.poll()
        for fd in session.poll_fds():
            poller.register(fd, select.POLLIN)
        while True:
            elapsed = time.monotonic() - started
            if duration is not None and elapsed >= duration:
                break
            wait = 250 if duration is None else max(0, min(250, int((duration - elapsed) * 1000)))
            try:
                poller.poll(wait)
                session.pump()
                if on_status is not None:
                    on_status(time.monotonic() - started, session.writer.count)
            except (KeyboardInterrupt, Terminate):
                interrupted = True
                break
    finally:
        restore_handlers(old)
    stats = session.finish({"interrupted": interrupted,
                            "duration": time.monotonic() - started})
    return stats, interrupted
