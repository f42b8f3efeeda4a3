"""``lock-contention``: a process asked for a lock another process held, and was refused.

Not a data race: the lock did its job.  Two shapes:

* the lock-file protocol: ``open(L, O_CREAT|O_EXCL)`` fails with EEXIST
  while another process holds ``L`` -- it created ``L`` the same way and
  later removes it or renames it into place (git's ``index.lock``, which is
  committed by ``rename(index.lock, index)``);
* a non-blocking ``flock(LOCK_NB)`` or ``fcntl(F_SETLK)`` refused with
  EWOULDBLOCK/EAGAIN while another process held a lock on the file.

The holder is the culprit, the refused call the victim.  What matters is
what the loser did next, which the verdict rules judge by outcome
(``analyze.mark_handled``): a loser that waited or retried and got the lock,
or exited 0, handled it (``info``); a loser that gave up and failed is
explained by the holder (``error``: "pid A held L from ... to ...; pid B
did not wait").
"""

from __future__ import annotations

from typing import Iterator

from ..accesses import A_ERRNO, A_FLAGS, A_OP, A_PROC, A_SEQ, A_SYSCALL, CREATE, REMOVALS, may_precede
from ..conflict import Conflict
from ..history import History

KIND = "lock-contention"

_OPENS = frozenset(("open", "openat", "openat2", "creat"))
#: errnos of a refused non-blocking lock.
REFUSED = frozenset(("EAGAIN", "EWOULDBLOCK", "EACCES"))


def is_excl_create(acc: tuple) -> bool:
    """An ``open`` with ``O_CREAT|O_EXCL``: the lock-file protocol's acquire."""
    flags = acc[A_FLAGS] or ""
    return acc[A_OP] == CREATE and acc[A_SYSCALL] in _OPENS and "O_EXCL" in flags \
        and "O_CREAT" in flags


def looks_like_lock(path: str) -> bool:
    """A name that says it is a lock (``index.lock``, ``LOCK``, ``.lck``)."""
    base = path.rsplit("/", 1)[-1].lower()
    return "lock" in base or base.endswith(".lck")


def _released_at(accesses: list[tuple], create: tuple) -> int | None:
    """Seq at which the creator took the lock file away again (remove or rename), if it did."""
    for acc in accesses:
        if acc[A_SEQ] > create[A_SEQ] and acc[A_PROC] == create[A_PROC] and \
                acc[A_OP] in REMOVALS and acc[A_ERRNO] is None:
            return acc[A_SEQ]
    return None


def _held_note(h: History, holder: tuple, until: int | None, loser: tuple, what: str) -> str:
    a = h.processes[holder[A_PROC]].pid
    b = h.processes[loser[A_PROC]].pid
    end = f"seq {until}" if until is not None else "the end of the trace"
    return f"pid {a} held the {what} from seq {holder[A_SEQ]} to {end}; pid {b} was refused"


def _lock_files(h: History) -> Iterator[Conflict]:
    ordered = h.hb.ordered
    for path, accesses in h.paths.items():
        losers = [a for a in accesses if a[A_ERRNO] == "EEXIST" and is_excl_create(a)]
        if not losers:
            continue
        wins = [a for a in accesses if a[A_ERRNO] is None and is_excl_create(a)]
        for b in losers:
            # The holder: the latest other process's O_EXCL create that may
            # have landed before the refusal, and not given back before it.
            for a in reversed(wins):
                if a[A_PROC] == b[A_PROC] or not may_precede(a, b):
                    continue
                until = _released_at(accesses, a)
                if until is None and a[A_SEQ] > b[A_SEQ]:
                    continue
                if until is not None and until < b[A_SEQ]:
                    break  # released before: something else made the name exist
                if until is None and not looks_like_lock(path):
                    break  # created and kept: an output made exclusively, not a lock
                yield Conflict(KIND, a, b, True, path,
                               note=_held_note(h, a, until, b, "lock file"))
                break


def _lock_calls(h: History) -> Iterator[Conflict]:
    by_path: dict[str, list[tuple]] = {}
    for call in h.lock_calls:
        by_path.setdefault(call[6], []).append(call)
    for path, calls in by_path.items():
        for b in calls:
            if b[A_ERRNO] not in REFUSED:
                continue
            holder = None
            for a in calls:
                if a[A_SEQ] >= b[A_SEQ]:
                    break
                if a[A_ERRNO] is not None or a[A_PROC] == b[A_PROC]:
                    continue
                if a[A_FLAGS] == "un":
                    if holder is not None and holder[A_PROC] == a[A_PROC]:
                        holder = None
                    continue
                holder = a
            if holder is None or h.processes[holder[A_PROC]].last_seq < b[A_SEQ]:
                continue
            until = next((a[A_SEQ] for a in calls if a[A_SEQ] > holder[A_SEQ]
                          and a[A_PROC] == holder[A_PROC] and a[A_FLAGS] == "un"), None)
            yield Conflict(KIND, holder, b, True, path,
                           note=_held_note(h, holder, until, b, f"{b[A_SYSCALL]} lock"))


def detect(h: History) -> Iterator[Conflict]:
    """Yield lock-contention conflicts (always manifested: a call was refused)."""
    yield from _lock_files(h)
    yield from _lock_calls(h)
