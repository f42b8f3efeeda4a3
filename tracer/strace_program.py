"""Finding strace, its version and features, and the command line it is run with.

``find_strace`` and the version checks turn a missing or too old strace
into a ``RecordError`` the user can act on (with the install command for
this system); ``strace_command`` builds the exact argv the strace backend
runs (``tracer/strace_backend.py``).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from fsrace.tracer.record_error import RecordError
from fsrace.tracer.syscalls import strace_trace_expression

log = logging.getLogger(__name__)

#: The launcher, run by path (not ``-m``) so it works whatever the cwd and
#: whether or not fsrace is installed, and without importing ``tracer``.
LAUNCHER = Path(__file__).resolve().with_name("launcher.py")

#: strace gained --seccomp-bpf in 5.3.
SECCOMP_BPF_MIN_VERSION = (5, 3)

# --------------------------------------------------------------------------
# Finding strace and building its command line


def install_hint() -> str:
    """How to install strace on this system (apt-get, dnf, apk, ... from os-release)."""
    ids = ""
    try:
        text = Path("/etc/os-release").read_text(errors="replace")
        for line in text.splitlines():
            if line.startswith(("ID=", "ID_LIKE=")):
                ids += " " + line.split("=", 1)[1].strip().strip('"').lower()
    except OSError:
        pass
    words = set(ids.split())
    if words & {"debian", "ubuntu"}:
        return "`sudo apt-get install strace`"
    if words & {"fedora", "rhel", "centos", "rocky", "almalinux", "amzn"}:
        return "`sudo dnf install strace`"
    if words & {"arch", "manjaro"}:
        return "`sudo pacman -S strace`"
    if "alpine" in words:
        return "`apk add strace`"
    if words & {"suse", "opensuse", "sles"}:
        return "`sudo zypper install strace`"
    return ("your package manager (`apt-get install strace` on Debian/Ubuntu, "
            "`dnf install strace` on Fedora/RHEL, `pacman -S strace` on Arch, "
            "`apk add strace` on Alpine)")


def find_strace() -> str:
    """Return the path of the strace program, or raise RecordError."""
    if not sys.platform.startswith("linux"):
        raise RecordError(
            f"fsrace record needs Linux: it runs the command under strace, "
            f"which uses the Linux ptrace interface, and this system is "
            f"{sys.platform}. Record on a Linux machine (or container) and "
            f"analyse the log anywhere with `fsrace analyze`.")
    path = shutil.which("strace")
    if path is None:
        raise RecordError(
            "strace is not installed (no `strace` on PATH). fsrace record "
            "runs your command under strace to see its file system calls. "
            f"Install it with {install_hint()}, then run the command again.")
    return path


@lru_cache(maxsize=None)
def _strace_version(strace: str) -> tuple[str, tuple[int, ...]]:
    try:
        out = subprocess.run([strace, "-V"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise RecordError(
            f"Could not run {strace} -V ({exc}). fsrace record needs a working "
            f"strace; reinstall it with {install_hint()}.") from None
    text = out.stdout + out.stderr
    m = re.search(r"version\s+(\d+(?:\.\d+)*)", text)
    if not m:
        return (text.strip().splitlines() or ["unknown"])[0], ()
    return m.group(1), tuple(int(x) for x in m.group(1).split("."))


def strace_version(strace: str | None = None) -> str:
    """Return strace's version, e.g. ``"6.1"``."""
    return _strace_version(strace or find_strace())[0]


@lru_cache(maxsize=None)
def supports_kill_on_exit(strace: str | None = None) -> bool:
    """Whether this strace has ``--kill-on-exit`` (newer than 6.1): the kernel
    then kills every tracee the moment strace exits, even the syscall in
    flight does not return.  Without it the launcher's parent-death signal
    and fsrace stop them (a call in flight may still fail with ENOSYS)."""
    try:
        out = subprocess.run([strace or find_strace(), "-h"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return "--kill-on-exit" in out.stdout + out.stderr


@lru_cache(maxsize=None)
def supports_seccomp_bpf(strace: str | None = None) -> bool:
    """Whether this strace has ``--seccomp-bpf`` (version 5.3 or later)."""
    strace = strace or find_strace()
    text, version = _strace_version(strace)
    if version and version >= SECCOMP_BPF_MIN_VERSION:
        return True
    log.warning("strace %s (%s) has no --seccomp-bpf (needs 5.3 or later); "
                "recording without it, so every syscall of the traced "
                "processes stops for strace and the run is slower",
                text, strace)
    return False


def strace_command(out: Path, cmd_argv: Sequence[str], copies: int = 1, *,
                   status_fd: int | None = None,
                   stderr_fd: int | None = None,
                   strace: str | None = None,
                   seccomp: bool | None = None,
                   extra_strace_args: Sequence[str] = ()) -> list[str]:
    """Return the strace command line that records ``copies`` copies of cmd.

    ``status_fd``/``stderr_fd`` are fds the launcher inherits (see
    tracer.launcher).  ``seccomp`` defaults to what this strace supports.
    ``extra_strace_args`` go before ``-e trace=`` (e.g. ``-e inject=...``
    for ``fsrace stress --amplify``).
    """
    strace = strace or find_strace()
    if seccomp is None:
        seccomp = supports_seccomp_bpf(strace)
    argv = [strace,
            "-f",            # follow forks: every process of the run
            "-ttt",          # absolute timestamps, microseconds
            "-T",            # time spent in each syscall
            "-s", "4096",    # whole paths and argv strings (PATH_MAX)
            # No -X: strace's default (symbolic flag names) is what people's
            # own logs contain and what the importer reads.
            # No -y: decorating fds makes strace read /proc/PID/fd/N on
            # every fd argument, a readlink per syscall; fsrace keeps its own
            # per-process fd table from open/dup/close, so it is cheaper to
            # resolve there (and -y is optional for imported logs anyway).
            # No -q: with a started command strace 6 prints no attach
            # messages, and anything it does print goes to LOG.stderr where
            # we want to see it.  Never -qq: we need "+++ exited with N +++".
            ]
    if seccomp:
        # Only the traced syscalls stop the tracee; the rest run at full
        # speed.  Needs -f (we have it).
        argv.append("--seccomp-bpf")
        if supports_kill_on_exit(strace):
            # Tracees must not outlive strace: untraced, the seccomp filter
            # fails every traced call with ENOSYS.
            argv.append("--kill-on-exit")
    argv += [str(a) for a in extra_strace_args]
    argv += ["-e", strace_trace_expression(), "-o", str(out), "--",
             sys.executable, "-I", "-S", str(LAUNCHER), "-j", str(copies)]
    if status_fd is not None:
        argv += ["--status-fd", str(status_fd)]
    if stderr_fd is not None:
        argv += ["--stderr-fd", str(stderr_fd)]
    argv += ["--", *cmd_argv]
    return argv


# --------------------------------------------------------------------------
# Reading strace's complaints


#: strace prefixes its messages with its argv[0] ("/usr/bin/strace: ...").
