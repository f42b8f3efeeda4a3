"""Small wording helpers the terminal reports share: paths, times, accesses, copies.

Everything from the traced programs goes through ``printable`` here, and
the callers put it into ``rich.text.Text`` (never markup).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from fsrace.analyzers.accesses import (A_ERRNO, A_OP, A_OTHER, A_PATH, A_PROC, A_SEQ, A_SYSCALL,
                                       A_TS, A_TS_END)
from fsrace.analyzers.analyze import Analysis
from fsrace.analyzers.root_causes import display_base, launcher_indexes, program_of
from fsrace.reports.safe_text import printable

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}

#: What the culprit's operation is called in "1.7 ms after the removal".
_NOUNS = {"remove": "removal", "rename-from": "rename", "rename-to": "rename",
          "create": "creation", "write": "write", "read": "read", "check": "check"}


def fit_path(path: str | None, width: int, base: str = "") -> str:
    """``path`` relative to ``base``, shortened in the middle to ``width`` characters.

    Whole directory names are dropped from the middle first (``a/…/y/z``);
    only a last name longer than the width is cut, keeping its end.
    """
    if not path:
        return "?"
    text = printable(path)
    if base and text.startswith(base.rstrip("/") + "/"):
        text = text[len(base.rstrip("/")) + 1:]
    width = max(width, 12)
    if len(text) <= width:
        return text
    parts = text.split("/")
    head, tail = parts[:1], parts[1:]
    while len(tail) > 1 and len("/".join(head + ["…"] + tail)) > width:
        tail = tail[1:]
    out = "/".join(head + ["…"] + tail)
    if len(out) > width:
        out = "…/" + tail[-1]
    if len(out) > width:
        out = "…" + tail[-1][-(width - 1):]
    return out


def report_base(a: Analysis) -> str:
    """The directory the report's paths are shown relative to."""
    dirs = [rc.resource.rsplit("/", 1)[0] if "*" in rc.resource.rsplit("/", 1)[-1]
            else rc.resource for rc in a.root_causes]
    if not dirs:
        dirs = [f.example.victim[A_PATH].rsplit("/", 1)[0] for f in a.findings if f.example]
    return display_base(dirs, a.header.get("cwd"))


def gap_words(c: Any) -> str:
    """When the victim's call came, read cause → effect.

    "1.7 ms after the removal" when the culprit's call returned before the
    victim's began; calls that overlapped in time say so (their log order
    alone cannot tell which took effect first).
    """
    cul, vic = c.culprit, c.victim
    noun = _NOUNS.get(cul[A_OP], "call")
    t_end = cul[A_TS_END] if cul[A_TS_END] is not None else cul[A_TS]
    t_vic = vic[A_TS]
    if cul[A_TS] is None or t_vic is None:
        return "after the " + noun if cul[A_SEQ] < vic[A_SEQ] else "during the " + noun
    if t_end is not None and t_end <= t_vic:
        return f"{_ms(t_vic - t_end)} after the {noun}"
    return f"while the {noun} was running (the calls overlapped)"


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    if ms < 0.01:
        return "<0.01 ms"
    if ms < 10:
        return f"{ms:.2f} ms"
    if ms < 10000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.1f} s"


def access_text(a: Analysis, acc: tuple, width: int, base: str, pid: bool = True) -> Text:
    """``pid 123 unlinkat path = -1 ENOENT`` with the path fitted to ``width``."""
    p = a.history.processes[acc[A_PROC]]
    text = Text()
    if pid:
        text.append(f"pid {printable(p.key)} ", style="bold")
    text.append(acc[A_SYSCALL] + " ")
    errno = f" = -1 {acc[A_ERRNO]}" if acc[A_ERRNO] else ""
    room = width - len(text.plain) - len(errno)
    if acc[A_OTHER] is not None and acc[A_OP] in ("rename-from", "rename-to"):
        src, dst = (acc[A_PATH], acc[A_OTHER]) if acc[A_OP] == "rename-from" else \
            (acc[A_OTHER], acc[A_PATH])
        one = fit_path(src, room, base) + " -> " + fit_path(dst, room, base)
        if len(one) <= room:
            text.append(one)
        else:  # the new name on its own line, under the old one
            text.append(fit_path(src, room, base))
            text.append("\n  -> " + fit_path(dst, width - 5, base))
    else:
        text.append(fit_path(acc[A_PATH], room, base))
    if errno:
        text.append(errno, style="bold red")
    return text


def status_words(p: Any) -> str:
    """``exit 2`` or ``killed by SIGKILL``."""
    return f"killed by {p.signal}" if p.signal else f"exit {p.exit_code}"


def copies_of(a: Analysis) -> list[int]:
    """The copies of the command: process indexes.

    The recorder's trailer names them; else the children of a lone root that
    run one program (``sh -c 'uv sync & uv sync & wait'``); else the roots.
    """
    h = a.history
    skip = launcher_indexes(h, a.trailer)
    pids = [c.get("pid") for c in (a.trailer.get("copies") or []) if isinstance(c, dict)]
    if pids:
        want = set(pids)
        found = [p.idx for p in h.processes if p.pid in want and p.idx not in skip
                 and (p.parent is None or p.parent in skip or h.processes[p.parent].pid not in want)]
        if found:
            return found
    roots = [p.idx for p in h.processes if p.parent is None]
    if len(roots) == 1:
        root = h.processes[roots[0]]
        groups: dict[str, list[int]] = {}
        for c in root.children:
            groups.setdefault(program_of(h.processes[c].argv)[0], []).append(c)
        if groups:
            best = max(groups.values(), key=len)
            if len(best) >= 2 or roots[0] in skip:
                return best
    return [r for r in roots if r not in skip]


def program_label(a: Analysis, idxs: list[int]) -> str:
    """The one program label of these processes, or ''."""
    labels = {program_of(a.history.processes[i].argv)[1] for i in idxs}
    return labels.pop() if len(labels) == 1 else ""


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 copy``, ``2 copies``."""
    return f"{n} {word if n == 1 else (many or word + 's')}"
