#!/usr/bin/env python3
"""Issue 14's goals, measured end to end through the CLI a user runs, in one invocation.

    python bench/bench_goals.py [STRACE_LOG] [--repeat 2]

Without STRACE_LOG one seed round (10 concurrent ``uv sync`` of uv 0.6.11
under one ``strace -f``, see ``seed_workload.py``) is recorded first.

Every figure is a ratio to a bare binary line scan of the strace log
(``for line in f: n += 1``) measured in the same invocation, each stage in
a fresh process (the CLI's start-up counts: the user pays it), best of
``--repeat``; peak RSS is the stage's own (``wait4``'s ``ru_maxrss``):

* ``import``: ``fsrace import LOG -o X.fsrace`` (goal <= 3x), and the same
  to JSON Lines (``-o X.jsonl``, for comparison);
* ``analyze strace``: ``fsrace analyze LOG --format json`` (goal <= 10x);
* ``analyze store``: ``fsrace analyze X.fsrace --format json`` (goal <= 5x);
* peak RSS of either analysis (goal <= 300 MB);
* the store's size against the strace text (goal <= 0.25x).

``fsrace record``'s overhead against raw strace is ``bench_record.py``'s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

_SCAN = "import sys\nn = 0\nwith open(sys.argv[1], 'rb') as fh:\n    for _ in fh:\n        n += 1\n"


def run(argv: list[str]) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of one child run to completion; raises on failure."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):   # analyze exits 1 when it finds errors
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{err[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def best(argv: list[str], repeat: int) -> tuple[float, float, float]:
    """The fastest of ``repeat`` runs (its wall, CPU and the largest peak RSS seen)."""
    runs = [run(argv) for _ in range(repeat)]
    wall, cpu, _ = min(runs)
    return wall, cpu, max(r[2] for r in runs)


def fsrace(*args: str) -> list[str]:
    """The CLI as a user runs it (this interpreter's installed fsrace)."""
    return [sys.executable, "-m", "fsrace", *args]


def main() -> int:
    """Measure every stage against the scan and print the goals' table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log", nargs="?", help="strace -f log (default: record one seed round)")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fsrace-goals-") as tmp:
        log = args.log
        if log is None:
            import seed_workload as seed
            log = os.path.join(tmp, "seed.log")
            seed.trace_round(Path(log))
        size = os.path.getsize(log)
        with open(log, "rb") as fh:
            lines = sum(1 for _ in fh)
        print(f"{log}: {size / 1e6:.0f} MB, {lines:,} lines")
        store, jsonl = os.path.join(tmp, "x.fsrace"), os.path.join(tmp, "x.jsonl")
        stages = [
            ("scan", [sys.executable, "-c", _SCAN, log], None, None),
            ("import -> store", fsrace("-q", "import", log, "-o", store), 3.0, None),
            ("import -> jsonl", fsrace("-q", "import", log, "-o", jsonl), None, None),
            ("analyze strace", fsrace("-q", "analyze", log, "--format", "json",
                                      "-o", os.path.join(tmp, "a.json")), 10.0, 300),
            ("analyze store", fsrace("-q", "analyze", store, "--format", "json",
                                     "-o", os.path.join(tmp, "b.json")), 5.0, 300),
        ]
        base = None
        print(f"  {'stage':<16} {'wall':>8} {'ratio':>7} {'goal':>6}   {'cpu':>7} {'ratio':>7}"
              f"   {'peak RSS':>9}")
        for name, argv, goal, rss_goal in stages:
            wall, cpu, rss = best(argv, args.repeat)
            if base is None:
                base = (wall, cpu)
            ratio = wall / base[0]
            verdict = "" if goal is None else ("ok" if ratio <= goal else "MISS")
            rss_verdict = "" if rss_goal is None else ("ok" if rss <= rss_goal else "MISS")
            goal_text = f"{goal:.0f}x" if goal else ""
            print(f"  {name:<16} {wall:7.2f}s {ratio:6.1f}x {goal_text:>6} {verdict:<4}"
                  f"{cpu:6.2f}s {cpu / base[1]:6.1f}x   {rss:6.0f} MB {rss_verdict}")
        ratio = os.path.getsize(store) / size
        print(f"  store size       {os.path.getsize(store) / 1e6:.1f} MB = {ratio:.3f}x the strace"
              f" text (goal 0.25x: {'ok' if ratio <= 0.25 else 'MISS'});"
              f" JSON Lines {os.path.getsize(jsonl) / size:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
