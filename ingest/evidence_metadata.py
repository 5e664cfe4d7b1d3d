"""Evidence type from what a record says about itself, before any text model: PubMed
publication types (NLM indexers read the paper), MeSH study-design descriptors, and the
record's format (JATS article-type, consumer-health JSONL, guides and recommendations).
ingest.classify falls back to its text model when none of these decides."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlparse

from kb.records import Document

# --- 1. PubMed publication types ------------------------------------------------------------

# (evidence type, confidence, publication types); the first rule that matches wins, so a
# meta-analysis tagged "Review" is a systematic review and a case report with a literature
# review stays a case report.
_PUBLICATION_RULES: tuple[tuple[str, float, frozenset[str]], ...] = (
    ("guideline", 0.95, frozenset({"Practice Guideline", "Guideline",
                                   "Consensus Development Conference",
                                   "Consensus Development Conference, NIH"})),
    ("systematic_review", 0.95, frozenset({"Systematic Review", "Meta-Analysis",
                                           "Network Meta-Analysis"})),
    ("rct", 0.95, frozenset({"Randomized Controlled Trial",
                             "Randomized Controlled Trial, Veterinary"})),
    ("rct", 0.8, frozenset({"Pragmatic Clinical Trial", "Equivalence Trial",
                            "Adaptive Clinical Trial"})),  # randomised by construction, nearly always
    ("case_report", 0.9, frozenset({"Case Reports"})),
    ("cohort_case_control", 0.8, frozenset({"Observational Study", "Twin Study",
                                            "Observational Study, Veterinary"})),
    ("narrative_review", 0.85, frozenset({"Review", "Scoping Review"})),
    ("other", 0.7, frozenset({"Editorial", "Comment", "Letter", "News", "Biography",
                              "Historical Article", "Published Erratum", "Retraction Notice",
                              "Interview", "Portrait", "Lecture"})),
)
# Deliberately absent: "Comparative Study", "Multicenter Study", "Evaluation Study",
# "Validation Study", "Clinical Trial" and its phases (single-arm trials are common),
# "Controlled Clinical Trial" (non-random allocation): they leave the decision to MeSH/text.

_SYSTEMATIC = re.compile(r"systematic(ally)? review|meta-?analy[sz]|pooled analysis of",
                         re.IGNORECASE)


def evidence_from_publication_types(types: Iterable[str], title: str = ""
                                    ) -> tuple[str, float] | None:
    have = {t.strip() for t in types}
    for label, conf, names in _PUBLICATION_RULES:
        if have & names:
            if label == "narrative_review" and _SYSTEMATIC.search(title or ""):
                return "systematic_review", 0.8  # indexed before NLM's "Systematic Review" type
            return label, conf
    return None


# --- 2. MeSH study-design descriptors -------------------------------------------------------

MESH_RCT = frozenset({"Random Allocation", "Double-Blind Method", "Single-Blind Method",
                      "Cross-Over Studies"})
MESH_OBSERVATIONAL = frozenset({"Cohort Studies", "Case-Control Studies", "Retrospective Studies",
                                "Prospective Studies", "Follow-Up Studies",
                                "Longitudinal Studies", "Cross-Sectional Studies"})
MESH_NON_HUMAN = frozenset({"Animals", "In Vitro Techniques", "Cell Line", "Cell Line, Tumor"})


def mesh_design_votes(mesh: Iterable[str]) -> set[str]:
    """Every evidence type the design descriptors point to (more than one: a conflict)."""
    terms = set(mesh)
    votes = set()
    if terms & MESH_RCT:
        votes.add("rct")
    if terms & MESH_OBSERVATIONAL:
        votes.add("cohort_case_control")
    if terms & MESH_NON_HUMAN and "Humans" not in terms:
        votes.add("other")
    return votes


def evidence_from_mesh(mesh: Iterable[str]) -> tuple[str, float] | None:
    """Non-human work is preclinical whatever its design; trial methods outrank the
    "Prospective/Follow-Up Studies" that indexers add to trials too."""
    votes = mesh_design_votes(mesh)
    if not votes:
        return None
    if "other" in votes:
        return "other", 0.75 if len(votes) == 1 else 0.6
    if "rct" in votes:
        return "rct", 0.8 if len(votes) == 1 else 0.65
    return "cohort_case_control", 0.8


# --- 3. format and record kind --------------------------------------------------------------

_JATS_TYPES = {
    "review-article": "narrative_review", "systematic-review": "systematic_review",
    "case-report": "case_report", "practice-guideline": "guideline", "guideline": "guideline",
    "editorial": "other", "letter": "other", "news": "other", "article-commentary": "other",
    "book-review": "other", "correction": "other", "retraction": "other", "obituary": "other",
    "reply": "other", "discussion": "other", "meeting-report": "other",
}
# Patient-information sites (MedQuAD's sources among them). The literature hosts on the same
# domains (PubMed, PMC) are excluded below.
CONSUMER_DOMAINS = (
    "medlineplus.gov", "cancer.gov", "niddk.nih.gov", "ninds.nih.gov", "nhlbi.nih.gov",
    "nia.nih.gov", "nihseniorhealth.gov", "ghr.nlm.nih.gov", "rarediseases.info.nih.gov",
    "cdc.gov", "womenshealth.gov", "healthfinder.gov", "nhs.uk", "mayoclinic.org",
    "familydoctor.org", "kidshealth.org", "healthdirect.gov.au",
)
_LITERATURE_HOSTS = ("ncbi.nlm.nih.gov", "pubmed", "europepmc.org", "doi.org")
CONSUMER_SOURCES = frozenset({"ghr", "gard", "niddk", "nihseniorhealth", "ninds",
                              "mplushealthtopics", "medlineplus", "nhlbi", "cancergov", "cdc",
                              "medquad"})
_QUESTION_KEYS = ("question_type", "qtype", "question")
_GUIDE_TITLE = re.compile(r"\b(guide|guides|guideline|guidelines|guidance|recommendations?|"
                          r"standards of care|position statement|consensus statement)\b",
                          re.IGNORECASE)


def _is_consumer_url(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    if not host or any(h in host for h in _LITERATURE_HOSTS):
        return False
    return any(host == d or host.endswith("." + d) for d in CONSUMER_DOMAINS)


def evidence_from_format(doc: Document) -> tuple[str, float] | None:
    meta = doc.metadata or {}
    if doc.format == "jats":
        label = _JATS_TYPES.get(str(meta.get("article_type") or "").lower())
        if label == "narrative_review" and _SYSTEMATIC.search(doc.title or ""):
            return "systematic_review", 0.8
        if label:
            return label, 0.8
        return None
    if doc.format == "jsonl":
        url = str(meta.get("url") or "")
        source = str(meta.get("source") or "").strip().lower().replace(" ", "")
        if url and _is_consumer_url(url):
            return "consumer_health", 0.9
        if source in CONSUMER_SOURCES:
            return "consumer_health", 0.85
        if any(meta.get(k) for k in _QUESTION_KEYS):
            return "consumer_health", 0.7
        return None
    if doc.format in ("pdf", "text", "markdown") and _GUIDE_TITLE.search(doc.title or ""):
        return "guideline", 0.7
    return None


def evidence_from_metadata(doc: Document) -> tuple[str, float, str] | None:
    """(evidence type, confidence, source) from what the record carries, else None."""
    meta = doc.metadata or {}
    hit = evidence_from_publication_types(meta.get("publication_types") or (), doc.title or "")
    if hit:
        return hit[0], hit[1], "publication_types"
    hit = evidence_from_mesh(meta.get("mesh") or ())
    if hit:
        return hit[0], hit[1], "mesh"
    hit = evidence_from_format(doc)
    if hit:
        return hit[0], hit[1], "format"
    return None
