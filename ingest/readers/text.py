"""Plain text and Markdown: the title is the first heading or first line; Markdown headings
after it become sections."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ingest.readers._layout import make_document, normalise_block, normalise_inline
from kb.errors import InputError
from kb.records import Document

_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^(```|~~~)")
_MAX_TITLE = 200


def read(path: Path) -> Iterator[Document]:
    source = str(path)
    markdown = path.suffix.lower() == ".md"
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            source,
            f"not UTF-8 text (byte {exc.start}); convert the file to UTF-8, for example with iconv",
        ) from exc
    except OSError as exc:
        raise InputError(source, f"cannot read file: {exc.strerror or exc}") from exc
    text = normalise_block(raw)
    if not text:
        return

    lines = text.split("\n")
    first = lines[0]
    heading = _HEADING.match(first) if markdown else None
    title: str | None = None
    if heading:
        title, lines = normalise_inline(heading.group(1)) or None, lines[1:]
    elif len(first) <= _MAX_TITLE:
        title, lines = first, lines[1:]

    sections: list[tuple[str | None, str]] = []
    label: str | None = None
    buf: list[str] = []
    in_fence = False
    for line in lines:
        if markdown and _FENCE.match(line):
            in_fence = not in_fence
        match = _HEADING.match(line) if markdown and not in_fence else None
        if match:
            sections.append((label, "\n".join(buf).strip()))
            label, buf = match.group(1), []
        else:
            buf.append(line)
    sections.append((label, "\n".join(buf).strip()))

    yield make_document(
        source=source,
        format="markdown" if markdown else "text",
        title=title,
        sections=sections,
    )
