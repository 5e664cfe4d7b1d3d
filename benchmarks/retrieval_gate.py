"""The retrieval gate by hand: a backend's nDCG@10 / R@1 on the labelled probe against fp32.

`auto` admits a backend that does not agree with fp32 (int8) for a KB of its own only when it
retrieves `corpora/embedding_retrieval_probe.json` within 0.005 of torch fp32 on the machine
itself (kb.embed_select). This script prints the same figures for any backends, and can save
and reload vectors, so the int8 kernels of a CPU you do not have can be checked under
emulation: QEMU's user mode with an AVX2-only CPU model makes ONNX Runtime take its AVX2 int8
kernels (16-bit saturating sums, no VNNI). Emulated seconds mean nothing; the vectors are
the ones that CPU computes.

    python benchmarks/retrieval_gate.py torch-fp32 onnx-int8 openvino-bf16
    python benchmarks/retrieval_gate.py torch-fp32 --save /tmp/gate           # natively
    qemu-x86_64 -cpu Haswell .venv/bin/python benchmarks/retrieval_gate.py onnx-int8 \\
        --save /tmp/gate --threads 2                                          # ~20 min
    python benchmarks/retrieval_gate.py --load /tmp/gate                      # compare
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kb.embed_select import (  # noqa: E402
    RETRIEVAL_MAX_DROP,
    agreement,
    load_retrieval_probe,
    retrieval_quality,
    retrieves_as_well,
)


def embed(names: list[str], model: str, texts: list[str], threads: int | None,
          save: Path | None) -> dict[str, np.ndarray]:
    from kb.embedder import make_backend

    out = {}
    for name in names:
        emb = make_backend(model, name)
        if threads and hasattr(emb, "threads"):
            emb.threads = threads
        t = time.perf_counter()
        out[name] = emb.embed(texts)
        print(f"{name}: {len(texts)} texts in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        if save:
            save.mkdir(parents=True, exist_ok=True)
            np.save(save / f"{name}.npy", out[name])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("backends", nargs="*", help="backends to embed the probe with now")
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--save", type=Path, help="write each backend's vectors here (NAME.npy)")
    ap.add_argument("--load", type=Path, help="also compare the vectors saved here")
    ap.add_argument("--threads", type=int, help="ONNX Runtime threads")
    args = ap.parse_args()
    probe = load_retrieval_probe()
    if probe is None:
        print("no corpora/embedding_retrieval_probe.json", file=sys.stderr)
        return 1
    nq = len(probe["queries"])
    vecs = embed(args.backends, args.model, probe["queries"] + probe["passages"],
                 args.threads, args.save)
    if args.load:
        vecs.update({f.stem: np.load(f) for f in sorted(args.load.glob("*.npy"))
                     if f.stem not in vecs})
    if "torch-fp32" not in vecs:
        if args.save:
            return 0  # vectors saved for a later --load
        print("torch-fp32 (the reference) neither embedded nor loaded", file=sys.stderr)
        return 1
    fp32 = retrieval_quality(vecs["torch-fp32"], nq)
    rows = {}
    for name, v in vecs.items():
        q = retrieval_quality(v, nq)
        rows[name] = {**q, "as_well_as_fp32": retrieves_as_well(q, fp32),
                      **agreement(v, vecs["torch-fp32"], nq)}
    print(json.dumps({"probe": probe["sha256"], "queries": nq, "max_drop": RETRIEVAL_MAX_DROP,
                      "backends": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
