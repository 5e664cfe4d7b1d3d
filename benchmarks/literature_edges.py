"""Literature edges of a built KB: how many per relation, and a fixed random sample to judge.

Literature edges are the typed relations `ingest.relations` extracts from passage sentences
(`source="literature"`); each keeps its passage and the sentence span in document
coordinates. This script

* counts them per relation: asserted, negated, hedged (asserted and hedged), and distinct
  statements (passages overlap by 32 tokens, so one sentence can give the same edge in two
  passages; a statement is subject, relation, object, document and sentence start);
* samples N asserted statements (default 50, seed 0; all of them when there are fewer) and
  prints relation, subject, object, confidence, trigger and the evidence sentence of each;
  `--fill-from OTHER_KB` tops a short sample up from a second KB (same seed, statements
  already sampled left out, marked with their origin);
* with `--judgements FILE` (JSONL, one `{"edge_key", "correct": true/false, "note"}` a
  line; `tests/fixtures/literature_edges_judged.jsonl` is such a file), gives precision
  overall and per relation with a Wilson 95% interval, over the judged edges of the sample
  (and says which sampled edges have no judgement).

The edge key is `subject|relation|object|passage_id|start` (stable across rebuilds of the
same corpus: ids are content hashes).

    python benchmarks/literature_edges.py --kb /tmp/medkb-pqa-g --fill-from /tmp/demo-kb \\
        --judgements tests/fixtures/literature_edges_judged.jsonl
    python benchmarks/literature_edges.py --kb medkb-data --n 100 --seed 1 --json
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kb.config import kb_dir  # noqa: E402
from kb.graph import LITERATURE, KnowledgeGraph  # noqa: E402
from kb.records import Edge  # noqa: E402
from kb.store import KnowledgeBase  # noqa: E402


def edge_key(e: Edge) -> str:
    return f"{e.subject}|{e.relation}|{e.object}|{e.passage_id}|{e.start}"


class LoadedKB:
    """A KB's current version, its graph and its literature edges."""

    def __init__(self, root: str | Path) -> None:
        self.root = str(root)
        self.version = KnowledgeBase(root).current()
        self.graph = KnowledgeGraph.load(self.version.file("graph.json"))
        self.edges = sorted((e for e in self.graph.edges() if e.source == LITERATURE), key=edge_key)
        self._docs: dict[str, Any] = {}
        self._passage_doc: dict[str, str] = {}

    def doc_of(self, e: Edge) -> Any:
        assert e.passage_id is not None
        doc_id = self._passage_doc.get(e.passage_id)
        if doc_id is None:
            passage = self.version.passage(e.passage_id)
            if passage is None:
                raise SystemExit(f"{self.root}: edge {edge_key(e)} names a passage that is not in the KB")
            doc_id = self._passage_doc[e.passage_id] = passage.doc_id
        if doc_id not in self._docs:
            self._docs[doc_id] = self.version.document(doc_id)
        return self._docs[doc_id]

    def statement(self, e: Edge) -> tuple[str, str, str, str, int | None]:
        return (e.subject, e.relation, e.object, self.doc_of(e).doc_id, e.start)

    def statements(self, asserted_only: bool = True) -> list[Edge]:
        """One edge per distinct statement (the first by edge key), in edge-key order."""
        seen: set[tuple[Any, ...]] = set()
        out = []
        for e in self.edges:
            if asserted_only and e.negated:
                continue
            key = self.statement(e)
            if key not in seen:
                seen.add(key)
                out.append(e)
        return out

    def counts(self) -> dict[str, dict[str, int]]:
        by_rel: dict[str, Counter[str]] = defaultdict(Counter)
        distinct: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
        for e in self.edges:
            c = by_rel[e.relation]
            c["edges"] += 1
            c["negated" if e.negated else "asserted"] += 1
            if e.hedged and not e.negated:
                c["asserted_hedged"] += 1
            if not e.negated:
                distinct[e.relation].add(self.statement(e))
        out = {}
        for rel in sorted(by_rel):
            c = by_rel[rel]
            out[rel] = {"edges": c["edges"], "asserted": c["asserted"], "negated": c["negated"],
                        "asserted_hedged": c["asserted_hedged"],
                        "asserted_distinct_statements": len(distinct[rel])}
        total = Counter()
        for row in out.values():
            total.update(row)
        out["ALL"] = dict(total) if out else {"edges": 0, "asserted": 0, "negated": 0,
                                               "asserted_hedged": 0, "asserted_distinct_statements": 0}
        return out

    def describe(self, e: Edge) -> dict[str, Any]:
        doc = self.doc_of(e)
        name = {eid: (ent.name if (ent := self.graph.entity(eid)) else eid) for eid in (e.subject, e.object)}
        return {
            "edge_key": edge_key(e),
            "kb": self.root,
            "relation": e.relation,
            "subject": name[e.subject],
            "subject_id": e.subject,
            "object": name[e.object],
            "object_id": e.object,
            "confidence": e.confidence,
            "hedged": e.hedged,
            "trigger": (e.note or "").removeprefix("pattern: "),
            "doc": doc.external_id or doc.doc_id,
            "title": doc.title,
            "sentence": " ".join(doc.text[e.start:e.end].split()),
        }


