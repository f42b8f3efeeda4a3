"""Path resolution and process state, from short hand-written strace logs.

Each test writes a few lines in `strace -f -o` format (pid column, no
timestamps), imports them, and checks the resolved paths of the events.
"""

from __future__ import annotations

from pathlib import Path

from fsrace.tracer.eventlog import open_event_log
from fsrace.tracer.strace_import import import_strace

ROOT_EXEC = '100  execve("/bin/prog", ["prog"], 0x7ffd /* 3 vars */) = 0'


def events(tmp_path: Path, *lines: str, cwd: str | None = "/w") -> list[dict]:
    src = tmp_path / "s.log"
    src.write_text("\n".join((ROOT_EXEC,) + lines) + "\n")
    out = tmp_path / "e.jsonl"
    import_strace([str(src)], str(out), initial_cwd=cwd)
    return list(open_event_log(out).events())


def paths_of(evs: list[dict], syscall: str) -> list:
    return [e.get("path") for e in evs if e.get("syscall") == syscall]


def test_relative_paths_use_the_cwd_and_chdir(tmp_path: Path) -> None:
    evs = events(tmp_path,
                 '100  mkdir("a/./b/../c", 0777) = 0',
                 '100  chdir("a") = 0',
                 '100  unlink("x") = 0',
                 '100  chdir("..") = 0',
                 '100  rmdir("/abs//d/") = 0')
    assert paths_of(evs, "mkdir") == ["/w/a/c"]
    assert paths_of(evs, "unlink") == ["/w/a/x"]
    assert paths_of(evs, "rmdir") == ["/abs/d"]


def test_unknown_cwd_is_unresolved_until_getcwd(tmp_path: Path) -> None:
    evs = events(tmp_path,
                 '100  unlink("x") = 0',
                 '100  getcwd("/learnt", 4096) = 8',
                 '100  unlink("y") = 0', cwd=None)
    first, second = [e for e in evs if e.get("syscall") == "unlink"]
    assert first["path"] is None and first["unresolved"] is True
    assert second["path"] == "/learnt/y"


def test_dirfd_relative_and_fds_follow_a_renamed_directory(tmp_path: Path) -> None:
    evs = events(tmp_path,
                 '100  openat(AT_FDCWD, "/t/a", O_RDONLY|O_DIRECTORY) = 3',
                 '100  mkdirat(3, "sub", 0777) = 0',
                 '100  rename("/t/a", "/t/b") = 0',
                 '100  openat(3, "sub/f", O_WRONLY|O_CREAT, 0644) = 4',
                 '100  unlinkat(3, "sub/f", 0) = 0',
                 '100  fchdir(3) = 0',
                 '100  unlink("g") = 0')
    assert paths_of(evs, "mkdirat") == ["/t/a/sub"]
    assert [e["path"] for e in evs if e.get("syscall") == "openat"][1] == "/t/b/sub/f"
    assert paths_of(evs, "unlinkat") == ["/t/b/sub/f"]
    assert paths_of(evs, "unlink") == ["/t/b/g"]


def test_rename_exchange_swaps_open_fds(tmp_path: Path) -> None:
    evs = events(tmp_path,
                 '100  openat(AT_FDCWD, "/t/x", O_RDONLY|O_DIRECTORY) = 3',
                 '100  renameat2(AT_FDCWD, "/t/x", AT_FDCWD, "/t/y", RENAME_EXCHANGE) = 0',
                 '100  mkdirat(3, "n", 0777) = 0')
    assert paths_of(evs, "mkdirat") == ["/t/y/n"]


def test_dup_family_close_and_reuse(tmp_path: Path) -> None:
    evs = events(tmp_path,
                 '100  openat(AT_FDCWD, "/t/d", O_RDONLY|O_DIRECTORY) = 3',
                 '100  dup(3) = 4',
                 '100  dup2(3, 7) = 7',
                 '100  fcntl(3, F_DUPFD_CLOEXEC, 10) = 10',
                 '100  close(3) = 0',
                 '100  mkdirat(4, "a", 0777) = 0',
                 '100  mkdirat(7, "b", 0777) = 0',
                 '100  mkdirat(10, "c", 0777) = 0',
                 '100  mkdirat(3, "gone", 0777) = -1 EBADF (Bad file descriptor)',
                 '100  close_range(4, 4294967295, 0) = 0',
                 '100  mkdirat(7, "after", 0777) = 0')
    got = paths_of(evs, "mkdirat")
    assert got[:3] == ["/t/d/a", "/t/d/b", "/t/d/c"]
    assert got[3] is None and got[4] is None


