"""``fsrace export``: an event store (format 2) back to JSON Lines (format 1).

The exported file is, byte for byte, the version 1 log the importer would
have written for the same input: the same header line, one compact JSON
line per event, the same trailer line.  A store without a trailer (its
writer was killed) exports to a log without one, which readers report as
cut short, exactly as they report the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .event_store import STORE_SUFFIX, is_event_store, is_store_name, open_event_store
from .eventlog import EventLogError, looks_like_event_log, open_text


@dataclass
class ExportStats:
    """What an export wrote."""

    events: int = 0
    complete: bool = True


def export_store(store: str | Path, output: str, name: str | None = None,
                 output_name: str | None = None) -> ExportStats:
    """Write the events of ``store`` to the JSON Lines file ``output``
    (``.gz`` compresses, ``-`` is standard output); raise EventLogError if
    ``store`` is not a readable event store."""
    name = str(store) if name is None else name
    output_name = output if output_name is None else output_name
    if is_store_name(output_name):
        raise EventLogError(f"{output_name}: export writes JSON Lines (format 1); name the output "
                            f"NAME.jsonl or NAME.jsonl.gz (to copy a store, copy the file)")
    if not is_event_store(store) and looks_like_event_log(store):
        raise EventLogError(f"{name} is already a JSON Lines event log (format 1), not an "
                            f"event store ({STORE_SUFFIX}): there is nothing to export; "
                            "fsrace analyze reads it as it is")
    log = open_event_store(store, name)
    stats = ExportStats()
    dumps = json.JSONEncoder(separators=(",", ":")).encode   # as EventLogWriter.write
    out = open_text(output, "w")
    try:
        out.write(json.dumps(log.header) + "\n")
        trailer = log.stored_trailer
        for _n, obj in log.records():
            if obj is not trailer:
                out.write(dumps(obj))
                out.write("\n")
                stats.events += 1
        if trailer is not None:
            out.write(json.dumps(trailer) + "\n")
        stats.complete = trailer is not None
    finally:
        if output == "-":
            out.flush()
            out.detach()
        else:
            out.close()
    return stats
