"""Search latency and recall at 10k / 100k / 1M synthetic passages, in process.

For each size, on the same queries in the same run:
  * flat      exact inner-product FAISS index: what a plain LangChain `FAISS.from_documents`
              path searches (MiniLM vectors + an exact flat index);
  * hnsw      MedKB's large-KB index (kb.vectors, `kind="hnsw"`) at several efSearch values,
              with recall@10 against the exact top 10;
  * auto      the index `FaissIndex.build(kind="auto")` picks for that size;
  * bm25s     bm25s alone, used as its README shows (bm25s.tokenize + BM25.retrieve);
  * sparse    MedKB's BM25 (kb.sparse: bm25s with pinned tokenizer and stemmer);
  * hybrid    MedKB's hybrid ranking: auto dense + sparse candidates (depth 100), both
              scores for their union, min-max score fusion; no SQLite, no query embedding.
Latencies are per single query (batch of one), in milliseconds; ratios are against flat and
bm25s measured here. Query embedding (MiniLM, the same for every dense method) is left out.

Vectors are synthetic but shaped like sentence embeddings (see synthetic_vectors: nearest-
neighbour cosine about 0.65, unrelated pairs about 0.1, HNSW recall close to what real MiniLM
vectors of MedQuAD give); queries come from the same distribution and are not in the index. Passages are Zipf-distributed
words; a query is four words drawn from one passage.

    python benchmarks/search_bench.py --sizes 10000 100000 --json bench.json
    python benchmarks/search_bench.py --sizes 1000000 --sparse-max 0   # dense only at 1M
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def synthetic_vectors(n: int, dim: int, rng: np.random.Generator, rank: int = 96) -> np.ndarray:
    """Unit vectors from a low-rank Gaussian with a decaying spectrum plus a shared mean
    direction, the shape of sentence embeddings (a few dozen effective dimensions, all
    vectors in one cone). Random isotropic vectors would be far harder than real ones;
    well-separated clusters far easier."""
    basis = rng.standard_normal((rank, dim)).astype(np.float32)
    spectrum = (1.0 / np.sqrt(np.arange(1, rank + 1))).astype(np.float32)
    mean = rng.standard_normal(dim).astype(np.float32)
    mean /= np.linalg.norm(mean)
    out = np.empty((n, dim), dtype=np.float32)
    step = 100_000
    for lo in range(0, n, step):
        m = min(step, n - lo)
        x = (rng.standard_normal((m, rank)).astype(np.float32) * spectrum) @ basis
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        x += 0.35 * mean
        out[lo : lo + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def synthetic_texts(n: int, rng: np.random.Generator, vocab: int = 30_000,
                    length: int = 60) -> list[str]:
    words = np.array([f"w{i}" for i in range(vocab)])
    ids = np.minimum(rng.zipf(1.2, size=(n, length)) - 1, vocab - 1)
    return [" ".join(row) for row in words[ids]]


def timed(fn: Callable[[int], Any], n: int) -> dict[str, float]:
    fn(0)  # warm
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t0) * 1000.0)
    a = np.array(times)
    return {"p50_ms": round(float(np.percentile(a, 50)), 4),
            "p95_ms": round(float(np.percentile(a, 95)), 4)}


def recall(got: np.ndarray, exact: np.ndarray) -> float:
    hits = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(got, exact, strict=True))
    return round(hits / float(exact.size), 4)


def bench_size(n: int, args: argparse.Namespace, rng: np.random.Generator) -> dict[str, Any]:
    import faiss

    from kb.vectors import FaissIndex, choose_kind
    from retrieval.fusion import convex, rank

    log = lambda msg: print(f"[{n}] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    out: dict[str, Any] = {"passages": n, "dim": args.dim, "queries": args.queries}
    x = synthetic_vectors(n + args.queries, args.dim, rng)
    xb, xq = x[:n], x[n:]
    _, exact = faiss.knn(xq, xb, 10, metric=faiss.METRIC_INNER_PRODUCT)

    t0 = time.perf_counter()
    flat = FaissIndex.build(xb, "flat")
    out["flat_build_s"] = round(time.perf_counter() - t0, 2)
    out["flat"] = timed(lambda i: flat.search(xq[i : i + 1], 10), args.queries)
    out["flat"]["recall@10"] = recall(flat.search(xq, 10)[1], exact)
    log(f"flat {out['flat']}")

    t0 = time.perf_counter()
    hnsw = FaissIndex.build(xb, "hnsw")
    out["hnsw_build_s"] = round(time.perf_counter() - t0, 2)
    out["hnsw"] = {}
    for ef in args.ef:
        hnsw.set_ef_search(ef)
        row = timed(lambda i: hnsw.search(xq[i : i + 1], 10), args.queries)
        row["recall@10"] = recall(hnsw.search(xq, 10)[1], exact)
        row["speedup_vs_flat"] = round(out["flat"]["p50_ms"] / row["p50_ms"], 2)
        out["hnsw"][str(ef)] = row
        log(f"hnsw ef={ef} {row}")
    from kb.vectors import default_ef_search

    hnsw.set_ef_search(default_ef_search(n))
    kind = choose_kind(n)
    auto = flat if kind == "flat" else hnsw
    out["auto"] = {"kind": kind, "ef_search": auto.ef_search,
                   **timed(lambda i: auto.search(xq[i : i + 1], 10), args.queries),
                   "recall@10": recall(auto.search(xq, 10)[1], exact)}
    out["auto"]["speedup_vs_flat"] = round(out["flat"]["p50_ms"] / out["auto"]["p50_ms"], 2)

    if n <= args.sparse_max:
        import bm25s

        from kb.sparse import SparseIndex

        texts = synthetic_texts(n, rng)
        qrows = rng.integers(0, n, args.queries)
        queries = [" ".join(rng.choice(texts[r].split(), 4, replace=False)) for r in qrows]
        t0 = time.perf_counter()
        plain = bm25s.BM25()
        plain.index(bm25s.tokenize(texts, show_progress=False), show_progress=False)
        out["bm25s_build_s"] = round(time.perf_counter() - t0, 2)
        out["bm25s"] = timed(lambda i: plain.retrieve(
            bm25s.tokenize([queries[i]], show_progress=False), k=10, show_progress=False,
            n_threads=1), args.queries)
        t0 = time.perf_counter()
        sparse = SparseIndex.build(texts)
        out["sparse_build_s"] = round(time.perf_counter() - t0, 2)
        out["sparse"] = timed(lambda i: sparse.search(queries[i], 10), args.queries)
        out["sparse"]["ratio_vs_bm25s"] = round(out["sparse"]["p50_ms"] / out["bm25s"]["p50_ms"], 2)

        def hybrid(i: int) -> None:  # Searcher.fuse's default path, minus SQLite
            _, rows = auto.search(xq[i : i + 1], 100)
            row = sparse.scores(queries[i])
            _, sp = sparse.top(row, 100)
            union = sorted(set(rows[0].tolist()) | set(sp))
            dense = auto.reconstruct(union) @ xq[i]
            fused = convex({"dense": dict(zip(union, dense.tolist(), strict=True)),
                            "sparse": dict(zip(union, row[union].tolist(), strict=True))},
                           {"dense": 1.0, "sparse": 1.0})
            rank(fused)[:10]

        out["hybrid"] = timed(hybrid, args.queries)
        out["hybrid"]["ratio_vs_bm25s_plus_flat"] = round(
            out["hybrid"]["p50_ms"] / (out["bm25s"]["p50_ms"] + out["flat"]["p50_ms"]), 2)
        log(f"bm25s {out['bm25s']} sparse {out['sparse']} hybrid {out['hybrid']}")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--ef", type=int, nargs="+", default=[32, 64, 128, 256])
    ap.add_argument("--sparse-max", type=int, default=100_000,
                    help="skip the BM25 and hybrid runs above this many passages")
    ap.add_argument("--threads", type=int, default=0, help="FAISS threads (0: its default)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    import faiss

    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    results = {"faiss_threads": faiss.omp_get_max_threads(),
               "sizes": [bench_size(n, args, rng) for n in args.sizes]}
    text = json.dumps(results, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
