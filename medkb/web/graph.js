// An entity's neighbourhood as a small radial network in inline SVG (no library).
// Neighbours sit on a circle grouped by relation; hovering an edge or node shows its evidence.

import { evidenceLine, h } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const MAX_NEIGHBOURS = 30;
const TYPE_CLASS = { Disease: "disease", Compound: "drug", Drug: "drug", Symptom: "symptom" };

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function short(text, n) {
  return text.length > n ? text.slice(0, n - 1) + "…" : text;
}

const PALETTE = ["#1f6feb", "#8250df", "#0a7ea4", "#6e7781", "#4d2d00", "#f0b429", "#116329",
  "#953800"];

// Clinical relations keep their meaning in colour: green helps, red harms, amber warns.
const KNOWN = { treats: "#1a7f37", palliates: "#57ab5a", contraindicated_in: "#d1242f",
  interacts_with: "#e16f24", not_indicated_for: "#9a6700", causes: "#bf3989" };

// Up to MAX_NEIGHBOURS edges, taken in turn from each relation so rare ones are not crowded out.
function pick(edges) {
  const groups = new Map();
  for (const e of edges) {
    const key = `${e.relation}:${e.direction}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(e);
  }
  const lists = [...groups.values()];
  const chosen = [];
  for (let i = 0; chosen.length < MAX_NEIGHBOURS && lists.some((l) => l.length > i); i++) {
    for (const l of lists) if (l[i] && chosen.length < MAX_NEIGHBOURS) chosen.push(l[i]);
  }
  const order = [...groups.keys()];
  return chosen.sort((a, b) => order.indexOf(`${a.relation}:${a.direction}`) -
    order.indexOf(`${b.relation}:${b.direction}`));
}

export function renderGraph(doc, onNode) {
  const entity = doc.entity;
  const edges = doc.edges || [];
  const shown = pick(edges);
  const relations = [...new Set(shown.map((e) => e.relation))];
  const colour = (rel) => KNOWN[rel] || PALETTE[relations.indexOf(rel) % PALETTE.length];
  const width = 760, height = 540, cx = width / 2, cy = height / 2, radius = 210;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "graph-svg", role: "img",
    "aria-label": `Graph neighbourhood of ${entity.name}` });

  const edgeLayer = s("g", { class: "edges" });
  const nodeLayer = s("g", { class: "nodes" });
  svg.append(edgeLayer, nodeLayer);

  shown.forEach((e, i) => {
    const angle = (2 * Math.PI * i) / Math.max(shown.length, 1) - Math.PI / 2;
    const x = cx + radius * Math.cos(angle), y = cy + radius * Math.sin(angle);
    const evidence = (e.evidence || []).map(evidenceLine).slice(0, 6).join("\n") || "no evidence listed";
    const arrow = e.direction === "out" ? `${entity.name} ${e.relation} ${e.other.name}`
      : `${e.other.name} ${e.relation} ${entity.name}`;
    const line = s("line", { x1: cx, y1: cy, x2: x, y2: y, class: "edge", stroke: colour(e.relation),
      "data-relation": e.relation });
    line.append(s("title", {}, `${arrow}\n${evidence}`));
    edgeLayer.append(line);

    const node = s("g", { class: `node ${TYPE_CLASS[e.other.type] || "other"}`, tabindex: 0,
      "data-id": e.other.id });
    node.append(s("title", {}, `${e.other.name} (${e.other.type}, ${e.other.id})\n${arrow}\n${evidence}`));
    node.append(s("circle", { cx: x, cy: y, r: 9 }));
    const anchor = Math.cos(angle) > 0.2 ? "start" : Math.cos(angle) < -0.2 ? "end" : "middle";
    const dx = anchor === "start" ? 13 : anchor === "end" ? -13 : 0;
    const dy = anchor === "middle" ? (Math.sin(angle) > 0 ? 22 : -14) : 4;
    node.append(s("text", { x: x + dx, y: y + dy, "text-anchor": anchor }, short(e.other.name, 24)));
    node.addEventListener("click", () => onNode(e.other.id));
    node.addEventListener("keydown", (ev) => { if (ev.key === "Enter") onNode(e.other.id); });
    nodeLayer.append(node);
  });
  const legend = h("div", { class: "legend" }, relations.map((rel) => h("span", { class: "legend-item" },
    h("i", { style: `background:${colour(rel)}` }), `${rel} (${edges.filter((e) => e.relation === rel).length})`)));

  const centre = s("g", { class: `node centre ${TYPE_CLASS[entity.type] || "other"}` });
  centre.append(s("title", {}, `${entity.name} (${entity.type}, ${entity.id})`));
  centre.append(s("circle", { cx, cy, r: 16 }));
  centre.append(s("text", { x: cx, y: cy + 34, "text-anchor": "middle", class: "centre-label" },
    short(entity.name, 30)));
  nodeLayer.append(centre);

  const table = h("details", { class: "edge-list" },
    h("summary", {}, `All ${edges.length} relations`),
    h("ul", {}, edges.map((e) => h("li", {},
      e.direction === "out" ? `${entity.name} —${e.relation}→ ` : `${e.other.name} —${e.relation}→ `,
      h("a", { href: `#graph/${encodeURIComponent(e.other.id)}` },
        e.direction === "out" ? e.other.name : entity.name),
      h("span", { class: "muted small" }, ` ${(e.evidence || []).map(evidenceLine).slice(0, 2).join("; ")}`)))));

  return h("article", { class: "card graph" },
    h("h2", {}, entity.name, h("span", { class: "muted" }, ` ${entity.type} · ${entity.id}`)),
    edges.length > shown.length
      ? h("p", { class: "muted small" }, `Showing ${shown.length} of ${edges.length} relations; hover for evidence, click a node to move there.`)
      : h("p", { class: "muted small" }, "Hover an edge or node for its evidence; click a node to move there."),
    h("div", { class: "graph-wrap" }, svg),
    legend,
    table);
}
