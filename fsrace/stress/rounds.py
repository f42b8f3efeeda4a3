"""Running one stress round, traced or not, and reading its report.

Part of ``fsrace stress`` (see ``fsrace/stress/__init__.py`` for the layout
of a stress directory and the summary format).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any


from fsrace.analyzers.sites import SEVERITY_RANK

#: Race kinds worth amplifying (every kind the analyzer reports).
WARNING = SEVERITY_RANK["warning"]


class StressError(Exception):
    """A problem the user can fix (bad setup command, unwritable directory)."""


# ---------------------------------------------------------------- helpers

def run_shell(cmd: str, what: str, cwd: str) -> None:
    """Run a setup/cleanup command through ``sh -c``; raise StressError on failure."""
    try:
        res = subprocess.run(["sh", "-c", cmd], cwd=cwd, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, errors="replace")
    except OSError as exc:
        raise StressError(f"cannot run the {what} command {cmd!r}: {exc}") from None
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        raise StressError(f"the {what} command {cmd!r} failed with status {res.returncode}"
                          + (f": {' | '.join(tail)}" if tail else ""))


def failed_output(path: Path, limit: int = 5) -> list[str]:
    """A few error-looking lines the copies printed."""
    out: list[str] = []
    try:
        with open(path, "rb") as f:
            for raw in f:
                line = raw.decode(errors="replace").strip()
                if line and ("error" in line.lower() or "failed" in line.lower()):
                    out.append(line[:300])
                    if len(out) >= limit:
                        break
    except OSError:
        pass
    return out


def _copies_dicts(copies: list[Any]) -> list[dict[str, Any]]:
    return [{"pid": c.pid, "exit_code": c.exit_code, "signal": c.signal} for c in copies]


def count_failed(copies: list[dict[str, Any]]) -> int:
    """How many copies failed (a signal or a non-zero exit)."""
    return sum(1 for c in copies if c.get("signal") or c.get("exit_code") not in (0,))


# ------------------------------------------------------------ running rounds

def run_untraced(cmd: list[str], copies: int, cwd: str, output: Any) -> tuple[list[dict], bool]:
    """N concurrent copies through the launcher, without strace.

    Returns (copies as dicts, interrupted).
    """
    from fsrace.tracer.strace_backend import LAUNCHER, _parse_status

    status_r, status_w = os.pipe()
    argv = [sys.executable, "-I", "-S", str(LAUNCHER), "-j", str(copies),
            "--status-fd", str(status_w), "--", *cmd]
    interrupted = False
    try:
        proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=output,
                                stderr=output, pass_fds=[status_w], start_new_session=True)
    except OSError as exc:
        os.close(status_r)
        os.close(status_w)
        raise StressError(f"cannot start the launcher: {exc}") from None
    os.close(status_w)
    chunks: list[bytes] = []
    try:
        _read_to_eof(status_r, chunks)
        proc.wait()
    except KeyboardInterrupt:
        interrupted = True
        _stop_launcher(proc)
        try:
            _read_to_eof(status_r, chunks)
        except OSError:
            pass
    finally:
        os.close(status_r)
    parsed = _parse_status(b"".join(chunks))
    result = _copies_dicts(parsed[1]) if parsed else []
    if parsed and any(c.exec_errno is not None for c in parsed[1]) and not interrupted:
        raise StressError(f"cannot run {cmd[0]}: {os.strerror(parsed[1][0].exec_errno or 2)} "
                          f"(check the command and PATH)")
    return result, interrupted


def _read_to_eof(fd: int, chunks: list[bytes]) -> None:
    """Append what ``fd`` yields until end of file (kept if interrupted)."""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        chunks.append(chunk)


def _stop_launcher(proc: subprocess.Popen) -> None:
    """SIGINT to the launcher (it forwards to the copies), then SIGKILL the tree."""
    import psutil

    for sig, grace in ((signal.SIGINT, 2.0), (signal.SIGKILL, 2.0)):
        try:
            if sig == signal.SIGKILL:
                for child in psutil.Process(proc.pid).children(recursive=True):
                    try:
                        child.kill()
                    except psutil.Error:
                        pass
            proc.send_signal(sig)
        except (ProcessLookupError, psutil.Error):
            pass
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:
            continue


def run_traced(cmd: list[str], copies: int, cwd: str, rdir: Path, output: Any,
               extra_strace_args: list[str]) -> tuple[dict[str, Any], Any]:
    """Record N copies and import the log into ``rdir/events.jsonl``.

    Returns (round facts, import stats).  A Ctrl-C during the recording is
    handled by ``record`` (interrupted=True); during the import it leaves a
    marked, partial event log and propagates.
    """
    from fsrace.tracer.strace_backend import record
    from fsrace.tracer.strace_import import import_strace

    strace_log = rdir / "strace.log"
    result = record(cmd, copies=copies, strace_log=strace_log, cwd=cwd,
                    stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                    extra_strace_args=extra_strace_args)
    facts = {"copies_status": _copies_dicts(result.copies), "interrupted": result.interrupted,
             "seconds_run": result.ended - result.started, "strace_version": result.strace_version,
             "warnings": list(result.warnings)}
    header = {"backend": "strace", "command": cmd, "copies": copies,
              "strace_argv": result.strace_argv, "strace_version": result.strace_version,
              "start_time": result.started, "created_by": "fsrace stress"}
    trailer = {"interrupted": result.interrupted, "copies": facts["copies_status"],
               "exit_status": result.exit_status, "duration": result.ended - result.started,
               "recorder_warnings": result.warnings}
    try:
        stats = import_strace([str(result.strace_log)], str(rdir / "events.jsonl"), command=cmd,
                              initial_cwd=os.path.abspath(cwd), header_extra=header,
                              trailer_extra=trailer)
    finally:
        for p in (strace_log, strace_log.with_name(strace_log.name + ".stderr")):
            try:
                p.unlink()
            except OSError:
                pass
    return facts, stats


def analyse_round(rdir: Path) -> dict[str, Any]:
    """Analyse ``rdir/events.jsonl``, write ``rdir/report.json``, return the report."""
    from fsrace.analyzers.analyze import analyze_history
    from fsrace.analyzers.load import load_history
    from fsrace.reports.report_json import report_dict

    history, header, trailer = load_history([str(rdir / "events.jsonl")])
    analysis = analyze_history(history, header, trailer)
    report = report_dict(analysis)
    tmp = rdir / "report.json.tmp"
    tmp.write_text(json.dumps(report, indent=2), encoding="utf-8", errors="surrogateescape")
    tmp.replace(rdir / "report.json")
    return report


def slim_report(report: dict[str, Any]) -> dict[str, Any]:
    """What the summary keeps of a round's report: findings without instances, root causes."""
    return {"findings": [{k: v for k, v in f.items() if k != "instances"}
                         for f in report.get("findings", ())],
            "root_causes": [{k: v for k, v in rc.items() if k != "example"}
                            for rc in report.get("root_causes") or ()]}


def site_counts(report: dict[str, Any]) -> tuple[int, int]:
    """(manifested, latent) race sites at warning or error."""
    man = lat = 0
    for f in report.get("findings", ()):
        if SEVERITY_RANK.get(f.get("severity"), 0) < WARNING:
            continue
        if f.get("verdict") == "manifested":
            man += 1
        else:
            lat += 1
    return man, lat
