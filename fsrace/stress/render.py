"""The stress summary as text: rounds, rates, root causes and sites.

Part of ``fsrace stress`` (see ``fsrace/stress/__init__.py``).
"""

from __future__ import annotations

import shlex
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from fsrace.analyzers.compare import format_rate
from fsrace.analyzers.sites import SEVERITY_RANK
from fsrace.reports.safe_text import printable
from fsrace.stress.amplify import describe_plan
from fsrace.stress.rounds import WARNING

#: Most race sites listed in the terminal summary (summary.json has all).
MAX_SITES_SHOWN = 25


# ------------------------------------------------------------------ rendering

def _example_text(site: dict[str, Any]) -> str:
    ex = site.get("example") or {}
    parts = []
    for acc in ex.get("accesses") or []:
        parts.append(f"{acc.get('role')} {acc.get('pid')} {acc.get('syscall')} "
                     f"{printable(acc.get('path'))} = {acc.get('result')}")
    return "; ".join(parts)


def render_summary(data: dict[str, Any], console: Console) -> None:
    """The end-of-run report (rich Text only; untrusted strings escaped)."""
    cmd = printable(shlex.join(data["command"]))
    console.print(Text(f"fsrace stress: {data['rounds_done']} rounds of {data['copies']} "
                       f"concurrent copies of {cmd}"
                       + (" (interrupted)" if data["interrupted"] else ""), style="bold"))
    table = Table(show_header=True, header_style="bold")
    for col in ("round", "mode", "copies failed", "manifested sites", "latent sites", "seconds"):
        table.add_column(col, justify="right" if col != "mode" else "left")
    for r in data["rounds"]:
        mode = "traced" if r["traced"] else "untraced"
        if r["amplify"]:
            mode = "amplified: " + describe_plan(r["amplify"])
        if not r["complete"]:
            mode += " (incomplete)"
        table.add_row(Text(str(r["round"])), Text(printable(mode)),
                      Text(f"{r['failed']}/{r['copies']}"),
                      Text(str(r["manifested_sites"]) if r["traced"] else "-"),
                      Text(str(r["latent_sites"]) if r["traced"] else "-"),
                      Text(f"{r['seconds_run']:.1f}" if r["seconds_run"] is not None else "-"))
    console.print(table)
    causes = [c for c in data.get("root_causes") or ()
              if SEVERITY_RANK.get(c["severity"], 0) >= WARNING]
    if data["traced"]:
        console.print(Text(f"root causes: {len(causes)}", style="bold"))
        for i, c in enumerate(causes[:MAX_SITES_SHOWN], 1):
            line = Text(f"  {i}. ")
            line.append(c["severity"], style="red" if c["severity"] == "error" else "yellow")
            line.append(f" in {len(c['rounds'])} round{'s' if len(c['rounds']) != 1 else ''}, "
                        f"{c['failures_explained']} failure"
                        f"{'s' if c['failures_explained'] != 1 else ''} explained: ")
            line.append(printable(c.get("statement") or c["key"]))
            console.print(line)
            if c.get("fix"):
                console.print(Text("     fix: " + printable(c["fix"]), style="dim"))
    sites = [s for s in data["sites"] if SEVERITY_RANK.get(s["severity"], 0) >= WARNING]
    info = len(data["sites"]) - len(sites)
    if data["traced"]:
        plain = len([r for r in data["rounds"] if r["complete"] and r["traced"]
                     and not r["amplify"]])
        console.print(Text(f"race sites over {plain} traced rounds: {len(sites)} at warning or "
                           f"error" + (f" ({info} info sites not shown)" if info else ""),
                           style="bold"))
        if sites:
            st = Table(show_header=True, header_style="bold")
            for col in ("severity", "kind", "site", "rounds", "manifested in", "example"):
                st.add_column(col)
            for s in sites[:MAX_SITES_SHOWN]:
                st.add_row(Text(s["severity"], style="red" if s["severity"] == "error"
                                else "yellow"),
                           Text(s["kind"]), Text(printable(s["site"])),
                           Text(str(len(s["rounds"]))), Text(str(len(s["rounds_manifested"]))),
                           Text(_example_text(s)))
            console.print(st)
            if len(sites) > MAX_SITES_SHOWN:
                console.print(Text(f"… and {len(sites) - MAX_SITES_SHOWN} more sites "
                                   f"(all of them are in summary.json)"))
    label = "failure rate" + (" (traced)" if data["traced"] else " (untraced)")
    console.print(Text(f"{label}: {format_rate(data['failure_rate'])} of copies; "
                       f"{data['rounds_with_failure']} rounds with a failure"))
    spr = data.get("seconds_per_round") or {}
    if data["traced"] and data.get("untraced_failure_rate"):
        console.print(Text(f"failure rate (untraced): {format_rate(data['untraced_failure_rate'])}"
                           f" of copies"))
        console.print(Text("note: tracing changes timing (strace stops every traced syscall), "
                           "so the traced and untraced rates measure different schedules",
                           style="yellow"))
    times = ", ".join(f"{k} {v:.1f} s" for k, v in spr.items() if v is not None)
    if times:
        console.print(Text(f"mean time per round (copies only): {times}"))
    amp = data.get("amplify")
    if amp is not None:
        console.print(Text(f"amplification: {amp['rounds']} rounds with delay injection",
                           style="bold"))
        if not amp["sites"]:
            console.print(Text("  no latent site to amplify"))
        for s in amp["sites"]:
            if s["confirmed"]:
                verdict = Text("confirmed", style="bold red")
                how = (f" in round {s['confirmed_in_round']} under "
                       f"{describe_plan(s['plan'])}")
            else:
                verdict = Text("not confirmed", style="dim")
                how = f" after {len(s['plans_tried'])} plans" if s["plans_tried"] else \
                    " (no plan could be made or no rounds left)"
            console.print(Text("  ") + verdict + Text(f" {s['kind']} {printable(s['site'])}"
                                                      f"{printable(how)}"))
    for w in data.get("warnings", ()):
        console.print(Text("warning: " + printable(w), style="yellow"))
