"""Make corpora/embedding_probe_timing.json: the passages backend calibration is timed on.

Speed depends on text length (padding, attention, batch shapes), so the calibration times the
backends on passages as a build makes them, not on the agreement probe's 1,000-character
texts: every k-th passage (by ordinal) of a KB built from `corpora/` with the default chunking,
256 in all, which keeps that build's length distribution. The texts come from the shipped
corpora (sources and licences in ATTRIBUTION.md).

    medkb build corpora/ --kb /tmp/kb-default
    python corpora/scripts/make_embedding_timing.py /tmp/kb-default corpora/embedding_probe_timing.json
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from probe_files import write_set

N = 256


def main(kb_path: str, dst: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from kb.store import KnowledgeBase

    version = KnowledgeBase(kb_path).current()
    texts = [p.text for p in version.iter_passages()]
    step = max(1, len(texts) // N)
    picked = texts[::step][:N]
    lengths = sorted(len(t) for t in picked)
    out = {"source": f"every {step}th passage of a default build of corpora/ ({len(texts)} "
                     "passages, default chunking; sources in corpora/ATTRIBUTION.md); made by "
                     "corpora/scripts/make_embedding_timing.py",
           "characters": {"median": statistics.median(lengths), "min": lengths[0],
                          "max": lengths[-1]},
           "passages": picked}
    write_set(dst, out)
    print(f"{len(picked)} passages (median {out['characters']['median']} characters) -> {dst}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
