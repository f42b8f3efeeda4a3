"""What CPython cannot go below: the cost of the steps every import must take.

    python bench/bench_floor.py STRACE_LOG [--repeat 3]

The import goal of issue 2 is 6x a bare Python line scan and the analyze
goal of issue 3 is 10x.  This script measures, on the same log and in the
same run, the cost of the few steps that no pure-Python importer can skip,
each in its cheapest form, so the goal can be compared with a floor rather
than with a guess:

* ``scan``: ``for line in f: n += 1`` (binary), the baseline;
* ``scan+match``: the scan plus one compiled regular-expression match of
  each line and ``.groups()`` (the least a parser does: it must at least
  find the pid, name, arguments and result);
* ``scan+split``: the scan plus ``line.split(None, 3)``, a cheaper but
  weaker tokeniser (it cannot find the result), for comparison;
* ``encode``: ``json.dumps`` (C encoder, compact separators) of each event
  of the log's own event log, which the import must write;
* ``dict``: building a 13-key dict per event (what the resolver hands on).

It prints each figure in seconds and as a multiple of the scan.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def best(fn, repeat: int) -> float:
    """Best wall time of ``repeat`` calls of ``fn``."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    """Measure the floors and print them against the scan."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from fsrace.tracer.strace_import import import_strace
    from fsrace.tracer.strace_parse import _CALL_match

    def scan():
        n = 0
        with open(args.log, "rb") as fh:
            for _line in fh:
                n += 1

    def scan_match():
        with open(args.log, "rb") as fh:
            for raw in fh:
                m = _CALL_match(raw.decode("utf-8", "surrogateescape"))
                if m is not None:
                    m.groups()

    def scan_split():
        with open(args.log, "rb") as fh:
            for raw in fh:
                raw.split(None, 3)

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "events.jsonl")
        import_strace([args.log], out)
        with open(out, encoding="utf-8", errors="surrogateescape") as fh:
            events = [json.loads(line) for line in fh][1:-1]
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    keys = ("seq", "type", "ts", "pid", "tid", "proc", "syscall", "result", "ts_end",
            "args", "path", "flags", "fd")

    def encode():
        for ev in events:
            dumps(ev)

    def build():
        for i in range(len(events)):
            dict(zip(keys, (i, "syscall", 1.0, 1, 1, "1", "openat", 3, 1.0, "", "/x", "", 3)))

    base = best(scan, args.repeat)
    print(f"log: {args.log}  ({os.path.getsize(args.log) / 1e6:.1f} MB, "
          f"{len(events)} events)")
    print(f"{'step':<12} {'seconds':>8} {'x scan':>7}")
    for name, fn in (("scan", None), ("scan+match", scan_match), ("scan+split", scan_split),
                     ("encode", encode), ("dict", build)):
        t = base if fn is None else best(fn, args.repeat)
        print(f"{name:<12} {t:8.3f} {t / base:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
