// hone ui: each page's renderer. Data comes from /api/...; every value from a run or dataset goes into
// the page through textContent or an attribute, never as HTML.
"use strict";

const main = document.getElementById("app");
const content = document.getElementById("content");

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "onclick" || k === "onchange" || k === "onsubmit") node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const isNum = (v) => typeof v === "number" && isFinite(v);
const fmt = (v, digits = 4) => (isNum(v) ? v.toFixed(digits) : v === null || v === undefined ? "—" : String(v));
const signed = (v) => (isNum(v) ? (v >= 0 ? "+" : "") + v.toFixed(4) : "—");
const show = (v) => (v !== null && typeof v === "object" ? JSON.stringify(v) : v === null || v === undefined ? "—" : String(v));
const num = (v, attrs) => el("td", Object.assign({class: "num", "data-value": isNum(v) ? v : null}, attrs || {}), fmt(v));
const note = (text) => el("p", {class: "note"}, text);
const section = (title, id, ...body) => el("section", {id}, el("h2", {}, title), ...body);

function table(headers, rows, attrs) {
  return el("table", attrs || {}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows));
}

async function getJSON(url) {
  const response = await fetch(url);
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || `${url}: HTTP ${response.status}`);
  return body;
}

function fail(err) {
  content.replaceChildren(el("p", {class: "missing", id: "error"}, String(err.message || err)));
}

const TERMINAL = new Set(["finished", "failed", "stopped", "killed", "not started"]);
const busy = (row) => !TERMINAL.has(row.phase);

// --- runs table ------------------------------------------------------------------------------------

async function runsPage() {
  const data = await getJSON("/api/runs");
  if (!data.runs.length) {
    content.replaceChildren(note(`No runs in ${data.runs_dir} yet.`), el("p", {}, el("a", {href: "/new"}, "Start one")));
    return;
  }
  const rows = data.runs.map((r) => el("tr", {"data-name": r.name},
    el("td", {}, el("a", {href: `/runs/${encodeURIComponent(r.name)}`}, r.name)),
    el("td", {}, show(r.task)), el("td", {class: "model"}, show(r.model)), el("td", {}, show(r.method)),
    el("td", {class: `status ${r.status}`, title: r.error}, r.phase), el("td", {}, show(r.primary_metric)),
    num(r.score, {class: `num score ${r.standing.state}`}),
    el("td", {class: `standing ${r.standing.state}`, "data-state": r.standing.state}, r.standing.text),
    el("td", {}, show(r.finished)),
    el("td", {}, el("input", {type: "checkbox", class: "pick", value: r.name}))));
  const compare = el("button", {id: "compare-selected", onclick: () => {
    const picked = [...document.querySelectorAll(".pick:checked")].map((c) => c.value);
    if (picked.length) location.href = `/compare?runs=${encodeURIComponent(picked.join(","))}`;
  }}, "Compare selected");
  content.replaceChildren(table(["name", "task", "model", "method", "status", "metric", "score",
    "vs best baseline (95% CI)", "finished", ""],
    rows, {id: "runs"}), compare);
  if (data.runs.some(busy)) setTimeout(() => runsPage().catch(fail), 3000);
}

// --- one run -------------------------------------------------------------------------------------------

async function runPage() {
  const name = main.dataset.name;
  const run = await getJSON(`/api/runs/${encodeURIComponent(name)}`);
  drawRun(run);
  if (busy(run) || (run.job && run.job.state === "running")) setTimeout(() => runPage().catch(fail), 1000);
}

