"""Select the default MedQuAD subset shipped in corpora/literature (about 1,200 records).

Kept: every record whose focus title names one of the KEY_TOPICS; then whole focus topics in the
order of sha256(title) until TARGET records are reached. Records are written as the
original lines, in the original order, so the output is deterministic and byte-identical
to lines of the full file.

    python corpora/scripts/make_medquad_subset.py \
        corpora/full/medquad_answered_corpus.jsonl.gz corpora/literature/medquad_subset.jsonl

Source: MedQuAD, CC BY 4.0 - Ben Abacha & Demner-Fushman, BMC Bioinformatics 20:511 (2019);
repo abachaa/MedQuAD @577bd37.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
from pathlib import Path

KEY_TOPICS = ("asthma", "diabetes", "hypertension", "kidney disease", "heart failure", "pneumonia")
TARGET = 1200
_KEY = re.compile("|".join(re.escape(t) for t in KEY_TOPICS), re.IGNORECASE)


def select(lines: list[str]) -> list[int]:
    """Indexes of the selected lines, in file order."""
    records = [json.loads(line) for line in lines]
    titles = [r.get("title") or "" for r in records]
    chosen = {
        i
        for i, _ in enumerate(records)
        if _KEY.search(titles[i])
    }
    by_title: dict[str, list[int]] = {}
    for i, title in enumerate(titles):
        by_title.setdefault(title, []).append(i)
    for title in sorted(by_title, key=lambda t: (hashlib.sha256(t.encode()).hexdigest(), t)):
        if len(chosen) >= TARGET:
            break
        chosen.update(by_title[title])
    return sorted(chosen)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", type=Path, help="medquad_answered_corpus.jsonl.gz")
    ap.add_argument("output", type=Path, help="the subset .jsonl to write")
    args = ap.parse_args()
    with gzip.open(args.input, "rt", encoding="utf-8") as fh:
        lines = [line.rstrip("\n") for line in fh if line.strip()]
    keep = select(lines)
    tmp = args.output.with_name(args.output.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        for i in keep:
            out.write(lines[i] + "\n")
    os.replace(tmp, args.output)
    print(f"wrote {len(keep)} of {len(lines)} records to {args.output}")


if __name__ == "__main__":
    main()
