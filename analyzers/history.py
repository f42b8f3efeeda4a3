"""Fold an event stream into what the detectors need.

One pass over the events builds: the processes (pid, parent, argv, exit),
the happens-before clocks (``hb.py``), and a per-path list of accesses
(``accesses.py``).  Nothing else of an event is kept, so memory grows with
the number of file operations, not with the size of the log.
"""

from __future__ import annotations

import os
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Any, Iterable

from .accesses import classify, is_pseudo
from .hb import HappensBefore


@dataclass
class ProcInfo:
    """One process of the run."""

    idx: int
    key: str
    pid: int
    parent: int | None = None
    argv: list[str] | None = None
    exit_code: int | None = None
    signal: str | None = None
    exited: bool = False
    first_seq: int = 0
    last_seq: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    vfork_parent: int | None = None
    children: list[int] = field(default_factory=list)
    failed_calls: list[tuple[int, str, str | None, str]] = field(default_factory=list)
    ok_seqs: list[int] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Exited non-zero or was killed by a signal."""
        return (self.exit_code not in (None, 0)) or self.signal is not None


@dataclass
class History:
    """Processes, clocks and accesses of one run."""

    processes: list[ProcInfo] = field(default_factory=list)
    by_key: dict[str, int] = field(default_factory=dict)
    hb: HappensBefore = field(default_factory=HappensBefore)
    paths: dict[str, list[tuple]] = field(default_factory=dict)
    events: int = 0
    first_ts: float | None = None
    lock_paths: set[str] = field(default_factory=set)
    #: Every flock/fcntl lock call, failed ones too, as access-shaped tuples
    #: (op "lock"): the lock-contention detector pairs a refused
    #: non-blocking lock with the holder.
    lock_calls: list[tuple] = field(default_factory=list)
    #: Per-directory facts the detectors compute once (see creation_root).
    dir_makers: dict[str, tuple[frozenset[int], bool]] = field(default_factory=dict)
    _sorted_paths: list[str] | None = None
    _by_proc: dict[str, dict[int, tuple[list[int], list[tuple]]]] = field(default_factory=dict)

    def proc(self, key: str) -> ProcInfo:
        """The process with identity ``key``, registering a root if new."""
        idx = self.by_key.get(key)
        if idx is not None:
            return self.processes[idx]
        pid = int(key.split("~")[0]) if key and key.lstrip("-").split("~")[0].isdigit() else -1
        idx = self.hb.add_process(None, None)
        info = ProcInfo(idx=idx, key=key, pid=pid)
        self.processes.append(info)
        self.by_key[key] = idx
        return info

    # -------------------------------------------------------------- queries

    def sorted_paths(self) -> list[str]:
        """All accessed paths, sorted (for subtree range queries)."""
        if self._sorted_paths is None:
            self._sorted_paths = sorted(self.paths)
        return self._sorted_paths

    def subtree(self, root: str) -> Iterable[str]:
        """Paths strictly under directory ``root``."""
        paths = self.sorted_paths()
        prefix = root.rstrip("/") + "/"
        i = bisect_left(paths, prefix)
        while i < len(paths) and paths[i].startswith(prefix):
            yield paths[i]
            i += 1

    def earlier_accesses(self, path: str, proc: int, seq: int) -> Iterable[tuple]:
        """``proc``'s accesses of ``path`` before ``seq``, latest first."""
        self.later_accesses(path, proc, seq)   # builds the index
        lst = self._by_proc[path].get(proc)
        if lst is None:
            return ()
        i = bisect_left(lst[0], seq)
        return (lst[1][j] for j in range(i - 1, -1, -1))

    def later_accesses(self, path: str, proc: int, seq: int) -> Iterable[tuple]:
        """``proc``'s accesses of ``path`` after ``seq``, in seq order.

        Indexed per path and process on first use, so that asking it for
        every conflict on a hot path is a bisect, not a scan of the path.
        """
        per = self._by_proc.get(path)
        if per is None:
            per = self._by_proc[path] = {}
            for acc in self.paths.get(path, ()):
                lst = per.get(acc[1])
                if lst is None:
                    per[acc[1]] = lst = ([], [])
                lst[0].append(acc[0])
                lst[1].append(acc)
        lst = per.get(proc)
        if lst is None:
            return ()
        i = bisect_right(lst[0], seq)
        return (lst[1][j] for j in range(i, len(lst[1])))

    def ordered(self, a: tuple, b: tuple) -> bool:
        """True when accesses ``a`` and ``b`` are ordered by happens-before."""
        return self.hb.ordered(a[1], a[0], b[1], b[0])

    def descendants_or_self(self, idx: int) -> set[int]:
        """``idx`` and every process it created, transitively."""
        out, todo = set(), [idx]
        while todo:
            i = todo.pop()
            if i not in out:
                out.add(i)
                todo.extend(self.processes[i].children)
        return out


def _lock_key(ev: dict[str, Any]) -> tuple[str, str] | None:
    path = ev.get("path")
    if path is None:
        return None
    kind = ev["lock"]["kind"]
    return ("flock" if kind == "flock" else "posix", path)


