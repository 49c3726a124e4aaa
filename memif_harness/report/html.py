"""The HTML report: one self-contained file (inline CSS, JS and SVG; it loads nothing).

Every catalogue scenario is a row (ids without tests show as gaps), then tests naming no
scenario; a column per peer x version x role. A cell opens its tests: outcome, duration, the
message, the line that decided it and links to its artifacts (relative to the HTML file, so
keep ``reports/`` together). Filters by outcome and by scenario family; a line per peer; with
a history of past reports, a plot of pass counts per peer.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from ..conformance import catalogue
from .build import RowKey, cell_records, peer_summaries
from .compare import Change, ReportDiff
from .document import NO_PEER, OUTCOMES, SEVERITY, Record, Report
from .render import NO_TEST, SYMBOLS, row_title, summary_line
from .trend import trend_svg

COLOURS: Final = {
    "passed": ("#1b7f3b", "#fff"),
    "failed": ("#c62828", "#fff"),
    "error": ("#6a0000", "#fff"),
    "skipped": ("#d6d6d6", "#333"),
    "xfailed": ("#f2c14e", "#333"),
    "xpassed": ("#a0337c", "#fff"),
}
#: most artifact files listed per directory
ARTIFACT_FILES: Final = 30

CSS: Final = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin:0 0 .3em}
.run,.peers li{color:#444}
.peers{margin:.4em 0;padding-left:1.2em}
.legend span,.filters label{margin-right:1em;white-space:nowrap}
.sw{display:inline-block;min-width:1.4em;text-align:center;border-radius:3px;margin-right:.3em}
table.matrix{border-collapse:collapse;margin-top:.8em}
.matrix th,.matrix td{border:1px solid #ccc;padding:2px 6px}
.matrix thead th{background:#f4f4f4;font-weight:600;vertical-align:bottom}
.matrix th.id{text-align:left;white-space:nowrap}
.matrix td.title{min-width:18em;max-width:34em;color:#333}
.matrix th.id.test{font-weight:normal;font-family:monospace}
td.cell{text-align:center;min-width:2.2em;cursor:pointer;font-weight:600}
td.cell.none{background:#f8f8f8;color:#aaa;cursor:default;font-weight:normal}
td.cell:focus{outline:2px solid #0072b2}
td.cell.dim{opacity:.25}
td.cell.regressed{outline:3px solid #000;outline-offset:-3px}
td.cell.fixed{outline:3px dashed #1b7f3b;outline-offset:-3px}
.changes{border-left:4px solid #c62828;padding-left:.6em}
.changes.clean{border-color:#1b7f3b}
tr.family th{background:#eef3f8;text-align:left}
tr.detail td{background:#fffdf5}
.rec{margin:.3em 0 .6em}
.rec pre{white-space:pre-wrap;margin:.2em 0;background:#f6f6f6;padding:.3em;
max-height:20em;overflow:auto}
.rec code{background:#f0f0f0}
.trend{margin:.6em 0}
"""

JS: Final = """
(function () {
  const table = document.getElementById("matrix");
  function toggle(cell) {
    const row = document.getElementById(cell.dataset.detail);
    if (!row) return;
    row.hidden = !row.hidden;
    cell.setAttribute("aria-expanded", String(!row.hidden));
  }
  table.addEventListener("click", function (e) {
    const cell = e.target.closest("td.cell[data-detail]");
    if (cell) toggle(cell);
  });
  table.addEventListener("keydown", function (e) {
    const cell = e.target.closest("td.cell[data-detail]");
    if (cell && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); toggle(cell); }
  });
  function apply() {
    const shown = new Set(Array.from(document.querySelectorAll(".filters input:checked"),
                                     function (i) { return i.value; }));
    const family = document.getElementById("family").value;
    document.querySelectorAll("tbody tr.row").forEach(function (tr) {
      let any = false;
      tr.querySelectorAll("td.cell").forEach(function (td) {
        const on = shown.has(td.dataset.outcome);
        td.classList.toggle("dim", !on);
        any = any || on;
      });
      const visible = any && (family === "" || tr.dataset.family === family);
      tr.hidden = !visible;
      tr.querySelectorAll("td.cell[data-detail]").forEach(function (td) {
        const d = document.getElementById(td.dataset.detail);
        if (d && !visible) d.hidden = true;
      });
    });
    document.querySelectorAll("tbody tr.family").forEach(function (tr) {
      const rows = document.querySelectorAll('tr.row[data-family="' + tr.dataset.family + '"]');
      tr.hidden = !Array.from(rows).some(function (r) { return !r.hidden; });
    });
  }
  document.querySelectorAll(".filters input, #family").forEach(function (el) {
    el.addEventListener("change", apply);
  });
  apply();
})();
"""


