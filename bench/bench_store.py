"""Event store (format 2) against JSON Lines (format 1), plain and gzip'd, in one run.

    python bench/bench_store.py [LOG] [--repeat 2]

LOG is a strace log; without it one seed round (10 concurrent ``uv sync``
of uv 0.6.11 under one ``strace -f``, see ``seed_workload.py``) is recorded
into a temporary folder first.  The script imports LOG to ``.jsonl``,
``.jsonl.gz`` and ``.fsrace`` and prints:

* each file's size as a ratio to the strace text (goal: store <= 0.25x);
* the time to import into each, to read each back (every event as a dict),
  and to analyse each end to end (load + validate + history + detectors, no
  rendering; also of the strace text itself), as ratios to a bare binary
  line scan of the strace text measured in the same invocation (goal:
  analyse of the store <= 5x);
* the peak RSS of each stage (each runs in a fresh interpreter, ``ru_maxrss``).

Each figure is the best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

_CHILD = r"""
import json, resource, sys, time
what, src, out = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
n = 0
if what == "scan":
    with open(src, "rb") as fh:
        for _line in fh:
            n += 1
elif what == "import":
    from fsrace.tracer.strace_import import import_strace
    n = import_strace([src], out).events
elif what == "read":
    from fsrace.tracer.event_store import is_event_store, open_event_store
    from fsrace.tracer.eventlog import open_event_log
    log = (open_event_store if is_event_store(src) else open_event_log)(src)
    for _ev in log.events():
        n += 1
else:
    from fsrace.analyzers.analyze import analyze_history
    from fsrace.analyzers.load import load_history
    h, head, tr = load_history([src])
    n = len(analyze_history(h, head, tr).findings)
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "n": n,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(what: str, src: str, out: str, repeat: int) -> dict:
    """Best-of-``repeat`` timing of one stage in a fresh interpreter."""
    best = None
    for _ in range(repeat):
        if what == "import" and os.path.exists(out):
            os.unlink(out)
        res = subprocess.run([sys.executable, "-c", _CHILD, what, src, out],
                             capture_output=True, text=True)
        if res.returncode != 0:
            # One failed stage (e.g. killed for memory) must not lose the others.
            print(f"  ({what} of {src} failed, exit {res.returncode}: "
                  f"{res.stderr.strip()[-300:]})", flush=True)
            return None
        got = json.loads(res.stdout)
        if best is None or got["seconds"] < best["seconds"]:
            best = got
    return best


def record_seed_round(folder: str) -> str:
    """Record one seed round (10 concurrent uv 0.6.11 syncs) under strace."""
    import seed_workload as seed

    log = Path(folder) / "seed.log"
    seed.trace_round(log)
    return str(log)


def main() -> int:
    """Run the benchmark and print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log", nargs="?", help="strace log (default: record a seed round)")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        log = args.log or record_seed_round(tmp)
        text = os.path.getsize(log)
        scan = run("scan", log, "", args.repeat)
        outs = {"v1 jsonl": os.path.join(tmp, "e.jsonl"),
                "v1 jsonl.gz": os.path.join(tmp, "e.jsonl.gz"),
                "store": os.path.join(tmp, "e.fsrace")}
        imports = {k: run("import", log, p, args.repeat) for k, p in outs.items()}
        print(f"strace log: {log} ({text / 1e6:.1f} MB, {scan['n']} lines; "
              f"{(imports['store'] or {}).get('n')} events); scan {scan['seconds']:.3f} s "
              f"(the 1x of every ratio)\n")
        print(f"{'format':<12} {'MB':>8} {'x text':>7} | {'import x':>8} {'RSS':>5} | "
              f"{'read x':>7} {'RSS':>5} | {'analyze x':>9} {'RSS':>5}")
        rows = [("strace text", log)] + list(outs.items())
        for name, path in rows:
            size = os.path.getsize(path)
            imp = imports.get(name)
            read = run("read", path, "", args.repeat) if name != "strace text" else None
            ana = run("analyze", path, "", args.repeat)
            s = scan["seconds"]
            if name != "strace text" and not os.path.exists(path):
                continue
            print(f"{name:<12} {size / 1e6:8.1f} {size / text:7.3f} | "
                  + (f"{imp['seconds'] / s:8.1f} {imp['rss_mb']:5.0f} | " if imp else
                     f"{'':>8} {'':>5} | ")
                  + (f"{read['seconds'] / s:7.1f} {read['rss_mb']:5.0f} | " if read else
                     f"{'':>7} {'':>5} | ")
                  + (f"{ana['seconds'] / s:9.1f} {ana['rss_mb']:5.0f}" if ana else "   failed"),
                  flush=True)
        print("\nx: seconds / scan seconds (best of %d); RSS: peak MB of that stage" % args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
