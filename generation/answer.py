"""Question -> retrieved passages -> generated answer -> verified claims with exact citations.

A small local model often cites wrongly or not at all (DESIGN §7.4), so every sentence is
attributed to its best-supporting sentence of a retrieved passage: the cited ones when the
model gave valid keys, any retrieved one otherwise (recorded as not cited by the model). Keys
outside the retrieved passages are removed and recorded. A claim is supported when a cited
sentence is close enough in meaning AND the cited passages name the claim's medical entities
(a drug together with the disease it is said to treat, in one passage). Passages that carry
instructions aimed at the model are withheld from the prompt and never count as support.

Policies: `flag` keeps the text and attaches the checks; `strict` drops unsupported claims
and claims recommending a drug whose graph checks failed, says why, falls back to the
extractive evidence sentences (themselves checked) and abstains when nothing remains.
`check_answer` runs the same verification on an answer written elsewhere.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from generation.attribution import (
    Attributor,
    VerifiedClaim,
    attribute,
    claim_json,
    render,
)
from generation.prompt import build_messages
from generation.relevance import dedupe
from generation.verify import failing_claims, injection_reason
from kb.records import Citation, Claim, ScoredPassage
from kb.retractions import withheld_keys as retracted_keys
from kb.store import Version

STRONG_RELEVANCE = 0.6  # a passage this similar is relevant even without the question's entities
_REFUSAL = re.compile(r"\b(do(es)? not (answer|contain|provide|mention)|cannot answer|"
                      r"no information|not enough information|unable to answer)\b", re.I)
WITHHELD_TEXT = "[passage withheld: it contains instructions addressed to the model]"
NO_ANSWER = "No supported answer could be given from the knowledge base."


@dataclass(frozen=True)
class AskOptions:
    k: int = 5
    policy: str = "flag"  # flag | strict
    max_new_tokens: int = 160
    # Below this best sentence similarity a question naming no medical entity found nothing
    # relevant. all-MiniLM-L6-v2 gives unrelated questions up to ~0.40 on the shipped corpus
    # ("What is the capital of France?" 0.40), related ones 0.5 and more.
    min_relevance: float = 0.45
    # Retrieve retracted papers too (shown flagged in `retrieved`, never cited).
    include_retracted: bool = False


def retrieved_json(hits: Sequence[ScoredPassage]) -> list[dict[str, Any]]:
    return [{"key": i, "passage_id": h.passage.passage_id, "doc_id": h.passage.doc_id,
             "score": round(h.score, 6), "method": h.method, "text_hash": h.passage.text_hash,
             "title": h.title, "source": h.source, "external_id": h.external_id,
             "page": h.passage.page, "start": h.passage.start, "end": h.passage.end,
             **({"retraction": h.retraction} if h.retraction else {})}
            for i, h in enumerate(hits, start=1)]


def suspicious_passages(hits: Sequence[ScoredPassage], checker: Any = None) -> dict[int, str]:
    """Keys of retrieved passages that address the model (prompt injection), with why."""
    if checker is not None and hasattr(checker, "suspicious"):
        return checker.suspicious(hits)
    return {k: r for k, h in enumerate(hits, start=1) if (r := injection_reason(h.passage.text))}


def relevance(question: str, hits: Sequence[ScoredPassage], attributor: Attributor, checker: Any,
              min_relevance: float) -> dict[str, Any]:
    """Whether retrieval found anything relevant: a passage naming (or relating to) one of the
    question's entities, or a sentence close in meaning."""
    sim = attributor.similarity(question)
    asked: set[str] = set()
    covered: set[str] = set()
    if checker is not None and hasattr(checker, "relevance"):
        usable = [h for k, h in enumerate(hits, start=1) if k not in attributor.exclude]
        asked, covered = checker.relevance(question, usable)
    if asked:
        ok = bool(covered) or sim >= STRONG_RELEVANCE
    else:
        ok = sim >= min_relevance
    return {"relevant": ok, "similarity": round(sim, 4), "question_entities": sorted(asked),
            "entities_found": sorted(covered)}


