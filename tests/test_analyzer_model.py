"""The analyzer on hand-made traces: happens-before, each race kind, verdicts."""

from __future__ import annotations

from conftest import Trace, kinds, warnings_or_worse

STAGE = "/t/site-packages/pkg-1.0.data"


def _launcher(t: Trace, *children: int) -> None:
    t.exec(1, ["launcher"])
    for c in children:
        t.fork(1, c)


def test_removed_while_in_use_manifested_names_the_remover(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    trace.op(10, "mkdir", STAGE)
    trace.op(10, "rename", "/t/.tmpA/f", path2=f"{STAGE}/f")
    trace.op(11, "unlink", f"{STAGE}/f")
    trace.op(11, "rmdir", STAGE)
    trace.op(10, "rename", f"{STAGE}/f", "ENOENT", path2="/t/share/f")
    trace.exit(10, 2)
    trace.exit(11, 0)
    a = trace.analyze()
    manifested = [f for f in a.findings if f.verdict == "manifested"]
    assert [f.kind for f in manifested] == ["removed-while-in-use"]
    f = manifested[0]
    assert f.severity == "error"
    c = f.example
    procs = a.history.processes
    assert procs[c.culprit[1]].pid == 11 and procs[c.victim[1]].pid == 10
    assert c.victim[4] == "ENOENT"
    failed = {procs[i].pid: ids for i, ids in a.explanations.items()}
    assert failed[10] == [f.id]


def test_removal_of_an_ancestor_counts(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    trace.op(10, "openat", f"{STAGE}/data/x", flags="O_WRONLY|O_CREAT|O_TRUNC")
    trace.op(11, "rmdir", STAGE)
    a = trace.analyze()
    assert "removed-while-in-use" in kinds(a, "warning") or "filled-while-removing" in kinds(a)


def test_latent_when_runs_do_not_overlap_but_nothing_orders_them(trace: Trace) -> None:
    # Copy 10 finishes entirely before copy 11 starts, but the launcher only
    # waits for both at the end: time orders nothing.
    _launcher(trace, 10)
    trace.op(10, "mkdir", STAGE)
    trace.op(10, "openat", f"{STAGE}/f", flags="O_WRONLY|O_CREAT|O_TRUNC")
    trace.op(10, "unlink", f"{STAGE}/f")
    trace.op(10, "rmdir", STAGE)
    trace.exit(10)
    trace.fork(1, 11)
    trace.op(11, "mkdir", STAGE)
    trace.op(11, "openat", f"{STAGE}/f", flags="O_WRONLY|O_CREAT|O_TRUNC")
    trace.op(11, "unlink", f"{STAGE}/f")
    trace.op(11, "rmdir", STAGE)
    trace.exit(11)
    trace.wait(1, 10)
    trace.wait(1, 11)
    a = trace.analyze()
    found = warnings_or_worse(a)
    assert found and all(f.verdict == "latent" and f.severity == "warning" for f in found)


def test_wait_before_second_start_orders_the_runs(trace: Trace) -> None:
    _launcher(trace, 10)
    trace.op(10, "mkdir", STAGE)
    trace.op(10, "rmdir", STAGE)
    trace.exit(10)
    trace.wait(1, 10)
    trace.fork(1, 11)
    trace.op(11, "mkdir", STAGE)
    trace.op(11, "rmdir", STAGE)
    trace.exit(11)
    assert trace.analyze().findings == []


def test_exclusive_flock_orders_the_critical_sections(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    for pid in (10, 11):
        ofd = trace.open(pid, "/t/.lock", "O_RDWR|O_CREAT")
        trace.flock(pid, "/t/.lock", ofd, "LOCK_EX")
        trace.op(pid, "mkdir", STAGE)
        trace.op(pid, "openat", f"{STAGE}/f", flags="O_WRONLY|O_CREAT|O_TRUNC")
        trace.op(pid, "unlink", f"{STAGE}/f")
        trace.op(pid, "rmdir", STAGE)
        trace.close(pid, "/t/.lock", ofd, last=True)
    assert warnings_or_worse(trace.analyze()) == []


def test_lock_released_by_unlock_orders(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    for pid in (10, 11):
        ofd = trace.open(pid, "/t/.lock", "O_RDWR|O_CREAT")
        trace.flock(pid, "/t/.lock", ofd, "LOCK_EX")
        trace.op(pid, "mkdir", STAGE)
        trace.op(pid, "rmdir", STAGE)
        trace.flock(pid, "/t/.lock", ofd, "LOCK_UN")
    assert warnings_or_worse(trace.analyze()) == []


def test_shared_locks_order_nothing(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    for pid in (10, 11):
        ofd = trace.open(pid, "/t/.lock", "O_RDWR|O_CREAT")
        trace.flock(pid, "/t/.lock", ofd, "LOCK_SH")
        trace.op(pid, "mkdir", STAGE)
        trace.op(pid, "rmdir", STAGE)
        trace.close(pid, "/t/.lock", ofd, last=True)
    assert "removed-while-in-use" in kinds(trace.analyze(), "warning")


def test_shared_acquire_after_exclusive_release_is_ordered(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    ofd = trace.open(10, "/t/.lock", "O_RDWR|O_CREAT")
    trace.flock(10, "/t/.lock", ofd, "LOCK_EX")
    trace.op(10, "mkdir", STAGE)
    trace.op(10, "rmdir", STAGE)
    trace.close(10, "/t/.lock", ofd)
    ofd2 = trace.open(11, "/t/.lock", "O_RDWR|O_CREAT")
    trace.flock(11, "/t/.lock", ofd2, "LOCK_SH")
    trace.op(11, "newfstatat", STAGE, "ENOENT")
    trace.op(11, "mkdir", STAGE)
    assert warnings_or_worse(trace.analyze()) == []


def test_lock_not_released_while_shared_with_a_child(trace: Trace) -> None:
    # 10 locks, forks 12 (which inherits the fd), and closes its own fd: the
    # lock is still held by 12, so 11's acquire is not ordered after 10's close.
    _launcher(trace, 10, 11)
    ofd = trace.open(10, "/t/.lock", "O_RDWR|O_CREAT")
    trace.flock(10, "/t/.lock", ofd, "LOCK_EX")
    trace.op(10, "mkdir", STAGE)
    trace.close(10, "/t/.lock", ofd, last=False)
    ofd2 = trace.open(11, "/t/.lock", "O_RDWR|O_CREAT")
    trace.flock(11, "/t/.lock", ofd2, "LOCK_EX")
    trace.op(11, "rmdir", STAGE)
    assert "removed-while-in-use" in kinds(trace.analyze(), "warning")


def test_excl_lock_file_protocol_orders(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    for pid in (10, 11):
        trace.op(pid, "openat", "/t/lockfile", flags="O_WRONLY|O_CREAT|O_EXCL")
        trace.op(pid, "mkdir", STAGE)
        trace.op(pid, "rmdir", STAGE)
        trace.op(pid, "unlink", "/t/lockfile")
    assert warnings_or_worse(trace.analyze()) == []


def test_posix_record_locks_with_disjoint_ranges_do_not_order(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    for pid, start in ((10, 0), (11, 100)):
        ofd = trace.open(pid, "/t/db", "O_RDWR")
        trace.op(pid, "fcntl", "/t/db", flags="F_SETLKW", fd=3, ofd=ofd,
                 lock={"op": "ex", "kind": "posix", "start": start, "len": 10, "wait": True})
        trace.op(pid, "mkdir", STAGE)
        trace.op(pid, "rmdir", STAGE)
        trace.op(pid, "fcntl", "/t/db", flags="F_SETLK", fd=3, ofd=ofd,
                 lock={"op": "un", "kind": "posix", "start": start, "len": 10, "wait": False})
    assert "removed-while-in-use" in kinds(trace.analyze(), "warning")


def test_posix_record_locks_overlapping_order(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    for pid in (10, 11):
        ofd = trace.open(pid, "/t/db", "O_RDWR")
        trace.op(pid, "fcntl", "/t/db", flags="F_SETLKW", fd=3, ofd=ofd,
                 lock={"op": "ex", "kind": "posix", "start": 0, "len": 0, "wait": True})
        trace.op(pid, "mkdir", STAGE)
        trace.op(pid, "rmdir", STAGE)
        trace.close(pid, "/t/db", ofd)  # closing any fd drops posix locks
    assert warnings_or_worse(trace.analyze()) == []


def test_reads_against_reads_never_conflict(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    for pid in (10, 11):
        trace.op(pid, "newfstatat", "/t/conf")
        trace.open(pid, "/t/conf", "O_RDONLY")
        trace.op(pid, "getdents64", "/t")
    assert trace.analyze().findings == []


def test_different_names_in_one_directory_never_conflict(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    for pid in (10, 11):
        trace.op(pid, "openat", f"/t/out/{pid}.log", flags="O_WRONLY|O_CREAT|O_EXCL")
        trace.op(pid, "unlink", f"/t/out/{pid}.log")
    assert trace.analyze().findings == []


def test_threads_of_one_process_do_not_race(trace: Trace) -> None:
    _launcher(trace, 10)
    trace.fork(10, 20, thread=True)
    trace.op(10, "mkdir", STAGE)
    trace.op(10, "openat", f"{STAGE}/f", flags="O_WRONLY|O_CREAT", tid=20)
    trace.op(10, "unlink", f"{STAGE}/f", tid=10)
    trace.op(10, "rmdir", STAGE, tid=20)
    assert trace.analyze().findings == []


def test_parent_and_child_ordered_by_fork_and_wait(trace: Trace) -> None:
    trace.exec(1, ["sh"])
    trace.op(1, "mkdir", STAGE)
    trace.fork(1, 2)
    trace.op(2, "openat", f"{STAGE}/f", flags="O_WRONLY|O_CREAT")
    trace.op(2, "unlink", f"{STAGE}/f")
    trace.exit(2)
    trace.wait(1, 2)
    trace.op(1, "rmdir", STAGE)
    assert trace.analyze().findings == []


def test_filled_while_removing_manifested_explains_the_remover(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    trace.op(10, "mkdir", STAGE)
    trace.op(10, "unlink", f"{STAGE}/a")
    trace.op(11, "openat", f"{STAGE}/b", flags="O_WRONLY|O_CREAT|O_EXCL")
    trace.op(10, "rmdir", STAGE, "ENOTEMPTY")
    trace.exit(10, 2)
    a = trace.analyze()
    errors = [f for f in a.findings if f.severity == "error"]
    assert [f.kind for f in errors] == ["filled-while-removing"]
    assert a.history.processes[errors[0].example.victim[1]].pid == 10
    failed = {a.history.processes[i].pid: ids for i, ids in a.explanations.items()}
    assert failed[10] == [errors[0].id]


def test_eexist_handled_is_info(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    trace.op(10, "renameat2", "/t/.tmpX", flags="RENAME_NOREPLACE", path2="/t/.venv/.lock")
    trace.op(11, "renameat2", "/t/.tmpY", "EEXIST", flags="RENAME_NOREPLACE",
             path2="/t/.venv/.lock")
    trace.open(11, "/t/.venv/.lock", "O_RDWR")  # it opens the existing lock and goes on
    trace.exit(10, 0)
    trace.exit(11, 0)
    a = trace.analyze()
    assert a.findings and all(f.severity == "info" for f in a.findings)
    assert kinds(a) == {"create-collision"}


def test_eexist_of_a_process_that_ended_well_is_info(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    trace.op(10, "mkdir", "/t/out")
    trace.op(11, "mkdir", "/t/out", "EEXIST")
    trace.exit(11, 0)
    a = trace.analyze()
    assert [(f.kind, f.severity) for f in a.findings] == [("create-collision", "info")]


def test_eexist_that_killed_the_process_is_an_error(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    trace.op(10, "mkdir", "/t/out")
    trace.op(11, "mkdir", "/t/out", "EEXIST")
    trace.exit(11, 1)
    a = trace.analyze()
    assert [(f.kind, f.severity) for f in a.findings] == [("create-collision", "error")]


def test_rename_over_publish_is_info_but_lost_update_warns(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    # Both read the counter, then both publish a new one by rename-over.
    trace.open(10, "/t/counter", "O_RDONLY")
    trace.open(11, "/t/counter", "O_RDONLY")
    trace.op(10, "rename", "/t/.tmp10", path2="/t/counter")
    trace.op(11, "rename", "/t/.tmp11", path2="/t/counter")
    a = trace.analyze()
    assert ("create-collision", "warning") in {(f.kind, f.severity) for f in a.findings}
    t2 = Trace()
    _launcher(t2, 10, 11)
    t2.op(10, "rename", "/t/.tmp10", path2="/t/counter")
    t2.op(11, "rename", "/t/.tmp11", path2="/t/counter")
    assert {(f.kind, f.severity) for f in t2.analyze().findings} == {("create-collision", "info")}


def test_check_then_use(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    trace.op(10, "newfstatat", "/t/config", "ENOENT")
    trace.op(11, "openat", "/t/config", flags="O_WRONLY|O_CREAT|O_EXCL")
    trace.op(10, "openat", "/t/config", "EEXIST", flags="O_WRONLY|O_CREAT|O_EXCL")
    trace.exit(10, 1)
    a = trace.analyze()
    assert ("check-then-use", "manifested", "error") in {
        (f.kind, f.verdict, f.severity) for f in a.findings}


def test_concurrent_write(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    trace.open(10, "/t/data.json", "O_WRONLY|O_CREAT|O_TRUNC")
    trace.open(11, "/t/data.json", "O_WRONLY|O_CREAT|O_TRUNC")
    trace.open(11, "/t/data.json")  # read back: someone observes the content
    a = trace.analyze()
    assert ("concurrent-write", "latent", "warning") in {
        (f.kind, f.verdict, f.severity) for f in a.findings}


def test_appenders_are_info(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    trace.open(10, "/t/log", "O_WRONLY|O_CREAT|O_APPEND")
    trace.open(11, "/t/log", "O_WRONLY|O_CREAT|O_APPEND")
    assert {(f.kind, f.severity) for f in trace.analyze().findings} == {("concurrent-write", "info")}


def test_failed_process_without_race_is_reported_unexplained(trace: Trace) -> None:
    _launcher(trace, 10)
    trace.op(10, "openat", "/t/missing", "ENOENT")
    trace.exit(10, 1)
    a = trace.analyze()
    assert a.explanations == {a.history.by_key["10"]: []}


def test_descendant_failure_explains_the_parent(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    trace.fork(10, 12)
    trace.op(12, "mkdir", STAGE)
    trace.op(11, "rmdir", STAGE)
    trace.op(12, "openat", f"{STAGE}/f", "ENOENT", flags="O_WRONLY|O_CREAT")
    trace.exit(12, 0)          # the child swallowed the error...
    trace.wait(10, 12)
    trace.exit(10, 3)          # ...and the parent died later
    a = trace.analyze()
    ids = a.explanations[a.history.by_key["10"]]
    # The child's staging dir is also a lost output (it exited 0; the dir is gone).
    assert ids and {f.kind for f in a.findings if f.id in ids} <= {"removed-while-in-use",
                                                                  "lost-output"}
    assert "removed-while-in-use" in {f.kind for f in a.findings if f.id in ids}


def test_sites_fold_random_names_and_versions() -> None:
    from fsrace.analyzers.sites import normalize_path
    assert normalize_path("/v/.tmpnLA8ja/index.j2") == "/v/.tmp*/index.j2"
    assert normalize_path("/v/site-packages/jupyterlab-4.6.6.data/x") == \
        "/v/site-packages/jupyterlab-*.data/x"
    assert normalize_path("/c/archive-v0/3b1f9a8c2d4e5f60/x") == "/c/archive-v*/*/x"


def test_release_printed_after_the_acquire_it_allowed_still_orders(trace: Trace) -> None:
    # strace prints a blocked flock(LOCK_EX) when it returns, which can be
    # before the holder's flock(LOCK_UN) line: the acquire cannot have
    # succeeded while the holder held the lock, so the release came first.
    _launcher(trace, 10, 11)
    o10 = trace.open(10, "/t/.lock", "O_RDWR|O_CREAT")
    o11 = trace.open(11, "/t/.lock", "O_RDWR|O_CREAT")
    trace.flock(10, "/t/.lock", o10, "LOCK_EX")
    trace.op(10, "mkdir", STAGE)
    trace.op(10, "rmdir", STAGE)
    trace.flock(11, "/t/.lock", o11, "LOCK_EX")   # returned first...
    trace.flock(10, "/t/.lock", o10, "LOCK_UN")   # ...printed second
    trace.op(11, "mkdir", STAGE)
    trace.op(11, "rmdir", STAGE)
    assert warnings_or_worse(trace.analyze()) == []


def test_lock_file_unlink_printed_after_the_next_create_still_hands_over(trace: Trace) -> None:
    _launcher(trace, 10, 11, 12)
    trace.op(10, "openat", "/t/app.lock", flags="O_WRONLY|O_CREAT|O_EXCL")
    trace.op(10, "openat", "/t/owner", flags="O_WRONLY|O_CREAT|O_TRUNC")
    trace.op(11, "openat", "/t/app.lock", flags="O_WRONLY|O_CREAT|O_EXCL")  # returned first...
    trace.op(10, "unlink", "/t/app.lock")                                    # ...printed second
    trace.op(11, "openat", "/t/owner", flags="O_WRONLY|O_CREAT|O_TRUNC")
    trace.op(11, "unlink", "/t/app.lock")
    trace.op(12, "openat", "/t/app.lock", flags="O_WRONLY|O_CREAT|O_EXCL")
    trace.op(12, "openat", "/t/owner", flags="O_WRONLY|O_CREAT|O_TRUNC")
    trace.op(12, "unlink", "/t/app.lock")
    assert warnings_or_worse(trace.analyze()) == []


def test_a_check_that_finds_gone_what_the_process_just_saw_is_a_failure(trace: Trace) -> None:
    # uv's create_dir_all: mkdir says EEXIST, the follow-up stat finds the
    # directory gone (another process removed it in between), uv gives up.
    _launcher(trace, 10, 11)
    trace.op(11, "mkdir", STAGE)
    trace.op(10, "mkdir", STAGE, "EEXIST")
    trace.op(11, "rmdir", STAGE)
    trace.op(10, "statx", STAGE, "ENOENT")
    trace.exit(10, 2)
    a = trace.analyze()
    ids = a.explanations[a.history.by_key["10"]]
    by_id = {f.id: f for f in a.findings}
    assert ids and by_id[ids[0]].kind == "removed-while-in-use" and by_id[ids[0]].severity == "error"


def _removal_overlapping_the_stat(trace: Trace, removal_enters: float):
    # Seen in a real uv 0.6.11 round: the rmdir entered the kernel, the
    # other process's stat entered and returned ENOENT, then the rmdir
    # returned -- so the log numbers the rmdir after the failure.
    _launcher(trace, 10, 11)
    trace.op(11, "mkdir", STAGE, ts=1.00, ts_end=1.01)
    trace.op(10, "mkdir", STAGE, "EEXIST", ts=1.02, ts_end=1.03)
    trace.op(10, "statx", STAGE, "ENOENT", ts=1.05, ts_end=1.06)
    trace.op(11, "rmdir", STAGE, ts=removal_enters, ts_end=1.08)
    trace.exit(10, 2)
    return trace.analyze()


def test_a_removal_that_overlapped_the_failed_call_explains_it(trace: Trace) -> None:
    a = _removal_overlapping_the_stat(trace, removal_enters=1.04)
    ids = a.explanations[a.history.by_key["10"]]
    by_id = {f.id: f for f in a.findings}
    assert ids and by_id[ids[0]].kind == "removed-while-in-use"
    assert by_id[ids[0]].verdict == "manifested"


def test_a_removal_that_began_after_the_failure_returned_does_not(trace: Trace) -> None:
    a = _removal_overlapping_the_stat(trace, removal_enters=1.07)
    removals = [f for f in a.findings if f.kind == "removed-while-in-use"]
    assert removals and all(f.verdict == "latent" for f in removals)


def _eexist_before_the_winner_returned(trace: Trace, winner_enters: float):
    _launcher(trace, 10, 11)
    trace.op(10, "mkdir", "/t/out", "EEXIST", ts=1.02, ts_end=1.03)
    trace.op(11, "mkdir", "/t/out", ts=winner_enters, ts_end=1.05)
    trace.exit(10, 2)
    return [f for f in trace.analyze().findings if f.kind == "create-collision"]


def test_an_eexist_is_explained_by_a_create_that_returned_after_it(trace: Trace) -> None:
    found = _eexist_before_the_winner_returned(trace, winner_enters=1.01)
    assert [(f.verdict, f.severity) for f in found] == [("manifested", "error")]
    assert found[0].conflicts[0].victim[1] == trace.analyze().history.by_key["10"]


def test_an_eexist_is_not_explained_by_a_create_that_began_after_it(trace: Trace) -> None:
    assert _eexist_before_the_winner_returned(trace, winner_enters=1.04) == []


def test_a_first_look_that_finds_nothing_is_not_a_failure(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    trace.op(11, "mkdir", STAGE)
    trace.op(11, "rmdir", STAGE)
    trace.op(10, "statx", STAGE, "ENOENT")     # just asking
    trace.exit(10, 1)
    a = trace.analyze()
    assert a.explanations[a.history.by_key["10"]] == []
