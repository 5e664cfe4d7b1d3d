"""generation.pubmedqa: yes/no/maybe accuracy with a scripted backend."""

from __future__ import annotations

from dataclasses import dataclass

from generation.backends.fake import ScriptedBackend
from generation.pubmedqa import evaluate_decisions, parse_decision
from kb.records import Passage, ScoredPassage


def test_parse_decision() -> None:
    assert parse_decision("Yes.") == "yes"
    assert parse_decision("  MAYBE, the data are mixed") == "maybe"
    assert parse_decision("Nope") is None
    assert parse_decision("not sure; no") == "no"


@dataclass
class _Searcher:
    def search(self, query: str, k: int) -> list[ScoredPassage]:
        p = Passage(passage_id="p", doc_id="d", text=f"Evidence about {query}", start=0, end=5)
        return [ScoredPassage(passage=p, score=1.0)] * k


def test_accuracy_confusion_and_baseline() -> None:
    items = {"1": {"QUESTION": "A?", "final_decision": "yes"},
             "2": {"QUESTION": "B?", "final_decision": "no"},
             "3": {"QUESTION": "C?", "final_decision": "yes"},
             "4": {"QUESTION": "D?", "final_decision": "maybe"}}
    backend = ScriptedBackend(["yes", "yes", "I cannot tell", "maybe"])
    out = evaluate_decisions(items, _Searcher(), backend, k=2)
    assert out["n"] == 4 and out["accuracy"] == 0.5 and out["unparsed"] == 1
    assert out["majority_label"] == "yes" and out["majority_baseline"] == 0.5
    assert out["confusion"]["no"]["yes"] == 1
    assert backend.max_new_tokens == [8] * 4
    assert "Abstract 2:" in backend.calls[0][1]["content"] and "A?" in backend.calls[0][1]["content"]
    assert evaluate_decisions(items, _Searcher(), ScriptedBackend("no"), limit=1)["n"] == 1
