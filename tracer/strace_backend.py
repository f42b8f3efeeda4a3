"""Record a command (or N concurrent copies of it) under strace.

This is the live-system half of ``fsrace record``: it runs strace and hands
back the raw log, which the importer turns into an event log.  Design:

* **A launcher is the root tracee.**  strace runs
  ``python -I -S tracer/launcher.py -j N -- CMD``.  The launcher forks the N
  copies, holds them at a pipe until all exist and then releases them at
  once, so the copies really run concurrently (the situation of the seed bug
  report).  It reports each copy's pid, exit status and exec failure as one
  JSON line on an inherited pipe, so we learn them without parsing the log,
  and "command not found" is told apart from a command that exits 127.
  Because every copy descends from the launcher, one strace follows the
  whole run and all processes share one timeline in one log.  ``-I -S``
  keeps the launcher's own noise in the log small (no site-packages scan).

* **strace runs in its own session** (``start_new_session=True``).  A
  terminal Ctrl-C then reaches only fsrace, never strace: strace, when
  signalled itself, kills its direct child and *detaches* from every other
  tracee, which keep running untraced and never get their exit lines in the
  log.  Instead fsrace stops the *tracees* (SIGINT to the launcher, which
  forwards it to each copy's process group as a terminal would; then
  SIGTERM, then SIGKILL, to every traced process, children first) and lets
  strace see them die: it writes ``+++ killed by SIG... +++`` for each and
  exits by itself once the last tracee is gone, so the log is complete up to
  the interruption.

* **strace's own messages go to a file** next to the log (``LOG.stderr``),
  scanned for errors such as a ptrace denial.  The copies still write to the
  user's real stderr: it is passed to the launcher on another fd and put
  back on fd 2 there.

* **Nothing polls fast.**  We wait on a pidfd of strace (and the status
  pipe) with ``select``; with a status callback the wait wakes 4 times a
  second to ``stat`` the log (never read it) and count live processes.

Interruption by Ctrl-C (KeyboardInterrupt) or SIGTERM/SIGHUP (handled while
``record`` runs in the main thread) returns a result with
``interrupted=True``; a second Ctrl-C skips to the next, harsher stage.
"""

from __future__ import annotations

import errno as errno_mod
import json
import logging
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import psutil

from fsrace.tracer.record_error import RecordError
from fsrace.tracer.strace_program import (LAUNCHER, find_strace, install_hint, strace_command,
                                          strace_version)
from fsrace.tracer.termination import (Terminate, hold_stop_signals, install_terminate_handlers,
                                       release_stop_signals, restore_handlers, signal_name,
                                       signal_of)
from fsrace.tracer.watchdog import kill_session

log = logging.getLogger(__name__)


#: Kills the recording if fsrace itself is killed (see tracer/watchdog.py).
WATCHDOG = Path(__file__).resolve().with_name("watchdog.py")

#: How often the status callback is called (and the most we ever poll).
STATUS_INTERVAL = 0.25

#: Seconds between SIGINT, SIGTERM and SIGKILL when stopping the tracees.
INTERRUPT_GRACE = 2.0



@dataclass
class CopyStatus:
    """How one copy of the command ended."""
    pid: int
    exit_code: int | None          # None when killed by a signal
    signal: str | None             # e.g. "SIGKILL"; None when it exited
    exec_errno: int | None = None  # errno of a failed exec, else None

    @property
    def status(self) -> int:
        """Shell-style status: the exit code, or 128 + signal number."""
        if self.signal is not None:
            return 128 + signal.Signals[self.signal].value
        return self.exit_code if self.exit_code is not None else 255


@dataclass
class Status:
    """What the live status line shows."""
    elapsed: float         # seconds since strace started
    log_bytes: int         # size of the strace log so far
    live_processes: int    # processes under strace (launcher included)


@dataclass
class RecordResult:
    strace_log: Path           # the raw strace output file
    copies: list[CopyStatus]   # per copy, in copy order (empty if unknown)
    exit_status: int           # single copy: its status; N: first non-zero
    interrupted: bool          # Ctrl-C / SIGTERM stopped the run
    started: float             # epoch seconds
    ended: float               # epoch seconds
    strace_argv: list[str]     # the exact strace command used
    strace_version: str
    strace_stderr: Path | None = None   # strace's own messages
    warnings: list[str] = field(default_factory=list)
    launcher_pid: int | None = None     # root process of the log (not a copy)
    interrupt_signal: int | None = None  # SIGINT/SIGTERM/SIGHUP that interrupted it
    incomplete: str | None = None       # why the log is cut short (strace died, disk full)


