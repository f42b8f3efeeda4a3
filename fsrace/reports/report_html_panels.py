"""The HTML report's program, second half: the panels around the timeline.

The race-site list, the selection (kept in the URL: ``#F3``, ``#R1``), the
selected finding's detail and interleaving, the failed processes, the
process tree, the root-cause cards and the log's warnings.  It continues
the function ``report_html_script.TIMELINE`` opens (it uses that part's
state and helpers), so it is only ever used as ``TIMELINE + PANELS``.
Strings from the model go into the DOM as text nodes and attribute values,
never as markup.
"""

PANELS = r"""
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
