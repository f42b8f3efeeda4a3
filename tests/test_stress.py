"""fsrace stress: rounds, layout, statistics, --no-trace, Ctrl-C, --amplify; the seed experiment.

Needs strace (skips without it); the seed test also needs the package index.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, needs_strace, index_reachable

INSTALLER = ROOT / "fixtures" / "installer.py"

#: A fixture race that stays latent in plain rounds: two copies of the
#: example installer (one file each, a few milliseconds of work) started
#: STAGGER seconds apart.  Copy k claims slot k with an atomic mkdir and
#: sleeps k * STAGGER before exec'ing the installer, so their windows never
#: overlap -- but nothing orders them, so the analyzer reports the sites as
#: latent.  Only a delay longer than the stagger can make them collide.
STAGGER = 0.4
STAGGER_PY = f'''
import os, sys, time
target, installer = sys.argv[1], sys.argv[2]
slots = os.path.join(target, "slots")
os.makedirs(slots, exist_ok=True)
k = 0
while True:
    try:
        os.mkdir(os.path.join(slots, str(k)))
        break
    except FileExistsError:
        k += 1
time.sleep({STAGGER} * k)
os.execv(sys.executable, [sys.executable, installer, target, "--files", "1"])
'''


def _stress(*args: str, cwd: Path, timeout: float = 600, env: dict | None = None
            ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fsrace.cli", "stress", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env=env)


def _summary(d: Path) -> dict:
    return json.loads((d / "summary.json").read_text())


# ---------------------------------------------------------------- pure parts

def test_plans_stall_the_earlier_access_longer_than_the_gap(tmp_path: Path) -> None:
    from fsrace.stress import amplify_plans, inject_args
    from fsrace.tracer.eventlog import EventLogWriter

    rdir = tmp_path / "round-001"
    rdir.mkdir()
    with EventLogWriter(rdir / "events.jsonl", {"backend": "test"}) as w:
        seq = 0
        for pid, name in ((10, "rmdir"), (11, "rmdir"), (10, "rmdir"), (11, "mkdir")):
            seq += 1
            w.write({"seq": seq, "type": "syscall", "pid": pid, "tid": pid, "proc": str(pid),
                     "syscall": name, "path": "/t/d", "result": 0})
    site = {"key": "removed-while-in-use /t/d", "example": {"accesses": [
        {"role": "culprit", "pid": 10, "seq": 3, "ts": 100.0, "syscall": "rmdir"},
        {"role": "victim", "pid": 11, "seq": 4, "ts": 100.2, "syscall": "mkdir"}]}}
    plans = amplify_plans(site, rdir)
    first = plans[0]
    # The culprit's rmdir came first; it was pid 10's 2nd rmdir.
    assert (first["target"], first["syscall"], first["when"]) == ("culprit", "rmdir", "2")
    assert first["delay_us"] == 300_000                      # 1.5 x the 0.2 s gap
    assert inject_args(first) == ["-e", "inject=rmdir:delay_enter=300000:when=2"]
    assert [p["delay_us"] for p in plans[:2]] == [300_000, 600_000]
    assert any(p["syscall"] == "mkdir" for p in plans)


# -------------------------------------------------------------- with strace

@needs_strace
def test_stress_layout_statistics_and_exit_status(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = _stress("-j", "3", "--rounds", "2", "--setup", "rm -rf t && mkdir t", "-o", str(out),
                "--", sys.executable, str(INSTALLER), "t", "--files", "30", cwd=tmp_path)
    assert r.returncode in (0, 1), r.stderr
    assert "Traceback" not in r.stderr
    data = _summary(out)
    assert data["format"] == "fsrace-stress" and data["version"] == "1.1"  # 1.1: root_causes
    assert isinstance(data["root_causes"], list)
    assert data["copies"] == 3 and data["rounds_done"] == 2 and data["traced"] is True
    for n in (1, 2):
        rdir = out / f"round-00{n}"
        assert (rdir / "events.jsonl").is_file()
        report = json.loads((rdir / "report.json").read_text())
        assert report["format"] == "fsrace-report"
        assert not (rdir / "strace.log").exists()
    rate = data["failure_rate"]
    failed = sum(rd["failed"] for rd in data["rounds"])
    assert rate["total"] == 6 and rate["failed"] == failed and rate["method"] == "wilson"
    assert rate["ci95"][0] <= (rate["rate"] or 0) <= rate["ci95"][1]
    # 30 files per copy with three copies at once: the race sites are found
    # (manifested or latent) in every round.
    sites = [s for s in data["sites"] if s["severity"] in ("warning", "error")]
    # (A copy's mkdirs under t/ that lost, in a copy that then failed, are an
    # error too: handled is judged by outcome.)
    assert sites and all(s["site"].startswith("$CWD/t/site-packages/") or
                         (s["kind"] == "create-collision" and s["site"].startswith("$CWD/t/"))
                         for s in sites), [(s["kind"], s["site"]) for s in sites]
    assert any(s["site"].startswith("$CWD/t/site-packages/") for s in sites)
    assert any(len(s["rounds"]) == 2 for s in sites)
    errors = any(rd["errors"] for rd in data["rounds"])
    assert r.returncode == (1 if (errors or failed) else 0) == data["exit_status"]
    assert "failure rate (traced)" in r.stdout and "95 % CI" in r.stdout


@needs_strace
def test_no_trace_and_untraced_rounds(tmp_path: Path) -> None:
    out = tmp_path / "fast"
    r = _stress("-j", "2", "--rounds", "2", "--no-trace", "--setup", "rm -rf t && mkdir t",
                "-o", str(out), "--", sys.executable, str(INSTALLER), "t", "--files", "5",
                "--lock", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    data = _summary(out)
    assert data["traced"] is False and data["sites"] == []
    assert data["failure_rate"]["total"] == 4 and data["failure_rate"]["failed"] == 0
    assert not (out / "round-001" / "events.jsonl").exists()
    out2 = tmp_path / "both"
    r = _stress("-j", "2", "--rounds", "1", "--untraced-rounds", "1", "--setup",
                "rm -rf t && mkdir t", "-o", str(out2), "--", sys.executable, str(INSTALLER),
                "t", "--files", "5", "--lock", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    data = _summary(out2)
    assert data["failure_rate"]["total"] == 2 and data["untraced_failure_rate"]["total"] == 2
    assert "tracing changes timing" in r.stdout


@needs_strace
def test_usage_errors_are_one_message(tmp_path: Path) -> None:
    for args in (["--no-trace", "--amplify", "--", "true"],
                 ["--setup", "exit 3", "-o", str(tmp_path / "o"), "--", "true"],
                 ["-o", str(tmp_path / "p"), "--", "no-such-program-fsrace"]):
        r = _stress(*args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and "fsrace: " in r.stderr, r.stderr


@needs_strace
def test_ctrl_c_keeps_and_summarises_the_rounds_done(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "fsrace.cli", "stress", "-j", "2",
                             "--rounds", "50", "-o", str(out), "--", "sh", "-c", "sleep 0.3"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if _summary(out)["rounds_done"] >= 2:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("two rounds did not complete in time")
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    data = _summary(out)
    assert data["interrupted"] is True
    assert 2 <= data["rounds_done"] < 50
    done = [r for r in data["rounds"] if r["complete"]]
    assert all((out / r["dir"] / "report.json").is_file() for r in done)
    assert data["failure_rate"]["total"] == 2 * len(done)
    assert "(interrupted)" in stdout


@needs_strace
def test_amplify_confirms_a_race_that_stays_latent(tmp_path: Path) -> None:
    script = tmp_path / "stagger.py"
    script.write_text(STAGGER_PY)
    out = tmp_path / "out"
    r = _stress("-j", "2", "--rounds", "2", "--setup", "rm -rf t && mkdir t", "-o", str(out),
                "--amplify", "--amplify-rounds", "6", "--", sys.executable, str(script), "t",
                str(INSTALLER), cwd=tmp_path)
    assert "Traceback" not in r.stderr, r.stderr
    data = _summary(out)
    plain = [rd for rd in data["rounds"] if not rd["amplify"]]
    # Plain rounds: the race is there, every time, and never fails.
    assert len(plain) == 2 and all(rd["complete"] for rd in plain)
    assert all(rd["failed"] == 0 and rd["manifested_sites"] == 0 and rd["latent_sites"] > 0
               for rd in plain), plain
    latent = [s for s in data["sites"] if s["severity"] == "warning"]
    assert latent and all(not s["rounds_manifested"] for s in latent)
    amp = data["amplify"]
    assert amp is not None and amp["rounds"] >= 1
    confirmed = [s for s in amp["sites"] if s["confirmed"]]
    assert confirmed, json.dumps(amp, indent=1)
    for s in confirmed:
        plan = s["plan"]
        assert plan["delay_us"] >= 1000 and plan["syscall"] and plan["when"]
        # The round that confirmed it really has the site manifested.
        rnd = next(rd for rd in data["rounds"] if rd["round"] == s["confirmed_in_round"])
        assert rnd["amplify"] == plan
        report = json.loads((out / rnd["report"]).read_text())
        assert any(f["verdict"] == "manifested" and f["kind"] == s["kind"]
                   and f["site"].endswith(s["site"].replace("$CWD", ""))
                   for f in report["findings"])
        # strace really injected: the recorded strace command carries the delay.
        header = json.loads((out / rnd["events"]).open().readline())
        assert any(a.startswith(f"inject={plan['syscall']}:delay_enter=")
                   for a in header["strace_argv"])
    assert "confirmed" in r.stdout
    # Amplified rounds do not count in the failure rate.
    assert data["failure_rate"]["total"] == 4 and data["failure_rate"]["failed"] == 0


# ------------------------------------------------------------ the seed experiment



@needs_strace
@pytest.mark.slow
def test_seed_stress_then_compare(tmp_path: Path) -> None:
    """uv 0.6.11 vs 0.13.9: failing sites gone, rate 0, .venv ordered by the env lock."""
    if not index_reachable():
        pytest.skip("the package index (pypi.org) is not reachable: cannot install uv and "
                    "the seed project")
    sys.path.insert(0, str(ROOT / "bench"))
    import seed_workload as seed

    dirs = {}
    for version in (seed.BROKEN_VERSION, seed.CURRENT_VERSION):
        env = seed.prepare(version)
        seed.reset(env)
        out = tmp_path / f"uv-{version}"
        r = _stress("-j", "10", "--rounds", "2", "--setup", "rm -rf .venv", "-o", str(out),
                    "--", *seed.sync_argv(env), cwd=env.project, env=env.env, timeout=1800)
        assert "Traceback" not in r.stderr, r.stderr[-3000:]
        assert r.returncode in (0, 1), r.stderr[-3000:]
        dirs[version] = out
    before, after = _summary(dirs[seed.BROKEN_VERSION]), _summary(dirs[seed.CURRENT_VERSION])
    venv_sites = [s for s in before["sites"] if s["severity"] in ("warning", "error")
                  and s["site"].startswith("$CWD/.venv/")]
    # The broken uv races in .venv in every round (manifested or latent).
    assert venv_sites, json.dumps(before["sites"], indent=1)[:3000]
    # The fixed uv: no failure, and the interval says how sure that is.
    rate = after["failure_rate"]
    assert rate["failed"] == 0 and rate["total"] == 20
    assert rate["ci95"][0] == 0 and 0 < rate["ci95"][1] < 0.25
    assert not [s for s in after["sites"] if s["severity"] in ("warning", "error")
                and s["site"].startswith("$CWD/.venv/")]
    r = subprocess.run([sys.executable, "-m", "fsrace.cli", "compare", str(dirs[seed.BROKEN_VERSION]),
                        str(dirs[seed.CURRENT_VERSION]), "--format", "json"],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode in (0, 1), r.stderr[-3000:]
    result = json.loads(r.stdout)
    # Exit 1 only for sites new in AFTER, and none of them in the project's .venv
    # (a current uv may race harmlessly in its own cache, which BEFORE's uv laid out
    # differently).
    # The fix as the upstream shipped it: every site fixed, none new, exit 0
    # (versioned cache folders, sdists-v9 vs sdists-v11, are one site).
    assert result["sites_new"] == [], result["sites_new"]
    assert r.returncode == 0
    assert result["difference"]["significant"] is True or before["failure_rate"]["failed"] < 5
    fixed = {s["key"]: s for s in result["sites_fixed"]}
    for s in venv_sites:
        assert s["key"] in fixed, s["key"]
    assert not [s for s in result["sites_remaining"] if s["site"].startswith("$CWD/.venv/")]
    # What orders the .venv accesses now: the environment lock.
    ordered = [s for s in fixed.values() if s["site"].startswith("$CWD/.venv/")]
    by_lock = [s for s in ordered
               if any(o["kind"] == "flock" and o["lock"] and
                      (o["lock"].endswith("/.venv/.lock") or "/uv-" in o["lock"])
                      for o in s["ordering"]["ordered_by"])]
    assert by_lock, json.dumps(ordered, indent=1)[:3000]
    print(json.dumps({s["site"]: s["ordered_by"] for s in ordered}, indent=1))
