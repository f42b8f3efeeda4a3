"""The analyzer on logs recorded from the fixture programs (tests/data/strace).

Each racy fixture must be reported with its kind, each fixed twin must be
clean, and the happens-before cases (two runs that do not overlap in time
but are not ordered; the same ordered by a wait) must come out right.  The
logs are real strace output (see tests/data/strace/MANIFEST.md for the
commands); a live test below records the installer again with fsrace.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA, ROOT, needs_strace
from fsrace.analyzers.analyze import analyze_history
from fsrace.analyzers.load import load_history

LOGS = DATA / "strace"


def analyze(rel: str):
    h, head, trailer = load_history([str(LOGS / rel)])
    return analyze_history(h, head, trailer)


def serious(a) -> set[tuple[str, str, str]]:
    return {(f.kind, f.verdict, f.severity) for f in a.findings if f.severity != "info"}


def kinds_at(a, *severities: str) -> set[str]:
    return {f.kind for f in a.findings if f.severity in severities}


def test_racy_installer_that_failed_is_explained() -> None:
    a = analyze("installer/racy-fail.log.gz")
    procs = a.history.processes
    failed = {procs[i].pid: ids for i, ids in a.explanations.items()}
    assert failed[3543]                         # the copy that printed the error
    by_id = {f.id: f for f in a.findings}
    f = by_id[failed[3543][0]]
    assert f.kind == "removed-while-in-use" and f.severity == "error"
    culprit = procs[f.example.culprit[1]].pid
    assert culprit in (3542, 3544, 3545)        # another copy, not itself


def test_racy_installer_that_passed_still_reports_latent_sites() -> None:
    a = analyze("installer/racy-pass.log.gz")
    assert a.explanations == {}
    assert {"removed-while-in-use", "filled-while-removing"} <= kinds_at(a, "warning")
    assert all(f.verdict == "latent" for f in a.findings if f.severity == "warning")
    # The same sites as in the failing run.
    def sites(analysis, target: str) -> set[tuple[str, str]]:
        return {(f.kind, f.site.split(target, 1)[-1]) for f in analysis.findings
                if f.severity != "info"}
    failing = analyze("installer/racy-fail.log.gz")
    assert sites(a, "/racy-pass/") & sites(failing, "/racy-fail/")


def test_locked_installer_is_clean() -> None:
    assert serious(analyze("installer/lock.log.gz")) == set()


def test_runs_without_overlap_but_without_order_are_latent() -> None:
    a = analyze("installer/sequential.log.gz")
    found = serious(a)
    assert found and all(v == "latent" and s == "warning" for _k, v, s in found)


def test_runs_ordered_by_wait_are_clean() -> None:
    assert serious(analyze("installer/wait-between.log.gz")) == set()


@pytest.mark.parametrize("name,kind", [
    ("tmpdir_removed", "removed-while-in-use"),
    ("tree_filled", "filled-while-removing"),
    ("check_then_create", "check-then-use"),
    ("lost_update", "create-collision"),
    ("two_writers", "concurrent-write"),
    ("lockfile", "removed-while-in-use"),
])
def test_gallery_race_is_reported_with_its_kind(name: str, kind: str) -> None:
    assert kind in kinds_at(analyze(f"gallery/{name}-racy.log.gz"), "error", "warning")


@pytest.mark.parametrize("name", [
    "tmpdir_removed-fixed", "tree_filled-fixed", "check_then_create-fixed", "lost_update-fixed",
    "two_writers-fixed-flock", "two_writers-fixed-append", "lockfile-fixed-excl",
    "lockfile-fixed-flock", "hostile_names-fixed", "threads_ok", "fork_wait_ok"])
def test_fixed_twins_and_ordered_programs_are_clean(name: str) -> None:
    assert serious(analyze(f"gallery/{name}.log.gz")) == set()


def test_failed_process_without_failed_call_lists_related_races() -> None:
    # No call of the writers failed: each read back a ledger the other had
    # just written and gave up (saw-foreign-state names the other writer);
    # the write-write race itself is listed as related.
    a = analyze("gallery/two_writers-racy.log.gz")
    procs = a.history.processes
    by_id = {f.id: f for f in a.findings}
    for idx, ids in a.explanations.items():
        if procs[idx].argv and "two_writers" in " ".join(procs[idx].argv) and procs[idx].parent:
            assert [by_id[i].kind for i in ids] == ["saw-foreign-state"] and a.related[idx]
            c = by_id[ids[0]].conflicts[0]
            assert c.culprit[1] != idx


@needs_strace
def test_live_installer_race_and_its_locked_twin(tmp_path: Path) -> None:
    """Record the installer with fsrace until a copy fails; the locked twin never races."""
    installer = str(ROOT / "fixtures" / "installer.py")
    # A round takes a fraction of a second; the race shows in most, not all.
    for round_no in range(30):
        target = tmp_path / f"t{round_no}"
        target.mkdir()
        log = tmp_path / f"r{round_no}.jsonl"
        rec = subprocess.run([sys.executable, "-m", "fsrace.cli", "record", "-j", "4", "-o", str(log),
                              "--", sys.executable, installer, str(target), "--files", "40"],
                             capture_output=True, text=True, timeout=300)
        if rec.returncode != 0:
            break
    else:
        pytest.fail("the racy installer never failed in 30 rounds of 4 copies: nothing was proven")
    out = subprocess.run([sys.executable, "-m", "fsrace.cli", "analyze", str(log), "--format", "json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1                  # error findings: exit 1
    report = json.loads(out.stdout)
    findings = {f["id"]: f for f in report["findings"]}
    # The copies, not fsrace's launcher (whose argv names the installer too).
    copies = [p for p in report["processes"] if p["argv"] and installer in p["argv"]
              and p["ppid"] is not None]
    for p in copies:
        if p["exit_code"]:
            entry = next(x for x in report["failed_processes"] if x["pid"] == p["pid"])
            assert any(findings[i]["kind"] in ("removed-while-in-use", "filled-while-removing")
                       for i in entry["explained_by"]), entry
    target = tmp_path / "locked"
    target.mkdir()
    log = tmp_path / "locked.jsonl"
    rec = subprocess.run([sys.executable, "-m", "fsrace.cli", "record", "-j", "4", "-o", str(log),
                          "--", sys.executable, installer, str(target), "--files", "40", "--lock"],
                         capture_output=True, text=True, timeout=300)
    assert rec.returncode == 0, rec.stderr
    out = subprocess.run([sys.executable, "-m", "fsrace.cli", "analyze", str(log), "--format", "json",
                          "--fail-on", "warning"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:]
    assert json.loads(out.stdout)["stats"]["lock_edges"] > 0
