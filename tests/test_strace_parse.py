"""Tests for tracer.strace_parse, mostly on lines captured from strace 6.1.

Where a block of lines came from, the strace command is noted above it.
PY is /root/.pyenv/versions/3.11.7/bin/python3.
"""

from __future__ import annotations

import os
import random
import time

import pytest

from fsrace.tracer.strace_parse import (
    ParsedLine, decode_fd, decode_fd_full, decode_string, parse_line, split_args,
)


def P(line):
    p = parse_line(line)
    assert p is not None, line
    return p


# --- complete calls -----------------------------------------------------------

# strace -f -o LOG -ttt -T -y PY /tmp/parse_prog.py
def test_call_unix_ts_decorated_result():
    p = P("4849  1795816365.090711 openat(AT_FDCWD</tmp/parse_d>, "
          "\"/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache\", O_RDONLY) = "
          "3</usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache> <0.000016>\n")
    assert (p.pid, p.ts, p.ts_kind, p.kind, p.name) == (
        4849, 1795816365.090711, "unix", "call", "openat")
    assert p.args == ('AT_FDCWD</tmp/parse_d>, '
                      '"/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache", O_RDONLY')
    assert p.ret == "3"
    assert p.ret_path == "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache"
    assert p.errno is None
    assert p.duration == pytest.approx(0.000016)
    assert p.status is None and p.core is False and p.pid_in_text is None


def test_trailing_newline_optional():
    a = P("4849  1795816365.146580 chdir(\"/tmp/parse_d\") = 0 <0.000018>\n")
    b = P("4849  1795816365.146580 chdir(\"/tmp/parse_d\") = 0 <0.000018>")
    assert a == b
    assert a.args == '"/tmp/parse_d"' and a.ret == "0"


@pytest.mark.parametrize("line, ret, errno, dur", [
    # strace -f -o LOG -ttt -T -y PY /tmp/parse_prog.py  (and the -s 20 run)
    ('5506  1795816404.791607 rename("/tmp/parse_d/nonexist", "/tmp/parse_d/g") = -1 ENOENT (No such file or directory) <0.000005>',
     "-1", "ENOENT", 0.000005),
    ('4849  1795816365.518700 <... read resumed>0x7f17f40e7bc0, 1) = ? ERESTARTSYS (To be restarted if SA_RESTART is set) <0.051591>',
     "?", "ERESTARTSYS", 0.051591),
    ('5506  1795816404.790325 fcntl(3</tmp/parse_d/f>, F_GETFL) = 0x8002 (flags O_RDWR|O_LARGEFILE) <0.000004>',
     "0x8002", None, 0.000004),
    ('5506  1795816404.790440 poll([{fd=4<pipe:[7204]>, events=POLLIN}], 1, 10) = 1 ([{fd=4, revents=POLLIN}]) <0.000004>',
     "1", None, 0.000004),
    ('5506  1795816404.790422 poll([], 0, 0)  = 0 (Timeout) <0.000004>', "0", None, 0.000004),
    ('10458 1795816506.841906 mmap(NULL, 34547, PROT_READ, MAP_PRIVATE, 3</etc/ld.so.cache>, 0) = 0x7f32b3ca0000 <0.000005>',
     "0x7f32b3ca0000", None, 0.000005),
    ('4850  1795816365.090091 exit_group(3)   = ?', "?", None, None),
    ('4849  1795816365.038030 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f17f4e6ae50) = 4850 <0.000570>',
     "4850", None, 0.000570),
    ('5506  1795816404.740522 fcntl(3</root/x.pyc>, F_GETFD) = 0x1 (flags FD_CLOEXEC) <0.000005>',
     "0x1", None, 0.000005),
    ('5062  syscall_0x3e7(0x1, 0x2, 0x7fbec8ac8bc0, 0x5591eb105e60, 0x7fbec8bbaa40, 0x6) = -1 ENOSYS (Function not implemented)',
     "-1", "ENOSYS", None),
])
def test_results(line, ret, errno, dur):
    p = P(line)
    assert p.kind in ("call", "resumed")
    assert p.ret == ret and p.errno == errno
    assert p.ret_path is None
    assert p.duration == (None if dur is None else pytest.approx(dur))


