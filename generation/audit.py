"""Re-verify a past generation against the current KB and the ledger chain."""

from __future__ import annotations

from typing import Any

from kb.errors import KBError
from kb.ledger import Ledger
from kb.store import KnowledgeBase


def audit(gen_id: str, kb: KnowledgeBase) -> dict[str, Any]:
    ledger = Ledger(kb.root)
    record = ledger.get(gen_id)
    current = kb.current()
    try:
        original = kb.version(record["kb_version"]) if record.get("kb_version") else None
    except KBError:
        original = None  # pruned
    missing: list[str] = []
    changed: list[str] = []
    spans_ok = True
    for cit in record.get("citations", []):
        pid = cit["passage_id"]
        now = current.passage(pid)
        if now is None:
            if pid not in missing:
                missing.append(pid)
            continue
        doc = current.document(cit["doc_id"])
        if doc is None or doc.text[cit["start"]:cit["end"]] != cit["text"]:
            spans_ok = False
            if pid not in changed:
                changed.append(pid)
    retrieved_changed = []
    for r in record.get("retrieved", []):
        now = current.passage(r["passage_id"])
        if now is None or now.text_hash != r["text_hash"]:
            retrieved_changed.append(r["passage_id"])
    chain = ledger.verify()
    verification = {
        "sources_intact": not missing and not changed,
        "missing": missing, "changed": changed, "citation_spans_ok": spans_ok,
        "retrieved_not_in_current": retrieved_changed,
        "ledger_ok": chain["ledger_ok"], "ledger_problems": chain["problems"],
        "current_kb_version": current.id,
        "original_version_available": original is not None,
    }
    if original is not None and (missing or changed):
        verification["original_passages"] = {
            pid: (p.text if (p := original.passage(pid)) else None) for pid in missing + changed}
    out = dict(record)
    out["verification"] = verification
    return out
