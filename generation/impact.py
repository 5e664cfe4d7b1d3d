"""Which recorded generations a KB change affects, and why, without re-running them all.

A generation is affected when a passage it cited was removed or changed, when a cited
document has been retracted (or flagged: expression of concern, correction) since, or when its
graph checks come out differently on the new version. The ledger's side index
(kb.ledger_index) gives every generation's cited passages and check entities without parsing
the records, so the source part costs a few indexed look-ups per thousand cited passages;
checks are re-run only for generations whose check entities are the ends of a graph edge that
appeared or went between the versions (recheck_record, once per distinct generation content).

Each generation is compared from its reference point: the later of the version it was answered
on and `since` (by default its own version). `for_build` (the build/update hook) uses the
version the build replaced as `since`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from kb.errors import KBError
from kb.ledger import Ledger
from kb.retractions import of_version, rank
from kb.store import KnowledgeBase, Version

log = logging.getLogger(__name__)

_CHUNK = 900  # SQLite host parameters per IN (...)


def version_seq(name: str | None) -> int:
    """The sequence number of a version name (v0012-abcd1234 -> 12); -1 if unknown."""
    try:
        return int(str(name)[1:5])
    except (TypeError, ValueError):
        return -1


class _Versions:
    """Versions opened on demand (None for pruned ones), with their flagged documents."""

    def __init__(self, kb: KnowledgeBase, current: Version) -> None:
        self.kb = kb
        self.open: dict[str, Version | None] = {current.id: current}

    def get(self, name: str | None) -> Version | None:
        if not name:
            return None
        if name not in self.open:
            try:
                self.open[name] = self.kb.version(name)
            except KBError:
                self.open[name] = None
        return self.open[name]


def _in_chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield list(ids[i : i + _CHUNK])


def present_passages(version: Version, passage_ids: Iterable[str]) -> set[str]:
    ids = sorted(set(passage_ids))
    out: set[str] = set()
    for chunk in _in_chunks(ids):
        marks = ",".join("?" * len(chunk))
        out.update(r[0] for r in version.db.execute(
            f"SELECT passage_id FROM passages WHERE passage_id IN ({marks})", chunk))
    return out


def affected(kb: KnowledgeBase, *, since: str | None = None, current: Version | None = None,
             generations: Sequence[str] | None = None, checks: bool = True) -> dict[str, Any]:
    """The generations of the ledger that a change affects (the JSON of `audit --affected`)."""
    t0 = time.perf_counter()
    current = current or kb.current()
    versions = _Versions(kb, current)
    if since is not None and versions.get(since) is None:
        raise KBError(f"{kb.root}: no version {since!r} to compare with (see `medkb info`)")
    out: dict[str, Any] = {"kb_version": current.id, "since": since, "generations": 0,
                           "affected_count": 0, "affected": [], "checks_compared": False,
                           "rechecked": 0, "notes": []}
    ledger = Ledger(kb.root)
    if not ledger.path.exists():
        out["seconds"] = round(time.perf_counter() - t0, 4)
        return out
    con = ledger.index()
    try:
        gens = {seq: (gid, created, kind, ver) for seq, gid, created, kind, ver in con.execute(
            "SELECT seq, id, created_at, kind, kb_version FROM generations")}
        out["generations"] = len(gens)
        wanted = _wanted(gens, generations)
        reasons = _source_reasons(con, gens, wanted, current, versions, since)
        if checks:
            _check_reasons(con, gens, wanted, current, versions, since, reasons, out)
        questions = _questions(con, sorted(reasons))
    finally:
        con.close()
    for seq in sorted(reasons):
        gid, created, kind, ver = gens[seq]
        items = [_describe(r) for r in reasons[seq]]
        out["affected"].append({"id": gid, "created_at": created, "kind": kind, "kb_version": ver,
                                "question": questions.get(seq),
                                "kinds": sorted({r["kind"] for r in items}), "reasons": items})
    out["affected_count"] = len(out["affected"])
    out["seconds"] = round(time.perf_counter() - t0, 4)
    return out


def for_build(kb: KnowledgeBase, previous: Version | None, version: Version) -> list[dict[str, Any]]:
    """The build/update hook (BuildOptions.impact): generations this change affects."""
    if previous is None:
        return []
    try:
        return affected(kb, since=previous.id, current=version)["affected"]
    except Exception as exc:  # the build is published; impact is a report, not a gate
        log.warning("impact of the change could not be computed: %s", exc)
        return [{"error": str(exc)}]


def _wanted(gens: dict[int, tuple], ids: Sequence[str] | None) -> set[int] | None:
    if ids is None:
        return None
    out = set()
    for want in ids:
        found = [seq for seq, g in gens.items() if g[0].startswith(want)]
        if len(found) != 1:
            raise KBError(f"no single generation {want!r} in the ledger of the KB")
        out.update(found)
    return out


def _ref(own: str | None, since: str | None) -> str | None:
    """The version a generation is compared from: the later of its own and `since`."""
    if since is None:
        return own
    return since if version_seq(since) >= version_seq(own) else own


def _source_reasons(con: sqlite3.Connection, gens: dict[int, tuple], wanted: set[int] | None,
                    current: Version, versions: _Versions, since: str | None
                    ) -> dict[int, list[dict[str, Any]]]:
    sql = ("SELECT seq, passage_id, doc_id, source, external_id, title, text FROM ledger_cites "
           "WHERE role = 'cited'")
    if wanted is None:
        rows = con.execute(sql).fetchall()
    else:
        rows = [r for chunk in _in_chunks([str(w) for w in sorted(wanted)])
                for r in con.execute(f"{sql} AND seq IN ({','.join('?' * len(chunk))})",
                                     [int(w) for w in chunk])]
    refs: dict[str | None, str | None] = {}
    for g in gens.values():
        if g[3] not in refs:
            refs[g[3]] = _ref(g[3], since)
    now = present_passages(current, (r[1] for r in rows))
    missing = {r[1] for r in rows} - now
    # Was a missing passage there at the reference point? (Only asked of versions that are not
    # the generation's own: it cited the passage, so its own version had it.)
    there: dict[str | None, set[str]] = {}
    for seq, pid, *_ in rows:
        own = gens[seq][3]
        ref = refs[own]
        if pid in missing and ref != own and ref not in there:
            v = versions.get(ref)
            there[ref] = present_passages(v, missing) if v is not None else set(missing)
    flagged_now = of_version(current)
    gone = [r for r in rows if r[1] in missing]
    still = _still_there(current, gone)
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for seq, pid, doc_id, source, external_id, title, text in rows:
        if pid not in missing and doc_id not in flagged_now:
            continue
        own = gens[seq][3]
        ref = refs[own]
        seen = {"passage_id": pid, "doc_id": doc_id, "title": title, "external_id": external_id,
                "source": source, "cited_text": text}
        if pid in missing:
            if ref != own and pid not in there.get(ref, set()):
                continue  # gone before the reference point: not this change
            new_doc = still.get((doc_id, source, external_id))
            out[seq].append({"kind": "changed" if new_doc else "missing", **seen,
                             **({"new_doc_id": new_doc} if new_doc else {})})
            continue
        now_rec = flagged_now[doc_id]
        ref_v = versions.get(ref)
        before = of_version(ref_v).get(doc_id) if ref_v is not None else None
        if rank(now_rec.get("status")) > rank((before or {}).get("status")):
            out[seq].append({"kind": now_rec["status"], **seen, "retraction": now_rec,
                             "status_before": (before or {}).get("status")})
    return out


def _still_there(current: Version, rows: Sequence[tuple]) -> dict[tuple, str]:
    """(doc_id, source, external_id) of a missing passage's document -> the document now at
    its place (same id re-chunked, same source, or same record id), when there is one."""
    keys = {(r[2], r[3], r[4]) for r in rows}
    by_id = _lookup(current, "doc_id", {k[0] for k in keys if k[0]})
    by_source = _lookup(current, "source", {k[1] for k in keys if k[1]})
    by_ext = _lookup(current, "external_id", {k[2] for k in keys if k[2]})
    out = {}
    for k in keys:
        found = by_id.get(k[0]) or by_source.get(k[1]) or by_ext.get(k[2])
        if found:
            out[k] = found
    return out


def _lookup(version: Version, column: str, values: Iterable[str]) -> dict[str, str]:
    """value -> doc_id of the documents whose `column` is one of `values`."""
    out: dict[str, str] = {}
    for chunk in _in_chunks(sorted(values)):
        marks = ",".join("?" * len(chunk))
        out.update((v, d) for v, d in version.db.execute(
            f"SELECT {column}, doc_id FROM documents WHERE {column} IN ({marks})", chunk))
    return out


def _records(con: sqlite3.Connection, seqs: Sequence[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for chunk in _in_chunks([str(s) for s in seqs]):
        marks = ",".join("?" * len(chunk))
        for seq, body in con.execute(f"SELECT seq, record FROM generations WHERE seq IN ({marks})",
                                     [int(s) for s in chunk]):
            out[seq] = json.loads(body)
    return out


def _questions(con: sqlite3.Connection, seqs: Sequence[int]) -> dict[int, str | None]:
    out: dict[int, str | None] = {}
    for chunk in _in_chunks([str(s) for s in seqs]):
        marks = ",".join("?" * len(chunk))
        out.update(con.execute(f"SELECT seq, question FROM ledger_generations WHERE seq IN "
                               f"({marks})", [int(s) for s in chunk]))
    return out


def _describe(reason: dict[str, Any]) -> dict[str, Any]:
    """A reason, saying for a missing passage whether its document is gone or was edited."""
    out = dict(reason)
    if out["kind"] == "missing":
        out["kind"] = "removed"
        out["detail"] = "the cited passage and its document are no longer in the KB"
    elif out["kind"] == "changed":
        out["detail"] = "the document is still in the KB but the cited passage is not"
    elif reason.get("retraction"):
        out["detail"] = "the cited document is now " + str(reason["kind"]).replace("_", " ")
    return out


def _check_reasons(con: sqlite3.Connection, gens: dict[int, tuple], wanted: set[int] | None,
                   current: Version, versions: _Versions, since: str | None,
                   reasons: dict[int, list[dict[str, Any]]], out: dict[str, Any]) -> None:
    """Re-run the checks of the generations whose check entities a changed graph edge joins."""
    by_ref: dict[str, set[int]] = defaultdict(set)
    for seq, g in gens.items():
        if wanted is None or seq in wanted:
            by_ref[_ref(g[3], since) or ""].add(seq)
    touched_by_ref: dict[str, set[str]] = {}
    skipped = 0
    for ref in by_ref:
        v = versions.get(ref)
        if v is None or v.id == current.id:
            continue
        if v.manifest.get("extraction") != current.manifest.get("extraction"):
            out["notes"].append(f"the curated graph or extraction code changed since {ref}: checks "
                                f"of {len(by_ref[ref])} generation(s) were not compared; audit "
                                "them one by one")
            skipped += 1
            continue
        # Cheap first: entities the changed documents mention (a superset of the edges' ends);
        # the graphs are compared only when a recorded check is about one of them.
        if _with_entities(con, _mentioned_change(v, current), by_ref[ref]):
            touched_by_ref[ref] = touched_entities(v, current)
    candidates: set[int] = set()
    for ref, touched in touched_by_ref.items():
        candidates |= _with_entities(con, touched, by_ref[ref])
    out["checks_compared"] = not skipped
    if not candidates:
        return
    from generation.audit import recheck_record

    keys = _content_keys(con, sorted(candidates))
    first: dict[str, int] = {}
    for seq in sorted(candidates):
        first.setdefault(keys.get(seq) or str(seq), seq)
    records = _records(con, sorted(first.values()))  # one record per distinct content
    results = {key: recheck_record(records[seq], current) for key, seq in first.items()}
    for seq in sorted(candidates):
        diff = _check_diff(results[keys.get(seq) or str(seq)])
        if diff:
            reasons[seq].append({"kind": "checks_changed", "checks": diff})
    out["rechecked"] = len(results)
    out["check_candidates"] = len(candidates)


def _check_diff(rechecked: dict[str, Any]) -> list[dict[str, Any]]:
    """Graph-rule checks whose status changed, appeared or went (claim support is reported by
    the source reasons)."""
    def graph_rule(c: dict[str, Any]) -> bool:
        return c.get("rule") != "citation_support"

    out = [{**c, "change": "status"} for c in rechecked.get("changed") or [] if graph_rule(c)]
    out += [{"rule": c.get("rule"), "subject": c.get("subject"), "object": c.get("object"),
             "before": None, "after": c.get("status"), "message": c.get("message"),
             "change": "added"} for c in rechecked.get("added") or [] if graph_rule(c)]
    out += [{"rule": c.get("rule"), "subject": c.get("subject"), "object": c.get("object"),
             "before": c.get("status"), "after": None, "message": c.get("message"),
             "change": "removed"} for c in rechecked.get("removed") or [] if graph_rule(c)]
    return out


def touched_entities(before: Version, after: Version) -> set[str]:
    """Ends of the graph edges present (and usable: not retracted) in one version and not the
    other, told apart by subject, relation, object and what the checks read of an edge
    (negation, hedging, confidence, severity). An edge that lost one supporting passage but
    keeps another is not a change; only these entities can make a check come out differently."""
    old, new = _edge_keys(before), _edge_keys(after)
    return {e for key in old ^ new for e in (key[0], key[2])}


def _with_entities(con: sqlite3.Connection, entities: Iterable[str], seqs: set[int]) -> set[int]:
    """Those of `seqs` whose recorded checks are about one of `entities`."""
    out: set[int] = set()
    for chunk in _in_chunks(sorted(entities)):
        marks = ",".join("?" * len(chunk))
        out.update(seq for (seq,) in con.execute(
            f"SELECT DISTINCT seq FROM ledger_entities WHERE entity_id IN ({marks})", chunk)
            if seq in seqs)
    return out


def _mentioned_change(before: Version, after: Version) -> set[str]:
    """Entities mentioned by the passages of documents added, removed or newly (un)excluded."""
    from kb.retractions import excluded_docs

    old = {d for (d,) in before.db.execute("SELECT doc_id FROM documents")}
    new = {d for (d,) in after.db.execute("SELECT doc_id FROM documents")}
    flips = excluded_docs(before) ^ excluded_docs(after)
    return _mentioned(before, (old - new) | (flips & old)) | _mentioned(after, (new - old) | (flips & new))


def _mentioned(version: Version, doc_ids: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for chunk in _in_chunks(sorted(doc_ids)):
        marks = ",".join("?" * len(chunk))
        out.update(e for (e,) in version.db.execute(
            "SELECT DISTINCT m.entity_id FROM mentions m JOIN passages p "
            f"ON p.ordinal = m.passage_ordinal WHERE p.doc_id IN ({marks})", chunk))
    return out


def _edge_keys(version: Version) -> set[tuple]:
    path = version.file("graph.json")
    if not path.exists():
        return set()
    edges = json.loads(path.read_text("utf-8")).get("edges", [])
    return {(e.get("subject"), e.get("relation"), e.get("object"), bool(e.get("negated")),
             bool(e.get("hedged")), e.get("confidence", 1.0), e.get("severity"))
            for e in edges if not e.get("retracted")}


def _content_keys(con: sqlite3.Connection, seqs: Sequence[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for chunk in _in_chunks([str(s) for s in seqs]):
        marks = ",".join("?" * len(chunk))
        out.update(con.execute(f"SELECT seq, content_key FROM ledger_generations WHERE seq IN "
                               f"({marks})", [int(s) for s in chunk]))
    return out
