"""Sparse (BM25) retrieval over a version's bm25 index."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from kb.records import ScoredPassage
from kb.store import Version

log = logging.getLogger(__name__)

SPARSE_DIR = "bm25"


def load_sparse(version: Version) -> Any:
    """The version's BM25 index; a KB built before it existed gets one built in memory."""
    from kb.sparse import SparseIndex

    path = version.file(SPARSE_DIR)
    if path.is_dir():
        return SparseIndex.load(path)
    log.warning("KB version %s has no BM25 index; building one in memory "
                "(rebuild the KB with `medkb build` to keep it)", version.id)
    return SparseIndex.build([p.text for p in version.iter_passages()])


class SparseRetriever:
    """BM25 over the passages of a version; the index loads on first use."""

    method = "sparse"

    def __init__(self, version: Version, index: Any = None) -> None:
        self.version = version
        self._index = index
        self._last: tuple[str, np.ndarray] | None = None

    @property
    def index(self) -> Any:
        if self._index is None:
            self._index = load_sparse(self.version)
        return self._index

    def ranked(self, query: str, n: int) -> list[tuple[int, float]]:
        scores, ordinals = self.index.top(self._row(query), n)
        return list(zip(ordinals, scores, strict=True))

    def scores_of(self, query: str, ordinals: Sequence[int]) -> np.ndarray:
        """BM25 scores of given passages."""
        row = self._row(query)
        idx = np.asarray(list(ordinals), dtype=np.int64)
        return row[idx] if len(row) else np.zeros(len(idx), dtype=np.float32)

    def _row(self, query: str) -> np.ndarray:
        """Every passage's score; the last query's row is kept (fusion reads it again)."""
        if self._last is None or self._last[0] != query:
            self._last = (query, self.index.scores(query))
        return self._last[1]

    def search(self, query: str, k: int = 10) -> list[ScoredPassage]:
        from retrieval.hits import hydrate

        return hydrate(self.version, self.ranked(query, k), self.method)
