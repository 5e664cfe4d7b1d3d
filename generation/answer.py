"""Question -> retrieved passages -> generated answer -> claims with exact citations -> ledger.

A small local model often cites wrongly or not at all (DESIGN §7.4), so every sentence is
attributed to its best-supporting sentence of a retrieved passage: the cited ones when the
model gave valid keys, any retrieved one otherwise (recorded as not cited by the model). Keys
outside the retrieved passages are removed and recorded.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from generation.citations import parse_sentence
from generation.prompt import build_messages
from kb.records import Citation, Claim, ScoredPassage
from kb.sentences import sentence_spans
from kb.store import Version

SUPPORT_THRESHOLD = 0.6
_REFUSAL = re.compile(r"\b(do(es)? not (answer|contain|provide|mention)|cannot answer|"
                      r"no information|not enough information|unable to answer)\b", re.I)


@dataclass(frozen=True)
class AskOptions:
    k: int = 5
    policy: str = "flag"  # flag | strict
    max_new_tokens: int = 160
    min_relevance: float = 0.2  # below this best dense score, nothing relevant was found


def _span_candidates(hit: ScoredPassage) -> list[tuple[int, int, str]]:
    """Sentences of a passage in document coordinates."""
    p = hit.passage
    return [(p.start + s, p.start + e, p.text[s:e]) for s, e in sentence_spans(p.text)]


class Attributor:
    """Finds, for a claim, the best-supporting sentence in given passages."""

    def __init__(self, embedder: Any, hits: Sequence[ScoredPassage]) -> None:
        self.embedder = embedder
        self.hits = list(hits)
        self.cands: list[tuple[int, int, int, str]] = []  # key, start, end, text
        for key, hit in enumerate(self.hits, start=1):
            for s, e, t in _span_candidates(hit):
                self.cands.append((key, s, e, t))
        self._vecs = embedder.embed([c[3] for c in self.cands]) if self.cands else np.zeros((0, 1))

    def best(self, claim: str, keys: Sequence[int] | None) -> list[tuple[int, int, int, str, float]]:
        """Per key (or over all passages when keys is None): (key, start, end, text, score)."""
        if not self.cands:
            return []
        cv = self.embedder.embed([claim])[0]
        sims = self._vecs @ cv
        out = []
        groups = keys if keys else [None]
        for key in groups:
            idx = [i for i, c in enumerate(self.cands) if key is None or c[0] == key]
            if not idx:
                continue
            i = max(idx, key=lambda j: sims[j])
            k, s, e, t = self.cands[i]
            out.append((k, s, e, t, float(sims[i])))
        return out


def _citation(hit: ScoredPassage, key: int, start: int, end: int, text: str,
              by_model: bool) -> Citation:
    p = hit.passage
    return Citation(key=key, passage_id=p.passage_id, doc_id=p.doc_id,
                    external_id=hit.external_id, title=hit.title, source=hit.source,
                    page=p.page, start=start, end=end, text=text, cited_by_model=by_model)


def attribute(answer: str, hits: Sequence[ScoredPassage], embedder: Any) -> dict[str, Any]:
    """Split `answer` into claims and attach exact citations (see module doc)."""
    attr = Attributor(embedder, hits)
    claims: list[Claim] = []
    citations: dict[tuple[int, int, int], Citation] = {}
    invented: list[int] = []
    for s, e in sentence_spans(answer):
        parsed = parse_sentence(answer[s:e], len(hits))
        invented.extend(k for k in parsed.invented if k not in invented)
        if len(parsed.text) < 3:
            continue
        found = attr.best(parsed.text, parsed.keys or None)
        by_model = bool(parsed.keys)
        keys: list[int] = []
        score = None
        for key, cs, ce, ct, sim in found:
            citations.setdefault((key, cs, ce), _citation(hits[key - 1], key, cs, ce, ct, by_model))
            keys.append(key)
            score = sim if score is None else max(score, sim)
        supported = score is not None and score >= SUPPORT_THRESHOLD
        reason = None
        if score is None:
            reason = "no retrieved passage to support it"
        elif not supported:
            reason = f"best supporting sentence similarity {score:.2f} < {SUPPORT_THRESHOLD}"
        if not by_model and found:
            reason = (reason + "; " if reason else "") + "the model gave no valid citation: attributed post hoc"
        claims.append(Claim(text=parsed.text, citations=tuple(keys), supported=supported,
                            score=None if score is None else round(score, 4), reason=reason))
    return {"claims": claims, "citations": list(citations.values()), "invented_keys": invented}


def claim_json(c: Claim) -> dict[str, Any]:
    d = asdict(c)
    d["citations"] = list(c.citations)
    return d


def render(claims: Sequence[Claim]) -> str:
    return " ".join(f"{c.text} " + "".join(f"[{k}]" for k in c.citations) for c in claims).strip()


def retrieved_json(hits: Sequence[ScoredPassage]) -> list[dict[str, Any]]:
    return [{"key": i, "passage_id": h.passage.passage_id, "doc_id": h.passage.doc_id,
             "score": round(h.score, 6), "method": h.method, "text_hash": h.passage.text_hash,
             "title": h.title, "source": h.source, "external_id": h.external_id,
             "page": h.passage.page, "start": h.passage.start, "end": h.passage.end}
            for i, h in enumerate(hits, start=1)]


def answer_question(question: str, version: Version, searcher: Any, backend: Any,
                    options: AskOptions | None = None, *, checker: Any = None) -> dict[str, Any]:
    """The whole generation record (what `ask --json` prints and the ledger stores)."""
    from generation.backends.extractive import ExtractiveBackend

    options = options or AskOptions()
    timings: dict[str, float] = {}
    t = time.perf_counter()
    hits = searcher.search(question, options.k)
    timings["retrieve_s"] = round(time.perf_counter() - t, 4)
    record: dict[str, Any] = {
        "question": question, "kb_version": version.id, "model": backend.name,
        "policy": options.policy, "embedder": version.embedder.get("model"),
        "retrieved": retrieved_json(hits), "prompt": None, "raw_output": None,
    }
    relevant = [h for h in hits if h.score >= options.min_relevance]
    if not relevant:
        record.update(answer="The knowledge base has no passage relevant to this question.",
                      abstained=True, abstain_reason="retrieval found nothing relevant",
                      claims=[], citations=[], checks=[], invented_keys=[], timings=timings)
        return record

    embedder = searcher.embedder
    t = time.perf_counter()
    if isinstance(backend, ExtractiveBackend):
        raw = backend.answer(question, hits)
    else:
        messages = build_messages(question, hits)
        record["prompt"] = messages
        raw = backend.generate(messages, max_new_tokens=options.max_new_tokens)
    timings["generate_s"] = round(time.perf_counter() - t, 4)
    record["raw_output"] = raw

    t = time.perf_counter()
    result = attribute(raw, hits, embedder)
    claims: list[Claim] = result["claims"]
    citations: list[Citation] = result["citations"]
    checks: list[dict[str, Any]] = []
    if checker is not None:
        checks = checker(question=question, claims=claims, citations=citations, hits=hits)
    timings["verify_s"] = round(time.perf_counter() - t, 4)

    notes: list[str] = []
    final_claims = claims
    if options.policy == "strict":
        dropped = [c for c in claims if not c.supported]
        final_claims = [c for c in claims if c.supported]
        if dropped:
            notes.append(f"dropped {len(dropped)} unsupported claim(s): "
                         + "; ".join(f"{c.text!r} ({c.reason})" for c in dropped))
        if not final_claims and not isinstance(backend, ExtractiveBackend):
            fallback = ExtractiveBackend(embedder).answer(question, hits)
            res2 = attribute(fallback, hits, embedder)
            final_claims = [c for c in res2["claims"] if c.supported]
            citations = res2["citations"]
            if final_claims:
                notes.append("the model's answer had no supported claim: showing the evidence "
                             "sentences from the retrieved passages instead")
                record["fallback"] = "extractive"
    used = {k for c in final_claims for k in c.citations}
    citations = [c for c in citations if c.key in used]
    abstained = not final_claims or bool(_REFUSAL.search(raw or "") and not any(
        c.supported for c in final_claims))
    answer = render(final_claims) if final_claims else (
        "No supported answer could be given from the knowledge base.")
    record.update(
        answer=answer, abstained=abstained, claims=[claim_json(c) for c in final_claims],
        all_claims=[claim_json(c) for c in claims] if options.policy == "strict" else None,
        citations=[asdict(c) for c in citations], checks=checks,
        invented_keys=result["invented_keys"], notes=notes, timings=timings)
    if abstained:
        record["abstain_reason"] = "no supported claim remained"
    return record


def public_view(record: dict[str, Any]) -> dict[str, Any]:
    """The record without the bulky prompt (kept in the ledger, shown by audit)."""
    return {k: v for k, v in record.items() if k != "prompt"}


def with_key(c: Citation, key: int) -> Citation:
    return replace(c, key=key)