function drawRun(run) {
  const ev = run.eval || {};
  const metric = ev.primary_metric || run.primary_metric;
  const score = ev.metrics && metric ? ev.metrics[metric] : run.score;
  const p = run.curves.progress || {};
  const meta = el("div", {class: "meta"},
    ["task", "model", "method"].map((k) => el("span", {}, el("b", {}, k), " ", show(run[k]))),
    el("span", {}, el("b", {}, "status"), " ", el("span", {id: "status", class: `status ${run.status}`}, run.phase)),
    metric ? el("span", {}, el("b", {}, metric), " ", el("span", {id: "score", "data-value": isNum(score) ? score : null},
      fmt(score))) : null);
  const progress = p.step === undefined || p.step === null ? null : el("p", {id: "progress", class: "note"},
    `step ${show(p.step)} · epoch ${fmt(p.epoch, 2)} · loss ${fmt(p.loss)}`);
  const failed = run.phase === "failed" || run.phase === "killed";
  const parts = [meta, progress];
  if (failed) parts.push(failure(run));
  else if (run.message) parts.push(el("p", {class: "missing"}, run.message));
  if (run.log_tail) parts.push(section("Job log (last lines)", "log", el("pre", {}, run.log_tail)));
  if (run.has_report) {
    parts.push(el("p", {}, el("a", {href: `/runs/${encodeURIComponent(run.name)}/report.html`, id: "report-link"},
      "Full report (report.html)")));
  }
  parts.push(failed && !ev.verdict ? null : verdict(ev), failed && !ev.metrics ? null : metricsTable(ev, run.baseline),
    curves(run.curves, metric), confusion(ev), breakdown(ev), entityErrors(ev), worst(ev), suspects(ev));
  content.replaceChildren(...parts.filter(Boolean));
  const log = document.querySelector("#log pre");
  if (log) log.scrollTop = log.scrollHeight;  // the end of the log says what went wrong: show it first
}

function failure(run) {
  const stage = run.job && run.job.stage ? ` in its ${run.job.stage} stage` : "";
  const more = run.message && run.message.includes("\n") ? el("pre", {}, run.message) : null;
  const what = run.phase === "killed" ? "was killed (its process died without a word)" : "failed";
  return el("div", {class: "verdict bad", id: "failure"}, el("b", {}, `The run ${what}${stage}. `),
    run.error ? el("span", {id: "error-line"}, run.error) : "The job log below says why.", more);
}

function verdict(ev) {
  if (!ev.verdict) return el("div", {class: "verdict warn", id: "verdict"}, "No verdict yet (the run is not evaluated).");
  const c = ev.comparison;
  const detail = c ? el("div", {class: "detail"},
    `${ev.primary_metric}: tuned `, el("b", {id: "tuned-score", "data-value": c.tuned_score}, fmt(c.tuned_score)),
    ` vs ${c.baseline} `, el("b", {id: "baseline-score", "data-value": c.baseline_score}, fmt(c.baseline_score)),
    ` · gain `, el("b", {id: "gain", "data-value": c.gain}, signed(c.gain)),
    ` · 95% CI `, el("span", {id: "ci"}, `${signed(c.ci95[0])} to ${signed(c.ci95[1])}`),
    ` · ${ev.n} test examples`) : null;
  return el("div", {class: `verdict ${c && c.better ? "good" : "warn"}`, id: "verdict"},
    el("b", {}, "Verdict. "), el("span", {id: "verdict-text"}, ev.verdict), detail);
}

function metricsTable(ev, baseline) {
  const names = Object.keys(ev.metrics || {});
  const stored = (baseline && baseline.baselines) || {};
  const bases = Object.keys(stored);
  if (!names.length && !bases.length) return section("Test metrics", "metrics-section", note("Not evaluated yet."));
  const all = names.length ? names : Object.keys(stored[bases[0]].metrics || {});
  const rows = all.map((m) => el("tr", {"data-metric": m}, el("td", {}, m === ev.primary_metric ? `${m} (primary)` : m),
    num((ev.metrics || {})[m], {class: "num tuned"}),
    bases.map((b) => num(((stored[b] || {}).metrics || {})[m]))));
  return section("Test metrics: tuned vs baselines", "metrics-section",
    table(["metric", "tuned", ...bases.map((b) => (b === baseline.best ? `${b} (best)` : b))], rows, {id: "metrics"}));
}

function curves(c, metric) {
  const charts = [];
  if (c.loss.length) charts.push(window.honeChart({series: [{label: "loss", points: c.loss}], xLabel: "step",
    yLabel: "training loss"}));
  for (const [m, pts] of Object.entries(c.dev)) {
    charts.push(window.honeChart({series: [{label: m, points: pts, dots: true}], xLabel: "step", yLabel: `dev ${m}`}));
  }
  return section("Training curves", "curves", charts.length ? el("div", {class: "charts"}, charts) : note("No steps logged yet."));
}

