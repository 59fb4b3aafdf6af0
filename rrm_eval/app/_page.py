"""The app's one page: static HTML, a stylesheet and a script, served from this module (no build step, no CDN).

The script builds every element with ``createElement`` and puts all text in with ``textContent``: model outputs and
data rows (which hold adversarial HTML/JS on purpose) are only ever text. It never assigns markup from a string.
"""

from __future__ import annotations

PAGE_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rrm-eval</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header>
  <strong>rrm-eval</strong>
  <nav>
    <button id="tab-runs" class="tab" type="button">Runs</button>
    <button id="tab-playground" class="tab" type="button">Judge playground</button>
  </nav>
  <span id="status" role="status"></span>
</header>
<main>
  <section id="view-runs">
    <h2>Runs <small id="runs-dir"></small></h2>
    <table id="runs-table"><thead><tr>
      <th>run</th><th>kind</th><th>task</th><th>judge</th><th>model</th><th>items</th><th>headline</th><th>state</th>
    </tr></thead><tbody></tbody></table>
    <section id="run-view" hidden>
      <h2 id="run-title"></h2>
      <p id="run-note"></p>
      <table id="scores-table"><thead><tr>
        <th>group</th><th>name</th><th>value</th><th>95% interval</th><th>n</th>
      </tr></thead><tbody></tbody></table>
      <div id="figures"></div>
      <h3>Records</h3>
      <form id="filters">
        <label>subset <select id="filter-subset"><option value="">all</option></select></label>
        <label>failure <select id="filter-failure"><option value="">all</option><option value="any">any failure</option>
          <option value="none">no failure</option></select></label>
        <label>correctness <select id="filter-correct"><option value="">all</option><option>correct</option>
          <option>wrong</option><option>tie</option><option>failed</option></select></label>
        <label>order flip <select id="filter-flip"><option value="">all</option><option value="yes">flips</option>
          <option value="no">consistent</option></select></label>
        <label>search <input id="filter-q" type="search" placeholder="text in output or item id"></label>
        <button id="filter-apply" type="submit">Filter</button>
      </form>
      <p id="records-count"></p>
      <table id="records-table"><thead><tr>
        <th>item</th><th>subset</th><th>order</th><th>sample</th><th>verdict</th><th>correct</th><th>failure</th>
        <th>flip</th><th>end of output</th>
      </tr></thead><tbody></tbody></table>
      <div class="pager"><button id="page-prev" type="button">previous</button>
        <span id="page-info"></span><button id="page-next" type="button">next</button></div>
      <section id="record-view" hidden></section>
    </section>
  </section>
  <section id="view-playground" hidden>
    <h2>Judge playground</h2>
    <p id="pg-model"></p>
    <div class="pick">
      <label>from run <select id="pg-run-select"><option value="">(none)</option></select></label>
      <label>item id <input id="pg-item" type="text"></label>
      <button id="pg-load" type="button">Load row</button>
    </div>
    <label class="block">Question <textarea id="pg-question" rows="4"></textarea></label>
    <label class="block">Answer A <textarea id="pg-a" rows="5"></textarea></label>
    <label class="block">Answer B <textarea id="pg-b" rows="5"></textarea></label>
    <label>judge <select id="pg-judge"></select></label>
    <label>order <select id="pg-order"><option value="both">both (AB and BA)</option><option value="AB">AB</option>
      <option value="BA">BA</option></select></label>
    <button id="pg-run" type="button">Judge</button>
    <p id="pg-status"></p>
    <div id="pg-outputs"></div>
  </section>
