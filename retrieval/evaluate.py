"""Retrieval evaluation on labelled data: BEIR-style folders and PubMedQA.

Passages are ranked, then collapsed to documents (a document ranks where its best passage
does) and scored against document-level qrels keyed by the document's external id (a JSONL
record's `_id`, a PubMed PMID). Dense, sparse and hybrid are measured in one run from the same
candidate lists, so the comparison is like for like.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from kb.errors import InputError

CUTOFFS = (1, 5, 10, 20)
PASSAGE_DEPTH = 100  # passages ranked per query before collapsing to documents
METRIC_NAMES = ("nDCG@10", "R@1", "R@5", "R@20", "MRR")

Qrels = dict[str, dict[str, int]]


@dataclass(frozen=True)
class EvalSet:
    """Queries (id -> text), qrels (query id -> {doc external id: grade}), corpus files."""

    name: str
    queries: dict[str, str]
    qrels: Qrels
    corpus: tuple[Path, ...] = ()


# -- loading ------------------------------------------------------------------------------------
def _read_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise InputError(str(path), f"line {n} is not JSON ({exc})") from exc


def read_qrels(path: Path) -> Qrels:
    """BEIR/TREC qrels: `query-id<TAB>corpus-id<TAB>score` (header optional) or the TREC
    four-column form `qid 0 docid grade`."""
    out: Qrels = {}
    with open(path, encoding="utf-8") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if len(row) == 1:
                row = row[0].split()
            if len(row) == 4:
                row = [row[0], row[2], row[3]]
            if len(row) != 3 or row[0] in ("query-id", "query_id", "qid"):
                continue
            try:
                grade = int(float(row[2]))
            except ValueError:
                continue
            out.setdefault(row[0], {})[row[1]] = grade
    if not out:
        raise InputError(str(path), "no qrels rows (expected query-id, corpus-id, score)")
    return out


def load_beir(folder: Path, qrels: Path | None = None, split: str = "test") -> EvalSet:
    """A BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv."""
    folder = Path(folder)
    corpus = folder / "corpus.jsonl"
    queries_file = folder / "queries.jsonl"
    qrels = qrels or folder / "qrels" / f"{split}.tsv"
    for f in (corpus, queries_file, qrels):
        if not f.exists():
            raise InputError(str(f), "not found: a BEIR folder holds corpus.jsonl, "
                             "queries.jsonl and qrels/test.tsv (or give --qrels FILE)")
    judged = read_qrels(qrels)
    queries = {str(r.get("_id", r.get("id"))): str(r.get("text", ""))
               for r in _read_jsonl(queries_file)}
    queries = {q: t for q, t in queries.items() if q in judged and t.strip()}
    judged = {q: {d: g for d, g in docs.items() if g > 0} for q, docs in judged.items()
              if q in queries}
    judged = {q: d for q, d in judged.items() if d}
    return EvalSet(folder.name, {q: queries[q] for q in judged}, judged, (corpus,))


def load_pubmedqa(path: Path, corpus: Path | None = None) -> EvalSet:
    """PubMedQA (PQA-L JSON keyed by PMID): each question's relevant document is its own
    abstract, found in the KB by PMID."""
    try:
        items = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(str(path), f"not a PubMedQA JSON file ({exc})") from exc
    if not isinstance(items, dict) or not items:
        raise InputError(str(path), "expected a JSON object keyed by PMID")
    queries = {str(pmid): str(it["QUESTION"]) for pmid, it in items.items()}
    qrels = {pmid: {pmid: 1} for pmid in queries}
    return EvalSet("pubmedqa", queries, qrels, (corpus,) if corpus else ())


# -- metrics ------------------------------------------------------------------------------------
def collapse(ranked: Sequence[tuple[int, float]], doc_of: Mapping[int, str | None]) -> list[str]:
    """Passage ranking -> document ranking (first occurrence wins)."""
    seen: set[str] = set()
    out = []
    for o, _ in ranked:
        d = doc_of.get(o)
        if d is not None and d not in seen:
            seen.add(d)
            out.append(d)
    return out


def query_metrics(docs: Sequence[str], relevant: Mapping[str, int]) -> dict[str, float]:
    """nDCG@10 (linear gain, as trec_eval), R@1/5/20 and MRR over the ranked documents."""
    rel_total = sum(1 for g in relevant.values() if g > 0)
    out: dict[str, float] = {}
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(docs[:10]))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    out["nDCG@10"] = dcg / idcg if idcg > 0 else 0.0
    for c in (1, 5, 20):
        hits = sum(1 for d in docs[:c] if relevant.get(d, 0) > 0)
        out[f"R@{c}"] = hits / rel_total if rel_total else 0.0
    rr = 0.0
    for i, d in enumerate(docs):
        if relevant.get(d, 0) > 0:
            rr = 1.0 / (i + 1)
            break
    out["MRR"] = rr
    return out


def mean_metrics(per_query: Iterable[Mapping[str, float]]) -> dict[str, float]:
    rows = list(per_query)
    if not rows:
        return {m: 0.0 for m in METRIC_NAMES}
    return {m: round(sum(r[m] for r in rows) / len(rows), 4) for m in METRIC_NAMES}


# -- running ------------------------------------------------------------------------------------
@dataclass
class Prepared:
    """Per-query candidate lists, computed once and reused for every method and config."""

    ids: list[str]
    texts: list[str]
    vectors: Any
    lists: list[dict[str, list[tuple[int, float]]]]
    doc_of: dict[int, str | None]
    seconds: float


def doc_map(version: Any) -> dict[int, str | None]:
    """Passage ordinal -> its document's external id (else its doc id)."""
    rows = version.db.execute(
        "SELECT p.ordinal, COALESCE(d.external_id, d.doc_id) FROM passages p "
        "JOIN documents d ON d.doc_id = p.doc_id").fetchall()
    return {int(o): (str(e) if e is not None else None) for o, e in rows}


