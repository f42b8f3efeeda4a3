"""Make untrusted strings (file names, argv from traced programs) safe to show.

Traced programs choose their file names, so a name may hold terminal
escape sequences, rich markup, HTML or bytes that are not UTF-8.  Every
string that came from the log goes through ``printable`` before it reaches
a terminal; renderers also pass it as plain ``rich.text.Text`` (never as
markup), and the HTML renderer escapes it again for HTML.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, and the lone surrogates that stand for non-UTF-8
# bytes (surrogateescape).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\udc80-\udcff]")


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(ch, f"\\x{code:02x}")


def printable(text: object) -> str:
    """Return ``text`` with control characters and raw bytes shown as escapes."""
    if text is None:
        return "?"
    s = str(text)
    return _UNSAFE.sub(_escape, s) if _UNSAFE.search(s) else s
