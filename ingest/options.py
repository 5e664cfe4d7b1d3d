"""Build options and the defaults a build reads from the source tree."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.readers.limits import ReadLimits
from kb.config import DEFAULT_EMBEDDER, ChunkSettings

Progress = Callable[[str, int, int], None]  # stage, done, total


@dataclass(frozen=True)
class BuildOptions:
    embedder: str = DEFAULT_EMBEDDER
    # auto: the fastest backend that agrees with fp32 on this CPU (kb.embed_select); or
    # torch-fp32 | torch-bf16 | onnx-fp32 | onnx-int8 | openvino-fp32 | openvino-bf16 |
    # torch (bf16 where supported)
    embed_backend: str = "auto"
    chunking: ChunkSettings = field(default_factory=ChunkSettings)
    graph_seeds: Path | None = None  # corpora/graph; None: no curated graph
    graph_files: tuple[Path, ...] = ()  # user rule files (--graph FILE)
    extract: bool = True
    enrich: bool = True  # summaries, evidence types, topics
    engine: str = "local"  # local | ray (ingest.engines)
    ray_address: str | None = None  # None: a local Ray instance; "auto"; "ray://HOST:PORT"
    ray_cpus: int | None = None  # CPUs of a local Ray instance (None: all)
    limits: ReadLimits = field(default_factory=ReadLimits)  # sizes, PDF time and memory caps
    keep_versions: int | None = None  # after publishing, keep this many newest; None: all
    index_kind: str = "auto"  # flat | hnsw | ivf | auto (by size, kb.vectors)
    vector_precision: str = "fp32"  # fp16 halves the index's memory
    # Any object with generate(messages, max_new_tokens=): abstractive summaries instead of
    # extractive ones (the extractive summary stays the fallback when it fails).
    summary_backend: Any = field(default=None, compare=False)
    retractions: tuple[Path, ...] = ()  # user retraction lists (--retractions FILE)
    # After publishing: impact(kb, previous, version) -> the generations the change affects
    # (generation.impact.for_build; the application layer passes it, ingest cannot import it).
    impact: Any = field(default=None, compare=False)


def default_graph_seeds() -> Path | None:
    """corpora/graph next to the source tree, or in the working directory."""
    here = Path(__file__).resolve().parent.parent / "corpora" / "graph"
    for cand in (Path("corpora/graph"), here):
        if (cand / "hetionet_nodes.tsv").exists():
            return cand
    return None


def no_progress(stage: str, done: int, total: int) -> None:
    pass
