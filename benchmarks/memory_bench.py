"""Memory of the searchable vector index at 1M passages: fp32 / fp16 / PQ, flat / IVF / HNSW.

For each variant the index is built here, written to disk, and then loaded and searched in a
fresh child process, which reports its resident memory (VmRSS; RssAnon = the process's own
heap, RssFile = mapped file pages the kernel may drop), single-query latency (p50, p95) and
recall@10 against the exact top 10 (brute force over the fp32 vectors). Each variant is loaded
twice: read into memory, and memory-mapped (faiss IO_FLAG_MMAP_IFC for flat codes, which
kb.vectors uses when it opens a version; IO_FLAG_MMAP for IVF lists).

Vectors are benchmarks/search_bench.py's synthetic sentence-embedding-shaped vectors (384-d).

    python benchmarks/memory_bench.py --n 1000000 --json /tmp/medkb-mem.json
    python benchmarks/memory_bench.py --n 200000 --variants hnsw-fp16   # HNSW builds are slow here
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

VARIANTS = ("flat-fp32", "flat-fp16", "ivf-fp16", "ivf-pq", "hnsw-fp16")


def make_index(kind: str, dim: int, n: int) -> Any:
    import faiss

    ip = faiss.METRIC_INNER_PRODUCT
    nlist = max(64, int(2 * np.sqrt(n)))  # 2,000 lists at 1M
    if kind == "flat-fp32":
        return faiss.IndexFlatIP(dim)
    if kind == "flat-fp16":
        return faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, ip)
    if kind == "ivf-fp16":
        return faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dim), dim, nlist,
                                             faiss.ScalarQuantizer.QT_fp16, ip)
    if kind == "ivf-pq":  # 48 bytes a vector (8 dims per sub-quantizer)
        return faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, dim // 8, 8, ip)
    if kind == "hnsw-fp16":
        from kb.vectors import HNSW_EF_CONSTRUCTION, HNSW_M

        index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_fp16, HNSW_M, ip)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        return index
    raise ValueError(kind)


def params_for(kind: str) -> list[int]:
    if kind.startswith("ivf"):
        return [16, 32, 64, 128, 256]  # nprobe
    if kind.startswith("hnsw"):
        return [64, 128, 256, 512]  # efSearch
    return [0]


def rss() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key = line.split(":", 1)[0]
        if key in ("VmRSS", "RssAnon", "RssFile"):
            out[key] = round(int(line.split()[1]) / 1024, 1)
    return out


def probe(path: Path, kind: str, mmap: bool, work: Path) -> dict[str, Any]:
    """In a fresh process: load, search each query alone, measure."""
    import faiss

    faiss.omp_set_num_threads(1)
    queries = np.load(work / "queries.npy")
    exact = np.load(work / "exact.npy")
    before = rss()
    flag = 0
    if mmap:
        flag = faiss.IO_FLAG_MMAP if kind.startswith("ivf") else faiss.IO_FLAG_MMAP_IFC
        flag |= faiss.IO_FLAG_READ_ONLY
    t = time.perf_counter()
    index = faiss.read_index(str(path), flag)
    load_s = time.perf_counter() - t
    loaded = rss()
    rows = []
    for p in params_for(kind):
        if kind.startswith("ivf"):
            index.nprobe = p
        elif kind.startswith("hnsw"):
            index.hnsw.efSearch = p
        lat, hits = [], 0
        for i, q in enumerate(queries):
            t = time.perf_counter()
            _, got = index.search(q[None, :], 10)
            lat.append((time.perf_counter() - t) * 1000)
            hits += len(set(got[0].tolist()) & set(exact[i].tolist()))
        rows.append({"param": p, "recall_at_10": round(hits / exact.size, 4),
                     "p50_ms": round(float(np.percentile(lat, 50)), 3),
                     "p95_ms": round(float(np.percentile(lat, 95)), 3), "rss_mb": rss()})
    return {"kind": kind, "mmap": mmap, "file_mb": round(path.stat().st_size / 2**20, 1),
            "load_s": round(load_s, 2), "rss_before_mb": before, "rss_loaded_mb": loaded,
            "runs": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS[:4]), choices=VARIANTS)
    ap.add_argument("--work", type=Path, default=Path("/tmp/medkb-mem-bench"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--probe", nargs=3, metavar=("PATH", "KIND", "MMAP"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe:
        path, kind, mm = args.probe
        print(json.dumps(probe(Path(path), kind, mm == "1", args.work)))
        return 0

    import faiss

    from benchmarks.search_bench import synthetic_vectors

    args.work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    x = synthetic_vectors(args.n + args.queries, args.dim, rng)
    queries, x = x[: args.queries].copy(), x[args.queries :]
    _, exact = faiss.knn(queries, x, 10, metric=faiss.METRIC_INNER_PRODUCT)
    np.save(args.work / "queries.npy", queries)
    np.save(args.work / "exact.npy", exact)
    print(f"vectors and exact neighbours: {time.perf_counter() - t:.0f}s", file=sys.stderr)
    results = []
    for kind in args.variants:
        path = args.work / f"{kind}-{args.n}.faiss"
        build_s = None
        if not path.exists():
            index = make_index(kind, args.dim, args.n)
            t = time.perf_counter()
            if not index.is_trained:
                index.train(x[rng.choice(len(x), size=min(len(x), 80_000), replace=False)])
            for lo in range(0, len(x), 100_000):  # added in chunks
                index.add(x[lo : lo + 100_000])
            build_s = round(time.perf_counter() - t, 1)
            faiss.write_index(index, str(path))
            del index
        for mm in ("0", "1"):
            out = subprocess.run([sys.executable, __file__, "--work", str(args.work), "--probe",
                                  str(path), kind, mm], capture_output=True, text=True, check=True)
            row = json.loads(out.stdout)
            row["build_s"] = build_s
            results.append(row)
            print(json.dumps(row), file=sys.stderr)
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text()
                .splitlines() if ln.startswith("model name")), "unknown")
    doc = {"n": args.n, "dim": args.dim, "queries": args.queries, "cpu": cpu,
           "threads_per_query": 1, "results": results}
    text = json.dumps(doc, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
