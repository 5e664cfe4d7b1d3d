"""Build or update a KB version: read -> chunk -> embed -> extract -> write.

The stages (ingest.stages) are plain functions; this module runs them with an engine and
merges their output into one new version. Vectors and extractions of passages whose id (a
content hash) already exists in the previous version are reused, so an update re-embeds only
what changed and gives the same KB as a full rebuild.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ingest.engines import get_engine, iter_batches
from ingest.fingerprints import enrichment_fingerprint, tool_versions
from ingest.options import BuildOptions, Progress, default_graph_seeds, no_progress
from kb.errors import KBError
from kb.faults import checkpoint
from kb.records import Passage
from kb.store import VECTORS_NAME, KnowledgeBase, Version

__all__ = ["BuildOptions", "Progress", "build", "default_graph_seeds", "kb_writer"]

log = logging.getLogger(__name__)


def build(
    sources: Sequence[Path | str],
    kb_root: Path | str,
    options: BuildOptions | None = None,
    *,
    embedder: Any = None,
    progress: Progress | None = None,
    update: bool = False,
) -> dict[str, Any]:
    """Build a new version from `sources`; returns the build report (DESIGN §1 keys)."""
    from ingest import retractions
    from kb.embedder import make_embedder

    options = options or BuildOptions()
    progress = progress or no_progress
    t0 = time.perf_counter()
    kb = KnowledgeBase(kb_root)
    engine = get_engine(options.engine, options.ray_address, options.ray_cpus)

    with kb.writer_lock(), closing(engine):
        previous: Version | None = None
        if kb.exists():
            try:
                previous = kb.current()
            except KBError as exc:
                if update:
                    raise
                log.warning("previous version unreadable, building from scratch: %s", exc)
        elif update:
            log.info("no KB at %s yet: update builds it from scratch", kb.root)

        embedder = embedder or make_embedder(
            options.embedder, backend=options.embed_backend,
            keep=previous.embedder if previous is not None else None)
        if previous is not None and update and previous.embedder.get("model") != embedder.model_id:
            raise KBError(f"{kb.root} was built with embedder {previous.embedder.get('model')!r}, "
                          f"not {embedder.model_id!r}: rebuild with `medkb build`")

        retraction_list = retractions.list_entries(options.retractions, previous, update)

        # Everything is written to the new version's temporary directory as it is produced
        # (documents and passages to its SQLite in batches, vectors to a spill file), so the
        # build holds one batch of the corpus at a time, not the corpus (ingest.spill).
        writer = kb_writer(kb)
        try:
            report, manifest = _build_version(
                writer, engine, embedder, previous, retraction_list, sources, options,
                progress, update)
            report["seconds"] = round(time.perf_counter() - t0, 3)
            if kb.fallback_note:
                report["notes"] = [kb.fallback_note]
            writer.write_json("report.json", report)
            checkpoint("before-publish")
            version = writer.publish(manifest)
        except BaseException:
            writer.abort()
            raise
        checkpoint("after-publish")
        progress("write", 1, 1)
        if options.keep_versions is not None:
            report["pruned"] = kb.prune_locked(options.keep_versions)
    report = {"kb_version": version.id, **report}
    if options.impact is not None:
        report["affected_generations"] = options.impact(kb, previous, version)
    report["seconds"] = round(time.perf_counter() - t0, 3)
    return report


def _build_version(writer: Any, engine: Any, embedder: Any, previous: Version | None,
                   retraction_list: list[Any], sources: Sequence[Path | str],
                   options: BuildOptions, progress: Progress, update: bool
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read, chunk, embed, extract and enrich into `writer`'s version; the report (without
    the time) and the manifest."""
    from ingest import retractions, reuse
    from ingest.enrichment import enrich_records
    from ingest.flow import chunk_and_embed
    from ingest.readers import discover
    from ingest.spill import BuildRecords
    from ingest.stages import ReadResult
    from kb.embed_select import manifest_block
    from kb.vector_spill import VectorSpill
    from kb.vectors import FaissIndex

    # 1-4. read, chunk, embed and extract, overlapped (ingest.flow): passages go to an
    # embedder thread as soon as their file is read and chunked (PDFs are parsed in one
    # sandboxed child process for the whole build); extraction runs here meanwhile.
    # Documents unchanged since the previous version keep their passages, and passages
    # their vectors where the two versions' vectors may share a KB (kb.embedder.may_mix).
    files, missing = discover([Path(s) for s in sources])
    failed: list[dict[str, str]] = [{"source": s, "error": e} for s, e in missing]
    read = ReadResult()
    records = BuildRecords(writer)
    chunked_docs = [0]
    block = manifest_block(embedder, embedder.dim)
    if previous is not None and "retrieval" in previous.embedder and "retrieval" not in block \
            and previous.embedder.get("backend") == block["backend"]:
        # kept on a backend chosen by the retrieval gate (kb.embed_select) where this
        # machine never measured it: the gate's figures stay with the KB, saying from when
        block["retrieval"] = {"from_version": previous.id, **previous.embedder["retrieval"]}
    old_vector = _old_vectors(previous, block, update)
    side: dict[str, Any] = {}
    enrichment = enrichment_fingerprint(embedder) if options.enrich else None
    spill = VectorSpill(writer.path("vectors.spill"), block["dim"])

    def per_doc() -> Iterator[list[Passage]]:
        seen: set[str] = set()
        chunked_n = [0]

        def chunk_tick(n: int) -> None:  # the total grows as files are read
            chunked_n[0] += n
            progress("chunk", chunked_n[0], max(chunked_docs[0], chunked_n[0]))

        for r in engine.read(files, options.limits, _ticker(progress, "read", len(files))):
            read.failed.extend(r.failed)
            read.source_hashes.update(r.source_hashes)
            fresh = []
            for doc, origin in r.documents:
                if doc.doc_id not in seen and doc.text.strip():
                    seen.add(doc.doc_id)
                    fresh.append((doc, origin))
            records.add_documents(fresh)
            kept = reuse.kept_passages(previous, fresh, options, embedder)
            new = [d for d, _ in fresh if d.doc_id not in kept]
            chunked_docs[0] += len(new)
            chunked = iter(engine.chunk(new, options.chunking, embedder, chunk_tick)
                           if new else ())
            for doc, _ in fresh:
                yield kept.get(doc.doc_id) or (next(chunked) if doc.doc_id not in kept else [])
        failed.extend(read.failed)
        checkpoint("after-read")

    def during_embedding(n_passages: int, ready: Callable[[int], np.ndarray]) -> None:
        checkpoint("after-chunk")
        records.flush()
        changes, flagged, side["retractions"] = retractions.changes_for(
            records.iter_documents, retraction_list)
        records.set_metadata(changes.items())
        side["flagged"] = flagged
        if options.extract and options.graph_seeds is not None:
            side["graph"] = _extract_and_graph(
                records, options, previous, progress,
                records.passage_ids_of(retractions.excluded_documents(flagged)), engine)
        checkpoint("after-extract")
        # BM25 needs only the texts: built while the embedder works, not after it
        side["sparse"] = _write_sparse(records.iter_texts(), writer)
        log.info("BM25 index written")
        side["reused_enrichment"] = enrich_records(
            records, ready, embedder, options, progress, previous, enrichment)

    def embed(texts: list[str], tick: Any) -> np.ndarray:
        blocks = list(engine.embed(texts, embedder, tick))
        return np.concatenate(blocks) if blocks else np.zeros((0, block["dim"]), np.float32)

    try:
        n_passages, _, reused, _ = chunk_and_embed(
            per_doc(), embed, block["dim"], old_vector, progress, during_embedding,
            sink=records.add_passages, store=spill)
        records.flush()
        if reused and previous is not None and \
                previous.embedder.get("backend", "torch") != block["backend"]:
            block["mixed_with"] = sorted({*previous.embedder.get("mixed_with", []),
                                          previous.embedder.get("backend", "torch")})
        checkpoint("after-embed")
        entities_n = edges_n = reused_extractions = 0
        graph = extraction = None
        if "graph" in side:
            graph, entities_n, edges_n, extraction, reused_extractions = side["graph"]

        # 5. write: the rows are in already; the vector index is built from the spill file
        # in chunks (only the index itself grows in memory), then the file is removed
        progress("write", 0, 1)
        dense_index = FaissIndex.build_chunked(
            lambda: spill.chunks(n_passages), n_passages, block["dim"], options.index_kind,
            precision=options.vector_precision, sample=lambda k: spill.sample(n_passages, k))
    finally:
        spill.close(remove=True)
    dense_index.save(writer.path(VECTORS_NAME))
    vectors_block = {"kind": dense_index.kind, "count": len(dense_index),
                     "precision": options.vector_precision}
    del dense_index  # saved: BM25, SQLite's VACUUM and hashing never sit on top of it
    log.info("vector index written (%s rows)", vectors_block["count"])
    if graph is not None:
        graph.save(writer.path("graph.json"))
    for name, data in retractions.files_for(side["flagged"], retraction_list).items():
        writer.write_json(name, data)
    changes = reuse.delta(previous, records.document_sources())
    n_docs = records.documents
    report = {
        "documents": n_docs, "passages": n_passages,
        "entities": entities_n, "edges": edges_n, "failed": failed,
        "embedded": n_passages - reused, "reused_vectors": reused,
        "chunked_documents": chunked_docs[0],
        "extracted": n_passages - reused_extractions if graph is not None else 0,
        "reused_extractions": reused_extractions,
        "reused_enrichment": side["reused_enrichment"], "retractions": side["retractions"],
        **changes, "seconds": 0.0,
    }
    manifest = {
        "embedder": block,
        "vectors": vectors_block,
        "sparse": side["sparse"],
        "chunking": reuse.chunking_manifest(options),
        "counts": {"documents": n_docs, "passages": n_passages,
                   "entities": entities_n, "edges": edges_n},
        "sources": dict(sorted(read.source_hashes.items())),
        "parent": previous.id if previous else None,
        "extraction": extraction,
        "enrichment": enrichment,
        "engine": engine.name,
        "tools": tool_versions(),
    }
    return report, manifest


