"""Start N copies of a command at the same moment; the root process strace traces.

Usage::

    python3 -m tracer.launcher [-j N] [--status-fd FD] [--stderr-fd FD] -- CMD [ARG ...]
    python3 /path/to/tracer/launcher.py ...

The launcher forks N children.  Each child puts itself in its own process
group and blocks reading a "gate" pipe; when all N exist the launcher closes
the write end, every child sees end-of-file at once and execs CMD (like the
10 concurrent `uv sync` started by GNU parallel in the seed bug report).

When every copy has ended the launcher writes one JSON line to ``--status-fd``::

    {"launcher":1,"pid":L,"copies":[{"pid":P,"exit_code":C,"signal":S,"exec_errno":E},...]}

``pid`` is the launcher's own pid (the root process of the strace log);
per copy, ``exit_code`` is the exit status (``null`` if killed), ``signal`` the number of
the signal that killed the copy (``null`` if it exited), ``exec_errno`` the
errno of a failed exec (``null`` when exec succeeded).  A copy whose exec
fails exits 127 (ENOENT: command not found) or 126 (any other error), like a
shell.  The launcher's own exit status is the first non-zero status among
the copies in copy order (128+signal for a killed copy), else 0.

SIGINT, SIGTERM, SIGHUP and SIGQUIT received by the launcher are forwarded to
each live copy's process group, so the copy and the helpers it started in its
own group get one signal each, as a terminal's Ctrl-C would deliver it.
Copies get their own groups so that the forwarding can never hit the
launcher or strace, which share the launcher's group.

``--stderr-fd FD`` makes FD the launcher's (and so every copy's) standard
error: the recorder sends strace's own messages to a file and passes the
user's real stderr on FD.

This file is traced, so it imports only built-in modules (no ``json``,
``argparse`` or ``signal``, whose imports would add hundreds of syscalls to
every log) and does nothing between the gate opening and the copies' exits
but wait.
"""

import os
import sys

import _signal

FORWARDED = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT)

USAGE = ("usage: launcher.py [-j N] [--status-fd FD] [--stderr-fd FD] "
         "-- CMD [ARG ...]\n")


def _usage_error(msg):
    os.write(2, ("fsrace launcher: %s\n" % msg).encode() + USAGE.encode())
    os._exit(2)


def parse_args(argv):
    """Return (copies, status_fd, stderr_fd, cmd) from the launcher's argv."""
    copies, status_fd, stderr_fd = 1, None, None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        if "=" in arg and arg.startswith("--"):
            name, value = arg.split("=", 1)
            i += 1
        elif arg in ("-j", "--jobs", "--copies", "--status-fd", "--stderr-fd"):
            if i + 1 >= len(argv):
                _usage_error("%s needs a value" % arg)
            name, value = arg, argv[i + 1]
            i += 2
        elif arg.startswith("-j") and len(arg) > 2:
            name, value = "-j", arg[2:]
            i += 1
        else:
            _usage_error("unknown option %s" % arg)
        try:
            number = int(value)
        except ValueError:
            _usage_error("%s needs a number, got %r" % (name, value))
        if name in ("-j", "--jobs", "--copies"):
            if number < 1:
                _usage_error("-j must be at least 1")
            copies = number
        elif name == "--status-fd":
            status_fd = number
        elif name == "--stderr-fd":
            stderr_fd = number
        else:
            _usage_error("unknown option %s" % name)
    cmd = argv[i:]
    if not cmd:
        _usage_error("no command given")
    return copies, status_fd, stderr_fd, cmd


#: prctl option: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1


def _libc():
    """libc through ctypes, loaded once before forking (the copies inherit
    it, so they add no syscalls to the log), or None."""
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True)
    except Exception:   # noqa: BLE001 - a Python without ctypes: no safety net
        return None


def die_with_parent(libc, parent):
    """SIGKILL this process when its parent dies (PR_SET_PDEATHSIG).

    If strace dies, the programs it traced with --seccomp-bpf would run on
    untraced with every traced syscall failing with ENOSYS, on real files.
    The kernel kills the launcher when strace (its parent) goes, and each
    copy when the launcher goes: at once, before they can do harm.  A
    parent already gone (the death came before the prctl) ends us here.
    """
    if libc is None:
        return
    try:
        libc.prctl(PR_SET_PDEATHSIG, _signal.SIGKILL, 0, 0, 0)
    except Exception:   # noqa: BLE001
        return
    if os.getppid() != parent:
        os._exit(128 + _signal.SIGKILL)