def sample(kbs: list[LoadedKB], n: int, seed: int) -> list[dict[str, Any]]:
    """n asserted statements from the first KB, topped up from the next ones if it has fewer."""
    out: list[dict[str, Any]] = []
    taken: set[tuple[str, str, str, str]] = set()
    for kb in kbs:
        need = n - len(out)
        if need <= 0:
            break
        pool = []
        for e in kb.statements():
            d = kb.describe(e)
            if (e.subject, e.relation, e.object, d["sentence"]) not in taken:
                pool.append((e, d))
        picked = pool if len(pool) <= need else random.Random(seed).sample(pool, need)
        for e, d in sorted(picked, key=lambda p: edge_key(p[0])):
            taken.add((e.subject, e.relation, e.object, d["sentence"]))
            out.append(d)
    return out


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 0.0)
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (round(max(0.0, mid - half), 3), round(min(1.0, mid + half), 3))


def read_judgements(path: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row.get("edge_key"), str) or not isinstance(row.get("correct"), bool):
            raise SystemExit(f"{path}:{i}: each line needs an edge_key and a boolean 'correct'")
        out[row["edge_key"]] = row
    return out


def precision(rows: list[dict[str, Any]], judged: dict[str, dict[str, Any]]) -> dict[str, Any]:
    per: dict[str, Counter[str]] = defaultdict(Counter)
    per_kb: dict[str, Counter[str]] = defaultdict(Counter)
    missing = []
    for r in rows:
        j = judged.get(r["edge_key"])
        if j is None:
            missing.append(r["edge_key"])
            continue
        for table, key in ((per, r["relation"]), (per, "ALL"), (per_kb, r["kb"])):
            table[key]["judged"] += 1
            table[key]["correct"] += int(j["correct"])

    def rows_of(table: dict[str, Counter[str]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in sorted(table, key=lambda r: (r == "ALL", r)):
            k, n = table[key]["correct"], table[key]["judged"]
            out[key] = {"judged": n, "correct": k, "precision": round(k / n, 3) if n else None,
                        "wilson95": wilson(k, n)}
        return out

    return {"by_relation": rows_of(per), "by_kb": rows_of(per_kb), "unjudged": missing}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kb", help="KB directory (default: $MEDKB_HOME or ./medkb-data)")
    ap.add_argument("--fill-from", action="append", default=[], metavar="KB",
                    help="another KB to top the sample up from when --kb has fewer than N")
    ap.add_argument("--n", type=int, default=50, help="edges to sample (default 50)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--judgements", type=Path, help="JSONL of {edge_key, correct, note}")
    ap.add_argument("--json", action="store_true", help="JSON on stdout")
    args = ap.parse_args(argv)

    kbs = [LoadedKB(kb_dir(args.kb))] + [LoadedKB(p) for p in args.fill_from]
    report: dict[str, Any] = {
        "counts": {kb.root: kb.counts() for kb in kbs},
        "n": args.n, "seed": args.seed,
        "sample": sample(kbs, args.n, args.seed),
    }
    report["sample_origin"] = dict(Counter(r["kb"] for r in report["sample"]))
    if args.judgements:
        judged = read_judgements(args.judgements)
        report["precision"] = precision(report["sample"], judged)
        for r in report["sample"]:
            if r["edge_key"] in judged:
                r["correct"] = judged[r["edge_key"]]["correct"]
                r["judge_note"] = judged[r["edge_key"]].get("note")

    if args.json:
        json.dump(report, sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    for root, counts in report["counts"].items():
        print(f"\nliterature edges in {root}")
        print(f"  {'relation':<18}{'edges':>7}{'asserted':>10}{'negated':>9}{'hedged':>8}{'distinct':>10}")
        for rel, c in counts.items():
            print(f"  {rel:<18}{c['edges']:>7}{c['asserted']:>10}{c['negated']:>9}"
                  f"{c['asserted_hedged']:>8}{c['asserted_distinct_statements']:>10}")
    origin = ", ".join(f"{k} from {v}" for v, k in report["sample_origin"].items())
    print(f"\nsample: {len(report['sample'])} asserted statements (n={args.n}, seed={args.seed}; {origin})")
    for i, r in enumerate(report["sample"], 1):
        verdict = {True: "  [correct]", False: "  [WRONG]"}.get(r.get("correct"), "")
        print(f"\n{i:>3}. {r['relation']}: {r['subject']} -> {r['object']}  conf {r['confidence']}"
              f"{' hedged' if r['hedged'] else ''}  trigger '{r['trigger']}'  ({r['doc']}){verdict}")
        print(f"     {r['sentence']}")
        if r.get("judge_note"):
            print(f"     note: {r['judge_note']}")
    if "precision" in report:
        p = report["precision"]
        print("\nprecision (hand-judged)")
        for label, c in [*p["by_relation"].items(), *((f"from {k}", v) for k, v in p["by_kb"].items())]:
            lo, hi = c["wilson95"]
            print(f"  {label:<24}{c['correct']:>4}/{c['judged']:<4} {c['precision']:.2f}  (95% {lo:.2f}-{hi:.2f})")
        if p["unjudged"]:
            print(f"  {len(p['unjudged'])} sampled edge(s) have no judgement")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
