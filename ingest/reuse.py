"""What a new version can keep from the previous one, and what changed.

Everything here is keyed by content hashes and by fingerprints of what produced it, so a
kept item is exactly what recomputing it would give: passages of unchanged documents (same
doc id, same chunking settings, code and tokenizer), mentions and literature edges of unchanged
passages (same curated files and extraction code). Vectors are reused by passage id in
ingest.pipeline. An update therefore equals a full rebuild of the new corpus.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.records import Document, Passage
from kb.store import Version, span_list

if TYPE_CHECKING:
    from ingest.pipeline import BuildOptions


# What extraction depends on besides the curated files: a change to any of these modules
# makes the next build extract every passage again.
_EXTRACTION_CODE = ("ingest.relations", "ingest.curated", "ingest.stages", "kb.vocabulary",
                    "kb.negation", "kb.lexicon", "kb.sentences", "kb.graph", "kb.records")


def extraction_fingerprint(options: BuildOptions) -> str:
    """sha256 over the curated graph files, the user rule files and the extraction code."""
    import hashlib

    from ingest.fingerprints import update_with_code

    h = hashlib.sha256()
    assert options.graph_seeds is not None
    seeds = sorted(p for p in Path(options.graph_seeds).iterdir() if p.is_file())
    for path in [*seeds, *options.graph_files]:
        h.update(path.name.encode() + b"\0" + Path(path).read_bytes() + b"\0")
    update_with_code(h, _EXTRACTION_CODE)
    return h.hexdigest()


def kept_extractions(passages: list[Passage], previous: Version | None, fingerprint: str
                      ) -> tuple[list[tuple], list[Any], set[str]]:
    """Mentions and literature edges of passages already in the previous version, when it
    was extracted with the same curated files and code (extraction is deterministic)."""
    from dataclasses import fields

    from kb.records import Edge

    graph_file = previous.file("graph.json") if previous is not None else None
    if previous is None or previous.manifest.get("extraction") != fingerprint \
            or graph_file is None or not graph_file.exists():
        return [], [], set()
    old_ids = previous.passage_ids()
    new_ordinal = {p.passage_id: p.ordinal for p in passages}
    done = new_ordinal.keys() & set(old_ids)
    mentions = []
    for o, eid, s, e, neg, hed in previous.db.execute(
            'SELECT passage_ordinal, entity_id, start, "end", negated, hedged FROM mentions '
            "ORDER BY rowid"):
        pid = old_ids[o]
        if pid in done:
            mentions.append((new_ordinal[pid], eid, s, e, bool(neg), bool(hed)))
    names = {f.name for f in fields(Edge)}
    data = json.loads(graph_file.read_text("utf-8"))
    edges = [Edge(**{k: v for k, v in e.items() if k in names}) for e in data.get("edges", [])
             if e.get("passage_id") in done]
    return mentions, edges, set(done)


def kept_passages(previous: Version | None, docs: list[tuple[Document, str]],
                   options: BuildOptions, embedder: Any) -> dict[str, list[Passage]]:
    """Passages of documents that are in the previous version unchanged (same content hash,
    same section and page spans), when that version was chunked the same way (settings,
    tokenizer, chunking code, splitter version): chunking is deterministic, so they are what
    chunking again would give."""
    if previous is None:
        return {}
    same = (previous.manifest.get("chunking") == chunking_manifest(options)
            and previous.embedder.get("model") == embedder.model_id)  # the tokenizer
    if not same:
        return {}
    layout = {row[0]: (row[1], row[2]) for row in
              previous.db.execute("SELECT doc_id, sections, pages FROM documents")}
    wanted = {d.doc_id for d, _ in docs
              if layout.get(d.doc_id) == (span_list(d.sections), span_list(d.pages))}
    kept: dict[str, list[Passage]] = {}
    for p in previous.iter_passages():  # in ordinal order: each document's in chunk order
        if p.doc_id in wanted:
            kept.setdefault(p.doc_id, []).append(p)
    return kept


def chunking_manifest(options: BuildOptions) -> dict[str, Any]:
    """Settings, and a fingerprint of the chunking code and splitter version: passages are
    only reused across versions chunked by the same code."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    from ingest import chunking

    h = hashlib.sha256(Path(chunking.__file__).read_bytes())
    try:
        h.update(version("langchain-text-splitters").encode())
    except PackageNotFoundError:
        pass
    return {"chunk_tokens": options.chunking.chunk_tokens,
            "overlap_tokens": options.chunking.overlap_tokens, "code": h.hexdigest()[:16]}


def delta(previous: Version | None, docs: Iterable[tuple[str, str]]) -> dict[str, int]:
    """added / changed / removed / unchanged documents by content hash (the doc id), from
    the new version's (doc_id, source) pairs.

    A document whose id was there before is unchanged, wherever it now lives; a new id at a
    source that held a now-gone id is a change; other new ids are added, other gone ids
    removed. (A JSONL record whose id repeats in its file is sourced by line number, so an
    edit to it after an earlier line was removed counts as one removal and one addition.)
    """
    if previous is None:
        return {"added": sum(1 for _ in docs), "changed": 0, "removed": 0, "unchanged": 0}
    old = dict(previous.db.execute("SELECT doc_id, source FROM documents").fetchall())
    new = dict(docs)
    unchanged = sum(1 for i in new if i in old)
    gone_sources: dict[str, int] = {}
    for i, src in old.items():
        if i not in new:
            gone_sources[src] = gone_sources.get(src, 0) + 1
    changed = 0
    for i, src in new.items():
        if i not in old and gone_sources.get(src, 0) > 0:
            gone_sources[src] -= 1
            changed += 1
    added = sum(1 for i in new if i not in old) - changed
    removed = sum(1 for i in old if i not in new) - changed
    return {"added": added, "changed": changed, "removed": removed, "unchanged": unchanged}
