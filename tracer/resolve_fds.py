"""The resolver's fd handling: open, close, dup, fcntl, flock.

``FdCalls`` is a part of ``Resolver`` (``tracer/resolve.py``), kept in its
own module because fd bookkeeping is a job of its own: installing and
dropping descriptors, the open file descriptions they share, the events
that say when a description (and any lock it held) is released.  It uses
the resolver's ``_emit``, ``_next_ofd`` and ``_live_ofds``.
"""

from __future__ import annotations

import re

from .resolve_model import Args, Event, FdTable, OpenFile, Process, parse_int, strip_deleted
from .strace_parse import decode_fd



_LOCK_FIELDS = re.compile(r"l_type=(\w+).*?l_start=(-?\w+).*?l_len=(-?\w+)")
_OPENAT2_FLAGS = re.compile(r"flags=([A-Z0-9_|]+|0)")


class FdCalls:
    """Fd-table handlers of the resolver (a mixin of ``Resolver``)."""

    # ------------------------------------------------------------- fd handling

    def _new_ofd(self, path: str | None) -> OpenFile:
        ofd = OpenFile(self._next_ofd, path)
        self._next_ofd += 1
        self._live_ofds[ofd.id] = ofd
        return ofd

    def _install(self, fdt: FdTable, fd: int, ofd: OpenFile, cloexec: bool,
                 released: list[OpenFile], replaces: bool = False) -> None:
        """Point ``fd`` at ``ofd``.

        ``replaces``: dup2/dup3 close the target atomically.  Any other call
        gets the lowest free number, so an fd still in the table was closed
        by another thread whose ``close`` line is yet to come; that close is
        then matched to the old file (see ``_close``).
        """
        old = fdt.fds.get(fd)
        if old is not None and old is not ofd:
            if replaces:
                self._unref(old, released)
            else:
                fdt.stale[fd] = old
        if old is not ofd:
            ofd.refs += 1
        fdt.fds[fd] = ofd
        if cloexec:
            fdt.cloexec.add(fd)
        else:
            fdt.cloexec.discard(fd)

    def _unref(self, ofd: OpenFile, released: list[OpenFile]) -> bool:
        ofd.refs -= 1
        if ofd.refs <= 0:
            self._live_ofds.pop(ofd.id, None)
            if ofd.locked:
                released.append(ofd)
            return True
        return False

    def _drop_fd(self, fdt: FdTable, fd: int, released: list[OpenFile]) -> tuple[OpenFile | None, bool]:
        ofd = fdt.fds.pop(fd, None)
        fdt.cloexec.discard(fd)
        if ofd is None:
            return None, False
        return ofd, self._unref(ofd, released)

    def _emit_releases(self, proc: Process, tid: int, ev: Event, released: list[OpenFile]) -> None:
        for ofd in released:
            self._emit({"seq": 0, "type": "release", "ts": ev.get("ts"), "pid": proc.pid, "tid": tid,
                        "proc": proc.key, "ofd": ofd.id, "path": ofd.path,
                        "cause": ev.get("syscall")})

    # --------------------------------------------------------------- paths


    def _open(self, proc: Process, tid: int, toks: Args, ev: Event,
              ret_path: str | None, released: list[OpenFile]) -> None:
        name = ev["syscall"]
        if name == "open":
            path = self._path(proc, ev, None, toks[0])
            flags = toks[1]
        elif name == "creat":
            path = self._path(proc, ev, None, toks[0])
            flags = "O_CREAT|O_WRONLY|O_TRUNC"
        else:
            path = self._path(proc, ev, toks[0], toks[1])
            if name == "openat2":
                m = _OPENAT2_FLAGS.search(toks[2])
                flags = m.group(1) if m else toks[2]
            else:
                flags = toks[2]
            if toks[0] != "AT_FDCWD" and not toks[0].startswith("AT_FDCWD<"):
                fd = decode_fd(toks[0])
                if fd is not None:
                    ev["dirfd"] = fd[0]
        ev["flags"] = flags
        fd = ev["result"]
        if path is None and ret_path is not None and ret_path.startswith("/"):
            # The decoration of the new fd names what an unresolvable or
            # truncated argument meant.
            self.unresolved -= 1
            ev.pop("unresolved", None)
            path = strip_deleted(ret_path)
        ev["path"] = path
        if isinstance(fd, int) and fd >= 0:
            ofd = self._new_ofd(path)
            self._install(proc.fdt, fd, ofd, "O_CLOEXEC" in flags, released)
            ev["fd"] = fd
            ev["ofd"] = ofd.id

    def _close(self, proc: Process, tid: int, toks: Args, ev: Event,
               ret_path: str | None, released: list[OpenFile]) -> None:
        stale = proc.fdt.stale.pop(parse_int(toks[0]) if toks.get(0) else -1, None)
        if stale is not None and ev.get("errno") is None:
            ev["fd"] = parse_int(toks[0])
            ev["path"] = stale.path
            ev["ofd"] = stale.id
            ev["last"] = self._unref(stale, released)
            return
        self._fd_event_path(proc, ev, toks[0])
        fd = ev.get("fd")
        if fd is None or ev.get("errno") == "EBADF":
            return
        ofd, last = self._drop_fd(proc.fdt, fd, [])
        if ofd is not None:
            ev["last"] = last

    def _close_range(self, proc: Process, tid: int, toks: Args, ev: Event,
                     ret_path: str | None, released: list[OpenFile]) -> None:
        if ev.get("errno") is not None:
            return
        first = parse_int(toks[0]) or 0
        last_tok = toks[1]
        last = (1 << 31) if last_tok.startswith("~") else (parse_int(last_tok) or 0)
        fdt = proc.fdt
        targets = [fd for fd in fdt.fds if first <= fd <= last]
        if "CLOSE_RANGE_CLOEXEC" in (toks.get(2)):
            fdt.cloexec.update(targets)
            return
        for fd in targets:
            self._drop_fd(fdt, fd, released)

    def _dup(self, proc: Process, tid: int, toks: Args, ev: Event,
             ret_path: str | None, released: list[OpenFile]) -> None:
        self._fd_event_path(proc, ev, toks[0])
        new = ev["result"]
        old = ev.get("fd")
        if not isinstance(new, int) or new < 0 or old is None:
            return
        ofd = proc.fdt.fds.get(old)
        if ofd is None:
            ofd = self._new_ofd(ev.get("path"))
            self._install(proc.fdt, old, ofd, False, released)
        cloexec = ev["syscall"] == "dup3" and "O_CLOEXEC" in (toks.get(2))
        if new != old:
            self._install(proc.fdt, new, ofd, cloexec, released,
                          replaces=ev["syscall"] != "dup")
        ev["newfd"] = new

    def _fcntl(self, proc: Process, tid: int, toks: Args, ev: Event,
               ret_path: str | None, released: list[OpenFile]) -> None:
        self._fd_event_path(proc, ev, toks[0])
        cmd = toks[1]
        ev["flags"] = cmd
        ok = ev.get("errno") is None
        fd = ev.get("fd")
        if cmd.startswith("F_DUPFD"):
            new = ev["result"]
            ofd = proc.fdt.fds.get(fd) if fd is not None else None
            if ok and isinstance(new, int) and new >= 0 and ofd is not None:
                self._install(proc.fdt, new, ofd, cmd == "F_DUPFD_CLOEXEC", released)
                ev["newfd"] = new
        elif cmd == "F_SETFD" and ok and fd is not None and fd in proc.fdt.fds:
            if "FD_CLOEXEC" in (toks.get(2)):
                proc.fdt.cloexec.add(fd)
            else:
                proc.fdt.cloexec.discard(fd)
        elif cmd.startswith(("F_SETLK", "F_OFD_SETLK")) and toks.get(2):
            m = _LOCK_FIELDS.search(toks[2])
            if m:
                op = {"F_WRLCK": "ex", "F_RDLCK": "sh"}.get(m.group(1), "un")
                ev["lock"] = {"op": op, "kind": "ofd" if cmd.startswith("F_OFD") else "posix",
                              "start": parse_int(m.group(2)) or 0, "len": parse_int(m.group(3)) or 0,
                              "wait": cmd.rstrip("64").endswith("W")}
                ofd = proc.fdt.fds.get(fd) if fd is not None else None
                if ok and op != "un" and ofd is not None:
                    ofd.locked = True

    def _flock(self, proc: Process, tid: int, toks: Args, ev: Event,
               ret_path: str | None, released: list[OpenFile]) -> None:
        self._fd_event_path(proc, ev, toks[0])
        how = toks[1]
        op = "ex" if "LOCK_EX" in how else "sh" if "LOCK_SH" in how else "un"
        ev["flags"] = how
        ev["lock"] = {"op": op, "kind": "flock", "start": 0, "len": 0,
                      "wait": "LOCK_NB" not in how}
        ofd = proc.fdt.fds.get(ev.get("fd", -1))
        if ofd is None and ev.get("fd") is not None and ev.get("errno") is None:
            ofd = self._new_ofd(ev.get("path"))
            self._install(proc.fdt, ev["fd"], ofd, False, released)
            ev["ofd"] = ofd.id
        if ofd is not None and op != "un" and ev.get("errno") is None:
            ofd.locked = True

    # --------------------------------------------------------- cwd syscalls

