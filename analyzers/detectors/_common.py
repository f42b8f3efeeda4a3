"""Helpers shared by the detectors."""

from __future__ import annotations

import heapq
import posixpath
from bisect import bisect_left, bisect_right
from typing import Any, Iterable

from ..accesses import A_ERRNO, A_FLAGS, A_OP, A_PROC, A_SEQ, A_SYSCALL, REMOVALS
from ..history import History

#: errnos that a removal or rename of the path (or an ancestor) explains.
GONE_ERRNOS = frozenset(("ENOENT", "ENOTDIR", "ESTALE"))


def removes_directory(acc: tuple) -> bool:
    """True for an access that removes a directory (rmdir, unlinkat AT_REMOVEDIR)."""
    if acc[A_SYSCALL] == "rmdir":
        return True
    return acc[A_SYSCALL] == "unlinkat" and "AT_REMOVEDIR" in (acc[A_FLAGS] or "")


def closest_unordered(h: History, anchor: tuple, candidates: Iterable[tuple]) -> dict[int, tuple]:
    """Per other process, the unordered candidate nearest to ``anchor`` in seq.

    Ties go to the candidate met first; the dict lists processes in the
    order their first unordered candidate appears.  Detectors call this
    once per anchor over the same list: the list's ``UnorderedIndex`` is
    built on the first call and kept (for that list object) while the
    calls go on, so each call costs a few bisects, not a scan.
    """
    if not isinstance(candidates, list):
        return closest_unordered_scan(h, anchor, candidates)
    cache = h.__dict__.get("_unordered_index")
    if cache is None or cache[0] is not candidates or cache[1] != len(candidates):
        cache = (candidates, len(candidates), UnorderedIndex(h, candidates))
        h.__dict__["_unordered_index"] = cache
    return cache[2].closest(anchor)


def closest_unordered_scan(h: History, anchor: tuple, candidates: Iterable[tuple]) -> dict[int, tuple]:
    """``closest_unordered`` by a plain scan of every candidate (the reference)."""
    best: dict[int, tuple[int, tuple]] = {}
    proc = anchor[A_PROC]
    seq = anchor[A_SEQ]
    ordered = h.hb.ordered
    for b in candidates:
        bp = b[A_PROC]
        if bp == proc:
            continue
        dist = abs(b[A_SEQ] - seq)
        cur = best.get(bp)
        if cur is not None and cur[0] <= dist:
            continue
        if ordered(proc, seq, bp, b[A_SEQ]):
            continue
        best[bp] = (dist, b)
    return {p: b for p, (_d, b) in best.items()}


_INF = float("inf")


class Relevance:
    """Which processes may hold an access unordered with an anchor.

    Scanning every process with accesses to a path for every anchor is
    quadratic when thousands of processes took turns on it.  A process can
    hold an unordered access only if it is (a) a root (no fork seen), (b)
    alive at the anchor (started before it, not reaped before it), (c)
    reaped before the anchor by a reaper whose wait the anchor does not
    know, or (d) forked after the anchor by a parent that did not know the
    anchor yet.  Each of (c) and (d) is a bisect per reaper and per parent;
    (b) is a sweep.  What it returns is a superset: callers still check
    each process's accesses exactly.
    """

    def __init__(self, h: History, spans: dict[int, tuple[int, int]]) -> None:
        """``spans``: process -> (first, last) seq of its accesses of interest."""
        hb = self.hb = h.hb
        self.roots: list[int] = []
        self._by_birth: list[tuple[int, float, int]] = []
        reapers: dict[int, list[tuple[int, int]]] = {}
        parents: dict[int, list[tuple[int, int]]] = {}
        for p, (first, last) in spans.items():
            parent, fork_seq = hb.parent_of(p)
            # A pinned birth clock is not its parent's: check it always.
            if parent is None or p in hb.pinned:
                self.roots.append(p)
                continue
            birth = min(fork_seq, first)
            end: float = _INF
            reap = hb.reaped(p)
            # Only a reap that saw the process's accesses of interest.
            if reap is not None and reap[2] >= last and reap[1] > last:
                end = reap[1]
                reapers.setdefault(reap[0], []).append((reap[1], p))
            self._by_birth.append((birth, end, p))
            parents.setdefault(parent, []).append((fork_seq, p))
        self._by_birth.sort()
        self._reapers = {w: ([r for r, _p in lst], [p for _r, p in lst])
                         for w, lst in ((w, sorted(v)) for w, v in reapers.items())}
        self._parents = {q: ([f for f, _p in lst], [p for _f, p in lst])
                         for q, lst in ((q, sorted(v)) for q, v in parents.items())}
        self._reset()

    def _reset(self) -> None:
        self._next = 0
        self._alive: list[tuple[float, int]] = []   # heap of (end, proc)
        self._at = -_INF

    def procs(self, x: int, s: int) -> set[int]:
        """Processes other than ``x`` that may hold an access unordered with (x, s)."""
        if s < self._at:
            self._reset()
        self._at = s
        by_birth, alive = self._by_birth, self._alive
        while self._next < len(by_birth) and by_birth[self._next][0] < s:
            birth, end, p = by_birth[self._next]
            heapq.heappush(alive, (end, p))
            self._next += 1
        while alive and alive[0][0] <= s:
            heapq.heappop(alive)
        out = set(self.roots)
        out.update(p for _e, p in alive)
        hb = self.hb
        for w, (rs, ps) in self._reapers.items():
            known = s if w == x else hb._value(x, s, w)
            i = bisect_right(rs, known)
            j = bisect_right(rs, s)
            if i < j:
                out.update(ps[i:j])
        for q, (fs, ps) in self._parents.items():
            i = bisect_right(fs, s)
            if i == len(fs):
                continue
            k = hb.first_knowing(q, x, s)
            j = bisect_left(fs, k)
            if i < j:
                out.update(ps[i:j])
        out.discard(x)
        return out


