"""The event store (format 2, ``NAME.fsrace``): same events as JSON Lines, crash-safe, exact.

* every recorded log in tests/data imported to both formats gives the same
  header, events (field for field, in key order) and trailer, and
  ``fsrace export`` of the store writes the version 1 log line for line;
* ``fsrace import`` SIGKILLed while writing a store leaves its partial file
  readable up to the last commit, without a trailer, and analysed as cut short;
* damaged stores (truncated, random bytes, a foreign SQLite file, a broken
  args block, a v1 log renamed) get exit 2 and one clear message;
* hostile values (newlines, undecodable bytes, lone surrogates, huge ints,
  odd types) come back exactly.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import DATA, needs_strace
from fsrace.tracer.event_store import StoreWriter, is_event_store, open_event_store
from fsrace.tracer.eventlog import open_event_log
from fsrace.tracer.strace_import import ImportError_, import_strace

STRACE = DATA / "strace"


def fsrace(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the fsrace command line as a user does."""
    return subprocess.run([sys.executable, "-m", "fsrace.cli", *args], capture_output=True,
                          timeout=300, cwd=cwd)


def _inputs() -> list[tuple[str, list[str]]]:
    """Every recording in tests/data: single files, and -ff directories as one input."""
    found = []
    for path in sorted(STRACE.rglob("*.log.gz")):
        found.append((str(path.relative_to(STRACE)), [str(path)]))
    for folder in sorted(p for p in STRACE.rglob("*") if p.is_dir()):
        files = sorted(str(p) for p in folder.iterdir() if p.is_file() and ".log" not in p.name)
        if files and not any(p.is_dir() for p in folder.iterdir()):
            found.append((str(folder.relative_to(STRACE)), files))
    return found


INPUTS = _inputs()


def _without_created(head: dict) -> dict:
    return {k: v for k, v in head.items() if k != "created"}


def test_every_recorded_log_is_in_the_list():
    # The round trip below must not pass by finding nothing to import.
    assert len(INPUTS) >= 35
    assert any(len(files) > 1 for _n, files in INPUTS)   # -ff directories too


@pytest.mark.parametrize("name,files", INPUTS, ids=[n for n, _f in INPUTS])
def test_round_trip_same_events_header_trailer(tmp_path, name, files):
    v1, v2 = tmp_path / "run.jsonl", tmp_path / "run.fsrace"
    try:
        import_strace(files, str(v1))
    except ImportError_ as exc:   # e.g. -ff files without times: the same refusal
        with pytest.raises(ImportError_) as got:
            import_strace(files, str(v2))
        assert str(got.value) == str(exc)
        return
    import_strace(files, str(v2))
    assert is_event_store(v2) and not is_event_store(v1)
    log, store = open_event_log(v1), open_event_store(v2)
    events_v1, events_v2 = list(log.events()), list(store.events())
    assert events_v1, "nothing imported: the comparison would be empty"
    assert len(events_v2) == len(events_v1)
    for a, b in zip(events_v1, events_v2):
        assert b == a and list(b) == list(a)          # values and key order
        assert [type(x) for x in b.values()] == [type(x) for x in a.values()]
    assert _without_created(store.header) == _without_created(log.header)
    assert store.trailer == log.trailer and store.trailer is not None
    assert store.complete


@pytest.mark.parametrize("name", ["installer/racy-fail.log.gz", "gallery/hostile_names-racy.log.gz",
                                  "scenario/ff-ttt"])
def test_cli_import_export_gives_the_v1_log(tmp_path, name):
    files = dict(INPUTS)[name]
    assert fsrace("import", *files, "-o", str(tmp_path / "a.jsonl")).returncode == 0
    assert fsrace("import", *files, "-o", str(tmp_path / "a.fsrace")).returncode == 0
    done = fsrace("export", str(tmp_path / "a.fsrace"), "-o", str(tmp_path / "b.jsonl"))
    assert done.returncode == 0, done.stderr
    want = (tmp_path / "a.jsonl").read_bytes().splitlines()
    got = (tmp_path / "b.jsonl").read_bytes().splitlines()
    # Line for line the same bytes; the header differs only by its import time.
    assert got[1:] == want[1:]
    assert _without_created(json.loads(got[0])) == _without_created(json.loads(want[0]))
    assert list(json.loads(got[0])) == list(json.loads(want[0]))


