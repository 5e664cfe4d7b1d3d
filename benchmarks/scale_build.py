"""The streaming build at scale: build a KB of hundreds of thousands of passages and report
its peak memory, then (in a fresh process) search it and report memory, latency and recall.

    python benchmarks/scale_build.py build --documents 150000 --kb /tmp/ray-scale-kb \\
        --corpus /tmp/ray-scale-corpus [--no-enrich] [--no-graph] [--engine ray]
    python benchmarks/scale_build.py search --kb /tmp/ray-scale-kb --queries 200

The corpus is benchmarks/scale_corpus.py's (the shipped literature, repeated with varied
ids). The embedder defaults to the deterministic hash embedder "hash-384" (384-d like
MiniLM, ~1,000x faster on CPU): the point here is the build's memory and the searchable
KB's size, not embedding quality; MiniLM would embed 500k passages in hours on 2 cores.

Recall@10 is measured against an exact search over the KB's own stored vectors, and counts
ties: copies of a document have identical vectors, so any of them is a correct neighbour
(a hit is a result whose exact score reaches the exact 10th best score).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def cmd_build(args: argparse.Namespace) -> dict:
    from benchmarks.scale_corpus import main as make_corpus
    from ingest.options import default_graph_seeds
    from ingest.pipeline import BuildOptions, build

    if not args.corpus.exists():
        make_corpus(["--documents", str(args.documents), "--out", str(args.corpus)])
    stages: dict[str, float] = {}
    t0 = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        stages[stage] = round(time.perf_counter() - t0, 1)  # when the stage last moved

    options = BuildOptions(embedder=args.embedder, enrich=not args.no_enrich,
                           graph_seeds=None if args.no_graph else default_graph_seeds(),
                           engine=args.engine, vector_precision=args.precision,
                           index_kind="auto")
    report = build([args.corpus], args.kb, options, progress=progress)
    return {"build": {k: report[k] for k in ("documents", "passages", "entities", "edges",
                                            "seconds")},
            "passages_per_s": round(report["passages"] / report["seconds"], 1),
            "stage_last_progress_s": stages, "peak_rss_mb": peak_rss_mb(),
            "embedder": args.embedder, "enrich": not args.no_enrich,
            "graph": not args.no_graph, "engine": args.engine, "precision": args.precision}


def cmd_search(args: argparse.Namespace) -> dict:
    from kb.store import KnowledgeBase

    base = current_rss_mb()
    version = KnowledgeBase(args.kb).current(verify=False)
    n = version.counts["passages"]
    rng = np.random.default_rng(0)
    picks = rng.choice(n, size=args.queries, replace=False)
    queries = [" ".join(p.text.split()[:12]) for p in version.passages_by_ordinal(
        [int(i) for i in picks])]
    import medkb

    kb = medkb.open(args.kb)
    kb.search(queries[0], k=10)  # load everything once
    loaded = current_rss_mb()
    lat = []
    for q in queries:
        t = time.perf_counter()
        kb.search(q, k=10)
        lat.append((time.perf_counter() - t) * 1000)
    # dense recall@10 vs exact over the stored vectors (tie-aware), in chunks
    index = version.vectors()
    from kb.embedder import make_embedder

    emb = make_embedder(version.embedder["model"])
    qv = emb.embed(queries)
    _, got = index.search(qv, 10)
    best = np.full((len(qv), 10), -np.inf, dtype=np.float32)
    step = 100_000
    for lo in range(0, n, step):
        block = index.reconstruct(range(lo, min(n, lo + step)))
        s = qv @ block.T
        best = np.sort(np.concatenate([best, s], axis=1), axis=1)[:, -10:]
    kth = best[:, 0]
    hits = 0
    for i, row in enumerate(got):
        vecs = index.reconstruct([int(r) for r in row if r >= 0])
        hits += int(((vecs @ qv[i]) >= kth[i] - 1e-5).sum())
    return {"passages": n, "index": version.manifest["vectors"],
            "search_p50_ms": round(float(np.percentile(lat, 50)), 2),
            "search_p95_ms": round(float(np.percentile(lat, 95)), 2),
            "dense_recall_at_10_vs_exact": round(hits / (10 * len(qv)), 4),
            "rss_before_open_mb": base, "rss_after_first_search_mb": loaded,
            "rss_after_searches_mb": current_rss_mb(), "queries": len(queries),
            "note": "RSS measured before the exact-recall pass (which reads every vector)"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--documents", type=int, default=150_000)
    b.add_argument("--corpus", type=Path, default=Path("/tmp/ray-scale-corpus"))
    b.add_argument("--kb", type=Path, required=True)
    b.add_argument("--embedder", default="hash-384")
    b.add_argument("--precision", default="fp16")
    b.add_argument("--engine", default="local")
    b.add_argument("--no-enrich", action="store_true")
    b.add_argument("--no-graph", action="store_true")
    s = sub.add_parser("search")
    s.add_argument("--kb", type=Path, required=True)
    s.add_argument("--queries", type=int, default=200)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    out = cmd_build(args) if args.cmd == "build" else cmd_search(args)
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
