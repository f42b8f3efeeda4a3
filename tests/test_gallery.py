"""The gallery: every race is reported with its kind, every fixed twin is clean.

Races depend on timing, so a racy program is run up to ``ATTEMPTS`` times
(3 copies at once each) until its kind shows up; if it never does, the test
fails: "not seen" is never a pass.  A fixed twin must be clean in every one
of ``FIXED_ROUNDS`` runs, and each of those runs must really have run the
copies side by side (their lifetimes overlap), or the clean result would
prove nothing.

The committed recordings in ``tests/data/strace/gallery`` give the same
checks without strace, deterministically.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from conftest import DATA, ROOT, needs_strace

from fsrace.gallery import GALLERY, run_race, seen_kinds

STORED = DATA / "strace" / "gallery"
ATTEMPTS = 6
FIXED_ROUNDS = 2
RACES = [n for n, r in GALLERY.items() if r.kind is not None]
CLEAN = [n for n, r in GALLERY.items() if r.kind is None]


def test_every_gallery_program_is_listed() -> None:
    files = {p.stem for p in (ROOT / "fixtures" / "gallery").glob("*.py") if p.stem != "__init__"}
    assert files == set(GALLERY)
    assert len(RACES) >= 6
    r = subprocess.run([sys.executable, "-m", "fsrace.cli", "demo", "--list"], capture_output=True,
                       text=True, cwd=ROOT, timeout=60, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    for name, race in GALLERY.items():
        assert name in r.stdout
        if race.kind:
            assert race.kind in r.stdout


def test_unknown_demo_name_is_a_usage_error() -> None:
    r = subprocess.run([sys.executable, "-m", "fsrace.cli", "demo", "no_such_race"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2 and "fsrace demo --list" in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------- the committed recordings

def _analyze(log: Path):
    from fsrace.analyzers.analyze import analyze_history
    from fsrace.analyzers.load import load_history

    return analyze_history(*load_history([str(log)]))


@pytest.mark.parametrize("name", RACES)
def test_stored_racy_recording_shows_its_kind(name: str) -> None:
    a = _analyze(STORED / f"{name}-racy.log.gz")
    assert GALLERY[name].kind in seen_kinds(a), seen_kinds(a)


def _fixed_logs() -> list[Path]:
    return sorted(p for p in STORED.glob("*-fixed*.log.gz"))


@pytest.mark.parametrize("log", _fixed_logs(), ids=lambda p: p.name.split(".")[0])
def test_stored_fixed_recording_is_clean(log: Path) -> None:
    a = _analyze(log)
    bad = [(f.id, f.kind, f.severity, f.site) for f in a.findings if f.severity != "info"]
    assert not bad


@pytest.mark.parametrize("name", CLEAN)
def test_stored_non_race_is_clean(name: str) -> None:
    a = _analyze(STORED / f"{name}.log.gz")
    assert not [f for f in a.findings if f.severity != "info"]


# ------------------------------------------------------------- live runs

def _overlapped(analysis, copies: int) -> bool:
    """True when ``copies`` processes of the program were alive at one moment."""
    every = analysis.history.processes

    def gallery(p) -> bool:
        # python3 fixtures/gallery/NAME.py TARGET ... (not the launcher naming it later)
        return bool(p.argv) and len(p.argv) > 1 and "fixtures/gallery/" in p.argv[1]

    # The copies themselves, not the children a copy forks.
    procs = [p for p in every if gallery(p) and p.first_ts is not None and p.last_ts is not None
             and not (p.parent is not None and gallery(every[p.parent]))]
    spans = [(p.first_ts, p.last_ts) for p in procs]
    start = max(s for s, _e in spans) if spans else None
    return len(spans) >= copies and all(s <= start <= e for s, e in spans)


@needs_strace
@pytest.mark.parametrize("name", RACES)
def test_demo_reports_the_race(name: str, tmp_path: Path) -> None:
    console = Console(file=open("/dev/null", "w"))
    seen: list[set[str]] = []
    for attempt in range(ATTEMPTS):
        _result, analysis = run_race(name, False, 3, tmp_path, console, show=False)
        seen.append(seen_kinds(analysis))
        if GALLERY[name].kind in seen[-1]:
            return
    pytest.fail(f"{name}: {GALLERY[name].kind} was not reported in {ATTEMPTS} runs of 3 copies "
                f"(kinds seen per run: {seen})")


@needs_strace
@pytest.mark.parametrize("name", RACES + CLEAN)
def test_demo_fixed_twin_is_clean(name: str, tmp_path: Path) -> None:
    console = Console(file=open("/dev/null", "w"))
    for _ in range(FIXED_ROUNDS):
        result, analysis = run_race(name, True, 3, tmp_path, console, show=False)
        assert _overlapped(analysis, 3), "the copies did not run side by side: a clean run proves nothing"
        assert all(c.exit_code == 0 and not c.signal for c in result.copies), result.copies
        bad = [(f.id, f.kind, f.severity, f.site) for f in analysis.findings if f.severity != "info"]
        assert not bad


@needs_strace
def test_demo_cli_racy_and_fixed(tmp_path: Path) -> None:
    """The command itself: report on stdout, exit 1 for a race, 0 for the fix."""
    for attempt in range(ATTEMPTS):
        r = subprocess.run([sys.executable, "-m", "fsrace.cli", "demo", "tree_filled", "-j", "3",
                            "--format", "json"], capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert "Traceback" not in r.stderr
        kinds = {f["kind"] for f in json.loads(r.stdout)["findings"] if f["severity"] != "info"}
        if "filled-while-removing" in kinds:
            assert r.returncode == 1
            break
    else:
        pytest.fail("fsrace demo tree_filled never reported filled-while-removing")
    r = subprocess.run([sys.executable, "-m", "fsrace.cli", "demo", "tree_filled", "--fixed", "-j", "3"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "clean: no warning or error" in r.stderr
