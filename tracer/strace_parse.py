"""Parse single lines of ``strace`` text output (pure, stdlib only, no I/O).

This is the hot path of the strace-log importer: ``parse_line`` handles the
common complete-call shape with one compiled regular expression and keeps the
argument text raw; ``split_args``, ``decode_string`` and ``decode_fd`` are
only called when the importer needs an argument.

What strace 6.1 really prints (checked on this machine with -f -o, terminal
output, -t/-tt/-ttt/-r, --timestamps=unix,ns|ms, -T, -y, -yy,
--decode-fds=path|all, -x, -xx, -s, -p attach/detach):

* Prefix: ``"4849  "`` (``-o FILE -f``: pid left-aligned in 5 columns and a
  space, so pids of 6+ digits get one space) or ``"[pid  4937] "`` (terminal;
  the first process has no prefix).  Then the timestamp and one space:
  ``-t`` ``21:52:50``, ``-tt`` ``21:52:50.643769``, ``-ttt``
  ``1795816370.673823``, ``--timestamps=unix,ns`` ``1795816370.664160538``,
  ``unix,ms`` ``1795816370.683``, ``format:time,ns`` ``21:52:50.693251398``,
  ``-r`` ``"     0.000123"`` (integer part right-aligned in 6 columns, also
  with ``-f -o``: ``"4893       0.000000 execve(..."``).  ``-tt -r`` prints
  both: ``21:52:50.702852 (+     0.000000) ``; we keep the absolute time.
* Results are padded to column 40: ``exit_group(3)   = ?``.  ``-T`` appends
  ``" <0.000012>"`` (not for ``= ?`` exits, not for unfinished/detached).
* Decorations (-y, -yy, --decode-fds=path are identical for paths): the
  path is printed with the C-string escapes of a quoted string *plus*
  ``<`` -> ``\\74`` and ``>`` -> ``\\76``: ``3</tmp/d/a\\76b>``,
  ``3</tmp/d/q\\"uote>``, ``3</tmp/d/back\\\\slash>``, ``3</tmp/d/nl\\nx>``,
  ``3</tmp/d/\\33[31mred>``, ``3</tmp/d/\\303\\251t\\303\\251>``,
  ``3</tmp/d/ff\\377>``.  Spaces, commas, ``'``, ``[]{}()`` stay raw:
  ``3</tmp/d/[bold]x[_]>``, ``3</tmp/d/com,ma>``, ``3</tmp/d/br{a}ce(p)>``.
  So a raw ``<``/``>`` never belongs to the path itself.  Decorations are
  not truncated by ``-s``.
* ``-x``: a string (and a path decoration) that holds any non-printable or
  non-ASCII byte is printed entirely as ``\\xHH``: ``"\\x2f\\x74...\\xff"``,
  ``3<\\x2f\\x74...\\xff>``; strings with only ``\\n``/``\\t`` keep the C
  escapes.  ``-xx``: every string and every decoration is hex, including
  ``AT_FDCWD<\\x2f...>`` and ``3<\\x73\\x6f\\x63...>`` (= ``socket:[4616]``).
* Non-path decorations: ``-y``: ``socket:[4616]``, ``pipe:[4617]``,
  ``anon_inode:[eventfd]``, ``/memfd:NAME`` (+ ``(deleted)``).  ``-yy``
  (and --decode-fds=all): ``TCP:[9974]``, ``TCP:[127.0.0.1:56075->127.0.0.1:60592]``
  (a raw ``->``!), ``UNIX-STREAM:[9981->9982]``, and device files get a
  nested part: ``3</dev/null<char 1:3>>``.
* Deleted files: strace prints ``(deleted)`` *after* the decoration:
  ``3</tmp/d/deleted file>(deleted)``, ``4</memfd:mem,fd>(deleted)``, but
  the AT_FDCWD decoration keeps the kernel's suffix inside:
  ``AT_FDCWD</tmp/d/gone (deleted)>``.
* Other real shapes: ``wait4(4850,  <unfinished ...>``,
  ``<... wait4 resumed>[{WIFEXITED(s) ...}], 0, NULL) = 4850 <0.05>``,
  ``<... clock_nanosleep resumed> <unfinished ...>) = ?``,
  ``restart_syscall(<... resuming interrupted read ...>) = ? ERESTART_RESTARTBLOCK (Interrupted by signal)``,
  ``clock_nanosleep(..., {tv_sec=30, tv_nsec=0},  <detached ...>``,
  ``execve("/bin/true", [...], 0x7ffe... /* 35 vars */ <pid changed to 5506 ...>``,
  ``+++ superseded by execve in pid 5507 +++``, ``--- stopped by SIGSTOP ---``,
  ``strace: Process 4969 attached with 3 threads``, unknown syscalls as
  ``syscall_0x3e7(...)``.  In the terminal, program output can interleave
  with strace's (``cat: /x[pid  4937] 21:52:50 openat(...``); we recover
  the strace part when a ``[pid`` prefix follows the junk.

Not handled (return ``None``): ``-i`` / ``-n`` / ``-k`` extra columns, and
a terminal line split by an interleaved ``strace: Process N detached``.
"""

