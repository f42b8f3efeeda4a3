"""Amplification: plans that widen a race window at one syscall invocation.

Part of ``fsrace stress --amplify`` (see ``fsrace/stress/__init__.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any



#: Amplification delays are clamped to this range (seconds) ...
AMPLIFY_MIN_DELAY, AMPLIFY_MAX_DELAY = 0.001, 2.0
#: ... and the widest plans delay this many invocations either side.
AMPLIFY_SPREAD = 4


# --------------------------------------------------------------- amplification

def invocation_numbers(events_path: Path, wanted: dict[int, str]) -> dict[int, tuple[int, int]]:
    """For event ``seq`` -> syscall name, its thread and per-thread invocation number.

    strace counts injections per syscall and per tracee (thread), from 1.
    Returns seq -> (tid, n).
    """
    from fsrace.tracer.eventlog import open_event_log

    names = set(wanted.values())
    counts: dict[tuple[int, str], int] = {}
    out: dict[int, tuple[int, int]] = {}
    log = open_event_log(events_path)
    for ev in log.events():
        name = ev.get("syscall")
        if name not in names:
            continue
        tid = ev.get("tid", ev.get("pid"))
        key = (tid, name)
        counts[key] = counts.get(key, 0) + 1
        seq = ev.get("seq")
        if seq in wanted and wanted[seq] == name:
            out[seq] = (tid, counts[key])
    return out


def amplify_plans(site: dict[str, Any], rdir: Path) -> list[dict[str, Any]]:
    """Delay plans for one latent site, mildest first.

    A latent race is two unordered accesses that happened ``gap`` seconds
    apart in the wrong order for a failure.  Stalling the *earlier* one
    (delay_enter on its syscall, at its per-thread invocation number) for
    longer than the gap lets the later one overtake it: the remover then
    removes what the other is using, or finds the directory refilled.  The
    ladder: 1.5 x gap and 3 x gap at that one invocation, then 3 x gap on
    the invocations around it (for multi-threaded programs, where the same
    operation lands on another thread or invocation from run to run), then
    the other access's syscall.  Delays are clamped to [1 ms, 2 s].
    """
    example = site.get("example") or {}
    accesses = [a for a in example.get("accesses") or []
                if a.get("syscall") and a.get("seq") is not None]
    if not accesses:
        return []
    accesses.sort(key=lambda a: (a.get("ts") is None, a.get("ts") or 0, a["seq"]))
    first, last = accesses[0], accesses[-1]
    gap = 0.0
    if first.get("ts") is not None and last.get("ts") is not None:
        gap = max(0.0, float(last["ts"]) - float(first["ts"]))
    events = rdir / "events.jsonl"
    try:
        numbers = invocation_numbers(events, {a["seq"]: a["syscall"] for a in accesses})
    except Exception:  # noqa: BLE001 - a missing/damaged log: plan without when=
        numbers = {}

    def clamp(seconds: float) -> int:
        return int(min(AMPLIFY_MAX_DELAY, max(AMPLIFY_MIN_DELAY, seconds)) * 1e6)

    plans: list[dict[str, Any]] = []
    seen: set[tuple] = set()

    def add(acc: dict[str, Any], factor: float, spread: int) -> None:
        n = numbers.get(acc["seq"], (None, None))[1]
        if n:
            when = f"{max(1, n - spread)}..{min(65534, n + spread)}" if spread else str(n)
        else:
            when = f"1..{1 + 2 * spread}"
        delay = clamp(factor * gap)
        key = (acc["syscall"], delay, when)
        if key not in seen:
            seen.add(key)
            plans.append({"site": site["key"], "target": acc.get("role", "?"),
                          "syscall": acc["syscall"], "delay_us": delay, "when": when,
                          "gap_us": int(gap * 1e6)})

    add(first, 1.5, 0)
    add(first, 3.0, 0)
    add(first, 3.0, AMPLIFY_SPREAD)
    if last is not first:
        add(last, 3.0, AMPLIFY_SPREAD)
    return plans


def inject_args(plan: dict[str, Any]) -> list[str]:
    """strace arguments for one plan: ``-e inject=NAME:delay_enter=USEC:when=A..B``."""
    return ["-e", f"inject={plan['syscall']}:delay_enter={plan['delay_us']}:when={plan['when']}"]


def describe_plan(plan: dict[str, Any] | None) -> str:
    if not plan:
        return "-"
    return (f"delay {plan['target']}'s {plan['syscall']} by {plan['delay_us'] / 1000:.0f} ms "
            f"(when={plan['when']})")