function confusion(ev) {
  const c = ev.confusion;
  if (!c || !c.labels) return null;
  const rows = c.labels.map((gold, i) => el("tr", {}, el("th", {}, gold),
    c.matrix[i].map((n, j) => el("td", {class: `num ${i === j ? "diag" : n ? "off" : ""}`, "data-gold": gold,
      "data-predicted": c.labels[j], "data-count": n}, String(n)))));
  return section("Confusion matrix (rows: gold, columns: predicted)", "confusion-section",
    table(["gold \\ predicted", ...c.labels], rows, {id: "confusion"}));
}

function breakdown(ev) {
  const [title, data] = ev.per_class ? ["Per label", ev.per_class] : ev.per_type ? ["Per entity type", ev.per_type]
    : ev.per_field ? ["Per field", ev.per_field] : [null, null];
  if (!data) return null;
  const extra = ev.per_field ? ["tp", "fp", "fn"] : [];
  const rows = Object.entries(data).map(([k, s]) => el("tr", {"data-key": k}, el("td", {}, k),
    ["precision", "recall", "f1"].map((m) => num(s[m])), el("td", {class: "num"}, show(s.support)),
    extra.map((m) => el("td", {class: "num"}, show(s[m])))));
  return section(`${title}: precision, recall, F1`, "breakdown-section",
    table([title.replace("Per ", ""), "precision", "recall", "F1", "support", ...extra], rows, {id: "breakdown"}));
}

function entityErrors(ev) {
  if (!ev.errors || typeof ev.errors !== "object") return null;
  const kinds = ["correct", "missed", "spurious", "wrong_type", "wrong_boundary"];
  const rows = Object.entries(ev.errors).map(([t, c]) => el("tr", {}, el("td", {}, t),
    kinds.map((k) => el("td", {class: "num"}, show(c[k] || 0)))));
  return section("Errors by kind", "errors-section", table(["type", ...kinds.map((k) => k.replace("_", " "))], rows));
}

function worst(ev) {
  if (!ev.metrics) return null;
  const items = (ev.worst || []).slice(0, 50);
  if (!items.length) return section("Examples the model gets wrong", "worst-section", note("No wrong predictions were recorded."));
  const rows = items.map((w) => el("tr", {}, el("td", {class: "text"}, show(w.text)), el("td", {}, show(w.gold)),
    el("td", {}, show(w.predicted)), num(w.confidence), el("td", {}, w.source ? `${w.source}:${show(w.line)}` : "—")));
  return section("Examples the model gets wrong", "worst-section",
    table(["text", "gold", "predicted", "confidence", "source"], rows, {id: "worst"}));
}

function suspects(ev) {
  const s = ev.suspect_labels;
  if (!s) return null;
  if (s.unavailable) return section("Suspect labels", "suspects", note(`Not available: ${s.unavailable}`));
  const list = (title, items, id) => [el("h3", {}, title), (items || []).length ? table(
    ["line", "text", "label", "predicted", "confidence", "loss"],
    items.map((x) => el("tr", {}, el("td", {}, show(x.line)), el("td", {class: "text"}, show(x.text)),
      el("td", {}, show(x.label)), el("td", {}, show(x.predicted)), num(x.confidence), num(x.loss))), {id})
    : note("None.")];
  return section("Suspect labels", "suspects",
    s.warning ? el("p", {class: "warning", id: "suspects-warning"}, `${s.warning}.`) : null,
    note(`${show(s.scored)} of ${show(s.of)} ${show(s.split)} examples scored. ${s.note || ""}`),
    list("Highest loss", s.highest_loss, "suspects-loss"), list("Confidently wrong", s.confidently_wrong, "suspects-wrong"));
}

// --- compare ---------------------------------------------------------------------------------------------

async function comparePage() {
  const picked = (new URLSearchParams(location.search).get("runs") || "").split(",").filter(Boolean);
  const all = await getJSON("/api/runs");
  const boxes = all.runs.map((r) => el("label", {class: "pickrun"},
    el("input", {type: "checkbox", value: r.name, checked: picked.includes(r.name)}), r.name));
  const go = el("button", {id: "compare-go", onclick: () => {
    const names = [...document.querySelectorAll(".pickrun input:checked")].map((c) => c.value);
    location.href = `/compare?runs=${encodeURIComponent(names.join(","))}`;
  }}, "Compare");
  const parts = [el("div", {class: "picker"}, boxes, go)];
  if (!picked.length) parts.push(note("Pick two or more runs."));
  else parts.push(compareTable(await getJSON(`/api/compare?runs=${encodeURIComponent(picked.join(","))}`)));
  content.replaceChildren(...parts);
}