from __future__ import annotations

import re

__all__ = [
    "ParsedLine", "parse_line", "split_args", "decode_string", "decode_fd",
    "decode_fd_full", "decode_path_text",
]

AT_FDCWD = -100


class ParsedLine:
    """One parsed strace line.  See the module docstring and ``parse_line``."""

    __slots__ = ("pid", "ts", "ts_kind", "kind", "name", "args", "ret",
                 "ret_path", "errno", "duration", "status", "core",
                 "pid_in_text")

    def __init__(self, pid, ts, ts_kind, kind, name=None, args="", ret=None,
                 ret_path=None, errno=None, duration=None, status=None,
                 core=False, pid_in_text=None):
        self.pid = pid
        self.ts = ts
        self.ts_kind = ts_kind
        self.kind = kind
        self.name = name
        self.args = args
        self.ret = ret
        self.ret_path = ret_path
        self.errno = errno
        self.duration = duration
        self.status = status
        self.core = core
        self.pid_in_text = pid_in_text

    def __repr__(self):
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"ParsedLine({fields})"

    def __eq__(self, other):
        if not isinstance(other, ParsedLine):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    __hash__ = None


# --- the regular expressions ------------------------------------------------

# pid column: "1234  " (-o -f) or "[pid  1234] " (terminal).  Pids are at
# most 7 digits (pid_max <= 4194304), which also keeps a 10-digit
# "--timestamps=unix,s" stamp from being read as a pid.
_PID = r"(?:(\d{1,7})\ +|\[pid\ +(\d{1,7})\]\ )?"
# timestamp: clock (-t/-tt/format:time), unix (-ttt, 9+ integer digits) or
# relative (-r, right-aligned); "(+ rel) " after an absolute stamp is skipped.
_TS = (r"(?:(?:(\d\d):(\d\d):(\d\d(?:\.\d+)?)|(\d{9,}(?:\.\d+)?)|\ *(\d{1,8}\.\d+))\ "
       r"(?:\(\+\ *\d+\.\d+\)\ )?)?")
_PREFIX = _PID + _TS

# A -y decoration: "<" ... ">", where the text holds no raw "<" or ">"
# (paths escape them) except a nested -yy device part "<char 1:3>" and the
# "->" of -yy socket endpoints (followed by an address, never by the end of
# the token); then an optional "(deleted)".  Possessive: linear time.
_DECOR = r"<(?:->(?=[\w\[])|[^<>]|<[^<>]*+>)*+>(?:\(deleted\))?"
_NAME = (r"(?:([A-Za-z_]\w*|\?\?\?)\(|"
         r"<\.\.\.\ ([A-Za-z_]\w*|\?\?\?)\ resumed>(?:\ <unfinished\ \.\.\.>)?)")
# The result after " = ": return token, the -y decoration of a returned fd,
# "ERRNO (message)" or "(description)", and the -T duration.
_RESULT = (r"(-?\d+|0x[0-9a-fA-F]+|\?)"
           r"(" + _DECOR + r")?"
           r"(?:\ ([A-Z][A-Z0-9_]*)\ \(.*\)|\ \(.*\))?"
           r"(?:\ <(\d+\.\d+)>)?\n?\Z")

