"""PMC JATS full text (`.nxml`, or `.xml` with an <article> root).

Abstract and body sections keep their titles (nested ones as "Parent / Child"); figure and
table captions become sections of their own; references and other back matter are dropped.
`related-article` links (a retraction notice's retracted article, a paper's retraction or
correction) go into metadata, where ingest.retractions reads them with `article_type`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from ingest.readers._layout import make_document, normalise_inline, parse_year
from ingest.readers._xml import local, parse_xml, text_of
from kb.errors import InputError
from kb.records import Document

FORMAT = "jats"
ROOTS = ("article", "pmc-articleset")

# Subtrees that are not running text of the element they sit in.
_FLOATS = {"fig", "fig-group", "table-wrap", "table-wrap-group", "supplementary-material"}
_NOISE = {"tex-math", "annotation", "object-id", "label"}
_PUB_TYPES = ("epub", "ppub", "pub", "epreprint", "collection")


def read(path: Path) -> Iterator[Document]:
    yield from read_root(parse_xml(path), path)


def read_root(root: etree._Element, path: Path) -> Iterator[Document]:
    tag = local(root.tag)
    if tag == "article":
        yield _document(root, path, None)
    elif tag == "pmc-articleset":
        for i, article in enumerate(root.iterchildren("article"), start=1):
            yield _document(article, path, i)
    else:
        raise InputError(str(path), f"expected a JATS <article> root element, found <{tag}>")


def _find(el: etree._Element | None, path: str) -> etree._Element | None:
    return None if el is None else el.find(path)


def _text(el: etree._Element | None) -> str:
    return "" if el is None else normalise_inline(text_of(el, _NOISE | _FLOATS))


def _paragraphs(container: etree._Element) -> list[str]:
    """Running-text blocks directly under `container` (not titles, subsections or floats)."""
    out = []
    for child in container:
        tag = local(child.tag)
        if tag in {"title", "label", "sec"} | _FLOATS or tag in _NOISE or not tag:
            continue
        text = _text(child)
        if text:
            out.append(text)
    return out


def _sections(
    container: etree._Element, prefix: str | None, fallback: str
) -> list[tuple[str | None, str]]:
    """(label, body) for the running text of `container` and, recursively, its <sec>s."""
    out: list[tuple[str | None, str]] = []
    paras = _paragraphs(container)
    if paras:
        out.append((prefix or fallback, "\n\n".join(paras)))
    for sec in container.iterchildren("sec"):
        title = _text(sec.find("title"))
        label = f"{prefix} / {title}" if prefix and title else title or prefix
        out.extend(_sections(sec, label, fallback))
    return out


def _abstracts(meta: etree._Element) -> list[tuple[str | None, str]]:
    out: list[tuple[str | None, str]] = []
    for abstract in meta.findall("abstract"):
        kind = abstract.get("abstract-type")
        if kind in {"toc", "teaser", "web-summary"}:
            continue
        name = _text(abstract.find("title")) or (
            "Abstract" if kind in (None, "abstract") else kind.replace("-", " ").capitalize()
        )
        paras = _paragraphs(abstract)
        if paras:
            out.append((name, "\n\n".join(paras)))
        for sec in abstract.findall("sec"):
            title = _text(sec.find("title"))
            out.extend(_sections(sec, f"{name}: {title}" if title else name, name))
    return out


def _captions(article: etree._Element) -> list[tuple[str | None, str]]:
    out: list[tuple[str | None, str]] = []
    scopes = [el for el in (article.find("body"), article.find("floats-group")) if el is not None]
    for scope in scopes:
        for el in scope.iter("fig", "table-wrap"):
            caption = el.find("caption")
            if caption is None:
                continue
            parts = [_text(c) for c in caption if local(c.tag) in {"title", "p"}]
            body = " ".join(p for p in parts if p) or _text(caption)
            label = el.find("label")
            name = normalise_inline(text_of(label)) if label is not None else ""
            out.append((name or ("Figure" if el.tag == "fig" else "Table"), body))
    return out


def _external_ids(meta: etree._Element | None) -> dict[str, str]:
    ids: dict[str, str] = {}
    if meta is None:
        return ids
    for el in meta.findall("article-id"):
        kind, value = el.get("pub-id-type"), _text(el)
        if not value:
            continue
        if kind in {"pmc", "pmcid"}:
            ids["pmcid"] = value if value.upper().startswith("PMC") else f"PMC{value}"
        elif kind in {"pmid", "doi"}:
            ids[kind] = value
    return ids


def _year(meta: etree._Element | None) -> int | None:
    if meta is None:
        return None
    by_type: dict[str, int] = {}
    for date in meta.findall("pub-date"):
        year = parse_year(_text(date.find("year")))
        kind = date.get("pub-type") or date.get("date-type") or "pub"
        if year is not None:
            by_type.setdefault(kind, year)
    for kind in _PUB_TYPES:
        if kind in by_type:
            return by_type[kind]
    return min(by_type.values()) if by_type else None


def _license(meta: etree._Element | None) -> str | None:
    permissions = _find(meta, "permissions")
    lic = _find(permissions, "license")
    if lic is not None:
        href = lic.get("{http://www.w3.org/1999/xlink}href")
        return href or _text(lic) or lic.get("license-type")
    statement = _find(permissions, "copyright-statement")
    if statement is None and meta is not None:
        statement = meta.find("copyright-statement")
    return _text(statement) or None


def _document(article: etree._Element, path: Path, ordinal: int | None) -> Document:
    """One article; `ordinal` is its position in a multi-article file, else None."""
    front = article.find("front")
    meta = _find(front, "article-meta")
    ids = _external_ids(meta)
    external_id = ids.get("pmcid") or ids.get("pmid") or ids.get("doi")
    title = _text(_find(meta, "title-group/article-title")) or None

    sections = _abstracts(meta) if meta is not None else []
    body = article.find("body")
    if body is not None:
        sections.extend(_sections(body, None, "Body"))
    sections.extend(_captions(article))

    journal_meta = _find(front, "journal-meta")
    journal = _text(_find(journal_meta, "journal-title-group/journal-title")) or _text(
        _find(journal_meta, "journal-title")
    )
    metadata: dict[str, object] = {
        **ids,
        "journal": journal or None,
        "license": _license(meta),
        "article_type": article.get("article-type"),
        "keywords": [_text(k) for k in (meta.findall("kwd-group/kwd") if meta is not None else [])],
    }
    related = _related(article)
    if related:
        metadata["related"] = related
    return make_document(
        source=str(path) if ordinal is None else f"{path}#{external_id or ordinal}",
        format=FORMAT,
        title=title,
        sections=sections,
        external_id=external_id,
        year=_year(meta),
        metadata=metadata,
    )


_XLINK = "{http://www.w3.org/1999/xlink}href"


def _related(article: etree._Element) -> list[dict[str, str]]:
    """[{type, pmid | doi | pmcid, ref?}] for each <related-article> of the front matter or body."""
    out = []
    for scope in (article.find("front"), article.find("body")):
        if scope is None:
            continue
        for el in scope.iter("related-article"):
            link = {"type": el.get("related-article-type") or ""}
            kind = (el.get("ext-link-type") or "").lower()
            href = (el.get(_XLINK) or "").strip()
            if kind in ("pubmed", "pmid") and href:
                link["pmid"] = href
            elif kind in ("pmc", "pmcid") and href:
                link["pmcid"] = href if href.upper().startswith("PMC") else f"PMC{href}"
            elif href and (kind == "doi" or "10." in href[:24]):
                link["doi"] = href.split("doi.org/")[-1].removeprefix("doi:")
            elif href:
                link["href"] = href
            if ref := _text(el):
                link["ref"] = ref
            out.append(link)
    return out
