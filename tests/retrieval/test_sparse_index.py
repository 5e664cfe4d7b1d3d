"""kb.sparse: BM25 with pinned, saved parameters and no pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kb.sparse import PARAMS_NAME, SparseIndex, SparseParams

TEXTS = [
    "Metformin treats type 2 diabetes mellitus.",
    "Inhaled corticosteroids treat mild persistent asthma.",
    "Hepatitis B vaccination prevents infection.",
    "The treatments of asthma include bronchodilators.",
]


def test_search_ranks_by_bm25_and_stems() -> None:
    idx = SparseIndex.build(TEXTS)
    scores, ordinals = idx.search("asthma treatment", 10)
    assert set(ordinals) == {1, 3}  # "treatments"/"treat" stem like "treatment"
    assert scores == sorted(scores, reverse=True)
    assert idx.search("the of", 5) == ([], [])  # stop words only
    assert idx.search("unknownword", 5) == ([], [])


def test_single_letter_tokens_count() -> None:
    idx = SparseIndex.build(TEXTS)
    _, ordinals = idx.search("hepatitis b", 1)
    assert ordinals == [2]


def test_save_load_roundtrip_without_pickle(tmp_path: Path) -> None:
    params = SparseParams(k1=0.9, b=0.4)
    idx = SparseIndex.build(TEXTS, params)
    idx.save(tmp_path / "bm25")
    files = sorted(p.name for p in (tmp_path / "bm25").iterdir())
    assert all(f.endswith((".npy", ".json")) for f in files), files
    for f in (tmp_path / "bm25").glob("*.npy"):
        np.load(f, allow_pickle=False)  # plain arrays
    meta = json.loads((tmp_path / "bm25" / PARAMS_NAME).read_text())
    assert meta["k1"] == 0.9 and meta["b"] == 0.4 and meta["stemmer"] == "english"
    loaded = SparseIndex.load(tmp_path / "bm25")
    assert loaded.params == idx.params
    assert loaded.describe()["k1"] == 0.9 and loaded.describe()["passages"] == len(TEXTS)
    assert loaded.search("diabetes metformin", 3) == idx.search("diabetes metformin", 3)


def test_empty_corpus(tmp_path: Path) -> None:
    idx = SparseIndex.build([])
    idx.save(tmp_path / "e")
    assert SparseIndex.load(tmp_path / "e").search("anything", 3) == ([], [])


def test_unreadable_index_is_a_clear_error(tmp_path: Path) -> None:
    from kb.errors import KBError

    with pytest.raises(KBError, match="rebuild"):
        SparseIndex.load(tmp_path / "nothing")


def test_ties_break_by_ordinal() -> None:
    idx = SparseIndex.build(["same words here", "same words here", "other"])
    assert idx.search("same words", 2)[1] == [0, 1]
