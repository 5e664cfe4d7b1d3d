"""A build's documents and passages, written to the new version's SQLite as they are produced.

The build never holds the corpus: records are buffered up to `batch` rows, inserted in one
transaction, and read back in pages of rows when a later stage (retractions, extraction,
enrichment, BM25) needs them. Documents whose metadata a later stage changes are updated in
place; their rowid (the table's order) stays the order they were read in. The version being
written is the build's own (kb.store.VersionWriter): nothing here is visible until publish.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from kb.records import Document, Passage
from kb.store import (
    DOCUMENT_COLS,
    PASSAGE_COLS,
    VersionWriter,
    document_from_row,
    metadata_json,
    passage_from_row,
)

BATCH = 2000  # rows buffered before one INSERT transaction
PAGE = 2000  # rows read back at a time




class BuildRecords:
    """Documents (with the file they came from) and passages of the version being written."""

    def __init__(self, writer: VersionWriter, batch: int | None = None,
                 page: int | None = None) -> None:
        self.writer = writer
        self.db = writer.db
        self.batch = batch or BATCH
        self.page = page or PAGE
        self._docs: list[tuple[Document, str]] = []
        self._passages: list[Passage] = []
        self.documents = 0
        self.passages = 0

    # -- writing -------------------------------------------------------------------------
    def add_documents(self, docs: Iterable[tuple[Document, str]]) -> None:
        for pair in docs:
            self._docs.append(pair)
            self.documents += 1
        if len(self._docs) >= self.batch:
            self.flush()

    def add_passages(self, passages: Iterable[Passage]) -> None:
        for p in passages:
            self._passages.append(p)
            self.passages += 1
        if len(self._passages) >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Insert what is buffered, in one transaction."""
        if self._docs:
            self.writer.add_documents(self._docs)
            self._docs = []
        if self._passages:
            self.writer.add_passages(self._passages)
            self._passages = []
        self.db.commit()

    def set_metadata(self, changes: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """New metadata for some documents (doc_id, metadata)."""
        self.flush()
        self.db.executemany("UPDATE documents SET metadata = ? WHERE doc_id = ?",
                            ((metadata_json(m), d) for d, m in changes))
        self.db.commit()

    # -- reading back (in pages: no cursor stays open across an update) ------------------
    def iter_documents(self) -> Iterator[tuple[Document, str]]:
        """(document, origin) in the order they were added."""
        for batch in self.document_batches(self.page):
            yield from batch

    def document_batches(self, size: int) -> Iterator[list[tuple[Document, str]]]:
        self.flush()
        last = 0
        while True:
            rows = self.db.execute(
                f"SELECT rowid, {DOCUMENT_COLS}, origin FROM documents WHERE rowid > ? "
                "ORDER BY rowid LIMIT ?", (last, size)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [(document_from_row(r[1:11]), r[11]) for r in rows]

    def document_sources(self) -> Iterator[tuple[str, str]]:
        """(doc_id, source) of every document."""
        self.flush()
        last = 0
        while True:
            rows = self.db.execute("SELECT rowid, doc_id, source FROM documents WHERE rowid > ? "
                                   "ORDER BY rowid LIMIT ?", (last, 10 * self.page)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield from ((r[1], r[2]) for r in rows)

    def iter_passages(self) -> Iterator[Passage]:
        """Passages in ordinal order."""
        self.flush()
        last = -1
        while True:
            rows = self.db.execute(
                f"SELECT {PASSAGE_COLS} FROM passages WHERE ordinal > ? ORDER BY ordinal "
                "LIMIT ?", (last, self.page)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield from (passage_from_row(r) for r in rows)

    def iter_texts(self) -> Iterator[str]:
        return (p.text for p in self.iter_passages())

    def passages_of(self, doc_ids: Sequence[str]) -> list[Passage]:
        """The passages of these documents, in ordinal order."""
        self.flush()
        out: list[Passage] = []
        for lo in range(0, len(doc_ids), 500):
            part = list(doc_ids[lo : lo + 500])
            marks = ",".join("?" * len(part))
            out.extend(passage_from_row(r) for r in self.db.execute(
                f"SELECT {PASSAGE_COLS} FROM passages WHERE doc_id IN ({marks})", part))
        out.sort(key=lambda p: p.ordinal)
        return out

    def passage_ids_of(self, doc_ids: Iterable[str]) -> set[str]:
        ids = list(doc_ids)
        return {p.passage_id for p in self.passages_of(ids)} if ids else set()
