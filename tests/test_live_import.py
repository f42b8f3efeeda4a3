"""Importing a strace log while strace writes it (what `fsrace record` does).

The followed import must give exactly the events of an import of the
finished file, however the writes were cut (mid-line included), must not
end before the writer says it is done, and must leave a valid log marked
interrupted when it is stopped.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import DATA, ROOT, needs_strace
from fsrace.tracer.live_import import LiveImport
from fsrace.tracer.strace_import import import_strace

LOG = DATA / "strace" / "installer" / "racy-fail.log.gz"


def _events(path: Path) -> tuple[list[dict], dict]:
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return lines[1:-1], lines[-1]


def _write_slowly(raw: bytes, dest: Path, pieces: int, pause: float) -> None:
    """Append ``raw`` to ``dest`` in ``pieces`` cuts that fall mid-line."""
    step = len(raw) // pieces + 1
    with open(dest, "ab") as fh:
        for i in range(0, len(raw), step):
            fh.write(raw[i:i + step])
            fh.flush()
            time.sleep(pause)


def test_followed_import_equals_import_of_the_finished_file(tmp_path: Path) -> None:
    raw = gzip.decompress(LOG.read_bytes())
    growing = tmp_path / "growing.log"
    live = LiveImport(growing, str(tmp_path / "live.jsonl"))
    live.prepare()
    live.start({"clock": "unix"})
    writer = threading.Thread(target=_write_slowly, args=(raw, growing, 37, 0.01))
    writer.start()
    writer.join()
    # The reader must still be waiting: the writer has not said it is done.
    time.sleep(0.3)
    assert live._thread.is_alive()
    stats = live.finish()
    (tmp_path / "whole.log").write_bytes(raw)
    import_strace([str(tmp_path / "whole.log")], str(tmp_path / "whole.jsonl"))
    live_events, live_trailer = _events(tmp_path / "live.jsonl")
    whole_events, whole_trailer = _events(tmp_path / "whole.jsonl")
    assert len(live_events) > 1000
    assert live_events == whole_events
    assert stats.lines_read == whole_trailer["lines_read"] == raw.count(b"\n")
    for key in ("events", "unparsed", "paths", "unresolved_paths", "processes"):
        assert live_trailer[key] == whole_trailer[key], key


def test_a_last_line_cut_off_is_distrusted_as_in_a_file(tmp_path: Path) -> None:
    raw = gzip.decompress(LOG.read_bytes())
    cut = raw[:raw.rindex(b"\n", 0, len(raw) // 2) + 1] + b'1234  1795000000.1 openat(AT_FDCWD, "/x'
    growing = tmp_path / "g.log"
    live = LiveImport(growing, str(tmp_path / "live.jsonl"))
    live.prepare()
    live.start({"clock": "unix"})
    _write_slowly(cut, growing, 5, 0.01)
    live.finish()
    (tmp_path / "whole.log").write_bytes(cut)
    import_strace([str(tmp_path / "whole.log")], str(tmp_path / "whole.jsonl"))
    live_events, live_trailer = _events(tmp_path / "live.jsonl")
    whole_events, whole_trailer = _events(tmp_path / "whole.jsonl")
    assert live_events == whole_events
    assert live_trailer["unparsed"] == whole_trailer["unparsed"] == 1
    assert live_trailer["unparsed_samples"][0]["text"].endswith('"/x')


def test_cancel_removes_the_partial_log_and_abort_marks_it_interrupted(tmp_path: Path) -> None:
    raw = gzip.decompress(LOG.read_bytes())
    growing = tmp_path / "g.log"
    out = tmp_path / "live.jsonl"
    live = LiveImport(growing, str(out))
    live.prepare()
    live.start({"clock": "unix"})
    _write_slowly(raw[:len(raw) // 3], growing, 3, 0.01)
    live.cancel()
    assert not out.exists()

    live = LiveImport(growing, str(out))
    live.start({"clock": "unix"})
    time.sleep(0.3)
    live.follow.abort.set()   # what a second Ctrl-C during finish() does
    with pytest.raises(KeyboardInterrupt):
        live.finish()
    events, trailer = _events(out)
    assert trailer["interrupted"] is True and events
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


@needs_strace
def test_a_recording_that_cannot_start_leaves_an_older_log_alone(tmp_path: Path) -> None:
    old = tmp_path / "run.jsonl"
    old.write_text("an older event log\n")
    r = subprocess.run([sys.executable, "-m", "fsrace.cli", "record", "-o", str(old), "--",
                        "no-such-program-xyz"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "command not found" in r.stderr
    assert old.read_text() == "an older event log\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.jsonl"]


@needs_strace
@pytest.mark.parametrize("mode", [[], ["--import-after"]], ids=["live", "import-after"])
def test_record_imports_while_recording_and_matches_a_later_import(tmp_path: Path,
                                                                   mode: list[str]) -> None:
    """fsrace record (live import, or --import-after) and fsrace import of the
    kept strace log agree."""
    cli = [sys.executable, "-m", "fsrace.cli"]
    rec = subprocess.run([*cli, "record", *mode, "-j", "3", "-o", str(tmp_path / "rec.jsonl"),
                          "--keep-strace", str(tmp_path / "raw.log"), "--",
                          sys.executable, str(ROOT / "fixtures" / "installer.py"),
                          str(tmp_path / "target")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in rec.stderr, rec.stderr
    imp = subprocess.run([*cli, "import", str(tmp_path / "raw.log"), "--cwd", str(tmp_path),
                          "-o", str(tmp_path / "imp.jsonl")],
                         capture_output=True, text=True, timeout=300)
    assert imp.returncode == 0, imp.stderr
    rec_events, rec_trailer = _events(tmp_path / "rec.jsonl")
    imp_events, _ = _events(tmp_path / "imp.jsonl")
    assert len(rec_events) > 1000
    assert rec_events == imp_events
    assert len(rec_trailer["copies"]) == 3 and rec_trailer["interrupted"] is False
    header = json.loads((tmp_path / "rec.jsonl").read_text().split("\n", 1)[0])
    assert header["live_import"] is (mode == [])


class _GrowingRaw:
    """A raw file whose writer appends between two reads: each read returns
    the next scripted piece, b"" standing for "at the end of the file now"."""

    def __init__(self, pieces: list[bytes]):
        self.pieces = list(pieces)

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if not self.pieces:
            return 0
        piece = self.pieces.pop(0)
        buf[:len(piece)] = piece
        return len(piece)


def _follow_all(pieces: list[bytes]) -> list[bytes]:
    import io
    from fsrace.tracer.strace_import import Follow

    class Raw(_GrowingRaw, io.RawIOBase):
        pass

    follow = Follow()
    follow.POLL = 0.001
    fh = io.BufferedReader(Raw(pieces))
    out = []
    for line in follow.lines(fh):
        out.append(line)
        if len(out) == 3:
            follow.done.set()
    return out


def test_a_line_completed_while_being_read_comes_back_whole() -> None:
    # strace writes "exit_group(0" and, when another pid's event comes,
    # " <unfinished ...>\n": the reader sees the end of the file in between.
    pieces = [b"1 a()  = 0\n2 exit_group(0", b"", b" <unfinished ...>\n3 b(", b"",
              b") = 0\n", b""]
    lines = _follow_all(pieces)
    assert lines == [b"1 a()  = 0\n", b"2 exit_group(0 <unfinished ...>\n", b"3 b() = 0\n"]


def test_followed_lines_are_whole_whatever_the_cuts(tmp_path: Path) -> None:
    # A writer appending one line byte by byte races the reader for real.
    from fsrace.tracer.strace_import import Follow
    text = b"".join(b"%d openat(AT_FDCWD, \"/p/%d\", O_RDONLY) = 3\n" % (i, i) for i in range(400))
    path = tmp_path / "g.log"
    path.write_bytes(b"")
    follow = Follow()
    follow.POLL = 0.0005

    def write() -> None:
        with open(path, "ab", buffering=0) as fh:
            for i in range(0, len(text), 7):
                fh.write(text[i:i + 7])
                if i % 91 == 0:
                    time.sleep(0.0002)
        follow.done.set()

    writer = threading.Thread(target=write)
    writer.start()
    with open(path, "rb") as fh:
        got = list(follow.lines(fh))
    writer.join()
    assert got == text.splitlines(keepends=True)


@needs_strace
def test_soak_many_copies_of_a_short_command_lose_no_line(tmp_path: Path) -> None:
    """512 copies of `true` make strace interleave (and cut) lines of many
    pids at a high rate: the live import must read every one whole, run
    after run, and equal an import of the kept log."""
    cli = [sys.executable, "-m", "fsrace.cli"]
    for run in range(4):
        out, raw = tmp_path / f"r{run}.jsonl", tmp_path / f"r{run}.log"
        rec = subprocess.run([*cli, "record", "-j", "512", "-o", str(out), "--keep-strace",
                              str(raw), "--", "true"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert rec.returncode == 0, rec.stderr
        imp = subprocess.run([*cli, "import", str(raw), "--cwd", str(tmp_path),
                              "-o", str(tmp_path / "imp.jsonl")],
                             capture_output=True, text=True, timeout=300)
        assert imp.returncode == 0, imp.stderr
        rec_events, rec_trailer = _events(out)
        imp_events, imp_trailer = _events(tmp_path / "imp.jsonl")
        assert rec_trailer["unparsed"] == 0, rec_trailer["unparsed_samples"]
        assert rec_trailer["lines_read"] == raw.read_bytes().count(b"\n")
        assert len(rec_events) > 512 * 10 and rec_events == imp_events
        assert sum(e["type"] == "exit" for e in rec_events) == 513   # every copy + launcher