def build_history(events: Iterable[dict[str, Any]]) -> History:
    """Consume an event stream and return the History of the run."""
    builder = HistoryBuilder()
    add = builder.add
    for ev in events:
        add(ev)
    return builder.finish()


class AnalysisTooLarge(Exception):
    """The analysis would need more memory than the machine has free.

    Raised before the kernel's out-of-memory killer would end the process
    without a word; the message says how far it got and what to do.  The
    command layer turns it into a clear error (exit 2).
    """


class MemoryGuard:
    """Refuse to go on when the process's memory nears what the machine has.

    A log's memory need depends on its shape (processes, paths, races), not
    only its size, so no estimate up front is honest; the guard measures
    instead.  ``check`` is cheap (it looks at the resident size every
    ``every`` calls) and raises ``AnalysisTooLarge`` once the resident size
    exceeds ``limit`` bytes: ``$FSRACE_MEMORY_LIMIT`` (bytes) when set, else
    what was resident at the start plus 90 % of the memory available then
    (psutil; less under a cgroup v2 limit), so the machine keeps a margin
    and the user gets a message instead of a SIGKILL.
    """

    def __init__(self, limit: int | None = None, every: int = 50_000, rss=None) -> None:
        """``rss``: a callable giving the resident size (tests pass their own)."""
        import psutil
        if rss is None:
            rss = psutil.Process().memory_info
            self._rss = lambda: rss().rss
        else:
            self._rss = rss
        if limit is None and os.environ.get("FSRACE_MEMORY_LIMIT", "").isdigit():
            limit = int(os.environ["FSRACE_MEMORY_LIMIT"])
        if limit is None:
            start = self._rss()
            limit = start + int(0.9 * psutil.virtual_memory().available)
            # In a container the kernel kills at the cgroup's limit, which
            # psutil's "available" does not show.
            room = _cgroup_room()
            if room is not None:
                limit = min(limit, start + int(0.9 * room))
        self.limit = limit
        self.every = every
        self._count = 0

    def check(self, events: int, what: str = "events read") -> None:
        """Raise ``AnalysisTooLarge`` when over the limit (every ``every`` calls)."""
        self._count += 1
        if self._count % self.every:
            return
        used = self._rss()
        if used > self.limit:
            raise AnalysisTooLarge(
                f"not enough memory to analyse this log: {used / 2**20:.0f} MB in use after "
                f"{events:,} {what}, and the machine had {self.limit / 2**20:.0f} MB to give. "
                "Analyse a part of the log (a shorter recording, fewer copies with -j), or "
                "run on a machine with more memory.")


def _cgroup_room() -> int | None:
    """Bytes left under this process's cgroup v2 memory limit, or None."""
    try:
        with open("/proc/self/cgroup", encoding="ascii") as fh:
            rel = next((line.split(":", 2)[2].strip() for line in fh if line.startswith("0::")),
                       None)
        if rel is None:
            return None
        base = "/sys/fs/cgroup" + rel.rstrip("/")
        with open(base + "/memory.max", encoding="ascii") as fh:
            top = fh.read().strip()
        if top == "max":
            return None
        with open(base + "/memory.current", encoding="ascii") as fh:
            used = int(fh.read().strip())
        return max(0, int(top) - used)
    except (OSError, ValueError, IndexError):
        return None


