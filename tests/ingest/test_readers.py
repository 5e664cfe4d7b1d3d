"""Readers on the real format samples shipped in corpora/, and on hostile or broken input."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from medkb_testutil import BILLION_LAUGHS, EXTERNAL_ENTITY

from ingest.readers import discover, read_source
from kb.errors import InputError
from kb.records import Document

ROOT = Path(__file__).resolve().parents[2]
CORPORA = ROOT / "corpora"
FORMATS = CORPORA / "formats"
PUBMED = FORMATS / "pubmed" / "pubmed-29768149.xml"
PDF = FORMATS / "pdf" / "cdc_outpatient_infection_prevention_guide_2016.pdf"
PUBMEDQA = CORPORA / "literature" / "pubmedqa_dev_abstracts.xml"
MEDQUAD_SUBSET = CORPORA / "literature" / "medquad_subset.jsonl"
PUBMEDQA_JSON = ROOT.parent / "shared" / "data" / "eval" / "pubmedqa_pqal_dev.json"

JATS = {  # file -> (external id, pmid, year, a section label it must have)
    "1471-2180-11-174.nxml": ("PMC3166277", "21810267", 2011, "Discussion"),
    "1472-6831-8-11.nxml": ("PMC2329613", "18405359", 2008, "Methods / Test-retest reliability"),
    "ehp-116-1694.nxml": ("PMC2599765", "19079722", 2008, "Discussion"),
    "pntd.0002065.nxml": ("PMC3585041", "23469300", 2013, "Author Summary"),
    "pone.0000217.nxml": ("PMC1790863", "17299597", 2007, "Introduction"),
    "pone.0046493.nxml": ("PMC3460867", "23029536", 2012, "Materials and Methods / Chemicals"),
}


def read_all(path: Path) -> list[Document]:
    return list(read_source(path))


def assert_spans_round_trip(doc: Document) -> None:
    """Every span is a non-empty, stripped, in-bounds slice; sections do not overlap."""
    last_end = 0
    for span in sorted(doc.sections, key=lambda s: s.start):
        assert 0 <= last_end <= span.start < span.end <= len(doc.text)
        body = doc.text[span.start : span.end]
        assert body and body == body.strip()
        # The label line sits right before the body.
        assert doc.text[: span.start].endswith(f"{span.label}\n")
        last_end = span.end
    for span in doc.pages:
        body = doc.text[span.start : span.end]
        assert body and body == body.strip()


def test_pubmed_sample() -> None:
    (doc,) = read_all(PUBMED)
    assert doc.format == "pubmed"
    assert doc.external_id == "29768149"
    assert doc.source == f"{PUBMED}#29768149"
    assert doc.title == "Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma."
    assert doc.text.startswith(doc.title + "\n\nBACKGROUND\n")
    assert [s.label for s in doc.sections] == ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert_spans_round_trip(doc)
    conclusions = doc.sections[-1]
    assert doc.text[conclusions.start : conclusions.end].startswith(
        "In patients with mild asthma, as-needed budesonide-formoterol provided superior"
    )
    assert doc.year == 2018
    assert doc.metadata["journal"] == "The New England journal of medicine"
    assert "Randomized Controlled Trial" in doc.metadata["publication_types"]
    assert "Asthma" in doc.metadata["mesh"] and "Budesonide" in doc.metadata["mesh"]
    assert "Asthma" in doc.metadata["mesh_major"]
    assert doc.metadata["doi"] == "10.1056/NEJMoa1715274"
    assert "μg" in doc.text  # character references decoded


@pytest.mark.parametrize("name", sorted(JATS))
def test_jats_samples(name: str) -> None:
    external_id, pmid, year, label = JATS[name]
    path = FORMATS / "jats" / name
    (doc,) = read_all(path)
    assert doc.format == "jats"
    assert doc.source == str(path)
    assert doc.external_id == external_id
    assert doc.metadata["pmid"] == pmid
    assert doc.year == year
    assert doc.title and doc.text.startswith(doc.title + "\n\n")
    assert doc.metadata["journal"] and doc.metadata["license"]
    labels = [s.label for s in doc.sections]
    assert label in labels
    assert labels[0].startswith(("Abstract", "Author Summary"))
    assert any(lb.startswith(("Figure", "Table")) for lb in labels)  # captions kept
    assert_spans_round_trip(doc)
    # References are dropped.
    assert not any(s.label.lower().startswith("references") for s in doc.sections)


def test_jats_caption_and_references() -> None:
    (doc,) = read_all(FORMATS / "jats" / "pone.0046493.nxml")
    fig1 = next(s for s in doc.sections if s.label == "Figure 1")
    assert doc.text[fig1.start : fig1.end].startswith("Chemical structure of inhibitors.")
    # A reference-list title from <ref-list> must not appear in the text.
    assert "Drug-resistant tuberculosis: an insurmountable epidemic" not in doc.text
    intro = next(s for s in doc.sections if s.label == "Introduction")
    assert "tuberculosis remains one of the most threatening" in doc.text[intro.start : intro.end]


def test_pdf_sample_pages() -> None:
    (doc,) = read_all(PDF)
    assert doc.format == "pdf"
    assert doc.source == str(PDF)
    assert doc.title == (
        "Guide to Infection Prevention For Outpatient Settings: Minimum Expectations for Safe Care"
    )
    assert doc.metadata["page_count"] == 44
    labels = [int(p.label) for p in doc.pages]
    assert labels[0] == 1 and labels == sorted(labels) and labels[-1] <= 44
    assert len(labels) == 44  # every page has some text
    assert_spans_round_trip(doc)
    # Pages are joined by one blank line and partition the text.
    for a, b in zip(doc.pages, doc.pages[1:], strict=False):
        assert doc.text[a.end : b.start] == "\n\n"
    assert doc.pages[0].start == 0 and doc.pages[-1].end == len(doc.text)
    page3 = doc.pages[2]
    assert "INTRODUCTION" in doc.text[page3.start : page3.end]
    assert "  " not in doc.text


def test_pubmedqa_xml() -> None:
    docs = read_all(PUBMEDQA)
    assert len(docs) == 500
    assert all(d.title is None for d in docs)
    ids = [d.external_id for d in docs]
    assert len(set(ids)) == 500 and all(i and i.isdigit() for i in ids)
    if PUBMEDQA_JSON.exists():  # the shared data, where it is checked out beside the repo
        assert ids == list(json.loads(PUBMEDQA_JSON.read_text(encoding="utf-8")))
    first = docs[0]
    assert first.external_id == "10808977"
    assert first.source == f"{PUBMEDQA}#10808977"
    assert first.text.startswith("BACKGROUND\n")
    assert first.sections[-1].label == "CONCLUSIONS"
    assert first.year == 2000
    assert "Mammography" in first.metadata["mesh"]
    for d in docs:
        assert_spans_round_trip(d)


def test_medquad_subset() -> None:
    docs = read_all(MEDQUAD_SUBSET)
    assert 1150 <= len(docs) <= 1250
    assert len({d.source for d in docs}) == len(docs)
    topics = ("asthma", "diabetes", "hypertension", "kidney disease", "heart failure", "pneumonia")
    for topic in topics:
        assert any(topic in (d.title or "").lower() for d in docs), topic
    d = docs[0]
    assert d.format == "jsonl" and d.external_id and d.metadata["url"].startswith("http")
    assert "  " not in d.text


def test_jsonl_reader(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    rows = [
        {
            "_id": "a1",
            "title": "Asthma",
            "text": "Line one   with\tspaces.\n    Line two.\n\n\n\nNext",
            "url": "https://example.org/a1",
            "year": "2019",
            "metadata": {"source": "X"},
        },
        {"id": 7, "title": "", "text": "No title here."},
        {"_id": "empty", "title": "Nothing", "text": "   "},
        {"text": "No id at all."},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    docs = read_all(path)
    assert len(docs) == 3  # the empty-text record is skipped
    a, b, c = docs
    assert a.external_id == "a1" and a.source == f"{path}#a1"
    assert a.text == "Asthma\n\nLine one with spaces.\nLine two.\n\nNext"
    assert a.sections == ()
    assert a.year == 2019 and a.metadata["url"] == "https://example.org/a1"
    assert a.metadata["source"] == "X"
    assert a.doc_id == Document.make_id(a.text, "Asthma", "a1")
    assert b.external_id == "7" and b.title is None and b.text == "No title here."
    assert c.external_id is None and c.source == f"{path}#4"

    gz = tmp_path / "records.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as fh:
        fh.write(path.read_text(encoding="utf-8"))
    assert [d.doc_id for d in read_all(gz)] == [d.doc_id for d in docs]


def test_jsonl_duplicate_ids_get_distinct_sources(tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl"
    path.write_text('{"_id": "x", "text": "one"}\n{"_id": "x", "text": "two"}\n')
    a, b = read_all(path)
    assert a.source == f"{path}#x" and b.source == f"{path}#x@2"
    assert a.external_id == b.external_id == "x" and a.doc_id != b.doc_id


def test_jsonl_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"_id": "ok", "text": "fine"}\n{"_id": "broken", "text": \n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_all(path)
    assert err.value.source == str(path)
    assert "line 2" in err.value.reason and "invalid JSON" in err.value.reason
    assert str(path) in str(err.value)

    path.write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 1: expected a JSON object"):
        read_all(path)


def test_text_and_markdown(tmp_path: Path) -> None:
    md = tmp_path / "note.md"
    md.write_text(
        "# Heart failure\n\nIntro   text.\n\n## Treatment\nACE inhibitors.\n"
        "```\n# not a heading\n```\n\n## Prognosis\nVaries.\n",
        encoding="utf-8",
    )
    (doc,) = read_all(md)
    assert doc.format == "markdown" and doc.title == "Heart failure"
    assert [s.label for s in doc.sections] == ["Treatment", "Prognosis"]
    assert doc.text.startswith("Heart failure\n\nIntro text.\n\nTreatment\nACE inhibitors.")
    assert_spans_round_trip(doc)

    txt = tmp_path / "plain.txt"
    txt.write_text(
        "Pneumonia overview\nCommunity-acquired pneumonia is common.\n", encoding="utf-8"
    )
    (doc,) = read_all(txt)
    assert doc.format == "text" and doc.title == "Pneumonia overview"
    assert doc.text == "Pneumonia overview\n\nCommunity-acquired pneumonia is common."


def test_ids_stable_across_reads(tmp_path: Path) -> None:
    for path in (PUBMED, FORMATS / "jats" / "pone.0000217.nxml"):
        assert [d.doc_id for d in read_all(path)] == [d.doc_id for d in read_all(path)]
    # The id depends on content, not on where the file lies.
    copy = tmp_path / "elsewhere.xml"
    shutil.copy(PUBMED, copy)
    assert read_all(copy)[0].doc_id == read_all(PUBMED)[0].doc_id


@pytest.mark.parametrize("suffix", [".xml", ".nxml"])
def test_billion_laughs_is_refused(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"laughs{suffix}"
    path.write_text(BILLION_LAUGHS, encoding="utf-8")
    with pytest.raises(InputError, match="entity declarations are not allowed"):
        read_all(path)


def test_external_entity_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT", encoding="utf-8")
    path = tmp_path / "xxe.nxml"
    path.write_text(EXTERNAL_ENTITY.format(secret=secret), encoding="utf-8")
    with pytest.raises(InputError, match="entity declarations are not allowed") as err:
        read_all(path)
    assert "TOP-SECRET-CONTENT" not in str(err.value)


def test_entity_declaration_past_the_prolog_scan_is_still_refused(tmp_path: Path) -> None:
    # Padding pushes the declaration beyond the quick byte scan; the parsed DTD check catches it.
    padding = "<!-- " + "x" * (1 << 20) + " -->"
    path = tmp_path / "padded.xml"
    path.write_text(
        BILLION_LAUGHS.replace("<!DOCTYPE", padding + "\n<!DOCTYPE", 1), encoding="utf-8"
    )
    with pytest.raises(InputError, match="entity declarations are not allowed"):
        read_all(path)


def test_malformed_and_unknown_xml(tmp_path: Path) -> None:
    truncated = tmp_path / "cut.xml"
    truncated.write_bytes(PUBMED.read_bytes()[:5000])
    with pytest.raises(InputError, match="malformed XML") as err:
        read_all(truncated)
    assert err.value.source == str(truncated) and "line" in err.value.reason

    other = tmp_path / "other.xml"
    other.write_text("<svg><g/></svg>", encoding="utf-8")
    with pytest.raises(InputError, match="root element <svg>"):
        read_all(other)


@pytest.mark.parametrize("content", [b"this is not a PDF at all\n", b"", "truncated"])
def test_broken_pdf_is_refused(tmp_path: Path, content: bytes | str) -> None:
    path = tmp_path / "paper.pdf"
    path.write_bytes(PDF.read_bytes()[:300_000] if content == "truncated" else content)
    with pytest.raises(InputError) as err:
        read_all(path)
    assert err.value.source == str(path) and "PDF" in err.value.reason


def test_discover_formats_ignore_and_missing(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    (root / "full").mkdir(parents=True)
    (root / "sub" / "deep").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for rel in [
        "b.pdf",
        "a.jsonl",
        "c.jsonl.gz",
        "d.nxml",
        "e.xml",
        "f.txt",
        "g.md",
        "README.md",
        "skip.csv",
        "full/big.jsonl",
        "sub/x.txt",
        "sub/README.md",
        "sub/deep/y.md",
        ".hidden/h.txt",
        "sub/notes.tmp.md",
    ]:
        (root / rel).write_text("x", encoding="utf-8")
    (root / ".medkbignore").write_text("# comment\nfull/\nREADME.md\n\n", encoding="utf-8")
    (root / "sub" / ".medkbignore").write_text("deep/\n*.tmp.md\n", encoding="utf-8")

    files, problems = discover([root, tmp_path / "missing", root / "skip.csv"])
    rel = [p.relative_to(root).as_posix() for p in files]
    assert rel == [
        "a.jsonl",
        "b.pdf",
        "c.jsonl.gz",
        "d.nxml",
        "e.xml",
        "f.txt",
        "g.md",
        "sub/x.txt",
    ]
    assert all(str(p).startswith(str(root)) for p in files)  # paths as given
    assert [s for s, _ in problems] == [str(tmp_path / "missing"), str(root / "skip.csv")]
    assert "no such file" in problems[0][1] and "unsupported" in problems[1][1]

    # Naming an ignored folder explicitly reads it; a file reached twice is listed once.
    files, problems = discover([root / "full", root, root / "a.jsonl"])
    rel = [p.relative_to(root).as_posix() for p in files]
    assert rel[0] == "full/big.jsonl" and rel.count("a.jsonl") == 1 and not problems


def test_discover_shipped_corpora() -> None:
    files, problems = discover([CORPORA])
    rel = {p.relative_to(CORPORA).as_posix() for p in files}
    assert not problems
    assert "literature/medquad_subset.jsonl" in rel
    assert "literature/pubmedqa_dev_abstracts.xml" in rel
    assert f"formats/pdf/{PDF.name}" in rel
    assert not any(r.startswith(("full/", "graph/", "scripts/")) for r in rel)
    assert not any(r.endswith(("README.md", "ATTRIBUTION.md")) for r in rel)
