"""Make corpora/embedding_retrieval_probe.json: the labelled set a backend's retrieval is gated on.

A backend whose vectors do not agree with fp32 closely enough to share a KB (dynamic int8) may
still build a KB of its own when it retrieves as well as fp32 (kb.embed_select). This set says
what "as well" means: MedQuAD consumer-health questions (CC BY 4.0, see ATTRIBUTION.md), each
labelled with its own answer among all the answers. Two questions of different types are taken
per topic ("What are the symptoms of X?" beside "How to diagnose X?"), so every query has a
near-miss distractor, as a KB has. Topics are every 24th distinct title of the full file, in
file order, skipping answers shorter than 200 characters; answers are cut at 1,000 characters
(whitespace collapsed), about what a build's passage holds.

    python corpora/scripts/make_retrieval_probe.py corpora/full/medquad_answered_corpus.jsonl.gz corpora/embedding_retrieval_probe.json
"""

from __future__ import annotations

import ast
import gzip
import json
import sys

from probe_files import write_set

TOPIC_STRIDE = 24
PER_TOPIC = 2


def _question(rec: dict) -> str:
    meta = rec.get("metadata")
    if isinstance(meta, str):  # the file stores a Python dict literal: parsed, never run
        try:
            meta = ast.literal_eval(meta)
        except (ValueError, SyntaxError):
            return ""
    return " ".join(str((meta or {}).get("question", "")).split()) if isinstance(meta, dict) else ""


def main(src: str, dst: str) -> None:
    by_title: dict[str, list[dict]] = {}
    with gzip.open(src, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                by_title.setdefault(str(rec.get("title", "")), []).append(rec)
    queries: list[str] = []
    passages: list[str] = []
    seen: set[str] = set()
    for title in list(by_title)[::TOPIC_STRIDE]:
        taken = 0
        for rec in by_title[title]:
            text = " ".join(str(rec.get("text", "")).split())[:1000]
            question = _question(rec)
            if taken == PER_TOPIC or len(text) < 200 or not question:
                continue
            if question.lower() in seen or text in passages:
                continue
            seen.add(question.lower())
            queries.append(question)
            passages.append(text)
            taken += 1
    out = {"source": "MedQuAD (CC BY 4.0), corpora/full/medquad_answered_corpus.jsonl.gz: "
                     f"{PER_TOPIC} questions of every {TOPIC_STRIDE}th topic, each labelled with "
                     "its own answer (query i -> passage i); made by "
                     "corpora/scripts/make_retrieval_probe.py",
           "queries": queries, "passages": passages}
    write_set(dst, out)
    print(f"{len(queries)} labelled queries over {len(passages)} passages -> {dst}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
