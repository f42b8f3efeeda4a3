"""Happens-before between processes, as vector clocks over sequence numbers.

ThreadSanitizer's model applied to processes: an operation of process A
is ordered before an operation of process B only through something that
really orders them:

* fork/clone: the parent's operations before the fork precede the child's;
* exit then wait: a child's operations precede its parent's return from a
  wait that reaped it (``wait4``/``waitid`` naming the child);
* vfork: the child's operations up to its exec precede the parent's return;
* locks: a release of a lock precedes a later acquire of the same lock by
  another process — ``flock`` (released by LOCK_UN, by closing the last fd
  of the open file description, at exit), ``fcntl`` record locks (posix and
  OFD, overlapping byte ranges, released by F_UNLCK, by the process closing
  any fd of the file (posix), at exit), and the lock-file protocol
  (``O_CREAT|O_EXCL`` create ... ``unlink``).  Shared holders do not order
  each other: a shared acquire syncs only with exclusive releases; an
  exclusive acquire syncs with every earlier release.

Time orders nothing.  A clock maps process index -> the sequence number of
the latest operation of that process known to precede the current point.

Clocks are not copied (a copy per fork, and per epoch, made memory and time
grow with processes squared: 40,000 processes needed 24 GB).  Each process
keeps only what it learned itself, as a history per other process of
(seq, value, cause) entries, values increasing; what it inherited at fork
is its parent's clock at the fork's seq, looked up through the parent (a
walk up the process tree, as deep as the tree).  A reaped child passes on
only its own history: what it inherited is its parent's past, which the
parent knows already.  The clock in force at any event is one bisect per
level away; ``clock_at`` returns a read-only view of it.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

Clock = dict[int, int]

#: An own-history entry: (seq of the epoch it was learned at, value, cause).
_Entry = tuple[int, int, Any]

_INF = float("inf")


def join(into: Clock, other: Clock) -> bool:
    """Merge ``other`` into ``into`` (component-wise max); True if it changed."""
    changed = False
    for k, v in other.items():
        if into.get(k, -1) < v:
            into[k] = v
            changed = True
    return changed


def _seq_key(entry: _Entry) -> int:
    return entry[0]


def _last_at(entries: list[_Entry], seq: float) -> _Entry | None:
    """The last entry learned at or before ``seq`` (entries sorted by seq)."""
    if entries[0][0] > seq:
        return None
    if entries[-1][0] <= seq:
        return entries[-1]
    return entries[bisect_right(entries, seq, key=_seq_key) - 1]


class ClockView:
    """The clock of one process at one seq, read through the process tree."""

    __slots__ = ("_hb", "_proc", "_seq")

    def __init__(self, hb: "HappensBefore", proc: int, seq: float) -> None:
        self._hb, self._proc, self._seq = hb, proc, seq

    def get(self, key: int, default: int = -1) -> int:
        """The latest seq of process ``key`` known here, else ``default``."""
        v = self._hb._value(self._proc, self._seq, key)
        return default if v < 0 else v

    def to_dict(self) -> Clock:
        """The whole clock as a dict (a copy)."""
        return self._hb._materialize(self._proc, self._seq)


@dataclass
class _Lock:
    """Release history of one lock object (a file, for one lock family)."""

    # Releases as (start, end, exclusive, clock); end is None for "to EOF".
    releases: list[tuple[int, int | None, bool, Clock]] = field(default_factory=list)
    # Current holders: holder key -> (proc, start, end, exclusive)
    holders: dict[Any, tuple[int, int, int | None, bool]] = field(default_factory=dict)
    # Acquires that completed while a conflicting holder was still on the
    # books: (proc, seq, holders still to release).  See ``acquire``.
    pending: list[tuple[int, int, set]] = field(default_factory=list)


def _overlap(a0: int, a1: int | None, b0: int, b1: int | None) -> bool:
    return (b1 is None or a0 < b1) and (a1 is None or b0 < a1)


class HappensBefore:
    """Builds clocks while events stream in; answers ordering queries."""

    def __init__(self) -> None:
        # Per process: its parent and the parent's seq at the fork (None for
        # a root), its own history (other process -> entries), children.
        self._parent: list[int | None] = []
        self._fork_seq: list[int] = []
        self._own: list[dict[int, list[_Entry]]] = []
        self._children: list[list[int]] = []
        # Per process, what made each epoch (see ``ordering_cause``):
        # ("fork", parent), ("wait", child), ("vfork", child) or a lock key
        # such as ("flock", path); epoch 0 is the process's start (seq 0).
        self._epoch_seqs: list[list[int]] = []
        self._epoch_causes: list[list[Any]] = []
        self._last_seq: list[int] = []
        # child -> (reaper, seq of the wait, the child's last seq then)
        self._reaped: dict[int, tuple[int, int, int]] = {}
        # Children whose birth clock was pinned (see ``_pin_children``).
        self.pinned: set[int] = set()
        self._locks: dict[tuple[str, str], _Lock] = {}
        self.lock_edges = 0

    # ------------------------------------------------------------ clocks

    def _value(self, proc: int, seq: float, key: int) -> int:
        """Clock of ``proc`` at ``seq``, component ``key`` (-1: unknown)."""
        parent, fork_seq, own = self._parent, self._fork_seq, self._own
        while True:
            entries = own[proc].get(key)
            if entries is not None:
                e = _last_at(entries, seq)
                if e is not None:
                    return e[1]
            up = parent[proc]
            if up is None:
                return -1
            seq = fork_seq[proc]
            if up == key:
                return seq
            proc = up

    def _materialize(self, proc: int, seq: float, stop: int | None = None) -> Clock:
        """The whole clock of ``proc`` at ``seq`` as a dict.

        With ``stop``, the walk up the tree ends at that ancestor: its clock
        at the fork is part of its own present (a reaped child passes on
        only what its parent does not know yet).
        """
        out: Clock = {}
        while True:
            for key, entries in self._own[proc].items():
                if key not in out:
                    e = _last_at(entries, seq)
                    if e is not None:
                        out[key] = e[1]
            up = self._parent[proc]
            if up is None:
                return out
            seq = self._fork_seq[proc]
            out.setdefault(up, seq)
            if up == stop:
                return out
            proc = up

    # --------------------------------------------------------- building

    def add_process(self, parent: int | None, fork_seq: int | None) -> int:
        """Register a process; returns its index.  Inherits the parent's clock."""
        idx = len(self._own)
        linked = parent is not None and fork_seq is not None
        self._parent.append(parent if linked else None)
        self._fork_seq.append(fork_seq if linked else 0)
        self._own.append({})
        self._children.append([])
        if linked:
            self._children[parent].append(idx)
        self._epoch_seqs.append([0])
        self._epoch_causes.append([("fork", parent) if parent is not None else None])
        self._last_seq.append(fork_seq or 0)
        return idx

    def touch(self, proc: int, seq: int) -> None:
        """Note the latest operation of ``proc`` (used by exit/release)."""
        self._last_seq[proc] = seq

    def _acquire(self, proc: int, seq: int, other: Clock, cause: Any = None) -> None:
        own = self._own[proc]
        changed = False
        for k, v in other.items():
            if k == proc or self._value(proc, _INF, k) >= v:
                continue
            entries = own.get(k)
            if entries is None:
                own[k] = [(seq, v, cause)]
            else:
                entries.append((seq, v, cause))
            changed = True
        if changed:
            self._epoch_seqs[proc].append(seq)
            self._epoch_causes[proc].append(cause)
            self.lock_edges += 1

    def _snapshot(self, proc: int, seq: int) -> Clock:
        clock = self._materialize(proc, _INF)
        clock[proc] = seq
        return clock

    def waited(self, parent: int, child: int, seq: int) -> None:
        """``parent`` reaped ``child`` at ``seq``: the child's life precedes."""
        clock = self._materialize(child, _INF, stop=parent)
        clock[child] = self._last_seq[child]
        self._reaped.setdefault(child, (parent, seq, self._last_seq[child]))
        self._acquire(parent, seq, clock, ("wait", child))

    def vfork_released(self, parent: int, child: int, seq: int) -> None:
        """A vfork child exec'd or exited at ``seq``: the parent resumes after."""
        clock = self._materialize(child, _INF, stop=parent)
        clock[child] = seq
        self._acquire(parent, seq, clock, ("vfork", child))

    def acquire(self, key: tuple[str, str], holder: Any, proc: int, seq: int,
                exclusive: bool, start: int = 0, end: int | None = None) -> None:
        """``proc`` took lock ``key`` (family, path) through ``holder``."""
        lock = self._locks.setdefault(key, _Lock())
        merged: Clock = {}
        for r0, r1, r_excl, clock in lock.releases:
            if (exclusive or r_excl) and _overlap(start, end, r0, r1):
                join(merged, clock)
        if merged:
            self._acquire(proc, seq, merged, key)
        # strace reports a call when it returns: the release that let this
        # acquire through can be printed after it (the releaser's unlock was
        # still returning).  A conflicting holder still on the books means
        # exactly that; its release will order this acquire when it shows up.
        blockers = {h for h, (hp, h0, h1, h_excl) in lock.holders.items()
                    if hp != proc and (exclusive or h_excl) and _overlap(start, end, h0, h1)}
        if blockers:
            lock.pending.append((proc, seq, blockers))
        lock.holders[holder] = (proc, start, end, exclusive)

    def release(self, key: tuple[str, str], holder: Any, seq: int,
                proc: int | None = None) -> bool:
        """Release the lock ``key`` held through ``holder``; False if not held."""
        lock = self._locks.get(key)
        if lock is None or holder not in lock.holders:
            return False
        hproc, start, end, exclusive = lock.holders.pop(holder)
        who = hproc if proc is None else proc
        clock = self._snapshot(who, seq)
        lock.releases.append((start, end, exclusive, clock))
        for item in list(lock.pending):
            waiter, at, blockers = item
            if holder in blockers:
                blockers.discard(holder)
                self._acquire_since(waiter, at, clock, key)
                if not blockers:
                    lock.pending.remove(item)
        return True

    def _acquire_since(self, proc: int, seq: int, other: Clock, cause: Any) -> None:
        """Join ``other`` into ``proc``'s clock from its event ``seq`` on.

        The epochs from ``seq`` on all gain ``other``; children forked
        since then keep the clock they were born with (they are pinned to
        it first), as they would with copied clocks.
        """
        seqs, causes = self._epoch_seqs[proc], self._epoch_causes[proc]
        i = bisect_right(seqs, seq) - 1
        if seqs[i] != seq:
            i += 1
            seqs.insert(i, seq)
            causes.insert(i, cause)
        epoch_cause = causes[i]
        own = self._own[proc]
        current_changed = False
        for k, v in other.items():
            if k == proc or self._value(proc, seq, k) >= v:
                continue
            if self._value(proc, _INF, k) < v:
                current_changed = True
            self._pin_children(proc, seq, k)
            entries = own.setdefault(k, [])
            j = bisect_right(entries, seq, key=_seq_key)
            # Later entries at or below v are now v: drop them (values stay
            # increasing, and the first epoch to know v is this one).
            end = j
            while end < len(entries) and entries[end][1] <= v:
                end += 1
            entries[j:end] = [(seq, v, epoch_cause)]
        if current_changed:
            self.lock_edges += 1

    def _pin_children(self, proc: int, seq: int, key: int) -> None:
        """Fix component ``key`` of the birth clock of children forked at/after ``seq``."""
        for child in self._children[proc]:
            if self._fork_seq[child] < seq:
                continue
            entries = self._own[child].get(key)
            if entries is not None and entries[0][0] == 0:
                continue
            # -1 (unknown) is pinned too: the child must not learn it later.
            v = self._value(proc, self._fork_seq[child], key)
            self.pinned.add(child)
            if entries is None:
                self._own[child][key] = [(0, v, self._epoch_causes[child][0])]
            else:
                entries.insert(0, (0, v, self._epoch_causes[child][0]))

    def release_oldest(self, key: tuple[str, str], seq: int, proc: int) -> bool:
        """Release whoever took ``key`` first (lock files: any process may unlink).

        A lock file's holder is whoever created it; the ``unlink`` that frees
        it is printed when it returns, possibly after the next holder's
        create.  With two holders on the books, the unlink belongs to the
        earlier one.
        """
        lock = self._locks.get(key)
        if lock is None or not lock.holders:
            return False
        return self.release(key, next(iter(lock.holders)), seq, proc=proc)

    def release_all(self, proc: int, seq: int, holder_filter=None) -> None:
        """Release every lock held by ``proc`` (exit); optionally filtered."""
        for key, lock in self._locks.items():
            for holder, (hproc, *_rest) in list(lock.holders.items()):
                if hproc == proc and (holder_filter is None or holder_filter(key, holder)):
                    self.release(key, holder, seq)

    # ---------------------------------------------------------- queries

    def clock_at(self, proc: int, seq: int) -> ClockView:
        """The clock of ``proc`` in force at its event ``seq`` (read-only view)."""
        return ClockView(self, proc, seq)

    def first_knowing(self, proc: int, key: int, value: int) -> float:
        """The first seq of ``proc`` whose clock has ``key`` >= ``value``
        (0: from its start; inf: never)."""
        if proc == key:
            return value
        if self._value(proc, 0, key) >= value:
            return 0
        for at, v, _cause in self._own[proc].get(key, ()):
            if v >= value:
                return at
        return _INF

    def parent_of(self, proc: int) -> tuple[int | None, int]:
        """(parent, seq of the fork) of ``proc``; (None, 0) for a root."""
        return self._parent[proc], self._fork_seq[proc]

    def reaped(self, proc: int) -> tuple[int, int, int] | None:
        """(reaper, seq of the wait, ``proc``'s last seq then), or None."""
        return self._reaped.get(proc)

    def clock_entries(self) -> int:
        """How many clock entries are stored (memory grows with this)."""
        return sum(len(e) for own in self._own for e in own.values())

    def ordered(self, proc_a: int, seq_a: int, proc_b: int, seq_b: int) -> bool:
        """True when one of the two operations happens before the other."""
        if proc_a == proc_b:
            return True
        if seq_a > seq_b:
            proc_a, seq_a, proc_b, seq_b = proc_b, seq_b, proc_a, seq_a
        return self._value(proc_b, seq_b, proc_a) >= seq_a

    def ordering_cause(self, proc_a: int, seq_a: int, proc_b: int, seq_b: int) -> Any:
        """What orders two operations: the edge that first brought the earlier
        one into the later one's clock.

        Returns ``("fork", parent)``, ``("wait", child)``, ``("vfork", child)``
        or a lock key (``("flock", path)``, ``("posix", path)``, ``("excl",
        path)``) -- the last hop of the chain when the order is transitive --
        ``("same-process", None)``, or None when the two are unordered.
        """
        if proc_a == proc_b:
            return ("same-process", None)
        if seq_a > seq_b:
            proc_a, seq_a, proc_b, seq_b = proc_b, seq_b, proc_a, seq_a
        # Epoch 0 (seq 0) is the clock the process was born with.
        if self._value(proc_b, 0, proc_a) >= seq_a:
            return self._epoch_causes[proc_b][0]
        for at, v, cause in self._own[proc_b].get(proc_a, ()):
            if at > seq_b:
                break
            if v >= seq_a:
                return cause
        return None
