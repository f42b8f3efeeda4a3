"""The rules an event log must follow before it is analysed (pure: no I/O).

``analyzers/load.py`` reads the lines and feeds them to a ``Validator``;
this module only decides.  The aim: a bad log is refused with the first
offending line, or its good part is analysed *with a visible warning* --
never analysed silently into a different answer, never a crash further on.

Header (line 1)
    Must be a JSON object with ``"format": "fsrace-events"``; a version of
    another major is refused (checked by ``tracer/eventlog.read_header``).
    A UTF-8 byte-order mark before it and CRLF line endings are accepted.
    Known header fields of the wrong type (``command`` not a list of text,
    ``cwd`` not text ...) are dropped with a warning: renderers trust them.

Events
    Each line after the header is one JSON object.  Required: ``seq`` an
    int >= 1 (the format numbers from 1; 0 is the clocks' "before
    anything"), ``type`` text, ``proc`` text, ``pid`` an int; ``syscall``
    text on syscall/exec/fork/wait events.  Optional fields may be absent or
    null, and when present must have the documented type (``tracer/
    events.py``): ``ts``/``ts_end`` finite numbers, ``flags``/``errno``/
    ``path``/``path2``/``child_proc``/``signal`` text, ``fd``/``ofd``/
    ``child``/``code`` ints, ``lock`` an object with ``op`` in ex/sh/un and
    ``kind`` in flock/posix/ofd, ``argv`` a list of text, ``released_ofds``
    a list of ints, the flags ``thread``/``vfork``/``last``/... booleans.
    Ints must fit in 64 bits.  Unknown fields are allowed (the format grows
    by adding fields); an unknown ``type`` is a bad event (this reader would
    ignore it without a word otherwise).

    A bad event (not JSON, not an object, a field missing or of the wrong
    type, nesting too deep to parse) is *skipped with a counted warning*
    naming its line -- the same treatment as an unparsed strace line --
    while the bad events are at most a tenth of the event lines.  Beyond
    that, or when no good event is left, the log is *refused*: what remains
    is not the run, and "0 events, no races" would be a lie.  The last line
    of a log without a trailer may be cut short (the writer was killed): it
    is reported as such and not counted as bad.

Order
    ``seq`` must strictly increase down the file.  A line repeated exactly
    (same seq, same content) is dropped with a warning -- the answer is
    the same as without it.  When seqs go backwards (lines shuffled or
    logs reordered) the log is read again, *sorted back into seq order*
    with a warning saying how many lines were out of place: seq is the
    order of completion, so sorting restores the run exactly.  Two
    *different* events with one seq are refused: which one happened cannot
    be known.

Header and trailer in the middle
    A second header identical to the first (a line repeated) is ignored
    with a warning; a different one means two logs were joined, and is
    refused.  Likewise a second trailer: identical -> warning, different ->
    refused.  A trailer that is not the last line is accepted with a
    warning saying how many events follow it (they are real events, and
    dropping them would change the answer).

Trailer counts
    The trailer's ``events`` (events written) is checked against the event
    lines read; a mismatch is a warning ("lines were lost or added"), not a
    refusal: the events present are real.  Known trailer fields of the
    wrong type are dropped with a warning.  No trailer: the log was cut
    short; it is analysed, marked ``incomplete`` and warned about (a
    ``.gz`` that ends early is treated the same way by ``load.py``).
"""

from __future__ import annotations

import math
from typing import Any

from fsrace.tracer.events import EVENT_TYPES, FORMAT, TRAILER_FORMAT, VERSION

#: Ints in events must fit in a signed 64-bit word (the Rust core's i64).
INT_LIMIT = 1 << 63
#: |ts| beyond this is no time (year ~5000): reports would overflow on it.
TS_LIMIT = 1e11
#: Refuse when more than this share of the event lines are bad.
BAD_SHARE = 0.10
#: How many offending line numbers a warning lists.
SAMPLE_LINES = 5


