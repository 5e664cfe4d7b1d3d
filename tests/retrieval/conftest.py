from __future__ import annotations

from pathlib import Path

import pytest

BEIR_TINY = Path(__file__).resolve().parent / "data" / "beir_tiny"


@pytest.fixture(scope="module")
def beir_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hash-embedder KB of the tiny BEIR corpus (built once per test module)."""
    from ingest.pipeline import BuildOptions, build

    kb = tmp_path_factory.mktemp("beir") / "kb"
    build([BEIR_TINY / "corpus.jsonl"], kb, BuildOptions(embedder="hash-256", graph_seeds=None))
    return kb


@pytest.fixture
def beir_version(beir_kb: Path):  # noqa: ANN201
    from kb.store import KnowledgeBase

    version = KnowledgeBase(beir_kb).current()
    yield version
    version.close()
