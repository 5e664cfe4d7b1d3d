"""Any OpenAI-compatible chat server (vLLM, llama.cpp server, Ollama) as a backend.

Built on the official `openai` client, which brings timeouts, retries with exponential
back-off (connection errors, 408/409/429 and 5xx, honouring Retry-After) and the wire format.
The client is imported and created on first use, so importing this module stays cheap.
"""

from __future__ import annotations

from typing import Any

from generation.backends.base import Message
from kb.errors import BackendError

NO_KEY = "no-key"
"""Sent when no key is configured: the client insists on one; local servers ignore it."""


class OpenAICompatBackend:
    """Asks `{base_url}/chat/completions` for a deterministic (temperature 0) completion.

    `base_url` includes the API prefix, e.g. "http://localhost:8000/v1" (vLLM) or
    "http://localhost:11434/v1" (Ollama). `timeout` bounds each attempt in seconds;
    `max_retries` is how many times a failed attempt (connection error, 408, 409, 429, 5xx)
    is retried with back-off before a `BackendError` names the URL and the last failure.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, not {max_retries}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.name = f"openai:{model}"
        self._client: Any = None

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def generate(self, messages: list[Message], *, max_new_tokens: int = 256) -> str:
        import openai

        try:
            completion = self._openai().chat.completions.create(
                model=self.model,
                messages=[{"role": m["role"], "content": m["content"]} for m in messages],
                temperature=0,
                max_tokens=max_new_tokens,
                stream=False,
            )
        except openai.APITimeoutError as exc:
            raise BackendError(
                f"{self.url}: no answer within {self.timeout:g} s "
                f"(tried {self.max_retries + 1} times)"
            ) from exc
        except openai.APIConnectionError as exc:
            raise BackendError(
                f"{self.url}: request failed ({_cause(exc)}); is the server running and the "
                f"base URL right?"
            ) from exc
        except openai.APIStatusError as exc:
            raise BackendError(
                f"{self.url} answered HTTP {exc.status_code}: {_snippet(exc.response.text)}"
            ) from exc
        except openai.APIResponseValidationError as exc:
            raise BackendError(
                f"{self.url} sent a response that is not an OpenAI chat completion: "
                f"{_snippet(exc.response.text)}"
            ) from exc
        except ValueError as exc:  # the body was not JSON at all
            raise BackendError(
                f"{self.url} sent a response that is not an OpenAI chat completion ({exc})"
            ) from exc
        return _content(self.url, completion)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _openai(self) -> Any:
        if self._client is None:
            import openai

            self._client = openai.OpenAI(
                base_url=self.base_url,
                api_key=self.api_key or NO_KEY,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        return self._client


def _content(url: str, completion: Any) -> str:
    """The first choice's text, or a BackendError naming what the server sent instead."""
    try:
        content = completion.choices[0].message.content
    except (AttributeError, IndexError, TypeError) as exc:
        raise BackendError(
            f"{url} sent a response that is not an OpenAI chat completion: "
            f"{_snippet(str(completion))}"
        ) from exc
    if not isinstance(content, str):
        raise BackendError(f"{url} sent no message content: {_snippet(str(completion))}")
    return content.strip()


def _cause(exc: BaseException) -> str:
    inner = exc.__cause__ or exc
    return f"{type(inner).__name__}: {inner}"


def _snippet(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
