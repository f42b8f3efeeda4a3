"""``saw-foreign-state``: a process failed on state it read successfully,
state that an unordered other process had just made.

Real programs often decide to give up without any failing call: git's
``commit`` reads ``refs/heads/master``, takes ``master.lock``, reads the ref
again and exits with "cannot lock ref 'HEAD': is at X but expected Y"
because another ``git commit`` moved the ref in between; an installer stats
its destination, finds it "already exists" (another copy just moved its own
there) and exits 1.  Every call succeeded, so no detector of a failed call
can explain the exit.

Why a kind of its own and not an extension of ``check-then-use``:
check-then-use is a pattern of calls (a check, a change, a use) judged
latent or manifested by whether the use failed; here there is no failing
use, only a failed *process*, and the read may come long after the change
-- what makes it a race is that the process began working with the path
before the change and nothing ordered the change before that.  The finding
is produced only to explain a failure that nothing else explains, and says
so ("the failure was decided from what it read"), because the trace cannot
show which byte of what it read made the program give up.

The rule.  For a failed process P (with its descendants: a helper's read
counts for the parent that waited for it) not explained by any other
finding, take its successful reads and checks, latest first.  For each,
take the last successful change of that path (create, rename onto it,
write) before the read by a process outside P's family.  The read saw
foreign state when that change is unordered with P's *first* access of the
path (P was already relying on the path, or read it, without the change
ordered before: "is at X but expected Y"), or with the read itself.  The
latest such read explains P (verdict manifested, severity error: it
failed).  Changes that happened-before P's first look at the path are the
world P started from, not a race.
"""

from __future__ import annotations

from typing import Iterable, Iterator

from ..accesses import A_ERRNO, A_OP, A_PROC, A_SEQ, CHECK, CREATE, READ, RENAME_TO, WRITE, \
    may_precede
from ..conflict import Conflict
from ..history import History

KIND = "saw-foreign-state"

_CHANGES = frozenset((CREATE, RENAME_TO, WRITE))
#: How many of the failed process's latest reads to look at.
LOOKBACK = 400


def _first_access(accesses: list[tuple], family: set[int]) -> tuple | None:
    for acc in accesses:
        if acc[A_PROC] in family:
            return acc
    return None


def _explain(h: History, family: set[int]) -> Conflict | None:
    ordered = h.hb.ordered
    reads = []
    for path, accesses in h.paths.items():
        if path in h.lock_paths:
            continue
        for acc in accesses:
            if acc[A_PROC] in family and acc[A_ERRNO] is None and acc[A_OP] in (READ, CHECK):
                reads.append((acc[A_SEQ], path, acc))
    reads.sort(key=lambda t: t[0], reverse=True)
    for _seq, path, r in reads[:LOOKBACK]:
        accesses = h.paths[path]
        change = None
        for m in accesses:
            if m[A_SEQ] >= r[A_SEQ] and not may_precede(m, r):
                break
            if m[A_PROC] not in family and m[A_OP] in _CHANGES and m[A_ERRNO] is None \
                    and m is not r:
                change = m
        if change is None:
            continue
        first = _first_access(accesses, family) or r
        mp, ms = change[A_PROC], change[A_SEQ]
        if not ordered(mp, ms, first[A_PROC], first[A_SEQ]) or \
                not ordered(mp, ms, r[A_PROC], r[A_SEQ]):
            pid = h.processes[mp].pid
            return Conflict(KIND, change, r, True, path,
                            note=f"the failure was decided from what it read: pid {pid} had "
                                 f"changed the path at seq {ms}, unordered with its first look "
                                 f"at seq {first[A_SEQ]}")
    return None


def detect(h: History, unexplained: Iterable[int]) -> Iterator[Conflict]:
    """Yield one saw-foreign-state conflict per unexplained failed process that has one."""
    for idx in unexplained:
        c = _explain(h, h.descendants_or_self(idx))
        if c is not None:
            yield c
