"""The steps the commands share: import, record, analyse, report.

``fsrace record``, ``analyze``, ``demo``, the gallery and ``stress`` all run
some of record → import → analyse → render; each step lives here once, with
the terminal progress that goes with it.  Only this layer (and the recording
backends it calls) touches the live system.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from fsrace.console import UserError, byte_progress, out_console
from fsrace.reports.safe_text import printable

def run_import(inputs: list[str], output: str, console: Console, **kwargs: Any):
    """Import strace logs with a progress bar (by bytes) on a terminal.

    The output is checked first (never one of the inputs), written beside its
    name and renamed into place when complete: a failed import leaves an
    older file of that name untouched; an interrupted one (Ctrl-C, SIGTERM,
    SIGHUP) leaves a valid log of what was read, marked interrupted.
    """
    from fsrace.tracer.outputs import AtomicOutput
    from fsrace.tracer.strace_import import import_strace
    from fsrace.tracer.termination import signals_deferred

    check_outputs(output, inputs, "event log")
    out = AtomicOutput(output)
    try:
        with out.writing("event log", passing=(KeyboardInterrupt,)), \
                byte_progress(console, "importing") as on_progress:
            stats = import_strace(inputs, out.path, on_progress=on_progress, **kwargs)
    except KeyboardInterrupt as exc:   # also SIGTERM/SIGHUP: the log has its trailer
        with signals_deferred():
            if out.direct or os.path.exists(out.path):
                out.commit()
                exc.fsrace_kept = kept_message(output)   # type: ignore[attr-defined]
        raise
    with signals_deferred():
        out.commit()
    return stats


def check_outputs(output: str | None, inputs: list[str], what: str) -> None:
    """Refuse an unusable output before any work: UserError with the path and
    the reason; also removes partial files an earlier, killed fsrace left."""
    from fsrace.tracer.outputs import OutputError, check_output, clean_stale

    try:
        check_output(output, inputs, what)
    except OutputError as exc:
        raise UserError(str(exc)) from None
    clean_stale(output)


def read_trailer(path: str) -> dict[str, Any] | None:
    """The trailer at the end of an event log on disk (None if it has none)."""
    import json

    from fsrace.tracer.eventlog import open_text

    try:
        if path.endswith(".gz"):
            last = ""
            with open_text(path, "r") as stream:
                for last in stream:
                    pass
        else:
            with open(path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - (1 << 16)))
                last = fh.read().decode("utf-8", "replace").rstrip("\n").rsplit("\n", 1)[-1]
        obj = json.loads(last)
    except (OSError, ValueError, EOFError):
        return None
    return obj if isinstance(obj, dict) and obj.get("format") == "fsrace-events-trailer" else None


def kept_message(output: str) -> str:
    """What an interrupted import left: said to the user after the signal."""
    if output == "-":
        return "the event log on standard output ends with a trailer marked interrupted"
    trailer = read_trailer(output)
    if trailer is None:
        return f"the event log {output} was left without its trailer (cut short)"
    return (f"the event log {output} holds the {trailer.get('events')} events of the "
            f"{trailer.get('lines_read')} lines read until then, marked interrupted")


def _status_printer(console: Console):
    """A live status line for recording (only on a terminal)."""
    from rich.live import Live

    live = Live(Text(""), console=console, transient=True, refresh_per_second=4,
                auto_refresh=False) if console.is_terminal else None

    def on_status(status: Any) -> None:
        if live is not None:
            live.update(Text(f"recording: {status.elapsed:6.1f} s, "
                             f"{status.live_processes} processes, "
                             f"log {status.log_bytes / 1e6:.1f} MB"), refresh=True)
    return live, on_status


def do_record(cmd: list[str], output: str, copies: int, keep_strace: str | None,
              console: Console, stdout: Any = None, stderr: Any = None,
              import_after: bool = False) -> tuple[Any, Any]:
    """Record ``copies`` concurrent copies of ``cmd`` and import the log.

    The import runs beside the recording (at low CPU priority), reading
    strace's log as it is written; ``import_after`` starts it only once
    the command has ended.  The outputs are checked before the command is
    started (an unusable path must not cost the recording).  A Ctrl-C,
    SIGTERM or SIGHUP during the final import publishes the event log read
    so far, marked interrupted, and propagates.
    """
    from fsrace.tracer.live_import import LiveImport
    from fsrace.tracer.outputs import OutputError, final_path
    from fsrace.tracer.strace_backend import record
    from fsrace.tracer.termination import release_stop_signals

    check_outputs(output, [], "event log")
    if keep_strace:
        check_outputs(keep_strace, [], "strace log")
        if os.path.abspath(final_path(keep_strace)) == os.path.abspath(final_path(output)):
            raise UserError(f"--keep-strace {keep_strace} is also the event log (-o): "
                            "give them different names.")
    clean_stale_workdirs()
    workdir = None
    if keep_strace:
        strace_log = Path(keep_strace)
    else:
        workdir = tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-")
        strace_log = Path(workdir) / "strace.log"
    importer = LiveImport(strace_log, output, command=cmd, initial_cwd=os.getcwd())

    header: dict[str, Any] = {}

    def on_started(argv: list[str], version: str, started: float) -> None:
        header.update({"backend": "strace", "command": cmd, "copies": copies,
                       "strace_argv": argv, "strace_version": version, "clock": "unix",
                       "start_time": started, "created_by": "fsrace record",
                       "live_import": not import_after})
        if not import_after:
            importer.start(header)

    keep_workdir = False
    live, on_status = _status_printer(console)
    try:
        try:
            importer.prepare()
        except OSError as exc:
            raise UserError(f"cannot write the strace log {strace_log}: {exc.strerror}") from None
        try:
            if live is not None:
                live.start()
            try:
                result = record(cmd, copies=copies, strace_log=strace_log, on_status=on_status,
                                stdout=stdout, stderr=stderr, on_started=on_started,
                                remove_on_death=[importer.partial] + ([workdir] if workdir
                                                                      else []),
                                stderr_kept=workdir is None, hold_signals=True)
            finally:
                if live is not None:
                    live.stop()
        except BaseException:
            importer.cancel()
            raise
        warnings = list(result.warnings)
        if result.incomplete and result.incomplete not in warnings:
            warnings.insert(0, result.incomplete)
        importer.trailer_extra.update({
            "interrupted": result.interrupted or bool(result.incomplete),
            "copies": [{"pid": c.pid, "exit_code": c.exit_code, "signal": c.signal}
                       for c in result.copies],
            "launcher_pid": result.launcher_pid, "exit_status": result.exit_status,
            "duration": result.ended - result.started, "recorder_warnings": warnings})
        if import_after:
            importer.start(header)
        try:
            with byte_progress(console, "importing") as on_progress:
                stats = importer.finish(on_progress, signals_held=True)
        except KeyboardInterrupt as exc:   # also SIGTERM/SIGHUP
            exc.fsrace_kept = kept_message(output)   # type: ignore[attr-defined]
            raise
        except OutputError as exc:
            if workdir is None:
                raise UserError(str(exc)) from None
            # The one recording of a rare failure is not lost with the disk space.
            keep_workdir = True
            with contextlib.suppress(OSError):
                open(os.path.join(workdir, KEPT_MARK), "w").close()
            raise UserError(f"{exc}. strace's log of the recording is kept in {strace_log}: "
                            f"import it with `fsrace import {strace_log} -o FILE` once the "
                            "output can be written.") from None
        return result, stats
    finally:
        if workdir is not None and not keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        release_stop_signals()   # if anything failed between record() and finish()


#: Temporary folders of fsrace record (strace's log when not kept): fsrace-rec-PID-XXXX.
WORKDIR_PREFIX = "fsrace-rec-"
#: Left in such a folder kept on purpose (its strace log could not be imported).
KEPT_MARK = "KEPT"


def clean_stale_workdirs() -> list[str]:
    """Remove the temporary folders of earlier recordings whose fsrace was
    killed (its pid no longer runs); only ours: our prefix, our uid."""
    import re

    removed = []
    base = tempfile.gettempdir()
    pattern = re.compile(re.escape(WORKDIR_PREFIX) + r"(\d+)-")
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    for name in names:
        m = pattern.match(name)
        path = os.path.join(base, name)
        if m is None or int(m.group(1)) == os.getpid():
            continue
        try:
            if os.lstat(path).st_uid != os.getuid() or not os.path.isdir(path):
                continue
            os.kill(int(m.group(1)), 0)
            continue   # still running
        except ProcessLookupError:
            pass
        except OSError:
            continue
        if not os.path.exists(os.path.join(path, KEPT_MARK)) or _quiet_since(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _quiet_since(path: str) -> bool:
    # A folder kept on purpose after a failed write (the message named it)
    # stays a day before it is cleaned.
    import time

    try:
        return time.time() - os.stat(path).st_mtime > 86400
    except OSError:
        return False


def print_record_summary(console: Console, result: Any, stats: Any, output: str) -> None:
    """The one-screen summary after recording."""
    codes = ", ".join(
        (f"{c.pid}:{c.signal}" if c.signal else f"{c.pid}:{c.exit_code}") for c in result.copies)
    failed = sum(1 for c in result.copies if c.signal or c.exit_code)
    share = 100.0 * (stats.paths - stats.unresolved) / stats.paths if stats.paths else 100.0
    title = ("incomplete" if getattr(result, "incomplete", None) else
             "interrupted" if result.interrupted else "recorded")
    console.print(Text(f"fsrace {title}: {len(result.copies)} cop{'y' if len(result.copies) == 1 else 'ies'}"
                       f", {failed} failed; {stats.processes} processes, {stats.events} events "
                       f"in {result.ended - result.started:.1f} s", style="bold"))
    console.print(Text(f"  exit codes (pid:code): {codes}"))
    console.print(Text(f"  paths resolved: {share:.2f}% of {stats.paths}; "
                       f"unparsed lines: {stats.unparsed}"))
    console.print(Text(f"  event log: {printable(output)}"))
    for warning in list(result.warnings) + list(stats.warnings):
        console.print(Text("  warning: " + printable(warning), style="yellow"))


SEVERITIES = ("info", "warning", "error")


def exit_status_for(analysis: Any, fail_on: str) -> int:
    """0 when no finding is at or above ``fail_on``, else 1."""
    if fail_on == "never":
        return 0
    floor = SEVERITIES.index(fail_on)
    return 1 if any(SEVERITIES.index(f.severity) >= floor for f in analysis.findings) else 0


def run_analysis(inputs: list[str], console: Console, initial_cwd: str | None = None):
    """Load (importing strace logs on the fly) and analyse."""
    from fsrace.analyzers.analyze import analyze_history
    from fsrace.analyzers.load import load_history

    with byte_progress(console, "analysing") as on_progress:
        history, header, trailer = load_history(inputs, initial_cwd=initial_cwd,
                                                on_progress=on_progress)
    return analyze_history(history, header, trailer)


def write_report(analysis: Any, fmt: str, output: str | None, min_severity: str = "warning",
                 timeline: Any = None, **text_options: Any) -> None:
    """Render the report in ``fmt`` to ``output`` (stdout when None or -)."""
    from fsrace.reports.report_json import render_json
    from fsrace.reports.report_text import render_text

    from fsrace.tracer.outputs import AtomicOutput, OutputError, describe_os_error

    to_stdout = output in (None, "-")
    # A file report is written beside its name and renamed when complete: a
    # full disk or a Ctrl-C never leaves a truncated report.html.
    out = None if to_stdout else AtomicOutput(output)
    try:
        stream = sys.stdout if out is None else open(out.path, "w", encoding="utf-8",
                                                     errors="surrogateescape")
    except OSError as exc:
        raise OutputError(f"cannot write the report {output}: {describe_os_error(exc)}") from None
    try:
        if fmt == "json":
            stream.write(render_json(analysis) + "\n")
        elif fmt in ("html", "perfetto"):
            from fsrace.reports.report_html import render_html
            from fsrace.reports.report_perfetto import render_perfetto
            stream.write((render_html if fmt == "html" else render_perfetto)(analysis, timeline))
        else:
            console = out_console(stream) if to_stdout else Console(file=stream, width=160,
                                                                    color_system=None)
            render_text(analysis, console, min_severity=min_severity, **text_options)
        if out is not None:
            stream.close()
            out.commit()
    except OSError as exc:
        if out is None:
            raise
        _close_quietly(stream)
        out.discard()
        raise OutputError(f"cannot write the report {output}: {describe_os_error(exc)}") from None
    except BaseException:
        if out is not None:
            _close_quietly(stream)
            out.discard()
        raise


def _close_quietly(stream: Any) -> None:
    try:
        stream.close()
    except (OSError, ValueError):
        pass


def analyze_with_timeline(inputs: list[str], console: Console | None = None,
                          initial_cwd: str | None = None) -> tuple[Any, Any]:
    """Load and analyse like ``fsrace analyze``, keeping the Timeline."""
    from fsrace.analyzers.analyze import analyze_history
    from fsrace.analyzers.timeline import load_with_timeline

    with byte_progress(console or Console(stderr=True, quiet=True), "analysing") as on_progress:
        history, header, trailer, timeline = load_with_timeline(
            inputs, initial_cwd=initial_cwd, on_progress=on_progress)
    return analyze_history(history, header, trailer), timeline