_STRACE_LINE = re.compile(r"^(?:\S*/)?strace: .*$", re.MULTILINE)

_PTRACE_DENIED = re.compile(
    r"^(?:\S*/)?strace: .*(ptrace|PTRACE_).*: "
    r"(Operation not permitted|Permission denied)", re.MULTILINE)


def _ptrace_denied_message(stderr_text: str) -> str:
    # The last complaint is strace's final word ("ptrace(PTRACE_TRACEME,
    # ...): Operation not permitted"); earlier ones are its feature probes.
    said = list(_PTRACE_DENIED.finditer(stderr_text))[-1].group(0)
    return (
        f"strace is not allowed to trace processes here (it said: {said}). "
        "The kernel refused ptrace, usually for one of these reasons: this "
        "is a container without the CAP_SYS_PTRACE capability or with a "
        "seccomp profile that blocks ptrace (start it with "
        "`--cap-add=SYS_PTRACE`, or `--security-opt seccomp=unconfined`); "
        "kernel.yama.ptrace_scope is 2 (only CAP_SYS_PTRACE may trace: run "
        "fsrace as root, or `sudo sysctl kernel.yama.ptrace_scope=1`) or 3 "
        "(ptrace disabled until reboot); or fsrace itself is already being "
        "traced (by a debugger or another strace). Fix one of those, or use "
        "the fanotify backend, which does not need ptrace.")


def _strace_failed_message(returncode: int | None, stderr_text: str,
                           stderr_path: Path | None) -> str:
    lines = _STRACE_LINE.findall(stderr_text)
    said = " / ".join(lines[:5]) or stderr_text.strip()[:500] or "nothing"
    how = ("was killed by " + signal.Signals(-returncode).name
           if returncode is not None and returncode < 0
           else f"exited with status {returncode}")
    # A pointer to the stderr file only when it is kept: beside a temporary
    # strace log it is removed before this message is read.
    where = f"Its full output is in {stderr_path}. " if stderr_path is not None else ""
    return (f"strace {how} before the command could run (it said: {said}). "
            f"{where}Check that strace works on this machine with `strace -f true`.")


#: "strace: PATH: REASON" -- strace could not write its log (a full disk).
_WRITE_ERROR = re.compile(r"^(?:\S*/)?strace: (?P<path>/.+): (?P<reason>[A-Z][^:]+)$", re.MULTILINE)


def _log_write_error(stderr_text: str, strace_log: Path) -> str | None:
    """strace's complaint that it could not write the log, or None."""
    for m in _WRITE_ERROR.finditer(stderr_text):
        if m.group("path") == str(strace_log):
            return (f"strace could not write its log {strace_log}: {m.group('reason')}; "
                    "the recording is incomplete")
    return None


def _kill_orphaned_tracees(strace_pid: int) -> int:
    """SIGKILL what strace left behind when it died; returns how many.

    strace runs in its own session, and every process it traced inherited
    that session.  Once strace is gone those processes run untraced, and
    with --seccomp-bpf every syscall the filter hands to the (absent)
    tracer fails with ENOSYS: programs that go on like that do damage on
    real files, so they are stopped at once.
    """
    return kill_session(strace_pid)


class _Watchdog:
    """tracer/watchdog.py beside strace: kills the recording if fsrace dies."""

    def __init__(self, remove: Sequence[str]):
        self.proc: subprocess.Popen | None = None
        argv = [sys.executable, "-I", "-S", str(WATCHDOG)]
        for path in remove:
            argv += ["--remove", os.path.abspath(str(path))]
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True,
                                         close_fds=True)
        except OSError as exc:
            log.warning("no watchdog (%s): a SIGKILL of fsrace would leave strace running", exc)

    def watch(self, strace_pid: int) -> None:
        """Tell it strace's pid."""
        self._send(b"%d\n" % strace_pid)

    def _send(self, data: bytes) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            try:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
            except OSError:
                pass

    def done(self) -> None:
        """strace has ended and fsrace goes on: the watchdog exits."""
        if self.proc is None:
            return
        self._send(b"ended\n")
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _exec_failed_message(cmd: str, err: int, env: dict | None) -> str:
    if err == errno_mod.ENOENT:
        where = ("it is not a file" if "/" in cmd else
                 "no such program on PATH=" +
                 ((env or os.environ).get("PATH") or "(unset)"))
        return (f"command not found: {cmd} ({where}). Check the spelling, "
                f"install the program, or give its full path.")
    return (f"cannot run {cmd}: {os.strerror(err)}. Check that it is an "
            f"executable program (permissions, `chmod +x`, a valid #! line).")


