"""Event logs are validated on load: refused with the line, or analysed with a warning.

Every log here is a real one (a tests/data strace log imported), damaged the
way the issue found them damaged; each goes through the command the user
runs (``fsrace analyze``), in-process with click's runner or as a process
where standard input matters.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fsrace.cli import cli
from fsrace.tracer.strace_import import import_strace

DATA = Path(__file__).parent / "data" / "strace"
RACY = DATA / "gallery" / "two_writers-racy.log.gz"
OTHER = DATA / "scenario" / "plain.log.gz"


def _import(src: Path, out: Path) -> list[str]:
    import_strace([str(src)], str(out))
    return out.read_text().splitlines(keepends=True)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("validate")
    racy = _import(RACY, tmp / "racy.jsonl")
    other = _import(OTHER, tmp / "other.jsonl")
    return {"dir": tmp, "racy": racy, "other": other}


def analyze(path: Path | str, *extra: str, stdin: bytes | None = None):
    res = CliRunner().invoke(cli, ["analyze", str(path), "--format", "json", *extra],
                             input=stdin)
    # click's runner reports an exception that main() would turn into
    # "internal error" (exit 3) as res.exception.
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exc_info
    report = json.loads(res.stdout) if res.exit_code in (0, 1) else None
    # The console wraps long messages: compare with single spaces.
    return res.exit_code, report, " ".join(res.stderr.split())


def findings(report: dict[str, Any]) -> list[tuple]:
    return sorted((f["kind"], f["site"], f["severity"], f.get("count"))
                  for f in report["findings"])


def write(tmp: Path, name: str, lines: list[str] | bytes) -> Path:
    p = tmp / name
    p.write_bytes(lines if isinstance(lines, bytes) else "".join(lines).encode())
    return p


def events_of(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(l) for l in lines[1:-1]]


def dump(header: str, events: list[Any], trailer: str) -> list[str]:
    return [header] + [json.dumps(e) + "\n" for e in events] + [trailer]


@pytest.fixture(scope="module")
def baseline(logs: dict[str, Any]) -> tuple[int, list[tuple]]:
    code, report, _ = analyze(logs["dir"] / "racy.jsonl")
    assert code == 1 and report["findings"], "the racy gallery log has findings"
    # Analysing the strace log directly gives the same answer.
    code2, report2, _ = analyze(RACY)
    assert findings(report2) == findings(report)
    assert report["warnings"] == []
    return code, findings(report)


# ---------------------------------------------------------- same answer + warning

@pytest.mark.parametrize("shape", ["crlf", "bom"])
def test_crlf_and_bom_event_logs_give_the_same_answer_without_a_word(
        logs: dict[str, Any], baseline: tuple, shape: str) -> None:
    text = "".join(logs["racy"])
    data = (text.replace("\n", "\r\n") if shape == "crlf" else "\ufeff" + text).encode()
    code, report, _ = analyze(write(logs["dir"], f"{shape}.jsonl", data))
    assert (code, findings(report)) == baseline
    assert report["warnings"] == []


def test_shuffled_lines_are_sorted_back_with_a_warning(logs: dict[str, Any],
                                                       baseline: tuple) -> None:
    lines = logs["racy"]
    mid = lines[1:-1]
    random.Random(7).shuffle(mid)
    code, report, _ = analyze(write(logs["dir"], "shuf.jsonl", [lines[0]] + mid + [lines[-1]]))
    assert (code, findings(report)) == baseline
    [w] = report["warnings"]
    assert "sorted back into seq order" in w and w.startswith("event log line ")


def test_html_of_a_shuffled_log_reads_it_twice(logs: dict[str, Any], tmp_path: Path) -> None:
    lines = logs["racy"]
    mid = lines[1:-1][::-1]
    p = write(tmp_path, "rev.jsonl", [lines[0]] + mid + [lines[-1]])
    res = CliRunner().invoke(cli, ["analyze", str(p), "--format", "html", "-o",
                                   str(tmp_path / "r.html")])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exc_info
    assert res.exit_code == 1


def test_repeated_lines_and_a_log_repeated_whole(logs: dict[str, Any], baseline: tuple) -> None:
    lines = logs["racy"]
    code, report, _ = analyze(write(logs["dir"], "dup.jsonl", lines[:50] + lines[40:]))
    assert (code, findings(report)) == baseline
    text = " | ".join(report["warnings"])
    assert "repeated exactly -- 10 repeated lines were dropped" in text
    assert "the trailer says" in text and "lines were added" in text
    code, report, _ = analyze(write(logs["dir"], "twice.jsonl", lines + lines))
    assert (code, findings(report)) == baseline
    text = " | ".join(report["warnings"])
    assert "header is repeated" in text and "trailer is repeated" in text


def test_trailer_with_wrong_counts_or_in_the_middle(logs: dict[str, Any], baseline: tuple) -> None:
    lines = logs["racy"]
    trailer = json.loads(lines[-1])
    trailer["events"] = 5
    code, report, _ = analyze(write(logs["dir"], "t5.jsonl",
                                    lines[:-1] + [json.dumps(trailer) + "\n"]))
    assert (code, findings(report)) == baseline
    n = len(lines) - 2
    assert any(f"the trailer says 5 events were written but {n} event lines were read" in w
               for w in report["warnings"])
    code, report, _ = analyze(write(logs["dir"], "tmid.jsonl",
                                    lines[:100] + [lines[-1]] + lines[100:-1]))
    assert (code, findings(report)) == baseline
    assert any("line 101: the trailer is not the last line" in w for w in report["warnings"])
    dropped = lines[:100] + lines[200:]
    code, report, _ = analyze(write(logs["dir"], "lost.jsonl", dropped))
    assert any("lines were lost" in w for w in report["warnings"])


def test_a_few_bad_events_are_skipped_with_their_line(logs: dict[str, Any]) -> None:
    lines = list(logs["racy"])
    evs = events_of(lines)
    evs[9]["flags"] = 577            # flags as a number
    evs[19] = [1, 2, 3]              # a list as an event
    del evs[29]["type"]
    lock_less = next(i for i, e in enumerate(evs) if e.get("syscall") == "openat")
    evs[lock_less]["lock"] = {"op": "ex"}   # lock without kind
    p = write(logs["dir"], "bad4.jsonl", dump(lines[0], evs, lines[-1]))
    code, report, _ = analyze(p)
    assert code in (0, 1)
    text = " | ".join(report["warnings"])
    assert "event log line 11: 'flags' is an int, not text" in text
    assert "event log line 21: the line is a list, not a JSON object" in text
    assert "event log line 31: 'type' is missing" in text
    assert "'lock' has no 'kind'" in text
    assert "the analysis lacks those events" in text


def test_deep_nesting_and_huge_ints_do_not_crash(logs: dict[str, Any]) -> None:
    lines = list(logs["racy"])
    lines[5] = "[" * 100000 + "]" * 100000 + "\n"
    evs7 = json.loads(lines[7])
    evs7["pid"] = 10 ** 30
    lines[7] = json.dumps(evs7) + "\n"
    code, report, _ = analyze(write(logs["dir"], "deep.jsonl", lines))
    assert code in (0, 1)
    text = " | ".join(report["warnings"])
    assert "line 6: the line is not JSON" in text
    assert "line 8: 'pid' is an int too big for 64 bits" in text


# --------------------------------------------------------------------- refused

@pytest.mark.parametrize("what,expect", [
    ("noseq", "event log line 2: 'seq' is missing"),
    ("negseq", "event log line 2: 'seq' is -1, not an int >= 1"),
    ("nullseq", "event log line 2: 'seq' is missing"),
    ("strseq", "event log line 2: 'seq' is text, not an int >= 1"),
])
def test_logs_whose_events_are_mostly_bad_are_refused(logs: dict[str, Any], what: str,
                                                      expect: str) -> None:
    lines = logs["racy"]
    evs = events_of(lines)
    for e in evs:
        if what == "noseq":
            del e["seq"]
        elif what == "negseq":
            e["seq"] = -e["seq"]
        elif what == "nullseq":
            e["seq"] = None
        else:
            e["seq"] = str(e["seq"])
    code, _report, err = analyze(write(logs["dir"], what + ".jsonl",
                                       dump(lines[0], evs, lines[-1])))
    assert code == 2
    assert expect in err and "too many to analyse the rest soundly" in err


def test_two_different_logs_joined_are_refused(logs: dict[str, Any]) -> None:
    a, b = logs["racy"], logs["other"]
    code, _r, err = analyze(write(logs["dir"], "joined.jsonl", a + b))
    assert code == 2
    assert f"event log line {len(a) + 1}: a second header" in err.replace("\n", " ")


def test_two_events_with_one_seq_are_refused(logs: dict[str, Any]) -> None:
    lines = logs["racy"]
    evs = events_of(lines)
    evs[20]["seq"] = evs[10]["seq"]
    code, _r, err = analyze(write(logs["dir"], "dupseq.jsonl", dump(lines[0], evs, lines[-1])))
    assert code == 2
    err = " ".join(err.split())
    assert f"event log line 22: seq {evs[10]['seq']} is also the seq of line 12" in err


def test_missing_header_is_named(logs: dict[str, Any]) -> None:
    code, _r, err = analyze(write(logs["dir"], "nohead.jsonl", logs["racy"][1:]))
    assert code == 2 and "the header line is missing" in " ".join(err.split())


def test_ill_typed_header_and_trailer_fields_are_dropped_with_a_warning(
        logs: dict[str, Any], baseline: tuple) -> None:
    lines = list(logs["racy"])
    head = json.loads(lines[0])
    head["command"] = 5
    trailer = json.loads(lines[-1])
    trailer.update(unparsed=3, unparsed_samples=7, warnings="not a list")
    lines[0], lines[-1] = json.dumps(head) + "\n", json.dumps(trailer) + "\n"
    p = write(logs["dir"], "types.jsonl", lines)
    code, report, _ = analyze(p)
    assert (code, findings(report)) == baseline
    text = " | ".join(report["warnings"])
    assert "the header field 'command' is an int" in text
    assert "the trailer field 'unparsed_samples' is an int" in text
    res = CliRunner().invoke(cli, ["analyze", str(p)])   # the text report too
    assert res.exit_code == 1 and "header field 'command'" in " ".join(res.stdout.split())


def test_a_cut_gz_log_is_analysed_as_cut_short(logs: dict[str, Any], tmp_path: Path) -> None:
    import gzip
    data = gzip.compress("".join(logs["racy"]).encode())
    p = write(tmp_path, "cut.jsonl.gz", data[:len(data) * 2 // 3])
    code, report, _ = analyze(p)
    assert code in (0, 1) and report["source"]["incomplete"] is True
    text = " | ".join(report["warnings"])
    assert "the compressed data ends early" in text and "no trailer" in text
    code, _r, err = analyze(write(tmp_path, "junk.jsonl.gz", b"\x1f\x8b" + bytes(range(64))))
    assert code == 2 and "cannot read" in err


def test_a_newer_minor_version_is_read_with_a_note(logs: dict[str, Any],
                                                   baseline: tuple) -> None:
    lines = list(logs["racy"])
    head = json.loads(lines[0])
    head["version"] = "1.7"
    lines[0] = json.dumps(head) + "\n"
    code, report, _ = analyze(write(logs["dir"], "v17.jsonl", lines))
    assert (code, findings(report)) == baseline
    assert any("format version 1.7 is newer" in w for w in report["warnings"])


def test_import_of_an_event_log_says_what_it_is(logs: dict[str, Any], tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["import", str(logs["dir"] / "racy.jsonl"), "-o",
                                   str(tmp_path / "o.jsonl")])
    assert res.exit_code == 2 and "already an fsrace event log" in " ".join(res.stderr.split())


# ---------------------------------------------------------- stdin, CRLF strace

def fsrace(*args: str, stdin: bytes) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fsrace", *args], input=stdin,
                          capture_output=True, timeout=120)


def reason(r: subprocess.CompletedProcess, name: str) -> str:
    """The message without the input's name (and without the console's wrapping)."""
    return " ".join(r.stderr.decode().split()).replace(name, "NAME")


def test_stdin_and_file_give_the_same_verdict(logs: dict[str, Any]) -> None:
    path = logs["dir"] / "racy.jsonl"
    data = path.read_bytes()
    from_file = fsrace("analyze", str(path), "--format", "json", stdin=b"")
    from_stdin = fsrace("analyze", "-", "--format", "json", stdin=data)
    assert from_file.returncode == from_stdin.returncode == 1, from_stdin.stderr
    assert from_file.stdout == from_stdin.stdout
    # Junk, and an empty stdin: exit 2 as for a file, with the same reason.
    junk = b"this is a README, not a log\n" * 30
    (logs["dir"] / "junk.txt").write_bytes(junk)
    for stdin_input, file_args in ((junk, [str(logs["dir"] / "junk.txt")]), (b"", None)):
        r = fsrace("analyze", "-", stdin=stdin_input)
        assert r.returncode == 2 and b"Traceback" not in r.stderr
        if file_args:
            f = fsrace("analyze", *file_args, stdin=b"")
            assert f.returncode == 2
            assert reason(f, file_args[0]) == reason(r, "standard input")
    # A damaged event log on stdin: the same refusal as from the file.
    bad = write(logs["dir"], "joined2.jsonl", logs["racy"] + logs["other"])
    f = fsrace("analyze", str(bad), stdin=b"")
    r = fsrace("analyze", "-", stdin=bad.read_bytes())
    assert f.returncode == r.returncode == 2
    assert reason(f, str(bad)) == reason(r, "standard input")
    assert "a second header" in reason(r, "standard input")


def test_strace_text_on_stdin_still_works(logs: dict[str, Any]) -> None:
    import gzip
    text = gzip.decompress(RACY.read_bytes())
    r = fsrace("analyze", "-", "--format", "json", stdin=text)
    assert r.returncode == 1, r.stderr
    _code, report, _ = analyze(RACY)
    assert findings(json.loads(r.stdout)) == findings(report)


@pytest.mark.parametrize("shape", ["crlf", "bom"])
def test_crlf_and_bom_strace_logs_lose_nothing(tmp_path: Path, shape: str) -> None:
    import gzip
    text = gzip.decompress(RACY.read_bytes())
    damaged = text.replace(b"\n", b"\r\n") if shape == "crlf" else b"\xef\xbb\xbf" + text
    for name, data in (("lf.log", text), ("x.log", damaged)):
        (tmp_path / name).write_bytes(data)
        import_strace([str(tmp_path / name)], str(tmp_path / (name + ".jsonl")))
    a = (tmp_path / "lf.log.jsonl").read_text().splitlines()
    b = (tmp_path / "x.log.jsonl").read_text().splitlines()
    ta, tb = json.loads(a[-1]), json.loads(b[-1])
    assert tb["unparsed"] == 0 and tb["lines_read"] == ta["lines_read"] == text.count(b"\n")
    assert a[1:] == b[1:]   # every event and the trailer; the headers name the files
    r = fsrace("analyze", "-", "--format", "json", stdin=damaged)
    assert r.returncode == 1, r.stderr


def test_unresolved_paths_are_warned_with_the_cwd_hint(tmp_path: Path) -> None:
    # No execve, no chdir: the log never shows where the process started.
    log = tmp_path / "rel.log"
    log.write_text('100  openat(AT_FDCWD, "build/out.txt", O_WRONLY|O_CREAT, 0644) = 3\n'
                   '100  close(3)                          = 0\n'
                   '101  unlink("build/out.txt")           = 0\n'
                   '100  +++ exited with 0 +++\n')
    code, report, _ = analyze(log)
    assert code in (0, 1)
    [w] = [w for w in report["warnings"] if "could not be resolved" in w]
    assert w.startswith("2 of 2 path arguments") and "--cwd DIR" in w
    code, report, _ = analyze(log, "--cwd", "/work")
    assert not [w for w in report["warnings"] if "could not be resolved" in w]
    # The same warning for the event log imported from it.
    import_strace([str(log)], str(tmp_path / "rel.jsonl"))
    _code, report, _ = analyze(tmp_path / "rel.jsonl")
    assert [w for w in report["warnings"] if "--cwd" in w]


def test_gzip_on_stdin_is_read_like_a_gz_file(logs: dict[str, Any], tmp_path: Path) -> None:
    import gzip
    data = gzip.compress("".join(logs["racy"]).encode())
    whole = fsrace("analyze", "-", "--format", "json", stdin=data)
    assert whole.returncode == 1, whole.stderr
    _code, report, _ = analyze(logs["dir"] / "racy.jsonl")
    assert findings(json.loads(whole.stdout)) == findings(report)
    strace = fsrace("analyze", "-", "--format", "json", stdin=RACY.read_bytes())
    assert strace.returncode == 1 and findings(json.loads(strace.stdout)) == findings(report)
    # Cut gzip data: analysed as cut short, from a file and from stdin alike.
    cut = data[:len(data) // 2]
    (tmp_path / "cut.jsonl.gz").write_bytes(cut)
    f = fsrace("analyze", str(tmp_path / "cut.jsonl.gz"), "--format", "json", stdin=b"")
    s = fsrace("analyze", "-", "--format", "json", stdin=cut)
    assert f.returncode == s.returncode and f.returncode in (0, 1), s.stderr
    rf, rs = json.loads(f.stdout), json.loads(s.stdout)
    assert rf["summary"] == rs["summary"] and rs["source"]["incomplete"] is True
    assert any("compressed data ends early" in w for w in rs["warnings"])
    junk = fsrace("analyze", "-", stdin=b"\x1f\x8b" + bytes(range(200)))
    assert junk.returncode == 2 and b"Traceback" not in junk.stderr
