"""The search entry point used by the CLI, the server and answering.

Hybrid by default (DESIGN §7.1): FAISS dense and BM25 sparse candidates, fused (a weighted
sum of min-max normalised scores by default, weighted reciprocal rank fusion on request; see
retrieval.fusion.FusionConfig for why), boosted for passages that mention the query's entities, filtered by
evidence type / year / source, and de-duplicated by maximal marginal relevance. Passages of
retracted documents (kb.retractions) are left out unless `include_retracted` is set; then
they come back flagged with their retraction record, as every hit of a flagged document does.
"""

from __future__ import annotations

import fnmatch
import itertools
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kb.embedder import block_backend, embedder_for_manifest, make_backend, may_mix
from kb.errors import KBError
from kb.records import ScoredPassage
from kb.store import Version
from retrieval.fusion import FusionConfig

METHODS = ("dense", "sparse", "hybrid")
MAX_DEEPEN = 2  # rounds of 4x deeper candidate lists when nothing was filtered out
QUERY_BACKEND_ENV = "MEDKB_QUERY_BACKEND"  # "kb": always the KB's own backend
log = logging.getLogger(__name__)


def embedder_for(version: Version, requested: str | None = None) -> Any:
    """The embedder a version was built with, on the same backend (kb.embedder
    .embedder_for_manifest); a different model is a clear error."""
    built = version.embedder.get("model")
    if requested and requested != built:
        raise KBError(f"this KB was built with embedder {built!r}; it cannot be searched with "
                      f"{requested!r}. Rebuild it with `medkb build --embedder {requested}`")
    info = version.embedder
    fast = query_backend(info)
    if fast:
        log.info("queries embedded with %s (agrees with the KB's %s)", fast, info.get("backend"))
        return make_backend(str(info["model"]), fast)
    return embedder_for_manifest(info)


def query_backend(info: dict[str, Any]) -> str | None:
    """A faster backend for the query side (one question, one answer's claims, a few passages'
    sentences at a time) whose vectors agree with the KB's own, or None to use the KB's.

    On one short text ONNX Runtime fp32 takes ~4 ms where torch takes 15-20 ms (AMD EPYC
    Zen 5, one thread), which is most of a search. It is used only when this machine's
    calibration (kb.embed_select, made by an `auto` build) measured it agreeing with fp32 and
    the KB's backend agrees too (kb.embedder.may_mix: cosine >= 0.999, top-10 overlap >= 0.98);
    ${QUERY_BACKEND_ENV}=kb keeps the KB's backend, =NAME forces one that may mix."""
    from kb.embed_select import cached_calibration
    from kb.onnx_embedder import onnxruntime_available

    model = str(info.get("model", ""))
    own = block_backend(info)
    wanted = os.environ.get(QUERY_BACKEND_ENV, "auto")
    if wanted == "kb" or model.startswith("hash-"):
        return None
    if wanted == "auto":
        if own.startswith("onnx") or not onnxruntime_available():
            return None
        wanted = "onnx-fp32"
    if wanted == own:
        return None
    measured = ((cached_calibration(model) or {}).get("backends") or {}).get(wanted) or {}
    other = {"model": model, "dim": info.get("dim"), "backend": wanted, "agreement": measured}
    if wanted != "torch-fp32" and "cos_min" not in measured:
        return None  # never measured on this machine: stay on the KB's backend
    return wanted if may_mix(info, other) else None


@dataclass(frozen=True)
class Filters:
    """Keep only passages whose document matches every given condition.

    evidence_types: the document's `metadata["evidence_type"]` (case-insensitive);
    year_min / year_max: inclusive publication years (documents without a year are dropped);
    sources: substrings of, or glob patterns (`*`, `?`) over, the document's source (a
    record's source is `file#id`; a glob may leave the `#id` out).
    """

    evidence_types: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    sources: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.evidence_types or self.sources) or \
            self.year_min is not None or self.year_max is not None

    def accepts(self, meta: dict[str, Any]) -> bool:
        if self.evidence_types:
            et = (meta.get("metadata") or {}).get("evidence_type") or meta.get("evidence_type")
            if not et or str(et).lower() not in {e.lower() for e in self.evidence_types}:
                return False
        if self.year_min is not None or self.year_max is not None:
            year = meta.get("year")
            if year is None:
                return False
            if self.year_min is not None and int(year) < self.year_min:
                return False
            if self.year_max is not None and int(year) > self.year_max:
                return False
        if self.sources:
            src = str(meta.get("source") or "")
            if not any(_source_match(src, pat) for pat in self.sources):
                return False
        return True


