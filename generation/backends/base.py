"""The one interface every generation backend meets, checked structurally."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

Message = dict[str, str]
"""A chat message: {"role": "system" | "user" | "assistant", "content": text}."""


@runtime_checkable
class Generator(Protocol):
    """Turns chat messages into the assistant's reply text.

    `name` identifies backend and model for manifests and the ledger ("local:SmolLM2-...",
    "openai:llama3"). Decoding is deterministic (temperature 0) unless a backend is told
    otherwise. Failures raise `kb.errors.BackendError` (or `ModelError` for a missing model).
    """

    name: str

    def generate(self, messages: list[Message], *, max_new_tokens: int = 256) -> str: ...
