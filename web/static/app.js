// The aquifer web UI: a Flow-like dashboard over the node's REST API (/3/...). Plain DOM, no framework, no build.
// Every text from the cloud (frame, column and model names) goes in through textContent, never as HTML.
"use strict";

const view = document.getElementById("view");
let timer = null;                  // the current page's refresh timer
let token = sessionStorage.getItem("aquifer-token") || "";

// ---------------------------------------------------------------------------------------------- helpers
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

class ApiError extends Error {
  constructor(status, body) { super(body.detail || body.error || `HTTP ${status}`); this.status = status; this.body = body; }
}

async function api(path, {method = "GET", body} = {}) {
  const headers = {};
  if (token) headers["Authorization"] = `Bearer ${token}`;
  if (method === "POST") headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {method, headers, body: method === "POST" ? JSON.stringify(body || {}) : undefined});
  if (resp.status === 401) { askToken(); throw new ApiError(401, await resp.json()); }
  if (!resp.ok) {
    let b; try { b = await resp.json(); } catch (e) { b = {error: resp.statusText, detail: ""}; }
    throw new ApiError(resp.status, b);
  }
  return resp.json();
}

// A link sends no Authorization header: with a token, fetch the file with it and save the blob.
async function download(e, path, name) {
  if (!token) return;                       // the plain link works on an open node
  e.preventDefault();
  const resp = await fetch(path, {headers: {"Authorization": `Bearer ${token}`}});
  if (resp.status === 401) { askToken(); return; }
  if (!resp.ok) { alert(`download failed: HTTP ${resp.status}`); return; }
  const url = URL.createObjectURL(await resp.blob());
  const a = h("a", {href: url, download: name});
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function askToken() {
  const panel = document.getElementById("token-panel");
  panel.hidden = false;
  document.getElementById("token-input").focus();
}
document.getElementById("token-form").addEventListener("submit", e => {
  e.preventDefault();
  token = document.getElementById("token-input").value.trim();
  sessionStorage.setItem("aquifer-token", token);
  document.getElementById("token-panel").hidden = true;
  route();
});

const enc = encodeURIComponent;
const fmt = v => (typeof v === "number" ? fmtNum(v) : v === null || v === undefined ? "" : String(v));
function bytes(n) {
  if (n === null || n === undefined) return "";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}
function duration(s) {
  if (s === null || s === undefined) return "";
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
const when = t => (t ? new Date(t * 1000).toLocaleString() : "");
const progressBar = (p, big) => h("div", {class: "progress" + (big ? " big" : ""), role: "progressbar",
                                            "aria-valuenow": Math.round(100 * p)},
                                  h("div", {style: `width: ${(100 * p).toFixed(1)}%`}));
const state = s => h("span", {class: `state ${s}`}, s);
const errorBox = e => h("p", {class: "error", "data-testid": "error"},
                        e instanceof ApiError ? `${e.body.error}: ${e.body.detail}` : String(e));

function fill(el, ...children) {   // replaceChildren without the nulls of optional parts
  el.replaceChildren(...children.flat().filter(c => c !== null && c !== undefined && c !== false));
}
function page(title, ...content) {
  fill(view, h("h1", {}, title), ...content);
}
function every(ms, fn) {           // run now, then every ms until the page changes
  const run = async () => { try { await fn(); } catch (e) { console.error(e); } };
  run();
  timer = setInterval(run, ms);
}
function pager(data, go) {
  const last = data.offset + data.items.length;
  return h("div", {class: "pager"},
           h("button", {class: "secondary", disabled: data.offset === 0,
                        onclick: () => go(Math.max(0, data.offset - data.limit))}, "‹ previous"),
           h("span", {}, data.total ? `${data.offset + 1}–${last} of ${data.total}` : "none"),
           h("button", {class: "secondary", disabled: last >= data.total, onclick: () => go(last)}, "next ›"));
}
function table(headers, rows, attrs) {
  return h("table", attrs || {}, h("thead", {}, h("tr", {}, headers.map(([t, c]) => h("th", {class: c || ""}, t)))),
           h("tbody", {}, rows));
}

// ---------------------------------------------------------------------------------------------- cloud
async function cloudPage() {
  const body = h("div");
  page("Cloud", body);
  every(2000, async () => {
    const c = await api("/3/Cloud");
    document.getElementById("cloud-name").textContent = `cloud ${c.name}`;
    fill(body, 
      h("p", {}, `${c.size} member(s), `, c.healthy ? "healthy" : "UNHEALTHY", c.locked ? ", locked" : "",
        c.formed ? "" : ` — not formed (needs ${c.cloud_size})`, ` · answered by ${c.node} · aquifer ${c.version}`),
      c.formed ? "" : h("ul", {id: "formation"}, (c.formation || []).map(note => h("li", {}, `waiting: ${note}`))),
      table([["node"], ["state"], ["last heartbeat", "num"], ["cores", "num"], ["free memory", "num"], ["keys", "num"],
             ["pid", "num"], ["web"]],
            c.members.map(m => h("tr", {"data-node": m.node},
              h("td", {}, m.node), h("td", {}, state(m.state)), h("td", {class: "num"}, `${m.last_heartbeat_age_s.toFixed(1)} s`),
              h("td", {class: "num"}, m.cores), h("td", {class: "num"}, bytes(m.free_mem_bytes)),
              h("td", {class: "num"}, m.keys), h("td", {class: "num"}, m.pid),
              h("td", {}, h("a", {href: m.web_url}, m.web_url)))), {id: "members"}));
  });
}

// ---------------------------------------------------------------------------------------------- frames
async function framesPage(offset = 0) {
  const list = h("div"), status = h("div");
  const path = h("input", {id: "import-path", size: 60, placeholder: "/path/on/every/node/data.csv", required: true});
  const dest = h("input", {id: "import-dest", size: 24, placeholder: "destination key (optional)"});
  const types = h("input", {id: "import-types", size: 30, placeholder: "column types, e.g. CAPSULE=enum (optional)"});
  const form = h("form", {class: "panel", id: "import-form"}, h("strong", {}, "Import a file "), path, " ", dest, " ",
                 types, " ", h("button", {type: "submit"}, "Import"), status);
  form.addEventListener("submit", async e => {
    e.preventDefault();
    fill(status, "importing…");
    try {
      // "a=enum, b=string": an enum response makes the frame trainable for classification (as col_types)
      const pairs = types.value.split(",").map(t => t.trim()).filter(t => t).map(t => t.split("="));
      const colTypes = pairs.length ? Object.fromEntries(pairs.map(([k, v]) => [k.trim(), (v || "").trim()])) : null;
      const r = await api("/3/ImportFiles", {method: "POST", body: {path: path.value.trim(),
                                                                      destination_frame: dest.value.trim() || null,
                                                                      col_types: colTypes}});
      const done = await waitJob(r.job.job_id, j => fill(status, `importing… ${j.status}`));
      if (done.status === "DONE") location.hash = `#/frames/${enc(r.destination_frame)}`;
      else fill(status, errorBox(`import ${done.status}: ${done.error}`));
    } catch (err) { fill(status, errorBox(err)); }
  });
  page("Data: frames", form, list);
  const d = await api(`/3/Frames?offset=${offset}&limit=50`);
  fill(list, 
    table([["frame"], ["rows", "num"], ["columns", "num"], ["chunks", "num"], ["size", "num"], [""]],
          d.items.map(f => h("tr", {},
            h("td", {}, h("a", {href: `#/frames/${enc(f.frame_id)}`}, f.frame_id)), h("td", {class: "num"}, f.rows),
            h("td", {class: "num"}, f.columns), h("td", {class: "num"}, f.chunks), h("td", {class: "num"}, bytes(f.bytes)),
            h("td", {}, h("button", {class: "secondary", onclick: async () => {
              if (!confirm(`Remove frame ${f.frame_id}?`)) return;
              try { await api(`/3/Frames/${enc(f.frame_id)}`, {method: "DELETE"}); framesPage(offset); }
              catch (err) { list.prepend(errorBox(err)); }
            }}, "remove"))))), pager(d, framesPage));
}

async function waitJob(jobId, onTick) {
  for (;;) {
    const j = await api(`/3/Jobs/${jobId}`);
    if (onTick) onTick(j);
    if (!["CREATED", "RUNNING"].includes(j.status)) return j;
    await new Promise(r => setTimeout(r, 500));
  }
}

async function framePage(key, colOffset = 0, rowOffset = 0) {
  const f = await api(`/3/Frames/${enc(key)}?column_offset=${colOffset}&column_count=20&row_offset=${rowOffset}&row_count=10`);
  const summaries = table(
    [["column"], ["type"], ["missing", "num"], ["min", "num"], ["max", "num"], ["mean", "num"], ["sd", "num"],
     ["cardinality", "num"], ["histogram"]],
    f.columns_summary.map(c => h("tr", {"data-column": c.name},
      h("td", {}, c.name), h("td", {}, c.type === "numeric" ? (c.is_int ? "int" : "real") : c.type),
      h("td", {class: "num"}, fmt(c.na_count)), h("td", {class: "num"}, fmt(c.min)), h("td", {class: "num"}, fmt(c.max)),
      h("td", {class: "num"}, fmt(c.mean)), h("td", {class: "num"}, fmt(c.sigma)), h("td", {class: "num"}, fmt(c.cardinality)),
      h("td", {}, c.histogram ? histogramChart(c.histogram) : h("span", {class: "muted"}, "—")))), {id: "columns"});
  const colPager = pager({offset: f.column_offset, limit: 20, total: f.columns, items: f.columns_summary},
                         o => framePage(key, o, rowOffset));
  const preview = table(f.preview_columns.map(c => [c]),
                        f.preview.map(r => h("tr", {}, r.map(v => h("td", {}, fmt(v))))), {id: "preview"});
  const rowPager = pager({offset: f.row_offset, limit: 10, total: f.rows, items: f.preview},
                         o => framePage(key, colOffset, o));
  const notice = (what, per) => per && Object.keys(per).length
    ? h("p", {class: "notice"}, what, Object.entries(per).map(([c, v]) => `${c}: ${v.count}`).join(", ")) : null;
  const invalid = notice("Values not of their column's type (now NA): ", f.parse && f.parse.invalid);
  const rounded = notice("Numbers rounded to the nearest double (import the column as string to keep them): ",
                         f.parse && f.parse.rounded);
  page(`Frame ${f.frame_id}`,
       h("p", {}, `${f.rows} rows × ${f.columns} columns · ${f.chunks} chunks · ${bytes(f.bytes)} `,
         h("a", {class: "button", href: `#/train?frame=${enc(f.frame_id)}`}, "Build a model…")),
       invalid, rounded, h("h2", {}, "Columns"), colPager, summaries, h("h2", {}, "Rows"), rowPager, preview);
}

// ---------------------------------------------------------------------------------------------- jobs
function cancelButton(j, after) {
  if (!["CREATED", "RUNNING"].includes(j.status)) return null;
  return h("button", {class: "danger", "data-testid": "cancel", onclick: async e => {
    e.target.disabled = true;
    try { await api(`/3/Jobs/${j.job_id}/cancel`, {method: "POST"}); } catch (err) { alert(err.message); }
    after();
  }}, "Cancel");
}

async function jobsPage(offset = 0) {
  const body = h("div");
  page("Jobs", body);
  const refresh = async () => {
    const d = await api(`/3/Jobs?offset=${offset}&limit=50`);
    fill(body, table(
      [["job"], ["status"], ["progress"], ["started"], ["duration", "num"], ["error"], [""]],
      d.items.map(j => h("tr", {"data-job": j.job_id},
        h("td", {}, h("a", {href: `#/jobs/${j.job_id}`}, j.description)), h("td", {}, state(j.status)),
        h("td", {}, progressBar(j.progress), ` ${Math.round(100 * j.progress)} %`), h("td", {}, when(j.start)),
        h("td", {class: "num"}, duration(j.duration_s)), h("td", {class: "error"}, j.error),
        h("td", {}, cancelButton(j, refresh))))), pager(d, jobsPage));
  };
  every(1000, refresh);
}

async function jobPage(id) {
  const body = h("div");
  page("Job", body);
  const refresh = async () => {
    const j = await api(`/3/Jobs/${id}`);
    const link = j.status === "DONE" && j.dest_type === "model" ? h("a", {href: `#/models/${enc(j.dest)}`, id: "dest-link"}, `Model ${j.dest}`)
      : j.status === "DONE" && j.dest_type === "frame" ? h("a", {href: `#/frames/${enc(j.dest)}`, id: "dest-link"}, `Frame ${j.dest}`)
      : null;
    fill(body, 
      h("h2", {}, j.description),
      h("p", {}, state(j.status), " ", progressBar(j.progress, true), h("span", {id: "progress-text"}, ` ${Math.round(100 * j.progress)} %`)),
      h("p", {}, `started ${when(j.start)} · ${duration(j.duration_s)}`, j.msg ? ` · ${j.msg}` : ""),
      j.error ? h("p", {class: "error", id: "job-error"}, j.error) : null,
      h("p", {}, cancelButton(j, refresh), link));
    if (!["CREATED", "RUNNING"].includes(j.status) && timer) { clearInterval(timer); timer = null; }
  };
  every(1000, refresh);
}

// ---------------------------------------------------------------------------------------------- models
async function modelsPage(offset = 0) {
  const d = await api(`/3/Models?offset=${offset}&limit=50`);
  page("Models", table(
    [["model"], ["kind"], ["response"], ["epochs", "num"], ["metric"], ["training", "num"], ["validation", "num"], ["size", "num"]],
    d.items.map(m => h("tr", {},
      h("td", {}, h("a", {href: `#/models/${enc(m.model_id)}`}, m.model_id)), h("td", {}, m.kind), h("td", {}, m.response || ""),
      h("td", {class: "num"}, fmt(m.epochs)), h("td", {}, m.metric || ""), h("td", {class: "num"}, fmt(m.training)),
      h("td", {class: "num"}, fmt(m.validation)), h("td", {class: "num"}, bytes(m.bytes))))), pager(d, modelsPage));
}

function historyChart(hist) {
  const cols = hist.columns, col = name => cols.indexOf(name);
  const metrics = cols.filter(c => c.startsWith("training_") && !["training_speed"].includes(c)).map(c => c.slice(9));
  const wrap = h("div", {id: "history"});
  if (!metrics.length || col("epochs") < 0) return wrap;
  const preferred = ["logloss", "rmse", "deviance", "classification_error"].find(m => metrics.includes(m)) || metrics[0];
  const select = h("select", {id: "history-metric"}, metrics.map(m => h("option", {value: m, selected: m === preferred}, m)));
  const holder = h("div");
  const draw = () => {
    const m = select.value, xs = hist.rows.map(r => r[col("epochs")]);
    const series = [{name: `training ${m}`, cls: "training", xs, ys: hist.rows.map(r => r[col(`training_${m}`)])}];
    if (col(`validation_${m}`) >= 0) {
      series.push({name: `validation ${m}`, cls: "validation", xs, ys: hist.rows.map(r => r[col(`validation_${m}`)])});
    }
    fill(holder, lineChart(series, {xlabel: "epochs", ylabel: m}));
  };
  select.addEventListener("change", draw);
  draw();
  wrap.append(h("label", {}, "metric ", select), holder);
  return wrap;
}

function metricsTable(metrics) {
  const sets = Object.keys(metrics);
  const names = [...new Set(sets.flatMap(s => Object.keys(metrics[s])))].filter(n => n !== "kind");
  return table([["metric"], ...sets.map(s => [s, "num"])],
               names.map(n => h("tr", {}, h("td", {}, n), sets.map(s => h("td", {class: "num"}, fmt(metrics[s][n]))))),
               {id: "metrics"});
}

function confusionTable(cm) {
  return h("div", {}, h("p", {class: "muted"}, cm.header),
           table([[""], ...cm.predicted.map(p => [p, "num"])],
                 cm.rows.map((r, i) => h("tr", {}, h("th", {}, cm.actual[i]), r.map(v => h("td", {class: "num"}, fmt(v))))),
                 {id: "confusion-matrix"}));
}

async function modelPage(key) {
  const m = await api(`/3/Models/${enc(key)}`);
  const varimp = m.varimp && m.varimp.length
    ? h("div", {id: "varimp"}, barChart(m.varimp.slice(0, 20).map(v => v.variable), m.varimp.slice(0, 20).map(v => v.scaled_importance)),
        m.varimp_total > 20 ? h("p", {class: "muted"}, `top 20 of ${m.varimp_total}`) : null)
    : h("p", {class: "muted"}, "no variable importances (variable_importances=false)");
  const params = table([["parameter"], ["value"], ["default"]],
    m.parameters.map(p => h("tr", {class: p.changed ? "changed" : "default"}, h("td", {}, p.name),
      h("td", {}, JSON.stringify(p.value)), h("td", {}, JSON.stringify(p.default)))), {id: "parameters"});
  let pojo = null;
  if (m.pojo) {
    const pre = h("pre", {class: "code", id: "pojo"});
    pojo = h("div", {}, h("h2", {}, "POJO"), h("button", {class: "secondary", id: "pojo-preview", onclick: async () => {
      try { const p = await api(`/3/Models/${enc(key)}/pojo`); pre.textContent = p.java + (p.truncated ? "\n// … (truncated)" : ""); }
      catch (err) { fill(pre, errorBox(err)); }
    }}, "Preview POJO"), pre);
  }
  page(`Model ${m.model_id}`,
       h("p", {}, `${m.kind} · response ${m.response || "(autoencoder)"} · ${fmt(m.epochs)} epochs · ${bytes(m.bytes)} `,
         h("a", {class: "button", href: `/3/Models/${enc(key)}/download`, download: m.model_id,
                 onclick: e => download(e, `/3/Models/${enc(key)}/download`, m.model_id)}, "Download model file")),
       h("h2", {}, "Scoring history"), historyChart(m.scoring_history),
       h("h2", {}, "Variable importances"), varimp,
       m.confusion_matrix ? h("h2", {}, "Confusion matrix") : null, m.confusion_matrix ? confusionTable(m.confusion_matrix) : null,
       h("h2", {}, "Metrics"), metricsTable(m.metrics),
       pojo,
       h("h2", {}, "Parameters"), h("p", {class: "muted"}, "changed values highlighted, defaults greyed"), params);
}

// ---------------------------------------------------------------------------------------------- training
function paramInput(p) {
  const id = `param-${p.name}`, d = p.default;
  if (p.kind === "bool") return h("input", {type: "checkbox", id, checked: d === true});
  if (p.kind === "enum") return h("select", {id}, p.allowed.map(a => h("option", {value: a, selected: a === d}, a)));
  const shown = d === null || d === undefined ? "" : Array.isArray(d) ? d.join(",") : String(d);
  return h("input", {id, value: shown, size: 22, "data-default": shown});
}

function readParam(p, el) {
  if (p.kind === "bool") return el.checked === (p.default === true) ? undefined : el.checked;
  if (p.kind === "enum") return el.value === p.default ? undefined : el.value;
  const text = el.value.trim();
  if (text === el.getAttribute("data-default")) return undefined;
  if (text === "") return null;
  const num = s => (/^-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(s) ? Number(s) : s);
  if (["int_list", "float_list", "column_list", "frame_list", "enum_list"].includes(p.kind)) {
    const keep = ["column_list", "enum_list"].includes(p.kind);       // names, not numbers
    return text.split(",").map(s => s.trim()).filter(s => s).map(keep ? (s => s) : num);
  }
  return ["int", "float"].includes(p.kind) ? num(text) : text;
}

const FORM_SPECIAL = ["training_frame", "validation_frame", "response_column", "ignored_columns", "x"];

async function trainPage(query) {
  const [frames, builder] = await Promise.all([api("/3/Frames?limit=1000"), api("/3/ModelBuilders/deeplearning")]);
  const frameSelect = h("select", {id: "train-frame"}, h("option", {value: ""}, "— choose a frame —"),
                        frames.items.map(f => h("option", {value: f.frame_id, selected: f.frame_id === query.get("frame")}, f.frame_id)));
  const validSelect = h("select", {id: "valid-frame"}, h("option", {value: ""}, "(none)"),
                        frames.items.map(f => h("option", {value: f.frame_id}, f.frame_id)));
  const response = h("select", {id: "response"});
  const ignored = h("div", {class: "cols", id: "ignored"});
  const status = h("div", {id: "train-status"});
  const loadColumns = async () => {
    response.replaceChildren(); ignored.replaceChildren();
    if (!frameSelect.value) return;
    const cols = await api(`/3/Frames/${enc(frameSelect.value)}/columns?limit=1000`);
    for (const c of cols.items) {
      response.appendChild(h("option", {value: c.name}, `${c.name} (${c.type})`));
      ignored.appendChild(h("label", {}, h("input", {type: "checkbox", value: c.name}), ` ${c.name}`));
    }
    if (cols.items.length) response.value = cols.items[cols.items.length - 1].name;
  };
  frameSelect.addEventListener("change", loadColumns);
  const params = builder.parameters.filter(p => !FORM_SPECIAL.includes(p.name));
  const inputs = {};
  const groups = ["basic", "advanced", "expert"].map(g => h("fieldset", {"data-group": g}, h("legend", {}, g),
    params.filter(p => p.group === g).map(p => {
      inputs[p.name] = paramInput(p);
      return h("div", {class: "field" + (p.supported ? "" : " unsupported")}, h("label", {for: `param-${p.name}`}, p.name),
               inputs[p.name], h("span", {class: "help"}, p.help + (p.supported ? "" : " (not supported: leave it)")));
    })));
  const form = h("form", {class: "panel", id: "train-form"},
    h("div", {class: "field"}, h("label", {}, "training_frame"), frameSelect, h("span", {class: "help"}, "the frame to train on")),
    h("div", {class: "field"}, h("label", {}, "validation_frame"), validSelect, h("span", {class: "help"}, "scored for early stopping")),
    h("div", {class: "field"}, h("label", {}, "response_column"), response, h("span", {class: "help"}, "its type decides the problem (enum: classification)")),
    h("div", {}, h("label", {}, "ignored_columns"), ignored),
    groups, h("button", {type: "submit", id: "train-submit"}, "Build model"), status);
  form.addEventListener("submit", async e => {
    e.preventDefault();
    const body = {training_frame: frameSelect.value || null, response_column: response.value || null};
    if (validSelect.value) body.validation_frame = validSelect.value;
    const ign = [...ignored.querySelectorAll("input:checked")].map(i => i.value);
    if (ign.length) body.ignored_columns = ign;
    for (const p of params) {
      const v = readParam(p, inputs[p.name]);
      if (v !== undefined) body[p.name] = v;
    }
    fill(status, "starting…");
    try {
      const r = await api("/3/ModelBuilders/deeplearning", {method: "POST", body});
      location.hash = `#/jobs/${r.job.job_id}`;
    } catch (err) { fill(status, errorBox(err)); }
  });
  page("Build a Deep Learning model", form);
  await loadColumns();
}

// ---------------------------------------------------------------------------------------------- routing
async function route() {
  if (timer) { clearInterval(timer); timer = null; }
  const [path, qs] = (location.hash.slice(1) || "/cloud").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const query = new URLSearchParams(qs || "");
  document.querySelectorAll("header nav a").forEach(a => a.classList.toggle("active", a.dataset.nav === parts[0]));
  try {
    if (parts[0] === "frames" && parts[1]) await framePage(parts[1]);
    else if (parts[0] === "frames") await framesPage();
    else if (parts[0] === "jobs" && parts[1]) await jobPage(parts[1]);
    else if (parts[0] === "jobs") await jobsPage();
    else if (parts[0] === "models" && parts[1]) await modelPage(parts[1]);
    else if (parts[0] === "models") await modelsPage();
    else if (parts[0] === "train") await trainPage(query);
    else await cloudPage();
  } catch (err) {
    view.replaceChildren(errorBox(err));
  }
}

window.addEventListener("hashchange", route);
route();
