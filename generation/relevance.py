"""Does a claim answer the question asked? The `relevance` rule, near-duplicate claims, and
which passage sentences may serve as evidence at all.

Relevance (a check per claim, `fail` drops it under strict):
- dosing questions: the claim names the drug asked about (the drug nearest its dose), states a
  dose, and neither names
  another population (adults when children were asked about, or the reverse) nor only
  another disease than the one the dose is for;
- safety questions: the claim names the drug asked about or what it is combined with (the
  patient's condition or other drug);
- diagnosis questions: the claim names a disease;
- otherwise: the claim names no disease other than the question's (or a parent, child or
  differential candidate of one: "Pregnant women who have asthma ..." does not answer a question
  about hypertension in pregnancy), and it shares a medical entity with the question (or a
  parent, child, class or member of one), names a candidate of the differential or a treatment
  option, or is close in meaning to the question.
Claims cited to graph facts come from the clinical block and are relevant by construction.

Evidence sentences: a question ("What is ...?"), a list fragment ("1.", "a.", a list item of
a few words, a lone word), a heading ("Asthma Treatment for Special Groups."), a list's lead-in
cut from its items ("The signs and symptoms of diabetes are.") or a pointer elsewhere ("the
treatments described above") never supports a claim and is never quoted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from kb.graph import DISEASE, DRUG_TYPES

CLOSE_MEANING = 0.5  # MiniLM cosine of a claim to the question that counts as on topic
DUPLICATE = 0.92  # MiniLM cosine above which two claims say the same thing
WORD_OVERLAP = 0.9  # or this share of the shorter claim's words found in the other
DOSE = re.compile(r"\b\d+(?:\.\d+)?\s*(?:-|to|–)?\s*\d*(?:\.\d+)?\s*(?:mg|mcg|µg|micrograms?|g|grams?|units?|"
                  r"iu|ml|mL|mg/kg|milligrams?)\b|\b(?:once|twice|three times|four times)\s+(?:a\s+)?"
                  r"(?:day|daily)\b|\bevery\s+\d+\s*(?:hours?|h)\b", re.I)
_CHILD = re.compile(r"\b(?:child\w*|p(?:a)?ediatric|infants?|kids?|toddlers?|bab(?:y|ies)|neonat\w*|"
                    r"\d+\s*(?:months?|years?)\s*(?:of age|old)|mg/kg)\b", re.I)
_ADULT = re.compile(r"\badults?\b", re.I)
_LIST_MARK = re.compile(r"^\s*(?:\(?(?:\d{1,2}|[a-zA-Z]|[ivxIVX]{1,4})[.)]|[-*\u2022\u25aa])\s+")
_QUESTION_START = re.compile(r"^\W*(?:what|how|why|who|whom|which|where)\b", re.I)  # headings: "What I need to know"
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
# A list's lead-in cut from its items ("The signs and symptoms of diabetes are."), and a
# sentence that only points elsewhere ("The treatments described above ..."): neither says
# anything on its own.
_LEAD_IN = re.compile(r"\b(?:are|is|include|includes|including|such as|the following|as follows|"
                      r"these|following)\W*$", re.I)
_POINTER = re.compile(r"\b(?:described|listed|mentioned|shown|discussed|outlined)\s+(?:above|below)\b",
                      re.I)


def _heading(t: str) -> bool:
    """A title or section heading run into the text ("Asthma Treatment for Special Groups."):
    a few words, every one of four letters or more capitalised."""
    words = _WORD.findall(t)
    long = [w for w in words if len(w) >= 4]
    return len(words) <= 12 and len(long) >= 2 and all(w[0].isupper() for w in long)


def usable_sentence(text: str) -> bool:
    """Whether a passage sentence may be quoted or serve as evidence."""
    t = text.strip()
    if not t or t.endswith("?") or t.endswith(":") or _QUESTION_START.match(t) or t.count(" - ") >= 2:
        return False  # a question, a heading, or a list run together with dashes
    marked = _LIST_MARK.match(t) is not None
    words = len(_WORD.findall(_LIST_MARK.sub("", t)))
    if words < 2 or (marked and words < 4):
        return False  # a lone word, or a list item of a few words
    if _LEAD_IN.search(t) or _POINTER.search(t) or _heading(_LIST_MARK.sub("", t)):
        return False  # a list's lead-in, a pointer to other text, or a heading
    return not re.fullmatch(r"\W*(?:\d{1,2}|[a-zA-Z]|[ivxIVX]{1,4})[.)]?\W*", t)


def marker_length(text: str) -> int:
    """Characters of a leading list marker ("1. ", "a) ", "- ") to leave out of a quote."""
    m = _LIST_MARK.match(text)
    return m.end() if m else 0


def _norm(text: str) -> str:
    return " ".join(re.sub(r"\[[^\]]*\]|[^\w\s]", " ", text.lower()).split())


_NEGATORS = frozenset({"no", "not", "never", "avoid", "without", "nor", "cannot", "don", "t"})


def _overlap(a: set[str], b: set[str]) -> float:
    """Share of the shorter word set found in the other; 0 when one negates and the other not."""
    if not a or not b or (a & _NEGATORS) != (b & _NEGATORS):
        return 0.0
    return len(a & b) / min(len(a), len(b))


def dedupe(texts: Sequence[str], embedder: Any = None, threshold: float = DUPLICATE) -> list[int]:
    """Indices of the texts to keep: the first of each group of near-duplicates (same words,
    nearly all of the shorter one's words in the other, or cosine >= threshold)."""
    keep: list[int] = []
    seen: set[str] = set()
    words = [set(_norm(t).split()) for t in texts]
    vecs = embedder.embed(list(texts)) if embedder is not None and texts else None
    for i, t in enumerate(texts):
        n = _norm(t)
        if n in seen or any(_overlap(words[i], words[j]) >= WORD_OVERLAP for j in keep):
            continue
        if vecs is not None and keep and float(np.max(vecs[keep] @ vecs[i])) >= threshold:
            continue
        seen.add(n)
        keep.append(i)
    return keep


def _dose_is_for(verifier: Any, text: str, asked: set[str]) -> bool:
    """Whether the drug named nearest the first dose is the one asked about ("insulin 30/70
    twice daily plus metformin": the dose is insulin's)."""
    dose = DOSE.search(text)
    reader = getattr(verifier, "reader", None)
    if dose is None or reader is None:
        return True
    drugs = [m for m in reader.mentions(text) if m.type in DRUG_TYPES]
    if not drugs:
        return True
    nearest = min(drugs, key=lambda m: min(abs(m.end - dose.start()), abs(dose.end() - m.start)))
    return any(nearest.id in verifier.related(a) for a in asked)


def _cited_entities(verifier: Any, keys: set[Any], hits: Sequence[Any]) -> set[str]:
    out: set[str] = set()
    for k in keys:
        if isinstance(k, int) and 1 <= k <= len(hits):
            p = hits[k - 1].passage
            out |= verifier.passage_entities(p.passage_id, p.text)
    return out


def _related_any(verifier: Any, ids: set[str], wanted: set[str]) -> bool:
    return any(verifier.related(w) & ids for w in wanted)


def relevance_checks(verifier: Any, question: str, reading: Any, qtype: str, claims: Sequence[Any],
                     graph_keys: set[int], block: dict[str, Any] | None = None,
                     hits: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """One `relevance` check per claim (see module doc). `hits`: the retrieved passages (keys
    from 1): a dose sentence that names no drug counts for the drug its cited passage names
    ("Children: 2.2 mg/kg twice a day" in a doxycycline passage)."""
    from generation.rules import result

    if reading is None:
        return []
    asked = {i.id for i in reading.asked}
    partners = {i.id for i in reading.conditions} | {i.id for i in reading.taken}
    q_ids = asked | partners | {i.id for i in reading.symptoms} | {i.id for i in reading.diseases}
    targets = {i.id for i in reading.targets} or {i.id for i in reading.diseases}
    block = block or {}
    candidates = {c.get("id") for c in block.get("differential") or () if c.get("id")}
    candidates |= {t.get("id") for t in block.get("treatments") or () if t.get("id")}
    child_q = bool(_CHILD.search(question))
    adult_q = bool(_ADULT.search(question))
    qvec = None
    out = []
    for i, c in enumerate(claims):
        text = c.text if hasattr(c, "text") else c["text"]
        keys = set(c.citations if hasattr(c, "citations") else c.get("citations") or ())
        subject = {"claim": i, "text": text}
        if keys and keys <= graph_keys:
            out.append(result("relevance", "pass", subject, None, [],
                              f"Claim {i + 1} states the knowledge graph's answer.", claims=[i]))
            continue
        ents = verifier.entities(text)
        ids = {e[0] for e in ents}
        diseases = {e[0] for e in ents if e[2] == DISEASE}
        other_disease = bool(targets and diseases and not _related_any(verifier, diseases, targets))
        problem = None
        if qtype == "dosing" and asked:
            drugs_named = {e[0] for e in ents if e[2] in DRUG_TYPES}
            context = ids if drugs_named else ids | _cited_entities(verifier, keys, hits)
            if not _related_any(verifier, context, asked):
                problem = "it does not name the drug asked about"
            elif not DOSE.search(text):
                problem = "it states no dose"
            elif drugs_named and not _dose_is_for(verifier, text, asked):
                problem = "its dose is another drug's"
            elif child_q and _ADULT.search(text) and not _CHILD.search(text):
                problem = "it gives an adult dose; the question asks about children"
            elif adult_q and _CHILD.search(text) and not _ADULT.search(text):
                problem = "it gives a child's dose; the question asks about adults"
            elif other_disease:
                problem = "it is about another disease than the one asked about"
        elif qtype == "safety" and asked:
            if not _related_any(verifier, ids, asked | partners):
                problem = "it names neither the drug asked about nor what it is combined with"
        elif qtype == "diagnosis" and not diseases:
            problem = "it names no disease"
        else:
            if other_disease and not diseases & candidates:
                problem = "it is about another disease than the one asked about"
            elif not (ids and (_related_any(verifier, ids, q_ids) or ids & candidates)):
                if qvec is None:
                    qvec = verifier.embedder.embed([question])[0] if verifier.embedder is not None else None
                sim = float(verifier.embedder.embed([text])[0] @ qvec) if qvec is not None else 0.0
                if sim < CLOSE_MEANING:
                    problem = (f"it shares no medical term with the question and is not close in meaning "
                               f"(similarity {sim:.2f} < {CLOSE_MEANING})")
        if problem:
            out.append(result("relevance", "fail", subject, None, [],
                              f"Claim {i + 1} does not answer the question: {problem}.", claims=[i]))
        else:
            out.append(result("relevance", "pass", subject, None, [],
                              f"Claim {i + 1} answers the question ({qtype}).", claims=[i]))
    return out