# prefix and name: for unfinished / detached lines and long lines
_HEAD_match = re.compile(_PREFIX + _NAME).match
# the result alone, matched at the position after " = "
_TAIL_match = re.compile(_RESULT, re.S).match
# Lines longer than this skip the one-expression fast path: with many ") = "
# in a line its backtracking is quadratic (a 1 MB junk line would hang).
_FAST_MAX = 4096
_PID_CHANGED = re.compile(r"pid\ changed\ to\ (\d{1,7})\ \.\.\.>\Z").match
# The whole complete line in one expression (the fast path).  The greedy
# (.*) finds the *last* ") = " whose remainder is a valid result, so strings
# holding ") = " and returned paths holding " = " are handled.
_CALL = re.compile(_PREFIX + _NAME + r"(.*)\)\ +=\ " + _RESULT, re.S)
_CALL_match = _CALL.match

_PREFIX_RE = re.compile(_PREFIX + r"(.*)", re.S)

# A complete call whose result the fast expression did not recognise.
_LOOSE_CALL = re.compile(
    r"(?:([A-Za-z_]\w*|\?\?\?)\(|<\.\.\.\ ([A-Za-z_]\w*|\?\?\?)\ resumed>(?:\ <unfinished\ \.\.\.>)?)"
    r"(.*)\)\ +=\ (\S+)(?:\ ([A-Z][A-Z0-9_]*)\ \(.*?)?(?:\ <(\d+\.\d+)>)?\Z", re.S)
_SIGNAL = re.compile(r"---\ ([A-Z][A-Z0-9_+-]*)\ (\{.*\})\ ---\Z", re.S)
_STOPPED = re.compile(r"---\ stopped\ by\ ([A-Z][A-Z0-9_+-]*)\ ---\Z")
_EXITED = re.compile(r"\+\+\+\ exited\ with\ (\d{1,10})\ \+\+\+\Z")
_KILLED = re.compile(r"\+\+\+\ killed\ by\ ([A-Z][A-Z0-9_+-]*)(\ \(core\ dumped\))?\ \+\+\+\Z")
_SUPERSEDED = re.compile(r"\+\+\+\ superseded\ by\ execve\ in\ pid\ (\d{1,7})\ \+\+\+\Z")
_PROCESS = re.compile(r"strace:\ Process\ (\d{1,7})\ (attached|detached)(?:\ with\ \d+\ threads)?\Z")


def _ts(h, mi, s, unix, rel):
    if h is not None:
        return int(h) * 3600 + int(mi) * 60 + float(s), "clock"
    if unix is not None:
        return float(unix), "unix"
    if rel is not None:
        return float(rel), "relative"
    return None, None


def parse_line(line: str) -> ParsedLine | None:
    """Parse one line of strace output; ``None`` when strace does not write
    such a line.  Never raises."""
    if line[-5:] != "...>\n" and line[-4:] != "...>" and len(line) <= _FAST_MAX:
        m = _CALL_match(line)
        if m is not None:
            pid, tpid, h, mi, s, unix, rel, name, rname, args, ret, dec, errno, dur = m.groups()
            if pid is not None:
                pid = int(pid)
            elif tpid is not None:
                pid = int(tpid)
            if unix is not None:
                ts = float(unix)
                tk = "unix"
            elif h is not None:
                ts = int(h) * 3600 + int(mi) * 60 + float(s)
                tk = "clock"
            elif rel is not None:
                ts = float(rel)
                tk = "relative"
            else:
                ts = tk = None
            if dec is not None:
                # the common case inline: "</plain/path>"
                if dec[1] == "/" and dec[-1] == ">" and "\\" not in dec \
                        and dec.count("<") == 1 and dec[1:8] != "/memfd:":
                    dec = dec[1:-1]
                else:
                    dec = _ret_path(dec)
            if rname is None:
                return ParsedLine(pid, ts, tk, "call", name, args, ret, dec, errno,
                                  None if dur is None else float(dur))
            return ParsedLine(pid, ts, tk, "resumed", rname, args, ret, dec, errno,
                              None if dur is None else float(dur))
    try:
        r = _parse_slow(line)
        if r is None:
            # Terminal output where the program's own output ran into
            # strace's: "cat: /nonexistent[pid  4937] 21:52:50.715991 openat(...".
            i = line.find("[pid ", 1)
            if i > 0:
                r = _parse_slow(line[i:])
        return r
    except Exception:  # pragma: no cover - defensive: never raise on input
        return None


