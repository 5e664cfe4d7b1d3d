"""Ingest stages: plain functions over batches, so any engine (local, Ray) can run them.

Each stage takes a batch and returns plain records; none touches the KB on disk. The writer
(ingest.pipeline) merges their output into a version.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import MedKBError
from kb.fsutil import file_sha256
from kb.records import Document, Passage

log = logging.getLogger(__name__)


@dataclass
class ReadResult:
    documents: list[tuple[Document, str]] = field(default_factory=list)  # (doc, origin file)
    failed: list[dict[str, str]] = field(default_factory=list)
    source_hashes: dict[str, str] = field(default_factory=dict)


def read_batch(paths: Sequence[Path], limits: Any = None, pdfs: Any = None) -> ReadResult:
    """Read files into documents; a file that fails is reported, never fatal.

    PDFs are parsed in a child process with time and memory caps (`pdfs`, an
    ingest.readers.sandbox.PdfSandbox; one is started for this batch when none is given).
    """
    from ingest.readers import DEFAULT_LIMITS, format_of, read_source
    from ingest.readers.sandbox import PdfSandbox

    limits = limits or DEFAULT_LIMITS
    own = None
    if pdfs is None and any(Path(p).name.lower().endswith(".pdf") for p in paths):
        pdfs = own = PdfSandbox(limits)
    out = ReadResult()
    try:
        for path in paths:
            origin = str(path)
            try:
                digest = file_sha256(path)
                if format_of(Path(path)) == "pdf":
                    docs = pdfs.read(Path(path))
                else:
                    docs = list(read_source(path, limits))
            except MedKBError as exc:
                out.failed.append({"source": origin, "error": str(exc)})
                continue
            except Exception as exc:  # a reader bug must not take the build down
                log.debug("reader crashed on %s\n%s", origin, traceback.format_exc())
                out.failed.append({"source": origin,
                                   "error": f"{origin}: {type(exc).__name__}: {exc}"})
                continue
            out.source_hashes[origin] = digest
            out.documents.extend((d, origin) for d in docs)
    finally:
        if own is not None:
            own.close()
    return out


def chunk_batch(docs: Sequence[Document], chunker: Any) -> list[list[Passage]]:
    """Passages per document (ordinals are assigned by the writer)."""
    return [chunker.chunk(d) for d in docs]


def embed_batch(texts: Sequence[str], embedder: Any, progress: Any = None) -> np.ndarray:
    return embedder.embed(list(texts), progress=progress)


def vocabulary_for(graph_seeds: Path, graph_files: Sequence[Path] = ()) -> Any:
    """The entity matcher over the curated entities (built once per process that extracts)."""
    from ingest.curated import load_curated
    from kb.vocabulary import Vocabulary

    entities, _ = load_curated(graph_seeds, list(graph_files))
    return Vocabulary.from_entities(entities)


def extract_batch(passages: Sequence[Passage], vocabulary: Any) -> tuple[list[tuple], list[Any]]:
    """Entity mentions (ordinal, entity_id, start, end, negated, hedged) in document
    coordinates, and literature relation edges, for a batch of passages."""
    from ingest.relations import extract_relations

    mentions: list[tuple] = []
    edges: list[Any] = []
    for p in passages:
        found = vocabulary.find(p.text)
        mentions.extend((p.ordinal, m.entity_id, p.start + m.start, p.start + m.end,
                         m.negated, m.hedged) for m in found)
        edges.extend(extract_relations(p, found))
    return mentions, edges
