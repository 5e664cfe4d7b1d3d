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