def _source_match(source: str, pattern: str) -> bool:
    """A glob matches the source with or without its record fragment (`file.jsonl#id`)."""
    if any(c in pattern for c in "*?["):
        return any(fnmatch.fnmatchcase(s, pattern) for s in (source, source.split("#")[0]))
    return pattern in source


class Searcher:
    """Dense, sparse or hybrid search over one KB version.

    `tagger` (text -> entity ids) tags queries for the entity boost; by default the KB's
    knowledge graph or stored mentions are used (retrieval.entities), and a KB without
    either gets no boost.
    """

    def __init__(self, version: Version, embedder: Any = None, *,
                 config: FusionConfig | None = None, tagger: Any = None) -> None:
        from retrieval.bm25 import SparseRetriever
        from retrieval.dense import DenseRetriever

        self.version = version
        self.embedder = embedder or embedder_for(version)
        self.config = config or FusionConfig()
        self.dense = DenseRetriever(version, self.embedder)
        self.sparse = SparseRetriever(version)
        self._tagger = tagger
        self._tagger_ready = tagger is not None
        self._doc_of: dict[int, str] = {}
        self._allowed_docs: dict[str, bool] = {}
        self._filters: Filters | None = None
        self._retracted: frozenset[int] | None = None

    # -- public ----------------------------------------------------------------------------
    def search(self, query: str, k: int = 10, *, method: str = "hybrid",
               filters: Filters | None = None, include_retracted: bool = False
               ) -> list[ScoredPassage]:
        from retrieval.hits import hydrate

        ranked = self.rank(query, k, method=method, filters=filters,
                           include_retracted=include_retracted)
        return hydrate(self.version, ranked, method)

    def rank(self, query: str, k: int = 10, *, method: str = "hybrid",
             filters: Filters | None = None, include_retracted: bool = False
             ) -> list[tuple[int, float]]:
        """(passage ordinal, score) best first."""
        if not query.strip():
            raise KBError("the query is empty")
        if method not in METHODS:
            raise KBError(f"unknown search method {method!r}: use dense, sparse or hybrid")
        n = len(self.version.vectors())
        if k <= 0 or n == 0:
            return []
        filters = filters if filters is not None and filters.active else None
        qv = self.embedder.embed([query]) if method != "sparse" else None
        depth = max(self.config.depth, k) if method == "hybrid" else k
        # Deeper candidate lists help when filters or retractions removed candidates; when
        # only near-duplicates were dropped (fuse), a corpus of many copies would otherwise
        # send every search down to the whole KB: a few rounds at most then.
        unbounded = filters is not None or (not include_retracted
                                            and bool(self.retracted_ordinals()))
        for rounds in itertools.count():
            lists = self.candidates(query, depth, method=method, query_vector=qv,
                                    filters=filters, include_retracted=include_retracted)
            if method != "hybrid":
                got = lists[method]
            else:
                got = self.fuse(query, lists, qv, k)
            if len(got) >= k or depth >= n or (not unbounded and rounds >= MAX_DEEPEN):
                return got[:k]
            depth = min(n, depth * 4)
        raise AssertionError("unreachable")

    def candidates(self, query: str, depth: int, *, method: str = "hybrid",
                   query_vector: np.ndarray | None = None, filters: Filters | None = None,
                   include_retracted: bool = False) -> dict[str, list[tuple[int, float]]]:
        """The raw ranked lists ("dense", "sparse") a method draws on, filtered."""
        out: dict[str, list[tuple[int, float]]] = {}
        if method in ("dense", "hybrid"):
            qv = query_vector if query_vector is not None else self.embedder.embed([query])
            scores, rows = self.version.vectors().search(qv, depth)
            out["dense"] = [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True)
                            if r >= 0]
        if method in ("sparse", "hybrid"):
            out["sparse"] = self.sparse.ranked(query, depth)
        if filters is not None:
            out = {name: self._filtered(hits, filters) for name, hits in out.items()}
        if not include_retracted and (gone := self.retracted_ordinals()):
            out = {name: [h for h in hits if h[0] not in gone] for name, hits in out.items()}
        return out

    def retracted_ordinals(self) -> frozenset[int]:
        """Rows of retracted documents' passages (read once per searcher)."""
        if self._retracted is None:
            from kb.retractions import excluded_ordinals

            self._retracted = excluded_ordinals(self.version)
        return self._retracted

    def fuse(self, query: str, lists: dict[str, list[tuple[int, float]]],
             query_vector: np.ndarray | None, k: int) -> list[tuple[int, float]]:
        """Fusion, entity boost and MMR over candidate lists (see FusionConfig)."""
        from retrieval import fusion

        cfg = self.config
        weights = {"dense": cfg.dense_weight, "sparse": cfg.sparse_weight}
        if cfg.fusion == "convex":
            scores = fusion.convex(self._exact_scores(query, lists, query_vector), weights)
        else:
            scores = fusion.weighted_rrf({n: [o for o, _ in h] for n, h in lists.items()},
                                         weights, cfg.rrf_k)
        scores = fusion.normalise_top(scores)
        if cfg.entity_boost:
            wanted = self.query_entities(query)
            if wanted:
                found = self.version.mentions(list(scores))
                ents = {o: [m[0] for m in ms] for o, ms in found.items()}
                scores = fusion.entity_boost(scores, wanted, ents, cfg.entity_boost)
        ranked = fusion.rank(scores)
        if cfg.mmr_lambda < 1.0 or cfg.duplicate_cosine <= 1.0:
            size = max(3 * k, k + 10)
            while True:  # a larger pool when near-duplicates left fewer than k
                pool = ranked[:size]
                vecs = self.version.vectors().reconstruct([o for o, _ in pool])
                kept = fusion.mmr(pool, vecs, k, lam=cfg.mmr_lambda,
                                  duplicate_cosine=cfg.duplicate_cosine)
                if len(kept) >= k or size >= len(ranked):
                    break
                size *= 4
            ranked = kept
        return ranked

    def _exact_scores(self, query: str, lists: dict[str, list[tuple[int, float]]],
                      query_vector: np.ndarray | None) -> dict[str, dict[int, float]]:
        """Both scores for every candidate either list found, so a passage missing from one
        list is scored for what it is there rather than counted as zero."""
        union = sorted({o for hits in lists.values() for o, _ in hits})
        if not union:
            return {}
        qv = query_vector if query_vector is not None else self.embedder.embed([query])
        dense = self.version.vectors().reconstruct(union) @ np.asarray(qv, np.float32)[0]
        sparse = self.sparse.scores_of(query, union)
        return {"dense": dict(zip(union, dense.tolist(), strict=True)),
                "sparse": dict(zip(union, sparse.tolist(), strict=True))}

    def query_entities(self, query: str) -> set[str]:
        if not self._tagger_ready:
            from retrieval.entities import default_tagger

            self._tagger = default_tagger(self.version)
            self._tagger_ready = True
        return set(self._tagger(query)) if self._tagger is not None else set()

    # -- filters ---------------------------------------------------------------------------
    def _filtered(self, hits: Sequence[tuple[int, float]], filters: Filters
                  ) -> list[tuple[int, float]]:
        if filters != self._filters:
            self._allowed_docs.clear()
            self._filters = filters
        missing = [o for o, _ in hits if o not in self._doc_of]
        if missing:
            for p in self.version.passages_by_ordinal(missing):
                self._doc_of[p.ordinal] = p.doc_id
        docs = {self._doc_of[o] for o, _ in hits if o in self._doc_of}
        new = [d for d in docs if d not in self._allowed_docs]
        if new:
            for d, meta in self.version.doc_meta(new).items():
                self._allowed_docs[d] = filters.accepts(meta)
        return [(o, s) for o, s in hits if self._allowed_docs.get(self._doc_of.get(o, ""), False)]


def hit_json(hit: ScoredPassage) -> dict[str, Any]:
    p = hit.passage
    return {"passage_id": p.passage_id, "doc_id": p.doc_id, "external_id": hit.external_id,
            "score": round(hit.score, 6), "title": hit.title, "source": hit.source,
            "page": p.page, "section": p.section, "start": p.start, "end": p.end,
            "rank": hit.rank, "method": hit.method, "text": p.text,
            "retraction": hit.retraction}
