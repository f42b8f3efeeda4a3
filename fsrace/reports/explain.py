"""``fsrace explain``: the story of one finding, in words a student can follow.

Four parts, each from the event log alone:

1. who: the process tree of the two processes (up to their common
   ancestor), with argv and exit status;
2. what: every operation of either process on the paths of the race (the
   victim's path, the culprit's path and the directories in between), from
   the first touch to the failure, in log order;
3. locks: which locks each process held at the culprit's and at the
   victim's operation (replayed from the lock calls, closes and exits);
4. why nothing ordered them: the fork/wait relation of the two processes,
   the locks they did (not) share, and what the happens-before clock of
   the later operation knew about the other process.

Everything shown from the traced programs goes through ``printable`` and
into ``rich.text.Text`` (never markup).
"""

from __future__ import annotations

import posixpath
from typing import Any

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from fsrace.reports.safe_text import printable

from fsrace.analyzers.accesses import A_ERRNO, A_OP, A_OTHER, A_PATH, A_PROC, A_SEQ, A_SYSCALL, A_TS
from fsrace.analyzers.analyze import Analysis
from fsrace.analyzers.timeline import (E_DETAIL, E_END, E_ERRNO, E_KIND, E_OFD, E_PATH, E_PROC, E_SEQ,
                                       E_SYSCALL, E_TS, Timeline)
from fsrace.analyzers.sites import Finding
from fsrace.reports.text_words import gap_words

SEV_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}
#: Operations shown before the pair (the first touch is always shown).
HEAD_ROWS, TAIL_ROWS, AFTER_ROWS = 4, 16, 3

FIXES = {
    "removed-while-in-use": "give each process a private directory (mkdtemp), or hold one "
                            "exclusive lock (flock) around everything that creates, uses and "
                            "removes the shared one",
    "filled-while-removing": "hold one exclusive lock around removing the tree and around "
                             "creating entries in it, or remove a private copy (rename it "
                             "away first, atomically, then delete it)",
    "create-collision": "create atomically and handle the loss: O_CREAT|O_EXCL, mkdir or "
                        "link/rename with RENAME_NOREPLACE, and treat EEXIST as 'someone else "
                        "did it'",
    "check-then-use": "do not act on a stat/access answer: try the operation itself and "
                      "handle its error (O_CREAT|O_EXCL instead of 'if not exists: create')",
    "concurrent-write": "serialise the writers with a lock (flock) around each update, or "
                        "have each write whole records with O_APPEND",
}


class UnknownFinding(Exception):
    """The finding id is not in the report."""


def find(a: Analysis, finding_id: str) -> Finding:
    """The finding ``F3`` (also accepts ``3`` and ``f3``)."""
    want = finding_id.strip().upper()
    if want.isdigit():
        want = "F" + want
    for f in a.findings:
        if f.id == want:
            return f
    ids = ", ".join(f.id for f in a.findings[:30]) or "none: no races found"
    more = f" (and {len(a.findings) - 30} more)" if len(a.findings) > 30 else ""
    raise UnknownFinding(f"no finding {printable(finding_id)} in this run; findings: {ids}{more}")


# ------------------------------------------------------------------ pieces

def _argv(p: Any, limit: int = 90) -> str:
    text = " ".join(p.argv) if p.argv else "?"
    return printable(text if len(text) <= limit else text[:limit - 3] + "...")


def _status(p: Any) -> str:
    if p.signal:
        return f"killed by {p.signal}"
    return f"exit {p.exit_code}" if p.exited else "still running when the log ends"


def _chain(a: Analysis, idx: int) -> list[int]:
    out = [idx]
    while a.history.processes[out[-1]].parent is not None:
        out.append(a.history.processes[out[-1]].parent)
    return out[::-1]


def relation(a: Analysis, x: int, y: int) -> tuple[str, int | None]:
    """How processes x and y are related: ('ancestor'|'descendant'|'related'|'unrelated', common)."""
    cx, cy = _chain(a, x), _chain(a, y)
    if x in cy:
        return "ancestor", x
    if y in cx:
        return "descendant", y
    common = None
    for p, q in zip(cx, cy):
        if p != q:
            break
        common = p
    return ("related" if common is not None else "unrelated"), common


