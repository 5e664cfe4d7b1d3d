"""The streaming BM25 builder gives bm25s's scores exactly, in bm25s's format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from medkb_testutil import TINY_RECORDS

from kb.sparse import SparseIndex
from kb.sparse_build import build_sparse

TEXTS = [r["text"] for r in TINY_RECORDS] + [
    "the and of",  # stop words only: an empty document
    "Metformin metformin METFORMIN renal renal impairment",  # repeated terms
    "Asthma " * 50 + "albuterol",  # a long document
    "",
]
QUERIES = ["metformin renal impairment", "asthma albuterol", "blood pressure salt",
           "influenza oseltamivir onset", "unknownword", "the"]


def test_same_scores_as_bm25s(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.sparse_build as sb

    monkeypatch.setattr(sb, "SLICE", 7)  # many slices: the scatter across slices is exercised
    ref = SparseIndex.build(TEXTS)
    ref.save(tmp_path / "ref")
    assert build_sparse(iter(TEXTS), tmp_path / "new") == len(TEXTS)
    a, b = SparseIndex.load(tmp_path / "ref"), SparseIndex.load(tmp_path / "new")
    assert a.describe() == b.describe()
    for q in QUERIES:
        assert np.array_equal(a.scores(q), b.scores(q)), q
        assert a.search(q, 5) == b.search(q, 5)
    assert not list((tmp_path / "new").glob("*.tmp"))


def test_stop_words_only(tmp_path: Path) -> None:
    build_sparse(["the and", "of"], tmp_path / "x")
    idx = SparseIndex.load(tmp_path / "x")
    assert len(idx) == 2 and idx.search("asthma", 5) == ([], [])


def test_postings_counted_in_batches_give_the_same_index(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Postings are counted a batch of texts at a time; the files do not depend on the batch."""
    import kb.sparse_build as sb

    texts = TEXTS * 3 + ["renal metformin " * 7, "the"]
    build_sparse(iter(texts), tmp_path / "one")  # one batch
    monkeypatch.setattr(sb, "BATCH", 4)  # batches that end inside repeats and empty texts
    build_sparse(iter(texts), tmp_path / "many")
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "many").iterdir())
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "many" / name).read_bytes(), name
