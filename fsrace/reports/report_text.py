"""The terminal report (rich): summary, failures, race sites, interleavings.

Every string that came from the traced programs (paths, argv) is passed as
``rich.text.Text`` after ``printable`` — never as markup — so a file named
``[bold red]x[/]`` or holding an ANSI escape prints as literal text.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from fsrace.reports.safe_text import printable

from fsrace.analyzers.accesses import A_ERRNO, A_OP, A_OTHER, A_PATH, A_PROC, A_SEQ, A_SYSCALL, A_TS
from fsrace.analyzers.analyze import Analysis
from fsrace.analyzers.conflict import Conflict
from fsrace.analyzers.sites import Finding

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}

#: Findings whose example interleaving is printed (most severe first).
MAX_EXAMPLES = 8
#: Findings listed under each failed process.
MAX_EXPLANATIONS = 3
#: Rows of context shown around a conflicting pair.
CONTEXT = 3


def _argv(argv: list[str] | None, width: int = 90) -> str:
    """A short command line: the program's base name and its arguments."""
    if not argv:
        return "?"
    text = " ".join([argv[0].rsplit("/", 1)[-1], *argv[1:]])
    return printable(text if len(text) <= width else text[:width - 3] + "...")


def _proc_label(a: Analysis, idx: int) -> str:
    p = a.history.processes[idx]
    return f"pid {p.key}"


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


def summary_line(a: Analysis) -> Text:
    """One line: processes, failures, findings by severity."""
    counts = {"error": 0, "warning": 0, "info": 0}
    for f in a.findings:
        counts[f.severity] += 1
    h = a.history
    launcher = a.trailer.get("launcher_pid")
    failed = sum(1 for idx in a.explanations
                 if not (h.processes[idx].pid == launcher and h.processes[idx].parent is None))
    line = Text("fsrace: ", style="bold")
    line.append(f"{len(h.processes)} processes, {h.events} events, {failed} failed; ")
    line.append(f"{counts['error']} error", style=SEVERITY_STYLE["error"] if counts["error"] else "")
    line.append(f", {counts['warning']} warning",
                style=SEVERITY_STYLE["warning"] if counts["warning"] else "")
    line.append(f", {counts['info']} info finding{'s' if counts['info'] != 1 else ''}")
    if a.trailer.get("interrupted"):
        line.append("  (recording was interrupted)", style="yellow")
    if a.trailer.get("incomplete"):
        line.append("  (event log has no trailer: cut short)", style="yellow")
    return line


def failures_block(a: Analysis) -> list[Text]:
    """Each failed process with the findings that explain it."""
    out: list[Text] = []
    procs = a.history.processes
    by_id = {f.id: f for f in a.findings}
    launcher = a.trailer.get("launcher_pid")
    for idx, ids in sorted(a.explanations.items(), key=lambda kv: procs[kv[0]].first_seq):
        p = procs[idx]
        if launcher is not None and p.pid == launcher and p.parent is None:
            continue  # fsrace's own launcher: it fails when a copy fails
        status = f"killed by {p.signal}" if p.signal else f"exit {p.exit_code}"
        line = Text(f"pid {p.key} ({status}) ", style="bold")
        line.append(_argv(p.argv))
        out.append(line)
        if not ids:
            related = a.related.get(idx, [])
            if related:
                out.append(Text("  no failed file operation explains it; it took part in races "
                                + ", ".join(related[:6]) + (" …" if len(related) > 6 else "")
                                + " (no call failed, so they may or may not be the cause)",
                                style="yellow"))
            else:
                out.append(Text("  not explained by a file-system race", style="dim"))
            continue
        for fid in ids[:MAX_EXPLANATIONS]:
            f = by_id[fid]
            c = next((c for c in f.conflicts
                      if c.victim[A_PROC] in a.history.descendants_or_self(idx)), f.example)
            culprit = procs[c.culprit[A_PROC]]
            victim = procs[c.victim[A_PROC]]
            line = Text(f"  {fid} {f.kind}: ", style=SEVERITY_STYLE[f.severity])
            line.append(f"pid {culprit.key} {c.culprit[A_SYSCALL]} ")
            line.append(printable(_rel(a, c.culprit[A_PATH])))
            line.append(f" (seq {c.culprit[A_SEQ]}); pid {victim.key} then {c.victim[A_SYSCALL]} ")
            line.append(printable(_rel(a, c.victim[A_PATH])))
            line.append(f" = -1 {c.victim[A_ERRNO]}" if c.victim[A_ERRNO] else " ok")
            gap = _gap(c)
            if gap:
                line.append(f" {gap}")
            line.append("; nothing ordered them")
            out.append(line)
        if len(ids) > MAX_EXPLANATIONS:
            out.append(Text(f"  and {len(ids) - MAX_EXPLANATIONS} more: "
                            + ", ".join(ids[MAX_EXPLANATIONS:]), style="dim"))
    return out


