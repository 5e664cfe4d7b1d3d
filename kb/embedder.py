"""Text embedders. sentence-transformers lives here and nowhere else (ONNX Runtime in
kb.onnx_embedder; which backend a build takes: kb.embed_select).

Both ingest (passages) and retrieval (queries) embed, so the embedder sits in the base
package; torch is imported only when a torch model is first used. A KB records its backend
(`torch-fp32`, `torch-bf16`, `onnx-fp32`, `onnx-int8`, `openvino-fp32`, `openvino-bf16`) and
is searched with the same one (or one whose vectors agree: may_mix).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from kb.config import DEFAULT_EMBEDDER
from kb.errors import KBError

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Batch-first: texts in, L2-normalised float32 rows out."""

    model_id: str
    dim: int
    precision: str  # with `backend` ("torch", "onnx", "hash"): backend_name()

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

    Small batches of length-sorted texts: on the build's passages (median ~100 tokens) MiniLM
    runs fastest at 8-32 texts a batch; at 64 (6,000+ tokens a batch) bf16 fell to about half
    its speed and fp32 lost a fifth (AMD EPYC Zen 5, 2 cores; benchmarks/embed_backends.py).
    The constructor only stores settings; the model loads on first use.
    """

    backend = "torch"

    def __init__(
        self,
        model: str = DEFAULT_EMBEDDER,
        *,
        batch_size: int = 16,
        precision: str = "auto",
        device: str = "cpu",
    ) -> None:
        self.model_name = model
        self.batch_size = batch_size
        self._precision_setting = precision
        self.device = device
        self._model: Any = None
        self._precision: str | None = None
        # One encode at a time: the tokenizer's padding state is shared, and the build embeds
        # passages in one thread while enrichment embeds prototypes in another.
        self._lock = threading.Lock()

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
                with self._lock:
                    vecs = self._encode(model, batch)
                arr = vecs.float().cpu().numpy()
                out[idx] = arr / np.maximum(np.linalg.norm(arr, axis=1, keepdims=True), 1e-12)
                if progress:
                    progress(len(idx))
        return out

    def _encode(self, model: Any, batch: list[str]) -> Any:
        import torch

        if self.precision == "bf16":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return model.encode(batch, batch_size=self.batch_size, convert_to_numpy=False,
                                    convert_to_tensor=True, normalize_embeddings=True)
        return model.encode(batch, batch_size=self.batch_size, convert_to_tensor=True,
                            normalize_embeddings=True)


class HashEmbedder:
    """Deterministic fake for fast tests: bag of hashed word unigrams and bigrams.

    Texts that share words get similar vectors, so retrieval tests behave sensibly.
    """

    precision = "fp32"
    backend = "hash"

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


def backend_name(embedder: Any) -> str:
    """`<backend>-<precision>`, e.g. torch-bf16 or onnx-int8."""
    return f"{getattr(embedder, 'backend', 'torch')}-{embedder.precision}"


def block_backend(info: dict[str, Any]) -> str:
    """The backend named by a manifest embedder block; blocks from before backends were
    recorded were torch at their precision."""
    return str(info.get("backend") or f"torch-{info.get('precision', 'fp32')}")


def make_backend(model: str, backend: str) -> Embedder:
    """A real model on a named backend (kb.embed_select.BACKENDS)."""
    kind, _, precision = backend.partition("-")
    if kind == "torch" and precision in ("fp32", "bf16"):
        return SentenceTransformerEmbedder(model, precision=precision)
    if kind == "onnx":
        from kb.onnx_embedder import OnnxEmbedder

        return OnnxEmbedder(model, variant=precision)
    if kind == "openvino":
        from kb.openvino_embedder import OpenVinoEmbedder

        return OpenVinoEmbedder(model, variant=precision)
    raise KBError(f"unknown embedding backend {backend!r}")


def make_embedder(model: str, backend: str = "torch", keep: dict[str, Any] | None = None
                  ) -> Embedder:
    """An embedder from a model id: `hash-<dim>` gives the test fake, anything else a real model.

    backend: "torch" (bf16 autocast where the CPU has it, else fp32), a named backend, or
    "auto": the fastest backend that agrees with fp32 on this CPU (kb.embed_select; measured
    once per machine; $MEDKB_EMBED_BACKEND overrides it). With "auto" or a named backend the
    calibration (agreement with fp32, speed) is in `embedder.selection` for the manifest.
    keep: the embedder block of the KB being rebuilt, which `auto` stays compatible with
    (kb.embed_select.choose).
    """
    if model.startswith("hash-"):
        return HashEmbedder(int(model.split("-", 1)[1]))
    if backend == "torch":
        return SentenceTransformerEmbedder(model)
    from kb.embed_select import choose

    name, calibration = choose(model, backend, keep)
    emb: Any = make_backend(model, name)
    if backend == "auto":  # what choose() honoured
        backend = os.environ.get("MEDKB_EMBED_BACKEND") or "auto"
    emb.selection = {"requested": backend, "calibration": calibration}
    return emb


def _trivial(info: dict[str, Any]) -> bool:
    return info.get("backend") in (None, "torch-fp32") or str(info.get("model", "")).startswith("hash-")


def may_mix(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether vectors described by manifest embedder blocks `a` and `b` may share one KB:
    the same model, and the same backend or both agreeing with fp32 on the probe set."""
    from kb.embed_select import agrees

    if a.get("model") != b.get("model") or a.get("dim") != b.get("dim"):
        return False
    if block_backend(a) == block_backend(b):
        return _same_int8_kernels(a, b)
    return all(_trivial(x) or agrees(x.get("agreement")) for x in (a, b))


