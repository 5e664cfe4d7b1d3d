"""Ranked passage ordinals -> ScoredPassage records with their document's metadata."""

from __future__ import annotations

from collections.abc import Sequence

from kb.records import ScoredPassage
from kb.retractions import of_version
from kb.store import Version


def hydrate(version: Version, ranked: Sequence[tuple[int, float]], method: str
            ) -> list[ScoredPassage]:
    """One ScoredPassage per (ordinal, score), in the given order, ranks from 1."""
    passages = {p.ordinal: p for p in version.passages_by_ordinal([o for o, _ in ranked])}
    meta = version.doc_meta(p.doc_id for p in passages.values())
    flagged = of_version(version)
    out: list[ScoredPassage] = []
    for ordinal, score in ranked:
        p = passages.get(int(ordinal))
        if p is None:
            continue
        m = meta.get(p.doc_id, {})
        out.append(ScoredPassage(passage=p, score=float(score), title=m.get("title"),
                                 source=m.get("source"), external_id=m.get("external_id"),
                                 rank=len(out) + 1, method=method,
                                 retraction=flagged.get(p.doc_id)))
    return out
