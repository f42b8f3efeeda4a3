"""The terminal rendering of ``fsrace compare``'s result (see
``fsrace.analyzers.compare`` for how it is computed)."""

from __future__ import annotations

from typing import Any

from fsrace.analyzers.compare import MAX_SHOWN, format_rate

from .safe_text import printable


def _p_text(p: float) -> str:
    return "< 1e-6" if p < 1e-6 else f"= {p:.3g}"


def render_compare_text(result: dict[str, Any], console) -> None:
    """The comparison for a terminal (rich Text only, untrusted names escaped)."""
    from rich.table import Table
    from rich.text import Text


    b, a, d = result["before"], result["after"], result["difference"]
    console.print(Text("fsrace compare", style="bold"))
    console.print(Text(f"  BEFORE {printable(b['path'])} ({b['kind']}, {b['rounds']} rounds)"))
    console.print(Text(f"  AFTER  {printable(a['path'])} ({a['kind']}, {a['rounds']} rounds)"))
    table = Table(show_header=True, header_style="bold")
    table.add_column("")
    table.add_column("BEFORE")
    table.add_column("AFTER")
    table.add_row(Text("failure rate (copies)"), Text(format_rate(b["failure_rate"])),
                  Text(format_rate(a["failure_rate"])))
    if b.get("untraced_failure_rate") or a.get("untraced_failure_rate"):
        table.add_row(Text("untraced failure rate"),
                      Text(format_rate(b.get("untraced_failure_rate") or {})),
                      Text(format_rate(a.get("untraced_failure_rate") or {})))
    table.add_row(Text("race sites (warning+)"),
                  Text(str(len(result["sites_fixed"]) + len(result["sites_remaining"]))),
                  Text(str(len(result["sites_remaining"]) + len(result["sites_new"]))))
    console.print(table)
    sig = "significant" if d["significant"] else "not significant"
    console.print(Text(f"difference: {d['direction']} in AFTER, {sig} (two-sided Fisher exact "
                       f"test, p {_p_text(d['p_value'])}, alpha {d['alpha']})"))
    if b.get("untraced_failure_rate") or a.get("untraced_failure_rate") or \
            b["traced"] != a["traced"]:
        console.print(Text("note: tracing changes timing; traced and untraced failure rates "
                           "measure different schedules", style="yellow"))
    for note in result.get("notes", ()):
        console.print(Text("note: " + printable(note), style="yellow"))

    def section(title: str, rows: list, style: str) -> None:
        console.print(Text(f"\n{title}: {len(rows)}", style=f"bold {style}"))
        for r in rows[:MAX_SHOWN]:
            console.print(Text(f"  [{r.get('severity_before') or r.get('severity')}] "
                               f"{r['kind']}  {printable(r['site'])}"))
            if r.get("ordered_by"):
                console.print(Text(f"      now: {printable(r['ordered_by'])}"))
        if len(rows) > MAX_SHOWN:
            console.print(Text(f"  … and {len(rows) - MAX_SHOWN} more (--format json lists "
                               f"all)"))
    def causes(title: str, rows: list, style: str, when: str) -> None:
        console.print(Text(f"\n{title}: {len(rows)}", style=f"bold {style}"))
        for r in rows[:MAX_SHOWN]:
            sev = r.get(f"severity_{when}") or r.get("severity") or "?"
            n = r.get(f"failures_explained_{when}", r.get("failures_explained", 0)) or 0
            line = Text(f"  [{sev}] ")
            line.append(f"({n} failure{'s' if n != 1 else ''} explained) ", style="dim")
            line.append(printable(r.get("statement") or r.get("key")))
            console.print(line)
            if style != "green" and r.get("fix"):
                console.print(Text("      fix: " + printable(r["fix"]), style="dim"))
        if len(rows) > MAX_SHOWN:
            console.print(Text(f"  … and {len(rows) - MAX_SHOWN} more (--format json lists "
                               f"all)"))
    # Root causes first (what a person fixes), then the sites behind them.
    if any(k in result for k in ("root_causes_fixed", "root_causes_remaining",
                                 "root_causes_new")):
        causes("root causes fixed (in BEFORE, gone from AFTER)",
               result.get("root_causes_fixed") or [], "green", "before")
        causes("root causes remaining", result.get("root_causes_remaining") or [], "yellow",
               "after")
        causes("root causes new in AFTER", result.get("root_causes_new") or [], "red", "")
    section("sites fixed (in BEFORE, gone from AFTER)", result["sites_fixed"], "green")
    section("sites remaining", result["sites_remaining"], "yellow")
    section("sites new in AFTER", result["sites_new"], "red")
    if result["regression"]:
        console.print(Text("\nregression: AFTER has race sites that BEFORE lacked",
                           style="bold red"))
