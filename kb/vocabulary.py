"""Entity linking: the graph's names and synonyms -> ids, found in text with their negation.

One Aho-Corasick automaton (pyahocorasick) over case-folded names and their variants
(plurals, possessives, British spellings, common abbreviations) finds every candidate in one
pass; candidates must sit on word boundaries, and the longest wins where they overlap.
Mentions are flagged negated or hedged NegEx-style, within their sentence (kb.negation).
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ahocorasick

from kb import lexicon
from kb.errors import KBError
from kb.graph import name_rank, normalise_name
from kb.negation import assertion
from kb.records import Entity
from kb.sentences import sentence_spans

FORMAT = "medkb-vocabulary"
FORMAT_VERSION = 1

def default_abbreviations() -> dict[str, str]:
    """Abbreviation -> the entity name it stands for (corpora/lexicon/abbreviations.tsv)."""
    return dict(lexicon.pairs("abbreviations.tsv"))


def _stoplist() -> frozenset[str]:
    """Folded names too ordinary or vague to count as a mention on their own."""
    return lexicon.words("vocabulary_stoplist.txt")


def _short_words() -> frozenset[str]:
    """Very short names are noise unless they are abbreviations we list; these few are not."""
    return lexicon.words("short_words.txt")


def _uk_spellings() -> tuple[tuple[str, str], ...]:
    return lexicon.pairs("uk_spellings.tsv")


@dataclass(frozen=True)
class Mention:
    """An entity found in a text: `text == source_text[start:end]`."""

    entity_id: str
    type: str
    start: int
    end: int
    text: str
    negated: bool = False
    hedged: bool = False


@dataclass(frozen=True)
class _Candidate:
    entity_id: str
    rank: tuple[int, int, int, str]  # kb.graph.name_rank; origin 2 variant, -1 listed abbreviation
    exact: tuple[str, ...] = ()  # case-sensitive surfaces (acronyms); empty: any case


# --- text folding -----------------------------------------------------------

_FOLD_TABLE = str.maketrans({c: " " for c in "-\u2010\u2011\u2012\u2013\u2014\u2015\n\r\t"} | {"\u2019": "'"})


def fold(text: str) -> str:
    """Lower case, hyphens and line breaks as spaces; always the same length as `text`."""
    low = text.lower()
    if len(low) != len(text):  # a few characters (U+0130) lower-case to two
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    return low.translate(_FOLD_TABLE)


_ABBR_DEF = re.compile(r"\(\s*([A-Za-z][A-Za-z0-9\-]{1,9}?)s?\s*\)")


# --- the vocabulary -------------------------------------------------------------------------

class Vocabulary:
    """Names -> entities. Build with `from_entities`; the automaton is made on first use."""

    def __init__(self, entities: Sequence[Entity], abbreviations: dict[str, str] | None = None) -> None:
        self._entities = {e.id: e for e in sorted(entities, key=lambda e: e.id)}
        self._abbreviations = default_abbreviations() if abbreviations is None else dict(abbreviations)
        self._automaton: Any = None
        self._candidates: list[tuple[_Candidate, ...]] = []
        self._names: dict[str, list[tuple[tuple[int, int, int, str], str]]] = {}

    @classmethod
    def from_entities(cls, entities: Iterable[Entity],
                      abbreviations: dict[str, str] | None = None) -> Vocabulary:
        vocab = cls(list(entities), abbreviations)
        vocab._build()
        return vocab

    def __len__(self) -> int:
        return len(self._entities)

    @property
    def entities(self) -> dict[str, Entity]:
        return self._entities

    # ---- building
    def _build(self) -> None:
        table: dict[str, dict[str, _Candidate]] = {}
        names: dict[str, list[tuple[tuple[int, int, int, str], str]]] = {}

        def put(key: str, eid: str, origin: int, exact: tuple[str, ...] = ()) -> None:
            key = " ".join(key.split())
            if not key:
                return
            rank = name_rank(origin, self._entities[eid].type, eid)
            slot = table.setdefault(key, {})
            old = slot.get(eid)
            if old is None or (old.exact and not exact) or (bool(old.exact) == bool(exact) and rank < old.rank):
                slot[eid] = _Candidate(eid, rank, exact)

        for eid, ent in self._entities.items():
            for origin, surface in [(0, ent.name)] + [(1, s) for s in ent.synonyms]:
                surface = " ".join(surface.split())
                names.setdefault(normalise_name(surface), []).append((name_rank(origin, ent.type, eid), eid))
                if _is_acronym(surface):  # three letters or fewer: only the listed abbreviations
                    if len(surface) >= 4:
                        put(fold(surface), eid, origin, (surface, surface + "s"))
                    continue
                base = fold(surface)
                if not _useful(base):
                    continue
                put(base, eid, origin)
                for variant in _variants(base):
                    if _useful(variant):
                        put(variant, eid, 2)

        for abbr, target in sorted(self._abbreviations.items()):
            eid = self._best(names.get(normalise_name(target), []))
            if eid is None:
                continue
            put(fold(abbr), eid, -1, (abbr, abbr + "s"))  # the listed meaning wins
            names.setdefault(normalise_name(abbr), []).append((name_rank(3, self._entities[eid].type, eid), eid))

        automaton = ahocorasick.Automaton()
        candidates: list[tuple[_Candidate, ...]] = []
        for key in sorted(table):
            cands = tuple(sorted(table[key].values(), key=lambda c: (bool(c.exact), c.rank)))
            automaton.add_word(key, (len(key), len(candidates)))
            candidates.append(cands)
        automaton.make_automaton()
        self._automaton, self._candidates, self._names = automaton, candidates, names

    @staticmethod
    def _best(options: list[tuple[tuple[int, int, int, str], str]]) -> str | None:
        return min(options)[1] if options else None

    # ---- lookups
    def lookup(self, name: str) -> Entity | None:
        """The entity with this id, name, synonym or listed abbreviation (case-insensitive)."""
        if self._automaton is None:
            self._build()
        name = name.strip()
        if name in self._entities:
            return self._entities[name]
        if name in self._abbreviations:
            target = self._best(self._names.get(normalise_name(self._abbreviations[name]), []))
            if target:
                return self._entities[target]
        eid = self._best(self._names.get(normalise_name(name), []))
        return self._entities[eid] if eid else None

    def find(self, text: str, types: Sequence[str] | None = None) -> list[Mention]:
        """Non-overlapping mentions in `text`, longest first, in text order."""
        if self._automaton is None:
            self._build()
        folded = fold(text)
        n = len(folded)
        raw: list[tuple[int, int, _Candidate]] = []
        for end_idx, (length, idx) in self._automaton.iter(folded):
            start, end = end_idx - length + 1, end_idx + 1
            if (start > 0 and folded[start - 1].isalnum()) or (end < n and folded[end].isalnum()):
                continue
            surface = text[start:end]
            for cand in self._candidates[idx]:
                if cand.exact and surface not in cand.exact:
                    continue
                if types is not None and self._entities[cand.entity_id].type not in types:
                    continue
                raw.append((start, end, cand))
                break
        if not raw:
            return []
        raw.sort(key=lambda r: (r[0] - r[1], r[0]))
        taken = bytearray(n)
        chosen = []
        for start, end, cand in raw:
            if any(taken[start:end]):
                continue
            taken[start:end] = b"\x01" * (end - start)
            chosen.append((start, end, cand))
        if "(" in text:
            chosen = self._local_abbreviations(text, chosen)
        chosen.sort(key=lambda r: r[0])
        spans = sentence_spans(text)
        starts = [s for s, _ in spans]
        mentions = []
        for start, end, cand in chosen:
            i = max(0, bisect.bisect_right(starts, start) - 1)
            s_start, s_end = spans[i] if spans else (0, n)
            negated, hedged = assertion(folded, start, end, s_start, s_end)
            ent = self._entities[cand.entity_id]
            mentions.append(Mention(ent.id, ent.type, start, end, text[start:end], negated, hedged))
        return mentions

    def _local_abbreviations(self, text: str,
                             chosen: list[tuple[int, int, _Candidate]]) -> list[tuple[int, int, _Candidate]]:
        """Honour abbreviations the text defines: "adolescent idiopathic scoliosis (AIS)" links
        every AIS in the text; "rapid advancement (RA)" stops RA meaning rheumatoid arthritis."""
        by_end = {end: cand for _, end, cand in chosen}
        local: dict[str, _Candidate | None] = {}
        for m in _ABBR_DEF.finditer(text):
            abbr = m.group(1)
            if sum(c.isupper() for c in abbr) < 2 or abbr in local:
                continue
            before = text[:m.start()].rstrip()
            cand = by_end.get(len(before))
            long_form = next((text[s:e] for s, e, c in chosen if e == len(before)), "")
            if cand is not None and _abbreviates(abbr, long_form):
                local[abbr] = _Candidate(cand.entity_id, cand.rank, (abbr, abbr + "s"))
            else:
                words = re.findall(r"[A-Za-z0-9]+", before)[-(len(abbr) + 3):]
                if any(w[0].lower() == abbr[0].lower() for w in words):
                    local[abbr] = None
        if not local:
            return chosen
        for abbr, cand in local.items():
            spots = [(x.start(), x.end()) for x in
                     re.finditer(rf"(?<![A-Za-z0-9]){re.escape(abbr)}s?(?![A-Za-z0-9])", text)]
            chosen = [c for c in chosen if (c[0], c[1]) not in spots]
            if cand is not None:
                for start, end in spots:
                    if all(end <= c[0] or start >= c[1] for c in chosen):
                        chosen.append((start, end, cand))
        return chosen

    # ---- persistence (plain JSON; the automaton is rebuilt on load)
    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "abbreviations": dict(sorted(self._abbreviations.items())),
            "entities": [[e.id, e.type, e.name, list(e.synonyms)] for e in self._entities.values()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Vocabulary:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise KBError("not a MedKB vocabulary file; rebuild the KB with `medkb build`")
        if data.get("version") != FORMAT_VERSION:
            raise KBError(f"vocabulary format version {data.get('version')} is not supported "
                          f"(expected {FORMAT_VERSION}); rebuild the KB with `medkb build`")
        entities = [Entity(id=i, type=t, name=n, synonyms=tuple(s)) for i, t, n, s in data["entities"]]
        return cls(entities, data.get("abbreviations"))

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def _abbreviates(abbr: str, long_form: str) -> bool:
    """Whether `abbr` can stand for `long_form`: same first letter, its letters in order."""
    letters = [c for c in abbr.lower() if c.isalnum()]
    text = long_form.lower()
    if not letters or not text or text[0] != letters[0]:
        return False
    pos = 0
    for c in letters:
        pos = text.find(c, pos)
        if pos < 0:
            return False
        pos += 1
    return True


def _is_acronym(surface: str) -> bool:
    """'COPD', 'NIDDM', 'KdVS': short, one token, mostly capitals."""
    if " " in surface or len(surface) > 7:
        return False
    caps = sum(c.isupper() for c in surface)
    return caps >= 2 and caps >= sum(c.islower() for c in surface)


def _useful(key: str) -> bool:
    if key in _stoplist():
        return False
    if len(key) < 4 and key not in _short_words():
        return False
    return any(c.isalpha() for c in key)


def _variants(key: str) -> set[str]:
    """Spellings of a folded name that text uses too: possessives, plurals, UK spellings."""
    out = {key}
    if "'s" in key:
        out |= {key.replace("'s", ""), key.replace("'s", "s")}
    if key.endswith(" mellitus"):
        out.add(key[: -len(" mellitus")])
    if key.endswith(" infectious disease"):
        out.add(key[: -len(" infectious disease")] + " infection")
    if key.endswith(" deficiency disease"):
        out.add(key[: -len(" disease")])
    if key.endswith(" disease"):
        out.add(key[: -len(" disease")] + " disorder")
    elif key.endswith(" disorder"):
        out.add(key[: -len(" disorder")] + " disease")
    for k in list(out):
        last = k.rsplit(" ", 1)[-1]
        if len(last) >= 3 and last.isalpha():
            if last.endswith("s"):
                if not last.endswith(("ss", "us", "is")):
                    out.add(k[:-1])
            elif last.endswith("y") and last[-2] not in "aeiou":
                out.add(k[:-1] + "ies")
            elif last.endswith(("ch", "sh", "x", "z")):
                out.add(k + "es")
            elif not last.endswith(("itis", "osis", "emia")):
                out.add(k + "s")
    for k in list(out):
        for us, uk in _uk_spellings():
            if us in k:
                out.add(k.replace(us, uk))
    out.discard(key)
    return out