def _ret_path(dec: str) -> str | None:
    # dec is "<...>" or "<...>(deleted)"
    if dec[-1] == ")":
        dec = dec[:-9]
    info = _decoration(dec[1:-1])
    return info[0]


def _pending(line: str) -> ParsedLine | None:
    """An unfinished / detached / pid-changed call line, or None."""
    m = _HEAD_match(line)
    if m is None:
        return None
    pid, tpid, h, mi, s, unix, rel, name, rname = m.groups()
    p = m.end()
    e = len(line)
    if line[-1:] == "\n":
        e -= 1
    k = line.rfind(" <", p, e)
    if k == -1:
        return None
    marker = line[k + 2:e]
    if marker == "unfinished ...>":
        kind = "unfinished"
        newpid = None
    elif marker == "detached ...>":
        kind = "detached"
        newpid = None
    else:
        r = _PID_CHANGED(marker)
        if r is None:
            return None
        # execve by a non-leader thread: it goes on as pid N
        kind = "unfinished"
        newpid = int(r.group(1))
    ts, tk = _ts(h, mi, s, unix, rel)
    pid = int(pid) if pid is not None else (int(tpid) if tpid is not None else None)
    return ParsedLine(pid, ts, tk, kind, name if rname is None else rname,
                      line[p:k], pid_in_text=newpid)


def _call_safe(line: str, pid, ts, tk, tries: int = 16) -> ParsedLine | None:
    """A complete call in linear time: the head, then the last few " = "
    whose remainder is a valid result."""
    m = _HEAD_match(line)
    if m is None:
        return None
    name, rname = m.group(8, 9)
    p = m.end()
    end = len(line)
    for _ in range(tries):
        j = line.rfind(" = ", p, end)
        if j == -1:
            return None
        end = j + 2
        a = j                            # strace pads ")" to column 40
        while a > p and line[a - 1] == " ":
            a -= 1
        if a <= p or line[a - 1] != ")":
            continue
        t = _TAIL_match(line, j + 3)
        if t is None:
            continue
        ret, dec, errno, dur = t.groups()
        return ParsedLine(pid, ts, tk, "call" if rname is None else "resumed",
                          name if rname is None else rname, line[p:a - 1], ret,
                          None if dec is None else _ret_path(dec), errno,
                          None if dur is None else float(dur))
    return None


def _parse_slow(line: str) -> ParsedLine | None:
    r = _pending(line)
    if r is not None:
        return r
    m = _PREFIX_RE.match(line)
    if m is None:  # pragma: no cover - the expression matches any string
        return None
    pid, tpid, h, mi, s, unix, rel, rest = m.groups()
    if rest[-1:] == "\n":
        rest = rest[:-1]
    pidv = int(pid) if pid is not None else (int(tpid) if tpid is not None else None)
    ts, tk = _ts(h, mi, s, unix, rel)
    r = _call_safe(line, pidv, ts, tk)
    if r is not None:
        # a long line, or a complete call ending in "...>" ("= 3</x...>")
        return r
    c = rest[:1]
    if c == "-":
        r = _SIGNAL.match(rest)
        if r is not None:
            return ParsedLine(pidv, ts, tk, "signal", r.group(1), r.group(2))
        r = _STOPPED.match(rest)
        if r is not None:
            # "--- stopped by SIGSTOP ---": a signal line with args ''.
            return ParsedLine(pidv, ts, tk, "signal", r.group(1), "")
    elif c == "+":
        r = _EXITED.match(rest)
        if r is not None:
            return ParsedLine(pidv, ts, tk, "exited", status=int(r.group(1)))
        r = _KILLED.match(rest)
        if r is not None:
            return ParsedLine(pidv, ts, tk, "killed", r.group(1),
                              core=r.group(2) is not None)
        r = _SUPERSEDED.match(rest)
        if r is not None:
            # The thread-group leader's old thread ends; the execve of thread
            # pid_in_text goes on under this pid.
            return ParsedLine(pidv, ts, tk, "info", args=rest[4:-4],
                              pid_in_text=int(r.group(1)))
    elif c == "s" and rest.startswith("strace: "):
        r = _PROCESS.match(rest)
        if r is not None:
            return ParsedLine(pidv, ts, tk, r.group(2), pid_in_text=int(r.group(1)))
        return ParsedLine(pidv, ts, tk, "info", args=rest[8:])
    if rest.strip() == "<detached ...>":
        # terminal artefact: "wait4(-1, strace: Process 1 detached\n <detached ...>"
        return ParsedLine(pidv, ts, tk, "detached")
    r = _LOOSE_CALL.match(rest) if len(rest) <= _FAST_MAX else None
    if r is not None:
        name, rname, args, ret, errno, dur = r.groups()
        rp = None
        i = ret.find("<")
        if i > 0 and ret.endswith(">"):
            rp = _ret_path(ret[i:])
            ret = ret[:i]
        return ParsedLine(pidv, ts, tk, "call" if rname is None else "resumed",
                          name if rname is None else rname, args, ret, rp, errno,
                          None if dur is None else float(dur))
    return None


