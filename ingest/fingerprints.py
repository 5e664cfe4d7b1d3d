"""Fingerprints of what produced a version's parts, and the tool versions in its manifest.

A part of the previous version is reused only when its fingerprint matches (ingest.reuse has
the extraction fingerprint, next to the reuse it guards).
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import Any

# The code enrichment depends on: a change to any of these re-enriches every document.
ENRICH_CODE = ("ingest.summarise", "ingest.classify", "ingest.enrichment", "kb.sentences")

TOOL_PACKAGES = ("medkb", "sentence-transformers", "transformers", "torch", "onnxruntime",
                 "onnx", "faiss-cpu", "networkx", "langchain-text-splitters", "pymupdf",
                 "bm25s", "PyStemmer", "pyahocorasick", "lxml")


def enrichment_fingerprint(embedder: Any) -> str:
    h = hashlib.sha256(embedder.model_id.encode())
    for name in ENRICH_CODE:
        source = getattr(importlib.import_module(name), "__file__", None)
        if source:
            h.update(Path(source).read_bytes())
    return h.hexdigest()


def tool_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in TOOL_PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out
