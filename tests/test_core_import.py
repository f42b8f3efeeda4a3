"""Differential tests: the Rust importer (fsrace._core.Importer, driven by
tracer/core_import.py) against the Python importer (StraceImporter and the
line loop of stream_strace), event for event and count for count.

The comparison is on the JSON text of every event (key order, types:
``true`` is not ``1``, ``1.0`` is not ``1``) and on every trailer field.
Inputs: every strace log in tests/data/ (each file alone, and the ``-ff``
sets merged), with and without an initial cwd; seeded mutations of those
logs (lines edited, dropped, duplicated, swapped, cut); a recorded seed round
(slow).
"""

from __future__ import annotations

import gzip
import json
import os
import random
from pathlib import Path

import pytest

from fsrace import _core
from fsrace.tracer.core_import import CoreImporter
from fsrace.tracer.core_oracle import reference_import
from fsrace.tracer.eventlog import open_event_log
from fsrace.tracer.strace_import import _FF_NAME, ImportError_, ImportStats, _Source, import_strace

from test_core_parse import mutate

DATA = Path(__file__).parent / "data"
LOGS = sorted(p for p in DATA.rglob("*") if p.is_file() and not p.name.startswith("MANIFEST"))
FF_SETS = sorted({p.parent for p in LOGS if _FF_NAME.match(p.name) and p.name.startswith("trace.")})


def _sources(files: list[str], per_process: bool) -> list[_Source]:
    out = []
    for f in files:
        m = _FF_NAME.match(f)
        out.append(_Source(f, int(m.group(2)) if per_process and m else None))
    return out


def _trailer(stats, lines: int, res) -> dict:
    return {"lines_read": lines, "unparsed": stats.unparsed,
            "unparsed_samples": stats.unparsed_samples, "paths": res.paths,
            "unresolved_paths": res.unresolved, "truncated_paths": res.truncated,
            "unknown_fds": res.unknown_fds, "processes": len(res.processes),
            "unmatched_resumed": stats.unmatched_resumed,
            "unfinished_at_end": stats.unfinished_at_end, "warnings": stats.warnings,
            "clock": stats.clock, "events": stats.events}


def python_import(files: list[str], per_process: bool, cwd: str | None):
    """The oracle: the Python importer (core_oracle.reference_import)."""
    events: list[dict] = []
    stats, lines, res = reference_import(files, per_process, cwd, events.append)
    return events, _trailer(stats, lines, res)


def core_import(files: list[str], per_process: bool, cwd: str | None, block: int | None = None):
    """The Rust importer through tracer/core_import.py."""
    sources = _sources(files, per_process)
    events: list[dict] = []
    stats = ImportStats()
    imp = CoreImporter(events.append, cwd, stats)
    try:
        if per_process:
            imp.run_ff(sources, ImportError_, lambda: None)
        elif block is not None:
            raw = sources[0]._fh.read()
            for i in range(0, len(raw), block):
                events.extend(imp._core.feed(raw[i:i + block]))
        else:
            imp.run(sources[0], ImportError_)
        imp.finish()
    finally:
        for s in sources:
            s.close()
    lines = imp.sync()
    return events, _trailer(stats, lines, imp.resolver)


def assert_same(files, per_process=False, cwd=None, block=None):
    try:
        py = python_import(files, per_process, cwd)
    except ImportError_ as exc:
        with pytest.raises(ImportError_) as info:
            core_import(files, per_process, cwd, block)
        assert str(info.value) == str(exc)
        return None
    rs = core_import(files, per_process, cwd, block)
    pe, re_ = py[0], rs[0]
    for i, (a, b) in enumerate(zip(pe, re_)):
        ja, jb = json.dumps(a), json.dumps(b)
        assert ja == jb, f"{files} event {i}:\n python {ja}\n rust   {jb}"
    assert len(pe) == len(re_), (files, len(pe), len(re_))
    assert rs[1] == py[1], f"{files} trailer:\n python {py[1]}\n rust   {rs[1]}"
    if not per_process:
        # and the core's own JSON Lines (what import_strace writes) are
        # json.dumps's text of the oracle's events
        src = _sources(files, False)[0]
        imp = _core.Importer(os.fsencode(cwd) if cwd else None)
        text, _ = imp.feed_json(src._fh.read())
        src.close()
        text += imp.finish_json()[0]
        dumps = json.JSONEncoder(separators=(",", ":")).encode
        assert text.decode("ascii") == "".join(dumps(e) + "\n" for e in pe)
    return py


