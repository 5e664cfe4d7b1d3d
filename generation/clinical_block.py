"""The `clinical` block of `ask --json`: question type, patient, differential, treatments,
safety verdicts; and the graph facts it yields, numbered beside the passages.

The block is read before generation (DESIGN §7, 4a): the patient from the question, the
differential from the graph's disease-finding edges (generation.clinical's differential, when
the version has a graph), treatment options for the named or leading diagnosis
(generation.treatments) and safety verdicts for the drugs asked about (generation.safety).
Its statements become graph facts: short sentences with their source ("FDA label
(metformin)", "Hetionet CtD") that go into the prompt as numbered context after the passages
and that the answer may cite like a passage (`kind: graph` citations).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from generation.clinical import Item, QuestionReading
from generation.safety import display, overall, safety_verdicts
from generation.treatments import avoid_sentences, options_sentence, treatment_options
from kb.records import Passage, ScoredPassage

log = logging.getLogger(__name__)

QUESTION_TYPES = ("diagnosis", "treatment", "safety", "dosing", "information", "other")
_DOSING = re.compile(r"\b(?:doses?|dosing|dosage|how much|how many (?:mg|milligrams|tablets)|mg/kg|"
                     r"titrat\w*|maximum daily|max(?:imum)? dose)\b", re.I)
_SAFETY = re.compile(r"\b(?:safe|safely|safety|ok|okay|fine|allowed|contraindicat\w*|interact\w*|combine|"
                     r"combination|together|avoid|risky|dangerous|harmful|(?:can|could|may|should)\s+"
                     r"(?:[\w-]+\s+){0,4}?(?:take|use|have|be given|receive|get|start|continue))\b", re.I)
_TREAT = re.compile(r"\b(?:treat\w*|therap\w*|manag\w*|drugs? (?:for|of choice)|medications? for|options?|"
                    r"first[- ]line|what (?:should|can|could) (?:i|we|you) (?:give|prescribe|use|start))\b", re.I)


@dataclass(frozen=True)
class Fact:
    """One graph statement the answer may cite."""

    text: str
    source: str
    kind: str  # safety | treatment | avoid | diagnosis
    evidence: tuple[dict[str, Any], ...] = ()


def question_type(question: str, reading: QuestionReading) -> str:
    """The question's type. clinical-dx's reader decides when it offers one; this is the
    fallback reading of the same cues."""
    try:  # the clinical package's own detector, once it exists
        from generation.clinical import question_type as detect  # type: ignore[attr-defined]
    except ImportError:
        detect = None
    if detect is not None:
        try:
            found = detect(question, reading)
        except TypeError:
            found = detect(question)
        if found in QUESTION_TYPES:
            return str(found)
    if _DOSING.search(question) and (reading.asked or reading.taken):
        return "dosing"
    if reading.asked and (_SAFETY.search(question) or reading.taken) and not _DOSING.search(question):
        nontarget = [c for c in reading.conditions if c.id not in {t.id for t in reading.targets}]
        if reading.taken or nontarget or len(reading.asked) > 1 or re.search(r"\bsafe", question, re.I):
            return "safety"
    if "diagnosis" in reading.intents and reading.symptoms:
        return "diagnosis"
    if "diagnosis" in reading.intents:
        return "diagnosis"
    if _TREAT.search(question) and (reading.targets or reading.diseases or reading.symptoms):
        return "treatment"
    if reading.conditions or reading.asked or reading.taken or reading.symptoms:
        return "information"
    return "other"


def patient_json(q: QuestionReading) -> dict[str, Any]:
    def names(items: Sequence[Item]) -> list[str]:
        return list(dict.fromkeys(i.name for i in items))

    out: dict[str, Any] = {"findings": names(q.symptoms), "conditions": names(q.conditions),
                           "drugs": names(q.taken), "asked_drugs": names(q.asked),
                           "negated": names(q.negated)}
    for key, value in q.measures:
        out[key] = value
    return out


def differential(question: str, reading: QuestionReading, version: Any, searcher: Any,
                 verifier: Any) -> list[dict[str, Any]]:
    """clinical-dx's ranked differential (generation.clinical.differential: `differential` or
    `diagnose`, a list of candidates or the `diagnose --json` document), [] when absent."""
    try:
        from generation.clinical import differential as module  # type: ignore[attr-defined]
    except ImportError:
        return []
    funcs = [module] if callable(module) else [
        f for name in ("differential", "rank", "diagnose") if callable(f := getattr(module, name, None))]
    for rank in funcs:
        for args in ((question, version, searcher), (reading, version, searcher)):
            try:
                out = rank(*args)
            except (TypeError, AttributeError):
                log.debug("differential %s%s failed", rank, type(args[0]), exc_info=True)
                continue
            if isinstance(out, dict):
                out = out.get("differential") or out.get("candidates") or []
            return [dict(c) for c in out or ()]
    return []


def _target(graph: Any, q: QuestionReading, ddx: Sequence[dict[str, Any]]) -> Item | None:
    """The disease to treat: the question's target, a named disease, or the differential's leader."""
    for pool in (q.targets, q.diseases):
        if pool:
            return pool[0]
    if ddx and ddx[0].get("id") and graph.entity(ddx[0]["id"]) is not None:
        ent = graph.entity(ddx[0]["id"])
        return Item(id=ent.id, name=ent.name, type=ent.type, text=ent.name, role="target",
                    sentence=0, start=0, end=0)
    return None


def build_block(question: str, version: Any, searcher: Any, verifier: Any,
                hits: Sequence[ScoredPassage]) -> dict[str, Any] | None:
    """The clinical block for a question, or None without a knowledge graph."""
    graph = getattr(verifier, "graph", None)
    reader = getattr(verifier, "reader", None)
    if graph is None or reader is None:
        return None
    keep = verifier.trusted
    q = reader.read_question(question)
    qtype = question_type(question, q)
    block: dict[str, Any] = {"question_type": qtype, "patient": patient_json(q), "differential": [],
                             "treatments": [], "safety": []}
    if qtype == "diagnosis" or (qtype == "treatment" and not (q.targets or q.diseases) and q.symptoms):
        block["differential"] = differential(question, q, version, searcher, verifier)
    if qtype in ("safety", "dosing") or ((q.asked or q.taken) and q.conditions) or (q.asked and q.taken):
        block["safety"] = safety_verdicts(graph, q, keep)
        block["verdict"] = overall(block["safety"])
    if qtype == "treatment":
        target = _target(graph, q, block["differential"])
        if target is not None:
            block["treatments"] = treatment_options(graph, target, q, keep=keep, verifier=verifier, hits=hits)
    block["_reading"] = q
    return block


def facts(block: dict[str, Any] | None) -> list[Fact]:
    """The block's statements, most important first (each cited by its own key)."""
    if not block:
        return []
    out: list[Fact] = []
    shown = [v for v in block["safety"] if v["verdict"] != "no_known_issue"]
    if not shown and block["question_type"] == "safety":
        shown = block["safety"]
    for v in shown[:3]:
        src = "; ".join([x for x in v["sources"] if x != "literature"] or v["sources"]) or "knowledge graph"
        out.append(Fact(v["sentence"], src, "safety", tuple(v["evidence"])))
    ddx = block["differential"]
    if ddx:
        lead = ddx[0]
        src = "; ".join(_dx_sources(lead)) or "knowledge graph"
        out.append(Fact(diagnosis_sentence(ddx), src, "diagnosis", tuple(lead.get("evidence") or ())[:3]))
        others = [display(c["disease"]) for c in ddx[1:3]]
        if others:
            out.append(Fact(f"Other candidates in the knowledge graph: {_listed(others)}.",
                            "; ".join(dict.fromkeys(s for c in ddx[1:3] for s in _dx_sources(c))) or "knowledge graph",
                            "diagnosis", tuple(e for c in ddx[1:3] for e in (c.get("evidence") or ())[:1])))
    rows = block["treatments"]
    if rows:
        opt = options_sentence(rows, rows[0]["for"])
        if opt:
            srcs = "; ".join(dict.fromkeys(s for r in rows if r["status"] == "option" for s in r["sources"]))
            out.append(Fact(opt, srcs, "treatment", tuple(e for r in rows[:3] for e in r["evidence"][:1])))
        for sentence, covered in avoid_sentences(rows):
            rule = covered[0]["rules"][0]
            out.append(Fact(sentence, "; ".join(x for x in rule["sources"] if x != "literature") or "knowledge graph",
                            "avoid", tuple(rule["evidence"][:2])))
    return out


