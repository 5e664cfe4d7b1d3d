"""Plain text and Markdown: the title is the first heading or first line; Markdown headings
after it become sections."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ingest.readers._layout import make_document, normalise_block, normalise_inline
from ingest.readers.limits import DEFAULT_LIMITS, ReadLimits, human_bytes
from kb.errors import InputError
from kb.records import Document

_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^(```|~~~)")
_MAX_TITLE = 200


def read(path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> Iterator[Document]:
    source = str(path)
    markdown = path.suffix.lower() == ".md"
    try:
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise InputError(source, f"the file is {human_bytes(size)}, over the "
                             f"{human_bytes(limits.max_file_bytes)} limit for text files; split it")
        data = path.read_bytes()
        _check_lines(data, source, limits.max_line_bytes)
        raw = data.decode("utf-8-sig")
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


def _check_lines(data: bytes, source: str, limit: int) -> None:
    """A line longer than `limit` bytes is a broken export or an attack, not prose."""
    pos = 0
    while len(data) - pos > limit:
        nl = data.rfind(b"\n", pos, pos + limit + 1)  # the last line end within reach
        if nl < 0:
            line = data.count(b"\n", 0, pos) + 1
            raise InputError(source, f"line {line} is longer than the {human_bytes(limit)} limit "
                             "for one line; is this really a text file?")
        pos = nl + 1