function compareTable(data) {
  const first = data.runs[0].name;
  const heads = ["metric", ...data.runs.flatMap((r, i) => (i ? [r.name, `Δ vs ${first}`] : [r.name]))];
  const rows = data.rows.map((row) => el("tr", {"data-metric": row.metric}, el("td", {}, row.metric),
    row.values.flatMap((v, i) => (i ? [num(v, {"data-run": data.runs[i].name}),
      el("td", {class: `num delta ${row.deltas[i] > 0 ? "up" : row.deltas[i] < 0 ? "down" : ""}`,
        "data-value": isNum(row.deltas[i]) ? row.deltas[i] : null}, signed(row.deltas[i]))]
      : [num(v, {"data-run": data.runs[i].name})]))));
  const info = ["task", "model", "method", "phase"].map((k) => el("tr", {}, el("td", {}, k),
    data.runs.flatMap((r, i) => (i ? [el("td", {}, show(r[k])), el("td", {})] : [el("td", {}, show(r[k]))]))));
  const verdicts = el("ul", {id: "verdicts"}, data.runs.map((r, i) => el("li", {}, el("b", {}, r.name), ": ",
    data.verdicts[i] || "not evaluated")));
  return el("div", {}, table(heads, [...info, ...rows], {id: "compare-table"}), verdicts);
}

// --- learning curves ---------------------------------------------------------------------------------

async function curvesPage() {
  const data = await getJSON("/api/sweeps");
  if (!data.sweeps.length) {
    content.replaceChildren(note("No sweeps yet: `hone sweep` writes <runs>/<sweep>/sweep.json."));
    return;
  }
  content.replaceChildren(...data.sweeps.map(sweepSection));
}

function sweepSection(s) {
  const series = s.series.map((x) => ({label: x.label, line: false, dots: true,
    points: x.points.filter((p) => isNum(p.score)).map((p) => [p.examples, p.score])}));
  const means = s.series.map((x) => ({label: `${x.label} (mean)`, points: x.summary.map((m) => [m.examples, m.mean]),
    band: x.summary.map((m) => [m.examples, m.mean - (m.std || 0), m.mean + (m.std || 0)])}));
  const marks = s.crossing ? [{x: s.crossing.examples, y: s.crossing.score, label: "crossing"}] : [];
  const svg = window.honeChart({series: [...means, ...series], xLabel: "training examples (log scale)",
    yLabel: `test ${s.metric}`, logX: true, marks});
  const rows = s.series.flatMap((x) => x.summary.map((m) => el("tr", {}, el("td", {}, x.label),
    el("td", {class: "num"}, String(m.examples)), num(m.mean), num(m.std), el("td", {class: "num"}, String(m.n)))));
  const fits = s.series.filter((x) => x.fit).map((x) => el("li", {}, `${x.label}: `,
    el("b", {class: "doubling", "data-value": x.fit.doubling_gain}, signed(x.fit.doubling_gain)),
    ` ${s.metric} per doubling of the data`));
  const crossing = s.crossing ? note(`The series cross at about ${Math.round(s.crossing.examples).toLocaleString("en")} examples (${fmt(s.crossing.score)}).`)
    : null;
  return el("section", {class: "sweep", "data-name": s.name},
    el("h2", {}, `${s.name} · ${s.task} · ${s.metric}`), el("div", {class: "charts"}, svg), crossing,
    fits.length ? el("ul", {}, fits) : null,
    table(["series", "examples", "mean", "std", "runs"], rows, {class: "sweep-summary"}),
    note(`${s.test_examples} test examples · ${s.path}`));
}

// --- ratings ---------------------------------------------------------------------------------------------

async function ratingsPage() {
  const data = await getJSON("/api/ratings");
  if (!data.comparisons.length) {
    content.replaceChildren(note("No ratings yet: `hone compare` writes compare.json under the runs folder."));
    return;
  }
  content.replaceChildren(...data.comparisons.map(ratingSection));
}

