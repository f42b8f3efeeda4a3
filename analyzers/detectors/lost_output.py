"""``lost-output``: an entry one process created was removed by an unordered
other process and is gone at the end of the trace.

Silent damage: every copy of a package manager may exit 0 while the shared
target ends up missing packages one of them installed and another removed
(pip ``--target --upgrade`` copies each removing what the others just
moved in).  No call failed and no process failed, so only the end state
shows it.

The rule: process A created path P (mkdir, an ``O_CREAT`` open, a rename
onto P, a link), exited 0, and did not remove (nor try to remove) it
itself afterwards; process B, not
ordered after A's creation by happens-before, removed P (``unlink``,
``rmdir``); and nothing created P again after that removal, so P is
absent when the trace ends.  (A creator that failed is explained by the
kinds that pair its failed call; this kind is the damage a passing run
hides.)  Verdict manifested (the output is gone),
severity ``error``, whatever the exit codes: this is the failure a run
that "passed" hid.  One conflict per (creator, path): the creator is the
victim, the remover the culprit.  Temporary names the creator meant to
remove itself are not outputs; a removal ordered after the creation (a
cleanup that waited for the builder) is not a race.
"""

from __future__ import annotations

from typing import Iterator

from ..accesses import A_ERRNO, A_OP, A_PROC, A_SEQ, CREATIONS, REMOVALS, REMOVE
from ..conflict import Conflict
from ..history import History
from ._common import removal_root, unlocked_paths

KIND = "lost-output"


def detect(h: History) -> Iterator[Conflict]:
    """Yield lost-output conflicts."""
    ordered = h.hb.ordered
    for path, accesses in unlocked_paths(h):
        ok = [a for a in accesses if a[A_ERRNO] is None
              and (a[A_OP] in CREATIONS or a[A_OP] in REMOVALS)]
        if len(ok) < 2 or ok[-1][A_OP] != REMOVE:
            continue  # present at the end (or never removed): nothing lost
        removal = ok[-1]
        # The creation that the final removal undid: the last one before it.
        create = next((a for a in reversed(ok[:-1]) if a[A_OP] in CREATIONS), None)
        if create is None or create[A_PROC] == removal[A_PROC]:
            continue
        creator = h.processes[create[A_PROC]]
        if not creator.exited or creator.failed:
            continue  # a failed creator's failure is what the other kinds explain
        if any(a[A_PROC] == create[A_PROC] and a[A_SEQ] > create[A_SEQ] and a[A_OP] in REMOVALS
               for a in accesses):
            continue  # it meant to remove it itself (tried, at least): a temporary
        if ordered(create[A_PROC], create[A_SEQ], removal[A_PROC], removal[A_SEQ]):
            continue
        pid = h.processes[removal[A_PROC]].pid
        yield Conflict(KIND, removal, create, True, removal_root(h, path, removal[A_PROC]),
                       note=f"created by pid {h.processes[create[A_PROC]].pid}, removed by "
                            f"pid {pid} at seq {removal[A_SEQ]}, absent at the end")