def test_padded_result_and_exit_group():
    # strace -f -o LOG -t ...: "exit_group(1)            = ?"
    p = P("4880  21:52:50 exit_group(1)            = ?\n")
    assert (p.pid, p.ts, p.ts_kind, p.name, p.args, p.ret, p.duration) == (
        4880, 21 * 3600 + 52 * 60 + 50, "clock", "exit_group", "1", "?", None)


def test_restart_syscall():
    # attach to /bin/sleep with strace -ttt -T -y -p, then SIGSTOP/SIGCONT
    p = P("1795816396.991081 restart_syscall(<... resuming interrupted read ...>) = ? "
          "ERESTART_RESTARTBLOCK (Interrupted by signal) <0.295089>\n")
    assert (p.pid, p.kind, p.name, p.args, p.ret, p.errno) == (
        None, "call", "restart_syscall", "<... resuming interrupted read ...>", "?",
        "ERESTART_RESTARTBLOCK")
    assert split_args(p.args) == ["<... resuming interrupted read ...>"]


def test_unknown_name_and_question_marks():
    p = P("1234  ???(0x1) = -1 ENOSYS (Function not implemented)")
    assert p.name == "???" and p.errno == "ENOSYS"


def test_string_holding_result_text():
    p = P('77  write(1, "x) = 5 <0.1>", 11) = 11 <0.000010>')
    assert p.args == '1, "x) = 5 <0.1>", 11' and p.ret == "11"
    assert p.duration == pytest.approx(0.00001)


def test_returned_path_holding_separator():
    p = P("77  openat(AT_FDCWD, \"a) = 5\", O_RDONLY) = 3</tmp/a) = 5> <0.000010>")
    assert p.args == 'AT_FDCWD, "a) = 5", O_RDONLY'
    assert p.ret == "3" and p.ret_path == "/tmp/a) = 5"


# --- prefixes and timestamps ----------------------------------------------------

@pytest.mark.parametrize("line, pid, ts, kind", [
    # strace -f -o LOG -t / -tt / -r / --timestamps=unix,ns / -ttt / unix,ms /
    # format:time,ns / -tt -r   sh -c 'cat /nonexistent; true'
    ('4879  21:52:50 execve("/usr/bin/sh", ["sh", "-c", "cat /nonexistent; true"], 0x7fff2cc73670 /* 35 vars */) = 0',
     4879, 78770.0, "clock"),
    ('4886  21:52:50.643769 execve("/usr/bin/sh", ["sh", "-c", "cat /nonexistent; true"], 0x7ffec93558b0 /* 35 vars */) = 0',
     4886, 78770.643769, "clock"),
    ('4894       0.000111 openat(AT_FDCWD, "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache", O_RDONLY) = 3',
     4894, 0.000111, "relative"),
    ('4900  1795816370.664160538 execve("/usr/bin/sh", ["sh", "-c", "cat /nonexistent; true"], 0x7ffd6c859ac0 /* 35 vars */) = 0',
     4900, 1795816370.664160538, "unix"),
    ('4915  1795816370.685 openat(AT_FDCWD, "/nonexistent", O_RDONLY) = -1 ENOENT (No such file or directory)',
     4915, 1795816370.685, "unix"),
    ('4922  21:52:50.698322540 openat(AT_FDCWD, "/nonexistent", O_RDONLY) = -1 ENOENT (No such file or directory)',
     4922, 78770.698322540, "clock"),
    ('4929  21:52:50.707977 (+     0.000120) openat(AT_FDCWD, "/nonexistent", O_RDONLY) = -1 ENOENT (No such file or directory)',
     4929, 78770.707977, "clock"),
    # terminal: strace -f -tt ... / strace -f -r ...
    ('[pid  4937] 21:52:50.715939 openat(AT_FDCWD, "/nonexistent", O_RDONLY) = -1 ENOENT (No such file or directory)',
     4937, 78770.715939, "clock"),
    ('21:52:50.716264 wait4(-1, 0x7ffe4b848e4c, WNOHANG, NULL) = -1 ECHILD (No child processes)',
     None, 78770.716264, "clock"),
    ('     0.000045 wait4(-1, 0x7ffe3900db8c, WNOHANG, NULL) = -1 ECHILD (No child processes)',
     None, 0.000045, "relative"),
    ('[pid  4942]      0.000048 <... execve resumed>) = 0', 4942, 0.000048, "relative"),
    ('[pid 123456] 1795816370.664160 close(3) = 0', 123456, 1795816370.664160, "unix"),
    ('123456 1795816370.664160 close(3) = 0', 123456, 1795816370.664160, "unix"),
    ('close(3)                                = 0', None, None, None),
    ('4849  close(3) = 0', 4849, None, None),
])
def test_prefixes(line, pid, ts, kind):
    p = P(line)
    assert p.pid == pid and p.ts_kind == kind
    assert p.ts == (None if ts is None else pytest.approx(ts, abs=1e-6))


