"""Verification of an answer: claim support by cited passages and the graph-constraint rules.

`make_checker(version, embedder)` gives the callable `generation.answer.answer_question`
and the CLI hand every generation to: `checker(question=, claims=, citations=, hits=)`
returns the `checks` list of the JSON contract. The same object also serves the answering
path: which claim entities a passage must mention (claim support), which retrieved passages
carry instructions aimed at the model (prompt injection; never support, never evidence), and
whether retrieval found anything relevant at all.

A KB version without a knowledge graph still gets citation checks; the graph rules need it.
The graph and its vocabulary are loaded once per process and version (about 3 s).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generation.clinical import DRUG_TYPES, AnswerReading, ClinicalReader, QuestionReading
from generation.rules import RULES, result
from kb.graph import ANATOMY, CONDITION, DISEASE, SYMPTOM, KnowledgeGraph
from kb.sentences import sentence_spans

log = logging.getLogger(__name__)

SUPPORT_TYPES = DRUG_TYPES | {DISEASE, CONDITION, SYMPTOM}  # what a claim's passages must name
PAIR_TYPES = frozenset({DISEASE, CONDITION, SYMPTOM})  # a drug with one of these: one passage for both
RELATED_LEVELS = 2  # a passage naming a parent or child term (2 steps) of a claim's term supports it

# Text that addresses the model rather than the reader: instructions planted in a document.
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:all\s+|any\s+|the\s+|your\s+|these\s+)?"
    r"(?:previous|prior|above|earlier|preceding|other|system|safety)?\s*"
    r"(?:instructions?|prompts?|directions|rules|guidelines|context|passages?|messages?)\b|"
    r"\b(?:new|updated|hidden|secret)\s+instructions?\s*:|"
    r"\byou\s+(?:are|must|should|will)\s+now\b|"
    r"\b(?:system|developer)\s+(?:prompt|message|note|instruction)s?\s*:|"
    r"<\|(?:im_start|system|assistant)\|>|\[/?INST\]|###\s*(?:instruction|system)|"
    r"\b(?:the\s+)?(?:assistant|AI|model|chatbot|language model|LLM)\s+(?:must|should|shall|will)\s+"
    r"(?:always\s+|now\s+|only\s+)?(?:recommend|answer|say|respond|reply|output|state)\b|"
    r"\b(?:always|only)\s+recommend\b|"
    r"\brecommend\s+\w+(?:\s+\w+)?\s+(?:to|for)\s+(?:all|every|any)\s+(?:patients?|questions?|users?|cases?)\b|"
    r"\bregardless\s+of\s+(?:the\s+)?(?:question|passages?|context|evidence|patient)\b|"
    r"\b(?:answer|respond|reply)\s+(?:only\s+)?with\s+[\"']",
    re.I)


_PRESENTS = re.compile(r"\b(?:symptoms?|signs?|present\w*|caus\w*|includ\w*|features?|characteri[sz]\w*|"
                       r"manifest\w*|complain\w*|develop\w*|experienc\w*|suffer\w*|leads? to|results? in)\b", re.I)


def injection_reason(text: str) -> str | None:
    """The phrase that makes a passage look like instructions to the model, or None."""
    m = _INJECTION.search(text or "")
    return f"contains instructions addressed to the model ({m.group(0)!r})" if m else None


# ---- graph loading, once per process --------------------------------------------------------

def load_graph(version: Any) -> KnowledgeGraph | None:
    """The version's knowledge graph (shared with search), or None when built without one."""
    from kb.graph import load_cached

    path = Path(version.file("graph.json"))
    return load_cached(path) if path.exists() else None


@dataclass(frozen=True)
class Support:
    """Whether given passages name what a claim names."""

    ok: bool
    missing: tuple[str, ...] = ()  # names of claim entities no passage mentions
    unpaired: tuple[tuple[str, str], ...] = ()  # (drug, disease) pairs no single passage names

    @property
    def reason(self) -> str | None:
        parts = []
        if self.missing:
            parts.append("the cited passages do not mention " + ", ".join(self.missing))
        for drug, other in self.unpaired:
            parts.append(f"no cited passage mentions both {drug} and {other}")
        return "; ".join(parts) or None


