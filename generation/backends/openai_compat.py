"""Any OpenAI-compatible chat server (vLLM, llama.cpp server, Ollama) as a backend."""

from __future__ import annotations

from typing import Any

import httpx

from generation.backends.base import Message
from kb.errors import BackendError


class OpenAICompatBackend:
    """POSTs to `{base_url}/chat/completions` with temperature 0.

    `base_url` includes the API prefix, e.g. "http://localhost:8000/v1" (vLLM) or
    "http://localhost:11434/v1" (Ollama). `transport` is an httpx transport, injectable so
    tests run against `httpx.MockTransport`. The connection is opened on first use.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.transport = transport
        self.name = f"openai:{model}"
        self._client: httpx.Client | None = None

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def generate(self, messages: list[Message], *, max_new_tokens: int = 256) -> str:
        body = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "temperature": 0,
            "max_tokens": max_new_tokens,
            "stream": False,
        }
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            response = self._http().post(self.url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise BackendError(
                f"{self.url}: request failed ({type(exc).__name__}: {exc}); is the server "
                f"running and the base URL right?"
            ) from exc
        if response.status_code != 200:
            raise BackendError(
                f"{self.url} answered HTTP {response.status_code}: {_snippet(response.text)}"
            )
        return _content(self.url, response)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, transport=self.transport)
        return self._client


def _content(url: str, response: httpx.Response) -> str:
    try:
        data: Any = response.json()
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise BackendError(
            f"{url} sent a response that is not an OpenAI chat completion: "
            f"{_snippet(response.text)}"
        ) from exc
    if not isinstance(content, str):
        raise BackendError(f"{url} sent no message content: {_snippet(response.text)}")
    return content.strip()


def _snippet(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
