"""Differential diagnosis: diseases ranked by a patient's findings over the graph, fused with
the passages the description retrieves.

Graph part. Each disease has findings through its presents_with edges (Disease Ontology
has_symptom, Hetionet DpS, MedKB's patient-information links, MedQuAD symptoms answers,
literature). A finding's weight is its specificity, an IDF over diseases (fever, named by
hundreds of diseases, says little; a barking cough says a lot), times the trust of the best
edge source. A candidate's score is the weighted share of the patient's findings it explains,
scaled by how much of its own profile they cover (a disease linked to eighty findings
explains anything, weakly); a finding the patient denies but the disease presents with
counts against it. A disease with no findings of its own borrows its subtypes' (is_a), at
half weight.

Retrieval part. The passages the description retrieves name diseases (their document's
title, their disease mentions); each adds reciprocal-rank credit to that disease. The final
score is the graph score plus `retrieval_weight` times the normalised retrieval credit.

Every candidate carries its matched and unmatched findings, the edges (source and note) that
link it to each matched finding, and the passages (cited spans) that name it.
"""

from __future__ import annotations

import math
import re
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from generation.clinical.findings import Finding, FindingMatcher
from generation.clinical.sex import patient_sex, ruled_out
from kb.graph import CONDITION, DISEASE, LITERATURE

# Trust of each presents_with source (the best edge of a disease-finding pair counts).
SOURCE_TRUST = {
    "medkb_findings.tsv": 1.0, "disease_ontology_has_symptom.tsv": 1.0, "medkb_curation.tsv": 1.0,
    "medquad_findings.tsv": 0.9, "hetionet_clinical_edges.tsv": 0.6, LITERATURE: 0.6,
}
DEFAULT_TRUST = 0.8
SUBTYPE_WEIGHT = 0.5
NEGATED_PENALTY = 0.5
PRIOR_WEIGHT = 0.15
COVERAGE_WEIGHT = 0.4
RETRIEVAL_K = 10
RETRIEVAL_WEIGHT = 0.7
TITLE_CREDIT, MENTION_CREDIT = 1.0, 0.25
# A retrieved document whose title names no graph disease still proposes it, by title (id null).
TITLE_PREFIX = "title:"


@dataclass
class Candidate:
    id: str
    name: str
    score: float = 0.0
    graph_score: float = 0.0
    retrieval_score: float = 0.0
    matched: list[str] = field(default_factory=list)  # finding ids
    contradicted: list[str] = field(default_factory=list)  # findings the patient denies
    edges: list[dict[str, Any]] = field(default_factory=list)
    passages: list[dict[str, Any]] = field(default_factory=list)


