"""Before/after numbers for a fix: failure rates, race sites, and what orders them now.

``fsrace compare BEFORE AFTER`` reads two stress directories (written by
``fsrace stress``) or two JSON reports (``fsrace analyze --format json``) and
answers the questions a maintainer puts in a pull request:

* **sites fixed, remaining, new** -- race sites at ``warning`` or ``error``,
  matched by (kind, site pattern).  Patterns under the run's working
  directory are compared relative to it (``$CWD/.venv/...``), so two
  checkouts in different places still match.
* **failure rates** side by side, each with its 95 % Wilson score interval,
  and whether the difference is significant: a two-sided **Fisher exact
  test** on the 2x2 table (failed, passed) x (before, after), at p < 0.05.
  The unit is one copy of the command.  Copies of one round share a start
  moment, so they are not fully independent trials: read the interval as
  "about this often", not as a precise probability.
* **what orders them now** -- for each site that BEFORE had at warning or
  error and AFTER lacks, AFTER's event log is searched for pairs of
  accesses by different processes on the same paths (a namespace change by
  one, any access by the other), and for each pair the happens-before
  graph names the edge that orders it (``HappensBefore.ordering_cause``):
  "flock on $TMPDIR/uv-….lock", "fcntl lock on …", "exit then wait".  When
  no two processes touched those paths any more, the nearest directory
  they share is examined instead, and the report says so.  Without
  AFTER's event log (a bare JSON report) it says it cannot tell.

Everything here reads files only; nothing touches the live system.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .accesses import A_OP, A_PROC, A_SEQ, CREATIONS, REMOVALS, WRITE
from .sites import SEVERITY_RANK, normalize_path

STRESS_FORMAT = "fsrace-stress"
COMPARE_FORMAT = "fsrace-compare"
COMPARE_VERSION = "1.1"  # 1.1: root_causes_fixed/remaining/new (compare_causes; additive)

#: Significance level of the two-proportion test.
ALPHA = 0.05
#: Most access pairs examined per site when looking for what orders them.
MAX_PAIRS = 4000
#: Most AFTER rounds whose event logs are loaded for ordering.
MAX_ORDER_ROUNDS = 1
#: Most sites listed per section in the terminal comparison (JSON has all).
MAX_SHOWN = 25


class CompareError(Exception):
    """An input cannot be compared; the message says why."""


# ------------------------------------------------------------------ statistics

def wilson_interval(failed: int, total: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The 95 % Wilson score interval of a proportion ``failed / total``.

    With ``total == 0`` nothing is known: (0, 1).
    """
    if total <= 0:
        return 0.0, 1.0
    p = failed / total
    z2 = z * z
    denom = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denom
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    if failed == 0:
        lo = 0.0
    if failed == total:
        hi = 1.0
    return lo, hi


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """Two-sided Fisher exact test p-value of the table [[a, b], [c, d]].

    Rows: before/after; columns: failed/passed.  Sums the probabilities of
    every table with the same margins that is at most as likely as the
    observed one.
    """
    row1, row2, col1 = a + b, c + d, a + c
    n = row1 + row2
    if n == 0 or row1 == 0 or row2 == 0:
        return 1.0
    lo, hi = max(0, col1 - row2), min(col1, row1)

    def logp(x: int) -> float:
        return _log_comb(row1, x) + _log_comb(row2, col1 - x) - _log_comb(n, col1)

    observed = logp(a)
    total = 0.0
    for x in range(lo, hi + 1):
        lp = logp(x)
        if lp <= observed + 1e-9:
            total += math.exp(lp)
    return min(1.0, total)


def rate_dict(failed: int, total: int) -> dict[str, Any]:
    """A failure rate with its interval, as summary.json and compare JSON show it."""
    lo, hi = wilson_interval(failed, total)
    return {"failed": failed, "total": total,
            "rate": (failed / total) if total else None,
            "ci95": [round(lo, 6), round(hi, 6)], "method": "wilson"}


