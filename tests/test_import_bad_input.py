"""Bad input: clear errors (exit 2), never a traceback, nothing silently lost."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from fsrace.tracer.eventlog import open_event_log
from fsrace.tracer.strace_import import ImportError_, import_strace

GOOD = [
    '100  execve("/bin/sh", ["sh", "-c", "x"], 0x7ffd /* 3 vars */) = 0',
    '100  openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3',
    '100  close(3)                          = 0',
    '100  mkdir("/tmp/x", 0777)             = 0',
    '100  exit_group(0)                     = ?',
    '100  +++ exited with 0 +++',
]


def fsrace(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fsrace.cli", *args], input=stdin,
                          capture_output=True, timeout=120)


def _import(tmp_path: Path, lines: list[str] | bytes) -> tuple[dict, list[dict]]:
    src = tmp_path / "in.log"
    src.write_bytes(lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode())
    out = tmp_path / "out.jsonl"
    import_strace([str(src)], str(out))
    log = open_event_log(out)
    events = list(log.events())
    return log.trailer, events


def test_empty_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "e.log").write_bytes(b"")
    r = fsrace("import", str(tmp_path / "e.log"), "-o", str(tmp_path / "o.jsonl"))
    assert r.returncode == 2
    assert b"empty" in r.stderr and b"Traceback" not in r.stderr


def test_not_strace_output_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "n.log").write_text("hello world\nthis is a README\n" * 50)
    r = fsrace("import", str(tmp_path / "n.log"), "-o", str(tmp_path / "o.jsonl"))
    assert r.returncode == 2
    assert b"does not look like strace output" in r.stderr and b"Traceback" not in r.stderr
    r = fsrace("analyze", str(tmp_path / "n.log"))
    assert r.returncode == 2 and b"Traceback" not in r.stderr


def test_missing_file(tmp_path: Path) -> None:
    r = fsrace("analyze", str(tmp_path / "nope.log"))
    assert r.returncode == 2 and b"no such file" in r.stderr


def test_garbage_lines_are_counted_with_line_numbers(tmp_path: Path) -> None:
    lines = GOOD[:2] + ["#### garbage here ####", "\x00\x01binary"] + GOOD[2:]
    trailer, events = _import(tmp_path, lines)
    assert trailer["unparsed"] == 2
    assert [s["line"] for s in trailer["unparsed_samples"]] == [3, 4]
    assert trailer["lines_read"] == len(lines)
    assert [e["syscall"] for e in events if e["type"] == "syscall"] == ["openat", "close", "mkdir",
                                                                       "exit_group"]


def test_truncated_last_line(tmp_path: Path) -> None:
    lines = GOOD[:4] + ['100  openat(AT_FDCWD, "/tmp/x/y", O_WRONLY|O_CRE']
    trailer, events = _import(tmp_path, lines)
    assert trailer["unparsed"] + trailer["unfinished_at_end"] >= 1
    assert any(e.get("syscall") == "mkdir" for e in events)


def test_binary_junk_and_a_huge_line(tmp_path: Path) -> None:
    blob = "\n".join(GOOD[:3]).encode() + b"\n" + bytes(range(256)) * 40 + b"\n" + \
        b"x" * (1 << 20) + b"\n" + "\n".join(GOOD[3:]).encode() + b"\n"
    trailer, events = _import(tmp_path, blob)
    assert trailer["unparsed"] >= 2
    assert any(e.get("syscall") == "mkdir" for e in events)
    assert all(len(s["text"]) <= 200 for s in trailer["unparsed_samples"])


def test_pid_column_cut_away_is_reported(tmp_path: Path) -> None:
    lines = [
        'execve("/bin/sh", ["sh"], 0x7ffd /* 3 vars */) = 0',
        'clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD) = 200',
        'mkdir("/tmp/a", 0777) = 0',
        'rmdir("/tmp/a") = 0',
        'wait4(-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = 200',
        '+++ exited with 0 +++',
    ]
    trailer, _events = _import(tmp_path, lines)
    assert any("cannot be told apart" in w for w in trailer["warnings"])


def test_stdin_and_gz(tmp_path: Path) -> None:
    data = ("\n".join(GOOD) + "\n").encode()
    r = fsrace("import", "-", "-o", str(tmp_path / "s.jsonl.gz"), stdin=data)
    assert r.returncode == 0, r.stderr
    with gzip.open(tmp_path / "s.jsonl.gz", "rt") as fh:
        rows = [json.loads(line) for line in fh]
    assert rows[0]["format"] == "fsrace-events"
    assert rows[-1]["format"] == "fsrace-events-trailer" and rows[-1]["lines_read"] == len(GOOD)
    gz = tmp_path / "in.log.gz"
    gz.write_bytes(gzip.compress(data))
    r = fsrace("import", str(gz), "-o", str(tmp_path / "g.jsonl"))
    assert r.returncode == 0, r.stderr


def test_unknown_major_version_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "v9.jsonl"
    bad.write_text(json.dumps({"format": "fsrace-events", "version": "9.0"}) + "\n")
    r = fsrace("analyze", str(bad))
    assert r.returncode == 2 and b"version 9.0 is not supported" in r.stderr


def test_event_log_without_trailer_still_loads(tmp_path: Path) -> None:
    trailer, _ = _import(tmp_path, GOOD)
    out = tmp_path / "out.jsonl"
    text = out.read_text().splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(text[:-1]) + "\n")
    r = fsrace("analyze", str(cut), "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["source"]["incomplete"] is True


def test_ff_files_without_timestamps_cannot_be_merged(tmp_path: Path) -> None:
    (tmp_path / "t.100").write_text('execve("/bin/sh", ["sh"], 0x1 /* 1 vars */) = 0\n'
                                    'clone(child_stack=NULL, flags=SIGCHLD) = 101\n')
    (tmp_path / "t.101").write_text('mkdir("/tmp/a", 0777) = 0\n')
    with pytest.raises(ImportError_, match="cannot be merged"):
        import_strace([str(tmp_path / "t.100"), str(tmp_path / "t.101")], str(tmp_path / "o.jsonl"))


def _msg(r: subprocess.CompletedProcess, name: str) -> str:
    return " ".join(r.stderr.decode().split()).replace(name, "NAME")


def test_junk_or_nothing_on_stdin_is_refused_like_a_file(tmp_path: Path) -> None:
    junk = b"#!/bin/sh\necho this is a script, not a log\n" * 20
    (tmp_path / "junk.log").write_bytes(junk)
    for cmd in ("import", "analyze"):
        extra = ["-o", str(tmp_path / "o.jsonl")] if cmd == "import" else []
        from_file = fsrace(cmd, str(tmp_path / "junk.log"), *extra)
        from_stdin = fsrace(cmd, "-", *extra, stdin=junk)
        assert from_file.returncode == from_stdin.returncode == 2
        assert _msg(from_file, str(tmp_path / "junk.log")) == _msg(from_stdin, "standard input")
        assert b"does not look like strace output" in from_stdin.stderr
        empty = fsrace(cmd, "-", *extra, stdin=b"")
        assert empty.returncode == 2 and b"empty" in empty.stderr
        assert b"Traceback" not in empty.stderr + from_stdin.stderr


def test_crlf_and_bom_in_the_live_import_path(tmp_path: Path) -> None:
    """The reader `fsrace record` uses (Follow) also turns CRLF into LF."""
    from fsrace.tracer.strace_import import Follow

    text = ("\n".join(GOOD) + "\n").encode()
    outs = []
    for name, data in (("lf", text), ("crlf", b"\xef\xbb\xbf" + text.replace(b"\n", b"\r\n"))):
        (tmp_path / f"{name}.log").write_bytes(data)
        follow = Follow()
        follow.done.set()   # the writer has finished: read to the end
        import_strace([str(tmp_path / f"{name}.log")], str(tmp_path / f"{name}.jsonl"),
                      follow=follow)
        log = open_event_log(tmp_path / f"{name}.jsonl")
        outs.append((list(log.events()), log.trailer))
    (lf, lf_trailer), (crlf, crlf_trailer) = outs
    assert crlf == lf and crlf_trailer["unparsed"] == 0
    assert crlf_trailer["lines_read"] == lf_trailer["lines_read"] == len(GOOD)