def _prompt_hits(hits: Sequence[ScoredPassage], withheld: dict[int, str]) -> list[ScoredPassage]:
    return [replace(h, passage=replace(h.passage, text=WITHHELD_TEXT)) if k in withheld else h
            for k, h in enumerate(hits, start=1)]


def _checks(checker: Any, question: str, claims: Sequence[Claim], citations: Sequence[Citation],
            hits: Sequence[ScoredPassage]) -> list[dict[str, Any]]:
    if checker is None:
        return []
    return list(checker(question=question, claims=claims, citations=citations, hits=hits))


def _strict_filter(question: str, claims: list[VerifiedClaim], citations: list[Citation],
                   hits: Sequence[ScoredPassage], checker: Any, notes: list[str],
                   withheld: list[dict[str, Any]]) -> tuple[list[VerifiedClaim], list[dict[str, Any]]]:
    """Drop unsupported claims and claims whose checks failed, until the rest passes."""
    kept = list(claims)
    checks = _checks(checker, question, kept, citations, hits)
    while True:  # each round drops at least one claim, so this ends
        failing = failing_claims(checks)
        drop = [i for i, c in enumerate(kept) if not c.supported or i in failing]
        if not drop:
            break
        for i in drop:
            c = kept[i]
            why = [f"not supported: {c.reason}"] if not c.supported else []
            why += [f["message"] for f in failing.get(i, []) if f["rule"] != "citation_support"]
            why = why or ["failed verification"]
            withheld.append({"text": c.text, "reasons": why})
            notes.append(f"withheld {c.text!r}: " + "; ".join(why))
        kept = [c for i, c in enumerate(kept) if i not in drop]
        checks = _checks(checker, question, kept, citations, hits)
    return kept, checks


def verify_answer(question: str, raw: str, hits: Sequence[ScoredPassage], embedder: Any, *,
                  checker: Any = None, policy: str = "flag", withheld_keys: dict[int, str] | None = None,
                  honour_keys: bool = True, fallback: Any = None,
                  attributor: Attributor | None = None) -> dict[str, Any]:
    """Claims, citations and checks of an answer text, with the policy applied.

    `fallback` (strict only): a function returning a replacement answer text when nothing of
    `raw` survives (the extractive evidence sentences).
    """
    withheld_keys = withheld_keys or {}
    attr = attributor or Attributor(embedder, hits, list(withheld_keys))
    verifier = checker if hasattr(checker, "support") else None  # a plain checker function: no entity check
    result = attribute(raw, hits, embedder, verifier=verifier, exclude=withheld_keys,
                       honour_keys=honour_keys, attributor=attr)
    claims: list[VerifiedClaim] = result["claims"]
    citations: list[Citation] = result["citations"]
    notes: list[str] = []
    keep = dedupe([c.text for c in claims], embedder)
    if len(keep) < len(claims):
        notes.append(f"collapsed {len(claims) - len(keep)} repeated sentence(s)")
        claims = [claims[i] for i in keep]
    withheld: list[dict[str, Any]] = []
    out: dict[str, Any] = {"invented_keys": result["invented_keys"]}
    if policy != "strict":
        final, checks = claims, _checks(checker, question, claims, citations, hits)
    else:
        out["all_claims"] = [claim_json(c) for c in claims]
        out["all_checks"] = _checks(checker, question, claims, citations, hits)
        final, checks = _strict_filter(question, claims, citations, hits, checker, notes, withheld)
        if not final and fallback is not None:
            text = fallback()
            if text:
                res2 = attribute(text, hits, embedder, verifier=verifier, exclude=withheld_keys,
                                 honour_keys=True, attributor=attr)
                claims2 = [res2["claims"][i] for i in dedupe([c.text for c in res2["claims"]], embedder)]
                final, checks = _strict_filter(question, claims2, res2["citations"], hits,
                                               checker, notes, withheld)
                citations = res2["citations"]
                if final:
                    notes.append("the answer had no claim that passed verification: showing the "
                                 "evidence sentences from the retrieved passages instead")
                    out["fallback"] = "extractive"
    used = {k for c in final for k in c.citations}
    citations = [c for c in citations if c.key in used]
    out.update(claims=final, citations=citations, checks=checks, notes=notes, withheld=withheld)
    return out


