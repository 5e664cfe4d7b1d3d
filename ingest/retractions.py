"""Decide each document's retraction status at ingest.

Three kinds of signal, the worst status winning per document:
- the record itself: PubMed publication type "Retracted Publication", CommentsCorrections
  `RetractionIn` / `PartialRetractionIn` / `ExpressionOfConcernIn` / `ErratumIn` (the link's
  PMID is the notice id); JATS `related-article` of type `retraction-forward` and the like;
- a notice in the same KB that names the document: PubMed `RetractionOf` (or publication
  type "Retraction of Publication"), JATS `article-type="retraction"` with a `related-article`
  (`retracted-article`), and the concern / correction equivalents;
- a user list (`--retractions FILE`, CSV or TSV with a DOI, PMID or record id column and a
  reason; a Retraction Watch export is read as it is: OriginalPaperDOI, OriginalPaperPubMedID,
  RetractionNature, Reason, RetractionDOI, RetractionPubMedID).

The result is `metadata["retraction"]` on each flagged document (kb.retractions reads it).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kb.errors import InputError
from kb.records import Document
from kb.retractions import CONCERN, CORRECTED, PARTIALLY_RETRACTED, RETRACTED, rank

# Links on the paper itself, pointing at its notice.
FORWARD = {
    "RetractionIn": RETRACTED, "PartialRetractionIn": PARTIALLY_RETRACTED,
    "ExpressionOfConcernIn": CONCERN, "ErratumIn": CORRECTED,
    "retraction-forward": RETRACTED, "partial-retraction-forward": PARTIALLY_RETRACTED,
    "concern-forward": CONCERN, "expression-of-concern-forward": CONCERN,
    "correction-forward": CORRECTED,
}
# Links on a notice, pointing at the paper it is about.
NOTICE = {
    "RetractionOf": RETRACTED, "PartialRetractionOf": PARTIALLY_RETRACTED,
    "ExpressionOfConcernFor": CONCERN, "ErratumFor": CORRECTED,
    "retracted-article": RETRACTED, "partially-retracted-article": PARTIALLY_RETRACTED,
    "object-of-concern": CONCERN, "corrected-article": CORRECTED,
}
RETRACTED_TYPES = {"Retracted Publication": RETRACTED}
# What a whole record is when it is a notice (its untyped related-article links then count).
NOTICE_ARTICLE_TYPES = {"retraction": RETRACTED, "partial-retraction": PARTIALLY_RETRACTED,
                        "expression-of-concern": CONCERN, "correction": CORRECTED}
NOTICE_PUB_TYPES = {"Retraction of Publication": RETRACTED, "Expression of Concern": CONCERN,
                    "Published Erratum": CORRECTED}
_NATURE = {"retraction": RETRACTED, "retracted": RETRACTED, "partial retraction": PARTIALLY_RETRACTED,
           "expression of concern": CONCERN, "concern": CONCERN, "correction": CORRECTED,
           "corrected": CORRECTED, "erratum": CORRECTED}


_NOTICE_NAME = {RETRACTED: "retraction", PARTIALLY_RETRACTED: "partial retraction",
                CONCERN: "expression of concern", CORRECTED: "erratum"}


@dataclass(frozen=True)
class Signal:
    status: str
    source: str  # record | notice | list
    notice_id: str | None = None
    notice_ref: str | None = None
    notice_doc_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ListEntry:
    """One row of a user retraction list."""

    pmid: str | None
    doi: str | None
    status: str
    reason: str | None
    notice_id: str | None
    origin: str  # file:line
    record_id: str | None = None  # the KB record's own id (a JSONL `id`), when no PMID/DOI


def norm_doi(doi: str | None) -> str | None:
    if not doi:
        return None
    d = doi.strip().lower()
    d = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:\s*)", "", d)
    return d or None


def norm_pmid(pmid: Any) -> str | None:
    s = str(pmid or "").strip().removeprefix("PMID:").strip()
    return s if s.isdigit() and s.strip("0") else None


def _keys(doc: Document) -> set[str]:
    m = doc.metadata
    keys = set()
    if p := norm_pmid(m.get("pmid")):
        keys.add(f"pmid:{p}")
    if d := norm_doi(m.get("doi")):
        keys.add(f"doi:{d}")
    if m.get("pmcid"):
        keys.add(f"pmcid:{str(m['pmcid']).upper()}")
    if doc.external_id:
        x = doc.external_id
        keys.add(f"pmid:{x}" if x.isdigit() else f"pmcid:{x.upper()}" if x.upper().startswith("PMC")
                 else f"doi:{norm_doi(x)}" if x.startswith("10.") else f"id:{x}")
    return keys


def _link_keys(link: dict[str, Any]) -> set[str]:
    keys = set()
    if p := norm_pmid(link.get("pmid")):
        keys.add(f"pmid:{p}")
    if d := norm_doi(link.get("doi")):
        keys.add(f"doi:{d}")
    if link.get("pmcid"):
        keys.add(f"pmcid:{str(link['pmcid']).upper()}")
    return keys


def _link_id(link: dict[str, Any]) -> str | None:
    return norm_pmid(link.get("pmid")) or norm_doi(link.get("doi")) or link.get("pmcid")


def _doc_id_label(doc: Document) -> str:
    m = doc.metadata
    return norm_pmid(m.get("pmid")) or norm_doi(m.get("doi")) or doc.external_id or doc.doc_id


def own_signals(doc: Document) -> list[Signal]:
    """What a record says about itself."""
    m = doc.metadata
    out = []
    links = [link for link in m.get("related") or [] if isinstance(link, dict)]
    for link in links:
        status = FORWARD.get(link.get("type", ""))
        if status:
            ref, lid = link.get("ref"), _link_id(link)
            what = re.sub(r"(?<=[a-z])(?=[A-Z])|-", " ", link["type"]).lower()
            where = " ".join(x for x in (ref, f"({lid})" if lid else None) if x)
            out.append(Signal(status, "record", lid, ref, reason=f"{what} {where}".strip()))
    for pt in m.get("publication_types") or []:
        if pt in RETRACTED_TYPES and not any(s.status == RETRACTED for s in out):
            out.append(Signal(RETRACTED_TYPES[pt], "record", reason=f"publication type {pt!r}"))
    return out


def notice_targets(doc: Document) -> list[tuple[str, set[str]]]:
    """(status, keys of the paper) for each paper this record is a notice about."""
    m = doc.metadata
    kind = NOTICE_ARTICLE_TYPES.get(str(m.get("article_type") or "").lower())
    if kind is None:
        kind = next((NOTICE_PUB_TYPES[p] for p in m.get("publication_types") or []
                     if p in NOTICE_PUB_TYPES), None)
    out = []
    for link in m.get("related") or []:
        if not isinstance(link, dict):
            continue
        status = NOTICE.get(link.get("type", "")) or (kind if not link.get("type") else None)
        if status and (keys := _link_keys(link)):
            out.append((status, keys))
    return out


def read_list(path: Path | str) -> list[ListEntry]:
    """A CSV or TSV retraction list; InputError names the file and what is wrong."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), f"cannot read the retraction list: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    first = text.split("\n", 1)[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(rows, None)
    if not header:
        raise InputError(str(path), "the retraction list is empty")
    cols = {re.sub(r"[^a-z]", "", h.lower()): i for i, h in enumerate(header)}

    def col(*names: str) -> int | None:
        return next((cols[n] for n in names if n in cols), None)

    c_pmid = col("pmid", "originalpaperpubmedid", "pubmedid")
    c_doi = col("doi", "originalpaperdoi")
    c_id = col("id", "externalid")
    if c_pmid is None and c_doi is None and c_id is None:
        raise InputError(str(path), "the retraction list needs a DOI, PMID or id column (header "
                         f"names seen: {', '.join(header)})")
    c_reason = col("reason", "reasons")
    c_status = col("status", "retractionnature", "nature")
    c_notice = col("noticeid", "notice")
    c_notice_pmid = col("noticepmid", "retractionpubmedid")
    c_notice_doi = col("noticedoi", "retractiondoi")
    out = []
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue

        def get(i: int | None, row: Sequence[str] = row) -> str:
            return row[i].strip() if i is not None and i < len(row) else ""

        pmid, doi, rid = norm_pmid(get(c_pmid)), norm_doi(get(c_doi)), get(c_id) or None
        if not pmid and not doi and not rid:
            continue  # Retraction Watch rows without either id cannot match a record
        nature = get(c_status).lower()
        if nature and nature not in _NATURE:
            if "reinstat" in nature:
                continue
            raise InputError(f"{path}:{line}", f"unknown status {get(c_status)!r}: use retraction, "
                             "expression of concern or correction")
        reason = "; ".join(p.strip().lstrip("+") for p in get(c_reason).split(";") if p.strip())
        notice = (get(c_notice) or norm_pmid(get(c_notice_pmid))
                  or norm_doi(get(c_notice_doi) if "10." in get(c_notice_doi) else None))
        out.append(ListEntry(pmid, doi, _NATURE.get(nature, RETRACTED), reason or None,
                             notice, f"{path.name}:{line}", rid))
    return out


def entry_json(e: ListEntry) -> dict[str, Any]:
    return {"pmid": e.pmid, "doi": e.doi, "status": e.status, "reason": e.reason,
            "notice_id": e.notice_id, "origin": e.origin, "record_id": e.record_id}


def entry_from_json(d: dict[str, Any]) -> ListEntry:
    return ListEntry(d.get("pmid"), d.get("doi"), d.get("status") or RETRACTED, d.get("reason"),
                     d.get("notice_id"), d.get("origin") or "", d.get("record_id"))


def merge_lists(old: Iterable[ListEntry], new: Iterable[ListEntry]) -> list[ListEntry]:
    """Entries of a previous version kept on update; a new entry for the same paper wins."""
    out: dict[tuple[str | None, str | None, str | None], ListEntry] = {}
    for e in [*old, *new]:
        out[(e.pmid, e.doi, e.record_id)] = e
    return list(out.values())


def apply(docs: list[tuple[Document, str]], entries: Sequence[ListEntry] = ()
          ) -> tuple[list[tuple[Document, str]], dict[str, Any]]:
    """Documents with `metadata["retraction"]` set where a signal says so; and a summary."""
    changes, _, summary = changes_for(lambda: iter(docs), entries)
    return [(replace(d, metadata=changes[d.doc_id]) if d.doc_id in changes else d, origin)
            for d, origin in docs], summary


def changes_for(docs: Callable[[], Iterable[tuple[Document, str]]],
                entries: Sequence[ListEntry] = ()
                ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], dict[str, Any]]:
    """`apply` for a corpus read in passes (`docs()` iterates it again each time, as a build
    reads it back from disk): the new metadata of the documents whose metadata changes, the
    retraction record of every flagged document, and the summary. Only the documents' keys
    (DOI, PMID, id) and the signals found are held, never the documents."""
    signals: dict[str, list[Signal]] = {}
    by_key: dict[str, list[str]] = {}
    for d, _ in docs():
        own = own_signals(d)
        if own:
            signals[d.doc_id] = own
        for k in _keys(d):
            by_key.setdefault(k, []).append(d.doc_id)
    for notice, _ in docs():
        for status, keys in notice_targets(notice):
            for target in {t for k in keys for t in by_key.get(k, ()) if t != notice.doc_id}:
                signals.setdefault(target, []).append(Signal(
                    status, "notice", _doc_id_label(notice), notice_doc_id=notice.doc_id,
                    reason=f"{_NOTICE_NAME[status]} notice {_doc_id_label(notice)} is in "
                           "this KB"))
    unmatched = 0
    for e in entries:
        keys = {k for k in (f"pmid:{e.pmid}" if e.pmid else None,
                            f"doi:{e.doi}" if e.doi else None,
                            f"id:{e.record_id}" if e.record_id else None) if k}
        targets = {t for k in keys for t in by_key.get(k, ())}
        unmatched += not targets
        for t in targets:
            signals.setdefault(t, []).append(Signal(e.status, "list", e.notice_id,
                                                    reason=e.reason))
    del by_key
    changes: dict[str, dict[str, Any]] = {}
    flagged: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for d, _ in docs():
        found = signals.get(d.doc_id)
        if not found and "retraction" not in d.metadata:
            continue
        meta = {k: v for k, v in d.metadata.items() if k != "retraction"}
        if found:
            record = _record(found)
            meta["retraction"] = flagged[d.doc_id] = record
            counts[record["status"]] = counts.get(record["status"], 0) + 1
        if meta != d.metadata:
            changes[d.doc_id] = meta
    return changes, flagged, {"flagged": counts, "list_entries": len(entries),
                              "list_unmatched": unmatched}