class DiseaseFindings:
    """The graph's disease -> finding profiles, weights and inverted index; build once per graph."""

    def __init__(self, graph: Any, matcher: FindingMatcher) -> None:
        self.graph = graph
        self.matcher = matcher
        prof: dict[str, dict[str, float]] = defaultdict(dict)
        edges: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for e in graph.edges():
            if e.relation != "presents_with" or e.negated:
                continue
            ent = graph.entity(e.subject)
            fid = matcher.canonical_id(e.object)
            if ent is None or ent.type not in (DISEASE, CONDITION) or fid is None or fid == e.subject:
                continue
            trust = SOURCE_TRUST.get(e.source, DEFAULT_TRUST) * (0.7 if e.hedged else 1.0)
            prof[e.subject][fid] = max(prof[e.subject].get(fid, 0.0), trust)
            ev = {"source": e.source, "finding": fid}
            for key in ("note", "passage_id", "start", "end"):
                if getattr(e, key, None) is not None:
                    ev[key] = getattr(e, key)
            edges[(e.subject, fid)].append(ev)
        self.own = {d: dict(p) for d, p in prof.items()}  # before borrowing
        # Diseases without findings of their own borrow their subtypes'.
        for d in [x.id for x in graph.entities() if x.type == DISEASE and x.id not in prof]:
            kids = [k for k in graph.descendants(d, 2) if k in prof]
            if not kids:
                continue
            merged: dict[str, float] = {}
            for k in kids:
                for fid, t in prof[k].items():
                    merged[fid] = max(merged.get(fid, 0.0), t * SUBTYPE_WEIGHT)
                    edges.setdefault((d, fid), edges[(k, fid)][:1])
            prof[d] = merged
        self.profiles = dict(prof)
        self.edges = dict(edges)
        df: dict[str, int] = defaultdict(int)
        for p in self.profiles.values():
            for fid in p:
                df[fid] += 1
        n = max(len(self.profiles), 1)
        self.idf = {fid: math.log((n + 1) / (c + 1)) + 0.5 for fid, c in df.items()}
        self.by_finding: dict[str, list[str]] = defaultdict(list)
        for d, p in self.profiles.items():
            for fid in p:
                self.by_finding[fid].append(d)
        self.mass = {d: sum(self.idf[f] * t for f, t in p.items()) for d, p in self.profiles.items()}
        # How well known a disease is: its degree in the whole graph (treatments, co-occurrence,
        # literature), log-scaled to [0, PRIOR_WEIGHT]. Common diseases win ties with rare ones.
        degree = {d: graph._g.degree(d) for d in self.profiles if d in graph}
        top = math.log1p(max(degree.values(), default=1))
        self.prior = {d: PRIOR_WEIGHT * math.log1p(k) / top for d, k in degree.items()}

    def explained(self, disease_id: str, present: Sequence[str]) -> list[str]:
        """The findings in `present` the disease presents with: its own edges, a node sharing
        its name, its subtypes (two levels) and its parent's own edges."""
        nodes = [disease_id, *self.graph.equivalents(disease_id), *self.graph.descendants(disease_id, 2),
                 *self.graph.ancestors(disease_id, 1)]
        have: set[str] = set()
        for n in nodes:
            have.update(self.own.get(n, ()))
        return [f for f in dict.fromkeys(present) if f in have]

    def related(self, a: str, b: str) -> bool:
        """Same disease, a node sharing its name, or one an ancestor of the other."""
        return a == b or b in self.graph.equivalents(a) or b in self.graph.ancestors(a, 3) \
            or a in self.graph.ancestors(b, 3)

    def weight(self, fid: str) -> float:
        return self.idf.get(fid, max(self.idf.values(), default=1.0))

    def rank(self, present: Sequence[str], absent: Sequence[str] = (), top: int = 60) -> dict[str, Candidate]:
        """The `top` diseases by graph score (scores only; evidence for those kept)."""
        present = list(dict.fromkeys(present))
        absent = [f for f in dict.fromkeys(absent) if f not in present]
        total = sum(self.weight(f) for f in present)
        if not present or total <= 0:
            return {}
        got: dict[str, float] = defaultdict(float)
        for f in present:
            w = self.weight(f)
            for d in self.by_finding.get(f, ()):
                got[d] += w * self.profiles[d][f]
        scores = []
        for d, g in got.items():
            p = self.profiles[d]
            lost = sum(self.weight(f) * p[f] for f in absent if f in p)
            coverage = min(g / max(self.mass[d], 1e-9), 1.0)
            score = (g / total) * (1 - COVERAGE_WEIGHT + COVERAGE_WEIGHT * math.sqrt(coverage)) \
                - NEGATED_PENALTY * lost / total
            scores.append((score + self.prior.get(d, 0.0), d))
        scores.sort(key=lambda x: (-x[0], x[1]))
        out: dict[str, Candidate] = {}
        for score, d in scores[:top]:
            p = self.profiles[d]
            ent = self.graph.entity(d)
            c = Candidate(d, ent.name if ent else d, graph_score=score,
                          matched=[f for f in present if f in p], contradicted=[f for f in absent if f in p])
            for f in c.matched:
                c.edges.extend(self.edges.get((d, f), [])[:2])
            out[d] = c
        return out


