"""The published formats hold for real output: the JSON report and the event log
against docs/report.schema.json and docs/event-log.schema.json.

Real means made the way a user makes them: ``fsrace import`` of the
recorded strace logs in tests/data, ``fsrace record`` of a gallery program
under strace (live import, the default), and ``fsrace analyze --format
json`` of both.  Besides validating, each test checks that every field the
output holds is documented in the schema (the schemas allow unknown fields,
because the formats grow by adding fields; a field nobody documented
would slip through that door), and that the example lines in
docs/event-log.md and docs/report.md validate too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import DATA, ROOT, needs_strace

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is in the test extra: pip install -e '.[test]'")

DOCS = ROOT / "docs"
REPORT_SCHEMA = json.loads((DOCS / "report.schema.json").read_text())
EVENT_SCHEMA = json.loads((DOCS / "event-log.schema.json").read_text())

#: Recorded strace logs imported for the event-log and report checks: every
#: racy gallery program, two fixed ones (flock locks, threads), the example
#: installer (racy, locked), and strace flag variants (-ttt -T, -yy, none).
LOGS = sorted((DATA / "strace" / "gallery").glob("*-racy.log.gz")) + \
    [DATA / "strace" / "gallery" / n for n in ("lockfile-fixed-flock.log.gz", "threads_ok.log.gz")] + \
    [DATA / "strace" / "installer" / n for n in ("racy-fail.log.gz", "lock.log.gz")] + \
    [DATA / "strace" / "scenario" / n for n in ("ttt-T.log.gz", "yy.log.gz", "plain.log.gz")]


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fsrace", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def _validator(schema: dict[str, Any], part: str | None = None) -> Any:
    if part is not None:
        schema = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{part}"}
    return jsonschema.Draft202012Validator(schema)


def _resolve(schema: dict[str, Any], node: dict[str, Any], value: Any) -> dict[str, Any] | None:
    """The object schema that describes ``value`` ($ref followed, the matching
    oneOf branch chosen); None when ``value`` is not an object there."""
    while True:
        if "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
        elif "oneOf" in node:
            node = next((b for b in node["oneOf"]
                         if _validator({"$schema": schema["$schema"], "$defs": schema["$defs"], **b})
                         .is_valid(value)), {})
        else:
            return node


def undocumented(schema: dict[str, Any], node: dict[str, Any], value: Any, where: str = "") -> Iterator[str]:
    """Paths of fields in ``value`` that ``node`` does not name."""
    node = _resolve(schema, node, value) or {}
    if isinstance(value, dict) and "properties" in node:   # an object without properties is free-form
        props = node["properties"]
        for k, v in value.items():
            if k not in props:
                yield f"{where}.{k}"
            else:
                yield from undocumented(schema, props[k], v, f"{where}.{k}")
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for v in value:
            yield from undocumented(schema, node["items"], v, where + "[]")


def check_event_log(path: Path) -> dict[str, Any]:
    """Validate every line of an event log; return its header and trailer."""
    lines = path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    assert len(lines) >= 3, f"{path}: too short to be a log with events"
    whole = _validator(EVENT_SCHEMA)
    parts = [("header", lines[0])] + [("event", ln) for ln in lines[1:-1]] + [("trailer", lines[-1])]
    seen: set[str] = set()
    for n, (part, line) in enumerate(parts, 1):
        obj = json.loads(line)
        errors = [e.message for e in _validator(EVENT_SCHEMA, part).iter_errors(obj)]
        assert not errors, f"{path}:{n} ({part}): {errors[:3]}\n{line[:300]}"
        assert whole.is_valid(obj), f"{path}:{n}: matches the line schema only ambiguously"
        seen.update(undocumented(EVENT_SCHEMA, EVENT_SCHEMA["$defs"][part], obj, part))
    assert not seen, f"{path}: fields not in docs/event-log.schema.json: {sorted(seen)}"
    return {"header": json.loads(lines[0]), "trailer": json.loads(lines[-1]), "events": len(lines) - 2}


def check_report(text: str, what: str) -> dict[str, Any]:
    """Validate a JSON report; return it."""
    report = json.loads(text)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
              for e in _validator(REPORT_SCHEMA).iter_errors(report)]
    assert not errors, f"{what}: {errors[:5]}"
    extra = sorted(set(undocumented(REPORT_SCHEMA, REPORT_SCHEMA, report)))
    assert not extra, f"{what}: fields not in docs/report.schema.json: {extra}"
    return report


def test_schemas_are_valid_json_schemas() -> None:
    jsonschema.Draft202012Validator.check_schema(REPORT_SCHEMA)
    jsonschema.Draft202012Validator.check_schema(EVENT_SCHEMA)


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> list[Path]:
    """The recorded strace logs, imported with ``fsrace import`` as a user would."""
    out = tmp_path_factory.mktemp("imported")
    logs = []
    for src in LOGS:
        dst = out / (src.name.replace(".log.gz", "") + ".jsonl")
        r = _cli("import", str(src), "-o", str(dst))
        assert r.returncode == 0, f"fsrace import {src.name}: {r.stderr[-2000:]}"
        logs.append(dst)
    return logs


def test_imported_event_logs_match_the_schema(imported: list[Path]) -> None:
    kinds: set[str] = set()
    for log in imported:
        info = check_event_log(log)
        assert info["trailer"]["events"] == info["events"]
        kinds.update(json.loads(ln)["type"] for ln in log.read_text().splitlines()[1:-1])
    # The logs exercise the process events, not only syscalls.
    assert {"syscall", "fork", "exec", "exit", "wait"} <= kinds


def test_reports_of_recorded_logs_match_the_schema(imported: list[Path]) -> None:
    severities: set[str] = set()
    root_causes = 0
    for log in imported:
        r = _cli("analyze", str(log), "--format", "json", "--fail-on", "never")
        assert r.returncode == 0, f"{log.name}: {r.stderr[-2000:]}"
        report = check_report(r.stdout, log.name)
        severities.update(f["severity"] for f in report["findings"])
        root_causes += len(report.get("root_causes", []))
    # The reports hold what the schema describes (findings of every
    # severity, failed processes, root causes), so the check is not vacuous.
    assert {"error", "warning"} <= severities
    assert root_causes > 0


@needs_strace
def test_a_live_recording_and_its_report_match_the_schemas(tmp_path: Path) -> None:
    """``fsrace record`` (live import, the default) of a gallery race, then
    ``fsrace analyze --format json`` of that recording."""
    log = tmp_path / "run.jsonl"
    for attempt in range(5):
        target = tmp_path / f"target{attempt}"
        r = _cli("record", "-j", "3", "-o", str(log), "--", sys.executable, "-m",
                 "fsrace.fixtures.gallery.tmpdir_removed", str(target))
        assert log.is_file(), f"fsrace record wrote no log: {r.stderr[-2000:]}"
        info = check_event_log(log)
        head, trailer = info["header"], info["trailer"]
        assert head["created_by"] == "fsrace record" and head["live_import"] is True
        assert len(trailer["copies"]) == 3 and isinstance(trailer["launcher_pid"], int)
        a = _cli("analyze", str(log), "--format", "json", "--fail-on", "never")
        assert a.returncode == 0, a.stderr[-2000:]
        report = check_report(a.stdout, "recorded tmpdir_removed")
        if report["findings"]:
            break
    else:
        pytest.fail("5 recordings of tmpdir_removed gave no finding: the report check saw no findings")
    assert report["source"]["command"][-1] == str(target)


def _fanotify_refusal() -> str | None:
    """Why a fanotify recording cannot run here (None when it can)."""
    try:
        from fsrace.tracer import fanotify_kernel as kernel
        from fsrace.tracer.proc_connector import ProcConnector
        kernel.FanotifyGroup([str(ROOT)]).close()
        ProcConnector().close()
    except Exception as exc:  # noqa: BLE001 - the refusal is the skip reason
        return f"live fanotify recording refused here: {exc}"
    return None


def test_a_fanotify_recording_matches_the_schema(tmp_path: Path) -> None:
    """The other backend writes the same format (plus its own counters)."""
    refusal = _fanotify_refusal()
    if refusal:
        pytest.skip(refusal)
    log = tmp_path / "fan.jsonl"
    r = _cli("record", "--backend", "fanotify", "-j", "3", "-o", str(log), "--", sys.executable, "-m",
             "fsrace.fixtures.gallery.tmpdir_removed", str(tmp_path / "target"))
    assert log.is_file(), f"fsrace record --backend fanotify wrote no log: {r.stderr[-2000:]}"
    info = check_event_log(log)
    assert info["header"]["backend"] == "fanotify" and info["header"]["invisible"]
    a = _cli("analyze", str(log), "--format", "json", "--fail-on", "never")
    assert a.returncode == 0, a.stderr[-2000:]
    check_report(a.stdout, "fanotify recording")


def _doc_examples(name: str) -> list[Any]:
    """The JSON values in a doc's ```json blocks (one value, or one per line)."""
    text = (DOCS / name).read_text()
    out = []
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        try:
            out.append(json.loads(block))
        except ValueError:
            out.extend(json.loads(ln) for ln in block.splitlines() if ln.strip())
    return out