def prepare(searcher: Any, evalset: EvalSet, depth: int = PASSAGE_DEPTH,
            progress: Callable[[int, int], None] | None = None) -> Prepared:
    t0 = time.perf_counter()
    ids = list(evalset.queries)
    texts = [evalset.queries[q] for q in ids]
    vectors = searcher.embedder.embed(texts) if texts else None
    pool = max(depth, searcher.config.depth)
    lists = []
    for i, text in enumerate(texts):
        lists.append(searcher.candidates(text, pool, method="hybrid",
                                         query_vector=vectors[i : i + 1]))
        if progress and ((i + 1) % 50 == 0 or i + 1 == len(texts)):
            progress(i + 1, len(texts))
    return Prepared(ids, texts, vectors, lists, doc_map(searcher.version),
                    time.perf_counter() - t0)


def run_method(searcher: Any, prep: Prepared, evalset: EvalSet, method: str,
               depth: int = PASSAGE_DEPTH) -> tuple[dict[str, float], list[dict[str, float]]]:
    per_query = []
    for i, qid in enumerate(prep.ids):
        lists = prep.lists[i]
        if method == "hybrid":
            ranked = searcher.fuse(prep.texts[i], lists, prep.vectors[i : i + 1], depth)[:depth]
        else:
            ranked = lists[method][:depth]
        per_query.append(query_metrics(collapse(ranked, prep.doc_of), evalset.qrels[qid]))
    return mean_metrics(per_query), per_query


def evaluate(searcher: Any, evalset: EvalSet, methods: Sequence[str] = ("dense", "sparse", "hybrid"),
             progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """`{"n_queries", "methods": {method: metrics}, "fusion", ...}`."""
    prep = prepare(searcher, evalset, progress=progress)
    missing = _unmatched(evalset, prep.doc_of)
    out: dict[str, Any] = {"dataset": evalset.name, "n_queries": len(prep.ids),
                           "kb_version": searcher.version.id,
                           "embedder": searcher.version.embedder.get("model"),
                           "passages": len(prep.doc_of), "depth_passages": PASSAGE_DEPTH,
                           "methods": {}, "fusion": asdict(searcher.config)}
    for m in methods:
        t0 = time.perf_counter()
        out["methods"][m], _ = run_method(searcher, prep, evalset, m)
        out["methods"][m]["seconds"] = round(time.perf_counter() - t0, 3)
    out["candidate_seconds"] = round(prep.seconds, 3)
    if missing:
        out["judged_docs_not_in_kb"] = missing
    return out


def _unmatched(evalset: EvalSet, doc_of: Mapping[int, str | None]) -> int:
    have = set(doc_of.values())
    return sum(1 for docs in evalset.qrels.values() for d in docs if d not in have)


# -- tuning -------------------------------------------------------------------------------------
TUNE_GRID: dict[str, Sequence[Any]] = {
    "fusion": ("rrf", "convex"),
    "dense_weight": (0.5, 0.75, 1.0, 1.5, 2.0),
    "rrf_k": (10.0, 60.0),
}


def tune(searcher: Any, evalset: EvalSet, grid: Mapping[str, Sequence[Any]] | None = None,
         objective: str = "nDCG@10", prep: Prepared | None = None) -> dict[str, Any]:
    """Grid search over fusion settings (sparse weight fixed at 1); returns every point and
    the best by `objective` (ties: R@1, then the plainer setting)."""
    grid = dict(grid or TUNE_GRID)
    prep = prep or prepare(searcher, evalset)
    base = searcher.config
    points = []
    keys = list(grid)
    seen = set()
    for values in itertools.product(*(grid[k] for k in keys)):
        cfg = replace(base, sparse_weight=1.0, **dict(zip(keys, values, strict=True)))
        if cfg.fusion == "convex":
            cfg = replace(cfg, rrf_k=base.rrf_k)  # rrf_k plays no part
        if cfg in seen:
            continue
        seen.add(cfg)
        searcher.config = cfg
        metrics, _ = run_method(searcher, prep, evalset, "hybrid")
        points.append({"config": asdict(cfg), "metrics": metrics})
    searcher.config = base
    best = max(points, key=lambda p: (p["metrics"][objective], p["metrics"]["R@1"]))
    return {"objective": objective, "best": best, "points": points}
