"""``concurrent-write``: two processes write the same file with no ordering.

fsrace does not trace ``write`` itself (it would multiply the log); opening
a file for writing (``O_WRONLY``, ``O_TRUNC``, ``O_RDWR`` with ``O_CREAT``),
``truncate`` and metadata changes stand for writes.  Appenders that both use
``O_APPEND`` write whole records and are reported as ``info``; files used as
locks are left out (contenders open them for writing by design).

A write-write race that nothing in the trace reads was observed by no one:
``info``, not a warning (uv 0.13.9's every copy create-truncates the empty
marker ``sdists-v11/.git``; nobody opens it to read).  Its note says what
could still go wrong: a reader after the run may find one writer's content,
or both mixed if they wrote at once.  A file some process reads, opens
read-write, or executes stays a warning.

A file named by a content hash (a hex digest of 32 digits or more in its
name, as in a content-addressed cache: the go build cache's
``<hash>-d``/``<hash>-a`` entries, written in place by every builder that
computed them) is written with the same bytes by every writer: ``info``.
"""

from __future__ import annotations

import re
from typing import Iterator

from ..accesses import A_ERRNO, A_FLAGS, A_OP, A_SYSCALL, CREATE, READ, WRITE
from ..conflict import Conflict
from ..history import History
from ._common import closest_unordered, creation_root, unlocked_paths

KIND = "concurrent-write"

#: A hex digest in a file name: the name is derived from the content.
_DIGEST = re.compile(r"[0-9a-f]{32,}")


def content_addressed(path: str) -> bool:
    """True for a file whose name carries a hex digest of 32+ digits."""
    return _DIGEST.search(path.rsplit("/", 1)[-1]) is not None


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


def is_read(acc: tuple) -> bool:
    """A successful access that reads the file's content (open for reading, O_RDWR, exec)."""
    if acc[A_ERRNO] is not None:
        return False
    if acc[A_OP] == READ:
        return acc[A_SYSCALL] in ("open", "openat", "openat2", "execve", "execveat", "link",
                                  "linkat")
    return acc[A_OP] in (WRITE, CREATE) and "O_RDWR" in (acc[A_FLAGS] or "")


UNREAD = ("nothing in the trace reads it; a reader after the run may find one writer's "
          "content, or both mixed if they wrote at once")


HASHED = "content-addressed name: every writer writes the same bytes"


def detect(h: History) -> Iterator[Conflict]:
    """Yield concurrent-write conflicts."""
    for path, accesses in unlocked_paths(h):
        writes = [a for a in accesses if is_write(a)]
        if len(writes) < 2:
            continue
        hashed = content_addressed(path)
        read = any(is_read(a) for a in accesses)
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
                               creation_root(h, path, (first[1], second[1])),
                               info=appends or hashed or not read,
                               note="both append" if appends else HASHED if hashed
                               else "" if read else UNREAD)
