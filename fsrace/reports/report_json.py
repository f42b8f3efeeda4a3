"""The JSON report: the stable interface that scripts and CI jobs rely on.

Field names are a promise (see the brief's "Interface"): extend, never
rename or drop without a version bump.
"""

from __future__ import annotations

import json
from typing import Any

from fsrace.analyzers.accesses import A_ERRNO, A_OP, A_PATH, A_PROC, A_SEQ, A_SYSCALL, A_TS, A_OTHER
from fsrace.analyzers.analyze import Analysis
from fsrace.analyzers.conflict import Conflict
from fsrace.analyzers.sites import Finding

FORMAT = "fsrace-report"
#: 1.1 adds ``root_causes`` and ``warnings`` (additive).
VERSION = "1.1"

#: How many conflicting pairs a finding lists in full.
MAX_INSTANCES = 50


def access_dict(a: Analysis, acc: tuple, role: str) -> dict[str, Any]:
    """One access of a conflicting pair, as the report shows it."""
    proc = a.history.processes[acc[A_PROC]]
    out = {"role": role, "pid": proc.pid, "proc": proc.key, "seq": acc[A_SEQ],
           "ts": acc[A_TS], "syscall": acc[A_SYSCALL], "op": acc[A_OP], "path": acc[A_PATH],
           "result": "ok" if acc[A_ERRNO] is None else f"-1 {acc[A_ERRNO]}",
           "errno": acc[A_ERRNO]}
    if acc[A_OTHER] is not None:
        out["other_path"] = acc[A_OTHER]
    return out


def _pair(a: Analysis, c: Conflict) -> list[dict[str, Any]]:
    return [access_dict(a, c.culprit, "culprit"), access_dict(a, c.victim, "victim")]


def finding_dict(a: Analysis, f: Finding) -> dict[str, Any]:
    """One finding with its example accesses and instances."""
    procs = a.history.processes
    example = f.example
    assert example is not None
    culprit = procs[example.culprit[A_PROC]]
    victim = procs[example.victim[A_PROC]]
    return {
        "id": f.id,
        "kind": f.kind,
        "verdict": f.verdict,
        "severity": f.severity,
        "path": example.victim[A_PATH],
        "site": f.site,
        "syscalls": list(f.syscalls),
        "count": f.count,
        "pids": sorted({procs[i].pid for i in f.procs()}),
        "procs": sorted({procs[i].key for i in f.procs()}),
        "culprit_pid": culprit.pid,
        "victim_pid": victim.pid,
        "accesses": _pair(a, example),
        "ordered_by": None,
        "note": f.note,
        "judged_by": f.judged_by,
        "instances": [
            {"culprit_pid": procs[c.culprit[A_PROC]].pid, "culprit_seq": c.culprit[A_SEQ],
             "victim_pid": procs[c.victim[A_PROC]].pid, "victim_seq": c.victim[A_SEQ],
             "path": c.victim[A_PATH]}
            for c in f.conflicts[:MAX_INSTANCES]],
    }


def root_cause_dict(a: Analysis, rc: Any) -> dict[str, Any]:
    """One root cause (see fsrace.analyzers.root_causes): process indexes become pids."""
    procs = a.history.processes
    example = rc.example
    return {
        "id": rc.id,
        "resource": rc.resource,
        "pattern": rc.pattern,
        "programs": list(rc.programs),
        "copies": rc.copies,
        "kinds": list(rc.kinds),
        "severity": rc.severity,
        "statement": rc.statement,
        "missing_order": rc.missing_order,
        "fix": rc.fix,
        "explains": [procs[i].pid for i in rc.explains],
        "explains_procs": [procs[i].key for i in rc.explains],
        "finding_ids": list(rc.finding_ids),
        "sites": list(rc.sites),
        "site_ids": list(rc.sites),
        "evidence": rc.evidence,
        "example": _pair(a, example) if example is not None else None,
        "count": rc.count,
        "manifested_findings": rc.manifested,
    }


def launcher_idx(a: Analysis) -> set[int]:
    """Process indexes of fsrace's own launcher (never a failed process)."""
    pid = a.trailer.get("launcher_pid")
    if pid is None:
        return set()
    return {p.idx for p in a.history.processes if p.pid == pid and p.parent is None}


def report_dict(a: Analysis) -> dict[str, Any]:
    """The whole report as a JSON-ready dict."""
    h = a.history
    procs = h.processes
    counts = {"error": 0, "warning": 0, "info": 0}
    for f in a.findings:
        counts[f.severity] += 1
    failed = []
    skip = launcher_idx(a)
    for idx, ids in a.explanations.items():
        if idx in skip:
            continue  # fsrace's own launcher: it fails when a copy fails
        p = procs[idx]
        first = a.first_errors.get(idx)
        if first is None and p.failed_calls:
            s, name, path, errno = p.failed_calls[-1]
            first_error = {"seq": s, "syscall": name, "path": path, "errno": errno}
        elif first is not None:
            first_error = {"seq": first[A_SEQ], "syscall": first[A_SYSCALL],
                           "path": first[A_PATH], "errno": first[A_ERRNO]}
        else:
            first_error = None
        failed.append({"pid": p.pid, "proc": p.key, "exit_code": p.exit_code,
                       "signal": p.signal, "argv": p.argv, "first_error": first_error,
                       "explained_by": ids, "explained": bool(ids),
                       "related": a.related.get(idx, []),
                       "explanation": "; ".join(a.chains.get(idx, {}).values()) or None
                       if ids else "not explained by a file-system race"})
    trailer = a.trailer
    return {
        "format": FORMAT,
        "version": VERSION,
        "source": {"backend": a.header.get("backend"), "command": a.header.get("command"),
                   "interrupted": bool(trailer.get("interrupted")),
                   "incomplete": bool(trailer.get("incomplete")),
                   "invisible": list(a.header.get("invisible") or [])},
        "summary": {"errors": counts["error"], "warnings": counts["warning"],
                    "info": counts["info"], "failed_processes": len(failed),
                    "exited_0_lost_outputs": len(a.lost_outputs)},
        "processes": [
            {"pid": p.pid, "proc": p.key,
             "ppid": procs[p.parent].pid if p.parent is not None else None,
             "argv": p.argv, "exit_code": p.exit_code, "signal": p.signal}
            for p in procs],
        "root_causes": [root_cause_dict(a, rc) for rc in a.root_causes],
        "findings": [finding_dict(a, f) for f in a.findings],
        "failed_processes": failed,
        "stats": {
            "events": h.events,
            "processes": len(procs),
            "unparsed_lines": trailer.get("unparsed", 0),
            "unresolved_paths": trailer.get("unresolved_paths", 0),
            "paths": trailer.get("paths"),
            "lock_edges": h.hb.lock_edges,
            "conflicts": sum(f.count for f in a.findings),
        },
        "warnings": [str(w) for w in (trailer.get("warnings") or [])],
    }


def render_json(a: Analysis) -> str:
    """The report as JSON text."""
    return json.dumps(report_dict(a), indent=2)
