"""A clinical reading of a question and an answer: who the patient is, what they take, what
the answer recommends.

The graph rules (generation.rules) need more than entity mentions: a drug the answer
*recommends* ("start X", "X is first-line") is checked, a drug it only names ("X can cause
Y", "avoid X") is not; a condition *of the patient* ("she is 10 weeks pregnant", "eGFR 20",
"an 8-year-old") counts, a negated one ("not pregnant", "without asthma") does not; a drug
the patient already takes ("on warfarin") joins the interaction check. Mentions come from
the graph's vocabulary (kb.vocabulary) plus a few phrasings it cannot hold (numbers such as
eGFR or age, "on dialysis"; corpora/lexicon/clinical_aliases.tsv); cue phrases around each
mention decide its role (generation.clinical.roles), the nearest cue winning, within its clause.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from generation.clinical import lexicon
from generation.clinical.measures import (
    derived_conditions,
    is_pregnancy_test,
    measures,
    not_pregnant,
    pregnancy_id,
)
from generation.clinical.records import AnswerReading, Item, Mention, QuestionReading
from generation.clinical.roles import (
    DIAGNOSIS_Q,
    KNOWLEDGE_Q,
    NO_ANSWER,
    PAST_STATE,
    TARGET_WEAK,
    TREATMENT_Q,
    YES_ANSWER,
    classify,
    diagnosis_cue,
    family_history,
    negated_before,
    purpose_of,
    target_cue,
)
from kb.graph import COMPOUND, CONDITION, DISEASE, DRUG_CLASS, SYMPTOM
from kb.sentences import sentence_spans

DRUG_TYPES = frozenset({COMPOUND, DRUG_CLASS})
PATIENT_TYPES = frozenset({DISEASE, CONDITION, SYMPTOM})
# States that are the contraindication only while present ("active bleeding"); "history of",
# "previous" or "prior" before them describes the past.
CURRENT_ONLY = ("active bleeding",)


class ClinicalReader:
    """Reads questions and answers against one knowledge graph (names, synonyms, classes)."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self._alias_ids: list[tuple[re.Pattern[str], str]] | None = None
        self._current: frozenset[str] | None = None

    # -- mentions
    def _aliases(self) -> list[tuple[re.Pattern[str], str]]:
        if self._alias_ids is None:
            out = []
            for pattern, name in lexicon.aliases():
                ent = self.graph.resolve(name)
                if ent is not None:
                    out.append((re.compile(r"\b(?:" + pattern + r")(?!\w)", re.I), ent.id))
            self._alias_ids = out
        return self._alias_ids

    def mentions(self, text: str) -> list[Mention]:
        """Vocabulary mentions plus alias phrasings, longest first where they overlap."""
        found = [Mention(m.entity_id, m.type, m.start, m.end, m.text, m.negated, m.hedged)
                 for m in self.graph.vocabulary().find(text)]
        spans = {(m.start, m.end): m for m in found}
        for rx, eid in self._aliases():
            ent = self.graph.entity(eid)
            for m in rx.finditer(text):
                same = spans.get((m.start(), m.end()))
                # Where the vocabulary names the same words ("angina": a symptom), the alias
                # adds what they imply for the patient (coronary artery disease) beside it.
                found.append(Mention(eid, ent.type, m.start(), m.end(), m.group(0),
                                      negated_before(text, m.start(), m.end()), derived=same is not None,
                                      extra={"beside": True} if same is not None else {}))
        found.sort(key=lambda m: (m.start - m.end, m.start))
        taken = bytearray(len(text) + 1)
        out = []
        for m in found:
            if m.extra.get("beside") and (m.start, m.end) in spans:
                out.append(m)
                continue
            if any(taken[m.start:m.end]):
                continue
            taken[m.start:m.end] = b"\x01" * (m.end - m.start)
            if m.start >= 4 and text[m.start - 4:m.start].lower() in ("non-", "non "):
                m.negated = True
            out.append(m)
        out.sort(key=lambda m: m.start)
        return out

    def _current_only(self) -> frozenset[str]:
        """Conditions that hold only while they last: a history of one is not the condition."""
        if self._current is None:
            ents = [self.graph.resolve(n) for n in CURRENT_ONLY]
            self._current = frozenset(e.id for e in ents if e is not None)
        return self._current

    def _item(self, m: Mention, role: str, sentence: int, cue: str | None = None) -> Item:
        ent = self.graph.entity(m.id)
        return Item(id=m.id, name=ent.name if ent else m.text, type=m.type, text=m.text, role=role,
                    sentence=sentence, start=m.start, end=m.end, cue=cue, derived=m.derived,
                    negated=m.negated)

    def _derived(self, text: str, name: str, start: int, end: int, cue: str,
                 negated: bool = False) -> Mention | None:
        ent = self.graph.resolve(name)
        if ent is None:
            return None
        return Mention(ent.id, ent.type, start, end, text[start:end], negated=negated, derived=True,
                        extra={"cue": cue})

    def derived_conditions(self, text: str) -> list[Mention]:
        """Patient states named by numbers or phrasings: age, pregnancy, renal function, ..."""
        return derived_conditions(
            text, lambda name, start, end, cue, neg: self._derived(text, name, start, end, cue, neg))

    # -- question
    def read_question(self, question: str) -> QuestionReading:
        intents = set()
        if TREATMENT_Q.search(question):
            intents.add("treatment")
        if DIAGNOSIS_Q.search(question):
            intents.add("diagnosis")
        conditions: list[Item] = []
        symptoms: list[Item] = []
        taken: list[Item] = []
        asked: list[Item] = []
        targets: list[Item] = []
        diseases: list[Item] = []
        negated: list[Item] = []
        family: list[Item] = []
        no_pregnancy = not_pregnant(question)
        stated = measures(question)
        spans = sentence_spans(question) or [(0, len(question))]
        for si, (s0, s1) in enumerate(spans):
            sent = question[s0:s1]
            ments = self.mentions(sent)
            derived = self.derived_conditions(sent)
            drugs = [m for m in ments if m.type in DRUG_TYPES]
            taken_here: list[Mention] = []
            for m in drugs:
                role, cue = classify(sent, m, drugs, ("past", "taken", "ask", "avoid", "avoid_narrow"))
                if role in ("taken",):
                    taken_here.append(m)
                    taken.append(self._item(m.shifted(s0), "taken", si, cue))
                elif role == "past" or m.negated:
                    continue
                else:
                    asked.append(self._item(m.shifted(s0), "asked", si, cue))
            for m in [m for m in ments if m.type in PATIENT_TYPES] + derived:
                if m.id == pregnancy_id(self.graph) and (no_pregnancy or is_pregnancy_test(sent, m)):
                    m.negated = True
                if m.id in self._current_only() and PAST_STATE.search(sent[max(0, m.start - 40):m.start]):
                    m.negated = True  # "history of a GI bleed" is not active bleeding
                item_m = m.shifted(s0)
                if m.negated:
                    negated.append(self._item(item_m, "negated", si, m.extra.get("cue")))
                    continue
                if family_history(sent, m, ments):
                    family.append(self._item(item_m, "family_history", si, "family history"))
                    continue
                cue = m.extra.get("cue")
                is_symptom = m.type == SYMPTOM or any(
                    (e := self.graph.entity(x)) is not None and e.type == SYMPTOM
                    for x in self.graph.equivalents(m.id))
                if is_symptom and not m.derived:
                    symptoms.append(self._item(item_m, "symptom", si, cue))
                conditions.append(self._item(item_m, "condition", si, cue))
                if m.type == DISEASE:
                    diseases.append(self._item(item_m, "disease", si, cue))
                    tcue = target_cue(sent, m, ments)
                    if tcue and tcue not in TARGET_WEAK and not purpose_of(sent, m, drugs, taken_here):
                        targets.append(self._item(item_m, "target", si, tcue))
        return QuestionReading(
            text=question, conditions=_dedupe(conditions), symptoms=_dedupe(symptoms),
            taken=_dedupe(taken), asked=_dedupe([a for a in asked if a.id not in {t.id for t in taken}]),
            targets=_dedupe(targets), diseases=_dedupe(diseases), negated=_dedupe(negated),
            family_history=_dedupe(family), intents=frozenset(intents), measures=tuple(stated))

    # -- answer
    def read_answer(self, claims: Sequence[str], question: QuestionReading) -> AnswerReading:
        rec: list[Item] = []
        avoided: list[Item] = []
        mentioned: list[Item] = []
        taken: list[Item] = []
        diagnoses: list[Item] = []
        targets: list[Item] = []
        diseases: list[Item] = []
        taken_ids = {t.id for t in question.taken}
        treatment_q = "treatment" in question.intents or not (
            "diagnosis" in question.intents or KNOWLEDGE_Q.search(question.text))
        known = {c.id for c in question.conditions}
        any_drug = False
        for ci, text in enumerate(claims):
            ments = self.mentions(text)
            drugs = [m for m in ments if m.type in DRUG_TYPES]
            any_drug = any_drug or bool(drugs)
            for m in drugs:
                role, cue = classify(text, m, drugs,
                                      ("recommend", "avoid", "avoid_narrow", "mention", "taken_answer"),
                                      post=True)
                role = "taken" if role == "taken_answer" else role
                if role is None:
                    if m.negated:
                        role, cue = "avoid", "negated"
                    elif m.id in taken_ids:
                        role, cue = "taken", "already taken (question)"
                    elif treatment_q:
                        role, cue = "recommend", "named in answer to a treatment question"
                    else:
                        role, cue = "mention", None
                if role == "taken" and m.id not in taken_ids and cue in ("his", "her", "their"):
                    role = "mention"
                bucket = {"recommend": rec, "avoid": avoided, "avoid_narrow": avoided,
                          "taken": taken}.get(role, mentioned)
                bucket.append(self._item(m, {"avoid_narrow": "avoid"}.get(role, role), ci, cue))
            for m in ments:
                if m.type != DISEASE or m.negated:
                    continue
                diseases.append(self._item(m, "disease", ci))
                tcue = target_cue(text, m, ments)
                if tcue and drugs and tcue not in TARGET_WEAK:
                    targets.append(self._item(m, "target", ci, tcue))
                dcue = diagnosis_cue(text, m, ments)
                if dcue is False:
                    continue
                if dcue or ("diagnosis" in question.intents and m.id not in known
                            and not (tcue and tcue not in TARGET_WEAK)):
                    diagnoses.append(self._item(m, "diagnosis", ci, dcue or "answer to a diagnosis question"))
        if claims and not any_drug and question.asked:
            first = claims[0]
            if YES_ANSWER.search(first):
                rec.extend(_replace_role(a, "recommend", 0, "affirmative answer") for a in question.asked)
            elif NO_ANSWER.search(first):
                avoided.extend(_replace_role(a, "avoid", 0, "negative answer") for a in question.asked)
        return AnswerReading(recommended=tuple(rec), avoided=tuple(avoided), mentioned=tuple(mentioned),
                             taken=tuple(taken), diagnoses=tuple(diagnoses), targets=tuple(targets),
                             diseases=tuple(diseases))



def _replace_role(item: Item, role: str, sentence: int, cue: str) -> Item:
    return replace(item, role=role, sentence=sentence, cue=cue)


def _dedupe(items: Sequence[Item]) -> tuple[Item, ...]:
    seen: dict[str, Item] = {}
    for it in items:
        seen.setdefault(it.id, it)
    return tuple(seen.values())
