"""Latency of `medkb diagnose` once the KB is loaded, beside a plain hybrid search measured in
the same run (the peer: what any RAG pipeline pays per question before it reads anything).

    python benchmarks/diagnose_bench.py --kb KB [--n 1000] [--fixtures F.jsonl ...]

Reports: load time; one description at a time (median and p95 ms, and the ratio to one hybrid
search of the same text); N descriptions through the batch path (`medkb diagnose --input`:
embeddings in batches) in seconds. Descriptions cycle through the dev fixtures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] * 1000


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kb", required=True)
    ap.add_argument("--n", type=int, default=1000, help="descriptions through the batch path")
    ap.add_argument("--single", type=int, default=50, help="descriptions timed one at a time")
    ap.add_argument("--fixtures", nargs="*", default=[str(ROOT / "tests/fixtures/dx_lay_cases.jsonl"),
                                                       str(ROOT / "tests/fixtures/dx_medquad_cases.jsonl")])
    args = ap.parse_args(argv)
    from generation.clinical.differential import differential_for
    from kb.store import KnowledgeBase
    from retrieval.search import Searcher

    texts = [json.loads(x)["text"] for f in args.fixtures for x in Path(f).read_text().splitlines() if x.strip()]
    t0 = time.perf_counter()
    version = KnowledgeBase(Path(args.kb)).current()
    searcher = Searcher(version)
    searcher.search("warm up", 1)
    dx = differential_for(version, searcher)
    load = time.perf_counter() - t0
    print(f"load (index, graph, vocabulary, finding-name vectors): {load:.1f} s")
    single, peer = [], []
    for i in range(args.single):
        text = texts[i % len(texts)]
        t = time.perf_counter()
        dx.diagnose(text)
        single.append(time.perf_counter() - t)
        t = time.perf_counter()
        searcher.search(text + " ", 10)  # a new string: no vector reused
        peer.append(time.perf_counter() - t)
    ms, pms = pct(single, 0.5), pct(peer, 0.5)
    print(f"one description: median {ms:.1f} ms, p95 {pct(single, 0.95):.1f} ms; "
          f"plain hybrid search median {pms:.1f} ms; ratio {ms / max(pms, 1e-9):.2f}x")
    batch = [texts[i % len(texts)] + ("" if i < len(texts) else f" (case {i})") for i in range(args.n)]
    t = time.perf_counter()
    dx.diagnose_many(batch)
    total = time.perf_counter() - t
    print(f"{args.n} descriptions, batch path: {total:.1f} s ({total / args.n * 1000:.1f} ms each)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
