"""``check-then-use``: a process checks a path and acts on the answer while
another process changes the path in between.

A check is a stat/access/readlink of the path (or an open that failed with
ENOENT); the use is the same process's next non-check access to it.  A
namespace change by another process (create, remove, rename) that falls
between the two and is unordered with them makes the answer stale.  The
use failing (EEXIST after "absent", ENOENT after "present") is manifested;
otherwise the stale answer went unnoticed this time (latent, warning).

A use whose outcome does not depend on the answer is not a race: a
``rename`` onto the path replaces it atomically whether or not it existed
(``py_compile`` stats ``foo.pyc``, writes a private temporary file and
renames it over ``foo.pyc``; another compiler doing the same in between
changes nothing the first one relied on).  An ``open`` with ``O_CREAT``
but not ``O_EXCL`` creates or opens alike, but a program that checked
first usually meant "claim it if nobody has" (the classic TOCTOU), so it
counts -- except on a content-addressed name (``concurrent_write.
content_addressed``: the go build cache stats ``<hash>-d``, then opens it
``O_WRONLY|O_CREAT``), where whoever made it made the same bytes.  After
an "absent" answer, only a creation acts on it: a process that opens the
path for reading next looked again.  A stale "absent" followed by a
successful create of a file that no process in the trace reads or removes
is ``info`` (as for ``concurrent-write``: nobody observed which creator
won).  A file whose existence is the message -- a lock file done wrong,
removed when released -- stays a warning.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Iterator

from ..accesses import (A_ERRNO, A_FLAGS, A_OP, A_PATH, A_PROC, A_SEQ, CHECK, CREATE, CREATIONS,
                        READ, REMOVALS, RENAME_TO)
from ..conflict import Conflict
from .concurrent_write import content_addressed, is_read
from ..history import History

KIND = "check-then-use"

_CHANGES = CREATIONS | REMOVALS


def answer_independent(acc: tuple) -> bool:
    """A successful use that works the same whether the path existed or not."""
    if acc[A_ERRNO] is not None:
        return False
    flags = acc[A_FLAGS] or ""
    if acc[A_OP] == RENAME_TO:
        return "NOREPLACE" not in flags
    return acc[A_OP] == CREATE and "O_CREAT" in flags and "O_EXCL" not in flags \
        and content_addressed(acc[A_PATH])


def detect(h: History) -> Iterator[Conflict]:
    """Yield check-then-use conflicts."""
    ordered = h.hb.ordered
    for path, accesses in h.paths.items():
        changes = [a for a in accesses if a[A_OP] in _CHANGES and a[A_ERRNO] is None]
        change_seqs = [m[A_SEQ] for m in changes]   # sorted: bisect the window
        if not changes:
            continue
        last_check: dict[int, tuple] = {}
        for acc in accesses:
            proc = acc[A_PROC]
            if acc[A_OP] == CHECK:
                last_check[proc] = acc
                continue
            check = last_check.pop(proc, None)
            if check is None or answer_independent(acc):
                continue
            if check[A_ERRNO] is not None and acc[A_OP] == READ:
                # "Absent", then an open for reading: the program looked
                # again instead of acting on the answer (cargo stats
                # Cargo.lock, waits for the lock, then opens it).
                continue
            for m in changes[bisect_right(change_seqs, check[A_SEQ]):
                             bisect_left(change_seqs, acc[A_SEQ])]:
                if m[A_PROC] == proc or not check[A_SEQ] < m[A_SEQ] < acc[A_SEQ]:
                    continue
                if ordered(m[A_PROC], m[A_SEQ], proc, check[A_SEQ]) or \
                        ordered(m[A_PROC], m[A_SEQ], proc, acc[A_SEQ]):
                    continue
                absent = check[A_ERRNO] is not None
                # A directory renamed onto one that now has entries fails
                # with ENOTEMPTY: cargo's atomic create of target/ lost.
                failed = (absent and (acc[A_ERRNO] == "EEXIST" or (
                    acc[A_ERRNO] == "ENOTEMPTY" and acc[A_OP] == RENAME_TO))) or \
                    (not absent and acc[A_ERRNO] in ("ENOENT", "ENOTDIR"))
                # Only a change that contradicts the answer makes it stale.
                if absent == (m[A_OP] in CREATIONS):
                    # "Absent, so create it" on a file no process reads or removes:
                    # whoever created it, nobody observed the difference
                    # (the go cache's README).
                    unread = not failed and absent and acc[A_OP] == CREATE and \
                        not any(is_read(x) or (x[A_OP] in REMOVALS and x[A_ERRNO] is None)
                                for x in accesses)
                    yield Conflict(KIND, m, acc, failed, path, info=unread,
                                   note=f"checked at seq {check[A_SEQ]}"
                                   + ("; nothing in the trace reads it" if unread else ""))
                    break
