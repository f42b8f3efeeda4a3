"""Verdict rules of issue 12, one hand-made trace per rule (the real programs
behind each shape are in tests/test_corpus.py)."""

from __future__ import annotations

from conftest import Trace, warnings_or_worse

REPO = "/r/.git"


def _launcher(t: Trace, *children: int) -> None:
    t.exec(1, ["launcher"])
    for c in children:
        t.fork(1, c)
        t.exec(c, ["git", "add"])


def _finding(a, kind: str):
    got = [f for f in a.findings if f.kind == kind]
    assert got, [(f.kind, f.severity) for f in a.findings]
    return got[0]


def _explained_by(a, pid: int) -> list:
    idx = a.history.by_key[str(pid)]
    by_id = {f.id: f for f in a.findings}
    return [by_id[i] for i in a.explanations[idx]]


# ------------------------------------------------------------ lock contention

def _index_lock_race(t: Trace, loser_exit: int, commit_by_rename: bool) -> None:
    _launcher(t, 10, 11)
    t.op(10, "openat", f"{REPO}/index.lock", flags="O_RDWR|O_CREAT|O_EXCL")
    t.op(11, "openat", f"{REPO}/index.lock", "EEXIST", flags="O_RDWR|O_CREAT|O_EXCL")
    t.exit(11, loser_exit)
    if commit_by_rename:
        t.op(10, "rename", f"{REPO}/index.lock", path2=f"{REPO}/index")
    else:
        t.op(10, "unlink", f"{REPO}/index.lock")
    t.exit(10, 0)


def test_lock_file_loser_that_gives_up_is_explained_by_the_holder(trace: Trace) -> None:
    _index_lock_race(trace, 128, commit_by_rename=True)
    a = trace.analyze()
    f = _finding(a, "lock-contention")
    assert (f.verdict, f.severity) == ("manifested", "error")
    assert "pid 10 held the lock file" in f.note and "pid 11 was refused" in f.note
    assert [x.kind for x in _explained_by(a, 11)] == ["lock-contention"]
    assert a.chains[a.history.by_key["11"]][f.id] == "git 11 \u2190 lock held by git 10"
    # The rename that commits the lock is the protocol, not a removal race.
    assert [x.kind for x in warnings_or_worse(a)] == ["lock-contention"]


def test_lock_file_removed_by_unlink_is_explained_too(trace: Trace) -> None:
    _index_lock_race(trace, 128, commit_by_rename=False)
    a = trace.analyze()
    assert [x.kind for x in _explained_by(a, 11)] == ["lock-contention"]


def test_lock_file_loser_that_exits_0_is_info(trace: Trace) -> None:
    _index_lock_race(trace, 0, commit_by_rename=True)
    f = _finding(trace.analyze(), "lock-contention")
    assert f.severity == "info" and "handled: exited 0" in f.note


def _flock(t: Trace, pid: int, path: str, how: str, errno: str | None = None) -> None:
    op = "ex" if "EX" in how else "sh" if "SH" in how else "un"
    t.op(pid, "flock", path, errno, flags=how, fd=3, ofd=100 + pid,
         lock={"op": op, "kind": "flock", "start": 0, "len": 0, "wait": "LOCK_NB" not in how})


