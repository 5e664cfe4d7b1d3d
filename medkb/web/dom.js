// Small DOM helpers. Everything from the server goes in as text nodes, never as HTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export const $ = (sel) => document.querySelector(sel);

export function badge(status, text) {
  return h("span", { class: `badge ${status}` }, text ?? status);
}

export function score(value) {
  return typeof value === "number" ? value.toFixed(2) : "–";
}

// One evidence item (a graph edge or a passage span) as a short line.
export function evidenceLine(ev) {
  if (ev === null || typeof ev !== "object") return String(ev);
  if (ev.relation) {
    const bits = [ev.subject_name || ev.subject, ev.relation, ev.object_name || ev.object];
    const note = ev.note || ev.source;
    return bits.filter(Boolean).join(" ") + (note ? ` — ${note}` : "");
  }
  if (ev.passage_id) {
    return `passage [${ev.key ?? "?"}] ${ev.passage_id}` +
      (ev.start != null ? ` chars ${ev.start}–${ev.end}` : "");
  }
  if (ev.text) return ev.text;
  return JSON.stringify(ev);
}

export function evidenceList(items, limit = 8) {
  if (!Array.isArray(items) || items.length === 0) return null;
  const list = h("ul", { class: "evidence" },
    items.slice(0, limit).map((ev) => h("li", {}, evidenceLine(ev))));
  if (items.length > limit) append(list, [h("li", { class: "muted" }, `… ${items.length - limit} more`)]);
  return list;
}
