"""Record file events with fanotify (no ptrace), processes from the proc connector.

``fsrace record --backend fanotify -- CMD`` and ``fsrace watch`` use this
module.  It writes the same event log as the strace backend (see
``tracer/events.py``), from two kernel sources merged into one timeline:

* **fanotify** (ctypes, ``fanotify_init``/``fanotify_mark``): one
  notification group reporting directory handles and names
  (``FAN_REPORT_DFID_NAME | FAN_REPORT_FID``, plus ``FAN_REPORT_TARGET_FID``
  where the kernel has it, so that creations, deletions and renames also
  carry the handle of the object itself), with a *filesystem* mark on each
  watched mount: every create, delete, rename (``FAN_RENAME``, or
  ``MOVED_FROM``/``MOVED_TO`` pairs on kernels before 5.17), open,
  close-after-write and modify, directories included, from every process.
  The kernel queues events in the order they happen, so the queue order is
  the log's ``seq`` order.  Each event carries the pid (thread-group id).

* **the netlink process connector** (``tracer/proc_connector.py``): fork,
  exec and exit with kernel timestamps; argv and parent from psutil at
  exec time (best effort: an ``exec`` event says so when the process was
  gone before it could be read).

Reading keeps up by batching: one ``read`` returns up to ``READ_SIZE`` bytes
of events, decoded with ``struct.unpack_from`` at fixed offsets.  Handles
become paths lazily, with a cache keyed by the handle bytes:

* a directory created (or renamed) while recording is known from its own
  event (parent handle + name, and its own handle from the target fid), so
  its path is derived, with no syscall, even after it is gone;
* a directory that existed before is resolved with ``open_by_handle_at`` +
  ``readlink(/proc/self/fd/N)`` *when the first event naming it is read*,
  while it still exists; a pre-existing directory deleted before that gets
  its path from its own deletion event (parent handle + name) when the
  kernel reports the target fid;
* what cannot be resolved is marked ``unresolved`` and counted, never
  guessed.

**What fanotify cannot see** (written to the header as ``invisible``):
failed syscalls and their errno (only successful changes produce events),
lock calls (flock/fcntl), wait (exit-then-wait ordering), stat/access
checks, reads of missing paths.  The analyzer then judges races by time
(``analyzers/analyze.py``): only operations that actually interleaved.

**Kernel merging.**  fanotify merges an event into an identical unread one
(same process, same directory and name): a file created, written and
deleted before the reader got to it arrives as one event with mask
``CREATE|OPEN|MODIFY|CLOSE_WRITE|DELETE``.  We split it back in lifecycle
order (create, moved-to, open, modify, close-write, moved-from, delete); a
merged deletion is placed after the process's last event in the batch that
touches the path or its subtree, the latest position consistent with what
was read.  Split events carry ``"merged": true``; the trailer counts them.

**Ordering the two sources.**  fanotify events carry no timestamp; each
read is stamped with ``CLOCK_MONOTONIC`` (the connector's clock), so every
event of a batch happened in ``(lo, hi]`` (``lo`` = the last time the queue
was seen empty).  Process events before ``lo`` go before the batch; those
inside the window are placed at the earliest position that keeps a fork
or exec before the process's first event, and an exit after its last one.
The ``ts`` of a fanotify event is its batch's ``hi`` (an upper bound).

Queue overflow (``FAN_Q_OVERFLOW``), connector drops (``ENOBUFS``) and
events we could not decode are counted in the trailer, never silent.  The
queue is unlimited (``FAN_UNLIMITED_QUEUE``, we are privileged anyway), so
overflow is the kernel running out of memory, not a slow reader.
"""


from __future__ import annotations

import logging
import os
import platform
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from fsrace.tracer.event_store import open_writer
from fsrace.tracer.proc_connector import ProcConnector
from fsrace.tracer.strace_backend import LAUNCHER, CopyStatus, RecordError, _parse_status
from fsrace.tracer.termination import Terminate, install_terminate_handlers, restore_handlers
from fsrace.tracer.fanotify_convert import Converter
from fsrace.tracer.fanotify_decode import Counters, Namespace, decode
from fsrace.tracer.filelock_trace import InodePaths, LockTrace, LockTraceUnavailable
from fsrace.tracer.fanotify_kernel import FanotifyGroup, INVISIBLE, MIN_READ_INTERVAL, READ_SIZE

