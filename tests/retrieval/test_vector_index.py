"""kb.vectors: flat below the size threshold, HNSW above, fp16 option, recall vs exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kb import vectors
from kb.vectors import FaissIndex, choose_kind


def _unit(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_choose_kind() -> None:
    assert choose_kind(10) == "flat"
    assert choose_kind(vectors.HNSW_THRESHOLD) == "hnsw"
    assert choose_kind(10, "hnsw") == "hnsw"
    assert choose_kind(10, "ivf") == "flat"  # too few vectors to train lists on
    assert choose_kind(100_000, "ivf") == "ivf"
    assert choose_kind(vectors.IVF_THRESHOLD) == "ivf"
    with pytest.raises(ValueError):
        choose_kind(10, "pq")


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_ivf_chunked_recall_and_reconstruct(precision: str, tmp_path) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    idx = FaissIndex.build_chunked(lambda: (x[i : i + 1000] for i in range(0, len(x), 1000)),
                                   len(x), 32, "ivf", precision=precision,
                                   sample=lambda k: x[:k])
    assert idx.kind == "ivf" and len(idx) == len(x)
    np.testing.assert_allclose(idx.reconstruct([5, 4999]), x[[5, 4999]], atol=1e-3)
    assert idx.recall_vs_exact(x, x[:50]) >= 0.95
    idx.save(tmp_path / "v.faiss")
    back = FaissIndex.load(tmp_path / "v.faiss")
    assert back.kind == "ivf"
    np.testing.assert_allclose(back.reconstruct([7]), x[[7]], atol=1e-3)
    assert back.recall_vs_exact(x, x[:50]) >= 0.95


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_hnsw_roundtrip_and_recall(tmp_path: Path, precision: str) -> None:
    x = _unit(2000)
    idx = FaissIndex.build(x, "hnsw", precision=precision, ef_search=64)
    assert idx.kind == "hnsw" and len(idx) == 2000 and idx.ef_search == 64
    assert idx.recall_vs_exact(x, x[:50], k=10) >= 0.95
    idx.save(tmp_path / "v.faiss")
    loaded = FaissIndex.load(tmp_path / "v.faiss")
    assert loaded.kind == "hnsw" and loaded.ef_search == 64
    _, rows = loaded.search(x[:3], 1)
    assert rows[:, 0].tolist() == [0, 1, 2]
    assert np.allclose(loaded.reconstruct([5, 7]), x[[5, 7]], atol=1e-2)


def test_flat_is_exact_and_default_for_small() -> None:
    x = _unit(300)
    idx = FaissIndex.build(x)
    assert idx.kind == "flat" and idx.ef_search is None
    assert idx.recall_vs_exact(x, x[:20]) == 1.0
    idx.set_ef_search(10)  # no-op on a flat index
    assert FaissIndex.build(x, "flat", precision="fp16").recall_vs_exact(x, x[:20]) >= 0.99
    with pytest.raises(ValueError):
        FaissIndex.build(x, precision="int3")


def test_empty_index_searches_to_nothing() -> None:
    idx = FaissIndex.build(np.zeros((0, 8), np.float32), "hnsw")
    scores, rows = idx.search(np.zeros((1, 8), np.float32), 5)
    assert rows.shape == (1, 0)
