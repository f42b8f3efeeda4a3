"""Process lifecycle from the Linux netlink process connector.

The kernel's process connector (``CONFIG_PROC_EVENTS``) multicasts one
message per fork, exec and exit of every task on the machine, stamped with
the kernel's monotonic clock (``ktime_get_ns``, the clock of
``time.monotonic_ns()``).  The fanotify backend uses it for the process
tree: fanotify says which process touched a file, the connector says who
created that process and when it exec'd and exited.

pyroute2's ``ProcEventSocket`` opens, binds and subscribes the socket and
its marshal decodes the messages.  We read the socket ourselves
(non-blocking ``os.read``, one datagram per read) instead of through
pyroute2's asyncio ``get()``: the recorder's loop polls this fd next to the
fanotify fd, and must never block in a library's event loop.

Subscribing needs ``CAP_NET_ADMIN`` and the initial user and pid
namespaces; the kernel refuses otherwise (``EPERM``), which we report as a
:class:`~tracer.strace_backend.RecordError` naming the capability.
"""

from __future__ import annotations

import errno as errno_mod
import os
import socket
from dataclasses import dataclass
from typing import Any

from fsrace.tracer.strace_backend import RecordError

#: Kernel event codes (linux/cn_proc.h).
FORK, EXEC, EXIT = 0x1, 0x2, 0x80000000

#: Receive buffer we ask for: a fork storm must not overflow the socket.
RCVBUF = 8 << 20


@dataclass(slots=True)
class ProcEvent:
    """One fork, exec or exit, as the kernel reported it.

    ``pid``/``tgid`` are the task and its process (thread-group) id; for a
    fork they describe the *child* and ``ppid``/``ptgid`` the parent.  A
    fork whose child joins the parent's thread group (``tgid == ptgid`` and
    ``pid != tgid``) created a thread.  ``status`` is the exit's wait
    status (``code << 8 | signal``).
    """

    kind: str          # "fork" | "exec" | "exit"
    ts_ns: int         # kernel monotonic time
    pid: int
    tgid: int
    ppid: int = 0
    ptgid: int = 0
    status: int = 0

    @property
    def thread(self) -> bool:
        """A fork that made a thread, or the exit of a non-leader thread."""
        return self.pid != self.tgid


def _privilege_message(err: OSError) -> str:
    return (f"The netlink process connector refused fsrace ({err.strerror}, "
            f"errno {errno_mod.errorcode.get(err.errno, err.errno)}). The fanotify "
            f"backend reads fork/exec/exit events from it, which needs the "
            f"CAP_NET_ADMIN capability in the initial user and pid namespace "
            f"(run fsrace as root on the host, or give the container "
            f"`--cap-add=NET_ADMIN --pid=host`). Or record with "
            f"`--backend strace`, which needs no privilege.")


class ProcConnector:
    """A subscribed process-connector socket; ``read()`` returns new events."""

    def __init__(self) -> None:
        try:
            from pyroute2 import ProcEventSocket
        except ImportError:  # pragma: no cover - pyroute2 is a dependency
            raise RecordError(
                "The fanotify backend needs the pyroute2 package for the process "
                "connector: `pip install pyroute2`, or record with `--backend strace`."
            ) from None
        self._sock: Any = None
        self.lost = 0            # messages the kernel dropped (ENOBUFS)
        self.read_count = 0
        try:
            self._sock = ProcEventSocket()
            self._sock.bind()
            self._sock.control(listen=True)
        except OSError as err:
            self.close()
            if err.errno in (errno_mod.EPERM, errno_mod.EACCES):
                raise RecordError(_privilege_message(err)) from None
            raise RecordError(
                f"Cannot subscribe to the netlink process connector: {err.strerror} "
                f"(errno {errno_mod.errorcode.get(err.errno, err.errno)}). The kernel may "
                f"lack CONFIG_PROC_EVENTS. Record with `--backend strace` instead.") from None
        self.fd: int = self._sock.fileno()
        os.set_blocking(self.fd, False)
        try:
            raw = socket.socket(fileno=os.dup(self.fd))
            try:
                raw.setsockopt(socket.SOL_SOCKET, 33, RCVBUF)   # SO_RCVBUFFORCE
            except OSError:
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            finally:
                raw.close()
        except OSError:
            pass
        self._parse = self._sock.marshal.parse

    def fileno(self) -> int:
        return self.fd

    def read(self) -> list[ProcEvent]:
        """Every event queued on the socket now (never blocks)."""
        out: list[ProcEvent] = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return out
            except OSError as err:
                if err.errno == errno_mod.ENOBUFS:
                    # The socket overflowed: the kernel dropped messages.
                    self.lost += 1
                    continue
                raise
            if not data:
                return out
            for msg in self._parse(data):
                what = msg.get("what")
                if what == FORK:
                    out.append(ProcEvent("fork", msg["timestamp_ns"], msg["child_pid"],
                                         msg["child_tgid"], msg["parent_pid"],
                                         msg["parent_tgid"]))
                elif what == EXEC:
                    out.append(ProcEvent("exec", msg["timestamp_ns"], msg["process_pid"],
                                         msg["process_tgid"]))
                elif what == EXIT:
                    out.append(ProcEvent("exit", msg["timestamp_ns"], msg["process_pid"],
                                         msg["process_tgid"], msg.get("parent_pid") or 0,
                                         msg.get("parent_tgid") or 0,
                                         msg.get("exit_code") or 0))
            self.read_count += 1

    def close(self) -> None:
        """Unsubscribe (closing the socket is enough; never blocks)."""
        if self._sock is not None:
            try:
                self._sock.close()
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass
            self._sock = None

    def __enter__(self) -> "ProcConnector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def describe_exit(status: int) -> tuple[int | None, str | None, bool]:
    """(exit code, signal name, core dumped) from a wait status."""
    import signal as signal_mod
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal_mod.Signals(sig).name
        except ValueError:
            name = f"SIG{sig}"
        return None, name, bool(status & 0x80)
    return os.WEXITSTATUS(status), None, False
