"""retrieval.search.Searcher: dense, sparse and hybrid over a real (hash-embedder) KB."""

from __future__ import annotations

from dataclasses import replace

import pytest
from retrieval_fixtures import open_beir_kb

from kb.errors import KBError
from retrieval.search import Filters, Searcher, hit_json


@pytest.fixture(scope="module")
def beir_version(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    version = open_beir_kb(tmp_path_factory.mktemp("beir"))
    yield version
    version.close()


def _ids(hits) -> list[str]:  # noqa: ANN001
    return [h.external_id for h in hits]


@pytest.mark.parametrize("method", ["dense", "sparse", "hybrid"])
def test_methods_find_the_relevant_record(beir_version, method: str) -> None:  # noqa: ANN001
    hits = Searcher(beir_version).search("metformin renal impairment lactic acidosis", 3,
                                         method=method)
    assert hits and hits[0].external_id == "d4"
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert all(h.method == method for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_default_is_hybrid_and_json_shape(beir_version) -> None:  # noqa: ANN001
    s = Searcher(beir_version)
    hits = s.search("oseltamivir influenza", 2)
    assert hits[0].method == "hybrid" and hits[0].external_id == "d6"
    row = hit_json(hits[0])
    assert {"passage_id", "doc_id", "external_id", "score", "title", "source", "page",
            "text"} <= set(row)


def test_bad_input_is_a_clear_error(beir_version) -> None:  # noqa: ANN001
    s = Searcher(beir_version)
    with pytest.raises(KBError, match="empty"):
        s.search("   ", 3)
    with pytest.raises(KBError, match="method"):
        s.search("asthma", 3, method="magic")


def test_filters_year_evidence_source(beir_version) -> None:  # noqa: ANN001
    s = Searcher(beir_version)
    hits = s.search("asthma metformin treatment", 8, filters=Filters(year_min=2019))
    assert hits and {h.external_id for h in hits} <= {"d1", "d3", "d7"}
    hits = s.search("treatment", 8, filters=Filters(evidence_types=("Guideline",)))
    assert hits and {h.external_id for h in hits} <= {"d1", "d5", "d7"}
    for method in ("dense", "sparse"):
        hits = s.search("metformin", 5, method=method,
                        filters=Filters(evidence_types=("rct",), year_max=2021))
        assert _ids(hits)[:1] == ["d3"]
    assert s.search("asthma", 5, filters=Filters(sources=("no-such-file",))) == []
    assert s.search("asthma", 5, filters=Filters(sources=("*corpus.jsonl",)))


def test_filters_reach_past_the_candidate_depth(beir_version) -> None:  # noqa: ANN001
    s = Searcher(beir_version, config=replace(Searcher(beir_version).config, depth=1))
    hits = s.search("asthma", 2, filters=Filters(year_max=2010))
    assert _ids(hits) == ["d6"]  # the only record that old, however weak its match


def test_entity_boost_uses_the_tagger_and_mentions(beir_version, monkeypatch) -> None:  # noqa: ANN001
    s = Searcher(beir_version, tagger=lambda text: {"DOID:2841"} if "wheez" in text else set())
    plain = s.search("wheezing night cough breath", 8)
    d2 = next(h.passage.ordinal for h in plain if h.external_id == "d2")
    other = next(h.passage.ordinal for h in plain if h.external_id != "d2")
    monkeypatch.setattr(beir_version, "mentions",
                        lambda ords: {o: ([("DOID:2841", 0, 1, False, False)]
                                          if o == other else []) for o in ords})
    s.config = replace(s.config, entity_boost=5.0)
    boosted = s.search("wheezing night cough breath", 8)
    assert boosted[0].passage.ordinal == other and d2 != other


def test_no_entity_boost_without_graph_or_mentions(beir_version) -> None:  # noqa: ANN001
    assert Searcher(beir_version).query_entities("asthma and metformin") == set()


def test_surface_tagger() -> None:
    from retrieval.entities import SurfaceTagger

    tag = SurfaceTagger([("Type 2 diabetes", "DOID:9352"), ("metformin", "DB00331"),
                         ("asthma", "DOID:2841")])
    assert tag("Is METFORMIN safe in type 2 diabetes?") == {"DB00331", "DOID:9352"}
    assert tag("type diabetes") == set()


def test_kb_without_bm25_builds_one_in_memory(beir_version, monkeypatch) -> None:  # noqa: ANN001
    import retrieval.bm25 as rs

    monkeypatch.setattr(rs, "SPARSE_DIR", "missing-bm25")
    hits = Searcher(beir_version).search("oseltamivir", 1, method="sparse")
    assert hits[0].external_id == "d6"


def test_copies_do_not_send_a_search_down_the_whole_kb(tmp_path) -> None:  # noqa: ANN001
    """Many identical copies of a few texts: near-duplicates are dropped from a growing pool,
    and the candidate lists deepen a bounded number of rounds (not until they hold the KB)."""
    from ingest.pipeline import BuildOptions, build
    from kb.store import KnowledgeBase
    from retrieval.fusion import FusionConfig
    from retrieval.search import MAX_DEEPEN

    texts = ["Metformin lowers glucose in type 2 diabetes.", "Asthma attacks respond to "
             "inhaled salbutamol.", "Influenza is treated with oseltamivir early."]
    src = tmp_path / "copies.jsonl"
    src.write_text("".join(f'{{"id": "c{i}", "title": "copy", "text": "{texts[i % 3]}"}}\n'
                           for i in range(300)), "utf-8")
    build([src], tmp_path / "kb", BuildOptions(embedder="hash-64", enrich=False,
                                               graph_seeds=None))
    version = KnowledgeBase(tmp_path / "kb").current()
    s = Searcher(version, config=replace(FusionConfig(), depth=4))
    calls: list[int] = []
    real = s.candidates

    def counted(query, depth, **kw):  # noqa: ANN001, ANN003, ANN202
        calls.append(depth)
        return real(query, depth, **kw)

    s.candidates = counted  # type: ignore[method-assign]
    hits = s.search("metformin glucose diabetes", 5)
    assert 1 <= len(hits) <= 3  # one per distinct text at most
    assert len(calls) <= MAX_DEEPEN + 1 and max(calls) < len(version.vectors())
    version.close()
