"""ASGI guards in front of the app: the API key and the request body limit.

Pure ASGI, so an oversized body is refused from its Content-Length before it is read, and a
chunked one as soon as it passes the limit.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

Scope = dict[str, Any]
OPEN_PATHS = ("/health",)  # the page, its files and the docs hold no data; /api/* does


async def _reply(send: Any, status: int, message: str, headers: list | None = None) -> None:
    body = json.dumps({"error": message, "status": status}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    def __init__(self, app: Any, *, max_body_bytes: int, api_key: str | None) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.api_key = api_key.encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if self.api_key and path.startswith("/api/") and not self._authorised(scope):
            await _reply(send, 401, "missing or wrong API key: send 'Authorization: Bearer KEY'",
                         [(b"www-authenticate", b"Bearer")])
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _reply(send, 400, "the Content-Length header is not a number")
                return
            if declared > self.max_body:
                await _reply(send, 413, f"the request body is {declared:,} bytes; the limit is "
                                        f"{self.max_body:,}")
                return
        # Read the body here (it is small by then) so an oversized chunked one is refused
        # before the app sees any of it; the app then reads the buffered copy.
        chunks: list[bytes] = []
        seen = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_body:
                await _reply(send, 413, f"the request body is over the limit of "
                                        f"{self.max_body:,} bytes")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # waits for the disconnect, as the server would

        await self.app(scope, replay, send)

    def _authorised(self, scope: Scope) -> bool:
        for name, value in scope.get("headers") or []:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(),
                                                                           self.api_key or b"")
        return False
