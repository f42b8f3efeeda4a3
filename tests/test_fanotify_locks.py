"""Locks under the fanotify backend: the kernel's filelock trace events.

fanotify cannot see ``flock``/``fcntl``; without them a lock-ordered run is
judged by time alone, and the lock file's own open (which comes before the
lock is taken) makes the copies' work look interleaved.  With tracefs the
recording carries every lock taken and released, placed among the file
events, and the analysis orders the copies by them.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from test_fanotify import _cli, _report, needs_fanotify

from fsrace.analyzers.analyze import analyze_events
from fsrace.tracer import fanotify_backend, filelock_trace
from fsrace.tracer.fanotify_convert import Converter
from fsrace.tracer.fanotify_decode import Counters, Namespace
from fsrace.tracer.filelock_trace import LockRecord, parse_line

INSTALLER = ROOT / "fixtures" / "installer.py"


def _filelock_refusal() -> str | None:
    try:
        trace = filelock_trace.LockTrace()
    except filelock_trace.LockTraceUnavailable as exc:
        return f"no filelock trace events here: {exc}"
    except Exception as exc:  # noqa: BLE001 - any reason is a skip reason
        return f"no filelock trace events here: {exc}"
    trace.close()
    return None


FILELOCK_REFUSAL = _filelock_refusal()
needs_filelock = pytest.mark.skipif(FILELOCK_REFUSAL is not None,
                                    reason=FILELOCK_REFUSAL or "")

# Lines as this machine's kernel (6.18) printed them for flock, lockf and a
# blocked flock.
FLOCK_EX = ("         python3-23736   [001] ..... 15826.964411: flock_lock_inode: "
            "fl=00000000258488dd dev=0xfe:0x0 ino=0x984003 fl_blocker=0000000000000000 "
            "fl_owner=00000000104b36a1 fl_pid=23736 fl_flags=FL_FLOCK|FL_SLEEP fl_type=F_WRLCK "
            "fl_start=0 fl_end=9223372036854775807 ret=0")
FLOCK_CLOSE = FLOCK_EX.replace("FL_FLOCK|FL_SLEEP fl_type=F_WRLCK",
                               "FL_FLOCK|FL_CLOSE fl_type=F_UNLCK")
FLOCK_DEFERRED = FLOCK_EX.replace("ret=0", "ret=1")
FLOCK_NB_LOST = FLOCK_EX.replace("FL_FLOCK|FL_SLEEP", "FL_FLOCK").replace("ret=0", "ret=-11")
LOCKF = ("         python3-23736   [001] ...1. 15826.964445: posix_lock_inode: "
         "fl=0000000079bbefa5 dev=0xfe:0x0 ino=0x984003 fl_blocker=0000000000000000 "
         "fl_owner=00000000bec91745 fl_pid=23736 fl_flags=FL_POSIX|FL_SLEEP fl_type=F_WRLCK "
         "fl_start=100 fl_end=199 ret=0")


def test_trace_lines_become_lock_records():
    ex = parse_line(FLOCK_EX)
    assert ex == LockRecord(ts_ns=15826_964411000, pid=23736, dev=(0xfe << 8), ino=0x984003,
                            kind="flock", op="ex", start=0, length=0, owner=0x104b36a1,
                            closing=False, wait=True, errno=None)
    closing = parse_line(FLOCK_CLOSE)
    assert closing.op == "un" and closing.closing and closing.owner == ex.owner
    # A blocked call's first, deferred attempt is not a lock.
    assert parse_line(FLOCK_DEFERRED) is None
    # LOCK_NB refused: a failed attempt, with its errno.
    lost = parse_line(FLOCK_NB_LOST)
    assert lost.errno == "EAGAIN" and lost.op == "ex" and not lost.wait
    rec = parse_line(LOCKF)
    assert (rec.kind, rec.start, rec.length) == ("posix", 100, 100)
    assert parse_line("# tracer: nop") is None and parse_line("garbage") is None


def _rec(t: int, pid: int, op: str) -> LockRecord:
    return LockRecord(ts_ns=t, pid=pid, dev=1, ino=2, kind="flock", op=op, start=0, length=0,
                      owner=pid, closing=False, wait=True, errno=None)


def test_a_hand_over_inside_one_read_is_placed_in_lock_order():
    """A releases and B acquires within one fanotify read: A's events of the
    read go before the release, B's locked work after its acquisition, and
    B's opening of the lock file (before it took the lock) before it."""
    out: list[dict] = []
    conv = Converter(Namespace(None), Counters(), out.append, clock_offset=0.0)
    lock = "/t/.lock"
    rows = [(200, "openat", lock, None, "O_RDONLY", "OPEN", False),
            (100, "openat", "/t/a", None, "O_CREAT", "CREATE", False),
            (100, "close", "/t/a", None, "write", "CLOSE_WRITE", False),
            (200, "openat", "/t/b", None, "O_CREAT", "CREATE", False)]
    conv._expand = lambda events, maybe: rows    # the batch as decoded rows
    conv.add_lock_events([(_rec(50, 100, "ex"), lock)])
    conv.batch([], 0, 60)                         # A took the lock in an earlier read
    conv.add_lock_events([(_rec(150, 100, "un"), lock), (_rec(151, 200, "ex"), lock)])
    conv.batch(["four events"], 100, 300)
    order = [(e["pid"], e.get("lock", {}).get("op") or e["syscall"], e["path"]) for e in out]
    assert order == [(100, "ex", lock), (200, "openat", lock), (100, "openat", "/t/a"),
                     (100, "close", "/t/a"), (100, "un", lock), (200, "ex", lock),
                     (200, "openat", "/t/b")]
    assert [e["seq"] for e in out] == sorted(e["seq"] for e in out)


