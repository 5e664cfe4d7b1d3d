"""Readers: one module per source format, all giving `kb.records.Document`s.

`discover` expands sources into readable files; `read_source` reads one file, raising
`InputError` with the reason when it cannot (the build reports it and goes on).

Document text layout (all formats but PDF): the title, a blank line, then each section as
its label line and its body, sections separated by blank lines; `Document.sections` holds
one `Span` per labelled body, so `text[span.start:span.end]` is that section's content.
PDFs are their pages' text joined by blank lines, with one `Span` per page (label = the
1-based page number).

Every reader runs within `ReadLimits` (ingest.readers.limits): size caps for what is read into
memory, a decompressed-size cap for .gz, XML without DTDs, entities or network. Bytes that
are not UTF-8 are refused with the line (JSONL) or byte offset (text) rather than replaced:
a silently altered character in a dose or a drug name is worse than a clear error. The
build parses PDFs in a child process with time and memory caps (ingest.readers.sandbox);
`read_source` parses them in-process, for callers that trust their files.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ingest.readers.discovery import EXTENSIONS, discover
from ingest.readers.limits import DEFAULT_LIMITS, ReadLimits
from kb.errors import InputError
from kb.records import Document

__all__ = ["DEFAULT_LIMITS", "EXTENSIONS", "ReadLimits", "discover", "format_of", "read_source"]


def format_of(path: Path) -> str:
    """The reader a file goes to, by its name: pdf, xml, jats, jsonl or text."""
    name = path.name.lower()
    if name.endswith(".pdf"):
        return "pdf"
    if name.endswith(".xml"):
        return "xml"
    if name.endswith(".nxml"):
        return "jats"
    if name.endswith((".jsonl", ".jsonl.gz")):
        return "jsonl"
    if name.endswith((".txt", ".md")):
        return "text"
    raise InputError(str(path), f"unsupported file type; MedKB reads {', '.join(EXTENSIONS)}")


def read_source(path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> Iterator[Document]:
    """The documents in one file, dispatched by its extension (and XML root element)."""
    path = Path(path)
    kind = format_of(path)
    if kind == "pdf":
        from ingest.readers import pdf

        yield from pdf.read(path)
    elif kind == "jsonl":
        from ingest.readers import jsonl

        yield from jsonl.read(path, limits)
    elif kind == "text":
        from ingest.readers import text

        yield from text.read(path, limits)
    else:
        from ingest.readers import jats, pubmed
        from ingest.readers._xml import local, parse_xml

        root = parse_xml(path, limits)
        tag = local(root.tag)
        if tag == pubmed.ROOT:
            yield from pubmed.read_root(root, path)
        elif tag in jats.ROOTS:
            yield from jats.read_root(root, path)
        else:
            raise InputError(
                str(path),
                f"unsupported XML: root element <{tag}>; MedKB reads "
                "PubMed <PubmedArticleSet> and JATS <article> files",
            )
