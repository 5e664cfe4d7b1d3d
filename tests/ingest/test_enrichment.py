"""Enrichment maps each summary sentence to the passage that holds it."""

from __future__ import annotations

import random

from ingest.enrichment import _passage_at
from kb.records import Passage


def _first_holder(passages: list[Passage], offset: int) -> int | None:
    return next((p.ordinal for p in passages if p.start <= offset < p.end), None)


def _passages(spans: list[tuple[int, int]]) -> list[Passage]:
    return [Passage(passage_id=str(i), doc_id="d", text="", start=s, end=e, ordinal=100 + i)
            for i, (s, e) in enumerate(spans)]


def test_sentence_to_passage_is_the_first_passage_holding_it() -> None:
    rng = random.Random(7)
    for _ in range(200):
        # a chunker's passages: left to right, overlapping, with gaps (blank segments)
        spans, pos = [], rng.randrange(0, 5)
        for _ in range(rng.randrange(0, 12)):
            length = rng.randrange(1, 40)
            spans.append((pos, pos + length))
            pos += max(1, length - rng.randrange(0, length + 8))
        passages = _passages(spans)
        row_of = _passage_at(passages)
        for offset in range(-2, pos + 45):
            assert row_of(offset) == _first_holder(passages, offset), (spans, offset)


def test_passages_out_of_order_are_scanned() -> None:
    """Not left to right (a passage nested in a longer one): still the first holder."""
    passages = _passages([(0, 100), (10, 20), (90, 150), (5, 8)])
    row_of = _passage_at(passages)
    for offset in range(-1, 160):
        assert row_of(offset) == _first_holder(passages, offset)
