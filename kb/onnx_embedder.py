"""A sentence-transformers model on ONNX Runtime: exported once into the model cache.

The export (torch's ONNX exporter over the model with its mean pooling and L2 normalisation
folded in), ONNX Runtime's transformer graph optimiser (fused attention, layer norms, GELU)
and a dynamically quantised int8 copy (per-channel weights) are made on first use from the
local model folder — no hub — and kept under `cache_dir()/onnx/<model>-<weights hash>/`.
Building the cache needs torch and the `onnx` package; using it needs only onnxruntime and
tokenizers, so searching an ONNX-built KB never imports torch.

Only BERT-style encoders with mean pooling (all-MiniLM-L6-v2, the default) are exported; any
other model is a clear error and stays on the torch backend.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from kb.config import DEFAULT_EMBEDDER, cache_dir
from kb.errors import ModelError

VARIANTS = {"fp32": "model_fp32.onnx", "int8": "model_int8.onnx"}
META = "medkb-onnx.json"
EXPORT_VERSION = 1  # bump when the export recipe changes: a new cache folder follows


def onnxruntime_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def weights_key(model_dir: Path, recipe: str = f"medkb-onnx-{EXPORT_VERSION}") -> str:
    """A cache key over the model's weights, config and tokenizer and the export `recipe`."""
    stamp = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns)
                  for f in sorted(model_dir.iterdir()) if f.is_file())
    return _hash_files(str(model_dir), stamp, recipe)


@lru_cache(maxsize=8)
def _hash_files(model_dir_name: str, stamp: tuple, recipe: str) -> str:
    """sha256 over the weights, config and tokenizer (once per process and file state)."""
    model_dir = Path(model_dir_name)
    h = hashlib.sha256(recipe.encode())
    for name in ("model.safetensors", "pytorch_model.bin", "config.json", "tokenizer.json"):
        f = model_dir / name
        if f.is_file():
            h.update(name.encode() + b"\0")
            with f.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()[:16]


def onnx_dir(model_dir: Path) -> Path:
    return cache_dir() / "onnx" / f"{model_dir.name}-{weights_key(model_dir)}"


def check_mean_pooling(model_dir: Path) -> None:
    pooling = model_dir / "1_Pooling" / "config.json"
    cfg = json.loads(pooling.read_text("utf-8")) if pooling.is_file() else {}
    others = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v
              and k != "pooling_mode_mean_tokens"]
    if not cfg.get("pooling_mode_mean_tokens") or others:
        raise ModelError(f"{model_dir}: the ONNX backend exports mean-pooled models only; "
                         "use the torch backend for this model")


def pooled_encoder(model_dir: Path, attn: str) -> tuple[Any, Any, Any]:
    """The model as one torch module, (input_ids, attention_mask) -> L2-normalised mean-pooled
    vectors (sentence-transformers' own recipe for MiniLM), with sample inputs for tracing and
    the sentence-transformers model it wraps."""
    import torch
    from sentence_transformers import SentenceTransformer

    check_mean_pooling(model_dir)
    st = SentenceTransformer(str(model_dir), device="cpu",
                             model_kwargs={"attn_implementation": attn})
    encoder = st[0].auto_model.eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids,
                                  attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    sample = st.tokenizer(["a warm-up passage about asthma", "fever"], padding=True,
                          return_tensors="pt")
    return Pooled().eval(), (sample["input_ids"], sample["attention_mask"]), st