function ratingSection(c) {
  const ratings = c.ratings.slice().sort((a, b) => b.elo - a.elo);
  const rows = ratings.map((r, i) => el("tr", {"data-system": r.system}, el("td", {class: "num"}, String(i + 1)),
    el("td", {}, r.system), num(r.elo, {class: "num elo"}), el("td", {class: "num"}, `${fmt(r.ci_low, 1)} – ${fmt(r.ci_high, 1)}`),
    num(r.strength), el("td", {class: "num"}, `${r.wins} / ${r.losses} / ${r.ties}`)));
  const names = ratings.map((r) => r.system);
  const wr = c.win_rate || {};
  const matrix = table(["win rate of \\ against", ...names], names.map((a) => el("tr", {}, el("th", {}, a),
    names.map((b) => (a === b ? el("td", {}, "") : num((wr[a] || {})[b]))))), {class: "winrate"});
  return el("section", {class: "rating"}, el("h2", {}, c.path),
    table(["rank", "system", "Elo", "95% CI", "strength", "wins / losses / ties"], rows, {class: "ratings"}),
    el("h3", {}, "Pairwise win rate"), matrix);
}

// --- playground --------------------------------------------------------------------------------------

const BODY = {
  classify: (model, text) => ({model, input: text}),
  ner: (model, text) => ({model, input: text}),
  extract: (model, text) => ({model, input: text}),
  embeddings: (model, text) => ({model, input: text}),
  chat: (model, text) => ({model, messages: [{role: "user", content: text}], max_tokens: 64, temperature: 0}),
};
const KIND = {classify: "classify", ner: "ner", extract: "extract", embed: "embeddings"};

async function playgroundPage() {
  const models = await getJSON("/api/playground/models");
  if (!models.ok) {
    content.replaceChildren(el("p", {class: "missing", id: "pg-status"}, models.error || `the server said HTTP ${models.status}`));
    return;
  }
  const list = models.body.data || [];
  const select = el("select", {id: "pg-model"}, list.map((m) => el("option", {value: m.id, "data-task": m.task || ""},
    `${m.id} (${m.task || "model"})`)));
  const text = el("textarea", {id: "pg-input", rows: 4, placeholder: "Text to send"});
  const out = el("div", {id: "pg-output"});
  const send = el("button", {id: "pg-send", onclick: () => sendPlayground(select, text, out)}, "Send");
  content.replaceChildren(el("p", {class: "note", id: "pg-status"}, `Connected to ${models.serve_url}: ${list.length} model(s).`),
    el("label", {}, "Model ", select), text, send, out);
}

async function sendPlayground(select, text, out) {
  const option = select.selectedOptions[0];
  const kind = KIND[option.dataset.task] || "chat";
  out.replaceChildren(note("…"));
  const response = await fetch(`/api/playground/${kind}`, {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify(BODY[kind](select.value, text.value))});
  const result = await response.json();
  const answer = result.ok ? summarise(kind, result.body) : `error: ${result.error || `HTTP ${result.status}`}`;
  out.replaceChildren(el("p", {id: "pg-answer", class: result.ok ? "" : "missing"}, answer),
    el("pre", {id: "pg-raw"}, JSON.stringify(result.body === undefined ? result : result.body, null, 2)));
}

function summarise(kind, body) {
  const first = (body.data || [])[0] || {};
  if (kind === "classify") return `${first.label ?? (first.labels || []).join(", ")} (confidence ${fmt(first.confidence)})`;
  if (kind === "ner") return (first.entities || []).map((e) => `${e.text}: ${e.label}`).join("; ") || "(no entities)";
  if (kind === "extract") return JSON.stringify(first.fields ?? first);
  if (kind === "embeddings") return `a vector of ${(first.embedding || []).length} numbers`;
  return ((body.choices || [])[0] || {message: {}}).message.content || "(empty answer)";
}

// --- new run -------------------------------------------------------------------------------------------