def _dx_sources(cand: dict[str, Any]) -> list[str]:
    out = []
    for e in cand.get("evidence") or ():
        if isinstance(e, dict):
            label = e.get("label") or e.get("note") or e.get("source")
            label = str(label or "").split(";")[0].split(":")[0].split(" has_symptom")[0].strip()
            if label and label not in out:
                out.append(label)
    return out[:3]


def _listed(names: Sequence[str]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def diagnosis_sentence(ddx: Sequence[dict[str, Any]]) -> str:
    """"The most likely diagnosis is X: it explains A, B and C of the reported findings.\""""
    lead = ddx[0]
    matched = [display(m) for m in lead.get("matched") or ()]
    n = len(matched) + len(lead.get("unmatched") or ())
    text = f"The most likely diagnosis in the knowledge graph is {display(lead['disease'])}"
    if matched:
        text += f": it explains {_listed(matched)} ({len(matched)} of {n} reported findings)"
    return text + "."


def fact_hits(found: Sequence[Fact]) -> list[ScoredPassage]:
    """The facts as passages a claim can be attributed to (never stored in the KB)."""
    out = []
    for i, f in enumerate(found, start=1):
        p = Passage(passage_id=f"graph-fact-{i}", doc_id="knowledge-graph", text=f.text, start=0,
                    end=len(f.text))
        out.append(ScoredPassage(passage=p, score=1.0, title=f"Knowledge graph ({f.source})",
                                 source=f.source, method="graph"))
    return out


def public_block(block: dict[str, Any] | None) -> dict[str, Any]:
    """The JSON view of a block (the reading object left out)."""
    if not block:
        return {"question_type": "other", "patient": {}, "differential": [], "treatments": [], "safety": []}
    return {k: v for k, v in block.items() if not k.startswith("_")}
