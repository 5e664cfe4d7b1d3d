"""A KB records its embedding backend; vectors of two backends share a KB only when both agree
with fp32 (kb.embedder.may_mix): otherwise an update is refused and a build re-embeds."""

from __future__ import annotations

import pytest
from medkb_testutil import TINY_RECORDS, write_jsonl

from ingest.pipeline import BuildOptions, build
from kb.embedder import HashEmbedder
from kb.errors import KBError
from kb.store import KnowledgeBase

OPTS = BuildOptions(embedder="fake-64", graph_seeds=None, enrich=False)


class FakeBackend(HashEmbedder):
    """Hash vectors posing as a real model on a named backend (no calibration cached for it)."""

    def __init__(self, backend: str, precision: str) -> None:
        super().__init__(64)
        self.model_id = "fake-64"
        self.backend = backend
        self.precision = precision


def _corpus(tmp_path, n: int):
    path = tmp_path / "c.jsonl"
    write_jsonl(path, TINY_RECORDS[:n])
    return path


def test_manifest_records_backend_and_cpu(tmp_path):
    build([_corpus(tmp_path, 3)], tmp_path / "kb", OPTS, embedder=FakeBackend("onnx", "fp32"))
    emb = KnowledgeBase(tmp_path / "kb").current().embedder
    assert emb["backend"] == "onnx-fp32" and emb["precision"] == "fp32" and emb["dim"] == 64
    assert emb["cpu"]["model"] and isinstance(emb["cpu"]["features"], list)
    assert emb["chosen_by"] == "caller" and "agreement" not in emb  # nothing measured here


def test_unmeasured_backend_does_not_mix(tmp_path):
    kb = tmp_path / "kb"
    build([_corpus(tmp_path, 3)], kb, OPTS, embedder=FakeBackend("onnx", "int8"))
    corpus = _corpus(tmp_path, 4)
    # same backend: vectors of unchanged passages are reused
    same = build([corpus], kb, OPTS, embedder=FakeBackend("onnx", "int8"), update=True)
    assert same["reused_vectors"] > 0
    # torch fp32 (the reference) with int8 vectors whose agreement was never measured: refused
    with pytest.raises(KBError, match="does not agree"):
        build([corpus], kb, OPTS, embedder=FakeBackend("torch", "fp32"), update=True)
    # a full build instead re-embeds everything rather than mixing
    full = build([corpus], kb, OPTS, embedder=FakeBackend("torch", "fp32"))
    assert full["reused_vectors"] == 0 and full["embedded"] == full["passages"]
    assert KnowledgeBase(kb).current().embedder["backend"] == "torch-fp32"
    assert "mixed_with" not in KnowledgeBase(kb).current().embedder


def test_int8_kb_is_updated_only_by_the_same_kind_of_int8_kernels(tmp_path, monkeypatch):
    """Int8 vectors from a CPU with VNNI (exact sums) and one without (16-bit saturating
    sums) differ: an update on the other kind of CPU is refused, a rebuild re-embeds."""
    from kb import embed_select

    vnni = {"model": "cpu-a", "cores": 2, "features": ["avx2", "avx512f", "avx512_vnni"]}
    avx2 = {"model": "cpu-b", "cores": 2, "features": ["avx2", "fma"]}
    kb = tmp_path / "kb"
    monkeypatch.setattr(embed_select, "cpu_info", lambda: vnni)
    build([_corpus(tmp_path, 3)], kb, OPTS, embedder=FakeBackend("onnx", "int8"))
    assert KnowledgeBase(kb).current().embedder["int8_kernels"] == "exact"
    corpus = _corpus(tmp_path, 4)
    monkeypatch.setattr(embed_select, "cpu_info", lambda: {**vnni, "model": "cpu-c"})
    same = build([corpus], kb, OPTS, embedder=FakeBackend("onnx", "int8"), update=True)
    assert same["reused_vectors"] > 0  # another CPU with VNNI: the same int8 vectors
    monkeypatch.setattr(embed_select, "cpu_info", lambda: avx2)
    with pytest.raises(KBError, match="exact int8 kernels, this CPU's are saturating"):
        build([corpus], kb, OPTS, embedder=FakeBackend("onnx", "int8"), update=True)
    full = build([corpus], kb, OPTS, embedder=FakeBackend("onnx", "int8"))
    assert full["reused_vectors"] == 0 and full["embedded"] == full["passages"]
    assert KnowledgeBase(kb).current().embedder["int8_kernels"] == "saturating"


