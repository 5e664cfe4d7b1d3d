"""Re-verify a past generation against the current KB and the ledger chain.

Besides the sources, the checks are re-run against the current KB (its passages and its
knowledge graph) and compared with the recorded ones: a rule added to the graph since, a
cited passage gone or changed, shows up as a changed check.
"""

from __future__ import annotations

import json
from typing import Any

from kb.errors import KBError
from kb.ledger import Ledger
from kb.records import ScoredPassage
from kb.store import KnowledgeBase, Version


def audit(gen_id: str, kb: KnowledgeBase, *, recheck: bool = True) -> dict[str, Any]:
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
        if cit.get("kind") == "graph":  # a graph fact, not a passage of the KB
            continue
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
    if recheck:
        verification["checks"] = recheck_record(record, current)
    verification["impact"] = _impact(kb, record, current)
    out = dict(record)
    out["verification"] = verification
    return out


def _impact(kb: KnowledgeBase, record: dict[str, Any], current: Version) -> list[dict[str, Any]]:
    """What changed for this generation's cited sources since it was answered: removed or
    edited passages, documents retracted or flagged since (generation.impact)."""
    from generation.impact import affected

    found = affected(kb, current=current, generations=[record["id"]], checks=False)["affected"]
    return found[0]["reasons"] if found else []


_RANK = {"pass": 0, "warn": 1, "fail": 2}


def _check_key(c: dict[str, Any]) -> str:
    """Checks compare per rule and subject (a drug, a diagnosis, a claim; an interaction per
    pair): a contraindication that appears turns that drug's `pass` into a `fail`."""
    def ident(x: Any) -> Any:
        if isinstance(x, dict):
            return x.get("id", x.get("claim"))
        return x

    parts = [c.get("rule"), ident(c.get("subject"))]
    if c.get("rule") == "interaction":
        parts = [c.get("rule"), *sorted(map(str, (ident(c.get("subject")), ident(c.get("object")))))]
    return json.dumps(parts)


def _worst(checks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for c in checks:
        k = _check_key(c)
        if k not in out or _RANK.get(c["status"], 0) > _RANK.get(out[k]["status"], 0):
            out[k] = c
    return out


def _current_claims(record: dict[str, Any], current: Version, checker: Any) -> list[dict[str, Any]]:
    """The recorded claims, their support re-judged on the current passages: a cited passage
    gone or changed, or no longer naming the claim's entities, makes a claim unsupported."""
    by_key: dict[Any, dict[str, Any]] = {}
    for c in record.get("citations") or []:
        by_key.setdefault(c["key"], c)
    out = []
    for claim in record.get("claims") or []:
        claim = dict(claim)
        texts: dict[Any, str] = {}
        problems = []
        for key in claim.get("citations") or []:
            cit = by_key.get(key)
            if cit and cit.get("kind") == "graph":  # a graph fact: its text is the support
                texts[key] = cit["text"]
                continue
            passage = current.passage(cit["passage_id"]) if cit else None
            if passage is None:
                problems.append(f"cited passage [{key}] is no longer in the KB")
                continue
            doc = current.document(cit["doc_id"])
            if doc is None or doc.text[cit["start"]:cit["end"]] != cit["text"]:
                problems.append(f"the cited span of passage [{key}] changed")
                continue
            texts[key] = passage.text
        if checker is not None and hasattr(checker, "support") and texts:
            support = checker.support(claim["text"], texts)
            if not support.ok:
                problems.append(support.reason)
        if problems:
            claim["supported"] = False
            claim["reason"] = "; ".join(p for p in problems if p)
        out.append(claim)
    return out


def recheck_record(record: dict[str, Any], current: Version) -> dict[str, Any]:
    """Re-run the checks of a recorded generation against `current`; what changed."""
    from generation.verify import make_checker

    checker = make_checker(current)
    claims = _current_claims(record, current, checker)
    hits = []
    for r in record.get("retrieved") or []:
        p = current.passage(r["passage_id"])
        if p is not None:
            hits.append(ScoredPassage(passage=p, score=r.get("score", 0.0), title=r.get("title"),
                                      source=r.get("source"), external_id=r.get("external_id")))
    now = checker(question=record.get("question") or "", claims=claims,
                  citations=record.get("citations") or [], hits=hits)
    before = _worst(record.get("checks") or [])
    after = _worst(now)
    changed = [{"rule": c["rule"], "subject": c["subject"], "object": c["object"],
                "before": before[k]["status"], "after": c["status"], "message": c["message"]}
               for k, c in after.items() if k in before and before[k]["status"] != c["status"]]
    return {
        "kb_version": current.id,
        "current": now,
        "changed": changed,
        "added": [c for k, c in after.items() if k not in before],
        "removed": [c for k, c in before.items() if k not in after],
        "unchanged": sum(1 for k, c in after.items() if k in before and before[k]["status"] == c["status"]),
    }