class Refused(Exception):
    """The log cannot be analysed soundly; ``line`` is the first offending line."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


class Disordered(Exception):
    """Seqs go backwards at ``line``: the log must be read again and sorted."""

    def __init__(self, line: int):
        super().__init__(line)
        self.line = line


def _is_int(v: Any) -> bool:
    return type(v) is int and -INT_LIMIT <= v < INT_LIMIT


def _is_num(v: Any) -> bool:
    return (type(v) is int or type(v) is float) and math.isfinite(v) and abs(v) <= TS_LIMIT


def _is_str(v: Any) -> bool:
    return type(v) is str


def _is_bool(v: Any) -> bool:
    return type(v) is bool


def _is_str_list(v: Any) -> bool:
    return type(v) is list and all(type(x) is str for x in v)


def _is_int_list(v: Any) -> bool:
    return type(v) is list and all(_is_int(x) for x in v)


def _is_list(v: Any) -> bool:
    return type(v) is list


#: Optional event fields: name -> (check, what it should be).  Absent or
#: null is always fine.
_OPTIONAL: dict[str, tuple[Any, str]] = {
    "ts": (_is_num, "a number of seconds"),
    "ts_end": (_is_num, "a number of seconds"),
    "tid": (_is_int, "an int"),
    "result": (lambda v: _is_int(v) or _is_str(v), "an int or text"),
    "errno": (_is_str, "text"),
    "path": (_is_str, "text"),
    "path2": (_is_str, "text"),
    "flags": (_is_str, "text"),
    "fd": (_is_int, "an int"),
    "newfd": (_is_int, "an int"),
    "dirfd": (_is_int, "an int"),
    "ofd": (_is_int, "an int"),
    "child": (_is_int, "an int"),
    "child_proc": (_is_str, "text"),
    "code": (_is_int, "an int"),
    "signal": (_is_str, "text"),
    "info": (_is_str, "text"),
    "argv": (_is_str_list, "a list of text"),
    "released_ofds": (_is_int_list, "a list of ints"),
    "released_paths": (_is_list, "a list"),
    "unresolved": (_is_bool, "true or false"),
    "truncated": (_is_bool, "true or false"),
    "last": (_is_bool, "true or false"),
    "thread": (_is_bool, "true or false"),
    "vfork": (_is_bool, "true or false"),
    "core": (_is_bool, "true or false"),
    "merged": (_is_bool, "true or false"),
}

_LOCK_OPS = ("ex", "sh", "un")
_LOCK_KINDS = ("flock", "posix", "ofd")
_WITH_SYSCALL = ("syscall", "exec", "fork", "wait")


def _kind(v: Any) -> str:
    """How a JSON value reads in a message."""
    if v is None:
        return "null"
    if type(v) is bool:
        return "a boolean"
    if type(v) is int:
        return "an int" if -INT_LIMIT <= v < INT_LIMIT else "an int too big for 64 bits"
    if type(v) is float:
        return "a number" if math.isfinite(v) else f"{v}"
    if type(v) is str:
        return "text"
    if type(v) is list:
        return "a list"
    return "an object"


def _lock_problem(lock: Any) -> str | None:
    if type(lock) is not dict:
        return f"'lock' is {_kind(lock)}, not an object"
    if lock.get("op") not in _LOCK_OPS:
        return "'lock' has no 'op' of ex, sh or un"
    if lock.get("kind") not in _LOCK_KINDS:
        return "'lock' has no 'kind' of flock, posix or ofd"
    for key in ("start", "len"):
        v = lock.get(key)
        if v is not None and not _is_int(v):
            return f"'lock' '{key}' is {_kind(v)}, not an int"
    if lock.get("wait") is not None and not _is_bool(lock["wait"]):
        return "'lock' 'wait' is not true or false"
    return None


_NONE = type(None)
#: The same rules as _OPTIONAL, as the Python types a good value can have:
#: the fast check of ``event_problem`` (a function call per field would
#: cost more than building the history).  Ints are also range-checked,
#: floats compared with TS_LIMIT (NaN fails every comparison); lists and
#: objects go to their _OPTIONAL check; anything else to ``_describe``.
_FAST: dict[str, tuple[type, ...]] = {
    key: {"a number of seconds": (float, _NONE), "an int": (int, _NONE),
          "an int or text": (int, str, _NONE), "text": (str, _NONE),
          "true or false": (bool, _NONE)}.get(what, (list, _NONE))
    for key, (_check, what) in _OPTIONAL.items()}
_FAST["lock"] = (dict, _NONE)
_EVENT_TYPES = frozenset(EVENT_TYPES)


def event_problem(ev: Any) -> str | None:
    """Why ``ev`` (a parsed line) is not a usable event, or None when it is.

    Runs once per event of every log analysed, so the common case (a good
    event) is checked inline; anything unusual is judged by ``_describe``,
    which holds the rules in full and words the problem.
    """
    if type(ev) is not dict:
        return _describe(ev)
    get = ev.get
    seq = get("seq")
    etype = get("type")
    pid = get("pid")
    if (type(seq) is not int or not 0 < seq < INT_LIMIT or type(etype) is not str
            or etype not in _EVENT_TYPES or type(get("proc")) is not str
            or type(pid) is not int or not -INT_LIMIT <= pid < INT_LIMIT
            or (etype in _WITH_SYSCALL and type(get("syscall")) is not str)):
        return _describe(ev)
    fast = _FAST
    for key, v in ev.items():
        allowed = fast.get(key)
        if allowed is None:
            continue
        t = type(v)
        if t not in allowed:
            return _describe(ev)
        if t is int:
            if not -INT_LIMIT <= v < INT_LIMIT:
                return _describe(ev)
        elif t is float:
            if not -TS_LIMIT <= v <= TS_LIMIT:
                return _describe(ev)
        elif t is list or t is dict:
            return _describe(ev)
    return None


def _describe(ev: Any) -> str | None:
    """The full rules: the problem with ``ev`` in words, or None."""
    if type(ev) is not dict:
        return f"the line is {_kind(ev)}, not a JSON object"
    seq = ev.get("seq")
    if seq is None:
        return "'seq' is missing"
    if not _is_int(seq) or seq < 1:
        return f"'seq' is {_kind(seq) if not (type(seq) is int and seq < 1) else seq}, not an int >= 1"
    etype = ev.get("type")
    if not _is_str(etype):
        return "'type' is missing" if etype is None else f"'type' is {_kind(etype)}, not text"
    if etype not in EVENT_TYPES:
        return f"'type' {etype[:40]!r} is not a type this fsrace knows"
    for key, check in (("proc", _is_str), ("pid", _is_int)):
        v = ev.get(key)
        if v is None:
            return f"'{key}' is missing"
        if not check(v):
            return f"'{key}' is {_kind(v)}, not {'text' if key == 'proc' else 'an int'}"
    if etype in _WITH_SYSCALL:
        name = ev.get("syscall")
        if name is None:
            return f"'syscall' is missing on a {etype} event"
        if not _is_str(name):
            return f"'syscall' is {_kind(name)}, not text"
    # Over the event's own fields (about ten), not over every known one:
    # this runs once per event of every log analysed.
    optional = _OPTIONAL
    for key, v in ev.items():
        spec = optional.get(key)
        if spec is not None and v is not None and not spec[0](v):
            return f"'{key}' is {_kind(v)}, not {spec[1]}"
    lock = ev.get("lock")
    if lock is not None:
        return _lock_problem(lock)
    return None


#: Known header/trailer fields the renderers read: name -> (check, what).
_HEADER_FIELDS: dict[str, tuple[Any, str]] = {
    "backend": (_is_str, "text"),
    "command": (_is_str_list, "a list of text"),
    "copies": (_is_int, "an int"),
    "cwd": (_is_str, "text"),
    "clock": (_is_str, "text"),
    "invisible": (_is_str_list, "a list of text"),
    "start_time": (_is_num, "a number"),
    "created": (_is_num, "a number"),
    "host": (_is_str, "text"),
    "kernel": (_is_str, "text"),
    "created_by": (_is_str, "text"),
    "source": (_is_str_list, "a list of text"),
    "strace_argv": (_is_str_list, "a list of text"),
    "strace_version": (_is_str, "text"),
    "live_import": (_is_bool, "true or false"),
    "per_process_files": (_is_bool, "true or false"),
}


def _is_samples(v: Any) -> bool:
    return type(v) is list and all(
        type(s) is dict and _is_int(s.get("line")) and _is_str(s.get("text"))
        and _is_str(s.get("file", "")) for s in v)


def _is_copies(v: Any) -> bool:
    return type(v) is list and all(
        type(c) is dict and all(c.get(k) is None or _is_int(c[k]) for k in ("pid", "exit_code"))
        and (c.get("signal") is None or _is_str(c["signal"])) for c in v)


_TRAILER_FIELDS: dict[str, tuple[Any, str]] = {
    "events": (_is_int, "an int"),
    "lines_read": (_is_int, "an int"),
    "unparsed": (_is_int, "an int"),
    "unparsed_samples": (_is_samples, "a list of {line, text}"),
    "paths": (_is_int, "an int"),
    "unresolved_paths": (_is_int, "an int"),
    "truncated_paths": (_is_int, "an int"),
    "unknown_fds": (_is_int, "an int"),
    "processes": (_is_int, "an int"),
    "unmatched_resumed": (_is_int, "an int"),
    "unfinished_at_end": (_is_int, "an int"),
    "warnings": (_is_str_list, "a list of text"),
    "recorder_warnings": (_is_str_list, "a list of text"),
    "clock": (_is_str, "text"),
    "interrupted": (_is_bool, "true or false"),
    "incomplete": (_is_bool, "true or false"),
    "copies": (_is_copies, "a list of {pid, exit_code, signal}"),
    "launcher_pid": (_is_int, "an int"),
    "exit_status": (_is_int, "an int"),
    "duration": (_is_num, "a number"),
}


def clean_fields(obj: dict[str, Any], known: dict[str, tuple[Any, str]], what: str,
                 line: int) -> tuple[dict[str, Any], list[str]]:
    """Drop the known fields of ``obj`` that have the wrong type; say which."""
    out = dict(obj)
    warnings = []
    for key, (check, should) in known.items():
        v = out.get(key)
        if v is not None and not check(v):
            del out[key]
            warnings.append(f"event log line {line}: the {what} field '{key}' is {_kind(v)}, "
                            f"not {should}; it was ignored")
    return out, warnings


def clean_header(head: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The header with its ill-typed known fields dropped, and the warnings.

    A newer minor version is read (the format only grows) with a note that
    what it added is not used.
    """
    out, warnings = clean_fields(head, _HEADER_FIELDS, "header", 1)
    mine = VERSION.split(".")
    theirs = str(head.get("version", "")).split(".")
    if (len(theirs) > 1 and theirs[0] == mine[0] and theirs[1].isdigit()
            and int(theirs[1]) > int(mine[1])):
        warnings.append(f"event log line 1: format version {head['version']} is newer than "
                        f"this fsrace's {VERSION}: fields and event types it added are not "
                        f"analysed")
    return out, warnings


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _lines(nums: list[int]) -> str:
    shown = ", ".join(str(n) for n in nums[:SAMPLE_LINES])
    return shown + (", ..." if len(nums) > SAMPLE_LINES else "")


