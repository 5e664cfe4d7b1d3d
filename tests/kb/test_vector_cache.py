"""Fixed text lists are embedded once per embedder, then read back from the disk cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kb.embedder import HashEmbedder
from kb.vector_cache import cached_embed


class Counting(HashEmbedder):
    def __init__(self, dim: int = 64) -> None:
        super().__init__(dim)
        self.calls = 0

    def embed(self, texts, **kw):  # type: ignore[override]
        self.calls += 1
        return super().embed(texts, **kw)


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEDKB_CACHE", str(tmp_path))
    return tmp_path


def test_second_call_reads_the_cache(cache: Path) -> None:
    emb = Counting()
    names = ["fever", "stiff neck", "photophobia"]
    first = cached_embed(emb, names)
    second = cached_embed(emb, names)
    assert emb.calls == 1
    np.testing.assert_array_equal(first, second)
    assert len(list((cache / "vectors").glob("*.npy"))) == 1


def test_other_texts_or_embedder_are_embedded_again() -> None:
    emb = Counting()
    cached_embed(emb, ["fever"])
    cached_embed(emb, ["fever", "cough"])
    other = Counting(dim=32)
    assert cached_embed(other, ["fever"]).shape == (1, 32)
    assert emb.calls == 2 and other.calls == 1


def test_a_damaged_cache_file_is_recomputed(cache: Path) -> None:
    emb = Counting()
    cached_embed(emb, ["fever"])
    (path,) = (cache / "vectors").glob("*.npy")
    path.write_bytes(b"not an array")
    assert cached_embed(emb, ["fever"]).shape == (1, 64)
    assert emb.calls == 2
