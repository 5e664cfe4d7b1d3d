"""Differential-diagnosis accuracy on symptom descriptions with a gold diagnosis, beside the
plain-RAG peers measured in the same run.

    python benchmarks/diagnose_eval.py tests/fixtures/dx_lay_cases.jsonl --kb KB [--json]

For each case: MedKB's differential (generation.clinical.differential: graph + retrieval)
is right at top-k when one of its first k candidates is the gold disease (same graph node,
its direct parent or child, or the same name). The peers are plain retrieval: the titles of
the distinct documents that bm25s (the KB's sparse index) and MiniLM-FAISS (its dense index)
rank first for the description; right when a title names the gold disease.

A MedQuAD case (tests/fixtures/dx_medquad_cases.jsonl) must be evaluated on a KB built
without its document: see the README ("Differential diagnosis") for the held-out build.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def norm(s: str) -> str:
    s = re.sub(r"\(.*?\)", " ", s.lower())
    s = re.sub(r"[^a-z0-9]+", " ", s)
    return " ".join(w[:-1] if w.endswith("s") and len(w) > 4 else w for w in s.split())


class Judge:
    def __init__(self, graph, dx) -> None:
        self.graph, self.dx = graph, dx
        self._ids: dict[str, set[str]] = {}

    def ids(self, gold: str) -> set[str]:
        if gold not in self._ids:
            ent = self.graph.resolve(gold) or self.graph.resolve(re.sub(r"\s*\(.*?\)", "", gold))
            self._ids[gold] = set() if ent is None else {
                ent.id, *self.graph.ancestors(ent.id, 1), *self.graph.descendants(ent.id, 1),
                *self.graph.equivalents(ent.id)}
        return self._ids[gold]

    def disease_hit(self, gold: str, cand_id: str, cand_name: str) -> bool:
        return cand_id in self.ids(gold) or norm(cand_name) == norm(gold)

    def title_hit(self, gold: str, title: str | None) -> bool:
        if not title:
            return False
        g, t = norm(gold), norm(title)
        if g == t or (len(g) > 3 and re.search(rf"\b{re.escape(g)}\b", t)):
            return True
        d = self.dx._disease_named(title)
        return d is not None and d in self.ids(gold)


def peer_titles(searcher, text: str, method: str, n: int = 3) -> list[str | None]:
    out: list[str | None] = []
    for h in searcher.search(text, k=20, method=method):
        if h.title not in out:
            out.append(h.title)
        if len(out) == n:
            break
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("fixtures", nargs="+")
    ap.add_argument("--kb", required=True)
    ap.add_argument("--no-retrieval", action="store_true", help="graph only")
    ap.add_argument("--no-peers", action="store_true", help="skip the plain-RAG peers")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--misses", action="store_true", help="print top-3 misses on stderr")
    args = ap.parse_args(argv)
    from generation.clinical.differential import Differential
    from kb.graph import load_cached
    from kb.store import KnowledgeBase
    from retrieval.search import Searcher

    version = KnowledgeBase(Path(args.kb)).current()
    searcher = Searcher(version)
    t0 = time.perf_counter()
    graph = load_cached(version.file("graph.json"))
    dx = Differential(graph, embedder=searcher.embedder, searcher=None if args.no_retrieval else searcher,
                      version=version)
    dx.matcher.warm()
    searcher.search("warm up", 1)
    load_s = time.perf_counter() - t0
    judge = Judge(graph, dx)
    report: dict = {"kb": args.kb, "kb_version": version.id, "load_s": round(load_s, 1), "sets": {}}
    peers = () if args.no_peers else (("bm25s", "sparse"), ("minilm_faiss", "dense"))
    for fx in args.fixtures:
        cases = [json.loads(line) for line in Path(fx).read_text(encoding="utf-8").splitlines() if line.strip()]
        tally = {k: [0, 0] for k in ("medkb", *(p for p, _ in peers))}
        times = []
        for case in cases:
            t = time.perf_counter()
            _, ranked = dx.rank(case["text"], 3)
            times.append(time.perf_counter() - t)
            hits = [judge.disease_hit(case["gold"], c.id, c.name) for c in ranked]
            tally["medkb"][0] += any(hits[:1])
            tally["medkb"][1] += any(hits[:3])
            if args.misses and not any(hits[:3]):
                print(f"miss {case['id']}: {case['gold']} <- {[c.name for c in ranked]}", file=sys.stderr)
            for peer, method in peers:
                th = [judge.title_hit(case["gold"], t) for t in peer_titles(searcher, case["text"], method)]
                tally[peer][0] += any(th[:1])
                tally[peer][1] += any(th[:3])
        n = max(len(cases), 1)
        times.sort()
        report["sets"][fx] = {
            "n": len(cases),
            **{f"{k}_top1": round(v[0] / n, 3) for k, v in tally.items()},
            **{f"{k}_top3": round(v[1] / n, 3) for k, v in tally.items()},
            "median_ms": round(times[len(times) // 2] * 1000, 1) if times else None,
            "p95_ms": round(times[int(len(times) * 0.95)] * 1000, 1) if times else None,
        }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"KB {args.kb} ({version.id}), loaded in {report['load_s']} s")
        for fx, r in report["sets"].items():
            print(f"{fx}: n={r['n']}")
            for k in ("medkb", *(p for p, _ in peers)):
                print(f"  {k:13s} top-1 {r[k + '_top1']:.3f}  top-3 {r[k + '_top3']:.3f}")
            print(f"  medkb latency per description: median {r['median_ms']} ms, p95 {r['p95_ms']} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