def format_rate(rate: dict[str, Any]) -> str:
    """``3/20 = 15.0 % (95 % CI 5.2-36.0 %)``."""
    if not rate or not rate.get("total"):
        return "no copies run"
    lo, hi = rate["ci95"]
    return (f"{rate['failed']}/{rate['total']} = {100 * rate['rate']:.1f} % "
            f"(95 % CI {100 * lo:.1f}-{100 * hi:.1f} %)")


# ------------------------------------------------------------ site aggregation

def relative_site(site: str, cwd: str | None) -> str:
    """A site pattern with the run's working directory written as ``$CWD``."""
    if not cwd:
        return site
    for base in {cwd.rstrip("/"), normalize_path(cwd.rstrip("/"))}:
        if base and (site == base or site.startswith(base + "/")):
            return "$CWD" + site[len(base):]
    return site


def absolute_site(site: str, cwd: str | None) -> str:
    """Undo ``relative_site`` for a run with working directory ``cwd``."""
    if site.startswith("$CWD") and cwd:
        return normalize_path(cwd.rstrip("/")) + site[len("$CWD"):]
    return site


def site_key(kind: str, site: str) -> str:
    """The identity of a site across runs: kind and (relative) pattern.

    The pattern is folded again (``normalize_path`` is idempotent on
    patterns): a report written before a fold was added (say, of bare
    version segments: ``sdists-v9`` and ``sdists-v11``) still matches.
    """
    return f"{kind} {normalize_path(site)}"


def worse(a: str | None, b: str) -> str:
    """The more severe of two severities."""
    if a is None or SEVERITY_RANK[b] > SEVERITY_RANK[a]:
        return b
    return a


def aggregate_sites(rounds: Iterable[tuple[int, dict[str, Any]]], cwd: str | None
                    ) -> list[dict[str, Any]]:
    """Race sites over rounds: ``rounds`` yields (round number, JSON report).

    One entry per (kind, site pattern): worst severity, verdicts seen, the
    rounds it appeared in (and manifested in), conflicting pairs, syscall
    pairs and one example (the first manifested finding's accesses, else
    the first one's).
    """
    out: dict[str, dict[str, Any]] = {}
    for rnd, report in rounds:
        for f in report.get("findings", ()):
            rel = relative_site(f.get("site", "?"), cwd)
            key = site_key(f.get("kind", "?"), rel)
            s = out.get(key)
            if s is None:
                s = out[key] = {"key": key, "kind": f.get("kind"), "site": rel,
                                "severity": None, "verdicts": [], "syscalls": [],
                                "rounds": [], "rounds_manifested": [], "count": 0,
                                "example": None}
            s["severity"] = worse(s["severity"], f.get("severity", "info"))
            if f.get("verdict") not in s["verdicts"]:
                s["verdicts"].append(f.get("verdict"))
            pair = list(f.get("syscalls") or ())
            if pair not in s["syscalls"]:
                s["syscalls"].append(pair)
            if rnd not in s["rounds"]:
                s["rounds"].append(rnd)
            if f.get("verdict") == "manifested" and rnd not in s["rounds_manifested"]:
                s["rounds_manifested"].append(rnd)
            s["count"] += int(f.get("count") or 0)
            better = s["example"] is None or (
                f.get("verdict") == "manifested" and s["example"].get("verdict") != "manifested")
            if better:
                s["example"] = {"round": rnd, "finding": f.get("id"), "verdict": f.get("verdict"),
                                "severity": f.get("severity"), "note": f.get("note"),
                                "accesses": f.get("accesses", [])}
    return sorted(out.values(), key=lambda s: (-SEVERITY_RANK[s["severity"]],
                                               -len(s["rounds_manifested"]), s["kind"], s["site"]))


def copies_of_report(report: dict[str, Any]) -> tuple[int, int]:
    """(copies, failed copies) of a single JSON report.

    The copies are the processes running the recorded command (the
    launcher's children); without a command, the root processes.
    """
    procs = report.get("processes") or []
    command = (report.get("source") or {}).get("command")
    chosen = [p for p in procs if command and p.get("argv") == command]
    if not chosen:
        roots = [p for p in procs if p.get("ppid") is None]
        kids = [p for p in procs if p.get("ppid") is not None and
                any(r.get("pid") == p.get("ppid") for r in roots)]
        chosen = kids or roots
    failed = sum(1 for p in chosen if (p.get("exit_code") not in (None, 0)) or p.get("signal"))
    return len(chosen), failed