def test_export_of_a_store_made_from_a_log_is_byte_identical(tmp_path):
    """The same header, events and trailer through the store: the same bytes out."""
    v1 = tmp_path / "a.jsonl"
    import_strace(dict(INPUTS)["gallery/hostile_names-racy.log.gz"], str(v1))
    log = open_event_log(v1)
    events = list(log.events())
    head = {k: v for k, v in log.header.items() if k not in ("format", "version")}
    with StoreWriter(tmp_path / "a.fsrace", head) as w:
        for ev in events:
            w.write(ev)
        w.trailer.update({k: v for k, v in log.trailer.items() if k not in ("format", "events")})
    done = fsrace("export", str(tmp_path / "a.fsrace"), "-o", str(tmp_path / "b.jsonl.gz"))
    assert done.returncode == 0, done.stderr
    import gzip
    assert gzip.open(tmp_path / "b.jsonl.gz").read() == v1.read_bytes()


def test_analyze_of_the_store_is_the_analysis_of_the_log(tmp_path):
    files = dict(INPUTS)["installer/racy-fail.log.gz"]
    import_strace(files, str(tmp_path / "a.jsonl"))
    import_strace(files, str(tmp_path / "a.fsrace"))
    r1 = fsrace("analyze", "--format", "json", str(tmp_path / "a.jsonl"))
    r2 = fsrace("analyze", "--format", "json", str(tmp_path / "a.fsrace"))
    assert r1.returncode == r2.returncode == 1          # the racy installer has errors
    a, b = json.loads(r1.stdout), json.loads(r2.stdout)
    assert a["findings"] and b["findings"] == a["findings"]
    assert b.get("root_causes") == a.get("root_causes")


