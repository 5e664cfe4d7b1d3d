"""Vectors of fixed text lists (finding names, prototype sentences) cached on disk.

Some readers embed the same few thousand strings every time a process opens a KB (the
finding names the differential maps lay phrases to); on a busy laptop that was most of a cold
start. The vectors depend only on the embedder (model, backend, precision) and the texts, so
they are stored once under $MEDKB_CACHE/vectors/<sha256>.npy and loaded with pickle off.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from kb.config import cache_dir

log = logging.getLogger(__name__)


def _key(embedder: Any, texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    ident = (getattr(embedder, "model_id", type(embedder).__name__),
             getattr(embedder, "backend", ""), str(getattr(embedder, "precision", "")))
    for part in (*ident, str(len(texts)), *texts):
        h.update(part.encode("utf-8") + b"\0")
    return h.hexdigest()


def cached_embed(embedder: Any, texts: Sequence[str]) -> np.ndarray:
    """`embedder.embed(texts)`, from the disk cache when the same embedder saw the same list."""
    texts = list(texts)
    path = cache_dir() / "vectors" / f"{_key(embedder, texts)}.npy"
    try:
        vecs = np.load(path, allow_pickle=False)
        if vecs.shape[0] == len(texts):
            return vecs
    except (OSError, ValueError):
        pass
    vecs = np.asarray(embedder.embed(texts), dtype=np.float32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, vecs, allow_pickle=False)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only cache only costs the next process the embedding
        log.debug("vector cache not written (%s)", exc)
    return vecs