# ---------------------------------------------------------------------- inputs

@dataclass
class RunSet:
    """One side of a comparison: a stress directory or a single JSON report."""

    label: str
    path: str
    kind: str                                   # "stress" or "report"
    cwd: str | None = None
    command: list[str] | None = None
    traced: bool = True
    rate: dict[str, Any] = field(default_factory=dict)
    untraced_rate: dict[str, Any] | None = None
    sites: list[dict[str, Any]] = field(default_factory=list)
    #: A stress run's aggregated root causes, or a report's own (analyzers.compare_causes
    #: compares them: ``compare_runsets``).
    root_causes: list[dict[str, Any]] = field(default_factory=list)
    event_logs: list[str] = field(default_factory=list)
    rounds: int = 0
    notes: list[str] = field(default_factory=list)


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return json.load(f)
    except OSError as exc:
        raise CompareError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CompareError(f"{path} is not valid JSON ({exc}); give a stress directory "
                           f"(fsrace stress -o DIR) or a JSON report "
                           f"(fsrace analyze --format json)") from None


def load_runset(path: str, label: str) -> RunSet:
    """Load a stress directory, a summary.json, or a JSON report."""
    p = Path(path)
    if p.is_dir():
        summary = p / "summary.json"
        if not summary.is_file():
            raise CompareError(f"{path} is a directory without summary.json: not a stress "
                               f"directory (make one with `fsrace stress -o DIR -- CMD`)")
        return _load_stress(p, _read_json(summary), label)
    if not p.exists():
        raise CompareError(f"{path} does not exist")
    data = _read_json(p)
    if isinstance(data, dict) and data.get("format") == STRESS_FORMAT:
        return _load_stress(p.parent, data, label)
    if isinstance(data, dict) and data.get("format") == "fsrace-report":
        return _load_report(p, data, label)
    raise CompareError(f"{path} is neither a stress summary (format fsrace-stress) nor a "
                       f"JSON report (format fsrace-report)")


def _load_stress(base: Path, summary: dict[str, Any], label: str) -> RunSet:
    major = str(summary.get("version", "1")).split(".")[0]
    if major != "1":
        raise CompareError(f"{base}/summary.json has version {summary.get('version')}; "
                           f"this fsrace reads version 1.x")
    rs = RunSet(label=label, path=str(base), kind="stress", cwd=summary.get("cwd"),
                command=summary.get("command"), traced=bool(summary.get("traced", True)))
    rs.rate = summary.get("failure_rate") or rate_dict(0, 0)
    rs.untraced_rate = summary.get("untraced_failure_rate")
    rs.sites = summary.get("sites") or []
    rs.root_causes = summary.get("root_causes") or []
    rs.rounds = len([r for r in summary.get("rounds", ()) if r.get("complete", True)])
    for r in summary.get("rounds", ()):
        if r.get("amplify"):
            continue          # delay-injected rounds change the timing on purpose
        ev = r.get("events")
        if ev and r.get("complete", True):
            full = base / ev
            if full.is_file():
                rs.event_logs.append(str(full))
    if any(r.get("amplify") for r in summary.get("rounds", ())):
        rs.notes.append("rounds with delay injection (--amplify) are not counted in the "
                        "failure rate")
    return rs


def _load_report(path: Path, report: dict[str, Any], label: str) -> RunSet:
    rs = RunSet(label=label, path=str(path), kind="report",
                command=(report.get("source") or {}).get("command"))
    copies, failed = copies_of_report(report)
    rs.rate = rate_dict(failed, copies)
    rs.rounds = 1
    events = path.with_name("events.jsonl")
    if events.is_file():
        rs.event_logs.append(str(events))
        # A round of a stress directory: its summary knows the cwd.
        summary = path.parent.parent / "summary.json"
        if summary.is_file():
            try:
                rs.cwd = json.loads(summary.read_text()).get("cwd")
            except (OSError, ValueError):
                pass
    rs.sites = aggregate_sites([(1, report)], rs.cwd)
    rs.root_causes = list(report.get("root_causes") or [])   # one report's, as it wrote them
    return rs


