"""retrieval.fusion: pure functions over ordinals and scores."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval import fusion


def test_weighted_rrf() -> None:
    out = fusion.weighted_rrf({"dense": [1, 2], "sparse": [2, 3]},
                              {"dense": 2.0, "sparse": 1.0}, k=10)
    assert out[1] == pytest.approx(2 / 11)
    assert out[2] == pytest.approx(2 / 12 + 1 / 11)
    assert out[3] == pytest.approx(1 / 12)
    assert fusion.rank(out)[0][0] == 2


def test_zero_weight_ignores_a_list() -> None:
    assert fusion.weighted_rrf({"a": [1], "b": [2]}, {"a": 1.0, "b": 0.0}) == {1: 1 / 61}


def test_convex_minmax() -> None:
    out = fusion.convex({"dense": {1: 0.9, 2: 0.5}, "sparse": {2: 10.0, 3: 2.0}},
                        {"dense": 1.0, "sparse": 1.0})
    assert out == {1: 0.5, 2: 0.5, 3: 0.0}


def test_entity_boost_rewards_coverage() -> None:
    scores = {1: 1.0, 2: 0.95, 3: 0.9}
    ments = {2: ["DOID:9352", "DB00331"], 3: ["DB00331"]}
    out = fusion.entity_boost(scores, {"DOID:9352", "DB00331"}, ments, 0.1)
    assert out[2] == pytest.approx(1.05) and out[3] == pytest.approx(0.95) and out[1] == 1.0
    assert fusion.rank(out)[0][0] == 2
    assert fusion.entity_boost(scores, set(), ments, 0.1) == scores


def test_mmr_keeps_order_at_lambda_one_and_drops_duplicates() -> None:
    ranked = [(10, 3.0), (11, 2.0), (12, 1.0)]
    a = np.array([1.0, 0.0]); b = np.array([0.0, 1.0])  # noqa: E702
    vecs = np.stack([a, a, b]).astype(np.float32)
    assert fusion.mmr(ranked, vecs, 3, lam=1.0) == ranked
    assert [o for o, _ in fusion.mmr(ranked, vecs, 3, lam=1.0, duplicate_cosine=0.99)] == [10, 12]


def test_mmr_prefers_diversity_at_low_lambda() -> None:
    ranked = [(1, 1.0), (2, 0.95), (3, 0.9)]
    v = np.array([[1, 0], [0.99, 0.141], [0, 1]], dtype=np.float32)
    assert [o for o, _ in fusion.mmr(ranked, v, 2, lam=0.5)] == [1, 3]