def test_pid_column_cut_away():
    # the same line as in the -f -o log, without its "4849  " column
    p = P("1795816365.146580 chdir(\"/tmp/parse_d\") = 0 <0.000018>")
    assert p.pid is None and p.ts_kind == "unix" and p.name == "chdir"


def test_terminal_output_interleaved_with_program_output():
    # strace -f -tt (terminal): cat's stderr ran into strace's line
    p = P('cat: /nonexistent[pid  4937] 21:52:50.715991 openat(AT_FDCWD, '
          '"/usr/share/locale/C.UTF-8/LC_MESSAGES/libc.mo", O_RDONLY) = -1 ENOENT '
          '(No such file or directory)')
    assert p.pid == 4937 and p.name == "openat" and p.errno == "ENOENT"


# --- unfinished / resumed / detached --------------------------------------------

def test_unfinished_and_resumed_join():
    # strace -f -o LOG -ttt -T -y PY /tmp/parse_prog.py
    u = P("4849  1795816365.038737 wait4(4850,  <unfinished ...>\n")
    assert (u.kind, u.name, u.args, u.ret, u.duration) == (
        "unfinished", "wait4", "4850, ", None, None)
    r = P("4849  1795816365.090711 <... wait4 resumed>[{WIFEXITED(s) && WEXITSTATUS(s) == 3}], "
          "0, NULL) = 4850 <0.051964>\n")
    assert (r.kind, r.name, r.ret) == ("resumed", "wait4", "4850")
    assert r.args == "[{WIFEXITED(s) && WEXITSTATUS(s) == 3}], 0, NULL"
    assert split_args(u.args + r.args) == [
        "4850", "[{WIFEXITED(s) && WEXITSTATUS(s) == 3}]", "0", "NULL"]


def test_unfinished_last_arg_without_comma():
    p = P("4854  1795816365.518638 kill(4849, SIGUSR1 <unfinished ...>")
    assert (p.kind, p.name, p.args) == ("unfinished", "kill", "4849, SIGUSR1")
    r = P("4854  1795816365.518796 <... kill resumed>) = 0 <0.000149>")
    assert (r.kind, r.name, r.args, r.ret) == ("resumed", "kill", "", "0")


def test_resumed_then_unfinished_again():
    p = P("4851  1795816365.141820 <... clock_nanosleep resumed> <unfinished ...>) = ?")
    assert (p.kind, p.name, p.args, p.ret, p.errno) == (
        "resumed", "clock_nanosleep", "", "?", None)


