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
import sys
import time
from pathlib import Path
from typing import Any, Callable

import click
from rich.console import Console
from rich.text import Text

from fsrace.analyzers.compare import (STRESS_FORMAT, CompareError, aggregate_sites, compare,
                                      compare_exit_status,
                                      load_runset, rate_dict)
from fsrace.analyzers.sites import SEVERITY_RANK
from fsrace.analyzers.compare_causes import aggregate_root_causes, compare_runsets
from fsrace.reports.report_compare import render_compare_text
from fsrace.reports.safe_text import printable
from fsrace.stress.amplify import amplify_plans, inject_args
from fsrace.stress.render import render_summary
from fsrace.stress.rounds import (WARNING, StressError, count_failed, failed_output, run_shell,
                                  site_counts, analyse_round, run_traced, run_untraced,
                                  slim_report)

#: 1.1 adds ``root_causes`` (additive).
SUMMARY_VERSION = "1.1"


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
                run_shell(self.setup, "setup", self.cwd)
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
            rec["failed"] = count_failed(copies)
            rec["failed_output"] = failed_output(out_path)
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
                rec["manifested_sites"], rec["latent_sites"] = site_counts(report)
            if self.cleanup:
                run_shell(self.cleanup, "cleanup", self.cwd)
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
