"""The graph-constraint rules: indication, contraindication, interaction, diagnosis consistency.

Each rule reads a clinical reading (generation.clinical) of the question and the answer and
asks the knowledge graph (kb.graph) with its evidence. A result is a plain dict, the
`checks` item of the JSON contract: rule, status (pass | warn | fail), subject, object,
evidence (curated file and note, or literature passage ids), a one-line message, plus
`claims` (indices of the claims that carry the recommendation, so a strict policy can drop
them) and rule-specific extras.

Decisions:
- indication: pass on a treats/palliates edge (curated or literature) to the disease, an
  ancestor or a descendant (3 levels), the drug's class included; fail on a curated
  not-indicated edge; warn when the graph has neither.
- contraindication: fail at `contraindicated`; warn at `major` or `moderate`, and for a
  literature-only edge (no severity, one sentence of one paper); pass otherwise.
- interaction: fail at `contraindicated` and at `major` (DESIGN §7: "no two drugs may
  interact at major or contraindicated severity"); warn at `moderate` or unknown severity
  (literature); pass at `minor` or with no known interaction.
- diagnosis_consistency: pass when the proposed diagnosis (or a subtype, or a parent up to
  two levels) presents at least one reported symptom; warn when it presents none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from generation.clinical import AnswerReading, Item, QuestionReading
from kb.graph import severity_rank

EvidenceFilter = Callable[[dict[str, Any]], bool]
_STOP_CUES = ("stop", "discontinu", "hold", "withh", "cease", "taper", "switch", "deprescribe", "off")


def _keep_all(_: dict[str, Any]) -> bool:
    return True


def _sources(evidence: Sequence[dict[str, Any]], limit: int = 2) -> str:
    """'FDA label (x): reason' for curated rows, 'literature, passage abc' otherwise."""
    parts: list[str] = []
    for ev in evidence:
        if ev.get("curated"):
            text = ev.get("note") or ev["source"]
        else:
            text = f"literature, passage {ev.get('passage_id')}"
        if text not in parts:
            parts.append(text)
        if len(parts) >= limit:
            break
    return "; ".join(parts)


def _name(graph: Any, eid: str | None) -> str:
    if eid is None:
        return "?"
    ent = graph.entity(eid)
    return ent.name if ent else eid


def _ref(graph: Any, eid: str) -> dict[str, str]:
    ent = graph.entity(eid)
    return {"id": eid, "name": ent.name if ent else eid, "type": ent.type if ent else "unknown"}


def _claims_of(items: Sequence[Item], eid: str) -> list[int]:
    return sorted({i.sentence for i in items if i.id == eid})


def result(rule: str, status: str, subject: Any, obj: Any, evidence: Sequence[Any], message: str,
           **extra: Any) -> dict[str, Any]:
    out = {"rule": rule, "status": status, "subject": subject, "object": obj,
           "evidence": list(evidence), "message": message}
    out.update(extra)
    return out


def unique(items: Sequence[Item]) -> list[Item]:
    seen: dict[str, Item] = {}
    for it in items:
        seen.setdefault(it.id, it)
    return list(seen.values())


# ---- indication ---------------------------------------------------------------------------

def indication_targets(q: QuestionReading, a: AnswerReading, claim: int) -> tuple[list[Item], bool]:
    """The diseases a drug recommended in `claim` is meant for, and whether they were named
    explicitly ("for X") rather than guessed from what the patient has."""
    own = [t for t in a.targets if t.sentence == claim]
    if own:
        return unique(own), True
    if q.targets:
        return unique(q.targets), True
    if a.diagnoses:
        return unique(a.diagnoses), True
    pool = unique(list(q.diseases) + [d for d in a.diseases if d.sentence == claim])
    if pool:
        return pool, False
    return unique(q.symptoms), False


def indication(graph: Any, q: QuestionReading, a: AnswerReading,
               keep: EvidenceFilter = _keep_all) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for drug in unique(a.recommended):
        claims = _claims_of(a.recommended, drug.id)
        targets, explicit = indication_targets(q, a, claims[0])
        if not targets:
            out.append(result("indication", "warn", drug.ref(), None, [],
                              f"No disease or symptom named to check the indication of {drug.name} against.",
                              claims=claims))
            continue
        found: dict[str, list[tuple[Item, dict[str, Any]]]] = {"indicated": [], "not_indicated": [], "unknown": []}
        for t in targets:
            best = _indication(graph, drug.id, t.id, keep)
            found[best["status"]].append((t, best))
        dname = drug.name
        if found["indicated"]:
            t, r = found["indicated"][0]
            via = ""
            if r["via"] != t.id:
                rel = "a broader term" if r["direction"] == "ancestor" else "a subtype"
                via = f" (via {_name(graph, r['via'])}, {rel})"
            cls = ""
            if r.get("via_class"):
                ent = graph.entity(drug.id)
                is_class = ent is not None and ent.type == "Pharmacologic Class"
                cls = (f" through its {'member' if is_class else 'class'} "
                       f"{_name(graph, r['via_class'])}")
            kind = "curated" if r["evidence"][0].get("curated") else "literature"
            out.append(result("indication", "pass", drug.ref(), t.ref(), r["evidence"],
                              f"{dname} is indicated for {t.name}{via}{cls} ({kind}: "
                              f"{_sources(r['evidence'])}).", claims=claims,
                              relation=r["relation"], distance=r["distance"]))
        elif found["not_indicated"] and (explicit or not found["unknown"]):
            t, r = found["not_indicated"][0]
            out.append(result("indication", "fail", drug.ref(), t.ref(), r["evidence"],
                              f"{dname} is NOT indicated for {t.name} ({_sources(r['evidence'])}).",
                              claims=claims, relation="not_indicated_for", distance=r["distance"]))
        else:
            names = ", ".join(t.name for t in targets)
            obj = targets[0].ref() if len(targets) == 1 else [t.ref() for t in targets]
            out.append(result("indication", "warn", drug.ref(), obj, [],
                              f"No evidence in the knowledge graph that {dname} treats {names}; "
                              "verify the indication.", claims=claims))
    return out


def _indication(graph: Any, drug: str, disease: str, keep: EvidenceFilter) -> dict[str, Any]:
    """graph.indication for the disease and the nodes sharing its name, distrusted evidence
    removed (a result left with none counts as unknown)."""
    best: dict[str, Any] = {"status": "unknown", "evidence": []}
    order = {"indicated": 0, "not_indicated": 1, "unknown": 2}
    for node in [disease] + graph.equivalents(disease):
        r = dict(graph.indication(drug, node))
        if r["status"] != "unknown":
            ev = [e for e in r["evidence"] if keep(e)]
            r = r | {"evidence": ev} if ev else {"status": "unknown", "evidence": []}
        if order[r["status"]] < order[best["status"]] or (
                r["status"] == best["status"] != "unknown" and r["distance"] < best["distance"]):
            best = r
    return best


# ---- contraindication ---------------------------------------------------------------------

def contraindication(graph: Any, q: QuestionReading, a: AnswerReading,
                     keep: EvidenceFilter = _keep_all) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    conditions = unique(q.conditions)
    family = unique(q.family_history)
    by_id = {c.id: c for c in conditions}
    ruled_out = _ruled_out(graph, q)
    for drug in unique(a.recommended):
        claims = _claims_of(a.recommended, drug.id)
        found: dict[str, tuple[Item, list[dict[str, Any]]]] = {}  # condition -> its edges
        for r in graph.contraindications(drug.id, list(by_id)):
            if r["matched"] != r["condition"] and r["matched"] in ruled_out:
                continue  # reached through the hierarchy, but a stated value rules it out
            if ev := [e | {"via_class": r["via_class"], "matched": r["matched"]} for e in r["evidence"] if keep(e)]:
                found.setdefault(r["condition"], (by_id[r["condition"]], []))[1].extend(ev)
        for r in graph.contraindications(drug.id, [f.id for f in family]):
            ev = [e | {"via_class": r["via_class"], "matched": r["matched"]} for e in r["evidence"]
                  if keep(e) and "family" in (e.get("note") or "").lower()]
            if ev:
                f = next(x for x in family if x.id == r["condition"])
                found.setdefault(f.id, (f, []))[1].extend(ev)
        if not found:
            names = ", ".join(c.name for c in conditions) or "none named"
            out.append(result("contraindication", "pass", drug.ref(), [c.ref() for c in conditions], [],
                              f"No known contraindication of {drug.name} for this patient ({names}).",
                              claims=claims))
            continue
        for cond, evidence in found.values():
            curated = [e for e in evidence if e.get("curated")]
            severity = max((e.get("severity") or "contraindicated" for e in curated), key=severity_rank,
                           default=None)
            top = sorted(curated or evidence, key=lambda e: -severity_rank(e.get("severity")))[0]
            status = "fail" if severity == "contraindicated" else "warn"
            cls = f" (its class {_name(graph, top['via_class'])})" if top.get("via_class") else ""
            where = cond.name if top["matched"] == cond.id else f"{cond.name} ({_name(graph, top['matched'])})"
            why = f" [{cond.cue}]" if cond.derived and cond.cue else ""
            ordered = ([top] + [e for e in curated if e is not top] + [e for e in evidence if not e.get("curated")])
            if severity == "contraindicated":
                msg = f"{drug.name}{cls} is contraindicated in {where}{why}: {_sources(ordered)}."
            elif severity:
                msg = f"{drug.name}{cls} carries a {severity} warning in {where}{why}: {_sources(ordered)}."
            else:
                msg = (f"The literature reports {drug.name} as contraindicated in {where}{why} "
                       f"({_sources(ordered)}); not in the curated rules, verify.")
            out.append(result("contraindication", status, drug.ref(), cond.ref(), ordered, msg,
                              claims=claims, severity=severity or "unknown",
                              matched=_ref(graph, top["matched"])))
    return out


def _ruled_out(graph: Any, q: QuestionReading) -> set[str]:
    """Conditions a stated value excludes: an eGFR of 30 or more, or CKD stage 1 to 3, is not
    severe renal impairment, whatever "chronic kidney disease" inherits in the hierarchy."""
    out: set[str] = set()
    egfr, stage = q.measure("egfr"), q.measure("ckd_stage")
    if (egfr is not None and egfr >= 30) or (stage is not None and stage <= 3):
        ent = graph.resolve("severe renal impairment")
        if ent is not None:
            out.add(ent.id)
    return out


# ---- interaction --------------------------------------------------------------------------

def stopped(a: AnswerReading) -> set[str]:
    """Drugs the answer tells the patient to stop or switch from."""
    return {i.id for i in a.avoided if i.cue and i.cue.lower().startswith(_STOP_CUES)}


def interaction(graph: Any, q: QuestionReading, a: AnswerReading,
                keep: EvidenceFilter = _keep_all) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    gone = stopped(a)
    recommended = unique(a.recommended)
    rec_ids = {d.id for d in recommended}
    taken = [t for t in unique(list(q.taken) + list(a.taken)) if t.id not in gone and t.id not in rec_ids]
    drugs = recommended + taken
    if len(drugs) < 2:
        return out
    items = {d.id: d for d in drugs}
    found = {(r["a"], r["b"]): r for r in graph.interactions([d.id for d in drugs])}
    for i, x in enumerate(drugs):
        for y in drugs[i + 1:]:
            if x.id in graph.classes_of(y.id) or y.id in graph.classes_of(x.id):
                continue  # a class and its own member ("nitrates such as nitroglycerin")
            both_taken = x.id not in rec_ids and y.id not in rec_ids
            r = found.get((x.id, y.id)) or found.get((y.id, x.id))
            claims = sorted(set(_claims_of(a.recommended, x.id)) | set(_claims_of(a.recommended, y.id)))
            ev = [e for e in r["evidence"] if keep(e)] if r else []
            kinds = f"{'recommended' if x.id in rec_ids else 'already taken'} + " \
                    f"{'recommended' if y.id in rec_ids else 'already taken'}"
            if not ev:
                if both_taken:
                    continue
                out.append(result("interaction", "pass", items[x.id].ref(), items[y.id].ref(), [],
                                  f"No known interaction between {x.name} and {y.name}.",
                                  claims=claims, pair=kinds))
                continue
            curated = [e for e in ev if e.get("curated")]
            severity = max((e.get("severity") for e in curated), key=severity_rank, default=None)
            if severity in ("contraindicated", "major"):
                status = "fail"
            elif severity == "minor":
                status = "pass"
            else:
                status = "warn"
            via = [_name(graph, v) for v in r["via"]] if r else []
            via_txt = f" (via {', '.join(via)})" if via else ""
            label = severity or "unknown-severity (literature)"
            msg = (f"{x.name} with {y.name}{via_txt}: {label} interaction - {_sources(ev)}.")
            if both_taken:
                msg += " Both are already taken."
            out.append(result("interaction", status, items[x.id].ref(), items[y.id].ref(), ev, msg,
                              claims=claims, severity=severity or "unknown", pair=kinds))
    return out


# ---- diagnosis consistency ----------------------------------------------------------------

def diagnosis_consistency(graph: Any, q: QuestionReading, a: AnswerReading,
                          keep: EvidenceFilter = _keep_all) -> list[dict[str, Any]]:
    """A proposed diagnosis against the graph's differential for the reported findings
    (generation.clinical.differential): `fail` when the leading candidate explains clearly
    more findings (two more, or some where the diagnosis explains none), `warn` when the diagnosis
    explains a minority of them or none, else `pass`. Messages name the better candidates
    and the findings each explains."""
    from generation.clinical.differential import graph_differential

    out: list[dict[str, Any]] = []
    dxr = graph_differential(graph)
    found = [f for f in dxr.matcher.find(q.text, use_embeddings=False) if f.id]
    present = list(dict.fromkeys([f.id for f in found if not f.negated] +
                                 [c for s in q.symptoms if (c := dxr.matcher.canonical_id(s.id))]))
    absent = [f.id for f in found if f.negated]
    if not present:
        return out
    n = len(present)

    def names(ids: Sequence[str]) -> str:
        return ", ".join(dxr.matcher.name(i, i) for i in ids)

    ranked = sorted(dxr.index.rank(present, absent).values(), key=lambda c: (-c.graph_score, c.name, c.id))
    refs = [{"id": i, "name": dxr.matcher.name(i, i), "type": "Symptom"} for i in present]
    for dx in unique(a.diagnoses):
        if dxr.matcher.canonical_id(dx.id) in present:  # the answer names a reported finding
            continue
        claims = _claims_of(a.diagnoses, dx.id)
        mine = dxr.index.explained(dx.id, present)
        better = [c for c in ranked if not dxr.index.related(c.id, dx.id)
                  and len(dxr.index.explained(c.id, present)) > len(mine)][:3]
        evidence = [e for f in mine for node in [dx.id, *graph.equivalents(dx.id)]
                    for e in dxr.index.edges.get((node, f), [])[:1] if keep(e)][:6]
        lead = better[0] if better else None
        lead_n = len(dxr.index.explained(lead.id, present)) if lead else 0
        alts = "; ".join(f"{c.name} explains {names(dxr.index.explained(c.id, present))} "
                         f"({len(dxr.index.explained(c.id, present))} of {n})" for c in better)
        own = (f"{dx.name} presents with {names(mine)} ({len(mine)} of {n} reported findings)" if mine
               else f"{dx.name} is not known to present with any reported finding ({names(present)})")
        if lead is not None and ranked and ranked[0].id == lead.id and \
                (lead_n - len(mine) >= 2 or not mine):
            status, msg = "fail", f"{own}; the graph's leading candidate explains more: {alts}."
        elif not mine or len(mine) * 2 < n:
            status = "warn"
            msg = f"{own}; reconsider the diagnosis" + (f" (better: {alts})." if alts else ".")
        else:
            status = "pass"
            msg = f"{own}." + (f" Also consider: {alts}." if alts else "")
        out.append(result("diagnosis_consistency", status, dx.ref(), [r for r in refs if r["id"] in mine] or refs,
                          evidence, msg, claims=claims,
                          candidates=[{"id": c.id, "name": c.name,
                                       "explains": names(dxr.index.explained(c.id, present))} for c in better]))
    return out


RULES = (indication, contraindication, interaction, diagnosis_consistency)
