"""Per-process state that turns syscall arguments into absolute paths.

The resolver is fed completed syscalls in log order (the strace importer
joins unfinished/resumed lines and decides which process a line belongs to)
and emits one event dict per call.  It keeps, per process, what the kernel
keeps and the log only shows indirectly:

* the working directory (``chdir``/``fchdir``, learnt from ``getcwd`` and
  from ``-y`` decorations of ``AT_FDCWD``), shared with ``CLONE_FS`` and
  copied on fork;
* the fd table: fd -> open file description (shared by ``dup`` and fork),
  close-on-exec bits, shared by threads (``CLONE_FILES``);
* the open file descriptions themselves, whose paths follow renames of the
  file or of any ancestor directory, and which remember whether they ever
  held a lock (so that the analyzer can be told when that lock dies).

Nothing is guessed: a relative path whose base is unknown is emitted with
``path: null`` and ``unresolved: true``.  Paths are normalised lexically
(``a/./b/../c`` -> ``a/c``); symlinks are not followed, because the log does
not say what they pointed to at the time.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from .events import proc_key
from .resolve_fds import FdCalls
from .resolve_model import (AT_FDCWD, Args, Event, FdTable, FsState, OpenFile, Process,
                            decode_array, normalize, parse_int, string_value, strip_deleted)
from .strace_parse import decode_fd, decode_string


_CLONE_FLAGS = re.compile(r"flags=([A-Z0-9_|]+)")
_WAIT_EXIT = re.compile(r"WEXITSTATUS\(s\) == (\d+)")
_WAIT_SIG = re.compile(r"WTERMSIG\(s\) == (\w+)")
_SI_PID = re.compile(r"si_pid=(\d+)")
_SI_CODE = re.compile(r"si_code=(\w+)")
_SI_STATUS = re.compile(r"si_status=(\w+)")

#: Results of ``waitid``'s si_code that mean the child is gone.
_CHILD_ENDED = {"CLD_EXITED", "CLD_KILLED", "CLD_DUMPED"}


class Resolver(FdCalls):
    """Feeds on completed syscalls, keeps process state, emits events.

    ``emit`` receives each finished event dict (the caller numbers it).
    ``initial_cwd`` is the working directory of processes whose start the
    log does not show (known to ``fsrace record``; optional on import).
    """

    def __init__(self, emit: Callable[[Event], None], initial_cwd: str | None = None):
        self._emit = emit
        self.initial_cwd = initial_cwd
        self.threads: dict[int, Process] = {}
        self.processes: list[Process] = []
        self._incarnations: dict[int, int] = {}
        self._live_ofds: dict[int, OpenFile] = {}
        # Live cwds, which follow renames like open files do.
        self._fs_states: dict[int, FsState] = {}
        self._next_ofd = 1
        self.paths = 0
        self.unresolved = 0
        self.truncated = 0
        self.unknown_fds = 0
        self.child_processes = 0
        self._handlers = _HANDLERS

    # ----------------------------------------------------------------- processes

    def new_root(self, tid: int) -> Process:
        """Register a process whose creation the log does not show."""
        return self._new_process(tid, None, FdTable(), self._new_fs(self.initial_cwd))

    def _new_fs(self, cwd: str | None) -> FsState:
        fs = FsState(cwd)
        self._fs_states[id(fs)] = fs
        return fs

    def _new_process(self, pid: int, parent: Process | None, fdt: FdTable,
                     fs: FsState) -> Process:
        n = self._incarnations.get(pid, 0) + 1
        self._incarnations[pid] = n
        proc = Process(pid, proc_key(pid, n), parent, fdt, fs)
        self.threads[pid] = proc
        self.processes.append(proc)
        return proc

    def rebind(self, old_tid: int, new_tid: int) -> None:
        """Give the process known under a placeholder tid its real pid."""
        proc = self.threads.pop(old_tid)
        proc.tids.discard(old_tid)
        proc.tids.add(new_tid)
        if proc.pid == old_tid:
            proc.pid = new_tid
            proc.key = proc_key(new_tid, 1)
        self.threads[new_tid] = proc

    def live_processes(self) -> list[Process]:
        """Processes that have not exited yet."""
        return [p for p in self.processes if not p.exited]

    def _fd_path(self, proc: Process, token: str) -> str | None:
        """Path of an fd argument: the fd table, else its -y decoration.

        The table holds the lexical path the program used (and follows
        renames); strace's decoration is the kernel's canonical path, with
        symlinks resolved.  Preferring the table keeps the events the same
        whether or not the log was made with ``-y``; the decoration fills in
        fds opened before the trace began.
        """
        if token == "AT_FDCWD":
            return proc.fs.cwd
        if token.isdigit():
            ofd = proc.fdt.fds.get(int(token))
            return ofd.path if ofd is not None else None
        parsed = decode_fd(token)
        if parsed is None:
            return None
        fd, deco = parsed
        if fd == AT_FDCWD:
            if proc.fs.cwd is None and deco is not None and deco.startswith("/"):
                proc.fs.cwd = strip_deleted(deco)
            return proc.fs.cwd
        ofd = proc.fdt.fds.get(fd)
        if ofd is not None and ofd.path is not None:
            return ofd.path
        if deco is not None and deco.startswith("/"):
            deco = strip_deleted(deco)
            if ofd is not None:
                ofd.path = deco
            return deco
        return None

    def _path(self, proc: Process, ev: Event, dirtok: str | None, pathtok: str,
              empty_ok: bool = False) -> str | None:
        """Resolve a path argument (relative to ``dirtok`` or the cwd)."""
        self.paths += 1
        # Most paths hold no escape: skip the decoder for them.
        if pathtok[-1:] == '"' and pathtok[:1] == '"' and "\\" not in pathtok \
                and len(pathtok) > 1:
            decoded = (pathtok[1:-1], False)
        else:
            decoded = decode_string(pathtok)
        if decoded is None:
            if empty_ok and pathtok == "NULL" and dirtok is not None:
                return self._base(proc, ev, dirtok)
            self.unresolved += 1
            ev["unresolved"] = True
            return None
        text, cut = decoded
        if cut:
            self.truncated += 1
            self.unresolved += 1
            ev["truncated"] = True
            ev["unresolved"] = True
            return None
        if text.startswith("/"):
            return normalize(text)
        if text == "" and empty_ok and dirtok is not None:
            return self._base(proc, ev, dirtok)
        base = self._fd_path(proc, dirtok) if dirtok is not None else proc.fs.cwd
        if base is None:
            self.unresolved += 1
            ev["unresolved"] = True
            return None
        if text == "":
            return base
        return normalize(base + "/" + text if base != "/" else "/" + text)

    def _base(self, proc: Process, ev: Event, dirtok: str) -> str | None:
        """The path of the fd itself (``AT_EMPTY_PATH``, a NULL path)."""
        self.paths -= 1  # an fd-based call, not a path argument
        path = self._fd_path(proc, dirtok)
        if path is None:
            self.unknown_fds += 1
            ev["unresolved"] = True
        return path

    def _fd_event_path(self, proc: Process, ev: Event, token: str) -> None:
        """Fill ``fd``/``path``/``ofd`` of an fd-based call."""
        parsed = decode_fd(token)
        if parsed is None:
            return
        ev["fd"] = parsed[0]
        path = self._fd_path(proc, token)
        if path is None:
            # Not a path argument: an fd opened before the trace began, or a
            # pipe/socket.  Counted apart from unresolved path arguments.
            self.unknown_fds += 1
            ev["unresolved"] = True
        ev["path"] = path
        ofd = proc.fdt.fds.get(parsed[0])
        if ofd is not None:
            ev["ofd"] = ofd.id

    def _follow_rename(self, old: str, new: str, exchange: bool) -> None:
        """Make fds and cwds that point at or under ``old`` follow it to ``new``."""
        old_pfx, new_pfx = old + "/", new + "/"
        for holder in (*self._live_ofds.values(), *self._fs_states.values()):
            path = holder.path if isinstance(holder, OpenFile) else holder.cwd
            if path is None:
                continue
            moved = None
            if path == old or path.startswith(old_pfx):
                moved = new + path[len(old):]
            elif exchange and (path == new or path.startswith(new_pfx)):
                moved = old + path[len(new):]
            if moved is not None:
                if isinstance(holder, OpenFile):
                    holder.path = moved
                else:
                    holder.cwd = moved

    # ------------------------------------------------------------ the entry

    def call(self, tid: int, name: str, args: str, ret: str | None, errno: str | None,
             ts: float | None, ts_end: float | None, ret_path: str | None) -> None:
        """Process one completed syscall made by thread ``tid``."""
        proc = self.threads.get(tid)
        if proc is None:
            proc = self.new_root(tid)
        result: Any = ret
        if ret is not None:
            try:
                result = int(ret)
            except ValueError:
                try:
                    result = int(ret, 16) if ret.startswith("0x") else ret
                except ValueError:
                    result = ret
        ev: Event = {"seq": 0, "type": "syscall", "ts": ts, "pid": proc.pid, "tid": tid,
                     "proc": proc.key, "syscall": name, "result": result}
        if ts_end is not None:
            ev["ts_end"] = ts_end
        if errno is not None:
            ev["errno"] = errno
        toks = Args(args)
        ev["args"] = args
        handler = self._handlers.get(name)
        released: list[OpenFile] = []
        if handler is not None:
            try:
                handler(self, proc, tid, toks, ev, ret_path, released)
            except IndexError:
                # Fewer arguments than the syscall has: a cut line or an
                # unfinished call that never resumed.  Keep the raw event.
                ev["incomplete"] = True
        self._emit(ev)
        if released:
            self._emit_releases(proc, tid, ev, released)

    def exited(self, tid: int, code: int | None, signal: str | None, core: bool,
               ts: float | None) -> None:
        """A thread or process ended (``+++ exited with N +++`` / ``killed by``)."""
        proc = self.threads.get(tid)
        if proc is None:
            proc = self.new_root(tid)
        if tid != proc.pid and proc.pid in proc.tids:
            # A thread of a live process: the process goes on.
            proc.tids.discard(tid)
            self.threads.pop(tid, None)
            return
        released: list[OpenFile] = []
        proc.fdt.users -= 1
        if proc.fdt.users <= 0:
            for fd in list(proc.fdt.fds):
                self._drop_fd(proc.fdt, fd, released)
        proc.fs.users -= 1
        if proc.fs.users <= 0:
            self._fs_states.pop(id(proc.fs), None)
        proc.exited = True
        for t in proc.tids:
            if self.threads.get(t) is proc:
                del self.threads[t]
        ev: Event = {"seq": 0, "type": "exit", "ts": ts, "pid": proc.pid, "tid": tid, "proc": proc.key}
        if signal is not None:
            ev["signal"] = signal
            ev["core"] = core
        else:
            ev["code"] = code
        if released:
            ev["released_ofds"] = [o.id for o in released]
            ev["released_paths"] = [o.path for o in released]
        self._emit(ev)

    def signal(self, tid: int, signame: str, info: str, ts: float | None) -> None:
        """A signal was delivered to thread ``tid``."""
        proc = self.threads.get(tid) or self.new_root(tid)
        self._emit({"seq": 0, "type": "signal", "ts": ts, "pid": proc.pid, "tid": tid,
                    "proc": proc.key, "signal": signame, "info": info})

    def lookup(self, pid: int) -> Process | None:
        """The newest process with this pid (live or exited)."""
        proc = self.threads.get(pid)
        if proc is not None:
            return proc
        for p in reversed(self.processes):
            if p.pid == pid:
                return p
        return None

    # ------------------------------------------------------ process syscalls

    def _fork(self, proc: Process, tid: int, toks: Args, ev: Event,
              ret_path: str | None, released: list[OpenFile]) -> None:
        child = ev["result"]
        if not isinstance(child, int) or child <= 0:
            return
        name = ev["syscall"]
        flags = ""
        if name in ("clone", "clone3"):
            for tok in toks:
                m = _CLONE_FLAGS.search(tok)
                if m:
                    flags = m.group(1)
                    break
            ev["flags"] = flags
        thread = "CLONE_THREAD" in flags
        ev["type"] = "fork"
        ev["child"] = child
        ev["thread"] = thread
        ev["vfork"] = name == "vfork" or "CLONE_VFORK" in flags
        if thread:
            proc.tids.add(child)
            self.threads[child] = proc
            ev["child_proc"] = proc.key
            return
        if "CLONE_FILES" in flags:
            fdt = proc.fdt
            fdt.users += 1
        else:
            fdt = FdTable()
            for fd, ofd in proc.fdt.fds.items():
                ofd.refs += 1
                fdt.fds[fd] = ofd
            fdt.cloexec = set(proc.fdt.cloexec)
        if "CLONE_FS" in flags:
            fs = proc.fs
            fs.users += 1
        else:
            fs = self._new_fs(proc.fs.cwd)
        child_proc = self._new_process(child, proc, fdt, fs)
        child_proc.argv = proc.argv
        self.child_processes += 1
        ev["child_proc"] = child_proc.key

    def _exec(self, proc: Process, tid: int, toks: Args, ev: Event,
              ret_path: str | None, released: list[OpenFile]) -> None:
        at = ev["syscall"] == "execveat"
        dirtok = toks[0] if at else None
        ev["path"] = self._path(proc, ev, dirtok, toks[1] if at else toks[0])
        if ev.get("errno") is not None or ev["result"] not in (0, None):
            return
        argv = decode_array(toks[2] if at else toks[1])
        ev["type"] = "exec"
        ev["argv"] = argv
        proc.argv = argv
        fdt = proc.fdt
        for fd in list(fdt.cloexec):
            self._drop_fd(fdt, fd, released)

    def _wait(self, proc: Process, tid: int, toks: Args, ev: Event,
              ret_path: str | None, released: list[OpenFile]) -> None:
        result = ev["result"]
        if ev["syscall"] == "wait4":
            if not isinstance(result, int) or result <= 0:
                return
            child, status = result, toks.get(1)
            m = _WAIT_EXIT.search(status)
            if m:
                ev["code"] = int(m.group(1))
            m = _WAIT_SIG.search(status)
            if m:
                ev["signal"] = m.group(1)
            if "WIFSTOPPED" in status or "WIFCONTINUED" in status:
                return
        else:
            info = toks.get(2)
            m, code = _SI_PID.search(info), _SI_CODE.search(info)
            if result != 0 or not m or not code or code.group(1) not in _CHILD_ENDED:
                return
            child = int(m.group(1))
            status = _SI_STATUS.search(info)
            if status:
                if code.group(1) == "CLD_EXITED":
                    ev["code"] = parse_int(status.group(1))
                else:
                    ev["signal"] = status.group(1)
            if "WNOWAIT" in (toks.get(3)):
                ev["nowait"] = True
        ev["type"] = "wait"
        ev["child"] = child
        target = self.lookup(child)
        if target is not None:
            ev["child_proc"] = target.key

    # --------------------------------------------------------- fd syscalls

    def _chdir(self, proc: Process, tid: int, toks: Args, ev: Event,
               ret_path: str | None, released: list[OpenFile]) -> None:
        if ev["syscall"] == "fchdir":
            self._fd_event_path(proc, ev, toks[0])
            path = ev.get("path")
        else:
            path = ev["path"] = self._path(proc, ev, None, toks[0])
        if ev.get("errno") is None and ev["result"] == 0:
            proc.fs.cwd = path

    def _getcwd(self, proc: Process, tid: int, toks: Args, ev: Event,
                ret_path: str | None, released: list[OpenFile]) -> None:
        if ev.get("errno") is not None:
            return
        decoded = decode_string(toks[0])
        if decoded and not decoded[1] and decoded[0].startswith("/"):
            ev["path"] = proc.fs.cwd = normalize(decoded[0])

    # ---------------------------------------------------- path syscalls

    def _one_path(self, proc: Process, tid: int, toks: Args, ev: Event,
                  ret_path: str | None, released: list[OpenFile]) -> None:
        """``name(path, ...)``: stat, lstat, access, mkdir, rmdir, unlink, …"""
        ev["path"] = self._path(proc, ev, None, toks[0])
        if ev["syscall"] in ("mkdir", "chmod", "access", "mknod"):
            ev["flags"] = toks.get(1) or None

    def _at_path(self, proc: Process, tid: int, toks: Args, ev: Event,
                 ret_path: str | None, released: list[OpenFile]) -> None:
        """``name(dirfd, path, ...)``: the *at family with one path."""
        empty_ok = True
        ev["path"] = self._path(proc, ev, toks[0], toks[1], empty_ok)
        if not toks[0].startswith("AT_FDCWD"):
            fd = decode_fd(toks[0])
            if fd is not None:
                ev["dirfd"] = fd[0]
        name = ev["syscall"]
        if name in ("unlinkat", "mkdirat", "faccessat", "faccessat2", "fchmodat",
                    "newfstatat", "statx", "utimensat", "fchownat", "fchmodat2"):
            flag_idx = {"unlinkat": 2, "mkdirat": 2, "newfstatat": 3, "statx": 2,
                        "utimensat": 3, "fchownat": 4, "faccessat2": 3,
                        "fchmodat2": 3}.get(name)
            if flag_idx is not None:
                ev["flags"] = toks.get(flag_idx) or None

    def _two_paths(self, proc: Process, tid: int, toks: Args, ev: Event,
                   ret_path: str | None, released: list[OpenFile]) -> None:
        """rename/link family, symlink (``path2`` is the second path)."""
        name = ev["syscall"]
        if name in ("rename", "link"):
            ev["path"] = self._path(proc, ev, None, toks[0])
            ev["path2"] = self._path(proc, ev, None, toks[1])
        elif name == "symlink":
            ev["target"] = string_value(toks[0])
            ev["path"] = self._path(proc, ev, None, toks[1])
        elif name == "symlinkat":
            ev["target"] = string_value(toks[0])
            ev["path"] = self._path(proc, ev, toks[1], toks[2])
        else:
            ev["path"] = self._path(proc, ev, toks[0], toks[1])
            ev["path2"] = self._path(proc, ev, toks[2], toks[3])
            if toks.get(4):
                ev["flags"] = toks[4]
        if name.startswith("rename") and ev.get("errno") is None and ev["result"] == 0:
            old, new = ev.get("path"), ev.get("path2")
            if old and new:
                self._follow_rename(old, new, "RENAME_EXCHANGE" in (ev.get("flags") or ""))

    def _fd_only(self, proc: Process, tid: int, toks: Args, ev: Event,
                 ret_path: str | None, released: list[OpenFile]) -> None:
        """fstat, getdents64, ftruncate, fchmod, fchown: the fd's path."""
        self._fd_event_path(proc, ev, toks[0])



