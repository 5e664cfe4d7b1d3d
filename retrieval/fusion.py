"""Fusing ranked lists, boosting by entities, and maximal-marginal-relevance re-ranking.

Everything here works on passage ordinals and plain numbers, so it is tested and tuned
without a KB (retrieval.evaluate grid-searches these functions on precomputed rankings).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FusionConfig:
    """Hybrid settings, chosen on labelled data with `medkb eval ... --tune`.

    Measured with all-MiniLM-L6-v2 on the PubMedQA PQA-L dev questions (500 questions, their
    2,393 abstract passages) and on 800 MedQuAD questions over their 3,004 answers (9,582
    passages): an equal-weight sum of min-max normalised dense and BM25 scores, each computed
    for every candidate of either list, beat both retrievers alone and every weighted
    reciprocal rank fusion tried (dense weight 0.5-2, k 10/60) on nDCG@10 and R@1 on both
    sets (PubMedQA nDCG@10 0.9958 vs dense 0.9901 / BM25 0.9862; MedQuAD 0.8135 vs 0.7699 /
    0.7241). The entity boost (KB built with the graph) lifts MedQuAD to 0.8174 and costs
    PubMedQA one query at rank 1 (R@1 0.990 -> 0.988, still above both). RRF stays available.
    """

    fusion: str = "convex"  # "convex": weighted min-max score sum; "rrf": weighted RRF
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    rrf_k: float = 60.0
    depth: int = 100  # candidates taken from each retriever
    entity_boost: float = 0.1  # added per unit of query-entity coverage, on the [0, 1] scale
    mmr_lambda: float = 1.0  # 1.0: relevance only; lower trades relevance for diversity
    duplicate_cosine: float = 0.98  # a candidate this close to a kept one is a near-duplicate


def weighted_rrf(rankings: Mapping[str, Sequence[int]], weights: Mapping[str, float],
                 k: float = 60.0) -> dict[int, float]:
    """score(p) = sum over lists of weight / (k + rank), rank starting at 1."""
    out: dict[int, float] = {}
    for name, ranked in rankings.items():
        w = float(weights.get(name, 1.0))
        if w == 0.0:
            continue
        for rank, ordinal in enumerate(ranked, start=1):
            out[ordinal] = out.get(ordinal, 0.0) + w / (k + rank)
    return out


def minmax(values: Mapping[int, float]) -> dict[int, float]:
    if not values:
        return {}
    lo, hi = min(values.values()), max(values.values())
    span = hi - lo
    if span <= 0:
        return {o: 1.0 for o in values}
    return {o: (v - lo) / span for o, v in values.items()}


def convex(scores: Mapping[str, Mapping[int, float]], weights: Mapping[str, float]
           ) -> dict[int, float]:
    """Weighted sum of per-list min-max normalised scores (a missing score counts as 0)."""
    out: dict[int, float] = {}
    total = sum(float(weights.get(n, 1.0)) for n in scores) or 1.0
    for name, values in scores.items():
        w = float(weights.get(name, 1.0)) / total
        for o, v in minmax(values).items():
            out[o] = out.get(o, 0.0) + w * v
    return out


def normalise_top(fused: Mapping[int, float]) -> dict[int, float]:
    """Divide by the best score, so boosts added afterwards have a fixed meaning."""
    if not fused:
        return {}
    top = max(fused.values())
    return {o: (v / top if top > 0 else 0.0) for o, v in fused.items()}


def entity_boost(scores: Mapping[int, float], query_entities: Iterable[str],
                 mentions: Mapping[int, Iterable[str]], weight: float) -> dict[int, float]:
    """Add `weight` x (share of the query's entities a passage mentions)."""
    wanted = set(query_entities)
    if not wanted or weight == 0.0:
        return dict(scores)
    out = {}
    for o, s in scores.items():
        found = wanted.intersection(mentions.get(o, ()))
        out[o] = s + weight * len(found) / len(wanted)
    return out


def rank(scores: Mapping[int, float]) -> list[tuple[int, float]]:
    """Best first; ties broken by ordinal so results are reproducible."""
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def mmr(ranked: Sequence[tuple[int, float]], vectors: np.ndarray, k: int, *,
        lam: float = 1.0, duplicate_cosine: float = 1.01) -> list[tuple[int, float]]:
    """Maximal marginal relevance over `ranked` (rows of `vectors` align with it).

    Candidates whose cosine to an already chosen one reaches `duplicate_cosine` are dropped
    as near-duplicates; the rest are picked by lam * relevance - (1 - lam) * max similarity,
    with relevance min-max scaled to [0, 1]. With lam = 1 this keeps the order.
    """
    if not ranked:
        return []
    vecs = np.asarray(vectors, dtype=np.float32)
    if lam >= 1.0:  # relevance order; only near-duplicates go
        kept: list[int] = []
        for i in range(len(ranked)):
            if len(kept) == k:
                break
            if not kept or float(np.max(vecs[kept] @ vecs[i])) < duplicate_cosine:
                kept.append(i)
        return [ranked[i] for i in kept]
    rel = np.array([s for _, s in ranked], dtype=np.float64)
    span = rel.max() - rel.min()
    rel = (rel - rel.min()) / span if span > 0 else np.ones_like(rel)
    chosen: list[int] = []
    max_sim = np.full(len(ranked), -np.inf)
    alive = np.ones(len(ranked), dtype=bool)
    while len(chosen) < k and alive.any():
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        value = lam * rel - (1.0 - lam) * penalty
        value[~alive] = -np.inf
        i = int(np.argmax(value))
        chosen.append(i)
        alive[i] = False
        max_sim = np.maximum(max_sim, vecs @ vecs[i])  # one row at a time: no big matmul
        alive &= max_sim < duplicate_cosine
    return [ranked[i] for i in chosen]
