"""Text embedders. sentence-transformers lives here and nowhere else.

Both ingest (passages) and retrieval (queries) embed, so the embedder sits in the base
package; torch is imported only when a real model is first used.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from kb.config import DEFAULT_EMBEDDER

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Batch-first: texts in, L2-normalised float32 rows out."""

    model_id: str
    dim: int
    precision: str

    def embed(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> np.ndarray: ...


def bf16_supported() -> bool:
    """True when this CPU runs bfloat16 matmuls natively (AMX or AVX512-BF16)."""
    import torch

    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


class SentenceTransformerEmbedder:
    """A sentence-transformers model, bf16 autocast where the CPU supports it (DESIGN §9).

    The constructor only stores settings; the model loads on first use.
    """

    def __init__(
        self,
        model: str = DEFAULT_EMBEDDER,
        *,
        batch_size: int = 64,
        precision: str = "auto",
        device: str = "cpu",
    ) -> None:
        self.model_name = model
        self.batch_size = batch_size
        self._precision_setting = precision
        self.device = device
        self._model: Any = None
        self._precision: str | None = None

    def _load(self) -> Any:
        if self._model is None:
            from kb.models import embedder_path

            path = embedder_path(self.model_name)
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(path, device=self.device)
        return self._model

    @property
    def model_id(self) -> str:
        return self.model_name

    @property
    def dim(self) -> int:
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def precision(self) -> str:
        if self._precision is None:
            setting = self._precision_setting
            if setting == "auto":
                setting = "bf16" if self.device == "cpu" and bf16_supported() else "fp32"
            self._precision = setting
        return self._precision

    @property
    def max_tokens(self) -> int:
        return int(self._load().max_seq_length)

    def tokenizer(self) -> Any:
        return self._load().tokenizer

    def embed(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        import torch

        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Sort by length so each batch pads little; restore the order at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        step = self.batch_size * 4
        with torch.inference_mode():
            for lo in range(0, len(order), step):
                idx = order[lo : lo + step]
                batch = [texts[i] for i in idx]
                if self.precision == "bf16":
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        vecs = model.encode(batch, batch_size=self.batch_size, convert_to_numpy=False,
                                            convert_to_tensor=True, normalize_embeddings=True)
                else:
                    vecs = model.encode(batch, batch_size=self.batch_size, convert_to_tensor=True,
                                        normalize_embeddings=True)
                arr = vecs.float().cpu().numpy()
                out[idx] = arr / np.maximum(np.linalg.norm(arr, axis=1, keepdims=True), 1e-12)
                if progress:
                    progress(len(idx))
        return out


class HashEmbedder:
    """Deterministic fake for fast tests: bag of hashed word unigrams and bigrams.

    Texts that share words get similar vectors, so retrieval tests behave sensibly.
    """

    precision = "fp32"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.model_id = f"hash-{dim}"
        self.max_tokens = 256

    def tokenizer(self) -> None:
        return None

    def embed(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = [w for w in "".join(c.lower() if c.isalnum() else " " for c in text).split()]
            grams = words + [a + " " + b for a, b in zip(words, words[1:], strict=False)]
            for g in grams:
                h = int.from_bytes(hashlib.sha256(g.encode()).digest()[:8], "little")
                out[row, h % self.dim] += 1.0 if (h >> 63) else -1.0
            norm = np.linalg.norm(out[row])
            if norm > 0:
                out[row] /= norm
        if progress:
            progress(len(texts))
        return out


def make_embedder(model: str) -> Embedder:
    """An embedder from a model id: `hash-<dim>` gives the test fake, anything else a real model."""
    if model.startswith("hash-"):
        return HashEmbedder(int(model.split("-", 1)[1]))
    return SentenceTransformerEmbedder(model)
