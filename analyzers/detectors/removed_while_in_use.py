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

from typing import Iterator

from ..accesses import A_ERRNO, A_OP, A_PROC, A_SEQ, CHECK, CREATIONS, REMOVALS, may_precede
from ..conflict import Conflict
from ..history import History
from ._common import (GONE_ERRNOS, closest_unordered, removal_root, removes_directory,
                      unlocked_paths)

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


def detect(h: History) -> Iterator[Conflict]:
    """Yield removed-while-in-use conflicts."""
    ordered = h.hb.ordered
    for path, accesses in unlocked_paths(h):
        for a in accesses:
            if a[A_OP] not in REMOVALS or a[A_ERRNO] is not None:
                continue
            x = a[A_PROC]
            is_dir = removes_directory(a) or a[A_OP] != "remove"
            targets = [path]
            if is_dir:
                targets.extend(h.subtree(path))
            manifested: dict[int, tuple] = {}
            candidates = []
            for t in targets:
                previous: dict[int, tuple] = {}
                for b in h.paths.get(t, ()):
                    seen = previous.get(b[A_PROC])
                    previous[b[A_PROC]] = b
                    if b[A_PROC] == x:
                        continue
                    if _failed_after(a, b, seen):
                        cur = manifested.get(b[A_PROC])
                        if (cur is None or b[A_SEQ] < cur[A_SEQ]) and \
                                not ordered(x, a[A_SEQ], b[A_PROC], b[A_SEQ]):
                            manifested[b[A_PROC]] = b
                        continue
                    if b[A_OP] in CREATIONS and t != path:
                        continue  # filled-while-removing judges these
                    if b[A_ERRNO] is not None and b[A_SEQ] > a[A_SEQ]:
                        continue  # failed for a reason the removal does not explain
                    candidates.append(b)
            latent = closest_unordered(h, a, candidates)
            site = None
            for proc, b in latent.items():
                if proc in manifested:
                    continue
                site = site or removal_root(h, path, x)
                yield Conflict(KIND, a, b, False, site)
            for proc, b in manifested.items():
                site = site or removal_root(h, path, x)
                yield Conflict(KIND, a, b, True, site)
