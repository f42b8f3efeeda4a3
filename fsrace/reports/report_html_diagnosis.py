"""What the HTML page says first: root causes, the race window, folded helper lanes.

Pure data preparation for ``report_html_model`` (JSON-ready dicts and
lists; strings are made printable by the model).  One job: decide what a
person looks at first on the page —

* the root causes as cards (statement, failures explained, fix, links);
* the time window where the races happened (the page opens on it, not on
  the whole run: the seed's race sits in the first 7 s of a 49 s run);
* which process lanes are folded into their parent (helper processes that
  took no part in any race: pyenv shims' ``readlink``/``grep``, ...);
* fsrace's own launcher, never counted as a failed process (it exits
  non-zero because a copy did).
"""

from __future__ import annotations

import os
from typing import Any

from fsrace.analyzers.analyze import Analysis

#: Fields of a root cause the page shows (``analyzers.root_causes.RootCause``).
RC_FIELDS = ("id", "resource", "programs", "kinds", "severity", "statement", "missing_order",
             "fix", "site_ids", "finding_ids", "evidence")

#: The race window is used only when it is this much narrower than the run.
FOCUS_MAX_FRACTION = 0.7


def launcher_index(a: Analysis) -> int | None:
    """Process index of fsrace's own launcher (the root of a ``record`` log), or None."""
    launcher = a.trailer.get("launcher_pid")
    if launcher is None:
        return None
    for p in a.history.processes:
        if p.pid == launcher and p.parent is None:
            return p.idx
    return None


def involved_processes(a: Analysis) -> set[int]:
    """Processes that took part in a finding, or whose failure a finding explains."""
    out: set[int] = set()
    for f in a.findings:
        out |= f.procs()
    for idx, ids in a.explanations.items():
        if ids:
            out.add(idx)
    for rc in getattr(a, "root_causes", None) or ():
        out.update(i for i in (getattr(rc, "explains", None) or ()) if isinstance(i, int))
    return out


def fold_lanes(a: Analysis, order: list[tuple[int, int]]) -> dict[int, int]:
    """Lanes folded into an ancestor's lane: ``{process index: lane it is drawn in}``.

    A lane stays when its process took part in a race (or a race explains
    its failure), when it is an ancestor of such a process, or when it is
    a root or a root's child (the launcher and the copies of the command).
    Every other process is a helper: its operations are drawn in its
    nearest kept ancestor's lane.
    """
    procs = a.history.processes
    involved = involved_processes(a)
    keep: set[int] = set()
    for idx in involved:
        cur: int | None = idx
        while cur is not None and cur not in keep:
            keep.add(cur)
            cur = procs[cur].parent
    folded: dict[int, int] = {}
    for idx, depth in order:
        if depth <= 1 or idx in keep:
            keep.add(idx)
            continue
        cur = procs[idx].parent
        while cur is not None and cur not in keep:
            cur = procs[cur].parent
        if cur is None:     # no kept ancestor (cannot happen: roots are kept); keep it
            keep.add(idx)
        else:
            folded[idx] = cur
    return folded


def focus_window(findings: list[dict[str, Any]], ops: list[list[Any]], span: tuple[float, float],
                 timed: bool) -> list[float] | None:
    """The window around the races that matter most, or None for the whole run.

    The pairs of the error findings (else the warnings, else all), padded
    by a tenth of their width; None when that window would cover most of
    the run anyway.
    """
    for wanted in ("error", "warning", None):
        chosen = [f for f in findings if wanted is None or f["severity"] == wanted]
        xs = [x for f in chosen for i in f["pair"] if i >= 0
              for x in (ops[i][1], ops[i][1] + ops[i][2])]
        if xs:
            break
    else:
        return None
    lo, hi = min(xs), max(xs)
    full = span[1] - span[0]
    pad = max((hi - lo) * 0.1, full * 0.002, 50.0 if timed else 5.0)
    lo, hi = max(span[0], lo - pad), min(span[1], hi + pad)
    if hi - lo > FOCUS_MAX_FRACTION * full:
        return None
    return [lo, hi]


def _proc_ref(a: Analysis, idx: int) -> dict[str, Any]:
    p = a.history.processes[idx]
    return {"proc": p.key, "pid": p.pid, "argv": " ".join(p.argv or ["?"])[:300]}


def root_cause_cards(a: Analysis) -> list[dict[str, Any]]:
    """The analysis's root causes as the page's cards (ranked as the analysis ranks them)."""
    procs = a.history.processes
    launcher = launcher_index(a)
    cards = []
    for rc in getattr(a, "root_causes", None) or ():
        card: dict[str, Any] = {k: getattr(rc, k, None) for k in RC_FIELDS}
        if card["site_ids"] is None:
            card["site_ids"] = getattr(rc, "sites", None)
        for k in ("programs", "kinds", "site_ids", "finding_ids"):
            v = card[k]
            card[k] = [v] if isinstance(v, str) else [str(x) for x in (v or ())]
        explains = [i for i in (getattr(rc, "explains", None) or ())
                    if isinstance(i, int) and 0 <= i < len(procs) and i != launcher]
        card["explains"] = [_proc_ref(a, i) for i in explains]
        cards.append(card)
    return cards


def program_name(argv: list[str] | None) -> str:
    """argv[0] without its directory ("?" when unknown)."""
    return os.path.basename(argv[0]) if argv else "?"


def split_failed(a: Analysis, failed: list[dict[str, Any]],
                 folded: dict[int, int]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The failed processes the page lists one by one, and the helpers it collapses.

    fsrace's launcher is dropped; a folded helper that failed with no race
    involved is counted by program name, not listed.
    """
    procs = a.history.processes
    by_key = {p.key: p.idx for p in procs}
    launcher = launcher_index(a)
    shown: list[dict[str, Any]] = []
    helpers: dict[str, int] = {}
    for row in failed:
        idx = by_key.get(row.get("proc"))
        if idx is not None and idx == launcher:
            continue
        if idx in folded and not row.get("explained_by"):
            name = program_name(procs[idx].argv)
            helpers[name] = helpers.get(name, 0) + 1
            continue
        shown.append(row)
    return shown, {"count": sum(helpers.values()),
                   "programs": sorted(helpers.items(), key=lambda kv: (-kv[1], kv[0]))}


__all__ = ["fold_lanes", "focus_window", "launcher_index", "root_cause_cards", "split_failed",
           "involved_processes", "program_name"]
