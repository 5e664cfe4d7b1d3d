"""Lay-phrase -> finding-node mapping: precision and recall on tests/fixtures/lay_finding_gold.jsonl.

    python benchmarks/lay_mapping_eval.py [--embedder all-MiniLM-L6-v2] [--misses]

Each gold line: {"text", "findings": [graph names]}. Reported for the lay table plus the
graph vocabulary, and with the embedding-similarity pass added (the KB's embedder).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def score(matcher, gold, use_embeddings: bool, misses: bool) -> tuple[float, float]:
    tp = fp = fn = 0
    for rec in gold:
        want = {matcher.canonical_id(matcher.graph.resolve(n).id) for n in rec["findings"]}
        got = {f.id for f in matcher.find(rec["text"], use_embeddings=use_embeddings) if f.id and not f.negated}
        tp += len(want & got)
        fp += len(got - want)
        fn += len(want - got)
        if misses and want != got:
            print(f"  {rec['text']!r}: want {sorted(want)} got {sorted(got)}", file=sys.stderr)
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gold", default=str(ROOT / "tests" / "fixtures" / "lay_finding_gold.jsonl"))
    ap.add_argument("--embedder", default=None, help="e.g. all-MiniLM-L6-v2 (default: no embedding pass)")
    ap.add_argument("--misses", action="store_true")
    args = ap.parse_args(argv)
    from generation.clinical.findings import FindingMatcher
    from ingest.curated import load_curated
    from kb.graph import KnowledgeGraph

    ents, edges = load_curated(ROOT / "corpora" / "graph")
    graph = KnowledgeGraph.build(ents, edges)
    gold = [json.loads(x) for x in Path(args.gold).read_text(encoding="utf-8").splitlines() if x.strip()]
    embedder = None
    if args.embedder:
        from kb.embedder import make_embedder

        embedder = make_embedder(args.embedder)
    matcher = FindingMatcher(graph, embedder)
    p, r = score(matcher, gold, False, args.misses)
    print(f"lay table + vocabulary: n={len(gold)} precision {p:.3f} recall {r:.3f}")
    if embedder is not None:
        p, r = score(matcher, gold, True, args.misses)
        print(f"+ embedding similarity (>= {matcher.min_similarity}): precision {p:.3f} recall {r:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
