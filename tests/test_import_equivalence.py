"""One recorded scenario, many strace flag sets: the same events come out.

`fixtures/scenario.py` is deterministic (fixed names, PYTHONHASHSEED=0), so
each recording in `tests/data/strace/scenario/` does the same calls; pids
and timing differ.  After mapping pids to their place in the process tree
and threads to their creation order, every importable flag set must give
the same processes, syscalls, resolved paths and results.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from conftest import DATA
from fsrace.tracer.eventlog import open_event_log
from fsrace.tracer.strace_import import ImportError_, import_strace

SCEN = DATA / "strace" / "scenario"
SINGLE = ["plain", "t", "tt", "ttt", "r", "ttt-T", "y", "yy", "decode-fds-path", "x", "xx",
          "s16", "terminal-ttt", "combined"]
#: fds the program inherited (stdin/out/err): only -y logs can name them.
INHERITED = {0, 1, 2}


def _recording_cwd() -> str:
    text = gzip.open(SCEN / "y.log.gz", "rt", errors="surrogateescape").read()
    return re.search(r"AT_FDCWD<([^>]*)>", text).group(1)


def canonical(events: list[dict]) -> dict[tuple, list[tuple]]:
    """Per (process path in the tree, thread number): the calls, pid-free."""
    names: dict[str, tuple] = {}
    threads: dict[int, int] = {}
    counts: dict[str, int] = {}
    out: dict[tuple, list[tuple]] = {}
    for ev in events:
        proc = ev["proc"]
        if proc not in names:
            names[proc] = ("root", len(names))
        tid = ev["tid"]
        if tid not in threads:
            threads[tid] = 0 if tid == ev["pid"] else len(threads)
        if ev["type"] == "fork":
            if ev["thread"]:
                threads[ev["child"]] = len([t for t in threads]) + 1
            else:
                counts[proc] = counts.get(proc, 0) + 1
                names[ev["child_proc"]] = names[proc] + (counts[proc],)
        key = (names[proc], threads[tid])
        result = ev.get("result")
        if ev["type"] in ("fork", "wait") or ev.get("syscall") in ("clone", "clone3", "vfork",
                                                                  "fork", "wait4", "getcwd"):
            result = "child" if isinstance(result, int) and result > 0 else result
        path = ev.get("path")
        if (ev.get("fd") in INHERITED or ev.get("dirfd") in INHERITED) and ev.get("ofd") is None:
            path = "<inherited fd>"
        row = (ev["type"], ev.get("syscall"), path, ev.get("path2"), result,
               ev.get("errno"), ev.get("code"), ev.get("signal"))
        out.setdefault(key, []).append(row)
    return out


def load(tmp_path: Path, inputs: list[str], name: str) -> tuple[dict, dict]:
    out = tmp_path / f"{name}.jsonl"
    import_strace(inputs, str(out), initial_cwd=_recording_cwd())
    log = open_event_log(out)
    events = list(log.events())
    return canonical(events), log.trailer


def _ff(name: str) -> list[str]:
    return sorted(str(p) for p in (SCEN / name).iterdir())


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    got, trailer = load(tmp_path_factory.mktemp("ref"), [str(SCEN / "plain.log.gz")], "plain")
    assert trailer["unresolved_paths"] == 0
    return got


@pytest.mark.parametrize("name", SINGLE + ["ff-ttt"])
def test_same_events_whatever_the_flags(tmp_path: Path, reference: dict, name: str) -> None:
    inputs = _ff(name) if name.startswith("ff") else [str(SCEN / f"{name}.log.gz")]
    got, trailer = load(tmp_path, inputs, name)
    assert trailer["unparsed"] == 0, trailer["unparsed_samples"]
    assert trailer["unresolved_paths"] == 0
    assert sorted(got) == sorted(reference)
    for key in reference:
        assert got[key] == reference[key], f"{name}: process {key} differs"


def test_reference_covers_the_scenario(reference: dict) -> None:
    """The scenario really has the interesting parts (else equality proves little)."""
    rows = [r for calls in reference.values() for r in calls]
    syscalls = {r[1] for r in rows}
    assert {"renameat", "openat", "mkdirat", "unlinkat", "flock", "dup", "dup2", "fcntl",
            "chdir", "execve"} <= syscalls | {"renameat2"}
    assert len(reference) >= 4      # root, its thread, the forked child, the execs
    assert any(r[0] == "exit" and r[6] == 3 for r in rows)
    names = {r[2] for r in rows if r[2]}
    assert any("\n" in n for n in names) and any("\udcff" in n or "\udce9" in n for n in names)


def test_truncated_strings_are_marked(tmp_path: Path) -> None:
    """strace's -s cuts data strings (argv here), never path arguments."""
    out = tmp_path / "s16.jsonl"
    import_strace([str(SCEN / "s16.log.gz")], str(out), initial_cwd=_recording_cwd())
    execs = [e for e in open_event_log(out).events() if e["type"] == "exec"]
    assert any(arg.endswith("...") for e in execs for arg in e["argv"])


def test_ff_without_timestamps_says_why(tmp_path: Path) -> None:
    with pytest.raises(ImportError_, match="no timestamps"):
        import_strace(_ff("ff"), str(tmp_path / "x.jsonl"))