_HANDLERS: dict[str, Callable[..., None]] = {}
for _name in ("fork", "vfork", "clone", "clone3"):
    _HANDLERS[_name] = Resolver._fork
for _name in ("execve", "execveat"):
    _HANDLERS[_name] = Resolver._exec
for _name in ("wait4", "waitid"):
    _HANDLERS[_name] = Resolver._wait
for _name in ("open", "openat", "openat2", "creat"):
    _HANDLERS[_name] = Resolver._open
_HANDLERS["close"] = Resolver._close
_HANDLERS["close_range"] = Resolver._close_range
for _name in ("dup", "dup2", "dup3"):
    _HANDLERS[_name] = Resolver._dup
_HANDLERS["fcntl"] = Resolver._fcntl
_HANDLERS["fcntl64"] = Resolver._fcntl
_HANDLERS["flock"] = Resolver._flock
for _name in ("chdir", "fchdir"):
    _HANDLERS[_name] = Resolver._chdir
_HANDLERS["getcwd"] = Resolver._getcwd
for _name in ("stat", "lstat", "access", "mkdir", "rmdir", "unlink", "truncate",
              "chmod", "chown", "lchown", "readlink", "mknod", "stat64", "lstat64"):
    _HANDLERS[_name] = Resolver._one_path
for _name in ("newfstatat", "fstatat64", "statx", "faccessat", "faccessat2", "mkdirat",
              "unlinkat", "readlinkat", "utimensat", "fchmodat", "fchmodat2", "fchownat",
              "mknodat"):
    _HANDLERS[_name] = Resolver._at_path
for _name in ("rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat"):
    _HANDLERS[_name] = Resolver._two_paths
for _name in ("fstat", "fstat64", "getdents64", "getdents", "ftruncate", "fchmod",
              "fchown", "fsync", "fdatasync"):
    _HANDLERS[_name] = Resolver._fd_only
