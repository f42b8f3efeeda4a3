"""Scale: the fast detectors give exactly the brute-force answers; clocks stay linear.

No timing here (``bench/bench_scale.py`` measures time and memory).  The
property tests run the indexed detectors and their brute-force references
(the code they replaced, kept in ``tests``) on many seeded random traces:
forks, waits, exits, flock hand-overs, lock files, removals and failures
on a small tree of paths, with calls that overlap in time.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from conftest import Trace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

PATHS = ("/w/d", "/w/d/a", "/w/d/b", "/w/d/s", "/w/d/s/x", "/w/e", "/w/d.tmp")
SYSCALLS = ("mkdir", "rmdir", "unlink", "rename", "newfstatat", "openat-r", "openat-w",
            "openat-c", "openat-x", "getdents64", "flock")
ERRNOS = (None, None, None, "ENOENT", "EEXIST", "ENOTEMPTY", "ENOTDIR", "EACCES")


def random_trace(seed: int, events: int = 120) -> Trace:
    """A seeded random trace: a process tree with waits and locks, racing on PATHS."""
    rng = random.Random(seed)
    t = Trace()
    t.exec(1, ["init"])
    alive, children, exited = [1], {1: []}, set()
    next_pid = 2
    ofds: dict[int, int] = {}
    for _ in range(events):
        r = rng.random()
        p = rng.choice(alive)
        if r < 0.12 and next_pid < 40:
            t.fork(p, next_pid)
            children[p].append(next_pid)
            children[next_pid] = []
            alive.append(next_pid)
            next_pid += 1
        elif r < 0.18 and p != 1:
            t.exit(p, rng.choice((0, 0, 1)))
            alive.remove(p)
            exited.add(p)
        elif r < 0.26:
            done = [c for c in children[p] if c in exited]
            if done:
                c = rng.choice(done)
                children[p].remove(c)
                t.wait(p, c)
        else:
            name = rng.choice(SYSCALLS)
            path = rng.choice(PATHS)
            errno = rng.choice(ERRNOS)
            extra = {}
            if rng.random() < 0.3:
                # A slow call: entered well before it returned (overlaps others).
                seq = len(t.events) + 1
                extra = {"ts": 1000.0 + (seq - rng.randint(1, 6)) * 0.001,
                         "ts_end": 1000.0 + seq * 0.001}
            if name == "rename":
                t.op(p, "rename", path, errno, path2=rng.choice(PATHS), **extra)
            elif name.startswith("openat"):
                flags = {"openat-r": "O_RDONLY", "openat-w": "O_WRONLY|O_TRUNC",
                         "openat-c": "O_WRONLY|O_CREAT|O_TRUNC",
                         "openat-x": "O_WRONLY|O_CREAT|O_EXCL"}[name]
                t.op(p, "openat", path, errno, flags=flags, **extra)
            elif name == "flock":
                ofd = ofds.setdefault(p, 100 + p)
                if rng.random() < 0.5:
                    t.flock(p, "/w/lock", ofd)
                else:
                    t.flock(p, "/w/lock", ofd, "LOCK_UN")
            elif name == "unlink" and rng.random() < 0.2:
                t.op(p, "unlinkat", path, errno, flags="AT_REMOVEDIR", **extra)
            else:
                t.op(p, name, path, errno, **extra)
    return t


SEEDS = range(300)


@pytest.mark.parametrize("chunk", range(6))
def test_unordered_index_is_closest_unordered(chunk: int) -> None:
    """UnorderedIndex.closest == the plain scan (same pairs, same order) on every anchor."""
    from fsrace.analyzers.detectors._common import (UnorderedIndex, closest_unordered,
                                                     closest_unordered_scan)
    from fsrace.analyzers.history import build_history
    checked = 0
    for seed in SEEDS[chunk::6]:
        h = build_history(random_trace(seed).events)
        lists = list(h.paths.values())
        # A list spanning several paths, as the subtree detectors build them.
        lists.append([a for p in sorted(h.paths) for a in h.paths[p]])
        for cands in lists:
            index = UnorderedIndex(h, cands)
            for a in cands:
                want = closest_unordered_scan(h, a, cands)
                got = index.closest(a)
                assert list(got.items()) == list(want.items()), (seed, a)
                # What the detectors call: the index cached for the list.
                assert list(closest_unordered(h, a, cands).items()) == list(want.items())
                checked += 1
    assert checked > 1000


# ---------------------------------------------------------------- references
# The plain scans the indexed detectors replaced (fsrace 0.1.0), kept as
# the specification they must match.

def reference_removed_while_in_use(h):
    from fsrace.analyzers.accesses import A_ERRNO, A_OP, A_PROC, A_SEQ, CREATIONS, REMOVALS
    from fsrace.analyzers.conflict import Conflict
    from fsrace.analyzers.detectors._common import (closest_unordered_scan as closest_unordered,
                                                     removal_root, removes_directory,
                                                     unlocked_paths)
    from fsrace.analyzers.detectors.removed_while_in_use import KIND, _failed_after
    ordered = h.hb.ordered
    for path, accesses in unlocked_paths(h):
        for a in accesses:
            if a[A_OP] not in REMOVALS or a[A_ERRNO] is not None:
                continue
            x = a[A_PROC]
            is_dir = removes_directory(a) or a[A_OP] != "remove"
            targets = [path]
            if is_dir:
                targets.extend(h.subtree(path))
            manifested: dict[int, tuple] = {}
            candidates = []
            for t in targets:
                previous: dict[int, tuple] = {}
                for b in h.paths.get(t, ()):
                    seen = previous.get(b[A_PROC])
                    previous[b[A_PROC]] = b
                    if b[A_PROC] == x:
                        continue
                    if _failed_after(a, b, seen):
                        cur = manifested.get(b[A_PROC])
                        if (cur is None or b[A_SEQ] < cur[A_SEQ]) and \
                                not ordered(x, a[A_SEQ], b[A_PROC], b[A_SEQ]):
                            manifested[b[A_PROC]] = b
                        continue
                    if b[A_OP] in CREATIONS and t != path:
                        continue
                    if b[A_ERRNO] is not None and b[A_SEQ] > a[A_SEQ]:
                        continue
                    candidates.append(b)
            latent = closest_unordered(h, a, candidates)
            site = None
            for proc, b in latent.items():
                if proc in manifested:
                    continue
                site = site or removal_root(h, path, x)
                yield Conflict(KIND, a, b, False, site)
            for proc, b in manifested.items():
                site = site or removal_root(h, path, x)
                yield Conflict(KIND, a, b, True, site)


def _pairs(conflicts):
    return [(c.kind, c.culprit, c.victim, c.manifested, c.site_path) for c in conflicts]


@pytest.mark.parametrize("chunk", range(6))
def test_removed_while_in_use_matches_the_plain_scan(chunk: int) -> None:
    """The indexed detector yields the reference's conflicts, in the same order."""
    from fsrace.analyzers.detectors import removed_while_in_use
    from fsrace.analyzers.history import build_history
    found = 0
    for seed in SEEDS[chunk::6]:
        h = build_history(random_trace(seed).events)
        want = _pairs(reference_removed_while_in_use(h))
        assert _pairs(removed_while_in_use.detect(h)) == want, seed
        found += len(want)
    assert found > 100


