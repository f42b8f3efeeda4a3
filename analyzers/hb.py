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
the latest operation of that process known to precede the current point;
each process keeps a list of (seq, clock) epochs, a new one at each
acquire, so that the clock in force at any event is one bisect away.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

Clock = dict[int, int]


def join(into: Clock, other: Clock) -> bool:
    """Merge ``other`` into ``into`` (component-wise max); True if it changed."""
    changed = False
    for k, v in other.items():
        if into.get(k, -1) < v:
            into[k] = v
            changed = True
    return changed


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
        self._epoch_seqs: list[list[int]] = []
        self._epoch_clocks: list[list[Clock]] = []
        self._current: list[Clock] = []
        self._last_seq: list[int] = []
        self._locks: dict[tuple[str, str], _Lock] = {}
        self.lock_edges = 0
        # Per process, parallel to its epochs: what made each epoch (see
        # ``ordering_cause``): ("fork", parent), ("wait", child), ("vfork",
        # child) or a lock key such as ("flock", path).
        self._epoch_causes: list[list[Any]] = []

    # --------------------------------------------------------- building

    def add_process(self, parent: int | None, fork_seq: int | None) -> int:
        """Register a process; returns its index.  Inherits the parent's clock."""
        idx = len(self._current)
        clock: Clock = {}
        if parent is not None and fork_seq is not None:
            clock = dict(self._current[parent])
            clock[parent] = fork_seq
        self._current.append(clock)
        self._epoch_seqs.append([0])
        self._epoch_clocks.append([dict(clock)])
        self._epoch_causes.append([("fork", parent) if parent is not None else None])
        self._last_seq.append(fork_seq or 0)
        return idx

    def touch(self, proc: int, seq: int) -> None:
        """Note the latest operation of ``proc`` (used by exit/release)."""
        self._last_seq[proc] = seq

    def _acquire(self, proc: int, seq: int, other: Clock, cause: Any = None) -> None:
        clock = self._current[proc]
        other = {k: v for k, v in other.items() if k != proc}
        if join(clock, other):
            self._epoch_seqs[proc].append(seq)
            self._epoch_clocks[proc].append(dict(clock))
            self._epoch_causes[proc].append(cause)
            self.lock_edges += 1

    def _snapshot(self, proc: int, seq: int) -> Clock:
        clock = dict(self._current[proc])
        clock[proc] = seq
        return clock

    def waited(self, parent: int, child: int, seq: int) -> None:
        """``parent`` reaped ``child`` at ``seq``: the child's life precedes."""
        self._acquire(parent, seq, self._snapshot(child, self._last_seq[child]), ("wait", child))

    def vfork_released(self, parent: int, child: int, seq: int) -> None:
        """A vfork child exec'd or exited at ``seq``: the parent resumes after."""
        self._acquire(parent, seq, self._snapshot(child, seq), ("vfork", child))

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
        """Join ``other`` into ``proc``'s clock from its event ``seq`` on."""
        other = {k: v for k, v in other.items() if k != proc}
        seqs, clocks = self._epoch_seqs[proc], self._epoch_clocks[proc]
        causes = self._epoch_causes[proc]
        i = bisect_right(seqs, seq) - 1
        if seqs[i] != seq:
            i += 1
            seqs.insert(i, seq)
            clocks.insert(i, dict(clocks[i - 1]))
            causes.insert(i, cause)
        for clock in clocks[i:]:
            join(clock, other)
        if join(self._current[proc], other):
            self.lock_edges += 1

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

    def clock_at(self, proc: int, seq: int) -> Clock:
        """The clock of ``proc`` in force at its event ``seq``."""
        seqs = self._epoch_seqs[proc]
        return self._epoch_clocks[proc][bisect_right(seqs, seq) - 1]

    def ordered(self, proc_a: int, seq_a: int, proc_b: int, seq_b: int) -> bool:
        """True when one of the two operations happens before the other."""
        if proc_a == proc_b:
            return True
        if seq_a > seq_b:
            proc_a, seq_a, proc_b, seq_b = proc_b, seq_b, proc_a, seq_a
        return self.clock_at(proc_b, seq_b).get(proc_a, -1) >= seq_a

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
        seqs = self._epoch_seqs[proc_b]
        last = bisect_right(seqs, seq_b)
        for i in range(last):
            if self._epoch_clocks[proc_b][i].get(proc_a, -1) >= seq_a:
                return self._epoch_causes[proc_b][i]
        return None
