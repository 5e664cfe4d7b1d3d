"""Impact of a KB update on 10,000 recorded generations: the indexed impact step against a
peer that re-audits every generation's sources (reads each record, looks up each cited
passage in the new version), measured in the same run.

    python benchmarks/impact_bench.py [--generations 10000] [--distinct] [--workdir /tmp/x]

Setup (not timed): a KB of 50 MedQuAD records with the curated graph (hash embedder), 200
answered questions (extractive backend), copied into a ledger of N generations (chained like
`Ledger.append`, in one transaction), then an update that removes 3 documents, edits 2 and
retracts 1 (the six most cited). `--distinct` makes every copy a distinct question, so no two
generations share a re-check (the worst case for the check part).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _setup(work: Path, n: int, distinct: bool) -> tuple[Path, str, dict]:
    from generation.answer import AskOptions, answer_question
    from generation.backends.extractive import ExtractiveBackend
    from generation.verify import make_checker
    from ingest.pipeline import BuildOptions, build, default_graph_seeds
    from kb.ledger import GENESIS, Ledger, canonical, chain_hash
    from kb.store import KnowledgeBase, now_iso
    from retrieval.search import Searcher

    records, seen = [], set()
    for line in (ROOT / "corpora" / "literature" / "medquad_subset.jsonl").open():
        r = json.loads(line)
        if r["title"] not in seen:
            seen.add(r["title"])
            records.append(r)
        if len(records) == 50:
            break
    corpus = work / "corpus"
    corpus.mkdir(parents=True)
    (corpus / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    kb = work / "kb"
    opts = BuildOptions(embedder="hash-256", graph_seeds=default_graph_seeds())
    build([corpus], kb, opts)
    v1 = KnowledgeBase(kb).current()
    searcher = Searcher(v1)
    checker = make_checker(v1, searcher.embedder)
    backend = ExtractiveBackend(searcher.embedder)
    forms = ("What is {}?", "What causes {}?", "How is {} treated?", "What are the symptoms of {}?")
    answered = [answer_question(f.format(r["title"]), v1, searcher, backend, AskOptions(k=3),
                                checker=checker) for r in records for f in forms]

    # N generations in one transaction, chained exactly as Ledger.append chains them.
    ledger = Ledger(kb)
    con = ledger._connect()
    con.execute("BEGIN")
    prev, digest = GENESIS, GENESIS
    for seq in range(1, n + 1):
        rec = dict(answered[(seq - 1) % len(answered)])
        if distinct:
            rec["question"] = f"{rec['question']} (case {seq})"
        created = now_iso()
        body = canonical({**rec, "kind": "ask"})
        digest = chain_hash(prev, seq, created, body)
        con.execute("INSERT INTO generations VALUES (?,?,?,?,?,?,?,?)",
                    (seq, digest[:16], created, "ask", rec["kb_version"], prev, digest, body))
        prev = digest
    con.execute("COMMIT")
    con.close()
    ledger.head_path.write_text(json.dumps({"count": n, "hash": digest}))

    cites = Counter(c["doc_id"] for rec in answered for c in rec["citations"] if c.get("doc_id"))
    top = [d for d, _ in cites.most_common(6)]
    ext = {d.doc_id: d.external_id for d in v1.iter_documents()}
    removed, edited, retracted = {ext[d] for d in top[:3]}, {ext[d] for d in top[3:5]}, ext[top[5]]
    kept = [dict(r, text=r["text"] + " Revised.") if r["_id"] in edited else r
            for r in records if r["_id"] not in removed]
    (corpus / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    lst = work / "retractions.csv"
    lst.write_text(f"id,reason\n{retracted},benchmark\n")
    from dataclasses import replace

    report = build([corpus], kb, replace(opts, retractions=(lst,)), update=True)
    return kb, v1.id, report


def _peer(kb: Path) -> set[str]:
    """Re-audit every generation's sources: parse the record, look up each cited passage."""
    from generation.impact import present_passages
    from kb.retractions import excluded_docs
    from kb.store import KnowledgeBase

    current = KnowledgeBase(kb).current()
    gone = excluded_docs(current)
    con = sqlite3.connect(kb / "ledger.sqlite")
    out = set()
    for gid, body in con.execute("SELECT id, record FROM generations ORDER BY seq"):
        rec = json.loads(body)
        cits = [c for c in rec.get("citations") or [] if c.get("passage_id")]
        there = present_passages(current, [c["passage_id"] for c in cits])
        if any(c["passage_id"] not in there or c["doc_id"] in gone for c in cits):
            out.add(gid)
    con.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--generations", type=int, default=10_000)
    ap.add_argument("--distinct", action="store_true")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    from generation.impact import affected
    from kb.store import KnowledgeBase

    work = args.workdir or Path(tempfile.mkdtemp(prefix="medkb-impact-"))
    shutil.rmtree(work, ignore_errors=True)
    t = time.perf_counter()
    kb, since, report = _setup(work, args.generations, args.distinct)
    print(f"setup {time.perf_counter() - t:.1f}s: {args.generations} generations; update: "
          f"removed {report['removed']}, changed {report['changed']}, "
          f"retracted {report['retractions']['flagged']}")
    store = KnowledgeBase(kb)

    t = time.perf_counter()
    affected(store, since=since, checks=False)
    first = time.perf_counter() - t  # includes indexing the ledger (once; appends keep it)
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        src = affected(store, since=since, checks=False)
        runs.append(time.perf_counter() - t)
    indexed = min(runs)
    t = time.perf_counter()
    full = affected(store, since=since)
    with_checks = time.perf_counter() - t
    t = time.perf_counter()
    peer = _peer(kb)
    peer_s = time.perf_counter() - t

    mine = {a["id"] for a in src["affected"]}
    assert mine == peer, (len(mine), len(peer))
    kinds = Counter(k for a in full["affected"] for k in a["kinds"])
    print(f"affected: {full['affected_count']} of {full['generations']} ({dict(kinds)}); "
          f"check candidates {full.get('check_candidates', 0)}, distinct re-checks "
          f"{full['rechecked']}")
    print(f"impact step, sources (indexed):  {indexed:.3f}s")
    print(f"impact step, sources + checks:   {with_checks:.3f}s")
    print(f"first call (indexes the ledger): {first:.3f}s")
    print(f"peer: re-audit every generation:  {peer_s:.3f}s  -> indexed is "
          f"{peer_s / indexed:.1f}x faster; same generations: {mine == peer}")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
