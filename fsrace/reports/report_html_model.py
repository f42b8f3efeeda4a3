"""The data the HTML report draws: a JSON-ready model of one analysis.

Pure data preparation (no markup, no script): the lanes in process-tree
order, the operations drawn as marks, the rest counted into buckets, the
findings with their pairs, the failed processes, and what the page says
first (root-cause cards, the race window, folded helper lanes, the log's
warnings: ``report_html_diagnosis``).  ``report_html`` embeds it in the
page; ``report_html_script`` and ``report_html_panels`` draw it.

Size budget.  A real run has tens of thousands of operations (the seed:
~75k events in 11 processes).  The page draws at most ``MARK_BUDGET``
operations as individual marks: every finding's pair, the process events,
then the operations nearest to each finding (most severe first) until the
budget is spent; all other operations are counted into at most
``BUCKETS_PER_LANE`` time buckets per lane and drawn as shaded bars.  Only
what is inside the visible time window is put into the SVG.  A run small
enough to fit the budget is drawn in full.

Safety.  Paths and argv come from the traced programs, so they are
untrusted: every string in the model goes through ``printable`` (control
characters and non-UTF-8 bytes become visible escapes).
"""

from __future__ import annotations

from typing import Any

from fsrace.reports.safe_text import printable

from fsrace.analyzers.accesses import A_PROC, A_SEQ, classify
from fsrace.analyzers.analyze import Analysis
from .report_html_diagnosis import fold_lanes, focus_window, launcher_index, root_cause_cards, split_failed
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

    folded = fold_lanes(a, lanes_order)
    launcher = launcher_index(a)
    lanes = []
    for idx, depth in lanes_order:
        p = procs[idx]
        argv = " ".join(p.argv) if p.argv else "?"
        is_launcher = idx == launcher
        lanes.append({"proc": idx, "key": p.key, "pid": p.pid, "depth": depth,
                      "parent": p.parent, "argv": argv[:2000],
                      "status": _status(p) + (" (fsrace's launcher)" if is_launcher else ""),
                      # The launcher exits non-zero because a copy did: not a failure of its own.
                      "failed": p.failed and not is_launcher, "launcher": is_launcher,
                      "folded_into": folded.get(idx), "ops": len(by_proc.get(idx, ()))})
    failed, helpers = split_failed(a, rep["failed_processes"], folded)
    # Failed processes the page lists; helpers with no race are counted apart.
    summary = dict(rep["summary"], failed_processes=len(failed))
    model = {
        "format": "fsrace-html-model",
        "clock": "time" if timed else "seq",
        "t0": t0 if timed else None,
        "span": [span0, span1],
        "focus": focus_window(findings, ops, (span0, span1), timed),
        "bucket_width": width,
        "strings": strings,
        "ops": ops,
        "agg": [[p, b, n, errs] for (p, b), (n, errs) in sorted(agg.items())],
        "lanes": lanes,
        "findings": findings,
        "hidden_findings": hidden,
        "has_manifested": any(f["verdict"] == "manifested" and f["severity"] != "info"
                              for f in findings),
        "root_causes": root_cause_cards(a),
        "failed": failed,
        "failed_helpers": helpers,
        "warnings": [str(w) for w in (a.trailer.get("warnings") or ())],
        "summary": summary,
        "stats": dict(rep["stats"], drawn=len(ops), aggregated=len(entries) - len(ops),
                      timeline_entries=len(entries), complete_timeline=tl.complete),
        "source": rep["source"],
        "budget": budget,
    }
    return _safe(model)


__all__ = ["html_model", "MARK_BUDGET", "MAX_SITES"]
