"""Analysis cost at scale: time and peak memory per event at 10 k, 100 k and 1 M events.

    python bench/bench_scale.py [--quick] [--shapes rounds,one-path,many-procs]
                                [--sizes 10000,100000,1000000] [--timeout 600]

Three generated shapes (event dicts as ``tracer/events.py`` documents them,
generated lazily so the event list itself never sits in memory):

* ``rounds``: 10 concurrent processes x R rounds of mkdir / create / unlink /
  rmdir on one directory (the hot path of issue 10, item 10);
* ``one-path``: N processes x 16 operations on one path, started by one
  parent that keeps 10 of them running at a time (``xargs -P 10``);
* ``many-procs``: a build-like fork/exec/exit tree (a ``make -j8`` root,
  a shell per job, a compiler child per shell), ~25 events per process:
  40,000 processes at 1 M events (issue 10, item 11).

Each (shape, size) runs in a subprocess of its own so that its peak RSS
(``ru_maxrss``) is its own.  The baseline, measured in the same invocation
for each (shape, size), is a bare loop over the same generated events (the
generator's own cost and the interpreter's memory); the analysis is
``analyze_events`` (history, detectors, sites, explanations) on the same
stream.  Printed per size: seconds, seconds per event, the multiple of the
baseline, peak RSS and RSS per event above the baseline; per shape: the
ratio of per-event analysis time at the largest size to the smallest (goal:
at most 2x).  Nothing is asserted: machines are shared and noisy.

``--quick`` runs 10 k and 100 k only.  ``--run SHAPE N [--baseline]`` is the
subprocess entry point (prints one JSON line).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from typing import Any, Iterator

_TS0 = 1_700_000_000.0


class _Gen:
    """Numbers events and fills the fields every event has."""

    def __init__(self) -> None:
        self.seq = 0
        self.ofd = 0

    def ev(self, pid: int, etype: str, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        ev = {"seq": self.seq, "type": etype, "ts": _TS0 + self.seq * 1e-5,
              "ts_end": _TS0 + self.seq * 1e-5 + 5e-6, "pid": pid, "tid": pid,
              "proc": str(pid)}
        ev.update(fields)
        return ev

    def call(self, pid: int, syscall: str, path: str, errno: str | None = None,
             **fields: Any) -> dict[str, Any]:
        ev = self.ev(pid, "syscall", syscall=syscall, path=path,
                     result=-1 if errno else 0, args="")
        if errno:
            ev["errno"] = errno
        ev.update(fields)
        return ev

    def open(self, pid: int, path: str, flags: str, errno: str | None = None) -> dict[str, Any]:
        self.ofd += 1
        return self.call(pid, "openat", path, errno, flags=flags, fd=3, ofd=self.ofd)

    def fork(self, parent: int, child: int) -> dict[str, Any]:
        return self.ev(parent, "fork", syscall="clone", result=child, child=child,
                       child_proc=str(child), thread=False, vfork=False)

    def exec(self, pid: int, argv: list[str]) -> dict[str, Any]:
        return self.ev(pid, "exec", syscall="execve", result=0, path="/usr/bin/" + argv[0],
                       argv=argv)

    def exit(self, pid: int, code: int = 0) -> dict[str, Any]:
        return self.ev(pid, "exit", code=code)

    def wait(self, parent: int, child: int, code: int = 0) -> dict[str, Any]:
        return self.ev(parent, "wait", syscall="wait4", result=child, child=child,
                       child_proc=str(child), code=code)


def shape_rounds(n_events: int, procs: int = 10, seed: int = 1) -> Iterator[dict[str, Any]]:
    """``procs`` concurrent processes x R rounds of mkdir/create/unlink/rmdir on one directory.

    Each process repeats ``mkdir D; open D/f<p> O_CREAT; unlink D/f<p>;
    rmdir D``; the steps of the processes interleave at random and each
    call's errno follows a simulated namespace (EEXIST, ENOENT, ENOTEMPTY),
    as a real run would print them.
    """
    rng = random.Random(seed)
    g = _Gen()
    root, pids = 100, list(range(1000, 1000 + procs))
    yield g.exec(root, ["sh", "run.sh"])
    for p in pids:
        yield g.fork(root, p)
        yield g.exec(p, ["worker"])
    rounds = max(1, (n_events - 2 - 3 * procs) // (4 * procs))
    d = "/w/d"
    exists: set[str] = set()
    step = {p: 0 for p in pids}
    left = {p: rounds * 4 for p in pids}
    live = list(pids)
    while live:
        p = rng.choice(live)
        s = step[p] % 4
        f = f"{d}/f{p}"
        if s == 0:
            err = "EEXIST" if d in exists else None
            exists.add(d)
            yield g.call(p, "mkdir", d, err, flags="0777")
        elif s == 1:
            err = None if d in exists else "ENOENT"
            if err is None:
                exists.add(f)
            yield g.open(p, f, "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC", err)
        elif s == 2:
            err = None if f in exists else "ENOENT"
            exists.discard(f)
            yield g.call(p, "unlink", f, err)
        else:
            if d not in exists:
                err = "ENOENT"
            elif any(x.startswith(d + "/") for x in exists):
                err = "ENOTEMPTY"
            else:
                err = None
                exists.discard(d)
            yield g.call(p, "rmdir", d, err)
        step[p] += 1
        left[p] -= 1
        if not left[p]:
            live.remove(p)
            yield g.exit(p)
    for p in pids:
        yield g.wait(root, p)
    yield g.exit(root)


# The 16 operations each process of ``one-path`` makes on the shared path.
_ONE_PATH_OPS = ("stat", "open-r", "stat", "create", "stat", "open-r", "rename-to", "stat",
                 "open-w", "stat", "open-r", "unlink", "stat", "mkdir", "rmdir", "stat")


def shape_one_path(n_events: int, concurrency: int = 10, seed: int = 2) -> Iterator[dict[str, Any]]:
    """N processes x 16 operations on one path, ``concurrency`` alive at a time.

    A parent (think ``xargs -P 10``) forks a worker, and once ``concurrency``
    are running waits for the oldest before forking the next.  Workers'
    calls interleave at random; errnos follow a simulated namespace.
    """
    rng = random.Random(seed)
    g = _Gen()
    root = 100
    per_proc = 4 + len(_ONE_PATH_OPS)  # fork, exec, 16 ops, exit, wait
    n_procs = max(2, n_events // per_proc)
    path, tmp = "/w/shared", "/w/shared.tmp"
    state = {"kind": None}  # None, "file" or "dir"
    yield g.exec(root, ["xargs", "-P", str(concurrency)])
    running: list[int] = []   # in fork order
    pending: dict[int, int] = {}   # pid -> next op index
    next_pid = 1000
    started = 0
    while started < n_procs or running:
        if started < n_procs and len(running) < concurrency:
            p = next_pid
            next_pid += 1
            started += 1
            yield g.fork(root, p)
            yield g.exec(p, ["worker", str(started)])
            running.append(p)
            pending[p] = 0
            continue
        p = rng.choice(running)
        i = pending[p]
        if i == len(_ONE_PATH_OPS):
            yield g.exit(p)
            del pending[p]
            running.remove(p)
            yield g.wait(root, p)
            continue
        pending[p] = i + 1
        op = _ONE_PATH_OPS[i]
        kind = state["kind"]
        if op == "stat":
            yield g.call(p, "newfstatat", path, None if kind else "ENOENT", flags="0")
        elif op == "open-r":
            yield g.open(p, path, "O_RDONLY|O_CLOEXEC", None if kind == "file" else
                         ("EISDIR" if kind else "ENOENT"))
        elif op == "open-w":
            err = "EISDIR" if kind == "dir" else None
            state["kind"] = kind or "file"
            yield g.open(p, path, "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC", err)
        elif op == "create":
            # Not O_EXCL: an O_EXCL create later unlinked is the lock-file
            # protocol, and the path would be left out as a lock file.
            err = "EISDIR" if kind == "dir" else None
            state["kind"] = kind or "file"
            yield g.open(p, path, "O_WRONLY|O_CREAT|O_CLOEXEC", err)
        elif op == "rename-to":
            err = "EISDIR" if kind == "dir" else None
            if err is None:
                state["kind"] = "file"
            yield g.call(p, "rename", tmp, err, path2=path)
        elif op == "unlink":
            err = None if kind == "file" else ("EISDIR" if kind else "ENOENT")
            if err is None:
                state["kind"] = None
            yield g.call(p, "unlink", path, err)
        elif op == "mkdir":
            err = "EEXIST" if kind else None
            state["kind"] = kind or "dir"
            yield g.call(p, "mkdir", path, err, flags="0777")
        elif op == "rmdir":
            err = None if kind == "dir" else ("ENOTDIR" if kind else "ENOENT")
            if err is None:
                state["kind"] = None
            yield g.call(p, "rmdir", path, err)
    yield g.exit(root)


def shape_many_procs(n_events: int, jobs: int = 8, seed: int = 3) -> Iterator[dict[str, Any]]:
    """A build tree: ``make -j8`` forks a shell per job, each shell forks a compiler.

    About 25 events per process (1 M events: 40,000 processes).  Compilers
    read shared headers, write their object through a temporary name and a
    rename, and every job makes the output directory (``mkdir -p``: EEXIST).
    Jobs interleave at random, at most ``jobs`` at a time.
    """
    rng = random.Random(seed)
    g = _Gen()
    make = 100
    n_jobs = max(1, n_events // 50)
    yield g.exec(make, ["make", f"-j{jobs}"])
    yield g.call(make, "newfstatat", "/b/Makefile", None, flags="0")
    next_pid = 1000
    active: dict[int, Iterator[dict[str, Any]]] = {}
    started = 0

    def job(n: int, sh: int, cc: int) -> Iterator[dict[str, Any]]:
        obj = f"/b/obj/j{n}.o"
        yield g.exec(sh, ["sh", "-c", f"cc -c j{n}.c"])
        for lib in ("/etc/ld.so.cache", "/lib/libc.so.6"):
            yield g.open(sh, lib, "O_RDONLY|O_CLOEXEC")
        yield g.call(sh, "mkdir", "/b/obj", "EEXIST" if n else None, flags="0777")
        yield g.call(sh, "newfstatat", "/b/obj", None, flags="0")
        yield g.fork(sh, cc)
        yield g.exec(cc, ["cc", "-c", f"j{n}.c"])
        for lib in ("/etc/ld.so.cache", "/lib/libc.so.6", "/lib/libm.so.6"):
            yield g.open(cc, lib, "O_RDONLY|O_CLOEXEC")
        yield g.open(cc, f"/b/src/j{n}.c", "O_RDONLY")
        for h in range(6):
            yield g.open(cc, f"/usr/include/h{h}.h", "O_RDONLY")
        yield g.call(cc, "newfstatat", f"/b/src/j{n}.c", None, flags="0")
        yield g.open(cc, obj + ".tmp", "O_WRONLY|O_CREAT|O_TRUNC")
        yield g.call(cc, "newfstatat", obj + ".tmp", None, flags="0")
        yield g.call(cc, "rename", obj + ".tmp", None, path2=obj)
        yield g.call(cc, "newfstatat", obj, None, flags="0")
        for k in range(22):
            yield g.call(cc, "newfstatat", f"/b/src/dep{(n + k) % 50}.h", None, flags="0")
        yield g.exit(cc)
        yield g.wait(sh, cc)
        yield g.call(sh, "newfstatat", obj, None, flags="0")
        yield g.open(sh, "/b/build.log", "O_WRONLY|O_CREAT|O_APPEND")
        yield g.exit(sh)

    while started < n_jobs or active:
        if started < n_jobs and len(active) < jobs:
            sh, cc = next_pid, next_pid + 1
            next_pid += 2
            yield g.fork(make, sh)
            active[sh] = job(started, sh, cc)
            started += 1
            continue
        sh = rng.choice(list(active))
        ev = next(active[sh], None)
        if ev is None:
            del active[sh]
            yield g.wait(make, sh)
        else:
            yield ev
    yield g.exit(make)


SHAPES = {"rounds": shape_rounds, "one-path": shape_one_path, "many-procs": shape_many_procs}


def run_one(shape: str, n: int, baseline: bool) -> dict[str, Any]:
    """Run one measurement in this process; returns seconds, events, processes."""
    import resource
    gen = SHAPES[shape](n)
    t0 = time.perf_counter()
    out: dict[str, Any] = {}
    if baseline:
        count = 0
        for _ev in gen:
            count += 1
        out["events"] = count
    else:
        from fsrace.analyzers.analyze import analyze_events
        a = analyze_events(gen)
        out["events"] = a.history.events
        out["processes"] = len(a.history.processes)
        out["findings"] = len(a.findings)
        out["conflicts"] = sum(f.count for f in a.findings)
    out["seconds"] = time.perf_counter() - t0
    out["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


def measure(shape: str, n: int, baseline: bool, timeout: float) -> dict[str, Any] | None:
    """Run ``run_one`` in a subprocess; None when it timed out or died."""
    argv = [sys.executable, __file__, "--run", shape, str(n)] + (["--baseline"] if baseline else [])
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"failed": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"failed": f"exit {done.returncode}: {tail}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    """Measure every (shape, size) and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="10 k and 100 k events only")
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--sizes", default=None, help="comma-separated event counts")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    ap.add_argument("--run", nargs=2, metavar=("SHAPE", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run:
        print(json.dumps(run_one(args.run[0], int(args.run[1]), args.baseline)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else \
        ([10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000])
    print(f"{'shape':<11} {'events':>8} {'procs':>6} {'base s':>7} {'analyze s':>9} "
          f"{'us/event':>8} {'x base':>6} {'peak MB':>8} {'B/event':>8} {'pairs':>8}")
    for shape in args.shapes.split(","):
        per_event: list[float] = []
        for n in sizes:
            base = measure(shape, n, True, args.timeout)
            got = measure(shape, n, False, args.timeout)
            if not base or "failed" in base or not got or "failed" in got:
                why = (got or {}).get("failed") or (base or {}).get("failed")
                print(f"{shape:<11} {n:>8} {'':>6} {'':>7} {why}")
                continue
            ev = got["events"]
            us = got["seconds"] / ev * 1e6
            per_event.append(got["seconds"] / ev)
            extra = max(0, got["maxrss"] - base["maxrss"]) / ev
            print(f"{shape:<11} {ev:>8} {got['processes']:>6} {base['seconds']:7.2f} "
                  f"{got['seconds']:9.2f} {us:8.1f} {got['seconds'] / base['seconds']:6.1f} "
                  f"{got['maxrss'] / 2**20:8.0f} {extra:8.0f} {got['conflicts']:>8}", flush=True)
        if len(per_event) >= 2:
            print(f"{shape:<11} per-event time, largest / smallest size: "
                  f"{per_event[-1] / per_event[0]:.2f}x (goal <= 2x)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
