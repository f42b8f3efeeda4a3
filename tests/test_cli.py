"""The command line: demo, record, analyze exit codes, untrusted names, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


from conftest import DATA, needs_strace

FSRACE = [sys.executable, "-m", "fsrace.cli"]


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*FSRACE, *args], capture_output=True, text=True, timeout=600, **kw)


@needs_strace
def test_demo_reports_the_race_and_fixed_is_clean() -> None:
    r = run("demo")
    assert "Traceback" not in r.stderr
    assert r.returncode == 1, r.stdout + r.stderr            # warnings or errors found
    assert "removed-while-in-use" in r.stdout or "filled-while-removing" in r.stdout
    # Diagnosis first and short: the root cause with its fix, one closing line.
    lines = r.stdout.splitlines()
    assert len(lines) <= 40, r.stdout
    assert lines[0].startswith("fsrace: ") and "copies" in lines[0]
    assert any(ln.startswith("R1 ") for ln in lines) and any("fix: " in ln for ln in lines)
    assert lines[-1].startswith("==")
    r = run("demo", "--fixed")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "No races found" in r.stdout


def test_analyze_exit_codes_follow_fail_on() -> None:
    log = str(DATA / "strace" / "installer" / "racy-pass.log.gz")   # latent warnings only
    assert run("analyze", log).returncode == 0                       # default --fail-on error
    assert run("analyze", log, "--fail-on", "warning").returncode == 1
    assert run("analyze", log, "--fail-on", "never").returncode == 0
    failing = str(DATA / "strace" / "installer" / "racy-fail.log.gz")
    assert run("analyze", failing).returncode == 1
    assert run("analyze", "--fail-on", "bogus", log).returncode == 2


def test_json_report_has_the_interface_fields() -> None:
    r = run("analyze", str(DATA / "strace" / "installer" / "racy-fail.log.gz"), "--format", "json")
    report = json.loads(r.stdout)
    assert report["format"] == "fsrace-report" and report["version"]
    assert {"pid", "ppid", "argv", "exit_code", "signal"} <= set(report["processes"][0])
    f = report["findings"][0]
    assert {"id", "kind", "verdict", "severity", "path", "site", "count", "pids", "accesses"} <= set(f)
    assert {"pid", "seq", "syscall", "path", "result"} <= set(f["accesses"][0])
    fp = report["failed_processes"][0]
    assert {"pid", "exit_code", "first_error", "explained_by"} <= set(fp)
    assert {"events", "processes", "unparsed_lines", "unresolved_paths"} <= set(report["stats"])


HOSTILE = r"/t/\33[31mred\33[0m [bold red]x[/] <script>alert(1)</script>\377"


def test_hostile_names_print_as_literal_text(tmp_path: Path) -> None:
    """A name with an ANSI escape, rich markup, HTML and a non-UTF-8 byte."""
    log = tmp_path / "hostile.log"
    log.write_text("\n".join([
        '100  execve("/bin/sh", ["sh"], 0x7ffd /* 3 vars */) = 0',
        '100  clone(child_stack=NULL, flags=SIGCHLD) = 200',
        '100  clone(child_stack=NULL, flags=SIGCHLD) = 201',
        f'200  mkdir("{HOSTILE}", 0777) = 0',
        f'201  rmdir("{HOSTILE}") = 0',
        f'200  openat(AT_FDCWD, "{HOSTILE}/f", O_WRONLY|O_CREAT, 0644) = -1 ENOENT (No such file or directory)',
        '200  +++ exited with 1 +++',
        '201  +++ exited with 0 +++',
    ]) + "\n")
    env = dict(os.environ, FORCE_COLOR="1", COLUMNS="400")   # a colour terminal, worst case
    r = run("analyze", str(log), "--fail-on", "never", env=env)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "removed-while-in-use" in out
    assert "[bold red]x[/]" in out                 # shown, not taken as markup
    assert "\x1b[31mred" not in out               # the program's escape never reaches the terminal
    assert "\\x1b[31mred" in out                 # ...it is shown escaped
    assert "\\xff" in out                        # a raw byte is shown as an escape
    assert "<script>alert(1)</script>" in out      # plain text in a terminal


@needs_strace
def test_record_exit_status_and_summary(tmp_path: Path) -> None:
    log = tmp_path / "r.jsonl"
    r = run("record", "-j", "3", "-o", str(log), "--", "sh", "-c", "exit 0")
    assert r.returncode == 0, r.stderr
    assert "3 copies, 0 failed" in r.stderr
    r = run("record", "-o", str(log), "--", "sh", "-c", "exit 7")
    assert r.returncode == 7
    r = run("record", "-o", str(log), "--", "no-such-program-xyz")
    assert r.returncode == 2 and "command not found" in r.stderr and "Traceback" not in r.stderr


@needs_strace
def test_ctrl_c_leaves_a_valid_log_marked_interrupted(tmp_path: Path) -> None:
    log = tmp_path / "i.jsonl"
    proc = subprocess.Popen([*FSRACE, "record", "-j", "2", "-o", str(log), "--", "sh", "-c",
                             "mkdir -p %s/d; while :; do touch %s/d/$$; sleep 0.05; done"
                             % (tmp_path, tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    lines = log.read_text().splitlines()
    head, trailer = json.loads(lines[0]), json.loads(lines[-1])
    assert head["format"] == "fsrace-events"
    assert trailer["format"] == "fsrace-events-trailer" and trailer["interrupted"] is True
    events = [json.loads(x) for x in lines[1:-1]]
    assert any(e["type"] == "exit" for e in events)
    r = run("analyze", str(log), "--format", "json", "--fail-on", "never")
    assert r.returncode == 0 and json.loads(r.stdout)["source"]["interrupted"] is True


# ------------------------------------------------------------ CLI manners (issue 13)

def _event_log(path: Path, packages: int = 1) -> Path:
    """An event log of the uv staging race (tests/test_root_causes.py), on disk."""
    from conftest import Trace
    from test_root_causes import SP, staging_race

    from fsrace.tracer.eventlog import EventLogWriter

    t = Trace()
    staging_race(t)
    # More packages raced the same way: many sites, a long --all report.
    seq = len(t.events)
    for i in range(packages - 1):
        d = f"{SP}/pkg{i}-1.{i}.data"
        t.op(2, "mkdir", d)
        t.open(2, f"{d}/f", "O_WRONLY|O_CREAT")
        t.op(4, "unlink", f"{d}/f")
        t.op(4, "rmdir", d)
        t.op(3, "stat", d, errno="ENOENT")
        t.op(3, "openat", f"{d}/x{i}", errno="ENOENT", flags="O_RDONLY")
    assert len(t.events) >= seq
    with EventLogWriter(path, {"backend": "strace", "command": ["uv", "sync", "-q"]}) as w:
        for ev in t.events:
            w.write(ev)
    return path


def test_version_and_python_m() -> None:
    for flag in ("-V", "--version"):
        r = run(flag)
        assert r.returncode == 0 and "fsrace, version" in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-m", "fsrace", "-V"], capture_output=True, text=True)
    assert r.returncode == 0 and "version" in r.stdout


def test_color_follows_the_option_and_the_environment(tmp_path: Path) -> None:
    log = str(_event_log(tmp_path / "run.jsonl"))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    assert "\x1b[" in run("--color", "always", "analyze", log, env=env).stdout
    assert "\x1b[" not in run("--color", "never", "analyze", log,
                              env={**env, "FORCE_COLOR": "1"}).stdout
    assert "\x1b[" in run("analyze", log, env={**env, "FORCE_COLOR": "1"}).stdout
    assert "\x1b[" not in run("analyze", log, env={**env, "NO_COLOR": "1"}).stdout
    assert "\x1b[" not in run("analyze", log, env=env).stdout      # a pipe: plain


def test_quiet_verbose_and_filters(tmp_path: Path) -> None:
    log = str(_event_log(tmp_path / "run.jsonl"))
    default = run("analyze", log).stdout.splitlines()
    quiet = run("-q", "analyze", log)
    assert quiet.stderr == "" and len(quiet.stdout.splitlines()) < len(default)
    assert quiet.stdout.splitlines()[-1].startswith("==")
    verbose = run("analyze", "-v", log).stdout
    assert "Race sites" in verbose and verbose == run("analyze", "--all", log).stdout
    assert "Race sites" in run("-v", "analyze", log).stdout
    only = run("analyze", "--all", "--only", "manifested", log).stdout
    assert "latent" not in only.split("Race sites")[1].split("\n==")[0]
    assert run("analyze", "--only", "bogus", log).returncode == 2


def test_a_closed_pipe_is_not_an_error(tmp_path: Path) -> None:
    log = str(_event_log(tmp_path / "run.jsonl", packages=400))
    for extra in (["--all"], ["--format", "json"]):
        p = subprocess.Popen([*FSRACE, "analyze", log, *extra], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        assert p.stdout is not None and p.stderr is not None
        p.stdout.read(100)
        p.stdout.close()                     # `| head -c 100`: the reader goes away
        err = p.stderr.read().decode()
        code = p.wait(timeout=300)
        assert "Traceback" not in err and "Exception ignored" not in err, err
        assert code in (0, 1), (code, err)   # 0 when it hit the closed pipe, else the verdict
        if extra == ["--all"]:
            assert code == 0, err            # this report is far larger than a pipe's buffer


def test_explain_tells_a_root_cause_story(tmp_path: Path) -> None:
    log = str(_event_log(tmp_path / "run.jsonl"))
    r = run("explain", log, "R1")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("R1 error")
    for part in ("The resource and the programs", "What broke", "One interleaving",
                 "Why nothing ordered them", "The fix"):
        assert part in out, part
    assert "uv sync -q" in out and "*.data" in out
    r = run("explain", log, "R9")
    assert r.returncode == 2 and "no root cause R9" in r.stderr and "R1" in r.stderr
