"""The run as a timeline: per-process operations with their durations.

The History keeps accesses per path, not durations, threads or lock calls;
the HTML report, the Perfetto export and ``fsrace explain`` need those, so
this module collects them:

* ``Timeline``: the file operations, lock calls and process events of a
  run in log order, each with its process, thread, enter and exit time.
  ``load_with_timeline`` fills it while the History is built (one pass over
  the log); ``timeline_from_analysis`` rebuilds a poorer one (no durations,
  threads or locks) from the accesses when only an Analysis is at hand.

Pure: a function of the event log, like the rest of the analysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .accesses import A_ERRNO, A_OP, A_OTHER, A_PATH, A_PROC, A_SEQ, A_SYSCALL, A_TS, RENAME_FROM, classify, is_pseudo
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

    def reset(self) -> None:
        """Forget what was seen (``load_history`` reads a reordered log twice)."""
        self.__init__()  # type: ignore[misc]

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
