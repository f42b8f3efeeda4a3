"""The run as a Perfetto / Chrome trace.

* ``render_perfetto``: the Chrome trace-event JSON that the Perfetto UI
  (ui.perfetto.dev) and chrome://tracing open: one process track per
  process (a thread track per thread under it), every file operation as an
  ``X`` slice with its path and result, every finding as a flow arrow from
  the culprit's slice to the victim's plus an instant marker on the victim.

Time: microseconds since the first event.  A log recorded without
timestamps (``strace -f`` without ``-t``) has only the event order; the
export then uses the sequence number as the clock (1 "µs" per event) and
says so in ``otherData.clock``.
"""

from __future__ import annotations

import json
from typing import Any

from fsrace.analyzers.accesses import A_ERRNO, A_PATH, A_PROC, A_SEQ, A_SYSCALL
from fsrace.analyzers.analyze import Analysis
from fsrace.analyzers.timeline import (E_DETAIL, E_END, E_ERRNO, E_KIND, E_PATH, E_PATH2,
                                       E_PROC, E_SEQ, E_SYSCALL, E_TID, E_TS, Timeline,
                                       timeline_from_analysis)

from .safe_text import printable

# ------------------------------------------------------------------ export

def _result(e: tuple) -> str:
    return "ok" if e[E_ERRNO] is None else f"-1 {e[E_ERRNO]}"


def proc_label(a: Analysis, idx: int, limit: int = 80) -> str:
    """``pid N: argv`` shortened, safe to show."""
    p = a.history.processes[idx]
    argv = " ".join(p.argv) if p.argv else "?"
    if len(argv) > limit:
        argv = argv[:limit - 3] + "..."
    return printable(f"pid {p.key}: {argv}")


