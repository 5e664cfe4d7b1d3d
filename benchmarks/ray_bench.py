"""The same corpus built with `--engine local` and `--engine ray` (2 CPUs each) in one run:
passages/s for both, whether the two KBs are the same (kb.compare), and where the time went.

    python benchmarks/ray_bench.py                                   # MiniLM, MedQuAD subset
    python benchmarks/ray_bench.py --embedder hash-256 --corpus corpora/literature
    python benchmarks/ray_bench.py --json /tmp/ray-bench.json

The local engine runs in this process with torch limited to --cpus threads; the Ray engine
on a local Ray instance started with --cpus CPUs (`ray.init(num_cpus=...)`), one embedding
and one extraction actor per CPU. The projection for more cores is Amdahl's law over the
measured split: the stages that run on Ray workers (read, chunk, embed, extract: their wall
time here, spread over `cpus` workers) scale with the cluster's CPUs; the driver's share
(dedupe, enrichment, graph, BM25, writing) does not. It is a projection, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WORKER_STAGES = ("read", "chunk", "embed", "extract")
DRIVER_STAGES = ("graph", "enrich", "write")


def _build(corpus: list[Path], kb: Path, engine: str, embedder: str, cpus: int) -> dict[str, Any]:
    from ingest.options import default_graph_seeds
    from ingest.pipeline import BuildOptions, build

    # A stage's span runs from the previous progress event of any stage (when the build
    # moved on to it: Ray dataset and actor start-up count) to its own last event.
    spans: dict[str, list[float]] = {}
    last = [time.perf_counter()]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        span = spans.setdefault(stage, [last[0], now])
        span[1] = now
        last[0] = now

    shutil.rmtree(kb, ignore_errors=True)
    options = BuildOptions(embedder=embedder, graph_seeds=default_graph_seeds(), engine=engine,
                           ray_cpus=cpus)
    t0 = last[0] = time.perf_counter()
    report = build(corpus, kb, options, progress=progress)
    seconds = time.perf_counter() - t0
    stage_s = {k: round(b - a, 2) for k, (a, b) in spans.items()}
    return {"engine": engine, "seconds": round(seconds, 2), "passages": report["passages"],
            "documents": report["documents"],
            "passages_per_s": round(report["passages"] / seconds, 1), "stages_s": stage_s}


def project(run: dict[str, Any], cpus: int, targets: tuple[int, ...] = (4, 8, 16, 32, 64)
            ) -> dict[str, float]:
    """passages/s at more CPUs by Amdahl's law over this run's worker / driver split. The
    stages overlap, so the driver's share is taken as the spans of its own stages (graph,
    enrichment, writing: conservative, as enrichment partly overlaps embedding) and the
    rest of the wall time as the part that scales with the workers."""
    serial = min(run["seconds"], sum(run["stages_s"].get(s, 0.0) for s in DRIVER_STAGES))
    worker = run["seconds"] - serial
    return {str(n): round(run["passages"] / (serial + worker * cpus / n), 1) for n in targets}


def main(argv: list[str] | None = None) -> int:
    from kb.config import DEFAULT_EMBEDDER

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, nargs="+",
                    default=[ROOT / "corpora" / "literature" / "medquad_subset.jsonl"])
    ap.add_argument("--embedder", default=DEFAULT_EMBEDDER)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/medkb-ray-bench"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    if not args.embedder.startswith("hash-"):
        import torch

        torch.set_num_threads(args.cpus)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    local = _build(args.corpus, args.work / "local", "local", args.embedder, args.cpus)
    import ray

    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False,
             object_store_memory=512 * 1024 * 1024)
    try:
        remote = _build(args.corpus, args.work / "ray", "ray", args.embedder, args.cpus)
    finally:
        ray.shutdown()

    from kb.compare import compare_versions
    from kb.store import KnowledgeBase

    same = compare_versions(KnowledgeBase(args.work / "local").current(),
                            KnowledgeBase(args.work / "ray").current())
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "unknown")
    out = {"corpus": [str(c) for c in args.corpus], "embedder": args.embedder,
           "cpus": args.cpus, "cpu": cpu, "local": local, "ray": remote,
           "ray_vs_local": round(remote["passages_per_s"] / local["passages_per_s"], 3),
           "equality": same,
           "projection_passages_per_s": {"ray": project(remote, args.cpus),
                                         "method": "Amdahl over the measured worker/driver split"}}
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0 if same["same"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