def process_tree(a: Analysis, culprit: int, victim: int) -> Tree:
    """The processes from the common ancestor down to the two of the race."""
    procs = a.history.processes
    keep = set(_chain(a, culprit)) | set(_chain(a, victim))
    roles = {culprit: "culprit", victim: "victim"}
    if culprit == victim:
        roles = {culprit: "culprit and victim"}

    def label(i: int) -> Text:
        p = procs[i]
        t = Text(f"pid {p.key} ", style="bold" if i in roles else "")
        t.append(_argv(p))
        t.append(f"  [{_status(p)}]", style="red" if p.failed else "dim")
        if i in roles:
            t.append(f"  <- {roles[i]}", style="bold cyan")
        return t

    roots = [i for i in keep if procs[i].parent is None or procs[i].parent not in keep]
    tree = Tree(Text("process tree", style="bold"), guide_style="dim")

    def add(node: Tree, i: int) -> None:
        sub = node.add(label(i))
        for k in sorted((k for k in procs[i].children if k in keep), key=lambda k: procs[k].first_seq):
            add(sub, k)

    for r in sorted(roots, key=lambda i: procs[i].first_seq):
        add(tree, r)
    return tree


def related_paths(c: Any) -> set[str]:
    """The paths a race is about: both accesses' paths and the directories between."""
    paths = {c.culprit[A_PATH], c.victim[A_PATH]}
    for acc in (c.culprit, c.victim):
        if acc[A_OTHER]:
            paths.add(acc[A_OTHER])
    for low, high in ((c.victim[A_PATH], c.culprit[A_PATH]), (c.culprit[A_PATH], c.victim[A_PATH])):
        if low.startswith(high.rstrip("/") + "/"):
            p = low
            while p != high and p not in ("/", ""):
                paths.add(p)
                p = posixpath.dirname(p)
    return paths


def story_rows(a: Analysis, c: Any) -> list[tuple]:
    """Accesses of the two processes on the race's paths, in log order (one per call)."""
    procs = {c.culprit[A_PROC], c.victim[A_PROC]}
    rows: dict[int, tuple] = {}
    for path in related_paths(c):
        for acc in a.history.paths.get(path, ()):
            if acc[A_PROC] in procs:
                seq = acc[A_SEQ]
                if seq not in rows or acc in (c.culprit, c.victim) or acc[A_OP] == "rename-from":
                    if rows.get(seq) in (c.culprit, c.victim):
                        continue
                    rows[seq] = acc
    return [rows[s] for s in sorted(rows)]


