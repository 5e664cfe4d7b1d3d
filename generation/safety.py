"""Safety verdicts: "can a patient on X take Y", "is X safe in pregnancy / at eGFR 20".

For each drug the question asks about, against each condition of the patient and each other
drug (taken or asked), the contraindication and interaction rules of the knowledge graph
(classes expanded, severities kept) give a verdict, the same way the graph rules
(generation.rules) judge a recommendation:

- `avoid`: a curated contraindication, or an interaction at `contraindicated` or `major`
  severity (the rules fail these);
- `caution`: a contraindication at `major`/`moderate` severity, a `moderate` interaction, or a
  literature-only edge (one sentence of one paper, no severity) (the rules warn);
- `no_known_issue`: nothing in the graph (or a `minor` interaction).

Each verdict carries its severity, its evidence (the curated rule with its source, e.g. "FDA
label (metformin)", or the literature passage) and a plain sentence saying it, verdict first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from generation.clinical import Item, QuestionReading
from kb.graph import SYMPTOM, severity_rank

VERDICT_RANK = {"no_known_issue": 0, "caution": 1, "avoid": 2}
Keep = Callable[[dict[str, Any]], bool]


def _keep_all(_: dict[str, Any]) -> bool:
    return True


def source_label(ev: dict[str, Any]) -> str:
    """Where an edge comes from, as a reader would cite it: "FDA label (metformin)",
    "Hetionet CtD", "PharmacotherapyDB", or "literature"."""
    if not ev.get("curated", True):
        return "literature"
    note = (ev.get("note") or "").strip()
    if note:
        head = note.split(":", 1)[0] if note.startswith(("FDA", "WHO", "EMA", "NICE")) else note
        return head.split(";", 1)[0].strip()
    return str(ev.get("source") or "curated")


def short_source(label: str) -> str:
    """A source as named inside a sentence: "FDA label (metformin)" -> "FDA label" (the drug in
    brackets would read as another mention of it; the citation keeps the full name)."""
    return re.sub(r"\s*\([^)]*\)", "", label).strip() or label


def note_text(ev: dict[str, Any]) -> str:
    """The rule's own words after its source ("eGFR below 30 ...; lactic acidosis risk")."""
    note = (ev.get("note") or "").strip()
    if ":" in note and note.startswith(("FDA", "WHO", "EMA", "NICE")):
        return note.split(":", 1)[1].strip()
    return ""


def _ruled_out(graph: Any, q: QuestionReading) -> set[str]:
    from generation.rules import _ruled_out as ruled_out

    return ruled_out(graph, q)