log = logging.getLogger(__name__)


@dataclass
class FanotifyStats:
    """What the summary shows (the fields print_record_summary reads)."""

    events: int = 0
    processes: int = 0
    paths: int = 0
    unresolved: int = 0
    unparsed: int = 0
    lost: int = 0
    overflows: int = 0
    merged: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class FanotifyResult:
    copies: list[CopyStatus]
    exit_status: int
    interrupted: bool
    started: float
    ended: float
    warnings: list[str] = field(default_factory=list)
    launcher_pid: int | None = None
    command_ended: float | None = None   # when the last copy had exited


#: What the header says of locks when the filelock trace events are in use.
LOCKS_SEEN = {
    "source": "tracefs filelock events (flock_lock_inode, posix_lock_inode)",
    "ordering": "kernel time; placed among the fanotify events of the read that holds them: "
                "a lock taken before, a lock released after, the holder's events of that read",
}


def _start_lock_trace() -> tuple[LockTrace | None, dict[str, Any]]:
    """The filelock trace if this machine has it, and what the header says about locks."""
    try:
        return LockTrace(skip_pid=os.getpid()), dict(LOCKS_SEEN)
    except LockTraceUnavailable as exc:
        return None, {"source": None,
                      "reason": f"{exc}; locks are invisible and races are judged by time"}


def _argv_of(pid: int) -> tuple[list[str] | None, str | None, int | None, str | None]:
    try:
        import psutil
        p = psutil.Process(pid)
        with p.oneshot():
            argv = p.cmdline()
            ppid = p.ppid()
            try:
                exe = p.exe() or None
            except psutil.Error:
                exe = None
        if not argv:        # a zombie: its memory (and argv) is gone already
            return None, exe, ppid, "process gone before its argv could be read"
        return argv, exe, ppid, None
    except Exception:  # noqa: BLE001 - psutil.NoSuchProcess, AccessDenied, zombie
        return None, None, None, "process gone before its argv could be read"


