"""The ``fsrace`` command line: a thin shell over the tracer and the analyzers.

Only this module and the recording backends touch the live system.  Every
command turns the errors users can fix into one clear message and exit
status 2; nothing ends in a traceback (set ``FSRACE_DEBUG=1`` to see one
for an internal error).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import click
from rich.console import Console
from rich.text import Text

import fsrace.fixtures.installer
from fsrace.console import UserError, err_console, out_console
from fsrace.gallery import demo
from fsrace.pipeline import (analyze_with_timeline, check_outputs, do_record, exit_status_for,
                             print_record_summary, run_analysis, run_import, write_report)
from fsrace.reports.safe_text import printable
from fsrace.stress import compare_cmd, stress_cmd

def _guard(func: Callable[..., Any]) -> Callable[..., Any]:
    """Translate the library's errors into UserError at the CLI boundary."""
    import functools

    from fsrace.analyzers.history import AnalysisTooLarge
    from fsrace.analyzers.load import LoadError
    from fsrace.tracer.eventlog import EventLogError
    from fsrace.tracer.outputs import OutputError
    from fsrace.tracer.strace_backend import RecordError
    from fsrace.tracer.strace_import import ImportError_
    from fsrace.tracer.termination import (install_terminate_handlers, restore_handlers,
                                           signal_name, signal_of)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # SIGTERM and SIGHUP stop every command as Ctrl-C does (outputs
        # finished or discarded cleanly), never by the default action.
        old = install_terminate_handlers()
        try:
            return func(*args, **kwargs)
        except (ImportError_, EventLogError, RecordError, LoadError, OutputError,
                AnalysisTooLarge) as exc:
            raise UserError(str(exc)) from None
        except BrokenPipeError:
            _closed_pipe()
        except OSError as exc:   # an I/O error is the user's to fix: path and reason, exit 2
            where = f"{exc.filename}: " if exc.filename else ""
            raise UserError(f"{where}{exc.strerror or exc}") from None
        except KeyboardInterrupt as exc:   # Ctrl-C, SIGTERM, SIGHUP: 128 + N
            signum = signal_of(exc)
            kept = getattr(exc, "fsrace_kept", None)
            err_console().print(Text(f"fsrace: interrupted by {signal_name(signum)}"
                                     + (f"; {printable(kept)}" if kept else ""),
                                     style="yellow"))
            sys.exit(128 + signum)
        finally:
            restore_handlers(old)
    return wrapper


