"""Answering backends by name, from settings the caller owns (never from a request body)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from kb.errors import MedKBError

BACKENDS = ("local", "openai", "extractive")


@dataclass(frozen=True)
class BackendSettings:
    """Where the `openai` backend points and which local model to load.

    `from_env` reads MEDKB_LLM_BASE_URL / MEDKB_LLM_MODEL / MEDKB_LLM_API_KEY once, when the
    caller asks, never at import time.
    """

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None

    @classmethod
    def from_env(cls, model: str | None = None, base_url: str | None = None) -> BackendSettings:
        return cls(model=model, base_url=base_url or os.environ.get("MEDKB_LLM_BASE_URL"),
                   api_key=os.environ.get("MEDKB_LLM_API_KEY"))


def check_backend_name(name: str) -> str:
    if name not in BACKENDS:
        raise MedKBError(f"unknown backend {name!r}: use {', '.join(BACKENDS)}")
    return name


def make_backend(name: str, settings: BackendSettings, embedder: Any) -> Any:
    check_backend_name(name)
    if name == "extractive":
        from generation.backends.extractive import ExtractiveBackend

        return ExtractiveBackend(embedder)
    if name == "openai":
        from generation.backends.openai_compat import OpenAICompatBackend

        model = settings.model or os.environ.get("MEDKB_LLM_MODEL")
        if not settings.base_url or not model:
            raise MedKBError("the openai backend needs --base-url and --model "
                             "(or MEDKB_LLM_BASE_URL and MEDKB_LLM_MODEL)")
        return OpenAICompatBackend(settings.base_url, model, api_key=settings.api_key)
    from generation.backends.local import LocalTransformersBackend
    from kb.config import DEFAULT_GENERATOR

    return LocalTransformersBackend(settings.model or DEFAULT_GENERATOR)
