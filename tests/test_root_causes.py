"""Root causes: findings grouped by resource, program group and missing order."""

from __future__ import annotations

import json

from conftest import Trace

from fsrace.analyzers.analyze import analyze_events
from fsrace.analyzers.root_causes import program_of, resource_of

SP = "/p/.venv/lib/python3.11/site-packages"


def staging_race(t: Trace, copies: int = 3, before_exit=None) -> None:
    """``copies`` uv processes stage packages in <pkg>.data; copy 3 removes one
    while copy 2 still moves files out of it (copy 2 then dies), and copy 4
    removes another while copy 3 still reads it."""
    t.exec(1, ["sh", "-c", "uv sync -q & uv sync -q & uv sync -q; wait"])
    procs = list(range(2, 2 + copies))
    for p in procs:
        t.fork(1, p)
        t.exec(p, ["/opt/uv/bin/uv", "sync", "-q"])
    for pkg in ("idna-3.10.data", "certifi-2024.8.30.data"):
        for i, p in enumerate(procs):
            t.op(p, "mkdir", f"{SP}/{pkg}", errno="EEXIST" if i else None)
        t.open(procs[0], f"{SP}/{pkg}/f", "O_WRONLY|O_CREAT")
    # copy 3 removes idna's staging tree; copy 2 then moves a file out of it.
    t.op(3, "unlink", f"{SP}/idna-3.10.data/f")
    t.op(3, "rmdir", f"{SP}/idna-3.10.data", flags="AT_REMOVEDIR")
    t.op(2, "rename", f"{SP}/idna-3.10.data/f", path2=f"{SP}/idna/f", errno="ENOENT")
    # copy 4 removes certifi's while copy 3 still lists it (latent: it worked).
    t.op(3, "getdents64", f"{SP}/certifi-2024.8.30.data")
    t.op(4, "unlink", f"{SP}/certifi-2024.8.30.data/f")
    t.op(4, "rmdir", f"{SP}/certifi-2024.8.30.data")
    if before_exit is not None:
        before_exit(t)
    t.exit(2, 2)
    t.exit(3, 0)
    t.exit(4, 0)
    t.wait(1, 2, 2)
    t.wait(1, 3)
    t.wait(1, 4)
    t.exit(1, 2)


def test_program_groups_are_executable_and_subcommand() -> None:
    assert program_of(["/opt/uv/bin/uv", "sync", "-q"]) == ("uv sync", "uv sync -q")
    key, label = program_of(["/usr/bin/python3.11", "-I", "/repo/fixtures/installer.py",
                             "/tmp/t", "--files", "40"])
    assert key == "installer.py" and label == "installer.py t --files 40"
    assert program_of(["python3", "-m", "pip", "install", "x"])[0] == "pip install"
    assert program_of(None) == ("?", "?")


def test_resource_generalises_the_contested_entry() -> None:
    pattern, parent, leaf = resource_of(f"{SP}/idna-3.10.data")
    assert leaf == "*.data" and parent == SP
    assert pattern.endswith("/site-packages/*.data")
    # A name without a folded part stays as it is.
    assert resource_of("/w/out.txt")[2] == "out.txt"


def test_one_root_cause_for_every_package_staging_race(trace: Trace) -> None:
    staging_race(trace)
    a = trace.analyze()
    assert a.root_causes, [(f.id, f.kind, f.site) for f in a.findings]
    rc = a.root_causes[0]
    assert rc.id == "R1"
    assert rc.pattern.endswith("site-packages/*.data"), rc.pattern
    assert rc.programs == ["uv sync -q"]
    assert rc.copies == 3
    # Both packages' sites belong to it, not one root cause per package.
    assert any("idna-" in s for s in rc.sites) and any("certifi-" in s for s in rc.sites)
    # It explains copy 2's failure (pid 2), not the launcher's.
    assert [a.history.processes[i].pid for i in rc.explains] == [2]
    assert rc.severity == "error"
    # Plain words: who, what, where, and that nothing ordered them.
    assert "3 concurrent `uv sync -q` remove `*.data` directories under" in rc.statement
    assert "no lock orders them" in rc.statement
    assert "exclusive lock" in rc.fix and "temporary directory" in rc.fix
    assert "no wait" in rc.missing_order
    # The evidence is a manifested finding of its own whose example broke copy 2.
    ev = next(f for f in a.findings if f.id == rc.evidence)
    assert ev.id in rc.finding_ids and ev.verdict == "manifested"
    assert rc.example is not None and a.history.processes[rc.example.victim[1]].pid == 2


