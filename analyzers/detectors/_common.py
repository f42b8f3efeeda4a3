"""Helpers shared by the detectors."""

from __future__ import annotations

import posixpath
from typing import Iterable

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
    """Per other process, the unordered candidate nearest to ``anchor`` in seq."""
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
