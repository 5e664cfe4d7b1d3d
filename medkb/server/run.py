"""Start the server: check the bind, warm the models, then hand the app to uvicorn."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from medkb.server.config import ServerConfig, check_bind


def serve(kb: Any, config: ServerConfig, *, say: Any = None) -> None:
    """Blocks until interrupted. Refuses (MedKBError) to bind beyond loopback without a key."""
    import uvicorn

    from medkb.server.app import create_app

    say = say or (lambda msg: print(msg, file=sys.stderr, flush=True))
    check_bind(config)
    # oneDNN keeps a compiled kernel and its buffers per input shape (1,024 by default); every
    # new sentence-batch shape grew a serving process by ~10 MB (measured). 32 bounds it.
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "32")
    _fewer_malloc_arenas()
    _torch_threads(config.threads)
    if config.warm:
        started = time.perf_counter()
        kb.warm()
        try:
            kb.diagnose("fever and cough")  # loads the differential's tables too
        except Exception:  # noqa: BLE001 - a build without the differential still serves
            pass
        say(f"medkb: KB {kb.store.current_name()} loaded in "
            f"{time.perf_counter() - started:.1f} s")
    app = create_app(kb, config)
    shown = "[::1]" if config.host == "::1" else config.host
    say(f"medkb: serving on http://{shown}:{config.port}/ (API docs at /docs)"
        + ("; API key required" if config.api_key else ""))
    uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level="warning",
                                  access_log=False, timeout_graceful_shutdown=10,
                                  h11_max_incomplete_event_size=64 * 1024)).run()


def _torch_threads(n: int) -> None:
    try:
        import torch
    except ImportError:  # a build without torch (ONNX embedder): nothing to set
        return
    torch.set_num_threads(n)


def _fewer_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each busy thread its own heap arena; a long-running server whose worker
    threads take turns on large, varying torch/numpy buffers then grows by fragmentation.
    Cap the arenas (what MALLOC_ARENA_MAX does), before any worker thread exists."""
    import ctypes
    import ctypes.util

    if os.environ.get("MALLOC_ARENA_MAX"):
        return  # the operator chose
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(ctypes.c_int(-8), ctypes.c_int(arenas))  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass  # not glibc
