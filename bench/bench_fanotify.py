#!/usr/bin/env python3
"""Overhead of the fanotify backend next to the strace backend, on the seed workload.

One ``uv sync -q`` (uv 0.6.11, see ``bench/seed_workload.py``) into a fresh
``.venv``, ``--runs`` times each, in one invocation, the three variants
interleaved run by run so that machine noise hits them alike:

* ``untraced``  ``uv sync -q``
* ``fanotify``  ``fsrace record --backend fanotify -o LOG -- uv sync -q``
* ``strace``    ``fsrace record -o LOG -- uv sync -q``

Two times per recorded run: **command** (the recorder's own measure of how
long the command ran under it: the log trailer's ``duration``, launcher
included) and **total** (wall time of the whole ``fsrace record`` process:
interpreter start-up, writing the log, and for strace the import).  The
goal for fanotify (issue 5) is command <= 1.2 x untraced: the workload must
not be slowed; the log is written after the command has exited.

Usage::

    python bench/bench_fanotify.py [--runs 5] [--version 0.6.11] [--json OUT]

Needs root (fanotify, proc connector), strace, and the seed environment
(prepared on first use; needs the package index).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import seed_workload as seed  # noqa: E402


def _trailer(log: Path) -> dict:
    with open(log, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 65536))
        tail = f.read().decode(errors="replace")
    return json.loads(tail.rstrip("\n").rsplit("\n", 1)[-1])


def run_untraced(env: seed.SeedEnv) -> dict:
    seed.reset(env)
    t0 = time.perf_counter()
    subprocess.run(seed.sync_argv(env), cwd=env.project, env=env.env, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, check=True)
    return {"total": time.perf_counter() - t0}


def run_recorded(env: seed.SeedEnv, backend: str, log: Path) -> dict:
    seed.reset(env)
    argv = [sys.executable, "-m", "fsrace.cli", "record", "--backend", backend, "-o", str(log),
            "--", *seed.sync_argv(env)]
    t0 = time.perf_counter()
    r = subprocess.run(argv, cwd=env.project, env=dict(env.env, PYTHONPATH=str(ROOT)),
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    total = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"fsrace record --backend {backend} failed ({r.returncode}):\n"
                           f"{r.stderr[-2000:]}")
    tr = _trailer(log)
    return {"total": total, "command": tr.get("duration"), "events": tr.get("events"),
            "lost": tr.get("lost_events", 0), "fanotify_events": tr.get("fanotify_events"),
            "merged": tr.get("merged_events")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--version", default=seed.BROKEN_VERSION)
    p.add_argument("--json", default=None, help="also write the raw numbers here")
    a = p.parse_args(argv)
    env = seed.prepare(a.version)
    tmp = Path(tempfile.mkdtemp(prefix="fsrace-bench-"))
    runs: dict[str, list[dict]] = {"untraced": [], "fanotify": [], "strace": []}
    run_untraced(env)                                # warm the page cache once
    for i in range(a.runs):
        runs["untraced"].append(run_untraced(env))
        runs["fanotify"].append(run_recorded(env, "fanotify", tmp / "fanotify.jsonl"))
        runs["strace"].append(run_recorded(env, "strace", tmp / "strace.jsonl"))
        print(f"run {i + 1}/{a.runs}: " + "  ".join(
            f"{k} {v[-1]['total']:.2f}s" + (f" (cmd {v[-1]['command']:.2f}s)" if "command" in v[-1]
                                            else "") for k, v in runs.items()), flush=True)
    seed.reset(env)

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    base = med("untraced", "total")
    print(f"\nuv {a.version}: one `uv sync -q` into a fresh .venv, {a.runs} runs each, medians "
          f"(nproc {os.cpu_count()})")
    print(f"  untraced            {base:6.2f} s   1.00x")
    for name in ("fanotify", "strace"):
        cmd, total = med(name, "command"), med(name, "total")
        ev = statistics.median(r["events"] for r in runs[name])
        lost = max(r["lost"] or 0 for r in runs[name])
        extra = ""
        if name == "fanotify":
            extra = (f"; kernel events read {statistics.median(r['fanotify_events'] for r in runs[name]):.0f}"
                     f", merged by the kernel {statistics.median(r['merged'] for r in runs[name]):.0f}")
        print(f"  {name:9s} command {cmd:6.2f} s   {cmd / base:4.2f}x   total (fsrace record) "
              f"{total:6.2f} s   {total / base:4.2f}x   events written {ev:.0f}, lost {lost}{extra}")
    goal = med("fanotify", "command") / base
    print(f"\ngoal fanotify command <= 1.20x untraced: {'met' if goal <= 1.2 else 'NOT met'} "
          f"({goal:.2f}x)")
    if a.json:
        Path(a.json).write_text(json.dumps(runs, indent=1))
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
