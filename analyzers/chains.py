"""Say how a failure is explained, up and down the process tree.

A parent that failed after waiting for a child inherits the child's
explanations (``analyze.explain_failures`` takes every descendant's); this
module writes the chain in words, from the failed process down to the
victim and over to the culprit with its ancestry up to the program copy it
belongs to::

    pip 19774 <- its child 20002 <- removed by 20000, a child of pip 19773
"""

from __future__ import annotations

import posixpath

from .accesses import A_PROC
from .conflict import Conflict
from .history import History, ProcInfo
from .sites import Finding

#: How the culprit's act reads in a chain, per kind.
VERBS = {
    "removed-while-in-use": "removed by",
    "filled-while-removing": "filled by",
    "create-collision": "created by",
    "check-then-use": "changed by",
    "concurrent-write": "written by",
    "lock-contention": "lock held by",
    "saw-foreign-state": "state made by",
    "lost-output": "removed by",
}


def proc_name(p: ProcInfo) -> str:
    """``prog pid``: the executable's base name (the script's, for an interpreter) and pid."""
    argv = p.argv or []
    name = posixpath.basename(argv[0]) if argv else "?"
    if name.startswith("python") and len(argv) > 1:
        script = argv[2] if argv[1] == "-m" and len(argv) > 2 else argv[1]
        name = posixpath.basename(script)
    return f"{name} {p.pid}"


def _ancestors(h: History, idx: int) -> list[int]:
    out = []
    p = h.processes[idx].parent
    while p is not None:
        out.append(p)
        p = h.processes[p].parent
    return out


def chain(h: History, failed: int, c: Conflict) -> str:
    """The chain from the failed process to the conflict's victim and culprit."""
    procs = h.processes
    down = []
    v = c.victim[A_PROC]
    while v != failed and v is not None:
        down.append(v)
        v = procs[v].parent
    parts = [proc_name(procs[failed])]
    for step in reversed(down):
        parts.append(f"its child {procs[step].pid}")
    culprit = c.culprit[A_PROC]
    said = f"{VERBS.get(c.kind, 'caused by')} {procs[culprit].pid}"
    # The culprit's ancestry up to its program copy: stop below the first
    # ancestor shared with the failed process (the launcher, usually).
    mine = set(_ancestors(h, failed)) | {failed}
    up = [a for a in _ancestors(h, culprit)]
    copy = None
    for a in up:
        if a in mine:
            break
        copy = a
    if copy is not None:
        said += f", a child of {proc_name(procs[copy])}"
    elif culprit not in mine:
        said = f"{VERBS.get(c.kind, 'caused by')} {proc_name(procs[culprit])}"
    parts.append(said)
    return " \u2190 ".join(parts)


def explanation_chains(h: History, findings: list[Finding],
                       explanations: dict[int, list[str]]) -> dict[int, dict[str, str]]:
    """Per failed process, per explaining finding id: the chain of its closest conflict."""
    by_id = {f.id: f for f in findings}
    out: dict[int, dict[str, str]] = {}
    for idx, ids in explanations.items():
        family = h.descendants_or_self(idx)
        said: dict[str, str] = {}
        for fid in ids:
            f = by_id[fid]
            mine = [c for c in f.conflicts if c.victim[A_PROC] in family]
            if mine:
                said[fid] = chain(h, idx, mine[0])
        out[idx] = said
    return out
