"""The HTML report, in a real headless browser (Debian's chromium).

The browser is driven through the Chrome DevTools protocol over a
websocket.  The websocket client is the ~60 lines below (stdlib only): a
dependency such as ``websocket-client`` or ``playwright`` would not earn its
place for a handful of request/response calls.

Without chromium (``apt-get install -y chromium``; ``.ci/run`` does it)
the browser tests skip and say so; the pure-Python checks of the escaping
still run.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from conftest import DATA, ROOT, Trace, needs_strace

ARTIFACTS = ROOT / "tests" / "artifacts"
HOSTILE = "<script>alert(1)</script>"


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


needs_chromium = pytest.mark.skipif(
    chromium_binary() is None,
    reason="chromium is not installed (apt-get install -y chromium; .ci/run installs it)")


# ------------------------------------------------------------ a tiny CDP client

class WebSocket:
    """A minimal RFC 6455 client: text frames, masking, fragmentation, ping."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        u = urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("websocket handshake: connection closed")
            head += chunk
        head, self._buf = head.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"websocket handshake failed: {head[:200]!r}")

    def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("websocket closed")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _send_frame(self, opcode: int, data: bytes) -> None:
        head = bytes([0x80 | opcode])
        n = len(data)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(data))
        self.sock.sendall(head + mask + masked)

    def send(self, text: str) -> None:
        self._send_frame(0x1, text.encode())

    def recv(self) -> str:
        parts: list[bytes] = []
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i & 3] for i, b in enumerate(data))
            if opcode == 0x9:       # ping
                self._send_frame(0xA, data)
                continue
            if opcode == 0x8:
                raise ConnectionError("websocket closed by the browser")
            parts.append(data)
            if b0 & 0x80:
                return b"".join(parts).decode()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Browser:
    """Headless chromium with one page, driven over the DevTools protocol."""

    def __init__(self, width: int = 1400, height: int = 900) -> None:
        self.tmp = tempfile.mkdtemp(prefix="fsrace-chromium-")
        argv = [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--no-default-browser-check",
                f"--user-data-dir={self.tmp}", "--remote-debugging-port=0",
                f"--window-size={width},{height}", "about:blank"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        port_file = Path(self.tmp) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("chromium did not start: " + (self.proc.stderr.read() or "")[-2000:])
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        pages = []
        while not pages:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            time.sleep(0.05)
        self.ws = WebSocket(pages[0]["webSocketDebuggerUrl"])
        self._id = 0
        self.events: list[dict[str, Any]] = []
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        me = self._id
        self.ws.send(json.dumps({"id": me, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == me:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == "Page.javascriptDialogOpening":
                    # Never leave a dialog open (it would block the page).
                    self.ws.send(json.dumps({"id": 10**9, "method": "Page.handleJavaScriptDialog",
                                             "params": {"accept": True}}))

    def eval(self, expr: str) -> Any:
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"page error: {r['exceptionDetails']}")
        return r["result"].get("value")

    def open(self, path: Path, timeout: float = 30.0, fragment: str = "") -> float:
        """Load a file (a fresh load, also when only ``fragment``, e.g. ``"#F1"``,
        differs); return seconds until the page's script says it is ready."""
        self.call("Page.navigate", url="about:blank")
        t0 = time.monotonic()
        self.call("Page.navigate", url=path.resolve().as_uri() + fragment)
        while time.monotonic() - t0 < timeout:
            if self.eval("document.body && document.body.getAttribute('data-ready')") == "1":
                return time.monotonic() - t0
            time.sleep(0.02)
        raise AssertionError(f"the page never became ready: {self.eval('document.body.innerText')!r}"[:2000])

    def wait_for(self, expr: str, want: Any, timeout: float = 10.0) -> Any:
        """Poll ``expr`` until it equals ``want`` (a link's hashchange arrives
        after the click returns); return the last value seen."""
        t0 = time.monotonic()
        got = self.eval(expr)
        while got != want and time.monotonic() - t0 < timeout:
            time.sleep(0.02)
            got = self.eval(expr)
        return got

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element."""
        box = self.eval(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
            if (!e) return null; e.scrollIntoView({{block: 'center'}});
            const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }})()""")
        assert box is not None, f"nothing matches {selector}"
        x, y = box
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def screenshot(self, out: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        out.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        if getattr(self, "ws", None):
            self.ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


#: Installed before any page script: counts alert()/injected scripts, and
#: records every Content-Security-Policy violation.
SPY = """
window.__alerts = 0; window.__csp = [];
window.alert = window.confirm = window.prompt = function () { window.__alerts++; };
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture
def browser():
    b = Browser()
    try:
        b.call("Page.addScriptToEvaluateOnNewDocument", source=SPY)
        yield b
    finally:
        b.close()


def _cli(*args: str, **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fsrace.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, **kw)


def _assert_no_script_ran(b: Browser) -> None:
    assert b.eval("window.__alerts") == 0
    assert not [e for e in b.events if e["method"] == "Page.javascriptDialogOpening"]
    # Only the page's own two script elements: the JSON data and the program.
    assert b.eval("document.scripts.length") == 2
    assert b.eval("Array.from(document.scripts).map(s => s.type || 'js').join(',')") == \
        "application/json,js"
    # Our own script and style match the policy's hashes (else nothing would draw).
    assert b.eval("window.__csp") == []


# ------------------------------------------------------------ pure-Python checks

def _hostile_trace() -> Trace:
    t = Trace()
    evil = "/t/</script><script>alert(2)</script>\u2028<!--x\udce9\x1b[31m"
    t.fork(1, 2)
    t.fork(1, 3)
    t.exec(2, ["worker", "</script><b>argv</b>"])
    t.open(2, evil + "/f", "O_WRONLY|O_CREAT")
    t.op(3, "unlinkat", evil + "/f")
    t.op(3, "unlinkat", evil, flags="AT_REMOVEDIR")
    t.open(2, evil + "/f", "O_RDONLY", errno="ENOENT")
    t.exit(2, 1)
    t.exit(3, 0)
    return t


def test_embedded_json_cannot_end_the_script_block() -> None:
    from fsrace.reports.report_html import embed_json, render_html

    a = _hostile_trace().analyze()
    assert a.findings
    page = render_html(a)
    page.encode("ascii")  # pure ASCII: no raw U+2028, no surrogates
    blob = re.search(r'<script type="application/json" id="fsrace-data">(.*?)</script>', page, re.S)
    assert blob is not None
    inner = blob.group(1)
    assert "<" not in inner and ">" not in inner and "&" not in inner
    model = json.loads(inner)
    paths = json.dumps(model)
    assert "</script><script>alert(2)</script>" in paths      # shown verbatim ...
    assert "\\x1b" in paths and "\\xe9" in paths               # ... controls/bytes made visible
    assert page.count("<script") == 2 and page.count("</script>") == 2
    assert embed_json("\u2028</script>") == '"\\u2028\\u003c/script\\u003e"'


def test_csp_forbids_network_and_foreign_scripts() -> None:
    from fsrace.reports.report_html import render_html

    page = render_html(_hostile_trace().analyze())
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page).group(1)
    assert "default-src 'none'" in csp and "connect-src 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+'", csp)
    rest = page.replace("http://www.w3.org/2000/svg", "")   # a namespace name, never fetched
    assert "http://" not in rest and "https://" not in rest


def test_budget_aggregates_the_rest() -> None:
    from fsrace.reports.report_html import html_model

    t = Trace()
    t.fork(1, 2)
    t.fork(1, 3)
    for i in range(600):
        t.open(2, f"/w/a{i}", "O_WRONLY|O_CREAT")
        t.open(3, f"/w/b{i}", "O_RDONLY", errno="ENOENT")
    t.open(2, "/w/shared", "O_WRONLY|O_CREAT")
    t.op(3, "unlinkat", "/w/shared")
    t.open(2, "/w/shared", "O_RDONLY", errno="ENOENT")
    a = t.analyze()
    assert a.findings
    m = html_model(a, budget=100)
    assert len(m["ops"]) <= 100 + 10          # budget plus the process events
    assert sum(x[2] for x in m["agg"]) + len(m["ops"]) == m["stats"]["timeline_entries"]
    drawn = {o[4] for o in m["ops"]}
    for f in a.findings:                      # every pair is drawn in full
        assert f.example.culprit[0] in drawn and f.example.victim[0] in drawn


# ------------------------------------------------------------ in the browser

def _record_hostile(tmp_path: Path) -> Path:
    """Record hostile_names until a finding names the <script> file."""
    for attempt in range(6):
        target = tmp_path / f"target{attempt}"
        log = tmp_path / f"hostile{attempt}.jsonl"
        _cli("record", "-j", "3", "-o", str(log), "--", sys.executable, "-m",
             "fsrace.fixtures.gallery.hostile_names", str(target), "--rounds", "15", timeout=300)
        r = _cli("analyze", str(log), "--format", "json", "--fail-on", "never", timeout=300)
        assert r.returncode == 0, r.stderr
        report = json.loads(r.stdout)
        if any(HOSTILE in acc["path"] for f in report["findings"] for acc in f["accesses"]):
            return log
    pytest.fail("6 recordings of hostile_names gave no finding on the <script> file: "
                "the race was not reproduced, so this run proves nothing")


def _open_and_select(browser: Browser, log: Path, tmp_path: Path, needle: str) -> dict:
    """Render ``log``, check lanes and arrows, click the site of a finding whose
    path holds ``needle``, check that exactly its pair is highlighted."""
    page = tmp_path / "report.html"
    r = _cli("analyze", str(log), "--format", "html", "-o", str(page), "--fail-on", "never")
    assert r.returncode == 0, r.stderr
    report = json.loads(_cli("analyze", str(log), "--format", "json", "--fail-on", "never").stdout)
    browser.open(page)
    # One lane per process (helpers with no race folded into their parent's), arrows for the findings.
    lanes = browser.eval("Array.from(document.querySelectorAll('#lanes g.lane')).map(g => +g.getAttribute('data-folded'))")
    assert len(lanes) + sum(lanes) == len(report["processes"])
    assert browser.eval("document.querySelectorAll('#lanes path.arrow').length") >= 1
    f = next((f for f in report["findings"] if any(needle in a["path"] for a in f["accesses"])), None)
    assert f is not None, f"no finding names {needle!r}: this check would prove nothing"
    browser.click(f'button.site[data-fid="{f["id"]}"]')
    assert browser.eval("document.querySelector('button.site.selected').getAttribute('data-fid')") == f["id"]
    hl = browser.eval("Array.from(document.querySelectorAll('#lanes rect.mark.hl')).map(e => +e.getAttribute('data-seq'))")
    assert sorted(hl) == sorted(a["seq"] for a in f["accesses"])
    # The detail panel shows the name as text.
    assert needle in browser.eval("document.getElementById('detail').textContent")
    return f


@needs_chromium
@needs_strace
def test_hostile_names_in_the_browser(tmp_path: Path, browser: Browser) -> None:
    log = _record_hostile(tmp_path)
    f = _open_and_select(browser, log, tmp_path, HOSTILE)
    assert browser.eval("document.querySelectorAll('#lanes rect.mark').length") >= 2
    assert browser.eval("Array.from(document.querySelectorAll('#lanes path.arrow.hl')).map(e => e.getAttribute('data-fid'))") == [f["id"]]
    assert HOSTILE in browser.eval("document.body.innerText")
    _assert_no_script_ran(browser)


@needs_chromium
def test_stored_hostile_log_in_the_browser(tmp_path: Path, browser: Browser) -> None:
    """The same checks on the committed recording (no strace needed)."""
    _open_and_select(browser, DATA / "strace" / "gallery" / "hostile_names-racy.log.gz", tmp_path,
                     "<script>alert(1)")
    # The root-cause cards carry traced names too (quotes, a non-UTF-8 byte):
    # shown as text, the byte made visible.
    causes = browser.eval("document.getElementById('causes').innerText")
    assert "shared 'dir' \"\\xff\"" in causes
    _assert_no_script_ran(browser)


@needs_chromium
@pytest.mark.slow
def test_seed_report_is_fast_and_readable(tmp_path: Path, seed_strace_log: Path, browser: Browser) -> None:
    page = tmp_path / "seed.html"
    r = _cli("analyze", str(seed_strace_log), "--format", "html", "-o", str(page), "--fail-on", "never",
             timeout=900)
    assert r.returncode == 0, r.stderr
    size = page.stat().st_size
    assert size < 3_000_000, size
    load = browser.open(page)
    assert load < 5.0, f"the seed report took {load:.2f} s to draw"
    marks = browser.eval("document.querySelectorAll('#lanes rect.mark').length")
    assert 0 < marks <= 5200
    first = browser.eval("document.querySelector('button.site').getAttribute('data-fid')")
    t0 = time.monotonic()
    browser.click(f'button.site[data-fid="{first}"]')
    assert time.monotonic() - t0 < 2.0
    assert browser.eval("document.querySelectorAll('#lanes rect.mark.hl').length") == 2
    browser.eval("window.scrollTo(0, 0)")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.screenshot(ARTIFACTS / "seed-report.png")
    (tmp_path / "numbers.txt").write_text(f"size={size} load={load:.3f}s marks={marks}\n")
    print(f"seed report: {size} bytes, ready in {load:.2f} s, {marks} marks")
    _assert_no_script_ran(browser)
    _seed_diagnosis_first(browser, page, seed_strace_log)


def _seed_diagnosis_first(browser: Browser, page: Path, log: Path) -> None:
    """Issue 13's done-when on the seed: R1's card in the first viewport,
    explaining failed uv copies; ``#F1`` selects F1."""
    report = json.loads(_cli("analyze", str(log), "--format", "json", "--fail-on", "never",
                             timeout=900).stdout)
    assert any(p["exit_code"] not in (0, None) for p in report["failed_processes"]), \
        "no uv copy failed in this seed round: the check below would prove nothing"
    browser.open(page)
    card = browser.eval("""(() => { const c = document.querySelector('.rc-card[data-rc="R1"]');
        if (!c) return null; const s = c.querySelector('.rc-statement').getBoundingClientRect();
        return [c.getBoundingClientRect().top, s.bottom, window.innerHeight, c.innerText]; })()""")
    assert card is not None, "no root-cause card R1 on the seed's page"
    assert 0 <= card[0] and card[1] <= card[2], f"R1's card is not in the first viewport: {card[:3]}"
    assert "uv sync" in card[3] and "explains" in card[3]
    # It opens on the window where the errors happened, not on the whole run.
    blob = re.search(r'<script type="application/json" id="fsrace-data">(.*?)</script>', page.read_text(), re.S)
    model = json.loads(blob.group(1))
    if model["focus"] is not None:
        f0, f1 = model["focus"]
        errors = [f for f in model["findings"] if f["severity"] == "error"]
        assert errors and all(f0 <= model["ops"][i][1] <= f1 for f in errors for i in f["pair"] if i >= 0)
        shown = browser.eval("document.getElementById('viewinfo').textContent")
        browser.click("#zoom-all")
        assert browser.eval("document.getElementById('viewinfo').textContent") != shown
    browser.open(page, fragment="#F1")
    assert browser.eval("document.querySelector('button.site.selected').getAttribute('data-fid')") == "F1"
    f1 = next(f for f in report["findings"] if f["id"] == "F1")
    hl = browser.eval("Array.from(document.querySelectorAll('#lanes rect.mark.hl')).map(e => +e.getAttribute('data-seq'))")
    assert sorted(hl) == sorted(a["seq"] for a in f1["accesses"])
    _assert_no_script_ran(browser)


def test_many_sites_are_capped(monkeypatch) -> None:
    """A run with more sites than the page lists: the rest are counted, pairs stay in budget."""
    import fsrace.reports.report_html_model as rh

    t = Trace()
    t.fork(1, 2)
    t.fork(1, 3)
    for i in range(6):
        t.open(2, f"/w/d{i}/f", "O_WRONLY|O_CREAT")
        t.op(3, "unlinkat", f"/w/d{i}/f")
        t.op(3, "rmdir", f"/w/d{i}")
        t.open(2, f"/w/d{i}/g{'x' * i}", "O_WRONLY|O_CREAT", errno="ENOENT")
    a = t.analyze()
    assert len(a.findings) > 2
    monkeypatch.setattr(rh, "MAX_SITES", 2)
    m = rh.html_model(a, budget=3)
    assert [f["id"] for f in m["findings"]] == [f.id for f in a.findings[:2]]
    assert sum(m["hidden_findings"].values()) == len(a.findings) - 2
    assert len(m["ops"]) <= 4 + 6   # the two pairs, plus the fork/exit events


# ------------------------------------------------- diagnosis first (issue 13)

EVIL_DIR = "/w/<img src=x onerror=alert(3)>.data"
HELPERS = 24


def _diagnosis_analysis():
    """fsrace's launcher (pid 1) with two copies; copy 3 removes a staging
    directory that copy 2 is still filling (2 fails and exits 2); both copies
    start helper processes (``readlink``, exit 1) that touch nothing shared;
    a latent race on another path; then 40 s of helper work after the race."""
    from fsrace.analyzers.analyze import analyze_events

    t = Trace()
    t.exec(1, ["python3", "-m", "fsrace.tracer.launcher", "-j", "2", "--", "inst"])
    t.fork(1, 2)
    t.fork(1, 3)
    t.exec(2, ["inst", "sync"])
    t.exec(3, ["inst", "sync"])
    t.open(2, "/w/y/cfg", "O_RDONLY")                      # latent: 3 removes it later
    t.op(3, "mkdir", EVIL_DIR)
    t.open(3, EVIL_DIR + "/a", "O_WRONLY|O_CREAT")
    t.open(2, EVIL_DIR + "/b", "O_WRONLY|O_CREAT")
    t.op(3, "unlinkat", EVIL_DIR + "/a")
    t.op(3, "unlinkat", EVIL_DIR + "/b")
    t.op(3, "unlinkat", EVIL_DIR, flags="AT_REMOVEDIR")
    t.op(2, "renameat2", EVIL_DIR + "/b", path2="/w/site/b", errno="ENOENT")
    t.op(3, "unlinkat", "/w/y/cfg")
    race_end = len(t.events)
    pid = 100
    for parent in (2, 3):
        for _ in range(HELPERS // 2):
            pid += 1
            t.fork(parent, pid)
            t.exec(pid, ["readlink", "-f", f"/h/{pid}"])
            t.op(pid, "newfstatat", f"/h/{pid}", errno="ENOENT")
            t.exit(pid, 1)
            t.wait(parent, pid, 1)
    t.exit(2, 2)
    t.exit(3, 0)
    t.wait(1, 2, 2)
    t.wait(1, 3, 0)
    t.exit(1, 2)
    for i, ev in enumerate(t.events):       # the helpers' work spreads over 40 s
        if i >= race_end:
            ev["ts"] = 1000.0 + race_end * 0.001 + (i - race_end + 1) * 40.0 / (len(t.events) - race_end)
    trailer = {"launcher_pid": 1, "warnings": ["3 log lines were not understood (sample: line 7)"]}
    return analyze_events(t.events, {"backend": "strace", "command": ["inst", "sync"]}, trailer)


def test_diagnosis_model() -> None:
    """Pure checks of what the page is told to show first."""
    from fsrace.reports.report_html_model import html_model

    a = _diagnosis_analysis()
    assert a.root_causes, "the analysis found no root cause: nothing to put on a card"
    m = html_model(a)
    rc = m["root_causes"][0]
    assert rc["id"] == "R1" and rc["statement"] and rc["fix"]
    assert [e["pid"] for e in rc["explains"]] == [2]
    assert set(rc["finding_ids"]) <= {f["id"] for f in m["findings"]}
    # The launcher is not a failed process; the helpers are counted, not listed.
    assert [p["pid"] for p in m["failed"]] == [2]
    assert m["failed_helpers"] == {"count": HELPERS, "programs": [["readlink", HELPERS]]}
    assert m["summary"]["failed_processes"] == 1
    launcher = next(l for l in m["lanes"] if l["pid"] == 1)
    assert launcher["launcher"] and not launcher["failed"]
    # Helper lanes fold into their copy's lane; the launcher and copies stay.
    kept = [l["pid"] for l in m["lanes"] if l["folded_into"] is None]
    assert sorted(kept) == [1, 2, 3]
    # The page opens on the race, not on the 40 s of helper work.
    f0, f1 = m["focus"]
    assert f1 - f0 < 0.1 * (m["span"][1] - m["span"][0])
    err = next(f for f in m["findings"] if f["severity"] == "error")
    assert all(f0 <= m["ops"][i][1] <= f1 for i in err["pair"])
    assert m["has_manifested"] and any(f["verdict"] == "latent" for f in m["findings"])
    assert m["warnings"] == ["3 log lines were not understood (sample: line 7)"]


@needs_chromium
def test_diagnosis_in_the_browser(tmp_path: Path, browser: Browser) -> None:
    """Cards in the first viewport, #F/#R addresses, folded lanes, latent
    arrows on demand, the launcher not failed, hostile names as text."""
    from fsrace.reports.report_html import render_html

    a = _diagnosis_analysis()
    assert a.root_causes
    page = tmp_path / "report.html"
    page.write_text(render_html(a), encoding="ascii")
    by_id = {f.id: f for f in a.findings}
    r1 = a.root_causes[0]

    browser.open(page)
    card = browser.eval("""(() => { const c = document.querySelector('.rc-card[data-rc="R1"]');
        const s = c.querySelector('.rc-statement').getBoundingClientRect();
        return [c.getBoundingClientRect().top, s.bottom, window.innerHeight, c.innerText]; })()""")
    assert 0 <= card[0] and card[1] <= card[2], f"R1's card is not in the first viewport: {card[:3]}"
    assert r1.statement in card[3] and r1.fix in card[3]
    # The hostile directory name is shown as text on the card, never parsed as markup.
    assert r1.resource == EVIL_DIR and EVIL_DIR in card[3]
    assert browser.eval("document.querySelectorAll('img').length") == 0
    assert "3 log lines were not understood" in browser.eval("document.getElementById('warnings').innerText")
    # Folded lanes: the launcher and the two copies; the helpers fold in.
    lanes = browser.eval("Array.from(document.querySelectorAll('#lanes g.lane')).map(g => [+g.getAttribute('data-pid'), +g.getAttribute('data-folded')])")
    assert sorted(p for p, _ in lanes) == [1, 2, 3] and sum(n for _, n in lanes) == HELPERS
    browser.click("#show-helpers")
    assert browser.eval("document.querySelectorAll('#lanes g.lane').length") == 3 + HELPERS
    # The launcher is not listed as failed; the helpers are one line.
    failed = browser.eval("document.getElementById('failed').innerText")
    assert "pid 2 (exit 2)" in failed and "pid 1 " not in failed
    assert f"{HELPERS} helper processes exited non-zero" in failed and "readlink" in failed
    assert browser.eval("document.querySelector('#lanes g.lane[data-pid=\"1\"] text.lane-label').classList.contains('failed')") is False
    # Latent arrows only on demand (manifested races exist).
    latent = {f.id for f in a.findings if f.verdict == "latent"}
    assert latent
    arrows = lambda: set(browser.eval("Array.from(document.querySelectorAll('#lanes path.arrow')).map(e => e.getAttribute('data-fid'))"))
    browser.click("#zoom-all")
    shown = arrows()
    assert shown and not shown & latent
    browser.click("#show-latent")
    assert latent <= arrows()
    # Opens on the race window, not the whole run.
    browser.open(page)
    first_view = browser.eval("document.getElementById('viewinfo').textContent")
    browser.click("#zoom-all")
    assert browser.eval("document.getElementById('viewinfo').textContent") != first_view

    # #F1 selects F1: its site, its pair; a click moves the address.
    browser.open(page, fragment="#F1")
    assert browser.eval("document.querySelector('button.site.selected').getAttribute('data-fid')") == "F1"
    hl = browser.eval("Array.from(document.querySelectorAll('#lanes rect.mark.hl')).map(e => +e.getAttribute('data-seq'))")
    assert sorted(hl) == sorted([by_id["F1"].example.culprit[0], by_id["F1"].example.victim[0]])
    other = a.findings[-1].id
    browser.click(f'button.site[data-fid="{other}"]')
    assert browser.eval("location.hash") == "#" + other
    # Site buttons name their root cause; a finding not on the page says so.
    assert browser.eval(f"document.querySelector('button.site[data-fid=\"{r1.evidence}\"] .rc-tag').textContent") == "R1"
    browser.open(page, fragment="#F999")
    assert "F999 is not on this page" in browser.eval("document.getElementById('detail').innerText")
    # #R1 selects the root cause and its evidence.
    browser.open(page, fragment="#R1")
    assert browser.eval("document.querySelector('.rc-card.selected').getAttribute('data-rc')") == "R1"
    assert browser.eval("document.querySelector('button.site.selected').getAttribute('data-fid')") == r1.evidence
    # A link on the card moves the selection.
    target = r1.finding_ids[-1]
    browser.click(f'.rc-card[data-rc="R1"] a.fid[data-fid="{target}"]')
    assert browser.wait_for("location.hash", "#" + target) == "#" + target
    selected = "document.querySelector('button.site.selected').getAttribute('data-fid')"
    assert browser.wait_for(selected, target) == target
    _assert_no_script_ran(browser)


#: Each copy starts like a version-manager shim: real helper programs that
#: exit 1 (readlink of a missing path, grep without a match), then exec the
#: racy program.
SHIM = 'readlink -f /nonexistent-fsrace/x >/dev/null; grep -q fsrace /dev/null; exec "$0" -m fsrace.fixtures.gallery.tmpdir_removed "$1"'


@needs_chromium
@needs_strace
def test_recorded_run_with_helpers_in_the_browser(tmp_path: Path, browser: Browser) -> None:
    """A real recording (fsrace record, 3 copies behind a shim): the helper
    lanes fold into their copy's, the failed helpers are one line, the
    launcher is not failed, R1's card is in the first viewport, #F1 selects F1."""
    for attempt in range(6):
        log = tmp_path / f"run{attempt}.jsonl"
        _cli("record", "-j", "3", "-o", str(log), "--", "sh", "-c", SHIM, sys.executable,
             str(tmp_path / f"t{attempt}"), timeout=300)
        report = json.loads(_cli("analyze", str(log), "--format", "json", "--fail-on", "never").stdout)
        if report["root_causes"] and any(f["verdict"] == "manifested" for f in report["findings"]):
            break
    else:
        pytest.fail("6 recordings of tmpdir_removed never manifested a race: nothing to check")
    trailer = json.loads(log.read_text().splitlines()[-1])
    launcher, copies = trailer["launcher_pid"], [c["pid"] for c in trailer["copies"]]
    helpers = [p for p in report["processes"] if p["argv"] and p["argv"][0] in ("readlink", "grep")]
    assert len(helpers) == 6 and all(p["exit_code"] == 1 for p in helpers)  # the programs' own status
    page = tmp_path / "report.html"
    r = _cli("analyze", str(log), "--format", "html", "-o", str(page), "--fail-on", "never")
    assert r.returncode == 0, r.stderr
    browser.open(page)
    lanes = browser.eval("Array.from(document.querySelectorAll('#lanes g.lane')).map(g => [+g.getAttribute('data-pid'), +g.getAttribute('data-folded')])")
    shown = {p for p, _ in lanes}
    assert {launcher, *copies} <= shown and not shown & {p["pid"] for p in helpers}
    assert len(lanes) + sum(n for _, n in lanes) == len(report["processes"])
    failed = browser.eval("document.getElementById('failed').innerText")
    assert f"pid {launcher} " not in failed
    line = browser.eval("document.getElementById('failed-helpers').innerText")
    assert "readlink x3" in line and "grep x3" in line
    card = browser.eval("""(() => { const c = document.querySelector('.rc-card[data-rc="R1"]');
        return [c.getBoundingClientRect().top, c.querySelector('.rc-statement').getBoundingClientRect().bottom, window.innerHeight]; })()""")
    assert 0 <= card[0] and card[1] <= card[2], card
    browser.open(page, fragment="#F1")
    assert browser.eval("document.querySelector('button.site.selected').getAttribute('data-fid')") == "F1"
    f1 = report["findings"][0]
    hl = browser.eval("Array.from(document.querySelectorAll('#lanes rect.mark.hl')).map(e => +e.getAttribute('data-seq'))")
    assert sorted(hl) == sorted(a["seq"] for a in f1["accesses"])
    _assert_no_script_ran(browser)
