"""The compiled core's importer against the Python one, on a real log.

    python bench/bench_core.py STRACE_LOG [--variants scan,python,rust,rust-dicts,rust-core]
    python bench/bench_core.py --record [--version 0.6.11]   # record one seed round first

Issue 14's import goal is 3x a bare binary line scan of the strace log,
peak RSS 300 MB.  Every variant runs in its own child process (so its peak
RSS is its own, from ``wait4``), on the same log, in this one invocation:

* ``scan``: ``for line in f: n += 1`` on the log opened in binary: the baseline;
* ``python``: the Python importer (``StraceImporter``, the test oracle) writing
  the JSON Lines event log, as ``fsrace import`` did before the core;
* ``rust``: ``import_strace`` (what ``fsrace import`` runs now: the core, its
  events handed to Python as dicts and written by the JSON Lines writer);
* ``rust-dicts``: the core with its dicts dropped (no JSON encoding);
* ``rust-core``: the core alone, events built and dropped inside Rust (what
  is left when no event crosses into Python).

Prints wall and CPU seconds, their ratios to the scan's, and the peak RSS
of each.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = ("scan", "python", "rust", "rust-dicts", "rust-core")


def run_variant(name: str, log: str, out_dir: str) -> float:
    """Run one variant in this process; return its wall time."""
    t0 = time.perf_counter()
    if name == "scan":
        n = 0
        with open(log, "rb") as fh:
            for _line in fh:
                n += 1
    elif name == "python":
        from fsrace.tracer.core_oracle import reference_import
        from fsrace.tracer.eventlog import EventLogWriter
        with EventLogWriter(os.path.join(out_dir, "py.jsonl"), {"backend": "strace"}) as w:
            reference_import([log], False, None, w.write)
    elif name == "rust":
        from fsrace.tracer.strace_import import import_strace
        import_strace([log], os.path.join(out_dir, "rs.jsonl"))
    elif name in ("rust-dicts", "rust-core"):
        from fsrace import _core
        imp = _core.Importer(None)
        feed = imp.feed if name == "rust-dicts" else imp.feed_discard
        with open(log, "rb") as fh:
            while block := fh.read(1 << 20):
                feed(block)
        imp.finish()
    else:
        raise SystemExit(f"unknown variant {name}")
    return time.perf_counter() - t0


def measure(name: str, log: str) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of the whole child, peak RSS in MB) of one
    variant, in a child process.  CPU time is robust when other jobs load
    the machine; it includes the child's start-up (~0.05 s)."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([sys.executable, __file__, "--child", name, log, tmp],
                                stdout=subprocess.PIPE)
        out = proc.stdout.read()
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed with status {proc.returncode}")
    return json.loads(out)["seconds"], usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> int:
    """Measure the variants and print them against the scan."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        name, log, out_dir = sys.argv[2:5]
        print(json.dumps({"seconds": run_variant(name, log, out_dir)}))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log", nargs="?")
    ap.add_argument("--record", action="store_true", help="record one seed round first")
    ap.add_argument("--version", default="0.6.11")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    log = args.log
    if args.record:
        sys.path.insert(0, str(ROOT / "bench"))
        import seed_workload as seed
        log = log or os.path.join(tempfile.mkdtemp(prefix="bench-core-"), "seed.log")
        seed.trace_round(Path(log), args.version)
    if not log:
        ap.error("give a strace log or --record")
    with open(log, "rb") as fh:
        lines = sum(1 for _ in fh)
    print(f"{log}: {os.path.getsize(log) / 1e6:.0f} MB, {lines} lines")
    base = cbase = None
    for name in args.variants.split(","):
        secs, cpu, rss = measure(name, log)
        if name == "scan":
            base, cbase = secs, cpu
        ratio = f"{secs / base:6.1f}x" if base else ""
        cratio = f"{cpu / cbase:6.1f}x" if cbase else ""
        print(f"  {name:10s} wall {secs:7.2f} s {ratio}   cpu {cpu:7.2f} s {cratio}"
              f"   peak RSS {rss:5.0f} MB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