class LockState:
    """Replays lock calls, closes and exits: which locks each process holds."""

    def __init__(self, a: Analysis, timeline: Timeline) -> None:
        self.a = a
        self.entries = [e for e in timeline.entries
                        if e[E_KIND] in ("lock", "close", "release", "exit")
                        or (e[E_KIND] == "op" and e[E_ERRNO] is None and (
                            ("O_EXCL" in (e[E_DETAIL] or "") and "O_CREAT" in (e[E_DETAIL] or ""))
                            or e[E_SYSCALL] in ("unlink", "unlinkat")))]
        self.complete = timeline.complete

    def held_at(self, seq: int) -> dict[int, list[tuple[tuple[str, str], str, str]]]:
        """Process index -> the locks it held just before ``seq``.

        Each lock is ((family, path), mode, description); mode is
        ``exclusive``, ``shared`` or ``lock file``.
        """
        held: dict[tuple, tuple[int, str]] = {}   # (family, path, holder) -> (proc, mode)
        excl_files: dict[str, tuple[int, float | None]] = {}   # path -> (holder, created at)
        for e in self.entries:
            if e[E_SEQ] >= seq:
                break
            kind, proc, path = e[E_KIND], e[E_PROC], e[E_PATH]
            if kind == "lock":
                if e[E_ERRNO] is not None or not e[E_DETAIL]:
                    continue
                family, op = e[E_DETAIL].split(":", 1)
                holder = e[E_OFD] if family in ("flock", "ofd") and e[E_OFD] is not None else ("p", proc)
                fam = "flock" if family == "flock" else "fcntl"
                for key in [k for k in held if k[0] == fam and k[1] == path and k[2] == holder]:
                    del held[key]
                if op in ("ex", "sh"):
                    held[(fam, path, holder)] = (proc, "exclusive" if op == "ex" else "shared")
            elif kind == "close":
                for key in list(held):
                    if (e[E_DETAIL] == "last" and key[2] == e[E_OFD]) or \
                            (key[0] == "fcntl" and key[1] == path and key[2] == ("p", proc)):
                        del held[key]
            elif kind == "release":
                for key in [k for k in held if k[2] == e[E_OFD]]:
                    del held[key]
            elif kind == "exit":
                gone = set(e[E_OFD] or ())
                for key in list(held):
                    if key[2] in gone or key[2] == ("p", proc):
                        del held[key]
            elif kind == "op":
                if e[E_SYSCALL] in ("unlink", "unlinkat"):
                    holder = excl_files.get(path)
                    # The log is in completion order: an unlink that entered
                    # before the holder's create returned removed the file
                    # of the previous holder, not this one.
                    if holder is not None and (holder[0] == proc or holder[1] is None
                                               or e[E_TS] is None or e[E_TS] >= holder[1]):
                        del excl_files[path]
                else:
                    excl_files[path] = (proc, e[E_END] if e[E_END] is not None else e[E_TS])
        out: dict[int, list[tuple[tuple[str, str], str, str]]] = {}
        for (fam, path, _h), (proc, mode) in held.items():
            out.setdefault(proc, []).append(((fam, path), mode,
                                             f"{fam} {mode} lock on {printable(path)}"))
        for path, (proc, _t) in excl_files.items():
            out.setdefault(proc, []).append((("excl", path), "lock file",
                                             f"lock file {printable(path)} (created with O_EXCL)"))
        return out


def _row(a: Analysis, acc: tuple, c: Any, base: str) -> Text:
    procs = a.history.processes
    hot = acc in (c.culprit, c.victim) or acc[A_SEQ] in (c.culprit[A_SEQ], c.victim[A_SEQ])
    t0 = a.history.first_ts
    t = Text(">> " if hot else "   ", style="bold")
    t.append(f"seq {acc[A_SEQ]:>7} ")
    if acc[A_TS] is not None and t0 is not None:
        t.append(f"{(acc[A_TS] - t0) * 1000:>10.3f} ms  ", style="dim")
    who = "culprit" if acc[A_PROC] == c.culprit[A_PROC] else "victim "
    t.append(f"pid {procs[acc[A_PROC]].key} ({who})  ", style="cyan" if who == "culprit" else "magenta")
    t.append(acc[A_SYSCALL] + " ", style="bold" if hot else "")
    t.append(printable(_short(acc[A_PATH], base)))
    if acc[A_OTHER] and acc[A_OP] == "rename-from":
        t.append(" -> " + printable(_short(acc[A_OTHER], base)))
    if acc[A_ERRNO]:
        t.append(f"  = -1 {acc[A_ERRNO]}", style="bold red")
    return t


def _short(path: str | None, base: str) -> str:
    if path and base and path.startswith(base + "/"):
        return path[len(base) + 1:]
    return path or "?"


def _verb(acc: tuple) -> str:
    return {"remove": "removed", "rename-from": "renamed away", "rename-to": "renamed something onto",
            "create": "created", "write": "wrote", "read": "used", "check": "checked"}.get(acc[A_OP], "touched")


# ------------------------------------------------------------------ story

