"""Tests for the strace recorder (tracer.strace_backend) and tracer.launcher.

Most tests run the real strace; they skip when it is not installed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from fsrace.tracer import strace_backend as sb
from fsrace.tracer import strace_program
from fsrace.tracer.strace_backend import RecordError, record, strace_command

REPO = Path(__file__).resolve().parents[1]
LAUNCHER = REPO / "tracer" / "launcher.py"

needs_strace = pytest.mark.skipif(
    shutil.which("strace") is None,
    reason="strace is not installed (apt-get install strace); the recorder "
           "tests run the real strace")

END_LINE = re.compile(r"^(\d+)\s+(?:[\d.]+\s+)?\+\+\+ (exited with \d+|killed by SIG\w+)")


def log_pids(text: str) -> set[int]:
    return {int(m.group(1)) for m in re.finditer(r"^(\d+)\s", text, re.M)}


def ended_pids(text: str) -> dict[int, str]:
    out = {}
    for line in text.splitlines():
        m = END_LINE.match(line)
        if m:
            out[int(m.group(1))] = m.group(2)
    return out


def fake_strace(tmp_path: Path, body: str) -> Path:
    """A fake `strace` in its own directory, to put first on PATH."""
    d = tmp_path / "fakebin"
    d.mkdir(exist_ok=True)
    script = d / "strace"
    script.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    script.chmod(0o755)
    return d


# --------------------------------------------------------------------------
# The launcher on its own (no strace needed)


def run_launcher(args, **kw):
    r, w = os.pipe()
    p = subprocess.Popen([sys.executable, "-I", "-S", str(LAUNCHER),
                          "--status-fd", str(w), *args],
                         pass_fds=[w], **kw)
    os.close(w)
    return p, r


def read_status(r):
    with os.fdopen(r, "rb") as f:
        data = f.read()
    return json.loads(data)


def test_launcher_reports_statuses_and_first_nonzero(tmp_path):
    # mkdir is atomic: whoever is second exits 5, third 7, first 0.
    script = (f"mkdir {tmp_path}/a 2>/dev/null && exit 0; "
              f"mkdir {tmp_path}/b 2>/dev/null && exit 5; exit 7")
    p, r = run_launcher(["-j", "3", "--", "sh", "-c", script])
    status = read_status(r)
    assert p.wait() != 0
    copies = status["copies"]
    assert len(copies) == 3
    assert sorted(c["exit_code"] for c in copies) == [0, 5, 7]
    first = next(c["exit_code"] for c in copies if c["exit_code"])
    assert p.returncode == first
    assert all(c["signal"] is None and c["exec_errno"] is None for c in copies)


def test_launcher_signal_and_not_found():
    p, r = run_launcher(["-j", "2", "--", "sh", "-c", "kill -KILL $$"])
    status = read_status(r)
    assert p.wait() == 128 + 9
    assert [c["signal"] for c in status["copies"]] == [9, 9]
    assert [c["exit_code"] for c in status["copies"]] == [None, None]

    p, r = run_launcher(["--", "fsrace-no-such-command"],
                        stderr=subprocess.PIPE)
    status = read_status(r)
    _, err = p.communicate()
    assert p.returncode == 127
    assert status["copies"][0]["exec_errno"] == 2
    assert b"command not found: fsrace-no-such-command" in err


def test_launcher_forwards_sigterm_to_copy_process_groups():
    # Each copy runs a shell with a child; both are in the copy's own
    # process group, so the forwarded signal reaches the grandchild too.
    p, r = run_launcher(["-j", "2", "--", "sh", "-c", "sleep 30; exit 0"])
    deadline = time.time() + 10
    while time.time() < deadline:
        kids = psutil.Process(p.pid).children(recursive=True)
        if sum(k.name() == "sleep" for k in kids) == 2:
            break
        time.sleep(0.05)
    else:
        pytest.fail("copies did not start")
    shells = psutil.Process(p.pid).children()
    assert {os.getpgid(s.pid) for s in shells} == {s.pid for s in shells}
    assert os.getpgid(p.pid) not in {s.pid for s in shells}
    p.send_signal(signal.SIGTERM)
    status = read_status(r)
    assert p.wait(timeout=10) == 128 + signal.SIGTERM
    assert [c["signal"] for c in status["copies"]] == [15, 15]


def test_launcher_usage_errors():
    p = subprocess.run([sys.executable, str(LAUNCHER), "-j", "0", "--", "true"],
                       capture_output=True)
    assert p.returncode == 2 and b"at least 1" in p.stderr
    p = subprocess.run([sys.executable, str(LAUNCHER), "--"],
                       capture_output=True)
    assert p.returncode == 2 and b"no command" in p.stderr


def test_launcher_runs_as_module(tmp_path):
    p = subprocess.run([sys.executable, "-m", "fsrace.tracer.launcher", "-j", "2",
                        "--", "sh", "-c", "exit 4"], cwd=REPO)
    assert p.returncode == 4


# --------------------------------------------------------------------------
# The strace command line


@needs_strace
def test_strace_command_shape(tmp_path):
    out = tmp_path / "x.log"
    argv = strace_command(out, ["uv", "sync"], 10, status_fd=5)
    assert argv[0] == shutil.which("strace")
    for flag in ("-f", "-ttt", "-T"):
        assert flag in argv
    assert argv[argv.index("-s") + 1] == "4096"
    assert argv[argv.index("-o") + 1] == str(out)
    assert argv[argv.index("-e") + 1].startswith("trace=")
    assert "-y" not in argv and "-yy" not in argv and "-qq" not in argv
    assert "--seccomp-bpf" in argv          # strace 6.1 here
    i = argv.index("--")
    assert argv[i + 1:i + 5] == [sys.executable, "-I", "-S", str(LAUNCHER)]
    assert argv[-3:] == ["--", "uv", "sync"]
    assert argv[argv.index("-j") + 1] == "10"
    assert argv[argv.index("--status-fd") + 1] == "5"
    assert "--seccomp-bpf" not in strace_command(out, ["true"], 1,
                                                 seccomp=False)


def test_seccomp_fallback_for_old_strace(tmp_path, caplog):
    d = fake_strace(tmp_path, 'echo "strace -- version 5.2"\n')
    old = str(d / "strace")
    with caplog.at_level(logging.WARNING, logger="fsrace.tracer.strace_program"):
        assert strace_program.supports_seccomp_bpf(old) is False
        argv = strace_command(tmp_path / "x.log", ["true"], 1, strace=old)
    assert "--seccomp-bpf" not in argv
    assert "seccomp-bpf" in caplog.text and "5.2" in caplog.text


# --------------------------------------------------------------------------
# Errors the user can fix


def test_strace_not_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))       # no strace there
    with pytest.raises(RecordError) as exc:
        sb.find_strace()
    msg = str(exc.value)
    assert "strace is not installed" in msg and "install strace" in msg
    with pytest.raises(RecordError):
        record(["true"], 1, tmp_path / "x.log")


@needs_strace
def test_command_not_found(tmp_path, capfd):
    with pytest.raises(RecordError) as exc:
        record(["fsrace-no-such-command", "--x"], 2, tmp_path / "x.log")
    assert "command not found: fsrace-no-such-command" in str(exc.value)
    assert "PATH" in str(exc.value)


@needs_strace
def test_command_not_executable(tmp_path):
    f = tmp_path / "script.sh"
    f.write_text("echo hi\n")                     # no +x
    with pytest.raises(RecordError) as exc:
        record([str(f)], 1, tmp_path / "x.log")
    assert f"cannot run {f}: Permission denied" in str(exc.value)


@needs_strace
def test_command_that_exits_127_is_not_an_error(tmp_path):
    res = record(["sh", "-c", "exit 127"], 1, tmp_path / "x.log")
    assert res.exit_status == 127 and res.copies[0].exec_errno is None


@needs_strace
def test_missing_cwd(tmp_path):
    with pytest.raises(RecordError) as exc:
        record(["true"], 1, tmp_path / "x.log", cwd=tmp_path / "nope")
    assert "working directory" in str(exc.value)
    assert "does not exist" in str(exc.value)


def test_ptrace_denied_fake_strace(tmp_path, monkeypatch):
    # The text strace prints in a Docker container without SYS_PTRACE.
    d = fake_strace(tmp_path, """\
        if [ "$1" = "-V" ]; then echo "strace -- version 6.1"; exit 0; fi
        echo "strace: test_ptrace_get_syscall_info: PTRACE_TRACEME: Operation not permitted" >&2
        echo "strace: ptrace(PTRACE_TRACEME, ...): Operation not permitted" >&2
        exit 1
        """)
    monkeypatch.setenv("PATH", f"{d}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(RecordError) as exc:
        record(["true"], 1, tmp_path / "x.log")
    msg = str(exc.value)
    assert "ptrace(PTRACE_TRACEME, ...): Operation not permitted" in msg
    for hint in ("--cap-add=SYS_PTRACE", "kernel.yama.ptrace_scope",
                 "seccomp", "root", "fanotify"):
        assert hint in msg


def test_strace_failing_otherwise_is_a_clear_error(tmp_path, monkeypatch):
    d = fake_strace(tmp_path, """\
        if [ "$1" = "-V" ]; then echo "strace -- version 6.1"; exit 0; fi
        echo "strace: Can't fopen 'x': No space left on device" >&2
        exit 1
        """)
    monkeypatch.setenv("PATH", f"{d}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(RecordError) as exc:
        record(["true"], 1, tmp_path / "x.log")
    assert "No space left on device" in str(exc.value)
    assert "x.log.stderr" in str(exc.value)


DRIVER = """
import dataclasses, json, signal, sys
sys.path.insert(0, {repo!r})
signal.signal(signal.SIGINT, signal.default_int_handler)
from fsrace.tracer.strace_backend import record, RecordError
try:
    r = record(json.loads(sys.argv[3]), int(sys.argv[2]), sys.argv[1],
               interrupt_grace=float(sys.argv[4]) if len(sys.argv) > 4 else 0.5)
