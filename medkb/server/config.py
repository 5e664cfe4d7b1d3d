"""What the operator decides for a server: bind address, key, limits, answering backends.

Nothing here comes from a request: clients choose among the configured backends by name and
never send a base URL, a model path or a key.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field

from kb.errors import MedKBError
from medkb.backends import BACKENDS, BackendSettings

MIN_KEY_CHARS = 16
API_KEY_ENV = "MEDKB_API_KEY"


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    max_body_bytes: int = 256 * 1024  # a question plus an answer to check fit many times over
    max_answer_chars: int = 20_000
    queue_size: int = 32  # generation requests that may wait behind the running one
    backends: tuple[str, ...] = ("extractive", "local")  # the ones clients may pick
    default_backend: str = "extractive"
    backend_settings: BackendSettings = field(default_factory=BackendSettings)
    poll_seconds: float = 2.0  # how often a newly published KB version is looked for
    warm: bool = True
    # torch intra-op threads per request. Requests already run side by side, and on a shared
    # machine 2+ threads per small matmul make a query embedding 5-10x slower (measured).
    threads: int = 1
    # Requests computed at once (worker threads); more wait their turn on the event loop.
    # CPU-bound work gains nothing from more threads than cores, and each thread's malloc
    # arena and torch buffers cost memory.
    workers: int = field(default_factory=lambda: 2 * (os.cpu_count() or 2))

    def __post_init__(self) -> None:
        for name in self.backends:
            if name not in BACKENDS:
                raise MedKBError(f"unknown backend {name!r}: use {', '.join(BACKENDS)}")
        if self.default_backend not in self.backends:
            raise MedKBError(f"the default backend {self.default_backend!r} is not one of the "
                             f"served backends ({', '.join(self.backends)})")
        if "openai" in self.backends and not self.backend_settings.base_url:
            raise MedKBError("the openai backend needs MEDKB_LLM_BASE_URL (and MEDKB_LLM_MODEL) "
                             "in the server's environment")
        if self.workers < 1:
            raise MedKBError("--workers must be at least 1")
        if self.threads < 1:
            raise MedKBError("--threads must be at least 1")
        if self.queue_size < 0:
            raise MedKBError("--queue-size must be 0 or more")
        if not 0 < self.port < 65536:
            raise MedKBError(f"--port {self.port} is not a TCP port")

    @classmethod
    def with_env_key(cls, api_key: str | None = None, **kwargs: object) -> ServerConfig:
        """`api_key`, else $MEDKB_API_KEY, else none."""
        return cls(api_key=api_key or os.environ.get(API_KEY_ENV) or None, **kwargs)  # type: ignore[arg-type]


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_bind(config: ServerConfig) -> None:
    """Refuse to serve beyond this machine without a key, and refuse weak keys."""
    if config.api_key is not None and len(config.api_key) < MIN_KEY_CHARS:
        raise MedKBError(f"the API key is {len(config.api_key)} characters; use at least "
                         f"{MIN_KEY_CHARS} (e.g. `python -c 'import secrets; "
                         f"print(secrets.token_urlsafe(32))'`)")
    if not is_loopback(config.host) and not config.api_key:
        raise MedKBError(f"refusing to listen on {config.host}: that is reachable from other "
                         f"machines and no API key is set. Pass --api-key or set "
                         f"{API_KEY_ENV} (clients then send 'Authorization: Bearer KEY'), or "
                         f"bind 127.0.0.1")
