"""The records every part of MedKB speaks: frozen, created once, ids are content hashes.

Ids derive from content only (never paths, clocks or machines), so the same corpus gives the
same ids on any machine and with any ingest engine.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any


def content_hash(*parts: object, length: int = 16) -> str:
    """sha256 over the JSON of `parts`, hex, truncated to `length` characters."""
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Span:
    """A labelled character range of a document's text: a section or a PDF page."""

    label: str
    start: int
    end: int


@dataclass(frozen=True)
class Document:
    """One source record (a paper, an abstract, a JSONL record, a PDF) as extracted text.

    `sections` and `pages` partition (parts of) `text`; passages never cross their borders,
    so each passage has one section and one page.
    """

    doc_id: str
    source: str
    format: str
    title: str | None
    text: str
    external_id: str | None = None
    sections: tuple[Span, ...] = ()
    pages: tuple[Span, ...] = ()
    year: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @staticmethod
    def make_id(text: str, title: str | None, external_id: str | None) -> str:
        return content_hash("doc", external_id, title, text)

    @property
    def text_hash(self) -> str:
        return text_sha256(self.text)


@dataclass(frozen=True)
class Passage:
    """A chunk of a document; `text == document.text[start:end]`."""

    passage_id: str
    doc_id: str
    text: str
    start: int
    end: int
    section: str | None = None
    page: int | None = None
    ordinal: int = 0

    @staticmethod
    def make_id(doc_id: str, start: int, end: int, text: str) -> str:
        return content_hash("passage", doc_id, start, end, text)

    @property
    def text_hash(self) -> str:
        return text_sha256(self.text)


@dataclass(frozen=True)
class Entity:
    """A normalised concept: DOID:9352, DB00331, MeSH D006261, a drug class id."""

    id: str
    type: str
    name: str
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Edge:
    """A typed graph edge and where it came from (a curated file, or a passage span)."""

    subject: str
    relation: str
    object: str
    source: str
    confidence: float = 1.0
    passage_id: str | None = None
    start: int | None = None
    end: int | None = None
    negated: bool = False
    hedged: bool = False
    severity: str | None = None
    note: str | None = None
    retracted: bool = False  # from a retracted document: kept for inspection, never support


@dataclass(frozen=True)
class ScoredPassage:
    """A retrieval hit: the passage, its document's metadata and a score (higher is better)."""

    passage: Passage
    score: float
    title: str | None = None
    source: str | None = None
    external_id: str | None = None
    rank: int = 0
    method: str = "dense"
    # The document's retraction record (kb.retractions) when it has one.
    retraction: dict[str, Any] | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True)
class Citation:
    """A span of a document that supports a claim: `text == document.text[start:end]`."""

    key: int | str
    passage_id: str
    doc_id: str
    external_id: str | None
    title: str | None
    source: str | None
    page: int | None
    start: int
    end: int
    text: str
    cited_by_model: bool = True


@dataclass(frozen=True)
class Claim:
    text: str
    citations: tuple[int | str, ...]
    supported: bool
    score: float | None
    reason: str | None = None


@dataclass(frozen=True)
class CheckResult:
    rule: str  # indication | contraindication | interaction | diagnosis_consistency | citation_support
    status: str  # pass | warn | fail
    subject: Any
    object: Any
    evidence: tuple[Any, ...]
    message: str


def to_dict(record: object) -> dict[str, Any]:
    """A JSON-ready dict of a record (tuples become lists)."""
    return json.loads(json.dumps(asdict(record)))  # type: ignore[arg-type]
