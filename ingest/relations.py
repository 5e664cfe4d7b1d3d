"""Typed relations from literature sentences: trigger patterns between typed entity pairs.

Each edge keeps its passage, the sentence span in document coordinates and a pattern-based
confidence. A negated statement ("X did not improve Y", a negated mention) gives an edge with
`negated=True`, which graph queries never count as support; a hedged one loses confidence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kb.graph import COMPOUND, CONDITION, DISEASE, DRUG_CLASS, LITERATURE, SYMPTOM
from kb.records import Edge, Passage
from kb.sentences import sentence_spans
from kb.vocabulary import Mention

DRUGS = frozenset({COMPOUND, DRUG_CLASS})
DISEASES = frozenset({DISEASE})
CONDITIONS = frozenset({DISEASE, CONDITION, SYMPTOM})
SYMPTOMS = frozenset({SYMPTOM})
CAUSES = frozenset({COMPOUND, DRUG_CLASS, DISEASE})
EFFECTS = frozenset({DISEASE, SYMPTOM})

_MAX_GAP = 160  # characters between the two mentions of a pair
_HEDGE_PENALTY = 0.15


@dataclass(frozen=True)
class Pattern:
    """`between` must match the text between the pair; `before`/`after` (when set) must match
    the sentence text just before the first / after the second mention. `forward`: the first
    mention is the subject. `negation_in_trigger`: the trigger itself contains a negation
    ("should not be used"), so negation cues inside it do not negate the edge."""

    relation: str
    first: frozenset[str]
    second: frozenset[str]
    forward: bool
    between: re.Pattern[str]
    confidence: float
    before: re.Pattern[str] | None = None
    after: re.Pattern[str] | None = None
    negation_in_trigger: bool = False


def _re(p: str) -> re.Pattern[str]:
    return re.compile(p, re.IGNORECASE)


_JOIN = r"^[\s,]*(and|with|plus|or|\+|/)[\s,]*(the\s+)?$"
PATTERNS: tuple[Pattern, ...] = (
    # treats: drug ... disease/symptom
    Pattern("treats", DRUGS, DISEASES | SYMPTOMS, True, _re(r"\bindicated\s+(for|in)\b"), 0.85),
    Pattern("treats", DRUGS, DISEASES | SYMPTOMS, True,
            _re(r"\b(treat|treats|treated|treating)\b(?!\s+with)"), 0.8),
    Pattern("treats", DRUGS, DISEASES | SYMPTOMS, True,
            _re(r"\b(first[- ]line|second[- ]line|drug of choice|mainstay)\b"), 0.8),
    Pattern("treats", DRUGS, DISEASES | SYMPTOMS, True,
            _re(r"\b(treatment|therapy|management|therapeutic option)s?\s+(of|for)\b"), 0.75),
    Pattern("treats", DRUGS, DISEASES | SYMPTOMS, True,
            _re(r"\b(effective|efficacious|beneficial|useful)\s+(\w+\s+){0,2}?(in|for|against)\b"), 0.7),
    Pattern("treats", DRUGS, DISEASES | SYMPTOMS, True,
            _re(r"\b(used|prescribed|given|administered|approved|recommended)\s+(to treat|for|in)\b"), 0.7),
    Pattern("treats", DRUGS, DISEASES | SYMPTOMS, True,
            _re(r"\b(improv|reliev|alleviat|ameliorat|control)\w*\b"), 0.6),
    Pattern("treats", DRUGS, DISEASES | SYMPTOMS, True, _re(_JOIN), 0.75,
            before=_re(r"\b(efficacy|effectiveness|treatment|therapy)\s+(with|of)\s+$")),
    Pattern("treats", DRUGS, DISEASES | SYMPTOMS, True,
            _re(r"^\s*(\([^)]*\)\s*)?(for|in\s+(\w+\s+)?(patients|women|men|children|adults|subjects|"
                r"people|infants)\s+with)\s+(\w+\s+){0,3}?$"), 0.7,
            before=_re(r"\b(treated|treating|treatment|therapy|managed)\s+(\w+\s+)?(with|using)\s+$")),
    # treats: disease ... drug
    Pattern("treats", DISEASES | SYMPTOMS, DRUGS, False,
            _re(r"\b(treated|managed|controlled|improved)\s+(\w+\s+){0,2}?(with|by|using)\b"), 0.8),
    Pattern("treats", DISEASES | SYMPTOMS, DRUGS, False,
            _re(r"\b(treatment|therapy|management)\s+(with|using)\b"), 0.75),
    Pattern("treats", DISEASES | SYMPTOMS, DRUGS, False, _re(r"\brespond(s|ed)?\s+(well\s+)?to\b"), 0.65),
    Pattern("treats", DISEASES | SYMPTOMS, DRUGS, False,
            _re(r"^[\s,:]*(\([^)]*\)\s*)?(include|includes|including|are|is|such as)\b"), 0.7,
            before=_re(r"\b(treatments?|therap(y|ies)|medications?|drugs?|options?)\s+(for|of)\s+$")),
    # contraindicated_in: drug ... condition
    Pattern("contraindicated_in", DRUGS, CONDITIONS, True, _re(r"\bcontraindicat\w*\b"), 0.85),
    Pattern("contraindicated_in", DRUGS, CONDITIONS, True,
            _re(r"\bshould\s+(not|never)\s+be\s+(used|given|prescribed|taken|administered)\b"), 0.8,
            negation_in_trigger=True),
    Pattern("contraindicated_in", DRUGS, CONDITIONS, True,
            _re(r"\b(not\s+(be\s+)?recommended|avoided|must not be used)\s+(in|for|during)\b"), 0.75,
            negation_in_trigger=True),
    # contraindicated_in: condition ... drug
    Pattern("contraindicated_in", CONDITIONS, DRUGS, False,
            _re(r"\b(is|are)\s+an?\s+(absolute\s+|relative\s+)?contraindications?\s+(to|for)\b"), 0.85),
    Pattern("contraindicated_in", CONDITIONS, DRUGS, False, _re(r"^[\s,]*$"), 0.8,
            after=_re(r"^\s+(is|are|was|were)\s+contraindicated\b")),
    # interacts_with: drug ... drug
    Pattern("interacts_with", DRUGS, DRUGS, True, _re(r"\binteract(s|ed|ing|ions?)?\s+(with|between)\b"), 0.8),
    Pattern("interacts_with", DRUGS, DRUGS, True, _re(_JOIN), 0.8,
            before=_re(r"\b(drug\s+)?interactions?\s+(between|of)\s+(the\s+)?$")),
    Pattern("interacts_with", DRUGS, DRUGS, True, _re(_JOIN), 0.75,
            after=_re(r"^\s+(may\s+|can\s+|could\s+)?interact\b")),
    Pattern("interacts_with", DRUGS, DRUGS, True,
            _re(r"\b(co-?administ\w*|coadminist\w*|concomitant(ly)?\s+(use|used|administ\w*|with))\b"), 0.6),
    Pattern("interacts_with", DRUGS, DRUGS, True, _re(_JOIN), 0.6,
            before=_re(r"\b(co-?administration|coadministration|concomitant use)\s+of\s+$")),
    # presents_with: disease ... symptom
    Pattern("presents_with", DISEASES, EFFECTS, True,
            _re(r"\b(present(s|ed|ing)?\s+(with|as)|characteri[sz]ed\s+by|manifest\w*\s+(as|with|by)|"
                r"complain\w*\s+of|accompanied\s+by)\b"), 0.75),
    Pattern("presents_with", DISEASES, EFFECTS, True,
            _re(r"\b(symptoms?|signs?|features?|manifestations?)\s+(\w+\s+){0,3}?"
                r"(include|includes|including|are|such as)\b"), 0.75),
    Pattern("presents_with", DISEASES, EFFECTS, True,
            _re(r"^[\s,:]*(\([^)]*\)\s*)?(may\s+|can\s+|often\s+)?(include|includes|including|are|such as)\b"), 0.8,
            before=_re(r"\b(symptoms?|signs?(\s+and\s+symptoms?)?|features?|manifestations?)\s+of\s+$")),
    Pattern("presents_with", SYMPTOMS, DISEASES, False,
            _re(r"\b(is|are|was|were)\s+(a|an|the)?\s*(\w+\s+){0,2}?(symptoms?|signs?|features?|"
                r"manifestations?)\s+of\b"), 0.75),
    # causes: drug/disease ... disease/symptom
    Pattern("causes", CAUSES, EFFECTS, True, _re(r"^\s*[-\u2010]?\s*(induced|related|associated)\s+$"), 0.8),
    Pattern("causes", CAUSES, EFFECTS, True,
            _re(r"\b(causes?|caused|causing|induces?|induced|inducing|leads?\s+to|led\s+to|"
                r"results?\s+in|resulted\s+in|triggers?|triggered|provokes?|precipitates?)\b"), 0.7),
    Pattern("causes", EFFECTS, CAUSES, False,
            _re(r"\b(caused|induced|triggered|provoked|precipitated)\s+by\b"), 0.75),
    Pattern("causes", DRUGS, EFFECTS, True,
            _re(r"\b(side[- ]effects?|adverse (effects?|events?|reactions?)|toxicit(y|ies))\b[^.;]{0,40}?"
                r"\b(namely|such as|including|include|includes|like|of)\b"), 0.7),
    Pattern("causes", EFFECTS, CAUSES, False, _re(r"\b(due\s+to|secondary\s+to|attributable\s+to)\b"), 0.7),
    Pattern("causes", CAUSES, EFFECTS, True,
            _re(r"^[\s,:]*(\([^)]*\)\s*)?(include|includes|including|are|such as)\b"), 0.7,
            before=_re(r"\b(side effects?|adverse (effects?|events?|reactions?))\s+(of|from)\s+$")),
    # associated_with: disease ... disease
    Pattern("associated_with", DISEASES, DISEASES, True,
            _re(r"\b(associated\s+with|association\s+(between|with)|linked\s+(to|with)|correlated\s+with|"
                r"(increased\s+|higher\s+)?risks?\s+(of|for)|predispos\w*\s+to|comorbid\w*\s+with|"
                r"related\s+to)\b"), 0.6),
    Pattern("associated_with", DISEASES, DISEASES, True, _re(r"^[\s,]*and[\s,]*(the\s+)?$"), 0.6,
            before=_re(r"\b(association|relationship|link|correlation)s?\s+(between|of)\s+$")),
)

_NEGATION = _re(r"\b(not|no|never|neither|nor|without|failed\s+to|cannot|unlikely|lack\s+of|absence\s+of)\b")
_HEDGE = _re(r"\b(may|might|could|possibl[ey]|probabl[ey]|suggest\w*|potential(ly)?|whether|likely)\b")
_LIST_LINK = re.compile(r"^[\s,;]*((and|or|and/or|as well as|nor)\s+)?[\s,]*$", re.IGNORECASE)


def extract_relations(passage: Passage, mentions: Sequence[Mention]) -> list[Edge]:
    """Edges between mentions of one sentence of `passage`.

    `mentions` are offsets into `passage.text` (as `Vocabulary.find(passage.text)` gives);
    edges carry the sentence span in document coordinates (`passage.start` + offset).
    """
    text = passage.text
    ordered = sorted(mentions, key=lambda m: (m.start, m.end))
    edges: list[Edge] = []
    for s_start, s_end in sentence_spans(text):
        inside = [m for m in ordered if m.start >= s_start and m.end <= s_end]
        best: dict[tuple[str, str, str], Edge] = {}
        for i, a in enumerate(inside):
            for j in range(i + 1, len(inside)):
                b = inside[j]
                if b.start - a.end > _MAX_GAP:
                    break
                if a.entity_id == b.entity_id:
                    continue
                edge = _match(text, s_start, s_end, a, b, inside[i + 1:j], passage)
                if edge is None:
                    continue
                key = (edge.subject, edge.relation, edge.object)
                old = best.get(key)
                if old is None or (not edge.negated and old.negated) or \
                        (edge.negated == old.negated and edge.confidence > old.confidence):
                    best[key] = edge
        edges.extend(best.values())
    return edges


def _match(text: str, s_start: int, s_end: int, a: Mention, b: Mention,
           middle: Sequence[Mention], passage: Passage) -> Edge | None:
    """The best pattern edge for the pair: asserted before negated, then by confidence."""
    between = text[a.end:b.start]
    before = text[s_start:a.start]
    after = text[b.end:s_end]
    best: Edge | None = None
    for p in PATTERNS:
        if a.type not in p.first or b.type not in p.second:
            continue
        m = p.between.search(between)
        if m is None:
            continue
        if p.before is not None and not p.before.search(before):
            continue
        if p.after is not None and not p.after.search(after):
            continue
        if not _nearest(a, b, middle, a.end + m.start(), a.end + m.end(), text):
            continue
        subject, obj = (a, b) if p.forward else (b, a)
        trigger_text = m.group(0).strip() or between.strip()
        if p.negation_in_trigger:
            outside = between[:m.start()] + " " + between[m.end():]
            negated = _NEGATION.search(outside) is not None or \
                re.search(r"\bnot\s+contraindicated\b", between, re.IGNORECASE) is not None
        else:
            negated = a.negated or b.negated or _NEGATION.search(between) is not None
        hedged = a.hedged or b.hedged or _HEDGE.search(between) is not None
        confidence = round(p.confidence - (_HEDGE_PENALTY if hedged else 0.0), 2)
        edge = Edge(
            subject=subject.entity_id, relation=p.relation, object=obj.entity_id, source=LITERATURE,
            confidence=confidence, passage_id=passage.passage_id,
            start=passage.start + s_start, end=passage.start + s_end,
            negated=negated, hedged=hedged, note=f"pattern: {trigger_text[:60]}",
        )
        if best is None or (best.negated, -best.confidence) > (edge.negated, -edge.confidence):
            best = edge
    return best


def _nearest(a: Mention, b: Mention, middle: Sequence[Mention], t_start: int, t_end: int,
             text: str) -> bool:
    """Refuse a pair when another mention of the same kind stands between the trigger and the
    pair member it should attach to, unless they form a list ("X, Y and Z")."""
    after = [m for m in middle if m.start >= t_end and m.type in _kind(b.type)] + [b]
    before = [a] + [m for m in middle if m.end <= t_start and m.type in _kind(a.type)]
    for chain in (after, before):
        for x, y in zip(chain, chain[1:], strict=False):
            if not _LIST_LINK.match(text[x.end:y.start]):
                return False
    return True


def _kind(t: str) -> frozenset[str]:
    return DRUGS if t in DRUGS else CONDITIONS