def test_detached():
    # strace -ttt -T -y -p PID -o LOG, then SIGINT to strace
    p = P("1795816383.895401 wait4(-1,  <detached ...>\n")
    assert (p.kind, p.name, p.args, p.pid) == ("detached", "wait4", "-1, ", None)
    p = P("1795816397.387142 restart_syscall(<... resuming interrupted restart_syscall ...> <detached ...>")
    assert (p.kind, p.name) == ("detached", "restart_syscall")
    assert p.args == "<... resuming interrupted restart_syscall ...>"


def test_pid_changed_by_thread_execve():
    # strace -f -o LOG -ttt -T -y -s 20: a thread calls execve
    p = P('5507  1795816404.792455 execve("/bin/true", ["true", "xxxxxxxxxxxxxxxxxxxx"...], '
          '0x7ffe000b8408 /* 35 vars */ <pid changed to 5506 ...>')
    assert (p.pid, p.kind, p.name, p.pid_in_text) == (5507, "unfinished", "execve", 5506)
    assert split_args(p.args)[2] == "0x7ffe000b8408 /* 35 vars */"
    s = P("5506  1795816404.792987 +++ superseded by execve in pid 5507 +++")
    assert (s.kind, s.pid, s.pid_in_text) == ("info", 5506, 5507)
    assert s.args == "superseded by execve in pid 5507"
    r = P("5506  1795816404.792999 <... execve resumed>) = 0 <0.000525>")
    assert (r.kind, r.name, r.ret) == ("resumed", "execve", "0")


def test_returned_path_ending_in_dots_is_not_pending():
    p = P("9  openat(AT_FDCWD, \"x...\", O_RDONLY) = 3</tmp/x...>")
    assert (p.kind, p.ret, p.ret_path) == ("call", "3", "/tmp/x...")


# --- signals, exits, strace messages ----------------------------------------------

def test_signal_lines():
    p = P("4849  1795816365.090761 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=4850, "
          "si_uid=0, si_status=3, si_utime=0, si_stime=0} ---\n")
    assert (p.kind, p.name, p.pid) == ("signal", "SIGCHLD", 4849)
    assert p.args == ("{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=4850, si_uid=0, "
                      "si_status=3, si_utime=0, si_stime=0}")
    assert p.ret is None
    p = P("4853  1795816365.214525 --- stopped by SIGSTOP ---")
    assert (p.kind, p.name, p.args) == ("signal", "SIGSTOP", "")
    p = P("21:52:50.716221 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=4937, si_uid=0, "
          "si_status=1, si_utime=0, si_stime=0} ---")
    assert p.pid is None and p.name == "SIGCHLD"


def test_exit_and_kill_lines():
    p = P("4850  1795816365.090680 +++ exited with 3 +++\n")
    assert (p.kind, p.status, p.pid, p.name) == ("exited", 3, 4850, None)
    p = P("4851  1795816365.142478 +++ killed by SIGKILL +++")
    assert (p.kind, p.name, p.core, p.status) == ("killed", "SIGKILL", False, None)
    p = P("4852  1795816365.163351 +++ killed by SIGSEGV (core dumped) +++")
    assert (p.kind, p.name, p.core) == ("killed", "SIGSEGV", True)
    p = P("[pid  4937] 21:52:50.716169 +++ exited with 1 +++")
    assert (p.pid, p.status) == (4937, 1)
    p = P("     0.000152 +++ exited with 0 +++")
    assert (p.pid, p.ts_kind, p.status) == (None, "relative", 0)


def test_strace_messages():
    p = P("strace: Process 4937 attached\n")
    assert (p.kind, p.pid_in_text, p.pid) == ("attached", 4937, None)
    p = P("strace: Process 4969 attached with 3 threads")
    assert (p.kind, p.pid_in_text) == ("attached", 4969)
    p = P("strace: Process 5050 detached")
    assert (p.kind, p.pid_in_text) == ("detached", 5050)
    p = P("strace: exec: No such file or directory")
    assert (p.kind, p.args) == ("info", "exec: No such file or directory")


# --- decorations (strace -o LOG -y|-yy|-x|-xx PY /tmp/parse_names.py) ------------

