"""A sentence-transformers model on OpenVINO: converted once into the model cache, run as one
inference stream per core.

Why a third runtime: on a 2-core CPU MiniLM's matrices are small (a batch of 16 passages is
~1,600 tokens × 384), so torch's two intra-op threads spend much of each layer waiting for
each other. OpenVINO's throughput mode runs one stream per core, each on its own batch, and
on CPUs with AMX or AVX512-BF16 computes matrix products in bf16 (its
INFERENCE_PRECISION_HINT) with fused attention, layer norms and GELU. Measured on the build's
passages (Intel Xeon with AMX, 2 cores): 194 texts/s against torch bf16's 96 and torch fp32's
48, with vectors agreeing with fp32 (cosine >= 0.99996). Whether it is taken on a CPU is
kb.embed_select's measurement, like every backend.

The model is converted from torch (sentence-transformers' mean pooling and L2 normalisation
folded in, weights kept fp32) into `cache_dir()/openvino/<model>-<weights hash>/`; converting
needs torch, using the cache needs only openvino and tokenizers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from kb.config import DEFAULT_EMBEDDER, cache_dir
from kb.errors import ModelError
from kb.onnx_embedder import (
    OnnxEmbedder,
    cached_export,
    padded_tokenizer,
    pooled_encoder,
    weights_key,
)

# precision -> OpenVINO's INFERENCE_PRECISION_HINT (its default on a bf16 CPU is bf16, so the
# fp32 variant must ask for f32)
VARIANTS = {"fp32": "f32", "bf16": "bf16"}
MODEL_FILE = "model.xml"
META = "medkb-openvino.json"
SHAPE_STEP = 16  # tokens: batches are padded to a multiple (fewer shapes to prepare)
EXPORT_VERSION = 1  # bump when the conversion recipe changes: a new cache folder follows


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def import_openvino() -> Any:
    """`import openvino` with its usage telemetry off. Importing openvino (its model
    converter) reports an "import" event, and each conversion another, to Google Analytics
    unless a consent file says no; a medical tool that runs offline sends nothing anywhere.
    With `openvino_telemetry` marked unimportable, openvino takes its own no-op stub."""
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    import openvino

    return openvino


@lru_cache(maxsize=1)
def capabilities() -> tuple[str, ...]:
    """OpenVINO's CPU optimisation capabilities here ("FP32", "BF16", "INT8", ...)."""
    ov = import_openvino()
    return tuple(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def ov_dir(model_dir: Path) -> Path:
    key = weights_key(model_dir, f"medkb-openvino-{EXPORT_VERSION}")
    return cache_dir() / "openvino" / f"{model_dir.name}-{key}"


def export(model_dir: Path, folder: Path) -> dict[str, Any]:
    """Convert `model_dir` into `folder`; its metadata."""
    try:
        import torch

        ov = import_openvino()
    except ImportError as exc:
        raise ModelError(f"converting to OpenVINO needs torch and openvino ({exc})") from exc
    pooled, sample, st = pooled_encoder(model_dir, "sdpa")
    with torch.inference_mode():
        model = ov.convert_model(pooled, example_input=sample)
    # any batch, any length; fp32 weights on disk (save_model halves them by default)
    model.reshape({0: ov.PartialShape([-1, -1]), 1: ov.PartialShape([-1, -1])})
    ov.save_model(model, str(folder / MODEL_FILE), compress_to_fp16=False)
    return {"source": str(model_dir), "dim": int(pooled.encoder.config.hidden_size),
            "max_tokens": int(st.max_seq_length), "export_version": EXPORT_VERSION,
            "torch": torch.__version__, "openvino": ov.__version__}


def ensure_export(model_dir: Path) -> Path:
    return cached_export(ov_dir(model_dir), META, lambda folder: export(model_dir, folder))


class OpenVinoEmbedder(OnnxEmbedder):
    """The model on OpenVINO, `variant` fp32 or bf16, in throughput mode: batches of 16
    length-sorted texts (longest first) go to parallel infer requests, one stream per core,
    so the cores work on different batches rather than on one together."""

    backend = "openvino"
    variants = VARIANTS

    def __init__(self, model: str = DEFAULT_EMBEDDER, *, variant: str = "bf16",
                 batch_size: int = 16, threads: int | None = None) -> None:
        super().__init__(model, variant=variant, batch_size=batch_size, threads=threads)
        self._queue: Any = None
        self._lock = threading.Lock()  # one embed() at a time: the requests are shared
        self.requests = 0

    def _load(self) -> Any:
        if self._queue is None:
            ov = import_openvino()
            folder = ensure_export(self._model_dir())
            self._meta = json.loads((folder / META).read_text("utf-8"))
            config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": VARIANTS[self.variant],
                                      "PERFORMANCE_HINT": "THROUGHPUT"}
            # as torch does, OMP_NUM_THREADS caps the threads (Ray sets it to an actor's CPUs)
            threads = self.threads or int(os.environ.get("OMP_NUM_THREADS") or 0)
            if threads:
                config["INFERENCE_NUM_THREADS"] = threads
            compiled = ov.Core().compile_model(str(folder / MODEL_FILE), "CPU", config)
            # twice the requests OpenVINO runs at once: a queued batch is ready the moment a
            # stream finishes one, rather than when this thread next gets the GIL to hand it in
            self.requests = 2 * int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
            self._queue = ov.AsyncInferQueue(compiled, self.requests)
            # Lengths rounded up to 16 tokens: OpenVINO prepares its kernels once per input
            # shape, and a build's length-sorted batches would otherwise bring a new shape
            # nearly every batch (the first pass over 2,520 passages ran at 2/3 of the speed)
            self._tok = padded_tokenizer(self._model_dir(), self.max_tokens, SHAPE_STEP)
        return self._queue

    def describe(self) -> dict[str, Any]:
        self._load()
        return {"file": MODEL_FILE, "requests": self.requests,
                "precision_hint": VARIANTS[self.variant]}

    def embed(self, texts: Sequence[str], *,
              progress: Callable[[int], None] | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return self._embed(self._load(), texts, progress)

    def _embed(self, queue: Any, texts: Sequence[str],
               progress: Callable[[int], None] | None) -> np.ndarray:
        # longest first: each request's buffers are sized by its first batch, not grown
        # batch after batch (ascending, the first pass ran at 2/3 of the speed)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        finished = [0]

        def done(request: Any, idx: list[int]) -> None:  # on OpenVINO's thread
            out[idx] = request.get_output_tensor(0).data
            finished[0] += len(idx)

        queue.set_callback(done)
        told = 0
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo : lo + self.batch_size]
            enc = self._tok.encode_batch([texts[i] for i in idx])
            ids = np.asarray([e.ids for e in enc], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
            queue.start_async({0: ids, 1: mask}, idx)  # waits while every request is busy
            if progress and finished[0] > told:
                progress(finished[0] - told)
                told = finished[0]
        queue.wait_all()
        if progress and len(texts) > told:
            progress(len(texts) - told)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
