"""Treatment options for a diagnosis, from the graph's indication edges, minus what this
patient must avoid.

Drugs with a treats/palliates edge to the disease (or a same-name node; its parent when the
disease itself has none) are ranked by evidence: a curated label rule (FDA label), then
PharmacotherapyDB by its curators and resources (a pair three curators and four resources
agree on ranks with a label), then Hetionet, then literature alone; a
passage of the KB naming the drug with the disease lifts a drug within its tier and is cited.
Drugs with a curated not-indicated edge are left out. Each drug is checked for this patient
(generation.safety): a contraindication in one of their conditions or an interaction with a
drug they take moves it to the `avoid` list with the rule and its source.

"First-line" is claimed only where a passage says so (`first_line` carries that sentence).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from generation.clinical import Item, QuestionReading
from generation.safety import (
    contraindication_verdict,
    display,
    interaction_verdict,
    short_source,
    source_label,
    why_text,
)
from kb.graph import INDICATION_RELATIONS

MAX_OPTIONS = 6
_PTDB = re.compile(r"(\d+)\s*curator.*?(\d+)\s*resource", re.I)
_FIRST_LINE = re.compile(r"\b(?:first[- ]line|drug of choice|treatment of choice|preferred (?:initial )?"
                         r"(?:treatment|therapy|drug|agent))\b", re.I)
Keep = Callable[[dict[str, Any]], bool]


def _evidence_score(ev: dict[str, Any]) -> float:
    """How strongly one indication edge supports the drug."""
    if not ev.get("curated"):
        return 0.5 * float(ev.get("confidence") or 0.5)
    if ev.get("relation") == "palliates":  # relieves symptoms: after what treats the disease
        return 2.0
    note = ev.get("note") or ""
    if note.startswith(("FDA", "EMA", "WHO", "NICE")):
        return 8.0  # a label indication: as strong as a well-curated PharmacotherapyDB pair
    m = _PTDB.search(note)
    if m:
        return 4.0 + min(int(m.group(1)), 3) + 0.5 * min(int(m.group(2)), 4)
    return 3.0


def _indicated(graph: Any, disease_id: str, keep: Keep) -> dict[str, list[dict[str, Any]]]:
    """Drug id -> evidence of its indication for the disease (same-name nodes included)."""
    found: dict[str, list[dict[str, Any]]] = {}
    nots: set[str] = set()
    nodes = [disease_id] + graph.equivalents(disease_id)
    for node in nodes:
        for rel in INDICATION_RELATIONS:
            for drug, d in graph._in(node, rel):
                if d.get("negated"):
                    continue
                ev = graph.evidence(drug, node, d)
                if keep(ev):
                    found.setdefault(drug, []).append(ev)
        for drug, _ in graph._in(node, "not_indicated_for"):
            nots.add(drug)
    return {d: ev for d, ev in found.items() if d not in nots}


def _passages_naming(verifier: Any, hits: Sequence[Any], drug_id: str, disease_id: str
                     ) -> list[dict[str, Any]]:
    """Sentences of the retrieved passages that name the drug with the disease."""
    if verifier is None:
        return []
    rd, rx = verifier.related(drug_id), verifier.related(disease_id)
    out = []
    for key, hit in enumerate(hits, start=1):
        p = hit.passage
        for s, e, ids in verifier.sentence_entities(p):
            if rd & ids and rx & ids:
                out.append({"key": key, "passage_id": p.passage_id, "start": p.start + s,
                            "end": p.start + e, "text": p.text[s:e], "title": hit.title})
    return out


def treatment_options(graph: Any, disease: Item, q: QuestionReading, *, keep: Keep, verifier: Any = None,
                      hits: Sequence[Any] = (), limit: int = MAX_OPTIONS) -> list[dict[str, Any]]:
    """Options then avoided drugs for `disease` and this patient (see module doc)."""
    found = _indicated(graph, disease.id, keep)
    target = disease
    if not found:  # a subtype the graph knows no drug for: its parent's
        for parent, _ in sorted(graph.ancestors(disease.id, 1).items()):
            found = _indicated(graph, parent, keep)
            if found:
                ent = graph.entity(parent)
                target = Item(id=parent, name=ent.name if ent else parent, type=disease.type,
                              text=disease.text, role="target", sentence=disease.sentence,
                              start=disease.start, end=disease.end)
                break
    taken = {t.id: t for t in q.taken}
    rows = []
    for drug_id, evidence in found.items():
        ent = graph.entity(drug_id)
        if ent is None or drug_id in taken:
            continue
        item = Item(id=drug_id, name=ent.name, type=ent.type, text=ent.name, role="option",
                    sentence=0, start=0, end=0)
        passages = _passages_naming(verifier, hits, drug_id, target.id)
        score = max(_evidence_score(e) for e in evidence) + (2.0 if passages else 0.0)
        rows.append((score, item, evidence, passages))
    rows.sort(key=lambda r: (-r[0], r[1].name.casefold()))
    options: list[dict[str, Any]] = []
    avoid: list[dict[str, Any]] = []
    for score, item, evidence, passages in rows:
        rules, rule_ev = _patient_problems(graph, item, q, keep)
        reasons = [v["sentence"].removeprefix("No: ") for v in rules]
        status = "avoid" if reasons else "option"
        if status == "option" and len(options) >= limit:
            continue
        first = next((p["text"] for p in passages if _FIRST_LINE.search(p["text"])), None)
        sources = list(dict.fromkeys(source_label(e) for e in evidence))
        row = {"drug": item.name, "id": item.id, "for": target.name, "for_id": target.id,
               "status": status, "reasons": reasons, "score": round(score, 2),
               "sources": sources[:3],
               "evidence": [_ev(e) for e in evidence[:3]] + rule_ev + [p | {"kind": "passage"} for p in passages[:2]],
               "passages": passages[:2], "first_line": first, "rules": rules}
        (avoid if reasons else options).append(row)
    return options + avoid


def _patient_problems(graph: Any, drug: Item, q: QuestionReading, keep: Keep
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The avoid verdicts (generation.safety) this patient's conditions and drugs give the
    drug, and their evidence."""
    rules: list[dict[str, Any]] = []
    for cond in {c.id: c for c in q.conditions}.values():
        v = contraindication_verdict(graph, drug, cond, q, keep)
        if v["verdict"] == "avoid":
            rules.append(v)
    for other in {t.id: t for t in q.taken}.values():
        v = interaction_verdict(graph, drug, other, keep)
        if v["verdict"] == "avoid":
            rules.append(v)
    return rules, [e for v in rules for e in v["evidence"][:1]]


