"""``filled-while-removing``: a process removes a directory while another
process creates entries in it.

The remover's ``rmdir`` fails with ENOTEMPTY (manifested, the remover is the
victim), or the removal succeeds and whatever the other process created is
lost or its next step fails (latent here; a failed create is reported as
``removed-while-in-use``).
"""

from __future__ import annotations

from typing import Iterator

from ..accesses import A_ERRNO, A_OP, A_PROC, A_SEQ, CREATIONS, may_precede
from ..conflict import Conflict
from ..history import History
from ._common import closest_unordered, removal_root, removes_directory

KIND = "filled-while-removing"


def detect(h: History) -> Iterator[Conflict]:
    """Yield filled-while-removing conflicts."""
    ordered = h.hb.ordered
    for path, accesses in h.paths.items():
        for a in accesses:
            if not removes_directory(a):
                continue
            if a[A_ERRNO] not in (None, "ENOTEMPTY", "EEXIST"):
                continue
            x = a[A_PROC]
            creations = [b for t in h.subtree(path) for b in h.paths.get(t, ())
                         if b[A_OP] in CREATIONS and b[A_ERRNO] is None and b[A_PROC] != x]
            if not creations:
                continue
            if a[A_ERRNO] is not None:
                # The rmdir failed: the latest foreign, unordered creation
                # before it is what filled the directory.
                latest: dict[int, tuple] = {}
                for b in creations:
                    if may_precede(b, a) and not ordered(x, a[A_SEQ], b[A_PROC], b[A_SEQ]):
                        cur = latest.get(b[A_PROC])
                        if cur is None or b[A_SEQ] > cur[A_SEQ]:
                            latest[b[A_PROC]] = b
                if latest:
                    b = max(latest.values(), key=lambda acc: acc[A_SEQ])
                    yield Conflict(KIND, b, a, True, removal_root(h, path, x))
                continue
            for b in closest_unordered(h, a, creations).values():
                yield Conflict(KIND, b, a, False, removal_root(h, path, x))