def test_decorated_result_escapes():
    p = P(r'openat(AT_FDCWD</tmp/parse_d>, "/tmp/parse_d/a>b", O_WRONLY|O_CREAT|O_CLOEXEC, 0644) = 3</tmp/parse_d/a\76b>')
    assert p.ret_path == "/tmp/parse_d/a>b"
    p = P(r'openat(AT_FDCWD</tmp/parse_d>, "/tmp/parse_d/q\"uote", O_WRONLY|O_CREAT|O_CLOEXEC, 0644) = 3</tmp/parse_d/q\"uote>')
    assert p.ret_path == '/tmp/parse_d/q"uote'
    p = P(r'openat(AT_FDCWD</tmp/parse_d>, "/tmp/parse_d/ff\377", O_WRONLY|O_CREAT|O_CLOEXEC, 0644) = 3</tmp/parse_d/ff\377>')
    assert os.fsencode(p.ret_path) == b"/tmp/parse_d/ff\xff"
    p = P(r'openat(AT_FDCWD</tmp/parse_d>, "\x2f\x74\x6d\x70\x2f\x70\x61\x72\x73\x65\x5f\x64\x2f\x66\x66\xff", O_WRONLY|O_CREAT|O_CLOEXEC, 0644) = 3<\x2f\x74\x6d\x70\x2f\x70\x61\x72\x73\x65\x5f\x64\x2f\x66\x66\xff>')
    assert os.fsencode(p.ret_path) == b"/tmp/parse_d/ff\xff"
    p = P("openat(AT_FDCWD</tmp/parse_d>, \"/tmp/parse_d/[bold]x[_]\", O_WRONLY|O_CREAT|O_CLOEXEC, 0644) = 3</tmp/parse_d/[bold]x[_]>")
    assert p.ret_path == "/tmp/parse_d/[bold]x[_]"
    p = P(r'openat(AT_FDCWD</tmp/parse_d>, "/tmp/parse_d/\33[31mred", O_WRONLY|O_CREAT|O_CLOEXEC, 0644) = 3</tmp/parse_d/\33[31mred>')
    assert p.ret_path == "/tmp/parse_d/\x1b[31mred"
    p = P(r'openat(AT_FDCWD</tmp/parse_d>, "/tmp/parse_d/nl\nx", O_WRONLY|O_CREAT|O_CLOEXEC, 0644) = 3</tmp/parse_d/nl\nx>')
    assert p.ret_path == "/tmp/parse_d/nl\nx"


def test_non_path_results():
    assert P("socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3<socket:[4616]>").ret_path is None
    assert P("socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0) = 3<UNIX-STREAM:[5361]>").ret_path is None
    p = P("accept4(3<TCP:[127.0.0.1:56075]>, {sa_family=AF_INET, sin_port=htons(60592), "
          "sin_addr=inet_addr(\"127.0.0.1\")}, [16], SOCK_CLOEXEC) = 5<TCP:[127.0.0.1:56075->127.0.0.1:60592]>")
    assert (p.ret, p.ret_path) == ("5", None)
    p = P('memfd_create("mem,fd", MFD_CLOEXEC)     = 4</memfd:mem,fd>(deleted)')
    assert (p.ret, p.ret_path) == ("4", None)
    p = P('openat(AT_FDCWD</tmp/parse_d>, "/dev/null", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 3</dev/null<char 1:3>>')
    assert (p.ret, p.ret_path) == ("3", "/dev/null")


