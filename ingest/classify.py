"""Evidence type and clinical topic of a document: metadata first, then a text model.

Evidence type, in this order of trust:
1. PubMed publication types (NLM indexers read the paper);
2. MeSH study-design descriptors ("Retrospective Studies", "Double-Blind Method"); the
   "... as Topic" descriptors say what a paper is *about* ("Randomized Controlled Trials as
   Topic" is on reviews and methods papers too), so they never decide;
3. the record's format: JATS `article-type`, consumer-health JSONL (MedQuAD and the like:
   question records, patient-information sites), guides and recommendations in PDF/text;
4. otherwise the text model (`source="model"`): each candidate sentence is compared with
   prototype sentences of every class in embedding space, plus regular-expression cues for
   the phrases authors use to name their design ("we randomly assigned", "in this
   retrospective cohort study", "we report a case of").

`cohort_case_control` stands for analytic observational studies: cohort, case-control and
cross-sectional designs. `other` covers basic science, animal and in-vitro work, modelling,
editorials and letters.

Topic comes from MeSH descriptors where present (major topics weigh more), else from the
title and text, by keyword families shaped after the MeSH disease tree; when no keyword
fires, the text model compares the document with topic descriptions. Everything here is
deterministic for a given embedder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

import numpy as np

from ingest.summarise import SentenceTable, TextEmbedder, embed_sentences
from kb.records import Document

EVIDENCE_TYPES = (
    "guideline", "systematic_review", "rct", "cohort_case_control", "case_report",
    "narrative_review", "consumer_health", "other",
)
TOPICS = (
    "cardiovascular", "respiratory", "endocrine_metabolic", "infectious_disease", "oncology",
    "neurology", "mental_health", "renal_urology", "gastroenterology", "musculoskeletal",
    "dermatology", "obstetrics_gynecology", "pediatrics", "dentistry_oral",
    "environmental_occupational", "other",
)
SENTENCES_FOR_TYPE = 40  # the design is named early: abstract, methods opening


@dataclass(frozen=True)
class Classification:
    """`source` says what decided the evidence type: publication_types | mesh | format | model;
    `topic_source`: mesh | text (keywords) | model (embedding prototypes) | none."""

    evidence_type: str
    topic: str
    source: str
    confidence: float
    topic_source: str = "none"
    topic_confidence: float = 0.0


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


# --- 4. the text model ------------------------------------------------------------------------

# Sentences written the way each kind of document states what it is.
PROTOTYPES: Mapping[str, tuple[str, ...]] = {
    "guideline": (
        "This guideline provides evidence-based recommendations for the management of adults "
        "with the condition.",
        "The panel recommends that clinicians offer treatment (strong recommendation, "
        "moderate-quality evidence).",
        "These recommendations were developed by an expert committee using the GRADE approach.",
        "Healthcare facilities should ensure that staff follow standard precautions.",
    ),
    "systematic_review": (
        "We conducted a systematic review and meta-analysis of randomized controlled trials.",
        "We searched MEDLINE, Embase and the Cochrane Library for eligible studies.",
        "Pooled estimates were calculated with a random-effects model and heterogeneity was "
        "assessed with the I2 statistic.",
        "Twenty-three studies including 4512 participants met the inclusion criteria.",
    ),
    "rct": (
        "We randomly assigned patients to receive the drug or placebo.",
        "In this double-blind, placebo-controlled trial, participants were randomized in a 1:1 "
        "ratio.",
        "Patients were randomised to the intervention group or the control group.",
        "The primary end point was assessed in the intention-to-treat population.",
    ),
    "cohort_case_control": (
        "In this retrospective cohort study, we reviewed the medical records of all patients "
        "treated at our institution.",
        "We conducted a prospective cohort study and followed participants for a median of "
        "five years.",
        "In a case-control study, cases were matched to controls by age and sex.",
        "This cross-sectional study used data from a national survey.",
        "Charts of consecutive patients who underwent surgery between 2000 and 2010 were "
        "reviewed retrospectively.",
    ),
    "case_report": (
        "We report a case of a 45-year-old man who presented with chest pain.",
        "A 62-year-old woman was admitted to our hospital with fever and abdominal pain.",
        "We describe a rare case of this tumour and review the literature.",
        "The patient was discharged in good condition after treatment.",
    ),
    "narrative_review": (
        "This review summarizes current knowledge on the pathophysiology and treatment of "
        "the disease.",
        "In this article, we review recent advances and discuss future directions.",
        "We provide an overview of the literature on diagnosis and management.",
    ),
    "consumer_health": (
        "What is diabetes? Diabetes is a disease in which your blood glucose is too high.",
        "Talk to your doctor if you have any of these symptoms.",
        "You can lower your risk by eating healthy foods and staying active.",
        "These resources address the diagnosis or management of the condition.",
        "This condition is inherited in an autosomal dominant pattern.",
        "Mutations in the gene cause the condition; the gene provides instructions for making "
        "a protein.",
        "This condition is rare, and its prevalence is unknown.",
        "Researchers are studying new ways to diagnose, treat and prevent the disease.",
    ),
    "other": (
        "Rats were fed a high-fat diet for eight weeks and their livers were analysed.",
        "In vitro experiments with cultured cells showed increased expression of the protein.",
        "We developed a mathematical model to describe the dynamics of the population.",
        "Mice lacking the gene were generated and compared with wild-type littermates.",
        "In this editorial, we comment on the implications of the recent findings.",
    ),
}

# (pattern, weight): phrases that name a design. Weights are added to the prototype score.
CUES: Mapping[str, tuple[tuple[str, float], ...]] = {
    "guideline": (
        (r"\b(practice|clinical) guidelines?\b|\bwe recommend\b|\bis recommended\b|"
         r"\brecommendations? (for|on)\b|\bstrong recommendation\b|\bconsensus statement\b", 0.15),
    ),
    "systematic_review": (
        (r"\bsystematic(ally)? review|\bmeta-?analy[sz]|\bpooled (analysis|estimate)|"
         r"\bsearched (medline|pubmed|embase|the cochrane)", 0.3),
    ),
    "rct": (
        (r"\brandomi[sz]ed (controlled |clinical |placebo-controlled |double-blind |)trial|"
         r"\brandom(ly)? (assigned|allocated)|\bwere randomi[sz]ed\b|\brandomi[sz]ation\b", 0.3),
        (r"\bdouble-blind|\bplacebo-controlled|\bintention-to-treat", 0.1),
    ),
    "cohort_case_control": (
        (r"\bretrospective(ly)?\b|\bcohort\b|\bcase-control\b|\bcross-sectional\b|"
         r"\bchart review\b|\bmedical records\b|\bpopulation-based\b", 0.25),
        (r"\bprospective(ly)?\b|\bregistry\b|\bfollow-up\b|\bconsecutive (patients|cases)\b|"
         r"\b(we|this study) (studied|enrolled|included|analy[sz]ed|reviewed|examined|compared)\b",
         0.1),
    ),
    "case_report": (
        (r"\b(we|the authors) (report|describe|present) (a|an|the|two|three) (rare |unusual |)case|"
         r"\bcase report\b|\b\d{1,3}-year-old (man|woman|boy|girl|male|female|patient|child)", 0.3),
    ),
    "narrative_review": (
        (r"\b(this|the present) (article|paper) reviews\b|\bin this review\b|\bwe review\b|"
         r"\b(narrative|literature) review\b|\brecent advances\b|\boverview of\b", 0.15),
    ),
    "consumer_health": (
        (r"\byour (doctor|health care provider|child|body|risk|blood)\b|\btalk to\b|"
         r"\bwhat (is|are) [^.?]{2,60}\?|\bhow (do|can) (i|you)\b|\byou (may|can|should|have)\b",
         0.2),
        (r"\bhealth care providers?\b|\bprovides instructions for making\b|"
         r"\bthese resources address\b|\bGenetic Testing Registry\b|\bMedlinePlus\b|"
         r"\b(NIDDK|NINDS|NHLBI|NIH)\b|\bNational Institutes? of\b|\bpeople (with|who)\b|"
         r"\bis a (rare|common|chronic|serious) (disease|disorder|condition)\b|"
         r"\b(prevalence|incidence) is unknown\b|\b(researchers|scientists) are\b", 0.15),
    ),
    "other": (
        (r"\b(rats?|mice|murine|rabbits?|in vitro|cell lines?|cultured cells|knockout|"
         r"zebrafish|simulation|mathematical model|editorial)\b", 0.15),
    ),
}
_CUES = {label: tuple((re.compile(p, re.IGNORECASE), w) for p, w in cues)
         for label, cues in CUES.items()}
_MIN_SCORE = 0.2  # below this best score the text says nothing about design: "other"
# Research write-ups (structured abstracts, test statistics) are not patient information.
_RESEARCH = re.compile(
    r"^(?:BACKGROUND|METHODS?|RESULTS|CONCLUSIONS?|OBJECTIVES?|MATERIALS AND METHODS|"
    r"PATIENTS AND METHODS|STUDY DESIGN)\b|\bp\s*[<=>]\s*0?\.\d|\b95\s*% ?(CI|confidence)|"
    r"\b(odds|hazard|risk) ratio\b", re.MULTILINE)
_RESEARCH_PENALTY = {"consumer_health": 0.2, "narrative_review": 0.1}
# A case report is about one to three patients; a study that counts tens is not one.
_MANY_PATIENTS = re.compile(
    r"\b(\d{2,}|\d{1,3}(,\d{3})+|(twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    r"hundred|thousand)[\w -]*?)\s+(consecutive\s+)?(patients|subjects|cases|participants|"
    r"women|men|children|infants|adults|individuals|volunteers)\b", re.IGNORECASE)
_MANY_PATIENTS_PENALTY = {"case_report": 0.15}
# Systematic reviews, guidelines and reviews name themselves; without their cue, similarity
# alone (a pooled estimate, a recommendation-like conclusion) is weak evidence.
_NEEDS_CUE = {"systematic_review": 0.15, "guideline": 0.1, "narrative_review": 0.1}

TOPIC_DESCRIPTIONS: Mapping[str, str] = {
    "cardiovascular": "heart disease, hypertension, heart failure, coronary artery disease, "
                      "arrhythmia and blood vessels",
    "respiratory": "lung disease, asthma, chronic obstructive pulmonary disease, pneumonia and "
                   "breathing",
    "endocrine_metabolic": "diabetes, obesity, thyroid disease, hormones and metabolism",
    "infectious_disease": "infections caused by bacteria, viruses, fungi or parasites, "
                          "antibiotics and vaccines",
    "oncology": "cancer, tumours, chemotherapy and radiotherapy",
    "neurology": "brain and nerve disorders, stroke, epilepsy, dementia and Parkinson disease",
    "mental_health": "depression, anxiety, schizophrenia, substance use and mental illness",
    "renal_urology": "kidney disease, dialysis, urinary tract and bladder disorders",
    "gastroenterology": "digestive system, liver disease, stomach, intestines and bowel",
    "musculoskeletal": "bones, joints, muscles, fractures, arthritis and back pain",
    "dermatology": "skin diseases, rashes, psoriasis and eczema",
    "obstetrics_gynecology": "pregnancy, childbirth, women's reproductive health and the uterus",
    "pediatrics": "infants, children and adolescents' health and development",
    "dentistry_oral": "teeth, gums, dental care and oral health",
    "environmental_occupational": "environmental exposure, pollution, toxic chemicals and "
                                  "workplace health",
}
_TOPIC_MIN_SIM = 0.25

# Keyword families (lower-case regular expressions, word-initial) after the MeSH C/F trees.
TOPIC_TERMS: Mapping[str, str] = {
    "cardiovascular": r"heart|cardi(ac|o|al)|coronary|myocardi|hypertensi|blood pressure|atrial|"
                      r"arrhythmi|aort|arteri|atheroscl|angina|thrombo|embol|aneurysm|vascular|"
                      r"venous|varicose|valv",
    "respiratory": r"asthma|copd|pulmonar|lungs?\b|pneumon|bronch|respirat|airway|emphysema|"
                   r"cystic fibrosis|sleep apnea|pleura|inhal|ventilat|spirometr|trache",
    "endocrine_metabolic": r"diabet|insulin|glyc|glucose|thyroid|obes|metabolic|lipid|"
                           r"cholesterol|adrenal|pituitar|hormone|endocrin|body mass|overweight",
    "infectious_disease": r"infect|bacteri|viral|virus|hiv\b|aids\b|hepatitis|tubercul|malaria|"
                          r"sepsis|septic|antibiotic|anti-bacterial|antimicrob|vaccin|influenza|"
                          r"covid|sars|fung|parasit|mycobacter|streptococc|staphylococc|"
                          r"rift valley|zoono|dengue|leishmani",
    "oncology": r"cancer|neoplas|tumou?r|carcinoma|lymphoma|leuka?emia|melanoma|sarcoma|"
                r"metasta|chemotherap|oncolog|malignan|radiotherap|adenocarcinoma|myeloma|"
                r"glioma|blastoma",
    "neurology": r"neuro|brain|stroke|cerebr|epilep|seizure|parkinson|alzheimer|dementia|"
                 r"multiple sclerosis|migraine|headache|spinal cord|nerve|cognitive|"
                 r"intracranial|ataxia|palsy",
    "mental_health": r"depressi|anxiety|psychiatr|schizophren|bipolar|mental|suicid|"
                     r"substance|alcohol|addict|autis|adhd|attention deficit|eating disorder|"
                     r"stress disorder|psycholog|opioid use",
    "renal_urology": r"kidney|renal|nephr|urinar|bladder|prostat|dialysis|urolog|incontinen|"
                     r"glomerul|ureter",
    "gastroenterology": r"gastr|liver|hepat|bowel|colon|colorectal|crohn|colitis|pancrea|"
                        r"esophag|oesophag|celiac|coeliac|digestive|intestin|biliary|cirrhosis|"
                        r"reflux|endoscop|rectal|duoden|stomach|cholecyst",
    "musculoskeletal": r"bone|fractur|arthrit|osteo|joints?\b|muscul|orthop|knee|hip\b|tendon|"
                       r"ligament|back pain|gout|rheumat|spine|vertebr|scoliosis|shoulder",
    "dermatology": r"skin|derma|psoria|eczema|acne|wound|burns?\b|alopecia|pruritus|urticaria|"
                   r"cutaneous",
    "obstetrics_gynecology": r"pregnan|obstet|gyn[ae]*ecol|cesarean|caesarean|preterm|fetal|"
                             r"foetal|fetus|maternal|placent|uter|ovar|menstru|menopaus|"
                             r"contracept|endometri|infertil|labou?r induction|postpartum|"
                             r"gestation|mammogra|breast",
    "pediatrics": r"child|infant|neonat|newborn|pa?ediatric|adolescen|toddler|school",
    "dentistry_oral": r"dental|teeth|tooth|oral health|periodont|caries|orthodont|gingiv|"
                      r"dentist|mouth|endodont|molar",
    "environmental_occupational": r"occupational|environmental|exposure|pollut|pesticide|"
                                  r"workplace|worker|toxic|air quality|polybrominated|"
                                  r"flame retardant|heavy metal",
}
# Cancer outranks the organ it grows in; age groups describe a population, not a topic.
_TOPIC_WEIGHT = {"oncology": 1.5, "pediatrics": 0.4}
_TOPIC_RE = {t: re.compile(r"\b(?:" + p + ")", re.IGNORECASE) for t, p in TOPIC_TERMS.items()}
_MESH_CHECK_TAGS = frozenset({
    "Humans", "Animals", "Male", "Female", "Adult", "Middle Aged", "Aged", "Aged, 80 and over",
    "Young Adult", "Pregnancy", "Rats", "Mice",
})


def _topic_scores(weighted_texts: Iterable[tuple[str, float]]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for text, weight in weighted_texts:
        for topic, rx in _TOPIC_RE.items():
            hits = len(rx.findall(text))
            if hits:
                scores[topic] = scores.get(topic, 0.0) + weight * _TOPIC_WEIGHT.get(topic, 1.0) \
                    * min(hits, 5)
    return scores


def _best(scores: Mapping[str, float]) -> tuple[str, float] | None:
    if not scores:
        return None
    top = max(scores.values())
    label = min(t for t, s in scores.items() if s == top)  # ties: alphabetical, deterministic
    return label, round(top / sum(scores.values()), 3)


def topic_from_mesh(mesh: Sequence[str], major: Sequence[str] = ()) -> tuple[str, float] | None:
    """Topic from MeSH descriptors; "Pregnancy" counts only as a weak cue."""
    major_set = set(major)
    texts = [(m, 3.0 if m in major_set else 1.0) for m in mesh if m not in _MESH_CHECK_TAGS]
    if "Pregnancy" in mesh:
        texts.append(("pregnancy", 0.5))
    return _best(_topic_scores(texts))


def topic_from_text(doc: Document, *, body_chars: int = 3000) -> tuple[str, float] | None:
    """Topic from keyword families in the title (x3) and the start of the text."""
    meta = doc.metadata or {}
    texts = [(doc.title or "", 3.0), (doc.text[:body_chars], 1.0)]
    keywords = meta.get("keywords") or []
    if isinstance(keywords, list):
        texts.append((" ; ".join(str(k) for k in keywords), 2.0))
    return _best(_topic_scores(texts))


class TextClassifier:
    """Prototype sentences in embedding space plus design cues. Prototypes are embedded on
    first use (one call) and kept for the embedder's lifetime."""

    def __init__(self, embedder: TextEmbedder | None) -> None:
        self.embedder = embedder
        self._protos: tuple[list[str], np.ndarray] | None = None
        self._topics: np.ndarray | None = None

    def _prototypes(self) -> tuple[list[str], np.ndarray]:
        if self._protos is None:
            assert self.embedder is not None
            labels = [lab for lab in EVIDENCE_TYPES for _ in PROTOTYPES.get(lab, ())]
            texts = [t for lab in EVIDENCE_TYPES for t in PROTOTYPES.get(lab, ())]
            topic_texts = [TOPIC_DESCRIPTIONS[t] for t in TOPICS if t in TOPIC_DESCRIPTIONS]
            vecs = np.asarray(self.embedder.embed(texts + topic_texts), dtype=np.float32)
            self._protos = (labels, vecs[: len(texts)])
            self._topics = vecs[len(texts):]
        return self._protos

    def evidence_scores(self, doc: Document, sentences: Sequence[str],
                        vectors: np.ndarray | None) -> dict[str, float]:
        """Per class: best prototype similarity over the sentences (top-2 mean) plus cues."""
        scores = dict.fromkeys(EVIDENCE_TYPES, 0.0)
        if self.embedder is not None and vectors is not None and len(vectors):
            labels, protos = self._prototypes()
            sims = vectors.astype(np.float64) @ protos.T.astype(np.float64)  # (sentences, protos)
            for label in EVIDENCE_TYPES:
                cols = [j for j, lab in enumerate(labels) if lab == label]
                if not cols:
                    continue
                best = np.sort(sims[:, cols].max(axis=1))[::-1][:2]
                scores[label] = float(best.mean())
        text = " ".join([doc.title or "", *sentences])
        for label, cues in _CUES.items():
            cued = False
            for rx, weight in cues:
                if rx.search(text):
                    scores[label] += weight
                    cued = True
            if not cued:
                scores[label] -= _NEEDS_CUE.get(label, 0.0)
        if _RESEARCH.search(doc.text):
            for label, penalty in _RESEARCH_PENALTY.items():
                scores[label] -= penalty
        if _MANY_PATIENTS.search(text):
            for label, penalty in _MANY_PATIENTS_PENALTY.items():
                scores[label] -= penalty
        return {k: round(v, 6) for k, v in scores.items()}

    def evidence(self, doc: Document, sentences: Sequence[str],
                 vectors: np.ndarray | None) -> tuple[str, float]:
        scores = self.evidence_scores(doc, sentences, vectors)
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], EVIDENCE_TYPES.index(kv[0])))
        (label, top), (_, second) = ranked[0], ranked[1]
        floor = _MIN_SCORE if vectors is not None and self.embedder is not None else 0.1
        if top < floor:
            return "other", 0.3
        # margin-based confidence in (0.3, 0.9]
        return label, round(min(0.9, 0.3 + 2.0 * (top - second)), 3)

    def topic(self, vectors: np.ndarray | None) -> tuple[str, float] | None:
        if self.embedder is None or vectors is None or not len(vectors):
            return None
        self._prototypes()
        assert self._topics is not None
        centroid = vectors.astype(np.float64).mean(axis=0)
        norm = np.linalg.norm(centroid)
        if norm == 0:
            return None
        sims = self._topics.astype(np.float64) @ (centroid / norm)
        names = [t for t in TOPICS if t in TOPIC_DESCRIPTIONS]
        j = int(np.argmax(np.round(sims, 6)))
        if sims[j] < _TOPIC_MIN_SIM:
            return None
        return names[j], round(float(sims[j]), 3)


