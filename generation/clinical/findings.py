"""Patient findings in a description: the graph's finding (symptom) nodes it names or means.

Three passes, earlier ones winning where they overlap:
1. the curated lay table (corpora/lexicon/lay_findings.tsv): "yellow skin" -> Jaundice,
   "burning when I pee" -> Dysuria, "barking cough" -> barking cough;
2. the graph's vocabulary (names and synonyms of finding nodes: MeSH symptoms, Disease
   Ontology has_symptom objects, MedKB curation);
3. embedding similarity (the KB's embedder) of the remaining phrases to every finding name
   and synonym, kept at cosine >= `min_similarity`.
Each finding is negated or not by kb.negation (the one implementation ingest uses).

Findings are canonical: nodes sharing a name (a MeSH symptom and a DO disease called "Rash")
are one finding, so a disease's edge to either one matches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from generation.clinical.lexicon import read_tsv
from kb.graph import SYMPTOM
from kb.negation import assertion
from kb.sentences import sentence_spans
from kb.vector_cache import cached_embed
from kb.vocabulary import fold

# Words that carry no finding on their own; a leftover phrase made only of these is skipped.
_FILLER = frozenset("""
a an and the i my me he his she her they their we our you your it its is are was were be been
has have had having with without for of in on at to from by since about over after before
also very really quite bit little lot lots some any all every this that these those now
recently lately today yesterday week weeks day days month months year years old
feel feels feeling felt get gets getting got keep keeps kept been being
what which who could can may might should would will do does did why how
doctor patient man woman child boy girl son daughter baby mother father wife husband
year-old aged ago started start starting since past last couple few several
""".split())
_SPLIT = re.compile(r"[,.;:!?()\n]|\s(?:and|or|but|with|plus|also|then|while|when|after|since|because)\s", re.I)


@dataclass(frozen=True)
class Finding:
    text: str  # the words in the description
    start: int
    end: int
    id: str | None  # canonical finding node (None: the lay table names a finding the graph lacks)
    name: str
    negated: bool
    via: str  # "lay", "vocabulary" or "embedding"
    similarity: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"text": self.text, "id": self.id, "name": self.name, "negated": self.negated,
                             "via": self.via, "start": self.start, "end": self.end}
        if self.similarity is not None:
            d["similarity"] = round(self.similarity, 3)
        return d


class FindingMatcher:
    """Maps descriptions to finding nodes of one graph; build once per graph (and embedder)."""

    def __init__(self, graph: Any, embedder: Any = None, min_similarity: float = 0.72) -> None:
        self.graph = graph
        self.embedder = embedder
        self.min_similarity = min_similarity
        self.finding_ids = self._finding_nodes()
        self.canonical = self._canonical_map()
        self._lay = self._lay_patterns()
        self._names: list[tuple[str, str]] | None = None  # (surface, canonical id)
        self._name_vecs: np.ndarray | None = None

    # ---- the finding nodes
    def _finding_nodes(self) -> frozenset[str]:
        out = {e.id for e in self.graph.entities() if e.type == SYMPTOM}
        out.update(e.object for e in self.graph.edges() if e.relation == "presents_with")
        return frozenset(out)

    def _canonical_map(self) -> dict[str, str]:
        """Each finding (and each node sharing a name with one) -> one representative id."""
        out: dict[str, str] = {}
        for fid in sorted(self.finding_ids):
            if fid in out:
                continue
            group = {fid, *[e for e in self.graph.equivalents(fid)]}
            rep = min(group & self.finding_ids) if group & self.finding_ids else fid
            for x in group:
                out.setdefault(x, rep)
        return out

    def canonical_id(self, eid: str) -> str | None:
        return self.canonical.get(eid)

    def _lay_patterns(self) -> list[tuple[re.Pattern[str], str | None, str]]:
        out = []
        for row in read_tsv("lay_findings.tsv"):
            ent = self.graph.resolve(row["finding"])
            fid = self.canonical.get(ent.id) if ent is not None else None
            out.append((re.compile(r"(?<!\w)(?:" + row["pattern"] + r")(?!\w)", re.I), fid, row["finding"]))
        return out

    def name(self, fid: str | None, fallback: str) -> str:
        ent = self.graph.entity(fid) if fid else None
        return ent.name if ent is not None else fallback

    # ---- reading
    def find(self, text: str, *, use_embeddings: bool = True) -> list[Finding]:
        folded = fold(text)
        spans = sentence_spans(text) or [(0, len(text))]
        taken = bytearray(len(text) + 1)
        found: list[Finding] = []

        def sentence(start: int) -> tuple[int, int]:
            return next(((a, b) for a, b in spans if a <= start < b), (0, len(text)))

        claimed: list[tuple[int, int, str | None, str, str, float | None]] = []

        def add(start: int, end: int, fid: str | None, name: str, via: str, sim: float | None = None) -> None:
            if any(taken[start:end]):
                return
            taken[start:end] = b"\x01" * (end - start)
            claimed.append((start, end, fid, name, via, sim))

        lay = [(m.start(), m.end(), fid, name) for rx, fid, name in self._lay for m in rx.finditer(text)]
        for s, e, fid, name in sorted(lay, key=lambda x: (x[0] - x[1], x[0])):
            add(s, e, fid, name, "lay")
        for m in self.graph.vocabulary().find(text):
            fid = self.canonical.get(m.entity_id)
            if fid is None:
                continue
            add(m.start, m.end, fid, m.text, "vocabulary")
        if use_embeddings and self.embedder is not None:
            left = self.leftovers(text, taken)
            for (s, e), (fid, sim) in zip(left, self._nearest([text[s:e] for s, e in left]), strict=True):
                if fid is not None:
                    add(s, e, fid, text[s:e], "embedding", sim)
        # Negation over the text with every finding blanked: a cue inside one finding ("no
        # appetite", "can't sleep") does not reach the next one.
        masked = list(folded)
        for start, end, *_ in claimed:
            masked[start:end] = "x" * (end - start)
        blank = "".join(masked)
        for start, end, fid, name, via, sim in sorted(claimed):
            neg, _ = assertion(blank, start, end, *sentence(start))
            found.append(Finding(text[start:end], start, end, fid, self.name(fid, name), neg, via, sim))
        return found

    def leftovers(self, text: str, taken: bytearray | None = None) -> list[tuple[int, int]]:
        """Phrases between clause breaks that no earlier pass claimed and that hold content
        words (without `taken`: the lay table and vocabulary passes are run first)."""
        if taken is None:
            taken = bytearray(len(text) + 1)
            for f in self.find(text, use_embeddings=False):
                taken[f.start:f.end] = b"\x01" * (f.end - f.start)
        out = []
        pos = 0
        bounds = [(m.start(), m.end()) for m in _SPLIT.finditer(text)] + [(len(text), len(text))]
        for b0, b1 in bounds:
            s, e = pos, b0
            pos = b1
            while s < e and not text[s].isalnum():
                s += 1
            while e > s and not text[e - 1].isalnum():
                e -= 1
            if e - s < 4 or any(taken[s:e]):
                continue
            words = [w for w in re.findall(r"[A-Za-z']+", text[s:e].lower()) if w not in _FILLER]
            if not words or len(words) > 6:
                continue
            out.append((s, e))
        return out

    def _index_names(self) -> None:
        names: dict[str, str] = {}
        for fid in sorted(self.finding_ids):
            ent = self.graph.entity(fid)
            if ent is None:
                continue
            for surface in (ent.name, *ent.synonyms):
                key = surface.strip().lower()
                if len(key) >= 4:
                    names.setdefault(key, self.canonical.get(fid, fid))
        self._names = sorted(names.items())
        self._name_vecs = cached_embed(self.embedder, [n for n, _ in self._names])

    def _nearest(self, phrases: Sequence[str]) -> list[tuple[str | None, float]]:
        """The nearest finding name of each phrase (None below the threshold), one batch."""
        if not phrases:
            return []
        self.warm()
        assert self._names is not None and self._name_vecs is not None
        sims = self.embedder.embed(list(phrases)) @ self._name_vecs.T
        out: list[tuple[str | None, float]] = []
        for row in sims:
            i = int(np.argmax(row))
            sim = float(row[i])
            out.append((self._names[i][1], sim) if sim >= self.min_similarity else (None, sim))
        return out

    def warm(self) -> None:
        """Embed the finding names now (else the first description pays for it)."""
        if self.embedder is not None and self._names is None:
            self._index_names()