# -------------------------------------------------------- what orders them now

def describe_cause(cause: Any) -> str:
    """Plain words for an ordering edge from ``HappensBefore.ordering_cause``."""
    if cause is None:
        return "nothing (unordered)"
    what, arg = cause
    if what == "flock":
        return f"flock on {arg}"
    if what == "posix":
        return f"fcntl lock on {arg}"
    if what == "excl":
        return f"lock file {arg} (O_CREAT|O_EXCL)"
    if what == "fork":
        return "fork (the parent's operations before the child's)"
    if what == "wait":
        return "exit then wait (a child's operations before its parent's wait)"
    if what == "vfork":
        return "vfork (the child ran before its parent resumed)"
    if what == "same-process":
        return "one process"
    return f"{what} {arg}"


class _PathIndex:
    """Normalised path -> concrete paths of one history, sorted for prefix queries."""

    def __init__(self, h) -> None:
        self.by_norm: dict[str, list[str]] = {}
        for p in h.paths:
            self.by_norm.setdefault(normalize_path(p), []).append(p)
        self.sorted = sorted(self.by_norm)

    def matching(self, pattern: str) -> list[str]:
        from bisect import bisect_left

        subtree = pattern.endswith("/**")
        base = pattern[:-3] if subtree else pattern
        out = list(self.by_norm.get(base, ()))
        if subtree:
            prefix = base + "/"
            i = bisect_left(self.sorted, prefix)
            while i < len(self.sorted) and self.sorted[i].startswith(prefix):
                out.extend(self.by_norm[self.sorted[i]])
                i += 1
        return out


def _base(pattern: str) -> str:
    return pattern[:-3] if pattern.endswith("/**") else pattern


def _fixed_prefix(base: str) -> str:
    """The directory part of a pattern before its first folded segment."""
    parts = base.split("/")
    keep = []
    for part in parts:
        if "*" in part:
            break
        keep.append(part)
    return "/".join(keep) or "/"


_MUTATIONS = REMOVALS | CREATIONS | {WRITE}


def _pairs(h, paths: list[str], limit: int) -> list[tuple[tuple, tuple]]:
    """Pairs (namespace change by one process, access by another) on ``paths``.

    Same path, or the change on a directory and the access below it.
    """
    pairs: list[tuple[tuple, tuple]] = []
    pathset = set(paths)
    for path in paths:
        accs = h.paths.get(path, ())
        muts = [a for a in accs if a[A_OP] in _MUTATIONS]
        if not muts:
            continue
        others = list(accs)
        below = [q for q in h.subtree(path) if q in pathset] if any(
            a[A_OP] in REMOVALS for a in muts) else []
        for q in below[:50]:
            others.extend(h.paths.get(q, ())[:20])
        for m in muts:
            for o in others:
                if o[A_PROC] != m[A_PROC]:
                    pairs.append((m, o))
                    if len(pairs) >= limit:
                        return pairs
    return pairs


def _history_with_causes(event_log: str):
    from .load import load_history
    history, _header, _trailer = load_history([event_log])
    if not hasattr(history.hb, "ordering_cause"):
        raise CompareError("this fsrace's happens-before model cannot name ordering edges")
    return history