def _child(index, gate_r, gate_w, err_w, cmd, dispositions, mask, libc=None, parent=0):
    """In a forked child: wait at the gate, then exec cmd.  Never returns."""
    try:
        die_with_parent(libc, parent)
        # Back to the dispositions and mask the launcher inherited, so the
        # command sees what it would have seen without us (ignored stays
        # ignored).
        for sig, disp in dispositions:
            _signal.signal(sig, disp)
        _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)
        os.setpgid(0, 0)
        os.close(gate_w)
        while os.read(gate_r, 1):   # returns b"" once the launcher closes it
            pass
        # gate_r and err_w are close-on-exec (os.pipe makes them so).
        os.execvp(cmd[0], cmd)
    except OSError as exc:
        code = 127 if exc.errno == 2 else 126
        what = "command not found" if code == 127 else exc.strerror
        try:
            os.write(err_w, b"%d %d\n" % (index, exc.errno or 0))
            os.write(2, ("fsrace launcher: %s: %s\n" % (what, cmd[0])).encode())
        except OSError:
            pass
        os._exit(code)
    except BaseException:
        os._exit(126)
    os._exit(126)


def main(argv=None):
    copies, status_fd, stderr_fd, cmd = parse_args(
        sys.argv[1:] if argv is None else argv)
    parent = os.getppid()
    libc = _libc()
    die_with_parent(libc, parent)

    if stderr_fd is not None and stderr_fd != 2:
        os.dup2(stderr_fd, 2)
        os.close(stderr_fd)
    if status_fd is not None:
        # Only the launcher may hold it: a copy (or a daemon it starts)
        # keeping it open would keep the recorder's pipe from reaching EOF.
        os.set_inheritable(status_fd, False)

    pids = []            # in copy order
    groups = set()       # process groups of copies not yet reaped
    received = []        # forwarded signals, in order

    def forward(signum, frame):
        received.append(signum)
        for pgid in list(groups):
            try:
                os.killpg(pgid, signum)
            except OSError:
                pass

    # The copies get the dispositions we inherited (ignored stays ignored),
    # but never a Python-level handler: Python's default SIGINT handler would
    # raise KeyboardInterrupt in a child that has not exec'd yet.
    dispositions = []
    for sig in FORWARDED:
        old = _signal.getsignal(sig)
        if old is None:                       # set from C; leave it alone
            continue
        dispositions.append(
            (sig, _signal.SIG_IGN if old == _signal.SIG_IGN else _signal.SIG_DFL))
        if old != _signal.SIG_IGN:
            _signal.signal(sig, forward)

    # A signal that arrives while we are still forking is held back until
    # every copy exists, then forwarded to all of them.
    mask = _signal.pthread_sigmask(_signal.SIG_BLOCK, FORWARDED)
    if received:
        # Interrupted before anything started (the signal hit our own
        # start-up): start nothing, as a Ctrl-C before a command would.
        _write_status(status_fd, [])
        return 128 + received[0]
    gate_r, gate_w = os.pipe()
    err_r, err_w = os.pipe()
    me = os.getpid()
    for index in range(copies):
        pid = os.fork()
        if pid == 0:
            _child(index, gate_r, gate_w, err_w, cmd, dispositions, mask, libc, me)
        try:
            os.setpgid(pid, pid)   # also done by the child; whoever is first
        except OSError:
            pass
        pids.append(pid)
        groups.add(pid)
    os.close(gate_r)
    os.close(gate_w)               # all copies exec now
    os.close(err_w)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)

    # A child writes "index errno\n" (well under PIPE_BUF, so atomic) to
    # err_w only when its exec fails; the pipe reaches EOF once every copy
    # has exec'd or died.
    exec_errno = {}
    data = b""
    while True:
        chunk = os.read(err_r, 4096)
        if not chunk:
            break
        data += chunk
    os.close(err_r)
    for line in data.split(b"\n"):
        fields = line.split()
        if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
            exec_errno[int(fields[0])] = int(fields[1])

    statuses = {}
    while len(statuses) < len(pids):
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid in groups:
            groups.discard(pid)
            statuses[pid] = status

    entries = []
    first_bad = 0
    for index, pid in enumerate(pids):
        status = statuses.get(pid)
        code = signo = None
        if status is not None and os.WIFSIGNALED(status):
            signo = os.WTERMSIG(status)
            effective = 128 + signo
        elif status is not None:
            code = os.waitstatus_to_exitcode(status)
            effective = code
        else:
            effective = 255
        if effective and not first_bad:
            first_bad = effective
        entries.append('{"pid":%d,"exit_code":%s,"signal":%s,"exec_errno":%s}' % (
            pid, "null" if code is None else code,
            "null" if signo is None else signo,
            exec_errno.get(index, "null")))
    _write_status(status_fd, entries)
    return first_bad


def _write_status(status_fd, entries):
    if status_fd is None:
        return
    line = '{"launcher":1,"pid":%d,"copies":[%s]}\n' % (
        os.getpid(), ",".join(entries))
    try:
        os.write(status_fd, line.encode())
        os.close(status_fd)
    except OSError:
        pass


if __name__ == "__main__":
    try:
        code = main()
    except KeyboardInterrupt:       # SIGINT before our handler was set
        code = 128 + _signal.SIGINT
    os._exit(code)