def window(h: History, x: int, s: int, p: int) -> tuple[int, float]:
    """(lo, hi): ``p``'s accesses with lo < seq < hi are unordered with (x, s)."""
    hb = h.hb
    return hb._value(x, s, p), hb.first_knowing(p, x, s)


class UnorderedIndex:
    """``closest_unordered`` for many anchors over one candidate list.

    Gives exactly what ``closest_unordered`` gives for each anchor.
    Candidates are grouped by process and by run (a stretch of the list
    in seq order: a path's accesses, or each path's in turn).  Happens-before is
    monotone: a process's accesses unordered with an anchor are exactly
    those in the seq window (lo, hi) of ``window``, so per process and
    group the nearest unordered candidate is the one just below or just
    above the anchor inside the window -- two bisects, not a scan.
    """

    def __init__(self, h: History, candidates: list[tuple]) -> None:
        self.h = h
        per: dict[int, dict[Any, tuple[list[int], list[int], list[tuple]]]] = {}
        spans: dict[int, tuple[int, int]] = {}
        g, prev = 0, -_INF
        for pos, b in enumerate(candidates):
            p, seq = b[A_PROC], b[A_SEQ]
            if seq < prev:
                g += 1
            prev = seq
            groups = per.setdefault(p, {})
            cols = groups.get(g)
            if cols is None:
                cols = groups[g] = ([], [], [])
            cols[0].append(seq)
            cols[1].append(pos)
            cols[2].append(b)
            lo_hi = spans.get(p)
            spans[p] = (seq, seq) if lo_hi is None else (min(lo_hi[0], seq), max(lo_hi[1], seq))
        self._per = per
        self._relevance = Relevance(h, spans)

    def closest(self, anchor: tuple) -> dict[int, tuple]:
        """Per other process, the unordered candidate nearest to ``anchor``."""
        x, s = anchor[A_PROC], anchor[A_SEQ]
        found: list[tuple[int, int, tuple]] = []   # (first pos, proc, best)
        for p in self._relevance.procs(x, s):
            groups = self._per.get(p)
            if groups is None:
                continue
            lo, hi = window(self.h, x, s, p)
            best = None   # (dist, pos, b)
            first = None
            for seqs, poss, accs in groups.values():
                # Below the anchor: unordered above lo; above it: below hi.
                i_lo = bisect_right(seqs, lo)
                i_s = bisect_left(seqs, s)
                i_hi = bisect_left(seqs, hi, i_s) if hi != _INF else len(seqs)
                if i_lo < i_s:
                    if first is None or poss[i_lo] < first:
                        first = poss[i_lo]
                    # Just below: among equal seqs the first in list order.
                    j = bisect_left(seqs, seqs[i_s - 1], i_lo, i_s)
                    cand = (s - seqs[j], poss[j], accs[j])
                    if best is None or cand[:2] < best[:2]:
                        best = cand
                if i_s < i_hi:
                    if first is None or poss[i_s] < first:
                        first = poss[i_s]
                    cand = (seqs[i_s] - s, poss[i_s], accs[i_s])
                    if best is None or cand[:2] < best[:2]:
                        best = cand
            if best is not None:
                found.append((first, p, best[2]))
        found.sort(key=lambda t: t[0])
        return {p: b for _f, p, b in found}


def removal_root(h: History, path: str, proc: int) -> str:
    """The top-most ancestor of ``path`` that ``proc`` also removed (or tried to).

    A recursive removal unlinks every file and then each directory; grouping
    all of them under the root of the removed tree gives one race site.
    """
    root = path
    while True:
        parent = posixpath.dirname(root)
        if parent == root or not parent:
            return root
        removed = False
        for acc in h.paths.get(parent, ()):
            # A failed attempt counts: the rmdir of the top of a tree that
            # another process refilled fails, yet it is the same removal.
            if acc[A_PROC] == proc and acc[A_OP] in REMOVALS:
                removed = True
                break
        if not removed:
            return root
        root = parent


def creation_root(h: History, path: str, procs: tuple[int, ...]) -> str:
    """The top of the directory tree that all of ``procs`` were creating.

    Two installers that both make ``pkg/``, ``pkg/sub/`` and then collide on
    hundreds of files below are one race site, not hundreds: climb from the
    file while every process involved also tried to create the parent.
    """
    root = posixpath.dirname(path)
    while True:
        parent = posixpath.dirname(root)
        facts = h.dir_makers.get(root)
        if facts is None:
            tries = [acc for acc in h.paths.get(root, ())
                     if acc[A_OP] == "create" and acc[A_SYSCALL].startswith("mkdir")]
            facts = h.dir_makers[root] = (frozenset(acc[A_PROC] for acc in tries),
                                          any(acc[A_ERRNO] is None for acc in tries))
        makers, made = facts
        # Stop at a directory that existed before the run (nobody made it).
        if parent == root or not made or not all(p in makers for p in procs):
            return root
        root = parent


def unlocked_paths(h: History) -> Iterable[tuple[str, list[tuple]]]:
    """Each accessed path with its accesses, lock files left out.

    Contenders for a lock open, create and remove the lock file by design;
    races on it are the lock protocol, not races of the program.
    """
    locks = h.lock_paths
    for path, accesses in h.paths.items():
        if path not in locks:
            yield path, accesses
