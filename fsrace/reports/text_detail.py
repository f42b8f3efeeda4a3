"""The detail behind ``fsrace analyze --all``: every race site and its interleaving.

Two layouts each: a table when the terminal is wide enough, a list that
never squeezes a column to nothing when it is not.  Strings from the
traced programs are ``printable`` and passed as ``Text`` (never markup).
"""

from __future__ import annotations

import posixpath

from rich.console import Console
from rich.table import Table
from rich.text import Text

from fsrace.analyzers.accesses import A_ERRNO, A_OP, A_OTHER, A_PATH, A_PROC, A_SEQ, A_SYSCALL, A_TS
from fsrace.analyzers.analyze import Analysis
from fsrace.analyzers.sites import Finding
from fsrace.reports.safe_text import printable
from fsrace.reports.text_words import SEVERITY_STYLE, access_text, fit_path, gap_words

#: Rows of context shown around a conflicting pair.
CONTEXT = 3
#: Below this width the list layouts are used.
TABLE_WIDTH = 120


def _argv(argv: list[str] | None, width: int = 90) -> str:
    """A short command line: the program's base name and its arguments."""
    if not argv:
        return "?"
    text = " ".join([argv[0].rsplit("/", 1)[-1], *argv[1:]])
    return printable(text if len(text) <= width else text[:width - 3] + "...")


def _proc_label(a: Analysis, idx: int) -> str:
    return f"pid {a.history.processes[idx].key}"


def _relative(a: Analysis, ts: float | None) -> str:
    base = a.history.first_ts
    if ts is None or base is None:
        return ""
    return f"+{(ts - base) * 1000:.3f} ms"


def _short(path: str | None, base: str) -> str:
    if path and base and path.startswith(base + "/"):
        return path[len(base) + 1:]
    return path or "?"


def _access_text(acc: tuple, highlight: bool, base: str = "") -> Text:
    text = Text()
    text.append(acc[A_SYSCALL], style="bold" if highlight else "")
    text.append(" ")
    text.append(printable(_short(acc[A_PATH], base)))
    if acc[A_OTHER] is not None and acc[A_OP] == "rename-from":
        text.append(" -> " + printable(_short(acc[A_OTHER], base)))
    if acc[A_ERRNO] is not None:
        text.append(f"  = -1 {acc[A_ERRNO]}", style="bold red")
    return text


def _rel(a: Analysis, path: str | None) -> str:
    """A path relative to the recorded command's directory, when under it."""
    cwd = a.header.get("cwd")
    if path and cwd and cwd != "/" and path.startswith(cwd.rstrip("/") + "/"):
        return "./" + path[len(cwd.rstrip("/")) + 1:]
    return path or "?"


