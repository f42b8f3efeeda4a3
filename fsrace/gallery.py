"""The gallery of classic file-system races, for ``fsrace demo NAME``.

Each entry names a program in ``fixtures/gallery/`` (a short, commented
race with a ``--fixed`` twin), the race kind fsrace must report for it, and
the fix in one line.  ``fsrace demo --list`` prints the table;
``fsrace demo NAME [--fixed]`` records N copies of the program at once
under strace and prints the report.  ``docs/gallery.md`` walks through
each one with its picture.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from fsrace.reports.safe_text import printable

import fsrace.fixtures.gallery

GALLERY_DIR = Path(fsrace.fixtures.gallery.__file__).resolve().parent


@dataclass(frozen=True)
class Race:
    """One gallery program."""

    name: str
    title: str
    kind: str | None          # the race kind fsrace must report (None: nothing to report)
    also: tuple[str, ...]     # other kinds the same race may show as
    fix: str
    fixed_args: tuple[str, ...] = ("--fixed",)
    args: tuple[str, ...] = ()
    copies: int = 3

    @property
    def script(self) -> Path:
        """The program's file."""
        return GALLERY_DIR / f"{self.name}.py"

    def argv(self, target: str, fixed: bool) -> list[str]:
        """The command line of one copy."""
        cmd = [sys.executable, str(self.script), target, *self.args]
        if fixed and self.kind is not None:
            cmd += list(self.fixed_args)
        return cmd


GALLERY: dict[str, Race] = {r.name: r for r in [
    Race("tmpdir_removed", "a staging directory removed while another copy still uses it "
         "(the seed bug, uv#12751)", "removed-while-in-use", ("filled-while-removing",),
         "a private staging directory per process (mkdtemp)"),
    Race("tree_filled", "rmtree against a process creating files in the tree",
         "filled-while-removing", ("removed-while-in-use",),
         "an exclusive flock around removing and around filling the tree"),
    Race("check_then_create", "check-then-create (TOCTOU): 'if not exists: create'",
         "check-then-use", ("create-collision",),
         "O_CREAT|O_EXCL: check and create in one step, EEXIST means 'taken'"),
    Race("lost_update", "lost update through rename-over (read-modify-write)",
         "create-collision", ("check-then-use",),
         "an exclusive flock around the whole read-modify-write"),
    Race("two_writers", "two writers to one file at the same offsets", "concurrent-write", (),
         "an exclusive flock around each record (or O_APPEND)"),
    Race("lockfile", "a lock file done wrong (exists? then create) against O_EXCL and flock",
         "check-then-use", ("create-collision", "removed-while-in-use", "concurrent-write"),
         "O_CREAT|O_EXCL lock file (or flock on a lock file that is never unlinked)",
         fixed_args=("--fixed=excl",)),
    Race("hostile_names", "the tree_filled race on file names that attack the reporter "
         "(markup, ANSI, <script>, newline, non-UTF-8)", "filled-while-removing",
         ("removed-while-in-use", "check-then-use", "concurrent-write"),
         "an exclusive flock around each round; and a reporter that escapes every name"),
    Race("threads_ok", "not a race: threads of one process sharing a directory", None, (),
         "nothing to fix: threads of one process are not judged against each other", copies=2),
    Race("fork_wait_ok", "not a race: work handed to a child and waited for", None, (),
         "nothing to fix: fork and wait order parent and child", copies=2),
]}


def list_table() -> Table:
    """The gallery as a table."""
    table = Table(title="fsrace gallery: fsrace demo NAME [--fixed]", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("race kind", no_wrap=True)
    table.add_column("what happens")
    table.add_column("the fix (--fixed)")
    for r in GALLERY.values():
        table.add_row(Text(r.name, style="bold"), Text(r.kind or "(none)"), Text(r.title),
                      Text(r.fix))
    return table


def seen_kinds(analysis: Any, floor: str = "warning") -> set[str]:
    """Kinds of the findings at or above ``floor``."""
    order = ("info", "warning", "error")
    return {f.kind for f in analysis.findings if order.index(f.severity) >= order.index(floor)}


def run_race(name: str, fixed: bool, copies: int | None, workdir: Path, console: Console,
             fmt: str = "text", show: bool = True) -> tuple[Any, Any]:
    """Record ``copies`` copies of gallery program ``name``; analyse; print the report."""
    from fsrace.pipeline import do_record, print_record_summary, run_analysis, write_report

    race = GALLERY[name]
    target = workdir / "target"
    if target.exists():
        shutil.rmtree(target)
    events = str(workdir / "events.jsonl")
    n = copies or race.copies
    cmd = race.argv(str(target), fixed)
    if show:
        console.print(Text(f"fsrace demo {name}: {n} copies of the "
                           f"{'fixed' if fixed and race.kind else 'racy' if race.kind else 'example'} "
                           f"program at once: {race.title}", style="bold"))
    with open(os.devnull, "w") as devnull:
        result, stats = do_record(cmd, events, n, None, console, stdout=devnull, stderr=devnull)
    if show:
        print_record_summary(console, result, stats, events)
    analysis = run_analysis([events], console)
    if show:
        write_report(analysis, fmt, None)
    return result, analysis


def demo(name: str | None, fixed: bool, copies: int | None, keep: str | None, fmt: str,
         list_only: bool, console: Console) -> int:
    """``fsrace demo --list`` / ``fsrace demo NAME``; returns the exit status."""
    from fsrace.console import UserError, out_console

    if list_only or name is None:
        out_console().print(list_table())
        return 0
    if name not in GALLERY:
        raise UserError(f"no gallery program {printable(name)!r}; "
                        f"try one of: {', '.join(GALLERY)} (fsrace demo --list)")
    base = Path(keep) if keep else Path(tempfile.mkdtemp(prefix=f"fsrace-demo-{name}-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        _result, analysis = run_race(name, fixed, copies, base, console, fmt)
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
    race = GALLERY[name]
    if fmt == "text":
        seen = seen_kinds(analysis)
        if race.kind is None or fixed:
            line = Text("clean: no warning or error" if not seen else
                        "unexpected: " + ", ".join(sorted(seen)),
                        style="green" if not seen else "bold red")
        elif race.kind in seen:
            line = Text(f"the race was caught: {race.kind}. Fix: {race.fix} "
                        f"(fsrace demo {name} --fixed)", style="green")
        else:
            line = Text(f"{race.kind} did not show this time (races depend on timing): run it "
                        "again or with more copies (-j)", style="yellow")
        console.print(line)
    from fsrace.pipeline import exit_status_for
    return exit_status_for(analysis, "warning")


__all__ = ["GALLERY", "Race", "demo", "run_race", "list_table", "seen_kinds"]
