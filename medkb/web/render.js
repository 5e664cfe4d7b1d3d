// Renders the contract documents (ask, check, audit, diagnose) as page sections.

import { append, badge, evidenceList, h, score } from "./dom.js";

const RULE_NAMES = {
  citation_support: "Citation support",
  indication: "Indication",
  contraindication: "Contraindication",
  interaction: "Interaction",
  diagnosis_consistency: "Diagnosis consistency",
  relevance: "Relevance",
};

// ask / check / audit: the answer with citation chips, then clinical, checks, sources.
export function renderAnswer(doc, { openCitation, auditLink }) {
  const byKey = new Map((doc.citations || []).map((c) => [String(c.key), c]));
  const chip = (key) => {
    const cit = byKey.get(String(key));
    const label = cit && cit.kind === "graph" ? `graph ${key}` : `[${key}]`;
    return h("button", {
      type: "button", class: `chip${cit && cit.kind === "graph" ? " graph" : ""}`,
      "data-key": key, title: cit ? (cit.title || cit.source || "") : "not in the sources",
      onclick: () => cit && openCitation(cit, doc.kb_version),
    }, label);
  };
  const claims = (doc.claims || []).map((c, i) =>
    h("li", { class: `claim ${c.supported ? "supported" : "unsupported"}`, "data-claim": i },
      h("span", { class: "claim-text" }, c.text), " ",
      (c.citations || []).map(chip), " ",
      c.supported ? null : badge("warn", "unsupported"),
      c.reason ? h("div", { class: "muted small" }, c.reason) : null));

  const head = h("div", { class: "answer-head" },
    doc.abstained ? badge("warn", "abstained") : badge("pass", "answered"),
    h("span", { class: "muted" }, ` ${doc.model || ""} · policy ${doc.policy || "flag"} · KB ${doc.kb_version || ""}`),
    doc.id ? h("span", { class: "muted" }, " · id ", h("code", { class: "gen-id" }, doc.id)) : null,
    doc.id && auditLink ? h("a", { class: "audit-link", href: `#audit/${doc.id}` }, "Audit this answer") : null);

  return h("article", { class: "card answer" },
    doc.question ? h("h2", { class: "question" }, doc.question) : null,
    head,
    claims.length ? h("ol", { class: "claims" }, claims)
      : h("p", { class: "answer-text" }, doc.answer || ""),
    doc.clinical ? renderClinical(doc.clinical) : null,
    renderChecks(doc.checks || []),
    renderSources(doc.citations || [], openCitation, doc.kb_version));
}

export function renderSources(all, openCitation, version) {
  // One line per cited source; the claims' chips open each cited sentence itself.
  const spans = new Map();
  for (const c of all) {
    const key = `${c.key}|${c.passage_id || c.source}`;
    if (!spans.has(key)) spans.set(key, []);
    if (!spans.get(key).some((o) => o.start === c.start)) spans.get(key).push(c);
  }
  const citations = [...spans.values()].map((list) => ({ ...list[0], cited: list.length }));
  if (!citations.length) return null;
  return h("details", { class: "sources", open: true },
    h("summary", {}, `Sources (${citations.length})`),
    h("ol", {}, citations.map((c) => h("li", {},
      h("button", { type: "button", class: "linklike", onclick: () => openCitation(c, version) },
        `[${c.key}] ${c.title || c.source || c.passage_id || "source"}`),
      c.page ? h("span", { class: "muted" }, ` p. ${c.page}`) : null,
      c.external_id ? h("span", { class: "muted" }, ` · ${c.external_id}`) : null,
      c.kind === "graph" ? h("span", { class: "muted" }, " · knowledge graph") : null,
      c.cited > 1 ? h("span", { class: "muted" }, ` · ${c.cited} sentences cited`) : null))));
}

export function renderChecks(checks) {
  if (!checks.length) return null;
  const counts = { pass: 0, warn: 0, fail: 0 };
  for (const c of checks) counts[c.status] = (counts[c.status] || 0) + 1;
  const order = { fail: 0, warn: 1, pass: 2 };
  const sorted = [...checks].sort((a, b) => (order[a.status] ?? 3) - (order[b.status] ?? 3));
  return h("details", { class: "checks", open: counts.fail + counts.warn > 0 },
    h("summary", {}, "Checks ",
      badge("pass", `${counts.pass} pass`), " ", badge("warn", `${counts.warn} warn`), " ",
      badge("fail", `${counts.fail} fail`)),
    h("ul", {}, sorted.map((c) => h("li", { class: `check ${c.status}` },
      badge(c.status), " ", h("strong", {}, RULE_NAMES[c.rule] || c.rule), " ",
      h("span", {}, c.message || ""),
      c.evidence && c.evidence.length
        ? h("details", { class: "ev" }, h("summary", {}, `evidence (${c.evidence.length})`),
            evidenceList(c.evidence))
        : null))));
}

// The clinical block of `ask`: differential, treatment options, avoid list, safety verdicts.
export function renderClinical(cl) {
  const patient = cl.patient || {};
  const facts = Object.entries(patient)
    .filter(([, v]) => v !== null && v !== undefined && !(Array.isArray(v) && !v.length))
    .map(([k, v]) => h("span", { class: "fact" }, `${k}: `,
      Array.isArray(v) ? v.map((x) => (typeof x === "object" ? x.name || x.text || x.id : x)).join(", ")
        : typeof v === "object" ? JSON.stringify(v) : String(v)));
  const options = (cl.treatments || []).filter((t) => t.status !== "avoid");
  const avoid = (cl.treatments || []).filter((t) => t.status === "avoid");
  return h("section", { class: "clinical" },
    h("h3", {}, "Clinical reading ", h("span", { class: "muted" }, `(${cl.question_type || "other"})`)),
    facts.length ? h("div", { class: "facts" }, facts) : null,
    (cl.differential || []).length ? renderDifferential(cl.differential) : null,
    options.length ? h("div", { class: "treat" }, h("h4", {}, "Treatment options"),
      h("ul", {}, options.map(treatment))) : null,
    avoid.length ? h("div", { class: "treat avoid" }, h("h4", {}, "Avoid"),
      h("ul", {}, avoid.map(treatment))) : null,
    (cl.safety || []).length ? renderSafety(cl.safety) : null);
}

