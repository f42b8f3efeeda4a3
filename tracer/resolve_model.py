"""What the resolver keeps of the kernel's state, and how it reads arguments.

Open file descriptions (which follow renames and remember locks), fd
tables, working-directory state, processes; the argument tokenizer
``Args``; lexical path normalisation; and small token decoders.  The
resolver (``tracer/resolve.py``) updates these as it reads the log.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from .strace_parse import decode_string, split_args

AT_FDCWD = -100

Event = dict[str, Any]


_NUM = re.compile(r"-?\d+")


class OpenFile:
    """One open file description: what an fd points to, shared by dups."""

    __slots__ = ("id", "path", "refs", "locked")

    def __init__(self, ofd_id: int, path: str | None):
        self.id = ofd_id
        self.path = path
        self.refs = 0
        self.locked = False


class FdTable:
    """An fd table: fd -> OpenFile plus the close-on-exec set."""

    __slots__ = ("fds", "cloexec", "users", "stale")

    def __init__(self) -> None:
        self.fds: dict[int, OpenFile] = {}
        self.cloexec: set[int] = set()
        # fd -> the file it held before a new open got the same number: its
        # close (by another thread) returned first but is printed later.
        self.stale: dict[int, OpenFile] = {}
        self.users = 1  # processes sharing this table (CLONE_FILES without a thread)


class FsState:
    """The filesystem context of a process (its cwd), shared by CLONE_FS."""

    __slots__ = ("cwd", "users")

    def __init__(self, cwd: str | None):
        self.cwd = cwd
        self.users = 1  # processes sharing it (CLONE_FS without a thread)


class Process:
    """A traced process (thread group)."""

    __slots__ = ("pid", "key", "parent", "fdt", "fs", "tids", "exited", "argv")

    def __init__(self, pid: int, key: str, parent: "Process | None",
                 fdt: FdTable, fs: FsState):
        self.pid = pid
        self.key = key
        self.parent = parent
        self.fdt = fdt
        self.fs = fs
        self.tids: set[int] = {pid}
        self.exited = False
        self.argv: list[str] | None = None


# One simple argument token: a C string (maybe cut, "..."...), or a run of
# plain characters (fd, flags, number) with an optional fd decoration.  Up
# to five leading tokens are cut by one match; a structured token ({...},
# [...]) stops the match and the rest falls back to the full splitter.
_TOK = (r'("[^"\\]*+(?:\\.[^"\\]*+)*+"(?:\.\.\.)?'
        r'|[^,"<>{}\[\]()\s][^,"<>{}\[\]()]*+'
        r'(?:<[^<>\\]*+(?:(?:\\.|<[^<>]*>)[^<>\\]*+)*+>(?:\(deleted\))?)?)')
_SEP = r'\s*(?:,\s*|\Z)'
_LEAD = re.compile(r'\s*' + _TOK + _SEP + ('(?:' + _TOK + _SEP) * 4 + ')?' * 4)


class Args:
    """The arguments of a call, split lazily: handlers index only what they need.

    The leading simple tokens (fds, strings, flags) come from one regex
    match; the first structured token (``{...}``, ``[...]``) makes later
    indexes fall back to the full splitter.  Most calls never need it.
    """

    __slots__ = ("text", "_toks", "_full")

    def __init__(self, text: str):
        self.text = text
        self._toks: list[str] | None = None
        self._full = False

    def _lead(self) -> list[str]:
        m = _LEAD.match(self.text)
        if m is None:
            self._split_all()
        else:
            self._toks = [g for g in m.groups() if g is not None]
            self._full = m.end() >= len(self.text)
        return self._toks

    def _split_all(self) -> None:
        self._toks = split_args(self.text)
        self._full = True

    def __getitem__(self, i: int) -> str:
        toks = self._toks
        if toks is None:
            toks = self._lead()
        if i < len(toks):
            return toks[i]
        if not self._full:
            self._split_all()
            return self._toks[i]
        raise IndexError(i)

    def get(self, i: int) -> str:
        """Token ``i``, or '' when the call has fewer arguments."""
        try:
            return self[i]
        except IndexError:
            return ""

    def __len__(self) -> int:
        if not self._full:
            self._split_all()
        return len(self._toks)


_NEEDS_NORM = re.compile(r"//|/\.\.?(?:/|\Z)|./\Z")


def normalize(path: str) -> str:
    """Lexically normalise an absolute path (no symlink resolution)."""
    if _NEEDS_NORM.search(path):
        path = posixpath.normpath(path)
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
    return path


def parse_int(token: str) -> int | None:
    """Parse an integer token as strace prints it (decimal, hex or ~0U forms)."""
    try:
        return int(token, 0)
    except (ValueError, TypeError):
        m = _NUM.match(token or "")
        return int(m.group()) if m else None


def strip_deleted(path: str) -> str:
    """Drop the `` (deleted)`` suffix that ``-y`` prints for an unlinked file."""
    return path[:-10] if path.endswith(" (deleted)") else path


def string_value(token: str) -> str | None:
    """The text of a C string token, or None when the token is not a string."""
    decoded = decode_string(token)
    return decoded[0] if decoded else None


def decode_array(token: str) -> list[str]:
    """Decode a strace string array like ``["sh", "-c", "x"...]``."""
    token = token.strip()
    if not token.startswith("["):
        return []
    inner = token[1:token.rfind("]")] if "]" in token else token[1:]
    out = []
    for item in split_args(inner):
        decoded = decode_string(item)
        if decoded is not None:
            out.append(decoded[0] + ("..." if decoded[1] else ""))
    return out

