"""The fanotify kernel interface: constants, the ctypes calls, one notification group.

``FanotifyGroup`` owns the fanotify file descriptor, its filesystem marks on
the watched mounts, and the mount descriptors that ``open_by_handle_at``
needs to turn a handle back into a path.  Nothing here knows about events
or processes; see ``tracer/fanotify_backend.py`` for the whole design.
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import os
import platform
import struct
import sys
from typing import Sequence

from fsrace.tracer.strace_backend import RecordError


# ----------------------------------------------------------------- constants
# linux/fanotify.h

FAN_CLOEXEC = 0x01
FAN_NONBLOCK = 0x02
FAN_CLASS_NOTIF = 0x00
FAN_UNLIMITED_QUEUE = 0x10
FAN_REPORT_FID = 0x200
FAN_REPORT_DIR_FID = 0x400
FAN_REPORT_NAME = 0x800
FAN_REPORT_TARGET_FID = 0x1000
FAN_REPORT_DFID_NAME = FAN_REPORT_DIR_FID | FAN_REPORT_NAME

FAN_MARK_ADD = 0x01
FAN_MARK_FILESYSTEM = 0x100

FAN_MODIFY = 0x02
FAN_CLOSE_WRITE = 0x08
FAN_OPEN = 0x20
FAN_MOVED_FROM = 0x40
FAN_MOVED_TO = 0x80
FAN_CREATE = 0x100
FAN_DELETE = 0x200
FAN_Q_OVERFLOW = 0x4000
FAN_RENAME = 0x10000000
FAN_ONDIR = 0x40000000

INFO_FID = 1
INFO_DFID_NAME = 2
INFO_DFID = 3
INFO_OLD_DFID_NAME = 10
INFO_NEW_DFID_NAME = 12

AT_FDCWD = -100
O_PATH = 0o10000000

#: Bytes asked for per read(): many thousands of events at once.
READ_SIZE = 4 << 20

#: While a command runs, read at most this often (seconds): every wake-up
#: costs the recorder CPU that the recorded command could use, and the
#: queue is unlimited, so nothing is lost by letting a batch grow a little.
#: (Longer waits let the kernel merge more events; see the module doc.)
MIN_READ_INTERVAL = 0.005

#: What we subscribe to (moves added per kernel support, see FanotifyGroup).
BASE_MASK = FAN_CREATE | FAN_DELETE | FAN_OPEN | FAN_CLOSE_WRITE | FAN_MODIFY | FAN_ONDIR

#: Facts this backend cannot see; written to the header as "invisible".
INVISIBLE = ["failed-syscalls", "errno", "locks", "wait", "checks", "reads-of-missing-paths"]

#: How a merged mask is split: lifecycle order of one name.
LIFECYCLE_ORDER = (FAN_CREATE, FAN_MOVED_TO, FAN_OPEN, FAN_MODIFY, FAN_CLOSE_WRITE,
                   FAN_MOVED_FROM, FAN_DELETE)

EVENT_META = struct.Struct("<IBBHQii")
INFO_HEADER = struct.Struct("<BBH")
U32 = struct.Struct("<I")


# ------------------------------------------------------------------ ctypes

_libc = ctypes.CDLL(None, use_errno=True)
try:
    _fanotify_init = _libc.fanotify_init
    _fanotify_init.argtypes = [ctypes.c_uint, ctypes.c_uint]
    _fanotify_init.restype = ctypes.c_int
    _fanotify_mark = _libc.fanotify_mark
    _fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int,
                               ctypes.c_char_p]
    _fanotify_mark.restype = ctypes.c_int
    _open_by_handle_at = _libc.open_by_handle_at
    _open_by_handle_at.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    _open_by_handle_at.restype = ctypes.c_int
except AttributeError:  # pragma: no cover - not glibc/Linux
    _fanotify_init = _fanotify_mark = _open_by_handle_at = None


def _ename(err: int) -> str:
    return errno_mod.errorcode.get(err, str(err))


def _capability_message(call: str, err: int) -> str:
    return (f"fanotify refused fsrace: {call} failed with {_ename(err)} "
            f"({os.strerror(err)}). The fanotify backend needs the CAP_SYS_ADMIN "
            f"capability (filesystem marks and file-handle reports are privileged): "
            f"run fsrace as root, or give the container `--cap-add=SYS_ADMIN`. "
            f"Or record with `--backend strace`, which uses ptrace instead.")


# ------------------------------------------------------------------ group


class FanotifyGroup:
    """A notification group with filesystem marks on the given mounts."""

    def __init__(self, mounts: Sequence[str]):
        if _fanotify_init is None or not sys.platform.startswith("linux"):
            raise RecordError("The fanotify backend needs Linux (fanotify). Record with "
                              "`--backend strace`, or on a Linux machine.")
        self.fd = -1
        self.target_fid = True
        self.rename = True
        base = (FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE
                | FAN_REPORT_FID | FAN_REPORT_DFID_NAME)
        flags = base | FAN_REPORT_TARGET_FID
        fd = _fanotify_init(flags, os.O_RDONLY | os.O_LARGEFILE | os.O_CLOEXEC)
        if fd < 0 and ctypes.get_errno() == errno_mod.EINVAL:
            # Before Linux 5.17: no target fid (and no FAN_RENAME either).
            self.target_fid = False
            flags = base
            fd = _fanotify_init(flags, os.O_RDONLY | os.O_LARGEFILE | os.O_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            call = "fanotify_init(FAN_REPORT_DFID_NAME|FAN_REPORT_FID, ...)"
            if err in (errno_mod.EPERM, errno_mod.EACCES):
                raise RecordError(_capability_message(call, err))
            if err == errno_mod.ENOSYS:
                raise RecordError(f"{call} failed with ENOSYS: this kernel has no fanotify "
                                  f"(CONFIG_FANOTIFY). Record with `--backend strace`.")
            if err == errno_mod.EINVAL:
                raise RecordError(f"{call} failed with EINVAL: this kernel "
                                  f"({platform.release()}) cannot report directory handles "
                                  f"and names (needs Linux 5.9 or later). Record with "
                                  f"`--backend strace`.")
            raise RecordError(f"{call} failed with {_ename(err)} ({os.strerror(err)}). "
                              f"Record with `--backend strace`.")
        self.fd = fd
        self.init_flags = flags
        self.mounts: list[str] = []
        self.mount_fds: dict[bytes, int] = {}     # fsid bytes -> fd for open_by_handle_at
        self.mask = BASE_MASK | FAN_RENAME
        try:
            for m in mounts:
                self._mark(m)
        except BaseException:
            self.close()
            raise

    def _mark(self, path: str) -> None:
        path = os.path.abspath(path)
        if not os.path.exists(path):
            raise RecordError(f"--mount {path}: no such file or directory.")
        err = 0
        if _fanotify_mark(self.fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, self.mask, AT_FDCWD,
                          os.fsencode(path)) < 0:
            err = ctypes.get_errno()
            if err == errno_mod.EINVAL and self.mask & FAN_RENAME:
                # No FAN_RENAME (before 5.17): MOVED_FROM/MOVED_TO pairs.
                self.rename = False
                self.mask = BASE_MASK | FAN_MOVED_FROM | FAN_MOVED_TO
                err = 0
                if _fanotify_mark(self.fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, self.mask,
                                  AT_FDCWD, os.fsencode(path)) < 0:
                    err = ctypes.get_errno()
        if err:
            call = f"fanotify_mark(FAN_MARK_FILESYSTEM, {path})"
            if err in (errno_mod.EPERM, errno_mod.EACCES):
                raise RecordError(_capability_message(call, err))
            why = {errno_mod.EXDEV: "the path is on a filesystem (or subvolume) whose file "
                                    "handles do not identify it uniquely",
                   errno_mod.EOPNOTSUPP: "this filesystem does not support file handles",
                   errno_mod.ENODEV: "this filesystem does not support file handles",
                   }.get(err, os.strerror(err))
            raise RecordError(f"{call} failed with {_ename(err)}: {why}. Watch another mount "
                              f"with --mount, or record with `--backend strace`.")
        fsid = os.statvfs(path).f_fsid
        key = struct.pack("<Q", fsid & 0xFFFFFFFFFFFFFFFF)
        if key not in self.mount_fds:
            self.mount_fds[key] = os.open(path if os.path.isdir(path) else os.path.dirname(path),
                                          os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.mounts.append(path)

    def read(self) -> bytes:
        """One batch of events (b"" when the queue is empty)."""
        try:
            return os.read(self.fd, READ_SIZE)
        except BlockingIOError:
            return b""

    def resolve_handle(self, key: bytes) -> str | None:
        """Path of a directory handle (fsid + struct file_handle), or None."""
        mfd = self.mount_fds.get(key[:8])
        if mfd is None:
            if len(self.mount_fds) != 1:
                return None
            mfd = next(iter(self.mount_fds.values()))
        fd = _open_by_handle_at(mfd, key[8:], O_PATH | os.O_CLOEXEC)
        if fd < 0:
            return None
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return None
        finally:
            os.close(fd)
        if path.endswith(" (deleted)") or not path.startswith("/"):
            return None
        return path

    def close(self) -> None:
        for mfd in self.mount_fds.values():
            try:
                os.close(mfd)
            except OSError:
                pass
        self.mount_fds = {}
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
