from __future__ import annotations

from pathlib import Path

import pytest
from medkb_testutil import TINY_RECORDS, write_jsonl


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    d = tmp_path / "corpus"
    d.mkdir()
    write_jsonl(d / "records.jsonl", TINY_RECORDS)
    return d


@pytest.fixture
def tiny_kb(tmp_path: Path, tiny_corpus: Path) -> Path:
    from ingest.pipeline import BuildOptions, build

    kb = tmp_path / "kb"
    build([tiny_corpus], kb, BuildOptions(embedder="hash-256", graph_seeds=None))
    return kb

