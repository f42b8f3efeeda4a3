"""The Perfetto / Chrome trace-event export follows the format's rules.

The rules checked (from the Trace Event Format document that Perfetto and
chrome://tracing implement):

* the file is a JSON object with a ``traceEvents`` list;
* every event has ``ph``, ``name``, ``pid`` and ``tid``; complete events
  (``X``) have numeric ``ts`` and ``dur`` >= 0; instant events (``i``) have
  ``ts`` and a scope ``s`` in g/p/t; flow events (``s``/``f``) have ``id``,
  ``cat`` and ``ts``; metadata events (``M``) name a known record and carry
  its argument;
* on one thread track, complete events are in time order and never
  overlap partially (they nest or follow one another), as Perfetto
  requires for slices of one thread;
* flow ids are paired: exactly one start and one finish with the same id,
  name and category;
* every flow end point and every finding marker lies inside a real slice
  of its track (that is the slice Perfetto binds it to), and that slice is
  the culprit's / victim's syscall of the finding.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from conftest import DATA, ROOT, Trace

GALLERY = DATA / "strace" / "gallery"

METADATA = {"process_name": "name", "thread_name": "name", "process_sort_index": "sort_index",
            "thread_sort_index": "sort_index", "process_labels": "labels"}


def validate(trace: dict) -> dict[str, int]:
    """Assert the trace-event rules; return counts per phase."""
    assert isinstance(trace, dict) and isinstance(trace.get("traceEvents"), list)
    events = trace["traceEvents"]
    counts: dict[str, int] = defaultdict(int)
    slices: dict[tuple[int, int], list[tuple[float, float, dict]]] = defaultdict(list)
    flows: dict[int, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    markers = []
    named_procs = set()
    for ev in events:
        ph = ev.get("ph")
        counts[ph] += 1
        assert isinstance(ev.get("name"), str) and ev["name"], ev
        assert isinstance(ev.get("pid"), int) and isinstance(ev.get("tid"), int), ev
        if ph == "M":
            assert ev["name"] in METADATA, ev
            assert METADATA[ev["name"]] in ev.get("args", {}), ev
            if ev["name"] == "process_name":
                named_procs.add(ev["pid"])
        elif ph == "X":
            assert isinstance(ev.get("ts"), (int, float)) and ev["ts"] >= 0, ev
            assert isinstance(ev.get("dur"), (int, float)) and ev["dur"] >= 0, ev
            slices[(ev["pid"], ev["tid"])].append((ev["ts"], ev["dur"], ev))
        elif ph == "i":
            assert isinstance(ev.get("ts"), (int, float)), ev
            assert ev.get("s") in ("g", "p", "t"), ev
            markers.append(ev)
        elif ph in ("s", "f"):
            assert isinstance(ev.get("ts"), (int, float)), ev
            assert "id" in ev and isinstance(ev.get("cat"), str), ev
            if ph == "f":
                assert ev.get("bp") in (None, "e"), ev
            flows[ev["id"]][ph].append(ev)
        else:
            raise AssertionError(f"unexpected phase {ph!r}: {ev}")
    # Slices of one thread: time order, nested or disjoint.
    for track, items in slices.items():
        assert track[0] in named_procs, f"track {track} has no process_name"
        stack: list[float] = []
        last = -1.0
        for ts, dur, ev in items:
            assert ts >= last, f"slices out of order on {track}: {ev}"
            last = ts
            while stack and stack[-1] <= ts:
                stack.pop()
            if stack:
                assert ts + dur <= stack[-1], f"partially overlapping slices on {track}: {ev}"
            stack.append(ts + dur)

    def enclosing(ev: dict) -> dict:
        for ts, dur, sl in slices.get((ev["pid"], ev["tid"]), ()):
            if ts <= ev["ts"] <= ts + dur:
                return sl
        raise AssertionError(f"no slice encloses {ev}")

    pairs = {}
    for fid, by_ph in flows.items():
        assert len(by_ph["s"]) == 1 and len(by_ph["f"]) == 1, f"flow {fid} is not paired"
        s, f = by_ph["s"][0], by_ph["f"][0]
        assert s["name"] == f["name"] and s["cat"] == f["cat"]
        pairs[s["name"].split()[0]] = (enclosing(s), enclosing(f))
    for m in markers:
        enclosing(m)
    counts["flows"] = len(pairs)
    trace["_pairs"] = pairs
    return dict(counts)


def _check_pairs(trace: dict, analysis) -> None:
    """Each finding's flow starts at its culprit's syscall and ends at its victim's."""
    pairs = trace["_pairs"]
    for f in analysis.findings:
        src, dst = pairs[f.id]
        assert src["args"]["seq"] == f.example.culprit[0], f.id
        assert dst["args"]["seq"] == f.example.victim[0], f.id
        assert src["name"] == f.example.culprit[3] and dst["name"] == f.example.victim[3]
        assert dst["args"]["result"] == ("ok" if f.example.victim[4] is None
                                         else f"-1 {f.example.victim[4]}")