class HistoryBuilder:
    """Push-based form of ``build_history``: call ``add`` per event in order."""

    def __init__(self, memory_guard: MemoryGuard | None = None) -> None:
        self.h = History()
        self._ofd_locks: dict[int, list[tuple[tuple[str, str], Any]]] = {}
        self._guard = memory_guard

    def finish(self) -> History:
        """The History of everything added so far."""
        return self.h

    def add(self, ev: dict[str, Any]) -> None:
        """Fold one event into the history."""
        h = self.h
        hb = h.hb
        by_key = h.by_key
        procs = h.processes
        ofd_locks = self._ofd_locks
        h.events += 1
        if self._guard is not None:
            self._guard.check(h.events)
        key = ev.get("proc")
        idx = by_key.get(key)
        info = procs[idx] if idx is not None else h.proc(key)
        idx = info.idx
        seq = ev["seq"]
        ts = ev.get("ts")
        if not info.first_seq:
            info.first_seq = seq
            info.first_ts = ts
        info.last_seq = seq
        if ts is not None:
            info.last_ts = ts
            if h.first_ts is None:
                h.first_ts = ts
        hb.touch(idx, seq)
        etype = ev["type"]
        if etype == "syscall" or etype == "exec":
            paths = h.paths
            errno = ev.get("errno")
            for op, path, other in classify(ev):
                if is_pseudo(path):
                    continue
                acc = (seq, idx, op, ev["syscall"], errno, ts, path, ev.get("flags"), other,
                       ev.get("ts_end"))
                lst = paths.get(path)
                if lst is None:
                    paths[path] = [acc]
                else:
                    lst.append(acc)
            if errno is None:
                info.ok_seqs.append(seq)
            elif errno not in ("EAGAIN", "EINTR"):
                info.failed_calls.append((seq, ev["syscall"], ev.get("path"), errno))
            if etype == "exec":
                info.argv = ev.get("argv")
                if info.vfork_parent is not None:
                    hb.vfork_released(info.vfork_parent, idx, seq)
                    info.vfork_parent = None
            name = ev["syscall"]
            lock = ev.get("lock")
            if lock is not None:
                if ev.get("path"):
                    h.lock_calls.append((seq, idx, "lock", name, errno, ts, ev["path"],
                                         lock.get("op"), lock.get("kind"), ev.get("ts_end")))
                if errno is None:
                    _on_lock(h, ev, idx, seq, lock, ofd_locks)
            elif errno is not None:
                pass
            elif name in ("openat", "open", "creat", "openat2"):
                flags = ev.get("flags") or ""
                if "O_EXCL" in flags and "O_CREAT" in flags and ev.get("path"):
                    path = ev["path"]
                    hb.acquire(("excl", path), ("x", idx, seq), idx, seq, True)
            elif name == "close":
                if ev.get("last"):
                    _release_ofd(h, ev.get("ofd"), seq, idx, ofd_locks)
                _release_posix(h, idx, ev.get("path"), seq)
            elif name in ("rename", "renameat", "renameat2") and \
                    (ev.get("path") or "").endswith(".lock"):
                # git commits a lock file by renaming it into place
                # (index.lock -> index): the rename frees the lock.
                path = ev["path"]
                if hb.release_oldest(("excl", path), seq, idx):
                    h.lock_paths.add(path)
            elif name in ("unlink", "unlinkat") and ev.get("path"):
                path = ev["path"]
                if hb.release_oldest(("excl", path), seq, idx):
                    # Created with O_EXCL, then removed: a lock file.  Its
                    # contenders' EEXISTs and its removal are the protocol.
                    h.lock_paths.add(path)
        elif etype == "fork":
            if ev.get("thread"):
                return
            child_key = ev.get("child_proc")
            if child_key is None or child_key in by_key:
                return
            cidx = hb.add_process(idx, seq)
            child = ProcInfo(idx=cidx, key=child_key, pid=ev.get("child", -1), parent=idx,
                             argv=info.argv)
            if ev.get("vfork"):
                child.vfork_parent = idx
            procs.append(child)
            by_key[child_key] = cidx
            info.children.append(cidx)
        elif etype == "exit":
            info.exited = True
            info.exit_code = ev.get("code")
            info.signal = ev.get("signal")
            for ofd in ev.get("released_ofds") or ():
                _release_ofd(h, ofd, seq, idx, ofd_locks)
            # flock/OFD locks die with their open file description (listed
            # above); posix record locks die with the process.
            hb.release_all(idx, seq, _posix_holder)
            if info.vfork_parent is not None:
                hb.vfork_released(info.vfork_parent, idx, seq)
                info.vfork_parent = None
        elif etype == "wait":
            child_key = ev.get("child_proc")
            cidx = by_key.get(child_key) if child_key else None
            if cidx is not None:
                hb.waited(idx, cidx, seq)
        elif etype == "release":
            _release_ofd(h, ev.get("ofd"), seq, idx, ofd_locks)


def _on_lock(h: History, ev: dict[str, Any], idx: int, seq: int, lock: dict[str, Any],
             ofd_locks: dict[int, list]) -> None:
    key = _lock_key(ev)
    if key is None:
        return
    op = lock["op"]
    h.lock_paths.add(key[1])
    ofd = ev.get("ofd")
    holder: Any = ofd if lock["kind"] in ("flock", "ofd") else ("p", idx)
    if holder is None:
        holder = ("fd", idx, ev.get("fd"))
    start = lock.get("start", 0) or 0
    length = lock.get("len", 0) or 0
    end = None if length == 0 else start + length
    if op == "un":
        h.hb.release(key, holder, seq, proc=idx)
        return
    # A conversion (sh -> ex) by the same holder releases the old mode first.
    h.hb.release(key, holder, seq, proc=idx)
    h.hb.acquire(key, holder, idx, seq, op == "ex", start, end)
    if isinstance(holder, int):
        ofd_locks.setdefault(holder, []).append((key, holder))


def _posix_holder(key: tuple[str, str], holder: Any) -> bool:
    return isinstance(holder, tuple) and holder[0] in ("p", "fd")


def _release_ofd(h: History, ofd: Any, seq: int, idx: int, ofd_locks: dict[int, list]) -> None:
    if ofd is None:
        return
    for key, holder in ofd_locks.pop(ofd, ()):
        h.hb.release(key, holder, seq, proc=idx)


def _release_posix(h: History, idx: int, path: str | None, seq: int) -> None:
    """Closing any fd of a file drops the process's posix locks on it."""
    if path is not None:
        h.hb.release(("posix", path), ("p", idx), seq, proc=idx)