def story(a: Analysis, timeline: Timeline, finding_id: str, conflict: Any = None) -> list[Any]:
    """The renderables of the explanation (rich Text, Tree).

    ``conflict`` picks the pair to walk through (default: the finding's
    example, the pair closest in time).
    """
    f = find(a, finding_id)
    c = conflict if conflict is not None else f.example
    assert c is not None
    h = a.history
    procs = h.processes
    cu, vi = c.culprit, c.victim
    cp, vp = procs[cu[A_PROC]], procs[vi[A_PROC]]
    out: list[Any] = []

    title = Text(f"{f.id} {f.kind}", style=SEV_STYLE[f.severity])
    title.append(f"  ({f.verdict}, {f.severity}; {f.count} conflicting pair"
                 f"{'s' if f.count != 1 else ''} at this site)")
    out.append(title)
    site = Text("site: ", style="dim")
    site.append(printable(f.site))
    out.append(site)
    summary = Text(f"In short: pid {cp.key} {_verb(cu)} ")
    summary.append(printable(cu[A_PATH]))
    summary.append(f" ({cu[A_SYSCALL]}, seq {cu[A_SEQ]}) while pid {vp.key} {_verb(vi)} ")
    summary.append(printable(vi[A_PATH]))
    summary.append(f" ({vi[A_SYSCALL]}, seq {vi[A_SEQ]})")
    if vi[A_ERRNO]:
        summary.append(f", which failed with {vi[A_ERRNO]}", style="bold red")
    summary.append(".")
    out += [Text(""), summary]

    # 1. who
    out += [Text(""), Text("1. The two processes", style="bold underline")]
    out.append(process_tree(a, cu[A_PROC], vi[A_PROC]))

    # 2. what
    rows = story_rows(a, c)
    import posixpath as pp
    paths = [r[A_PATH] for r in rows] + [r[A_OTHER] for r in rows if r[A_OTHER]]
    base = pp.commonpath(paths) if paths else ""
    if base in paths:
        base = pp.dirname(base)
    base = "" if base in ("/", "") else base
    head = Text("2. What each did to the path, from the first touch", style="bold underline")
    out += [Text(""), head]
    if base:
        out.append(Text("   (paths below " + printable(base) + "/)", style="dim"))
    lo, hi = sorted((cu[A_SEQ], vi[A_SEQ]))
    before = [r for r in rows if r[A_SEQ] < lo]
    between = [r for r in rows if lo <= r[A_SEQ] <= hi]
    after = [r for r in rows if r[A_SEQ] > hi][:AFTER_ROWS]
    shown: list[tuple | None] = []
    if len(before) > HEAD_ROWS + TAIL_ROWS:
        shown += before[:HEAD_ROWS] + [None] + before[-TAIL_ROWS:]
    else:
        shown += before
    if len(between) > 2 * TAIL_ROWS:
        shown += between[:TAIL_ROWS] + [None] + between[-TAIL_ROWS:]
    else:
        shown += between
    shown += after
    skipped_total = len(rows) - sum(1 for r in shown if r is not None)
    for r in shown:
        out.append(Text(f"   ... ({skipped_total} more operations not shown) ...", style="dim")
                   if r is None else _row(a, r, c, base))
    first = {}
    for r in rows:
        first.setdefault(r[A_PROC], r)
    for idx, who in ((cu[A_PROC], "culprit"), (vi[A_PROC], "victim")):
        r = first.get(idx)
        if r is not None:
            line = Text(f"   pid {procs[idx].key} ({who}) first touched it at seq {r[A_SEQ]} "
                        f"({r[A_SYSCALL]} ")
            line.append(printable(_short(r[A_PATH], base)))
            line.append(").")
            out.append(line)

    # 3. locks
    out += [Text(""), Text("3. Locks held", style="bold underline")]
    locks = LockState(a, timeline)
    if not timeline.complete:
        out.append(Text("   (lock calls are not in this timeline; run on the event log)", style="dim"))
    held_sets: dict[int, list[list[tuple]]] = {}
    for acc, what in ((cu, "culprit's"), (vi, "victim's")):
        held = locks.held_at(acc[A_SEQ])
        out.append(Text(f"   at the {what} {acc[A_SYSCALL]} (seq {acc[A_SEQ]}):"))
        for idx in (cu[A_PROC], vi[A_PROC]):
            mine = held.get(idx, [])
            held_sets.setdefault(idx, []).append(mine)
            line = Text(f"     pid {procs[idx].key} held ")
            line.append(", ".join(m[2] for m in mine) if mine else "no lock",
                        style="" if mine else "dim")
            out.append(line)
            if cu[A_PROC] == vi[A_PROC]:
                break

    # 4. why
    out += [Text(""), Text("4. Why nothing ordered them", style="bold underline")]
    first_acc, second_acc = (cu, vi) if cu[A_SEQ] <= vi[A_SEQ] else (vi, cu)
    fp, sp = procs[first_acc[A_PROC]], procs[second_acc[A_PROC]]
    rel, common = relation(a, first_acc[A_PROC], second_acc[A_PROC])
    if rel == "related" and common is not None:
        out.append(Text(f"   - Fork: pid {fp.key} and pid {sp.key} are both descendants of pid "
                        f"{procs[common].key}. A fork orders the parent's past before the child, "
                        "but nothing between siblings (or cousins): they run side by side."))
    elif rel == "ancestor":
        out.append(Text(f"   - Fork: pid {fp.key} is an ancestor of pid {sp.key}; the fork orders "
                        f"only what pid {fp.key} did before it, and its {first_acc[A_SYSCALL]} at "
                        f"seq {first_acc[A_SEQ]} came after the fork."))
    elif rel == "descendant":
        out.append(Text(f"   - Fork: pid {fp.key} is a descendant of pid {sp.key}, which did not "
                        f"wait for it before its {second_acc[A_SYSCALL]} at seq {second_acc[A_SEQ]}."))
    else:
        out.append(Text(f"   - Fork: pid {fp.key} and pid {sp.key} have no common ancestor in the "
                        "log (started independently)."))
    waits = [e for e in timeline.entries if e[E_KIND] == "wait" and e[E_SEQ] < second_acc[A_SEQ]
             and e[E_PROC] == second_acc[A_PROC] and e[E_DETAIL] is not None
             and first_acc[A_PROC] in h.descendants_or_self(e[E_DETAIL])]
    if waits:
        out.append(Text(f"   - Wait: pid {sp.key} waited at seq {waits[-1][E_SEQ]}, yet that wait "
                        "came before the other operation."))
    else:
        out.append(Text(f"   - Wait: pid {sp.key} did not wait for pid {fp.key} (or any process "
                        f"containing it) before seq {second_acc[A_SEQ]}."))
    at_first = held_sets.get(first_acc[A_PROC], [[], []])
    at_second = held_sets.get(second_acc[A_PROC], [[], []])
    mine1 = at_first[0] if first_acc is cu else at_first[-1]
    mine2 = at_second[-1] if second_acc is vi else at_second[0]
    modes2 = {m[0]: m[1] for m in mine2}
    common = [(m[0], m[1], modes2[m[0]], m[2]) for m in mine1 if m[0] in modes2]
    if common and all(m1 == m2 == "shared" for _k, m1, m2, _d in common):
        out.append(Text("   - Locks: both held " + ", ".join(printable(k[1]) for k, *_r in common)
                        + " in shared mode: shared holders do not exclude each other, so "
                          "the lock orders nothing between them."))
    elif common:
        names = ", ".join(d for _k, _m1, _m2, d in common)
        out.append(Text(f"   - Locks: each held {names} at its own operation, yet the clocks saw "
                        f"no release by pid {fp.key} followed by an acquire by pid {sp.key} in "
                        "between: the hand-over of this lock was not recognised in the log "
                        "(if the program is right, this finding is a false alarm worth "
                        "reporting).", style="yellow"))
    elif mine1 or mine2:
        out.append(Text("   - Locks: the locks they held were not the same lock, so none was "
                        "released by one and then taken by the other."))
    else:
        out.append(Text("   - Locks: neither process held any lock around these operations."))
    knew = h.hb.clock_at(second_acc[A_PROC], second_acc[A_SEQ]).get(first_acc[A_PROC], -1)
    clock = Text(f"   - Happens-before: at seq {second_acc[A_SEQ]}, pid {sp.key} is ordered after ")
    clock.append(f"pid {fp.key}'s operations up to seq {knew} only" if knew >= 0
                 else f"none of pid {fp.key}'s operations")
    clock.append(f"; the {first_acc[A_SYSCALL]} at seq {first_acc[A_SEQ]} is not among them. "
                 "Time alone orders nothing: in another run the two could come in the other order.")
    out.append(clock)

    out += [Text("")]
    if vi[A_ERRNO]:
        verdict = Text(f"Result: this time pid {vp.key}'s {vi[A_SYSCALL]} came {gap_words(c)} "
                       f"and failed with {vi[A_ERRNO]}", style=SEV_STYLE[f.severity])
        if vp.failed:
            verdict.append(f"; pid {vp.key} then ended with {_status(vp)}.")
        else:
            verdict.append(f"; pid {vp.key} handled it and went on.")
    else:
        verdict = Text("Result: this time the timing happened to work (latent race); another "
                       "interleaving can make it fail.", style=SEV_STYLE[f.severity])
    out.append(verdict)
    if f.note:
        out.append(Text("Note: " + printable(f.note), style="dim"))
    fix = FIXES.get(f.kind)
    if fix and f.severity != "info":
        out.append(Text("Fix: " + fix + "."))
    return out


