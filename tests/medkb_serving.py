"""Start `medkb serve` as a real process on a free loopback port, and a slow OpenAI-compatible
chat server for the generation-queue tests (plain module; see medkb_testutil)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    url: str
    proc: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")


@contextmanager
def serve_kb(kb: Path, *args: str, env: dict[str, str] | None = None,
             timeout: float = 180.0) -> Iterator[Served]:
    """`medkb serve --kb KB --port P ARGS...` until /health answers; stopped on exit."""
    port = free_port()
    log = kb.parent / f"serve-{port}.log"
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), full_env.get("PYTHONPATH")]))
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "medkb", "serve", "--kb", str(kb), "--port", str(port), *args],
            stdout=out, stderr=subprocess.STDOUT, env=full_env, cwd=ROOT)
    served = Served(f"http://127.0.0.1:{port}", proc, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"medkb serve exited {proc.returncode}:\n{served.output()}")
            try:
                if httpx.get(served.url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"medkb serve did not come up:\n{served.output()}")
            time.sleep(0.3)
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@dataclass
class ChatServer:
    url: str
    arrived: threading.Semaphore  # released once per request received
    release: threading.Event  # answers are held until this is set


@contextmanager
def held_chat_server(reply: str) -> Iterator[ChatServer]:
    """A loopback /v1/chat/completions that holds every answer until `release` is set."""
    arrived, release = threading.Semaphore(0), threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            arrived.release()
            release.wait(120)
            body = json.dumps({
                "id": "c", "object": "chat.completion", "created": 0, "model": "slow",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": reply}}]}).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield ChatServer(f"http://127.0.0.1:{server.server_address[1]}/v1", arrived, release)
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def raw_request(url: str, request: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
    """Send bytes as they are (no client-side path normalisation); the status and the body."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(request)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data.partition(b"\r\n\r\n")[2]