def _write_sparse(texts: Iterable[str], writer: Any) -> dict[str, Any]:
    """The BM25 index (kb.sparse), rows = passage ordinals like the vector index; returns its
    pinned parameters for the manifest."""
    from kb.sparse import SparseIndex
    from kb.sparse_build import build_sparse

    # streamed: the tokenised corpus is never held in memory (kb.sparse_build)
    build_sparse(texts, writer.path("bm25"))
    return SparseIndex.load(writer.path("bm25")).describe()


def kb_writer(kb: KnowledgeBase) -> Any:
    from kb.store import VersionWriter

    return VersionWriter(kb)


def _ticker(progress: Progress, stage: str, total: int) -> Any:
    state = {"done": 0}

    def tick(n: int) -> None:
        state["done"] = min(total, state["done"] + n)
        progress(stage, state["done"], total)

    return tick


def _old_vectors(previous: Version | None, block: dict[str, Any], update: bool
                 ) -> Callable[[str], np.ndarray | None]:
    """Lookup of the previous version's vector by passage id, when its vectors may share a KB
    with this embedder's (kb.embedder.may_mix). Otherwise an update is refused and a build
    re-embeds everything."""
    from kb.embedder import may_mix

    if previous is None or previous.embedder.get("model") != block["model"] \
            or previous.embedder.get("dim") != block["dim"]:
        return lambda pid: None
    if not may_mix(previous.embedder, block):
        if update and previous.embedder.get("backend") == block["backend"]:
            raise KBError(
                f"the KB's {block['backend']} vectors were made on a CPU with "
                f"{previous.embedder.get('int8_kernels')} int8 kernels, this CPU's are "
                f"{block.get('int8_kernels')}: their vectors differ too much to share a KB. "
                "Update it on a CPU like the one that built it, or rebuild here")
        if update:
            raise KBError(
                f"the KB's vectors come from {previous.embedder.get('backend', 'torch')}, which "
                f"does not agree closely enough with {block['backend']} to share a KB "
                f"(cosine >= 0.999 and top-10 overlap >= 0.98 to fp32 on the probe set, both): "
                f"update with --embed-backend {previous.embedder.get('backend')} or rebuild")
        log.info("previous vectors (%s) do not mix with %s: embedding everything",
                 previous.embedder.get("backend"), block["backend"])
        return lambda pid: None
    old_ids = {pid: i for i, pid in enumerate(previous.passage_ids())}
    if not old_ids:
        return lambda pid: None
    index = previous.vectors()
    cached: dict[str, Any] = {"lo": -1, "block": None}

    def old_vector(pid: str) -> np.ndarray | None:
        # an update asks in roughly the old order: decode a block of rows at a time rather
        # than every old vector at once (memory stays bounded at any KB size)
        row = old_ids.get(pid)
        if row is None:
            return None
        lo = row - row % OLD_VECTOR_BLOCK
        if cached["lo"] != lo:
            cached["lo"] = lo
            cached["block"] = index.reconstruct(range(lo, min(len(index), lo + OLD_VECTOR_BLOCK)))
        return cached["block"][row - lo]

    return old_vector