def answer_question(question: str, version: Version, searcher: Any, backend: Any,
                    options: AskOptions | None = None, *, checker: Any = None) -> dict[str, Any]:
    """The whole generation record (what `ask --json` prints and the ledger stores)."""
    from generation.backends.extractive import ExtractiveBackend
    from generation.clinical_block import build_block, fact_hits, facts, public_block
    from generation.compose import BlockChecker, extractive_answer, no_dose_sentence

    options = options or AskOptions()
    timings: dict[str, float] = {}
    t = time.perf_counter()
    hits = (searcher.search(question, options.k, include_retracted=True)
            if options.include_retracted else searcher.search(question, options.k))
    timings["retrieve_s"] = round(time.perf_counter() - t, 4)
    record: dict[str, Any] = {
        "question": question, "kb_version": version.id, "model": backend.name,
        "policy": options.policy, "embedder": version.embedder.get("model"),
        "retrieved": retrieved_json(hits), "prompt": None, "raw_output": None,
    }
    embedder = searcher.embedder
    withheld_keys = suspicious_passages(hits, checker)
    if withheld_keys:
        record["suspicious_passages"] = {str(k): v for k, v in withheld_keys.items()}
    withheld_keys = {**retracted_keys(hits), **withheld_keys}  # never cite a retracted paper
    # The clinical block: graph facts numbered after the passages, citable like them.
    t = time.perf_counter()
    block = build_block(question, version, searcher, checker, hits) if checker is not None else None
    if block is not None and block["question_type"] == "diagnosis" and block["differential"]:
        hits = _with_leader_passages(hits, block["differential"][0], searcher, withheld_keys)
        record["retrieved"] = retrieved_json(hits)
    found = facts(block)
    n = len(hits)
    fact_keys = list(range(n + 1, n + 1 + len(found)))
    all_hits = list(hits) + fact_hits(found)
    timings["clinical_s"] = round(time.perf_counter() - t, 4)
    record["clinical"] = public_block(block)
    record["graph_facts"] = [{"key": k, "text": f.text, "source": f.source, "kind": f.kind}
                             for k, f in zip(fact_keys, found, strict=True)]
    if block is not None:
        checker = BlockChecker(checker, block, question, set(fact_keys))
    attr = Attributor(embedder, all_hits, list(withheld_keys))
    rel = relevance(question, hits, Attributor(embedder, hits, list(withheld_keys)), checker,
                    options.min_relevance)
    record["relevance"] = rel
    if not rel["relevant"] and not found:
        nothing = ("The knowledge base has no passage relevant to this question." if block is None
                   or block["question_type"] != "dosing" else no_dose_sentence(block))
        record.update(answer=nothing,
                      abstained=True, abstain_reason="retrieval found nothing relevant",
                      claims=[], citations=[], checks=[], invented_keys=[], notes=[],
                      timings=timings)
        return record
    usable = [k for k in range(1, n + 1) if k not in withheld_keys] if rel["relevant"] else []
    lead = " ".join(f"{f.text} [{k}]" for k, f in zip(fact_keys, found, strict=True))

    def compose() -> str:
        if block is None or (not found and block["question_type"] in ("information", "other")):
            chosen = backend if isinstance(backend, ExtractiveBackend) else ExtractiveBackend(embedder)
            return _extractive(chosen, question, hits, withheld_keys)
        return extractive_answer(question, block, hits, usable, fact_keys, [f.text for f in found],
                                 embedder, checker)

    t = time.perf_counter()
    if isinstance(backend, ExtractiveBackend):
        raw = compose()
    else:
        messages = build_messages(question, _prompt_hits(hits, withheld_keys),
                                  facts=[(k, f.text, f.source) for k, f in zip(fact_keys, found, strict=True)])
        record["prompt"] = messages
        raw = backend.generate(messages, max_new_tokens=options.max_new_tokens)
    timings["generate_s"] = round(time.perf_counter() - t, 4)
    record["raw_output"] = raw

    t = time.perf_counter()
    fallback = None
    if not isinstance(backend, ExtractiveBackend) and (usable or found):
        fallback = compose
    to_verify = clean_output(raw or "", hits)
    if options.policy == "strict" and lead and not isinstance(backend, ExtractiveBackend):
        to_verify = lead + " " + to_verify  # strict: the block's own wording leads
    verified = verify_answer(question, to_verify, all_hits, embedder, checker=checker, policy=options.policy,
                             withheld_keys=withheld_keys, fallback=fallback, attributor=attr)
    timings["verify_s"] = round(time.perf_counter() - t, 4)
    final: list[VerifiedClaim] = verified["claims"]
    abstained = not final or bool(_REFUSAL.search(raw or "") and not any(c.supported for c in final))
    answer = render(final) if final else _no_answer(verified["withheld"])
    if block is not None and block["question_type"] == "dosing" and not _states_dose(final, set(fact_keys)):
        note = no_dose_sentence(block)
        answer = f"{answer} {note}" if final else note
        verified["notes"].append(note)
        record["no_dose_passage"] = True
    citations = [_citation_json(c, set(fact_keys), found, n) for c in verified["citations"]]
    record.update(
        answer=answer, abstained=abstained, claims=[claim_json(c) for c in final],
        all_claims=verified.get("all_claims"), all_checks=verified.get("all_checks"),
        citations=citations, checks=verified["checks"],
        invented_keys=verified["invented_keys"], notes=verified["notes"],
        withheld=verified["withheld"], timings=timings)
    if verified.get("fallback"):
        record["fallback"] = verified["fallback"]
    if abstained:
        record["abstain_reason"] = ("no supported claim remained" if final == [] else
                                    "the model declined and nothing it said is supported")
    return record