def _gap(c: Conflict) -> str:
    t0, t1 = c.culprit[A_TS], c.victim[A_TS]
    if t0 is None or t1 is None:
        return ""
    d = (t1 - t0) * 1000
    return f"{abs(d):.3f} ms {'later' if d >= 0 else 'earlier'}"


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
    import posixpath

    paths = [p for p in paths if p]
    if not paths:
        return ""
    common = posixpath.commonpath(paths)
    if common in paths and len(set(paths)) > 1 or len(set(paths)) == 1:
        common = posixpath.dirname(common)
    return "" if common in ("/", "") else common


def render_text(a: Analysis, console: Console, *, min_severity: str = "warning") -> None:
    """Print the whole report to ``console``."""
    console.print(summary_line(a))
    if a.header.get("cwd"):
        console.print(Text("paths starting with ./ are relative to " + printable(a.header["cwd"]),
                           style="dim"))
    fails = failures_block(a)
    if fails:
        console.print()
        console.print(Text("Failed processes", style="bold underline"))
        for line in fails:
            console.print(line)
    rank = {"info": 0, "warning": 1, "error": 2}
    listed = [f for f in a.findings if rank[f.severity] >= rank[min_severity]]
    infos = [f for f in a.findings if rank[f.severity] < rank[min_severity]]
    if listed:
        console.print()
        console.print(sites_table(a, listed))
        shown = listed[:MAX_EXAMPLES]
        for f in shown:
            console.print()
            console.print(interleaving(a, f))
            if f.judged_by == "time":
                console.print(Text("  judged by time: this log cannot show locks or waits "
                                   "(backend " + str(a.header.get("backend")) + "); the two "
                                   "processes' operations on this path interleaved", style="dim"))
            else:
                console.print(Text("  nothing orders these two operations: no common lock, "
                                   "no fork/wait between the processes", style="dim"))
        hidden = len(listed) - len(shown)
        if hidden > 0:
            console.print(Text(f"({hidden} more examples: use --format json for all)", style="dim"))
    else:
        console.print(Text("No races found: every conflicting access was ordered.", style="green"))
    if infos:
        kinds = sorted({f"{f.kind} ({f.note or 'safe by design'})" for f in infos})
        console.print(Text(f"{len(infos)} info site{'s' if len(infos) != 1 else ''} not listed "
                           f"(safe by design): " + "; ".join(kinds[:4])
                           + ("; …" if len(kinds) > 4 else "") + ". --format json lists them.",
                           style="dim"))
    warnings = list(a.trailer.get("warnings") or [])
    if a.trailer.get("unparsed"):
        warnings.append(f"{a.trailer['unparsed']} log lines were not understood "
                        f"(first at line {a.trailer['unparsed_samples'][0]['line']})"
                        if a.trailer.get("unparsed_samples") else "")
    for w in warnings:
        if w:
            console.print(Text("warning: " + printable(w), style="yellow"))


__all__ = ["render_text", "summary_line", "Group"]