def _record(found: list[Signal]) -> dict[str, Any]:
    """The worst status, its notice, and every reason given for it (list reasons first)."""
    worst = max(found, key=lambda s: rank(s.status))
    same = [s for s in found if s.status == worst.status]
    order = {"list": 0, "notice": 1, "record": 2}
    same.sort(key=lambda s: order[s.source])
    notice = next((s for s in same if s.notice_id), None)
    reasons = list(dict.fromkeys(s.reason for s in same if s.reason))
    return {
        "status": worst.status,
        "reason": "; ".join(reasons) or None,
        "notice_id": notice.notice_id if notice else None,
        "notice_ref": next((s.notice_ref for s in same if s.notice_ref), None),
        "notice_doc_id": next((s.notice_doc_id for s in same if s.notice_doc_id), None),
        "sources": sorted({s.source for s in found}, key=order.__getitem__),
    }


# --- the build's side ---------------------------------------------------------------------
LIST_FILE = "retraction_list.json"


def list_entries(paths: Sequence[Path], previous: Any, update: bool) -> list[ListEntry]:
    """The user lists given now, plus (on update) those the previous version applied: a
    retraction does not lapse because the next update forgot the file."""
    new = [e for p in paths for e in read_list(p)]
    old: list[ListEntry] = []
    if update and previous is not None:
        f = previous.file(LIST_FILE)
        if f.exists():
            import json

            old = [entry_from_json(d) for d in json.loads(f.read_text("utf-8")).get("entries", [])]
    return merge_lists(old, new)