</main>
</body>
</html>
"""

APP_CSS = """
:root { color-scheme: light dark; --fg: #1b1b1b; --bg: #fff; --muted: #666; --line: #ccc; --bad: #b00020;
  --good: #1b7f3b; --accent: #2457c5; }
@media (prefers-color-scheme: dark) { :root { --fg: #e8e8e8; --bg: #16181c; --muted: #9aa; --line: #444;
  --bad: #ff6b7f; --good: #5fd38a; --accent: #8fb0ff; } }
body { font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); margin: 0; }
header { display: flex; gap: 1em; align-items: center; padding: .5em 1em; border-bottom: 1px solid var(--line); }
main { padding: 0 1em 2em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid var(--line); padding: .2em .5em; text-align: left; vertical-align: top; }
td.snippet { font-family: monospace; white-space: pre-wrap; max-width: 40em; overflow-wrap: anywhere; }
tr.unreadable td { color: var(--bad); }
tr.clickable { cursor: pointer; }
tr.clickable:hover { background: color-mix(in srgb, var(--accent) 12%, transparent); }
pre { white-space: pre-wrap; overflow-wrap: anywhere; border: 1px solid var(--line); padding: .5em; }
.tab.active { font-weight: bold; }
.error { color: var(--bad); }
.correct { color: var(--good); }
.wrong, .failed { color: var(--bad); }
label.block { display: block; margin: .5em 0; }
label.block textarea { display: block; width: 100%; }
.pager { display: flex; gap: 1em; align-items: center; }
figure img { max-width: 100%; background: #fff; }
.verdict { font-weight: bold; }
"""

APP_JS = r"""
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const state = { run: null, offset: 0, limit: 50, matched: 0 };

  // Every element is made here and every piece of text goes in through textContent.
  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function fmt(v) { return typeof v === "number" ? v.toFixed(4) : (v === null || v === undefined ? "" : String(v)); }
  function status(text, bad) { const s = $("status"); s.textContent = text || ""; s.className = bad ? "error" : ""; }

  async function api(url, options) {
    const res = await fetch(url, options);
    const type = res.headers.get("content-type") || "";
    const body = type.includes("json") ? await res.json() : null;
    if (!res.ok) {
      const msg = body && body.error ? body.error + (body.hint ? " (" + body.hint + ")" : "") : "HTTP " + res.status;
      throw new Error(msg);
    }
    return body;
  }

  function show(view) {
    $("view-runs").hidden = view !== "runs";
    $("view-playground").hidden = view !== "playground";
    $("tab-runs").classList.toggle("active", view === "runs");
    $("tab-playground").classList.toggle("active", view === "playground");
  }

  // -- run browser -------------------------------------------------------------------------------------------------
  async function loadRuns() {
    const data = await api("/api/runs");
    $("runs-dir").textContent = data.runs_dir;
    const body = $("runs-table").tBodies[0];
    clear(body);
    const pick = $("pg-run-select");
    for (const run of data.runs) {
      const tr = el("tr");
      tr.dataset.run = run.id;
      const name = el("td");
      if (run.readable) {
        const link = el("a", run.id, "run-link");
        link.href = "#run=" + encodeURIComponent(run.id);
        link.addEventListener("click", (ev) => { ev.preventDefault(); guard(openRun)(run.id); });
        name.appendChild(link);
      } else {
        name.textContent = run.id;
        tr.className = "unreadable";
      }
      tr.appendChild(name);
      for (const v of [run.kind, run.task, run.judge, run.model, run.items]) tr.appendChild(el("td", v));
      tr.appendChild(el("td", run.headline === null ? "" : fmt(run.headline) + " " + (run.headline_name || "")));
      tr.appendChild(el("td", run.readable ? (run.note || "ok") : "unreadable: " + run.error));
      body.appendChild(tr);
      if (run.readable && run.kind === "pairwise") pick.appendChild(option(run.id, run.id));
    }
  }

  function option(value, text) { const o = el("option", text); o.value = value; return o; }

  async function openRun(id) {
    const data = await api("/api/runs/" + encodeURIComponent(id));
    state.run = id;
    state.offset = 0;
    $("run-view").hidden = false;
    $("record-view").hidden = true;
    $("run-title").textContent = id;
    $("run-note").textContent = data.run.note || "";
    const body = $("scores-table").tBodies[0];
    clear(body);
    for (const row of data.scores) {
      const tr = el("tr");
      const iv = row.lo === null ? "" : "[" + fmt(row.lo) + ", " + fmt(row.hi) + "]";
      for (const v of [row.group, row.name, fmt(row.value), iv, row.n]) tr.appendChild(el("td", v));
      body.appendChild(tr);
    }
    const figs = $("figures");
    clear(figs);
    if (data.figure_error) figs.appendChild(el("p", "figures failed: " + data.figure_error, "error"));
    else if (!data.figures_available) figs.appendChild(el("p", "figures appear here once rrm_eval.report exists"));
    for (const fig of data.figures) {
      const f = el("figure");
      const img = el("img");
      img.src = "/api/runs/" + encodeURIComponent(id) + "/figures/" + fig.index + ".svg";
      img.alt = fig.caption;
      if (fig.title) f.appendChild(el("h4", fig.title));
      f.appendChild(img);
      f.appendChild(el("figcaption", fig.caption));
      figs.appendChild(f);
    }
    fillSelect($("filter-subset"), data.facets.subsets);
    fillSelect($("filter-failure"), data.facets.failures, 3);
    $("filter-correct").disabled = !data.facets.has_correctness;
    $("filter-flip").disabled = !data.facets.has_flips;
    await loadRecords();
  }

  function fillSelect(select, values, keep) {
    while (select.options.length > (keep || 1)) select.remove(select.options.length - 1);
    for (const v of values) select.appendChild(option(v, v));
  }

  async function loadRecords() {
    const params = new URLSearchParams({ offset: String(state.offset), limit: String(state.limit) });
    for (const [name, id] of [["subset", "filter-subset"], ["failure", "filter-failure"],
      ["correct", "filter-correct"], ["flip", "filter-flip"], ["q", "filter-q"]]) {
      const v = $(id).value;
      if (v && !$(id).disabled) params.set(name, v);
    }
    const data = await api("/api/runs/" + encodeURIComponent(state.run) + "/records?" + params.toString());
    state.matched = data.matched;
    $("records-count").textContent = data.matched + " of " + data.total + " records match";
    const body = $("records-table").tBodies[0];
    clear(body);
    for (const row of data.rows) {
      const tr = el("tr", null, "clickable");
      tr.dataset.key = row.key;
      const flip = row.flip === null ? "" : (row.flip ? "flips" : "consistent");
      for (const v of [row.item_id, row.subset, row.order, row.sample, row.verdict]) tr.appendChild(el("td", v));
      tr.appendChild(el("td", row.correct, row.correct || ""));
      tr.appendChild(el("td", row.failure));
      tr.appendChild(el("td", flip));
      tr.appendChild(el("td", row.snippet, "snippet"));
      tr.addEventListener("click", () => openRecord(row.key).catch((e) => status(e.message, true)));
      body.appendChild(tr);
    }
    const last = Math.min(data.offset + data.rows.length, data.matched);
    $("page-info").textContent = data.matched ? (data.offset + 1) + "–" + last : "no records";
    $("page-prev").disabled = data.offset === 0;
    $("page-next").disabled = last >= data.matched;
  }

  function field(parent, name, value) {
    const p = el("p");
    p.appendChild(el("strong", name + ": "));
    p.appendChild(el("span", value === null || value === undefined ? "—" : value));
    parent.appendChild(p);
  }

  async function openRecord(key) {
    const data = await api("/api/runs/" + encodeURIComponent(state.run) + "/record?key=" + encodeURIComponent(key));
    const rec = data.record;
    const view = $("record-view");
    clear(view);
    view.hidden = false;
    view.appendChild(el("h3", "Record " + rec.key));
    const verdict = el("section", null, "parsed");
    verdict.appendChild(el("h4", "Parsed verdict"));
    field(verdict, "verdict (position)", rec.verdict);
    field(verdict, "correctness", data.correct);
    field(verdict, "bound to (extracted span)", rec.extracted);
    field(verdict, "failure", rec.failure);
    field(verdict, "lenient reading", rec.lenient);
    field(verdict, "finish reason", rec.finish_reason);
    if (rec.error) field(verdict, "error", rec.error);
    view.appendChild(verdict);
    view.appendChild(el("h4", "Raw output"));
    if (data.thinking !== null) {
      const det = el("details", null, "thinking");
      det.appendChild(el("summary", "thinking (" + data.thinking.length + " characters)"));
      det.appendChild(el("pre", data.thinking));
      view.appendChild(det);
    }
    view.appendChild(el("pre", data.answer, "answer"));
    view.appendChild(el("h4", "Rendered prompt"));
    view.appendChild(el("pre", rec.prompt === null || rec.prompt === undefined ? "(prompt not saved)" : rec.prompt,
      "prompt"));
    const meta = el("details");
    meta.appendChild(el("summary", "full record (JSON)"));
    meta.appendChild(el("pre", JSON.stringify(rec, null, 2)));
    view.appendChild(meta);
    view.scrollIntoView();
  }

  // -- playground --------------------------------------------------------------------------------------------------
  async function loadPlayground() {
    const info = await api("/api/playground");
    $("pg-model").textContent = info.model ? "model: " + info.model + " (text is replayed in chunks: this backend "
      + "returns finished outputs)" : "No model is loaded: start rrm-eval serve with --model SPEC --judge NAME.";
    $("pg-model").className = info.model ? "" : "error";
    $("pg-run").disabled = !info.model;
    const sel = $("pg-judge");
    clear(sel);
    const names = info.judge && !info.judges.includes(info.judge) ? [info.judge].concat(info.judges) : info.judges;
    for (const name of names) sel.appendChild(option(name, name));
    if (info.judge) sel.value = info.judge;
  }

  async function loadRow() {
    const run = $("pg-run-select").value;
    const item = $("pg-item").value;
    if (!run || !item) { $("pg-status").textContent = "pick a run and type an item id"; return; }
    const row = await api("/api/runs/" + encodeURIComponent(run) + "/items/" + encodeURIComponent(item));
    $("pg-question").value = row.question;
    $("pg-a").value = row.chosen;
    $("pg-b").value = row.rejected;
    $("pg-status").textContent = "loaded item " + row.item_id + " (answer A is the run's chosen answer)";
  }

  function outputFor(order) {
    let box = $("pg-out-" + order);
    if (box) return box;
    box = el("section", null, "pg-out");
    box.id = "pg-out-" + order;
    box.appendChild(el("h3", "Order " + order + (order === "AB" ? " (A shown first)" : " (B shown first)")));
    const det = el("details");
    det.appendChild(el("summary", "rendered prompt"));
    det.appendChild(el("pre", "", "prompt"));
    box.appendChild(det);
    box.appendChild(el("pre", "", "stream"));
    box.appendChild(el("p", "", "verdict"));
    $("pg-outputs").appendChild(box);
    return box;
  }

  function onEvent(ev) {
    if (ev.event === "start") {
      $("pg-status").textContent = "judging with " + ev.judge + " (" + ev.note + ")";
      return;
    }
    if (ev.event === "done") { $("pg-status").textContent = "done"; return; }
    const box = ev.order ? outputFor(ev.order) : null;
    if (ev.event === "prompt") box.querySelector("pre.prompt").textContent = ev.prompt;
    else if (ev.event === "delta") box.querySelector("pre.stream").textContent += ev.text;
    else if (ev.event === "verdict") {
      const v = box.querySelector(".verdict");
      if (ev.prefers) v.textContent = "verdict: answer " + ev.prefers + " (position " + ev.verdict + ", bound to "
        + JSON.stringify(ev.extracted) + (ev.lenient ? ", lenient: " + ev.lenient : "") + ")";
      else v.textContent = "no verdict: " + ev.failure + (ev.error ? " (" + ev.error + ")" : "");
      v.dataset.prefers = ev.prefers || "";
    } else if (ev.event === "error") {
      const text = (ev.order ? ev.order + ": " : "") + ev.message + (ev.hint ? " (" + ev.hint + ")" : "");
      const p = el("p", text, "error");
      (box || $("pg-outputs")).appendChild(p);
    }
  }

  async function runPlayground() {
    clear($("pg-outputs"));
    $("pg-status").textContent = "judging…";
    $("pg-status").className = "";
    const body = { question: $("pg-question").value, answer_a: $("pg-a").value, answer_b: $("pg-b").value,
      judge: $("pg-judge").value, order: $("pg-order").value };
    const res = await fetch("/api/playground", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body) });
    if (!res.ok) {
      const err = await res.json().catch(() => ({ error: "HTTP " + res.status }));
      throw new Error(err.error + (err.hint ? " (" + err.hint + ")" : ""));
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const chunk = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        for (const line of chunk.split("\n")) if (line.startsWith("data: ")) onEvent(JSON.parse(line.slice(6)));
      }
    }
  }

  function guard(fn, where) {
    return (...args) => Promise.resolve(fn(...args)).catch((e) => {
      const target = where ? $(where) : $("status");
      target.textContent = e.message;
      target.className = "error";
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("tab-runs").addEventListener("click", () => show("runs"));
    $("tab-playground").addEventListener("click", () => show("playground"));
    $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); state.offset = 0; guard(loadRecords)(); });
    $("page-prev").addEventListener("click", guard(() => { state.offset = Math.max(0, state.offset - state.limit);
      return loadRecords(); }));
    $("page-next").addEventListener("click", guard(() => { state.offset += state.limit; return loadRecords(); }));
    $("pg-run").addEventListener("click", guard(runPlayground, "pg-status"));
    $("pg-load").addEventListener("click", guard(loadRow, "pg-status"));
    show("runs");
    guard(loadRuns)();
    guard(loadPlayground, "pg-model")();
  });
})();
"""