def _export(log: Path):
    from fsrace.pipeline import analyze_with_timeline
    from fsrace.reports.report_perfetto import render_perfetto

    a, tl = analyze_with_timeline([str(log)])
    text = render_perfetto(a, tl)
    text.encode("ascii")
    return a, json.loads(text)


@pytest.mark.parametrize("name", ["tmpdir_removed-racy", "tree_filled-racy", "lockfile-racy",
                                  "two_writers-fixed-flock", "hostile_names-racy",
                                  "threads_ok"])
def test_gallery_exports_are_valid(name: str) -> None:
    a, trace = _export(GALLERY / f"{name}.log.gz")
    counts = validate(trace)
    assert counts["X"] > 100
    assert counts["flows"] == len(a.findings)
    _check_pairs(trace, a)
    if name == "threads_ok":   # threads get their own tracks under one process
        tracks = {(e["pid"], e["tid"]) for e in trace["traceEvents"] if e["ph"] == "X"}
        pids = {p for p, _t in tracks}
        assert len(tracks) > len(pids)
    if name == "two_writers-fixed-flock":
        assert any(e["ph"] == "X" and e.get("cat") == "lock" for e in trace["traceEvents"])


def test_export_without_timestamps_uses_event_order() -> None:
    from fsrace.reports.report_perfetto import perfetto_dict

    t = Trace()
    t.fork(1, 2)
    t.fork(1, 3)
    t.open(2, "/d/f", "O_WRONLY|O_CREAT")
    t.op(3, "unlinkat", "/d/f")
    t.open(2, "/d/f", "O_RDONLY", errno="ENOENT")
    for ev in t.events:
        ev.pop("ts")
    a = t.analyze()
    trace = perfetto_dict(a)
    assert trace["otherData"]["clock"] == "seq"
    validate(trace)
    _check_pairs(trace, a)


@pytest.mark.slow
def test_seed_export_is_valid(tmp_path: Path, seed_strace_log: Path) -> None:
    out = tmp_path / "seed.trace.json"
    r = subprocess.run([sys.executable, "-m", "fsrace.cli", "analyze", str(seed_strace_log), "--format",
                        "perfetto", "-o", str(out), "--fail-on", "never"],
                       capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stderr
    trace = json.loads(out.read_text())
    counts = validate(trace)
    report = json.loads(subprocess.run(
        [sys.executable, "-m", "fsrace.cli", "analyze", str(seed_strace_log), "--format", "json",
         "--fail-on", "never"], capture_output=True, text=True, cwd=ROOT, timeout=900).stdout)
    assert counts["flows"] == len(report["findings"]) > 0
    assert counts["X"] > 50_000
    assert {e["pid"] for e in trace["traceEvents"] if e["ph"] == "M"} >= \
        {p["pid"] for p in report["processes"]}
    # The markers of the manifested errors point at the failed syscalls.
    for f in report["findings"]:
        if f["severity"] != "error":
            continue
        src, dst = trace["_pairs"][f["id"]]
        culprit, victim = f["accesses"]
        assert (src["args"]["seq"], dst["args"]["seq"]) == (culprit["seq"], victim["seq"])
        assert dst["args"]["result"] == victim["result"]
        if f["kind"] not in ("saw-foreign-state", "lost-output"):
            # These two explain a failure by a call that succeeded (a read
            # of foreign state, an output created); the others by the
            # victim's failed call.
            assert victim["result"] != "ok", f


def test_validator_rejects_broken_traces() -> None:
    """The rules above are not vacuous: each broken trace is refused."""
    meta = {"ph": "M", "name": "process_name", "pid": 1, "tid": 1, "args": {"name": "p"}}

    def x(ts, dur):
        return {"ph": "X", "name": "openat", "pid": 1, "tid": 1, "ts": ts, "dur": dur, "args": {}}

    broken = [
        [meta, x(0, 10), x(5, 10)],                                    # partial overlap
        [meta, x(10, 1), x(0, 1)],                                     # out of order
        [meta, x(0, 1), {"ph": "s", "name": "F1", "cat": "race", "id": 1, "ts": 0, "pid": 1, "tid": 1}],
        [meta, x(0, 1), {"ph": "i", "name": "F1", "s": "t", "ts": 50, "pid": 1, "tid": 1}],
        [meta, {"ph": "X", "name": "openat", "pid": 1, "tid": 1, "ts": 0}],   # no dur
        [x(0, 1)],                                                     # track without a name
    ]
    for events in broken:
        with pytest.raises(AssertionError):
            validate({"traceEvents": events})
    assert validate({"traceEvents": [meta, x(0, 10), x(2, 3), x(10, 1)]})["X"] == 3