# --- strings ----------------------------------------------------------------

_SIMPLE_ESC = {
    ord("n"): b"\n", ord("t"): b"\t", ord("r"): b"\r", ord("v"): b"\v",
    ord("f"): b"\f", ord("a"): b"\a", ord("b"): b"\b", ord('"'): b'"',
    ord("\\"): b"\\", ord("'"): b"'", ord("?"): b"?",
}
_ESC = re.compile(rb"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)", re.S)


def _esc_sub(m):
    e = m.group(1)
    c = e[0]
    if c == 120 and len(e) > 1:          # \xHH
        return bytes((int(e[1:], 16),))
    if 48 <= c <= 55:                    # \NNN octal
        return bytes((int(e, 8) & 0xFF,))
    r = _SIMPLE_ESC.get(c)
    return r if r is not None else e


def _unescape(text: str) -> str:
    """Undo strace's C escapes; bytes that are not UTF-8 come back as
    surrogates (``os.fsencode`` restores them)."""
    if "\\" not in text:
        return text
    b = text.encode("utf-8", "surrogateescape")
    return _ESC.sub(_esc_sub, b).decode("utf-8", "surrogateescape")


decode_path_text = _unescape


def decode_string(token: str) -> tuple[str, bool] | None:
    """Decode a strace C-string token (``"a\\"b\\n\\303\\251"...``) into
    ``(text, truncated)``; ``None`` when the token is not a quoted string."""
    if not isinstance(token, str):
        return None
    token = token.strip()
    n = len(token)
    if n < 2 or token[0] != '"':
        return None
    truncated = False
    if token.endswith('"...') and n >= 5:
        end = n - 3
        truncated = True
    elif token[-1] == '"':
        end = n
    else:
        return None
    body = token[1:end - 1]
    # the closing quote must not be escaped, and no raw quote may be inside
    i = 0
    while True:
        j = body.find("\\", i)
        k = body.find('"', i)
        if k != -1 and (j == -1 or k < j):
            return None
        if j == -1:
            break
        if j + 1 >= len(body):
            return None                 # the final quote was escaped
        i = j + 2
    return _unescape(body), truncated


# --- fds and decorations ----------------------------------------------------

def _decoration(inner: str) -> tuple[str | None, str, bool]:
    """(path or None, decoded decoration text, deleted) for the text between
    the outer ``<`` and ``>`` of a decoration."""
    # -yy device files: "/dev/null<char 1:3>"; paths escape '<' so the first
    # raw '<' starts the device part.
    i = inner.find("<")
    if i > 0 and inner[-1] == ">":
        inner = inner[:i]
    text = _unescape(inner)
    deleted = False
    if text.endswith(" (deleted)"):     # AT_FDCWD</gone (deleted)>
        text = text[:-10]
        deleted = True
    if text[:1] == "/" and not text.startswith("/memfd:"):
        return text, text, deleted
    return None, text, deleted


_FD = re.compile(r"(-?\d{1,10}|AT_FDCWD)(?:<(.*)>(\(deleted\))?)?\Z", re.S)


