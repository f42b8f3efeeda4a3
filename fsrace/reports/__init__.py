"""Reports: one renderer per format, each a function of an Analysis.

The layer above the analysis (``fsrace.analyzers``) and below the command
line: ``report_text`` (terminal), ``report_json`` (the stable JSON report),
``report_html`` (swimlanes), ``report_perfetto`` (a trace for
ui.perfetto.dev), ``explain`` (the story of one finding) and
``report_compare`` (``fsrace compare``).  ``safe_text`` makes names taken
from traced programs safe to show in any of them.
"""