except RecordError as e:
    print(json.dumps({{"error": str(e)}}))
    sys.exit(2)
d = dataclasses.asdict(r)
print(json.dumps(d, default=str))
""".format(repo=str(REPO))


@needs_strace
def test_ptrace_really_denied_under_another_tracer(tmp_path):
    # A process can have only one tracer: recording from inside an outer
    # `strace -f` makes the inner strace's PTRACE_TRACEME fail for real.
    p = subprocess.run(
        ["strace", "-f", "-o", "/dev/null", sys.executable, "-c", DRIVER,
         str(tmp_path / "x.log"), "1", json.dumps(["true"])],
        capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    msg = json.loads(p.stdout)["error"]
    assert "not allowed to trace" in msg and "Operation not permitted" in msg


# --------------------------------------------------------------------------
# Exit statuses and the log


@needs_strace
def test_single_copy_exit_code_and_log(tmp_path):
    log = tmp_path / "run.log"
    res = record(["sh", "-c", "exit 3"], 1, log)
    assert res.exit_status == 3 and not res.interrupted
    assert len(res.copies) == 1 and res.copies[0].exit_code == 3
    assert res.copies[0].signal is None
    assert res.strace_log == log
    assert re.fullmatch(r"\d+(\.\d+)+", res.strace_version)
    assert res.started <= res.ended
    assert res.strace_argv[0] == shutil.which("strace")
    text = log.read_text()
    pid = res.copies[0].pid
    assert ended_pids(text)[pid] == "exited with 3"
    # the launcher is the log's first (root) process, and not a copy
    assert res.launcher_pid == int(text.split(None, 1)[0])
    assert ended_pids(text)[res.launcher_pid] == "exited with 3"
    # Every process in the log has its end line (nothing cut off).
    assert set(ended_pids(text)) == log_pids(text)


@needs_strace
def test_n_copies_start_together_first_nonzero(tmp_path):
    log = tmp_path / "run.log"
    script = (f"mkdir {tmp_path}/a 2>/dev/null && exit 0; "
              f"mkdir {tmp_path}/b 2>/dev/null && exit 5; exit 7")
    res = record(["sh", "-c", script], 3, log)
    codes = [c.exit_code for c in res.copies]
    assert sorted(codes) == [0, 5, 7]
    assert res.exit_status == next(c for c in codes if c)
    text = log.read_text()
    # The copies' exec of sh happen together, after the gate opened.
    execs = {}
    for line in text.splitlines():
        m = re.match(r'^(\d+)\s+([\d.]+) execve\("[^"]*/sh", ', line)
        if m:
            execs[int(m.group(1))] = float(m.group(2))
    pids = [c.pid for c in res.copies]
    assert set(pids) <= set(execs)
    assert max(execs[p] for p in pids) - min(execs[p] for p in pids) < 0.5


@needs_strace
def test_copy_killed_by_signal(tmp_path):
    log = tmp_path / "run.log"
    res = record(["sh", "-c", "kill -KILL $$"], 2, log)
    assert [c.signal for c in res.copies] == ["SIGKILL", "SIGKILL"]
    assert [c.exit_code for c in res.copies] == [None, None]
    assert res.exit_status == 128 + 9
    ends = ended_pids(log.read_text())
    assert all(ends[c.pid] == "killed by SIGKILL" for c in res.copies)


@needs_strace
def test_stderr_split_between_strace_file_and_user(tmp_path):
    log = tmp_path / "run.log"
    err = open(tmp_path / "user-err.txt", "wb")
    out = open(tmp_path / "user-out.txt", "wb")
    with err, out:
        res = record(["sh", "-c", "echo to-out; echo to-err >&2"], 2, log,
                     stdout=out, stderr=err)
    assert res.strace_stderr == tmp_path / "run.log.stderr"
    assert res.strace_stderr.exists()
    assert "to-err" not in res.strace_stderr.read_text()
    assert (tmp_path / "user-err.txt").read_text() == "to-err\n" * 2
    assert (tmp_path / "user-out.txt").read_text() == "to-out\n" * 2
    assert res.warnings == []


@needs_strace
def test_status_callback_rate(tmp_path):
    seen = []
    res = record(["sh", "-c", "sleep 1.2"], 2, tmp_path / "run.log",
                 on_status=seen.append)
    assert res.exit_status == 0
    # about 4 a second: never faster
    assert 3 <= len(seen) <= 7, seen
    assert max(s.live_processes for s in seen) >= 5   # launcher, 2 sh, 2 sleep
    assert seen[-1].log_bytes > 0
    gaps = [b.elapsed - a.elapsed for a, b in zip(seen, seen[1:])]
    assert min(gaps) >= 0.2


@needs_strace
def test_wrapper_adds_no_measurable_time(tmp_path):
    # The same strace command run by hand vs through record().
    cmd = ["sh", "-c", "for i in 1 2 3 4 5; do ls / >/dev/null; done"]

    def best(fn, n=5):
        times = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    raw_argv = strace_command(tmp_path / "raw.log", cmd, 2)
    raw = best(lambda: subprocess.run(raw_argv, check=True,
                                      stderr=subprocess.DEVNULL))
    wrapped = best(lambda: record(cmd, 2, tmp_path / "rec.log"))
    assert wrapped - raw < 0.1, (raw, wrapped)


# --------------------------------------------------------------------------
# Interruption


def start_driver(log: Path, copies: int, cmd: list[str], grace: float = 0.5):
    return subprocess.Popen([sys.executable, "-c", DRIVER, str(log),
                             str(copies), json.dumps(cmd), str(grace)],
                            stdout=subprocess.PIPE, text=True)


def wait_for(p, what, n, timeout=20, arg=None):
    """Wait until the driver p has n descendants named what; return them."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            kids = psutil.Process(p.pid).children(recursive=True)
            if sum(k.name() == what and (arg is None or arg in k.cmdline())
                   for k in kids) >= n:
                return kids
        except psutil.Error:
            pass
        time.sleep(0.005)
    pytest.fail(f"no {n} {what} processes appeared")


