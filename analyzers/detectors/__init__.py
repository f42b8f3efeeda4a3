"""Race detectors, one module per race kind, registered in one table.

Each detector is a function ``detect(history) -> Iterable[Conflict]``.  The
order of ``DETECTORS`` is the order of precedence: when two detectors claim
the same pair of accesses, the earlier one keeps it.
"""

from __future__ import annotations

from typing import Callable, Iterable

from ..conflict import Conflict
from ..history import History
from . import (check_then_use, concurrent_write, create_collision, filled_while_removing,
               lock_contention, lost_output, removed_while_in_use, saw_foreign_state)

Detector = Callable[[History], Iterable[Conflict]]

#: kind name (part of the interface) -> detector, in order of precedence.
DETECTORS: dict[str, Detector] = {
    # First: a refused lock is the lock's doing, not the race another kind would call it.
    "lock-contention": lock_contention.detect,
    # Before removed-while-in-use: the same (removal, creation) pair is
    # worse when the entry stays gone.
    "lost-output": lost_output.detect,
    "removed-while-in-use": removed_while_in_use.detect,
    "filled-while-removing": filled_while_removing.detect,
    "check-then-use": check_then_use.detect,
    "create-collision": create_collision.detect,
    "concurrent-write": concurrent_write.detect,
}

#: Kinds found only to explain a failed process that nothing above explains
#: (run by analyze.explain_stage, not by find_conflicts).
EXPLAINERS = {
    "saw-foreign-state": saw_foreign_state.detect,
}

#: The race kinds, in the order reports list them.
KINDS = tuple(DETECTORS) + tuple(EXPLAINERS)
