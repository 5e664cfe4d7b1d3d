"""Evidence type and topic: metadata rules first, then the text model."""

from __future__ import annotations

from dataclasses import replace
from itertools import islice
from pathlib import Path

import pytest

from ingest.classify import (
    EVIDENCE_TYPES,
    TOPICS,
    TextClassifier,
    classify,
    classify_documents,
    evidence_from_mesh,
    evidence_from_publication_types,
    topic_from_mesh,
)
from ingest.readers import read_source
from ingest.readers._layout import make_document
from ingest.summarise import embed_sentences
from kb.embedder import make_embedder

ROOT = Path(__file__).resolve().parents[2]
PUBMED = ROOT / "corpora/formats/pubmed/pubmed-29768149.xml"
MEDQUAD = ROOT / "corpora/literature/medquad_subset.jsonl"
JATS = ROOT / "corpora/formats/jats"

SNIPPETS = {
    "rct": "We randomly assigned 412 adults with moderate asthma to receive the inhaled drug or "
           "placebo. The primary end point was the rate of severe exacerbations at 52 weeks.",
    "case_report": "We report a case of a 45-year-old man who presented with fever and a "
                   "painful rash on his left leg. Blood cultures grew Streptococcus pyogenes.",
    "cohort_case_control": "In this retrospective cohort study, we reviewed the medical records "
                           "of 2,315 patients who underwent hip replacement between 2005 and "
                           "2015. Obesity was associated with a higher risk of infection.",
    "systematic_review": "We conducted a systematic review and meta-analysis of randomised "
                         "trials. We searched MEDLINE and Embase; 23 studies met the inclusion "
                         "criteria and pooled estimates were calculated.",
}
SLOW_SNIPPETS = {
    **SNIPPETS,
    "narrative_review": "This review summarizes current knowledge on the pathophysiology of "
                        "heart failure and discusses recent advances in its treatment.",
    "guideline": "The panel recommends that clinicians offer statin therapy to adults at high "
                 "cardiovascular risk (strong recommendation, moderate-quality evidence).",
    "consumer_health": "What is high blood pressure? Blood pressure is the force of blood "
                       "pushing against the walls of your arteries. Talk to your doctor about "
                       "how to lower it.",
    "other": "Mice lacking the gene were generated and compared with wild-type littermates. "
             "In vitro experiments with cultured cells showed increased expression of the "
             "protein.",
}


def _text_doc(text: str, title: str | None = None, fmt: str = "text", **metadata):
    return make_document(source="t", format=fmt, title=title, sections=[(None, text)],
                         metadata=metadata)


def test_pubmed_sample_is_rct_from_publication_types() -> None:
    doc = next(read_source(PUBMED))
    c = classify(doc)
    assert (c.evidence_type, c.source) == ("rct", "publication_types")
    assert c.confidence >= 0.9
    assert (c.topic, c.topic_source) == ("respiratory", "mesh")


def test_pubmed_sample_text_only_is_rct_too() -> None:
    doc = replace(next(read_source(PUBMED)), metadata={})
    c = classify_documents([doc], make_embedder("hash-256"))[doc.doc_id]
    assert (c.evidence_type, c.source) == ("rct", "model")
    assert c.topic == "respiratory"


def test_medquad_records_are_consumer_health() -> None:
    docs = list(islice(read_source(MEDQUAD), 6))
    out = classify_documents(docs)  # no embedder: metadata decides
    for doc in docs:
        assert out[doc.doc_id].evidence_type == "consumer_health"
        assert out[doc.doc_id].source == "format"
    assert out[docs[0].doc_id].topic == "oncology"  # childhood non-Hodgkin lymphoma


