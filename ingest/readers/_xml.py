"""Safe XML parsing: no entity expansion, no DTD loading, no network; entity declarations
are refused outright (billion laughs, external entities)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from lxml import etree

from ingest.readers.limits import DEFAULT_LIMITS, ReadLimits, human_bytes
from kb.errors import InputError

_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
_PROLOG_BYTES = 1 << 20


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> etree._Element:
    """The root element of `path`, or InputError saying why it cannot be read."""
    source = str(path)
    try:
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise InputError(source, f"the file is {human_bytes(size)}, over the "
                             f"{human_bytes(limits.max_file_bytes)} limit for XML files; split it")
        with open(path, "rb") as fh:
            head = fh.read(_PROLOG_BYTES)
            # Entity declarations can only live in the DOCTYPE's internal subset; refuse
            # them before libxml2 sees them (the parsed DTD is checked again below).
            doctype = head.find(b"<!DOCTYPE")
            if doctype >= 0 and _ENTITY_DECL.search(head, doctype, _doctype_end(head, doctype)):
                raise InputError(source, "XML entity declarations are not allowed")
            fh.seek(0)
            tree = etree.parse(fh, _parser())
    except InputError:
        raise
    except etree.XMLSyntaxError as exc:
        if "amplification" in str(exc):  # libxml2's own billion-laughs guard
            raise InputError(
                source, "XML entity declarations are not allowed (entity amplification detected)"
            ) from exc
        raise InputError(source, f"malformed XML: {_syntax_reason(exc)}") from exc
    except OSError as exc:
        raise InputError(source, f"cannot read file: {exc.strerror or exc}") from exc
    dtd = tree.docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise InputError(source, "XML entity declarations are not allowed")
    return tree.getroot()


def _doctype_end(head: bytes, start: int) -> int:
    """Offset just after the DOCTYPE declaration starting at `start`."""
    bracket = head.find(b"[", start)
    close = head.find(b">", start)
    if bracket < 0 or 0 <= close < bracket:
        return len(head) if close < 0 else close + 1
    end = head.find(b"]", bracket)
    return len(head) if end < 0 else end + 1


def _syntax_reason(exc: etree.XMLSyntaxError) -> str:
    msg = re.sub(r",? line \d+(, column \d+)?", "", str(exc.msg or exc)).strip()
    if exc.lineno:
        msg = f"{msg} (line {exc.lineno})"
    if "end of" in msg.lower():
        msg += "; the file looks truncated, download it again"
    return msg


def local(tag: object) -> str:
    """The tag without its namespace ('' for comments and processing instructions)."""
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def text_of(el: etree._Element, skip: Iterable[str] = ()) -> str:
    """All text under `el`, leaving out subtrees whose local tag is in `skip`."""
    skip = frozenset(skip)
    out: list[str] = []

    def walk(node: etree._Element) -> None:
        if node.text:
            out.append(node.text)
        for child in node:
            if local(child.tag) not in skip and isinstance(child.tag, str):
                walk(child)
            if child.tail:
                out.append(child.tail)

    walk(el)
    return "".join(out)
