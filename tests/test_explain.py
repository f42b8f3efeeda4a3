"""``fsrace explain``: the story of one finding."""

from __future__ import annotations

import subprocess
import sys

from rich.console import Console

from conftest import DATA, ROOT, Trace

GALLERY = DATA / "strace" / "gallery"


def _story(t: Trace, fid: str = "F1") -> str:
    from fsrace.reports.explain import render_explanation
    from fsrace.analyzers.timeline import analyze_events_with_timeline

    a, tl = analyze_events_with_timeline(t.events)
    console = Console(record=True, width=200, color_system=None)
    render_explanation(a, tl, fid, console)
    return console.export_text()


def _siblings(t: Trace, lock_mode: str | None) -> None:
    """pid 1 forks 2 and 3; 3 removes /w/d while 2 still uses it."""
    t.exec(1, ["launcher"])
    t.fork(1, 2)
    t.fork(1, 3)
    t.exec(2, ["worker", "A"])
    t.exec(3, ["worker", "B"])
    if lock_mode:
        o2 = t.open(2, "/w/.lock")
        t.flock(2, "/w/.lock", o2, lock_mode)
        o3 = t.open(3, "/w/.lock")
        t.flock(3, "/w/.lock", o3, "LOCK_SH")
    t.op(2, "mkdir", "/w/d")
    t.open(2, "/w/d/f", "O_WRONLY|O_CREAT")
    t.op(3, "unlinkat", "/w/d/f")
    t.op(3, "rmdir", "/w/d")
    t.open(2, "/w/d/g", "O_WRONLY|O_CREAT", errno="ENOENT")
    t.exit(2, 1)
    t.exit(3, 0)


def test_story_of_siblings_without_locks(trace: Trace) -> None:
    _siblings(trace, None)
    text = _story(trace)
    assert "F1 removed-while-in-use" in text
    # 1. the tree: common parent, the two roles, argv and exit status
    assert "pid 1 launcher" in text
    assert "pid 2 worker A  [exit 1]  <- victim" in text
    assert "pid 3 worker B  [exit 0]  <- culprit" in text
    # 2. what each did, from the first touch, pair marked
    assert "first touched it at seq" in text
    assert ">> seq" in text and "= -1 ENOENT" in text
    assert "mkdir d" in text or "mkdir /w/d" in text
    # 3. locks
    assert "held no lock" in text
    # 4. why
    assert "both descendants of pid 1" in text
    assert "did not wait for" in text
    assert "neither process held any lock" in text
    assert "ordered after none of pid 3's operations" in text
    assert "failed with ENOENT" in text and "ended with exit 1" in text
    assert text.count("Fix:") == 1


def test_story_names_the_shared_lock(trace: Trace) -> None:
    _siblings(trace, "LOCK_SH")
    text = _story(trace)
    assert "pid 2 held flock shared lock on /w/.lock" in text
    assert "pid 3 held flock shared lock on /w/.lock" in text
    assert "in shared mode" in text


def test_story_of_a_different_exclusive_lock(trace: Trace) -> None:
    _siblings(trace, "LOCK_EX")
    # 2 holds an exclusive lock, 3 a shared one it could only take after... it
    # never waited: the model orders nothing unless a release precedes an acquire.
    text = _story(trace)
    assert "pid 2 held flock exclusive lock on /w/.lock" in text


def test_story_of_parent_and_child(trace: Trace) -> None:
    trace.exec(1, ["parent"])
    trace.op(1, "mkdir", "/w/d")
    trace.fork(1, 2)
    trace.open(2, "/w/d/f", "O_WRONLY|O_CREAT")
    trace.op(1, "unlinkat", "/w/d/f")
    trace.op(1, "rmdir", "/w/d")
    trace.open(2, "/w/d/f", "O_RDONLY", errno="ENOENT")
    trace.exit(2, 1)
    trace.wait(1, 2, 1)
    text = _story(trace)
    assert "is an ancestor of pid 2" in text or "is a descendant of pid 1" in text
    assert "came after the fork" in text or "did not wait" in text


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fsrace.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def test_cli_explain_recorded_race() -> None:
    import json
    report = json.loads(_cli("analyze", str(GALLERY / "tmpdir_removed-racy.log.gz"), "--format",
                             "json", "--fail-on", "never").stdout)
    fid = next(f["id"] for f in report["findings"] if f["kind"] == "removed-while-in-use")
    r = _cli("explain", str(GALLERY / "tmpdir_removed-racy.log.gz"), fid)
    assert r.returncode == 0, r.stderr
    for part in ("1. The two processes", "2. What each did", "3. Locks held",
                 "4. Why nothing ordered them", "removed-while-in-use", "fixtures.gallery.tmpdir_removed"):
        assert part in r.stdout
    assert "Traceback" not in r.stderr


def test_cli_explain_unknown_finding_is_a_usage_error() -> None:
    r = _cli("explain", str(GALLERY / "tmpdir_removed-racy.log.gz"), "F999")
    assert r.returncode == 2
    assert "no finding F999" in r.stderr and "F1" in r.stderr
    assert "Traceback" not in r.stderr
    r = _cli("explain", str(GALLERY / "no-such.log"), "F1")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_cli_explain_hostile_names_prints_them_safely() -> None:
    log = GALLERY / "hostile_names-racy.log.gz"
    report = _cli("analyze", str(log), "--format", "json", "--fail-on", "never")
    import json

    findings = json.loads(report.stdout)["findings"]
    # The findings whose paths hold a hostile name, and a few others.
    hostile = ("\x1b", "<script>", "[bold red]", "\n")
    ids = [f["id"] for f in findings
           if any(h in a["path"] for a in f["accesses"] for h in hostile)][:4]
    assert ids, "no finding names a hostile file: this check would prove nothing"
    ids += [f["id"] for f in findings[:3]]
    outputs = []
    for fid in dict.fromkeys(ids):
        r = _cli("explain", str(log), fid)
        assert r.returncode == 0, r.stderr
        assert "\x1b" not in r.stdout          # no raw escape from a file name reaches the terminal
        outputs.append(r.stdout)
    assert any("<script>alert(1)" in out or "[bold red]x[" in out or "\\x1b[31mred" in out
               for out in outputs)


def test_explain_escapes_control_characters(trace: Trace) -> None:
    evil = "/w/\x1b[31mred\x1b[0m [bold]x[/] \udce9\nline"
    trace.fork(1, 2)
    trace.fork(1, 3)
    trace.op(2, "mkdir", evil)
    trace.open(2, evil + "/f", "O_WRONLY|O_CREAT")
    trace.op(3, "unlinkat", evil + "/f")
    trace.op(3, "rmdir", evil)
    trace.open(2, evil + "/g", "O_WRONLY|O_CREAT", errno="ENOENT")
    text = _story(trace)
    assert "\x1b" not in text and "\udce9" not in text
    assert "\\x1b[31mred\\x1b[0m [bold]x[/] \\xe9\\nline" in text
