"""Document enrichment: summary, evidence type and clinical topic in each document's metadata.

Sentences are scored with the vectors of the passages that hold them (already computed by the
build), so enrichment costs no second embedding pass. Unchanged documents keep their previous
enrichment when the fingerprint (ingest.fingerprints) matches.
"""

from __future__ import annotations

import json
import logging
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

import numpy as np

from ingest.engines import batches
from ingest.options import BuildOptions, Progress
from kb.records import Document, Passage
from kb.store import Version

log = logging.getLogger(__name__)


# The metadata keys enrichment adds to a document (everything else came from its reader).
ENRICH_KEYS = ("summary", "summary_spans", "summary_method", "evidence_type", "evidence_source",
               "evidence_confidence", "topic")


def llm_summaries(docs: list[Document], backend: Any, fallback: dict[str, Any]) -> dict[str, Any]:
    """Abstractive summaries; a document whose generation fails keeps its extractive one."""
    from ingest.summarise import llm_summary

    out = {}
    for doc in docs:
        try:
            out[doc.doc_id] = llm_summary(doc, backend)
        except Exception as exc:  # a failing backend costs the summary, never the build
            log.warning("LLM summary of %s failed, keeping the extractive one: %s", doc.source, exc)
            if doc.doc_id in fallback:
                out[doc.doc_id] = fallback[doc.doc_id]
    return out


def kept_enrichment(docs: list[tuple[Document, str]], previous: Version | None,
                     fingerprint: str | None) -> dict[str, dict[str, Any]]:
    """Enrichment of documents unchanged since the previous version (same text and reader
    metadata, same enrichment code and embedder): it is deterministic per document."""
    if previous is None or fingerprint is None or previous.manifest.get("enrichment") != fingerprint:
        return {}
    old = previous.doc_meta(d.doc_id for d, _ in docs)
    kept: dict[str, dict[str, Any]] = {}
    for doc, _ in docs:
        meta = old.get(doc.doc_id, {}).get("metadata")
        if meta is None:
            continue
        reader_meta = {k: v for k, v in meta.items() if k not in ENRICH_KEYS}
        current = json.loads(json.dumps(doc.metadata, sort_keys=True, default=str))
        if reader_meta == current:
            kept[doc.doc_id] = {k: meta[k] for k in ENRICH_KEYS if k in meta}
    return kept


