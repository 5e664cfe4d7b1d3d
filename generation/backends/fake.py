"""A deterministic stand-in for an LLM, so the answering path is testable without one."""

from __future__ import annotations

import copy
from collections.abc import Callable

from generation.backends.base import Message
from kb.errors import BackendError


class ScriptedBackend:
    """Replies from a script and records every conversation it was given in `.calls`.

    `replies` is one reply given every time, a list consumed in order (one more call than
    replies is a `BackendError`, so a test notices unexpected calls), or a function of the
    messages.
    """

    def __init__(
        self,
        replies: str | list[str] | Callable[[list[Message]], str],
        *,
        name: str = "scripted",
    ) -> None:
        self.replies = replies
        self.name = name
        self.calls: list[list[Message]] = []
        self.max_new_tokens: list[int] = []

    def generate(self, messages: list[Message], *, max_new_tokens: int = 256) -> str:
        self.calls.append(copy.deepcopy(list(messages)))
        self.max_new_tokens.append(max_new_tokens)
        if callable(self.replies):
            return self.replies(messages)
        if isinstance(self.replies, str):
            return self.replies
        index = len(self.calls) - 1
        if index >= len(self.replies):
            raise BackendError(
                f"ScriptedBackend has {len(self.replies)} replies and was called "
                f"{len(self.calls)} times; give it more replies."
            )
        return self.replies[index]
