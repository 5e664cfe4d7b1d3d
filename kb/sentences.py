"""Sentence spans. Shared by claim splitting, citation spans and relation extraction."""

from __future__ import annotations

import re

# A sentence ends at . ! or ? (optionally followed by closing quotes/brackets and citation
# markers like [1]) before whitespace and an upper-case letter, digit or bracket; or at a
# blank line / bullet break.
_BOUNDARY = re.compile(
    r"(?<=[.!?])(?:[\"')\]]*(?:\s*\[[\d,\s]+\])*)\s+(?=[A-Z0-9(\[\"'-])|\n\s*\n|\n(?=\s*[-*\u2022]\s)"
)
_ABBREV = re.compile(r"(?:\b(?:e\.g|i\.e|et al|vs|Dr|Fig|No|approx|ca|cf|resp|incl)\.|\b[A-Z]\.)$")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, whitespace-trimmed, in order."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        head = text[start : m.start()]
        if _ABBREV.search(head.rstrip()):
            continue
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]
