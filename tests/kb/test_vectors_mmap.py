"""A memory-mapped vector index answers exactly as the one read into memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kb.vectors import FaissIndex


@pytest.mark.parametrize("kind,precision", [("flat", "fp32"), ("flat", "fp16"),
                                            ("hnsw", "fp16"), ("hnsw", "fp32")])
def test_mmap_same_results(tmp_path: Path, kind: str, precision: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    FaissIndex.build(x, kind, precision=precision).save(tmp_path / "v.faiss")
    a = FaissIndex.load(tmp_path / "v.faiss", mmap=False)
    b = FaissIndex.load(tmp_path / "v.faiss")
    q = x[:20] + 0.01
    for one in (q[:1], q):
        sa, ia = a.search(one, 10)
        sb, ib = b.search(one, 10)
        assert np.array_equal(ia, ib) and np.allclose(sa, sb)
    assert np.array_equal(a.reconstruct_all(), b.reconstruct_all())
    assert len(b) == 3000 and b.kind == kind
