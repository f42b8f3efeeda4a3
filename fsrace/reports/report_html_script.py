"""The HTML report's program: draws the model embedded in the page.

It reads the JSON model from the ``fsrace-data`` script element and puts
every string into the DOM only as text nodes and attribute values, never
as markup (the strings come from the traced programs).
"""

from .report_html_panels import PANELS

#: The first half of the program: data, helpers, the summary, the legend and
#: the swimlane timeline with its zoom and pan (``report_html_panels`` goes on
#: from there inside the same function).
TIMELINE = r"""
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("fsrace-data").textContent);
  const S = D.strings;
  const NS = "http://www.w3.org/2000/svg";
  const LABEL_W = 300, LANE_H = 26, AXIS_H = 22, PAD_R = 12;
  const findingsById = new Map(D.findings.map(f => [f.id, f]));
  const rcById = new Map(D.root_causes.map(r => [r.id, r]));
  const rcOfFinding = new Map();
  for (const r of D.root_causes) for (const id of r.finding_ids) if (!rcOfFinding.has(id)) rcOfFinding.set(id, r.id);
  const laneOfProc = new Map(D.lanes.map(l => [l.proc, l]));
  const nFolded = new Map();
  for (const l of D.lanes) if (l.folded_into !== null) nFolded.set(l.folded_into, (nFolded.get(l.folded_into) || 0) + 1);
  const view0 = D.focus || D.span;
  // Latent arrows on demand: off when manifested races exist (they are what broke the run).
  const state = {x0: view0[0], x1: view0[1], sel: null, selRC: null, showInfo: false,
                 showLatent: !D.has_manifested, unfold: false};
  // Visible lanes; a folded helper's operations are drawn in its ancestor's lane.
  let visLanes = [];
  const lanesByProc = new Map();
  function layoutLanes() {
    visLanes = D.lanes.filter(l => state.unfold || l.folded_into === null);
    lanesByProc.clear();
    visLanes.forEach((l, i) => lanesByProc.set(l.proc, i));
    if (!state.unfold) for (const l of D.lanes) if (l.folded_into !== null) lanesByProc.set(l.proc, lanesByProc.get(l.folded_into));
  }
  layoutLanes();

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else e.setAttribute(k, v);
    }
    for (const k of kids) if (k !== null && k !== undefined)
      e.appendChild(typeof k === "string" ? document.createTextNode(k) : k);
    return e;
  }
  function sv(tag, attrs) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }
  const str = i => (i === undefined || i < 0) ? "" : S[i];
  function fmtX(x) {
    if (D.clock !== "time") return "event " + Math.round(x);
    const ms = x / 1000;
    return (Math.abs(ms) >= 100 ? ms.toFixed(1) : ms.toFixed(3)) + " ms";
  }
  function opText(o) {
    let t = "seq " + o[4] + "  " + str(o[5]) + " " + str(o[6]);
    if (o[7] >= 0) t += " -> " + str(o[7]);
    t += o[8] ? "  = -1 " + o[8] : "  = ok";
    if (o[9] >= 0) t += "  [" + str(o[9]) + "]";
    return t;
  }
  function laneLabel(l) {
    // argv[0] without its directory: "uv sync -q" reads better than the full path.
    let a = l.argv;
    const sp = a.indexOf(" "), first = sp < 0 ? a : a.slice(0, sp);
    const slash = first.lastIndexOf("/");
    if (slash >= 0) a = first.slice(slash + 1) + (sp < 0 ? "" : a.slice(sp));
    const room = Math.max(12, 40 - 2 * Math.min(l.depth, 8));
    return "pid " + l.key + "  " + (a.length > room ? a.slice(0, room - 3) + "..." : a);
  }

  // ---------------------------------------------------------------- summary
  const sm = D.summary;
  document.getElementById("summary").textContent =
    D.stats.processes + " processes, " + D.stats.events + " events, " + sm.failed_processes +
    " failed" + (D.failed_helpers.count ? " (+" + D.failed_helpers.count + " helpers with no race)" : "") +
    "; " + D.root_causes.length + " root cause" + (D.root_causes.length === 1 ? "" : "s") + "; " + sm.errors + " error, " + sm.warnings + " warning, " + sm.info + " info finding(s). " +
    "Drawn: " + D.stats.drawn + " operations in full, " + D.stats.aggregated + " aggregated.";

  // ----------------------------------------------------------------- legend
  const legend = document.getElementById("legend");
  [["create", "create"], ["remove", "remove"], ["rename", "rename"], ["write", "write"],
   ["read", "read/use"], ["check", "stat/access"], ["lock", "lock"], ["proc", "fork/exec/exit"]]
    .forEach(([k, t]) => {
      const svg = sv("svg", {width: 10, height: 10});
      svg.appendChild(sv("rect", {x: 0, y: 0, width: 10, height: 10, class: "k-" + k}));
      legend.appendChild(svg); legend.appendChild(document.createTextNode(" " + t + "   "));
    });
  legend.appendChild(document.createTextNode(
    " | grey bars: aggregated operations | arrows: culprit -> victim (red error, orange warning, grey info)" +
    " | wheel: zoom, drag: pan, double-click: whole run"));

  // ----------------------------------------------------------------- lanes
  const svg = document.getElementById("lanes");
  const wrap = document.getElementById("lanes-wrap");
  const tip = document.getElementById("tooltip");
  let W = 900;
  let H = 0;
  const laneY = i => AXIS_H + i * LANE_H;
  const X = x => LABEL_W + (x - state.x0) / (state.x1 - state.x0) * (W - LABEL_W - PAD_R);

  function defs() {
    const d = sv("defs");
    for (const s of ["error", "warning", "info"]) {
      const m = sv("marker", {id: "ah-" + s, viewBox: "0 0 10 10", refX: 9, refY: 5,
                              markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse"});
      m.appendChild(sv("path", {d: "M0,0 L10,5 L0,10 z", class: "ah sev-" + s,
                                fill: s === "error" ? "#d62728" : s === "warning" ? "#e69500" : "#7f7f7f"}));
      d.appendChild(m);
    }
    const cl = sv("clipPath", {id: "label-clip"});
    cl.appendChild(sv("rect", {x: 0, y: 0, width: LABEL_W - 6, height: H}));
    d.appendChild(cl);
    const cp = sv("clipPath", {id: "plot-clip"});
    cp.appendChild(sv("rect", {x: LABEL_W, y: 0, width: Math.max(0, W - LABEL_W - PAD_R + 4), height: H}));
    d.appendChild(cp);
    return d;
  }

  function render() {
    W = Math.max(600, wrap.clientWidth - 2);
    H = AXIS_H + visLanes.length * LANE_H + 6;
    svg.setAttribute("width", W); svg.setAttribute("height", H);
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.appendChild(defs());
    const gL = sv("g", {id: "g-lanes"});
    visLanes.forEach((l, i) => {
      const nf = state.unfold ? 0 : (nFolded.get(l.proc) || 0);
      const g = sv("g", {class: "lane", "data-proc": l.proc, "data-pid": l.pid, "data-folded": nf, "clip-path": "url(#label-clip)"});
      gL.appendChild(sv("rect", {class: "lane-bg" + (i % 2 ? " odd" : ""), x: 0, y: laneY(i), width: W, height: LANE_H}));
      const t = sv("text", {class: "lane-label" + (l.failed ? " failed" : ""), x: 4 + 10 * Math.min(l.depth, 8), y: laneY(i) + 12});
      t.textContent = laneLabel(l);
      const tt = sv("title"); tt.textContent = "pid " + l.key + ": " + l.argv + " [" + l.status + "]";
      t.appendChild(tt);
      const st = sv("text", {class: "lane-status" + (l.failed ? " failed" : ""), x: 4 + 10 * Math.min(l.depth, 8), y: laneY(i) + 23});
      st.textContent = l.status + " - " + l.ops + " ops" + (nf ? " + " + nf + " helper" + (nf === 1 ? "" : "s") + " folded in" : "");
      g.appendChild(t); g.appendChild(st); gL.appendChild(g);
    });
    svg.appendChild(gL);
    // axis
    const gA = sv("g", {class: "axis-g"});
    const span = state.x1 - state.x0;
    const step = niceStep(span / 8);
    for (let v = Math.ceil(state.x0 / step) * step; v <= state.x1; v += step) {
      const x = X(v);
      gA.appendChild(sv("line", {class: "tick", x1: x, x2: x, y1: AXIS_H - 4, y2: H}));
      const t = sv("text", {class: "axis", x: x + 2, y: AXIS_H - 8}); t.textContent = fmtX(v);
      gA.appendChild(t);
    }
    svg.appendChild(gA);
    const plot = sv("g", {"clip-path": "url(#plot-clip)", id: "plot"});
    // aggregated operations
    const bw = D.bucket_width;
    let maxN = 1; for (const a of D.agg) if (a[2] > maxN) maxN = a[2];
    for (const a of D.agg) {
      const xa = D.span[0] + a[1] * bw, xb = xa + bw;
      if (xb < state.x0 || xa > state.x1) continue;
      const li = lanesByProc.get(a[0]); if (li === undefined) continue;
      const r = sv("rect", {class: "agg", x: X(xa), y: laneY(li) + 7, width: Math.max(1, X(xb) - X(xa)),
                            height: 12, opacity: (0.15 + 0.75 * Math.log(1 + a[2]) / Math.log(1 + maxN)).toFixed(2),
                            "data-n": a[2]});
      const tt = sv("title"); tt.textContent = a[2] + " operations" + (a[3] ? " (" + a[3] + " failed)" : "") + " aggregated";
      r.appendChild(tt); plot.appendChild(r);
    }
    // marks
    const hot = new Set();
    const sel = state.sel ? findingsById.get(state.sel) : null;
    if (sel) { hot.add(sel.pair[0]); hot.add(sel.pair[1]); }
    const gM = sv("g", {id: "g-marks"});
    const pxPerUnit = (W - LABEL_W - PAD_R) / span;
    D.ops.forEach((o, i) => {
      if (o[1] + o[2] < state.x0 || o[1] > state.x1) return;
      const li = lanesByProc.get(o[0]); if (li === undefined) return;
      const isHot = hot.has(i);
      const w = Math.max(isHot ? 5 : 2.5, o[2] * pxPerUnit);
      const r = sv("rect", {class: "mark k-" + o[3] + (o[8] ? " err" : "") + (isHot ? " hl" : ""),
                            x: X(o[1]) - (isHot ? 2 : 0), y: laneY(li) + (isHot ? 3 : 6), width: w,
                            height: isHot ? 20 : 14, "data-i": i, "data-seq": o[4]});
      gM.appendChild(r);
    });
    plot.appendChild(gM);
    // arrows: culprit -> victim
    const gR = sv("g", {id: "g-arrows"});
    for (const f of D.findings) {
      if (f.severity === "info" && !state.showInfo && state.sel !== f.id) continue;
      if (f.verdict === "latent" && !state.showLatent && state.sel !== f.id) continue;
      if (f.pair[0] < 0 || f.pair[1] < 0) continue;
      const a = D.ops[f.pair[0]], b = D.ops[f.pair[1]];
      if (Math.max(a[1], b[1]) < state.x0 || Math.min(a[1], b[1]) > state.x1) continue;
      const ya = laneY(lanesByProc.get(a[0])) + LANE_H / 2, yb = laneY(lanesByProc.get(b[0])) + LANE_H / 2;
      const xa = X(a[1]) + 1, xb = X(b[1]) + 1;
      const bend = Math.max(18, Math.abs(yb - ya) * 0.35);
      const p = sv("path", {class: "arrow sev-" + f.severity + (state.sel ? (state.sel === f.id ? " hl" : " dim") : ""),
                            d: "M" + xa + "," + ya + " C" + (xa + bend) + "," + ya + " " + (xb - bend) + "," + yb + " " + xb + "," + (yb + (yb > ya ? -7 : 7)),
                            "marker-end": "url(#ah-" + f.severity + ")", "data-fid": f.id});
      const tt = sv("title"); tt.textContent = f.id + " " + f.kind + " (" + f.verdict + ", " + f.severity + "): " + f.site;
      p.appendChild(tt); gR.appendChild(p);
    }
    plot.appendChild(gR);
    svg.appendChild(plot);
    document.getElementById("viewinfo").textContent = fmtX(state.x0) + " .. " + fmtX(state.x1);
  }
  function niceStep(raw) {
    const p = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1e-9))));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }
  function setView(x0, x1) {
    const full0 = D.span[0], full1 = D.span[1];
    const minW = D.clock === "time" ? 2 : 2;
    if (x1 - x0 < minW) { const c = (x0 + x1) / 2; x0 = c - minW / 2; x1 = c + minW / 2; }
    if (x1 - x0 > full1 - full0) { x0 = full0; x1 = full1; }
    state.x0 = x0; state.x1 = x1; render();
  }

  // zoom and pan
  svg.addEventListener("wheel", ev => {
    ev.preventDefault();
    const r = svg.getBoundingClientRect();
    const px = ev.clientX - r.left;
    if (px < LABEL_W) return;
    const frac = (px - LABEL_W) / (W - LABEL_W - PAD_R);
    const at = state.x0 + frac * (state.x1 - state.x0);
    const k = ev.deltaY > 0 ? 1.3 : 1 / 1.3;
    setView(at - (at - state.x0) * k, at + (state.x1 - at) * k);
  }, {passive: false});
  let drag = null;
  svg.addEventListener("mousedown", ev => { drag = {x: ev.clientX, x0: state.x0, x1: state.x1, moved: false}; });
  window.addEventListener("mousemove", ev => {
    if (drag) {
      const dx = ev.clientX - drag.x;
      if (Math.abs(dx) > 3) drag.moved = true;
      if (drag.moved) {
        const per = (drag.x1 - drag.x0) / (W - LABEL_W - PAD_R);
        state.x0 = drag.x0 - dx * per; state.x1 = drag.x1 - dx * per; render();
      }
    }
  });
  window.addEventListener("mouseup", () => { setTimeout(() => { drag = null; }, 0); });
  svg.addEventListener("dblclick", () => setView(D.span[0], D.span[1]));
  svg.addEventListener("mousemove", ev => {
    const t = ev.target;
    let text = null;
    if (t.classList && t.classList.contains("mark")) text = opText(D.ops[+t.getAttribute("data-i")]);
    if (text === null) { tip.style.display = "none"; return; }
    tip.textContent = text; tip.style.display = "block";
    tip.style.left = Math.min(ev.clientX + 12, window.innerWidth - 660) + "px"; tip.style.top = (ev.clientY + 14) + "px";
  });
  svg.addEventListener("mouseleave", () => { tip.style.display = "none"; });
  svg.addEventListener("click", ev => {
    if (drag && drag.moved) return;
    const t = ev.target;
    if (t.classList && t.classList.contains("arrow")) select(t.getAttribute("data-fid"));
  });
  document.getElementById("zoom-all").addEventListener("click", () => setView(D.span[0], D.span[1]));
  document.getElementById("zoom-out").addEventListener("click", () => {
    const c = (state.x0 + state.x1) / 2, w = (state.x1 - state.x0) * 2;
    setView(c - w / 2, c + w / 2);
  });
  document.getElementById("show-info").addEventListener("change", ev => { state.showInfo = ev.target.checked; render(); });
  const latentBox = document.getElementById("show-latent");
  latentBox.checked = state.showLatent;
  latentBox.addEventListener("change", ev => { state.showLatent = ev.target.checked; render(); });
  const nLatent = D.findings.filter(f => f.verdict === "latent").length;
  document.getElementById("latent-label").appendChild(document.createTextNode(" latent arrows (" + nLatent + ")"));
  const helperBox = document.getElementById("show-helpers");
  const nHelpers = D.lanes.filter(l => l.folded_into !== null).length;
  if (nHelpers) {
    document.getElementById("helpers-label").appendChild(document.createTextNode(" " + nHelpers + " helper lanes"));
    helperBox.addEventListener("change", ev => { state.unfold = ev.target.checked; layoutLanes(); render(); });
  } else document.getElementById("helpers-label").style.display = "none";
  const focusBtn = document.getElementById("zoom-focus");
  if (D.focus) focusBtn.addEventListener("click", () => setView(D.focus[0], D.focus[1]));
  else focusBtn.style.display = "none";
"""

#: The whole program (one function: the two halves share its state).
SCRIPT = TIMELINE + PANELS
