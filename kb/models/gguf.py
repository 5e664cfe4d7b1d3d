"""Convert the shipped GGUF generator once to safetensors (transformers de-quantises a GGUF on
every load). The only place here that imports torch and transformers."""

from __future__ import annotations

from pathlib import Path

from kb.errors import ModelError


def convert_gguf(gguf: Path, out_dir: Path) -> None:
    """De-quantise a GGUF causal LM to a float32 safetensors folder transformers loads fast."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - they are dependencies
        raise ModelError(f"Converting the generator needs torch and transformers: {exc}") from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
        # The weights are plain float tensors now; transformers still tags the model as
        # GGUF-quantized and then refuses to save it, so drop the tag.
        model.hf_quantizer = None
        if getattr(model.config, "quantization_config", None) is not None:
            del model.config.quantization_config
        model.save_pretrained(out_dir, safe_serialization=True)
        tokenizer.save_pretrained(out_dir)
    except Exception as exc:
        raise ModelError(f"Converting {gguf.name} to safetensors failed: {exc}") from exc