def test_without_the_trace_events_the_header_says_locks_are_invisible(monkeypatch):
    def refuse(*_a, **_k):
        raise filelock_trace.LockTraceUnavailable("tracefs is not mounted")
    monkeypatch.setattr(fanotify_backend, "LockTrace", refuse)
    trace, header = fanotify_backend._start_lock_trace()
    assert trace is None and header["source"] is None
    assert "tracefs is not mounted" in header["reason"] and "judged by time" in header["reason"]


def _record(tmp: Path, lock_file: str | None) -> Path:
    target = tmp / "target"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    log = tmp / "locked.jsonl"
    cmd = [sys.executable, str(INSTALLER), str(target), "--files", "40"]
    if lock_file is not None:
        cmd += ["--lock", "--lock-file", lock_file]
    r = _cli("record", "--backend", "fanotify", "--mount", str(tmp), "-j", "4", "-o", str(log),
             "--", *cmd)
    assert r.returncode == 0, r.stderr
    return log


@needs_fanotify
@needs_filelock
def test_lock_ordered_installer_is_clean_five_times_with_its_lock_file_beside_the_race(tmp_path):
    """The lock file sits in site-packages, where the copies race without
    the lock: opening it (before the lock is taken) overlaps the holder's
    work, which fooled the time rule; the lock events order the copies."""
    time_rule_warned = 0
    for _ in range(5):
        log = _record(tmp_path, "site-packages/.lock")
        lines = [json.loads(x) for x in log.read_text().splitlines()]
        header, events, trailer = lines[0], lines[1:-1], lines[-1]
        assert "locks" not in header["invisible"] and header["locks"]["source"]
        locks = [e for e in events if e.get("source") == "tracefs"]
        taken = [e for e in locks if e["lock"]["op"] == "ex"]
        assert len(taken) == 4 and all(e["path"].endswith("site-packages/.lock") for e in taken)
        assert trailer["lock_files_not_found"] == 0
        report = _report(log)
        assert [f for f in report["findings"] if f["severity"] != "info"] == [], report["findings"]
        # The same log without its lock events, judged by the time rule
        # alone (what the backend could do before): did it raise alarms?
        blind = dict(header, invisible=header["invisible"] + ["locks"])
        without = analyze_events([e for e in events if e.get("source") != "tracefs"], blind, {})
        time_rule_warned += any(f.severity != "info" for f in without.findings)
    # The shape is the one that fooled the time rule (not a run too easy to tell).
    assert time_rule_warned >= 1