def _swatch(outcome: str) -> str:
    bg, fg = COLOURS[outcome]
    return f'<span class="sw" style="background:{bg};color:{fg}">{escape(SYMBOLS[outcome])}</span>'


def _cell_style(outcome: str) -> str:
    bg, fg = COLOURS[outcome]
    return f"background:{bg};color:{fg}"


def _artifact_links(path: str, base: Path | None) -> list[str]:
    """Links to an artifact (a file, or the files of a directory) relative to ``base``."""
    target = Path(path)
    if base is None or not target.exists():
        return [f"<code>{escape(path)}</code>" + ("" if target.exists() else " (not found)")]
    files = sorted(p for p in target.iterdir() if p.is_file()) if target.is_dir() else [target]
    links = []
    for f in files[:ARTIFACT_FILES]:
        rel = os.path.relpath(f.resolve(), base.resolve())
        links.append(f'<a href="{escape(quote(rel))}">{escape(rel)}</a>')
    if len(files) > ARTIFACT_FILES:
        links.append(f"… and {len(files) - ARTIFACT_FILES} more in <code>{escape(path)}</code>")
    if not files:
        links.append(f"<code>{escape(path)}</code> (empty)")
    return links


#: cell marks against the baseline: symbol and words
MARKS: Final = {"regressed": ("▼", "regressed since the baseline"),
                "fixed": ("▲", "fixed since the baseline")}


def _record_html(r: Record, base: Path | None, mark: tuple[str, Change] | None) -> str:
    outcome = r["outcome"]
    bits = [
        f'<div class="rec">{_swatch(outcome)}<b>{escape(outcome)}</b> '
        f"<code>{escape(r['nodeid'])}</code> — {r['duration']:.2f} s"
    ]
    if mark:
        kind, change = mark
        was = f"was {change.old}" if change.old else "a new test"
        bits.append(f" — <b>{MARKS[kind][0]} {MARKS[kind][1]}</b> ({escape(was)})")
    if r.get("when") and r["when"] != "call":
        bits.append(f" (decided in {escape(r['when'])})")
    if r.get("peer_version"):
        bits.append(f" — {escape(r.get('peer') or '')} {escape(r['peer_version'])}")
    if r.get("message"):
        bits.append(f"<pre>{escape(r['message'])}</pre>")
    if r.get("assertion"):
        bits.append(f"<div>decided by: <code>{escape(r['assertion'])}</code></div>")
    links = [link for a in r.get("artifacts", []) for link in _artifact_links(a, base)]
    if links:
        bits.append("<div>artifacts: " + " · ".join(links) + "</div>")
    bits.append("</div>")
    return "".join(bits)


def _rows(report: Report) -> list[tuple[RowKey, str, str | None]]:
    """(row key, family prefix, title) of every catalogue id, any other scenario seen, then
    each test naming no scenario."""
    seen = cell_records(report["results"])
    known = {s.id for s in catalogue.scenarios()}
    rows: list[tuple[RowKey, str, str | None]] = []
    titles = {r["scenario"]: row_title(r) for r in report["matrix"]["rows"]}
    for s in catalogue.scenarios():
        rows.append((("scenario", s.id), s.family, titles.get(s.id) or s.title))
    for kind, name in seen:
        if kind == "scenario" and name not in known:
            rows.append(((kind, name), "?", titles.get(name)))
    rows += [((kind, name), "tests", None) for kind, name in seen if kind == "test"]
    return rows


