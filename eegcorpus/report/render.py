"""The report page: one HTML file with its CSS, scripts, figures (inline SVG) and data inline,
which opens without a network connection."""

from __future__ import annotations

import json
import math
from html import escape

from eegcorpus.report.content import EXCERPT_POINTS, EXCERPT_VALUES, RecordingRow, ReportContent
from eegcorpus.report.qc import FLAT_STD_UV, HIGH_AMPLITUDE_UV, SATURATION_FRACTION, SATURATION_MIN_SAMPLES, SHORT_DURATION_S

#: The failures table shows at most this many rows (the count of all of them is given).
FAILURES_SHOWN = 1000

#: The flags, in the order of the table's columns: key (used by the flag filter), column heading,
#: name in the flag filter.
FLAGS = (("flat", "Flat", "flat"), ("saturated", "Saturated", "saturated"), ("high_amplitude", "High amp.", "high amplitude"), ("short", "Short", "short"))

CSS = """
:root { --fg: #1d2733; --muted: #5b6673; --line: #d8dee6; --bg: #ffffff; --panel: #f5f7fa;
  --accent: #1f4e79; --flag: #b3261e; --warn-bg: #fdecea; --ok: #2e7d32; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--fg); background: var(--bg); }
header { padding: 18px 32px 10px; border-bottom: 1px solid var(--line); background: var(--panel); }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 2px 0; color: var(--muted); }
header code { color: var(--fg); }
nav { display: flex; gap: 18px; padding: 8px 32px; border-bottom: 1px solid var(--line); background: var(--bg); }
nav a { color: var(--accent); text-decoration: none; font-weight: 600; }
main { padding: 8px 32px 40px; max-width: 1600px; }
h2 { font-size: 18px; margin: 26px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--accent); }
h3 { font-size: 15px; margin: 18px 0 6px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap: 10px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
.card .v { font-size: 20px; font-weight: 700; }
.card .k { color: var(--muted); font-size: 12px; }
.card.bad .v { color: var(--flag); }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.small { font-size: 12px; color: var(--muted); }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 16px; }
figure { margin: 0; background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 10px; }
figure h3 { margin: 0 0 6px; }
figure .plot svg { display: block; width: 100%; height: auto; max-height: 520px; }
figure.wide { grid-column: 1 / -1; }
figure.tall { grid-row: span 2; display: flex; flex-direction: column; }
figure.tall .plot { flex: 1; display: flex; align-items: center; }
figure.tall .plot svg { max-height: 640px; }
figure:not(.tall):not(.wide) .plot svg { max-height: 330px; }
figure.wide .plot { overflow-x: auto; }
figure.wide .plot svg { min-width: 900px; max-height: 420px; }
figcaption { color: var(--muted); font-size: 12px; margin-top: 6px; }
.legend { display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 6px 18px; margin: 6px 0 12px; }
.legend div { font-size: 12px; color: var(--muted); }
.legend b { color: var(--fg); }
.controls { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin: 8px 0; }
.controls input, .controls select { font: inherit; padding: 5px 8px; border: 1px solid var(--line); border-radius: 4px; }
.controls input { width: 340px; }
#row-count { color: var(--muted); }
.table-wrap { max-height: 460px; overflow: auto; border: 1px solid var(--line); border-radius: 6px; }
#recordings-table { width: 100%; }
#recordings-table thead th { vertical-align: bottom; max-width: 110px; position: sticky; top: 0; z-index: 1; cursor: pointer; user-select: none; }
#recordings-table thead th:hover { background: #e8edf3; }
#recordings-table th[aria-sort="ascending"]::after { content: " \\25B2"; font-size: 10px; }
#recordings-table th[aria-sort="descending"]::after { content: " \\25BC"; font-size: 10px; }
#recordings-table tbody tr { cursor: pointer; }
#recordings-table tbody tr:hover { background: #f0f4f9; }
#recordings-table tbody tr.flagged td:first-child { box-shadow: inset 3px 0 0 var(--flag); }
#recordings-table tbody tr.selected { background: #dce8f5; }
#recordings-table tbody tr:focus { outline: 2px solid var(--accent); outline-offset: -2px; }
.flag { color: var(--flag); font-weight: 600; }
td.flags { white-space: nowrap; }
.chs { color: var(--muted); font-weight: 400; display: inline-block; max-width: 150px; overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap; vertical-align: bottom; }
.dot { color: var(--accent); }
.err { color: var(--flag); font-size: 12px; }
#signal-panel { margin-top: 14px; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; background: var(--panel); }
#signal-panel h3 { margin: 0 0 4px; }
#signal-canvas { display: block; margin-top: 6px; background: #fff; border: 1px solid var(--line); }
.none { color: var(--muted); font-style: italic; }
.nowrap { white-space: nowrap; }
.failures td.error { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var table = document.getElementById("recordings-table");
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var filterInput = document.getElementById("filter");
  var flagSelect = document.getElementById("flag-filter");
  var rowCount = document.getElementById("row-count");
  var canvas = document.getElementById("signal-canvas");
  var title = document.getElementById("signal-title");
  var note = document.getElementById("signal-note");
  var current = null;

  function applyFilter() {
    var query = filterInput.value.trim().toLowerCase();
    var flag = flagSelect.value;
    var shown = 0;
    rows.forEach(function (tr) {
      var flags = tr.dataset.flags ? tr.dataset.flags.split(" ") : [];
      var ok = !query || tr.dataset.text.indexOf(query) !== -1;
      if (ok && flag === "any") { ok = flags.length > 0; }
      else if (ok && flag === "none") { ok = flags.length === 0; }
      else if (ok && flag !== "all") { ok = flags.indexOf(flag) !== -1; }
      tr.hidden = !ok;
      if (ok) { shown += 1; }
    });
    rowCount.textContent = shown + " of " + rows.length + " recordings shown";
  }

  function sortValue(tr, index, numeric) {
    var cell = tr.cells[index];
    var raw = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
    if (raw.trim() === "") { return null; }
    if (!numeric) { return raw.toLowerCase(); }
    var value = parseFloat(raw);
    return isNaN(value) ? null : value;
  }

  function sortBy(th) {
    var index = th.cellIndex;
    var numeric = th.dataset.type === "num";
    var direction = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    var keyed = rows.map(function (tr, position) { return [sortValue(tr, index, numeric), position, tr]; });
    keyed.sort(function (a, b) {
      if (a[0] === null || b[0] === null) {  // missing values last, whatever the direction
        return a[0] === b[0] ? a[1] - b[1] : (a[0] === null ? 1 : -1);
      }
      var order = numeric ? a[0] - b[0] : a[0].localeCompare(b[0], undefined, { numeric: true });
      return order !== 0 ? direction * order : a[1] - b[1];
    });
    rows = keyed.map(function (k) { return k[2]; });
    var fragment = document.createDocumentFragment();
    rows.forEach(function (tr) { fragment.appendChild(tr); });
    tbody.appendChild(fragment);
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) { cell.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", direction === 1 ? "ascending" : "descending");
  }

  function niceStep(span, target) {
    var raw = span / Math.max(1, target);
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) { if (steps[i] * power >= raw) { return steps[i] * power; } }
    return 10 * power;
  }

  function median(values) {
    if (!values.length) { return 0; }
    var s = values.slice().sort(function (a, b) { return a - b; });
    var m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  }

  function draw(rid, excerpt) {
    var names = excerpt.names;
    var flagged = {};
    (excerpt.flagged || []).forEach(function (name) { flagged[name] = true; });
    var nChannels = names.length;
    var nPoints = nChannels ? excerpt.values[0].length : 0;
    var rowHeight = nChannels > 48 ? 11 : nChannels > 24 ? 15 : 24;
    var left = 64, right = 70, top = 8, bottom = 34;
    var width = Math.max(480, canvas.parentElement.clientWidth - 26);
    var height = top + bottom + rowHeight * Math.max(1, nChannels);
    var ratio = window.devicePixelRatio || 1;
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    var ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, width, height);
    var step = excerpt.step_uv;
    var centred = excerpt.values.map(function (trace) {
      var mean = 0;
      trace.forEach(function (v) { mean += v; });
      mean /= Math.max(1, trace.length);
      return trace.map(function (v) { return (v - mean) * step; });
    });
    var spreads = centred.map(function (trace) {
      var sum = 0;
      trace.forEach(function (v) { sum += v * v; });
      return Math.sqrt(sum / Math.max(1, trace.length));
    });
    var spacing = 6 * median(spreads.filter(function (s) { return s > 0; }));
    if (!(spacing > 0)) { spacing = 1; }
    var bar = niceStep(spacing / 2, 1);
    var gain = rowHeight / spacing;
    var plotWidth = width - left - right;
    var duration = excerpt.dt_s * Math.max(1, nPoints - 1);
    ctx.font = "10px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.strokeStyle = "#e3e8ee";
    ctx.lineWidth = 1;
    var tick = niceStep(duration, 8);
    ctx.fillStyle = "#5b6673";
    ctx.textAlign = "center";
    var firstTick = Math.ceil(excerpt.start_s / tick) * tick;
    for (var t = firstTick; t <= excerpt.start_s + duration + 1e-9; t += tick) {
      var x = left + (t - excerpt.start_s) / duration * plotWidth;
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, height - bottom); ctx.stroke();
      ctx.fillText((Math.round(t * 1000) / 1000) + "", x, height - bottom + 10);
    }
    ctx.fillText("time in the recording (s)", left + plotWidth / 2, height - 9);
    ctx.save();
    ctx.beginPath(); ctx.rect(left, top, plotWidth, height - top - bottom); ctx.clip();
    centred.forEach(function (trace, c) {
      var y0 = top + rowHeight * (c + 0.5);
      ctx.strokeStyle = flagged[names[c]] ? "#b3261e" : "#1f4e79";
      ctx.lineWidth = 1;
      ctx.beginPath();
      trace.forEach(function (v, i) {
        var xx = left + (nPoints > 1 ? i / (nPoints - 1) : 0) * plotWidth;
        var yy = y0 - v * gain;
        if (i === 0) { ctx.moveTo(xx, yy); } else { ctx.lineTo(xx, yy); }
      });
      ctx.stroke();
    });
    ctx.restore();
    var barX = width - right + 16, barBottom = height - bottom - 4;
    ctx.strokeStyle = "#1d2733";
    ctx.lineWidth = 2;
    ctx.beginPath(); ctx.moveTo(barX, barBottom); ctx.lineTo(barX, barBottom - bar * gain); ctx.stroke();
    ctx.fillStyle = "#1d2733";
    ctx.textAlign = "left";
    ctx.fillText(bar + " \u00b5V", barX + 5, barBottom - bar * gain / 2);
    ctx.textAlign = "right";
    names.forEach(function (name, c) {
      ctx.fillStyle = flagged[name] ? "#b3261e" : "#1d2733";
      ctx.fillText(name, left - 6, top + rowHeight * (c + 0.5));
    });
    canvas.dataset.drawn = rid;
    note.textContent = nChannels + " channels, " + duration.toFixed(1) + " s from " + excerpt.start_s.toFixed(1) +
      " s of the recording; channels drawn " + Math.round(spacing) + " \u00b5V apart (six times the median RMS of the excerpt; " +
      "the bar on the right is " + bar + " \u00b5V); flagged channels in red.";
  }

  function select(tr) {
    if (current) { current.classList.remove("selected"); }
    current = tr;
    tr.classList.add("selected");
    var rid = tr.dataset.id;
    title.textContent = "Signal: " + rid;
    var excerpt = data.excerpts[rid];
    if (!excerpt) {
      canvas.hidden = true;
      canvas.dataset.drawn = "";
      note.textContent = "No excerpt of this recording is embedded: " + data.excerpt_note;
      return;
    }
    canvas.hidden = false;
    draw(rid, excerpt);
  }

  table.tHead.addEventListener("click", function (event) {
    var th = event.target.closest("th");
    if (th) { sortBy(th); }
  });
  tbody.addEventListener("click", function (event) {
    var tr = event.target.closest("tr");
    if (tr) { select(tr); }
  });
  tbody.addEventListener("keydown", function (event) {
    var tr = event.target.closest("tr");
    if (tr && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); select(tr); }
  });
  filterInput.addEventListener("input", applyFilter);
  flagSelect.addEventListener("change", applyFilter);
  window.addEventListener("resize", function () {
    if (current && data.excerpts[current.dataset.id]) { draw(current.dataset.id, data.excerpts[current.dataset.id]); }
  });
  applyFilter();
})();
"""


