"""``filled-while-removing``: a process removes a directory while another
process creates entries in it.

The remover's ``rmdir`` fails with ENOTEMPTY (manifested, the remover is the
victim), or the removal succeeds and whatever the other process created is
lost or its next step fails (latent here; a failed create is reported as
``removed-while-in-use``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Iterator

from ..accesses import A_ERRNO, A_OP, A_PROC, A_SEQ, A_TS, A_TS_END, CREATIONS
from ..conflict import Conflict
from ..history import History
from ._common import Relevance, UnorderedIndex, removal_root, removes_directory, window

_INF = float("inf")

KIND = "filled-while-removing"


class _Creations:
    """The successful creations under one directory, indexed for many removals."""

    def __init__(self, h: History, path: str) -> None:
        self.all = [b for t in h.subtree(path) for b in h.paths.get(t, ())
                    if b[A_OP] in CREATIONS and b[A_ERRNO] is None]
        self.procs = {b[A_PROC] for b in self.all}
        self._index: UnorderedIndex | None = None
        self._lanes: dict[int, tuple[list[int], list[tuple], list[float]]] | None = None
        self._relevance: Relevance | None = None
        self.h = h

    def closest(self, a: tuple) -> dict[int, tuple]:
        """``closest_unordered(a, creations of other processes)``."""
        if self._index is None:
            self._index = UnorderedIndex(self.h, self.all)
        return self._index.closest(a)

    def latest_before(self, a: tuple) -> tuple | None:
        """The latest foreign creation unordered with ``a`` that may precede it."""
        if self._lanes is None:
            order = sorted(range(len(self.all)), key=lambda i: (self.all[i][A_SEQ], i))
            lanes: dict[int, tuple[list[int], list[tuple], list[float]]] = {}
            spans: dict[int, tuple[int, int]] = {}
            for i in order:
                b = self.all[i]
                lane = lanes.setdefault(b[A_PROC], ([], [], []))
                lane[0].append(b[A_SEQ])
                lane[1].append(b)
                lane[2].append(_INF if b[A_TS] is None else b[A_TS])
                span = spans.get(b[A_PROC])
                spans[b[A_PROC]] = (span or (b[A_SEQ],))[:1] + (b[A_SEQ],)
            for seqs, accs, ts in lanes.values():
                # Suffix minimum of the entry times: where to stop looking
                # for a later call that entered before the removal returned.
                for j in range(len(ts) - 2, -1, -1):
                    if ts[j + 1] < ts[j]:
                        ts[j] = ts[j + 1]
            self._lanes = lanes
            self._relevance = Relevance(self.h, spans)
        x, s = a[A_PROC], a[A_SEQ]
        end = a[A_TS_END]
        best = None
        for p in self._relevance.procs(x, s):
            lane = self._lanes.get(p)
            if lane is None:
                continue
            seqs, accs, sufmin = lane
            lo, hi = window(self.h, x, s, p)
            i_lo = bisect_right(seqs, lo)
            i_s = bisect_left(seqs, s)
            i_hi = bisect_left(seqs, hi, i_s) if hi != _INF else len(seqs)
            found = None
            if end is not None:
                # Above the removal: the call entered before the removal returned.
                j = i_s
                while j < i_hi and sufmin[j] < end:
                    b = accs[j]
                    if b[A_TS] is not None and b[A_TS] < end and \
                            (found is None or seqs[j] > seqs[found]):
                        found = j
                    j += 1
            if found is None and i_lo < i_s:
                found = bisect_left(seqs, seqs[i_s - 1], i_lo, i_s)
            if found is not None and (best is None or seqs[found] > best[A_SEQ]):
                best = accs[found]
        return best


def detect(h: History) -> Iterator[Conflict]:
    """Yield filled-while-removing conflicts.

    The creations under a directory are gathered and indexed once per
    directory, not once per removal (``tests/test_scale.py`` checks the
    answers against the plain scan).
    """
    for path, accesses in h.paths.items():
        made = None
        for a in accesses:
            if not removes_directory(a):
                continue
            if a[A_ERRNO] not in (None, "ENOTEMPTY", "EEXIST"):
                continue
            x = a[A_PROC]
            if made is None:
                made = _Creations(h, path)
            if not made.procs - {x}:
                continue
            if a[A_ERRNO] is not None:
                # The rmdir failed: the latest foreign, unordered creation
                # before it is what filled the directory.
                b = made.latest_before(a)
                if b is not None:
                    yield Conflict(KIND, b, a, True, removal_root(h, path, x))
                continue
            for b in made.closest(a).values():
                yield Conflict(KIND, b, a, False, removal_root(h, path, x))
