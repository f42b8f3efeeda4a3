"""Root causes across runs: what ``fsrace stress`` and ``fsrace compare`` say first.

A root cause is identified across runs by its program group(s) and its
resource pattern with the run's working directory written as ``$CWD``
(finding ids and pids differ from run to run; the resource and the
programs do not).  Pure: works on JSON reports (``root_causes``, version
1.1) and stress summaries.
"""

from __future__ import annotations

from typing import Any, Iterable

from .compare import relative_site, worse
from .sites import SEVERITY_RANK, normalize_path


def cause_key(rc: dict[str, Any], cwd: str | None) -> str:
    """``uv sync -q @ $CWD/.venv/lib/python*/site-packages/*.data``."""
    pattern = normalize_path(relative_site(rc.get("pattern") or rc.get("resource") or "?", cwd))
    return " + ".join(rc.get("programs") or ["?"]) + " @ " + pattern


def aggregate_root_causes(rounds: Iterable[tuple[int, dict[str, Any]]], cwd: str | None
                          ) -> list[dict[str, Any]]:
    """Root causes over rounds: ``rounds`` yields (round number, JSON report).

    One entry per cause key: worst severity, the rounds it appeared in, the
    failures it explained in all, and the statement and fix of its first
    appearance that explained a failure (else its first).
    """
    out: dict[str, dict[str, Any]] = {}
    for rnd, report in rounds:
        for rc in report.get("root_causes") or ():
            key = cause_key(rc, cwd)
            e = out.get(key)
            if e is None:
                e = out[key] = {"key": key, "programs": list(rc.get("programs") or []),
                                "resource": relative_site(rc.get("resource") or "?", cwd),
                                "kinds": [], "severity": None, "rounds": [],
                                "rounds_failed": [], "failures_explained": 0,
                                "statement": rc.get("statement"), "fix": rc.get("fix"),
                                "example": {"round": rnd, "id": rc.get("id"),
                                            "evidence": rc.get("evidence")}}
            e["severity"] = worse(e["severity"], rc.get("severity") or "info")
            for k in rc.get("kinds") or ():
                if k not in e["kinds"]:
                    e["kinds"].append(k)
            if rnd not in e["rounds"]:
                e["rounds"].append(rnd)
            explained = len(rc.get("explains") or ())
            e["failures_explained"] += explained
            if explained and rnd not in e["rounds_failed"]:
                if not e["rounds_failed"]:   # the first round it broke: its words
                    e["statement"], e["fix"] = rc.get("statement"), rc.get("fix")
                    e["example"] = {"round": rnd, "id": rc.get("id"),
                                    "evidence": rc.get("evidence")}
                e["rounds_failed"].append(rnd)
    return sorted(out.values(), key=lambda e: (-e["failures_explained"],
                                               -SEVERITY_RANK[e["severity"]], e["key"]))


def compare_root_causes(before: list[dict[str, Any]], after: list[dict[str, Any]]
                        ) -> dict[str, Any]:
    """Fixed / remaining / new root causes (error and warning ones) between two runs."""
    def wanted(rcs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {e["key"]: e for e in rcs
                if SEVERITY_RANK.get(e.get("severity") or "info", 0) >= SEVERITY_RANK["warning"]}

    b, a = wanted(before), wanted(after)

    def row(e: dict[str, Any], **more: Any) -> dict[str, Any]:
        return {"key": e["key"], "programs": e.get("programs"), "resource": e.get("resource"),
                "kinds": e.get("kinds"), "statement": e.get("statement"), "fix": e.get("fix"),
                **more}

    return {
        "root_causes_fixed": [row(e, severity_before=e["severity"],
                                  failures_explained_before=e["failures_explained"])
                              for k, e in b.items() if k not in a],
        "root_causes_remaining": [row(a[k], severity_before=e["severity"],
                                      severity_after=a[k]["severity"],
                                      failures_explained_before=e["failures_explained"],
                                      failures_explained_after=a[k]["failures_explained"])
                                  for k, e in b.items() if k in a],
        "root_causes_new": [row(e, severity=e["severity"],
                                failures_explained=e["failures_explained"])
                            for k, e in a.items() if k not in b],
    }


def runset_causes(rs: Any) -> list[dict[str, Any]]:
    """A RunSet's root causes, aggregated (a lone JSON report holds its own, raw)."""
    if rs.kind == "report":
        return aggregate_root_causes([(1, {"root_causes": rs.root_causes})], rs.cwd)
    return list(rs.root_causes)


def compare_runsets(before: Any, after: Any) -> dict[str, Any]:
    """The root-cause sections of ``compare(before, after)``'s result (merge them in)."""
    return compare_root_causes(runset_causes(before), runset_causes(after))


__all__ = ["cause_key", "aggregate_root_causes", "compare_root_causes", "compare_runsets",
           "runset_causes"]