def classify_documents(
    docs: Sequence[Document],
    embedder: TextEmbedder | None = None,
    *,
    sentences: SentenceTable | None = None,
    use_metadata: bool = True,
    classifier: TextClassifier | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Classification]:
    """Evidence type and topic per doc_id.

    Only documents that metadata cannot place are embedded, in one call (or their rows are
    taken from `sentences`, the table ingest.summarise builds). `use_metadata=False` forces
    the text model for every document (evaluation). Without an embedder the text model uses
    its cues alone.
    """
    clf = classifier or TextClassifier(embedder)
    decided: dict[str, tuple[str, float, str]] = {}
    topics: dict[str, tuple[str, float, str]] = {}
    unique = list({d.doc_id: d for d in docs}.values())
    for doc in unique:
        meta = doc.metadata or {}
        if use_metadata:
            hit = evidence_from_metadata(doc)
            if hit:
                decided[doc.doc_id] = hit
            mesh_topic = topic_from_mesh(meta.get("mesh") or (), meta.get("mesh_major") or ())
            if mesh_topic:
                topics[doc.doc_id] = (*mesh_topic, "mesh")
                continue
        text_topic = topic_from_text(doc)
        if text_topic:
            topics[doc.doc_id] = (*text_topic, "text")

    need = [d for d in unique if d.doc_id not in decided or d.doc_id not in topics]
    table = sentences
    if embedder is not None and need:
        missing = [d for d in need if table is None or d.doc_id not in table.spans]
        if missing:
            own = embed_sentences(missing, embedder, max_per_doc=SENTENCES_FOR_TYPE,
                                  progress=progress)
            if table is None:
                table = own
            else:
                table = SentenceTable({**table.spans, **own.spans},
                                      {**table.vectors, **own.vectors})

    out: dict[str, Classification] = {}
    for doc in unique:
        spans: list[tuple[int, int]] = []
        vectors = None
        if table is not None and doc.doc_id in table.spans:
            spans = table.spans[doc.doc_id][:SENTENCES_FOR_TYPE]
            vectors = table.vectors[doc.doc_id][: len(spans)]
        if doc.doc_id in decided:
            label, conf, source = decided[doc.doc_id]
        else:
            if not spans:
                from ingest.summarise import candidate_spans

                spans = candidate_spans(doc)[:SENTENCES_FOR_TYPE]
            texts = [" ".join(doc.text[s:e].split()) for s, e in spans]
            label, conf = clf.evidence(doc, texts, vectors)
            source = "model"
        if doc.doc_id in topics:
            topic, tconf, tsource = topics[doc.doc_id]
        else:
            hit = clf.topic(vectors)
            topic, tconf, tsource = (hit[0], hit[1], "model") if hit else ("other", 0.0, "none")
        out[doc.doc_id] = Classification(evidence_type=label, topic=topic, source=source,
                                         confidence=conf, topic_source=tsource,
                                         topic_confidence=tconf)
    return out


def classify(doc: Document, embedder: TextEmbedder | None = None) -> Classification:
    """One document; see `classify_documents`."""
    return classify_documents([doc], embedder)[doc.doc_id]
