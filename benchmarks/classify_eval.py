"""How well does the text model (ingest.classify, `source="model"`) recover evidence types?

Reference labels come from what indexers recorded, never from the text:
- PubMedQA dev abstracts (500): MeSH study-design descriptors, where they agree
  (ingest.classify.mesh_design_votes gives exactly one class); abstracts whose descriptors
  conflict (e.g. "Double-Blind Method" + "Prospective Studies") or are absent are left out;
- the PubMed XML sample: its publication types;
- MedQuAD consumer-health records (a deterministic sample across its sources): their source
  metadata.
The cues and prototypes were tuned by reading errors on the odd-numbered PubMedQA abstracts
and on MedQuAD records outside the sample used here; accuracy is also given per origin, so
the held-out half can be read on its own.
The same records are then classified with their metadata stripped (text only), and we report
accuracy, a majority-class baseline, per-class recall and the confusion matrix; plus topic
agreement (MeSH-derived vs text-derived) on PubMedQA, and the metadata-first label
distribution over the default corpus.

    python benchmarks/classify_eval.py [--embedder all-MiniLM-L6-v2|hash-256] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.classify import (  # noqa: E402
    EVIDENCE_TYPES,
    classify_documents,
    evidence_from_format,
    evidence_from_publication_types,
    mesh_design_votes,
    topic_from_mesh,
)
from ingest.readers import discover, read_source  # noqa: E402
from kb.records import Document  # noqa: E402

PUBMEDQA = ROOT / "corpora/literature/pubmedqa_dev_abstracts.xml"
PUBMED_SAMPLE = ROOT / "corpora/formats/pubmed/pubmed-29768149.xml"
MEDQUAD = ROOT / "corpora/literature/medquad_subset.jsonl"


def _embedder(name: str | None):
    from kb.embedder import make_embedder

    if name:
        return make_embedder(name)
    try:
        from kb.models import embedder_path

        embedder_path()
        return make_embedder("all-MiniLM-L6-v2")
    except Exception as exc:  # no provisioned model: say so, use the fake
        print(f"real embedder unavailable ({exc}); using hash-256", file=sys.stderr)
        return make_embedder("hash-256")


def reference_set(medquad_n: int = 100) -> tuple[list[tuple[Document, str, str]], dict]:
    """(doc, reference label, where the label came from) and counts of what was left out."""
    out: list[tuple[Document, str, str]] = []
    skipped = Counter()
    for i, doc in enumerate(read_source(PUBMEDQA)):
        votes = mesh_design_votes(doc.metadata.get("mesh") or ())
        if len(votes) == 1:
            half = "tuning" if i % 2 else "held-out"
            out.append((doc, next(iter(votes)), f"pubmedqa/mesh ({half} half)"))
        else:
            skipped["pubmedqa: conflicting design descriptors" if votes
                    else "pubmedqa: no design descriptor"] += 1
    for doc in read_source(PUBMED_SAMPLE):
        hit = evidence_from_publication_types(doc.metadata.get("publication_types") or ())
        if hit:
            out.append((doc, hit[0], "pubmed/publication_types"))
    # every k-th MedQuAD record, so all its sources are represented (the cues were tuned on
    # records at offset 6 of each stride, never these)
    medquad = list(read_source(MEDQUAD))
    step = max(1, len(medquad) // medquad_n)
    for doc in medquad[::step][:medquad_n]:
        hit = evidence_from_format(doc)
        if hit:
            out.append((doc, hit[0], "medquad/source"))
    return out, dict(skipped)


def confusion(pairs: list[tuple[str, str]]) -> tuple[list[str], list[list[int]]]:
    labels = [c for c in EVIDENCE_TYPES if any(c in p for p in pairs)]
    index = {c: i for i, c in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for ref, pred in pairs:
        matrix[index[ref]][index[pred]] += 1
    return labels, matrix


def _table(labels: list[str], matrix: list[list[int]]) -> str:
    short = {c: c[:10] for c in labels}
    head = "| reference \\ predicted | " + " | ".join(short[c] for c in labels) + " | n |"
    rule = "|---" * (len(labels) + 2) + "|"
    rows = [f"| {c} | " + " | ".join(str(v) for v in row) + f" | {sum(row)} |"
            for c, row in zip(labels, matrix, strict=True)]
    return "\n".join([head, rule, *rows])


def evaluate(embedder, medquad_n: int) -> dict:
    refs, skipped = reference_set(medquad_n)
    all_pq = list(read_source(PUBMEDQA))
    pool = {d.doc_id: replace(d, metadata={}) for d in [*all_pq, *(d for d, _, _ in refs)]}
    t0 = time.perf_counter()
    preds = classify_documents(list(pool.values()), embedder, use_metadata=False)
    seconds = time.perf_counter() - t0
    pairs = [(ref, preds[doc.doc_id].evidence_type) for doc, ref, _ in refs]
    labels, matrix = confusion(pairs)
    correct = sum(r == p for r, p in pairs)
    ref_counts = Counter(r for r, _ in pairs)
    majority = ref_counts.most_common(1)[0]
    recall = {c: round(sum(1 for r, p in pairs if r == c and p == c) / n, 3)
              for c, n in ref_counts.items()}
    by_origin = {}
    for origin in sorted({o for _, _, o in refs}):
        sub = [(r, preds[d.doc_id].evidence_type) for d, r, o in refs if o == origin]
        by_origin[origin] = {"n": len(sub), "accuracy": round(sum(r == p for r, p in sub) / len(sub), 3)}
    pubmedqa = [(d, r) for d, r, o in refs if o.startswith("pubmedqa/mesh")]
    pq_pairs = [(r, preds[d.doc_id].evidence_type) for d, r in pubmedqa]
    pq_labels, pq_matrix = confusion(pq_pairs)

    # topic: MeSH-derived vs text-only, on the PubMedQA abstracts that MeSH places
    topic_pairs = []
    for d in all_pq:
        mesh_topic = topic_from_mesh(d.metadata.get("mesh") or (), d.metadata.get("mesh_major") or ())
        if mesh_topic:
            topic_pairs.append((mesh_topic[0], preds[d.doc_id].topic))
    sample = next(d for d, _, o in refs if o == "pubmed/publication_types")
    return {
        "embedder": embedder.model_id,
        "reference": {"n": len(pairs), "by_label": dict(ref_counts), "skipped": skipped},
        "accuracy": round(correct / len(pairs), 3),
        "majority_baseline": {"label": majority[0], "accuracy": round(majority[1] / len(pairs), 3)},
        "macro_recall": round(sum(recall.values()) / len(recall), 3),
        "recall": recall,
        "by_origin": by_origin,
        "pubmedqa_only": {"n": len(pq_pairs), "labels": pq_labels, "matrix": pq_matrix},
        "confusion": {"labels": labels, "matrix": matrix},
        "pubmed_sample_text_only": preds[sample.doc_id].evidence_type,
        "pubmedqa_text_prediction_all_500": dict(Counter(preds[d.doc_id].evidence_type
                                                         for d in all_pq)),
        "topic_agreement_mesh_vs_text": {
            "n": len(topic_pairs),
            "agreement": round(sum(a == b for a, b in topic_pairs) / max(1, len(topic_pairs)), 3),
        },
        "seconds_text_model": round(seconds, 1),
    }


def corpus_distribution(embedder, corpus: Path) -> dict:
    files, _ = discover([corpus])
    docs: list[Document] = []
    seen = set()
    for path in files:
        for doc in read_source(path):
            if doc.doc_id not in seen and doc.text.strip():
                seen.add(doc.doc_id)
                docs.append(doc)
    result = classify_documents(docs, embedder)
    return {
        "documents": len(docs),
        "evidence_type": dict(Counter(c.evidence_type for c in result.values()).most_common()),
        "source": dict(Counter(c.source for c in result.values()).most_common()),
        "evidence_by_source": dict(Counter(f"{c.source}:{c.evidence_type}"
                                           for c in result.values()).most_common()),
        "topic": dict(Counter(c.topic for c in result.values()).most_common()),
        "topic_source": dict(Counter(c.topic_source for c in result.values()).most_common()),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--embedder", default=None, help="default: all-MiniLM-L6-v2 when provisioned")
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpora")
    ap.add_argument("--medquad", type=int, default=100, help="MedQuAD records in the reference")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args(argv)
    embedder = _embedder(args.embedder)
    res = evaluate(embedder, args.medquad)
    res["corpus_distribution"] = corpus_distribution(embedder, args.corpus)
    print(f"embedder: {res['embedder']}")
    print(f"reference records: {res['reference']['n']} {res['reference']['by_label']}; "
          f"left out: {res['reference']['skipped']}")
    print(f"text-only accuracy: {res['accuracy']}  (majority baseline "
          f"{res['majority_baseline']['label']}: {res['majority_baseline']['accuracy']}); "
          f"macro recall {res['macro_recall']}")
    print(f"recall per class: {res['recall']}")
    print(f"by origin: {res['by_origin']}")
    print(_table(res["confusion"]["labels"], res["confusion"]["matrix"]))
    print(f"PubMed sample, text only: {res['pubmed_sample_text_only']}")
    print(f"PubMedQA 500, text-only predictions: {res['pubmedqa_text_prediction_all_500']}")
    print(f"topic agreement MeSH vs text: {res['topic_agreement_mesh_vs_text']}")
    print("corpus distribution (metadata first):")
    print(json.dumps(res["corpus_distribution"], indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n", "utf-8")


if __name__ == "__main__":
    main()