async function newPage() {
  const data = await getJSON("/api/new");
  const file = el("select", {id: "new-data"}, el("option", {value: ""}, "— choose a file —"),
    data.files.map((f) => el("option", {value: f}, f)));
  const upload = el("input", {type: "file", id: "new-upload", accept: ".jsonl,.json,.ndjson,.csv,.tsv,.conll,.txt"});
  const model = el("input", {id: "new-model", size: 40});
  const mapping = el("div", {id: "new-fields"});
  const columns = {names: [], chosen: {}};  // the chosen file's columns; the user's picks, kept across tasks
  const task = el("select", {id: "new-task", onchange: () => {
    model.placeholder = data.tasks[task.value];
    drawColumns(mapping, data.fields[task.value] || [], columns);
  }}, Object.keys(data.tasks).map((t) => el("option", {value: t}, t)));
  model.placeholder = data.tasks[task.value];
  const load = (body) => post("/api/columns", body).then((found) => {
    Object.assign(columns, {names: found.columns, chosen: {}});
    drawColumns(mapping, data.fields[task.value] || [], columns);
  }).catch((err) => mapping.replaceChildren(el("p", {class: "missing"}, String(err.message || err))));
  file.addEventListener("change", () => { if (file.value && !upload.files.length) load({data: file.value}); });
  upload.addEventListener("change", async () => {
    const picked = upload.files[0];
    if (picked) load({filename: picked.name, head: await picked.slice(0, 65536).text()});
  });
  const name = el("input", {id: "new-name", placeholder: "(from the file name)", size: 30});
  const overrides = el("textarea", {id: "new-overrides", rows: 3, placeholder: "train.epochs=2   (optional, one per line)"});
  const message = el("p", {id: "new-message"});
  const fields = {file, upload, task, model, name, overrides, message, mapping};
  const button = el("button", {id: "new-train", type: "submit"}, "Train");
  const form = el("form", {id: "new-form", onsubmit: (e) => { e.preventDefault(); startRun(fields, button).catch(
    (err) => { message.className = "missing"; message.textContent = String(err.message || err); button.disabled = false; }); }},
  row("Data file", file, ` under ${data.data_root}, or upload: `, upload), row("Task", task), mapping,
  row("Base model", model, " (empty: the task's default)"), row("Run name", name), row("Settings", overrides), button, message);
  content.replaceChildren(form);
}

const row = (label, ...inputs) => el("div", {class: "row"}, el("label", {}, el("span", {}, label), ...inputs));

// One select per config key that names a column (data.text_field, data.label_field, ...), offering the file's
// columns; a key's default column is picked when the file has it.
function drawColumns(mapping, specs, columns) {
  if (!columns.names.length) {
    mapping.replaceChildren();
    return;
  }
  mapping.replaceChildren(note(`Columns of the file: ${columns.names.join(", ")}. Which holds what:`),
    ...specs.map((f) => {
      const select = el("select", {"data-key": f.key, "data-default": f.default,
        onchange: () => { columns.chosen[f.key] = select.value; }},
      el("option", {value: ""}, `— none: ${f.default} (default) —`), columns.names.map((c) => el("option", {value: c}, c)));
      select.value = columns.chosen[f.key] ?? (columns.names.includes(f.default) ? f.default : "");
      return el("div", {class: "row"}, el("label", {title: f.about}, el("span", {}, f.key.replace("data.", "")), select,
        el("span", {class: "note"}, ` ${f.about}`)));
    }));
}

// `data.text_field="email"` for each column picked other than the key's default (JSON-quoted: read as YAML)
const columnOverrides = (mapping) => [...mapping.querySelectorAll("select[data-key]")]
  .filter((s) => s.value && s.value !== s.dataset.default).map((s) => `${s.dataset.key}=${JSON.stringify(s.value)}`);

async function startRun(f, button) {
  button.disabled = true;
  let data = f.file.value;
  if (f.upload.files.length) {
    const picked = f.upload.files[0];
    f.message.textContent = `uploading ${picked.name}…`;
    const saved = await post("/api/uploads", {filename: picked.name, content: await picked.text()});
    data = saved.path;
  }
  f.message.textContent = "starting…";
  const overrides = [...columnOverrides(f.mapping), f.overrides.value].join("\n");
  const job = await post("/api/jobs", {data, task: f.task.value, model: f.model.value, name: f.name.value, overrides});
  location.href = job.url;
}

async function post(url, body) {
  const response = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  const result = await response.json();
  if (!response.ok) throw new Error(result.detail || `HTTP ${response.status}`);
  return result;
}

// --- dispatch ------------------------------------------------------------------------------------------

const PAGES = {runs: runsPage, run: runPage, compare: comparePage, curves: curvesPage, ratings: ratingsPage,
  playground: playgroundPage, new: newPage};
if (main && PAGES[main.dataset.page]) PAGES[main.dataset.page]().catch(fail);