class Session:
    """One recording: the fanotify group, the connector, the converter, the log."""

    def __init__(self, output: str | Path, mounts: Sequence[str], header: dict[str, Any],
                 root_pid_later: bool):
        self.group = FanotifyGroup(mounts)
        try:
            self.conn = ProcConnector()
        except BaseException:
            self.group.close()
            raise
        self.counters = Counters()
        self.ns = Namespace(self.group)
        self.offset = time.time() - time.monotonic()
        self.locks, locks_header = _start_lock_trace()
        self.inode_paths = InodePaths()
        invisible = [x for x in INVISIBLE if not (x == "locks" and self.locks is not None)]
        head = {"backend": "fanotify", "clock": "unix", "invisible": invisible,
                "locks": locks_header,
                "mounts": self.group.mounts, "kernel": platform.release(),
                "fanotify": {"init_flags": hex(self.group.init_flags),
                             "mark_mask": hex(self.group.mask),
                             "rename": "FAN_RENAME" if self.group.rename
                             else "MOVED_FROM/MOVED_TO pairs",
                             "target_fid": self.group.target_fid},
                "event_time": "fanotify events: time of the read that returned them "
                              "(upper bound); process events: kernel time",
                "start_time": time.time()}
        head.update(header)
        try:
            self.writer = open_writer(output, head)   # NAME.fsrace: the event store
        except OSError as exc:
            self.close()
            raise RecordError(f"Cannot write the event log {output}: {exc.strerror}. "
                              f"Choose a writable location.") from None
        self.conv = Converter(self.ns, self.counters, self.writer.write, self.offset,
                              root_pid=None)
        if self.locks is not None:
            self.conv.find_lock_path = self.inode_paths.path_among
        self.root_later = root_pid_later
        self.lineage: set[int] = set()      # read-time descendants (for argv capture)
        self.lo_ns = time.monotonic_ns()
        self.self_pid = os.getpid()
        # Deferred: keep the raw reads, decode after the command has ended
        # (needs target fids to rebuild directory paths from the events).
        self.deferred = root_pid_later and self.group.target_fid
        self.raw: list[tuple[int, int, bytes]] = []    # (lo, hi, buffer)
        self.writer.trailer["mode"] = "deferred" if self.deferred else "streaming"

    def set_root(self, pid: int) -> None:
        self.conv.root_pid = pid
        self.conv.tracked.add(pid)
        self.lineage.add(pid)

    def poll_fds(self) -> list[int]:
        return [self.group.fd, self.conn.fd]

    def pump(self) -> int:
        """Read everything queued now (and convert it when streaming); returns bytes read."""
        group = self.group
        bufs: list[bytes] = []
        total = 0
        # Process events first too: argv must be read before a short-lived
        # process is gone.  (Read again after fanotify: see batch().)
        self._read_proc()
        while True:
            buf = group.read()
            if not buf:
                break
            bufs.append(buf)
            total += len(buf)
            if len(buf) < READ_SIZE // 2:
                break
        hi = time.monotonic_ns()
        self._read_proc()
        self._read_locks()
        if self.deferred:
            if bufs:
                self.raw.append((self.lo_ns, hi, b"".join(bufs) if len(bufs) > 1 else bufs[0]))
        else:
            decoded: list = []
            for buf in bufs:
                decode(buf, decoded, self.counters, self.self_pid)
            if decoded:
                self.ns.note_batch(decoded)
            self.conv.batch(decoded, self.lo_ns, hi)
        self.lo_ns = hi
        return total

    def _convert_deferred(self) -> None:
        batches = []
        everything: list = []
        for lo, hi, buf in self.raw:
            decoded: list = []
            decode(buf, decoded, self.counters, self.self_pid)
            batches.append((lo, hi, decoded))
            everything.extend(decoded)
        self.raw = []
        self.ns.prescan(everything)
        del everything
        for lo, hi, decoded in batches:
            self.conv.batch(decoded, lo, hi)

    def _read_locks(self) -> None:
        """Queue the lock events read now, with the path of each locked file."""
        if self.locks is None:
            return
        records = self.locks.read()
        if records:
            self.conv.add_lock_events([(rec, self.inode_paths.path(rec)) for rec in records])

    def _read_proc(self) -> None:
        events = self.conn.read()
        if not events:
            return
        root = self.conv.root_pid
        lineage = self.lineage
        keep = []
        for pe in events:
            if pe.thread:
                continue            # threads are not processes; never logged
            keep.append(pe)
            if pe.kind == "fork" and (root is None or pe.ptgid in lineage):
                lineage.add(pe.tgid)
            elif pe.kind == "exec" and (root is None or pe.tgid in lineage):
                self.conv.argv[(pe.tgid, pe.ts_ns)] = _argv_of(pe.tgid)
        self.conv.add_proc_events(keep)

    def finish(self, trailer: dict[str, Any]) -> FanotifyStats:
        # Whatever is still queued, then the remaining process events.
        for _ in range(1000):
            if not self.pump():
                break
        # Stop watching before writing the log: our own writes make no events.
        self.group_close_keep_resolver()
        if self.deferred:
            self._convert_deferred()
        self.conv.flush()
        c = self.counters
        lost = c.overflows
        stats = FanotifyStats(events=self.writer.count, processes=self.conv.processes,
                              paths=c.paths, unresolved=c.unresolved, unparsed=c.unparsed,
                              lost=lost, overflows=c.overflows, merged=c.merged)
        warnings = list(trailer.pop("recorder_warnings", []))
        if c.overflows:
            warnings.append(f"the fanotify queue overflowed {c.overflows} time(s): events were "
                            f"lost, so races may be missed")
        if self.conn.lost:
            warnings.append(f"the process connector dropped messages {self.conn.lost} time(s) "
                            f"(ENOBUFS): some fork/exec/exit events are missing")
        stats.warnings = warnings
        self.writer.trailer.update({
            "fanotify_events": c.raw, "lost_events": lost, "queue_overflows": c.overflows,
            "proc_connector_lost": self.conn.lost, "merged_events": c.merged,
            "own_events_dropped": c.own, "other_process_events_dropped": c.other,
            "unparsed": c.unparsed, "unparsed_samples": c.samples,
            "paths": c.paths, "unresolved_paths": c.unresolved,
            "unpaired_moves": c.unpaired_moves, "processes": self.conv.processes,
            "recorder_warnings": warnings})
        if self.locks is not None:
            self.writer.trailer.update({
                "lock_events": self.conv.lock_events,
                "lock_files_not_found": self.inode_paths.unmapped,
                "lock_lines_not_understood": self.locks.unparsed})
        self.writer.trailer.update(trailer)
        self.close()
        return stats

    def group_close_keep_resolver(self) -> None:
        """Close the notification fd (no more events) but keep the mount fds."""
        if self.group.fd >= 0:
            os.close(self.group.fd)
            self.group.fd = -1
        if self.locks is not None:
            self._read_locks()
            self.locks.close()
        self.conn.close()

    def close(self) -> None:
        w = getattr(self, "writer", None)
        if w is not None:
            w.close()
        if getattr(self, "locks", None) is not None:
            self.locks.close()
        self.conn.close()
        self.group.close()