def test_a_rebuild_tells_auto_which_vectors_the_kb_holds(tmp_path, monkeypatch):
    """`auto` is told the KB's embedder block, so it can stay on a backend those vectors
    may share (kb.embed_select.choose(keep=...))."""
    import kb.embedder

    kept: list = []

    def make(model, backend="torch", keep=None):
        kept.append(keep)
        return FakeBackend("onnx", "fp32")

    monkeypatch.setattr(kb.embedder, "make_embedder", make)
    store = tmp_path / "kb"
    build([_corpus(tmp_path, 3)], store, OPTS)
    build([_corpus(tmp_path, 4)], store, OPTS, update=True)
    assert kept[0] is None
    assert kept[1]["backend"] == "onnx-fp32" and kept[1]["model"] == "fake-64"


def test_the_retrieval_gate_stays_with_a_kb_kept_on_its_backend(tmp_path):
    """An int8 KB chosen by the retrieval gate, updated on a machine that never measured the
    gate (its auto choice was an agreeing backend): the gate's figures stay in the manifest,
    marked with the version that measured them."""
    gated = FakeBackend("onnx", "int8")
    measured = {"cos_min": 0.988, "cos_mean": 0.994, "top10": 0.9, "agrees": False,
                "texts_per_s": 108.0, "retrieval": {"ndcg10": 0.934, "r1": 0.853,
                                                    "as_well_as_fp32": True}}
    gated.selection = {"requested": "auto", "calibration": {
        "probe": "p", "backends": {"onnx-int8": measured},
        "retrieval": {"probe": "r", "queries": 333, "fp32": {"ndcg10": 0.931, "r1": 0.85}}}}
    kb = tmp_path / "kb"
    first = build([_corpus(tmp_path, 3)], kb, OPTS, embedder=gated)
    emb = KnowledgeBase(kb).current().embedder
    assert emb["retrieval"]["ndcg10"] == 0.934 and emb["retrieval"]["fp32"]["r1"] == 0.85
    assert not emb["agreement"]["agrees"] and emb["chosen_by"] == "calibration"
    build([_corpus(tmp_path, 4)], kb, OPTS, embedder=FakeBackend("onnx", "int8"), update=True)
    kept = KnowledgeBase(kb).current().embedder["retrieval"]
    assert kept["from_version"] == first["kb_version"] and kept["ndcg10"] == 0.934


def test_a_ray_node_with_other_int8_kernels_is_refused(monkeypatch):
    """On a Ray cluster every node embeds with the driver's backend; int8 vectors from a node
    whose int8 kernels differ from the driver's would mix in one KB: that node refuses,
    saying why, before it loads anything. Like nodes, and other backends, go ahead."""
    from ingest.ray_engine import EmbedActor
    from kb import embed_select

    monkeypatch.setattr(embed_select, "cpu_info",
                        lambda: {"model": "node-cpu", "features": ["avx2", "fma"]})
    with pytest.raises(KBError, match="runs saturating int8 kernels, the driver exact"):
        EmbedActor("all-MiniLM-L6-v2", None, "onnx-int8", "exact")
    assert EmbedActor("hash-64", None, "onnx-int8", "saturating").embedder.dim == 64
    assert EmbedActor("hash-64", None, "torch-fp32", "exact").embedder.dim == 64