def test_refused_nonblocking_flock_then_giving_up_is_an_error(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    _flock(trace, 10, "/c/.lock", "LOCK_EX")
    _flock(trace, 11, "/c/.lock", "LOCK_EX|LOCK_NB", "EAGAIN")
    trace.exit(11, 1)
    _flock(trace, 10, "/c/.lock", "LOCK_UN")
    trace.exit(10, 0)
    a = trace.analyze()
    f = _finding(a, "lock-contention")
    assert (f.verdict, f.severity) == ("manifested", "error")
    assert [x.kind for x in _explained_by(a, 11)] == ["lock-contention"]


def test_refused_nonblocking_flock_then_waiting_is_info(trace: Trace) -> None:
    # cargo: "Blocking waiting for file lock", then the blocking flock succeeds.
    _launcher(trace, 10, 11)
    _flock(trace, 10, "/c/.lock", "LOCK_EX")
    _flock(trace, 11, "/c/.lock", "LOCK_EX|LOCK_NB", "EAGAIN")
    _flock(trace, 10, "/c/.lock", "LOCK_UN")
    _flock(trace, 11, "/c/.lock", "LOCK_EX")
    trace.exit(11, 3)   # fails later, for another reason: the retry succeeded
    trace.exit(10, 0)
    f = _finding(trace.analyze(), "lock-contention")
    assert f.severity == "info" and "retried and succeeded" in f.note


# ------------------------------------------------------------ handled by outcome

def test_rollback_then_death_is_an_error_not_a_warning(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    trace.op(10, "mkdir", "/t/stage")
    trace.op(10, "openat", "/t/stage/f", flags="O_WRONLY|O_CREAT|O_TRUNC")
    trace.op(11, "unlink", "/t/stage/f")
    trace.op(10, "rename", "/t/stage/f", "ENOENT", path2="/t/out/f")
    trace.op(10, "rename", "/t/out/g", path2="/t/stage/g")   # rollback
    trace.op(10, "openat", "/t/stage/f", flags="O_WRONLY|O_CREAT")  # used again, still dies
    trace.exit(10, 2)
    trace.exit(11, 0)
    f = _finding(trace.analyze(), "removed-while-in-use")
    assert (f.verdict, f.severity) == ("manifested", "error")


def test_eexist_then_failed_work_is_not_info(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    trace.op(10, "mkdir", "/t/dir")
    trace.op(11, "mkdir", "/t/dir", "EEXIST")
    trace.op(11, "openat", "/t/dir/x", flags="O_WRONLY|O_CREAT")
    trace.exit(11, 1)
    trace.exit(10, 0)
    f = _finding(trace.analyze(), "create-collision")
    assert (f.verdict, f.severity) == ("manifested", "error") and "handled" not in f.note


def test_eexist_and_exit_0_is_info(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    trace.op(10, "mkdir", "/t/dir")
    trace.op(11, "mkdir", "/t/dir", "EEXIST")
    trace.exit(11, 0)
    trace.exit(10, 0)
    f = _finding(trace.analyze(), "create-collision")
    assert f.severity == "info" and "handled: exited 0" in f.note


def test_failure_retried_successfully_is_handled(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    trace.op(10, "openat", "/t/d/f", flags="O_WRONLY|O_CREAT")
    trace.op(11, "rmdir", "/t/d")
    trace.op(10, "openat", "/t/d/f", "ENOENT", flags="O_WRONLY|O_CREAT")
    trace.op(10, "mkdir", "/t/d")
    trace.op(10, "openat", "/t/d/f", flags="O_WRONLY|O_CREAT")   # the retry works
    trace.exit(10, 1)
    trace.exit(11, 0)
    a = trace.analyze()
    f = next(f for f in a.findings if f.verdict == "manifested")
    assert f.severity == "warning"      # a real race, but handled: not what broke the run


# ------------------------------------------------------------ atomic replace

def _compile(t: Trace, pid: int, out: str, read_first: bool | None) -> None:
    t.op(pid, "newfstatat", out, "ENOENT")
    if read_first is not None:
        t.op(pid, "openat", out, None if read_first else "ENOENT", flags="O_RDONLY")
    t.op(pid, "openat", f"{out}.{pid}", flags="O_WRONLY|O_CREAT|O_EXCL")


def test_atomic_replace_of_independent_outputs_is_not_a_race(trace: Trace) -> None:
    # python -m compileall x2: stat/open the .pyc (absent), write a temp, rename over.
    _launcher(trace, 10, 11)
    out = "/t/__pycache__/m.cpython-311.pyc"
    _compile(trace, 10, out, read_first=False)
    _compile(trace, 11, out, read_first=False)
    trace.op(10, "rename", f"{out}.10", path2=out)
    trace.op(11, "rename", f"{out}.11", path2=out)
    trace.exit(10, 0)
    trace.exit(11, 0)
    a = trace.analyze()
    assert warnings_or_worse(a) == []
    assert _finding(a, "create-collision").note == "atomic rename-over"


def test_lost_update_needs_a_read_of_the_target(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    out = "/t/ledger"
    trace.op(10, "openat", out, flags="O_RDONLY")
    trace.op(11, "openat", out, flags="O_RDONLY")
    trace.op(10, "rename", f"{out}.10", path2=out)
    trace.op(11, "rename", f"{out}.11", path2=out)   # read before 10's publish: 10's update lost
    trace.exit(10, 0)
    trace.exit(11, 0)
    f = _finding(trace.analyze(), "create-collision")
    assert f.severity == "warning" and f.note == "lost update"


def test_unread_write_write_race_is_info_and_says_what_could_happen(trace: Trace) -> None:
    # uv 0.13.9: every copy create-truncates the empty marker sdists-v11/.git.
    _launcher(trace, 10, 11)
    marker = "/c/sdists-v11/.git"
    trace.op(10, "openat", marker, flags="O_WRONLY|O_CREAT|O_TRUNC")
    trace.op(11, "openat", marker, flags="O_WRONLY|O_CREAT|O_TRUNC")
    trace.exit(10, 0)
    trace.exit(11, 0)
    f = _finding(trace.analyze(), "concurrent-write")
    assert f.severity == "info" and "nothing in the trace reads it" in f.note


def test_content_addressed_writers_are_info(trace: Trace) -> None:
    # The go build cache writes <hash>-d in place; every writer has the same bytes.
    _launcher(trace, 10, 11)
    entry = "/g/cache/11/118a1380b08f5df1154585b302373a9a23987fbddfed9513fae99d4256a23c87-d"
    for pid in (10, 11):
        trace.op(pid, "newfstatat", entry, "ENOENT")
        trace.op(pid, "openat", entry, flags="O_WRONLY|O_CREAT")
    trace.op(10, "openat", entry, flags="O_RDONLY")
    trace.exit(10, 0)
    trace.exit(11, 0)
    assert warnings_or_worse(trace.analyze()) == []


def test_check_then_create_without_excl_is_still_a_race(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    trace.op(10, "newfstatat", "/t/claims/item-1", "ENOENT")
    trace.op(11, "openat", "/t/claims/item-1", flags="O_WRONLY|O_CREAT|O_TRUNC")
    trace.op(10, "openat", "/t/claims/item-1", flags="O_WRONLY|O_CREAT|O_TRUNC")
    trace.op(11, "openat", "/t/claims/item-1", flags="O_RDONLY")   # who owns it?
    assert "check-then-use" in {f.kind for f in warnings_or_worse(trace.analyze())}


def test_create_if_absent_of_a_file_nobody_reads_is_info(trace: Trace) -> None:
    # The go build cache: stat README, write it if absent; nobody reads it.
    _launcher(trace, 10, 11)
    readme = "/g/cache/README"
    trace.op(10, "newfstatat", readme, "ENOENT")
    trace.op(11, "newfstatat", readme, "ENOENT")
    trace.op(11, "openat", readme, flags="O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC")
    trace.op(10, "openat", readme, flags="O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC")
    a = trace.analyze()
    assert warnings_or_worse(a) == []
    assert "nothing in the trace reads it" in _finding(a, "check-then-use").note


# ------------------------------------------------------------ explained failures

def test_failure_decided_from_a_read_is_explained_by_who_made_the_state(trace: Trace) -> None:
    # git commit: read the ref, another commit moves it, lock, read again, give up.
    _launcher(trace, 10, 11)
    ref = f"{REPO}/refs/heads/master"
    trace.op(11, "openat", ref, flags="O_RDONLY")
    trace.op(10, "openat", ref, flags="O_RDONLY")
    trace.op(10, "openat", f"{ref}.lock", flags="O_RDWR|O_CREAT|O_EXCL")
    trace.op(10, "rename", f"{ref}.lock", path2=ref)
    trace.exit(10, 0)
    trace.op(11, "openat", f"{ref}.lock", flags="O_RDWR|O_CREAT|O_EXCL")
    trace.op(11, "openat", ref, flags="O_RDONLY")        # "is at X but expected Y"
    trace.op(11, "unlink", f"{ref}.lock")
    trace.exit(11, 128)
    a = trace.analyze()
    got = _explained_by(a, 11)
    assert [f.kind for f in got] == ["saw-foreign-state"]
    c = got[0].conflicts[0]
    assert a.history.processes[c.culprit[1]].pid == 10 and c.culprit[3] == "rename"


def test_state_that_happened_before_the_first_look_explains_nothing(trace: Trace) -> None:
    _launcher(trace, 10)
    trace.op(1, "openat", "/t/config", flags="O_WRONLY|O_CREAT|O_TRUNC")
    trace.fork(1, 11)
    trace.op(11, "openat", "/t/config", flags="O_RDONLY")
    trace.exit(11, 1)
    a = trace.analyze()
    assert a.explanations[a.history.by_key["11"]] == []


def test_parent_failing_after_its_child_says_the_chain(trace: Trace) -> None:
    # pip 10 <- its child 12 lists a build dir that 13, a child of pip 11, recreated.
    trace.exec(1, ["launcher"])
    for pip in (10, 11):
        trace.fork(1, pip)
        trace.exec(pip, ["pip", "install"])
    trace.fork(10, 12)
    trace.fork(11, 13)
    trace.op(12, "getdents64", "/b/pkg")
    trace.op(13, "rmdir", "/b/pkg")
    trace.op(13, "mkdir", "/b/pkg")
    trace.op(12, "getdents64", "/b/pkg")
    trace.op(12, "openat", "/b/pkg", flags="O_RDONLY|O_DIRECTORY")
    trace.exit(12, 0)
    trace.wait(10, 12)
    trace.exit(10, 1)     # "invalid wheel: no .../WHEEL"
    trace.exit(13, 0)
    trace.exit(11, 0)
    a = trace.analyze()
    got = _explained_by(a, 10)
    assert got, [(f.kind, f.severity) for f in a.findings]
    chain = a.chains[a.history.by_key["10"]][got[0].id]
    assert chain.startswith("pip 10 \u2190 its child 12 \u2190 ") and chain.endswith(
        "13, a child of pip 11"), chain


# ------------------------------------------------------------ lost outputs

def test_outputs_lost_although_every_copy_exited_0(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    trace.op(10, "mkdir", "/t/target/six")
    trace.op(10, "rename", "/t/.tmp10/six.py", path2="/t/target/six/six.py")
    trace.op(11, "unlink", "/t/target/six/six.py")
    trace.op(11, "rmdir", "/t/target/six")
    trace.op(11, "mkdir", "/t/target/idna")
    trace.exit(10, 0)
    trace.exit(11, 0)
    a = trace.analyze()
    f = _finding(a, "lost-output")
    assert (f.verdict, f.severity) == ("manifested", "error")
    assert f.site == "/t/target/six/**" or f.site.startswith("/t/target/six")
    assert a.lost_outputs == {a.history.by_key["10"]}


def test_an_output_put_back_is_not_lost(trace: Trace) -> None:
    _launcher(trace, 10, 11)
    trace.op(10, "rename", "/t/.tmp10/six.py", path2="/t/target/six.py")
    trace.op(11, "unlink", "/t/target/six.py")
    trace.op(11, "rename", "/t/.tmp11/six.py", path2="/t/target/six.py")
    trace.exit(10, 0)
    trace.exit(11, 0)
    assert "lost-output" not in {f.kind for f in trace.analyze().findings}


def test_a_removal_ordered_after_the_creation_is_cleanup(trace: Trace) -> None:
    _launcher(trace, 10)
    trace.op(10, "openat", "/t/out.o", flags="O_WRONLY|O_CREAT|O_TRUNC")
    trace.exit(10, 0)
    trace.wait(1, 10)
    trace.op(1, "unlink", "/t/out.o")
    assert "lost-output" not in {f.kind for f in trace.analyze().findings}


def test_unnamed_tmpfiles_in_one_directory_do_not_race(trace: Trace) -> None:
    # tempfile.TemporaryFile: openat("/tmp", O_RDWR|O_EXCL|O_TMPFILE) makes no name.
    _launcher(trace, 10, 11)
    for pid in (10, 11):
        trace.op(pid, "openat", "/tmp", flags="O_RDWR|O_EXCL|O_NOFOLLOW|O_CLOEXEC|O_TMPFILE")
    trace.op(10, "getdents64", "/tmp")
    assert trace.analyze().findings == []


def test_directory_renamed_onto_one_that_won_is_a_handled_atomic_create(trace: Trace) -> None:
    # cargo: stat target/ (absent), build targetXXXX/, rename it onto target/;
    # the loser's rename fails ENOTEMPTY and it uses the winner's.
    _launcher(trace, 10, 11)
    for pid in (10, 11):
        trace.op(pid, "statx", "/c/target", "ENOENT")
        trace.op(pid, "mkdir", f"/c/target{pid}")
        trace.op(pid, "openat", f"/c/target{pid}/CACHEDIR.TAG", flags="O_WRONLY|O_CREAT|O_TRUNC")
    trace.op(10, "rename", "/c/target10", path2="/c/target")
    trace.op(11, "rename", "/c/target11", "ENOTEMPTY", path2="/c/target")
    trace.exit(10, 0)
    trace.exit(11, 0)
    a = trace.analyze()
    assert warnings_or_worse(a) == []
    assert _finding(a, "check-then-use").severity == "info"


def test_directory_rename_refused_as_not_empty_is_a_lost_create(trace: Trace) -> None:
    # pip --target --upgrade: remove the old package dir, move ours in; another
    # copy moved its own in between and our rename fails ENOTEMPTY; pip dies.
    _launcher(trace, 10, 11)
    trace.op(10, "newfstatat", "/t/target/pkg")
    trace.op(10, "rmdir", "/t/target/pkg")
    trace.op(11, "rename", "/tmp/t11/pkg", path2="/t/target/pkg")
    trace.op(10, "rename", "/tmp/t10/pkg", "ENOTEMPTY", path2="/t/target/pkg")
    trace.exit(10, 2)
    trace.exit(11, 0)
    a = trace.analyze()
    got = _explained_by(a, 10)
    assert got and got[0].severity == "error", [(f.kind, f.severity) for f in a.findings]
    c = next(c for c in got[0].conflicts if c.victim[1] == a.history.by_key["10"])
    assert a.history.processes[c.culprit[1]].pid == 11