def _heading(col: dict[str, Any]) -> str:
    lines = [col["peer"], col.get("version") or "", col.get("role") or ""]
    return "<br>".join(escape(x) for x in lines if x)


def to_html(
    report: Report,
    *,
    base: str | os.PathLike[str] | None = None,
    history: list[Report] | None = None,
    changes: ReportDiff | None = None,
    title: str = "memif interop report",
) -> str:
    """The report as one HTML page; artifact links are relative to ``base`` (the directory
    the page is written to); ``history`` (oldest first) adds the pass-count trend;
    ``changes`` (the diff from a baseline) marks regressed and fixed cells."""
    marks = changes.marks() if changes else {}
    base_dir = Path(base) if base is not None else None
    columns = report["matrix"]["columns"]
    records = cell_records(report["results"])
    families = catalogue.families()
    run = report["run"]
    out: list[str] = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        # nothing is ever fetched: the page is complete as it is
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">",
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p class='run'><b>{escape(summary_line(report))}</b> — harness "
        f"{escape(run['harness_version'])}, started {escape(run['started'])}, "
        f"{run['duration']:.1f} s, pytest exit {run['exit_status']}, host "
        f"{escape(run['host']['hostname'])}",
    ]
    if run["ci"].get("url"):
        out.append(f" — <a href='{escape(run['ci']['url'])}'>CI run</a>")
    if run.get("sources"):
        out.append(f" — merged from {len(run['sources'])} reports: "
                   + ", ".join(f"<code>{escape(s)}</code>" for s in run["sources"]))
    out.append("</p><ul class='peers'>")
    ids = {s.id for s in catalogue.scenarios()}
    for (peer, version), counts in peer_summaries(report).items():
        covered = {
            name for (kind, name), cells in records.items()
            if kind == "scenario" and name in ids and any(
                c["peer"] == peer and c["version"] == version and c["key"] in cells
                for c in columns
            )
        }
        parts = ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts.get(o))
        if peer == NO_PEER:
            out.append(f"<li class='peer'>tests naming no peer: {parts}</li>")
            continue
        out.append(
            f"<li class='peer'><b>{escape(peer)}</b> {escape(version or '(version unknown)')}: "
            f"{parts}; {len(covered)} of {len(ids)} catalogue scenarios have tests</li>"
        )
    out.append("</ul>")
    peer_notes = [p for p in report["peers"] if not p["available"] and p.get("reason")]
    for p in peer_notes:
        reason = str(p["reason"])
        if not reason.startswith(f"peer {p['name']} unavailable"):
            reason = f"{p['name']} unavailable: {reason}"
        out.append(f"<p class='run'>{escape(reason)}</p>")
    if changes is not None:
        out.append(_changes_html(changes))
    if history:
        svg = trend_svg(history)
        if svg:
            out.append(f"<h2>passed tests per peer, last {len(history)} runs</h2>{svg}")
    out.append("<p class='legend'>")
    out += [f"<span>{_swatch(o)}{escape(o)}</span>" for o in SEVERITY]
    out.append(f"<span><span class='sw' style='background:#f8f8f8;color:#aaa'>{NO_TEST}</span>"
               "no test (a gap)</span><span>n/m: n of the cell's m tests had its outcome; "
               "click a cell for its tests</span>")
    if changes is not None:
        out += [f"<span>{sym} {escape(words)}</span>" for sym, words in MARKS.values()]
    out.append("</p>")
    out.append("<p class='filters'>show: ")
    for o in (*SEVERITY, "none"):
        label = "no test" if o == "none" else o
        out.append(f"<label><input type='checkbox' value='{o}' checked> {escape(label)}</label>")
    out.append("<label>family: <select id='family'><option value=''>all</option>")
    for prefix, name in families.items():
        out.append(f"<option value='{prefix}'>{prefix} {escape(name)}</option>")
    out.append("<option value='tests'>tests naming no scenario</option></select></label></p>")
    out.append("<table class='matrix' id='matrix'><thead><tr><th>id</th><th>scenario</th>")
    out += [f"<th title='{escape(c['key'])}'>{_heading(c)}</th>" for c in columns]
    out.append("</tr></thead><tbody>")
    width = len(columns) + 2
    family_names = {**families, "?": "scenarios outside the catalogue",
                    "tests": "tests naming no scenario"}
    current = None
    for n, ((kind, name), family, row_text) in enumerate(_rows(report)):
        if family != current:
            current = family
            out.append(f"<tr class='family' data-family='{escape(family)}'><th colspan='{width}'>"
                       f"{escape(family_names.get(family, family))}</th></tr>")
        cells = records.get((kind, name), {})
        head = (f"<th class='id'>{escape(name)}</th><td class='title'>{escape(row_text or '')}</td>"
                if kind == "scenario" else f"<th class='id test' colspan='2'>{escape(name)}</th>")
        out.append(f"<tr class='row' data-family='{escape(family)}' id='r{n}'>{head}")
        details = []
        for i, col in enumerate(columns):
            tests = cells.get(col["key"])
            if not tests:
                out.append(f"<td class='cell none' data-outcome='none' "
                           f"title='{escape(name)} {escape(col['key'])}: no test'>{NO_TEST}</td>")
                continue
            outcome = min((r["outcome"] for r in tests), key=SEVERITY.index)
            mixed = f" {sum(r['outcome'] == outcome for r in tests)}/{len(tests)}" if len(
                {r["outcome"] for r in tests}) > 1 else ""
            detail = f"d{n}-{i}"
            cell_marks = {r["nodeid"]: marks.get((r["nodeid"], col["version"])) for r in tests}
            kinds = {m[0] for m in cell_marks.values() if m}
            mark = "regressed" if "regressed" in kinds else ("fixed" if kinds else "")
            if mark:
                mixed += MARKS[mark][0]
            out.append(
                f"<td class='cell {outcome} {mark}' data-outcome='{outcome}' "
                f"data-detail='{detail}' "
                f"tabindex='0' role='button' aria-expanded='false' style='{_cell_style(outcome)}' "
                f"title='{escape(name)} {escape(col['key'])}: {outcome}'>"
                f"{escape(SYMBOLS[outcome])}{mixed}</td>"
            )
            details.append(
                f"<tr class='detail' id='{detail}' hidden><td colspan='{width}'>"
                f"<b>{escape(name)}</b> on <b>{escape(col['key'])}</b>: "
                + "".join(_record_html(r, base_dir, cell_marks[r["nodeid"]]) for r in tests)
                + "</td></tr>"
            )
        out.append("</tr>")
        out += details
    out.append(f"</tbody></table><script>{JS}</script></body></html>")
    return "\n".join(out)


