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
ENRICH_CODE = ("ingest.summarise", "ingest.classify", "ingest.evidence_metadata", "ingest.enrichment",
               "kb.sentences")

TOOL_PACKAGES = ("medkb", "sentence-transformers", "transformers", "torch", "onnxruntime",
                 "onnx", "faiss-cpu", "networkx", "langchain-text-splitters", "pymupdf",
                 "bm25s", "PyStemmer", "pyahocorasick", "lxml")


def enrichment_fingerprint(embedder: Any) -> str:
    h = hashlib.sha256(embedder.model_id.encode())
    update_with_code(h, ENRICH_CODE)
    return h.hexdigest()


def update_with_code(h: Any, modules: tuple[str, ...]) -> None:
    """Hash the source of each module (every .py file of a package) and, as the code reads
    them, the data files in corpora/lexicon."""
    from kb.lexicon import LEXICON_DIR

    for name in modules:
        mod = importlib.import_module(name)
        source = getattr(mod, "__file__", None)
        if not source:
            continue
        files = [Path(source)]
        if Path(source).name == "__init__.py":
            files = sorted(Path(source).parent.rglob("*.py"))
        for f in files:
            h.update(f"{name}:{f.name}".encode() + b"\0" + f.read_bytes() + b"\0")
    if LEXICON_DIR.is_dir():
        for f in sorted(LEXICON_DIR.iterdir()):
            if f.is_file():
                h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")


def tool_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in TOOL_PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out
