"""Stop a recording whose fsrace was killed: run beside strace, untraced.

Usage (started by ``tracer.strace_backend.record``)::

    python3 -I -S watchdog.py [--remove PATH ...]

It reads strace's pid as one line on standard input, then waits there.
Standard input is a pipe only fsrace holds open; it reaches end-of-file
when fsrace ends, however it ends (SIGKILL, a crash, a normal exit).  The
watchdog then kills every process left in strace's session (strace runs in
its own session and every traced process inherits it): first the traced
programs, so strace writes their ``+++ killed +++`` lines and exits by
itself, then strace if it is still there.  Without this, a SIGKILL of fsrace
leaves strace and the command running; and strace with ``--seccomp-bpf``,
should it go too, leaves the programs running with every traced system call
failing with ENOSYS, on the user's real files.

After a normal end there is nothing left in the session and it only
removes nothing and exits.  After fsrace died it removes the ``--remove``
paths (fsrace's hidden partial event log, its temporary strace folder).

Imports only what ``-I -S`` Python has without site-packages.
"""

import os
import shutil
import signal
import sys
import time


def _zombie(pid):
    """True for a process that has exited but is not reaped (nothing to kill;
    an init that does not reap keeps such zombies around)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def session_members(sid):
    """Pids of the live processes in session ``sid`` (zombies included)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.getsid(int(name)) == sid and not _zombie(int(name)):
                    found.append(int(name))
            except OSError:
                pass
    return found


def kill_session(sid, spare=(), rounds=50):
    """SIGKILL every process of session ``sid`` but ``spare`` until none is left
    (a process may fork while we look); returns how many were signalled."""
    killed = set()
    for _ in range(rounds):
        pids = [p for p in session_members(sid) if p not in spare]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except OSError:
                pass
        time.sleep(0.02)
    return len(killed)


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def main(argv):
    remove = []
    i = 0
    while i < len(argv):
        if argv[i] == "--remove" and i + 1 < len(argv):
            remove.append(argv[i + 1])
            i += 2
        else:
            i += 1
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)   # only fsrace's end ends us
    line = sys.stdin.buffer.readline()
    try:
        strace_pid = int(line)
    except ValueError:
        return 0          # fsrace ended before strace started
    done = sys.stdin.buffer.read()   # blocks until fsrace's end
    if done.strip() == b"ended":
        return 0          # fsrace saw strace end and cleaned up itself
    kill_session(strace_pid, spare=(strace_pid,))
    deadline = time.monotonic() + 5.0
    while _alive(strace_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    kill_session(strace_pid)
    for path in remove:
        try:
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