# --------------------------------------------------------------------------
# Processes under strace


def _read_tracer_pid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"TracerPid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _traced_processes(strace_pid: int) -> list[psutil.Process]:
    """Every live process strace traces, deepest first (children first).

    The descendants of strace, plus processes that were re-parented away
    from it (orphaned daemons) but are still traced (TracerPid).
    """
    try:
        found = {p.pid: p for p in
                 psutil.Process(strace_pid).children(recursive=True)}
    except psutil.Error:
        found = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        names = []
    for name in names:
        if name.isdigit() and int(name) not in found:
            if _read_tracer_pid(int(name)) == strace_pid:
                try:
                    found[int(name)] = psutil.Process(int(name))
                except psutil.Error:
                    pass
    depth = {}

    def depth_of(pid, seen=()):
        if pid in depth:
            return depth[pid]
        try:
            ppid = found[pid].ppid()
        except psutil.Error:
            ppid = 0
        d = depth_of(ppid, seen + (pid,)) + 1 if (
            ppid in found and ppid not in seen) else 0
        depth[pid] = d
        return d

    for pid in found:
        depth_of(pid)
    return sorted(found.values(), key=lambda p: -depth[p.pid])


def _live_count(strace_pid: int) -> int:
    try:
        return len(psutil.Process(strace_pid).children(recursive=True))
    except psutil.Error:
        return 0


def _signal_all(procs: list[psutil.Process], sig: int) -> int:
    sent = 0
    for p in procs:
        try:
            p.send_signal(sig)        # psutil checks the pid was not reused
            sent += 1
        except psutil.Error:
            pass
    return sent


# --------------------------------------------------------------------------
# The recorder