def sites_table(a: Analysis, findings: list[Finding]) -> Table:
    """Race sites: severity, kind, pattern, count, processes."""
    table = Table(title="Race sites", title_justify="left", expand=False)
    table.add_column("id", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("syscalls", no_wrap=True)
    table.add_column("site (pattern)", overflow="fold")
    table.add_column("count", justify="right")
    table.add_column("processes")
    procs = a.history.processes
    for f in findings:
        pids = sorted(procs[i].key for i in f.procs())
        shown = ", ".join(pids[:6]) + (f" +{len(pids) - 6}" if len(pids) > 6 else "")
        table.add_row(Text(f.id), Text(f.severity, style=SEVERITY_STYLE[f.severity]), Text(f.kind),
                      Text(f.verdict), Text(" / ".join(f.syscalls)), Text(printable(_rel(a, f.site))),
                      Text(str(f.count)), Text(shown))
    return table


def interleaving(a: Analysis, f: Finding) -> Table:
    """The example of a finding: one column per process, time going down."""
    c = f.example
    assert c is not None
    h = a.history
    left, right = c.culprit[A_PROC], c.victim[A_PROC]
    lo, hi = sorted((c.culprit[A_SEQ], c.victim[A_SEQ]))
    related = {c.culprit[A_PATH], c.victim[A_PATH]}
    for acc in (c.culprit, c.victim):
        if acc[A_OTHER]:
            related.add(acc[A_OTHER])
    rows: list[tuple] = []
    for path in related:
        for acc in h.paths.get(path, ()):
            if acc[A_PROC] in (left, right):
                rows.append(acc)
    # A rename gives two accesses (old and new name): show the call once.
    by_seq: dict[int, tuple] = {}
    for acc in rows:
        if acc[A_SEQ] not in by_seq or acc[A_OP] == "rename-from" or acc in (c.culprit, c.victim):
            by_seq[acc[A_SEQ]] = acc
    rows = sorted(by_seq.values(), key=lambda acc: acc[A_SEQ])
    before = [r for r in rows if r[A_SEQ] < lo][-CONTEXT:]
    inside = [r for r in rows if lo <= r[A_SEQ] <= hi]
    if len(inside) > 2 * CONTEXT + 2:
        inside = inside[:CONTEXT] + [r for r in inside if r[A_SEQ] in (lo, hi)] + inside[-CONTEXT:]
        inside = sorted(set(inside), key=lambda acc: acc[A_SEQ])
    after = [r for r in rows if r[A_SEQ] > hi][:CONTEXT]
    shown_rows = before + inside + after
    base = _common_dir([r[A_PATH] for r in shown_rows] +
                       [r[A_OTHER] for r in shown_rows if r[A_OTHER]])
    title = Text(f"{f.id} {f.kind} ({f.verdict}, {f.severity}) at ", style=SEVERITY_STYLE[f.severity])
    title.append(printable(f.site))
    if base:
        title.append(f"\n   paths below {printable(base)}/", style="dim")
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("", no_wrap=True)
    table.add_column("seq", justify="right")
    table.add_column("time", justify="right")
    table.add_column(Text(f"{_proc_label(a, left)} ({'culprit' if left != right else ''})"
                          + " " + _argv(h.processes[left].argv)), overflow="fold")
    table.add_column(Text(f"{_proc_label(a, right)} (victim) " + _argv(h.processes[right].argv)),
                     overflow="fold")
    for acc in shown_rows:
        hot = acc[A_SEQ] in (c.culprit[A_SEQ], c.victim[A_SEQ])
        cell = _access_text(acc, hot, base)
        if hot:
            cell.stylize("reverse")
        cols = [cell, Text("")] if acc[A_PROC] == left else [Text(""), cell]
        table.add_row(Text(">>" if hot else "", style="bold"), Text(str(acc[A_SEQ])),
                      Text(_relative(a, acc[A_TS])), *cols)
    return table


def _common_dir(paths: list[str]) -> str:
    """The deepest directory containing every path (or '' if only '/')."""
    paths = [p for p in paths if p]
    if not paths:
        return ""
    common = posixpath.commonpath(paths)
    if common in paths and len(set(paths)) > 1 or len(set(paths)) == 1:
        common = posixpath.dirname(common)
    return "" if common in ("/", "") else common




def sites_list(a: Analysis, findings: list[Finding], width: int, base: str) -> list[Text]:
    """Race sites as a list (two lines each): for terminals too narrow for the table."""
    out = [Text("Race sites", style="bold underline")]
    procs = a.history.processes
    for f in findings:
        pids = sorted(procs[i].key for i in f.procs())
        shown = ", ".join(pids[:4]) + (f" +{len(pids) - 4}" if len(pids) > 4 else "")
        line = Text(f"{f.id} ", style="bold")
        line.append(f.severity, style=SEVERITY_STYLE[f.severity])
        line.append(f" {f.kind}, {f.verdict}, {' / '.join(f.syscalls)} ×{f.count}; pids {shown}")
        out.append(line)
        out.append(Text("   " + fit_path(f.site, width - 3, base)))
    return out


def interleaving_list(a: Analysis, f: Finding, width: int, base: str) -> list[Text]:
    """A finding's example as a list, cause before effect: for narrow terminals."""
    c = f.example
    assert c is not None
    title = Text(f"{f.id} {f.kind} ({f.verdict}, {f.severity})", style=SEVERITY_STYLE[f.severity])
    lines = [title, Text("   at " + fit_path(f.site, width - 6, base))]
    lines.append(Text("   ").append(access_text(a, c.culprit, width - 3, base)))
    lines.append(Text("   " + gap_words(c) + ",", style="dim"))
    lines.append(Text("   ").append(access_text(a, c.victim, width - 3, base)))
    return lines


def render_detail(a: Analysis, console: Console, findings: list[Finding], base: str) -> None:
    """Every listed race site, then each one's interleaving."""
    width = console.width
    if not findings:
        return
    console.print()
    if width >= TABLE_WIDTH:
        console.print(sites_table(a, findings))
    else:
        for line in sites_list(a, findings, width, base):
            console.print(line)
    for f in findings:
        console.print()
        if width >= TABLE_WIDTH:
            console.print(interleaving(a, f))
        else:
            for line in interleaving_list(a, f, width, base):
                console.print(line)
        if f.judged_by == "time":
            console.print(Text("  judged by time: this log cannot show locks or waits "
                               "(backend " + printable(a.header.get("backend")) + "); the two "
                               "processes' operations on this path interleaved", style="dim"))
        else:
            console.print(Text("  nothing orders these two operations: no common lock, "
                               "no fork/wait between the processes", style="dim"))
