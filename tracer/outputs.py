"""Output files that are never half-written: checked first, written beside, renamed.

Every file fsrace writes (event logs, reports, a kept strace log) goes
through here:

* ``check_output`` runs before any work starts (before ``fsrace record``
  starts the command): the folder exists and is writable, the name is not a
  folder, and the output is not one of the inputs (same path, a symlink to
  it, or a hard link: the same inode) -- writing it would destroy the input.
* ``AtomicOutput`` writes to a hidden ``.NAME.PID.partial`` beside the final
  name (same file system, so the rename is atomic), fsyncs it and renames it
  into place only when complete; on failure it removes it, so an older file
  of that name is left untouched.
* ``clean_stale`` removes the hidden partial files an earlier fsrace left
  when it was killed (SIGKILL, power loss): only ours (the name pattern),
  only when their pid is no longer running.
"""

from __future__ import annotations

import errno
import glob
import os
import re
import stat
import tempfile
from contextlib import contextmanager
from typing import Iterable, Iterator

#: A partial file fsrace writes beside its output: .NAME.PID.partial[.gz]
_PARTIAL = re.compile(r"^\.(?P<base>.+)\.(?P<pid>\d+)\.partial(?:\.gz)?$")


class OutputError(Exception):
    """An output cannot be written; ``str()`` names the path and the reason."""


def describe_os_error(exc: OSError) -> str:
    """The reason of an OSError in words ("No space left on device")."""
    return exc.strerror or str(exc)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def partial_name(output: str) -> str:
    """The hidden name beside ``output`` where it is written until complete."""
    folder, base = os.path.split(output)
    gz = ".gz" if base.endswith(".gz") else ""
    return os.path.join(folder, f".{base}.{os.getpid()}.partial{gz}")


def final_path(output: str) -> str:
    """Where ``output`` really is: a symlink is followed, so its target is
    replaced (not the link)."""
    return os.path.realpath(output) if os.path.islink(output) else output


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _expand(inputs: Iterable[str]) -> list[str]:
    """The files the inputs name (a -ff prefix names PREFIX.PID files)."""
    found = []
    for name in inputs:
        if not name or name == "-":
            continue
        if os.path.exists(name):
            found.append(name)
        else:
            found.extend(p for p in glob.glob(glob.escape(name) + ".*")
                         if p.rsplit(".", 1)[-1].isdigit())
    return found


def check_output(output: str | None, inputs: Iterable[str] = (), what: str = "output") -> None:
    """Raise OutputError unless ``output`` can be written (and is no input).

    Called before any work is done, so nothing is lost to an unusable path.
    ``-`` and None (standard output) always pass.
    """
    if output in (None, "-"):
        return
    target = final_path(output)
    for name in _expand(inputs):
        if _same_file(name, output):
            how = "" if os.path.abspath(name) == os.path.abspath(output) else \
                f" (the same file as {name})"
            raise OutputError(
                f"cannot write the {what} {output}: it is an input{how}, and writing it would "
                f"destroy it. Choose another output name.")
    if os.path.isdir(target):
        raise OutputError(f"cannot write the {what} {output}: it is a directory. "
                          f"Give a file name (e.g. {os.path.join(output, 'out.jsonl')}).")
    folder = os.path.dirname(target) or "."
    if not os.path.exists(folder):
        raise OutputError(f"cannot write the {what} {output}: the directory {folder} "
                          f"does not exist. Create it or choose another location.")
    if not os.path.isdir(folder):
        raise OutputError(f"cannot write the {what} {output}: {folder} is not a directory.")
    try:
        fd, probe = tempfile.mkstemp(prefix=".fsrace-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"cannot write the {what} {output}: {describe_os_error(exc)} "
                          f"(in {folder}). Choose a writable location.") from None


def clean_stale(output: str | None) -> list[str]:
    """Remove partial files of ``output`` left by an fsrace that was killed.

    Only files named like ours whose writer pid is no longer running; returns
    the paths removed.
    """
    if output in (None, "-"):
        return []
    folder, base = os.path.split(final_path(output))
    removed = []
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return []
    for name in names:
        m = _PARTIAL.match(name)
        if m is None or m.group("base") != base:
            continue
        pid = int(m.group("pid"))
        if pid == os.getpid() or _pid_alive(pid):
            continue
        path = os.path.join(folder, name)
        try:
            os.unlink(path)
            removed.append(path)
        except OSError:
            pass
    return removed


class AtomicOutput:
    """Write ``output`` through a hidden partial file renamed into place.

    ``path`` is where to write; ``commit()`` fsyncs it and renames it to the
    final name; ``discard()`` removes it.  Standard output (``-``) and
    outputs that exist but are not regular files (``/dev/null``, a FIFO) are
    written directly: renaming onto them would replace the device.
    """

    def __init__(self, output: str):
        self.output = output
        self.final = final_path(output)
        direct = output == "-"
        try:
            direct = direct or not stat.S_ISREG(os.stat(self.final).st_mode)
        except OSError:
            pass
        self.path = self.final if direct else partial_name(self.final)
        self.direct = direct
        self.done = False

    def commit(self) -> None:
        """Make the written file the output (atomic rename after fsync)."""
        if self.done:
            return
        self.done = True
        if self.direct:
            return
        try:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self.path, self.final)
        except OSError as exc:
            self.discard()
            raise OutputError(f"cannot write {self.output}: {describe_os_error(exc)}") from None

    @contextmanager
    def writing(self, what: str,
                passing: tuple[type[BaseException], ...] = ()) -> Iterator["AtomicOutput"]:
        """Guard the writing of the output (not its commit).

        An OSError becomes an OutputError that names the output and the
        reason (``what`` is the kind of output, e.g. "event log"); on any
        other way out the partial file is discarded.  Exceptions in
        ``passing`` go up untouched, the partial file kept, for the caller
        to decide (keep what an interrupted write wrote, say).
        """
        try:
            yield self
        except passing:
            raise
        except OSError as exc:
            self.discard()
            raise OutputError(f"cannot write the {what} {self.output}: "
                              f"{describe_os_error(exc)}") from None
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Remove the partial file (the final name is left as it was)."""
        self.done = True
        if not self.direct:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise
