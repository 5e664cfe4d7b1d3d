"""Mention roles: which cue phrase reaches a mention, within its clause.

A drug the answer *recommends* ("start X", "X is first-line") is checked, one it only names
("X can cause Y", "avoid X") is not; the nearest cue wins. Cue lists live in
corpora/lexicon/clinical_cues.json (generation.clinical.lexicon); here is how they apply.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from generation.clinical.lexicon import compile_cue, cue
from generation.clinical.records import Mention
from kb.negation import assertion
from kb.sentences import sentence_spans
from kb.vocabulary import fold

PAST_STATE = re.compile(r"\b(?:history of|hx of|h/o|previous|prior|past|remote|old|resolved|healed)\s+"
                         r"(?:(?:an?|the|his|her|upper|lower|major|minor|\w+al)\s+){0,2}$", re.I)
TARGET_WEAK = frozenset({"in", "with", "presents with"})  # also patient context: only a fallback

TREATMENT_Q = re.compile(r"\b(" + cue("question_treatment") + r")\b", re.I)
KNOWLEDGE_Q = re.compile(r"\b(?:" + cue("question_knowledge") + r")\b", re.I)
DIAGNOSIS_Q = re.compile(r"\b(" + cue("question_diagnosis") + r")\b", re.I)

_CLAUSE = re.compile(r"[;:?!]|\s[-\u2013\u2014]\s|,?\s*\b(?:but|however|whereas|although|though|while|yet|"
                     r"unless|except|which|who|because|since)\b", re.I)
_DOSE = re.compile(
    r"\b\d+(?:\.\d+)?\s*(?:mg|mcg|\u00b5g|g|units?|iu|ml|mmol|puffs?|tablets?)\b(?:\s*/\s*(?:kg|day|d|dose))?|"
    r"\b(?:once|twice|three times|four times)\s+(?:a\s+)?(?:daily|day|weekly|week)\b|"
    r"\b(?:daily|bid|tid|qid|qd|od|prn|nightly|at night|orally|po|iv|im|sc|intravenously|"
    r"oral|inhaled|topical|low[- ]dose|high[- ]dose|as needed|immediately)\b|\([^)]*\)", re.I)
_FILLER = re.compile(r"\b(?:a|an|the|his|her|their|its|this|that|some|any|low|high|dose|doses|of|"
                     r"regular|daily|an?\s+oral|oral|inhaled|such as|including|like|e\.g\.|eg|i\.e\.|"
                     r"for example|namely|especially|either|both|also|then|now|immediately|"
                     r"short[- ]acting|long[- ]acting|a course of|course|course of|agent|drug|medication|"
                     r"therapy|tablet|tablets|and|or|nor|plus|,|/)\b", re.I)

YES_ANSWER = re.compile(r"^\s*(?:yes|yeah|sure|absolutely|certainly|it is safe|that is (?:fine|safe|appropriate)|"
                  r"go ahead)\b", re.I)
NO_ANSWER = re.compile(r"^\s*(?:no|not safe|it is not safe|avoid|don't|do not|never)\b", re.I)
_FAMILY = re.compile(r"\b(?:family history of|(?:mother|father|sister|brother|parent|sibling|aunt|uncle|"
                     r"grandmother|grandfather)s?\s+(?:has|had|with|died of))", re.I)


_RX = {name: compile_cue(key) for name, key in {
    "recommend": "recommend_pre", "avoid": "avoid_pre_broad", "avoid_narrow": "avoid_pre_narrow",
    "mention": "mention_pre", "taken": "taken_pre", "taken_answer": "taken_answer", "ask": "ask_pre",
    "past": "past_pre", "diagnosis": "diagnosis_pre", "not_diagnosis": "not_diagnosis", "target": "target_pre",
}.items()}
_POST = {name: re.compile(r"^\W*(?:\w+\W+){0,5}?(?:" + p + r")(?!\w)", re.I) for name, p in {
    "avoid": cue("avoid_post"), "recommend": cue("recommend_post"), "diagnosis": cue("diagnosis_post"),
    "not_diagnosis": r"(?:is|are|seems|appears)\s+(?:\w+\s+)?(?:unlikely|less likely|ruled out|excluded|not likely)",
}.items()}
NARROW = frozenset({"avoid_narrow", "mention", "past"})  # cues that reach only the next noun phrase
MAX_GAP_WORDS = 4


def negated_before(text: str, start: int, end: int | None = None) -> bool:
    """Whether the words at text[start:end] are negated (kb.negation, the one implementation
    ingest uses too), within their sentence."""
    end = start if end is None else end
    spans = sentence_spans(text) or [(0, len(text))]
    lo, hi = next(((a, b) for a, b in spans if a <= start < b), (0, len(text)))
    return assertion(fold(text), start, end, lo, hi)[0]


def family_history(text: str, m: Mention, ments: Sequence[Mention]) -> bool:
    """Whether a condition is a relative's ("family history of asthma and migraine")."""
    lo, _ = clause_bounds(text, m.start, m.end)
    for c in _FAMILY.finditer(text, lo, m.start):
        gap = _blank(text, [(x.start, x.end) for x in ments if x is not m], c.end(), m.start)
        if _gap_words(gap) == 0:
            return True
    return False


def purpose_of(text: str, m: Mention, drugs: Sequence[Mention], taken: Sequence[Mention]) -> bool:
    """Whether a disease is what a drug the patient takes is for ("on warfarin for AF")."""
    before = [d for d in drugs if d.end <= m.start]
    if not before:
        return False
    d = max(before, key=lambda x: x.end)
    gap = text[d.end:m.start]
    return d in taken and bool(re.fullmatch(r"\s*(?:\S+\s+){0,3}?for\s+(?:\w+\s+){0,2}?", gap + " ")) \
        and _gap_words(gap.replace("for", " ")) <= 3


def clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    lo = max((m.end() for m in _CLAUSE.finditer(text, 0, start)), default=0)
    nxt = _CLAUSE.search(text, end)
    return lo, (nxt.start() if nxt else len(text))


def _gap_words(gap: str) -> int:
    gap = _DOSE.sub(" ", gap)
    gap = _FILLER.sub(" ", gap)
    return len(re.findall(r"[A-Za-z0-9]+", gap))


def _blank(text: str, spans: Sequence[tuple[int, int]], lo: int, hi: int) -> str:
    """text[lo:hi] with the given spans replaced by spaces."""
    chars = list(text[lo:hi])
    for s, e in spans:
        for i in range(max(s, lo), min(e, hi)):
            chars[i - lo] = " "
    return "".join(chars)


def classify(text: str, m: Mention, drugs: Sequence[Mention], kinds: Sequence[str],
              post: bool = False) -> tuple[str | None, str | None]:
    """The role the nearest cue gives a drug mention (None: no cue reaches it). A drug in
    brackets right after another ("an MAOI (phenelzine)") takes that one's role."""
    head = next((d for d in drugs if d.end <= m.start and re.fullmatch(r"\s*[(\[,]\s*(?:e\.g\.,?\s*|eg\s+|such as\s+)?",
                                                                          text[d.end:m.start])), None)
    if head is not None and text[head.end:m.start].strip().startswith(("(", "[")):
        return classify(text, head, drugs, kinds, post)
    lo, hi = clause_bounds(text, m.start, m.end)
    others = [(d.start, d.end) for d in drugs if d is not m]
    between_drugs = [d for d in drugs if d is not m and lo <= d.start and d.end <= m.start]
    best: tuple[int, int, str, str] | None = None  # (end, -start, kind, text)
    for kind in kinds:
        rx = _RX[kind]
        for c in rx.finditer(text, lo, m.start):
            if c.end() > m.start:
                continue
            intervening = [d for d in between_drugs if d.start >= c.end()]
            if kind in NARROW:
                if intervening or _gap_words(text[c.end():m.start]) > 1:
                    continue
            elif kind.startswith("taken") and c.group(0).lower() in (
                    "on", "his", "her", "their", "existing", "current", "with"):  # "on X and Y"
                if _gap_words(_blank(text, others, c.end(), m.start)) > (0 if intervening else 1):
                    continue
            else:
                gap = _blank(text, others, c.end(), m.start)
                if _gap_words(gap) > MAX_GAP_WORDS:
                    continue
            cand = (c.end(), -c.start(), kind, c.group(0))
            if best is None or cand[:2] > best[:2]:
                best = cand
    post_kind = None
    if post:
        suffix = _blank(text, others, m.end, hi)
        suffix = _DOSE.sub(" ", suffix)
        if _POST["avoid"].search(suffix):
            post_kind = "avoid"
        elif _POST["recommend"].search(suffix):
            post_kind = "recommend"
    if post_kind == "avoid" and (best is None or best[2] not in ("avoid", "avoid_narrow", "taken", "taken_answer")):
        return "avoid", "after: " + (_POST["avoid"].search(suffix).group(0).strip())  # type: ignore[union-attr]
    if best is not None:
        return best[2], best[3]
    if post_kind == "recommend":
        return "recommend", "after: " + _POST["recommend"].search(suffix).group(0).strip()  # type: ignore[union-attr]
    return None, None


def target_cue(text: str, m: Mention, ments: Sequence[Mention]) -> str | None:
    """The cue saying a disease is what a drug is for ("for", "treatment of", ...)."""
    lo, _ = clause_bounds(text, m.start, m.end)
    best: re.Match[str] | None = None
    for c in _RX["target"].finditer(text, lo, m.start):
        gap = text[c.end():m.start]
        if _gap_words(re.sub(r"\b(?:mild|moderate|severe|acute|chronic|persistent|uncomplicated|"
                             r"newly diagnosed|new|recurrent|stable|early|his|her|their|the|a|an|"
                             r"episodic|intermittent|active|resistant|refractory|moderate-to-severe)\b",
                             " ", gap, flags=re.I)) == 0:
            best = c
    return best.group(0).lower() if best else None


def diagnosis_cue(text: str, m: Mention, ments: Sequence[Mention]) -> str | bool | None:
    """A diagnostic cue (str), an explicit rejection (False), or nothing (None)."""
    lo, hi = clause_bounds(text, m.start, m.end)
    prefix_cues = [(c.end(), c.group(0), "yes") for c in _RX["diagnosis"].finditer(text, lo, m.start)
                   if _gap_words(text[c.end():m.start]) <= 2]
    prefix_cues += [(c.end(), c.group(0), "no") for c in _RX["not_diagnosis"].finditer(text, lo, m.start)
                    if _gap_words(text[c.end():m.start]) <= 3]
    suffix = text[m.end:hi]
    if _POST["not_diagnosis"].search(suffix):
        return False
    if prefix_cues:
        end, cue, kind = max(prefix_cues)
        if kind == "no":
            return False
        if cue.lower() in ("is", "due to", "caused by"):
            return None
        return cue.lower()
    if _POST["diagnosis"].search(suffix):
        return "after: " + _POST["diagnosis"].search(suffix).group(0).strip()  # type: ignore[union-attr]
    if m.hedged:
        return "hedged"
    return None
