"""Negation and hedging of a mention, NegEx-style, within its sentence.

One implementation for ingest (kb.vocabulary marks every mention it finds) and answering
(generation.clinical reads the question's and the answer's mentions through the same
vocabulary). A cue before the mention reaches it across at most six words and no clause
terminator ("but", "however", ";"); a few phrases after it ("was ruled out", "cannot be
excluded") count too; pseudo-negations ("no significant change in") do not.

Compared on tests/fixtures/negation_gold.jsonl with medspaCy's ConText (benchmarks/negation_eval.py;
figures in the README).
"""

from __future__ import annotations

import re

WINDOW = 6  # words between a cue and the mention it scopes over
NEG_PRE = re.compile(
    r"\b(no evidence of|no signs? of|no history of|negative for|absence of|free of|"
    r"ruled out|rules out|without|denies|denied|deny|denying|never|neither|nor|"
    r"cannot|no|not|(?:do|does|did|is|are|was|were|have|has|had|ca|could|would|should)n't)(?!\w)")
NEG_PSEUDO = re.compile(
    r"(no (significant |statistically significant )?(increase|change|difference|association|"
    r"correlation|relationship|effect|further|longer|doubt)|not only|not necessarily|"
    r"not certain|not significantly|without (any )?(difficulty|further|treatment)|no matter|"
    r"no (further |significant |clinical )?improvement|"
    r"(?:not|n't) (significantly )?(reduce|improve|change|increase|decrease|affect|alter|differ)\w*)\b")
NEG_POST = re.compile(
    r"^[^.;:]{0,40}?\b(was|were|is|are|has been|have been|being)\s+(ruled out|excluded|absent|denied|"
    r"not (present|seen|found|detected|observed))\b")
HEDGE_PRE = re.compile(
    r"\b(may|might|could|possible|possibly|probable|probably|suspected|suspect|suspicion of|"
    r"suggests?|suggesting|suggestive of|likely|unlikely|questionable|rule out|whether|"
    r"potential|potentially|presumed|perhaps|question of|inconclusive for|can cause|may cause)\b")
# A hedge reaches the suspected diagnosis, not the findings it rests on ("possible
# appendicitis in a child with abdominal pain").
HEDGE_STOP = re.compile(r"\b(with|after|in (a|an|the|this) \w+)\b")
HEDGE_POST = re.compile(
    r"^[^.;:]{0,40}?\b(cannot be (excluded|ruled out)|is (possible|suspected|likely|unlikely)|"
    r"was (suspected|considered)|(is|was|were) not excluded|(may|might|can|could) (appear|occur|develop))\b")
# A verb of its own ends a cue's reach ("without asthma, she has migraine"; "no fever and
# reports a cough"), unless it directly follows the cue ("never had jaundice").
VERB = re.compile(r"\b(has|have|had|is|are|was|were|presents?|presenting|reports?|reported|complains?|"
                  r"takes?|taking|develops?|developed|needs?|feels?|shows?|resolved|gets?|getting|got|"
                  r"(?:he|she|it|that|there)'s)\b")
TERMINATOR = re.compile(
    r"\b(but|however|although|though|except|apart from|aside from|which|who|whereas|yet|"
    r"because|due to|secondary to|nevertheless|just|only)\b|[;:]")


def scoped(prefix: str, cue: re.Pattern[str], pseudo: re.Pattern[str] | None,
           stop: re.Pattern[str] | None = None) -> bool:
    """Whether the last cue in `prefix` reaches the end of it (the mention)."""
    for m in reversed(list(cue.finditer(prefix))):
        if pseudo is not None and pseudo.match(prefix, m.start()):
            continue
        gap = prefix[m.end():]
        verb = VERB.search(gap)
        if verb is not None and gap[:verb.start()].strip():
            return False
        if stop is not None and stop.search(gap):
            return False
        return not TERMINATOR.search(gap) and len(gap.split()) <= WINDOW
    return False


def assertion(folded: str, start: int, end: int, sent_start: int, sent_end: int) -> tuple[bool, bool]:
    """(negated, hedged) for folded[start:end] inside the sentence folded[sent_start:sent_end];
    `folded` is lower-cased text (kb.vocabulary.fold)."""
    prefix, suffix = folded[sent_start:start], folded[end:max(end, sent_end)]
    negated = scoped(prefix, NEG_PRE, NEG_PSEUDO) or bool(NEG_POST.match(suffix))
    hedged = scoped(prefix, HEDGE_PRE, None, HEDGE_STOP) or bool(HEDGE_POST.match(suffix))
    return negated, hedged
