"""The Ray engine builds the same KB as the local engine (DESIGN §9), also when a worker dies.

A local Ray instance with 2 CPUs, the hash embedder, a small mixed corpus (JSONL records in
two files, PubMed XML, JATS). Skipped when Ray is not installed (`pip install 'medkb[ray]'`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from medkb_testutil import GRAPH_DIR, ROOT

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=256 * 1024 * 1024)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("corpus")
    lines = (ROOT / "corpora" / "literature" / "medquad_subset.jsonl").read_text().splitlines()
    (d / "a.jsonl").write_text("\n".join(lines[:40]) + "\n")
    (d / "b.jsonl").write_text("\n".join(lines[40:80]) + "\n")
    shutil.copy(ROOT / "corpora" / "formats" / "pubmed" / "pubmed-29768149.xml", d)
    shutil.copy(ROOT / "corpora" / "formats" / "jats" / "1472-6831-8-11.nxml", d)
    return d


def _build(sources: Path, kb: Path, engine: str, *, update: bool = False) -> dict:
    from ingest.pipeline import BuildOptions, build

    return build([sources], kb, BuildOptions(embedder="hash-256", graph_seeds=GRAPH_DIR,
                                             engine=engine), update=update)


def _same(a: Path, b: Path) -> dict:
    from kb.compare import compare_versions
    from kb.store import KnowledgeBase

    return compare_versions(KnowledgeBase(a).current(), KnowledgeBase(b).current())


def test_ray_build_equals_local(ray_instance, corpus: Path, tmp_path: Path) -> None:
    local = _build(corpus, tmp_path / "local", "local")
    remote = _build(corpus, tmp_path / "ray", "ray")
    assert local["passages"] > 100 and local["edges"] > 0
    for key in ("documents", "passages", "entities", "edges", "failed", "embedded"):
        assert local[key] == remote[key], key
    result = _same(tmp_path / "local", tmp_path / "ray")
    assert result["same"], result["differences"]
    manifest = json.loads(next((tmp_path / "ray" / "versions").glob("v*/manifest.json")).read_text())
    assert manifest["engine"] == "ray"

    # update: one file changed, one removed; unchanged passages are reused on both engines
    lines = (corpus / "a.jsonl").read_text().splitlines()
    changed = tmp_path / "changed"
    changed.mkdir()
    (changed / "a.jsonl").write_text("\n".join(lines[:30]) + "\n")
    shutil.copy(corpus / "pubmed-29768149.xml", changed)
    up_local = _build(changed, tmp_path / "local", "local", update=True)
    up_ray = _build(changed, tmp_path / "ray", "ray", update=True)
    assert up_ray["reused_vectors"] == up_local["reused_vectors"] > 0
    assert up_ray["embedded"] == up_local["embedded"]
    assert up_ray["reused_extractions"] == up_local["reused_extractions"] > 0
    assert up_ray["removed"] == up_local["removed"] > 0
    result = _same(tmp_path / "local", tmp_path / "ray")
    assert result["same"], result["differences"]


def test_worker_killed_mid_build(ray_instance, corpus: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """An embedding actor's process dies (exit 137, like kill -9) on its first batch, after
    reading and chunking are done: Ray starts a new actor and runs the batch again; the KB
    is complete and equal to the local build."""
    from ingest.ray_engine import FAULT_ENV

    _build(corpus, tmp_path / "local", "local")
    marker = tmp_path / "killed"
    monkeypatch.setenv(FAULT_ENV, f"embed:1:{marker}")
    report = _build(corpus, tmp_path / "ray", "ray")
    assert marker.exists(), "the worker was never killed"
    assert "killed at batch 1" in marker.read_text()
    assert report["failed"] == []
    result = _same(tmp_path / "local", tmp_path / "ray")
    assert result["same"], result["differences"]