class Validator:
    """Judge the lines of one event log after its header, one at a time.

    ``feed(lineno, obj)`` gets each parsed line (``obj`` is ``None`` for a
    line that is not JSON) and returns the event to analyse, or ``None``.
    With ``sort=False`` (the first, streaming read) it raises
    ``Disordered`` when seqs go backwards; with ``sort=True`` it accepts
    them and ``ordered(events)`` sorts and de-duplicates afterwards.
    ``finish()`` raises ``Refused`` or returns the warnings and trailer.
    """

    def __init__(self, name: str, header: dict[str, Any], *, sort: bool = False):
        self.name = name
        self.header = header
        self.sort = sort
        self.good = 0
        self.event_lines = 0
        self.bad: dict[str, list[int]] = {}
        self.first_bad: tuple[int, str] | None = None
        self.repeated: list[int] = []
        self.last_seq = 0
        self._last_obj: Any = None
        self.trailer: dict[str, Any] | None = None
        self.trailer_line = 0
        self.after_trailer = 0
        self.header_repeats: list[int] = []
        self.trailer_repeats: list[int] = []
        self.cut_last: int | None = None
        self._unjson: int | None = None  # line of the latest non-JSON line
        self.moved = 0
        self.first_moved: tuple[int, int, int] | None = None  # line, seq, seq before
        self.warnings: list[str] = []

    def _refuse(self, line: int, why: str) -> Refused:
        return Refused(line, f"{self.name}: event log line {line}: {why}")

    def _bad(self, line: int, why: str) -> None:
        self.bad.setdefault(why, []).append(line)
        if self.first_bad is None:
            self.first_bad = (line, why)

    def feed(self, line: int, obj: Any) -> dict[str, Any] | None:
        """Judge one parsed line; return it when it is an event to analyse."""
        if self._unjson is not None:
            # A non-JSON line that is not the last one is a bad line.
            self._bad(self._unjson, "the line is not JSON")
            self.event_lines += 1
            self._unjson = None
        if obj is None:
            self._unjson = line
            return None
        if type(obj) is dict and "format" in obj and "seq" not in obj:
            fmt = obj.get("format")
            if fmt == FORMAT:
                if obj != self.header:
                    raise self._refuse(line, "a second header, different from the first: two "
                                             "event logs were joined; analyse each on its own")
                self.header_repeats.append(line)
                return None
            if fmt == TRAILER_FORMAT:
                if self.trailer is not None:
                    if obj != self.trailer:
                        raise self._refuse(line, f"a second trailer, different from the one at "
                                                 f"line {self.trailer_line}: two event logs "
                                                 f"were joined")
                    self.trailer_repeats.append(line)
                    return None
                self.trailer = obj
                self.trailer_line = line
                return None
        self.event_lines += 1
        why = event_problem(obj)
        if why is not None:
            self._bad(line, why)
            return None
        seq = obj["seq"]
        if seq <= self.last_seq:
            if seq == self.last_seq and obj == self._last_obj:
                self.repeated.append(line)
                return None
            if not self.sort:
                raise Disordered(line)
            self.moved += 1
            if self.first_moved is None:
                self.first_moved = (line, seq, self.last_seq)
        else:
            self.last_seq = seq
            self._last_obj = obj
        if self.trailer is not None:
            self.after_trailer += 1
        self.good += 1
        return obj

    def ordered(self, events: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Sort (line, event) pairs by seq, dropping exact repeats (sort mode)."""
        events.sort(key=lambda le: le[1]["seq"])
        out: list[dict[str, Any]] = []
        prev: tuple[int, dict[str, Any]] | None = None
        for line, ev in events:
            if prev is not None and prev[1]["seq"] == ev["seq"]:
                if prev[1] == ev:
                    # The later copy (the sort is stable): it went backwards.
                    self.repeated.append(line)
                    self.good -= 1
                    self.moved -= 1
                    if self.trailer is not None and line > self.trailer_line:
                        self.after_trailer -= 1
                    continue
                first, second = sorted((prev[0], line))
                raise self._refuse(second, f"seq {ev['seq']} is also the seq of line {first}, "
                                           f"a different event: which happened cannot be known")
            out.append(ev)
            prev = (line, ev)
        return out

    def finish(self) -> tuple[dict[str, Any], list[str]]:
        """End of the log: refuse, or return (trailer, warnings)."""
        w = self.warnings
        if self._unjson is not None:
            if self.trailer is None:
                self.cut_last = self._unjson   # the writer was killed mid-line
            else:
                self._bad(self._unjson, "the line is not JSON")
                self.event_lines += 1
        nbad = sum(len(v) for v in self.bad.values())
        if nbad and (self.good == 0 or nbad > BAD_SHARE * self.event_lines):
            line, why = self.first_bad  # type: ignore[misc]
            raise self._refuse(line, f"{why}; {nbad} of the {self.event_lines} event lines are "
                                     f"unusable, too many to analyse the rest soundly")
        for why, lines in self.bad.items():
            w.append(f"event log line {lines[0]}: {why} -- {len(lines)} such "
                     f"line{_s(len(lines))} {'were' if len(lines) > 1 else 'was'} skipped "
                     f"(lines {_lines(lines)}); the analysis lacks those events")
        if self.moved > 0 and self.first_moved is not None:
            line, seq, before = self.first_moved
            w.append(f"event log line {line}: seq {seq} is not after seq {before}; the log was "
                     f"reordered -- {self.moved} such line{_s(self.moved)} "
                     f"{'were' if self.moved > 1 else 'was'} sorted back into seq order "
                     f"(the order the calls completed)")
        if self.repeated:
            rep = sorted(self.repeated)
            w.append(f"event log line {rep[0]}: an event repeated exactly -- "
                     f"{len(rep)} repeated line{_s(len(rep))} "
                     f"{'were' if len(rep) > 1 else 'was'} dropped (lines {_lines(rep)})")
        for what, lines in (("header", self.header_repeats), ("trailer", self.trailer_repeats)):
            if lines:
                w.append(f"event log line {lines[0]}: the {what} is repeated (line{_s(len(lines))}"
                         f" {_lines(lines)}); the copies were ignored")
        if self.cut_last is not None:
            w.append(f"event log line {self.cut_last}: the last line is cut short (the writer "
                     f"was stopped while writing it); it was skipped")
        if self.trailer is None:
            w.append("the event log has no trailer: it was cut short (its writer was stopped), "
                     "so it may lack the end of the run")
            return {"incomplete": True}, w
        trailer, tw = clean_fields(self.trailer, _TRAILER_FIELDS, "trailer", self.trailer_line)
        w.extend(tw)
        if self.after_trailer:
            w.append(f"event log line {self.trailer_line}: the trailer is not the last line; "
                     f"the {self.after_trailer} event{_s(self.after_trailer)} after it "
                     f"{'were' if self.after_trailer > 1 else 'was'} analysed too")
        claimed = trailer.get("events")
        if claimed is not None and claimed != self.event_lines:
            w.append(f"event log line {self.trailer_line}: the trailer says {claimed} events were "
                     f"written but {self.event_lines} event lines were read: lines were "
                     f"{'lost' if claimed > self.event_lines else 'added'} after the log was "
                     f"written, so the analysis may not be of the whole run")
        return trailer, w
