"""``removed-while-in-use``: a path, or one of its ancestors, is removed or
renamed away by one process while another process is still using it.

This is the seed bug: uv 0.6.11 processes removed a ``*.data`` staging
directory that another uv process was still moving files out of, and the
victim's ``rename`` failed with ENOENT.

For every successful removal (unlink, rmdir, rename of the old name) by
process X, each other process Y whose accesses to the path or anything
under it are unordered with the removal contributes one pair: the access
that failed because of it (ENOENT/ENOTDIR after the removal: manifested),
else Y's access nearest in the log (latent).  A check (stat, access) that
fails is how programs ask "is it there?", so it never counts as a failure;
creations under a removed directory belong to ``filled-while-removing``
unless they failed.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Iterator

from ..accesses import (A_ERRNO, A_OP, A_PROC, A_SEQ, A_TS_END, A_TS, CHECK, CREATIONS,
                        REMOVALS, may_precede)
from ..conflict import Conflict
from ..history import History
from ._common import (GONE_ERRNOS, Relevance, removal_root, removes_directory, unlocked_paths,
                      window)

_INF = float("inf")

KIND = "removed-while-in-use"


def _failed_after(removal: tuple, acc: tuple, seen: tuple | None) -> bool:
    """Did ``acc`` fail because of ``removal``?

    A check (stat, access) that finds nothing is usually a question, not a
    failure — unless the same process had just seen the path exist (its
    previous access succeeded, or its mkdir said EEXIST) before the removal:
    then the answer changed under it, as when uv's ``create_dir_all`` gets
    EEXIST and its follow-up stat finds the directory gone.  A removal that
    returned after the failure still counts when the two calls overlapped
    (``may_precede``).
    """
    if acc[A_ERRNO] not in GONE_ERRNOS or not may_precede(removal, acc):
        return False
    if acc[A_OP] != CHECK:
        return True
    return seen is not None and seen[A_SEQ] < removal[A_SEQ] and seen[A_ERRNO] in (None, "EEXIST")


class _Lane:
    """One process's accesses of one target path, in seq order, with indexes."""

    __slots__ = ("seqs", "accs", "seen", "gone", "gone_pmax", "elig", "ok")

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.accs: list[tuple] = []
        self.seen: list[tuple | None] = []
        self.gone: list[int] = []         # indexes of accesses that failed with GONE_ERRNOS
        self.gone_pmax: list[float] = []  # running max of their return times
        self.elig: list[int] = []         # indexes that can be latent candidates
        self.ok: list[int] = []           # ... and succeeded


def _lanes(h: History, targets: list[str], x_procs: set[int] | None = None):
    """Per process, per target index: a ``_Lane``; and each process's (first, last) seq."""
    lanes: dict[int, dict[int, _Lane]] = {}
    spans: dict[int, tuple[int, int]] = {}
    for tidx, t in enumerate(targets):
        previous: dict[int, tuple] = {}
        for b in h.paths.get(t, ()):
            p = b[A_PROC]
            seen = previous.get(p)
            previous[p] = b
            per = lanes.get(p)
            if per is None:
                per = lanes[p] = {}
            lane = per.get(tidx)
            if lane is None:
                lane = per[tidx] = _Lane()
            i = len(lane.seqs)
            lane.seqs.append(b[A_SEQ])
            lane.accs.append(b)
            lane.seen.append(seen)
            if b[A_ERRNO] in GONE_ERRNOS:
                end = b[A_TS_END]
                top = lane.gone_pmax[-1] if lane.gone else -_INF
                lane.gone.append(i)
                lane.gone_pmax.append(top if end is None or end <= top else end)
            # Creations under a removed directory belong to filled-while-removing.
            if not (tidx and b[A_OP] in CREATIONS):
                lane.elig.append(i)
                if b[A_ERRNO] is None:
                    lane.ok.append(i)
            span = spans.get(p)
            seq = b[A_SEQ]
            spans[p] = (seq, seq) if span is None else (min(span[0], seq), max(span[1], seq))
    return lanes, spans


