"""The Python importer as it ran before the compiled core: the oracle.

``tests/test_core_import.py`` proves the core's events equal to these, and
``bench/bench_core.py`` measures the core against it.  Nothing at run time
imports this module (``stream_strace`` runs the core, ``core_import``).
"""

from __future__ import annotations

from typing import Any, Callable

from .strace_import import _ATTACH_INSIDE, _FF_NAME, StraceImporter, _merged_lines, _Source
from .strace_parse import parse_line


def reference_import(files: list[str], per_process: bool, initial_cwd: str | None,
                     emit: Callable[[dict[str, Any]], None]) -> tuple[Any, int, Any]:
    """The Python importer, fed as ``stream_strace`` fed it before the core:
    the oracle of the differential tests and the baseline of
    ``bench/bench_core.py``; never used at run time.

    Returns (stats, lines read, resolver)."""
    sources = []
    for f in files:
        m = _FF_NAME.match(f)
        sources.append(_Source(f, int(m.group(2)) if per_process and m else None))
    importer = StraceImporter(emit, initial_cwd)
    stats = importer.stats
    counter = [0]

    def on_line() -> None:
        counter[0] += 1
    try:
        if per_process:
            for pl in _merged_lines(sources, stats, on_line):
                importer.feed(pl)
        else:
            src = sources[0]
            head = ""
            for lineno, text in src.lines():
                on_line()
                if head:
                    text, head = head + text, ""
                if "tached" in text:
                    m = _ATTACH_INSIDE.search(text)
                    if m is not None:
                        head = text[:m.start()]
                        continue
                pl = parse_line(text) if text.endswith("\n") else None
                if pl is None:
                    if text.strip():
                        stats.note_unparsed(src.path, lineno, text)
                    continue
                importer.feed(pl)
        importer.finish()
    finally:
        for s in sources:
            s.close()
    return stats, counter[0], importer.resolver