def version_files(docs: Sequence[tuple[Document, str]], entries: Sequence[ListEntry]
                  ) -> dict[str, Any]:
    """The files a version keeps: flagged documents (kb.retractions.FILE) and the list."""
    return files_for({d.doc_id: d.metadata["retraction"] for d, _ in docs
                      if d.metadata.get("retraction")}, entries)


def files_for(flagged: dict[str, Any], entries: Sequence[ListEntry]) -> dict[str, Any]:
    """`version_files` from the flagged documents' records (`changes_for`)."""
    from kb.retractions import FILE

    out: dict[str, Any] = {FILE: {"documents": flagged}}
    if entries:
        out[LIST_FILE] = {"entries": [entry_json(e) for e in entries]}
    return out


def excluded_passages(docs: Sequence[tuple[Document, str]], passages: Sequence[Any]) -> set[str]:
    from kb.retractions import is_excluded

    gone = {d.doc_id for d, _ in docs if is_excluded(d.metadata.get("retraction"))}
    return {p.passage_id for p in passages if p.doc_id in gone} if gone else set()


def excluded_documents(flagged: dict[str, Any]) -> set[str]:
    """Documents whose retraction record (`changes_for`) keeps them out of answers."""
    from kb.retractions import is_excluded

    return {d for d, record in flagged.items() if is_excluded(record)}


def mark_edges(edges: Sequence[Any], excluded: set[str]) -> list[Any]:
    """Literature edges with `retracted` set exactly for those from excluded passages (kept
    edges of the previous version may carry an outdated flag)."""
    return [e if e.retracted == (e.passage_id in excluded) else
            replace(e, retracted=e.passage_id in excluded) for e in edges]