def _closed_pipe() -> None:
    """The reader went away (``fsrace analyze LOG | head``): stop quietly, status 0.

    stdout is pointed at /dev/null so that the interpreter's last flush
    does not raise a second BrokenPipeError on the way out.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    os._exit(0)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "-V", "--version", package_name="fsrace", prog_name="fsrace")
@click.option("-q", "--quiet", is_flag=True,
              help="Less output: no progress or summaries on stderr; analyze prints its "
              "root causes and closing line only.")
@click.option("-v", "--verbose", count=True,
              help="More output: analyze lists every race site and interleaving (as --all).")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Colour: auto follows the terminal, NO_COLOR and "
              "FORCE_COLOR.")
@click.pass_context
def cli(ctx: click.Context, quiet: bool, verbose: int, color: str) -> None:
    """fsrace: find the file-system races between concurrent processes.

    Record a command with `fsrace record`, or import a `strace -f` log you
    already have with `fsrace import`, then `fsrace analyze` the event log.
    """
    from fsrace.console import SETTINGS

    SETTINGS["color"] = color
    SETTINGS["quiet"] = quiet
    ctx.obj = {"quiet": quiet, "verbose": verbose}


# ---------------------------------------------------------------- import

def _report_import(console: Console, stats: Any, output: str) -> None:
    paths, unresolved = stats.paths, stats.unresolved
    share = 100.0 * (paths - unresolved) / paths if paths else 100.0
    console.print(Text(f"{stats.lines_read} lines read, {stats.events} events written to "
                       f"{printable(output)}; {share:.2f}% of {paths} path arguments resolved"))
    if stats.unparsed:
        console.print(Text(f"{stats.unparsed} lines were not strace output and were skipped:",
                           style="yellow"))
        for sample in stats.unparsed_samples:
            console.print(Text(f"  {printable(sample['file'])}:{sample['line']}: "
                               f"{printable(sample['text'][:120])}"))
    for warning in stats.warnings:
        console.print(Text("warning: " + printable(warning), style="yellow"))


@cli.command("import")
@click.argument("logs", nargs=-1, required=True)
@click.option("-o", "--output", default="-", show_default=True,
              help="Event log to write (.jsonl, or .jsonl.gz to compress; - for stdout).")
@click.option("--cwd", "initial_cwd", default=None,
              help="Working directory of the first process (when the log does not show it).")
@_guard
def import_cmd(logs: tuple[str, ...], output: str, initial_cwd: str | None) -> None:
    """Import strace logs (strace -f, -ff files, terminal output; - for stdin).

    Writes an fsrace event log in which every file operation carries its
    resolved absolute path(s).
    """
    console = err_console()
    stats = run_import(list(logs), output, console, initial_cwd=initial_cwd)  # checks output
    _report_import(console, stats, output)


# ---------------------------------------------------------------- record

@cli.command("record", context_settings={"ignore_unknown_options": True})
@click.option("-o", "--output", default="fsrace-events.jsonl", show_default=True,
              help="Event log to write (.jsonl or .jsonl.gz).")
@click.option("-j", "--jobs", "copies", default=1, show_default=True, type=click.IntRange(1, 512),
              help="Start this many copies of the command at once.")
@click.option("--keep-strace", default=None, metavar="FILE",
              help="Also keep strace's raw log in FILE.")
@click.option("--backend", type=click.Choice(["strace", "fanotify"]), default="strace",
              show_default=True, help="strace (ptrace: every syscall, errno, locks) or fanotify "
              "(no ptrace, low overhead; cannot see failed calls, locks or waits).")
@click.option("--mount", "mounts", multiple=True, metavar="PATH",
              help="fanotify: watch the filesystem holding PATH (repeatable; default: the cwd's).")
@click.option("--import-after", is_flag=True,
              help="strace: import the log only once the command has ended, instead of beside "
              "the recording at low CPU priority (takes no CPU from the traced programs, but "
              "the import then adds its whole time).")
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
@_guard
def record_cmd(output: str, copies: int, keep_strace: str | None, backend: str,
               mounts: tuple[str, ...], import_after: bool, cmd: tuple[str, ...]) -> None:
    """Run CMD (N copies at once with -j N) under strace (or fanotify) and write an event log.

    Exit status: the command's; with -j, the first non-zero among the copies.
    """
    console = err_console()
    if backend == "fanotify":
        from fsrace.tracer.fanotify_backend import record as fan_record
        check_outputs(output, [], "event log")   # before the command runs
        result, stats = fan_record(list(cmd), output, copies, list(mounts) or None)
    else:
        result, stats = do_record(list(cmd), output, copies, keep_strace, console,
                                  import_after=import_after)
    print_record_summary(console, result, stats, output)
    if getattr(result, "incomplete", None):
        raise UserError(f"{result.incomplete}. The event log {output} holds what was "
                        "recorded until then, marked interrupted.")
    if result.interrupted:
        sys.exit(128 + (getattr(result, "interrupt_signal", None) or 2))
    sys.exit(result.exit_status)


@cli.command("watch")
@click.option("--mount", "mounts", multiple=True, required=True, metavar="PATH",
              help="Watch the filesystem holding PATH (repeatable).")
@click.option("--duration", type=float, default=None, metavar="S",
              help="Stop after S seconds (default: at Ctrl-C).")
@click.option("-o", "--output", default="fsrace-events.jsonl", show_default=True,
              help="Event log to write (.jsonl or .jsonl.gz).")
@_guard
def watch_cmd(mounts: tuple[str, ...], duration: float | None, output: str) -> None:
    """Record every process's file events on the given filesystems (fanotify).

    Runs until Ctrl-C or --duration; then `fsrace analyze` the log.
    """
    from fsrace.tracer.fanotify_backend import watch

    console = err_console()
    check_outputs(output, [], "event log")   # before watching: nothing lost to a bad path
    stats, interrupted = watch(list(mounts), output, duration)
    console.print(Text(f"fsrace watch: {stats.events} events, {stats.processes} processes; "
                       f"lost {stats.lost}; paths resolved {stats.paths - stats.unresolved} of "
                       f"{stats.paths}; event log: {printable(output)}", style="bold"))
    for warning in stats.warnings:
        console.print(Text("  warning: " + printable(warning), style="yellow"))


# ----------------------------------------------------------------- export

@cli.command("export")
@click.argument("store")
@click.option("-o", "--output", default="-", show_default=True,
              help="JSON Lines event log to write (.jsonl, or .jsonl.gz; - for stdout).")
@_guard
def export_cmd(store: str, output: str) -> None:
    """Convert an event store (NAME.fsrace, format 2) to a JSON Lines event log (format 1).

    The output is the log `fsrace import -o NAME.jsonl` writes for the same input.
    """
    from fsrace.tracer.outputs import AtomicOutput
    from fsrace.tracer.store_export import export_store

    console = err_console()
    check_outputs(output, [store], "event log")
    out = AtomicOutput(output)
    with out.writing("event log", passing=(BrokenPipeError,)):
        stats = export_store(store, out.path, name=store, output_name=output)
    out.commit()
    console.print(Text(f"{stats.events} events exported to {printable(output)}"))
    if not stats.complete:
        console.print(Text(f"warning: {printable(store)} has no trailer (its writer was "
                           "stopped before it closed the store): the exported log has none "
                           "either and is read as cut short", style="yellow"))


# ---------------------------------------------------------------- analyze

@cli.command("analyze")
@click.argument("logs", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html", "perfetto"]),
              default="text",
              show_default=True, help="Report format.")
@click.option("-o", "--output", default=None, help="Write the report to this file.")
@click.option("--fail-on", type=click.Choice(["error", "warning", "info", "never"]),
              default="error", show_default=True,
              help="Exit 1 when a finding is at or above this severity.")
@click.option("--cwd", "initial_cwd", default=None,
              help="Working directory of the first process, for raw strace logs.")
@click.option("--all", "show_all", is_flag=True,
              help="Text: also list every race site and its interleaving.")
@click.option("-v", "--verbose", count=True, help="Text: as --all.")
@click.option("-q", "--quiet", is_flag=True, help="Text: root causes and the closing line only.")
@click.option("--min-severity", type=click.Choice(["info", "warning", "error"]),
              default="warning", show_default=True,
              help="Text: show root causes and sites at or above this severity.")
@click.option("--only", type=click.Choice(["manifested"]), default=None,
              help="Text: show only root causes and sites whose race broke a call this run.")
@click.pass_context
@_guard
def analyze_cmd(ctx: click.Context, logs: tuple[str, ...], fmt: str, output: str | None,
                fail_on: str, initial_cwd: str | None, show_all: bool = False, verbose: int = 0,
                quiet: bool = False, min_severity: str = "warning",
                only: str | None = None) -> None:
    """Analyse an event log (or raw strace logs) and report the races.

    The text report puts the diagnosis first: the root causes (what raced
    on which resource, the evidence, what would order it), one line per
    failed process, a closing summary line.  --all adds every race site.

    Exit status: 0 nothing at or above --fail-on, 1 findings at or above it,
    2 bad input or usage.
    """
    glob = ctx.obj or {}
    text_options = {"detail": bool(show_all or verbose or glob.get("verbose")),
                    "only": only, "quiet": bool(quiet or glob.get("quiet"))}
    console = err_console()
    check_outputs(output, list(logs), "report")   # never overwrite an input
    timeline = None
    if fmt in ("html", "perfetto"):  # these also draw durations, threads and locks
        analysis, timeline = analyze_with_timeline(list(logs), console, initial_cwd)
    else:
        analysis = run_analysis(list(logs), console, initial_cwd)
    write_report(analysis, fmt, output, min_severity=min_severity, timeline=timeline,
                 **text_options)
    sys.exit(exit_status_for(analysis, fail_on))


# ------------------------------------------------------------------- demo

@cli.command("demo")
@click.argument("name", required=False)
@click.option("--list", "list_only", is_flag=True, help="List the gallery of classic races.")
@click.option("--fixed", is_flag=True, help="Run the locked (fixed) installer instead.")
@click.option("-j", "--jobs", "copies", default=4, show_default=True, type=click.IntRange(2, 64),
              help="Copies of the example installer started at once.")
@click.option("--files", default=40, show_default=True, type=click.IntRange(1, 10000),
              help="Files each copy installs.")
@click.option("--keep", default=None, metavar="DIR",
              help="Keep the target directory and event log in DIR.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@_guard
def demo_cmd(name: str | None, list_only: bool, fixed: bool, copies: int, files: int,
             keep: str | None, fmt: str) -> None:
    """Race the bundled example installer against itself and report it.

    With NAME, run that program of the gallery instead (fsrace demo --list).

    N copies install the same package into one target at once, staging
    files in a temporary .data directory they each remove at the end (the
    pattern of uv 0.6.11's bug).  With --fixed each copy holds an exclusive
    flock on the target for the whole install, and the report is clean.
    """
    import shutil

    if name is not None or list_only:
        sys.exit(demo(name, fixed, copies, keep, fmt, list_only, err_console()))
    console = err_console()
    base = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="fsrace-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    target = base / "target"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    events = str(base / "events.jsonl")
    installer = Path(fsrace.fixtures.installer.__file__)
    cmd = [sys.executable, str(installer), str(target), "--files", str(files)]
    if fixed:
        cmd.append("--lock")
    console.print(Text(f"fsrace demo: {copies} copies of the {'locked' if fixed else 'racy'} "
                       f"example installer into {printable(target)}", style="bold"))
    try:
        result, stats = do_record(cmd, events, copies, None, console,
                                  stderr=open(os.devnull, "w"))
        print_record_summary(console, result, stats, events)
        analysis = run_analysis([events], console)
        write_report(analysis, fmt, None)
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
    sys.exit(exit_status_for(analysis, "warning") if not fixed else exit_status_for(analysis, "warning"))


# ---------------------------------------------------------------- explain

@cli.command("explain")
@click.argument("log")
@click.argument("finding_id", metavar="ID")
@click.option("--cwd", "initial_cwd", default=None,
              help="Working directory of the first process, for raw strace logs.")
@_guard
def explain_cmd(log: str, finding_id: str, initial_cwd: str | None) -> None:
    """Tell the story of a root cause (R1, R2 ...) or of one finding (F1, F2 ...).

    The ids are those `fsrace analyze LOG` prints.
    """
    from fsrace.reports.explain import UnknownFinding, render_explanation

    analysis, timeline = analyze_with_timeline([log], err_console(), initial_cwd)
    try:
        render_explanation(analysis, timeline, finding_id, out_console())
    except UnknownFinding as exc:
        raise UserError(str(exc)) from None


# ------------------------------------------------- stress and compare (issue 4)

cli.add_command(stress_cmd)
cli.add_command(compare_cmd)


def main() -> None:
    """Console-script entry point: run the CLI, never end in a traceback."""
    try:
        cli(standalone_mode=True)
    except BrokenPipeError:
        _closed_pipe()
    except KeyboardInterrupt:
        err_console().print(Text("fsrace: interrupted", style="yellow"))
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if os.environ.get("FSRACE_DEBUG"):
            raise
        err_console().print(Text(f"fsrace: internal error: {type(exc).__name__}: "
                                 f"{printable(exc)} (set FSRACE_DEBUG=1 for details; "
                                 "please report it)", style="bold red"))
        sys.exit(3)


if __name__ == "__main__":
    main()
