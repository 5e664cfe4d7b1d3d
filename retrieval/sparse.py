"""Sparse (BM25) retrieval over a version's bm25 index."""

from __future__ import annotations

import logging
from typing import Any

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

    @property
    def index(self) -> Any:
        if self._index is None:
            self._index = load_sparse(self.version)
        return self._index

    def ranked(self, query: str, n: int) -> list[tuple[int, float]]:
        scores, ordinals = self.index.search(query, n)
        return list(zip(ordinals, scores, strict=True))

    def search(self, query: str, k: int = 10) -> list[ScoredPassage]:
        from retrieval.hits import hydrate

        return hydrate(self.version, self.ranked(query, k), self.method)