def test_jats_article_types() -> None:
    review = _text_doc("Heart failure is common.", "Heart failure today", "jats",
                       article_type="review-article")
    systematic = _text_doc("Trials were pooled.", "Statins: a systematic review and "
                           "meta-analysis", "jats", article_type="review-article")
    case = _text_doc("A man presented with fever.", "An unusual fever", "jats",
                     article_type="case-report")
    out = classify_documents([review, systematic, case])
    assert (out[review.doc_id].evidence_type, out[review.doc_id].source) == (
        "narrative_review", "format")
    assert out[systematic.doc_id].evidence_type == "systematic_review"
    assert out[case.doc_id].evidence_type == "case_report"
    shipped = [d for p in sorted(JATS.glob("*.nxml")) for d in read_source(p)]
    for doc in shipped:  # all research articles: article-type does not decide
        if doc.metadata.get("article_type") == "review-article":
            assert classify(doc).evidence_type == "narrative_review"
        else:
            assert classify(doc).source == "model"


def test_guide_pdf_is_a_guideline() -> None:
    doc = _text_doc("Standard precautions apply to all patient care.", "Guide to Infection "
                    "Prevention For Outpatient Settings", "pdf")
    c = classify(doc)
    assert (c.evidence_type, c.source) == ("guideline", "format")
    assert c.topic == "infectious_disease"


@pytest.mark.parametrize("types,expected", [
    (["Journal Article", "Review", "Meta-Analysis"], "systematic_review"),
    (["Case Reports", "Review"], "case_report"),
    (["Practice Guideline", "Review"], "guideline"),
    (["Journal Article", "Review"], "narrative_review"),
    (["Journal Article", "Observational Study"], "cohort_case_control"),
    (["Editorial"], "other"),
    (["Journal Article", "Comparative Study", "Clinical Trial"], None),
])
def test_publication_type_rules(types, expected) -> None:
    hit = evidence_from_publication_types(types)
    assert (hit[0] if hit else None) == expected


def test_untyped_review_with_systematic_title() -> None:
    assert evidence_from_publication_types(
        ["Review"], "Aspirin for prevention: a systematic review")[0] == "systematic_review"


@pytest.mark.parametrize("mesh,expected", [
    (["Humans", "Randomized Controlled Trials as Topic"], None),  # about RCTs, maybe a review
    (["Humans", "Meta-Analysis as Topic", "Practice Guidelines as Topic"], None),
    (["Humans", "Retrospective Studies"], "cohort_case_control"),
    (["Humans", "Cross-Sectional Studies"], "cohort_case_control"),
    (["Humans", "Double-Blind Method", "Prospective Studies"], "rct"),
    (["Animals", "Rats", "Random Allocation"], "other"),
    (["Animals", "Humans", "Cohort Studies"], "cohort_case_control"),
])
def test_mesh_design_rules(mesh, expected) -> None:
    hit = evidence_from_mesh(mesh)
    assert (hit[0] if hit else None) == expected


def test_consumer_sites_but_not_pubmed_urls() -> None:
    consumer = _text_doc("Asthma is a disease of the airways.", "Asthma", "jsonl",
                         url="https://medlineplus.gov/asthma.html")
    literature = _text_doc("Asthma is a disease of the airways.", "Asthma study", "jsonl",
                           url="https://www.ncbi.nlm.nih.gov/pubmed/123")
    out = classify_documents([consumer, literature])
    assert out[consumer.doc_id].evidence_type == "consumer_health"
    assert out[literature.doc_id].source == "model"


@pytest.mark.parametrize("label", sorted(SNIPPETS))
def test_text_model_on_written_snippets(label) -> None:
    doc = _text_doc(SNIPPETS[label])
    c = classify_documents([doc], make_embedder("hash-256"))[doc.doc_id]
    assert (c.evidence_type, c.source) == (label, "model")
    assert 0.0 < c.confidence <= 1.0


def test_text_model_without_embedder_uses_cues() -> None:
    doc = _text_doc(SNIPPETS["case_report"])
    assert classify(doc).evidence_type == "case_report"