def _changes_html(d: ReportDiff) -> str:
    """What changed since the baseline, above the matrix."""
    cls = "changes" if d.has_regressions else "changes clean"
    parts = [f"<div class='{cls}'><p><b>since the baseline:</b> {escape(d.summary())}</p><ul>"]
    for c in (*d.regressions, *d.new_failures):
        parts.append(f"<li>{MARKS['regressed'][0]} <code>{escape(c.nodeid)}</code> "
                     f"({escape(c.where)}): {escape(c.old or 'new')} → {escape(str(c.new))}</li>")
    for c in d.fixes:
        parts.append(f"<li>{MARKS['fixed'][0]} <code>{escape(c.nodeid)}</code> "
                     f"({escape(c.where)}): {escape(str(c.old))} → {escape(str(c.new))}</li>")
    for words, names in d.coverage_changes():
        parts.append(f"<li>{words}: {escape(', '.join(names))}</li>")
    parts.append("</ul></div>")
    return "".join(parts)


def write_html(
    report: Report,
    path: str | os.PathLike[str],
    *,
    history: list[Report] | None = None,
    changes: ReportDiff | None = None,
    title: str = "memif interop report",
) -> Path:
    """Write :func:`to_html` to ``path`` (artifact links relative to its directory)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    page = to_html(report, base=target.parent, history=history, changes=changes, title=title)
    target.write_text(page, encoding="utf-8")
    return target