@pytest.mark.parametrize("token, expected", [
    ("3", (3, None, None, False)),
    ("-1", (-1, None, None, False)),
    ("AT_FDCWD", (-100, None, None, False)),
    ("AT_FDCWD</tmp/parse_d>", (-100, "/tmp/parse_d", "/tmp/parse_d", False)),
    (r"3</tmp/parse_d/a\74b>", (3, "/tmp/parse_d/a<b", "/tmp/parse_d/a<b", False)),
    (r"3</tmp/parse_d/back\\slash>", (3, "/tmp/parse_d/back\\slash", "/tmp/parse_d/back\\slash", False)),
    ("3</tmp/parse_d/com,ma>", (3, "/tmp/parse_d/com,ma", "/tmp/parse_d/com,ma", False)),
    ("3</tmp/parse_d/br{a}ce(p)>", (3, "/tmp/parse_d/br{a}ce(p)", "/tmp/parse_d/br{a}ce(p)", False)),
    (r"3</tmp/parse_d/\303\251t\303\251>", (3, "/tmp/parse_d/été", "/tmp/parse_d/été", False)),
    ("3<socket:[4616]>", (3, None, "socket:[4616]", False)),
    ("3<pipe:[4617]>", (3, None, "pipe:[4617]", False)),
    ("7<anon_inode:[eventfd]>", (7, None, "anon_inode:[eventfd]", False)),
    ("4<TCP:[127.0.0.1:60592->127.0.0.1:56075]>", (4, None, "TCP:[127.0.0.1:60592->127.0.0.1:56075]", False)),
    ("3</dev/null<char 1:3>>", (3, "/dev/null", "/dev/null", False)),
    ("3</tmp/parse_d/deleted file>(deleted)", (3, "/tmp/parse_d/deleted file", "/tmp/parse_d/deleted file", True)),
    ("AT_FDCWD</tmp/parse_d/gone (deleted)>", (-100, "/tmp/parse_d/gone", "/tmp/parse_d/gone", True)),
    ("4</memfd:mem,fd>(deleted)", (4, None, "/memfd:mem,fd", True)),
    # -y -xx
    (r"AT_FDCWD<\x2f\x74\x6d\x70\x2f\x70\x61\x72\x73\x65\x5f\x64>", (-100, "/tmp/parse_d", "/tmp/parse_d", False)),
    (r"3<\x73\x6f\x63\x6b\x65\x74\x3a\x5b\x35\x33\x39\x32\x5d>", (3, None, "socket:[5392]", False)),
    ("NULL", None), ("0x7ffd", None), ('"3"', None), ("", None), ("3<", None),
])
def test_decode_fd(token, expected):
    assert decode_fd_full(token) == expected
    assert decode_fd(token) == (None if expected is None else expected[:2])


# --- strings ----------------------------------------------------------------------

def test_decode_string_all_escapes():
    assert decode_string(r'"a\"b\\c\n\t\r\v\f\a\b"') == ('a"b\\c\n\t\r\v\f\a\b', False)
    assert decode_string(r'"\0\1\33[1m\177\0011"') == ("\0\1\x1b[1m\x7f\x011", False)
    assert decode_string(r'"\x2f\x74\xff"') == ("/t\udcff", False)
    assert decode_string('"plain"') == ("plain", False)
    assert decode_string('""') == ("", False)


def test_decode_string_real_tokens():
    # execve argv from strace -f -o LOG -ttt -T -y PY /tmp/parse_prog.py
    text, trunc = decode_string(r'"q\"u\\o\tte\n\1\303\277"')
    assert (text, trunc) == ('q"u\\o\tte\n\x01\xff', False)
    assert decode_string('"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"...') == ("a" * 32, True)
    # read() data, -y run
    assert decode_string(r'"\177ELF\2\1\1\3\0\0\0\0\0\0\0\0\3\0>\0\1\0\0\0\20t\2\0\0\0\0\0"...') == (
        "\x7fELF\x02\x01\x01\x03" + "\0" * 8 + "\x03\0>\0\x01\0\0\0\x10t\x02" + "\0" * 5, True)