def test_the_documented_examples_match_the_schemas() -> None:
    lines = _doc_examples("event-log.md")
    assert len(lines) >= 5
    whole = _validator(EVENT_SCHEMA)
    for obj in lines:
        assert whole.is_valid(obj), f"docs/event-log.md example does not validate: {obj}"
    reports = _doc_examples("report.md")
    assert reports
    for obj in reports:
        check_report(json.dumps(obj), "docs/report.md example")


def test_a_wrong_report_is_refused() -> None:
    """The schema has teeth: a renamed field, a bad severity, a missing id fail."""
    good = json.loads(_cli("analyze", str(DATA / "strace" / "gallery" / "tmpdir_removed-racy.log.gz"),
                           "--format", "json", "--fail-on", "never").stdout)
    check_report(json.dumps(good), "tmpdir_removed-racy")
    v = _validator(REPORT_SCHEMA)
    for mutate in (lambda r: r["findings"][0].update(severity="fatal"),
                   lambda r: r["findings"][0].pop("id"),
                   lambda r: r.update(format="fsrace-rapport"),
                   lambda r: r["failed_processes"][0].update(explained_by="F1"),
                   lambda r: r.update(version="2.0")):
        bad = json.loads(json.dumps(good))
        mutate(bad)
        assert not v.is_valid(bad)
