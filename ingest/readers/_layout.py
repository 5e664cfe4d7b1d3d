"""Text normalisation and the document text layout every reader shares.

Layout: the title, a blank line, then each section as its label line followed by its body,
sections separated by blank lines. A section's `Span` covers its body only, so
`text[span.start:span.end]` is that section's content. A section without a label has no
label line and no span (the chunker treats uncovered text as unsectioned).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from kb.records import Document, Span

_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_WHITESPACE = re.compile(r"\s+")
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalise_block(text: str) -> str:
    """Collapse spaces within lines, strip lines, keep line and paragraph breaks."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def normalise_inline(text: str) -> str:
    """One line: every whitespace run becomes a single space (XML paragraphs, titles)."""
    return _WHITESPACE.sub(" ", text.replace("\x00", "")).strip()


def compose(
    title: str | None, sections: Sequence[tuple[str | None, str]]
) -> tuple[str, tuple[Span, ...]]:
    """Lay out `title` and `(label, body)` sections; returns the text and the body spans.

    Bodies must already be normalised; empty bodies are dropped.
    """
    parts: list[str] = []
    spans: list[Span] = []
    pos = 0

    def add(piece: str) -> int:
        nonlocal pos
        if parts:
            parts.append("\n\n")
            pos += 2
        start = pos
        parts.append(piece)
        pos += len(piece)
        return start

    if title:
        add(title)
    for label, body in sections:
        if not body:
            continue
        label = normalise_inline(label or "")
        if label:
            start = add(f"{label}\n{body}") + len(label) + 1
            spans.append(Span(label=label, start=start, end=start + len(body)))
        else:
            add(body)
    return "".join(parts), tuple(spans)


def make_document(
    *,
    source: str,
    format: str,
    title: str | None,
    sections: Sequence[tuple[str | None, str]],
    external_id: str | None = None,
    year: int | None = None,
    metadata: dict | None = None,
) -> Document:
    """A Document in the shared layout, with its content-hash id."""
    title = normalise_inline(title or "") or None
    text, spans = compose(title, sections)
    return Document(
        doc_id=Document.make_id(text, title, external_id),
        source=source,
        format=format,
        title=title,
        text=text,
        external_id=external_id,
        sections=spans,
        year=year,
        metadata=dict(metadata or {}),
    )


def parse_year(value: object) -> int | None:
    """The first plausible 4-digit year in `value` ("2018", "2018 May-Jun", 2018), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if 1000 <= value <= 2999 else None
    m = re.search(r"(?<!\d)([12]\d{3})(?!\d)", str(value))
    return int(m.group(1)) if m else None
