"""The streaming build at scale: build a KB of hundreds of thousands of passages and report
its peak memory, then (in a fresh process) search it and report memory, latency and recall.

    python benchmarks/scale_build.py build --documents 330000 --kb /tmp/scale-kb \\
        [--no-enrich] [--no-graph] [--index auto|hnsw|ivf] [--engine ray] [--vary none]
    python benchmarks/scale_build.py search --kb /tmp/scale-kb --queries 100

The corpus is benchmarks/scale_corpus.py's (the shipped literature, then mosaic copies of
it with their own ids: distinct texts of real sentences). The embedder defaults to the deterministic hash embedder "hash-384" (384-d like
MiniLM, ~1,000x faster on CPU): the point here is the build's memory and the searchable
KB's size, not embedding quality; MiniLM would embed 500k passages in hours on 2 cores.

Recall@10 is measured against an exact search over the KB's own stored vectors, and counts
ties (a hit is a result whose exact score reaches the exact 10th best score): with
`--vary none` copies have identical vectors and any of them is a correct neighbour. The
hash vectors are a hard case for HNSW (high intrinsic dimension): see README "Scaling out".
"""

from __future__ import annotations

import argparse
import json
import os
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
    import logging
    import threading

    from benchmarks.scale_corpus import main as make_corpus
    from ingest.options import default_graph_seeds
    from ingest.pipeline import BuildOptions, build

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(relativeCreated)8.0f ms %(name)s: %(message)s")
    timeline: list[tuple[float, float]] = []
    top = [0.0, 0.0]  # seconds, MB
    stop = threading.Event()

    def sample() -> None:  # RSS every 0.2 s; a point kept when it moved by 25 MB
        while not stop.wait(0.2):
            mb = current_rss_mb()
            if mb > top[1]:
                top[:] = [round(time.perf_counter() - t0, 1), mb]
            if not timeline or abs(mb - timeline[-1][1]) >= 25:
                timeline.append((round(time.perf_counter() - t0, 1), mb))

    if args.corpus is None:  # one corpus per size and kind: a stale one is never reused
        args.corpus = Path(f"/tmp/medkb-scale-corpus-{args.documents}-{args.vary}")
    if not args.corpus.exists():
        make_corpus(["--documents", str(args.documents), "--out", str(args.corpus),
                     "--vary", args.vary])
    stages: dict[str, float] = {}
    t0 = time.perf_counter()

    rss: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        stages[stage] = round(time.perf_counter() - t0, 1)  # when the stage last moved
        if stage not in rss or done >= total:
            rss[stage + (":end" if done >= total else ":start")] = current_rss_mb()
            rss[stage] = 0

    options = BuildOptions(embedder=args.embedder, enrich=not args.no_enrich,
                           graph_seeds=None if args.no_graph else default_graph_seeds(),
                           engine=args.engine, vector_precision=args.precision,
                           index_kind=args.index)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        report = build([args.corpus], args.kb, options, progress=progress)
    finally:
        stop.set()
        sampler.join()
    peak = top
    return {"build": {k: report[k] for k in ("documents", "passages", "entities", "edges",
                                            "seconds")},
            "passages_per_s": round(report["passages"] / report["seconds"], 1),
            "stage_last_progress_s": stages, "peak_rss_mb": peak_rss_mb(),
            "rss_mb_at": {k: v for k, v in rss.items() if ":" in k},
            "sampled_peak_rss_mb": peak[1], "sampled_peak_at_s": peak[0],
            "rss_timeline_s_mb": timeline,
            "load_average": os.getloadavg(),
            "embedder": args.embedder, "enrich": not args.no_enrich,
            "graph": not args.no_graph, "engine": args.engine, "precision": args.precision,
            "index": args.index, "corpus_vary": args.vary}


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
    after = current_rss_mb()
    # dense recall@10 vs exact over the stored vectors (tie-aware), in chunks
    index = version.vectors()
    from kb.embedder import make_embedder

    emb = make_embedder(version.embedder["model"])
    qv = emb.embed(queries)
    best = np.full((len(qv), 10), -np.inf, dtype=np.float32)
    step = 100_000
    for lo in range(0, n, step):
        block = index.reconstruct(range(lo, min(n, lo + step)))
        s = qv @ block.T
        best = np.sort(np.concatenate([best, s], axis=1), axis=1)[:, -10:]
    kth = best[:, 0]

    def recall() -> tuple[float, float]:
        hits, lat = 0, []
        for i in range(len(qv)):
            t = time.perf_counter()
            _, got = index.search(qv[i : i + 1], 10)
            lat.append((time.perf_counter() - t) * 1000)
            vecs = index.reconstruct([int(r) for r in got[0] if r >= 0])
            hits += int(((vecs @ qv[i]) >= kth[i] - 1e-5).sum())
        return round(hits / (10 * len(qv)), 4), round(float(np.percentile(lat, 50)), 2)

    sweep = []
    params = args.nprobe if index.kind == "ivf" else args.ef if index.kind == "hnsw" else []
    stored = index.nprobe if index.kind == "ivf" else index.ef_search
    for p in [stored, *params]:
        if p is None:
            continue
        (index.set_nprobe if index.kind == "ivf" else index.set_ef_search)(p)
        r, ms = recall()
        sweep.append({"nprobe" if index.kind == "ivf" else "ef_search": p,
                      "dense_recall_at_10": r, "dense_p50_ms": ms})
    if not sweep:
        r, ms = recall()
        sweep.append({"dense_recall_at_10": r, "dense_p50_ms": ms})
    distinct = len({q for q in queries})
    return {"passages": n, "index": version.manifest["vectors"],
            "search_p50_ms": round(float(np.percentile(lat, 50)), 2),
            "search_p95_ms": round(float(np.percentile(lat, 95)), 2),
            "dense_recall_at_10_vs_exact": sweep[0]["dense_recall_at_10"],
            "dense_sweep": sweep,
            "rss_before_open_mb": base, "rss_after_first_search_mb": loaded,
            "rss_after_searches_mb": after, "queries": len(queries),
            "distinct_queries": distinct, "load_average": os.getloadavg(),
            "note": "RSS measured before the exact-recall pass (which reads every vector); "
                    "recall counts ties (a result scoring at least the exact 10th best); the "
                    "first sweep row is the KB's own setting, the one `search` uses"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--documents", type=int, default=150_000)
    b.add_argument("--corpus", type=Path, default=None,
                   help="default /tmp/medkb-scale-corpus-DOCUMENTS-VARY (made if missing)")
    b.add_argument("--kb", type=Path, required=True)
    b.add_argument("--embedder", default="hash-384")
    b.add_argument("--precision", default="fp16")
    b.add_argument("--engine", default="local")
    b.add_argument("--no-enrich", action="store_true")
    b.add_argument("--no-graph", action="store_true")
    b.add_argument("--index", default="auto", help="auto | flat | hnsw | ivf")
    b.add_argument("--vary", choices=("mosaic", "none"), default="mosaic",
                   help="how copies of the shipped documents differ (benchmarks/scale_corpus.py)")
    s = sub.add_parser("search")
    s.add_argument("--kb", type=Path, required=True)
    s.add_argument("--queries", type=int, default=200)
    s.add_argument("--ef", type=int, nargs="*", default=[256, 512, 1024, 2048],
                   help="efSearch values to measure dense recall at (HNSW)")
    s.add_argument("--nprobe", type=int, nargs="*", default=[64, 128, 256, 512],
                   help="nprobe values to measure dense recall at (IVF)")
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
