"""Shared test helpers: build event traces from short tuples (ReproZip style)."""

from __future__ import annotations

import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

# A test run started in the background without job control (`cmd &` in a
# script, nohup) inherits SIGINT ignored, and so would every fsrace the tests
# start: their Ctrl-C tests would send a signal nobody hears.  Catching it
# here gives the programs the tests start the default disposition.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT / "tests" / "data"

needs_strace = pytest.mark.skipif(shutil.which("strace") is None,
                                  reason="strace is not installed (apt-get install strace)")


def index_reachable() -> bool:
    """True when the package index answers (the seed tests install uv from it)."""
    import urllib.request
    try:
        urllib.request.urlopen("https://pypi.org/simple/uv/", timeout=15).close()
        return True
    except OSError:
        return False


class Trace:
    """Build an fsrace event stream by hand.

    ``t.op(pid, "unlink", "/a/b")`` appends a syscall event; process events
    have their own helpers.  Sequence numbers follow the call order.
    """

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._ofd = 0

    def _add(self, ev: dict[str, Any]) -> dict[str, Any]:
        ev["seq"] = len(self.events) + 1
        ev.setdefault("ts", 1000.0 + ev["seq"] * 0.001)
        ev.setdefault("tid", ev["pid"])
        ev.setdefault("proc", str(ev["pid"]))
        self.events.append(ev)
        return ev

    def op(self, pid: int, syscall: str, path: str, errno: str | None = None,
           flags: str | None = None, path2: str | None = None, tid: int | None = None,
           **extra: Any) -> dict[str, Any]:
        ev = {"type": "syscall", "pid": pid, "syscall": syscall, "path": path,
              "result": -1 if errno else 0, "args": []}
        if tid is not None:
            ev["tid"] = tid
        if errno:
            ev["errno"] = errno
        if flags is not None:
            ev["flags"] = flags
        if path2 is not None:
            ev["path2"] = path2
        ev.update(extra)
        return self._add(ev)

    def open(self, pid: int, path: str, flags: str = "O_RDONLY", errno: str | None = None) -> int:
        self._ofd += 1
        self.op(pid, "openat", path, errno, flags, fd=3, ofd=self._ofd)
        return self._ofd

    def flock(self, pid: int, path: str, ofd: int, how: str = "LOCK_EX") -> None:
        op = "ex" if "EX" in how else "sh" if "SH" in how else "un"
        self.op(pid, "flock", path, flags=how, fd=3, ofd=ofd,
                lock={"op": op, "kind": "flock", "start": 0, "len": 0, "wait": True})

    def close(self, pid: int, path: str, ofd: int, last: bool = True) -> None:
        self.op(pid, "close", path, fd=3, ofd=ofd, last=last)

    def fork(self, parent: int, child: int, thread: bool = False) -> None:
        self._add({"type": "fork", "pid": parent, "syscall": "clone", "result": child,
                   "child": child, "child_proc": str(parent if thread else child),
                   "thread": thread, "vfork": False})

    def exec(self, pid: int, argv: list[str]) -> None:
        self._add({"type": "exec", "pid": pid, "syscall": "execve", "result": 0,
                   "path": "/usr/bin/" + argv[0], "argv": argv})

    def exit(self, pid: int, code: int = 0) -> None:
        self._add({"type": "exit", "pid": pid, "code": code})

    def wait(self, parent: int, child: int, code: int = 0) -> None:
        self._add({"type": "wait", "pid": parent, "syscall": "wait4", "result": child,
                   "child": child, "child_proc": str(child), "code": code})

    def analyze(self):
        from fsrace.analyzers.analyze import analyze_events
        return analyze_events(self.events)


@pytest.fixture
def trace() -> Trace:
    return Trace()


def kinds(analysis, severity: str | None = None) -> set[str]:
    """The race kinds found (optionally only at one severity)."""
    return {f.kind for f in analysis.findings if severity is None or f.severity == severity}


def warnings_or_worse(analysis) -> list:
    return [f for f in analysis.findings if f.severity in ("warning", "error")]


@pytest.fixture(scope="session")
def seed_strace_log(tmp_path_factory) -> Path:
    """One real seed round (10 concurrent `uv sync` with uv 0.6.11) under
    one `strace -f`, recorded once per test session.  Needs strace and the
    package index (uv and the project's wheels are downloaded once)."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed (apt-get install strace)")
    if not index_reachable():
        pytest.skip("the package index (pypi.org) is not reachable: cannot install uv")
    sys.path.insert(0, str(ROOT / "bench"))
    import seed_workload as seed

    env = seed.prepare(seed.BROKEN_VERSION)
    seed.reset(env)
    log = tmp_path_factory.mktemp("seed") / "seed.log"
    seed.run_group(env, 10, seed.strace_argv(log), out_dir=Path(str(log) + ".stderr"))
    return log
