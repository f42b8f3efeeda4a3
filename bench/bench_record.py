"""Recording overhead on the real seed workload, against untraced and raw strace.

    python bench/bench_record.py [--runs 5] [--version 0.6.11]

One ``uv sync -q`` into a fresh ``.venv`` (a single process is repeatable;
the 10-process race varies too much for timing), ``--runs`` times each, in
one invocation, interleaved so that machine load hits all modes alike:

* ``untraced``: uv alone;
* ``strace``: raw ``strace -f -ttt -T -s 4096 --seccomp-bpf -e <fsrace's
  filter> -o LOG`` around uv (the baseline fsrace record is held to);
* ``record``: ``fsrace record -o EVENTS -- uv sync -q`` (the import runs
  beside the recording), split into its recording phase (strace running)
  and what follows it (the rest of the import, and Python's start-up);
* ``record --import-after``: the same with the import started only after
  the command ended (the old behaviour: nothing competes with the tracees).

Prints medians and ratios; needs strace and the package index (for the
first ``prepare``).
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import seed_workload as seed  # noqa: E402
from fsrace.tracer.syscalls import strace_trace_expression  # noqa: E402


def timed(argv: list[str], env: dict, cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    """Run the modes interleaved and print medians and ratios."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--version", default=seed.BROKEN_VERSION)
    args = ap.parse_args()
    env = seed.prepare(args.version)
    uv = seed.sync_argv(env)
    times: dict[str, list[float]] = {m: [] for m in (
        "untraced", "strace", "record", "record (recording)", "record (after it)",
        "record --import-after", "record --import-after (recording)",
        "record --import-after (after it)")}
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "raw.log")
        events = os.path.join(tmp, "ev.jsonl")
        strace = ["strace", "-f", "-ttt", "-T", "-s", "4096", "--seccomp-bpf", "-e",
                  strace_trace_expression(), "-o", log, "--"]
        record = [sys.executable, "-m", "fsrace.cli", "record", "-o", events]
        argvs = {"untraced": uv, "strace": strace + uv, "record": record + ["--"] + uv,
                 "record --import-after": record + ["--import-after", "--"] + uv}
        for _ in range(args.runs):
            for mode, argv in argvs.items():
                seed.reset(env)
                run_env = dict(env.env, PYTHONPATH=str(ROOT))
                total = timed(argv, run_env, env.project)
                times[mode].append(total)
                if mode.startswith("record"):
                    trailer = open(events).read().rstrip("\n").rsplit("\n", 1)[-1]
                    rec = json.loads(trailer)["duration"]
                    times[f"{mode} (recording)"].append(rec)
                    times[f"{mode} (after it)"].append(total - rec)
        lines = sum(1 for _ in open(log, "rb"))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"uv {args.version}, one `uv sync -q` into a fresh .venv, {args.runs} runs each, "
          f"medians; raw strace log {lines} lines")
    for k, v in med.items():
        ratio_u = v / med["untraced"]
        ratio_s = v / med["strace"]
        print(f"  {k:<35} {v:7.2f} s   {ratio_u:5.2f}x untraced   {ratio_s:5.2f}x raw strace")
    return 0


if __name__ == "__main__":
    sys.exit(main())