def test_cloexec_fds_are_dropped_at_exec(tmp_path: Path) -> None:
    evs = events(tmp_path,
                 '100  openat(AT_FDCWD, "/t/keep", O_RDONLY|O_DIRECTORY) = 3',
                 '100  openat(AT_FDCWD, "/t/drop", O_RDONLY|O_DIRECTORY|O_CLOEXEC) = 4',
                 '100  execve("/bin/next", ["next"], 0x7ffd /* 3 vars */) = 0',
                 '100  mkdirat(3, "k", 0777) = 0',
                 '100  mkdirat(4, "d", 0777) = 0')
    assert paths_of(evs, "mkdirat") == ["/t/keep/k", None]


def test_fork_copies_cwd_and_fds_threads_share_them(tmp_path: Path) -> None:
    evs = events(tmp_path,
                 '100  openat(AT_FDCWD, "/t/d", O_RDONLY|O_DIRECTORY) = 3',
                 '100  clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD) = 200',
                 '200  chdir("/child") = 0',
                 '200  mkdirat(3, "from-child", 0777) = 0',
                 '100  mkdir("p", 0777) = 0',
                 '100  clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, exit_signal=0}, 88) = 101',
                 '101  chdir("/thread") = 0',
                 '101  openat(AT_FDCWD, "/t/e", O_RDONLY|O_DIRECTORY) = 5',
                 '100  mkdir("q", 0777) = 0',
                 '100  mkdirat(5, "via-thread-fd", 0777) = 0',
                 '200  mkdir("c", 0777) = 0')
    assert paths_of(evs, "mkdir") == ["/w/p", "/thread/q", "/child/c"]
    assert paths_of(evs, "mkdirat") == ["/t/d/from-child", "/t/e/via-thread-fd"]
    thread_events = [e for e in evs if e["tid"] == 101]
    assert thread_events and all(e["pid"] == 100 and e["proc"] == "100" for e in thread_events)
    forks = [e for e in evs if e["type"] == "fork"]
    assert [(f["child"], f["thread"]) for f in forks] == [(200, False), (101, True)]


def test_child_lines_before_the_clone_returns_are_held_back(tmp_path: Path) -> None:
    evs = events(tmp_path,
                 '100  chdir("/base") = 0',
                 '100  clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD <unfinished ...>',
                 '200  mkdir("early", 0777) = 0',
                 '100  <... clone resumed>) = 200',
                 '200  +++ exited with 4 +++',
                 '100  wait4(-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 4}], 0, NULL) = 200')
    early = next(e for e in evs if e.get("syscall") == "mkdir")
    fork = next(e for e in evs if e["type"] == "fork")
    assert early["path"] == "/base/early" and early["proc"] == "200"
    assert fork["seq"] < early["seq"]
    exit_ev = next(e for e in evs if e["type"] == "exit" and e["pid"] == 200)
    wait = next(e for e in evs if e["type"] == "wait")
    assert exit_ev["code"] == 4 and wait["child_proc"] == "200" and wait["code"] == 4


def test_unfinished_calls_join_per_thread(tmp_path: Path) -> None:
    evs = events(tmp_path,
                 '100  clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD, exit_signal=0}, 88) = 101',
                 '100  renameat2(AT_FDCWD, "/t/a", AT_FDCWD, <unfinished ...>',
                 '101  mkdir("/t/m", 0777 <unfinished ...>',
                 '100  <... renameat2 resumed>"/t/b", RENAME_NOREPLACE) = -1 EEXIST (File exists)',
                 '101  <... mkdir resumed>) = 0')
    ren = next(e for e in evs if e.get("syscall") == "renameat2")
    assert (ren["path"], ren["path2"], ren["errno"], ren["flags"]) == \
        ("/t/a", "/t/b", "EEXIST", "RENAME_NOREPLACE")
    assert paths_of(evs, "mkdir") == ["/t/m"]


