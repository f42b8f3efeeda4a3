"""``concurrent-write``: two processes write the same file with no ordering.

fsrace does not trace ``write`` itself (it would multiply the log); opening
a file for writing (``O_WRONLY``, ``O_TRUNC``, ``O_RDWR`` with ``O_CREAT``),
``truncate`` and metadata changes stand for writes.  Appenders that both use
``O_APPEND`` write whole records and are reported as ``info``; files used as
locks are left out (contenders open them for writing by design).
"""

from __future__ import annotations

from typing import Iterator

from ..accesses import A_ERRNO, A_FLAGS, A_OP, A_SYSCALL, CREATE, WRITE
from ..conflict import Conflict
from ..history import History
from ._common import closest_unordered, creation_root, unlocked_paths

KIND = "concurrent-write"


def is_write(acc: tuple) -> bool:
    """True for an access that writes the file's content."""
    if acc[A_ERRNO] is not None:
        return False
    op = acc[A_OP]
    if op == WRITE:
        return acc[A_SYSCALL] in ("open", "openat", "openat2", "creat", "truncate", "ftruncate",
                                  "write")
    if op == CREATE and acc[A_SYSCALL] in ("open", "openat", "openat2", "creat"):
        flags = acc[A_FLAGS] or ""
        return "O_WRONLY" in flags or "O_RDWR" in flags or "O_TRUNC" in flags
    return False


def detect(h: History) -> Iterator[Conflict]:
    """Yield concurrent-write conflicts."""
    for path, accesses in unlocked_paths(h):
        writes = [a for a in accesses if is_write(a)]
        if len(writes) < 2:
            continue
        seen: set[frozenset[int]] = set()
        for a in writes:
            for proc, b in closest_unordered(h, a, writes).items():
                key = frozenset((a[1], proc))
                if key in seen:
                    continue
                seen.add(key)
                first, second = (a, b) if a[0] < b[0] else (b, a)
                appends = all("O_APPEND" in (x[A_FLAGS] or "") for x in (a, b))
                yield Conflict(KIND, first, second, False,
                               creation_root(h, path, (first[1], second[1])), info=appends,
                               note="both append" if appends else "")