def _tally_pairs(histories: list, paths_of, max_pairs: int) -> tuple[dict, int, int, set]:
    """Ordering causes of the conflicting pairs on the paths ``paths_of(h)`` gives."""
    tally: dict[Any, int] = {}
    examined = unordered = 0
    procs: set[str] = set()
    for h in histories:
        paths = paths_of(h)
        for p in paths[:5000]:
            for a in h.paths.get(p, ()):
                procs.add(f"{id(h)}:{a[A_PROC]}")
        for m, o in _pairs(h, paths, max(1, max_pairs // max(1, len(histories)))):
            cause = h.hb.ordering_cause(m[A_PROC], m[A_SEQ], o[A_PROC], o[A_SEQ])
            key = cause if cause is None else tuple(cause)
            tally[key] = tally.get(key, 0) + 1
            examined += 1
            if cause is None:
                unordered += 1
    return tally, examined, unordered, procs


def ordering_for_site(histories: list, pattern: str, stop_at: str | None = None,
                      max_pairs: int = MAX_PAIRS, indexes: list | None = None,
                      concrete: str | None = None, cache: dict | None = None) -> dict[str, Any]:
    """What orders the accesses of a site pattern in AFTER's histories.

    ``pattern`` is matched against normalised paths; ``concrete`` is the same
    pattern with AFTER's real working directory (for the fallback to the
    nearest shared directory, which stops at ``stop_at``).  ``cache`` holds
    directory results between calls.  Returns {"scope", "path", "pairs",
    "unordered", "ordered_by": [{"cause", "kind", "lock", "pairs"}], "note"}.
    """
    if indexes is None:
        indexes = [_PathIndex(h) for h in histories]
    index_of = {id(h): ix for h, ix in zip(histories, indexes)}
    cache = {} if cache is None else cache
    scope, scope_path = "site", pattern
    tally, examined, unordered, procs = _tally_pairs(
        histories, lambda h: index_of[id(h)].matching(pattern), max_pairs)
    note = ""
    if not examined:
        directory = _fixed_prefix(_base(concrete or pattern))
        levels = 0
        while directory not in ("/", "") and levels < 3:
            if stop_at and not (directory + "/").startswith(stop_at.rstrip("/") + "/"):
                break
            if directory not in cache:
                def under(h, d=directory):
                    return [d] + list(h.subtree(d)) if d in h.paths else list(h.subtree(d))
                cache[directory] = _tally_pairs(histories, under, MAX_PAIRS)[:3]
            tally, examined, unordered = cache[directory]
            if examined:
                scope, scope_path = "directory", directory
                break
            directory = os.path.dirname(directory)
            levels += 1
        if not procs:
            note = "no process touched these paths in AFTER"
        else:
            note = ("in AFTER no two processes conflict on these paths (at most one "
                    "changes them)")
        if examined:
            note += f"; the nearest directory they share, {scope_path}, was examined instead"
    ordered_by = []
    for cause, n in sorted(tally.items(), key=lambda kv: -kv[1]):
        if cause is None:
            continue
        ordered_by.append({"cause": describe_cause(cause), "kind": cause[0],
                           "lock": cause[1] if cause[0] in ("flock", "posix", "excl") else None,
                           "pairs": n})
    if not examined and not note:
        note = "no conflicting accesses found"
    return {"scope": scope, "path": scope_path, "pairs": examined, "unordered": unordered,
            "ordered_by": ordered_by, "note": note}


def ordering_verdict(order: dict[str, Any]) -> str:
    """One line: "ordered by flock on X (120 of 124 pairs; 4 unordered)"."""
    if not order.get("pairs"):
        return "cannot tell: " + (order.get("note") or "no conflicting accesses")
    locks = [o for o in order["ordered_by"] if o["lock"]]
    parts = [f"{o['cause']} ({o['pairs']} of {order['pairs']} pairs)" for o in
             (locks or order["ordered_by"])[:3]]
    head = "ordered by " + "; ".join(parts) if parts else "not ordered"
    rest = [o for o in order["ordered_by"] if o not in (locks or order["ordered_by"])[:3]]
    if rest:
        head += "; also " + ", ".join(f"{o['cause']} ({o['pairs']})" for o in rest[:2])
    if order["unordered"]:
        head += f"; {order['unordered']} pairs unordered"
    if order["scope"] == "directory":
        head += f" [in {order['path']}]"
    return head


# --------------------------------------------------------------------- compare

def _warning_sites(rs: RunSet) -> dict[str, dict[str, Any]]:
    return {s["key"]: s for s in rs.sites
            if SEVERITY_RANK.get(s.get("severity") or "info", 0) >= SEVERITY_RANK["warning"]}


def compare(before: RunSet, after: RunSet, *, explain_order: bool = True) -> dict[str, Any]:
    """The comparison as a JSON-ready dict (see the module docstring)."""
    b_sites, a_sites = _warning_sites(before), _warning_sites(after)
    fixed = [b_sites[k] for k in b_sites if k not in a_sites]
    remaining = [{"before": b_sites[k], "after": a_sites[k]} for k in b_sites if k in a_sites]
    new = [a_sites[k] for k in a_sites if k not in b_sites]
    br, ar = before.rate, after.rate
    p = fisher_exact(br.get("failed", 0), br.get("total", 0) - br.get("failed", 0),
                     ar.get("failed", 0), ar.get("total", 0) - ar.get("failed", 0))
    notes: list[str] = list(before.notes) + list(after.notes)
    if before.traced != after.traced:
        notes.append("one side was recorded under strace and the other not: tracing changes "
                      "timing, so the failure rates are not directly comparable")
    fixed_out = []
    histories = indexes = None
    per_site = max(50, MAX_PAIRS // max(1, len(fixed)))
    dir_cache: dict[str, Any] = {}
    for s in fixed:
        entry = {"key": s["key"], "kind": s["kind"], "site": s["site"],
                 "severity_before": s["severity"], "rounds_before": len(s["rounds"]),
                 "syscalls": s.get("syscalls"), "ordering": None}
        if explain_order:
            if not after.event_logs:
                entry["ordering"] = {"scope": "site", "path": s["site"], "pairs": 0,
                                     "unordered": 0, "ordered_by": [],
                                     "note": "AFTER has no event log (a bare JSON report): "
                                             "give its stress directory to see what orders "
                                             "these accesses"}
            else:
                if histories is None:
                    histories = [_history_with_causes(p_) for p_ in
                                 after.event_logs[:MAX_ORDER_ROUNDS]]
                    indexes = [_PathIndex(h) for h in histories]
                pattern = absolute_site(s["site"], after.cwd)
                concrete = (after.cwd.rstrip("/") + s["site"][len("$CWD"):]
                            if after.cwd and s["site"].startswith("$CWD") else None)
                entry["ordering"] = ordering_for_site(histories, pattern, stop_at=after.cwd,
                                                      max_pairs=per_site, indexes=indexes,
                                                      concrete=concrete, cache=dir_cache)
            entry["ordered_by"] = ordering_verdict(entry["ordering"])
        fixed_out.append(entry)
    return {
        "format": COMPARE_FORMAT,
        "version": COMPARE_VERSION,
        "before": {"path": before.path, "kind": before.kind, "command": before.command,
                   "rounds": before.rounds, "traced": before.traced,
                   "failure_rate": br, "untraced_failure_rate": before.untraced_rate},
        "after": {"path": after.path, "kind": after.kind, "command": after.command,
                  "rounds": after.rounds, "traced": after.traced,
                  "failure_rate": ar, "untraced_failure_rate": after.untraced_rate},
        "difference": {"test": "fisher-exact-two-sided", "p_value": p,
                       "alpha": ALPHA, "significant": p < ALPHA,
                       "direction": ("lower" if (ar.get("rate") or 0) < (br.get("rate") or 0)
                                     else "higher" if (ar.get("rate") or 0) > (br.get("rate") or 0)
                                     else "same")},
        "sites_fixed": fixed_out,
        "sites_remaining": [{"key": r["after"]["key"], "kind": r["after"]["kind"],
                             "site": r["after"]["site"],
                             "severity_before": r["before"]["severity"],
                             "severity_after": r["after"]["severity"],
                             "rounds_before": len(r["before"]["rounds"]),
                             "rounds_after": len(r["after"]["rounds"]),
                             "ordered_by": "not ordered: still reported as a race in AFTER"}
                            for r in remaining],
        "sites_new": [{"key": s["key"], "kind": s["kind"], "site": s["site"],
                       "severity": s["severity"], "rounds": len(s["rounds"]),
                       "example": s.get("example")} for s in new],
        "regression": bool(new),
        "notes": notes,
    }


def compare_exit_status(result: dict[str, Any]) -> int:
    """1 when AFTER has an error or warning site BEFORE lacked, else 0."""
    return 1 if result.get("regression") else 0