def finish(p, timeout=30):
    try:
        out, _ = p.communicate(timeout=timeout)
    finally:
        if p.poll() is None:
            p.kill()
    res = json.loads(out)
    assert p.returncode == 0, res
    return res


def killed_status(copy: dict) -> int:
    if copy["signal"]:
        return 128 + signal.Signals[copy["signal"]].value
    return copy["exit_code"]


def assert_log_complete(log: Path):
    text = log.read_text()
    ends = ended_pids(text)
    # every traced pid has its exit/kill line, and the log ends with them
    assert set(ends) == log_pids(text)
    assert END_LINE.match(text.splitlines()[-1])
    return ends


@needs_strace
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_everything_and_log_is_complete(tmp_path, sig):
    log = tmp_path / "run.log"
    # The background sleep of a non-interactive shell ignores SIGINT, and is
    # orphaned when its shell dies: only the SIGTERM stage (which finds
    # still-traced orphans) stops it.
    p = start_driver(log, 2, ["sh", "-c", "sleep 60 & sleep 61; wait"])
    kids = wait_for(p, "sleep", 4)
    strace_pid = next(k.pid for k in kids if k.name() == "strace")
    t0 = time.time()
    p.send_signal(sig)
    res = finish(p)
    assert time.time() - t0 < 10
    assert res["interrupted"] is True
    assert not psutil.pid_exists(strace_pid) or \
        psutil.Process(strace_pid).status() == psutil.STATUS_ZOMBIE
    ends = assert_log_complete(log)
    # Either way the copies get SIGINT first, as from a terminal's Ctrl-C.
    assert [c["signal"] for c in res["copies"]] == ["SIGINT", "SIGINT"]
    assert res["exit_status"] == 128 + signal.SIGINT
    assert "killed by SIGINT" in ends.values()
    # the orphaned background sleeps needed the SIGTERM stage
    assert list(ends.values()).count("killed by SIGTERM") == 2
    # nothing of ours is left running
    for k in kids:
        assert not k.is_running() or k.status() == psutil.STATUS_ZOMBIE


