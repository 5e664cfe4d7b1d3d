"""MedQuAD "symptoms" answers -> symptom descriptions with a gold diagnosis (a dev set).

    python benchmarks/make_dx_cases.py [N] > tests/fixtures/dx_medquad_cases.jsonl

Each case: the findings the answer names (its own words, in its order, at most six, the
disease's name and anything negated left out) in one sentence, and the record's title as the
gold diagnosis. Cases come first from the default corpus's symptoms answers
(corpora/literature/medquad_subset.jsonl), then from the full set; a case is evaluated on a KB
built without its document (benchmarks/diagnose_eval.py --help). Deterministic.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generation.clinical.findings import FindingMatcher  # noqa: E402
from ingest.curated import load_curated  # noqa: E402
from kb.graph import KnowledgeGraph  # noqa: E402

OPENERS = ("A patient has", "The patient reports", "Symptoms include", "She has", "He has had")


def records():
    seen = set()
    for line in (ROOT / "corpora/literature/medquad_subset.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        seen.add(rec["_id"])
        yield rec, "default"
    with gzip.open(ROOT / "corpora/full/medquad_answered_corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if rec["_id"] not in seen:
                yield rec, "full"


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 200
    ents, edges = load_curated(ROOT / "corpora" / "graph")
    graph = KnowledgeGraph.build(ents, edges)
    matcher = FindingMatcher(graph)
    out = 0
    titles = set()
    for rec, corpus in records():
        if out >= n:
            break
        if (rec.get("metadata") or {}).get("qtype") != "symptoms" or rec["title"] in titles:
            continue
        title_words = {w for w in re.findall(r"[a-z]+", rec["title"].lower()) if len(w) > 3}
        phrases = []
        for f in matcher.find(rec["text"], use_embeddings=False):
            low = f.text.lower()
            if f.negated or any(w in low for w in title_words) or low in (p.lower() for p in phrases):
                continue
            phrases.append(f.text)
        if len(phrases) < 2:
            continue
        phrases = phrases[:6]
        body = ", ".join(p.lower() for p in phrases[:-1]) + " and " + phrases[-1].lower()
        text = f"{OPENERS[out % len(OPENERS)]} {body}. What is the most likely diagnosis?"
        titles.add(rec["title"])
        print(json.dumps({"id": f"mq-{rec['_id']}", "text": text, "gold": rec["title"],
                          "doc_id": rec["_id"], "corpus": corpus}, ensure_ascii=False))
        out += 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
