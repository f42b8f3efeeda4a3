"""The terminal report: diagnosis first, readable at 80 columns, one closing line."""

from __future__ import annotations

from rich.console import Console

from conftest import Trace
from test_root_causes import SP, staging_race

from fsrace.analyzers.analyze import analyze_events
from fsrace.reports.report_text import render_text
from fsrace.reports.text_words import fit_path, gap_words


def _render(a, width: int = 80, **options) -> list[str]:
    console = Console(record=True, width=width, color_system=None, soft_wrap=False)
    render_text(a, console, **options)
    return console.export_text().splitlines()


def _staging(helpers: int = 0, **trailer):
    t = Trace()
    staging_race(t)
    for i in range(helpers):  # pyenv-shim style helpers that fail on their own
        pid = 50 + i
        t.fork(1, pid)
        t.exec(pid, ["/usr/bin/readlink", "-f", "/nowhere"])
        t.op(pid, "readlink", "/nowhere", errno="ENOENT")
        t.exit(pid, 1)
    return analyze_events(t.events, {"backend": "strace"}, trailer)


def test_first_screen_says_what_failed_where_why_and_the_fix() -> None:
    lines = _render(_staging(launcher_pid=1), width=80)
    head = "\n".join(lines[:25])
    assert lines[0].startswith("fsrace: ") and "1 of 3 copies of `uv sync -q` failed" in lines[0]
    assert "1 root cause" in lines[0] or "root causes" in lines[0]
    assert "R1 error" in head
    assert "`*.data` directories" in head                 # the resource
    assert "pid 3 unlink" in head or "pid 3 rmdir" in head   # the culprit's operation
    assert "pid 2 rename" in head and "ENOENT" in head    # the victim's failed call
    assert "nothing ordered them" in head                 # the missing order
    assert "fix: " in head and "exclusive lock" in head   # what would order them
    assert "← R1" in head                                 # the failed copy names its root cause


def test_fits_80_columns_and_ends_with_one_summary_line() -> None:
    for width in (80, 120):
        lines = _render(_staging(launcher_pid=1), width=width)
        assert all(len(line) <= width for line in lines), max(lines, key=len)
        last = lines[-1]
        assert last.startswith("==") and last.endswith("==")
        assert "of 3" in last or "1/3" in last


def test_launcher_never_counted_and_helpers_collapse_into_one_line() -> None:
    lines = _render(_staging(helpers=3, launcher_pid=1), width=100)
    text = "\n".join(lines)
    assert "pid 1 " not in text                          # the launcher is not a failed process
    helper_lines = [ln for ln in lines if "helper processes" in ln]
    assert len(helper_lines) == 1 and "readlink ×3" in helper_lines[0]
    assert not any(ln.strip().startswith("pid 50") for ln in lines)


def test_without_a_trailer_the_parent_shell_points_at_its_child() -> None:
    lines = _render(_staging(), width=100)
    assert any("pid 1 exit 2: its child pid 2 failed" in ln for ln in lines)
    assert any("explains 1 of 1 failed copy" in ln for ln in lines)  # the shell is not counted


def test_times_read_cause_then_effect() -> None:
    class C:
        pass

    # culprit: seq 10, 1.000 s → 1.001 s; victim enters at 1.0027 s.
    c = C()
    c.culprit = (10, 0, "remove", "rmdir", None, 1.000, "/d", None, None, 1.001)
    c.victim = (11, 1, "check", "stat", "ENOENT", 1.0027, "/d", None, None, 1.0028)
    assert gap_words(c) == "1.70 ms after the removal"
    # The victim's call started before the removal returned: they overlapped.
    c.victim = (9, 1, "check", "stat", "ENOENT", 1.0005, "/d", None, None, 1.0012)
    assert "overlapped" in gap_words(c)


def test_paths_are_shortened_in_the_middle_and_relative_to_the_root() -> None:
    path = f"{SP}/idna-3.10.data/data/share/man/man1/idna.1"
    short = fit_path(path, 40, "/p")
    assert len(short) <= 40 and short.startswith(".venv/") and short.endswith("/idna.1")
    assert "…" in short


def test_filters_and_detail() -> None:
    a = _staging(launcher_pid=1)
    default = "\n".join(_render(a, width=80))
    assert "Race sites" not in default and "--all" in default
    detail = _render(a, width=80, detail=True)
    assert any(ln.startswith("Race sites") for ln in detail)
    assert not any("┃" in ln for ln in detail)           # list layout below 120 columns
    assert any("┃" in ln for ln in _render(a, width=160, detail=True))
    manifested = "\n".join(_render(a, width=120, detail=True, only="manifested"))
    assert "latent" not in manifested.split("Race sites")[1].split("\n=")[0]
    quiet = _render(a, width=120, quiet=True)
    assert quiet[0].startswith("fsrace: ") and quiet[-1].startswith("==") and len(quiet) <= 6


def test_log_warnings_and_hostile_names_print_literally() -> None:
    t = Trace()
    staging_race(t)
    evil = "/w/[bold red]x[/]\x1b[31m"
    t.fork(1, 9)
    t.exec(9, ["/usr/bin/tool", "go"])
    t.fork(1, 10)
    t.exec(10, ["/usr/bin/tool", "go"])
    t.open(9, evil, "O_WRONLY|O_CREAT")
    t.op(10, "unlink", evil)
    t.open(9, evil, "O_RDONLY", errno="ENOENT")
    t.exit(9, 1)
    t.exit(10, 0)
    a = analyze_events(t.events, {}, {"launcher_pid": 1,
                                      "warnings": ["2 events were out of order"]})
    text = "\n".join(_render(a, width=200, detail=True))
    assert "warning: 2 events were out of order" in text
    assert "[bold red]x[/]\\x1b[31m" in text and "\x1b" not in text


def test_a_clean_run_says_so() -> None:
    t = Trace()
    t.exec(1, ["sh"])
    t.fork(1, 2)
    t.exec(2, ["/usr/bin/tool"])
    t.open(2, "/w/a", "O_WRONLY|O_CREAT")
    t.exit(2, 0)
    lines = _render(t.analyze(), width=80)
    assert any("No races found" in ln for ln in lines)
    assert lines[-1].startswith("==") and "no races" in lines[-1]


def test_outputs_lost_with_every_copy_at_0_are_said_first_and_last(trace: Trace) -> None:
    t = trace
    t.exec(1, ["sh"])
    for p in (10, 11):
        t.fork(1, p)
        t.exec(p, ["/usr/bin/pip", "install"])
    t.op(10, "mkdir", "/t/target/six")
    t.op(10, "rename", "/t/.tmp10/six.py", path2="/t/target/six/six.py")
    t.op(11, "unlink", "/t/target/six/six.py")
    t.op(11, "rmdir", "/t/target/six")
    t.exit(10, 0)
    t.exit(11, 0)
    t.exit(1, 0)
    lines = _render(t.analyze(), width=120)
    assert "1 process exited 0 but lost outputs" in lines[0]
    assert "1 exited 0 but lost outputs" in lines[-1]
