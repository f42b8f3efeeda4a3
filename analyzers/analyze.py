"""The analysis pipeline: events -> history -> conflicts -> findings -> report.

``analyze_events`` is a pure function of the event stream (plus the log's
header and trailer for the statistics); the CLI and tests call it.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any, Iterable

from .accesses import (A_ERRNO, A_FLAGS, A_OP, A_PATH, A_PROC, A_SEQ, A_SYSCALL, CHECK, REMOVALS,
                       RENAME_TO)
from .chains import explanation_chains
from .conflict import Conflict
from .detectors import DETECTORS, EXPLAINERS
from .history import History, HistoryBuilder, build_history
from .sites import Finding, group


@dataclass
class Analysis:
    """Everything a renderer needs."""

    history: History
    findings: list[Finding]
    header: dict[str, Any] = field(default_factory=dict)
    trailer: dict[str, Any] = field(default_factory=dict)
    explanations: dict[int, list[str]] = field(default_factory=dict)
    first_errors: dict[int, tuple | None] = field(default_factory=dict)
    related: dict[int, list[str]] = field(default_factory=dict)
    #: Ranked root causes (analyzers/root_causes.py), the layer above findings.
    root_causes: list = field(default_factory=list)
    #: Per failed process, per explaining finding id: the chain in words
    #: ("pip 19774 <- its child 20002 <- removed by 20000, a child of pip 19773").
    chains: dict[int, dict[str, str]] = field(default_factory=dict)
    #: Processes that exited 0 but whose outputs were lost (lost-output victims).
    lost_outputs: set[int] = field(default_factory=set)


def find_conflicts(h: History) -> list[Conflict]:
    """Run every detector; each pair of accesses is claimed by one kind.

    A victim access that failed is explained once: by the first detector
    (in precedence order) and, within it, by the latest culprit before it.
    """
    out: list[Conflict] = []
    claimed: set[tuple] = set()
    failures: dict[tuple, int] = {}
    for detect in DETECTORS.values():
        for c in detect(h):
            pair = (c.culprit[A_SEQ], c.culprit[A_PATH], c.victim[A_SEQ], c.victim[A_PATH])
            if pair in claimed:
                continue
            if c.manifested:
                vkey = (c.victim[A_SEQ], c.victim[A_PATH])
                prev = failures.get(vkey)
                if prev is not None:
                    old = out[prev]
                    if old.kind != c.kind or old.culprit[A_SEQ] >= c.culprit[A_SEQ]:
                        continue
                    out[prev] = c
                    claimed.add(pair)
                    continue
                failures[vkey] = len(out)
            claimed.add(pair)
            out.append(c)
    return out


def retried(h: History, c: Conflict) -> bool:
    """Did the victim retry the same operation later, and did it succeed then?

    The same syscall on the same path by the same process (a lock call:
    any later lock taken on the file -- the blocking wait after a refused
    try).
    """
    v = c.victim
    proc, seq, path = v[A_PROC], v[A_SEQ], v[A_PATH]
    if v[A_OP] == "lock":
        return any(a[A_PROC] == proc and a[A_SEQ] > seq and a[A_ERRNO] is None
                   and a[A_PATH] == path and a[A_FLAGS] != "un" for a in h.lock_calls)
    return any(a[A_ERRNO] is None and a[A_SYSCALL] == v[A_SYSCALL] and a[A_OP] == v[A_OP]
               for a in h.later_accesses(path, proc, seq))


def handled(h: History, c: Conflict) -> bool:
    """A failure is handled only when the process's outcome shows it.

    It exited 0, or it retried the same operation and that succeeded.  What
    it did in between does not count: a copy that rolls back and dies, or
    keeps working after an EEXIST and fails later, did not handle it.
    """
    info = h.processes[c.victim[A_PROC]]
    return (info.exited and not info.failed) or retried(h, c)


#: Successful calls after an EEXIST that show the process went on past it.
WENT_ON_CALLS = 20


def went_on(h: History, c: Conflict) -> bool:
    """True when the victim lost an atomic create and then used the path successfully.

    ``mkdir`` EEXIST followed by creating files in the directory is a
    program treating "someone else made it" as fine.  Whether that was
    *handled* is judged by outcome (``handled``); this only says the EEXIST
    is not what the process died of, so it does not explain its failure.
    """
    v = c.victim
    if v[A_ERRNO] != "EEXIST" or c.kind == "lock-contention":
        return False
    proc, seq, path = v[A_PROC], v[A_SEQ], v[A_PATH]
    done = h.processes[proc].ok_seqs
    if len(done) - bisect_right(done, seq) >= WENT_ON_CALLS:
        return True  # it kept working long after (uv's create_new of CACHEDIR.TAG)
    paths = [path]
    if v[A_SYSCALL].startswith("mkdir"):
        paths.extend(h.subtree(path))
    for p in paths:
        for acc in h.paths.get(p, ()):
            if acc[A_PROC] == proc and acc[A_SEQ] > seq and acc[A_ERRNO] is None \
                    and acc[A_OP] not in REMOVALS:
                return True
    return False


#: Kinds whose damage an exit code cannot undo (the output stays lost).
NOT_HANDLED_BY_OUTCOME = frozenset(("lost-output",))


def unexplained_failures(h: History, conflicts: list[Conflict]) -> list[int]:
    """Failed processes that no manifested, non-info conflict explains (nor one of a descendant)."""
    victims = {c.victim[A_PROC] for c in conflicts
               if c.manifested and not c.info and not went_on(h, c)}
    return [p.idx for p in h.processes
            if p.failed and not (h.descendants_or_self(p.idx) & victims)]


def explain_stage(h: History, conflicts: list[Conflict]) -> list[Conflict]:
    """Conflicts found only to explain failures nothing else explains (``EXPLAINERS``)."""
    out: list[Conflict] = []
    for detect in EXPLAINERS.values():
        out.extend(detect(h, unexplained_failures(h, conflicts + out)))
    return out


def lost_atomic_create(victim: tuple) -> bool:
    """EEXIST, or ENOTEMPTY from renaming a directory onto one that exists: "someone else made it"."""
    errno = victim[A_ERRNO]
    return errno == "EEXIST" or (errno == "ENOTEMPTY" and victim[A_OP] == RENAME_TO)


def mark_handled(h: History, conflicts: list[Conflict]) -> None:
    """Tell handled failures (by outcome, see ``handled``) from the ones that hurt."""
    for c in conflicts:
        if c.kind in NOT_HANDLED_BY_OUTCOME:
            continue
        if c.manifested and handled(h, c):
            c.handled = True
            # Losing an atomic create or a lock is the designed outcome:
            # a loser that then got what it needed is safe by design.
            if lost_atomic_create(c.victim) or c.kind == "lock-contention":
                c.info = True
                c.note = (c.note + "; " if c.note else "") + (
                    "handled: retried and succeeded" if retried(h, c) else "handled: exited 0")


def _verdict(h: History):
    def severity_of(c: Conflict) -> tuple[str, str]:
        verdict = "manifested" if c.manifested else "latent"
        if c.info:
            return verdict, "info"
        if c.manifested:
            if c.handled:
                return verdict, "warning"
            # Not handled (mark_handled): the failure is what the run got.
            return verdict, "error"
        return verdict, "warning"
    return severity_of


def explain_failures(h: History, findings: list[Finding]) -> tuple[dict[int, list[str]], dict[int, tuple | None]]:
    """For each failed process: the findings where it or a descendant was the victim."""
    victims: dict[int, list[tuple[Finding, Conflict]]] = {}
    for f in findings:
        if f.verdict != "manifested" or f.severity == "info":
            continue
        for c in f.conflicts:
            if not went_on(h, c):
                victims.setdefault(c.victim[A_PROC], []).append((f, c))
    rank = {"error": 0, "warning": 1}
    explanations: dict[int, list[str]] = {}
    first_errors: dict[int, tuple | None] = {}
    for p in h.processes:
        if not p.failed:
            continue
        found = [fc for d in h.descendants_or_self(p.idx) for fc in victims.get(d, ())]
        # The failure most likely fatal first: errors before handled ones;
        # a failed rename/link/unlink/open/rmdir before a stat that found the
        # path gone, before an EEXIST (usually handled); then in log order.
        found.sort(key=lambda fc: (rank[fc[0].severity], _fatality(fc[1].victim),
                                   fc[1].victim[A_SEQ]))
        ids: list[str] = []
        for f, _c in found:
            if f.id not in ids:
                ids.append(f.id)
        explanations[p.idx] = ids
        first_errors[p.idx] = found[0][1].victim if found else None
    return explanations, first_errors


def _fatality(victim: tuple) -> int:
    """0 for failures programs rarely survive, 1 for failed checks, 2 for EEXIST."""
    if victim[A_ERRNO] == "EEXIST":
        return 2
    return 1 if victim[A_OP] == CHECK else 0


def related_findings(h: History, findings: list[Finding],
                     explanations: dict[int, list[str]]) -> dict[int, list[str]]:
    """For each failed process: the warning findings it (or a descendant) took part in.

    A race whose bad interleaving breaks a program without any failed
    syscall (a lost update, a torn file) cannot be proven to be the cause;
    it is listed as related, not as the explanation.
    """
    out: dict[int, list[str]] = {}
    for idx in explanations:
        family = h.descendants_or_self(idx)
        out[idx] = [f.id for f in findings if f.severity in ("error", "warning")
                    and f.id not in explanations[idx] and f.procs() & family]
    return out


def judge_by_time(h: History, conflicts: list[Conflict]) -> list[Conflict]:
    """Keep only races whose operations interleaved; label them ``judged_by="time"``.

    A backend that cannot see lock calls or waits (fanotify; its header
    lists ``"locks"`` or ``"wait"`` under ``invisible``; with the kernel's
    filelock trace events it sees locks but still no waits) makes every
    hand-over it cannot see look like a race to happens-before.  What its log still shows truthfully is the
    order of the operations.  A lock held around each process's work makes
    the two processes' operations on the contended path disjoint in that
    order; a real race makes them overlap.  So a pair is kept only when the
    two processes' accesses to the race's subject overlap in log order: the
    directory holding the contended entry (the site's parent) and
    everything under it.  Not the entry alone: the victim's failed call on
    it is invisible, its work next to it is not (uv's victim renames out
    of its own ``.tmp*`` sibling into the ``.data`` another process
    removes).  Kept pairs are labelled as judged
    by time: an unordered race that happened not to overlap this time is
    not reported (the model would call it latent), which is what a log
    without locks cannot tell apart from a correctly locked run.
    """
    spans: dict[str, dict[int, list[int]]] = {}

    def spans_of(path: str) -> dict[int, list[int]]:
        got = spans.get(path)
        if got is None:
            got = spans[path] = {}
            for p in (path, *h.subtree(path)):
                if p in h.lock_paths:
                    # Opening the lock file comes before taking the lock:
                    # it is no part of the work the lock orders.
                    continue
                for acc in h.paths.get(p, ()):
                    s = got.get(acc[A_PROC])
                    if s is None:
                        got[acc[A_PROC]] = [acc[A_SEQ], acc[A_SEQ]]
                    elif acc[A_SEQ] < s[0]:
                        s[0] = acc[A_SEQ]
                    elif acc[A_SEQ] > s[1]:
                        s[1] = acc[A_SEQ]
        return got

    kept = []
    for c in conflicts:
        got = spans_of(c.site_path.rsplit("/", 1)[0] or "/")
        a = got.get(c.culprit[A_PROC])
        b = got.get(c.victim[A_PROC])
        if a is not None and b is not None and a[0] < b[1] and b[0] < a[1]:
            c.judged_by = "time"
            kept.append(c)
    return kept


def analyze_history(h: History, header: dict[str, Any] | None = None,
                    trailer: dict[str, Any] | None = None) -> Analysis:
    """Detect, group and explain the races of a built history."""
    conflicts = find_conflicts(h)
    if {"locks", "wait"} & set((header or {}).get("invisible") or ()):
        conflicts = judge_by_time(h, conflicts)
    mark_handled(h, conflicts)
    if "failed-syscalls" not in ((header or {}).get("invisible") or ()):
        # A log without failed calls (fanotify) cannot tell a failure
        # decided from a read from one its invisible failed call caused.
        conflicts += explain_stage(h, conflicts)
    findings = group(conflicts, _verdict(h))
    explanations, first_errors = explain_failures(h, findings)
    analysis = Analysis(h, findings, header or {}, trailer or {}, explanations, first_errors,
                        related_findings(h, findings, explanations))
    analysis.chains = explanation_chains(h, findings, explanations)
    analysis.lost_outputs = {c.victim[A_PROC] for f in findings if f.kind == "lost-output"
                             for c in f.conflicts}
    from .root_causes import launcher_indexes, root_causes
    analysis.root_causes = root_causes(h, findings, explanations, first_errors, header,
                                       skip=launcher_indexes(h, trailer))
    return analysis


def analyze_events(events: Iterable[dict[str, Any]], header: dict[str, Any] | None = None,
                   trailer: dict[str, Any] | None = None) -> Analysis:
    """Analyse an event stream (pure: no I/O)."""
    return analyze_history(build_history(events), header, trailer)


__all__ = ["Analysis", "HistoryBuilder", "analyze_events", "analyze_history", "find_conflicts",
           "A_ERRNO"]
