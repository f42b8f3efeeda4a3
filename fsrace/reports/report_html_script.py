"""The HTML report's program: draws the model embedded in the page.

It reads the JSON model from the ``fsrace-data`` script element and puts
every string into the DOM only as text nodes and attribute values, never
as markup (the strings come from the traced programs).
"""

SCRIPT = r"""
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

  // ------------------------------------------------------------ site list
  const list = document.getElementById("site-list");
  for (const f of D.findings) {
    const rc = rcOfFinding.get(f.id);
    const b = el("button", {class: "site sev-" + f.severity, type: "button", "data-fid": f.id},
      el("span", {class: "sev"}, f.severity), el("b", {}, f.id + " " + f.kind), rc ? el("span", {class: "rc-tag"}, rc) : null,
      " " + f.verdict + " - " + f.count + " pair" + (f.count === 1 ? "" : "s") + " - " + f.syscalls.join(" / "),
      el("span", {class: "pattern"}, f.site));
    b.addEventListener("click", () => select(f.id));
    list.appendChild(b);
  }
  if (!D.findings.length) list.appendChild(el("p", {class: "hint"}, "No races found: every conflicting access was ordered."));
  const hiddenKeys = Object.keys(D.hidden_findings || {});
  if (hiddenKeys.length) list.appendChild(el("p", {class: "hint", id: "hidden-sites"},
    "Not listed (less severe, beyond the first " + D.findings.length + " sites): " +
    hiddenKeys.map(k => D.hidden_findings[k] + " " + k).join(", ") + ". fsrace analyze LOG --format json lists them all."));

  // ----------------------------------------------------------- selection
  // The selection lives in the URL (report.html#F3, #R1): a link points at one finding.
  function setHash(id) {
    const want = "#" + id;
    if (location.hash === want) return;
    try { history.replaceState(null, "", want); } catch (e) { location.hash = want; }
  }
  function markCards() {
    for (const c of document.querySelectorAll(".rc-card"))
      c.classList.toggle("selected", c.getAttribute("data-rc") === state.selRC);
  }
  function selectRC(rid) {
    const r = rcById.get(rid); if (!r) return;
    state.selRC = rid;
    markCards();
    setHash(rid);
    if (findingsById.has(r.evidence)) select(r.evidence, rid);
    const card = document.querySelector('.rc-card[data-rc="' + CSS.escape(rid) + '"]');
    if (card) card.scrollIntoView({block: "nearest"});
  }
  function applyHash() {
    const id = decodeURIComponent(location.hash.slice(1));
    if (findingsById.has(id)) select(id);
    else if (rcById.has(id)) selectRC(id);
    else if (/^[FR][0-9]+$/.test(id)) {
      // A finding beyond the sites this page lists (or a stale link): say so.
      const box = document.getElementById("detail");
      while (box.firstChild) box.removeChild(box.firstChild);
      box.appendChild(el("h2", {}, "Selected finding"));
      box.appendChild(el("p", {class: "hint", id: "not-on-page"}, id + " is not on this page (it lists the first " +
        D.findings.length + " sites). fsrace explain LOG " + id + " tells its story; --format json lists every finding."));
    }
  }
  function select(fid, viaRC) {
    const f = findingsById.get(fid); if (!f) return;
    state.sel = fid;
    if (!viaRC) { state.selRC = null; markCards(); setHash(fid); }
    for (const b of list.querySelectorAll("button.site"))
      b.classList.toggle("selected", b.getAttribute("data-fid") === fid);
    if (f.pair[0] >= 0 && f.pair[1] >= 0) {
      const a = D.ops[f.pair[0]], b = D.ops[f.pair[1]];
      const lo = Math.min(a[1], b[1]), hi = Math.max(a[1] + a[2], b[1] + b[2]);
      const pad = Math.max((hi - lo) * 0.6, (D.span[1] - D.span[0]) / 4000, D.clock === "time" ? 50 : 5);
      setView(lo - pad, hi + pad);
    } else render();
    showDetail(f);
    const hl = svg.querySelector(".mark.hl");
    if (hl && wrap.scrollHeight > wrap.clientHeight) {
      const li = lanesByProc.get(D.ops[f.pair[1]][0]);
      wrap.scrollTop = Math.max(0, laneY(li) - wrap.clientHeight / 2);
    }
  }
  function accLine(acc) {
    const p = el("div", {class: "mono"}, acc.role + ": pid " + acc.proc + " " + acc.syscall + " " + acc.path);
    if (acc.other_path) p.appendChild(document.createTextNode(" -> " + acc.other_path));
    p.appendChild(el("span", {class: acc.errno ? "errno" : ""}, "  = " + acc.result));
    p.appendChild(document.createTextNode("  (seq " + acc.seq + ")"));
    return p;
  }
  function showDetail(f) {
    const box = document.getElementById("detail");
    while (box.firstChild) box.removeChild(box.firstChild);
    box.appendChild(el("h2", {}, "Selected finding"));
    box.appendChild(el("p", {class: "sev-" + f.severity},
      el("span", {class: "sev"}, f.severity), el("b", {}, f.id + " " + f.kind), " (" + f.verdict + "), " +
      f.count + " conflicting pair(s) at site ", el("code", {}, f.site)));
    for (const acc of f.accesses) box.appendChild(accLine(acc));
    const [c, v] = f.accesses;
    const culprit = "pid " + c.proc, victim = "pid " + v.proc;
    let story = culprit + " did " + c.syscall + " on a path that " + victim + " used (" + v.syscall + ")";
    story += v.errno ? "; the victim's call failed with " + v.errno + "." : "; this time the timing happened to work.";
    story += " Nothing ordered the two operations: no common lock and no fork/wait path between the processes.";
    box.appendChild(el("p", {}, story));
    if (f.note) box.appendChild(el("p", {class: "hint"}, f.note));
    const expl = D.failed.filter(p => p.explained_by.indexOf(f.id) >= 0).map(p => "pid " + p.proc);
    if (expl.length) box.appendChild(el("p", {}, "Explains the failure of " + expl.join(", ") + "."));
    box.appendChild(el("p", {class: "hint"}, "Full story in the terminal: fsrace explain LOG " + f.id));
    // interleaving of the two processes around the pair (drawn operations)
    if (f.pair[0] >= 0 && f.pair[1] >= 0) {
      const pa = D.ops[f.pair[0]][0], pb = D.ops[f.pair[1]][0];
      const lo = Math.min(f.pair[0], f.pair[1]), hi = Math.max(f.pair[0], f.pair[1]);
      const rows = [];
      let before = 0;
      for (let i = lo - 1; i >= 0 && before < 5; i--) if (D.ops[i][0] === pa || D.ops[i][0] === pb) { rows.unshift(i); before++; }
      const inside = [];
      for (let i = lo; i <= hi; i++) if (D.ops[i][0] === pa || D.ops[i][0] === pb) inside.push(i);
      const shown = inside.length > 14 ? inside.slice(0, 6).concat([-1], inside.slice(-6)) : inside;
      rows.push(...shown);
      let after = 0;
      for (let i = hi + 1; i < D.ops.length && after < 5; i++) if (D.ops[i][0] === pa || D.ops[i][0] === pb) { rows.push(i); after++; }
      const tb = el("table", {class: "il"});
      const head = el("tr", {}, el("th", {class: "seq"}, "seq"), el("th", {class: "t"}, "time"),
        el("th", {}, "pid " + laneOfProc.get(pa).key + " (culprit)"),
        el("th", {}, pa === pb ? "" : "pid " + laneOfProc.get(pb).key + " (victim)"));
      tb.appendChild(head);
      for (const i of rows) {
        if (i < 0) { tb.appendChild(el("tr", {}, el("td", {}, "..."), el("td"), el("td"), el("td"))); continue; }
        const o = D.ops[i];
        let t = str(o[5]) + " " + str(o[6]) + (o[7] >= 0 ? " -> " + str(o[7]) : "");
        const cell = el("td", {class: "mono"}, t, o[8] ? el("span", {class: "errno"}, "  = -1 " + o[8]) : null);
        const tr = el("tr", {class: (i === f.pair[0] || i === f.pair[1]) ? "hot" : ""},
          el("td", {class: "seq"}, String(o[4])), el("td", {class: "t"}, fmtX(o[1])),
          o[0] === pa ? cell : el("td"), o[0] === pa ? el("td") : cell);
        tb.appendChild(tr);
      }
      box.appendChild(tb);
    }
  }

  // --------------------------------------------------- failed processes
  const fb = document.getElementById("failed");
  if (!D.failed.length) fb.appendChild(el("p", {class: "hint"}, "No process failed."));
  for (const p of D.failed) {
    const row = el("div", {}, el("b", {class: "failed-proc"}, "pid " + p.proc + " (" +
      (p.signal ? "killed by " + p.signal : "exit " + p.exit_code) + ") "),
      el("span", {class: "mono"}, (p.argv || ["?"]).join(" ").slice(0, 160)));
    if (p.first_error) row.appendChild(el("div", {class: "mono"}, "first error: " + p.first_error.syscall + " " +
      (p.first_error.path || "?") + " = -1 " + p.first_error.errno + " (seq " + p.first_error.seq + ")"));
    const ex = el("div", {}, p.explained ? "explained by: " : (p.explanation || ""));
    for (const id of p.explained_by.slice(0, 12)) {
      if (!findingsById.has(id)) { ex.appendChild(el("span", {class: "mono"}, id + " ")); continue; }
      const b = el("button", {class: "fid", type: "button", "data-fid": id}, id);
      b.addEventListener("click", () => select(id)); ex.appendChild(b);
    }
    const rcs = D.root_causes.filter(r => r.explains.some(e => e.proc === p.proc)).map(r => r.id);
    if (rcs.length) {
      ex.appendChild(document.createTextNode(" root cause: "));
      for (const id of rcs) ex.appendChild(el("a", {class: "fid", href: "#" + encodeURIComponent(id)}, id));
    }
    row.appendChild(ex); fb.appendChild(row);
  }
  const fh = D.failed_helpers;
  if (fh && fh.count) fb.appendChild(el("p", {class: "hint", id: "failed-helpers"},
    fh.count + " helper process" + (fh.count === 1 ? "" : "es") + " exited non-zero with no file-system race involved (" +
    fh.programs.map(([n, k]) => n + (k > 1 ? " x" + k : "")).join(", ") + ")."));

  // --------------------------------------------------------- process tree
  const tree = document.getElementById("tree");
  const kids = new Map();
  for (const l of D.lanes) { const k = l.parent === null ? -1 : l.parent; if (!kids.has(k)) kids.set(k, []); kids.get(k).push(l); }
  function sub(parent) {
    const ul = el("ul");
    for (const l of kids.get(parent) || []) {
      const li = el("li", {"data-proc": l.proc}, el("span", {class: l.failed ? "failed-proc" : ""}, "pid " + l.key + " [" + l.status + "] "),
        el("span", {class: "mono"}, l.argv.slice(0, 200)));
      if (kids.has(l.proc)) li.appendChild(sub(l.proc));
      ul.appendChild(li);
    }
    return ul;
  }
  tree.appendChild(sub(-1));

  document.getElementById("notes-text").textContent =
    "Time axis: " + (D.clock === "time" ? "milliseconds since the first event" : "event order (the log has no timestamps)") +
    ". At most " + D.budget + " operations are drawn one by one (the pairs of every finding and the operations around them); " +
    "the others are counted into grey bars per lane. Self-contained page: no network access.";

  // ------------------------------------------------------ root causes
  const causes = document.getElementById("causes");
  function field(label, value, cls) {
    if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) return null;
    return el("div", {class: "rc-field"}, el("span", {class: "rc-label"}, label + ": "),
              el("span", {class: cls || ""}, Array.isArray(value) ? value.join(", ") : String(value)));
  }
  function fidLinks(ids, max) {
    const span = el("span", {});
    for (const id of ids.slice(0, max)) span.appendChild(el("a", {class: "fid", href: "#" + encodeURIComponent(id), "data-fid": id}, id));
    if (ids.length > max) span.appendChild(document.createTextNode(" +" + (ids.length - max) + " more"));
    return span;
  }
  for (const r of D.root_causes) {
    const n = r.explains.length;
    const head = el("h3", {}, el("a", {class: "rc-id", href: "#" + encodeURIComponent(r.id)}, r.id), " ",
      el("span", {class: "sev sev-" + r.severity}, r.severity || ""), " ",
      n ? "explains " + n + " failed process" + (n === 1 ? "" : "es") : "explains no failed process");
    const card = el("article", {class: "rc-card sev-" + r.severity, "data-rc": r.id}, head,
      el("p", {class: "rc-statement"}, r.statement || ""),
      field("Resource", r.resource, "mono"), field("Programs", r.programs), field("Kinds", r.kinds),
      field("Nothing ordered them", r.missing_order), field("Fix", r.fix, "rc-fix"),
      n ? field("Failed", r.explains.slice(0, 8).map(e => "pid " + e.proc).concat(n > 8 ? ["+" + (n - 8) + " more"] : [])) : null);
    const links = el("div", {class: "rc-field"}, el("span", {class: "rc-label"}, "Evidence: "),
      r.evidence ? fidLinks([r.evidence], 1) : "-", el("span", {class: "rc-label"}, "  Findings (" + r.finding_ids.length +
      (r.site_ids.length ? ", " + r.site_ids.length + " site" + (r.site_ids.length === 1 ? "" : "s") : "") + "): "),
      fidLinks(r.finding_ids, 16));
    card.appendChild(links);
    causes.appendChild(card);
  }
  if (!D.root_causes.length) causes.style.display = "none";

  // ---------------------------------------------------------- warnings
  const wbox = document.getElementById("warnings");
  if (D.warnings.length) {
    wbox.appendChild(el("b", {}, D.warnings.length + " warning" + (D.warnings.length === 1 ? "" : "s") + " about this log: "));
    const ul = el("ul");
    for (const w of D.warnings.slice(0, 8)) ul.appendChild(el("li", {}, w));
    if (D.warnings.length > 8) ul.appendChild(el("li", {}, "... " + (D.warnings.length - 8) + " more (fsrace analyze LOG --format json)"));
    wbox.appendChild(ul);
  } else wbox.style.display = "none";

  window.addEventListener("resize", () => render());
  window.addEventListener("hashchange", applyHash);
  render();
  applyHash();
  document.body.setAttribute("data-ready", "1");
})();
"""
