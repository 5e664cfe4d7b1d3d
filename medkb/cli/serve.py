"""`medkb serve`: the API and the web page over HTTP (needs the `serve` extra)."""

from __future__ import annotations

from pathlib import Path

import typer

from kb.errors import MedKBError
from medkb.cli.common import KbOpt, open_kb, run


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        kb: Path | None = KbOpt,
        host: str = typer.Option("127.0.0.1", help="Address to bind; anything but loopback "
                                 "needs an API key."),
        port: int = typer.Option(8000, help="TCP port."),
        api_key: str | None = typer.Option(None, "--api-key", help="Clients must send "
                                           "'Authorization: Bearer KEY' (default "
                                           "$MEDKB_API_KEY)."),
        backend: list[str] = typer.Option([], "--backend", help="Answering backends clients "
                                          "may choose (repeatable; default extractive and "
                                          "local, plus openai when MEDKB_LLM_BASE_URL is set)."),
        default_backend: str = typer.Option("extractive", help="Used when a request names none."),
        model: str | None = typer.Option(None, help="Generator model (local) or name (openai)."),
        queue_size: int = typer.Option(32, help="Generation requests that may wait; more get "
                                       "503 with Retry-After."),
        max_body: int = typer.Option(256 * 1024, help="Largest request body in bytes."),
        poll: float = typer.Option(2.0, help="Seconds between looks for a newly published KB "
                                   "version (warmed in the background, then served)."),
        workers: int | None = typer.Option(None, help="Requests computed at once (default: 2 "
                                           "per CPU core); the rest wait their turn."),
        threads: int = typer.Option(1, help="torch threads per request (requests already run "
                                    "in parallel)."),
    ) -> None:
        """Serve the KB over HTTP: JSON API under /api, the web page at /, docs at /docs."""

        def go() -> None:
            try:
                from medkb.server import ServerConfig
                from medkb.server import serve as start
            except ImportError as exc:
                raise MedKBError(f"the server needs FastAPI and uvicorn: pip install "
                                 f"'medkb[serve]' ({exc})") from exc
            from medkb.backends import BackendSettings

            settings = BackendSettings.from_env(model=model)
            backends = tuple(backend) or (("extractive", "local")
                                          + (("openai",) if settings.base_url else ()))
            config = ServerConfig.with_env_key(
                api_key, host=host, port=port, backends=backends,
                default_backend=default_backend, backend_settings=settings,
                queue_size=queue_size, max_body_bytes=max_body, threads=threads,
                poll_seconds=poll, **({"workers": workers} if workers else {}))
            from medkb.server import check_bind

            check_bind(config)  # before loading anything
            obj = open_kb(kb, backend_settings=settings)
            start(obj, config)

        run(go)