@needs_strace
def test_record_writes_a_store(tmp_path):
    """`fsrace record -o NAME.fsrace` on a real program: the store, analysable."""
    script = "mkdir d && echo x > d/f && mv d/f d/g && rm -r d"
    done = fsrace("record", "-o", "run.fsrace", "--", "sh", "-c", script, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    store = open_event_store(tmp_path / "run.fsrace")
    events = list(store.events())
    assert store.complete and store.trailer["exit_status"] == 0
    renames = [e for e in events if e.get("syscall") in ("rename", "renameat", "renameat2")]
    assert any(e["path"] == str(tmp_path / "d" / "f") and e["path2"] == str(tmp_path / "d" / "g")
               for e in renames)
    assert fsrace("analyze", str(tmp_path / "run.fsrace")).returncode == 0
    assert not any(p.name.endswith("partial") for p in tmp_path.iterdir())


# ------------------------------------------------------------ crash safety

def _big_strace_log(path: Path, lines: int) -> None:
    with open(path, "w") as fh:
        fh.write('100 1700000000.000000 execve("/bin/prog", ["prog"], 0x1 /* 1 var */) = 0\n')
        for i in range(lines):
            fh.write(f'100 {1700000000 + i / 1e5:.6f} openat(AT_FDCWD, "/tmp/d{i % 97}/f{i}", '
                     'O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)\n')


def test_killed_import_leaves_a_readable_incomplete_store(tmp_path):
    src = tmp_path / "big.log"
    _big_strace_log(src, 400_000)
    out = tmp_path / "run.fsrace"
    proc = subprocess.Popen([sys.executable, "-m", "fsrace.cli", "import", str(src), "-o",
                             str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = tmp_path / f".run.fsrace.{proc.pid}.partial"
    deadline = time.monotonic() + 120
    # Killed once several batches are committed, while it goes on writing.
    while time.monotonic() < deadline and proc.poll() is None:
        if partial.exists() and partial.stat().st_size > 400_000:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the import ended before it could be killed: use a bigger log"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()          # never published: the final name is untouched
    store = open_event_store(partial)
    events = list(store.events())
    assert not store.complete and store.trailer is None
    assert 0 < len(events) < 400_001
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    # What it holds is what the complete import holds, up to there.
    import_strace([str(src)], str(tmp_path / "full.jsonl"))
    full = open_event_log(tmp_path / "full.jsonl").events()
    assert all(a == b for a, b in zip(events, full))
    # Analysed as cut short, exported without a trailer, both with a word.
    done = fsrace("analyze", "--format", "json", str(partial))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert "cut short" in json.dumps(report)
    done = fsrace("export", str(partial), "-o", str(tmp_path / "cut.jsonl"))
    assert done.returncode == 0 and "no trailer" in " ".join(done.stderr.decode().split())
    lines = (tmp_path / "cut.jsonl").read_text().splitlines()
    assert len(lines) == 1 + len(events)


def test_writer_killed_mid_batch_keeps_every_committed_batch(tmp_path):
    path = tmp_path / "w.fsrace"
    child = (
        "import sys\n"
        "from fsrace.tracer.event_store import StoreWriter\n"
        f"w = StoreWriter({str(path)!r}, {{'backend': 'test'}}, batch=500)\n"
        "i = 0\n"
        "while True:\n"
        "    i += 1\n"
        "    w.write({'seq': i, 'type': 'syscall', 'ts': 1.5 + i / 1e6, 'pid': 7, 'tid': 7,\n"
        "             'proc': '7', 'syscall': 'unlink', 'result': 0, 'args': f'\"/x/{i}\"',\n"
        "             'path': f'/x/{i}'})\n"
        "    if i == 5000:\n"
        "        print('ready', flush=True)\n")
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = open_event_store(path)
    events = list(store.events())
    assert store.trailer is None
    assert len(events) >= 5000 and len(events) % 500 == 0
    assert events[-1] == {"seq": len(events), "type": "syscall", "ts": 1.5 + len(events) / 1e6,
                          "pid": 7, "tid": 7, "proc": "7", "syscall": "unlink", "result": 0,
                          "args": f'"/x/{len(events)}"', "path": f"/x/{len(events)}"}


# ------------------------------------------------------------- bad stores

@pytest.fixture(scope="module")
def good_store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("store") / "good.fsrace"
    import_strace(dict(INPUTS)["installer/racy-fail.log.gz"], str(path))
    return path


def _refused(result: subprocess.CompletedProcess, *words: str) -> str:
    err = " ".join(result.stderr.decode().split())   # the console wraps long lines
    assert result.returncode == 2, err
    assert "Traceback" not in err and "internal error" not in err
    for word in words:
        assert word in err, err
    return err


def test_truncated_store(tmp_path, good_store):
    bad = tmp_path / "cut.fsrace"
    bad.write_bytes(good_store.read_bytes()[: good_store.stat().st_size // 2])
    _refused(fsrace("analyze", str(bad)), "cut.fsrace", "damaged")
    _refused(fsrace("export", str(bad), "-o", str(tmp_path / "x.jsonl")), "damaged")
    assert not (tmp_path / "x.jsonl").exists()


def test_random_bytes_named_like_a_store(tmp_path):
    bad = tmp_path / "noise.fsrace"
    bad.write_bytes(os.urandom(50_000))
    _refused(fsrace("analyze", str(bad)), "noise.fsrace")
    _refused(fsrace("export", str(bad), "-o", str(tmp_path / "x.jsonl")), "not an fsrace event store")


def test_sqlite_file_that_is_not_a_store(tmp_path):
    bad = tmp_path / "other.fsrace"
    db = sqlite3.connect(bad)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    _refused(fsrace("analyze", str(bad)), "not an fsrace event store")


def test_broken_args_block(tmp_path, good_store):
    bad = tmp_path / "broken.fsrace"
    bad.write_bytes(good_store.read_bytes())
    db = sqlite3.connect(bad)
    db.execute("UPDATE args_blocks SET data = x'00112233'")
    db.commit()
    db.close()
    _refused(fsrace("analyze", str(bad)), "damaged")
    _refused(fsrace("export", str(bad), "-o", str(tmp_path / "x.jsonl")), "damaged")


def test_other_store_version_is_refused(tmp_path, good_store):
    bad = tmp_path / "v3.fsrace"
    bad.write_bytes(good_store.read_bytes())
    db = sqlite3.connect(bad)
    db.execute("UPDATE meta SET value = '3.0' WHERE key = 'version'")
    db.commit()
    db.close()
    _refused(fsrace("analyze", str(bad)), "version 3.0 is not supported")


def test_v1_log_renamed_to_a_store_name(tmp_path):
    """Inputs are judged by content: analyze reads it as the v1 log it is;
    export says there is nothing to convert."""
    files = dict(INPUTS)["installer/racy-fail.log.gz"]
    import_strace(files, str(tmp_path / "a.jsonl"))
    (tmp_path / "a.jsonl").rename(tmp_path / "renamed.fsrace")
    done = fsrace("analyze", "--format", "json", str(tmp_path / "renamed.fsrace"))
    assert done.returncode == 1 and json.loads(done.stdout)["findings"]
    _refused(fsrace("export", str(tmp_path / "renamed.fsrace"), "-o", str(tmp_path / "x.jsonl")),
             "already a JSON Lines event log")


def test_export_refuses_a_store_output_name(tmp_path, good_store):
    _refused(fsrace("export", str(good_store), "-o", str(tmp_path / "copy.fsrace")),
             "copy.fsrace", "JSON Lines")


# ----------------------------------------------------------- hostile values

HOSTILE = [
    {"seq": 1, "type": "syscall", "ts": 1796226364.653515, "pid": 1, "tid": 1, "proc": "1",
     "syscall": "openat", "result": 3, "ts_end": 1796226364.653763,
     "args": 'AT_FDCWD, "/tmp/new\\nline", O_RDONLY', "path": "/tmp/new\nline", "fd": 3,
     "flags": "O_RDONLY"},
    # undecodable bytes (surrogate escapes) in a path, a proc and the args
    {"seq": 2, "type": "syscall", "pid": 1, "tid": 1, "proc": "1\udcff", "syscall": "unlink",
     "result": -1, "errno": "ENOENT", "args": '"/t/\udcc3("', "path": "/t/\udcc3(/x"},
    # lone surrogates that are no escape, escapes of valid UTF-8, empty parts
    {"seq": 3, "type": "syscall", "pid": 1, "tid": 1, "proc": "1", "syscall": "mkdir",
     "result": 0, "path": "/a/\ud800/b", "path2": "/\udcc3\udca9", "flags": "//", "args": ""},
    # values that fit no column: huge ints, bools and floats for ints, int times
    {"seq": 5, "type": "syscall", "pid": True, "tid": 1.0, "proc": 7, "syscall": "close",
     "result": 1 << 70, "fd": -(1 << 64), "ofd": False, "last": 1, "ts": 12, "ts_end": 0.1,
     "args": None},
    # an event without seq, one going backwards, one repeated, odd types and fields
    {"type": "exec", "pid": 1, "tid": 1, "proc": "1", "path": "/bin/x", "argv": ["x", "\n"]},
    {"seq": 4, "type": ["odd"], "pid": 1, "proc": "1", "lock": {"op": "ex", "kind": "flock"},
     "ts": float("nan"), "unknown": {"nested": [1, 2.5, None]}, "path": 5},
    {"seq": 4, "type": "exit", "pid": 1, "tid": 1, "proc": "1", "code": 0, "ts": 1e-7,
     "ts_end": 1796226364.1234567},
    {"seq": 9, "type": "syscall", "pid": None, "tid": None, "proc": None, "syscall": None,
     "result": None, "path": None, "args": "x" * 70_000, "last": True},
]


def test_hostile_values_round_trip_exactly(tmp_path):
    path = tmp_path / "hostile.fsrace"
    with StoreWriter(path, {"backend": "test", "command": ["x\udcff", "\n"]}, batch=3) as w:
        for ev in HOSTILE:
            w.write(ev)
        w.trailer["note"] = "\udcfe"
    store = open_event_store(path)
    # records(), not events(): events() leaves out the one without a seq, as for v1.
    got = [obj for _n, obj in store.records()][:-1]
    # What a v1 log of these events reads back: its JSON round trip.
    want = [json.loads(json.dumps(ev)) for ev in HOSTILE]
    assert len(got) == len(want)
    for a, b in zip(want, got):
        assert json.dumps(b) == json.dumps(a)        # same values, types and key order
    assert store.header["command"] == ["x\udcff", "\n"]
    trailer = store.stored_trailer
    assert trailer["note"] == "\udcfe" and trailer["events"] == len(HOSTILE)
    # A path's raw bytes are in the file (a BLOB), queryable by other tools.
    db = sqlite3.connect(path)
    assert b"\xc3\x28" in [t for (t,) in db.execute("SELECT text FROM strings")]
    # The view joins the parts as TEXT: its bytes are the path's bytes.
    db.text_factory = bytes
    paths = {t for (t,) in db.execute("SELECT text FROM string_view")}
    assert {b"/tmp/new\nline", b"/t/\xc3(/x"} <= paths


# ------------------------------------------------------ the documented SQL

def test_documented_queries_answer_like_the_events(good_store):
    """"Who touched X" and "events of pid N" in SQL (docs/event-store.md) give
    what the events say."""
    events = list(open_event_store(good_store).events())
    target = next(e["path"] for e in events if e.get("syscall") == "rename")
    pid = next(e["pid"] for e in events if e.get("syscall") == "rename")
    db = sqlite3.connect(good_store)
    who = db.execute("SELECT seq, pid, syscall FROM event_view WHERE path = ? OR path2 = ?",
                     (target, target)).fetchall()
    want = [(e["seq"], e["pid"], e.get("syscall")) for e in events
            if target in (e.get("path"), e.get("path2"))]
    assert who == want and len(want) >= 2
    fast = db.execute("SELECT e.seq FROM events e WHERE e.path IN "
                      "(SELECT id FROM string_view WHERE text = ?)", (target,)).fetchall()
    assert [s for (s,) in fast] == [e["seq"] for e in events if e.get("path") == target]
    rows = db.execute("SELECT seq, ts, ts_end, syscall, path, result, errno FROM event_view "
                      "WHERE pid = ?", (pid,)).fetchall()
    assert rows == [(e["seq"], e.get("ts"), e.get("ts_end"), e.get("syscall"), e.get("path"),
                     e.get("result") if type(e.get("result")) is int else None, e.get("errno"))
                    for e in events if e["pid"] == pid]


def test_store_on_standard_input(good_store, tmp_path):
    """`fsrace analyze -` takes a store as it takes a log; export asks for a file."""
    want = fsrace("analyze", "--format", "json", str(good_store))
    got = subprocess.run([sys.executable, "-m", "fsrace.cli", "analyze", "--format", "json", "-"],
                         stdin=open(good_store, "rb"), capture_output=True, timeout=300)
    assert got.returncode == want.returncode == 1, got.stderr
    assert json.loads(got.stdout)["findings"] == json.loads(want.stdout)["findings"]
    done = subprocess.run([sys.executable, "-m", "fsrace.cli", "export", "-", "-o",
                           str(tmp_path / "x.jsonl")], stdin=open(good_store, "rb"),
                          capture_output=True, timeout=300)
    _refused(done, "standard input")
