"""PDF via PyMuPDF: text per page, pages kept as 1-based spans for citations.

PyMuPDF lives behind this module only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ingest.readers._layout import normalise_block, normalise_inline, parse_year
from kb.errors import InputError
from kb.records import Document, Span

FORMAT = "pdf"
_JUNK_TITLE = re.compile(r"^(microsoft \w+ - |untitled\b)|\.(docx?|pdf|indd|tex|rtf)$", re.I)


def read(path: Path) -> Iterator[Document]:
    import pymupdf

    source = str(path)
    if not path.is_file():
        raise InputError(source, "no such file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(1024)
    except OSError as exc:
        raise InputError(source, f"cannot read file: {exc.strerror or exc}") from exc
    if not head:
        raise InputError(source, "not a readable PDF (the file is empty)")
    if b"%PDF-" not in head:  # MuPDF would otherwise sniff HTML, XPS, images ...
        raise InputError(source, "not a PDF (no %PDF- header in its first 1024 bytes); "
                         "check what the file really is")
    try:
        pdf = pymupdf.open(path, filetype="pdf")
    except (pymupdf.FileDataError, pymupdf.EmptyFileError, RuntimeError, ValueError) as exc:
        raise InputError(
            source, f"not a readable PDF ({exc}); check that the file is a complete PDF"
        ) from exc
    except OSError as exc:
        raise InputError(source, f"cannot read file: {exc.strerror or exc}") from exc
    with pdf:
        if not pdf.is_pdf:
            raise InputError(source, "not a PDF; check what the file really is")
        if pdf.needs_pass:
            raise InputError(source, "the PDF is password-protected; save an unlocked copy")
        parts: list[str] = []
        pages: list[Span] = []
        pos = 0
        try:
            for number, page in enumerate(pdf, start=1):
                text = normalise_block(page.get_text("text", sort=False))
                if not text:
                    continue
                if parts:
                    parts.append("\n\n")
                    pos += 2
                parts.append(text)
                pages.append(Span(label=str(number), start=pos, end=pos + len(text)))
                pos += len(text)
        except RuntimeError as exc:
            raise InputError(source, f"damaged PDF ({exc})") from exc
        if not pages and (pdf.is_repaired or pdf.page_count == 0):
            raise InputError(
                source, "damaged PDF (truncated or corrupt, no readable pages); get a fresh copy"
            )
        if not pages:
            raise InputError(
                source,
                "the PDF has no extractable text (a scan?); run OCR "
                "first, for example with ocrmypdf",
            )
        meta = pdf.metadata or {}
        page_count = pdf.page_count

    body = "".join(parts)
    title = normalise_inline(meta.get("title") or "")
    if not title or _JUNK_TITLE.search(title):
        title = body.split("\n", 1)[0]
    metadata = {
        "page_count": page_count,
        "author": normalise_inline(meta.get("author") or "") or None,
        "created": meta.get("creationDate") or None,
        "created_year": parse_year((meta.get("creationDate") or "")[2:6]),
    }
    yield Document(
        doc_id=Document.make_id(body, title, None),
        source=source,
        format=FORMAT,
        title=title,
        text=body,
        pages=tuple(pages),
        metadata=metadata,
    )