def test_batch_embeds_only_undecided_documents_once() -> None:
    class Counting:
        def __init__(self):
            self.inner = make_embedder("hash-256")
            self.calls = 0

        def embed(self, texts, *, progress=None):
            self.calls += 1
            return self.inner.embed(texts)

    decided = list(islice(read_source(MEDQUAD), 3)) + [next(read_source(PUBMED))]
    undecided = [_text_doc(t) for t in SNIPPETS.values()]
    emb = Counting()
    out = classify_documents(decided + undecided, emb)
    # one call for the prototypes, one for the sentences of the undecided documents
    assert emb.calls == 2
    assert len(out) == len(decided) + len(undecided)
    for c in out.values():
        assert c.evidence_type in EVIDENCE_TYPES and c.topic in TOPICS
    table = embed_sentences(undecided, make_embedder("hash-256"))
    emb2 = Counting()
    assert classify_documents(decided + undecided, emb2, sentences=table) == out
    assert emb2.calls == 1  # prototypes only


def test_deterministic_and_metadata_can_be_ignored() -> None:
    doc = next(read_source(PUBMED))
    emb = make_embedder("hash-256")
    a = classify_documents([doc], emb, use_metadata=False)
    b = classify_documents([doc], emb, use_metadata=False)
    assert a == b and a[doc.doc_id].source == "model"


@pytest.mark.parametrize("mesh,major,expected", [
    (["Humans", "Lung Neoplasms", "Smoking"], ["Lung Neoplasms"], "oncology"),
    (["Humans", "Child", "Asthma"], [], "respiratory"),
    (["Humans", "Infant, Newborn"], [], "pediatrics"),
    (["Humans", "Diabetes Mellitus, Type 2", "Metformin"], [], "endocrine_metabolic"),
    (["Humans", "Female"], [], None),
])
def test_topic_from_mesh(mesh, major, expected) -> None:
    hit = topic_from_mesh(mesh, major)
    assert (hit[0] if hit else None) == expected


def test_topic_from_text_keywords() -> None:
    doc = _text_doc("Metformin lowers blood glucose in type 2 diabetes.", "Diabetes care")
    c = classify(doc)
    assert (c.topic, c.topic_source) == ("endocrine_metabolic", "text")


@pytest.mark.slow
@pytest.mark.parametrize("label", sorted(SLOW_SNIPPETS))
def test_text_model_with_the_real_embedder(label) -> None:
    pytest.importorskip("sentence_transformers")
    from kb.models import embedder_path

    try:
        embedder_path()
    except Exception as exc:
        pytest.skip(f"default embedder not provisioned: {exc}")
    emb = make_embedder("all-MiniLM-L6-v2")
    doc = _text_doc(SLOW_SNIPPETS[label])
    clf = TextClassifier(emb)
    c = classify_documents([doc], emb, classifier=clf)[doc.doc_id]
    assert c.evidence_type == label


def test_lexicon_patterns_match_any_case() -> None:
    """Lexicon patterns are matched against lower-cased text (faster than re.IGNORECASE):
    upper-case words in a pattern still match in any case; escapes whose meaning depends on
    case are refused when the lexicon loads, not silently changed."""
    from ingest.classify import _lower_case_pattern, topic_from_text

    rx = _lower_case_pattern(r"\b(NIDDK|NIH)\b")
    assert rx.search("funded by the NIH.".lower()) and rx.search("the nih")
    for bad in (r"\W+", r"[A-Z]{3}", r"\bfoo\S"):
        with pytest.raises(ValueError, match="upper-case"):
            _lower_case_pattern(bad)
    upper = make_document(source="t", format="text", title="MYOCARDIAL INFARCTION",
                          sections=[(None, "CORONARY HEART DISEASE AFTER THROMBOSIS.")])
    lower = make_document(source="t", format="text", title="myocardial infarction",
                          sections=[(None, "coronary heart disease after thrombosis.")])
    assert topic_from_text(upper) == topic_from_text(lower)
    assert topic_from_text(upper)[0] == "cardiovascular"
    assert topic_from_mesh(["Asthma"]) == topic_from_mesh(["ASTHMA"])