function treatment(t) {
  return h("li", { class: `treatment ${t.status}` },
    h("strong", {}, t.drug), t.for ? h("span", { class: "muted" }, ` for ${t.for}`) : null,
    t.status === "avoid" ? [" ", badge("fail", "avoid")] : null,
    (t.reasons || []).length ? h("div", { class: "small" }, t.reasons.join("; ")) : null,
    (t.evidence || []).length ? h("div", { class: "muted treat-ev" }, evidenceSources(t.evidence)) : null);
}

// Where the evidence comes from, in a few words: "Hetionet CtD; passage [1]".
function evidenceSources(items) {
  const seen = [];
  for (const ev of items) {
    const label = typeof ev !== "object" || ev === null ? String(ev)
      : ev.passage_id ? `passage [${ev.key ?? "?"}]` : (ev.note || ev.source || "").split(";")[0];
    if (label && !seen.includes(label)) seen.push(label);
  }
  return seen.join("; ");
}

const VERDICT = { avoid: "fail", caution: "warn", no_known_issue: "pass" };

function renderSafety(rows) {
  return h("div", { class: "safety" }, h("h4", {}, "Safety"),
    h("table", {},
      h("thead", {}, h("tr", {}, ["Drug", "With", "Kind", "Verdict", "Severity"].map((x) => h("th", {}, x)))),
      h("tbody", {}, rows.map((s) => h("tr", { title: (s.evidence || []).map((e) => (typeof e === "object" ? e.note || e.source || "" : e)).join("; ") },
        h("td", {}, s.drug), h("td", {}, s.with), h("td", {}, s.kind),
        h("td", {}, badge(VERDICT[s.verdict] || "warn", (s.verdict || "").replaceAll("_", " "))),
        h("td", {}, s.severity || "–"))))));
}

export function renderDifferential(rows) {
  const top = Math.max(...rows.map((r) => r.score || 0), 1e-9);
  return h("div", { class: "differential" }, h("h4", {}, "Differential"),
    h("ol", {}, rows.map((d) => h("li", { class: "dx" },
      h("div", { class: "dx-head" }, h("strong", {}, d.disease),
        d.id ? h("span", { class: "muted" }, ` ${d.id}`) : null,
        h("span", { class: "dx-score" }, score(d.score))),
      h("div", { class: "bar" }, h("span", { style: `width:${Math.round(100 * (d.score || 0) / top)}%` })),
      h("div", { class: "findings" },
        (d.matched || []).map((f) => h("span", { class: "finding matched", title: "matched" }, "✓ ", f)),
        (d.unmatched || []).map((f) => h("span", { class: "finding unmatched", title: "expected, not reported" }, "· ", f))),
      evidenceList(d.evidence, 3)))));
}

export function renderDiagnosis(doc) {
  return h("article", { class: "card" },
    h("div", { class: "facts" }, (doc.findings || []).map((f) =>
      h("span", { class: `fact${f.negated ? " negated" : ""}`, title: f.id || "" },
        f.negated ? "no " : "", f.name || f.text))),
    (doc.differential || []).length ? renderDifferential(doc.differential)
      : h("p", { class: "muted" }, "No disease in the graph matches these findings."),
    h("p", { class: "muted small" }, `KB ${doc.kb_version || ""}`));
}

export function renderAudit(doc, ctx) {
  const v = doc.verification || {};
  const rechecks = v.checks || {};
  const changed = rechecks.changed || [];
  const summary = h("div", { class: "card verification" },
    h("h2", {}, "Audit of ", h("code", {}, doc.id)),
    h("p", {},
      v.sources_intact ? badge("pass", "sources intact") : badge("fail", "sources changed"), " ",
      v.ledger_ok ? badge("pass", "ledger intact") : badge("fail", "ledger broken"), " ",
      changed.length ? badge("warn", `${changed.length} check(s) changed on the current KB`)
        : badge("pass", "checks unchanged on the current KB")),
    (v.missing || []).length ? h("p", {}, "Missing passages: ", v.missing.filter(Boolean).join(", ") || "–") : null,
    (v.changed || []).length ? h("p", {}, "Changed passages: ", v.changed.join(", ")) : null,
    (v.ledger_problems || []).length ? h("ul", {}, v.ledger_problems.map((p) => h("li", {}, p))) : null,
    changed.length ? h("ul", { class: "rechecks" }, changed.map((c) => h("li", {},
      badge(c.before || "warn"), " → ", badge(c.after || "warn"), " ",
      h("strong", {}, RULE_NAMES[c.rule] || c.rule), " ", c.message || ""))) : null,
    h("p", { class: "muted small" },
      `answered on ${doc.kb_version}; current ${v.current_kb_version || rechecks.kb_version || "?"}`));
  return [summary, renderAnswer(doc, { ...ctx, auditLink: false })];
}

export function appendAll(el, nodes) {
  return append(el, [nodes]);
}