def decode_fd_full(token: str) -> tuple[int, str | None, str | None, bool] | None:
    """``(fd, path, decoration, deleted)`` for an fd argument or result.

    *path* is the decoded filesystem path or ``None`` (no decoration, or a
    socket/pipe/anon_inode/memfd one); *decoration* is the decoded text of
    any decoration (``'socket:[4616]'``, ``'TCP:[1.2.3.4:5->6.7.8.9:10]'``);
    *deleted* is True for ``3</x>(deleted)`` and ``AT_FDCWD</x (deleted)>``.
    """
    if not isinstance(token, str):
        return None
    m = _FD.match(token.strip())
    if m is None:
        return None
    num, inner, deleted = m.groups()
    fd = AT_FDCWD if num == "AT_FDCWD" else int(num)
    if inner is None:
        return fd, None, None, False
    path, text, dele = _decoration(inner)
    return fd, path, text, dele or deleted is not None


def decode_fd(token: str) -> tuple[int, str | None] | None:
    """``'3'`` -> ``(3, None)``; ``'3</tmp/x>'`` -> ``(3, '/tmp/x')``;
    ``'AT_FDCWD'`` -> ``(-100, None)``; non-path decorations -> ``(fd, None)``;
    ``None`` when the token is not an fd."""
    r = decode_fd_full(token)
    if r is None:
        return None
    return r[0], r[1]


# --- argument splitting -----------------------------------------------------

_SIG = re.compile(r'\\.|"(?:[^"\\]|\\.)*"|[][{}()<>,]', re.S)


def split_args(args: str) -> list[str]:
    """Split an argument text at its top-level commas.

    Respects ``"..."`` strings (with escapes and a trailing ``...``),
    ``{}``, ``[]``, ``()`` and ``<...>`` decorations (which may hold commas,
    brackets, quotes, ``->`` and a nested ``<char 1:3>``).  Tokens are
    stripped; ``/* 35 vars */`` stays in its token; an empty text gives [].
    """
    if not args or not args.strip():
        return []
    out = []
    start = 0
    depth = 0
    angle = 0
    n = len(args)
    for m in _SIG.finditer(args):
        c = m.group()
        if len(c) != 1:
            continue                     # a string or an escape: opaque
        p = m.start()
        if angle:
            if c == "<":
                angle += 1
            elif c == ">":
                # "->" inside -yy socket endpoints is followed by an address;
                # a path ending in "-" is followed by the end of the token
                if args[p - 1] == "-" and p + 1 < n:
                    q = args[p + 1]
                    if q == "[" or q == "_" or q.isalnum():
                        continue
                angle -= 1
            continue
        if c == ",":
            if depth == 0:
                out.append(args[start:p].strip())
                start = p + 1
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            if depth:
                depth -= 1
        elif c == "<":
            # "1<<20" is a shift, not a decoration
            if (p + 1 < n and args[p + 1] == "<") or (p and args[p - 1] == "<"):
                continue
            angle = 1
    out.append(args[start:].strip())
    return out


# --- benchmark --------------------------------------------------------------

def _bench(path: str, repeat: int = 5) -> None:  # pragma: no cover
    """Print us/line for a bare ``for line in f: pass`` and for parse_line.

    Both CPU time (process_time: robust when other jobs load the machine)
    and wall time are shown; each figure is the best of *repeat* runs."""
    import time

    def run(parse, clock):
        t0 = clock()
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            if parse:
                for line in f:
                    parse_line(line)
            else:
                for line in f:
                    pass
        return clock() - t0

    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        lines = f.readlines()
    n = max(len(lines), 1)
    res = {}
    for clock in (time.process_time, time.perf_counter):
        for parse in (False, True):
            res[clock, parse] = min(run(parse, clock) for _ in range(repeat)) / n * 1e6
    kinds: dict = {}
    bad = 0
    for line in lines:
        p = parse_line(line)
        if p is None:
            bad += 1
        else:
            kinds[p.kind] = kinds.get(p.kind, 0) + 1
    print(f"{path}: {len(lines)} lines, {sum(map(len, lines)) / n:.0f} chars/line")
    for clock, label in ((time.process_time, "cpu "), (time.perf_counter, "wall")):
        scan, parse = res[clock, False], res[clock, True]
        print(f"  {label}: scan {scan:.3f} us/line, scan+parse_line {parse:.3f} us/line,"
              f" parse_line alone {parse - scan:.3f} us/line")
    print(f"  kinds: {kinds}, unparsed: {bad}")


if __name__ == "__main__":  # pragma: no cover
    import sys
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tracer.strace_parse STRACE_LOG")
    _bench(sys.argv[1])
