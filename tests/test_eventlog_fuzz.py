"""Mutation fuzz of event logs through ``fsrace analyze --format json``.

Real event logs (tests/data strace logs imported) are damaged in the ways
the issue found -- wrong types, missing keys, a list/number/null as an
event, deep nesting, huge ints, negated/duplicated/shuffled seqs,
duplicated/dropped/shuffled lines, extra headers and trailers, trailers with
wrong counts, a truncated last line, a BOM, CRLF, invalid UTF-8 -- with a
seeded RNG, and each is run through the CLI in-process (click's runner on
``fsrace.cli.cli``, the function ``fsrace analyze`` runs; a few through
standard input, and a tenth as text or HTML reports as well).  Checks, on
every input:

* exit 0, 1 or 2 -- never an exception (``main()`` would print "internal
  error", exit 3) and never a traceback;
* exit 2 says why, naming the line (or the header);
* exit 0/1 with an answer different from the undamaged log's (findings or
  exit status) carries a warning in the JSON report (``warnings``) or is
  marked incomplete -- no silent wrong answer;

and, per mutation class, what the answer must be: "same" (the undamaged
answer, no warning: CRLF, BOM, blank lines), "same+warn" (the undamaged
answer and a warning: shuffled or repeated lines, a moved or repeated
trailer, wrong trailer counts, a cut-off last line), "warned or refused"
(a damaged event), "refused" (two different events with one seq, two
different logs joined), "robust" (only the first two checks: values of the
right type no real run has, and invalid UTF-8, which inside a string is a
legal undecodable file name -- a valid log of some other run).  The field types the mutations break are restated
here from ``tracer/events.py``, independently of ``analyzers/validate.py``.

The number of inputs is ``FSRACE_FUZZ_N`` (default 3,000); the test prints
how long it took.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner

from fsrace.cli import cli
from fsrace.tracer.strace_import import import_strace

DATA = Path(__file__).parent / "data" / "strace"
#: (log, share of the inputs): a racy run with findings (1,409 events) and a
#: clean one (557 events); small enough for 3,000 runs in CI.
BASES = (("gallery/two_writers-racy.log.gz", 0.5), ("scenario/plain.log.gz", 0.5))
N = int(os.environ.get("FSRACE_FUZZ_N", "3000"))
SEED = 20261202

#: The documented JSON types of event fields (tracer/events.py).
INT, STR, BOOL, NUM, LIST, OBJ = "int", "str", "bool", "num", "list", "obj"
REQUIRED = {"seq": INT, "type": STR, "proc": STR, "pid": INT}
OPTIONAL = {"ts": NUM, "ts_end": NUM, "tid": INT, "errno": STR, "path": STR, "path2": STR,
            "flags": STR, "fd": INT, "ofd": INT, "dirfd": INT, "child": INT, "code": INT,
            "child_proc": STR, "signal": STR, "argv": LIST, "released_ofds": LIST,
            "unresolved": BOOL, "last": BOOL, "thread": BOOL, "vfork": BOOL, "lock": OBJ}
#: Header and trailer fields the reports read, and their types.
HEADER = {"command": LIST, "backend": STR, "cwd": STR, "copies": INT, "invisible": LIST,
          "clock": STR}
TRAILER = {"events": INT, "unparsed": INT, "unparsed_samples": LIST, "warnings": LIST,
           "paths": INT, "unresolved_paths": INT, "interrupted": BOOL, "clock": STR,
           "launcher_pid": INT, "exit_status": INT}
WRONG = {INT: ["12", [1], {"a": 1}, True, 1.5],
         STR: [5, [], {"x": "y"}, True, 2.5],
         BOOL: [1, "true", [], {}],
         NUM: ["1.0", [], True, {}],
         LIST: ["x", 3, {"a": []}, True],
         OBJ: ["ex", 3, [1], True]}


class Base:
    """One undamaged log and its answer."""

    def __init__(self, path: Path):
        self.path = path
        self.lines = path.read_text().splitlines(keepends=True)
        self.events = [json.loads(l) for l in self.lines[1:-1]]
        self.code, report, _err, exc = run(path)
        assert exc is None and self.code in (0, 1)
        self.findings = findings(report)
        assert report["warnings"] == []


def run(path: Path, stdin: bytes | None = None) -> tuple[int, Any, str, Any]:
    res = CliRunner().invoke(cli, ["analyze", "-" if stdin is not None else str(path),
                                   "--format", "json"], input=stdin)
    exc = res.exception if not isinstance(res.exception, SystemExit) else None
    report = None
    if res.exit_code in (0, 1) and exc is None:
        report = json.loads(res.stdout)
    return res.exit_code, report, " ".join(res.stderr.split()), exc


def findings(report: dict[str, Any]) -> list[tuple]:
    return sorted((f["kind"], f["site"], f["severity"], f.get("count"))
                  for f in report["findings"])


def enc(ev: Any) -> str:
    return json.dumps(ev) + "\n"


# --------------------------------------------------------------- mutations
# Each takes (rng, base) and returns (bytes, expectation).

Mut = Callable[[random.Random, Base], tuple[bytes, str]]


def _join(lines: list[str]) -> bytes:
    return "".join(lines).encode("utf-8", "surrogateescape")


def _with_event(base: Base, i: int, ev: Any) -> bytes:
    lines = list(base.lines)
    lines[i + 1] = enc(ev) if not isinstance(ev, str) else ev
    return _join(lines)


def m_wrong_type(rng: random.Random, b: Base) -> tuple[bytes, str]:
    i = rng.randrange(len(b.events))
    ev = dict(b.events[i])
    schema = {**REQUIRED, **OPTIONAL}
    key = rng.choice(sorted(schema))
    ev[key] = rng.choice(WRONG[schema[key]])
    return _with_event(b, i, ev), "warn_or_refuse"


def m_null_required(rng: random.Random, b: Base) -> tuple[bytes, str]:
    i = rng.randrange(len(b.events))
    ev = dict(b.events[i])
    key = rng.choice(sorted(REQUIRED) + (["syscall"] if "syscall" in ev else []))
    if rng.random() < 0.5:
        ev.pop(key, None)
    else:
        ev[key] = None
    return _with_event(b, i, ev), "warn_or_refuse"


def m_not_object(rng: random.Random, b: Base) -> tuple[bytes, str]:
    i = rng.randrange(len(b.events))
    return _with_event(b, i, rng.choice([[1, 2], 7, None, "seq", True, [b.events[i]], 1.5])), \
        "warn_or_refuse"


def m_lock_broken(rng: random.Random, b: Base) -> tuple[bytes, str]:
    i = rng.randrange(len(b.events))
    ev = dict(b.events[i])
    ev["lock"] = rng.choice([{"op": "ex"}, {"kind": "flock"}, {"op": "zz", "kind": "flock"},
                             {"op": "ex", "kind": "flock", "start": "0"}, {}])
    return _with_event(b, i, ev), "warn_or_refuse"


def m_deep(rng: random.Random, b: Base) -> tuple[bytes, str]:
    i = rng.randrange(len(b.events))
    depth = rng.choice([50, 5000, 200000])
    if rng.random() < 0.5:
        return _with_event(b, i, "[" * depth + "]" * depth + "\n"), "warn_or_refuse"
    ev = dict(b.events[i])
    key = rng.choice(["path", "flags", "argv", "lock", "ts"])
    text = enc(ev)[:-2] + f', "{key}": ' + "[" * depth + "]" * depth + "}\n"
    return _with_event(b, i, text), "warn_or_refuse"


def m_huge_int(rng: random.Random, b: Base) -> tuple[bytes, str]:
    i = rng.randrange(len(b.events))
    ev = dict(b.events[i])
    key = rng.choice(["seq", "pid", "tid", "fd", "ofd", "code", "child", "ts"])
    big = rng.choice([10 ** 20, -10 ** 20, 2 ** 63, 10 ** 5000])
    if big == 10 ** 5000:
        text = enc(ev)[:-2] + f', "{key}": 1' + "0" * 5000 + "}\n"
        return _with_event(b, i, text), "warn_or_refuse"
    ev[key] = big
    return _with_event(b, i, ev), "warn_or_refuse"


def m_neg_seq(rng: random.Random, b: Base) -> tuple[bytes, str]:
    evs = [dict(e) for e in b.events]
    for i in rng.sample(range(len(evs)), rng.choice([1, 3, len(evs)])):
        evs[i]["seq"] = rng.choice([-evs[i]["seq"], 0])
    return _join([b.lines[0]] + [enc(e) for e in evs] + [b.lines[-1]]), "warn_or_refuse"


def m_dup_seq(rng: random.Random, b: Base) -> tuple[bytes, str]:
    i, j = rng.sample(range(len(b.events)), 2)
    ev = dict(b.events[i])
    ev["seq"] = b.events[j]["seq"]
    return _with_event(b, i, ev), "refuse"


def m_shuffle(rng: random.Random, b: Base) -> tuple[bytes, str]:
    mid = list(b.lines[1:-1])
    if rng.random() < 0.5:
        rng.shuffle(mid)
    else:
        a = rng.randrange(len(mid) - 10)
        window = mid[a:a + rng.randrange(2, 10)]
        rng.shuffle(window)
        mid[a:a + len(window)] = window
    if mid == b.lines[1:-1]:
        mid[0], mid[1] = mid[1], mid[0]
    return _join([b.lines[0]] + mid + [b.lines[-1]]), "same+warn"


def m_dup_lines(rng: random.Random, b: Base) -> tuple[bytes, str]:
    lines = list(b.lines)
    for _ in range(rng.choice([1, 2, 10])):
        i = rng.randrange(len(lines))
        lines.insert(rng.randrange(1, len(lines) + 1), lines[i])
    return _join(lines), "same+warn"


def m_log_twice(rng: random.Random, b: Base) -> tuple[bytes, str]:
    return _join(b.lines + b.lines), "same+warn"


def m_drop_lines(rng: random.Random, b: Base) -> tuple[bytes, str]:
    lines = list(b.lines)
    for _ in range(rng.choice([1, 3, 20])):
        del lines[rng.randrange(1, len(lines))]
    return _join(lines), "warn_or_refuse"


def m_drop_header(rng: random.Random, b: Base) -> tuple[bytes, str]:
    return _join(b.lines[1:]), "refuse"


def m_shuffle_all(rng: random.Random, b: Base) -> tuple[bytes, str]:
    lines = list(b.lines)
    rng.shuffle(lines)
    # The header stays first only by chance: then it is a reordered log.
    return _join(lines), "same+warn" if lines[0] == b.lines[0] else "refuse"


def m_other_header(rng: random.Random, b: Base) -> tuple[bytes, str]:
    lines = list(b.lines)
    head = json.loads(lines[0])
    head["host"] = "elsewhere"
    lines.insert(rng.randrange(1, len(lines)), enc(head))
    return _join(lines), "refuse"


def m_same_header(rng: random.Random, b: Base) -> tuple[bytes, str]:
    lines = list(b.lines)
    lines.insert(rng.randrange(1, len(lines)), lines[0])
    return _join(lines), "same+warn"


def m_trailer_moved(rng: random.Random, b: Base) -> tuple[bytes, str]:
    lines = list(b.lines)
    trailer = lines.pop()
    lines.insert(rng.randrange(1, len(lines)), trailer)
    return _join(lines), "same+warn"


def m_other_trailer(rng: random.Random, b: Base) -> tuple[bytes, str]:
    lines = list(b.lines)
    t = json.loads(lines[-1])
    t["events"] = t["events"] + rng.choice([1, -1, 1000])
    lines.insert(rng.randrange(1, len(lines)), enc(t))
    return _join(lines), "refuse"


def m_trailer_count(rng: random.Random, b: Base) -> tuple[bytes, str]:
    t = json.loads(b.lines[-1])
    t["events"] = rng.choice([0, 5, t["events"] - 1, t["events"] + 1, t["events"] * 3])
    return _join(b.lines[:-1] + [enc(t)]), "same+warn"


def m_trailer_types(rng: random.Random, b: Base) -> tuple[bytes, str]:
    t = json.loads(b.lines[-1])
    key = rng.choice(sorted(TRAILER))
    t[key] = rng.choice(WRONG[TRAILER[key]] if key != "warnings" else [[7], "x", [["x"]]])
    if key == "unparsed_samples":
        t["unparsed"] = 2
    return _join(b.lines[:-1] + [enc(t)]), "same+warn"


def m_header_types(rng: random.Random, b: Base) -> tuple[bytes, str]:
    h = json.loads(b.lines[0])
    key = rng.choice(sorted(HEADER))
    h[key] = rng.choice(WRONG[HEADER[key]] if key not in ("command", "invisible")
                        else [[3], "cmd", 7])
    return _join([enc(h)] + b.lines[1:]), "same+warn"


def m_truncate(rng: random.Random, b: Base) -> tuple[bytes, str]:
    last = b.lines[-1]
    return _join(b.lines[:-1] + [last[:rng.randrange(len(last) - 1)]]), "same+warn"


def m_bom_crlf(rng: random.Random, b: Base) -> tuple[bytes, str]:
    text = "".join(b.lines)
    kind = rng.choice(["bom", "crlf", "both", "mixed", "blank"])
    if kind in ("crlf", "both"):
        text = text.replace("\n", "\r\n")
    if kind == "mixed":
        text = "".join(l.replace("\n", "\r\n") if rng.random() < 0.5 else l for l in b.lines)
    if kind == "blank":
        lines = list(b.lines)
        lines.insert(rng.randrange(1, len(lines) + 1), rng.choice(["\n", "   \n", "\r\n"]))
        text = "".join(lines)
    if kind in ("bom", "both"):
        text = "\ufeff" + text
    return text.encode("utf-8", "surrogateescape"), "same"


def m_invalid_utf8(rng: random.Random, b: Base) -> tuple[bytes, str]:
    data = bytearray(_join(b.lines))
    for _ in range(rng.choice([1, 3])):
        pos = rng.randrange(len(data))
        data[pos:pos] = rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"])
    # Inside a string it is a (legal) undecodable file name: only robustness.
    return bytes(data), "robust"


RIGHT = {INT: [0, -1, 1, 2, 3, 2 ** 62, -(2 ** 62), 7],
         STR: ["", "/", "relative/name", "/a/../b", "x" * 5000, "\udcff", "1~2", "EEXIST",
               "O_CREAT|O_EXCL", "LOCK_EX"],
         BOOL: [True, False], NUM: [0.0, -1.0, 1e10, -1e10, 5e-324, 1000.5],
         LIST: [[], ["a"], [1, 2]], OBJ: [{"op": "un", "kind": "posix", "start": -5, "len": -1},
                                          {"op": "ex", "kind": "ofd", "start": 2 ** 62,
                                           "len": 2 ** 62, "wait": False},
                                          {"op": "sh", "kind": "flock"}]}


def m_odd_but_typed(rng: random.Random, b: Base) -> tuple[bytes, str]:
    # Values of the right type that no real run has: only robustness (the
    # log is a valid log of some other run), but every crash is a bug.
    evs = [dict(e) for e in b.events]
    procs = sorted({e["proc"] for e in evs})
    for _ in range(rng.choice([1, 5, 50])):
        e = evs[rng.randrange(len(evs))]
        key = rng.choice(sorted(OPTIONAL) + ["proc", "pid", "type", "syscall", "child_proc"])
        if key in ("proc", "child_proc"):
            e[key] = rng.choice(procs + ["", "0", "99999"])
        elif key == "type":
            e[key] = rng.choice(["syscall", "fork", "exec", "exit", "wait", "signal", "release"])
            e.setdefault("syscall", "close")
        elif key == "syscall":
            e[key] = rng.choice(["openat", "close", "flock", "fcntl", "unlink", "rename",
                                 "mkdir", "rmdir", "execve", "clone", "wait4", "", "zz"])
        else:
            kind = {**REQUIRED, **OPTIONAL}[key]
            e[key] = rng.choice(RIGHT[kind] if key != "argv" else [[], ["a", "b"], [""]])
            if key == "released_ofds":
                e[key] = [rng.choice([1, 2, 3, -1])]
    return _join([b.lines[0]] + [enc(e) for e in evs] + [b.lines[-1]]), "robust"


def m_combo(rng: random.Random, b: Base) -> tuple[bytes, str]:
    # Two damages on top of each other, applied to the text of the first:
    # any answer may be right, but a different one must come with a warning
    # (unless a part only asks for robustness).
    first, expect = rng.choice(SINGLE)[1](rng, b)
    merged = "robust" if expect == "robust" else "any"
    try:
        lines = first.decode("utf-8", "surrogateescape").splitlines(keepends=True)
        events = [json.loads(l) for l in lines[1:-1]]
        if not lines or not all(type(e) is dict for e in events) or len(events) < 12:
            return first, merged
        inner = Base.__new__(Base)
        inner.lines, inner.events = lines, events
        second, expect2 = rng.choice(SINGLE)[1](rng, inner)
        return second, "robust" if "robust" in (expect, expect2) else "any"
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError):
        # The first damage left nothing the second knows how to damage.
        return first, merged


SINGLE: list[tuple[str, Mut]] = [
    ("wrong_type", m_wrong_type), ("null_required", m_null_required),
    ("not_object", m_not_object), ("lock_broken", m_lock_broken), ("deep", m_deep),
    ("huge_int", m_huge_int), ("neg_seq", m_neg_seq), ("dup_seq", m_dup_seq),
    ("shuffle", m_shuffle), ("dup_lines", m_dup_lines), ("log_twice", m_log_twice),
    ("drop_lines", m_drop_lines), ("drop_header", m_drop_header),
    ("shuffle_all", m_shuffle_all), ("other_header", m_other_header),
    ("same_header", m_same_header), ("trailer_moved", m_trailer_moved),
    ("other_trailer", m_other_trailer), ("trailer_count", m_trailer_count),
    ("trailer_types", m_trailer_types), ("header_types", m_header_types),
    ("truncate", m_truncate), ("bom_crlf", m_bom_crlf), ("invalid_utf8", m_invalid_utf8),
    ("odd_but_typed", m_odd_but_typed),
]
MUTATIONS = SINGLE + [("combo", m_combo)]


# ------------------------------------------------------------------ checks

_SAYS_WHERE = re.compile(r"line \d+|header|version|not an fsrace event log|"
                         r"does not look like strace output|is empty")


def check(b: Base, expect: str, code: int, report: Any, err: str, exc: Any) -> str | None:
    """None when the outcome is right, else what is wrong."""
    if exc is not None:
        return f"internal error: {type(exc).__name__}: {exc}"
    if code not in (0, 1, 2):
        return f"exit {code}"
    if "Traceback" in err or "internal error" in err:
        return "traceback / internal error on stderr"
    if code == 2:
        if not _SAYS_WHERE.search(err):
            return f"refused without saying where: {err[:200]}"
        return None if expect in ("warn_or_refuse", "refuse", "any", "robust") else \
            f"refused: {err[:200]}"
    warned = bool(report["warnings"]) or report["source"]["incomplete"]
    same = code == b.code and findings(report) == b.findings
    if expect == "refuse":
        return "analysed, should have been refused"
    if expect == "same" and not (same and not report["warnings"]):
        return f"not the undamaged answer: same={same} warnings={report['warnings'][:2]}"
    if expect == "same+warn" and not (same and warned):
        return f"want the undamaged answer with a warning: same={same} warned={warned}"
    if expect == "warn_or_refuse" and not warned:
        return "a damaged log analysed without a warning"
    if not same and not warned and expect != "robust":
        return "a different answer without a warning"
    return None


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Base, float]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    out = []
    for rel, share in BASES:
        path = tmp / (Path(rel).name.removesuffix(".log.gz") + ".jsonl")
        import_strace([str(DATA / rel)], str(path))
        out.append((Base(path), share))
    return out


def fuzz(bases: list[tuple[Base, float]], tmp_path: Path, n_inputs: int,
         mutations: list[tuple[str, Mut]]) -> tuple[list[str], Counter]:
    """Run ``n_inputs`` mutated logs; return the failures and the outcome counts."""
    rng = random.Random(SEED)
    outcomes: Counter = Counter()
    failures: list[str] = []
    weights = [share for _b, share in bases]
    for n in range(n_inputs):
        b = rng.choices([b for b, _s in bases], weights)[0]
        name, mutate = mutations[n % len(mutations)]
        data, expect = mutate(rng, b)
        path = tmp_path / f"m{n % 8}.jsonl"
        path.write_bytes(data)
        code, report, err, exc = run(path)
        problem = check(b, expect, code, report, err, exc)
        if problem is None and n % 20 == 0:
            # Standard input must give the same verdict as the file.
            code2, report2, err2, exc2 = run(path, stdin=data)
            if exc2 is not None or code2 != code or (report2 or {}).get("findings") != (
                    report or {}).get("findings"):
                problem = f"stdin verdict {code2} differs from the file's {code}: {err2[:150]}"
        if problem is None and n % 10 == 5:
            # The other renderers read the same (validated) input.
            fmt = "text" if n % 30 != 5 else "html"
            res = CliRunner().invoke(cli, ["analyze", str(path), "--format", fmt, "-o",
                                           str(tmp_path / "report.out")])
            if res.exception is not None and not isinstance(res.exception, SystemExit):
                problem = f"--format {fmt}: {type(res.exception).__name__}: {res.exception}"
            elif res.exit_code != code:
                problem = f"--format {fmt} exits {res.exit_code}, json {code}"
        outcomes[name, "refused" if code == 2 else "warned" if report and (
            report["warnings"] or report["source"]["incomplete"]) else "clean"] += 1
        if problem is not None:
            failures.append(f"#{n} {name} ({b.path.name}, expect {expect}): {problem}")
            if len(failures) < 4:
                (tmp_path / f"fail{n}.jsonl").write_bytes(data)
    return failures, outcomes


def test_mutated_event_logs_never_crash_and_never_lie(bases: list[tuple[Base, float]],
                                                      tmp_path: Path) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    failures, outcomes = fuzz(bases, tmp_path, N, MUTATIONS)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"\nfuzz: {N} mutated event logs in {elapsed:.1f} s ({cpu:.1f} s CPU, "
          f"{1000 * cpu / N:.1f} ms each); {len(failures)} failures")
    for (name, outcome), count in sorted(outcomes.items()):
        print(f"  {name:14} {outcome:8} {count}")
    assert not failures, "\n".join(failures[:20])
    assert N >= 3000 or os.environ.get("FSRACE_FUZZ_N"), "the issue asks for >= 3,000 inputs"


class _Trusting:
    """The loader before validation: any object with a seq is an event."""

    def __init__(self, name: str, header: dict[str, Any], *, sort: bool = False):
        self.trailer: dict[str, Any] | None = None

    def feed(self, line: int, obj: Any) -> Any:
        if isinstance(obj, dict) and "seq" in obj:
            return obj
        if isinstance(obj, dict) and obj.get("format") == "fsrace-events-trailer":
            self.trailer = obj
        return None

    def finish(self) -> tuple[dict[str, Any], list[str]]:
        return self.trailer or {"incomplete": True}, []


def test_the_fuzz_catches_what_validation_stops(bases: list[tuple[Base, float]],
                                               tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """With the validator swapped for the old trusting loader the checks fail.

    Shows the fuzz can fail: internal errors (the issue's exit 3) and
    different answers without a word.
    """
    import fsrace.analyzers.load as load

    monkeypatch.setattr(load, "Validator", _Trusting)
    monkeypatch.setattr(load, "clean_header", lambda head: (head, []))
    classes = dict(MUTATIONS)
    chosen = [(k, classes[k]) for k in ("wrong_type", "not_object", "null_required",
                                        "neg_seq", "shuffle", "trailer_count")]
    failures, _outcomes = fuzz(bases, tmp_path, 120, chosen)
    crashes = [f for f in failures if "internal error" in f]
    silent = [f for f in failures if "without a warning" in f or "want the undamaged" in f]
    assert crashes and silent, failures[:5]