def default_mounts(cwd: str | None = None) -> list[str]:
    """The filesystem of the working directory (where installers write)."""
    return [os.path.abspath(cwd or os.getcwd())]


def record(cmd_argv: Sequence[str], output: str | Path, copies: int = 1,
           mounts: Sequence[str] | None = None, *, env: dict | None = None,
           cwd: str | None = None, stdin=None, stdout=None, stderr=None,
           grace: float = 2.0) -> tuple[FanotifyResult, FanotifyStats]:
    """Run ``copies`` concurrent copies of the command and record them with fanotify."""
    cmd_argv = [os.fspath(a) for a in cmd_argv]
    if not cmd_argv:
        raise RecordError("No command given: tell fsrace record what to run, "
                          "e.g. `fsrace record --backend fanotify -- uv sync`.")
    mounts = list(mounts or default_mounts(cwd))
    header = {"command": cmd_argv, "copies": copies, "created_by": "fsrace record"}
    session = Session(output, mounts, header, root_pid_later=True)
    status_r, status_w = os.pipe()
    os.set_blocking(status_r, False)
    pass_fds = [status_w]
    user_err = None
    try:
        user_err = os.dup(2 if stderr is None else (stderr if isinstance(stderr, int)
                                                    else stderr.fileno()))
        pass_fds.append(user_err)
    except (OSError, ValueError, AttributeError):
        user_err = None
    argv = [sys.executable, "-I", "-S", str(LAUNCHER), "-j", str(copies),
            "--status-fd", str(status_w)]
    if user_err is not None:
        argv += ["--stderr-fd", str(user_err)]
    argv += ["--", *cmd_argv]
    started = time.time()
    warnings: list[str] = []
    interrupted = False
    try:
        proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr,
                                pass_fds=pass_fds, env=env, cwd=cwd, start_new_session=True)
    except OSError as exc:
        session.close()
        raise RecordError(f"Cannot start the launcher ({sys.executable}): {exc}.") from None
    finally:
        os.close(status_w)
        if user_err is not None:
            os.close(user_err)
    session.set_root(proc.pid)
    pidfd = os.pidfd_open(proc.pid)
    status_data = b""
    old = install_terminate_handlers()
    command_ended = None
    stage = 0
    stage_at = 0.0
    try:
        poller = select.poll()
        for fd in session.poll_fds() + [pidfd, status_r]:
            poller.register(fd, select.POLLIN)
        while True:
            try:
                ready = poller.poll(250)
                if any(fd == status_r for fd, _ in ready):
                    status_data += _drain(status_r)
                if session.pump():
                    time.sleep(MIN_READ_INTERVAL)
                if proc.poll() is not None:
                    command_ended = time.time()
                    break
                if stage and time.monotonic() - stage_at > grace:
                    stage, stage_at = _escalate(proc, stage)
            except (KeyboardInterrupt, Terminate):
                interrupted = True
                stage, stage_at = _escalate(proc, stage)
        status_data += _drain(status_r)
    finally:
        restore_handlers(old)
        os.close(pidfd)
        os.close(status_r)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    parsed = _parse_status(status_data)
    launcher_pid, copies_status = parsed if parsed else (proc.pid, [])
    if not parsed:
        warnings.append("the launcher did not report the copies' exit statuses")
    exit_status = 0
    for c in copies_status:
        if c.status:
            exit_status = c.status
            break
    if not copies_status and proc.returncode:
        exit_status = proc.returncode if proc.returncode > 0 else 128 - proc.returncode
    for c in copies_status:
        if c.exec_errno is not None:
            session.close()
            raise RecordError(f"cannot run {cmd_argv[0]}: {os.strerror(c.exec_errno)}. Check "
                              f"the spelling, or give its full path.")
    ended = time.time()
    copies_info = [{"pid": c.pid, "exit_code": c.exit_code, "signal": c.signal}
                   for c in copies_status]
    stats = session.finish({"interrupted": interrupted, "copies": copies_info,
                            "exit_status": exit_status, "duration": ended - started,
                            "recorder_warnings": warnings, "launcher_pid": launcher_pid})
    result = FanotifyResult(copies=copies_status, exit_status=exit_status,
                            interrupted=interrupted, started=started, ended=time.time(),
                            warnings=[], launcher_pid=launcher_pid,
                            command_ended=command_ended)
    return result, stats


