"""The HTML report: one self-contained page with a swimlane timeline.

Diagnosis first: the root causes as cards (statement, the failures each
explains, the fix, links to its findings), then one lane per process
(argv as the label, exit status shown, ordered and indented as the process
tree; helper processes that took no part in a race folded into their
parent), the file operations as marks, every finding as an arrow from the
culprit's operation to the victim's (coloured by severity; latent ones on
demand), the race sites beside it: selecting a site zooms the timeline to
its example and highlights the pair.  The timeline opens on the window
where the races happened.  Every finding and root cause has an address
(``report.html#F3``, ``#R1``) and the selection is kept in the URL.

The page is assembled here from three parts, one job each:
``report_html_model`` (the data, JSON-ready), ``report_html_style`` (the
style sheet) and ``report_html_script`` (the program that draws it).

Safety.  Paths and argv come from the traced programs, so they are
untrusted.  They go through ``printable`` (control characters and
non-UTF-8 bytes become visible escapes), then into one JSON blob embedded
in a ``<script type="application/json">`` block with ``<``, ``>``, ``&``
and U+2028/U+2029 escaped (so no ``</script>`` or ``<!--`` can end it),
and the page's script puts them into the DOM only as text nodes and
attribute values — never as markup.  A Content-Security-Policy meta tag
allows only this page's own script and style (by hash) and no network
access at all, so even a string that slipped through could not run or
phone home.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from typing import Any

from fsrace.analyzers.analyze import Analysis
from fsrace.analyzers.timeline import Timeline
from fsrace.reports.safe_text import printable

from .report_html_model import MARK_BUDGET, html_model
from .report_html_script import SCRIPT as _SCRIPT
from .report_html_style import STYLE as _STYLE


def embed_json(obj: Any) -> str:
    """JSON that is safe inside a <script> element (and inside HTML at all)."""
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def render_html(a: Analysis, timeline: Timeline | None = None, budget: int = MARK_BUDGET) -> str:
    """The whole report as one HTML page (ASCII, self-contained)."""
    model = html_model(a, timeline, budget)
    csp = ("default-src 'none'; script-src '%s'; style-src '%s'; img-src 'none'; "
           "connect-src 'none'; font-src 'none'; object-src 'none'; base-uri 'none'; "
           "form-action 'none'" % (_sha256(_SCRIPT), _sha256(_STYLE)))
    command = a.header.get("command")
    title = "fsrace report"
    if command:
        title += ": " + printable(" ".join(map(str, command)))[:200]
    esc = lambda s: html.escape(s, quote=True).encode("ascii", "xmlcharrefreplace").decode()
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n"  # our text, no quotes
        "<meta name=\"referrer\" content=\"no-referrer\">\n"
        f"<title>{esc(title)}</title>\n<style>{_STYLE}</style></head>\n<body>\n"
        f"<header><h1>{esc(title)}</h1><p id=\"summary\"></p></header>\n"
        "<section id=\"causes\" aria-label=\"root causes\"></section>\n"
        "<section id=\"warnings\" role=\"status\"></section>\n"
        "<main id=\"main\">\n"
        "<section id=\"timeline\" aria-label=\"timeline\"><div id=\"toolbar\">"
        "<button id=\"zoom-focus\" type=\"button\">race window</button>"
        "<button id=\"zoom-all\" type=\"button\">whole run</button>"
        "<button id=\"zoom-out\" type=\"button\">zoom out</button>"
        "<label id=\"latent-label\"><input type=\"checkbox\" id=\"show-latent\"></label>"
        "<label><input type=\"checkbox\" id=\"show-info\"> info arrows</label>"
        "<label id=\"helpers-label\"><input type=\"checkbox\" id=\"show-helpers\"></label>"
        "<span id=\"viewinfo\"></span></div>"
        "<div id=\"lanes-wrap\"><svg id=\"lanes\" xmlns=\"http://www.w3.org/2000/svg\"></svg></div>"
        "<div id=\"legend\"></div></section>\n"
        "<aside id=\"sites\" aria-label=\"race sites\"><h2>Race sites</h2>"
        "<div id=\"site-list\"></div></aside>\n</main>\n"
        "<section id=\"detail\" aria-live=\"polite\"><h2>Selected finding</h2>"
        "<p class=\"hint\">Select a race site to zoom the timeline to its example.</p></section>\n"
        "<section id=\"failed\"><h2>Failed processes</h2></section>\n"
        "<section id=\"tree\"><h2>Process tree</h2></section>\n"
        "<section id=\"notes\"><h2>About this page</h2><p id=\"notes-text\"></p></section>\n"
        "<div id=\"tooltip\" role=\"tooltip\"></div>\n"
        f"<script type=\"application/json\" id=\"fsrace-data\">{embed_json(model)}</script>\n"
        f"<script>{_SCRIPT}</script>\n</body></html>\n")


__all__ = ["render_html", "html_model", "embed_json", "MARK_BUDGET"]