def reference_filled_while_removing(h):
    from fsrace.analyzers.accesses import A_ERRNO, A_OP, A_PROC, A_SEQ, CREATIONS, may_precede
    from fsrace.analyzers.conflict import Conflict
    from fsrace.analyzers.detectors._common import (closest_unordered_scan as closest_unordered,
                                                     removal_root, removes_directory)
    from fsrace.analyzers.detectors.filled_while_removing import KIND
    ordered = h.hb.ordered
    for path, accesses in h.paths.items():
        for a in accesses:
            if not removes_directory(a):
                continue
            if a[A_ERRNO] not in (None, "ENOTEMPTY", "EEXIST"):
                continue
            x = a[A_PROC]
            creations = [b for t in h.subtree(path) for b in h.paths.get(t, ())
                         if b[A_OP] in CREATIONS and b[A_ERRNO] is None and b[A_PROC] != x]
            if not creations:
                continue
            if a[A_ERRNO] is not None:
                latest: dict[int, tuple] = {}
                for b in creations:
                    if may_precede(b, a) and not ordered(x, a[A_SEQ], b[A_PROC], b[A_SEQ]):
                        cur = latest.get(b[A_PROC])
                        if cur is None or b[A_SEQ] > cur[A_SEQ]:
                            latest[b[A_PROC]] = b
                if latest:
                    b = max(latest.values(), key=lambda acc: acc[A_SEQ])
                    yield Conflict(KIND, b, a, True, removal_root(h, path, x))
                continue
            for b in closest_unordered(h, a, creations).values():
                yield Conflict(KIND, b, a, False, removal_root(h, path, x))