def int8_kernels(cpu: dict[str, Any]) -> str:
    """Which int8 matrix kernels a CPU runs: `exact` (VNNI or AMX: int32 sums) or `saturating`
    (AVX2/AVX-512 without VNNI: pairwise sums clipped to int16). Their int8 vectors differ
    (cosine ~0.986 on the probe set between the two), so they do not share a KB."""
    feats = set(cpu.get("features") or ())
    return "exact" if feats & {"avx512_vnni", "avx_vnni", "amx_int8"} else "saturating"


def _same_int8_kernels(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if not str(a.get("backend", "")).endswith("int8") or not (a.get("cpu") and b.get("cpu")):
        return True
    return int8_kernels(a["cpu"]) == int8_kernels(b["cpu"])


def embedder_for_manifest(info: dict[str, Any]) -> Embedder:
    """The embedder to search a KB with: the backend it was built with. When that backend
    cannot run here (no onnxruntime), torch fp32 stands in only if the KB's backend agrees
    with fp32 (may_mix); otherwise it is a clear error."""
    model = str(info.get("model"))
    if model.startswith("hash-"):
        return make_embedder(model)
    backend = block_backend(info)
    runtime = _missing_runtime(backend)
    if runtime:
        ref = {"model": model, "dim": info.get("dim"), "backend": "torch-fp32"}
        if may_mix(info, ref):
            log.info("%s missing: searching %s vectors with torch fp32 (they agree)",
                     runtime, backend)
            return make_backend(model, "torch-fp32")
        raise KBError(f"this KB was embedded with {backend}, which needs {runtime} "
                      f"(`pip install {runtime}`), and its vectors do not agree closely "
                      "enough with fp32 to be searched with another backend")
    return make_backend(model, backend)


def _missing_runtime(backend: str) -> str | None:
    """The package a backend needs when it is not installed here, else None."""
    if backend.startswith("onnx"):
        from kb.onnx_embedder import onnxruntime_available

        return None if onnxruntime_available() else "onnxruntime"
    if backend.startswith("openvino"):
        from kb.openvino_embedder import openvino_available

        return None if openvino_available() else "openvino"
    return None
