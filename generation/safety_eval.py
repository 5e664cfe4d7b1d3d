"""Safety-verdict accuracy over a question file: is the verdict right, and does the answer say it?

A line of the file (tests/fixtures/safety_questions.jsonl): `{"id", "question", "drug",
"with", "verdict": avoid | caution | no_known_issue, "source"?}`. Each question is asked
through the whole answering path (retrieval, clinical block, generation, verification; by
default the extractive backend with the strict policy). Scored:

- verdict: the clinical block's overall verdict equals the expected one, for the expected drug;
- wording: the answer's first sentence says it plainly ("No: ..."/"Avoid ..." for avoid, "with
  caution" for caution, "No known issue" for no_known_issue), names the drug, and for avoid and
  caution cites the expected source (a graph citation whose source names it).

Run: `python -m generation.safety_eval tests/fixtures/safety_questions.jsonl --kb KB`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kb import jsonl
from kb.errors import InputError

VERDICTS = ("avoid", "caution", "no_known_issue")
_FIRST = {
    "avoid": re.compile(r"^\s*(?:no\b(?! known)|avoid\b|do not\b)", re.I),
    "caution": re.compile(r"\bwith caution\b", re.I),
    "no_known_issue": re.compile(r"^\s*no known issue\b", re.I),
}


def load(path: Path) -> list[dict[str, Any]]:
    out = []
    for n, item in jsonl.objects(path, "question file"):
        if not isinstance(item.get("question"), str) \
                or item.get("verdict") not in VERDICTS or not isinstance(item.get("drug"), str):
            raise InputError(str(path), f"line {n}: needs question, drug and a verdict among {', '.join(VERDICTS)}")
        out.append({"id": item.get("id") or f"line-{n}", **item})
    if not out:
        raise InputError(str(path), "no questions in the file")
    return out


def first_sentence(record: dict[str, Any]) -> tuple[str, list[Any]]:
    claims = record.get("claims") or []
    if claims:
        return claims[0]["text"], list(claims[0].get("citations") or [])
    return record.get("answer") or "", []


def score(item: dict[str, Any], record: dict[str, Any], names: Sequence[str] = (),
          drug_id: str | None = None) -> dict[str, Any]:
    """Verdict and wording of one answered question. `names`: the drug's names in the graph
    (synonyms: paracetamol is acetaminophen), `drug_id` its id."""
    block = record.get("clinical") or {}
    names = [n.lower() for n in [item["drug"], *names]]
    entries = [e for e in block.get("safety") or ()
               if (drug_id and drug_id in (e.get("drug_id"), e.get("with_id")))
               or e["drug"].lower() in names or e.get("with", "").lower() in names]
    got = min((e["verdict"] for e in entries), key=VERDICTS.index, default=None)
    expected = item["verdict"]
    text, keys = first_sentence(record)
    wording = bool(_FIRST[expected].search(text)) and any(n in text.lower() for n in names)
    if expected == "no_known_issue":
        wording = wording and not re.search(r"\bcontraindicated\b|\bavoid\b", text, re.I)
    if wording and expected != "no_known_issue" and item.get("source"):
        cited = [c for c in record.get("citations") or () if c["key"] in keys]
        wording = any(item["source"].lower() in (c.get("source") or "").lower() for c in cited)
    return {"id": item["id"], "expected": expected, "got": got, "verdict_ok": got == expected,
            "wording_ok": wording, "first_sentence": text}


def evaluate(items: Sequence[dict[str, Any]], version: Any, searcher: Any, backend: Any,
             policy: str = "strict", k: int = 5) -> dict[str, Any]:
    from generation.answer import AskOptions, answer_question
    from generation.verify import make_checker

    checker = make_checker(version, searcher.embedder)
    rows = []
    graph = checker.graph
    for item in items:
        record = answer_question(item["question"], version, searcher, backend, AskOptions(k=k, policy=policy),
                                 checker=checker)
        ent = graph.resolve(item["drug"]) if graph is not None else None
        names = [ent.name, *ent.synonyms] if ent is not None else []
        rows.append(score(item, record, names, ent.id if ent is not None else None))
    n = len(rows)
    by = {v: [r for r in rows if r["expected"] == v] for v in VERDICTS}
    return {
        "questions": n, "policy": policy, "backend": backend.name, "kb_version": version.id,
        "verdict_accuracy": round(sum(r["verdict_ok"] for r in rows) / n, 4),
        "wording_accuracy": round(sum(r["wording_ok"] for r in rows) / n, 4),
        "both_accuracy": round(sum(r["verdict_ok"] and r["wording_ok"] for r in rows) / n, 4),
        "per_verdict": {v: {"n": len(rs), "verdict_ok": sum(r["verdict_ok"] for r in rs),
                            "wording_ok": sum(r["wording_ok"] for r in rs)} for v, rs in by.items()},
        "misses": [r for r in rows if not (r["verdict_ok"] and r["wording_ok"])],
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m generation.safety_eval", description=__doc__.split("\n")[0])
    ap.add_argument("questions", type=Path)
    ap.add_argument("--kb", type=Path, required=True)
    ap.add_argument("--backend", default="extractive", help="extractive (default) or local")
    ap.add_argument("--policy", default="strict", choices=("strict", "flag"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from generation.backends.extractive import ExtractiveBackend
    from kb.errors import MedKBError
    from kb.store import KnowledgeBase
    from retrieval.search import Searcher

    try:
        items = load(args.questions)
        version = KnowledgeBase(args.kb).current()
        searcher = Searcher(version)
        if args.backend == "extractive":
            backend: Any = ExtractiveBackend(searcher.embedder)
        else:
            from generation.backends.local import LocalTransformersBackend

            backend = LocalTransformersBackend()
        report = evaluate(items, version, searcher, backend, policy=args.policy)
    except MedKBError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"{report['questions']} safety questions, {report['backend']}, policy {report['policy']}: "
              f"verdict {report['verdict_accuracy']:.3f}, wording {report['wording_accuracy']:.3f}, "
              f"both {report['both_accuracy']:.3f}")
        for v, s in report["per_verdict"].items():
            print(f"  {v}: {s['verdict_ok']}/{s['n']} verdicts, {s['wording_ok']}/{s['n']} wordings")
        for m in report["misses"]:
            print(f"  miss {m['id']}: expected {m['expected']}, got {m['got']}; {m['first_sentence'][:140]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