def perfetto_dict(a: Analysis, timeline: Timeline | None = None) -> dict[str, Any]:
    """The trace-event JSON object (``{"traceEvents": [...], ...}``)."""
    tl = timeline or timeline_from_analysis(a)
    procs = a.history.processes
    timed = tl.has_time()
    t0 = next((e[E_TS] for e in tl.entries if e[E_TS] is not None), 0.0) if timed else 0.0

    def us(e: tuple) -> float:
        if not timed or e[E_TS] is None:
            return float(e[E_SEQ])
        return round((e[E_TS] - t0) * 1e6, 3)

    events: list[dict[str, Any]] = []
    # One process track per process; threads are tracks under it.  A process
    # reusing a pid gets a synthetic pid so that its track stays its own.
    track_pid: dict[int, int] = {}
    used: set[int] = set()
    for p in procs:
        pid = p.pid if p.pid >= 0 and p.pid not in used else 10_000_000 + p.idx
        used.add(pid)
        track_pid[p.idx] = pid
        status = ("killed by " + p.signal) if p.signal else (
            f"exit {p.exit_code}" if p.exited else "still running at the end")
        events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": pid,
                       "args": {"name": proc_label(a, p.idx) + f" [{status}]"}})
        events.append({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": pid,
                       "args": {"sort_index": p.idx}})
        events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": pid,
                       "args": {"name": f"pid {p.key} (main thread)"}})
    # Slices per thread, in time order, clipped so that consecutive calls of
    # one thread never overlap (strace rounds to the microsecond).
    per_track: dict[tuple[int, int], list[tuple[float, float, tuple]]] = {}
    for e in tl.entries:
        if e[E_KIND] in ("exit",):
            continue
        pid = track_pid[e[E_PROC]]
        tid = e[E_TID] if e[E_TID] is not None else pid
        start = us(e)
        if timed and e[E_END] is not None and e[E_TS] is not None:
            dur = max(0.0, round((e[E_END] - e[E_TS]) * 1e6, 3))
        else:
            dur = 0.0
        per_track.setdefault((pid, tid), []).append((start, dur, e))
    slice_at: dict[int, tuple[int, int, float, float]] = {}
    for (pid, tid), items in per_track.items():
        items.sort(key=lambda it: (it[0], it[2][E_SEQ]))
        if tid != pid:
            events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
                           "args": {"name": f"thread {tid}"}})
        for i, (start, dur, e) in enumerate(items):
            if i + 1 < len(items):
                dur = min(dur, max(0.0, items[i + 1][0] - start))
            args: dict[str, Any] = {"seq": e[E_SEQ], "result": _result(e)}
            if e[E_PATH] is not None:
                args["path"] = printable(e[E_PATH])
            if e[E_PATH2] is not None:
                args["path2"] = printable(e[E_PATH2])
            if e[E_KIND] == "lock" and e[E_DETAIL]:
                args["lock"] = e[E_DETAIL]
            elif e[E_KIND] == "exec" and e[E_DETAIL]:
                args["argv"] = printable(" ".join(e[E_DETAIL]))
            elif e[E_KIND] in ("fork", "wait") and e[E_DETAIL] is not None:
                args["child"] = procs[e[E_DETAIL]].key
            elif e[E_KIND] == "op" and e[E_DETAIL]:
                args["flags"] = printable(e[E_DETAIL])
            events.append({"ph": "X", "name": e[E_SYSCALL] or e[E_KIND], "cat": e[E_KIND],
                           "ts": start, "dur": dur, "pid": pid, "tid": tid, "args": args})
            slice_at[e[E_SEQ]] = (pid, tid, start, dur)
    # Findings: a flow arrow from the culprit's slice to the victim's, and an
    # instant marker on the victim's slice.
    for n, f in enumerate(a.findings, 1):
        c = f.example
        if c is None:
            continue
        src = slice_at.get(c.culprit[A_SEQ])
        dst = slice_at.get(c.victim[A_SEQ])
        if src is None or dst is None:
            continue
        label = f"{f.id} {f.kind} ({f.severity})"
        info = {"finding": f.id, "kind": f.kind, "verdict": f.verdict, "severity": f.severity,
                "site": printable(f.site), "count": f.count,
                "culprit": f"pid {procs[c.culprit[A_PROC]].key} {c.culprit[A_SYSCALL]} "
                           f"{printable(c.culprit[A_PATH])}",
                "victim": f"pid {procs[c.victim[A_PROC]].key} {c.victim[A_SYSCALL]} "
                          f"{printable(c.victim[A_PATH])} = "
                          + ("ok" if c.victim[A_ERRNO] is None else f"-1 {c.victim[A_ERRNO]}")}
        spid, stid, sts, sdur = src
        dpid, dtid, dts, ddur = dst
        events.append({"ph": "s", "name": label, "cat": "race", "id": n,
                       "ts": round(sts + sdur / 2, 3), "pid": spid, "tid": stid})
        events.append({"ph": "f", "bp": "e", "name": label, "cat": "race", "id": n,
                       "ts": round(dts + ddur / 2, 3), "pid": dpid, "tid": dtid})
        events.append({"ph": "i", "s": "t", "name": label, "cat": "race",
                       "ts": round(dts + ddur / 2, 3), "pid": dpid, "tid": dtid, "args": info})
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {"generator": "fsrace", "clock": "time" if timed else "seq",
                      "t0": t0 if timed else None, "complete": tl.complete,
                      "findings": len(a.findings), "processes": len(procs)},
    }


def render_perfetto(a: Analysis, timeline: Timeline | None = None) -> str:
    """The trace-event JSON as text (ASCII only, one event per line)."""
    d = perfetto_dict(a, timeline)
    events = d.pop("traceEvents")
    head = json.dumps(d)[:-1]
    body = ",\n".join(json.dumps(e, separators=(",", ":")) for e in events)
    return head + ', "traceEvents": [\n' + body + "\n]}"


__all__ = ["perfetto_dict", "render_perfetto", "proc_label"]
