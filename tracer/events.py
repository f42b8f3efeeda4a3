"""The event model shared by every backend and every analyzer.

An event log is a header, a stream of events and a trailer (see
``tracer/eventlog.py`` for the file format).  Events are plain dicts so that
they serialise with the C JSON encoder and load without a class per line;
this module names their fields and documents what each one means, so that
producers and consumers agree on one vocabulary.

Every event has:

``seq``     global sequence number (order of completion in the log, from 1)
``type``    one of ``EVENT_TYPES``
``ts``      enter time in seconds (epoch for ``clock == "unix"``), or absent
``ts_end``  exit time in seconds when known (``-T`` or a resumed line)
``pid``     the process (thread-group) id
``tid``     the thread id that made the call
``proc``    the process identity: the pid, plus ``~N`` for the N-th process
            that reused that pid within one log (``"4242"``, ``"4242~2"``)

``syscall`` events (and ``exec``/``fork``/``wait``, which are syscalls too)
add ``syscall`` (name), ``result`` (int, or the raw text when it is not a
number, or null when the call never returned), ``errno`` (``"ENOENT"`` …),
``args`` (the raw argument text exactly as strace printed it), and
where they apply:

``path``        the first path argument, resolved to an absolute, lexically
                normalised path (or the path of the fd for fd-based calls)
``path2``       the second path (rename/link target, symlink name)
``fd``          the fd argument, or the fd returned by the open family
``dirfd``       the directory fd of an ``*at`` call when it is not AT_FDCWD
``flags``       the flags argument as printed (``O_WRONLY|O_CREAT|O_EXCL``)
``unresolved``  true when a path could not be resolved (``path`` is null and
                the raw argument is in ``args``); never a guess
``truncated``   true when strace cut a path string (``-s``)
``ofd``         id of the open file description an fd refers to (shared by
                dup and fork), on open/close/flock/fcntl-lock events
``last``        on ``close``: true when that was the last reference to the
                open file description (flock locks are released then)
``lock``        on lock calls: ``{"op": "ex"|"sh"|"un", "kind": "flock"|
                "posix"|"ofd", "start": int, "len": int, "wait": bool}``

``fork`` events add ``child`` (pid), ``child_proc``, ``thread`` (bool: a new
thread of the same process, not a process), ``vfork`` (bool).
``exec`` events add ``path``, ``argv`` (list of str).
``exit`` events add ``code`` (int) or ``signal`` (``"SIGKILL"``) and
``core``; ``released_ofds`` lists the locked open file descriptions whose last
reference died with the process.
``wait`` events add ``child``, ``child_proc``, ``code``/``signal``.
``signal`` events add ``signal`` and ``info`` (raw text).
``release`` events (synthetic) say that a locked open file description lost
its last reference other than by ``close`` (exec with O_CLOEXEC, dup2 over
it, close_range): ``ofd``, ``path``.

The header of a log written by ``fsrace record`` (strace backend) also has
``copies``, ``strace_argv``, ``strace_version``, ``start_time`` and
``live_import`` (true when the log was imported while strace wrote it, false
with ``--import-after``; the events are the same either way); its trailer has
``copies`` (pid, exit_code, signal per copy), ``launcher_pid``,
``exit_status``, ``duration`` (seconds strace ran) and ``recorder_warnings``.

Strings that came from the traced programs may hold any bytes: they are
decoded as UTF-8 with ``surrogateescape`` so ``os.fsencode`` restores the
original bytes; JSON stores the surrogates as ``\\udcXX`` escapes.
"""

from __future__ import annotations

#: The kinds of records an event log holds.
EVENT_TYPES = ("syscall", "fork", "exec", "exit", "wait", "signal", "release")

#: Format name written in every event-log header.
FORMAT = "fsrace-events"

#: Current event-log format version.  A reader accepts any minor version of
#: its major version and refuses other majors with a clear message.
VERSION = "1.0"

#: Format name of the trailer line that closes a complete log.
TRAILER_FORMAT = "fsrace-events-trailer"


def proc_key(pid: int, incarnation: int) -> str:
    """Return the process identity string for the N-th process with ``pid``."""
    return str(pid) if incarnation <= 1 else f"{pid}~{incarnation}"
