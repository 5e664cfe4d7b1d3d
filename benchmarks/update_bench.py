"""Update benchmark: what `medkb update` costs for a small change, against a full build of the
same new corpus in the same run, and whether the two KBs are the same (issue 6: "updating 1%
of the documents costs at most 3% of a full build's embedding work ... same passage ids, same
top-10 for the dev questions").

1. Full build of the default literature corpus (MedQuAD subset + PubMedQA dev abstracts).
2. Change `--fraction` of its documents (default 1%): half of them edited, a quarter removed,
   a quarter replaced by MedQuAD records from corpora/full that were not in the corpus.
3. `update` the KB; full build of the new corpus into a fresh directory.
4. Report embedded passages and seconds of both, their ratios, and the comparison: passage
   ids, largest vector difference, identical top-10 lists (hybrid search) for the 500
   PubMedQA dev questions.

One embedder instance, loaded and warmed up first, serves every build (load time excluded).

    python benchmarks/update_bench.py                          # hash embedder: seconds
    python benchmarks/update_bench.py --graph                  # with extraction and the graph
    python benchmarks/update_bench.py --embedder all-MiniLM-L6-v2 --json   # the real model
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LITERATURE = ROOT / "corpora" / "literature"
FULL = ROOT / "corpora" / "full" / "medquad_answered_corpus.jsonl.gz"
QUESTIONS = (ROOT.parent / "shared" / "data" / "eval" / "pubmedqa_pqal_dev.json",
             Path("/work/shared/data/eval/pubmedqa_pqal_dev.json"))


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def questions() -> list[str]:
    for path in QUESTIONS:
        if path.exists():
            return [item["QUESTION"] for item in json.loads(path.read_text("utf-8")).values()]
    return []


def edit_corpus(corpus: Path, n_docs: int, fraction: float, rng: random.Random) -> dict[str, int]:
    path = corpus / "medquad_subset.jsonl"
    records = [json.loads(ln) for ln in path.read_text("utf-8").splitlines() if ln.strip()]
    n = max(1, math.ceil(n_docs * fraction))
    n_removed = n // 4
    n_added = n // 4
    n_changed = n - n_removed - n_added
    picked = rng.sample(range(len(records)), n_changed + n_removed)
    for i in picked[:n_changed]:
        records[i]["text"] += " This answer was revised after new trial results."
    gone = set(picked[n_changed:])
    records = [r for i, r in enumerate(records) if i not in gone]
    have = {r["_id"] for r in records}
    with gzip.open(FULL, "rt", encoding="utf-8") as fh:
        extra = [r for r in map(json.loads, fh) if r["_id"] not in have]
    records += rng.sample(extra, n_added)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    return {"changed": n_changed, "removed": n_removed, "added": n_added}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--embedder", default="hash-256")
    ap.add_argument("--fraction", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--graph", action="store_true",
                    help="with the curated graph (corpora/graph) and entity/relation extraction")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import numpy as np

    from ingest.pipeline import BuildOptions, build, default_graph_seeds
    from kb.embedder import make_embedder
    from kb.store import KnowledgeBase
    from retrieval.search import Searcher

    rng = random.Random(args.seed)
    embedder = make_embedder(args.embedder)
    embedder.embed(["warm up"])
    opts = BuildOptions(embedder=args.embedder,
                        graph_seeds=default_graph_seeds() if args.graph else None)
    work = Path(tempfile.mkdtemp(prefix="medkb-update-"))
    try:
        corpus = work / "corpus"
        corpus.mkdir()
        for f in ("medquad_subset.jsonl", "pubmedqa_dev_abstracts.xml"):
            shutil.copy(LITERATURE / f, corpus / f)
        say("full build of the corpus ...")
        first = build([corpus], work / "kb", opts, embedder=embedder)
        edits = edit_corpus(corpus, first["documents"], args.fraction, rng)
        say(f"changed the corpus: {edits}; update ...")
        upd = build([corpus], work / "kb", opts, embedder=embedder, update=True)
        say("full build of the new corpus ...")
        full = build([corpus], work / "fresh", opts, embedder=embedder)

        a, b = KnowledgeBase(work / "kb").current(), KnowledgeBase(work / "fresh").current()
        same_ids = a.passage_ids() == b.passage_ids()
        diff = float(np.abs(a.vectors().reconstruct_all() - b.vectors().reconstruct_all()).max())
        qs = questions()
        sa, sb = Searcher(a, embedder), Searcher(b, embedder)
        same_top10 = sum([h.passage.passage_id for h in sa.search(q, 10)] ==
                         [h.passage.passage_id for h in sb.search(q, 10)] for q in qs)
        result: dict[str, Any] = {
            "embedder": args.embedder,
            "documents": full["documents"], "passages": full["passages"],
            "edits": edits,
            "graph": opts.graph_seeds is not None,
            "update": {k: upd.get(k) for k in ("added", "changed", "removed", "unchanged",
                                               "embedded", "reused_vectors", "chunked_documents",
                                               "extracted", "reused_extractions", "seconds")},
            "full_build": {k: full.get(k) for k in ("embedded", "chunked_documents", "extracted",
                                                    "seconds")},
            "embedded_ratio": round(upd["embedded"] / max(1, full["embedded"]), 4),
            "seconds_ratio": round(upd["seconds"] / max(1e-9, full["seconds"]), 4),
            "same_passage_ids": same_ids,
            "max_vector_difference": diff,
            "dev_questions": len(qs),
            "identical_top10": same_top10,
        }
        say(f"update: {upd['embedded']} passages embedded ({upd['reused_vectors']} reused) in "
            f"{upd['seconds']:.1f} s; full build: {full['embedded']} in {full['seconds']:.1f} s")
        say(f"ratios: embedding work {result['embedded_ratio']:.2%}, time "
            f"{result['seconds_ratio']:.2%}; same passage ids: {same_ids}; identical top-10 "
            f"for {same_top10}/{len(qs)} dev questions; max vector difference {diff:.2g}")
        if args.json:
            print(json.dumps(result, indent=1))
        ok = same_ids and result["embedded_ratio"] <= 0.03 and same_top10 == len(qs)
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
