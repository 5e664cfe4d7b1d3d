"""The default backend: a causal LM run in-process with transformers (SmolLM2 offline).

torch and transformers are imported on first `generate`, never at import time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from generation.backends.base import Message
from kb.config import DEFAULT_GENERATOR
from kb.errors import BackendError, ModelError
from kb.models import PULL_HINT, generator_path

DEFAULT_THREADS = 1
"""Measured on the 2-core build machines with SmolLM2-135M (greedy, batch 1): 1 thread decodes
as fast as 2 when idle and much faster when another process keeps a core busy. See `threads`."""

REPETITION_PENALTY = 1.3
NO_REPEAT_NGRAM = 6
"""Small models loop ("the same sentence ten times"). Both apply to the generated tokens only:
transformers' own repetition_penalty and no_repeat_ngram_size also count the prompt, which
would stop the model from quoting its passages."""

_TORCH_THREADS_LOCK = threading.Lock()


class LocalTransformersBackend:
    """Greedy (temperature 0) chat generation with a local or hub transformers model.

    `model` is the default name (provisioned offline by `kb.models`), a local folder or a
    Hugging Face id. `threads` sets torch's intra-op threads while generating (restored
    afterwards, since the setting is process-wide); None means `DEFAULT_THREADS`.
    `temperature` > 0 switches to sampling.
    """

    def __init__(
        self,
        model: str = DEFAULT_GENERATOR,
        *,
        threads: int | None = None,
        temperature: float = 0.0,
        repetition_penalty: float = REPETITION_PENALTY,
        no_repeat_ngram: int = NO_REPEAT_NGRAM,
    ) -> None:
        self.model = model
        self.repetition_penalty = repetition_penalty
        self.no_repeat_ngram = no_repeat_ngram
        self.threads = threads
        self.temperature = temperature
        self.name = f"local:{model}"
        self._model: Any = None
        self._tokenizer: Any = None
        self._load_lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the model now rather than on the first `generate`."""
        with self._load_lock:
            if self._model is not None:
                return
            path = generator_path(self.model)
            try:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(path)
                model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
            except (OSError, ValueError) as exc:
                raise ModelError(
                    f"Could not load generator {self.model!r} from {path}: {exc}. For the "
                    f"default model, {PULL_HINT}; otherwise pass a local folder or a hub id "
                    f"that this machine can reach."
                ) from exc
            model.eval()
            self._tokenizer = tokenizer
            self._model = model

    def generate(self, messages: list[Message], *, max_new_tokens: int = 256) -> str:
        self.warm_up()
        import torch

        tokenizer, model = self._tokenizer, self._model
        if not getattr(tokenizer, "chat_template", None):
            raise BackendError(f"{self.name}: the tokenizer has no chat template.")
        inputs = tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        prompt_len = int(inputs["input_ids"].shape[1])
        limit = getattr(model.config, "max_position_embeddings", None)
        if limit and prompt_len + max_new_tokens > limit:
            raise BackendError(
                f"{self.name}: prompt of {prompt_len} tokens plus {max_new_tokens} new ones "
                f"exceeds the model's {limit}-token context; retrieve fewer or shorter passages."
            )
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": self.temperature}
            if self.temperature > 0
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = tokenizer.eos_token_id
        processors = _no_repeats(prompt_len, self.repetition_penalty, self.no_repeat_ngram)
        try:
            with _torch_threads(self.threads or DEFAULT_THREADS), torch.inference_mode():
                out = model.generate(
                    **inputs, max_new_tokens=max_new_tokens, pad_token_id=pad,
                    logits_processor=processors, **sampling
                )
        except RuntimeError as exc:
            raise BackendError(f"{self.name}: generation failed: {exc}") from exc
        return str(tokenizer.decode(out[0, prompt_len:], skip_special_tokens=True)).strip()


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    import torch

    with _TORCH_THREADS_LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(before)


def _no_repeats(prompt_len: int, penalty: float, ngram: int) -> Any:
    """A logits processor list that discourages repeating what the answer already said."""
    from transformers import LogitsProcessor, LogitsProcessorList

    class _GeneratedOnly(LogitsProcessor):  # type: ignore[misc]
        def __call__(self, input_ids: Any, scores: Any) -> Any:
            gen = input_ids[:, prompt_len:]
            if gen.shape[1] == 0:
                return scores
            for row in range(gen.shape[0]):
                seen = gen[row].unique()
                if penalty != 1.0:
                    vals = scores[row, seen]
                    scores[row, seen] = vals.where(vals < 0, vals / penalty).where(vals >= 0, vals * penalty)
                toks = gen[row].tolist()
                if ngram > 1 and len(toks) >= ngram:
                    prefix = tuple(toks[-(ngram - 1):])
                    banned = {toks[i + ngram - 1] for i in range(len(toks) - ngram + 1)
                              if tuple(toks[i:i + ngram - 1]) == prefix}
                    if banned:
                        scores[row, list(banned)] = float("-inf")
            return scores

    return LogitsProcessorList([_GeneratedOnly()])
