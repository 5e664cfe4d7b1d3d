"""Retraction status of a version's documents: what is kept but not used.

Ingest (ingest.retractions) decides each document's status and stores it in the document's
metadata (`metadata["retraction"]`: status, reason, notice_id, ...) and, for fast lookup, in
the version file `retractions.json` (doc id -> the same record). Retrieval leaves out the
passages of documents whose status is in EXCLUDED, answers never cite them, and their
literature edges carry `retracted` in the graph, where the checks skip them. A version
written before retractions existed has no file: nothing is flagged.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from typing import Any

FILE = "retractions.json"

RETRACTED = "retracted"
PARTIALLY_RETRACTED = "partially_retracted"
CONCERN = "expression_of_concern"
CORRECTED = "corrected"
# Worst first; a document with several signals keeps the worst.
STATUSES = (RETRACTED, PARTIALLY_RETRACTED, CONCERN, CORRECTED)
# Kept in the KB and shown when asked for, never retrieved by default, cited or used by checks.
EXCLUDED = frozenset({RETRACTED})


def rank(status: str | None) -> int:
    """Higher is worse; 0 for no status."""
    return len(STATUSES) - STATUSES.index(status) if status in STATUSES else 0


_CACHE: dict[str, dict[str, dict[str, Any]]] = {}
_LOCK = threading.Lock()


def of_version(version: Any) -> dict[str, dict[str, Any]]:
    """doc id -> retraction record for every flagged document of `version` (read once)."""
    key = str(version.path)
    with _LOCK:
        found = _CACHE.get(key)
    if found is not None:
        return found
    path = version.path / FILE
    try:
        data = json.loads(path.read_text("utf-8")) if path.exists() else {}
    except (OSError, ValueError):
        data = {}
    found = data.get("documents", {}) if isinstance(data, dict) else {}
    with _LOCK:
        if len(_CACHE) > 16:
            _CACHE.clear()
        _CACHE[key] = found
    return found


def excluded_docs(version: Any) -> set[str]:
    return {d for d, r in of_version(version).items() if r.get("status") in EXCLUDED}


def excluded_ordinals(version: Any) -> frozenset[int]:
    """Passage ordinals (vector / BM25 rows) of excluded documents."""
    docs = sorted(excluded_docs(version))
    out: set[int] = set()
    for i in range(0, len(docs), 500):
        chunk = docs[i : i + 500]
        marks = ",".join("?" * len(chunk))
        out.update(r[0] for r in version.db.execute(
            f"SELECT ordinal FROM passages WHERE doc_id IN ({marks})", chunk))
    return frozenset(out)


def is_excluded(record: dict[str, Any] | None) -> bool:
    return bool(record) and record.get("status") in EXCLUDED  # type: ignore[union-attr]


def describe(record: dict[str, Any]) -> str:
    """One line for a withheld citation or a flagged search hit."""
    status = str(record.get("status", "")).replace("_", " ")
    notice = record.get("notice_id")
    reason = record.get("reason")
    out = status + (f" (notice {notice})" if notice else "")
    return out + (f": {reason}" if reason else "")


def withheld_keys(hits: Sequence[Any]) -> dict[int, str]:
    """1-based keys of retrieved passages an answer may not cite (their document is retracted)."""
    return {k: "its document is " + describe(r) for k, h in enumerate(hits, start=1)
            if is_excluded(r := getattr(h, "retraction", None))}


def annotate_evidence(version: Any, data: Any) -> Any:
    """Add `retraction` to each evidence item (any nesting) whose passage's document is
    flagged; returns `data` (changed in place). For `graph` output and check evidence."""
    flagged = of_version(version)
    if not flagged:
        return data
    items = [e for e in _walk(data) if e.get("passage_id")]
    pids = sorted({e["passage_id"] for e in items})
    doc_of = _docs_of(version, pids)
    for e in items:
        record = flagged.get(doc_of.get(e["passage_id"], ""))
        if record is not None:
            e["retraction"] = record
    return data


def _docs_of(version: Any, passage_ids: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i in range(0, len(passage_ids), 500):
        chunk = list(passage_ids[i : i + 500])
        marks = ",".join("?" * len(chunk))
        out.update(version.db.execute(
            f"SELECT passage_id, doc_id FROM passages WHERE passage_id IN ({marks})", chunk))
    return out


def _walk(data: Any) -> Iterable[dict[str, Any]]:
    if isinstance(data, dict):
        yield data
        for v in data.values():
            yield from _walk(v)
    elif isinstance(data, list):
        for v in data:
            yield from _walk(v)
