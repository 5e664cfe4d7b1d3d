"""Answers shaped by the clinical block: the extractive answer written from the block and the
passages, and the checks that hold any answer to the block.

- `BlockChecker` wraps the verifier (generation.verify.Verifier): the usual checks, plus the
  `relevance` rule (generation.relevance), plus the block's own: a claim recommending a drug
  the block says to avoid fails (`contraindication` or `interaction`, with the block's rule
  and source), "yes" to an `avoid` verdict fails, a diagnosis explaining fewer of the findings
  than the differential's leader fails `diagnosis_consistency`.
- `extractive_answer` writes a readable paragraph: the block's statements first (each citing
  its graph fact), then the passage sentences that answer the question (for a dosing question
  only sentences naming the drug with a dose; none found is said plainly).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from generation.relevance import DOSE, marker_length, relevance_checks, usable_sentence
from generation.rules import result
from kb.records import ScoredPassage
from kb.sentences import sentence_spans

_YES = re.compile(r"^\s*(?:yes|yeah|sure|absolutely|certainly|it is safe|(?:it|this|that) is (?:fine|safe|ok|okay)|"
                  r"(?:it|this|that) (?:can|may) be (?:used|given|taken|combined)|go ahead)\b", re.I)
_RISK = re.compile(r"\b(?:contraindicat\w*|interact\w*|avoid\w*|not be (?:used|taken|given)|should not|"
                   r"do not|risk|danger\w*|toxicity|bleeding|hypotension|serotonin syndrome|warning)\b", re.I)
_NEGATED_SAFE = re.compile(r"\b(?:not|never|no)\b", re.I)


class BlockChecker:
    """The verifier plus the block's checks (see module doc); everything else delegates."""

    def __init__(self, verifier: Any, block: dict[str, Any] | None, question: str, graph_keys: set[int]) -> None:
        self._verifier = verifier
        self.block = block or {}
        self.question = question
        self.graph_keys = graph_keys

    def __getattr__(self, name: str) -> Any:
        return getattr(self._verifier, name)

    def __call__(self, *, question: str, claims: Sequence[Any], citations: Sequence[Any] = (),
                 hits: Sequence[Any] = (), **kw: Any) -> list[dict[str, Any]]:
        checks = list(self._verifier(question=question, claims=claims, citations=citations, hits=hits,
                                     block=self.block, graph_keys=self.graph_keys, **kw))
        if self.block.get("_reading") is None or not claims:
            return checks
        checks += self.block_checks(claims)
        return checks

    def block_checks(self, claims: Sequence[Any]) -> list[dict[str, Any]]:
        reader = getattr(self._verifier, "reader", None)
        reading = self.block.get("_reading")
        if reader is None or reading is None:
            return []
        texts = [_text(c) for c in claims]
        answer = reader.read_answer(texts, reading)
        out: list[dict[str, Any]] = []
        avoid = _avoid_list(self.block)
        for item in answer.recommended:
            if item.id in avoid and not _cites_only_graph(claims[item.sentence], self.graph_keys):
                why = avoid[item.id]
                out.append(result(why["kind"], "fail", item.ref(), why.get("with"), why["evidence"],
                                  f"The answer recommends {item.name}, which the knowledge graph says to "
                                  f"avoid for this patient: {why['sentence']}", claims=[item.sentence],
                                  source="clinical block"))
        verdict = self.block.get("verdict")
        if verdict == "avoid":
            worst = self.block["safety"][0]
            for i, t in enumerate(texts):
                if _YES.match(t) and not _NEGATED_SAFE.search(t[:40]):
                    out.append(result(worst["kind"], "fail", {"claim": i, "text": t}, worst["drug"],
                                      worst["evidence"], f"The answer says yes, but the knowledge graph's "
                                      f"verdict is avoid: {worst['sentence']}", claims=[i], source="clinical block"))
        ddx = self.block.get("differential") or []
        if ddx and ddx[0].get("matched"):
            lead = ddx[0]
            by_id = {c.get("id"): c for c in ddx if c.get("id")}
            for item in answer.diagnoses:
                cand = by_id.get(item.id)
                if cand is None or item.id == lead.get("id") or \
                        _cites_only_graph(claims[item.sentence], self.graph_keys):
                    continue
                if len(cand.get("matched") or ()) < len(lead["matched"]):
                    out.append(result(
                        "diagnosis_consistency", "fail", item.ref(), {"id": lead.get("id"), "name": lead["disease"]},
                        lead.get("evidence") or [],
                        f"{item.name} explains {len(cand.get('matched') or ())} of the reported findings; "
                        f"{lead['disease']} explains {len(lead['matched'])} ({', '.join(lead['matched'])}).",
                        claims=[item.sentence], source="clinical block"))
        return out


def _text(c: Any) -> str:
    return c.text if hasattr(c, "text") else c["text"]


def _cites_only_graph(claim: Any, graph_keys: set[int]) -> bool:
    keys = set(claim.citations if hasattr(claim, "citations") else claim.get("citations") or ())
    return bool(keys) and keys <= graph_keys


