"""The HTML report's style sheet (one string, hashed into the page's CSP)."""

STYLE = """
:root{--err:#d62728;--warn:#e69500;--info:#7f7f7f;--fg:#1d1d1f;--mut:#666;--bg:#fff;--lane:#f6f7f9}
*{box-sizing:border-box}
body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0;padding:8px 14px}
h1{font-size:17px;margin:4px 0;word-break:break-all}h2{font-size:14px;margin:10px 0 6px}
#summary{margin:2px 0 8px;color:var(--mut)}
#main{display:grid;grid-template-columns:minmax(0,1fr) 430px;gap:12px;align-items:start}
#toolbar{display:flex;gap:8px;align-items:center;margin-bottom:4px}
#toolbar button{font:inherit;padding:2px 8px}
#viewinfo{color:var(--mut);margin-left:auto;font-variant-numeric:tabular-nums}
#lanes-wrap{border:1px solid #ddd;max-height:72vh;overflow:auto;background:#fff}
svg#lanes{display:block;user-select:none;cursor:grab}
.lane-bg{fill:var(--lane)}.lane-bg.odd{fill:#fff}
.lane-label{font-size:11.5px;fill:var(--fg)}.lane-label.failed{fill:var(--err);font-weight:600}
.lane-status{font-size:10.5px;fill:var(--mut)}.lane-status.failed{fill:var(--err)}
.agg{fill:#9aa3ad}
.mark{stroke:none}.mark.err{stroke:var(--err);stroke-width:1.5}
.k-create{fill:#2ca02c}.k-remove{fill:#d62728}.k-rename{fill:#ff7f0e}.k-write{fill:#1f77b4}
.k-read{fill:#8c9aa8}.k-check{fill:#bcbd22}.k-lock{fill:#9467bd}.k-proc{fill:#222}
.mark.hl{stroke:#000;stroke-width:2.5}
.arrow{fill:none;stroke-width:1.6;opacity:.85}
.arrow.sev-error{stroke:var(--err)}.arrow.sev-warning{stroke:var(--warn)}.arrow.sev-info{stroke:var(--info)}
.arrow.dim{opacity:.18}.arrow.hl{stroke-width:3.2;opacity:1}
.axis{font-size:10px;fill:var(--mut)}.tick{stroke:#ddd}
#legend{margin-top:4px;color:var(--mut);font-size:11.5px}
#legend svg{margin:0 2px 0 8px;vertical-align:-1px}
#site-list{max-height:76vh;overflow:auto;border:1px solid #ddd}
button.site{display:block;width:100%;text-align:left;font:inherit;background:#fff;border:0;border-bottom:1px solid #eee;padding:5px 7px;cursor:pointer}
button.site:hover{background:#f3f6fb}button.site.selected{background:#e4edfb}
.sev{display:inline-block;min-width:64px;font-weight:600}
.sev-error .sev,.sev.sev-error{color:var(--err)}.sev-warning .sev,.sev.sev-warning{color:var(--warn)}.sev-info .sev,.sev.sev-info{color:var(--info)}
.site .pattern{display:block;color:var(--mut);word-break:break-all;font-family:ui-monospace,Menlo,monospace;font-size:11.5px}
.mono,code{font-family:ui-monospace,Menlo,monospace;font-size:12px;word-break:break-all}
table.il{border-collapse:collapse;width:100%;table-layout:fixed}
table.il td,table.il th{border-bottom:1px solid #eee;padding:2px 6px;vertical-align:top;text-align:left}
table.il th.seq,table.il td.seq{width:70px}table.il td.t,table.il th.t{width:100px}
table.il tr.hot td{background:#fff4c2;font-weight:600}
.errno{color:var(--err)}
#tree ul{list-style:none;padding-left:18px;margin:2px 0}#tree>ul{padding-left:0}
.failed-proc{color:var(--err)}
.hint{color:var(--mut)}
#tooltip{position:fixed;pointer-events:none;background:#222;color:#fff;padding:4px 7px;border-radius:3px;font:12px ui-monospace,Menlo,monospace;max-width:640px;word-break:break-all;display:none;z-index:5}
button.fid{font:inherit;border:1px solid #ccc;background:#fafafa;cursor:pointer;padding:0 5px;margin-right:4px}
#causes{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:8px;margin:0 0 8px}
.rc-card{border:1px solid #ddd;border-left:5px solid var(--info);padding:6px 10px;background:#fcfcfd}
.rc-card.sev-error{border-left-color:var(--err)}.rc-card.sev-warning{border-left-color:var(--warn)}
.rc-card.selected{background:#eef3fc;border-color:#9db4dd}
.rc-card h3{font-size:14px;margin:0 0 3px}.rc-card h3 a.rc-id{color:inherit}
.rc-statement{margin:2px 0 4px;font-size:13.5px}
.rc-field{margin:1px 0}.rc-label{color:var(--mut)}.rc-fix{font-weight:600}
a.fid{display:inline-block;font:inherit;border:1px solid #ccc;background:#fafafa;padding:0 5px;margin:1px 4px 1px 0;text-decoration:none;color:inherit}
#warnings{border:1px solid #e6c200;background:#fffbe6;padding:4px 10px;margin:0 0 8px}
#warnings ul{margin:2px 0;padding-left:18px}
#toolbar label{white-space:nowrap}
.rc-tag{display:inline-block;margin-left:6px;padding:0 4px;border:1px solid #bbb;border-radius:3px;font-size:11px;color:var(--mut)}
"""
