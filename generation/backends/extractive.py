"""An answer built from the retrieved passages' own sentences: no LLM, nothing invented.

Sentences are scored by similarity to the question and picked with maximal marginal
relevance, each cited to its passage; headings, list lead-ins and fragments are never quoted
(generation.relevance.usable_sentence).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from generation.relevance import marker_length, usable_sentence
from kb.records import ScoredPassage
from kb.sentences import sentence_spans


class ExtractiveBackend:
    name = "extractive"

    def __init__(self, embedder: Any = None, *, max_sentences: int = 3, min_chars: int = 30) -> None:
        self.embedder = embedder
        self.max_sentences = max_sentences
        self.min_chars = min_chars

    def generate(self, messages: list[dict[str, str]], *, max_new_tokens: int = 256) -> str:
        raise NotImplementedError("the extractive backend answers from passages: use answer()")

    def answer(self, question: str, hits: Sequence[ScoredPassage]) -> str:
        cands: list[tuple[int, str]] = []
        for key, hit in enumerate(hits, start=1):
            text = hit.passage.text
            for s, e in sentence_spans(text):
                raw = text[s:e]
                sent = " ".join(raw[marker_length(raw):].split())
                if len(sent) >= self.min_chars and usable_sentence(raw):
                    cands.append((key, sent))
        if not cands or self.embedder is None:
            return ""
        vecs = self.embedder.embed([question] + [c[1] for c in cands])
        q, sv = vecs[0], vecs[1:]
        rel = sv @ q
        chosen: list[int] = []
        while len(chosen) < min(self.max_sentences, len(cands)):
            if chosen:
                red = np.max(sv @ sv[chosen].T, axis=1)
                score = 0.7 * rel - 0.3 * red
                score[chosen] = -np.inf
            else:
                score = rel.copy()
            best = int(np.argmax(score))
            if chosen and rel[best] < 0.25:
                break
            chosen.append(best)
        parts = []
        for i in chosen:
            key, sent = cands[i]
            sent = sent if sent[-1] in ".!?" else sent + "."
            parts.append(f"{sent} [{key}]")
        return " ".join(parts)