def _e(value) -> str:
    return escape("" if value is None else str(value))


def _num(value, digits: int = 1) -> tuple[str, str]:
    """(shown text, sort value) of a number; blank for a missing one."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "", ""
    return f"{value:.{digits}f}", f"{value:.6g}"


def _when(value) -> str:
    """An ISO timestamp as ``2026-01-31 12:00:00 UTC`` (anything else as it is)."""
    text = "" if value is None else str(value)
    if len(text) >= 19 and text[10] == "T":
        return text[:10] + " " + text[11:19] + (" UTC" if text[19:] in ("+00:00", "Z") else text[19:])
    return text


def _hours(value: float) -> str:
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"


def _json_for_script(obj) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``<`` at all)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _table(headers: list[str], rows: list[list[str]], cls: str = "", num: set[int] | None = None) -> str:
    num = num or set()
    head = "".join(f'<th class="num">{h}</th>' if i in num else f"<th>{h}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in num else f"<td>{c}</td>" for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _summary(content: ReportContent) -> str:
    stats = content.stats
    flagged = sum(1 for r in content.rows if r.flags.any)
    unreadable = sum(1 for r in content.rows if r.error)
    cards = [
        ("recordings", str(stats["recordings"]), False),
        ("subjects", str(stats["subjects"]), False),
        ("hours", _hours(stats["hours"]), False),
        ("datasets", str(len(content.datasets)), False),
        ("channel names", str(len(stats["channels"])), False),
        ("flagged recordings", str(flagged), flagged > 0),
        ("failures", str(content.n_failures), content.n_failures > 0),
    ]
    if unreadable:
        cards.append(("unreadable", str(unreadable), True))
    out = ['<section id="summary"><h2>Summary</h2><div class="cards">']
    out += [f'<div class="card{" bad" if bad else ""}"><div class="v">{_e(v)}</div><div class="k">{_e(k)}</div></div>' for k, v, bad in cards]
    out.append("</div><h3>Datasets</h3>")
    out.append(
        _table(
            ["dataset", "recordings", "subjects", "hours", "sampling rate (Hz)", "channels", "profile"],
            [
                [
                    _e(d["dataset"]),
                    str(d["recordings"]),
                    str(d["subjects"]),
                    _hours(d["hours"]),
                    _e(", ".join(f"{v:g}" for v in d["sfreq"])),
                    _e(", ".join(map(str, d["channels"]))),
                    _e(", ".join(d["profiles"])),
                ]
                for d in content.datasets
            ],
            num={1, 2, 3},
        )
    )
    if stats.get("quantum_uv"):
        steps = ", ".join(f"{k} uV ({v} recordings)" for k, v in stats["quantum_uv"].items())
        out.append(f'<p class="small">Storage step (int16): {_e(steps)}.</p>')
    out.append("<h3>Profiles</h3>")
    if content.profiles:
        rows = []
        for p in content.profiles:
            params = p["params"] or {}
            shown = ", ".join(f"{k} {params[k]}" for k in ("l_freq", "h_freq", "notch", "sfreq", "storage", "quantum_uv", "channel_types") if k in params)
            rows.append(
                [
                    _e(p["profile"]),
                    f"<code>{_e(str(p['digest'])[:12])}</code>",
                    _e(p["pipeline_version"]),
                    str(p["recordings"]),
                    _e(params.get("description", "")),
                    _e(shown),
                ]
            )
        out.append(_table(["profile", "digest", "pipeline", "recordings", "description", "parameters"], rows, num={3}))
    else:
        out.append('<p class="none">No recordings.</p>')
    out.append("<h3>Builds</h3>")
    if content.builds:
        rows = [
            [
                f'<span class="nowrap">{_e(_when(b.get("finished")))}</span>',
                _e(b.get("dataset")),
                _e(b.get("profile")),
                _e(b.get("written")),
                _e(b.get("skipped")),
                _e(b.get("failed")),
                _e(b.get("hours")),
                _e(b.get("seconds")),
                _e(", ".join(f"{k} {v}" for k, v in (b.get("versions") or {}).items())),
            ]
            for b in content.builds
        ]
        out.append(_table(["finished", "dataset", "profile", "written", "skipped", "failed", "hours", "seconds", "versions"], rows, num={3, 4, 5, 6, 7}))
    else:
        out.append('<p class="none">No build recorded (tables/builds.json is empty).</p>')
    if content.versions:
        out.append("<h3>Software versions of the recordings</h3><ul>")
        for versions, n in content.versions:
            text = ", ".join(f"{k} {v}" for k, v in versions.items()) or "not recorded"
            out.append(f"<li>{_e(text)} <span class='small'>({n} recordings)</span></li>")
        out.append("</ul>")
    out.append("</section>")
    return "".join(out)


def _figures(figures: list[dict]) -> str:
    out = ['<section id="figures"><h2>Figures</h2><div class="figures">']
    for fig in figures:
        wide = {"amplitude": " wide", "coverage": " tall"}.get(fig["key"], "")
        plot = fig["svg"] if fig["svg"] is not None else '<p class="none">Nothing to draw: no recording carries these summaries.</p>'
        out.append(
            f'<figure class="figure{wide}" id="figure-{fig["key"]}" data-figure="{fig["key"]}"><h3>{_e(fig["title"])}</h3>'
            f'<div class="plot">{plot}</div><figcaption>{_e(fig["caption"])}</figcaption></figure>'
        )
    out.append("</div></section>")
    return "".join(out)


def _legend() -> str:
    return (
        '<div class="legend">'
        f"<div><b>Flat</b>: a channel whose standard deviation is below {FLAT_STD_UV:g} uV (disconnected, or bridged to the reference).</div>"
        f"<div><b>Saturated</b>: a channel at its own minimum or maximum in more than {SATURATION_FRACTION:g} of its samples and at least "
        f"{SATURATION_MIN_SAMPLES} (clipping), on the stored signal or on the raw signal the build saw.</div>"
        f"<div><b>High amp.</b>: a channel whose robust standard deviation (1.4826 x median absolute deviation) exceeds {HIGH_AMPLITUDE_UV:g} uV.</div>"
        f"<div><b>Short</b>: a recording shorter than {SHORT_DURATION_S:g} s.</div>"
        "</div>"
    )


def _flag_cell(names: list[str]) -> str:
    if not names:
        return '<td class="num" data-v="0"></td>'
    listed = ", ".join(names)
    return f'<td class="flags" data-v="{len(names)}" title="{_e(listed)}"><span class="flag">{len(names)}</span> <span class="chs">{_e(listed)}</span></td>'


def _row(row: RecordingRow, columns: list[str]) -> str:
    flags = [key for key, _, _ in FLAGS if getattr(row.flags, key)]
    if row.error:
        flags.append("unreadable")
    texts = [row.recording_id, row.dataset, row.subject, row.session, row.run, row.task, row.label]
    channel_names = row.flags.flat + row.flags.saturated + row.flags.high_amplitude
    search = " ".join(t for t in [*texts, *flags, *channel_names] if t).lower()
    cells = []
    rid = _e(row.recording_id)
    if row.error:
        cells.append(f'<td data-v="{rid}">{rid}<div class="err">unreadable: {_e(row.error)}</div></td>')
    else:
        cells.append(f"<td>{rid}</td>")
    for key in columns:
        cells.append(f"<td>{_e(getattr(row, key))}</td>")
    for value, digits in ((row.duration_s, 1), (row.sfreq, 0), (row.n_channels, 0), (row.robust_sd_median_uv, 1), (row.robust_sd_max_uv, 1)):
        text, key = _num(float(value) if value is not None else None, digits)
        cells.append(f'<td class="num" data-v="{key}">{text}</td>')
    cells.append(_flag_cell(row.flags.flat))
    cells.append(_flag_cell(row.flags.saturated))
    cells.append(_flag_cell(row.flags.high_amplitude))
    cells.append(f'<td data-v="{int(row.flags.short)}">{"<span class=flag>short</span>" if row.flags.short else ""}</td>')
    cells.append(f'<td data-v="{int(row.has_signal)}">{"<span class=dot>&#9679;</span>" if row.has_signal else ""}</td>')
    classes = "flagged" if flags else ""
    return f'<tr data-id="{rid}" data-flags="{" ".join(flags)}" data-text="{_e(search)}" class="{classes}" tabindex="0">{"".join(cells)}</tr>'


def _recordings(content: ReportContent) -> tuple[str, str]:
    """The recordings section, and its note on the embedded excerpts."""
    rows = content.rows
    optional = [key for key in ("session", "run", "task", "label") if any(getattr(r, key) is not None for r in rows)]
    headers = [("Recording", "text", "")] + [(key.capitalize(), "text", "") for key in ["dataset", "subject", *optional]]
    headers += [
        ("Duration (s)", "num", "num"),
        ("Rate (Hz)", "num", "num"),
        ("Channels", "num", "num"),
        ("Robust SD, median (µV)", "num", "num"),
        ("Robust SD, max (µV)", "num", "num"),
    ]
    headers += [(heading, "num", "") for _, heading, _ in FLAGS]
    headers.append(("Signal", "num", ""))
    head = "".join(f'<th data-type="{kind}" class="{cls}" scope="col">{_e(h)}</th>' for h, kind, cls in headers)
    body = "".join(_row(r, ["dataset", "subject", *optional]) for r in rows)
    options = [("all", "all recordings"), ("any", "any flag"), ("none", "no flag")] + [(key, label) for key, _, label in FLAGS]
    if any(r.error for r in rows):
        options.append(("unreadable", "unreadable"))
    select = "".join(f'<option value="{k}">{_e(label)}</option>' for k, label in options)
    n_signal = sum(1 for r in rows if r.has_signal)
    note = (
        f"Signal excerpts are embedded for {n_signal} of {len(rows)} recordings (at most {content.max_recordings_with_signal}: flagged recordings first, "
        f"then the others in table order; marked in the Signal column): {content.signal_seconds:g} s from the middle of each recording, at most "
        f"{EXCERPT_POINTS} points per channel and {EXCERPT_VALUES} values per recording (minimum and maximum of consecutive samples when reduced)."
    )
    return (
        '<section id="recordings"><h2>Recordings</h2>'
        f"{_legend()}"
        '<div class="controls"><input type="search" id="filter" placeholder="Filter: recording, dataset, task, channel..." aria-label="Filter the recordings">'
        f'<select id="flag-filter" aria-label="Filter by flag">{select}</select><span id="row-count"></span></div>'
        f'<div class="table-wrap"><table id="recordings-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
        '<div id="signal-panel"><h3 id="signal-title">Signal</h3>'
        '<p id="signal-note" class="small">Click a row of the table to draw its signal.</p><canvas id="signal-canvas" hidden></canvas></div>'
        f'<p class="small" id="excerpt-note">{_e(note)}</p></section>'
    ), note


def _failures(content: ReportContent) -> str:
    out = [f'<section id="failures"><h2>Failures ({content.n_failures})</h2>']
    if not content.failures:
        out.append('<p class="none">No failures: every input the builds found was stored.</p>')
    else:
        shown = content.failures[:FAILURES_SHOWN]
        rows = [[_e(f.get("file")), _e(f.get("stage")), _e(f.get("error"))] for f in shown]
        out.append(_table(["file", "stage", "error"], rows, cls="failures"))
        if len(content.failures) > FAILURES_SHOWN:
            out.append(f'<p class="small">The first {FAILURES_SHOWN} of {len(content.failures)} failures; all are in tables/failures.json.</p>')
    out.append("</section>")
    return "".join(out)


def render_html(content: ReportContent, figures: list[dict], version: str) -> str:
    """The whole page.

    Parameters
    ----------
    content : ReportContent
        What :func:`eegcorpus.report.content.collect_report` gathered.
    figures : list of dict
        :func:`eegcorpus.report.figures.report_figures`.
    version : str
        eegcorpus's version, named in the page's header.

    Returns
    -------
    html : str
    """
    recordings, excerpt_note = _recordings(content)
    flagged_channels = {r.recording_id: sorted(set(r.flags.flat + r.flags.saturated + r.flags.high_amplitude)) for r in content.rows}
    excerpts = {rid: {**excerpt, "flagged": flagged_channels.get(rid, [])} for rid, excerpt in content.excerpts.items()}
    data = {"excerpts": excerpts, "excerpt_note": excerpt_note}
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>QC report: {_e(content.store)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>EEG store QC report</h1><p>Store <code>{_e(content.store)}</code></p>"
        f"<p>Made {_e(_when(content.created))} by eegcorpus {_e(version)}</p></header>"
        '<nav><a href="#summary">Summary</a><a href="#figures">Figures</a><a href="#recordings">Recordings</a>'
        f'<a href="#failures">Failures ({content.n_failures})</a></nav><main>'
        f"{_summary(content)}{_figures(figures)}{recordings}{_failures(content)}</main>"
        f'<script type="application/json" id="report-data">{_json_for_script(data)}</script>'
        f"<script>{SCRIPT}</script></body></html>\n"
    )