def enrich(docs: list[tuple[Document, str]], passages: list[Passage], vectors: np.ndarray,
            embedder: Any, options: BuildOptions, progress: Progress,
            previous: Version | None = None, fingerprint: str | None = None,
           classifier: Any = None
            ) -> tuple[list[tuple[Document, str]], int]:
    """Summary, evidence type and clinical topic per document, kept in its metadata.

    Sentences are scored with the vectors of the passages that hold them (already computed),
    so enrichment costs no second embedding pass over the corpus. Unchanged documents keep
    their previous enrichment.
    """
    if not options.enrich or not docs:
        return docs, 0
    from collections import Counter
    from dataclasses import replace

    from ingest.classify import TextClassifier, classify_documents
    from ingest.summarise import SentenceTable, candidate_spans, summarise_documents

    kept = {} if options.summary_backend is not None else kept_enrichment(docs, previous, fingerprint)
    out: list[tuple[Document, str]] = []
    todo: list[tuple[Document, str]] = []
    for doc, origin in docs:
        if doc.doc_id in kept:
            out.append((replace(doc, metadata={**doc.metadata, **kept[doc.doc_id]}), origin))
        else:
            todo.append((doc, origin))
    if not todo:
        return out, len(kept)
    by_doc: dict[str, list[int]] = {}
    by_ordinal: dict[int, Passage] = {}
    for p in passages:
        by_doc.setdefault(p.doc_id, []).append(p.ordinal)
        by_ordinal[p.ordinal] = p
    clf = classifier or TextClassifier(embedder)
    for i, batch in enumerate(batches(todo, 256)):
        spans: dict[str, list[tuple[int, int]]] = {}
        vecs: dict[str, np.ndarray] = {}
        for doc, _ in batch:
            row_of = _passage_at([by_ordinal[o] for o in by_doc.get(doc.doc_id, [])])
            all_cands = candidate_spans(doc)
            keys = [" ".join(doc.text[s:e].split()).lower() for s, e in all_cands]
            seen_text = Counter(keys)
            # Lines repeated in a document (running headers, footers) are no summary.
            cands, rows = [], []
            for (s, e), key in zip(all_cands, keys, strict=True):
                row = row_of(s) if seen_text[key] == 1 else None
                if row is not None:
                    cands.append((s, e))
                    rows.append(row)
                    if len(cands) == 60:
                        break
            spans[doc.doc_id] = cands
            vecs[doc.doc_id] = vectors[rows] if rows else np.zeros((0, vectors.shape[1]), np.float32)
        table = SentenceTable(spans=spans, vectors=vecs)
        plain = [d for d, _ in batch]
        summaries = summarise_documents(plain, sentences=table)
        if options.summary_backend is not None:
            summaries.update(llm_summaries(plain, options.summary_backend, summaries))
        classes = classify_documents(plain, embedder, sentences=table, classifier=clf)
        for doc, origin in batch:
            meta = dict(doc.metadata)
            summ = summaries.get(doc.doc_id)
            if summ is not None:
                meta.update(summary=summ.text, summary_spans=[list(x) for x in summ.spans],
                            summary_method=summ.method)
            c = classes.get(doc.doc_id)
            if c is not None:
                if meta.get("evidence_type"):  # the record's own label wins
                    meta.setdefault("evidence_source", "record")
                else:
                    meta.update(evidence_type=c.evidence_type, evidence_source=c.source,
                                evidence_confidence=round(float(c.confidence), 4))
                meta.setdefault("topic", c.topic)
            out.append((replace(doc, metadata=meta), origin))
        progress("enrich", min((i + 1) * 256, len(todo)), len(todo))
    order = {d.doc_id: i for i, (d, _) in enumerate(docs)}
    out.sort(key=lambda pair: order[pair[0].doc_id])
    return out, len(kept)


def _passage_at(passages: list[Passage]) -> Callable[[int], int | None]:
    """`row_of(offset)`: the ordinal of the first of a document's passages (in ordinal
    order) that holds the character `offset`, or None. A chunker's passages run left to
    right (starts and ends non-decreasing), so that is a binary search; otherwise a scan."""
    starts = [p.start for p in passages]
    ends = [p.end for p in passages]
    if starts == sorted(starts) and ends == sorted(ends):
        def row_of(offset: int) -> int | None:
            i = bisect_right(ends, offset)  # the first passage ending after the offset
            return passages[i].ordinal if i < len(passages) and starts[i] <= offset else None
        return row_of

    def scan(offset: int) -> int | None:
        return next((p.ordinal for p in passages if p.start <= offset < p.end), None)
    return scan


def enrich_records(records: Any, ready: Callable[[int], np.ndarray], embedder: Any,
                   options: BuildOptions, progress: Progress, previous: Version | None = None,
                   fingerprint: str | None = None, batch: int = 64) -> int:
    """`enrich` over a build's records (ingest.spill.BuildRecords) in batches of documents,
    each as soon as its passages' vectors exist (`ready(n)` blocks until ordinals < n are
    embedded): enrichment overlaps with embedding, and only one batch of documents, their
    passages and vectors is in memory at a time. The documents' metadata is updated in
    place; returns how many documents kept their previous enrichment."""
    if not options.enrich or not records.documents:
        return 0
    from ingest.classify import TextClassifier

    clf = TextClassifier(embedder)
    kept = done = 0

    def quiet(stage: str, done: int, total: int) -> None:
        pass

    for part in records.document_batches(batch):
        passages = records.passages_of([d.doc_id for d, _ in part])
        vectors = ready(max((p.ordinal + 1 for p in passages), default=0))
        out, k = enrich(part, passages, vectors, embedder, options, quiet, previous,
                        fingerprint, classifier=clf)
        del vectors
        records.set_metadata((d.doc_id, d.metadata) for d, _ in out)
        kept += k
        done += len(part)
        progress("enrich", done, records.documents)
    return kept