def _with_leader_passages(hits: Sequence[ScoredPassage], lead: dict[str, Any], searcher: Any,
                          withheld: dict[int, str], extra: int = 2) -> list[ScoredPassage]:
    """The retrieved passages plus up to `extra` found for the differential's leader with its
    matched findings (the question's words rarely name the diagnosis)."""
    out = list(hits)
    seen = {h.passage.passage_id for h in hits}
    query = " ".join([lead["disease"], *(lead.get("matched") or ())[:4]])
    for h in searcher.search(query, extra + 2):
        if len(out) >= len(hits) + extra:
            break
        if h.passage.passage_id not in seen and not h.retraction and not injection_reason(h.passage.text):
            seen.add(h.passage.passage_id)
            out.append(h)
    return out


def clean_output(raw: str, hits: Sequence[ScoredPassage]) -> str:
    """A small model's reply without what it copied from the prompt's layout: passage markers
    (<<< >>>), echoed passage titles, list numbering; each line ends a sentence."""
    text = raw.replace("<<<", " ").replace(">>>", " ")
    for h in hits:
        if h.title and len(h.title) > 3:
            text = text.replace(f"({h.title})", " ")
    lines = []
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:\d{1,2}|[a-z])[.)]\s+", "", line).strip()
        line = re.sub(r"^(?:\[\d+\]\s*[,.;:]?\s*)+", "", line)  # keys before any text
        if not line or _title_like(line):
            continue
        if not re.search(r"[.!?](?:\s*\[[^\]]+\])*\s*$", line):
            line += "."
        lines.append(line)
    return " ".join(lines)


def _title_like(line: str) -> bool:
    """A heading the model copied ("Angina Treatment For Chest Pain"), not a sentence."""
    words = [w.strip("()[]{},.;:!\"'") for w in re.sub(r"\[[^\]]*\]", " ", line).split()]
    words = [w for w in words if w]
    long = [w for w in words if len(w) > 3]
    return 3 <= len(words) <= 10 and bool(long) and all(w[0].isupper() for w in long)


