"""The OpenAI-compatible backend (official `openai` client) against a real HTTP server on
loopback that speaks /v1/chat/completions: request shape, auth, retries, timeouts, errors."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from generation.backends import Generator, OpenAICompatBackend
from kb.errors import BackendError

CHAT = [
    {"role": "system", "content": "Answer from the passages; cite them as [1]."},
    {"role": "user", "content": "What is the first-line treatment for mild asthma?"},
]


def completion(content: object) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "llama3",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
        ],
    }


Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict


@dataclass
class ChatServer:
    """Answers each POST with the next scripted reply (the last one repeats)."""

    replies: list[Reply | Callable[[], Reply]]
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def next_reply(self) -> Reply:
        reply = self.replies[min(len(self.seen) - 1, len(self.replies) - 1)]
        return reply() if callable(reply) else reply


def ok(content: object) -> Reply:
    return 200, {"Content-Type": "application/json"}, json.dumps(completion(content)).encode()


@pytest.fixture
def chat_server() -> Iterator[Callable[..., ChatServer]]:
    started: list[ThreadingHTTPServer] = []

    def start(*replies: Reply | Callable[[], Reply]) -> ChatServer:
        state = ChatServer(list(replies))

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                state.seen.append(
                    Seen(self.path, {k.lower(): v for k, v in self.headers.items()},
                         json.loads(raw))
                )
                status, headers, body = state.next_reply()
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        return state

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def test_posts_a_deterministic_chat_completion(chat_server):
    server = chat_server(ok("  Inhaled corticosteroids [1].\n"))
    backend = OpenAICompatBackend(server.url + "/", "llama3", api_key="sk-test")
    assert backend.name == "openai:llama3"
    assert isinstance(backend, Generator)

    assert backend.generate(CHAT, max_new_tokens=42) == "Inhaled corticosteroids [1]."

    (request,) = server.seen
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body["model"] == "llama3"
    assert request.body["messages"] == CHAT
    assert request.body["temperature"] == 0
    assert request.body["max_tokens"] == 42
    assert request.body.get("stream") in (False, None)
    backend.close()


def test_without_a_key_no_secret_is_sent(chat_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    server = chat_server(ok("ok"))
    backend = OpenAICompatBackend(server.url, "m")
    assert backend.generate(CHAT) == "ok"
    assert "sk-from-the-environment" not in server.seen[0].headers.get("authorization", "")


def test_server_errors_are_retried_then_succeed(chat_server):
    failing: Reply = (503, {"Content-Type": "text/plain", "Retry-After": "0"}, b"warming up")
    server = chat_server(failing, failing, ok("third time"))
    backend = OpenAICompatBackend(server.url, "m", max_retries=2)
    assert backend.generate(CHAT) == "third time"
    assert len(server.seen) == 3


def test_persistent_error_names_url_status_and_body(chat_server):
    server = chat_server((500, {"Content-Type": "text/plain", "Retry-After": "0"}, b"model crashed"))
    backend = OpenAICompatBackend(server.url, "m", max_retries=1)
    with pytest.raises(BackendError) as info:
        backend.generate(CHAT)
    message = str(info.value)
    assert f"{server.url}/chat/completions" in message
    assert "500" in message
    assert "model crashed" in message
    assert len(server.seen) == 2  # one try plus one retry


def test_client_errors_are_not_retried(chat_server):
    server = chat_server((401, {"Content-Type": "application/json"},
                          b'{"error": {"message": "bad key"}}'))
    backend = OpenAICompatBackend(server.url, "m", api_key="wrong", max_retries=3)
    with pytest.raises(BackendError, match="401.*bad key"):
        backend.generate(CHAT)
    assert len(server.seen) == 1


def test_slow_server_times_out_with_a_clear_error(chat_server):
    def slow() -> Reply:
        time.sleep(2.0)
        return ok("too late")

    server = chat_server(slow)
    backend = OpenAICompatBackend(server.url, "m", timeout=0.2, max_retries=0)
    with pytest.raises(BackendError, match=r"no answer within 0\.2 s"):
        backend.generate(CHAT)


@pytest.mark.parametrize(
    "reply",
    [
        (200, {"Content-Type": "application/json"}, b"{not json"),
        (200, {"Content-Type": "application/json"}, b'{"choices": []}'),
        ok(None),
    ],
    ids=["not-json", "no-choices", "null-content"],
)
def test_malformed_reply_is_a_backend_error(chat_server, reply):
    server = chat_server(reply)
    backend = OpenAICompatBackend(server.url, "m", max_retries=0)
    with pytest.raises(BackendError, match="chat/completions"):
        backend.generate(CHAT)


def test_unreachable_server_is_a_backend_error():
    from socket import socket

    with socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    backend = OpenAICompatBackend(url, "m", timeout=2.0, max_retries=0)
    with pytest.raises(BackendError, match=rf"127\.0\.0\.1:{port}/v1/chat/completions.*running"):
        backend.generate(CHAT)


def test_settings_are_validated():
    with pytest.raises(ValueError, match="timeout"):
        OpenAICompatBackend("http://127.0.0.1:1/v1", "m", timeout=0)
    with pytest.raises(ValueError, match="max_retries"):
        OpenAICompatBackend("http://127.0.0.1:1/v1", "m", max_retries=-1)
