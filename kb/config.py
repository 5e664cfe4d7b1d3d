"""Settings and well-known paths. Nothing here reads the environment at import time."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
DEFAULT_GENERATOR = "SmolLM2-135M-Instruct"


def kb_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """`--kb`, else $MEDKB_HOME, else ./medkb-data."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("MEDKB_HOME")
    return Path(env) if env else Path("medkb-data")


def cache_dir() -> Path:
    """Where provisioned models live: $MEDKB_CACHE, else $XDG_CACHE_HOME/medkb, else ~/.cache/medkb."""
    env = os.environ.get("MEDKB_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "medkb"


@dataclass(frozen=True)
class ChunkSettings:
    """Passage size in embedder tokens. MiniLM truncates at 256 word pieces."""

    chunk_tokens: int = 200
    overlap_tokens: int = 32