class Verifier:
    """Claim support and graph rules for one KB version (see module doc)."""

    def __init__(self, graph: KnowledgeGraph | None, version: Any = None, embedder: Any = None) -> None:
        self.graph = graph
        self.version = version
        self.embedder = embedder
        self.reader = ClinicalReader(graph) if graph is not None else None
        self._passage_entities: dict[str, frozenset[str]] = {}
        self._related: dict[str, frozenset[str]] = {}
        self._suspicious_pids: dict[str, str | None] = {}
        self._sentences: dict[str, list[tuple[int, int, frozenset[str]]]] = {}

    # -- entities
    def entities(self, text: str) -> list[tuple[str, str, str]]:
        """(id, name, type) of the medical entities a text names, in order, once each."""
        if self.reader is None:
            return []
        out: dict[str, tuple[str, str, str]] = {}
        for m in self.reader.mentions(text):
            if m.type in SUPPORT_TYPES and m.type != ANATOMY:
                ent = self.graph.entity(m.id) if self.graph is not None else None
                out.setdefault(m.id, (m.id, ent.name if ent else m.text, m.type))
        return list(out.values())

    def passage_entities(self, key: str, text: str) -> frozenset[str]:
        if key not in self._passage_entities:
            ids = {e[0] for e in self.entities(text)}
            if self.graph is not None:
                for m in self.reader.derived_conditions(text) if self.reader else ():
                    ids.add(m.id)
            self._passage_entities[key] = frozenset(ids)
        return self._passage_entities[key]

    def related(self, eid: str) -> frozenset[str]:
        """Ids a passage may use for `eid`: itself, same-name nodes, classes and members,
        parents and children up to RELATED_LEVELS."""
        if eid not in self._related:
            g = self.graph
            ids = {eid}
            if g is not None and eid in g:
                ids.update(g.equivalents(eid))
                ids.update(g.classes_of(eid))
                ids.update(g.members_of(eid))
                ids.update(g.ancestors(eid, RELATED_LEVELS))
                ids.update(g.descendants(eid, RELATED_LEVELS))
            self._related[eid] = frozenset(ids)
        return self._related[eid]

    def support(self, claim: str, passages: dict[Any, str]) -> Support:
        """Whether `passages` (key -> text) name every entity of the claim, and name each drug
        together with each disease, condition or symptom in one passage."""
        ents = self.entities(claim)
        if not ents:
            return Support(True)
        found = {k: self.passage_entities(f"{k}:{hash(t)}", t) for k, t in passages.items()}
        missing = []
        for eid, name, _ in ents:
            rel = self.related(eid)
            if not any(rel & ids for ids in found.values()):
                missing.append(name)
        unpaired = []
        drugs = [e for e in ents if e[2] in DRUG_TYPES]
        others = [e for e in ents if e[2] in PAIR_TYPES]
        for d in drugs:
            for o in others:
                rd, ro = self.related(d[0]), self.related(o[0])
                if d[1] in missing or o[1] in missing:
                    continue
                if not any(rd & ids and ro & ids for ids in found.values()):
                    unpaired.append((d[1], o[1]))
        return Support(not missing and not unpaired, tuple(missing), tuple(unpaired))

    # -- passages
    def suspicious(self, hits: Sequence[Any]) -> dict[int, str]:
        """Retrieved passages (1-based keys) whose text addresses the model."""
        out = {}
        for key, hit in enumerate(hits, start=1):
            reason = injection_reason(hit.passage.text)
            if reason:
                out[key] = reason
                self._suspicious_pids[hit.passage.passage_id] = reason
        return out

    def trusted(self, evidence: dict[str, Any]) -> bool:
        """Curated evidence always; literature evidence unless its passage addresses the model."""
        if evidence.get("curated", True) or not evidence.get("passage_id"):
            return True
        pid = evidence["passage_id"]
        if pid not in self._suspicious_pids:
            text = None
            if self.version is not None:
                try:
                    p = self.version.passage(pid)
                    text = p.text if p is not None else None
                except Exception:  # a reader error must not stop verification
                    log.debug("cannot read passage %s", pid, exc_info=True)
            self._suspicious_pids[pid] = injection_reason(text or "")
        return self._suspicious_pids[pid] is None

    def relevance(self, question: str, hits: Sequence[Any]) -> tuple[set[str], set[str]]:
        """(the question's entity ids, those some retrieved passage names or relates to)."""
        q = {e[0] for e in self.entities(question)}
        covered = set()
        for hit in hits:
            ids = self.passage_entities(hit.passage.passage_id, hit.passage.text)
            covered.update(e for e in q if self.related(e) & ids)
        return q, covered

    # -- reading and rules
    def read(self, question: str, claims: Sequence[str]) -> tuple[QuestionReading, AnswerReading] | None:
        if self.reader is None:
            return None
        qr = self.reader.read_question(question)
        return qr, self.reader.read_answer(claims, qr)

    def rules(self, question: str, claims: Sequence[str]) -> list[dict[str, Any]]:
        reading = self.read(question, claims)
        if reading is None:
            return []
        qr, ar = reading
        out: list[dict[str, Any]] = []
        for rule in RULES:
            out.extend(rule(self.graph, qr, ar, self.trusted))
        return out

    def __call__(self, *, question: str, claims: Sequence[Any], citations: Sequence[Any] = (),
                 hits: Sequence[Any] = (), block: dict[str, Any] | None = None,
                 graph_keys: set[Any] | None = None, **_: Any) -> list[dict[str, Any]]:
        """Citation support, the graph rules and relevance (generation.relevance). `block` is
        the question's clinical block when the caller has one; `graph_keys` the keys of graph
        facts (otherwise read from the citations' `kind`)."""
        texts = [_get(c, "text") for c in claims]
        checks = [citation_support(i, c, citations) for i, c in enumerate(claims)]
        checks += [self._from_passages(c, hits) for c in self.rules(question, texts)]
        if self.reader is not None and claims:
            from generation.clinical_block import question_type
            from generation.relevance import relevance_checks

            reading = (block or {}).get("_reading") or self.reader.read_question(question)
            qtype = (block or {}).get("question_type") or question_type(question, reading)
            if graph_keys is None:
                graph_keys = {_get(c, "key") for c in citations if _get(c, "kind") == "graph"}
            checks += relevance_checks(self, question, reading, qtype, claims, set(graph_keys), block, hits)
        return checks

    def _from_passages(self, check: dict[str, Any], hits: Sequence[Any]) -> dict[str, Any]:
        """A diagnosis the graph links to none of the reported symptoms passes when a
        retrieved passage says it presents with one of them (one sentence naming both with a
        presentation cue); the passage is the evidence."""
        if check["rule"] != "diagnosis_consistency" or check["status"] != "warn" or not hits:
            return check
        dx = self.related(check["subject"]["id"])
        wanted = {}
        for s in check["object"]:
            for sid in self.related_symptom(s["id"]):
                wanted.setdefault(sid, s)
        for hit in hits:
            p = hit.passage
            if injection_reason(p.text):
                continue
            for start, end, ids in self.sentence_entities(p):
                found = [wanted[i] for i in ids if i in wanted]
                if found and dx & ids and _PRESENTS.search(p.text[start:end]):
                    names = ", ".join(dict.fromkeys(f["name"] for f in found))
                    return check | {
                        "status": "pass",
                        "object": list({f["id"]: f for f in found}.values()),
                        "evidence": [{"source": "retrieved passage", "passage_id": p.passage_id,
                                      "start": p.start + start, "end": p.start + end, "curated": False,
                                      "text": p.text[start:end]}],
                        "message": f"{check['subject']['name']} presents with {names} according to a "
                                   f"retrieved passage (not in the knowledge graph)."}
        return check

    def related_symptom(self, eid: str) -> set[str]:
        g = self.graph
        return {eid, *(g.equivalents(eid) if g is not None else ())}

    def sentence_entities(self, passage: Any) -> list[tuple[int, int, frozenset[str]]]:
        key = "s:" + passage.passage_id
        if key not in self._sentences:
            out = []
            for s, e in sentence_spans(passage.text):
                ids = frozenset(m.id for m in self.reader.mentions(passage.text[s:e])) if self.reader else frozenset()
                out.append((s, e, ids))
            self._sentences[key] = out
        return self._sentences[key]