@needs_strace
def test_interrupt_escalates_to_sigkill(tmp_path):
    log = tmp_path / "run.log"
    p = start_driver(log, 2, ["sh", "-c", 'trap "" INT TERM; sleep 60'])
    wait_for(p, "sleep", 2)
    p.send_signal(signal.SIGINT)
    res = finish(p)
    assert res["interrupted"] is True
    # Children are killed first, so a shell may see its sleep die and exit
    # 137 itself before its own SIGKILL lands: either way, status 137.
    assert [killed_status(c) for c in res["copies"]] == [137, 137]
    assert res["exit_status"] == 128 + 9
    ends = assert_log_complete(log)
    assert list(ends.values()).count("killed by SIGKILL") >= 2


@needs_strace
def test_second_ctrl_c_skips_the_grace_periods(tmp_path):
    log = tmp_path / "run.log"
    p = start_driver(log, 1, ["sh", "-c", 'trap "" INT TERM; sleep 60'],
                     grace=20)
    wait_for(p, "sleep", 1)
    t0 = time.time()
    for _ in range(3):
        p.send_signal(signal.SIGINT)
        time.sleep(0.2)
    res = finish(p)
    assert time.time() - t0 < 5
    assert res["interrupted"] is True
    assert killed_status(res["copies"][0]) == 137
    assert_log_complete(log)


@needs_strace
@pytest.mark.parametrize("delay", [0.0, 0.02, 0.05])
def test_interrupt_during_start_up(tmp_path, delay):
    # Ctrl-C while the launcher is still starting or forking: whatever was
    # started is stopped, and the log is still complete.
    log = tmp_path / "run.log"
    p = start_driver(log, 2, ["sh", "-c", "sleep 60"])
    wait_for(p, "strace", 1, arg="-o")    # the recording, not `strace -V`
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    res = finish(p)
    assert res["interrupted"] is True
    assert res["exit_status"] in (128 + signal.SIGINT, 128 + signal.SIGTERM)
    assert_log_complete(log)