@pytest.mark.parametrize("raw", [
    b"", b"plain", b"\xff\xfe", b"caf\xc3\xa9", b'q"uote\\', bytes(range(256)),
    b"\x1b[31mred\x1b[0m", b"[bold]x[/]", b"a\nb\tc\rd\x0be\x0cf\x07g\x08",
])
def test_decode_string_round_trip(raw):
    """Encode bytes the way strace does (C escapes, octal, or -x hex) and
    get the same bytes back through os.fsencode."""
    simple = {0x22: '\\"', 0x5c: "\\\\", 0x0a: "\\n", 0x09: "\\t", 0x0d: "\\r",
              0x0b: "\\v", 0x0c: "\\f"}
    out = []
    for i, c in enumerate(raw):
        if c in simple:
            out.append(simple[c])
        elif 0x20 <= c < 0x7f:
            out.append(chr(c))
        else:
            nxt = raw[i + 1:i + 2]
            # strace pads octal to 3 digits only when a digit follows
            out.append("\\%03o" % c if nxt and nxt in b"01234567" else "\\%o" % c)
    token = '"' + "".join(out) + '"'
    text, trunc = decode_string(token)
    assert os.fsencode(text) == raw and trunc is False
    hexed = '"' + "".join("\\x%02x" % c for c in raw) + '"...'
    text, trunc = decode_string(hexed)
    assert os.fsencode(text) == raw and trunc is True


@pytest.mark.parametrize("token", [
    "NULL", "0x7ffd", '"unterminated', '"bad"quote"', '"ends in escape\\"', "", '"', "abc",
    '"a"..', '"a"x',
])
def test_decode_string_rejects(token):
    assert decode_string(token) is None


# --- split_args -------------------------------------------------------------------

def test_split_execve():
    p = P('4849  1795816365.592141 execve("/bin/true", ["/bin/true", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"..., '
          r'"q\"u\\o\tte\n\1\303\277"], 0x7f17f4075a50 /* 36 vars */) = 0 <0.000964>')
    args = split_args(p.args)
    assert args == ['"/bin/true"',
                    r'["/bin/true", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"..., "q\"u\\o\tte\n\1\303\277"]',
                    "0x7f17f4075a50 /* 36 vars */"]
    argv = split_args(args[1][1:-1])
    assert [decode_string(a) for a in argv] == [
        ("/bin/true", False), ("a" * 32, True), ('q"u\\o\tte\n\x01\xff', False)]


def test_split_nasty():
    assert split_args(r'AT_FDCWD</tmp/d/com,ma [x] {y} (z) \"q\" s' + "'q" + r'>, "/a\", b", 0') == [
        r'AT_FDCWD</tmp/d/com,ma [x] {y} (z) \"q\" s' + "'q" + '>', r'"/a\", b"', "0"]
    assert split_args("3</dev/null<char 1:3>>, 4<TCP:[1.2.3.4:5->6.7.8.9:10]>, 1<<20") == [
        "3</dev/null<char 1:3>>", "4<TCP:[1.2.3.4:5->6.7.8.9:10]>", "1<<20"]
    assert split_args("[{fd=4<pipe:[7204]>, events=POLLIN}], 1, 10") == [
        "[{fd=4<pipe:[7204]>, events=POLLIN}]", "1", "10"]
    assert split_args('{st_mode=S_IFREG|0644, st_size=34547, ...}, AT_EMPTY_PATH') == [
        "{st_mode=S_IFREG|0644, st_size=34547, ...}", "AT_EMPTY_PATH"]
    assert split_args('["a", "b", ...], 0x1 /* 2 vars */') == ['["a", "b", ...]', "0x1 /* 2 vars */"]
    assert split_args('"x"..., 832') == ['"x"...', "832"]
    assert split_args("[{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL") == [
        "[{WIFEXITED(s) && WEXITSTATUS(s) == 0}]", "0", "NULL"]
    assert split_args("4</tmp/a->, 5") == ["4</tmp/a->", "5"]
    assert split_args("") == [] and split_args("  ") == []
    assert split_args("x") == ["x"]
    assert split_args("a, , b") == ["a", "", "b"]


# --- garbage and robustness ------------------------------------------------------------