def test_root_causes_rank_failures_explained_first(trace: Trace) -> None:
    """A latent race of another program on another resource ranks after the one
    that broke a copy, whatever the order of the log."""
    t = trace
    t.exec(1, ["sh"])
    for p in (5, 6):
        t.fork(1, p)
        t.exec(p, ["/usr/bin/make", "all"])
    t.open(5, "/b/out.log", "O_WRONLY|O_CREAT|O_TRUNC")
    t.op(5, "write", "/b/out.log")
    t.open(6, "/b/out.log", "O_WRONLY|O_CREAT|O_TRUNC")
    t.op(6, "write", "/b/out.log")
    t.exit(5, 0)
    t.exit(6, 0)
    events = t.events
    s = Trace()
    staging_race(s)
    offset = len(events)
    for ev in s.events:
        ev = dict(ev)
        ev["seq"] += offset
        ev["ts"] += offset * 0.001
        events.append(ev)
    a = analyze_events(events)
    ids = [rc.id for rc in a.root_causes]
    assert ids[0] == "R1" and a.root_causes[0].programs == ["uv sync -q"]
    assert a.root_causes[0].explains
    others = [rc for rc in a.root_causes if rc.programs == ["make all"]]
    for rc in others:
        assert not rc.explains and rc.id != "R1"


def test_json_report_carries_root_causes_and_warnings(trace: Trace) -> None:
    from fsrace.reports.report_json import report_dict

    staging_race(trace)
    a = analyze_events(trace.events, {"backend": "strace"},
                       {"launcher_pid": 1, "warnings": ["3 events were skipped"]})
    r = json.loads(json.dumps(report_dict(a)))
    assert r["version"] == "1.1"
    assert r["warnings"] == ["3 events were skipped"]
    rc = r["root_causes"][0]
    for key in ("id", "resource", "programs", "kinds", "severity", "statement",
                "missing_order", "fix", "explains", "site_ids", "finding_ids", "evidence"):
        assert key in rc, key
    assert rc["explains"] == [2]            # pids, not indexes
    assert rc["evidence"] in rc["finding_ids"]
    # fsrace's launcher (pid 1, exit 2) is never a failed process.
    failed = [p["pid"] for p in r["failed_processes"]]
    assert 1 not in failed and 2 in failed
    assert r["summary"]["failed_processes"] == len(failed)


def test_fix_follows_the_shape_of_the_race(trace: Trace) -> None:
    """Two writers of one file get the O_APPEND / rename advice, not the tree lock."""
    t = trace
    t.exec(1, ["sh"])
    for p in (2, 3):
        t.fork(1, p)
        t.exec(p, ["/usr/bin/logger-tool", "run"])
    for p in (2, 3):
        t.open(p, "/w/state.json", "O_RDONLY")
    for p in (2, 3):
        t.open(p, "/w/state.json", "O_WRONLY|O_TRUNC")
        t.op(p, "write", "/w/state.json")
    t.exit(2, 0)
    t.exit(3, 0)
    a = t.analyze()
    rcs = [rc for rc in a.root_causes if "concurrent-write" in rc.kinds]
    if not rcs:  # the write detector judged it safe: then no root cause at all
        assert not [f for f in a.findings if f.severity != "info"]
        return
    rc = rcs[0]
    assert "O_APPEND" in rc.fix or "rename it into place" in rc.fix
    assert rc.programs == ["logger-tool run"]


# ------------------------------------------------ compare and stress (issue 13 item 4)

def _report_file(tmp, name: str, t: Trace):
    from fsrace.reports.report_json import report_dict

    path = tmp / f"{name}.json"
    path.write_text(json.dumps(report_dict(analyze_events(t.events, {"command": ["inst"]}))))
    return path


