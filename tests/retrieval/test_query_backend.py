"""The query side may embed with a faster backend only when its vectors agree with the KB's."""

from __future__ import annotations

import pytest

import kb.embed_select as embed_select
import kb.onnx_embedder as onnx_embedder
from retrieval.search import QUERY_BACKEND_ENV, query_backend

AGREES = {"cos_min": 0.99998, "cos_mean": 0.99999, "top10": 0.998, "agrees": True}
DISAGREES = {"cos_min": 0.986, "cos_mean": 0.995, "top10": 0.903, "agrees": False}
BF16_KB = {"model": "all-MiniLM-L6-v2", "dim": 384, "backend": "torch-bf16", "precision": "bf16",
           "agreement": AGREES}


@pytest.fixture
def calibration(monkeypatch):
    measured: dict = {"backends": {"onnx-fp32": {**AGREES, "texts_per_s": 40.0}}}
    monkeypatch.setattr(embed_select, "cached_calibration", lambda model: measured)
    monkeypatch.setattr(onnx_embedder, "onnxruntime_available", lambda: True)
    monkeypatch.delenv(QUERY_BACKEND_ENV, raising=False)
    return measured


def test_agreeing_kb_is_queried_with_onnx_fp32(calibration):
    assert query_backend(BF16_KB) == "onnx-fp32"
    assert query_backend({**BF16_KB, "backend": "torch-fp32", "agreement": None}) == "onnx-fp32"


def test_kb_backend_kept_when_it_does_not_agree(calibration):
    assert query_backend({**BF16_KB, "backend": "onnx-int8", "agreement": DISAGREES}) is None
    assert query_backend({**BF16_KB, "agreement": DISAGREES}) is None


def test_unmeasured_or_disagreeing_onnx_is_not_used(calibration):
    calibration["backends"]["onnx-fp32"] = {**DISAGREES}
    assert query_backend(BF16_KB) is None
    calibration["backends"].clear()  # never calibrated on this machine
    assert query_backend(BF16_KB) is None


def test_already_onnx_hash_or_opted_out(calibration, monkeypatch):
    assert query_backend({**BF16_KB, "backend": "onnx-fp32"}) is None
    assert query_backend({"model": "hash-256", "dim": 256}) is None
    monkeypatch.setenv(QUERY_BACKEND_ENV, "kb")
    assert query_backend(BF16_KB) is None


def test_no_onnxruntime_keeps_the_kb_backend(calibration, monkeypatch):
    monkeypatch.setattr(onnx_embedder, "onnxruntime_available", lambda: False)
    assert query_backend(BF16_KB) is None