def _avoid_list(block: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Drug id -> why to avoid it (safety verdicts and treatment rows)."""
    out: dict[str, dict[str, Any]] = {}
    for v in block.get("safety") or ():
        if v["verdict"] == "avoid":
            out.setdefault(v["drug_id"], {"kind": v["kind"], "with": {"id": v["with_id"], "name": v["with"]},
                                          "evidence": v["evidence"], "sentence": v["sentence"]})
    for r in block.get("treatments") or ():
        if r["status"] == "avoid" and r.get("id"):
            kind = "interaction" if "combine" in (r["reasons"][0] if r["reasons"] else "") else "contraindication"
            out.setdefault(r["id"], {"kind": kind, "with": None, "evidence": r["evidence"],
                                     "sentence": r["reasons"][0] if r["reasons"] else "avoid"})
    return out


# ---- extractive composition -----------------------------------------------------------------

def _sentences(hits: Sequence[ScoredPassage], keys: Sequence[int]) -> list[tuple[int, str]]:
    out = []
    for key in keys:
        text = hits[key - 1].passage.text
        for s, e in sentence_spans(text):
            sent = " ".join(text[s:e].split())
            if len(sent) >= 30 and usable_sentence(sent):
                out.append((key, sent[marker_length(sent):]))
    return out


def _pick(question: str, cands: list[tuple[int, str]], embedder: Any, n: int,
          floor: float = 0.25) -> list[tuple[int, str]]:
    """Up to n sentences by maximal marginal relevance to the question."""
    if not cands or embedder is None or n <= 0:
        return []
    vecs = embedder.embed([question] + [c[1] for c in cands])
    q, sv = vecs[0], vecs[1:]
    rel = sv @ q
    chosen: list[int] = []
    while len(chosen) < min(n, len(cands)):
        score = rel.copy() if not chosen else 0.7 * rel - 0.3 * np.max(sv @ sv[chosen].T, axis=1)
        score[chosen] = -np.inf
        best = int(np.argmax(score))
        if rel[best] < floor or (chosen and float(np.max(sv[chosen] @ sv[best])) >= 0.92):
            break
        chosen.append(best)
    return [cands[i] for i in chosen]


def _names(verifier: Any, text: str) -> set[str]:
    return {e[0] for e in verifier.entities(text)} if verifier is not None else set()


def extractive_answer(question: str, block: dict[str, Any] | None, hits: Sequence[ScoredPassage],
                      usable_keys: Sequence[int], fact_keys: Sequence[int], fact_texts: Sequence[str],
                      embedder: Any, verifier: Any, max_passage_sentences: int = 2) -> str:
    """The block's statements, then passage sentences that answer the question (module doc)."""
    parts = [f"{t} [{k}]" for k, t in zip(fact_keys, fact_texts, strict=True)]
    cands = _sentences(hits, usable_keys)
    reading = (block or {}).get("_reading")
    qtype = (block or {}).get("question_type", "other")
    if reading is not None and verifier is not None:
        asked = {i.id for i in reading.asked}
        rel = verifier.related
        if qtype == "dosing" and asked:
            cands = [c for c in cands if DOSE.search(c[1])]
            checks = relevance_checks(verifier, question, reading, qtype,
                                      [{"text": c[1], "citations": [c[0]]} for c in cands], set(), block, hits)
            cands = [c for c, chk in zip(cands, checks, strict=True) if chk["status"] == "pass"]
            if not cands:  # the caller says the KB has no dose for it
                return " ".join(parts)
        elif qtype == "safety" and asked:  # the drug with its partner, or the drug's own risks
            partners = {i.id for i in reading.conditions} | {i.id for i in reading.taken}
            cands = [c for c in cands if (names := _names(verifier, c[1])) and any(rel(a) & names for a in asked)
                     and (any(rel(p) & names for p in partners) or _RISK.search(c[1]))]
        elif qtype == "diagnosis" and block.get("differential"):  # passages on the candidates
            wanted = [c["id"] for c in block["differential"][:3] if c.get("id")]
            cands = [c for c in cands if any(rel(w) & _names(verifier, c[1]) for w in wanted)]
        elif fact_texts:
            checks = relevance_checks(verifier, question, reading, qtype,
                                      [{"text": c[1], "citations": [c[0]]} for c in cands], set(), block, hits)
            cands = [c for c, chk in zip(cands, checks, strict=True) if chk["status"] == "pass"]
    n = max_passage_sentences if fact_texts else 3
    parts += [f"{s if s[-1] in '.!' else s + '.'} [{k}]" for k, s in _pick(question, cands, embedder, n)]
    return " ".join(parts)


def no_dose_sentence(block: dict[str, Any] | None) -> str:
    """What the KB lacks, said plainly (no citation: it is about the KB, not medicine)."""
    reading = (block or {}).get("_reading")
    if reading is None or not reading.asked:
        return "The knowledge base has no passage that gives this dose."
    from generation.safety import display

    drug = display(reading.asked[0].name)
    target = f" for {display(reading.targets[0].name)}" if reading.targets else ""
    who = " in children" if any("children" in c.name for c in reading.conditions) else ""
    return f"The knowledge base has no passage that gives a dose of {drug}{target}{who}."
