"""What the clinical reader returns: entities in roles, a question's and an answer's reading."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Item:
    """One entity in a role: a recommended drug, a patient condition, a reported symptom ..."""

    id: str
    name: str
    type: str
    text: str  # the words that named or implied it
    role: str
    sentence: int  # question: sentence index; answer: claim index
    start: int
    end: int
    cue: str | None = None
    derived: bool = False  # implied by a phrase (an age, an eGFR) rather than named
    negated: bool = False

    def ref(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "type": self.type}


@dataclass(frozen=True)
class QuestionReading:
    text: str
    conditions: tuple[Item, ...] = ()  # what the patient has (diseases, states, derived)
    symptoms: tuple[Item, ...] = ()  # what the patient reports
    taken: tuple[Item, ...] = ()  # drugs already taken
    asked: tuple[Item, ...] = ()  # drugs the question asks about
    targets: tuple[Item, ...] = ()  # diseases the question wants treated (explicit cue)
    diseases: tuple[Item, ...] = ()  # every affirmed disease named
    negated: tuple[Item, ...] = ()  # what the question says the patient does not have
    family_history: tuple[Item, ...] = ()
    intents: frozenset[str] = frozenset()  # treatment, diagnosis
    measures: tuple[tuple[str, float], ...] = ()  # stated values: ("egfr", 48.0), ("ckd_stage", 3.0)

    def measure(self, name: str) -> float | None:
        return next((v for k, v in self.measures if k == name), None)


@dataclass(frozen=True)
class AnswerReading:
    recommended: tuple[Item, ...] = ()
    avoided: tuple[Item, ...] = ()  # advised against, stopped, said to be contraindicated
    mentioned: tuple[Item, ...] = ()  # named only (a side effect, a mechanism, a comparison)
    taken: tuple[Item, ...] = ()  # drugs the answer says the patient takes
    diagnoses: tuple[Item, ...] = ()  # proposed diagnoses
    targets: tuple[Item, ...] = ()  # diseases a claim says a drug is for
    diseases: tuple[Item, ...] = ()  # every affirmed disease named


@dataclass
class Mention:
    """A mention while reading: mutable, shifted to question offsets when it becomes an Item."""

    id: str
    type: str
    start: int
    end: int
    text: str
    negated: bool = False
    hedged: bool = False
    derived: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def shifted(self, offset: int) -> Mention:
        return Mention(self.id, self.type, self.start + offset, self.end + offset, self.text,
                       self.negated, self.hedged, self.derived, self.extra)
