"""Differential tests: the Rust line parser (fsrace._core.parse_line)
against the Python reference (tracer/strace_parse.py), field for field.

Every line of every strace log in tests/data/ (gzipped or not) goes through
both; then seeded mutations of those lines (bytes inserted, deleted,
replaced, lines cut and joined) do too.  The mutation alphabet is ASCII
plus bytes that are never valid UTF-8 (\\x80, \\xfe, \\xff): valid
non-ASCII letters and digits outside quoted strings are where the parsers
are allowed to differ (Python's ``\\w``/``\\d`` are Unicode; strace never
prints such bytes raw), see core/src/parse/mod.rs.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from fsrace import _core
from fsrace.tracer.strace_parse import ParsedLine, parse_line

DATA = Path(__file__).parent / "data"


def _logs() -> list[Path]:
    return sorted(p for p in DATA.rglob("*")
                  if p.is_file() and not p.name.startswith("MANIFEST"))


def _read(p: Path) -> bytes:
    raw = p.read_bytes()
    return gzip.decompress(raw) if p.name.endswith(".gz") else raw


def _lines(raw: bytes) -> list[bytes]:
    parts = raw.split(b"\n")
    out = [x + b"\n" for x in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def _both(line: bytes):
    py = parse_line(line.decode("utf-8", "surrogateescape"))
    t = _core.parse_line(line)
    rs = None if t is None else ParsedLine(*t)
    return py, rs


def _check(line: bytes) -> None:
    py, rs = _both(line)
    assert rs == py, f"line {line!r}\n python {py!r}\n rust   {rs!r}"
    if py is not None:  # same types too (1 == 1.0 would hide a float/int slip)
        for k in ParsedLine.__slots__:
            assert type(getattr(rs, k)) is type(getattr(py, k)), (k, line)


LOGS = _logs()


def test_installed_core_is_optimised():
    """pip install (also -e) builds the core in release mode: a debug build
    imports several times slower."""
    assert _core.debug_build is False


def test_there_are_logs():
    assert len(LOGS) >= 40


@pytest.mark.parametrize("log", LOGS, ids=lambda p: str(p.relative_to(DATA)))
def test_every_line_same_as_python(log: Path):
    lines = _lines(_read(log))
    assert lines
    parsed = 0
    for line in lines:
        _check(line)
        parsed += _core.parse_line(line) is not None
    assert parsed > 0


SHAPES = [
    # shapes the Python tests pin, in their strace variants
    b'4849  1795816365.090711 openat(AT_FDCWD</tmp/parse_d>, "/x", O_RDONLY) = 3</x> <0.000016>\n',
    b"[pid  4937] 21:52:50.715991 openat(AT_FDCWD, \"/x\", O_RDONLY) = -1 ENOENT (No such file) <0.00001>\n",
    b"cat: /x[pid  4937] 21:52:50 openat(AT_FDCWD, \"/x\", O_RDONLY) = 3\n",
    b"4893       0.000000 execve(\"/bin/true\", [\"true\"], 0x7ffe /* 35 vars */) = 0\n",
    b"21:52:50.702852 (+     0.000000) getpid() = 5\n",
    b"4850  wait4(4850,  <unfinished ...>\n",
    b"4850  <... wait4 resumed>[{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = 4850 <0.05>\n",
    b"4850  <... clock_nanosleep resumed> <unfinished ...>) = ?\n",
    b"4850  restart_syscall(<... resuming interrupted read ...>) = ? ERESTART_RESTARTBLOCK (Interrupted by signal)\n",
    b"4850  clock_nanosleep(CLOCK_REALTIME, 0, {tv_sec=30, tv_nsec=0},  <detached ...>\n",
    b"5507  execve(\"/bin/true\", [\"true\"], 0x7ffe /* 35 vars */ <pid changed to 5506 ...>\n",
    b"5506  +++ superseded by execve in pid 5507 +++\n",
    b"5506  --- stopped by SIGSTOP ---\n",
    b"5506  --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=5507} ---\n",
    b"5506  +++ exited with 3 +++\n",
    b"5506  +++ killed by SIGSEGV (core dumped) +++\n",
    b"strace: Process 4969 attached with 3 threads\n",
    b"strace: Process 4969 detached\n",
    b"4969  syscall_0x3e7(0x1, 0x2) = -1 ENOSYS (Function not implemented)\n",
    b"3 fstat(3</tmp/d/deleted file>(deleted), {st_mode=S_IFREG}) = 0\n",
    b"3 openat(AT_FDCWD, \"a\", O_RDONLY) = 3</tmp/a (deleted)>\n",
    b"3 openat(AT_FDCWD, \"a\", O_RDONLY) = 3</tmp/a...>\n",
    b"3 socket(AF_INET, SOCK_STREAM, 0) = 3<TCP:[1.2.3.4:5->6.7.8.9:10]>\n",
    b"3 openat(AT_FDCWD, \"/dev/null\", O_RDONLY) = 3</dev/null<char 1:3>>\n",
    b"3 memfd_create(\"x\", 0) = 4</memfd:x (deleted)>\n",
    b"3 fcntl(3, F_GETFL) = 0x8002 (flags O_RDWR|O_LARGEFILE) <0.000004>\n",
    b"3 read(3, \") = 1\", 5) = 5 <0.1>\n",
    b"3 read(3, \"x\", 5) = 5 ENOENT junk <0.1>\n",
    b"3 openat(AT_FDCWD, \"a\", O_RDONLY) = 3<\\x2f\\x74> <0.1>\n",
    b"wait4(-1, \n",
    b"   <detached ...>\n",
    b"--- SIGINT {si_signo=SIGINT} ---",
    b"",
    b"\n",
    b"\xff\xfe junk \x80\n",
    b"1234567 x() = 0\n",
    b"12345678 x() = 0\n",
    b"[pid 1] x() = 0\n",
    b"x() = 0x\n",
    b"x() = -\n",
    b"x() = 1<a-> b>\n",
    b"x() = 1<a->b>\n",
    b"x() = 1<\n",
    b"x() = 1 (\n",
    b"x() = 1 ()\n",
    b"x() = 1 E (x) <1.5>\n\n",
    b"x() =  1\n",
    b"x(\"" + b"a) = " * 2000 + b"\") = 0\n",
    b"x(" + b"y" * 5000 + b") = 0 <0.1>\n",
    b"x(" + b"\xff" * 5000 + b") = 0 E (q\n",
]


@pytest.mark.parametrize("line", SHAPES)
def test_shapes(line: bytes):
    _check(line)


_ALPHABET = (b" ()<>[]{}\"\\,=.-+:?/_\n\t\x0b\x1c0123456789"
             b"abcdefxyzAEINOSTX" b"\x80\xfe\xff")
_TOKENS = [b" = ", b") = ", b" <unfinished ...>", b"<... ", b" resumed>", b" <0.000123>",
           b"[pid 12] ", b"+++ ", b" +++", b"--- ", b" ---", b"...>", b"(deleted)",
           b" ENOENT (", b"AT_FDCWD<", b"\\", b"\\x2", b"\\303", b"->", b"<char 1:3>"]


def mutate(line: bytes, rnd: random.Random) -> bytes:
    """One to four random edits of a line."""
    b = bytearray(line)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.random()
        i = rnd.randint(0, len(b))
        if op < 0.3:
            b[i:i] = bytes([rnd.choice(_ALPHABET)])
        elif op < 0.5 and b:
            del b[min(i, len(b) - 1)]
        elif op < 0.7 and b:
            b[min(i, len(b) - 1)] = rnd.choice(_ALPHABET)
        elif op < 0.85:
            b[i:i] = rnd.choice(_TOKENS)
        else:
            b = b[:i]
    return bytes(b)


def test_mutated_lines_same_as_python():
    rnd = random.Random(14)
    pool = [line for log in LOGS for line in _lines(_read(log))]
    pool = rnd.sample(pool, min(len(pool), 4000)) + SHAPES
    checked = 0
    for line in pool:
        for _ in range(5):
            _check(mutate(line, rnd))
            checked += 1
    assert checked >= 5 * len(SHAPES)
