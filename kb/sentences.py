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


_HEADING_BREAK = re.compile(r"\n(?=\s*[A-Z0-9])")


def _split_headings(text: str, s: int, e: int) -> list[tuple[int, int]]:
    """Split off heading lines ("BACKGROUND", "Treatment options") glued to the next sentence
    by a single newline; long wrapped lines (PDF layout) stay together."""
    out = []
    for m in _HEADING_BREAK.finditer(text, s, e):
        line = text[s : m.start()].strip()
        if line and len(line) <= 50 and line[-1] not in ".,;:-(" and "\n" not in line:
            out.append((s, m.start()))
            s = m.end()
    out.append((s, e))
    return out


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
    spans = [part for s, e in spans for part in _split_headings(text, s, e)]
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
