"""The steps the commands share: import, record, analyse, report.

``fsrace record``, ``analyze``, ``demo``, the gallery and ``stress`` all run
some of record → import → analyse → render; each step lives here once, with
the terminal progress that goes with it.  Only this layer (and the recording
backends it calls) touches the live system.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from fsrace.console import UserError, byte_progress, out_console
from fsrace.reports.safe_text import printable

def run_import(inputs: list[str], output: str, console: Console, **kwargs: Any):
    """Import strace logs with a progress bar (by bytes) on a terminal."""
    from fsrace.tracer.strace_import import import_strace

    with byte_progress(console, "importing") as on_progress:
        return import_strace(inputs, output, on_progress=on_progress, **kwargs)


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
    the command has ended.
    """
    from fsrace.tracer.live_import import LiveImport
    from fsrace.tracer.strace_backend import record

    workdir = None
    if keep_strace:
        strace_log = Path(keep_strace)
    else:
        workdir = tempfile.mkdtemp(prefix="fsrace-")
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
                                stdout=stdout, stderr=stderr, on_started=on_started)
            finally:
                if live is not None:
                    live.stop()
        except BaseException:
            importer.cancel()
            raise
        importer.trailer_extra.update({
            "interrupted": result.interrupted,
            "copies": [{"pid": c.pid, "exit_code": c.exit_code, "signal": c.signal}
                       for c in result.copies],
            "launcher_pid": result.launcher_pid, "exit_status": result.exit_status,
            "duration": result.ended - result.started, "recorder_warnings": result.warnings})
        if import_after:
            importer.start(header)
        with byte_progress(console, "importing") as on_progress:
            stats = importer.finish(on_progress)
        return result, stats
    finally:
        if workdir is not None:
            for name in os.listdir(workdir):
                os.unlink(os.path.join(workdir, name))
            os.rmdir(workdir)


def print_record_summary(console: Console, result: Any, stats: Any, output: str) -> None:
    """The one-screen summary after recording."""
    codes = ", ".join(
        (f"{c.pid}:{c.signal}" if c.signal else f"{c.pid}:{c.exit_code}") for c in result.copies)
    failed = sum(1 for c in result.copies if c.signal or c.exit_code)
    share = 100.0 * (stats.paths - stats.unresolved) / stats.paths if stats.paths else 100.0
    title = "interrupted" if result.interrupted else "recorded"
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
                 timeline: Any = None) -> None:
    """Render the report in ``fmt`` to ``output`` (stdout when None or -)."""
    from fsrace.reports.report_json import render_json
    from fsrace.reports.report_text import render_text

    to_stdout = output in (None, "-")
    stream = sys.stdout if to_stdout else open(output, "w", encoding="utf-8", errors="surrogateescape")
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
            render_text(analysis, console, min_severity=min_severity)
    finally:
        if not to_stdout:
            stream.close()


def analyze_with_timeline(inputs: list[str], console: Console | None = None,
                          initial_cwd: str | None = None) -> tuple[Any, Any]:
    """Load and analyse like ``fsrace analyze``, keeping the Timeline."""
    from fsrace.analyzers.analyze import analyze_history
    from fsrace.analyzers.timeline import load_with_timeline

    with byte_progress(console or Console(stderr=True, quiet=True), "analysing") as on_progress:
        history, header, trailer, timeline = load_with_timeline(
            inputs, initial_cwd=initial_cwd, on_progress=on_progress)
    return analyze_history(history, header, trailer), timeline