def _ev(ev: dict[str, Any]) -> dict[str, Any]:
    keep = ("source", "note", "relation", "passage_id", "start", "end", "curated")
    return {k: ev[k] for k in keep if ev.get(k) is not None} | {"label": source_label(ev), "kind": "graph"}


def options_sentence(rows: Sequence[dict[str, Any]], disease: str) -> str | None:
    """One sentence naming the options and where they come from (never "first-line" unless a
    passage said so for that drug)."""
    opts = [r for r in rows if r["status"] == "option"]
    if not opts:
        return None
    names = [display(r["drug"]) for r in opts]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    sources = list(dict.fromkeys(short_source(s) for r in opts for s in r["sources"]))[:3]
    return (f"Drugs indicated for {display(disease)} in the knowledge graph include {listed} "
            f"({'; '.join(sources)}).")


def avoid_sentences(rows: Sequence[dict[str, Any]], limit: int = 3) -> list[tuple[str, list[dict[str, Any]]]]:
    """One sentence per rule that rules drugs out (a class and its members together), with the
    rows it covers; worst-covered first."""
    groups: dict[tuple[str, str, str], list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for r in rows:
        if r["status"] != "avoid":
            continue
        for v in r.get("rules") or ():
            key = (v["kind"], v["with"], v.get("via_class") or v["drug"])
            groups.setdefault(key, []).append((r, v))
    out = []
    for (kind, other, head), members in sorted(groups.items(), key=lambda g: -len(g[1]))[:limit]:
        v = members[0][1]
        drugs = list(dict.fromkeys(display(r["drug"]) for r, _ in members))
        names = (f"{head} ({_listed(drugs)})" if head != members[0][0]["drug"] else drugs[0])
        if kind == "contraindication":
            cond = display(other) + (f" ({v['with_cue']})" if v.get("with_cue") else "")
            text = f"Avoid {names} in this patient: contraindicated in {cond}"
        else:
            text = f"Avoid {names} with {display(other)}: {v['severity']} interaction"
        out.append((f"{text} ({why_text(v)}).", [r for r, _ in members]))
    return out


def _listed(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