def _escalate(proc: subprocess.Popen, stage: int) -> tuple[int, float]:
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
    sig = sigs[min(stage, len(sigs) - 1)]
    try:
        if sig == signal.SIGINT:
            proc.send_signal(sig)         # the launcher forwards it to each copy
        else:
            os.killpg(proc.pid, sig)
            for child in _children(proc.pid):
                try:
                    os.killpg(child, sig)
                except OSError:
                    pass
    except OSError:
        pass
    return stage + 1, time.monotonic()


def _children(pid: int) -> list[int]:
    try:
        import psutil
        return [c.pid for c in psutil.Process(pid).children()]
    except Exception:  # noqa: BLE001
        return []


def _drain(fd: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except (BlockingIOError, OSError):
            return data
        if not chunk:
            return data
        data += chunk


def watch(mounts: Sequence[str], output: str | Path, duration: float | None = None,
          on_status: Callable[[float, int], None] | None = None) -> tuple[FanotifyStats, bool]:
    """Record every process's events on ``mounts`` until Ctrl-C or ``duration``.

    Returns (stats, interrupted).
    """
    if not mounts:
        raise RecordError("fsrace watch needs at least one --mount PATH.")
    header = {"command": None, "created_by": "fsrace watch", "duration_limit": duration}
    session = Session(output, mounts, header, root_pid_later=False)
    started = time.monotonic()
    interrupted = False
    old = install_terminate_handlers()
    try:
        poller = select.poll()
        for fd in session.poll_fds():
            poller.register(fd, select.POLLIN)
        while True:
            elapsed = time.monotonic() - started
            if duration is not None and elapsed >= duration:
                break
            wait = 250 if duration is None else max(0, min(250, int((duration - elapsed) * 1000)))
            try:
                poller.poll(wait)
                session.pump()
                if on_status is not None:
                    on_status(time.monotonic() - started, session.writer.count)
            except (KeyboardInterrupt, Terminate):
                interrupted = True
                break
    finally:
        restore_handlers(old)
    stats = session.finish({"interrupted": interrupted,
                            "duration": time.monotonic() - started})
    return stats, interrupted