def find_root_cause(a: Analysis, rc_id: str) -> Any:
    """The root cause ``R1`` (also accepts ``r1``)."""
    want = rc_id.strip().upper()
    for rc in a.root_causes:
        if rc.id == want:
            return rc
    ids = ", ".join(rc.id for rc in a.root_causes) or "none: no races found"
    raise UnknownFinding(f"no root cause {printable(rc_id)} in this run; root causes: {ids}")


def root_cause_story(a: Analysis, timeline: Timeline, rc_id: str) -> list[Any]:
    """The story of a root cause: what, where, who broke, one race walked through, the fix."""
    rc = find_root_cause(a, rc_id)
    procs = a.history.processes
    out: list[Any] = []
    title = Text(f"{rc.id} ", style="bold")
    title.append(rc.severity, style=SEV_STYLE[rc.severity])
    title.append(f"  ({len(rc.explains)} failed process{'es' if len(rc.explains) != 1 else ''} "
                 f"explained; {len(rc.finding_ids)} finding{'s' if len(rc.finding_ids) != 1 else ''}, "
                 f"{rc.count} conflicting pair{'s' if rc.count != 1 else ''})")
    out.append(title)
    out.append(Text(printable(rc.statement) + "."))
    out += [Text(""), Text("The resource and the programs", style="bold underline")]
    out.append(Text("   resource: " + printable(rc.resource)))
    if rc.pattern != rc.resource:
        out.append(Text("   pattern:  " + printable(rc.pattern), style="dim"))
    out.append(Text(f"   programs: {', '.join(printable(p) for p in rc.programs)} "
                    f"({rc.copies} cop{'y' if rc.copies == 1 else 'ies'})"))
    out.append(Text("   kinds:    " + ", ".join(rc.kinds)))
    if rc.explains:
        out += [Text(""), Text("What broke", style="bold underline")]
        for idx in rc.explains:
            p = procs[idx]
            line = Text(f"   pid {printable(p.key)} ({_status(p)}): ")
            v = a.first_errors.get(idx)
            if v is not None:
                line.append(f"{v[A_SYSCALL]} ")
                line.append(printable(v[A_PATH]))
                line.append(f" = -1 {v[A_ERRNO]}", style="bold red")
            ids = [i for i in a.explanations.get(idx, []) if i in rc.finding_ids]
            if ids:
                line.append(f"  ({ids[0]})", style="dim")
            out.append(line)
    out += [Text(""), Text(f"One interleaving, walked through (evidence {rc.evidence})",
                           style="bold underline"), Text("")]
    out += story(a, timeline, rc.evidence, conflict=rc.example)
    out += [Text(""), Text("Why nothing ordered them", style="bold underline")]
    out.append(Text("   " + printable(rc.missing_order) + "."))
    out += [Text(""), Text("The fix", style="bold underline")]
    out.append(Text("   " + printable(rc.fix) + "."))
    others = [i for i in rc.finding_ids if i != rc.evidence]
    if others:
        out += [Text(""), Text(f"Its other findings ({len(others)}): " + ", ".join(others[:20])
                               + (" …" if len(others) > 20 else "")
                               + "; `fsrace explain LOG F<n>` tells each one's story.",
                               style="dim")]
    return out


def render_explanation(a: Analysis, timeline: Timeline, finding_id: str, console: Console) -> None:
    """Print the story of one root cause (``R1``) or one finding (``F3``)."""
    parts = (root_cause_story(a, timeline, finding_id)
             if finding_id.strip().upper().startswith("R") else story(a, timeline, finding_id))
    for part in parts:
        console.print(part)


__all__ = ["story", "root_cause_story", "render_explanation", "find", "find_root_cause",
           "UnknownFinding", "LockState", "relation"]