def _states_dose(claims: Sequence[VerifiedClaim], graph_keys: set[int]) -> bool:
    from generation.relevance import DOSE

    return any(DOSE.search(c.text) and not set(c.citations) <= graph_keys for c in claims)


def _citation_json(c: Citation, graph_keys: set[int], found: Sequence[Any], n: int) -> dict[str, Any]:
    """A citation as JSON; one of a graph fact names its source, not a passage."""
    d = asdict(c)
    if c.key in graph_keys:
        f = found[int(c.key) - n - 1]
        d.update(passage_id=None, doc_id=None, external_id=None, page=None, start=None, end=None,
                 title="Knowledge graph", source=f.source, text=f.text, kind="graph", cited_by_model=c.cited_by_model)
    else:
        d["kind"] = "passage"
    return d


def _extractive(backend: Any, question: str, hits: Sequence[ScoredPassage],
                withheld_keys: dict[int, str]) -> str:
    """The extractive answer over the passages that may be quoted; keys stay the retrieval's."""
    keep = [k for k in range(1, len(hits) + 1) if k not in withheld_keys]
    if not keep:
        return ""
    text = backend.answer(question, [hits[k - 1] for k in keep])
    return re.sub(r"\[(\d+)\]", lambda m: f"[{keep[int(m.group(1)) - 1]}]"
                  if 0 < int(m.group(1)) <= len(keep) else m.group(0), text)


def _no_answer(withheld: Sequence[dict[str, Any]]) -> str:
    reasons = [r for w in withheld for r in w["reasons"] if "not supported" not in r]
    if reasons:
        return NO_ANSWER[:-1] + ": the recommendation was withheld because " + reasons[0].rstrip(".") + "."
    return NO_ANSWER


def check_answer(question: str, answer: str, version: Version, searcher: Any, *,
                 k: int = 5, policy: str = "flag", checker: Any = None,
                 model: str | None = None) -> dict[str, Any]:
    """Verify an answer written elsewhere: retrieve for the question and for the answer,
    attribute each sentence post hoc (its own citation markers refer to other passages),
    run the checks; strict drops what fails without replacing it."""
    timings: dict[str, float] = {}
    t = time.perf_counter()
    hits = list(searcher.search(question, k))
    seen = {h.passage.passage_id for h in hits}
    if answer.strip():
        for h in searcher.search(answer[:2000], k):
            if h.passage.passage_id not in seen:
                seen.add(h.passage.passage_id)
                hits.append(h)
    timings["retrieve_s"] = round(time.perf_counter() - t, 4)
    t = time.perf_counter()
    withheld_keys = {**retracted_keys(hits), **suspicious_passages(hits, checker)}
    attr = Attributor(searcher.embedder, hits, list(withheld_keys))
    verified = verify_answer(question, answer, hits, searcher.embedder, checker=checker, policy=policy,
                             withheld_keys=withheld_keys, honour_keys=False, attributor=attr)
    timings["verify_s"] = round(time.perf_counter() - t, 4)
    final = verified["claims"]
    record: dict[str, Any] = {
        "question": question, "input_answer": answer, "kb_version": version.id, "model": model,
        "policy": policy, "embedder": version.embedder.get("model"), "retrieved": retrieved_json(hits),
        "answer": render(final) if final else _no_answer(verified["withheld"]),
        "abstained": not final, "claims": [claim_json(c) for c in final],
        "all_claims": verified.get("all_claims"), "all_checks": verified.get("all_checks"),
        "citations": [asdict(c) for c in verified["citations"]], "checks": verified["checks"],
        "notes": verified["notes"], "withheld": verified["withheld"], "timings": timings,
        "relevance": relevance(question, hits, attr, checker, AskOptions().min_relevance),
    }
    if withheld_keys:
        record["suspicious_passages"] = {str(k): v for k, v in withheld_keys.items()}
    return record


def public_view(record: dict[str, Any]) -> dict[str, Any]:
    """The record without the bulky prompt (kept in the ledger, shown by audit)."""
    return {k: v for k, v in record.items() if k != "prompt"}
