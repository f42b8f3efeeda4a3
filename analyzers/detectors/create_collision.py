"""``create-collision``: two processes create or replace the same path.

Strong creations make a name appear or replace it: mkdir, mknod, symlink,
link, an ``O_CREAT|O_EXCL`` open, a rename onto the name.  Two unordered
strong creations of one path collide:

* one failed with EEXIST: the atomic create did its job (the winner may
  be numbered after the loser when its call overlapped the loser's).  When the loser
  went on (exited 0) this is ``info`` (a handled collision); when it died
  it is a manifested error;
* the later one was a rename onto the path: an atomic replace (the
  rename-over publish), ``info``, unless the later publisher had read the
  path before the earlier creation landed (read-modify-write: a lost
  update, a warning; see ``lost_update``);
* otherwise (a name made twice with a removal between, a rename over a
  file another process created): a warning.

Files used as locks (any process took ``flock``/``fcntl`` locks on them) are
opened with ``O_CREAT`` by every contender by design, and are left out.
"""

from __future__ import annotations

from typing import Iterator

from ..accesses import (A_ERRNO, A_FLAGS, A_OP, A_PROC, A_SEQ, A_SYSCALL, CREATE, READ, RENAME_TO,
                        may_precede)
from ..conflict import Conflict
from ..history import History
from ._common import creation_root, unlocked_paths

KIND = "create-collision"

_STRONG_SYSCALLS = frozenset(("mkdir", "mkdirat", "mknod", "mknodat", "symlink", "symlinkat",
                              "link", "linkat"))


def is_strong_create(acc: tuple) -> bool:
    """A creation that fails when the name exists, or replaces it atomically."""
    if acc[A_OP] == RENAME_TO:
        return True
    if acc[A_OP] != CREATE:
        return False
    if acc[A_SYSCALL] in _STRONG_SYSCALLS:
        return True
    return "O_EXCL" in (acc[A_FLAGS] or "")


def _last_read(h: History, path: str, proc: int, before: int) -> tuple | None:
    """The last read of ``path`` by ``proc`` before seq ``before`` (failed ones too)."""
    # Latest first through the per-process index: no scan of the whole path.
    return next((acc for acc in h.earlier_accesses(path, proc, before) if acc[A_OP] == READ),
                None)


def lost_update(h: History, path: str, a: tuple, b: tuple) -> bool:
    """Did ``b``'s rename-over throw away ``a``'s publish of ``path``?

    A lost update needs a read-modify-write: ``b`` read the target before
    ``a``'s publish landed and replaced it without reading again.  A read
    that found the content is that.  A read that found nothing (ENOENT) is
    what an independent computation does too (``compileall`` opens each
    ``.pyc`` to check it, finds none, compiles the source and renames its
    result over whatever is there: identical, independent outputs); it
    counts only when the process whose publish was replaced later failed,
    its outcome showing that it depended on what it wrote.
    """
    read = _last_read(h, path, b[A_PROC], b[A_SEQ])
    if read is None or read[A_SEQ] >= a[A_SEQ]:
        return False
    return read[A_ERRNO] is None or h.processes[a[A_PROC]].failed


def lost_create(acc: tuple) -> bool:
    """The atomic create lost: EEXIST, or ENOTEMPTY from renaming a directory
    onto one another process just filled (pip ``--target`` moving a package
    directory in after removing the old one)."""
    errno = acc[A_ERRNO]
    return errno == "EEXIST" or (errno == "ENOTEMPTY" and acc[A_OP] == RENAME_TO)


def _site(h: History, path: str, a: tuple, b: tuple) -> str:
    return creation_root(h, path, (a[A_PROC], b[A_PROC]))


def detect(h: History) -> Iterator[Conflict]:
    """Yield create-collision conflicts."""
    ordered = h.hb.ordered
    for path, accesses in unlocked_paths(h):
        creates = [a for a in accesses if is_strong_create(a)
                   and (a[A_ERRNO] is None or lost_create(a))]
        if len(creates) < 2 or len({a[A_PROC] for a in creates}) < 2:
            continue
        seen_pairs: set[tuple[int, int]] = set()
        lost: set[int] = set()  # seqs of EEXISTs already paired with their cause
        for i, b in enumerate(creates):
            # Pair each creation with the nearest earlier one of another process.
            # Walk back by index: a slice per creation copied the list (quadratic).
            for a in (creates[k] for k in range(i - 1, -1, -1)):
                if a[A_PROC] == b[A_PROC]:
                    continue
                if ordered(a[A_PROC], a[A_SEQ], b[A_PROC], b[A_SEQ]):
                    break
                pair = (a[A_PROC], b[A_PROC])
                if lost_create(b):
                    # Whether the loser handled it is judged centrally
                    # (analyze.mark_handled): it is info when it went on.
                    lost.add(b[A_SEQ])
                    yield Conflict(KIND, a, b, True, _site(h, path, a, b))
                elif lost_create(a):
                    # The winner's call returned after the loser's but had
                    # entered before it: the name it made is what a hit.
                    if a[A_SEQ] not in lost and may_precede(b, a):
                        lost.add(a[A_SEQ])
                        yield Conflict(KIND, b, a, True, _site(h, path, a, b))
                elif a[A_ERRNO] is None:
                    if b[A_OP] == RENAME_TO:
                        # Read-modify-write: b read the path before a's publish
                        # and published without reading again, so a's update is lost.
                        if lost_update(h, path, a, b):
                            yield Conflict(KIND, b, a, False, _site(h, path, a, b), note="lost update")
                        elif pair not in seen_pairs:
                            seen_pairs.add(pair)
                            yield Conflict(KIND, a, b, False, _site(h, path, a, b), info=True,
                                           note="atomic rename-over")
                    elif pair in seen_pairs:
                        pass
                    elif a[A_OP] == CREATE and b[A_OP] == CREATE and \
                            a[A_SYSCALL].startswith("mkdir") and b[A_SYSCALL].startswith("mkdir"):
                        # Both made the directory: it was removed in between,
                        # and that removal is the race (removed-while-in-use).
                        pass
                    else:
                        seen_pairs.add(pair)
                        yield Conflict(KIND, a, b, False, _site(h, path, a, b))
                break
