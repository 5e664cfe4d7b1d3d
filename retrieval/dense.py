"""Dense retrieval over a version's FAISS index."""

from __future__ import annotations

from typing import Any

from kb.records import ScoredPassage
from kb.store import Version


class DenseRetriever:
    """Embeds the query with the KB's own embedder and searches its vector index."""

    method = "dense"

    def __init__(self, version: Version, embedder: Any) -> None:
        self.version = version
        self.embedder = embedder

    def search(self, query: str, k: int = 10) -> list[ScoredPassage]:
        qv = self.embedder.embed([query])
        scores, rows = self.version.vectors().search(qv, k)
        score_of = {int(r): float(s) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0}
        passages = self.version.passages_by_ordinal(list(score_of))
        meta = self.version.doc_meta(p.doc_id for p in passages)
        out = []
        for rank, p in enumerate(passages, start=1):
            s = score_of[p.ordinal]
            m = meta.get(p.doc_id, {})
            out.append(ScoredPassage(passage=p, score=float(s), title=m.get("title"),
                                     source=m.get("source"), external_id=m.get("external_id"),
                                     rank=rank, method=self.method))
        return out
