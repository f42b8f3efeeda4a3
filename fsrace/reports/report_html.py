"""The HTML report: one self-contained page with a swimlane timeline.

One lane per process (argv as the label, exit status shown, ordered and
indented as the process tree), the file operations as marks, every
finding as an arrow from the culprit's operation to the victim's (coloured
by severity), the race sites beside it: selecting a site zooms the
timeline to its example and highlights the pair.  Below: the selected
finding's interleaving, the failed processes and the process tree.

Size budget.  A real run has tens of thousands of operations (the seed:
~75k events in 11 processes).  The page draws at most ``MARK_BUDGET``
operations as individual marks: every finding's pair, the process events,
then the operations nearest to each finding (most severe first) until the
budget is spent; all other operations are counted into at most
``BUCKETS_PER_LANE`` time buckets per lane and drawn as shaded bars.  Only
what is inside the visible time window is put into the SVG.  A run small
enough to fit the budget is drawn in full.

Safety.  Paths and argv come from the traced programs, so they are
untrusted.  They go through ``printable`` (control characters and
non-UTF-8 bytes become visible escapes), then into one JSON blob embedded
in a ``<script type="application/json">`` block with ``<``, ``>``, ``&``
and U+2028/U+2029 escaped (so no ``</script>`` or ``<!--`` can end it),
and the page's script puts them into the DOM only as text nodes and
attribute values — never as markup.  A Content-Security-Policy meta tag
allows only this page's own script and style (by hash) and no network
access at all, so even a string that slipped through could not run or
phone home.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from typing import Any

from fsrace.reports.safe_text import printable

from fsrace.analyzers.accesses import A_PROC, A_SEQ, classify
from fsrace.analyzers.analyze import Analysis
from .report_json import report_dict
from fsrace.analyzers.timeline import (E_DETAIL, E_END, E_ERRNO, E_KIND, E_PATH, E_PATH2, E_PROC, E_SEQ,
                                       E_SYSCALL, E_TS, Timeline, timeline_from_analysis)

#: Operations drawn as individual marks, at most.
MARK_BUDGET = 5000
#: Operations of each process drawn on each side of a finding's pair.
NEIGHBOURS = 12
#: Race sites listed (and drawn as arrows), most severe first; the rest are
#: counted by kind and severity (``--format json`` lists them all).
MAX_SITES = 400
#: Aggregate buckets per lane, at most (and ``AGG_BUDGET`` in all).
BUCKETS_PER_LANE = 600
AGG_BUDGET = 20000

_OP_CLASS = {"create": "create", "remove": "remove", "rename-from": "rename",
             "rename-to": "rename", "write": "write", "read": "read", "check": "check"}


def _safe(obj: Any) -> Any:
    """Every string made printable, recursively."""
    if isinstance(obj, str):
        return printable(obj)
    if isinstance(obj, dict):
        return {k: _safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_safe(v) for v in obj]
    return obj


def _op_class(e: tuple) -> str:
    kind = e[E_KIND]
    if kind != "op":
        return {"lock": "lock", "close": "lock", "release": "lock"}.get(kind, "proc")
    ev = {"syscall": e[E_SYSCALL], "path": e[E_PATH], "path2": e[E_PATH2], "flags": e[E_DETAIL]}
    first = next(classify(ev), None)
    return _OP_CLASS.get(first[0], "read") if first else "read"


def _tree_order(a: Analysis) -> list[tuple[int, int]]:
    """(process index, depth) in depth-first order of the process tree."""
    procs = a.history.processes
    roots = [p.idx for p in procs if p.parent is None]
    out: list[tuple[int, int]] = []
    seen: set[int] = set()
    stack = [(r, 0) for r in sorted(roots, key=lambda i: procs[i].first_seq, reverse=True)]
    while stack:
        idx, depth = stack.pop()
        if idx in seen:
            continue
        seen.add(idx)
        out.append((idx, depth))
        kids = sorted(procs[idx].children, key=lambda i: procs[i].first_seq, reverse=True)
        stack.extend((k, depth + 1) for k in kids)
    return out


def _status(p: Any) -> str:
    if p.signal:
        return f"killed by {p.signal}"
    if p.exited:
        return f"exit {p.exit_code}"
    return "no exit seen"


def html_model(a: Analysis, timeline: Timeline | None = None,
               budget: int = MARK_BUDGET) -> dict[str, Any]:
    """The data the page draws (JSON-ready; strings already printable)."""
    tl = timeline or timeline_from_analysis(a)
    procs = a.history.processes
    entries = tl.entries
    shown_findings = a.findings[:MAX_SITES]
    timed = tl.has_time()
    t0 = next((e[E_TS] for e in entries if e[E_TS] is not None), 0.0) if timed else 0.0

    def xpos(e: tuple) -> float:
        if timed and e[E_TS] is not None:
            return round((e[E_TS] - t0) * 1e6, 1)
        return float(e[E_SEQ])

    def dur(e: tuple) -> float:
        if timed and e[E_TS] is not None and e[E_END] is not None:
            return max(0.0, round((e[E_END] - e[E_TS]) * 1e6, 1))
        return 0.0

    pos = {e[E_SEQ]: i for i, e in enumerate(entries) if e[E_KIND] in ("op", "exec", "lock")}
    by_proc: dict[int, list[int]] = {}
    for i, e in enumerate(entries):
        by_proc.setdefault(e[E_PROC], []).append(i)
    rank_in_proc: dict[int, int] = {}
    for lst in by_proc.values():
        for k, i in enumerate(lst):
            rank_in_proc[i] = k

    chosen: set[int] = set()
    if len(entries) <= budget:
        chosen = set(range(len(entries)))
    else:
        for i, e in enumerate(entries):
            if e[E_KIND] in ("fork", "exec", "exit", "wait"):
                chosen.add(i)
        for f in shown_findings:
            c = f.example
            if c is None:
                continue
            for acc in (c.culprit, c.victim):
                if acc[A_SEQ] in pos:
                    chosen.add(pos[acc[A_SEQ]])
        for first in a.first_errors.values():
            if first is not None and first[A_SEQ] in pos:
                chosen.add(pos[first[A_SEQ]])
        # Then the neighbourhoods of each pair, most severe finding first.
        for radius in (3, NEIGHBOURS, 4 * NEIGHBOURS, 16 * NEIGHBOURS):
            for f in shown_findings:
                c = f.example
                if c is None or len(chosen) >= budget:
                    continue
                for acc in (c.culprit, c.victim):
                    i = pos.get(acc[A_SEQ])
                    if i is None:
                        continue
                    lst = by_proc[acc[A_PROC]]
                    k = rank_in_proc[i]
                    near = lst[max(0, k - radius):k + radius + 1]
                    if len(chosen) + len(near) > budget:
                        continue
                    chosen.update(near)
        # Lock calls, when room is left: they show what ordered what.
        for i, e in enumerate(entries):
            if len(chosen) >= budget:
                break
            if e[E_KIND] in ("lock", "close", "release"):
                chosen.add(i)

    strings: list[str] = []
    string_idx: dict[str, int] = {}

    def S(s: Any) -> int:
        if s is None:
            return -1
        s = printable(s)
        i = string_idx.get(s)
        if i is None:
            i = string_idx[s] = len(strings)
            strings.append(s)
        return i

    xs = [xpos(e) for e in entries]
    span0 = min(xs) if xs else 0.0
    span1 = max((xs[i] + dur(e) for i, e in enumerate(entries)), default=1.0)
    if span1 <= span0:
        span1 = span0 + 1.0

    ops: list[list[Any]] = []
    op_index: dict[int, int] = {}
    for i in sorted(chosen):
        e = entries[i]
        detail = e[E_DETAIL]
        if e[E_KIND] == "exec" and detail:
            detail_s = S(" ".join(detail))
        elif e[E_KIND] in ("fork", "wait") and detail is not None:
            detail_s = S(f"child pid {procs[detail].key}")
        elif isinstance(detail, str):
            detail_s = S(detail)
        else:
            detail_s = -1
        op_index[e[E_SEQ]] = len(ops)
        ops.append([e[E_PROC], xs[i], dur(e), _op_class(e), e[E_SEQ], S(e[E_SYSCALL] or e[E_KIND]),
                    S(e[E_PATH]), S(e[E_PATH2]), e[E_ERRNO] or "", detail_s])

    lanes_order = _tree_order(a)
    nb = max(20, min(BUCKETS_PER_LANE, AGG_BUDGET // max(1, len(lanes_order))))
    width = (span1 - span0) / nb
    agg: dict[tuple[int, int], list[int]] = {}
    for i, e in enumerate(entries):
        if i in chosen:
            continue
        b = min(nb - 1, int((xs[i] - span0) / width))
        slot = agg.setdefault((e[E_PROC], b), [0, 0])
        slot[0] += 1
        if e[E_ERRNO] is not None:
            slot[1] += 1

    rep = report_dict(a)
    findings = []
    hidden: dict[str, int] = {}
    for f in a.findings[MAX_SITES:]:
        key = f"{f.severity} {f.kind}"
        hidden[key] = hidden.get(key, 0) + 1
    for f, fd in zip(shown_findings, rep["findings"]):
        fd = dict(fd)
        fd.pop("instances", None)
        c = f.example
        fd["pair"] = [op_index.get(c.culprit[A_SEQ], -1), op_index.get(c.victim[A_SEQ], -1)] \
            if c is not None else [-1, -1]
        fd["culprit_proc"] = c.culprit[A_PROC] if c is not None else None
        fd["victim_proc"] = c.victim[A_PROC] if c is not None else None
        findings.append(fd)

    lanes = []
    for idx, depth in lanes_order:
        p = procs[idx]
        argv = " ".join(p.argv) if p.argv else "?"
        lanes.append({"proc": idx, "key": p.key, "pid": p.pid, "depth": depth,
                      "parent": p.parent, "argv": argv[:2000], "status": _status(p),
                      "failed": p.failed, "ops": len(by_proc.get(idx, ()))})
    model = {
        "format": "fsrace-html-model",
        "clock": "time" if timed else "seq",
        "t0": t0 if timed else None,
        "span": [span0, span1],
        "bucket_width": width,
        "strings": strings,
        "ops": ops,
        "agg": [[p, b, n, errs] for (p, b), (n, errs) in sorted(agg.items())],
        "lanes": lanes,
        "findings": findings,
        "hidden_findings": hidden,
        "failed": rep["failed_processes"],
        "summary": rep["summary"],
        "stats": dict(rep["stats"], drawn=len(ops), aggregated=len(entries) - len(ops),
                      timeline_entries=len(entries), complete_timeline=tl.complete),
        "source": rep["source"],
        "budget": budget,
    }
    return _safe(model)


def embed_json(obj: Any) -> str:
    """JSON that is safe inside a <script> element (and inside HTML at all)."""
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def render_html(a: Analysis, timeline: Timeline | None = None, budget: int = MARK_BUDGET) -> str:
    """The whole report as one HTML page (ASCII, self-contained)."""
    model = html_model(a, timeline, budget)
    csp = ("default-src 'none'; script-src '%s'; style-src '%s'; img-src 'none'; "
           "connect-src 'none'; font-src 'none'; object-src 'none'; base-uri 'none'; "
           "form-action 'none'" % (_sha256(_SCRIPT), _sha256(_STYLE)))
    command = a.header.get("command")
    title = "fsrace report"
    if command:
        title += ": " + printable(" ".join(map(str, command)))[:200]
    esc = lambda s: html.escape(s, quote=True).encode("ascii", "xmlcharrefreplace").decode()
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n"  # our text, no quotes
        "<meta name=\"referrer\" content=\"no-referrer\">\n"
        f"<title>{esc(title)}</title>\n<style>{_STYLE}</style></head>\n<body>\n"
        f"<header><h1>{esc(title)}</h1><p id=\"summary\"></p></header>\n"
        "<main id=\"main\">\n"
        "<section id=\"timeline\" aria-label=\"timeline\"><div id=\"toolbar\">"
        "<button id=\"zoom-all\" type=\"button\">whole run</button>"
        "<button id=\"zoom-out\" type=\"button\">zoom out</button>"
        "<label><input type=\"checkbox\" id=\"show-info\"> info arrows</label>"
        "<span id=\"viewinfo\"></span></div>"
        "<div id=\"lanes-wrap\"><svg id=\"lanes\" xmlns=\"http://www.w3.org/2000/svg\"></svg></div>"
        "<div id=\"legend\"></div></section>\n"
        "<aside id=\"sites\" aria-label=\"race sites\"><h2>Race sites</h2>"
        "<div id=\"site-list\"></div></aside>\n</main>\n"
        "<section id=\"detail\" aria-live=\"polite\"><h2>Selected finding</h2>"
        "<p class=\"hint\">Select a race site to zoom the timeline to its example.</p></section>\n"
        "<section id=\"failed\"><h2>Failed processes</h2></section>\n"
        "<section id=\"tree\"><h2>Process tree</h2></section>\n"
        "<section id=\"notes\"><h2>About this page</h2><p id=\"notes-text\"></p></section>\n"
        "<div id=\"tooltip\" role=\"tooltip\"></div>\n"
        f"<script type=\"application/json\" id=\"fsrace-data\">{embed_json(model)}</script>\n"
        f"<script>{_SCRIPT}</script>\n</body></html>\n")


_STYLE = """
:root{--err:#d62728;--warn:#e69500;--info:#7f7f7f;--fg:#1d1d1f;--mut:#666;--bg:#fff;--lane:#f6f7f9}
*{box-sizing:border-box}
body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0;padding:8px 14px}
h1{font-size:17px;margin:4px 0;word-break:break-all}h2{font-size:14px;margin:10px 0 6px}
#summary{margin:2px 0 8px;color:var(--mut)}
#main{display:grid;grid-template-columns:minmax(0,1fr) 430px;gap:12px;align-items:start}
#toolbar{display:flex;gap:8px;align-items:center;margin-bottom:4px}
#toolbar button{font:inherit;padding:2px 8px}
#viewinfo{color:var(--mut);margin-left:auto;font-variant-numeric:tabular-nums}
#lanes-wrap{border:1px solid #ddd;max-height:72vh;overflow:auto;background:#fff}
svg#lanes{display:block;user-select:none;cursor:grab}
.lane-bg{fill:var(--lane)}.lane-bg.odd{fill:#fff}
.lane-label{font-size:11.5px;fill:var(--fg)}.lane-label.failed{fill:var(--err);font-weight:600}
.lane-status{font-size:10.5px;fill:var(--mut)}.lane-status.failed{fill:var(--err)}
.agg{fill:#9aa3ad}
.mark{stroke:none}.mark.err{stroke:var(--err);stroke-width:1.5}
.k-create{fill:#2ca02c}.k-remove{fill:#d62728}.k-rename{fill:#ff7f0e}.k-write{fill:#1f77b4}
.k-read{fill:#8c9aa8}.k-check{fill:#bcbd22}.k-lock{fill:#9467bd}.k-proc{fill:#222}
.mark.hl{stroke:#000;stroke-width:2.5}
.arrow{fill:none;stroke-width:1.6;opacity:.85}
.arrow.sev-error{stroke:var(--err)}.arrow.sev-warning{stroke:var(--warn)}.arrow.sev-info{stroke:var(--info)}
.arrow.dim{opacity:.18}.arrow.hl{stroke-width:3.2;opacity:1}
.axis{font-size:10px;fill:var(--mut)}.tick{stroke:#ddd}
#legend{margin-top:4px;color:var(--mut);font-size:11.5px}
#legend svg{margin:0 2px 0 8px;vertical-align:-1px}
#site-list{max-height:76vh;overflow:auto;border:1px solid #ddd}
button.site{display:block;width:100%;text-align:left;font:inherit;background:#fff;border:0;border-bottom:1px solid #eee;padding:5px 7px;cursor:pointer}
button.site:hover{background:#f3f6fb}button.site.selected{background:#e4edfb}
.sev{display:inline-block;min-width:54px;font-weight:600}
.sev-error .sev,.sev.sev-error{color:var(--err)}.sev-warning .sev,.sev.sev-warning{color:var(--warn)}.sev-info .sev,.sev.sev-info{color:var(--info)}
.site .pattern{display:block;color:var(--mut);word-break:break-all;font-family:ui-monospace,Menlo,monospace;font-size:11.5px}
.mono,code{font-family:ui-monospace,Menlo,monospace;font-size:12px;word-break:break-all}
table.il{border-collapse:collapse;width:100%;table-layout:fixed}
table.il td,table.il th{border-bottom:1px solid #eee;padding:2px 6px;vertical-align:top;text-align:left}
table.il th.seq,table.il td.seq{width:70px}table.il td.t,table.il th.t{width:100px}
table.il tr.hot td{background:#fff4c2;font-weight:600}
.errno{color:var(--err)}
#tree ul{list-style:none;padding-left:18px;margin:2px 0}#tree>ul{padding-left:0}
.failed-proc{color:var(--err)}
.hint{color:var(--mut)}
#tooltip{position:fixed;pointer-events:none;background:#222;color:#fff;padding:4px 7px;border-radius:3px;font:12px ui-monospace,Menlo,monospace;max-width:640px;word-break:break-all;display:none;z-index:5}
button.fid{font:inherit;border:1px solid #ccc;background:#fafafa;cursor:pointer;padding:0 5px;margin-right:4px}
"""

_SCRIPT = r"""
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("fsrace-data").textContent);
  const S = D.strings;
  const NS = "http://www.w3.org/2000/svg";
  const LABEL_W = 300, LANE_H = 26, AXIS_H = 22, PAD_R = 12;
  const lanesByProc = new Map();
  D.lanes.forEach((l, i) => lanesByProc.set(l.proc, i));
  const findingsById = new Map(D.findings.map(f => [f.id, f]));
  const state = {x0: D.span[0], x1: D.span[1], sel: null, showInfo: false};

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else e.setAttribute(k, v);
    }
    for (const k of kids) if (k !== null && k !== undefined)
      e.appendChild(typeof k === "string" ? document.createTextNode(k) : k);
    return e;
  }
  function sv(tag, attrs) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }
  const str = i => (i === undefined || i < 0) ? "" : S[i];
  function fmtX(x) {
    if (D.clock !== "time") return "event " + Math.round(x);
    const ms = x / 1000;
    return (Math.abs(ms) >= 100 ? ms.toFixed(1) : ms.toFixed(3)) + " ms";
  }
  function opText(o) {
    let t = "seq " + o[4] + "  " + str(o[5]) + " " + str(o[6]);
    if (o[7] >= 0) t += " -> " + str(o[7]);
    t += o[8] ? "  = -1 " + o[8] : "  = ok";
    if (o[9] >= 0) t += "  [" + str(o[9]) + "]";
    return t;
  }
  function laneLabel(l) {
    // argv[0] without its directory: "uv sync -q" reads better than the full path.
    let a = l.argv;
    const sp = a.indexOf(" "), first = sp < 0 ? a : a.slice(0, sp);
    const slash = first.lastIndexOf("/");
    if (slash >= 0) a = first.slice(slash + 1) + (sp < 0 ? "" : a.slice(sp));
    const room = Math.max(12, 40 - 2 * Math.min(l.depth, 8));
    return "pid " + l.key + "  " + (a.length > room ? a.slice(0, room - 3) + "..." : a);
  }

  // ---------------------------------------------------------------- summary
  const sm = D.summary;
  document.getElementById("summary").textContent =
    D.stats.processes + " processes, " + D.stats.events + " events, " + sm.failed_processes +
    " failed; " + sm.errors + " error, " + sm.warnings + " warning, " + sm.info + " info finding(s). " +
    "Drawn: " + D.stats.drawn + " operations in full, " + D.stats.aggregated + " aggregated.";

  // ----------------------------------------------------------------- legend
  const legend = document.getElementById("legend");
  [["create", "create"], ["remove", "remove"], ["rename", "rename"], ["write", "write"],
   ["read", "read/use"], ["check", "stat/access"], ["lock", "lock"], ["proc", "fork/exec/exit"]]
    .forEach(([k, t]) => {
      const svg = sv("svg", {width: 10, height: 10});
      svg.appendChild(sv("rect", {x: 0, y: 0, width: 10, height: 10, class: "k-" + k}));
      legend.appendChild(svg); legend.appendChild(document.createTextNode(" " + t + "   "));
    });
  legend.appendChild(document.createTextNode(
    " | grey bars: aggregated operations | arrows: culprit -> victim (red error, orange warning, grey info)" +
    " | wheel: zoom, drag: pan, double-click: whole run"));

  // ----------------------------------------------------------------- lanes
  const svg = document.getElementById("lanes");
  const wrap = document.getElementById("lanes-wrap");
  const tip = document.getElementById("tooltip");
  let W = 900;
  const H = AXIS_H + D.lanes.length * LANE_H + 6;
  const laneY = i => AXIS_H + i * LANE_H;
  const X = x => LABEL_W + (x - state.x0) / (state.x1 - state.x0) * (W - LABEL_W - PAD_R);

  function defs() {
    const d = sv("defs");
    for (const s of ["error", "warning", "info"]) {
      const m = sv("marker", {id: "ah-" + s, viewBox: "0 0 10 10", refX: 9, refY: 5,
                              markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse"});
      m.appendChild(sv("path", {d: "M0,0 L10,5 L0,10 z", class: "ah sev-" + s,
                                fill: s === "error" ? "#d62728" : s === "warning" ? "#e69500" : "#7f7f7f"}));
      d.appendChild(m);
    }
    const cl = sv("clipPath", {id: "label-clip"});
    cl.appendChild(sv("rect", {x: 0, y: 0, width: LABEL_W - 6, height: H}));
    d.appendChild(cl);
    const cp = sv("clipPath", {id: "plot-clip"});
    cp.appendChild(sv("rect", {x: LABEL_W, y: 0, width: Math.max(0, W - LABEL_W - PAD_R + 4), height: H}));
    d.appendChild(cp);
    return d;
  }

  function render() {
    W = Math.max(600, wrap.clientWidth - 2);
    svg.setAttribute("width", W); svg.setAttribute("height", H);
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.appendChild(defs());
    const gL = sv("g", {id: "g-lanes"});
    D.lanes.forEach((l, i) => {
      const g = sv("g", {class: "lane", "data-proc": l.proc, "data-pid": l.pid, "clip-path": "url(#label-clip)"});
      gL.appendChild(sv("rect", {class: "lane-bg" + (i % 2 ? " odd" : ""), x: 0, y: laneY(i), width: W, height: LANE_H}));
      const t = sv("text", {class: "lane-label" + (l.failed ? " failed" : ""), x: 4 + 10 * Math.min(l.depth, 8), y: laneY(i) + 12});
      t.textContent = laneLabel(l);
      const tt = sv("title"); tt.textContent = "pid " + l.key + ": " + l.argv + " [" + l.status + "]";
      t.appendChild(tt);
      const st = sv("text", {class: "lane-status" + (l.failed ? " failed" : ""), x: 4 + 10 * Math.min(l.depth, 8), y: laneY(i) + 23});
      st.textContent = l.status + " - " + l.ops + " ops";
      g.appendChild(t); g.appendChild(st); gL.appendChild(g);
    });
    svg.appendChild(gL);
    // axis
    const gA = sv("g", {class: "axis-g"});
    const span = state.x1 - state.x0;
    const step = niceStep(span / 8);
    for (let v = Math.ceil(state.x0 / step) * step; v <= state.x1; v += step) {
      const x = X(v);
      gA.appendChild(sv("line", {class: "tick", x1: x, x2: x, y1: AXIS_H - 4, y2: H}));
      const t = sv("text", {class: "axis", x: x + 2, y: AXIS_H - 8}); t.textContent = fmtX(v);
      gA.appendChild(t);
    }
    svg.appendChild(gA);
    const plot = sv("g", {"clip-path": "url(#plot-clip)", id: "plot"});
    // aggregated operations
    const bw = D.bucket_width;
    let maxN = 1; for (const a of D.agg) if (a[2] > maxN) maxN = a[2];
    for (const a of D.agg) {
      const xa = D.span[0] + a[1] * bw, xb = xa + bw;
      if (xb < state.x0 || xa > state.x1) continue;
      const li = lanesByProc.get(a[0]); if (li === undefined) continue;
      const r = sv("rect", {class: "agg", x: X(xa), y: laneY(li) + 7, width: Math.max(1, X(xb) - X(xa)),
                            height: 12, opacity: (0.15 + 0.75 * Math.log(1 + a[2]) / Math.log(1 + maxN)).toFixed(2),
                            "data-n": a[2]});
      const tt = sv("title"); tt.textContent = a[2] + " operations" + (a[3] ? " (" + a[3] + " failed)" : "") + " aggregated";
      r.appendChild(tt); plot.appendChild(r);
    }
    // marks
    const hot = new Set();
    const sel = state.sel ? findingsById.get(state.sel) : null;
    if (sel) { hot.add(sel.pair[0]); hot.add(sel.pair[1]); }
    const gM = sv("g", {id: "g-marks"});
    const pxPerUnit = (W - LABEL_W - PAD_R) / span;
    D.ops.forEach((o, i) => {
      if (o[1] + o[2] < state.x0 || o[1] > state.x1) return;
      const li = lanesByProc.get(o[0]); if (li === undefined) return;
      const isHot = hot.has(i);
      const w = Math.max(isHot ? 5 : 2.5, o[2] * pxPerUnit);
      const r = sv("rect", {class: "mark k-" + o[3] + (o[8] ? " err" : "") + (isHot ? " hl" : ""),
                            x: X(o[1]) - (isHot ? 2 : 0), y: laneY(li) + (isHot ? 3 : 6), width: w,
                            height: isHot ? 20 : 14, "data-i": i, "data-seq": o[4]});
      gM.appendChild(r);
    });
    plot.appendChild(gM);
    // arrows: culprit -> victim
    const gR = sv("g", {id: "g-arrows"});
    for (const f of D.findings) {
      if (f.severity === "info" && !state.showInfo && state.sel !== f.id) continue;
      if (f.pair[0] < 0 || f.pair[1] < 0) continue;
      const a = D.ops[f.pair[0]], b = D.ops[f.pair[1]];
      if (Math.max(a[1], b[1]) < state.x0 || Math.min(a[1], b[1]) > state.x1) continue;
      const ya = laneY(lanesByProc.get(a[0])) + LANE_H / 2, yb = laneY(lanesByProc.get(b[0])) + LANE_H / 2;
      const xa = X(a[1]) + 1, xb = X(b[1]) + 1;
      const bend = Math.max(18, Math.abs(yb - ya) * 0.35);
      const p = sv("path", {class: "arrow sev-" + f.severity + (state.sel ? (state.sel === f.id ? " hl" : " dim") : ""),
                            d: "M" + xa + "," + ya + " C" + (xa + bend) + "," + ya + " " + (xb - bend) + "," + yb + " " + xb + "," + (yb + (yb > ya ? -7 : 7)),
                            "marker-end": "url(#ah-" + f.severity + ")", "data-fid": f.id});
      const tt = sv("title"); tt.textContent = f.id + " " + f.kind + " (" + f.verdict + ", " + f.severity + "): " + f.site;
      p.appendChild(tt); gR.appendChild(p);
    }
    plot.appendChild(gR);
    svg.appendChild(plot);
    document.getElementById("viewinfo").textContent = fmtX(state.x0) + " .. " + fmtX(state.x1);
  }
  function niceStep(raw) {
    const p = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1e-9))));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }
  function setView(x0, x1) {
    const full0 = D.span[0], full1 = D.span[1];
    const minW = D.clock === "time" ? 2 : 2;
    if (x1 - x0 < minW) { const c = (x0 + x1) / 2; x0 = c - minW / 2; x1 = c + minW / 2; }
    if (x1 - x0 > full1 - full0) { x0 = full0; x1 = full1; }
    state.x0 = x0; state.x1 = x1; render();
  }

  // zoom and pan
  svg.addEventListener("wheel", ev => {
    ev.preventDefault();
    const r = svg.getBoundingClientRect();
    const px = ev.clientX - r.left;
    if (px < LABEL_W) return;
    const frac = (px - LABEL_W) / (W - LABEL_W - PAD_R);
    const at = state.x0 + frac * (state.x1 - state.x0);
    const k = ev.deltaY > 0 ? 1.3 : 1 / 1.3;
    setView(at - (at - state.x0) * k, at + (state.x1 - at) * k);
  }, {passive: false});
  let drag = null;
  svg.addEventListener("mousedown", ev => { drag = {x: ev.clientX, x0: state.x0, x1: state.x1, moved: false}; });
  window.addEventListener("mousemove", ev => {
    if (drag) {
      const dx = ev.clientX - drag.x;
      if (Math.abs(dx) > 3) drag.moved = true;
      if (drag.moved) {
        const per = (drag.x1 - drag.x0) / (W - LABEL_W - PAD_R);
        state.x0 = drag.x0 - dx * per; state.x1 = drag.x1 - dx * per; render();
      }
    }
  });
  window.addEventListener("mouseup", () => { setTimeout(() => { drag = null; }, 0); });
  svg.addEventListener("dblclick", () => setView(D.span[0], D.span[1]));
  svg.addEventListener("mousemove", ev => {
    const t = ev.target;
    let text = null;
    if (t.classList && t.classList.contains("mark")) text = opText(D.ops[+t.getAttribute("data-i")]);
    if (text === null) { tip.style.display = "none"; return; }
    tip.textContent = text; tip.style.display = "block";
    tip.style.left = Math.min(ev.clientX + 12, window.innerWidth - 660) + "px"; tip.style.top = (ev.clientY + 14) + "px";
  });
  svg.addEventListener("mouseleave", () => { tip.style.display = "none"; });
  svg.addEventListener("click", ev => {
    if (drag && drag.moved) return;
    const t = ev.target;
    if (t.classList && t.classList.contains("arrow")) select(t.getAttribute("data-fid"));
  });
  document.getElementById("zoom-all").addEventListener("click", () => setView(D.span[0], D.span[1]));
  document.getElementById("zoom-out").addEventListener("click", () => {
    const c = (state.x0 + state.x1) / 2, w = (state.x1 - state.x0) * 2;
    setView(c - w / 2, c + w / 2);
  });
  document.getElementById("show-info").addEventListener("change", ev => { state.showInfo = ev.target.checked; render(); });

  // ------------------------------------------------------------ site list
  const list = document.getElementById("site-list");
  for (const f of D.findings) {
    const b = el("button", {class: "site sev-" + f.severity, type: "button", "data-fid": f.id},
      el("span", {class: "sev"}, f.severity), el("b", {}, f.id + " " + f.kind),
      " " + f.verdict + " - " + f.count + " pair" + (f.count === 1 ? "" : "s") + " - " + f.syscalls.join(" / "),
      el("span", {class: "pattern"}, f.site));
    b.addEventListener("click", () => select(f.id));
    list.appendChild(b);
  }
  if (!D.findings.length) list.appendChild(el("p", {class: "hint"}, "No races found: every conflicting access was ordered."));
  const hiddenKeys = Object.keys(D.hidden_findings || {});
  if (hiddenKeys.length) list.appendChild(el("p", {class: "hint", id: "hidden-sites"},
    "Not listed (less severe, beyond the first " + D.findings.length + " sites): " +
    hiddenKeys.map(k => D.hidden_findings[k] + " " + k).join(", ") + ". fsrace analyze LOG --format json lists them all."));

  // ----------------------------------------------------------- selection
  function select(fid) {
    const f = findingsById.get(fid); if (!f) return;
    state.sel = fid;
    for (const b of list.querySelectorAll("button.site"))
      b.classList.toggle("selected", b.getAttribute("data-fid") === fid);
    if (f.pair[0] >= 0 && f.pair[1] >= 0) {
      const a = D.ops[f.pair[0]], b = D.ops[f.pair[1]];
      const lo = Math.min(a[1], b[1]), hi = Math.max(a[1] + a[2], b[1] + b[2]);
      const pad = Math.max((hi - lo) * 0.6, (D.span[1] - D.span[0]) / 4000, D.clock === "time" ? 50 : 5);
      setView(lo - pad, hi + pad);
    } else render();
    showDetail(f);
    const hl = svg.querySelector(".mark.hl");
    if (hl && wrap.scrollHeight > wrap.clientHeight) {
      const li = lanesByProc.get(D.ops[f.pair[1]][0]);
      wrap.scrollTop = Math.max(0, laneY(li) - wrap.clientHeight / 2);
    }
  }
  function accLine(acc) {
    const p = el("div", {class: "mono"}, acc.role + ": pid " + acc.proc + " " + acc.syscall + " " + acc.path);
    if (acc.other_path) p.appendChild(document.createTextNode(" -> " + acc.other_path));
    p.appendChild(el("span", {class: acc.errno ? "errno" : ""}, "  = " + acc.result));
    p.appendChild(document.createTextNode("  (seq " + acc.seq + ")"));
    return p;
  }
  function showDetail(f) {
    const box = document.getElementById("detail");
    while (box.firstChild) box.removeChild(box.firstChild);
    box.appendChild(el("h2", {}, "Selected finding"));
    box.appendChild(el("p", {class: "sev-" + f.severity},
      el("span", {class: "sev"}, f.severity), el("b", {}, f.id + " " + f.kind), " (" + f.verdict + "), " +
      f.count + " conflicting pair(s) at site ", el("code", {}, f.site)));
    for (const acc of f.accesses) box.appendChild(accLine(acc));
    const [c, v] = f.accesses;
    const culprit = "pid " + c.proc, victim = "pid " + v.proc;
    let story = culprit + " did " + c.syscall + " on a path that " + victim + " used (" + v.syscall + ")";
    story += v.errno ? "; the victim's call failed with " + v.errno + "." : "; this time the timing happened to work.";
    story += " Nothing ordered the two operations: no common lock and no fork/wait path between the processes.";
    box.appendChild(el("p", {}, story));
    if (f.note) box.appendChild(el("p", {class: "hint"}, f.note));
    const expl = D.failed.filter(p => p.explained_by.indexOf(f.id) >= 0).map(p => "pid " + p.proc);
    if (expl.length) box.appendChild(el("p", {}, "Explains the failure of " + expl.join(", ") + "."));
    box.appendChild(el("p", {class: "hint"}, "Full story in the terminal: fsrace explain LOG " + f.id));
    // interleaving of the two processes around the pair (drawn operations)
    if (f.pair[0] >= 0 && f.pair[1] >= 0) {
      const pa = D.ops[f.pair[0]][0], pb = D.ops[f.pair[1]][0];
      const lo = Math.min(f.pair[0], f.pair[1]), hi = Math.max(f.pair[0], f.pair[1]);
      const rows = [];
      let before = 0;
      for (let i = lo - 1; i >= 0 && before < 5; i--) if (D.ops[i][0] === pa || D.ops[i][0] === pb) { rows.unshift(i); before++; }
      const inside = [];
      for (let i = lo; i <= hi; i++) if (D.ops[i][0] === pa || D.ops[i][0] === pb) inside.push(i);
      const shown = inside.length > 14 ? inside.slice(0, 6).concat([-1], inside.slice(-6)) : inside;
      rows.push(...shown);
      let after = 0;
      for (let i = hi + 1; i < D.ops.length && after < 5; i++) if (D.ops[i][0] === pa || D.ops[i][0] === pb) { rows.push(i); after++; }
      const tb = el("table", {class: "il"});
      const head = el("tr", {}, el("th", {class: "seq"}, "seq"), el("th", {class: "t"}, "time"),
        el("th", {}, "pid " + D.lanes[lanesByProc.get(pa)].key + " (culprit)"),
        el("th", {}, pa === pb ? "" : "pid " + D.lanes[lanesByProc.get(pb)].key + " (victim)"));
      tb.appendChild(head);
      for (const i of rows) {
        if (i < 0) { tb.appendChild(el("tr", {}, el("td", {}, "..."), el("td"), el("td"), el("td"))); continue; }
        const o = D.ops[i];
        let t = str(o[5]) + " " + str(o[6]) + (o[7] >= 0 ? " -> " + str(o[7]) : "");
        const cell = el("td", {class: "mono"}, t, o[8] ? el("span", {class: "errno"}, "  = -1 " + o[8]) : null);
        const tr = el("tr", {class: (i === f.pair[0] || i === f.pair[1]) ? "hot" : ""},
          el("td", {class: "seq"}, String(o[4])), el("td", {class: "t"}, fmtX(o[1])),
          o[0] === pa ? cell : el("td"), o[0] === pa ? el("td") : cell);
        tb.appendChild(tr);
      }
      box.appendChild(tb);
    }
  }

  // --------------------------------------------------- failed processes
  const fb = document.getElementById("failed");
  if (!D.failed.length) fb.appendChild(el("p", {class: "hint"}, "No process failed."));
  for (const p of D.failed) {
    const row = el("div", {}, el("b", {class: "failed-proc"}, "pid " + p.proc + " (" +
      (p.signal ? "killed by " + p.signal : "exit " + p.exit_code) + ") "),
      el("span", {class: "mono"}, (p.argv || ["?"]).join(" ").slice(0, 160)));
    if (p.first_error) row.appendChild(el("div", {class: "mono"}, "first error: " + p.first_error.syscall + " " +
      (p.first_error.path || "?") + " = -1 " + p.first_error.errno + " (seq " + p.first_error.seq + ")"));
    const ex = el("div", {}, p.explained ? "explained by: " : (p.explanation || ""));
    for (const id of p.explained_by.slice(0, 12)) {
      if (!findingsById.has(id)) { ex.appendChild(el("span", {class: "mono"}, id + " ")); continue; }
      const b = el("button", {class: "fid", type: "button", "data-fid": id}, id);
      b.addEventListener("click", () => select(id)); ex.appendChild(b);
    }
    row.appendChild(ex); fb.appendChild(row);
  }

  // --------------------------------------------------------- process tree
  const tree = document.getElementById("tree");
  const kids = new Map();
  for (const l of D.lanes) { const k = l.parent === null ? -1 : l.parent; if (!kids.has(k)) kids.set(k, []); kids.get(k).push(l); }
  function sub(parent) {
    const ul = el("ul");
    for (const l of kids.get(parent) || []) {
      const li = el("li", {"data-proc": l.proc}, el("span", {class: l.failed ? "failed-proc" : ""}, "pid " + l.key + " [" + l.status + "] "),
        el("span", {class: "mono"}, l.argv.slice(0, 200)));
      if (kids.has(l.proc)) li.appendChild(sub(l.proc));
      ul.appendChild(li);
    }
    return ul;
  }
  tree.appendChild(sub(-1));

  document.getElementById("notes-text").textContent =
    "Time axis: " + (D.clock === "time" ? "milliseconds since the first event" : "event order (the log has no timestamps)") +
    ". At most " + D.budget + " operations are drawn one by one (the pairs of every finding and the operations around them); " +
    "the others are counted into grey bars per lane. Self-contained page: no network access.";

  window.addEventListener("resize", () => render());
  render();
  document.body.setAttribute("data-ready", "1");
})();
"""

__all__ = ["render_html", "html_model", "embed_json", "MARK_BUDGET"]
