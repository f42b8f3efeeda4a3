"""Import and analysis speed against a bare Python line scan, in one run.

    python bench/bench_import.py LOG [--repeat 3] [--scale]

For a strace log LOG it measures, best of ``--repeat`` runs each:

* ``scan``: a bare ``for line in f: pass`` over the file (binary), the
  baseline every other figure is divided by;
* ``import``: ``fsrace import LOG -o /tmp/x.jsonl`` in-process (parse,
  resolve, JSON-encode, write);
* ``analyze``: ``fsrace analyze LOG`` end to end without rendering (import
  on the fly + history + detectors + grouping);

and the peak RSS of each (measured in a child process, ``ru_maxrss``).
With ``--scale`` it repeats ``analyze`` on the first quarter and half of
the log to show the cost is linear in its size (1x, 2x, 4x).
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

_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
what, log, out = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
if what == "scan":
    n = 0
    with open(log, "rb") as fh:
        for _line in fh:
            n += 1
elif what == "import":
    from fsrace.tracer.strace_import import import_strace
    n = import_strace([log], out).lines_read
else:
    from fsrace.analyzers.load import load_history
    from fsrace.analyzers.analyze import analyze_history
    h, head, tr = load_history([log])
    a = analyze_history(h, head, tr)
    n = tr["lines_read"]
dt = time.perf_counter() - t0
print(json.dumps({{"seconds": dt, "lines": n,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def run(what: str, log: str, repeat: int) -> dict:
    """Best-of-``repeat`` timing of one stage in a fresh interpreter."""
    best = None
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            res = subprocess.run([sys.executable, "-c", _CHILD.format(root=str(ROOT)), what, log,
                                  os.path.join(tmp, "x.jsonl")],
                                 capture_output=True, text=True, check=True)
            got = json.loads(res.stdout)
            if best is None or got["seconds"] < best["seconds"]:
                best = got
    return best


def prefix(log: str, fraction: float, tmp: str) -> str:
    """Write the first ``fraction`` of the log's lines to a file."""
    with open(log, "rb") as fh:
        lines = fh.readlines()
    out = os.path.join(tmp, f"prefix-{fraction}.log")
    with open(out, "wb") as fh:
        fh.writelines(lines[: int(len(lines) * fraction)])
    return out


def main() -> int:
    """Run the benchmark and print a table of ratios."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scale", action="store_true")
    args = ap.parse_args()
    size = os.path.getsize(args.log) / 1e6
    scan = run("scan", args.log, args.repeat)
    print(f"log: {args.log}  ({size:.1f} MB, {scan['lines']} lines)")
    print(f"{'stage':<10} {'seconds':>9} {'lines/s':>11} {'x scan':>8} {'peak RSS MB':>12}")
    for what in ("scan", "import", "analyze"):
        r = scan if what == "scan" else run(what, args.log, args.repeat)
        print(f"{what:<10} {r['seconds']:9.2f} {r['lines'] / r['seconds']:11.0f} "
              f"{r['seconds'] / scan['seconds']:8.1f} {r['rss_mb']:12.0f}")
    if args.scale:
        with tempfile.TemporaryDirectory() as tmp:
            base = None
            print("\nanalyze cost vs size (linear if the per-line figure stays flat):")
            for label, frac in (("1x", 0.25), ("2x", 0.5), ("4x", 1.0)):
                path = prefix(args.log, frac, tmp) if frac < 1 else args.log
                r = run("analyze", path, args.repeat)
                base = base or r["seconds"]
                print(f"  {label}: {r['lines']:>9} lines {r['seconds']:7.2f} s "
                      f"({1e6 * r['seconds'] / r['lines']:.2f} us/line, {r['seconds'] / base:.2f}x "
                      f"the 1x time) peak RSS {r['rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
