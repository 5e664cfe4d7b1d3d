"""Remember the vectors of texts already embedded, for a long-lived KB object (the server).

Verification embeds every sentence of the retrieved passages on every `check`/`ask` (about 50
sentences for 5 passages: most of a warm check's time). Passages recur across questions, so a
bounded LRU of sentence vectors, per KB version, turns that into a lookup. Texts are the keys:
the same text always has the same vector under one model.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

DEFAULT_ITEMS = 50_000  # x 384 float32 = 73 MiB at most for MiniLM


class CachingEmbedder:
    """Wraps an embedder (kb.embedder.Embedder); everything but `embed` is the inner one's."""

    def __init__(self, inner: Any, max_items: int = DEFAULT_ITEMS) -> None:
        self.inner = inner
        self.max_items = max_items
        self.hits = 0
        self.misses = 0
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:  # model_id, dim, precision, tokens, ...
        return getattr(self.inner, name)

    def embed(self, texts: Sequence[str], *,
              progress: Callable[[int], None] | None = None) -> np.ndarray:
        texts = list(texts)
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for t in texts:
                v = self._vectors.get(t)
                if v is not None:
                    self._vectors.move_to_end(t)
                    found[t] = v
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            fresh = self.inner.embed(missing, progress=progress)
            with self._lock:
                for t, v in zip(missing, fresh, strict=True):
                    v = np.array(v, dtype=np.float32)  # an own copy, not a view of the batch
                    v.setflags(write=False)
                    found[t] = self._vectors[t] = v
                while len(self._vectors) > self.max_items:
                    self._vectors.popitem(last=False)
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if not texts:
            return np.zeros((0, self.inner.dim), dtype=np.float32)
        return np.stack([found[t] for t in texts])
