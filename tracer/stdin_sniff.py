"""Standard input that can be looked at before it is read.

``fsrace analyze -`` and ``fsrace import -`` take an event log or strace
text on stdin, and must judge junk there as they judge it in a file.  A
pipe cannot be rewound, so the first lines are read ahead into a buffer and
replayed: ``peek_stdin()`` returns them, and ``stdin_bytes()`` is the whole
of standard input, those lines first.  Every reader of stdin in fsrace goes
through ``stdin_bytes()`` so that nothing read ahead is lost.  Gzip data on
stdin is decompressed, as a ``.gz`` file is (a pipe has no name to tell).
"""

from __future__ import annotations

import gzip
import io
import sys
import zlib
from typing import Any

#: Look-ahead limits: the strace sniff reads up to 200 lines.
PEEK_LINES = 200
PEEK_BYTES = 1 << 20


class _Replay(io.RawIOBase):
    """Raw stream: the bytes read ahead first, then the rest of ``raw``."""

    def __init__(self, raw: Any):
        super().__init__()
        self.raw = raw
        self.head = b""     # everything peeked so far
        self._pos = 0       # how much of head has been handed out
        self.started = False
        self.error: BaseException | None = None  # what ended the look-ahead

    def readable(self) -> bool:
        return True

    def peek(self, max_lines: int, max_bytes: int) -> bytes:
        """Read ahead up to ``max_lines`` whole lines / ``max_bytes``; return the head.

        A read error (corrupt gzip) ends the look-ahead; the real read
        meets it again and reports it where input errors are reported.
        """
        if self.started:
            return self.head
        lines = self.head.count(b"\n")
        while lines < max_lines and len(self.head) < max_bytes:
            try:
                line = self.raw.readline(max_bytes - len(self.head))
            except (OSError, EOFError, zlib.error) as exc:
                self.error = exc
                break
            if not line:
                break
            self.head += line
            lines += 1
        return self.head

    def peek_bytes(self, n: int) -> bytes:
        """The first ``n`` bytes (fewer at the end), without consuming them."""
        if len(self.head) < n and not self.started:
            self.head += self.raw.read(n - len(self.head))
        return self.head[:n]

    def readinto(self, b: Any) -> int:
        self.started = True
        if self._pos < len(self.head):
            n = min(len(b), len(self.head) - self._pos)
            b[:n] = self.head[self._pos:self._pos + n]
            self._pos += n
            return n
        read = getattr(self.raw, "read1", None) or self.raw.read
        data = read(len(b))
        n = len(data)
        b[:n] = data
        return n


_CACHE: dict[str, tuple[Any, _Replay, io.BufferedReader]] = {}


def _replay() -> tuple[_Replay, io.BufferedReader]:
    raw = sys.stdin.buffer
    cached = _CACHE.get("stdin")
    # Keyed on the object: a test runner swaps sys.stdin between runs.
    if cached is None or cached[0] is not raw:
        rep = _Replay(raw)
        if rep.peek_bytes(2) == b"\x1f\x8b":
            rep = _Replay(gzip.GzipFile(fileobj=io.BufferedReader(rep), mode="rb"))
        cached = (raw, rep, io.BufferedReader(rep, buffer_size=1 << 20))
        _CACHE["stdin"] = cached
    return cached[1], cached[2]


def peek_stdin(max_lines: int = PEEK_LINES, max_bytes: int = PEEK_BYTES) -> bytes:
    """The first lines of standard input, without consuming them.

    Raises the read error (OSError, EOFError, zlib.error: corrupt gzip)
    when not even one byte could be read.
    """
    rep = _replay()[0]
    head = rep.peek(max_lines, max_bytes)
    if not head and rep.error is not None:
        raise rep.error
    return head


def stdin_bytes() -> io.BufferedReader:
    """Standard input as bytes, starting with whatever was peeked."""
    return _replay()[1]