@pytest.mark.parametrize("line", [
    "", "\n", "hello world", "cat: /nonexistent: No such file or directory",
    "4849  1795816365.09",                                      # cut in the prefix
    '4849  1795816365.090711 openat(AT_FDCWD</tmp/parse_d>, "/usr/lib/x86_64-li',  # cut in args
    "4849  1795816365.090711 wait4(4850,  <unfinis",
    "4850  1795816365.090680 +++ exited with",
    "--- SIGCHLD {si_signo=SIGCHLD",
    " > /lib/x86_64-linux-gnu/libc.so.6(__libc_start_main+0x80) [0x29d90]",   # -k
    "\udcff\udcfe\x00\x01garbage(",
])
def test_garbage_is_none(line):
    assert parse_line(line) is None


def test_never_raises_on_random_input():
    rng = random.Random(1234)
    alphabet = ' ()[]{}<>",=\\.:+-?0123456789abcxyzEPERM_SIGCHLD\n\t'
    pieces = ["4849  ", "[pid  12] ", "1795816365.090711 ", "21:52:50 ", "open(", ") = ", "-1 ",
              "ENOENT ", "(x)", " <0.1>", "<... f resumed>", " <unfinished ...>", "+++ ",
              "--- ", " ---", "strace: Process ", "3</a>", "(deleted)", "\"", "\\", "<", ">"]
    for i in range(3000):
        kind = i % 3
        if kind == 0:
            s = os.urandom(rng.randrange(0, 200)).decode("utf-8", "surrogateescape")
        elif kind == 1:
            s = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 120)))
        else:
            s = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 12)))
        r = parse_line(s)
        assert r is None or isinstance(r, ParsedLine)
        if r is not None:
            split_args(r.args)
        for tok in split_args(s):
            decode_string(tok)
            decode_fd(tok)
            decode_fd_full(tok)


def test_every_cut_of_real_lines_never_raises():
    lines = [
        '4849  1795816365.090711 <... wait4 resumed>[{WIFEXITED(s) && WEXITSTATUS(s) == 3}], 0, NULL) = 4850 <0.051964>\n',
        r'4849  1795816365.592141 execve("/bin/true", ["/bin/true", "q\"u\\o\tte\n\1\303\277"], 0x7f17f4075a50 /* 36 vars */) = 0 <0.000964>',
        '5507  1795816404.792455 execve("/bin/true", ["true"], 0x7ffe000b8408 /* 35 vars */ <pid changed to 5506 ...>',
        '4852  1795816365.163351 +++ killed by SIGSEGV (core dumped) +++',
    ]
    for line in lines:
        for i in range(len(line) + 1):
            r = parse_line(line[:i])
            assert r is None or isinstance(r, ParsedLine)
            r = parse_line(line[i:])
            assert r is None or isinstance(r, ParsedLine)


@pytest.mark.parametrize("line", [
    "a(" + ") = 0 (" * 150000,
    "a(" + " = " * 300000,
    "x" * 1_000_000,
    "1 f(" + "<" * 1_000_000 + ") = 3<" + "<" * 1000,
    "f(x) = 3<" + "> <" * 300000,
    "x[pid 1] " * 100000,
    "<... f resumed>" + ") = " * 250000,
])
def test_huge_hostile_lines_are_fast(line):
    t0 = time.process_time()
    assert parse_line(line) is None
    assert time.process_time() - t0 < 5.0


def test_huge_real_shape_line():
    big = '"' + "y" * 1_000_000 + '"'
    p = P("1 write(1, " + big + ", 1000000) = 1000000 <0.001000>\n")
    assert (p.kind, p.ret, p.duration) == ("call", "1000000", 0.001)
    assert split_args(p.args) == ["1", big, "1000000"]
    p = P("1 write(1, " + big + " <unfinished ...>")
    assert p.kind == "unfinished" and p.args == "1, " + big


def test_parsed_line_has_slots():
    p = P("4849  close(3) = 0")
    assert not hasattr(p, "__dict__")
    with pytest.raises(AttributeError):
        p.other = 1
