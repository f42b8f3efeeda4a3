"""Lock events from the kernel's filelock tracepoints (tracefs), without ptrace.

fanotify sees no lock calls, so a recording made with it cannot tell a
correctly locked hand-over from a race.  The kernel's ``filelock`` trace
events can: ``flock_lock_inode`` fires when ``flock`` takes, converts or
drops a lock (including the implicit unlock when the last descriptor of
the open file description closes), ``posix_lock_inode`` when an
``fcntl``/``lockf`` record lock (or an OFD lock) is set or cleared
(including on close).  Each carries the locking process (``fl_pid``), the
device and inode, the lock type, the byte range, the owner (for flock and
OFD locks the open file description) and the result.

A private tracefs *instance* (``instances/fsrace-PID``) is used, so the
global trace buffer and anyone else's tracing are left alone; its clock is
set to ``mono`` (CLOCK_MONOTONIC), the clock of the process connector and
of the fanotify read stamps, so the three sources share one time axis.
Only events that changed the lock state (``ret == 0``) and failed
non-blocking attempts (``ret == -EAGAIN``) are kept; a blocked call's
first, deferred attempt is not a lock.

Inodes become paths through the locking process's open descriptors
(``/proc/PID/fd``) when the event is read: a process holds the file open
while it locks it.  When it no longer does (a loaded machine reads late),
the files the process was seen opening are checked by their inode.  A lock
whose file could not be found either way is counted, never guessed.
"""

from __future__ import annotations

import errno as errno_mod
import os
import re
import tempfile
from dataclasses import dataclass

#: The trace events enabled (under events/filelock/).
EVENTS = ("flock_lock_inode", "posix_lock_inode")

#: The end of a lock that runs to the end of the file (LLONG_MAX).
TO_EOF = (1 << 63) - 1

_LINE = re.compile(
    r"\s(\d+)\.(\d+): (flock_lock_inode|posix_lock_inode): .*?"
    r"dev=0x([0-9a-f]+):0x([0-9a-f]+) ino=0x([0-9a-f]+) .*?"
    r"fl_owner=(\w+) fl_pid=(\d+) fl_flags=(\S+) fl_type=(F_\w+) "
    r"fl_start=(-?\d+) fl_end=(-?\d+) ret=(-?\d+)")

_OPS = {"F_WRLCK": "ex", "F_RDLCK": "sh", "F_UNLCK": "un"}


class LockTraceUnavailable(Exception):
    """tracefs or its filelock events cannot be used here; the message says why."""


@dataclass
class LockRecord:
    """One lock state change (or failed non-blocking attempt) seen by the kernel."""

    ts_ns: int          # CLOCK_MONOTONIC
    pid: int            # thread-group id of the locking process
    dev: int            # st_dev of the file
    ino: int
    kind: str           # "flock" | "posix" | "ofd"
    op: str             # "ex" | "sh" | "un"
    start: int
    length: int         # 0: to the end of the file
    owner: int          # the owner cookie: the open file description for flock/ofd
    closing: bool       # the implicit unlock of a close
    wait: bool          # a blocking request (FL_SLEEP)
    errno: str | None   # "EAGAIN" for a failed non-blocking attempt


def parse_line(line: str) -> LockRecord | None:
    """Parse one trace_pipe line; None for anything that is not a kept lock event."""
    m = _LINE.search(line)
    if m is None:
        return None
    (sec, frac, event, major, minor, ino, owner, pid, flags, ltype,
     start, end, ret) = m.groups()
    result = int(ret)
    if result > 0:
        return None                       # FILE_LOCK_DEFERRED: the call is waiting
    if result < 0 and -result != errno_mod.EAGAIN:
        return None                       # not a lock contention (EDEADLK, ENOLCK, ...)
    op = _OPS.get(ltype)
    if op is None:
        return None
    if event == "flock_lock_inode":
        kind = "flock"
    else:
        kind = "ofd" if "FL_OFDLCK" in flags else "posix"
    lo, hi = int(start), int(end)
    ts_ns = int(sec) * 1_000_000_000 + int(frac.ljust(9, "0")[:9])
    return LockRecord(ts_ns=ts_ns, pid=int(pid), dev=os.makedev(int(major, 16), int(minor, 16)),
                      ino=int(ino, 16), kind=kind, op=op, start=lo,
                      length=0 if hi >= TO_EOF else hi - lo + 1, owner=int(owner, 16),
                      closing="FL_CLOSE" in flags, wait="FL_SLEEP" in flags,
                      errno="EAGAIN" if result < 0 else None)


