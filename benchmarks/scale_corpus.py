"""A large corpus for the streaming-build test: the shipped literature, repeated with varied ids.

Real text first: every document of the shipped corpora (corpora/literature, corpora/formats,
corpora/full) as read by MedKB's readers; beyond that the same documents again, each copy
with its own id (`<id>~r<k>`), so every copy is a distinct document with distinct passages
(ids are content hashes over the id). Written as JSONL files of FILE_RECORDS records.

`--vary mosaic` (the default): copy k of a document keeps its even-numbered sentences and
takes its odd-numbered ones from another shipped document (picked by k), so copies are
distinct texts made of real sentences. `--vary none` repeats the text exactly: ~12 identical
passages per text at 500k, which makes an exact top-10 a set of ties and is far from any
real corpus (an HNSW graph over identical points also searches worse).

    python benchmarks/scale_corpus.py --documents 180000 --out /tmp/ray-scale-corpus
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FILE_RECORDS = 1000  # 8 files a read batch: ~8,000 documents in memory at a time


def base_records() -> list[dict]:
    from ingest.readers import discover
    from ingest.stages import read_batch

    files, _ = discover([ROOT / "corpora" / "literature", ROOT / "corpora" / "formats",
                         ROOT / "corpora" / "full"])
    out, seen = [], set()
    for d, _ in read_batch(files).documents:
        if d.doc_id in seen or not d.text.strip():
            continue
        seen.add(d.doc_id)
        out.append({"id": d.external_id or d.doc_id, "title": d.title, "text": d.text,
                    "year": d.year})
    return out


def mosaic(base: list[dict], i: int, k: int) -> dict:
    """Copy k >= 1 of base[i]: its even sentences, interleaved with the odd sentences of
    another base document."""
    from kb.sentences import sentences

    rec = dict(base[i])
    other = base[(i + k * 7919) % len(base)]
    mine, theirs = sentences(rec["text"]), sentences(other["text"])
    out = []
    for j in range(max(len(mine), len(theirs))):
        src = mine if j % 2 == 0 or not theirs else theirs
        if j < len(src):
            out.append(src[j])
        elif j < len(mine):
            out.append(mine[j])
    rec["text"] = " ".join(out) or rec["text"]
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--documents", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--vary", choices=("mosaic", "none"), default="mosaic")
    args = ap.parse_args(argv)
    base = base_records()
    args.out.mkdir(parents=True, exist_ok=True)
    n = 0
    fh = None
    for i in range(args.documents):
        k = i // len(base)
        rec = dict(base[i % len(base)]) if not k or args.vary == "none" else \
            mosaic(base, i % len(base), k)
        if k:
            rec["id"] = f"{rec['id']}~r{k}"
        if n % FILE_RECORDS == 0:
            if fh:
                fh.close()
            fh = open(args.out / f"part-{n // FILE_RECORDS:05d}.jsonl", "w", encoding="utf-8")
        fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        n += 1
    if fh:
        fh.close()
    print(json.dumps({"documents": n, "distinct_real_documents": len(base), "vary": args.vary,
                      "files": -(-n // FILE_RECORDS)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
