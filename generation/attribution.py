"""Attribution: each sentence of an answer tied to its best-supporting sentence of a retrieved
passage (the model's own keys when valid, any retrieved passage otherwise, recorded as not
cited by the model), with the exact character span of the source document."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from generation.citations import parse_sentence
from generation.relevance import marker_length, usable_sentence
from kb.records import Citation, Claim, ScoredPassage
from kb.sentences import sentence_spans

SUPPORT_THRESHOLD = 0.6
_FIRST_LINE = re.compile(r"\b(?:first[- ]line|drug of choice|treatment of choice|mainstay)\b", re.I)
_TRAILING_KEYS = re.compile(r"(?:\s*\[[^\]\n]{1,40}\])*")


@dataclass(frozen=True)
class VerifiedClaim(Claim):
    """A claim with how its citations came about: `by_model` when the model's own keys were
    used; `issues` lists what went wrong with them (none given, invented, re-attributed)."""

    by_model: bool = True
    issues: tuple[str, ...] = ()


def _span_candidates(hit: ScoredPassage) -> list[tuple[int, int, str]]:
    """Sentences of a passage in document coordinates; questions and list fragments are never
    evidence, and a leading list marker ("1. ") is left out of the span."""
    p = hit.passage
    out = []
    for s, e in sentence_spans(p.text):
        text = p.text[s:e]
        if not usable_sentence(text):
            continue
        s += marker_length(text)
        out.append((p.start + s, p.start + e, p.text[s:e]))
    return out


class Attributor:
    """Finds, for a claim, the best-supporting sentence in given passages."""

    def __init__(self, embedder: Any, hits: Sequence[ScoredPassage],
                 exclude: Sequence[int] = ()) -> None:
        self.embedder = embedder
        self.hits = list(hits)
        self.exclude = set(exclude)
        self.cands: list[tuple[int, int, int, str]] = []  # key, start, end, text
        for key, hit in enumerate(self.hits, start=1):
            if key in self.exclude:
                continue
            for s, e, t in _span_candidates(hit):
                self.cands.append((key, s, e, t))
        self._vecs = embedder.embed([c[3] for c in self.cands]) if self.cands else np.zeros((0, 1))

    @property
    def keys(self) -> list[int]:
        return sorted({c[0] for c in self.cands})

    def similarity(self, text: str) -> float:
        """Best similarity of `text` to any candidate sentence (0 when there is none)."""
        if not self.cands:
            return 0.0
        return float(np.max(self._vecs @ self.embedder.embed([text])[0]))

    def best(self, claim: str, keys: Sequence[int] | None) -> list[tuple[int, int, int, str, float]]:
        """Per key (each retrieved passage when keys is None): (key, start, end, text, score)."""
        if not self.cands:
            return []
        cv = self.embedder.embed([claim])[0]
        sims = self._vecs @ cv
        out = []
        for key in (keys if keys else self.keys):
            idx = [i for i, c in enumerate(self.cands) if c[0] == key]
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


def _choose(found: list[tuple[int, int, int, str, float]], text: str, hits: Sequence[ScoredPassage],
            verifier: Any, model_keys: list[int]) -> tuple[list[tuple[int, int, int, str, float]], Any, list[int]]:
    """The passages to cite for a claim: the model's, or the best one; completed with other
    retrieved passages when those name entities the first choice lacks. Returns (chosen,
    support, keys added post hoc)."""
    by_key = {f[0]: f for f in found}
    texts = {k: hits[k - 1].passage.text for k in by_key}
    if model_keys:
        chosen = [by_key[k] for k in model_keys if k in by_key]
        pool = None
    else:
        ranked = sorted(found, key=lambda f: -f[4])
        chosen = ranked[:1]
        pool = ranked
    if verifier is None or not chosen:
        return chosen, None, []
    support = verifier.support(text, {f[0]: texts[f[0]] for f in chosen})
    if support.ok:
        return chosen, support, []
    if pool is not None:  # post hoc: prefer a good-enough passage that names everything
        for f in pool[1:]:
            if f[4] >= SUPPORT_THRESHOLD and verifier.support(text, {f[0]: texts[f[0]]}).ok:
                return [f], verifier.support(text, {f[0]: texts[f[0]]}), []
    added: list[int] = []
    current = list(chosen)
    for _ in range(2):  # complete with at most two more passages
        best = None
        for f in sorted(found, key=lambda f: -f[4]):
            if f in current:
                continue
            trial = verifier.support(text, {g[0]: texts[g[0]] for g in current + [f]})
            gain = (len(support.missing) + len(support.unpaired)) - (len(trial.missing) + len(trial.unpaired))
            if gain > 0 and (best is None or gain > best[0]):
                best = (gain, f, trial)
        if best is None:
            break
        current.append(best[1])
        added.append(best[1][0])
        support = best[2]
        if support.ok:
            break
    return current, support, added


def attribute(answer: str, hits: Sequence[ScoredPassage], embedder: Any, *, verifier: Any = None,
              exclude: dict[int, str] | None = None, honour_keys: bool = True,
              attributor: Attributor | None = None) -> dict[str, Any]:
    """Split `answer` into claims and attach exact citations (see module doc).

    `verifier` (generation.verify.Verifier) adds the entity check; `exclude` maps passage keys
    that must never support a claim to the reason; `honour_keys=False` ignores the answer's
    own citation markers (an answer written against other passages).
    """
    exclude = exclude or {}
    attr = attributor or Attributor(embedder, hits, list(exclude))
    claims: list[VerifiedClaim] = []
    citations: dict[tuple[int, int, int], Citation] = {}
    invented: list[int] = []
    for s, e in sentence_spans(answer):
        e += len(_TRAILING_KEYS.match(answer, e).group(0))  # "... diabetes. [1]": keep its key
        parsed = parse_sentence(answer[s:e], len(hits))
        if len(parsed.text) < 3:
            continue
        issues: list[str] = []
        keys = list(parsed.keys) if honour_keys else []
        if honour_keys:
            invented.extend(k for k in parsed.invented if k not in invented)
            if parsed.invented:
                issues.append("the model cited " + ", ".join(f"[{k}]" for k in parsed.invented)
                              + ", not a retrieved passage (removed)")
        bad = [k for k in keys if k in exclude]
        if bad:
            issues.append("the cited passage " + ", ".join(f"[{k}]" for k in bad) + " "
                          + exclude[bad[0]] + ", so it is not used as support")
        keys = [k for k in keys if k not in exclude]
        by_model = bool(keys)
        found = attr.best(parsed.text, None)
        chosen, support, added = _choose(found, parsed.text, hits, verifier, keys)
        if honour_keys and not by_model and chosen:
            issues.append("the model gave no valid citation: attributed post hoc")
        if by_model and added:
            issues.append("its citations did not name everything it says: added "
                          + ", ".join(f"[{k}]" for k in added))
        out_keys: list[int] = []
        score = None
        for key, cs, ce, ct, sim in chosen:
            model_cited = by_model and key not in added
            citations.setdefault((key, cs, ce), _citation(hits[key - 1], key, cs, ce, ct, model_cited))
            out_keys.append(key)
            if not model_cited and key in added:
                continue  # completing passages name entities; the claim's wording is judged on its own
            score = sim if score is None else max(score, sim)
        if score is None and chosen:
            score = max(f[4] for f in chosen)
        reasons = []
        if score is None:
            reasons.append("no retrieved passage to support it")
        elif score < SUPPORT_THRESHOLD:
            reasons.append(f"best supporting sentence similarity {score:.2f} < {SUPPORT_THRESHOLD}")
        if support is not None and not support.ok:
            reasons.append(support.reason)
        if _FIRST_LINE.search(parsed.text) and out_keys and not any(
                _FIRST_LINE.search(hits[k - 1].passage.text) for k in out_keys):
            reasons.append("it calls a treatment first-line; no cited passage says so")
        supported = not reasons
        claims.append(VerifiedClaim(
            text=parsed.text, citations=tuple(out_keys), supported=supported,
            score=None if score is None else round(score, 4),
            reason="; ".join(r for r in reasons if r) or None, by_model=by_model, issues=tuple(issues)))
    return {"claims": claims, "citations": list(citations.values()), "invented_keys": invented}


def claim_json(c: Claim) -> dict[str, Any]:
    d = asdict(c)
    d["citations"] = list(c.citations)
    if "issues" in d:
        d["issues"] = list(d["issues"])
    return d


def render(claims: Sequence[Claim]) -> str:
    return " ".join(f"{c.text} " + "".join(f"[{k}]" for k in c.citations) for c in claims).strip()
