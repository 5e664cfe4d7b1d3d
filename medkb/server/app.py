"""The FastAPI app: JSON endpoints that return the API's contract documents, and the page.

Search, check, diagnose, audit, graph and info run concurrently in worker threads; `ask`
(generation) goes through the GenerationGate. Each request takes the KB session that is live
when it starts (medkb.MedKB.session) and finishes on it, even if a new version is published
meanwhile. Every failure a client can cause is a 4xx with {"error": ...}; never a 500.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from kb.errors import BackendError, KBError, MedKBError
from medkb.server import schemas
from medkb.server.config import ServerConfig
from medkb.server.gate import GenerationGate, QueueFull
from medkb.server.guard import Guard
from medkb.server.watch import VersionWatcher

log = logging.getLogger("medkb.server")
WEB = Path(__file__).resolve().parent.parent / "web"


class NotFound(MedKBError):
    """The thing asked for (generation, entity, passage) does not exist: 404."""


class Doc(JSONResponse):
    """A contract document as it is (already JSON types): skips FastAPI's re-encoding."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def doc(result: Any) -> Doc:
    return Doc(result.to_dict() if hasattr(result, "to_dict") else result)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status,
                        headers=headers)


def create_app(kb: Any, config: ServerConfig | None = None) -> Any:
    """The ASGI app serving `kb` (a medkb.MedKB), wrapped in the key and body-size guard."""
    config = config or ServerConfig()
    gate = GenerationGate(config.queue_size)
    watcher = VersionWatcher(kb, config.poll_seconds)
    versions: dict[str, Any] = {}  # older versions opened for citations of past generations

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # noqa: ANN202
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = config.workers
        if config.poll_seconds > 0:
            watcher.start()
        try:
            yield
        finally:
            watcher.stop()

    app = FastAPI(title="MedKB", version="1", lifespan=lifespan,
                  description="Verified, cited answers from a medical knowledge base. Responses "
                              "are the `medkb ... --json` documents.")
    app.state.kb, app.state.gate, app.state.config = kb, gate, config

    # -- errors: clear 4xx, never a 500 ------------------------------------------------------
    @app.exception_handler(RequestValidationError)
    async def invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return error(400, "the request body is not valid JSON")
        parts = []
        for p in problems[:5]:
            where = ".".join(str(x) for x in p.get("loc", ()) if x != "body")
            parts.append(f"{where or 'body'}: {p.get('msg')}")
        return error(422, "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(QueueFull)
    async def queue_full(_req: Request, exc: QueueFull) -> JSONResponse:
        return error(503, str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(NotFound)
    async def not_found(_req: Request, exc: NotFound) -> JSONResponse:
        return error(404, str(exc))

    @app.exception_handler(BackendError)
    async def backend_failed(_req: Request, exc: BackendError) -> JSONResponse:
        return error(502, f"the answering backend failed: {exc}")

    @app.exception_handler(MedKBError)
    async def bad_input(_req: Request, exc: MedKBError) -> JSONResponse:
        return error(400, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error(500, f"internal error ({type(exc).__name__}); see the server log")

    # -- the JSON API ------------------------------------------------------------------------
    @app.get("/health", tags=["service"])
    def health() -> dict[str, Any]:
        return {"status": "ok", "kb_version": kb.store.current_name(),
                "generation_queue": gate.stats()}

    @app.get("/api/info", tags=["service"])
    def info() -> Doc:
        return doc({**kb.info().to_dict(), "backends": list(config.backends),
                    "default_backend": config.default_backend})

    @app.post("/api/search", tags=["retrieval"])
    def search(body: schemas.SearchRequest) -> Doc:
        filters = None
        if body.evidence_types or body.year_min is not None or body.year_max is not None:
            filters = {"evidence_types": body.evidence_types or [], "year_min": body.year_min,
                       "year_max": body.year_max}
        return doc(kb.search(body.query, body.k, method=body.method, filters=filters))

    @app.post("/api/ask", tags=["answering"])
    async def ask(body: schemas.AskRequest) -> Doc:
        backend = body.backend or config.default_backend
        if backend not in config.backends:
            raise MedKBError(f"unknown backend {backend!r}: this server answers with "
                             f"{', '.join(config.backends)}")
        result = await gate.run(kb.ask, body.question, policy=body.policy, backend=backend,
                                k=body.k)
        return doc(result)

    @app.post("/api/check", tags=["answering"])
    def check(body: schemas.CheckRequest) -> Doc:
        return doc(kb.check(body.question, body.answer, policy=body.policy, k=body.k))

    @app.post("/api/diagnose", tags=["answering"])
    def diagnose(body: schemas.DiagnoseRequest) -> Doc:
        return doc(kb.diagnose(body.text))

    @app.get("/api/audit/{generation_id}", tags=["answering"])
    def audit(generation_id: str = PathParam(max_length=64)) -> Doc:
        if not re.fullmatch(schemas.ID_PATTERN, generation_id):
            raise MedKBError(f"{generation_id[:64]!r} is not a generation id (hex, as `ask` "
                             f"returned it, or 'latest')")
        try:
            return doc(kb.audit(generation_id))
        except KBError as exc:
            if "no generation" in str(exc):
                raise NotFound(str(exc)) from exc
            raise

    @app.get("/api/graph/{entity}", tags=["graph"])
    def graph(entity: str = PathParam(min_length=1, max_length=200)) -> Doc:
        try:
            return doc(kb.graph(entity))
        except MedKBError as exc:
            if "no knowledge graph" not in str(exc):  # the KB has one; the name is unknown
                raise NotFound(str(exc)) from exc
            raise

    @app.get("/api/passage/{passage_id}", tags=["retrieval"])
    def passage(passage_id: str = PathParam(pattern=schemas.PASSAGE_PATTERN),
                version: str | None = Query(None, pattern=schemas.VERSION_PATTERN)) -> dict:
        """A passage's full text (to show a citation's span inside it), from the live version
        or from `version` (the one a past generation used)."""
        v = _version(kb, versions, version)
        p = v.passage(passage_id)
        if p is None:
            raise NotFound(f"no passage {passage_id} in version {v.id}")
        meta = v.doc_meta([p.doc_id]).get(p.doc_id, {})
        return {"passage_id": p.passage_id, "doc_id": p.doc_id, "text": p.text,
                "start": p.start, "end": p.end, "page": p.page, "section": p.section,
                "title": meta.get("title"), "source": meta.get("source"),
                "external_id": meta.get("external_id"), "kb_version": v.id}

    # -- the page ----------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=WEB), name="static")
    return Guard(app, max_body_bytes=config.max_body_bytes, api_key=config.api_key)


_VERSIONS_LOCK = threading.Lock()


def _version(kb: Any, cache: dict[str, Any], name: str | None) -> Any:
    live = kb.session().version
    if name is None or name == live.id:
        return live
    with _VERSIONS_LOCK:
        return _cached_version(kb, cache, name)


def _cached_version(kb: Any, cache: dict[str, Any], name: str) -> Any:
    if name not in cache:
        if name not in kb.store.version_names():
            raise NotFound(f"no version {name} in this KB (it may have been pruned)")
        if len(cache) >= 8:
            cache.pop(next(iter(cache))).close()
        cache[name] = kb.store.version(name)
    return cache[name]
