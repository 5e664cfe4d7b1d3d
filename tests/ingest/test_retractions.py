"""Retraction status at ingest: PubMed and JATS signals, notices in the KB, user lists."""

from __future__ import annotations

from pathlib import Path

import pytest
from medkb_testutil import ROOT

from ingest.readers import jats, pubmed
from ingest.retractions import apply, list_entries, read_list
from kb.errors import InputError

FIXTURE = ROOT / "corpora" / "retractions" / "pubmed_retracted_examples.xml"


def _docs(path: Path) -> list:
    reader = pubmed if path.suffix == ".xml" and b"PubmedArticleSet" in path.read_bytes()[:600] \
        else jats
    return [(d, str(path)) for d in reader.read(path)]


def test_pubmed_fixture_marks_the_retracted_papers_with_their_notices() -> None:
    docs, summary = apply(_docs(FIXTURE))
    by_pmid = {d.external_id: d.metadata.get("retraction") for d, _ in docs}
    assert summary["flagged"] == {"retracted": 2}
    wakefield = by_pmid["9500320"]
    assert wakefield["status"] == "retracted" and wakefield["notice_id"] == "20137807"
    assert wakefield["notice_ref"] == "Lancet. 2010 Feb 6;375(9713):445"
    assert set(wakefield["sources"]) == {"record", "notice"}  # its own link and the notice
    assert by_pmid["32356626"]["notice_id"] == "32501665"
    # Notices themselves are not flagged.
    assert by_pmid["20137807"] is None and by_pmid["32501665"] is None


def test_reader_keeps_the_links(tmp_path: Path) -> None:
    (d, _), *_ = _docs(FIXTURE)
    assert d.metadata["related"] == [{"type": "RetractionIn", "pmid": "20137807",
                                      "ref": "Lancet. 2010 Feb 6;375(9713):445"}]
    assert "Retracted Publication" in d.metadata["publication_types"]


def test_a_notice_alone_marks_the_paper_and_concern_and_erratum_rank_below(tmp_path: Path) -> None:
    text = FIXTURE.read_text("utf-8")
    # The paper as it was before 2010: no retraction link, no "Retracted Publication" type.
    old = text.replace('<PublicationType UI="D016441">Retracted Publication</PublicationType>', "")
    old = old.replace('<CommentsCorrections RefType="RetractionIn">', '<CommentsCorrections RefType="CommentIn">')
    f = tmp_path / "old.xml"
    f.write_text(old, "utf-8")
    docs, _ = apply(_docs(f))
    rec = {d.external_id: d.metadata.get("retraction") for d, _ in docs}
    assert rec["9500320"]["sources"] == ["notice"] and rec["9500320"]["notice_id"] == "20137807"
    # Without its retraction notices the NEJM paper keeps the expression of concern.
    nejm_only = [(d, o) for d, o in _docs(f) if d.external_id in ("32356626", "32484612")]
    docs, _ = apply(nejm_only)
    assert docs[0][0].metadata["retraction"]["status"] == "expression_of_concern"
    assert docs[0][0].metadata["retraction"]["notice_id"] == "32484612"


JATS_NOTICE = """<?xml version="1.0"?>
<article xmlns:xlink="http://www.w3.org/1999/xlink" article-type="retraction">
<front><article-meta><article-id pub-id-type="doi">10.9999/notice.1</article-id>
<title-group><article-title>Retraction: A synthetic trial</article-title></title-group>
<related-article related-article-type="retracted-article" ext-link-type="doi"
 xlink:href="10.9999/TRIAL.7">A synthetic trial</related-article>
</article-meta></front><body><p>This article has been retracted at the request of the authors.</p></body>
</article>"""

JATS_PAPER = """<?xml version="1.0"?>
<article xmlns:xlink="http://www.w3.org/1999/xlink" article-type="research-article">
<front><article-meta><article-id pub-id-type="doi">10.9999/trial.7</article-id>
<title-group><article-title>A synthetic trial</article-title></title-group>
</article-meta></front><body><p>Drug X lowered blood pressure.</p></body></article>"""


def test_jats_retraction_notice_marks_the_article_it_names(tmp_path: Path) -> None:
    (tmp_path / "notice.nxml").write_text(JATS_NOTICE, "utf-8")
    (tmp_path / "paper.nxml").write_text(JATS_PAPER, "utf-8")
    docs = [(d, "x") for f in ("notice.nxml", "paper.nxml") for d in jats.read(tmp_path / f)]
    out, summary = apply(docs)
    paper = next(d for d, _ in out if d.title == "A synthetic trial")
    assert paper.metadata["retraction"]["status"] == "retracted"
    assert paper.metadata["retraction"]["notice_id"] == "10.9999/notice.1"  # DOI case-folded
    assert summary["flagged"] == {"retracted": 1}


def test_retraction_watch_export_and_plain_lists(tmp_path: Path) -> None:
    rw = tmp_path / "rw.csv"
    rw.write_text(
        "Record ID,Title,RetractionDOI,RetractionPubMedID,OriginalPaperDOI,OriginalPaperPubMedID,"
        "RetractionNature,Reason\n"
        '1,"A synthetic trial",10.9999/notice.1,0,https://doi.org/10.9999/Trial.7,0,Retraction,'
        '"+Concerns/Issues About Data;+Falsification/Fabrication of Data;"\n'
        "2,Other,,,10.1/other,123,Expression of concern,+Investigation by Journal/Publisher;\n"
        "3,No ids,,,,0,Retraction,x\n", "utf-8")
    entries = read_list(rw)
    assert [(e.doi, e.pmid, e.status) for e in entries] == [
        ("10.9999/trial.7", None, "retracted"), ("10.1/other", "123", "expression_of_concern")]
    assert entries[0].reason == "Concerns/Issues About Data; Falsification/Fabrication of Data"
    assert entries[0].notice_id == "10.9999/notice.1"

    (tmp_path / "paper.nxml").write_text(JATS_PAPER, "utf-8")
    docs, summary = apply([(d, "x") for d in jats.read(tmp_path / "paper.nxml")], entries)
    rec = docs[0][0].metadata["retraction"]
    assert rec["status"] == "retracted" and rec["sources"] == ["list"]
    assert rec["reason"].startswith("Concerns/Issues About Data")
    assert summary["list_unmatched"] == 1

    tsv = tmp_path / "mine.tsv"
    tsv.write_text("id\treason\nasthma-1\tduplicate publication\n", "utf-8")
    assert read_list(tsv)[0].record_id == "asthma-1"


def test_bad_lists_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("title,reason\nx,y\n", "utf-8")
    with pytest.raises(InputError, match="bad.csv.*DOI, PMID or id column"):
        read_list(bad)
    odd = tmp_path / "odd.csv"
    odd.write_text("pmid,status\n123,withdrawn maybe\n", "utf-8")
    with pytest.raises(InputError, match=r"odd.csv:2.*unknown status"):
        read_list(odd)
    with pytest.raises(InputError, match="cannot read"):
        list_entries([tmp_path / "missing.csv"], None, False)
