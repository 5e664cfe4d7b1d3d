"""Make corpora/embedding_probe.json: the fixed probe set embedding backends are checked on.

Every 64th record of the full MedQuAD file (CC BY 4.0, see ATTRIBUTION.md) gives a passage
(its first 1,000 characters, whitespace collapsed) and every 4th of those a query (its title).
A backend agrees with the fp32 reference when every probe text's vector has cosine >= 0.999 to
the reference and the queries' top-10 passages overlap >= 0.98 (kb.embed_select).

    python corpora/scripts/make_embedding_probe.py corpora/full/medquad_answered_corpus.jsonl.gz corpora/embedding_probe.json
"""

from __future__ import annotations

import gzip
import json
import sys

from probe_files import write_set


def main(src: str, dst: str) -> None:
    passages: list[str] = []
    queries: list[str] = []
    with gzip.open(src, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i % 64 or not line.strip():
                continue
            rec = json.loads(line)
            text = " ".join(str(rec.get("text", "")).split())[:1000]
            if len(text) < 200:
                continue
            passages.append(text)
            if len(passages) % 4 == 1 and rec.get("title"):
                queries.append(str(rec["title"]))
    out = {"source": "MedQuAD (CC BY 4.0), corpora/full/medquad_answered_corpus.jsonl.gz, "
                     "every 64th record; made by corpora/scripts/make_embedding_probe.py",
           "queries": queries, "passages": passages}
    write_set(dst, out)
    print(f"{len(queries)} queries, {len(passages)} passages -> {dst}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
