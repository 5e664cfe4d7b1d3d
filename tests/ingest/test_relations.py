"""Literature relations: typed trigger patterns, sentence spans in document coordinates,
negation, determinism, and how the graph uses (or ignores) the edges."""

from __future__ import annotations

import pytest

from ingest.relations import extract_relations
from kb.graph import KnowledgeGraph
from kb.records import Edge, Entity, Passage
from kb.vocabulary import Vocabulary

ENTITIES = [
    Entity("DB00331", "Compound", "Metformin"),
    Entity("DB00203", "Compound", "Sildenafil"),
    Entity("DB01222", "Compound", "Budesonide"),
    Entity("DB00682", "Compound", "Warfarin"),
    Entity("DB00945", "Compound", "Acetylsalicylic acid", ("aspirin",)),
    Entity("DB01050", "Compound", "Ibuprofen"),
    Entity("DB00571", "Compound", "Propranolol"),
    Entity("NDFRT:N0000007647", "Pharmacologic Class", "Nitrates"),
    Entity("DOID:9352", "Disease", "type 2 diabetes mellitus"),
    Entity("DOID:9351", "Disease", "diabetes mellitus", ("diabetes",)),
    Entity("DOID:2841", "Disease", "asthma"),
    Entity("DOID:9970", "Disease", "obesity"),
    Entity("DOID:3650", "Disease", "lactic acidosis"),
    Entity("DOID:750", "Disease", "peptic ulcer disease", ("peptic ulcer",)),
    Entity("DOID:8469", "Disease", "influenza"),
    Entity("COND:severe_renal_impairment", "Condition", "severe renal impairment"),
    Entity("MESH:D003371", "Symptom", "Cough"),
    Entity("MESH:D005334", "Symptom", "Fever"),
    Entity("MESH:D063806", "Symptom", "Myalgia"),
    Entity("MESH:D006261", "Symptom", "Headache"),
    Entity("MESH:D012135", "Symptom", "Respiratory Sounds", ("wheezing",)),
]


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary.from_entities(ENTITIES)


def _relations(vocab: Vocabulary, text: str, offset: int = 0) -> list[Edge]:
    passage = Passage("p1", "d1", text, offset, offset + len(text))
    return extract_relations(passage, vocab.find(text))


def _triples(edges: list[Edge], positive: bool = True) -> set[tuple[str, str, str]]:
    return {(e.subject, e.relation, e.object) for e in edges if not positive or not e.negated}


@pytest.mark.parametrize(("text", "triple"), [
    ("Metformin is the first-line treatment for type 2 diabetes mellitus.", ("DB00331", "treats", "DOID:9352")),
    ("Metformin is indicated for diabetes.", ("DB00331", "treats", "DOID:9351")),
    ("Patients with asthma were treated with budesonide.", ("DB01222", "treats", "DOID:2841")),
    ("Metformin is contraindicated in severe renal impairment.",
     ("DB00331", "contraindicated_in", "COND:severe_renal_impairment")),
    ("Propranolol should not be used in patients with asthma.", ("DB00571", "contraindicated_in", "DOID:2841")),
    ("Sildenafil interacts with nitrates.", ("DB00203", "interacts_with", "NDFRT:N0000007647")),
    ("The interaction between warfarin and aspirin increases bleeding.", ("DB00682", "interacts_with", "DB00945")),
    ("Ibuprofen can cause peptic ulcer.", ("DB01050", "causes", "DOID:750")),
    ("Lactic acidosis caused by metformin is rare.", ("DB00331", "causes", "DOID:3650")),
    ("Metformin-induced lactic acidosis was seen.", ("DB00331", "causes", "DOID:3650")),
    ("Asthma is characterized by wheezing.", ("DOID:2841", "presents_with", "MESH:D012135")),
    ("Cough is a common symptom of influenza.", ("DOID:8469", "presents_with", "MESH:D003371")),
    ("Obesity is associated with an increased risk of type 2 diabetes mellitus.",
     ("DOID:9970", "associated_with", "DOID:9352")),
])
def test_each_relation(vocab: Vocabulary, text: str, triple: tuple[str, str, str]) -> None:
    edges = _relations(vocab, text)
    assert triple in _triples(edges), edges
    edge = next(e for e in edges if (e.subject, e.relation, e.object) == triple)
    assert edge.source == "literature" and edge.passage_id == "p1"
    assert 0.5 <= edge.confidence <= 0.9 and edge.note.startswith("pattern:")


def test_lists_attach_to_the_shared_trigger(vocab: Vocabulary) -> None:
    edges = _relations(vocab, "Symptoms of influenza include fever, cough and myalgia.")
    assert _triples(edges) == {("DOID:8469", "presents_with", s) for s in ("MESH:D005334", "MESH:D003371", "MESH:D063806")}
    edges = _relations(vocab, "Aspirin treats headache and metformin treats diabetes.")
    assert _triples(edges) == {("DB00945", "treats", "MESH:D006261"), ("DB00331", "treats", "DOID:9351")}


@pytest.mark.parametrize("text", [
    "Metformin did not improve asthma.",
    "There was no evidence that metformin causes lactic acidosis.",
    "Metformin is not effective in patients without asthma.",
])
def test_negated_statements_give_no_positive_edge(vocab: Vocabulary, text: str) -> None:
    edges = _relations(vocab, text)
    assert edges and all(e.negated for e in edges)
    assert _triples(edges) == set()


def test_hedged_statements_lose_confidence(vocab: Vocabulary) -> None:
    (plain,) = _relations(vocab, "Metformin treats diabetes.")
    (hedged,) = _relations(vocab, "Metformin may treat diabetes.")
    assert hedged.hedged and not plain.hedged and hedged.confidence < plain.confidence


def test_spans_are_sentences_in_document_coordinates(vocab: Vocabulary) -> None:
    document = "Title line. " + "Intro text here. Metformin treats diabetes. Asthma is characterized by wheezing."
    offset = len("Title line. ")
    text = document[offset:]
    edges = _relations(vocab, text, offset=offset)
    spans = {document[e.start:e.end] for e in edges}
    assert spans == {"Metformin treats diabetes.", "Asthma is characterized by wheezing."}


def test_no_edges_across_sentences_and_deterministic(vocab: Vocabulary) -> None:
    text = "Metformin was given. Asthma was common. Warfarin interacts with aspirin."
    first = _relations(vocab, text)
    assert _triples(first) == {("DB00682", "interacts_with", "DB00945")}
    assert _relations(vocab, text) == first


def test_graph_counts_literature_edges_and_ignores_negated_ones(vocab: Vocabulary) -> None:
    text = "Budesonide is effective in asthma. Metformin did not improve asthma."
    edges = _relations(vocab, text)
    graph = KnowledgeGraph.build(ENTITIES, edges)
    found = graph.indication("DB01222", "DOID:2841")
    assert found["status"] == "indicated" and found["evidence"][0]["passage_id"] == "p1"
    assert not found["evidence"][0]["curated"]
    assert graph.indication("DB00331", "DOID:2841")["status"] == "unknown"
    negated = [e for e in graph.describe("metformin")["edges"] if e["relation"] == "treats"]
    assert negated and negated[0]["negated"] is True
