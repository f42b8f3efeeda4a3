"""The terminal report, diagnosis first.

1. a headline: processes, how many copies failed, how many root causes;
2. the root causes, ranked: statement, evidence (cause → effect), what did
   not order them, the fix;
3. one line per failed copy naming its failed call and root cause; helper
   processes that failed with no race involved on one line;
4. with ``--all`` (or ``-v``): every race site and its interleaving
   (``text_detail``);
5. a closing summary line, like pytest's.

Every string that came from the traced programs (paths, argv) is passed as
``rich.text.Text`` after ``printable`` — never as markup — so a file named
``[bold red]x[/]`` or holding an ANSI escape prints as literal text.
"""

from __future__ import annotations

from rich.console import Console
from rich.padding import Padding
from rich.text import Text

from fsrace.analyzers.accesses import A_PROC
from fsrace.analyzers.analyze import Analysis
from fsrace.analyzers.root_causes import RootCause, launcher_indexes, program_of
from fsrace.analyzers.sites import Finding
from fsrace.reports.safe_text import printable
from fsrace.reports.text_detail import render_detail
from fsrace.reports.text_words import (SEVERITY_RANK, SEVERITY_STYLE, access_text, copies_of,
                                       fit_path, gap_words, plural, program_label, report_base,
                                       status_words)

#: Root causes shown in full by default (the rest get one line each).
MAX_ROOT_CAUSES = 3
#: Failed processes listed one by one before "and N more".
MAX_FAILED = 12


def _indent(text: Text, n: int = 3) -> Padding:
    """A paragraph wrapped at the terminal width with a hanging indent."""
    return Padding(text, (0, 0, 0, n), expand=False)


def selected(a: Analysis, min_severity: str = "warning",
             only: str | None = None) -> tuple[list[RootCause], list[Finding]]:
    """The root causes and findings the filters keep."""
    floor = SEVERITY_RANK[min_severity]
    findings = [f for f in a.findings if SEVERITY_RANK[f.severity] >= floor
                and (only != "manifested" or f.verdict == "manifested")]
    rcs = [rc for rc in a.root_causes if SEVERITY_RANK[rc.severity] >= floor
           and (only != "manifested" or rc.manifested)]
    return rcs, findings


def _failed(a: Analysis) -> list[int]:
    """Failed processes, fsrace's launcher never among them."""
    skip = launcher_indexes(a.history, a.trailer)
    return [i for i in a.explanations if i not in skip]


def _listed(a: Analysis) -> list[int]:
    """The failed processes that count: copies, and others a race touched.

    Helpers that failed with no race involved (a shim's ``readlink``) are
    not among them: they get one collapsed line.
    """
    copies = set(copies_of(a))
    return [i for i in _failed(a) if i in copies or a.explanations.get(i) or a.related.get(i)]


def _parent_only(a: Analysis, idx: int) -> bool:
    """True for a process that failed because a failed child did (a wrapping shell)."""
    victim = a.first_errors.get(idx)
    return victim is not None and victim[A_PROC] != idx and victim[A_PROC] in a.explanations


def _failed_words(a: Analysis) -> tuple[int, tuple[str, str]]:
    """How many failed processes count, and what to call them."""
    listed = [i for i in _listed(a) if not _parent_only(a, i)]
    copies = set(copies_of(a))
    noun = ("failed copy", "failed copies") if set(listed) <= copies else \
        ("failed process", "failed processes")
    return len(listed), noun


def headline(a: Analysis, rcs: list[RootCause]) -> Text:
    """``fsrace: 11 processes; 9 of 10 copies of `uv sync -q` failed; 2 root causes``."""
    copies = copies_of(a)
    failed = set(_failed(a))
    bad = [i for i in copies if i in failed]
    label = program_label(a, copies)
    if len(label) > 24:  # the executable and subcommand are enough to name them
        label = program_of(a.history.processes[copies[0]].argv)[0]
    line = Text("fsrace: ", style="bold")
    line.append(f"{plural(len(a.history.processes), 'process', 'processes')}; ")
    of = f" of `{printable(label)}`" if label and len(copies) > 1 else ""
    line.append(f"{len(bad)} of {plural(len(copies), 'copy', 'copies')}{of} failed",
                style="bold red" if bad else "green")
    others = len([i for i in _listed(a) if not _parent_only(a, i)]) - len(bad)
    if others:
        line.append(f" (+{others} other failed process{'es' if others != 1 else ''})")
    line.append("; ")
    line.append(plural(len(rcs), "root cause"),
                style=SEVERITY_STYLE["error"] if any(r.severity == "error" for r in rcs) else "")
    lost = len(getattr(a, "lost_outputs", ()) or ())
    if lost:
        # Silent damage: nobody failed, yet outputs are gone (lost-output).
        line.append(f"; {lost} process{'es' if lost != 1 else ''} exited 0 but lost outputs",
                    style="bold red")
    if a.trailer.get("interrupted"):
        line.append("  (recording was interrupted)", style="yellow")
    if a.trailer.get("incomplete"):
        line.append("  (event log has no trailer: cut short)", style="yellow")
    return line


