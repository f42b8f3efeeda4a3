"""The same recorded run gives the same findings whatever the log's format.

One real racy run (installer/racy-fail.log.gz, strace -f -ttt -T) is
rewritten into the other formats strace can produce for the same run:
no timestamps and no -T, wall-clock -tt, terminal style ([pid N] prefixes,
first process unprefixed), and -ff per-process files.  The analysis of every
variant must find the same races with the same verdicts.
"""

from __future__ import annotations

import gzip
import re
import time
from pathlib import Path

import pytest

from conftest import DATA
from fsrace.analyzers.analyze import analyze_history
from fsrace.analyzers.load import load_history

SRC = DATA / "strace" / "installer" / "racy-fail.log.gz"
LINE = re.compile(r"^(\d+)\s+(\d+\.\d+) (.*?)(?: <\d+\.\d+>)?$")


def _lines() -> list[tuple[int, float, str]]:
    out = []
    for raw in gzip.open(SRC, "rt", errors="surrogateescape").read().splitlines():
        m = LINE.match(raw)
        assert m, raw
        out.append((int(m.group(1)), float(m.group(2)), m.group(3)))
    return out


def variant(name: str, tmp: Path) -> list[str]:
    lines = _lines()
    if name == "original":
        return [str(SRC)]
    if name == "plain":
        text = [f"{pid}  {body}" for pid, _ts, body in lines]
    elif name == "clock":
        text = [f"{pid}  {time.strftime('%H:%M:%S', time.gmtime(ts))}.{int(ts % 1 * 1e6):06d} {body}"
                for pid, ts, body in lines]
    elif name == "terminal":
        first = lines[0][0]
        text, many = [], False
        for pid, ts, body in lines:
            many = many or pid != first
            text.append(f"[pid {pid:5d}] {ts:.6f} {body}" if many else f"{ts:.6f} {body}")
    elif name == "ff":
        files: dict[int, list[str]] = {}
        for pid, ts, body in lines:
            files.setdefault(pid, []).append(f"{ts:.6f} {body}")
        paths = []
        for pid, rows in files.items():
            p = tmp / f"trace.{pid}"
            p.write_text("\n".join(rows) + "\n", errors="surrogateescape")
            paths.append(str(p))
        return paths
    else:
        raise ValueError(name)
    out = tmp / f"{name}.log"
    out.write_text("\n".join(text) + "\n", errors="surrogateescape")
    return [str(out)]


def findings(inputs: list[str]) -> set[tuple]:
    h, head, trailer = load_history(inputs)
    a = analyze_history(h, head, trailer)
    procs = a.history.processes
    return {(f.kind, f.verdict, f.severity, f.site, f.syscalls, f.count) for f in a.findings} | \
        {("failed", procs[i].pid, tuple(ids)) for i, ids in a.explanations.items()}


@pytest.mark.parametrize("name", ["plain", "clock", "terminal", "ff"])
def test_same_findings_whatever_the_format(tmp_path: Path, name: str) -> None:
    reference = findings(variant("original", tmp_path))
    assert any(f[0] == "removed-while-in-use" and f[1] == "manifested" for f in reference)
    assert findings(variant(name, tmp_path)) == reference
