"""Embedding backends on a build's passages: texts/s at several batch sizes, and agreement.

Each backend (torch fp32/bf16, ONNX Runtime fp32/int8; those this CPU and install offer)
embeds the same passages in windows of 256 as the build hands them to the embedder (sorted
by length inside each window), at each batch size asked for. The passages are the
calibration's timing set (a default build's length distribution, median ~100 tokens) or, with
`--kb`, every passage of a KB. Cosine to torch fp32 is reported per backend (the KB's
agreement gate is kb.embed_select's, on its probe set). Rounds are interleaved across
backends so that a burst of load on a shared machine hits all alike; the best round counts.

    python benchmarks/embed_backends.py                      # timing set, batches 8 16 32 64
    python benchmarks/embed_backends.py --kb /tmp/kb-default --limit 1024 --batch 16 64
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def passages(kb: str | None, limit: int | None) -> list[str]:
    if kb:
        from kb.store import KnowledgeBase

        texts = [p.text for p in KnowledgeBase(kb).current().iter_passages()]
        step = max(1, len(texts) // limit) if limit else 1
        return texts[::step][:limit] if limit else texts
    from kb.embed_select import load_timing

    timing = load_timing()
    if timing is None:
        raise SystemExit("corpora/embedding_probe_timing.json is missing")
    return list(timing["passages"])[:limit] if limit else list(timing["passages"])


def run(emb: Any, texts: list[str]) -> tuple[Any, float]:
    import numpy as np

    t = time.perf_counter()
    out = [emb.embed(texts[i : i + 256]) for i in range(0, len(texts), 256)]
    return np.concatenate(out), time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kb", help="embed this KB's passages instead of the timing set")
    ap.add_argument("--limit", type=int, default=None, help="at most N passages (spread out)")
    ap.add_argument("--batch", type=int, nargs="+", default=[8, 16, 32, 64])
    ap.add_argument("--backends", nargs="+", default=None, help="default: kb.embed_select's")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import numpy as np

    from kb.embed_select import candidates, cpu_info
    from kb.embedder import make_backend

    texts = passages(args.kb, args.limit)
    names = args.backends or candidates()
    embedders = {}
    for name in names:
        for bs in args.batch:
            emb = make_backend("all-MiniLM-L6-v2", name)
            emb.batch_size = bs
            emb.embed(texts[:48])  # loaded and warmed on the same shapes
            embedders[(name, bs)] = emb
    best: dict[tuple[str, int], float] = {}
    vecs: dict[str, Any] = {}
    for _ in range(args.rounds):
        for key, emb in embedders.items():
            out, secs = run(emb, texts)
            best[key] = min(best.get(key, float("inf")), secs)
            vecs.setdefault(key[0], out)
    ref = vecs.get("torch-fp32")
    rows = []
    for (name, bs), secs in best.items():
        cos = float(np.min(np.sum(vecs[name] * ref, axis=1))) if ref is not None else None
        rows.append({"backend": name, "batch": bs, "texts_per_s": round(len(texts) / secs, 1),
                     "cos_min_vs_fp32": None if cos is None else round(cos, 6)})
    load = [round(x, 2) for x in os.getloadavg()]
    out = {"cpu": cpu_info(), "texts": len(texts), "source": args.kb or "timing set",
           "loadavg_end": load, "results": rows}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    cpu = out["cpu"]
    print(f"CPU: {cpu['model']}, {cpu['cores']} cores; {' '.join(cpu['features'])}; "
          f"{len(texts)} passages ({out['source']}); load average at the end {load}")
    print(f"{'backend':<12} {'batch':>5} {'texts/s':>8} {'cos min vs fp32':>16}")
    for r in rows:
        print(f"{r['backend']:<12} {r['batch']:>5} {r['texts_per_s']:>8.1f} "
              f"{r['cos_min_vs_fp32'] if r['cos_min_vs_fp32'] is not None else '-':>16}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