def root_cause_block(a: Analysis, rc: RootCause, width: int, base: str,
                     failed_total: int) -> list:
    """One root cause: title, statement, evidence, missing order, fix."""
    out: list = []
    title = Text(f"{rc.id} ", style="bold")
    title.append(rc.severity, style=SEVERITY_STYLE[rc.severity])
    if rc.explains:
        total, noun = _failed_words(a)
        title.append(f" · explains {len(rc.explains)} of {plural(total, *noun)}",
                     style="bold")
    else:
        title.append(" · explains no failed process")
    title.append(f" · {plural(len(rc.finding_ids), 'finding')}, {plural(rc.count, 'pair')}")
    out.append(title)
    out.append(_indent(Text(printable(rc.statement) + ".")))
    c = rc.example
    if c is not None:
        w = width - 14
        ev = Text(f"evidence {rc.evidence}: ", style="dim")
        ev.append(access_text(a, c.culprit, w, base))
        out.append(_indent(ev))
        then = Text(f"then, {gap_words(c)}: ", style="dim")
        out.append(_indent(then))
        out.append(_indent(access_text(a, c.victim, width - 5, base), 5))
        if not c.victim[4]:
            out.append(_indent(Text("(the call succeeded this time; the order was luck)",
                                    style="dim"), 5))
    out.append(_indent(Text("nothing ordered them: " + printable(rc.missing_order), style="dim")))
    fix = Text("fix: ", style="bold green")
    fix.append(printable(rc.fix))
    out.append(_indent(fix))
    out.append(_indent(Text("kinds: " + ", ".join(rc.kinds) + f" · fsrace explain LOG {rc.id}",
                            style="dim")))
    return out


def failed_lines(a: Analysis, width: int, base: str) -> list:
    """One line per failed copy (and explained process); helpers on one line."""
    h = a.history
    procs = h.processes
    rc_of: dict[int, str] = {}
    for rc in a.root_causes:
        for i in rc.explains:
            rc_of.setdefault(i, rc.id)
    copies = set(copies_of(a))
    failed = sorted(_failed(a), key=lambda i: procs[i].first_seq)
    keep = set(_listed(a))
    listed = [i for i in failed if i in keep]
    helpers = [i for i in failed if i not in keep]
    out: list = []
    if not failed:
        return out
    out.append(Text("Failed processes", style="bold underline"))
    for idx in listed[:MAX_FAILED]:
        p = procs[idx]
        line = Text(f"pid {printable(p.key)} {status_words(p)}: ", style="bold")
        ids = a.explanations.get(idx) or []
        victim = a.first_errors.get(idx)
        cause = Text()
        parent_only = _parent_only(a, idx)
        if ids and victim is not None and not parent_only:
            cause.append(" ← ", style="dim")
            cause.append(rc_of.get(idx, "?"), style="bold")
            cause.append(f" ({ids[0]})", style="dim")
        room = width - len(line.plain) - len(cause.plain) - 3
        if ids and parent_only:
            child = procs[victim[A_PROC]]
            line.append(Text(f"its child pid {printable(child.key)} failed", style="dim"))
        elif victim is not None and ids:
            line.append(access_text(a, victim, room, base, pid=False))
        elif p.failed_calls:
            seq, name, path, errno = p.failed_calls[-1]
            line.append(f"{name} {fit_path(path, room - len(name) - len(errno) - 6, base)} "
                        f"= -1 {errno}")
            cause.append(" — no race explains it", style="dim")
        else:
            line.append(printable(program_of(p.argv)[1]))
            related = a.related.get(idx) or []
            cause.append(" — no failed call; took part in " + ", ".join(related[:4])
                         if related else " — not explained by a file-system race", style="dim")
        line.append(cause)
        out.append(_indent(line, 2))
    if len(listed) > MAX_FAILED:
        out.append(_indent(Text(f"and {len(listed) - MAX_FAILED} more (--format json lists them)",
                                style="dim"), 2))
    if helpers:
        names: dict[str, int] = {}
        for i in helpers:
            name = program_of(procs[i].argv)[0]
            names[name] = names.get(name, 0) + 1
        words = ", ".join(f"{printable(n)} ×{k}" if k > 1 else printable(n)
                          for n, k in sorted(names.items(), key=lambda kv: (-kv[1], kv[0])))
        out.append(_indent(Text(f"{plural(len(helpers), 'helper process', 'helper processes')} "
                                f"exited non-zero with no race involved: {words}", style="dim"), 2))
    return out


