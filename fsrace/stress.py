"""``fsrace stress`` and ``fsrace compare``: numbers a maintainer can put in a pull request.

``fsrace stress -j N --rounds R [--setup CMD] [--cleanup CMD] [-o DIR] -- CMD ...``
runs R rounds; each round runs ``--setup`` (untraced, through ``sh -c``, in the
current directory), records N concurrent copies of CMD under strace (all
released at one moment by the launcher), analyses the round, then runs
``--cleanup``.  ``--no-trace`` runs the copies without strace (failure rates
only: tracing changes timing); ``--untraced-rounds K`` adds K untraced rounds
after the traced ones so both rates are shown side by side.

``--amplify`` (race amplification): after the plain rounds, every latent
site (a race that was seen but never failed) gets delay-injection rounds.
strace's ``-e inject=SYSCALL:delay_enter=DELAY:when=A..B`` stalls the
culprit's syscall (the remover's ``unlinkat``/``rmdir``/``rename``) or the
victim's, at the invocations (counted per thread, as strace counts them)
where the example of the site happened, which widens the window the race
needs.  A site is *confirmed* when it turns up manifested in an amplified
round; the plan (syscall, delay, ``when=``) is reported.  Amplified rounds
are kept apart from the failure rate, which they would distort on purpose.

Ctrl-C at any time stops the current round (its log is kept, marked
incomplete) and summarises the rounds done so far; ``summary.json`` is
rewritten after every round, so even a killed run leaves a usable one.

Directory layout (``-o DIR``, default ``fsrace-stress``)::

    DIR/round-001/events.jsonl   the round's event log (traced rounds)
    DIR/round-001/report.json    the round's JSON report (fsrace analyze --format json)
    DIR/round-001/output.txt     the copies' stdout and stderr
    DIR/summary.json             everything below

``summary.json`` fields:

``format``/``version``     ``"fsrace-stress"``, ``"1.0"``
``command``, ``cwd``        the command (argv) and the directory it ran in
``copies``                  copies per round (``-j``)
``setup``, ``cleanup``      the shell commands, or null
``traced``                  whether the counted rounds ran under strace
``rounds_requested``        ``--rounds`` (+ ``--untraced-rounds``)
``rounds_done``             complete rounds, amplified ones included
``interrupted``             Ctrl-C (or SIGTERM) stopped the run
``started``/``ended``       epoch seconds
``strace_version``          or null
``rounds``                  per round: ``round``, ``dir``, ``events``, ``report`` (paths
                            relative to DIR, null when absent), ``traced``, ``amplify``
                            (null or the plan: ``{"site", "syscall", "delay_us",
                            "when", "target"}``), ``complete``, ``interrupted``,
                            ``copies``, ``failed``, ``exit_codes``, ``seconds`` (wall time
                            of setup + copies + analysis), ``seconds_run`` (the copies
                            only), ``seconds_analyze``, ``errors``, ``warnings``, ``info``,
                            ``manifested_sites``, ``latent_sites`` (warning/error sites by
                            verdict), ``events``, ``unparsed_lines``, ``failed_output``
                            (first error lines the copies printed)
``failure_rate``            over complete plain traced rounds (untraced with
                            ``--no-trace``): ``failed``, ``total`` (copies), ``rate``,
                            ``ci95`` [low, high] (Wilson score interval), ``method``
``untraced_failure_rate``   the same for untraced rounds, or null
``rounds_with_failure``     plain rounds where at least one copy failed
``seconds_per_round``       {"traced": mean, "untraced": mean} of ``seconds_run``
``sites``                   race sites over the plain traced rounds, see
                            ``analyzers.compare.aggregate_sites``: ``key``, ``kind``,
                            ``site`` (``$CWD`` for the working directory), ``severity``
                            (worst), ``verdicts``, ``syscalls``, ``rounds``,
                            ``rounds_manifested``, ``count``, ``example``
``root_causes``             (1.1) root causes over the plain traced rounds, ranked by the
                            failures they explained, see
                            ``analyzers.compare_causes.aggregate_root_causes``: ``key``,
                            ``programs``, ``resource``, ``kinds``, ``severity``, ``rounds``,
                            ``rounds_failed``, ``failures_explained``, ``statement``,
                            ``fix``, ``example``
``amplify``                 null, or ``{"rounds": n, "sites": [{"key", "kind", "site",
                            "confirmed", "confirmed_in_round", "plan", "plans_tried"}]}``
``exit_status``             1 if any error finding or failed copy, else 0
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fsrace.analyzers.compare import (
    STRESS_FORMAT, CompareError, aggregate_sites, compare, compare_exit_status, format_rate,
    load_runset, rate_dict)
from fsrace.analyzers.sites import SEVERITY_RANK
from fsrace.analyzers.compare_causes import aggregate_root_causes, compare_runsets
from fsrace.reports.report_compare import render_compare_text
from fsrace.reports.safe_text import printable

#: 1.1 adds ``root_causes`` (additive).
SUMMARY_VERSION = "1.1"

#: Amplification delays are clamped to this range (seconds) ...
AMPLIFY_MIN_DELAY, AMPLIFY_MAX_DELAY = 0.001, 2.0
#: ... and the widest plans delay this many invocations either side.
AMPLIFY_SPREAD = 4

#: Most race sites listed in the terminal summary (summary.json has all).
MAX_SITES_SHOWN = 25

#: Race kinds worth amplifying (every kind the analyzer reports).
WARNING = SEVERITY_RANK["warning"]


class StressError(Exception):
    """A problem the user can fix (bad setup command, unwritable directory)."""


# ---------------------------------------------------------------- helpers

def _shell(cmd: str, what: str, cwd: str) -> None:
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


def _failed_output(path: Path, limit: int = 5) -> list[str]:
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


def _count_failed(copies: list[dict[str, Any]]) -> int:
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


def _site_counts(report: dict[str, Any]) -> tuple[int, int]:
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


# --------------------------------------------------------------- amplification

def invocation_numbers(events_path: Path, wanted: dict[int, str]) -> dict[int, tuple[int, int]]:
    """For event ``seq`` -> syscall name, its thread and per-thread invocation number.

    strace counts injections per syscall and per tracee (thread), from 1.
    Returns seq -> (tid, n).
    """
    from fsrace.tracer.eventlog import open_event_log

    names = set(wanted.values())
    counts: dict[tuple[int, str], int] = {}
    out: dict[int, tuple[int, int]] = {}
    log = open_event_log(events_path)
    for ev in log.events():
        name = ev.get("syscall")
        if name not in names:
            continue
        tid = ev.get("tid", ev.get("pid"))
        key = (tid, name)
        counts[key] = counts.get(key, 0) + 1
        seq = ev.get("seq")
        if seq in wanted and wanted[seq] == name:
            out[seq] = (tid, counts[key])
    return out


def amplify_plans(site: dict[str, Any], rdir: Path) -> list[dict[str, Any]]:
    """Delay plans for one latent site, mildest first.

    A latent race is two unordered accesses that happened ``gap`` seconds
    apart in the wrong order for a failure.  Stalling the *earlier* one
    (delay_enter on its syscall, at its per-thread invocation number) for
    longer than the gap lets the later one overtake it: the remover then
    removes what the other is using, or finds the directory refilled.  The
    ladder: 1.5 x gap and 3 x gap at that one invocation, then 3 x gap on
    the invocations around it (for multi-threaded programs, where the same
    operation lands on another thread or invocation from run to run), then
    the other access's syscall.  Delays are clamped to [1 ms, 2 s].
    """
    example = site.get("example") or {}
    accesses = [a for a in example.get("accesses") or []
                if a.get("syscall") and a.get("seq") is not None]
    if not accesses:
        return []
    accesses.sort(key=lambda a: (a.get("ts") is None, a.get("ts") or 0, a["seq"]))
    first, last = accesses[0], accesses[-1]
    gap = 0.0
    if first.get("ts") is not None and last.get("ts") is not None:
        gap = max(0.0, float(last["ts"]) - float(first["ts"]))
    events = rdir / "events.jsonl"
    try:
        numbers = invocation_numbers(events, {a["seq"]: a["syscall"] for a in accesses})
    except Exception:  # noqa: BLE001 - a missing/damaged log: plan without when=
        numbers = {}

    def clamp(seconds: float) -> int:
        return int(min(AMPLIFY_MAX_DELAY, max(AMPLIFY_MIN_DELAY, seconds)) * 1e6)

    plans: list[dict[str, Any]] = []
    seen: set[tuple] = set()

    def add(acc: dict[str, Any], factor: float, spread: int) -> None:
        n = numbers.get(acc["seq"], (None, None))[1]
        if n:
            when = f"{max(1, n - spread)}..{min(65534, n + spread)}" if spread else str(n)
        else:
            when = f"1..{1 + 2 * spread}"
        delay = clamp(factor * gap)
        key = (acc["syscall"], delay, when)
        if key not in seen:
            seen.add(key)
            plans.append({"site": site["key"], "target": acc.get("role", "?"),
                          "syscall": acc["syscall"], "delay_us": delay, "when": when,
                          "gap_us": int(gap * 1e6)})

    add(first, 1.5, 0)
    add(first, 3.0, 0)
    add(first, 3.0, AMPLIFY_SPREAD)
    if last is not first:
        add(last, 3.0, AMPLIFY_SPREAD)
    return plans


def inject_args(plan: dict[str, Any]) -> list[str]:
    """strace arguments for one plan: ``-e inject=NAME:delay_enter=USEC:when=A..B``."""
    return ["-e", f"inject={plan['syscall']}:delay_enter={plan['delay_us']}:when={plan['when']}"]


def describe_plan(plan: dict[str, Any] | None) -> str:
    if not plan:
        return "-"
    return (f"delay {plan['target']}'s {plan['syscall']} by {plan['delay_us'] / 1000:.0f} ms "
            f"(when={plan['when']})")


# --------------------------------------------------------------------- the run

class StressRun:
    """State of one ``fsrace stress`` invocation; writes summary.json as it goes."""

    def __init__(self, cmd: list[str], copies: int, rounds: int, outdir: Path, *,
                 setup: str | None, cleanup: str | None, traced: bool,
                 untraced_rounds: int, amplify: bool, amplify_rounds: int, cwd: str):
        self.cmd, self.copies, self.rounds, self.outdir = cmd, copies, rounds, outdir
        self.setup, self.cleanup, self.traced = setup, cleanup, traced
        self.untraced_rounds, self.amplify, self.amplify_rounds = untraced_rounds, amplify, \
            amplify_rounds
        self.cwd = cwd
        self.records: list[dict[str, Any]] = []
        self.reports: dict[int, dict[str, Any]] = {}
        self.interrupted = False
        self.started = time.time()
        self.ended: float | None = None
        self.strace_version: str | None = None
        self.amplify_state: dict[str, Any] | None = None
        self.warnings: list[str] = []

    # ------------------------------------------------------------ one round
    def run_round(self, number: int, traced: bool, plan: dict[str, Any] | None = None
                  ) -> dict[str, Any]:
        rdir = self.outdir / f"round-{number:03d}"
        rdir.mkdir(parents=True, exist_ok=True)
        rec: dict[str, Any] = {"round": number, "dir": rdir.name, "events": None,
                               "report": None, "traced": traced, "amplify": plan,
                               "complete": False, "interrupted": False, "copies": self.copies,
                               "failed": 0, "exit_codes": [], "seconds": None,
                               "seconds_run": None, "seconds_analyze": None, "errors": 0,
                               "warnings": 0, "info": 0, "manifested_sites": 0,
                               "latent_sites": 0, "events_count": None, "unparsed_lines": None,
                               "failed_output": []}
        self.records.append(rec)
        t0 = time.time()
        try:
            if self.setup:
                _shell(self.setup, "setup", self.cwd)
            out_path = rdir / "output.txt"
            with open(out_path, "wb") as output:
                if traced:
                    facts, stats = run_traced(self.cmd, self.copies, self.cwd, rdir, output,
                                              inject_args(plan) if plan else [])
                    self.strace_version = facts["strace_version"]
                    rec["events"] = f"{rdir.name}/events.jsonl"
                    rec["events_count"] = stats.events
                    rec["unparsed_lines"] = stats.unparsed
                    copies, interrupted = facts["copies_status"], facts["interrupted"]
                    rec["seconds_run"] = facts["seconds_run"]
                else:
                    t1 = time.time()
                    copies, interrupted = run_untraced(self.cmd, self.copies, self.cwd, output)
                    rec["seconds_run"] = time.time() - t1
            rec["exit_codes"] = [c["signal"] or c["exit_code"] for c in copies]
            rec["failed"] = _count_failed(copies)
            rec["failed_output"] = _failed_output(out_path)
            if interrupted:
                rec["interrupted"] = True
                raise KeyboardInterrupt
            if traced:
                t2 = time.time()
                report = analyse_round(rdir)
                rec["seconds_analyze"] = time.time() - t2
                rec["report"] = f"{rdir.name}/report.json"
                self.reports[number] = slim_report(report)
                summ = report.get("summary", {})
                rec["errors"], rec["warnings"], rec["info"] = (
                    summ.get("errors", 0), summ.get("warnings", 0), summ.get("info", 0))
                rec["manifested_sites"], rec["latent_sites"] = _site_counts(report)
            if self.cleanup:
                _shell(self.cleanup, "cleanup", self.cwd)
            rec["complete"] = True
        except KeyboardInterrupt:
            rec["interrupted"] = True
            self.interrupted = True
        finally:
            rec["seconds"] = time.time() - t0
            self.write_summary()
        return rec

    # -------------------------------------------------------------- summary
    def plain_records(self, traced: bool) -> list[dict[str, Any]]:
        return [r for r in self.records
                if r["complete"] and not r["amplify"] and r["traced"] == traced]

    def summary(self) -> dict[str, Any]:
        traced_recs = self.plain_records(True)
        untraced_recs = self.plain_records(False)
        main = traced_recs if self.traced else untraced_recs

        def rate(recs):
            return rate_dict(sum(r["failed"] for r in recs), sum(r["copies"] for r in recs))

        def mean(recs):
            vals = [r["seconds_run"] for r in recs if r["seconds_run"] is not None]
            return round(sum(vals) / len(vals), 3) if vals else None

        sites = aggregate_sites(((r["round"], self.reports[r["round"]]) for r in traced_recs
                                 if r["round"] in self.reports), self.cwd)
        causes = aggregate_root_causes(((r["round"], self.reports[r["round"]])
                                        for r in traced_recs if r["round"] in self.reports),
                                       self.cwd)
        any_error = any(r["errors"] for r in self.records if r["complete"])
        any_failed = any(r["failed"] for r in self.records if r["complete"] or r["failed"])
        return {
            "format": STRESS_FORMAT, "version": SUMMARY_VERSION,
            "command": self.cmd, "cwd": self.cwd, "copies": self.copies,
            "setup": self.setup, "cleanup": self.cleanup, "traced": self.traced,
            "rounds_requested": self.rounds + self.untraced_rounds,
            "rounds_done": sum(1 for r in self.records if r["complete"]),
            "interrupted": self.interrupted, "started": self.started,
            "ended": self.ended or time.time(), "strace_version": self.strace_version,
            "rounds": self.records,
            "failure_rate": rate(main),
            "untraced_failure_rate": rate(untraced_recs) if (untraced_recs and self.traced)
            else (rate(untraced_recs) if not self.traced else None),
            "rounds_with_failure": sum(1 for r in main if r["failed"]),
            "seconds_per_round": {"traced": mean(traced_recs), "untraced": mean(untraced_recs)},
            "root_causes": causes,
            "sites": sites,
            "amplify": self.amplify_state,
            "warnings": self.warnings,
            "exit_status": 1 if (any_error or any_failed) else 0,
        }

    def write_summary(self) -> dict[str, Any]:
        data = self.summary()
        tmp = self.outdir / "summary.json.tmp"
        try:
            tmp.write_text(json.dumps(data, indent=2), encoding="utf-8", errors="surrogateescape")
            tmp.replace(self.outdir / "summary.json")
        except OSError as exc:
            raise StressError(f"cannot write {self.outdir}/summary.json: {exc.strerror}") from None
        return data

    # ---------------------------------------------------------------- drive
    def run(self, on_round: Callable[[dict[str, Any], "StressRun"], None]) -> dict[str, Any]:
        number = 0
        try:
            for _ in range(self.rounds):
                number += 1
                on_round(self.run_round(number, self.traced), self)
                if self.interrupted:
                    break
            if self.traced and not self.interrupted:
                for _ in range(self.untraced_rounds):
                    number += 1
                    on_round(self.run_round(number, False), self)
                    if self.interrupted:
                        break
            if self.amplify and self.traced and not self.interrupted:
                number = self.run_amplify(number, on_round)
        except KeyboardInterrupt:
            self.interrupted = True
        self.ended = time.time()
        return self.write_summary()

    def latent_sites(self) -> list[dict[str, Any]]:
        sites = self.summary()["sites"]
        return [s for s in sites if SEVERITY_RANK.get(s["severity"], 0) >= WARNING
                and not s["rounds_manifested"]]

    def run_amplify(self, number: int, on_round) -> int:
        latent = self.latent_sites()
        state = {"rounds": 0, "sites": []}
        self.amplify_state = state
        pending = []
        for s in latent:
            ex = s.get("example") or {}
            rdir = self.outdir / f"round-{int(ex.get('round', 1)):03d}"
            entry = {"key": s["key"], "kind": s["kind"], "site": s["site"], "confirmed": False,
                     "confirmed_in_round": None, "plan": None, "plans_tried": []}
            state["sites"].append(entry)
            pending.append((entry, amplify_plans(s, rdir)))
        budget = self.amplify_rounds
        while budget > 0 and not self.interrupted:
            todo = [(e, plans) for e, plans in pending if not e["confirmed"] and plans]
            if not todo:
                break
            progressed = False
            for entry, plans in todo:
                if budget <= 0 or self.interrupted or entry["confirmed"] or not plans:
                    continue
                plan = plans.pop(0)
                number += 1
                budget -= 1
                progressed = True
                entry["plans_tried"].append(plan)
                rec = self.run_round(number, True, plan)
                state["rounds"] += 1
                report = self.reports.get(number)
                if report is not None:
                    man = aggregate_sites([(number, report)], self.cwd)
                    hit = {s["key"] for s in man if s["rounds_manifested"]
                           and SEVERITY_RANK.get(s["severity"], 0) >= WARNING}
                    for e, _plans in pending:
                        if not e["confirmed"] and e["key"] in hit:
                            e["confirmed"] = True
                            e["confirmed_in_round"] = number
                            e["plan"] = plan
                self.write_summary()
                on_round(rec, self)
            if not progressed:
                break
        return number


# ------------------------------------------------------------------ rendering

def _example_text(site: dict[str, Any]) -> str:
    ex = site.get("example") or {}
    parts = []
    for acc in ex.get("accesses") or []:
        parts.append(f"{acc.get('role')} {acc.get('pid')} {acc.get('syscall')} "
                     f"{printable(acc.get('path'))} = {acc.get('result')}")
    return "; ".join(parts)


def render_summary(data: dict[str, Any], console: Console) -> None:
    """The end-of-run report (rich Text only; untrusted strings escaped)."""
    cmd = printable(shlex.join(data["command"]))
    console.print(Text(f"fsrace stress: {data['rounds_done']} rounds of {data['copies']} "
                       f"concurrent copies of {cmd}"
                       + (" (interrupted)" if data["interrupted"] else ""), style="bold"))
    table = Table(show_header=True, header_style="bold")
    for col in ("round", "mode", "copies failed", "manifested sites", "latent sites", "seconds"):
        table.add_column(col, justify="right" if col != "mode" else "left")
    for r in data["rounds"]:
        mode = "traced" if r["traced"] else "untraced"
        if r["amplify"]:
            mode = "amplified: " + describe_plan(r["amplify"])
        if not r["complete"]:
            mode += " (incomplete)"
        table.add_row(Text(str(r["round"])), Text(printable(mode)),
                      Text(f"{r['failed']}/{r['copies']}"),
                      Text(str(r["manifested_sites"]) if r["traced"] else "-"),
                      Text(str(r["latent_sites"]) if r["traced"] else "-"),
                      Text(f"{r['seconds_run']:.1f}" if r["seconds_run"] is not None else "-"))
    console.print(table)
    causes = [c for c in data.get("root_causes") or ()
              if SEVERITY_RANK.get(c["severity"], 0) >= WARNING]
    if data["traced"]:
        console.print(Text(f"root causes: {len(causes)}", style="bold"))
        for i, c in enumerate(causes[:MAX_SITES_SHOWN], 1):
            line = Text(f"  {i}. ")
            line.append(c["severity"], style="red" if c["severity"] == "error" else "yellow")
            line.append(f" in {len(c['rounds'])} round{'s' if len(c['rounds']) != 1 else ''}, "
                        f"{c['failures_explained']} failure"
                        f"{'s' if c['failures_explained'] != 1 else ''} explained: ")
            line.append(printable(c.get("statement") or c["key"]))
            console.print(line)
            if c.get("fix"):
                console.print(Text("     fix: " + printable(c["fix"]), style="dim"))
    sites = [s for s in data["sites"] if SEVERITY_RANK.get(s["severity"], 0) >= WARNING]
    info = len(data["sites"]) - len(sites)
    if data["traced"]:
        plain = len([r for r in data["rounds"] if r["complete"] and r["traced"]
                     and not r["amplify"]])
        console.print(Text(f"race sites over {plain} traced rounds: {len(sites)} at warning or "
                           f"error" + (f" ({info} info sites not shown)" if info else ""),
                           style="bold"))
        if sites:
            st = Table(show_header=True, header_style="bold")
            for col in ("severity", "kind", "site", "rounds", "manifested in", "example"):
                st.add_column(col)
            for s in sites[:MAX_SITES_SHOWN]:
                st.add_row(Text(s["severity"], style="red" if s["severity"] == "error"
                                else "yellow"),
                           Text(s["kind"]), Text(printable(s["site"])),
                           Text(str(len(s["rounds"]))), Text(str(len(s["rounds_manifested"]))),
                           Text(_example_text(s)))
            console.print(st)
            if len(sites) > MAX_SITES_SHOWN:
                console.print(Text(f"… and {len(sites) - MAX_SITES_SHOWN} more sites "
                                   f"(all of them are in summary.json)"))
    label = "failure rate" + (" (traced)" if data["traced"] else " (untraced)")
    console.print(Text(f"{label}: {format_rate(data['failure_rate'])} of copies; "
                       f"{data['rounds_with_failure']} rounds with a failure"))
    spr = data.get("seconds_per_round") or {}
    if data["traced"] and data.get("untraced_failure_rate"):
        console.print(Text(f"failure rate (untraced): {format_rate(data['untraced_failure_rate'])}"
                           f" of copies"))
        console.print(Text("note: tracing changes timing (strace stops every traced syscall), "
                           "so the traced and untraced rates measure different schedules",
                           style="yellow"))
    times = ", ".join(f"{k} {v:.1f} s" for k, v in spr.items() if v is not None)
    if times:
        console.print(Text(f"mean time per round (copies only): {times}"))
    amp = data.get("amplify")
    if amp is not None:
        console.print(Text(f"amplification: {amp['rounds']} rounds with delay injection",
                           style="bold"))
        if not amp["sites"]:
            console.print(Text("  no latent site to amplify"))
        for s in amp["sites"]:
            if s["confirmed"]:
                verdict = Text("confirmed", style="bold red")
                how = (f" in round {s['confirmed_in_round']} under "
                       f"{describe_plan(s['plan'])}")
            else:
                verdict = Text("not confirmed", style="dim")
                how = f" after {len(s['plans_tried'])} plans" if s["plans_tried"] else \
                    " (no plan could be made or no rounds left)"
            console.print(Text("  ") + verdict + Text(f" {s['kind']} {printable(s['site'])}"
                                                      f"{printable(how)}"))
    for w in data.get("warnings", ()):
        console.print(Text("warning: " + printable(w), style="yellow"))


# ---------------------------------------------------------------- commands

def _progress_display(console: Console, total: int):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(),
                        TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                        console=console, transient=True, disable=not console.is_terminal)
    return progress


@click.command("stress", context_settings={"ignore_unknown_options": True})
@click.option("-j", "--jobs", "copies", default=10, show_default=True,
              type=click.IntRange(1, 512), help="Concurrent copies per round.")
@click.option("--rounds", default=3, show_default=True, type=click.IntRange(1, 10000),
              help="Rounds to run.")
@click.option("--setup", default=None, metavar="CMD",
              help="Shell command run (untraced) before each round, e.g. 'rm -rf .venv'.")
@click.option("--cleanup", default=None, metavar="CMD",
              help="Shell command run (untraced) after each round.")
@click.option("-o", "--output", "outdir", default="fsrace-stress", show_default=True,
              help="Directory for per-round logs, reports and summary.json.")
@click.option("--no-trace", is_flag=True,
              help="Run the copies without strace: failure rates only (tracing changes timing).")
@click.option("--untraced-rounds", default=0, show_default=True, type=click.IntRange(0, 10000),
              help="Also run this many untraced rounds, to show both failure rates.")
@click.option("--amplify", is_flag=True,
              help="After the plain rounds, re-run with strace delay injection on the "
                   "syscalls of each latent site to try to make it fail.")
@click.option("--amplify-rounds", default=6, show_default=True, type=click.IntRange(1, 1000),
              help="Most rounds spent on amplification.")
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
def stress_cmd(copies: int, rounds: int, setup: str | None, cleanup: str | None, outdir: str,
               no_trace: bool, untraced_rounds: int, amplify: bool, amplify_rounds: int,
               cmd: tuple[str, ...]) -> None:
    """Run N concurrent copies of CMD for several rounds; failure rates and race sites.

    Each round: --setup, N copies at once (under strace unless --no-trace),
    analysis.  Writes DIR/round-NNN/{events.jsonl,report.json} and
    DIR/summary.json.  Ctrl-C stops and summarises the rounds done.

    Exit status: 1 if any error finding or failed copy, else 0; 2 usage.
    """
    from fsrace.console import UserError, err_console, out_console
    from fsrace.tracer.strace_backend import RecordError, find_strace
    from fsrace.tracer.eventlog import EventLogError
    from fsrace.tracer.strace_import import ImportError_
    from fsrace.analyzers.load import LoadError

    console = err_console()
    if amplify and no_trace:
        raise UserError("--amplify needs tracing (strace injects the delays); drop --no-trace")
    if no_trace and untraced_rounds:
        raise UserError("--untraced-rounds adds untraced rounds to traced ones; with "
                        "--no-trace use --rounds")
    try:
        if not no_trace:
            find_strace()
        out = Path(outdir)
        if out.exists() and not out.is_dir():
            raise UserError(f"{printable(outdir)} exists and is not a directory")
        out.mkdir(parents=True, exist_ok=True)
        stale = sorted(out.glob("round-*"))
        if stale:
            raise UserError(f"{printable(outdir)} already holds rounds ({stale[0].name}, …): "
                            f"choose a new directory with -o, or remove it")
        run = StressRun(list(cmd), copies, rounds, out, setup=setup, cleanup=cleanup,
                        traced=not no_trace, untraced_rounds=untraced_rounds, amplify=amplify,
                        amplify_rounds=amplify_rounds, cwd=os.getcwd())
        total = rounds + untraced_rounds
        progress = _progress_display(console, total)
        with progress:
            task = progress.add_task(f"round 1/{total}", total=total)

            def on_round(rec: dict[str, Any], r: StressRun) -> None:
                failed = sum(x["failed"] for x in r.records)
                nsites = len({k for rep in r.reports.values() for k in
                              (f"{f['kind']} {f['site']}" for f in rep.get("findings", ())
                               if SEVERITY_RANK.get(f.get("severity"), 0) >= WARNING)})
                what = "amplified round" if rec["amplify"] else "round"
                progress.update(task, completed=min(total, len(r.records)),
                                total=max(total, len(r.records)),
                                description=f"{what} {rec['round']}: {failed} copies failed so "
                                            f"far, {nsites} race sites")
                if not console.is_terminal:
                    console.print(Text(f"{what} {rec['round']}: {rec['failed']}/{rec['copies']} "
                                       f"copies failed, {rec['manifested_sites']} manifested / "
                                       f"{rec['latent_sites']} latent sites, "
                                       f"{(rec['seconds'] or 0):.1f} s"
                                       + ("" if rec["complete"] else " (incomplete)")))
            data = run.run(on_round)
    except StressError as exc:
        raise UserError(str(exc)) from None
    except (RecordError, EventLogError, ImportError_, LoadError) as exc:
        raise UserError(str(exc)) from None
    render_summary(data, out_console())
    console.print(Text(f"written to {printable(out)}/ (summary.json, round-NNN/)"))
    if data["interrupted"]:
        sys.exit(130)
    sys.exit(data["exit_status"])


@click.command("compare")
@click.argument("before")
@click.argument("after")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("-o", "--output", default=None, help="Write the comparison to this file.")
@click.option("--no-order", is_flag=True,
              help="Skip loading AFTER's event logs to find what orders the fixed sites.")
def compare_cmd(before: str, after: str, fmt: str, output: str | None, no_order: bool) -> None:
    """Compare two stress directories (or two JSON reports): BEFORE and AFTER a fix.

    Sites fixed, remaining and new; failure rates with 95 % Wilson intervals
    and a two-sided Fisher exact test; for fixed sites, what orders the
    accesses in AFTER now (e.g. a flock on the environment lock).

    Exit status: 1 when AFTER has an error or warning site BEFORE lacked,
    else 0; 2 bad input.
    """
    from fsrace.console import UserError, err_console, out_console
    from fsrace.analyzers.load import LoadError
    from fsrace.tracer.eventlog import EventLogError

    console = err_console()
    try:
        b = load_runset(before, "before")
        a = load_runset(after, "after")
        if not no_order and a.event_logs and sys.stderr.isatty():
            console.print(Text("loading AFTER's event log to find what orders the accesses …",
                               style="dim"))
        result = compare(b, a, explain_order=not no_order)
        result.update(compare_runsets(b, a))   # root causes fixed / remaining / new
    except (CompareError, LoadError, EventLogError) as exc:
        raise UserError(str(exc)) from None
    to_stdout = output in (None, "-")
    try:
        stream = sys.stdout if to_stdout else open(output, "w", encoding="utf-8",
                                                   errors="surrogateescape")
    except OSError as exc:
        raise UserError(f"cannot write {output}: {exc.strerror}") from None
    try:
        if fmt == "json":
            stream.write(json.dumps(result, indent=2) + "\n")
        else:
            con = out_console(stream) if to_stdout else Console(file=stream, width=160,
                                                                color_system=None)
            render_compare_text(result, con)
    finally:
        if not to_stdout:
            stream.close()
    sys.exit(compare_exit_status(result))