class _Run:
    """One strace run: the process, its pidfd and the status pipe."""

    def __init__(self, proc: subprocess.Popen, status_r: int):
        self.proc = proc
        self.status_r: int | None = status_r
        self.status_data = b""
        try:
            self.pidfd: int | None = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            self.pidfd = None

    def close(self):
        for fd in (self.pidfd, self.status_r):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.pidfd = self.status_r = None

    def _drain_status(self):
        while self.status_r is not None:
            try:
                chunk = os.read(self.status_r, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                os.close(self.status_r)
                self.status_r = None
                return
            self.status_data += chunk

    def wait(self, timeout: float | None) -> bool:
        """Wait until strace exits or timeout passes; True if it exited.

        Also keeps reading the status pipe, so a launcher with thousands
        of copies never blocks writing its status line.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.proc.poll() is None:
            remaining = (None if deadline is None
                         else max(0.0, deadline - time.monotonic()))
            if remaining == 0.0:
                return False
            fds = [fd for fd in (self.pidfd, self.status_r) if fd is not None]
            if self.pidfd is None:
                # No pidfd (old kernel): poll at the status rate at most.
                step = STATUS_INTERVAL if remaining is None else min(
                    STATUS_INTERVAL, remaining)
                if self.status_r is not None:
                    select.select([self.status_r], [], [], step)
                else:
                    time.sleep(step)
            else:
                select.select(fds, [], [], remaining)
            self._drain_status()
        self._drain_status()
        return True


def _launcher(strace_pid: int) -> psutil.Process | None:
    try:
        kids = psutil.Process(strace_pid).children()
    except psutil.Error:
        return None
    for k in kids:
        try:
            if str(LAUNCHER) in k.cmdline():
                return k
        except psutil.Error:
            pass
    return kids[0] if kids else None


def _stop_tracees(run: _Run, grace: float, warnings: list[str]) -> None:
    """SIGINT, then SIGTERM, then SIGKILL the tracees; wait for strace.

    strace itself is never signalled unless it outlives all of this.
    A KeyboardInterrupt (second Ctrl-C) or SIGTERM during a stage's wait
    moves on to the next stage at once.
    """
    strace_pid = run.proc.pid
    launcher = _launcher(strace_pid)

    def stage_int():
        if launcher is not None and launcher.is_running():
            # The launcher forwards it to every copy's process group, which
            # is what a terminal's Ctrl-C would have reached.
            launcher.send_signal(signal.SIGINT)
        else:
            _signal_all(_traced_processes(strace_pid), signal.SIGINT)

    def stage(sig):
        def send():
            procs = [p for p in _traced_processes(strace_pid)
                     if launcher is None or p.pid != launcher.pid]
            _signal_all(procs, sig)
        return send

    def stage_kill_launcher():
        # Last: the launcher reaps the copies and writes their status, so it
        # is spared until the copies are gone.
        _signal_all(_traced_processes(strace_pid), signal.SIGKILL)

    for name, send in (("SIGINT", stage_int),
                       ("SIGTERM", stage(signal.SIGTERM)),
                       ("SIGKILL", stage(signal.SIGKILL)),
                       ("SIGKILL", stage_kill_launcher)):
        try:
            if run.proc.poll() is not None:
                return
            log.debug("stopping the recorded processes with %s", name)
            send()
            if run.wait(grace):
                return
        except (KeyboardInterrupt, Terminate):
            continue
        except psutil.Error:
            continue
    # Every tracee got SIGKILL and strace is still there: give up on it.
    while True:
        try:
            if run.wait(5.0):
                return
            warnings.append("strace did not exit after its tracees were "
                            "killed; killed strace, the log may be truncated")
            run.proc.kill()
            run.wait(None)
            return
        except (KeyboardInterrupt, Terminate):
            continue


def _parse_status(data: bytes) -> tuple[int | None, list[CopyStatus]] | None:
    for line in data.decode(errors="replace").splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("launcher") == 1:
            copies = []
            for c in obj.get("copies", []):
                sig = c.get("signal")
                if sig is not None:
                    try:
                        sig = signal.Signals(sig).name
                    except ValueError:
                        sig = f"SIG{sig}"
                copies.append(CopyStatus(pid=c["pid"],
                                         exit_code=c.get("exit_code"),
                                         signal=sig,
                                         exec_errno=c.get("exec_errno")))
            return obj.get("pid"), copies
    return None


def _take_stderr(tmp, keep: Path | None, limit: int = 1 << 20) -> str:
    """Read strace's messages from their temporary file (and close it);
    copy them to ``keep`` when given (best effort: its disk may be full)."""
    try:
        tmp.seek(0)
        data = tmp.read(limit)
    except OSError:
        data = b""
    finally:
        tmp.close()
    if keep is not None:
        try:
            with open(keep, "wb") as out:
                out.write(data)
        except OSError:
            pass
    return data.decode(errors="replace")


def _read_text(path: Path, limit: int = 1 << 20) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode(errors="replace")
    except OSError:
        return ""


def _stderr_fd(stderr) -> int | None:
    if stderr is None:
        return 2
    if isinstance(stderr, int):
        return stderr
    return stderr.fileno()


def record(*args, hold_signals: bool = False, **kwargs) -> RecordResult:
    """Run ``copies`` concurrent copies of cmd_argv under strace: see ``record_run``.

    With ``hold_signals`` a Ctrl-C, SIGTERM or SIGHUP that comes once strace
    has ended is held back (blocked) when this returns: the caller, which
    still has the log to import, releases it (``release_stop_signals``)
    where it can finish the event log cleanly.  On an error they are
    released here.
    """
    try:
        return record_run(*args, hold_signals=hold_signals, **kwargs)
    except BaseException:
        if hold_signals:
            release_stop_signals()
        raise


def record_run(cmd_argv: Sequence[str], copies: int = 1,
           strace_log: Path | str | None = None,
           on_status: Callable[[Status], None] | None = None,
           env: dict[str, str] | None = None,
           cwd: Path | str | None = None, *,
           stdin=None, stdout=None, stderr=None,
           interrupt_grace: float = INTERRUPT_GRACE,
           extra_strace_args: Sequence[str] = (),
           on_started: Callable[[list[str], str, float], None] | None = None,
           remove_on_death: Sequence[str] = (),
           stderr_kept: bool = True, hold_signals: bool = False) -> RecordResult:
    """Run ``copies`` concurrent copies of cmd_argv under strace.

    ``strace_log`` is where strace writes (a new temporary directory's
    ``strace.log`` if None); strace's own messages go to ``LOG.stderr``.
    ``on_status`` is called about 4 times a second.  ``stdin``/``stdout``/
    ``stderr`` (None, an fd or a file object) are the copies' standard
    streams; by default they inherit ours.  ``on_started(strace_argv,
    strace_version, start_time)`` is called once strace runs (``fsrace
    record`` starts importing the log then).  Raises RecordError for problems
    the user can fix; returns a RecordResult otherwise, also after Ctrl-C.

    Call it from the main thread: that is where Python delivers
    KeyboardInterrupt, and where the SIGTERM/SIGHUP handlers can be set.  A
    Ctrl-C before strace has started (while checking its version)
    propagates as KeyboardInterrupt: there is no log yet.

    If strace dies while recording, what it traced is killed at once (it
    would run on with failing syscalls) and the result says so in
    ``incomplete``; if fsrace itself is killed, a watchdog process kills
    strace and its tracees and removes the ``remove_on_death`` paths.
    ``stderr_kept=False`` says the caller removes ``LOG.stderr`` afterwards
    (messages then quote it instead of pointing to it).
    """
    cmd_argv = [os.fspath(a) for a in cmd_argv]
    if not cmd_argv:
        raise RecordError("No command given: tell fsrace record what to run, "
                          "e.g. `fsrace record -- uv sync`.")
    if copies < 1:
        raise RecordError(f"The number of copies must be at least 1, "
                          f"not {copies}.")
    if cwd is not None and not os.path.isdir(cwd):
        what = "does not exist" if not os.path.exists(cwd) else \
            "is not a directory"
        raise RecordError(
            f"The working directory {cwd} {what}, so the command cannot be "
            f"started there. Create it or give an existing directory.")
    strace = find_strace()
    version = strace_version(strace)

    if strace_log is None:
        strace_log = Path(tempfile.mkdtemp(prefix="fsrace-")) / "strace.log"
    strace_log = Path(os.path.abspath(strace_log))   # strace runs in cwd
    try:
        strace_log.parent.mkdir(parents=True, exist_ok=True)
        stderr_path = strace_log.with_name(strace_log.name + ".stderr")
        # strace's messages go to an unlinked temporary file (no litter, and
        # not on the log's own disk: when that disk is full, strace's
        # complaint about it must still be read); copied to LOG.stderr after.
        stderr_file = tempfile.TemporaryFile(prefix="fsrace-strace-stderr-")
    except OSError as exc:
        raise RecordError(
            f"Cannot write the strace log {strace_log}: {exc.strerror}. "
            f"Choose a writable location for the log.") from None

    status_r, status_w = os.pipe()
    os.set_blocking(status_r, False)
    pass_fds = [status_w]
    user_err = None
    try:
        user_err = os.dup(_stderr_fd(stderr))
        pass_fds.append(user_err)
    except (OSError, ValueError, AttributeError):
        user_err = None
    argv = strace_command(strace_log, cmd_argv, copies, status_fd=status_w,
                          stderr_fd=user_err, strace=strace,
                          extra_strace_args=extra_strace_args)
    log.info("recording: %s", " ".join(argv))

    warnings: list[str] = []
    interrupted = False
    interrupt_signal = None
    old_handlers = {}
    watchdog = _Watchdog(remove_on_death)
    started = time.time()
    try:
        try:
            proc = subprocess.Popen(
                argv, stdin=stdin, stdout=stdout, stderr=stderr_file,
                pass_fds=pass_fds, env=env, cwd=cwd, start_new_session=True)
        except FileNotFoundError as exc:
            if cwd is not None and not os.path.isdir(cwd):
                raise RecordError(
                    f"The working directory {cwd} does not exist, so the "
                    f"command cannot be started there. Create it or give an "
                    f"existing directory.") from None
            raise RecordError(f"Cannot start strace ({strace}): {exc}. "
                              f"Reinstall it with {install_hint()}.") from None
        except OSError as exc:
            raise RecordError(f"Cannot start strace ({strace}): {exc}. "
                              f"Check that it is installed and executable.") \
                from None
    except BaseException:
        watchdog.done()
        stderr_file.close()
        raise
    finally:
        os.close(status_w)
        if user_err is not None:
            os.close(user_err)

    watchdog.watch(proc.pid)
    run = _Run(proc, status_r)
    try:
        old_handlers = install_terminate_handlers()
        try:
            if on_started is not None:
                on_started(argv, version, started)
            if on_status is None:
                run.wait(None)
            else:
                while True:
                    on_status(Status(time.time() - started,
                                     _file_size(strace_log),
                                     _live_count(proc.pid)))
                    if run.wait(STATUS_INTERVAL):
                        break
        except KeyboardInterrupt as exc:   # Ctrl-C, or SIGTERM/SIGHUP (Terminate)
            interrupted = True
            interrupt_signal = signal_of(exc)
            _stop_tracees(run, interrupt_grace, warnings)
        except BaseException:
            # A bug or a failing callback: do not leave strace behind.
            _stop_tracees(run, 0.5, warnings)
            raise
    finally:
        if hold_signals:
            hold_stop_signals()
        restore_handlers(old_handlers)
        run.close()
        # strace has ended: anything left in its session was orphaned by its death.
        orphans = _kill_orphaned_tracees(proc.pid) if proc.poll() is not None else 0
        watchdog.done()
    ended = time.time()

    stderr_text = _take_stderr(stderr_file, stderr_path if stderr_kept else None)
    incomplete = None
    rc = proc.returncode
    if not interrupted and (orphans or (rc is not None and rc < 0)):
        how = (f"was killed by {signal_name(-rc)}" if rc is not None and rc < 0
               else f"exited with status {rc}")
        incomplete = (f"strace {how} while recording; the processes it traced were stopped "
                      "at once (untraced, their file system calls would have failed with ENOSYS; "
                      "a call in flight at that moment may have)")
    incomplete = incomplete or _log_write_error(stderr_text, strace_log)
    parsed = _parse_status(run.status_data)
    launcher_pid, copies_status = parsed if parsed else (None, None)
    if copies_status is None:
        if _PTRACE_DENIED.search(stderr_text):
            raise RecordError(_ptrace_denied_message(stderr_text))
        if incomplete and _file_size(strace_log) > 0:
            warnings.append("the copies' exit statuses are unknown: the launcher was "
                            "stopped before it could report them")
        elif not interrupted:
            raise RecordError(_strace_failed_message(
                proc.returncode, stderr_text, stderr_path if stderr_kept else None))
        else:
            warnings.append("the run was interrupted before the copies of the "
                            "command were started or before their exit statuses "
                            "were reported")
        copies_status = []
    elif _PTRACE_DENIED.search(stderr_text):
        warnings.append("strace reported a ptrace failure: " +
                        _PTRACE_DENIED.search(stderr_text).group(0))

    failed = [c for c in copies_status if c.exec_errno is not None]
    if failed and not interrupted:
        raise RecordError(_exec_failed_message(cmd_argv[0],
                                               failed[0].exec_errno, env))
    seen = set(warnings)
    for line in _STRACE_LINE.findall(stderr_text):
        if line not in seen:     # a full disk repeats one line per write
            seen.add(line)
            warnings.append(line)

    if copies_status:
        exit_status = next((c.status for c in copies_status if c.status), 0)
    elif interrupted:
        # Stopped before the copies ran (or before the launcher reported).
        exit_status = 128 + (interrupt_signal or signal.SIGINT)
    elif incomplete:
        exit_status = 128 - rc if rc is not None and rc < 0 else 255
    else:
        rc = proc.returncode
        exit_status = 128 - rc if rc is not None and rc < 0 else (rc or 0)
    return RecordResult(strace_log=strace_log, copies=copies_status,
                        exit_status=exit_status, interrupted=interrupted,
                        started=started, ended=ended, strace_argv=argv,
                        strace_version=version, strace_stderr=stderr_path,
                        warnings=warnings, launcher_pid=launcher_pid,
                        interrupt_signal=interrupt_signal, incomplete=incomplete)


def _file_size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