def padded_tokenizer(model_dir: Path, max_tokens: int, multiple: int | None = None) -> Any:
    """The model's fast tokenizer, cutting at `max_tokens` and padding each batch to its
    longest text (rounded up to a `multiple` of tokens when given)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.enable_truncation(max_tokens)
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]") or 0, pad_to_multiple_of=multiple)
    return tok


def cached_export(target: Path, meta_name: str, build: Callable[[Path], dict[str, Any]]
                  ) -> Path:
    """`target`, made by `build(folder)` (which fills a fresh folder and returns its metadata)
    when `target/meta_name` is missing: built under a temporary name and renamed into place,
    so a crash leaves no half-written cache."""
    if (target / meta_name).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        meta = build(tmp)
        (tmp / meta_name).write_text(json.dumps(meta, indent=2), "utf-8")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def export(model_dir: Path, folder: Path) -> dict[str, Any]:
    """Export, optimise and quantise `model_dir` into `folder`; its metadata."""
    try:
        import onnx
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.transformers import optimizer
    except ImportError as exc:
        raise ModelError(f"exporting to ONNX needs torch, onnx and onnxruntime ({exc}); "
                         "`pip install medkb[onnx]`") from exc
    # Eager attention exports as plain ops that the optimiser fuses into one Attention node.
    pooled, sample, st = pooled_encoder(model_dir, "eager")
    config = pooled.encoder.config
    raw = folder / "raw.onnx"
    with torch.inference_mode():
        torch.onnx.export(
            pooled, sample, str(raw),
            dynamo=False, opset_version=17, input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                          "attention_mask": {0: "batch", 1: "tokens"},
                          "embedding": {0: "batch"}})
    opt = optimizer.optimize_model(str(raw), model_type="bert",
                                   num_heads=int(config.num_attention_heads),
                                   hidden_size=int(config.hidden_size), opt_level=1)
    opt.save_model_to_file(str(folder / VARIANTS["fp32"]))
    fused = {k: v for k, v in opt.get_fused_operator_statistics().items() if v}
    # Per-channel weights: per-tensor int8 loses too much on MiniLM (cosine 0.89 here).
    quantize_dynamic(str(folder / VARIANTS["fp32"]), str(folder / VARIANTS["int8"]),
                     weight_type=QuantType.QInt8, per_channel=True,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    raw.unlink()
    return {"source": str(model_dir), "dim": int(config.hidden_size),
            "max_tokens": int(st.max_seq_length), "fused": fused,
            "export_version": EXPORT_VERSION, "torch": torch.__version__,
            "onnx": onnx.__version__}


def ensure_export(model_dir: Path) -> Path:
    return cached_export(onnx_dir(model_dir), META, lambda folder: export(model_dir, folder))


class OnnxEmbedder:
    """The same model on ONNX Runtime: `variant` fp32 (optimised graph) or int8 (dynamic
    quantisation). Texts are cut at the model's max_seq_length like sentence-transformers.
    Batches of 8 length-sorted texts: the fastest on the build's passages (4-8 beat 32 by a
    fifth and 64 by a half on AMD EPYC Zen 5; benchmarks/embed_backends.py)."""

    backend = "onnx"
    variants: dict[str, str] = VARIANTS

    def __init__(self, model: str = DEFAULT_EMBEDDER, *, variant: str = "fp32",
                 batch_size: int = 8, threads: int | None = None) -> None:
        if variant not in self.variants:
            raise ModelError(f"unknown {self.backend} variant {variant!r}: one of "
                             f"{', '.join(self.variants)}")
        self.model_name = model
        self.variant = variant
        self.batch_size = batch_size
        self.threads = threads
        self._session: Any = None
        self._tok: Any = None
        self._hf_tok: Any = None
        self._meta: dict[str, Any] = {}
        self._dir: Path | None = None

    @property
    def model_id(self) -> str:
        return self.model_name

    @property
    def precision(self) -> str:
        return self.variant

    def _model_dir(self) -> Path:
        if self._dir is None:
            from kb.models import embedder_path

            path = Path(embedder_path(self.model_name))
            if not path.is_dir():
                raise ModelError(f"the ONNX backend needs a local model folder, not {path}")
            self._dir = path
        return self._dir

    def _load(self) -> Any:
        if self._session is None:
            import onnxruntime as ort

            folder = ensure_export(self._model_dir())
            self._meta = json.loads((folder / META).read_text("utf-8"))
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.threads or (os.cpu_count() or 1)
            opts.inter_op_num_threads = 1
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self._session = ort.InferenceSession(str(folder / VARIANTS[self.variant]), opts,
                                                 providers=["CPUExecutionProvider"])
            self._tok = padded_tokenizer(self._model_dir(), self.max_tokens)
        return self._session

    @property
    def dim(self) -> int:
        self._load()
        return int(self._meta["dim"])

    @property
    def max_tokens(self) -> int:
        if self._meta:
            return int(self._meta["max_tokens"])
        cfg = self._model_dir() / "sentence_bert_config.json"
        return int(json.loads(cfg.read_text("utf-8")).get("max_seq_length", 256))

    def tokenizer(self) -> Any:
        """The model's tokenizer for chunking (which measures passages in it), loaded once:
        the fast tokenizer itself as `backend_tokenizer`, as a Hugging Face tokenizer carries
        it, without importing transformers (and torch with it: seconds of a build)."""
        if self._hf_tok is None:
            from types import SimpleNamespace

            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(self._model_dir() / "tokenizer.json"))
            tok.no_truncation()
            tok.no_padding()
            self._hf_tok = SimpleNamespace(backend_tokenizer=tok)
        return self._hf_tok

    def describe(self) -> dict[str, Any]:
        self._load()
        return {"fused": self._meta.get("fused", {}), "file": VARIANTS[self.variant]}

    def embed(self, texts: Sequence[str], *,
              progress: Callable[[int], None] | None = None) -> np.ndarray:
        session = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo : lo + self.batch_size]
            enc = self._tok.encode_batch([texts[i] for i in idx])
            ids = np.asarray([e.ids for e in enc], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
            vecs = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            out[idx] = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
            if progress:
                progress(len(idx))
        return out
