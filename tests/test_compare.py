"""fsrace compare: statistics, site matching, what orders a fixed site, exit status.

Pure tests on hand-made traces and reports; no strace needed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, Trace

from fsrace.analyzers.compare import (
    aggregate_sites, compare, compare_exit_status, fisher_exact, load_runset,
    ordering_for_site, rate_dict, relative_site, wilson_interval)
from fsrace.analyzers.history import build_history
from fsrace.reports.report_json import report_dict


# ------------------------------------------------------------------ statistics

def test_wilson_interval_known_values() -> None:
    # Reference values (Wilson score interval, z = 1.96).
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-4)
    lo, hi = wilson_interval(8, 20)
    assert (lo, hi) == (pytest.approx(0.2188, abs=1e-4), pytest.approx(0.6134, abs=1e-4))
    lo, hi = wilson_interval(20, 20)
    assert lo == pytest.approx(0.8389, abs=1e-4) and hi == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_fisher_exact_known_values() -> None:
    # The tea-tasting table: two-sided p = 0.4857.
    assert fisher_exact(3, 1, 1, 3) == pytest.approx(0.4857, abs=1e-4)
    # 8/20 failures before, 0/20 after: significant.
    assert fisher_exact(8, 12, 0, 20) == pytest.approx(0.00328, abs=1e-4)
    # 1/10 vs 0/10: not significant.
    assert fisher_exact(1, 9, 0, 10) == pytest.approx(1.0)
    assert fisher_exact(0, 0, 0, 0) == 1.0


def test_rate_dict_fields() -> None:
    r = rate_dict(3, 30)
    assert r["failed"] == 3 and r["total"] == 30 and r["rate"] == pytest.approx(0.1)
    assert r["method"] == "wilson" and r["ci95"][0] < 0.1 < r["ci95"][1]
    assert rate_dict(0, 0)["rate"] is None


# -------------------------------------------------------------- hand-made runs

def _racy_trace(base: str = "/w") -> Trace:
    """Two copies: one removes the staging dir the other still renames out of."""
    t = Trace()
    t.exec(1, ["launcher"])
    t.fork(1, 2)
    t.fork(1, 3)
    t.exec(2, ["inst"])
    t.exec(3, ["inst"])
    t.op(2, "mkdir", f"{base}/data")
    t.op(3, "mkdir", f"{base}/data", errno="EEXIST")
    t.op(3, "openat", f"{base}/data/f", flags="O_WRONLY|O_CREAT")
    t.op(2, "rmdir", f"{base}/data", errno="ENOTEMPTY")
    t.op(2, "unlinkat", f"{base}/data/f")
    t.op(2, "rmdir", f"{base}/data")
    t.op(3, "rename", f"{base}/data/f", errno="ENOENT", path2=f"{base}/out/f")
    t.exit(2, 0)
    t.exit(3, 2)
    return t


def _locked_trace(base: str = "/w") -> Trace:
    """The fixed twin: each copy holds an exclusive flock on base/.lock."""
    t = Trace()
    t.exec(1, ["launcher"])
    t.fork(1, 2)
    t.fork(1, 3)
    t.exec(2, ["inst"])
    t.exec(3, ["inst"])
    ofd2 = t.open(2, f"{base}/.lock", "O_RDWR|O_CREAT")
    t.flock(2, f"{base}/.lock", ofd2)
    t.op(2, "mkdir", f"{base}/data")
    t.op(2, "openat", f"{base}/data/f", flags="O_WRONLY|O_CREAT")
    t.op(2, "rename", f"{base}/data/f", path2=f"{base}/out/f")
    t.op(2, "rmdir", f"{base}/data")
    t.flock(2, f"{base}/.lock", ofd2, "LOCK_UN")
    ofd3 = t.open(3, f"{base}/.lock", "O_RDWR|O_CREAT")
    t.flock(3, f"{base}/.lock", ofd3)
    t.op(3, "mkdir", f"{base}/data")
    t.op(3, "openat", f"{base}/data/f", flags="O_WRONLY|O_CREAT")
    t.op(3, "rename", f"{base}/data/f", path2=f"{base}/out/f")
    t.op(3, "rmdir", f"{base}/data")
    t.flock(3, f"{base}/.lock", ofd3, "LOCK_UN")
    t.exit(2, 0)
    t.exit(3, 0)
    return t


def _write_run(tmp: Path, name: str, trace: Trace, cwd: str = "/w") -> Path:
    """A one-round stress directory from a hand-made trace."""
    from fsrace.analyzers.analyze import analyze_events
    from fsrace.tracer.eventlog import EventLogWriter

    d = tmp / name
    rdir = d / "round-001"
    rdir.mkdir(parents=True)
    with EventLogWriter(rdir / "events.jsonl", {"backend": "test", "command": ["inst"]}) as w:
        for ev in trace.events:
            w.write(ev)
    report = report_dict(analyze_events(trace.events, {"command": ["inst"]}))
    (rdir / "report.json").write_text(json.dumps(report))
    copies, failed = 2, sum(1 for p in report["processes"]
                            if p["argv"] == ["inst"] and p["exit_code"])
    summary = {"format": "fsrace-stress", "version": "1.0", "command": ["inst"], "cwd": cwd,
               "copies": 2, "traced": True,
               "rounds": [{"round": 1, "dir": "round-001", "events": "round-001/events.jsonl",
                           "report": "round-001/report.json", "traced": True, "amplify": None,
                           "complete": True, "copies": copies, "failed": failed}],
               "failure_rate": rate_dict(failed, copies),
               "sites": aggregate_sites([(1, report)], cwd)}
    (d / "summary.json").write_text(json.dumps(summary))
    return d


def test_relative_site_uses_cwd() -> None:
    assert relative_site("/w/.venv/lib/**", "/w") == "$CWD/.venv/lib/**"
    assert relative_site("/other/x", "/w") == "/other/x"
    assert relative_site("/w", "/w") == "$CWD"


def test_ordering_cause_names_the_lock() -> None:
    h = build_history(_locked_trace().events)
    result = ordering_for_site([h], "/w/data/**")
    assert result["pairs"] > 0
    assert result["unordered"] == 0
    assert result["ordered_by"][0]["kind"] == "flock"
    assert result["ordered_by"][0]["lock"] == "/w/.lock"
    assert result["ordered_by"][0]["cause"] == "flock on /w/.lock"


def test_ordering_says_when_nothing_orders() -> None:
    h = build_history(_racy_trace().events)
    result = ordering_for_site([h], "/w/data/**")
    assert result["pairs"] > 0 and result["unordered"] == result["pairs"]
    assert result["ordered_by"] == []


def test_compare_fixed_sites_and_their_lock(tmp_path: Path) -> None:
    before = _write_run(tmp_path, "before", _racy_trace())
    after = _write_run(tmp_path, "after", _locked_trace())
    result = compare(load_runset(str(before), "before"), load_runset(str(after), "after"))
    assert result["format"] == "fsrace-compare"
    assert result["before"]["failure_rate"]["failed"] == 1
    assert result["after"]["failure_rate"]["failed"] == 0
    assert result["difference"]["test"] == "fisher-exact-two-sided"
    assert result["difference"]["significant"] is False      # 1/2 vs 0/2 proves nothing
    assert result["sites_fixed"], result
    assert result["sites_new"] == [] and result["regression"] is False
    assert compare_exit_status(result) == 0
    for site in result["sites_fixed"]:
        # The staging dir's removal, and its mkdir collision (an error now:
        # the loser's outcome was a failure), both under $CWD.
        assert site["site"].startswith("$CWD/")
        assert "flock on /w/.lock" in site["ordered_by"], site
    # And the other way round is a regression.
    back = compare(load_runset(str(after), "before"), load_runset(str(before), "after"))
    assert back["sites_new"] and back["regression"] is True
    assert compare_exit_status(back) == 1


def test_compare_reports_without_event_logs_are_honest(tmp_path: Path) -> None:
    before = _write_run(tmp_path, "before", _racy_trace())
    after = _write_run(tmp_path, "after", _locked_trace())
    lone = tmp_path / "lone.json"
    lone.write_text((after / "round-001" / "report.json").read_text())
    result = compare(load_runset(str(before / "round-001" / "report.json"), "before"),
                     load_runset(str(lone), "after"))
    assert result["sites_fixed"]
    assert all(s["ordered_by"].startswith("cannot tell") for s in result["sites_fixed"])


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fsrace.cli", *args], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=120)


def test_compare_cli_text_json_and_exit_status(tmp_path: Path) -> None:
    before = _write_run(tmp_path, "before", _racy_trace())
    after = _write_run(tmp_path, "after", _locked_trace())
    r = _cli("compare", str(before), str(after))
    assert r.returncode == 0, r.stderr
    assert "sites fixed" in r.stdout and "flock on /w/.lock" in r.stdout
    assert "Fisher" in r.stdout and "95 % CI" in r.stdout
    r = _cli("compare", str(before), str(after), "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["regression"] is False
    r = _cli("compare", str(after), str(before))
    assert r.returncode == 1 and "regression" in r.stdout


def test_compare_cli_bad_input_is_one_message(tmp_path: Path) -> None:
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "empty").mkdir()
    for args in (("compare", str(tmp_path / "missing"), str(tmp_path / "junk.json")),
                 ("compare", str(tmp_path / "junk.json"), str(tmp_path / "junk.json")),
                 ("compare", str(tmp_path / "empty"), str(tmp_path / "empty"))):
        r = _cli(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and r.stderr.startswith("fsrace: ")


def test_compare_escapes_hostile_names(tmp_path: Path) -> None:
    evil = "/w/\x1b[31mred\x1b[0m[bold]x[/bold]"
    before = _write_run(tmp_path, "before", _racy_trace(evil))
    after = _write_run(tmp_path, "after", _locked_trace(evil))
    r = _cli("compare", str(before), str(after))
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout
    assert "\\x1b[31mred" in r.stdout and "[bold]x[/bold]" in r.stdout


# ------------------------------------------------------ version-like components

def _marker_race(version: str, reader: bool) -> Trace:
    """Two copies create-truncate a cache marker under a versioned bucket."""
    t = Trace()
    t.exec(1, ["launcher"])
    for pid in (2, 3):
        t.fork(1, pid)
        t.exec(pid, ["inst"])
    marker = f"/w/cache/sdists-{version}/python3.{11 if version == 'v9' else 13}/.git"
    t.op(2, "openat", marker, flags="O_WRONLY|O_CREAT|O_TRUNC")
    t.op(3, "openat", marker, flags="O_WRONLY|O_CREAT|O_TRUNC")
    if reader:
        t.op(3, "openat", marker, flags="O_RDONLY")
    t.exit(2, 0)
    t.exit(3, 0)
    return t


def test_sites_differing_only_in_version_components_match(tmp_path: Path) -> None:
    # uv 0.6.11 keeps sdists in sdists-v9, uv 0.13.9 in sdists-v11: one site.
    before = _write_run(tmp_path, "before", _marker_race("v9", reader=True))
    after = _write_run(tmp_path, "after", _marker_race("v11", reader=True))
    result = compare(load_runset(str(before), "before"), load_runset(str(after), "after"),
                     explain_order=False)
    assert result["sites_remaining"] and result["sites_new"] == [] and result["sites_fixed"] == []
    assert "sdists-v*/python*" in result["sites_remaining"][0]["site"]


def test_unread_marker_race_is_no_regression(tmp_path: Path) -> None:
    # BEFORE's marker was read back (a warning), AFTER's nobody reads (info):
    # every site fixed, none new, exit 0.
    before = _write_run(tmp_path, "before", _marker_race("v9", reader=True))
    after = _write_run(tmp_path, "after", _marker_race("v11", reader=False))
    result = compare(load_runset(str(before), "before"), load_runset(str(after), "after"),
                     explain_order=False)
    assert result["sites_fixed"] and result["sites_new"] == [] and not result["regression"]
    assert compare_exit_status(result) == 0
