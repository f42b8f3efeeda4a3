"""Classify file events into accesses: what a syscall did to which path.

An access is a compact tuple kept for every file operation on a path that
may matter to a race; detectors work only on accesses, never on raw events.
One event can give two accesses (``rename`` removes one name and creates
another; ``link`` reads one and creates another).

Access tuple fields (see ``A_*`` indexes): seq, proc index, op, syscall,
errno, ts (the call's entry), path, flags, other path, ts_end (its return).
"""

from __future__ import annotations

from typing import Any, Iterator

# Operation classes.  The order matters only for readability.
CHECK = "check"        # stat/access/readlink: asks whether/what a path is
READ = "read"          # open for reading, getdents, exec, chdir, fd stat
WRITE = "write"        # open for writing, truncate, chmod/chown/utime
CREATE = "create"      # mkdir, mknod, symlink, link target, O_CREAT open
REMOVE = "remove"      # unlink, rmdir
RENAME_FROM = "rename-from"  # the old name of a rename (removed)
RENAME_TO = "rename-to"      # the new name of a rename (created or replaced)

#: Ops that take a name out of the namespace.
REMOVALS = frozenset((REMOVE, RENAME_FROM))
#: Ops that put a name into the namespace.
CREATIONS = frozenset((CREATE, RENAME_TO))

A_SEQ, A_PROC, A_OP, A_SYSCALL, A_ERRNO, A_TS, A_PATH, A_FLAGS, A_OTHER, A_TS_END = range(10)


def may_precede(a: tuple, b: tuple) -> bool:
    """Can access ``a`` have taken effect before access ``b`` got its result?

    Events are numbered as calls return, so ``a`` numbered after ``b`` can
    still have acted first when the two calls overlapped in time: a
    removal that entered the kernel before a stat returned may be why the
    stat found nothing.  Without both timestamps only the numbering counts.
    """
    if a[A_SEQ] < b[A_SEQ]:
        return True
    start, end = a[A_TS], b[A_TS_END]
    return start is not None and end is not None and start < end

#: Directories whose contents are not files that programs race on.
PSEUDO_ROOTS = ("/proc/", "/sys/", "/dev/")

_CHECKS = frozenset(("stat", "lstat", "newfstatat", "fstatat64", "statx", "access",
                     "faccessat", "faccessat2", "readlink", "readlinkat", "stat64",
                     "lstat64"))
_FD_READS = frozenset(("fstat", "fstat64", "getdents64", "getdents", "fchdir"))
_WRITES = frozenset(("truncate", "ftruncate", "chmod", "fchmod", "fchmodat", "fchmodat2",
                     "chown", "lchown", "fchown", "fchownat", "utimensat"))
_OPENS = frozenset(("open", "openat", "openat2", "creat"))


def is_pseudo(path: str) -> bool:
    """True for /proc, /sys and /dev paths, which the analysis ignores."""
    return path.startswith(PSEUDO_ROOTS)


def classify(ev: dict[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    """Yield (op, path, other_path) for each path the event acts on."""
    name = ev.get("syscall")
    path = ev.get("path")
    if name in _OPENS:
        if path is None:
            return
        flags = ev.get("flags") or ""
        if "O_TMPFILE" in flags:
            # An unnamed file in the directory ``path``: no name is made or
            # written, only the directory is used (tempfile.TemporaryFile).
            yield READ, path, None
            return
        if "O_CREAT" in flags:
            yield CREATE, path, None
        elif "O_WRONLY" in flags or "O_RDWR" in flags or "O_TRUNC" in flags:
            yield WRITE, path, None
        else:
            yield READ, path, None
        return
    if name in _CHECKS:
        if path is not None:
            # An *at call with an empty path looks at the fd itself.
            yield (READ if "AT_EMPTY_PATH" in (ev.get("flags") or "") else CHECK), path, None
        return
    if name in ("unlink", "rmdir"):
        if path is not None:
            yield REMOVE, path, None
        return
    if name == "unlinkat":
        if path is not None:
            yield REMOVE, path, None
        return
    if name in ("mkdir", "mkdirat", "mknod", "mknodat", "symlink", "symlinkat"):
        if path is not None:
            yield CREATE, path, None
        return
    if name in ("rename", "renameat", "renameat2"):
        path2 = ev.get("path2")
        if path is not None:
            yield RENAME_FROM, path, path2
        if path2 is not None:
            yield RENAME_TO, path2, path
        return
    if name in ("link", "linkat"):
        path2 = ev.get("path2")
        if path is not None:
            yield READ, path, path2
        if path2 is not None:
            yield CREATE, path2, path
        return
    if name in _WRITES or name == "write":
        # "write": a backend that sees writes, not opens for writing (fanotify).
        if path is not None:
            yield WRITE, path, None
        return
    if name in _FD_READS or name in ("execve", "execveat", "chdir"):
        if path is not None:
            yield READ, path, None
        return
