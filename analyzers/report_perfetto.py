"""The run as a timeline: per-process operations with their durations.

Two jobs live here because both need the same thing the History does not
keep (it keeps accesses per path, not durations, threads or lock calls):

* ``Timeline``: the file operations, lock calls and process events of a
  run in log order, each with its process, thread, enter and exit time.
  ``load_with_timeline`` fills it while the History is built (one pass over
  the log); ``timeline_from_analysis`` rebuilds a poorer one (no durations,
  threads or locks) from the accesses when only an Analysis is at hand.
  The HTML report and ``fsrace explain`` read it too.
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
from dataclasses import dataclass, field
from typing import Any, Callable

from fsrace.safe_text import printable

from .accesses import (A_ERRNO, A_OP, A_OTHER, A_PATH, A_PROC, A_SEQ, A_SYSCALL, A_TS,
                       RENAME_FROM, classify, is_pseudo)
from .analyze import Analysis
from .history import History, HistoryBuilder

# Fields of a timeline entry.
E_SEQ, E_PROC, E_TID, E_KIND, E_SYSCALL, E_TS, E_END, E_PATH, E_PATH2, E_ERRNO, E_DETAIL, E_OFD = \
    range(12)

#: Entry kinds.  ``op`` is a file operation (it has accesses), ``lock`` a
#: flock/fcntl lock call, ``close`` a close that may release a lock.
KINDS = ("op", "lock", "close", "fork", "exec", "exit", "wait", "release")


@dataclass
class Timeline:
    """File operations, lock calls and process events, in log order."""

    entries: list[tuple] = field(default_factory=list)
    #: True when filled from the event stream (durations, tids, locks known).
    complete: bool = False

    def has_time(self) -> bool:
        """True when the events carry timestamps."""
        return any(e[E_TS] is not None for e in self.entries[:50])

    def by_proc(self) -> dict[int, list[tuple]]:
        """Entries per process index, in log order."""
        out: dict[int, list[tuple]] = {}
        for e in self.entries:
            out.setdefault(e[E_PROC], []).append(e)
        return out


class TimelineTap:
    """Collects timeline entries from the event stream (``load_history``'s ``on_event``).

    Entries name processes by their identity key while loading;
    ``finish(history)`` turns the keys into the History's process indexes.
    """

    def __init__(self) -> None:
        self.timeline = Timeline(complete=True)
        self._locked_ofds: set[Any] = set()
        self._lock_paths: set[str] = set()

    def finish(self, h: History) -> Timeline:
        """The Timeline, with process keys resolved against ``h``."""
        by_key = h.by_key
        out = []
        for e in self.timeline.entries:
            idx = by_key.get(e[E_PROC])
            if idx is None:
                continue
            if e[E_KIND] in ("fork", "wait"):
                e = e[:E_DETAIL] + (by_key.get(e[E_DETAIL]) if e[E_DETAIL] else None,) + e[E_DETAIL + 1:]
            out.append((e[E_SEQ], idx) + e[E_PROC + 1:])
        self.timeline.entries = out
        return self.timeline

    def __call__(self, ev: dict[str, Any]) -> None:
        idx = ev.get("proc")
        if idx is None:
            return
        etype = ev.get("type")
        seq = ev.get("seq")
        ts = ev.get("ts")
        end = ev.get("ts_end")
        tid = ev.get("tid")
        name = ev.get("syscall")
        path = ev.get("path")
        add = self.timeline.entries.append
        if etype == "syscall":
            lock = ev.get("lock")
            if lock is not None:
                if ev.get("ofd") is not None:
                    self._locked_ofds.add(ev.get("ofd"))
                if path:
                    self._lock_paths.add(path)
                detail = f"{lock.get('kind')}:{lock.get('op')}"
                add((seq, idx, tid, "lock", name, ts, end, path, None, ev.get("errno"), detail,
                     ev.get("ofd")))
                return
            if name == "close":
                ofd = ev.get("ofd")
                if (ev.get("last") and ofd in self._locked_ofds) or (path and path in self._lock_paths):
                    add((seq, idx, tid, "close", name, ts, end, path, None, ev.get("errno"),
                         "last" if ev.get("last") else None, ofd))
                return
            if path is None or is_pseudo(path):
                if not (ev.get("path2") and not is_pseudo(ev["path2"])):
                    return
            if next(classify(ev), None) is None:
                return
            add((seq, idx, tid, "op", name, ts, end, path, ev.get("path2"), ev.get("errno"),
                 ev.get("flags"), ev.get("ofd")))
        elif etype == "exec":
            add((seq, idx, tid, "exec", name, ts, end, path, None, ev.get("errno"),
                 ev.get("argv"), None))
        elif etype == "fork":
            if ev.get("thread"):
                return
            child = ev.get("child_proc")
            add((seq, idx, tid, "fork", name, ts, end, None, None, ev.get("errno"), child, None))
        elif etype == "exit":
            status = f"killed by {ev['signal']}" if ev.get("signal") else f"exit {ev.get('code')}"
            add((seq, idx, tid, "exit", "exit", ts, end, None, None, None, status,
                 tuple(ev.get("released_ofds") or ())))
        elif etype == "wait":
            child = ev.get("child_proc")
            add((seq, idx, tid, "wait", name, ts, end, None, None, ev.get("errno"), child, None))
        elif etype == "release":
            add((seq, idx, tid, "release", "release", ts, end, path, None, None, None,
                 ev.get("ofd")))


def load_with_timeline(inputs: list[str], *, initial_cwd: str | None = None,
                       on_progress: Callable[[int, int], None] | None = None
                       ) -> tuple[History, dict[str, Any], dict[str, Any], Timeline]:
    """``load_history`` plus the Timeline of the run, in one pass."""
    from .load import load_history

    tap = TimelineTap()
    history, header, trailer = load_history(inputs, initial_cwd=initial_cwd,
                                            on_progress=on_progress, on_event=tap)
    return history, header, trailer, tap.finish(history)


def analyze_events_with_timeline(events: Any) -> tuple[Analysis, Timeline]:
    """Analyse an event stream (pure: no I/O), keeping the Timeline."""
    from .analyze import analyze_history

    builder = HistoryBuilder()
    tap = TimelineTap()
    for ev in events:
        builder.add(ev)
        tap(ev)
    h = builder.finish()
    return analyze_history(h), tap.finish(h)


def analyze_with_timeline(inputs: list[str], console: Any = None,
                          initial_cwd: str | None = None) -> tuple[Analysis, Timeline]:
    """Load and analyse like ``fsrace analyze``, keeping the Timeline."""
    from .analyze import analyze_history

    on_progress: Callable[[int, int], None] | None = None
    progress = None
    if console is not None and getattr(console, "is_terminal", False):
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        progress = Progress(TextColumn("analysing"), BarColumn(), DownloadColumn(),
                            console=console, transient=True)
        task = progress.add_task("load", total=None)
        bar = progress

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        on_progress = update
        progress.start()
    try:
        history, header, trailer, timeline = load_with_timeline(
            inputs, initial_cwd=initial_cwd, on_progress=on_progress)
    finally:
        if progress is not None:
            progress.stop()
    return analyze_history(history, header, trailer), timeline


def timeline_from_analysis(a: Analysis) -> Timeline:
    """A Timeline rebuilt from the accesses (no durations, threads or locks)."""
    by_seq: dict[int, tuple] = {}
    for accs in a.history.paths.values():
        for acc in accs:
            seq = acc[A_SEQ]
            if seq in by_seq and acc[A_OP] != RENAME_FROM:
                continue
            path, path2 = acc[A_PATH], None
            if acc[A_OP] == RENAME_FROM:
                path2 = acc[A_OTHER]
            elif acc[A_OTHER] is not None and acc[A_OP] in ("rename-to", "create") \
                    and acc[A_SYSCALL] in ("rename", "renameat", "renameat2", "link", "linkat"):
                path, path2 = acc[A_OTHER], acc[A_PATH]
            by_seq[seq] = (seq, acc[A_PROC], None, "op", acc[A_SYSCALL], acc[A_TS], None, path,
                           path2, acc[A_ERRNO], acc[7], None)
    entries = [by_seq[s] for s in sorted(by_seq)]
    for p in a.history.processes:
        if p.exited:
            status = f"killed by {p.signal}" if p.signal else f"exit {p.exit_code}"
            entries.append((p.last_seq, p.idx, None, "exit", "exit", p.last_ts, None, None, None,
                            None, status, ()))
    entries.sort(key=lambda e: e[E_SEQ])
    return Timeline(entries, complete=False)


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


__all__ = ["Timeline", "TimelineTap", "load_with_timeline", "analyze_with_timeline",
           "analyze_events_with_timeline",
           "timeline_from_analysis", "perfetto_dict", "render_perfetto", "proc_label",
           "A_TS", "A_PATH"]
