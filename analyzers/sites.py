"""Group conflicting pairs into race sites and findings.

A real run produces thousands of conflicting pairs; people need the few
places in the program that race.  A site is: the same race kind, the same
syscall pair, the same path pattern after folding random temporary names,
versions and hashes.  A finding is one site with one verdict and severity,
with a count, the processes involved and the shortest example.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .accesses import A_SEQ, A_SYSCALL
from .conflict import Conflict

# Order matters: temporary names first, then versions, then hashes/numbers.
_FOLDS = [
    (re.compile(r"\.tmp[A-Za-z0-9_-]{3,}"), ".tmp*"),
    (re.compile(r"(?<![A-Za-z])tmp[a-z0-9_]{6,}"), "tmp*"),
    (re.compile(r"\d+(?:\.\d+)+(?:[a-z]+\d*)?"), "*"),
    # A bare version segment: uv's cache buckets sdists-v9 (0.6) and sdists-v11 (0.13).
    (re.compile(r"(?<![A-Za-z0-9])v\d+(?![A-Za-z0-9])"), "v*"),
    (re.compile(r"[0-9a-f]{8,}"), "*"),
    (re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*[A-Za-z][A-Za-z0-9_-]*\d[A-Za-z0-9_-]*(?=$|[./])"), "*"),
    (re.compile(r"(?<![A-Za-z0-9])\d{3,}(?![A-Za-z0-9])"), "*"),
]


def normalize_path(path: str) -> str:
    """Fold random names, versions and hashes out of a path: a site pattern."""
    for regex, repl in _FOLDS:
        path = regex.sub(repl, path)
    return path


SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


@dataclass
class Finding:
    """Conflicts of one site with one verdict and severity."""

    id: str
    kind: str
    verdict: str
    severity: str
    site: str
    syscalls: tuple[str, str]
    conflicts: list[Conflict] = field(default_factory=list)
    example: Conflict | None = None
    note: str = ""
    judged_by: str = "happens-before"

    @property
    def count(self) -> int:
        """Number of conflicting pairs."""
        return len(self.conflicts)

    def procs(self) -> set[int]:
        """Process indexes involved."""
        out = set()
        for c in self.conflicts:
            out.add(c.culprit[1])
            out.add(c.victim[1])
        return out


def site_pattern(c: Conflict) -> str:
    """The pattern a conflict is grouped under."""
    pattern = normalize_path(c.site_path)
    victim_path = c.victim[6]
    culprit_path = c.culprit[6]
    if victim_path != c.site_path or culprit_path != c.site_path:
        pattern = pattern.rstrip("/") + "/**"
    return pattern


def group(conflicts: list[Conflict], severity_of) -> list[Finding]:
    """Group conflicts into findings; ``severity_of(c)`` gives (verdict, severity)."""
    groups: dict[tuple, Finding] = {}
    for c in conflicts:
        verdict, severity = severity_of(c)
        syscalls = (c.culprit[A_SYSCALL], c.victim[A_SYSCALL])
        pattern = site_pattern(c)
        key = (c.kind, syscalls, pattern, verdict, severity)
        f = groups.get(key)
        if f is None:
            f = groups[key] = Finding("", c.kind, verdict, severity, pattern, syscalls)
            f.judged_by = c.judged_by
        f.conflicts.append(c)
        if f.example is None or _span(c) < _span(f.example):
            f.example = c
        if c.note and not f.note:
            f.note = c.note
    findings = sorted(groups.values(),
                      key=lambda f: (-SEVERITY_RANK[f.severity], f.verdict != "manifested",
                                     f.kind, f.site, f.syscalls))
    for i, f in enumerate(findings, 1):
        f.id = f"F{i}"
    return findings


def _span(c: Conflict) -> int:
    return abs(c.victim[A_SEQ] - c.culprit[A_SEQ])
