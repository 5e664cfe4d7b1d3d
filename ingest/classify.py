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

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ingest.evidence_metadata import (
    evidence_from_format,
    evidence_from_mesh,
    evidence_from_metadata,
    evidence_from_publication_types,
    mesh_design_votes,
)
from ingest.summarise import SentenceTable, TextEmbedder, embed_sentences
from kb.lexicon import lexicon_file
from kb.records import Document

__all__ = ["EVIDENCE_TYPES", "TOPICS", "Classification", "TextClassifier", "classify",
           "classify_documents", "evidence_from_format", "evidence_from_mesh",
           "evidence_from_metadata", "evidence_from_publication_types", "mesh_design_votes",
           "topic_from_mesh", "topic_from_text"]

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


# --- 4. the text model ------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _evidence_lexicon() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[tuple[re.Pattern[str], float], ...]]]:
    """Prototype sentences and design cues per class (corpora/lexicon/evidence_classes.json)."""
    data = json.loads(lexicon_file("evidence_classes.json").read_text("utf-8"))
    protos = {k: tuple(v) for k, v in data["prototypes"].items()}
    cues = {k: tuple((_lower_case_pattern(p), float(w)) for p, w in v)
            for k, v in data["cues"].items()}
    return protos, cues


_CASED_ESCAPE = re.compile(r"\\[A-Z]|\[\^?[^\]]*[A-Z]")  # \W, \S, [A-Z]: change meaning when lowered


def _lower_case_pattern(pattern: str, prefix: str = "") -> re.Pattern[str]:
    """A lexicon pattern, case-insensitive, for matching lower-cased text: the text is
    lowered once per document instead of every pattern matching with re.IGNORECASE, which
    is 2-3x slower on these long alternations (the build runs them beside the embedder)."""
    if _CASED_ESCAPE.search(pattern):
        raise ValueError(f"lexicon pattern {pattern[:60]!r}: upper-case escapes or classes "
                         "cannot be matched against lower-cased text")
    return re.compile(prefix + pattern.lower())


@lru_cache(maxsize=1)
def _topic_lexicon() -> dict[str, Any]:
    """Topic keyword families, descriptions and weights (corpora/lexicon/topics.json)."""
    data = json.loads(lexicon_file("topics.json").read_text("utf-8"))
    data["re"] = {t: _lower_case_pattern(p + ")", r"\b(?:") for t, p in data["terms"].items()}
    return data


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

_TOPIC_MIN_SIM = 0.25

_MESH_CHECK_TAGS = frozenset({
    "Humans", "Animals", "Male", "Female", "Adult", "Middle Aged", "Aged", "Aged, 80 and over",
    "Young Adult", "Pregnancy", "Rats", "Mice",
})


def _topic_hits(text: str) -> tuple[tuple[str, int], ...]:
    """(topic, keyword hits) for each topic whose keywords occur in `text`."""
    low = text.lower()
    return tuple((topic, n) for topic, rx in _topic_lexicon()["re"].items()
                 if (n := len(rx.findall(low))))


_short_topic_hits = lru_cache(maxsize=8192)(_topic_hits)  # MeSH terms recur across a corpus


def _topic_scores(weighted_texts: Iterable[tuple[str, float]]) -> dict[str, float]:
    scores: dict[str, float] = {}
    weights = _topic_lexicon()["weights"]
    for text, weight in weighted_texts:
        hits = _short_topic_hits(text) if len(text) < 200 else _topic_hits(text)
        for topic, n in hits:
            scores[topic] = scores.get(topic, 0.0) + weight * weights.get(topic, 1.0) * min(n, 5)
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
            protos = _evidence_lexicon()[0]
            labels = [lab for lab in EVIDENCE_TYPES for _ in protos.get(lab, ())]
            texts = [t for lab in EVIDENCE_TYPES for t in protos.get(lab, ())]
            descriptions = _topic_lexicon()["descriptions"]
            topic_texts = [descriptions[t] for t in TOPICS if t in descriptions]
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
        low = text.lower()
        for label, cues in _evidence_lexicon()[1].items():
            cued = False
            for rx, weight in cues:
                if rx.search(low):
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
        names = [t for t in TOPICS if t in _topic_lexicon()["descriptions"]]
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
