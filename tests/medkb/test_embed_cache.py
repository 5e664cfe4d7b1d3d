"""The server's embedding cache: same vectors as the embedder, each text embedded once."""

from __future__ import annotations

import numpy as np

from kb.embedder import make_embedder
from medkb.embed_cache import CachingEmbedder


class Counting:
    def __init__(self) -> None:
        self.inner = make_embedder("hash-256")
        self.dim = self.inner.dim
        self.model_id = "counting"
        self.seen: list[str] = []

    def embed(self, texts, *, progress=None):
        self.seen.extend(texts)
        return self.inner.embed(texts)


def test_same_vectors_each_text_embedded_once():
    inner = Counting()
    cached = CachingEmbedder(inner, max_items=3)
    texts = ["asthma", "metformin", "asthma", "gout"]
    first = cached.embed(texts)
    assert np.array_equal(first, inner.inner.embed(texts))
    assert inner.seen == ["asthma", "metformin", "gout"]  # duplicates within a batch once too
    again = cached.embed(["gout", "metformin"])
    assert np.array_equal(again, first[[3, 1]])
    assert inner.seen == ["asthma", "metformin", "gout"]
    assert cached.hits == 3 and cached.misses == 3
    cached.embed(["influenza"])  # over max_items: the least recently used ("asthma") goes
    cached.embed(["asthma"])
    assert inner.seen[-2:] == ["influenza", "asthma"]
    assert cached.model_id == "counting" and cached.dim == inner.dim
    assert cached.embed([]).shape == (0, inner.dim)