def _worst(evidence: Sequence[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    curated = [e for e in evidence if e.get("curated")]
    severity = max((e.get("severity") for e in curated), key=severity_rank, default=None)
    ordered = sorted(curated, key=lambda e: -severity_rank(e.get("severity"))) + \
        [e for e in evidence if not e.get("curated")]
    return severity, ordered


def contraindication_verdict(graph: Any, drug: Item, cond: Item, q: QuestionReading,
                             keep: Keep = _keep_all) -> dict[str, Any]:
    ruled_out = _ruled_out(graph, q)
    evidence: list[dict[str, Any]] = []
    matched = cond.id
    for r in graph.contraindications(drug.id, [cond.id]):
        if r["matched"] != r["condition"] and r["matched"] in ruled_out:
            continue
        ev = [e | {"via_class": r["via_class"], "matched": r["matched"]} for e in r["evidence"] if keep(e)]
        if ev and not evidence:
            matched = r["matched"]
        evidence.extend(ev)
    severity, ordered = _worst(evidence)
    if not ordered:
        verdict = "no_known_issue"
    elif severity == "contraindicated" or (ordered[0].get("curated") and severity is None):
        verdict, severity = "avoid", "contraindicated"
    else:
        verdict = "caution"
    return _entry(graph, drug, cond, "contraindication", verdict, severity, ordered, matched)


def interaction_verdict(graph: Any, drug: Item, other: Item, keep: Keep = _keep_all) -> dict[str, Any]:
    evidence: list[dict[str, Any]] = []
    via: list[str] = []
    for r in graph.interactions([drug.id, other.id]):
        evidence.extend(e for e in r["evidence"] if keep(e))
        via = list(r["via"])
    severity, ordered = _worst(evidence)
    if not ordered or severity == "minor":
        verdict = "no_known_issue"
    elif severity in ("contraindicated", "major"):
        verdict = "avoid"
    else:
        verdict = "caution"
    out = _entry(graph, drug, other, "interaction", verdict, severity, ordered, other.id)
    out["via"] = [_name(graph, v) for v in via]
    return out


def _name(graph: Any, eid: str) -> str:
    ent = graph.entity(eid)
    return ent.name if ent else eid


def _entry(graph: Any, drug: Item, other: Item, kind: str, verdict: str, severity: str | None,
           evidence: list[dict[str, Any]], matched: str) -> dict[str, Any]:
    sources = list(dict.fromkeys(source_label(e) for e in evidence))
    entry = {"drug": drug.name, "drug_id": drug.id, "with": other.name, "with_id": other.id,
             "with_text": other.text, "with_cue": other.cue if other.derived else None,
             "kind": kind, "verdict": verdict, "severity": severity,
             "evidence": [_evidence_json(e) for e in evidence[:4]], "sources": sources[:3],
             "matched": _name(graph, matched) if matched != other.id else None}
    via_class = next((e.get("via_class") for e in evidence if e.get("via_class")), None)
    if via_class:
        entry["via_class"] = _name(graph, via_class)
    entry["sentence"] = verdict_sentence(entry)
    return entry


def _evidence_json(ev: dict[str, Any]) -> dict[str, Any]:
    keep = ("source", "note", "severity", "passage_id", "start", "end", "curated", "relation")
    return {k: ev[k] for k in keep if ev.get(k) is not None} | {"label": source_label(ev)}


def why_text(entry: dict[str, Any]) -> str:
    rule_note = next((note_text(e) for e in entry["evidence"] if note_text(e)), "")
    curated = [x for x in entry["sources"] if x != "literature"]
    src = "; ".join(dict.fromkeys(short_source(x) for x in curated or entry["sources"])) or "knowledge graph"
    return f"{rule_note}; {src}" if rule_note else src


def _cond(entry: dict[str, Any]) -> str:
    """How the condition is named: "severe renal impairment (eGFR 20)"."""
    name = entry["with"]
    if entry.get("matched"):
        name = f"{name} ({entry['matched']})"
    cue = entry.get("with_cue")
    if cue and cue.lower() not in name.lower():
        name = f"{name} ({cue})"
    return name


def display(name: str) -> str:
    """A drug or condition name as written mid-sentence: "Metformin" -> "metformin"."""
    return name[0].lower() + name[1:] if name[:1].isupper() and name[1:].islower() else name


def verdict_sentence(entry: dict[str, Any]) -> str:
    """The verdict said plainly, verdict first."""
    drug, verdict, kind = display(entry["drug"]), entry["verdict"], entry["kind"]
    via = entry.get("via_class")
    cls = f" (a member of {via})" if via and via != entry["drug"] else ""
    if kind == "contraindication":
        cond = display(_cond(entry))
        if verdict == "avoid":
            return f"No: avoid {drug} in this patient; {drug}{cls} is contraindicated in {cond} ({why_text(entry)})."
        if verdict == "caution":
            level = entry["severity"] or "literature-reported"
            return f"Use {drug} with caution in {cond}: a {level} warning ({why_text(entry)})."
        return f"No known issue: the knowledge graph has no contraindication of {drug} in {cond}."
    other = display(entry["with"])
    if verdict == "avoid":
        what = "is contraindicated" if entry["severity"] == "contraindicated" else \
            f"has a {entry['severity']} interaction"
        return f"No: do not combine {drug} with {other}; the combination {what} ({why_text(entry)})."
    if verdict == "caution":
        level = entry["severity"] or "literature-reported"
        return f"Use {drug} with {other} with caution: a {level} interaction ({why_text(entry)})."
    return f"No known issue: the knowledge graph has no interaction between {drug} and {other}."


def safety_verdicts(graph: Any, q: QuestionReading, keep: Keep = _keep_all,
                    drugs: Sequence[Item] | None = None) -> list[dict[str, Any]]:
    """Verdicts for the asked drugs (or `drugs`; without either, the drugs taken) against the
    patient's conditions and the other drugs; worst first. A condition that is only a symptom or what the drug is asked for
    gets an entry only when a rule concerns it."""
    asked = list(drugs if drugs is not None else q.asked)
    if not asked and q.conditions:  # "she takes X and has Y: OK to continue?"
        asked = list(q.taken)
    if not asked:
        return []
    out: list[dict[str, Any]] = []
    targets = {t.id for t in q.targets}
    symptoms = {s.id for s in q.symptoms}
    asked = _unique(asked)
    asked_ids = [a.id for a in asked]
    for drug in asked:
        for cond in _unique(q.conditions):
            entry = contraindication_verdict(graph, drug, cond, q, keep)
            incidental = cond.id in targets or cond.type == SYMPTOM or cond.id in symptoms
            if entry["verdict"] == "no_known_issue" and incidental:
                continue
            out.append(entry)
        others = [t for t in _unique(list(q.taken) + asked) if t.id != drug.id]
        for other in others:
            if other.id in asked_ids and asked_ids.index(other.id) < asked_ids.index(drug.id):
                continue  # each asked pair once
            if other.id in graph.classes_of(drug.id) or drug.id in graph.classes_of(other.id):
                continue
            out.append(interaction_verdict(graph, drug, other, keep))
    for drug in asked:  # nothing judged for a drug: say what was checked
        if not any(e["drug_id"] == drug.id or e["with_id"] == drug.id for e in out):
            out.append(_nothing_known(drug, q))
    out.sort(key=lambda e: -VERDICT_RANK[e["verdict"]])
    return out


def _nothing_known(drug: Item, q: QuestionReading) -> dict[str, Any]:
    """A drug with no condition or other drug to judge it against, or none that matters."""
    stated = [f"{k.replace('_', ' ')} {v:g}" if k != "egfr" else f"eGFR {v:g}" for k, v in q.measures]
    stated += [c.name for c in q.conditions]
    stated += [f"no {n.name}" for n in q.negated]
    what = ", ".join(dict.fromkeys(stated)) or "this patient"
    entry = {"drug": drug.name, "drug_id": drug.id, "with": what, "with_id": None, "with_text": None,
             "with_cue": None, "kind": "contraindication", "verdict": "no_known_issue", "severity": None,
             "evidence": [], "sources": [], "matched": None}
    entry["sentence"] = (f"No known issue: the knowledge graph has no contraindication or interaction of "
                         f"{display(drug.name)} that applies to this patient ({what}).")
    return entry


def overall(verdicts: Sequence[dict[str, Any]]) -> str | None:
    """The worst verdict, or None when nothing was judged."""
    return max((v["verdict"] for v in verdicts), key=VERDICT_RANK.get, default=None)


def _unique(items: Sequence[Item]) -> list[Item]:
    seen: dict[str, Item] = {}
    for it in items:
        seen.setdefault(it.id, it)
    return list(seen.values())
