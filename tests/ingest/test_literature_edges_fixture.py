"""The hand-judged sample of literature edges (tests/fixtures/literature_edges_judged.jsonl).

50 asserted literature edges sampled by `benchmarks/literature_edges.py` (seed 0) from a KB of
the PubMedQA dev abstracts (all 45 of its distinct statements) topped up with 5 from the demo
KB, each judged by reading its sentence. The file must stay well-formed, and every edge judged
correct must still come out of `extract_relations` when its sentence is read on its own with
the curated vocabulary (the one every build uses), so a pattern change that loses a correct
edge shows up here. A row's optional `context` is text the passage had before the sentence
(an abbreviation's definition) and is read in front of it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.curated import load_curated
from ingest.relations import extract_relations
from kb.records import Passage
from kb.vocabulary import Vocabulary

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "literature_edges_judged.jsonl"
RELATIONS = {"treats", "causes", "presents_with", "associated_with",
             "contraindicated_in", "interacts_with"}


def _rows() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()
            if line.strip()]


ROWS = _rows()


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    entities, _ = load_curated(ROOT / "corpora" / "graph")
    return Vocabulary.from_entities(entities)


def test_fixture_is_well_formed() -> None:
    assert len(ROWS) >= 50
    keys = [r["edge_key"] for r in ROWS]
    assert len(set(keys)) == len(keys)
    for r in ROWS:
        for field in ("edge_key", "subject", "relation", "object", "sentence", "note"):
            assert isinstance(r.get(field), str) and r[field].strip(), (field, r.get("edge_key"))
        assert isinstance(r["correct"], bool), r["edge_key"]
        subject, relation, obj, passage_id, start = r["edge_key"].split("|")
        assert relation == r["relation"] in RELATIONS
        assert (subject, obj) == (r["subject_id"], r["object_id"])
        assert passage_id and int(start) >= 0
    assert any(r["correct"] for r in ROWS) and not all(r["correct"] for r in ROWS)


@pytest.mark.parametrize("row", [r for r in ROWS if r["correct"]], ids=lambda r: r["edge_key"][:60])
def test_correct_edges_are_still_extracted(row: dict, vocab: Vocabulary) -> None:
    context = row.get("context", "")
    text = f"{context} {row['sentence']}" if context else row["sentence"]
    offset = len(text) - len(row["sentence"])
    passage = Passage("p", "d", text, 0, len(text))
    edges = extract_relations(passage, vocab.find(text))
    found = [e for e in edges if (e.subject, e.relation, e.object) ==
             (row["subject_id"], row["relation"], row["object_id"]) and e.start >= offset]
    assert found, f"no {row['relation']} edge {row['subject']} -> {row['object']} in: {row['sentence']}"
    assert not found[0].negated
