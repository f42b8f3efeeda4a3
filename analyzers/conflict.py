"""The record a detector produces: one conflicting pair of accesses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Conflict:
    """Two unordered accesses of different processes that race.

    ``culprit`` is the access that changed the namespace (removed, renamed,
    created, wrote); ``victim`` the other one.  ``manifested`` is True when
    the victim's syscall failed with an errno that the culprit's operation
    explains; ``handled`` when the victim went on using the path after it.  ``info`` marks patterns that are safe by design (an atomic
    rename-over publish, an EEXIST the process handled).  ``site_path`` is
    the path the race is grouped under before normalisation.
    """

    kind: str
    culprit: tuple
    victim: tuple
    manifested: bool
    site_path: str
    info: bool = False
    note: str = ""
    handled: bool = False
    #: "happens-before" (the model), or "time" when the log cannot show locks
    #: (see analyze.judge_by_time).
    judged_by: str = "happens-before"