def test_pid_reuse_gives_a_new_process_identity(tmp_path: Path) -> None:
    evs = events(tmp_path,
                 '100  clone(child_stack=NULL, flags=SIGCHLD) = 200',
                 '200  +++ exited with 0 +++',
                 '100  wait4(-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = 200',
                 '100  clone(child_stack=NULL, flags=SIGCHLD) = 200',
                 '200  mkdir("/t/second", 0777) = 0')
    second = next(e for e in evs if e.get("syscall") == "mkdir")
    assert second["proc"] == "200~2"


def test_y_decorations_name_inherited_fds(tmp_path: Path) -> None:
    evs = events(tmp_path,
                 '100  mkdirat(9</inherited/dir>, "x", 0777) = 0',
                 '100  newfstatat(AT_FDCWD</from/deco>, "rel", {st_mode=S_IFREG|0644, ...}, 0) = 0',
                 cwd=None)
    assert paths_of(evs, "mkdirat") == ["/inherited/dir/x"]
    assert paths_of(evs, "newfstatat") == ["/from/deco/rel"]


def test_flock_and_last_close_of_an_open_file_description(tmp_path: Path) -> None:
    evs = events(tmp_path,
                 '100  openat(AT_FDCWD, "/t/.lock", O_RDWR|O_CREAT|O_CLOEXEC, 0644) = 3',
                 '100  dup(3) = 4',
                 '100  flock(3, LOCK_EX) = 0',
                 '100  close(3) = 0',
                 '100  close(4) = 0')
    fl = next(e for e in evs if e.get("syscall") == "flock")
    assert fl["lock"]["op"] == "ex" and fl["path"] == "/t/.lock"
    closes = [e for e in evs if e.get("syscall") == "close"]
    assert [c["last"] for c in closes] == [False, True]
    assert closes[0]["ofd"] == closes[1]["ofd"] == fl["ofd"]


def test_non_utf8_and_escaped_names_are_kept_faithfully(tmp_path: Path) -> None:
    evs = events(tmp_path, r'100  mkdir("/t/caf\351 \"q\"\nx", 0777) = 0')
    path = paths_of(evs, "mkdir")[0]
    import os
    assert os.fsencode(path) == b'/t/caf\xe9 "q"\nx'


def test_execve_from_a_thread_returns_in_the_leader(tmp_path: Path) -> None:
    evs = events(tmp_path,
                 '100  clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD, exit_signal=0}, 88) = 101',
                 '101  execve("/bin/next", ["next", "arg"], 0x7ffd /* 3 vars */ <pid changed to 100 ...>',
                 '100  +++ superseded by execve in pid 101 +++',
                 '100  <... execve resumed>) = 0',
                 '100  mkdir("d", 0777) = 0')
    exe = next(e for e in evs if e["type"] == "exec" and e["argv"][0] == "next")
    assert exe["pid"] == 100 and exe["argv"] == ["next", "arg"] and exe["result"] == 0
    mkdir = next(e for e in evs if e.get("syscall") == "mkdir")
    assert exe["seq"] < mkdir["seq"] and mkdir["path"] == "/w/d"
    assert not any(e.get("incomplete") for e in evs)


def test_a_close_printed_after_the_open_that_reused_its_fd(tmp_path: Path) -> None:
    # Thread 101 closes fd 5 and thread 100 opens a directory that gets fd 5;
    # strace prints the open first.  The late close belongs to the old file.
    evs = events(tmp_path,
                 '100  clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD, exit_signal=0}, 88) = 101',
                 '101  openat(AT_FDCWD, "/t/old", O_RDONLY) = 5',
                 '100  openat(AT_FDCWD, "/t/newdir", O_RDONLY|O_DIRECTORY) = 5',
                 '101  close(5) = 0',
                 '100  mkdirat(5, "x", 0777) = 0',
                 '100  dup2(3, 5) = 5',
                 '100  close(5) = 0')
    closes = [e for e in evs if e.get("syscall") == "close"]
    assert closes[0]["path"] == "/t/old"
    assert paths_of(evs, "mkdirat") == ["/t/newdir/x"]