def _get(obj: Any, name: str, default: Any = None) -> Any:
    return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)


def citation_support(index: int, claim: Any, citations: Iterable[Any]) -> dict[str, Any]:
    """pass: supported by its citations; warn: supported, but the model's own citations were
    missing, invented or wrong (attributed post hoc); fail: not supported (with why)."""
    keys = list(_get(claim, "citations") or ())
    cits = [c for c in citations if _get(c, "key") in keys]
    evidence = [{"key": _get(c, "key"), "passage_id": _get(c, "passage_id"), "start": _get(c, "start"),
                 "end": _get(c, "end")} for c in cits]
    issues = list(_get(claim, "issues") or ())
    text = _get(claim, "text")
    subject = {"claim": index, "text": text}
    obj = list(dict.fromkeys(e["passage_id"] for e in evidence))
    score = _get(claim, "score")
    score_txt = f"similarity {score:.2f}" if isinstance(score, (int, float)) else "no score"
    if not _get(claim, "supported"):
        why = _get(claim, "reason") or "no supporting passage"
        return result("citation_support", "fail", subject, obj, evidence,
                      f"Claim {index + 1} is not supported: {why}.", claims=[index], score=score)
    if issues:
        return result("citation_support", "warn", subject, obj, evidence,
                      f"Claim {index + 1} is supported ({score_txt}), but {'; '.join(issues)}.",
                      claims=[index], score=score)
    shown = ", ".join(f"[{k}]" for k in dict.fromkeys(e["key"] for e in evidence))
    return result("citation_support", "pass", subject, obj, evidence,
                  f"Claim {index + 1} is supported by passage(s) {shown} ({score_txt}).",
                  claims=[index], score=score)


def make_checker(version: Any, embedder: Any = None) -> Verifier:
    """The verifier for a KB version (what `medkb ask` and `medkb check` use)."""
    return Verifier(load_graph(version), version, embedder)


def failing_claims(checks: Sequence[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Claim index -> the failed checks that concern it."""
    out: dict[int, list[dict[str, Any]]] = {}
    for c in checks:
        if c["status"] == "fail":
            for i in c.get("claims") or ():
                out.setdefault(i, []).append(c)
    return out
