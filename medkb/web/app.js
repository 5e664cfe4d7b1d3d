// The page: hash routes (#ask, #check, #diagnose, #graph/ENTITY, #audit/ID), calls to /api,
// and the source panel that shows a cited span highlighted inside its passage.

import { $, append, clear, h } from "./dom.js";
import { renderGraph } from "./graph.js";
import { renderAnswer, renderAudit, renderDiagnosis } from "./render.js";

const VIEWS = ["ask", "check", "diagnose", "graph", "audit"];
let apiKey = sessionStorage.getItem("medkb-key") || "";

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, body) {
  const headers = { Accept: "application/json" };
  if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method: body === undefined ? "GET" : "POST", headers,
    body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  if (res.status === 401) $("#key-box").hidden = false;
  if (!res.ok) {
    let msg = (data && (data.error || data.detail)) || `HTTP ${res.status}`;
    if (res.status === 503 && res.headers.get("Retry-After")) {
      msg += ` (retry in ${res.headers.get("Retry-After")} s)`;
    }
    throw new ApiError(res.status, msg);
  }
  return data;
}

// Run a request for a form: busy state, errors shown in the output box.
async function run(out, button, work) {
  clear(out);
  append(out, [h("p", { class: "busy" }, "Working…")]);
  if (button) button.disabled = true;
  try {
    const nodes = await work();
    clear(out);
    append(out, [nodes]);
  } catch (err) {
    clear(out);
    append(out, [h("p", { class: "error", role: "alert" }, err.message || String(err))]);
  } finally {
    if (button) button.disabled = false;
  }
}

// -- source panel ------------------------------------------------------------------------
async function openCitation(cit, version) {
  const panel = $("#source");
  const text = clear($("#source-text"));
  $("#source-title").textContent = cit.title || cit.source || "Source";
  const where = cit.source ? String(cit.source).split("/").pop() : null;
  const meta = [cit.external_id, cit.page ? `page ${cit.page}` : null, where]
    .filter(Boolean).join(" · ");
  $("#source-meta").textContent = meta;
  panel.hidden = false;
  document.body.classList.add("source-open");
  panel.dataset.key = cit.key;
  if (cit.kind === "graph" || !cit.passage_id) {
    append(text, [h("p", {}, "A fact of the knowledge graph: "), h("mark", { class: "cited" }, cit.text || cit.source || "")]);
    return;
  }
  append(text, [h("p", { class: "busy" }, "Loading passage…")]);
  try {
    const q = version ? `?version=${encodeURIComponent(version)}` : "";
    const p = await api(`/api/passage/${encodeURIComponent(cit.passage_id)}${q}`);
    clear(text);
    // start/end are offsets into the document; the passage begins at p.start.
    let from = (cit.start ?? p.start) - p.start;
    let to = (cit.end ?? p.end) - p.start;
    if (!(from >= 0 && to <= p.text.length && from < to)) { from = 0; to = 0; }
    if (p.page) $("#source-meta").textContent = [meta, `page ${p.page}`].filter(Boolean).join(" · ");
    append(text, [p.text.slice(0, from),
      to > from ? h("mark", { class: "cited", id: "cited-span" }, p.text.slice(from, to)) : null,
      p.text.slice(to)]);
    const mark = $("#cited-span");
    if (mark) mark.scrollIntoView({ block: "nearest" });
  } catch (err) {
    clear(text);
    append(text, [h("p", { class: "error" }, err.message),
      cit.text ? h("mark", { class: "cited" }, cit.text) : null]);
  }
}

const ctx = { openCitation, auditLink: true };

// -- views -------------------------------------------------------------------------------
function show(view) {
  for (const v of VIEWS) $(`#view-${v}`).hidden = v !== view;
  for (const a of document.querySelectorAll("#tabs a")) {
    a.classList.toggle("active", a.dataset.view === view);
  }
}

function route() {
  closeSource();
  const [view, arg] = location.hash.replace(/^#/, "").split("/", 2);
  const name = VIEWS.includes(view) ? view : "ask";
  show(name);
  if (name === "audit" && arg) {
    $("#audit-q").value = decodeURIComponent(arg);
    doAudit();
  }
  if (name === "graph" && arg) {
    $("#graph-q").value = decodeURIComponent(arg);
    doGraph();
  }
}

function doAudit(button) {
  const id = $("#audit-q").value.trim();
  return run($("#audit-out"), button, async () => renderAudit(await api(`/api/audit/${encodeURIComponent(id)}`), ctx));
}

function doGraph(button) {
  const entity = $("#graph-q").value.trim();
  return run($("#graph-out"), button, async () => renderGraph(
    await api(`/api/graph/${encodeURIComponent(entity)}`),
    (id) => { location.hash = `#graph/${encodeURIComponent(id)}`; }));
}

function onSubmit(form, handler) {
  $(form).addEventListener("submit", (ev) => {
    ev.preventDefault();
    handler(ev.submitter || $(`${form} button[type=submit]`));
  });
}

onSubmit("#ask-form", (btn) => run($("#ask-out"), btn, async () => renderAnswer(
  await api("/api/ask", { question: $("#ask-q").value, policy: $("#ask-policy").value,
    backend: $("#ask-backend").value || undefined }), ctx)));

onSubmit("#check-form", (btn) => run($("#check-out"), btn, async () => renderAnswer(
  await api("/api/check", { question: $("#check-q").value, answer: $("#check-a").value }), ctx)));

onSubmit("#diagnose-form", (btn) => run($("#diagnose-out"), btn, async () =>
  renderDiagnosis(await api("/api/diagnose", { text: $("#dx-text").value }))));

onSubmit("#graph-form", (btn) => {
  const target = `#graph/${encodeURIComponent($("#graph-q").value.trim())}`;
  if (location.hash === target) doGraph(btn); else location.hash = target;
});

onSubmit("#audit-form", (btn) => {
  const target = `#audit/${encodeURIComponent($("#audit-q").value.trim())}`;
  if (location.hash === target) doAudit(btn); else location.hash = target;
});

function closeSource() {
  $("#source").hidden = true;
  document.body.classList.remove("source-open");
}
$("#source-close").addEventListener("click", closeSource);
document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") closeSource(); });
$("#key-save").addEventListener("click", () => {
  apiKey = $("#api-key").value.trim();
  sessionStorage.setItem("medkb-key", apiKey);
  $("#key-box").hidden = true;
  loadInfo();
});

async function loadInfo() {
  try {
    const info = await api("/api/info");
    $("#kb-version").textContent = `KB ${info.kb_version} · ${info.documents} documents`;
    const select = clear($("#ask-backend"));
    for (const name of info.backends || []) {
      append(select, [h("option", { value: name, selected: name === info.default_backend }, name)]);
    }
  } catch (err) {
    $("#kb-version").textContent = err.message;
  }
}

window.addEventListener("hashchange", route);
loadInfo();
route();
document.body.dataset.ready = "1";