def _tracefs_root() -> tuple[str, bool]:
    """A mounted tracefs (mounting a private one when none is); (path, we mounted it)."""
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and parts[2] == "tracefs":
                    return parts[1], False
    except OSError:
        pass
    for candidate in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        if os.path.isdir(os.path.join(candidate, "instances")):
            return candidate, False
    where = tempfile.mkdtemp(prefix="fsrace-tracefs-")
    import subprocess
    done = subprocess.run(["mount", "-t", "tracefs", "nodev", where],
                          capture_output=True, text=True)
    if done.returncode != 0:
        os.rmdir(where)
        raise LockTraceUnavailable("tracefs is not mounted and could not be mounted "
                                   f"({done.stderr.strip() or 'mount failed'})")
    return where, True


class LockTrace:
    """A private tracefs instance recording the filelock events of every process."""

    def __init__(self, skip_pid: int | None = None):
        self.skip_pid = skip_pid
        self.root, self._mounted = _tracefs_root()
        self.instance = os.path.join(self.root, "instances", f"fsrace-{os.getpid()}")
        self.fd = -1
        self._tail = b""
        self.unparsed = 0
        try:
            if not os.path.isdir(os.path.join(self.root, "events", "filelock")):
                raise LockTraceUnavailable("this kernel has no filelock trace events")
            try:
                os.mkdir(self.instance)
            except FileExistsError:
                pass
            self._write("trace_clock", "mono")
            for name in EVENTS:
                self._write(f"events/filelock/{name}/enable", "1")
            self.fd = os.open(os.path.join(self.instance, "trace_pipe"),
                              os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            self.close()
            raise LockTraceUnavailable(f"cannot set up the filelock trace events: "
                                       f"{exc.strerror or exc}") from None
        except LockTraceUnavailable:
            self.close()
            raise

    def _write(self, rel: str, value: str) -> None:
        with open(os.path.join(self.instance, rel), "w", encoding="ascii") as f:
            f.write(value)

    def read(self) -> list[LockRecord]:
        """Every lock event queued now (never blocks)."""
        if self.fd < 0:
            return []
        chunks = [self._tail]
        while True:
            try:
                buf = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                break
            except OSError:
                break
            if not buf:
                break
            chunks.append(buf)
        data = b"".join(chunks)
        cut = data.rfind(b"\n") + 1
        self._tail = data[cut:]
        out: list[LockRecord] = []
        for raw in data[:cut].splitlines():
            line = raw.decode("utf-8", "replace")
            if not line.strip() or line.startswith("#"):
                continue
            rec = parse_line(line)
            if rec is None:
                if "_lock_inode:" not in line:
                    self.unparsed += 1
                continue
            if rec.pid != self.skip_pid:
                out.append(rec)
        return out

    def close(self) -> None:
        """Stop the events and remove the instance (and a tracefs we mounted)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if os.path.isdir(self.instance):
            for name in EVENTS:
                try:
                    self._write(f"events/filelock/{name}/enable", "0")
                except OSError:
                    pass
            try:
                os.rmdir(self.instance)
            except OSError:
                pass
        if self._mounted:
            import subprocess
            subprocess.run(["umount", self.root], capture_output=True)
            try:
                os.rmdir(self.root)
            except OSError:
                pass
            self._mounted = False


class InodePaths:
    """(device, inode) -> path, found through the locking process's descriptors."""

    def __init__(self) -> None:
        self.known: dict[tuple[int, int], str] = {}
        self.unmapped = 0

    def path(self, rec: LockRecord) -> str | None:
        """The path of the locked file, from the process's open descriptors, or None."""
        key = (rec.dev, rec.ino)
        got = self.known.get(key)
        if got is not None:
            return got
        fd_dir = f"/proc/{rec.pid}/fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            names = []
        for name in names:
            link = os.path.join(fd_dir, name)
            try:
                st = os.stat(link)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == key:
                try:
                    target = os.readlink(link)
                except OSError:
                    continue
                if target.endswith(" (deleted)"):
                    target = target[:-10]
                self.known[key] = target
                return target
        return None

    def path_among(self, rec: LockRecord, candidates: list[str]) -> str | None:
        """The first of ``candidates`` (paths the process opened) that is the locked file.

        The fallback when the process had closed the file (or exited) before
        its lock event was read; counted when nothing matches.
        """
        key = (rec.dev, rec.ino)
        got = self.known.get(key)
        if got is not None:
            return got
        for cand in candidates:
            try:
                st = os.stat(cand)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == key:
                self.known[key] = cand
                return cand
        self.unmapped += 1
        return None
