"""The streaming build's spills: records in the version's SQLite, vectors in a file."""

from __future__ import annotations

import numpy as np

from ingest.pipeline import BuildOptions, build
from ingest.spill import BuildRecords
from kb.records import Document, Passage, Span
from kb.store import KnowledgeBase, VersionWriter
from kb.vector_spill import VectorSpill


def _doc(i: int) -> Document:
    text = f"Record {i} about asthma. It has two sentences."
    return Document(doc_id=Document.make_id(text, f"t{i}", None), source=f"f.jsonl#{i}",
                    format="jsonl", title=f"t{i}", text=text, sections=(Span("body", 0, 10),),
                    year=2000 + i, metadata={"k": [i, "x"]})


def test_records_round_trip_in_batches(tmp_path) -> None:
    kb = KnowledgeBase(tmp_path / "kb")
    kb.versions_dir.mkdir(parents=True)
    writer = VersionWriter(kb)
    try:
        records = BuildRecords(writer, batch=3, page=4)
        docs = [(_doc(i), f"o{i % 2}") for i in range(10)]
        passages = [Passage(passage_id=f"p{i}", doc_id=docs[i // 2][0].doc_id, text=f"x{i}",
                            start=0, end=2, ordinal=i) for i in range(20)]
        for lo in range(0, 10, 2):
            records.add_documents(docs[lo : lo + 2])
            records.add_passages(passages[2 * lo : 2 * lo + 4])
        assert records.documents == 10 and records.passages == 20
        back = list(records.iter_documents())
        assert [(d.doc_id, o) for d, o in back] == [(d.doc_id, o) for d, o in docs]
        assert back[3][0] == docs[3][0] and back[3][0].metadata == {"k": [3, "x"]}
        assert [p.passage_id for p in records.iter_passages()] == [p.passage_id for p in passages]
        assert [p.ordinal for p in records.passages_of([docs[1][0].doc_id])] == [2, 3]
        records.set_metadata([(docs[2][0].doc_id, {"new": 1})])
        again = list(records.iter_documents())
        assert again[2][0].metadata == {"new": 1} and [d.doc_id for d, _ in again] == \
            [d.doc_id for d, _ in docs]  # order kept after an update
        assert list(records.document_sources())[4] == (docs[4][0].doc_id, docs[4][0].source)
    finally:
        writer.abort()


def test_vector_spill(tmp_path) -> None:
    x = np.random.default_rng(0).standard_normal((1000, 8)).astype(np.float32)
    spill = VectorSpill(tmp_path / "v.spill", 8)
    spill.write(0, x[:600])
    spill.write(600, x[600:])
    np.testing.assert_array_equal(spill.view(), x)
    np.testing.assert_array_equal(np.concatenate(list(spill.chunks(rows=256))), x)
    assert [len(c) for c in spill.chunks(700, rows=256)] == [256, 256, 188]
    assert spill.sample(1000, 10).shape == (10, 8)
    spill.close()
    assert not (tmp_path / "v.spill").exists()


def test_published_version_has_no_spill(tmp_path) -> None:
    src = tmp_path / "c.jsonl"
    src.write_text("".join(
        f'{{"id": "r{i}", "title": "T{i}", "text": "Asthma record {i} with wheeze and '
        f'cough. Fever was absent in case {i}."}}\n' for i in range(30)), "utf-8")
    report = build([src], tmp_path / "kb", BuildOptions(embedder="hash-64", enrich=False,
                                                        graph_seeds=None))
    version = KnowledgeBase(tmp_path / "kb").current()
    assert report["passages"] == version.counts["passages"] == len(version.vectors())
    assert "vectors.spill" not in version.manifest["files"]
    assert not list(version.path.glob("*.spill"))


def test_tiny_batches_give_the_same_kb(tmp_path, monkeypatch) -> None:
    """Every batch boundary of the streaming build crossed many times (rows, pages, vector
    chunks, extraction windows): the same KB as with the default sizes, graph and
    enrichment included."""
    import shutil

    from medkb_testutil import GRAPH_DIR, ROOT

    import ingest.pipeline as pipeline
    import ingest.spill as spill
    import kb.vector_spill as vector_spill
    from kb.compare import compare_versions

    src = tmp_path / "src"
    src.mkdir()
    lines = (ROOT / "corpora" / "literature" / "medquad_subset.jsonl").read_text().splitlines()
    (src / "a.jsonl").write_text("\n".join(lines[:30]) + "\n")
    shutil.copy(ROOT / "corpora" / "formats" / "pubmed" / "pubmed-29768149.xml", src)
    opts = BuildOptions(embedder="hash-64", graph_seeds=GRAPH_DIR)
    build([src], tmp_path / "big", opts)
    monkeypatch.setattr(spill, "BATCH", 3)
    monkeypatch.setattr(spill, "PAGE", 5)
    monkeypatch.setattr(vector_spill, "CHUNK_ROWS", 7)
    monkeypatch.setattr(pipeline, "EXTRACT_WINDOW", 11)
    report = build([src], tmp_path / "small", opts)
    assert report["passages"] > 20 and report["edges"] > 0
    result = compare_versions(KnowledgeBase(tmp_path / "big").current(),
                              KnowledgeBase(tmp_path / "small").current())
    assert result["same"], result["differences"]
