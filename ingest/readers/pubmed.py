"""PubMed `PubmedArticleSet` XML: one Document per article, keyed by PMID.

Structured abstracts keep their labelled parts (BACKGROUND, METHODS, ...) as sections; MeSH
headings and publication types go into metadata, where the classifier reads them; the
retraction, expression-of-concern and erratum links (`CommentsCorrections`) go there too, where
ingest.retractions reads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from ingest.readers._layout import make_document, normalise_inline, parse_year
from ingest.readers._xml import parse_xml, text_of
from kb.errors import InputError
from kb.records import Document

FORMAT = "pubmed"
ROOT = "PubmedArticleSet"


def read(path: Path) -> Iterator[Document]:
    yield from read_root(parse_xml(path), path)


def read_root(root: etree._Element, path: Path) -> Iterator[Document]:
    if root.tag != ROOT:
        raise InputError(str(path), f"expected a <{ROOT}> root element, found <{root.tag}>")
    for i, article in enumerate(root.iter("PubmedArticle"), start=1):
        yield _document(article, path, i)


def _text(el: etree._Element | None) -> str:
    return "" if el is None else normalise_inline(text_of(el))


def _document(article: etree._Element, path: Path, ordinal: int) -> Document:
    citation = article.find("MedlineCitation")
    if citation is None:
        raise InputError(f"{path}#{ordinal}", "PubmedArticle without MedlineCitation")
    pmid = _text(citation.find("PMID")) or None
    art = citation.find("Article")
    if art is None:
        art = etree.Element("Article")

    sections: list[tuple[str | None, str]] = []
    for part in art.findall("Abstract/AbstractText"):
        body = _text(part)
        label = part.get("Label") or part.get("NlmCategory") or "Abstract"
        sections.append((label, body))

    mesh, major = _mesh(citation)
    journal = _text(art.find("Journal/Title")) or _text(art.find("Journal/ISOAbbreviation"))
    year = (
        parse_year(_text(art.find("Journal/JournalIssue/PubDate/Year")))
        or parse_year(_text(art.find("Journal/JournalIssue/PubDate/MedlineDate")))
        or parse_year(_text(art.find("ArticleDate/Year")))
    )
    metadata: dict[str, object] = {
        "pmid": pmid,
        "journal": journal or None,
        "mesh": mesh,
        "mesh_major": major,
        "publication_types": [_text(p) for p in art.findall("PublicationTypeList/PublicationType")],
        "keywords": [_text(k) for k in citation.findall("KeywordList/Keyword") if _text(k)],
        "language": _text(art.find("Language")) or None,
    }
    doi = _text(art.find("ELocationID[@EIdType='doi']")) or _text(
        article.find("PubmedData/ArticleIdList/ArticleId[@IdType='doi']")
    )
    if doi:
        metadata["doi"] = doi
    pmc = _text(article.find("PubmedData/ArticleIdList/ArticleId[@IdType='pmc']"))
    if pmc:
        metadata["pmcid"] = pmc
    related = _related(citation)
    if related:
        metadata["related"] = related

    return make_document(
        source=f"{path}#{pmid or ordinal}",
        format=FORMAT,
        title=_text(art.find("ArticleTitle")) or None,
        sections=sections,
        external_id=pmid,
        year=year,
        metadata=metadata,
    )


def _mesh(citation: etree._Element) -> tuple[list[str], list[str]]:
    """MeSH descriptor names, and those marked as a major topic (on the name or a qualifier)."""
    names: list[str] = []
    major: list[str] = []
    for heading in citation.findall("MeshHeadingList/MeshHeading"):
        descriptor = heading.find("DescriptorName")
        name = _text(descriptor)
        if not name:
            continue
        names.append(name)
        flags = [descriptor.get("MajorTopicYN")]
        flags += [q.get("MajorTopicYN") for q in heading.findall("QualifierName")]
        if "Y" in flags:
            major.append(name)
    return names, major


# CommentsCorrections RefTypes that say a record was retracted, corrected or put under concern
# (on the paper: ...In) or that it is such a notice (...Of / ...For).
RELATED_TYPES = frozenset({
    "RetractionIn", "RetractionOf", "PartialRetractionIn", "PartialRetractionOf",
    "ExpressionOfConcernIn", "ExpressionOfConcernFor", "ErratumIn", "ErratumFor",
})


def _related(citation: etree._Element) -> list[dict[str, str]]:
    """[{type, pmid?, ref?}] for the retraction-related CommentsCorrections links."""
    out = []
    for cc in citation.findall("CommentsCorrectionsList/CommentsCorrections"):
        kind = cc.get("RefType") or ""
        if kind not in RELATED_TYPES:
            continue
        link = {"type": kind}
        if pmid := _text(cc.find("PMID")):
            link["pmid"] = pmid
        if ref := _text(cc.find("RefSource")):
            link["ref"] = ref
        out.append(link)
    return out