def _scan_lane(a: tuple, lane: _Lane, lo: int, hi: float):
    """For removal ``a`` and one lane: (first failure it explains, latent candidate info).

    Only accesses in the unordered window (lo, s) below and (s, hi) above
    are looked at, through the lane's indexes: no scan of the whole lane.
    Returns (manifested, first_candidate, nearest_candidate), each an
    index into the lane or None.
    """
    s = a[A_SEQ]
    seqs = lane.seqs
    i_lo = bisect_right(seqs, lo)
    i_s = bisect_left(seqs, s)
    i_hi = bisect_left(seqs, hi, i_s) if hi != _INF else len(seqs)
    if i_lo >= i_s and i_s >= i_hi:
        return None, None, (None, None)
    accs, seen = lane.accs, lane.seen
    gone, pmax = lane.gone, lane.gone_pmax
    g_s = bisect_left(gone, i_s)
    # Failures below the removal: the calls overlapped (may_precede); the
    # earliest such one counts.  Walk down while a return time can still
    # be after the removal's start.
    below_hits: set[int] = set()
    manifested = None
    ts = a[A_TS]
    if ts is not None and i_lo < i_s:
        k = g_s - 1
        while k >= 0 and gone[k] >= i_lo and pmax[k] > ts:
            j = gone[k]
            if _failed_after(a, accs[j], seen[j]):
                below_hits.add(j)
                manifested = j
            k -= 1
    if manifested is None:
        k = g_s
        while k < len(gone) and gone[k] < i_hi:
            j = gone[k]
            if _failed_after(a, accs[j], seen[j]):
                manifested = j
                break
            k += 1
    # Latent candidates: eligible accesses below (not explained failures),
    # successful eligible ones above.
    elig, ok = lane.elig, lane.ok
    first = nearest_below = None
    e = bisect_left(elig, i_lo)
    while e < len(elig) and elig[e] < i_s:
        if elig[e] not in below_hits:
            first = elig[e]
            break
        e += 1
    if first is not None:
        e = bisect_left(elig, i_s) - 1
        while e >= 0 and elig[e] >= i_lo:
            j = elig[e]
            if j not in below_hits:
                # Among equal seqs the first in list order.
                while e > 0 and elig[e - 1] >= i_lo and seqs[elig[e - 1]] == seqs[j] \
                        and elig[e - 1] not in below_hits:
                    e -= 1
                    j = elig[e]
                nearest_below = j
                break
            e -= 1
    o = bisect_left(ok, i_s)
    nearest_above = ok[o] if o < len(ok) and ok[o] < i_hi else None
    if first is None:
        first = nearest_above
    return manifested, first, (nearest_below, nearest_above)


def detect(h: History) -> Iterator[Conflict]:
    """Yield removed-while-in-use conflicts.

    Per removed path, the accesses of the path (and, for a directory, of
    its subtree) are indexed once per process; each removal then looks
    only at the processes that may be unordered with it (``Relevance``)
    and, per process, at the few accesses next to its unordered window.
    The answers are those of the plain scan over every access
    (``tests/test_scale.py`` checks it on random traces).
    """
    for path, accesses in unlocked_paths(h):
        removals = [a for a in accesses if a[A_OP] in REMOVALS and a[A_ERRNO] is None]
        if not removals:
            continue
        any_dir = any(removes_directory(a) or a[A_OP] != "remove" for a in removals)
        targets = [path, *h.subtree(path)] if any_dir else [path]
        lanes, spans = _lanes(h, targets)
        relevance = Relevance(h, spans)
        for a in removals:
            yield from _conflicts(h, path, a, lanes, relevance)


def _conflicts(h: History, path: str, a: tuple, lanes, relevance: Relevance) -> Iterator[Conflict]:
    x, s = a[A_PROC], a[A_SEQ]
    is_dir = removes_directory(a) or a[A_OP] != "remove"
    manifested: list[tuple[tuple, int, tuple]] = []   # (order key, proc, victim)
    latent: list[tuple[tuple, int, tuple]] = []
    for p in relevance.procs(x, s):
        per = lanes.get(p)
        if per is None:
            continue
        lo, hi = window(h, x, s, p)
        m_key = m_best = None
        l_key = l_best = None
        for tidx, lane in per.items():
            if tidx and not is_dir:
                continue
            m, first, (below, above) = _scan_lane(a, lane, lo, hi)
            seqs, accs = lane.seqs, lane.accs
            if m is not None:
                key = (tidx, seqs[m])
                if m_key is None or key < m_key:
                    m_key = key
                # The earliest failure wins; on a tie, the first target.
                if m_best is None or seqs[m] < m_best[0][A_SEQ] or \
                        (seqs[m] == m_best[0][A_SEQ] and tidx < m_best[1]):
                    m_best = (accs[m], tidx)
            if first is not None:
                key = (tidx, seqs[first], first)
                if l_key is None or key < l_key:
                    l_key = key
                for j in (below, above):
                    if j is None:
                        continue
                    cand = (abs(seqs[j] - s), tidx, seqs[j], j)
                    if l_best is None or cand < l_best[0]:
                        l_best = (cand, accs[j])
        if m_best is not None:
            manifested.append((m_key, p, m_best[0]))
        elif l_best is not None:
            latent.append((l_key, p, l_best[1]))
    site = None
    latent.sort(key=lambda t: t[0])
    manifested.sort(key=lambda t: t[0])
    for _k, _p, b in latent:
        site = site or removal_root(h, path, x)
        yield Conflict(KIND, a, b, False, site)
    for _k, _p, b in manifested:
        site = site or removal_root(h, path, x)
        yield Conflict(KIND, a, b, True, site)