class _MemoEmbedder:
    """The KB's embedder with the vectors of a primed batch kept until cleared."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_id = getattr(inner, "model_id", "")
        self.dim = getattr(inner, "dim", 0)
        self.precision = getattr(inner, "precision", "fp32")
        self._memo: dict[str, Any] = {}
        self._lock = threading.Lock()

    def prime(self, texts: Sequence[str]) -> None:
        todo = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if todo:
            vecs = self.inner.embed(todo)
            with self._lock:
                self._memo.update(zip(todo, vecs, strict=True))

    def clear(self) -> None:
        with self._lock:
            self._memo.clear()

    def embed(self, texts: Sequence[str], *, progress: Any = None) -> Any:
        import numpy as np

        with self._lock:
            rows = [self._memo.get(t) for t in texts]
        if texts and all(r is not None for r in rows):
            return np.stack(rows)
        return self.inner.embed(texts, progress=progress) if progress else self.inner.embed(texts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Differential:
    """Reads a description, ranks diseases, attaches evidence. Load once; `diagnose` per text."""

    def __init__(self, graph: Any, *, embedder: Any = None, searcher: Any = None, version: Any = None,
                 retrieval_weight: float = RETRIEVAL_WEIGHT) -> None:
        self.graph = graph
        self.memo = _MemoEmbedder(embedder) if embedder is not None else None
        self.matcher = FindingMatcher(graph, self.memo)
        self.index = DiseaseFindings(graph, self.matcher)
        if searcher is not None and self.memo is not None and getattr(searcher, "embedder", None) is embedder:
            # Same model: the searcher's query vector comes from the primed batch (one model
            # call per description, not two); unprimed texts go to the model as before.
            searcher.embedder = self.memo
            if getattr(getattr(searcher, "dense", None), "embedder", None) is embedder:
                searcher.dense.embedder = self.memo
        self.searcher = searcher
        self.version = version
        self.retrieval_weight = retrieval_weight
        self._title_cache: dict[str, str | None] = {}

    def findings(self, text: str) -> list[Finding]:
        return self.matcher.find(text)

    def prime(self, texts: Sequence[str]) -> None:
        """Embed the descriptions and their leftover phrases in one batch: the finding
        matcher and the searcher then reuse the vectors (one model call, not two per text)."""
        if self.memo is None:
            return
        phrases = [t[s:e] for t in texts for s, e in self.matcher.leftovers(t)]
        self.memo.prime([*texts, *phrases])

    def rank(self, text: str, k: int = 10) -> tuple[list[Finding], list[Candidate]]:
        self.prime([text])
        try:
            return self._rank(text, k)
        finally:
            if self.memo is not None:
                self.memo.clear()

    def rank_many(self, texts: Sequence[str], k: int = 10) -> list[tuple[list[Finding], list[Candidate]]]:
        """Many descriptions, their embeddings computed in batches of 64."""
        out = []
        for lo in range(0, len(texts), 64):
            batch = texts[lo:lo + 64]
            self.prime(batch)
            try:
                out.extend(self._rank(t, k) for t in batch)
            finally:
                if self.memo is not None:
                    self.memo.clear()
        return out

    def _rank(self, text: str, k: int = 10) -> tuple[list[Finding], list[Candidate]]:
        found = self.findings(text)
        present = [f.id for f in found if f.id and not f.negated]
        absent = [f.id for f in found if f.id and f.negated]
        cands = self.index.rank(present, absent)
        if self.searcher is not None and self.retrieval_weight > 0:
            self._fuse(text, cands)
        for c in cands.values():
            c.score = c.graph_score + self.retrieval_weight * c.retrieval_score
        sex = patient_sex(text)
        ranked = sorted((c for c in cands.values() if not ruled_out(c.name, sex)),
                        key=lambda c: (-c.score, -len(c.matched), c.name.casefold(), c.id))
        return found, ranked[:k]

    # ---- retrieval
    def _disease_named(self, title: str | None) -> str | None:
        if not title:
            return None
        if title not in self._title_cache:
            ent = None
            for cand in (title, re.sub(r"\s*\(.*?\)", "", title), re.sub(r"s$", "", title.strip())):
                ent = self.graph.resolve(cand)
                if ent is not None and ent.type in (DISEASE, CONDITION):
                    break
                ent = None
            self._title_cache[title] = ent.id if ent is not None else None
        return self._title_cache[title]

    def _fuse(self, text: str, cands: dict[str, Candidate]) -> None:
        hits = self.searcher.search(text, k=RETRIEVAL_K)
        mentions = self.version.mentions([h.passage.ordinal for h in hits]) if self.version is not None else {}
        credit: dict[str, float] = defaultdict(float)
        cited: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r, h in enumerate(hits):
            named: dict[str, float] = {}
            if (d := self._disease_named(h.title)) is not None:
                named[d] = TITLE_CREDIT
            elif h.title and len(h.title) < 120:  # a document about a disease the graph lacks
                named[TITLE_PREFIX + h.title] = TITLE_CREDIT
            for eid, _s, _e, neg, _hed in mentions.get(h.passage.ordinal, ()):
                ent = self.graph.entity(eid)
                if not neg and ent is not None and ent.type == DISEASE:
                    named.setdefault(eid, MENTION_CREDIT)
            for d, w in named.items():
                credit[d] += w / (r + 2)
                if len(cited[d]) < 2:
                    cited[d].append({"kind": "passage", "passage_id": h.passage.passage_id,
                                     "doc_id": h.passage.doc_id, "title": h.title,
                                     "start": h.passage.start, "end": h.passage.end,
                                     "text": h.passage.text[:300], "rank": r + 1})
        top = max(credit.values(), default=0.0)
        if top <= 0:
            return
        for d, v in credit.items():
            c = cands.get(d)
            if c is None:
                if d.startswith(TITLE_PREFIX):
                    c = cands[d] = Candidate(d, d[len(TITLE_PREFIX):])
                else:
                    ent = self.graph.entity(d)
                    if ent is None:
                        continue
                    c = cands[d] = Candidate(d, ent.name)
            c.retrieval_score = v / top
            c.passages = cited[d]

    # ---- the JSON document (diagnose.schema.json)
    def diagnose(self, text: str, k: int = 10, kb_version: str = "") -> dict[str, Any]:
        return self.document(text, *self.rank(text, k), kb_version=kb_version)

    def diagnose_many(self, texts: Sequence[str], k: int = 10, kb_version: str = "") -> list[dict[str, Any]]:
        return [self.document(t, f, r, kb_version=kb_version)
                for t, (f, r) in zip(texts, self.rank_many(texts, k), strict=True)]

    def document(self, text: str, found: list[Finding], ranked: list[Candidate],
                 kb_version: str = "") -> dict[str, Any]:
        present = [f for f in found if not f.negated]
        out = []
        for c in ranked:
            matched_names = [self.matcher.name(f, f) for f in c.matched]
            unmatched = [f.name for f in present if f.id not in c.matched]
            evidence = [{"kind": "graph", "relation": "presents_with", "finding": self.matcher.name(e["finding"], e["finding"]),
                         **{k2: v for k2, v in e.items() if k2 != "finding"}} for e in c.edges]
            evidence += c.passages
            out.append({"disease": c.name, "id": None if c.id.startswith(TITLE_PREFIX) else c.id,
                        "score": round(c.score, 4),
                        "graph_score": round(c.graph_score, 4), "retrieval_score": round(c.retrieval_score, 4),
                        "matched": matched_names, "unmatched": unmatched,
                        "contradicted": [self.matcher.name(f, f) for f in c.contradicted],
                        "evidence": evidence})
        return {"text": text, "findings": [f.to_dict() for f in found], "differential": out,
                "kb_version": kb_version}


_LOADED: dict[tuple[str, int], Differential] = {}
_LOCK = threading.Lock()


def differential_for(version: Any, searcher: Any = None) -> Differential:
    """The Differential of one KB version (graph, vocabulary, finding-name vectors), built
    once per process and searcher."""
    from kb.errors import MedKBError
    from kb.graph import load_cached

    key = (str(getattr(version, "path", id(version))), id(searcher))
    with _LOCK:
        dx = _LOADED.get(key)
        if dx is None:
            path = version.file("graph.json")
            if not path.is_file():
                raise MedKBError("this KB has no knowledge graph, which diagnosis needs: rebuild it "
                                 "without --no-graph")
            embedder = getattr(searcher, "embedder", None)
            dx = Differential(load_cached(path), embedder=embedder, searcher=searcher, version=version)
            dx.matcher.warm()
            _LOADED.clear()
            _LOADED[key] = dx
        return dx


def diagnose(text: str, version: Any, searcher: Any = None, k: int = 10) -> dict[str, Any]:
    """`medkb diagnose --json` for one description (diagnose.schema.json)."""
    dx = differential_for(version, searcher)
    return dx.diagnose(text, k, kb_version=str(getattr(version, "id", "") or ""))


_BY_GRAPH: dict[int, Differential] = {}


def graph_differential(graph: Any) -> Differential:
    """A graph-only Differential (no retrieval, no embeddings), one per graph object: what the
    answer checks (generation.rules.diagnosis_consistency) rank against."""
    with _LOCK:
        dx = _BY_GRAPH.get(id(graph))
        if dx is None or dx.graph is not graph:
            dx = Differential(graph, retrieval_weight=0.0)
            _BY_GRAPH.clear()
            _BY_GRAPH[id(graph)] = dx
        return dx


def diagnose_many(texts: Sequence[str], version: Any, searcher: Any = None, k: int = 10) -> list[dict[str, Any]]:
    """`diagnose` for many descriptions, the KB and models loaded once, embeddings batched."""
    dx = differential_for(version, searcher)
    return dx.diagnose_many(list(texts), k, kb_version=str(getattr(version, "id", "") or ""))