def test_compare_speaks_in_root_causes_first(tmp_path) -> None:
    import subprocess
    import sys

    from test_compare import _locked_trace, _racy_trace

    from fsrace.analyzers.compare import compare, load_runset
    from fsrace.analyzers.compare_causes import compare_runsets

    before = _report_file(tmp_path, "before", _racy_trace())
    after = _report_file(tmp_path, "after", _locked_trace())
    b, a = load_runset(str(before), "before"), load_runset(str(after), "after")
    result = {**compare(b, a), **compare_runsets(b, a)}
    fixed = result["root_causes_fixed"]
    assert fixed and result["root_causes_new"] == [] and result["root_causes_remaining"] == []
    removal = next(r for r in fixed if "removed-while-in-use" in r["kinds"]
                   or "filled-while-removing" in r["kinds"])
    assert removal["programs"] == ["inst"] and removal["failures_explained_before"] == 1
    assert "no lock orders them" in removal["statement"]
    back = compare_runsets(load_runset(str(after), "before"), load_runset(str(before), "after"))
    assert back["root_causes_new"] and not back["root_causes_fixed"]
    # The text says root causes first, then sites.
    r = subprocess.run([sys.executable, "-m", "fsrace.cli", "compare", str(before), str(after)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.index("root causes fixed") < out.index("sites fixed")
    assert "failure explained" in out


def test_stress_summary_aggregates_root_causes_over_rounds() -> None:
    from fsrace.analyzers.compare_causes import aggregate_root_causes
    from fsrace.reports.report_json import report_dict
    from fsrace.stress import slim_report

    reports = []
    for rnd in (1, 2):
        t = Trace()
        staging_race(t)
        reports.append((rnd, slim_report(report_dict(analyze_events(t.events, {}, {})))))
    causes = aggregate_root_causes(reports, "/p")
    top = causes[0]
    assert top["rounds"] == [1, 2] and top["rounds_failed"] == [1, 2]
    assert top["failures_explained"] == 2 and top["programs"] == ["uv sync -q"]
    assert top["resource"].startswith("$CWD/.venv/") and top["key"].endswith("/*.data")


def test_a_failure_decided_from_foreign_state_joins_the_race_beside_it(trace: Trace) -> None:
    """Copy 6 fails with no failing call after reading a package directory copy 4
    had just created next to the staging race: one root cause explains both."""
    def foreign(t: Trace) -> None:
        t.fork(1, 6)
        t.exec(6, ["/opt/uv/bin/uv", "sync", "-q"])
        t.op(6, "statx", f"{SP}/jedi", errno="ENOENT")   # copy 6 looks: nothing there yet
        t.op(4, "mkdir", f"{SP}/jedi")
        t.op(4, "mkdir", f"{SP}/jedi/plugins")
        t.op(6, "statx", f"{SP}/jedi/plugins")            # ... then finds copy 4's, and gives up
        t.exit(6, 2)

    t = trace
    staging_race(t, before_exit=foreign)
    a = t.analyze()
    assert "saw-foreign-state" in {f.kind for f in a.findings}, \
        [(f.id, f.kind, f.site) for f in a.findings]
    rc = a.root_causes[0]
    assert sorted(a.history.processes[i].pid for i in rc.explains) == [2, 6], \
        [(r.id, r.resource, r.explains) for r in a.root_causes]
    assert "saw-foreign-state" in rc.kinds and rc.pattern.endswith("/*.data")
    assert "failed on state another had just made" in rc.statement
    assert rc.statement.endswith("no lock orders them")


def test_each_root_cause_has_one_shape_of_race(trace: Trace) -> None:
    """A create collision on the directory above the staging race is a root cause of
    its own (its fix differs); the removal root cause keeps only removal kinds."""
    def collide(t: Trace) -> None:
        for p in (2, 3, 4):
            t.op(p, "mkdir", f"{SP}/shared-dir", errno=None if p == 2 else "EEXIST")
            t.open(p, f"{SP}/shared-dir/x", "O_WRONLY|O_CREAT|O_TRUNC")
            t.op(p, "write", f"{SP}/shared-dir/x")
    staging_race(trace, before_exit=collide)
    a = trace.analyze()
    removal = [rc for rc in a.root_causes if rc.pattern.endswith("/*.data")]
    assert len(removal) == 1
    assert set(removal[0].kinds) <= {"removed-while-in-use", "filled-while-removing"}
    for rc in a.root_causes:
        shapes = {k in ("removed-while-in-use", "filled-while-removing") for k in rc.kinds}
        assert len(shapes) == 1, (rc.id, rc.kinds)


# ------------------------------------------- lock contention and lost outputs

def _two_git_copies(t: Trace) -> None:
    t.exec(1, ["sh"])
    for p in (10, 11):
        t.fork(1, p)
        t.exec(p, ["/usr/bin/git", "commit", "-qm", "x"])


def test_a_lock_loser_that_gave_up_is_told_to_wait(trace: Trace) -> None:
    t = trace
    _two_git_copies(t)
    t.op(10, "openat", "/r/.git/index.lock", flags="O_RDWR|O_CREAT|O_EXCL")
    t.op(11, "openat", "/r/.git/index.lock", "EEXIST", flags="O_RDWR|O_CREAT|O_EXCL")
    t.exit(11, 128)
    t.op(10, "rename", "/r/.git/index.lock", path2="/r/.git/index")
    t.exit(10, 0)
    a = t.analyze()
    rc = next(rc for rc in a.root_causes if "lock-contention" in rc.kinds)
    assert rc.explains == [a.history.by_key["11"]]
    assert "gave up on the lock" in rc.statement and "held it" in rc.statement
    # Not the O_EXCL advice: the program already creates its lock that way.
    assert rc.fix.startswith("wait for the lock") and "O_CREAT|O_EXCL (or" not in rc.fix


def test_lost_outputs_name_the_remover_and_the_creator(trace: Trace) -> None:
    t = trace
    t.exec(1, ["sh"])
    t.fork(1, 10)
    t.exec(10, ["/usr/bin/installer-a"])
    t.fork(1, 11)
    t.exec(11, ["/usr/bin/cleaner-b"])
    t.op(10, "mkdir", "/t/target/six")
    t.op(10, "rename", "/t/.tmp10/six.py", path2="/t/target/six/six.py")
    t.op(11, "unlink", "/t/target/six/six.py")
    t.op(11, "rmdir", "/t/target/six")
    t.exit(10, 0)
    t.exit(11, 0)
    a = t.analyze()
    rc = next(rc for rc in a.root_causes if "lost-output" in rc.kinds)
    assert rc.statement.startswith("`cleaner-b` removed entries") \
        and "that `installer-a` had created" in rc.statement, rc.statement
    assert "never remove entries another process created" in rc.fix
