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
