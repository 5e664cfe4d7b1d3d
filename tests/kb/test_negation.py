"""kb.negation: the one negation/hedging implementation (ingest and answering)."""

import json
from pathlib import Path

import pytest

from kb.negation import assertion
from kb.vocabulary import fold

GOLD = Path(__file__).resolve().parents[1] / "fixtures" / "negation_gold.jsonl"


def _status(text: str, words: str) -> tuple[bool, bool]:
    start = text.index(words)
    return assertion(fold(text), start, start + len(words), 0, len(text))


@pytest.mark.parametrize("text, words, negated, hedged", [
    ("She denies chest pain.", "chest pain", True, False),
    ("Without asthma, she has migraine.", "migraine", False, False),
    ("He never had jaundice.", "jaundice", True, False),
    ("I don't have any headache, just tiredness.", "headache", True, False),
    ("I don't have any headache, just tiredness.", "tiredness", False, False),
    ("Vomiting is denied.", "Vomiting", True, False),
    ("There was no significant change in blood pressure.", "blood pressure", False, False),
    ("Treatment did not reduce mortality.", "mortality", False, False),
    ("Meningitis cannot be excluded.", "Meningitis", False, True),
    ("Possible appendicitis in a child with abdominal pain.", "appendicitis", False, True),
    ("Possible appendicitis in a child with abdominal pain.", "abdominal pain", False, False),
    ("No fever but a productive cough.", "productive cough", False, False),
])
def test_cases(text: str, words: str, negated: bool, hedged: bool) -> None:
    assert _status(text, words) == (negated, hedged)


def test_gold_accuracy_on_the_untuned_split() -> None:
    right = total = 0
    for line in GOLD.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec["split"] != "test":
            continue
        for m in rec["mentions"]:
            total += 1
            got = assertion(fold(rec["text"]), m["start"], m["end"], 0, len(rec["text"]))
            right += got == (m["negated"], m["hedged"])
    assert total >= 50 and right / total >= 0.9