def closing_line(a: Analysis, rcs: list[RootCause], width: int) -> Text:
    """The last line, like pytest's: copies, root causes, findings by severity."""
    counts = {"error": 0, "warning": 0, "info": 0}
    for f in a.findings:
        counts[f.severity] += 1
    copies = copies_of(a)
    failed = set(_failed(a))
    bad = sum(1 for i in copies if i in failed)
    explained = len({i for rc in rcs for i in rc.explains})
    parts = [f"{bad} of {plural(len(copies), 'copy', 'copies')} failed"]
    lost = len(getattr(a, "lost_outputs", ()) or ())
    if lost:
        parts.append(f"{lost} exited 0 but lost outputs")
    if rcs:
        parts.append(f"{plural(len(rcs), 'root cause')} ({explained} failure"
                     f"{'s' if explained != 1 else ''} explained)")
    else:
        parts.append("no races")
    parts.append(f"{counts['error']} error, {counts['warning']} warning, {counts['info']} info "
                 f"finding{'s' if sum(counts.values()) != 1 else ''}")
    body = " " + "; ".join(parts) + " "
    if len(body) + 4 > width:  # a narrow terminal: the short form, still one line
        body = (f" {bad}/{len(copies)} failed; "
                + (f"{lost} exited 0 but lost outputs; " if lost else "")
                + f"{len(rcs)} root cause{'s' if len(rcs) != 1 else ''}; "
                f"{counts['error']} err, {counts['warning']} warn, {counts['info']} info ")
    style = "bold red" if counts["error"] or bad else ("yellow" if counts["warning"] else "green")
    pad = max((width - len(body)) // 2, 2)
    return Text("=" * pad + body + "=" * max(width - pad - len(body), 2), style=style)


def _notes(a: Analysis, findings: list[Finding], rcs: list[RootCause], detail: bool,
           min_severity: str) -> list[Text]:
    """Hidden detail, info sites and the log's warnings, before the closing line."""
    out: list[Text] = []
    if not detail and findings:
        out.append(Text(f"{plural(len(findings), 'finding')} behind these root causes: "
                        "--all lists every site and interleaving; "
                        "fsrace explain LOG R1 tells a root cause's story.", style="dim"))
    infos = [f for f in a.findings if SEVERITY_RANK[f.severity] < SEVERITY_RANK[min_severity]]
    if infos:
        kinds = sorted({f.kind for f in infos})
        out.append(Text(f"{plural(len(infos), 'info site')} not listed (safe by design): "
                        + ", ".join(kinds)
                        + ". --min-severity info lists them.", style="dim"))
    warnings = [str(w) for w in (a.trailer.get("warnings") or [])]
    if a.trailer.get("unparsed"):
        samples = a.trailer.get("unparsed_samples") or []
        first = f" (first at line {samples[0].get('line')})" if samples and isinstance(samples[0], dict) else ""
        warnings.append(f"{a.trailer['unparsed']} log lines were not understood{first}")
    for w in warnings:
        out.append(Text("warning: " + printable(w), style="yellow"))
    return out


def render_text(a: Analysis, console: Console, *, min_severity: str = "warning",
                detail: bool = False, only: str | None = None, quiet: bool = False) -> None:
    """Print the report to ``console``: diagnosis first, detail with ``detail``.

    ``min_severity`` and ``only="manifested"`` filter the root causes and
    findings shown (the closing line still counts every finding); ``quiet``
    prints the headline, one line per root cause and the closing line.
    """
    width = console.width
    rcs, findings = selected(a, min_severity, only)
    base = report_base(a)
    console.print(headline(a, rcs))
    if quiet:
        for rc in rcs:
            console.print(Text(f"{rc.id} ", style="bold").append(
                rc.severity, style=SEVERITY_STYLE[rc.severity]).append(
                f" (explains {len(rc.explains)}): " + printable(rc.statement)))
        console.print(closing_line(a, rcs, width))
        return
    if base:
        console.print(Text("paths below " + printable(base) + "/", style="dim"))
    failed_total = len(_failed(a))
    for i, rc in enumerate(rcs):
        console.print()
        if detail or (i < MAX_ROOT_CAUSES and (rc.explains or not any(r.explains for r in rcs))):
            for part in root_cause_block(a, rc, width, base, failed_total):
                console.print(part)
        elif i < MAX_ROOT_CAUSES:
            # It broke nothing this run: what it is, and where its evidence is.
            for part in root_cause_block(a, rc, width, base, failed_total)[:2]:
                console.print(part)
            console.print(_indent(Text(f"kinds: {', '.join(rc.kinds)} · evidence and fix: "
                                       f"fsrace explain LOG {rc.id} (or --all)", style="dim")))
        else:
            console.print(Text(f"{rc.id} {rc.severity}: ", style=SEVERITY_STYLE[rc.severity])
                          .append(printable(rc.statement)))
    if not rcs:
        console.print()
        if findings:
            console.print(Text("No root cause at or above --min-severity; see --all.", style="dim"))
        else:
            console.print(Text("No races found: every conflicting access was ordered.",
                               style="green"))
    fails = failed_lines(a, width, base)
    if fails:
        console.print()
        for line in fails:
            console.print(line)
    if detail:
        render_detail(a, console, findings, base)
    notes = _notes(a, findings, rcs, detail, min_severity)
    if notes:
        console.print()
        for line in notes:
            console.print(line)
    console.print(closing_line(a, rcs, width))


__all__ = ["render_text", "headline", "closing_line", "selected"]
