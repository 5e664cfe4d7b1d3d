"""Shared by the retrieval tests (a plain module: a second conftest.py would shadow the
top-level one's `from conftest import ...`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

BEIR_TINY = Path(__file__).resolve().parent / "data" / "beir_tiny"


def open_beir_kb(root: Path) -> Any:
    """Build a hash-embedder KB of the tiny BEIR corpus under `root`; its live version."""
    from ingest.pipeline import BuildOptions, build
    from kb.store import KnowledgeBase

    kb = root / "kb"
    build([BEIR_TINY / "corpus.jsonl"], kb, BuildOptions(embedder="hash-256", graph_seeds=None))
    return KnowledgeBase(kb).current()