OLD_VECTOR_BLOCK = 4096


class _OnceVocabulary:
    """The matcher, built once per process that extracts (here, or each Ray actor), however
    many windows of passages the build hands to the engine; never pickled with it."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._vocab: Any = None

    def __call__(self) -> Any:
        if self._vocab is None:
            self._vocab = self._build()
        return self._vocab

    def __getstate__(self) -> dict[str, Any]:
        return {"_build": self._build, "_vocab": None}


EXTRACT_WINDOW = 50_000  # passages handed to the engine's extraction at a time


def _extract_and_graph(records: Any, options: BuildOptions, previous: Version | None,
                       progress: Progress, retracted: set[str] | None = None,
                       engine: Any = None) -> tuple[Any, int, int, str, int]:
    """The graph, its counts, the extraction fingerprint and how many passages kept the
    previous version's extractions; the mention rows go to the version being written
    (`records`, ingest.spill) as they are found. Edges from `retracted` passages are
    flagged. Passages are read back in windows: the graph's edges are held, not the corpus."""
    from ingest import retractions, reuse
    from ingest.curated import load_curated
    from kb.graph import KnowledgeGraph
    from kb.vocabulary import Vocabulary

    assert options.graph_seeds is not None
    progress("graph", 0, 1)
    fingerprint = reuse.extraction_fingerprint(options)
    entities, curated_edges = load_curated(options.graph_seeds, list(options.graph_files))
    progress("graph", 1, 1)
    kept_mentions, lit_edges, done = reuse.kept_extractions(records.iter_passages(), previous,
                                                            fingerprint)
    # mentions in passage order, each passage's in found order (kept ones first): staged
    # in a side table, then copied sorted (SQLite sorts on disk)
    db = records.db
    db.execute("CREATE TEMP TABLE staged_mentions (seq INTEGER PRIMARY KEY, o, e, s, t, n, h)")
    stage = "INSERT INTO staged_mentions (o, e, s, t, n, h) VALUES (?,?,?,?,?,?)"
    db.executemany(stage, ((o, e, s, t, int(n), int(h)) for o, e, s, t, n, h in kept_mentions))
    del kept_mentions
    todo_n = records.passages - len(done)
    if todo_n:
        engine = engine or get_engine("local")
        # the entities are loaded already (once): the matcher is built from them in each
        # process that extracts (here, or each Ray actor)
        vocabulary = _OnceVocabulary(partial(Vocabulary.from_entities, entities))
        tick = _ticker(progress, "extract", todo_n)
        todo = (p for p in records.iter_passages() if p.passage_id not in done)
        for window in iter_batches(todo, EXTRACT_WINDOW):
            for m, e in engine.extract(window, vocabulary, tick):
                db.executemany(stage, ((o, ei, s, t, int(n), int(h))
                                       for o, ei, s, t, n, h in m))
                lit_edges.extend(e)
    db.execute('INSERT INTO mentions SELECT o, e, s, t, n, h FROM staged_mentions '
               "ORDER BY o, seq")
    db.execute("DROP TABLE staged_mentions")
    db.commit()
    lit_edges = retractions.mark_edges(lit_edges, retracted or set())
    graph = KnowledgeGraph.build(entities, list(curated_edges) + lit_edges)
    n_entities, n_edges = graph.counts()
    return graph, n_entities, n_edges, fingerprint, len(done)