@pytest.mark.parametrize("chunk", range(6))
def test_filled_while_removing_matches_the_plain_scan(chunk: int) -> None:
    """The indexed detector yields the reference's conflicts, in the same order."""
    from fsrace.analyzers.detectors import filled_while_removing
    from fsrace.analyzers.history import build_history
    found = 0
    for seed in SEEDS[chunk::6]:
        h = build_history(random_trace(seed, events=200).events)
        want = _pairs(reference_filled_while_removing(h))
        assert _pairs(filled_while_removing.detect(h)) == want, seed
        found += len(want)
    assert found > 20


def test_clock_entries_grow_with_processes_not_their_square() -> None:
    """A make-like tree of 2,000 processes keeps a few clock entries per process.

    With copied clocks every child held its parent's clock (which grows by
    one entry per reaped job): about n^2/2 = 2,000,000 entries here.
    """
    import bench_scale
    from fsrace.analyzers.history import build_history
    h = build_history(bench_scale.shape_many_procs(50_000))
    n = len(h.processes)
    assert n > 1900
    assert h.hb.clock_entries() < 4 * n
    # ... and the clocks still order what they must: the first job's
    # compiler precedes the last job's (make reaped it before forking).
    first_cc, last_cc = h.by_key["1001"], h.by_key[str(999 + n - 1)]
    a = h.processes[first_cc].last_seq
    b = h.processes[last_cc].last_seq
    assert h.hb.ordered(first_cc, a, last_cc, b)
    assert h.hb.ordering_cause(first_cc, a, last_cc, b) == ("fork", h.processes[last_cc].parent)


def test_one_path_with_2000_processes_is_analysed() -> None:
    """2,000 processes x 16 operations on one path (used to be killed at > 2.2 GB)."""
    import bench_scale
    from fsrace.analyzers.analyze import analyze_events
    a = analyze_events(bench_scale.shape_one_path(2000 * 20))
    assert len(a.history.processes) == 2001
    kinds = {f.kind for f in a.findings}
    assert "removed-while-in-use" in kinds
    # Workers overlap only with the ~10 running at the same time: the
    # pairs found grow with the processes, not with their square.
    pairs = sum(f.count for f in a.findings if f.kind == "removed-while-in-use")
    assert 2000 < pairs < 2000 * 40


def test_memory_guard_refuses_with_a_message_instead_of_being_killed() -> None:
    """Over the limit, the builder stops with AnalysisTooLarge (how far, what to do)."""
    from fsrace.analyzers.history import AnalysisTooLarge, HistoryBuilder, MemoryGuard
    import bench_scale
    rss = iter(range(0, 10**12, 10**6))   # "grows" 1 MB per look
    guard = MemoryGuard(limit=20 * 10**6, every=1000, rss=lambda: next(rss))
    builder = HistoryBuilder(memory_guard=guard)
    with pytest.raises(AnalysisTooLarge) as err:
        for ev in bench_scale.shape_many_procs(100_000):
            builder.add(ev)
    msg = str(err.value)
    assert "not enough memory" in msg and "events read" in msg
    assert 20_000 <= builder.h.events <= 22_000   # stopped at the first look over the limit
    # Under the limit nothing happens.
    quiet = HistoryBuilder(memory_guard=MemoryGuard(limit=10**15, every=10))
    for ev in bench_scale.shape_many_procs(5_000):
        quiet.add(ev)


def test_analyze_over_the_memory_limit_is_a_clear_error(tmp_path) -> None:
    """``fsrace analyze`` (the CLI path) says so and exits 2, no traceback."""
    import os
    import subprocess
    import bench_scale
    from fsrace.tracer.eventlog import EventLogWriter
    log = tmp_path / "big.jsonl"
    with EventLogWriter(log, {"backend": "strace", "command": ["make"]}) as w:
        for ev in bench_scale.shape_many_procs(120_000):
            w.write(ev)
    env = dict(os.environ, FSRACE_MEMORY_LIMIT=str(10 * 2**20))   # 10 MB: below any Python
    r = subprocess.run([sys.executable, "-m", "fsrace", "analyze", str(log)], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "not enough memory" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "fsrace", "analyze", str(log)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode in (0, 1), r.stderr[-2000:]