@pytest.mark.parametrize("cwd", [None, "/work/cwd"])
@pytest.mark.parametrize("log", LOGS, ids=lambda p: str(p.relative_to(DATA)))
def test_every_log_same_events(log: Path, cwd):
    py = assert_same([str(log)], cwd=cwd)
    assert py is not None and py[0], "no events: the comparison proved nothing"


@pytest.mark.parametrize("ff", FF_SETS, ids=lambda p: p.name)
def test_ff_sets_same_events(ff: Path):
    files = sorted(str(p) for p in ff.iterdir())
    py = assert_same(files, per_process=True)
    if ff.name == "ff":
        # recorded without timestamps: both refuse it, with the same message
        assert py is None
    else:
        assert py is not None and py[1]["processes"] > 1


def test_import_command_path_same_events(tmp_path):
    """What the user runs (import_strace, the core since issue 14) writes the
    oracle's events and counts."""
    log = DATA / "strace" / "scenario" / "terminal-ttt.log.gz"
    py_events, py_trailer = python_import([str(log)], False, "/w")
    out = tmp_path / "e.jsonl"
    import_strace([str(log)], str(out), initial_cwd="/w")
    el = open_event_log(out)
    got = list(el.events())
    assert [json.dumps(e) for e in got] == [json.dumps(e) for e in py_events]
    for k, v in py_trailer.items():
        assert el.trailer[{"events": "events"}.get(k, k)] == v, k


@pytest.mark.parametrize("log", LOGS[::3], ids=lambda p: str(p.relative_to(DATA)))
def test_json_lines_same_as_python_encoder(log: Path):
    """The core's JSON text of each event is json.dumps's, byte for byte."""
    events, _ = python_import([str(log)], False, "/w")
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    imp = _core.Importer(os.fsencode("/w"))
    raw = log.read_bytes()
    raw = gzip.decompress(raw) if log.name.endswith(".gz") else raw
    text, n = imp.feed_json(raw)
    tail, m = imp.finish_json()
    assert n + m == len(events) > 0
    assert (text + tail).decode("ascii") == "".join(dumps(e) + "\n" for e in events)


@pytest.mark.parametrize("block", [1, 7, 4096])
def test_any_chunking(block):
    log = DATA / "strace" / "scenario" / "combined.log.gz"
    assert_same([str(log)], block=block)


def test_set_order_is_cpythons():
    """The core keeps thread and cloexec sets in CPython's iteration order."""
    rnd = random.Random(3)
    for _ in range(300):
        ops, s = [], set()
        for _ in range(rnd.randint(1, 60)):
            v = rnd.choice([rnd.randint(0, 40), rnd.randint(1000, 5_000_000), -1, -100])
            op = rnd.choice([0, 0, 0, 1, 2])
            ops.append((op, v))
            if op == 0:
                s.add(v)
            elif op == 1:
                s.discard(v)
            else:
                s = set(s)
        assert _core._set_order(ops) == list(s), ops


def _mutated_log(src: Path, rnd: random.Random, out: Path) -> None:
    raw = src.read_bytes()
    if src.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    lines = raw.split(b"\n")
    for _ in range(rnd.randint(1, 12)):
        if not lines:
            break
        i = rnd.randrange(len(lines))
        op = rnd.random()
        if op < 0.5:
            lines[i] = mutate(lines[i], rnd).replace(b"\n", b" ")
        elif op < 0.65:
            del lines[i]
        elif op < 0.8:
            lines.insert(rnd.randrange(len(lines) + 1), lines[i])
        elif op < 0.95:
            j = rnd.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines = lines[:i]
    out.write_bytes(b"\n".join(lines))


def test_mutated_logs_same_events(tmp_path):
    rnd = random.Random(1414)
    singles = [p for p in LOGS if not _FF_NAME.match(p.name)]
    for k in range(120):
        src = rnd.choice(singles)
        out = tmp_path / f"m{k}.log"
        _mutated_log(src, rnd, out)
        assert_same([str(out)], cwd=rnd.choice([None, "/w"]))


@pytest.mark.slow
def test_seed_round_same_events(seed_strace_log):
    py = assert_same([str(seed_strace_log)])
    assert py is not None and py[1]["lines_read"] > 100_000


def test_cut_gzip_same_error(tmp_path):
    """A .gz log cut short: the core stops with the oracle's message."""
    src = (DATA / "strace" / "scenario" / "combined.log.gz").read_bytes()
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(src[: len(src) // 2])
    with pytest.raises(ImportError_) as py:
        python_import([str(cut)], False, None)
    with pytest.raises(ImportError_) as rs:
        core_import([str(cut)], False, None)
    assert "read error" in str(rs.value) and str(rs.value) == str(py.value)
