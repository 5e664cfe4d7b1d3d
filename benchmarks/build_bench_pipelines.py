"""The build benchmark's parts: sources, timed pipelines and token counts (build_bench.py runs
them; build_bench_report.py prints the result)."""

from __future__ import annotations

import gzip
import importlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LC_CHUNK_SIZE, LC_CHUNK_OVERLAP = 1000, 200
RAW_BATCH = 32
# What a MedKB build imports on first use. Imported before the timings, as LangChain's
# pipeline imports its modules before its clock starts (model loading is excluded for both).
BUILD_MODULES = (
    "ingest.pipeline", "ingest.flow", "ingest.engines", "ingest.stages", "ingest.chunking",
    "ingest.enrichment", "ingest.classify", "ingest.summarise", "ingest.spill", "ingest.reuse",
    "ingest.retractions", "ingest.readers", "ingest.readers.sandbox", "ingest.curated",
    "langchain_text_splitters", "kb.vectors", "kb.vector_spill", "kb.sparse", "kb.sparse_build",
    "kb.store", "kb.graph", "kb.vocabulary", "faiss", "bm25s", "lxml.etree",
)


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def warm_imports() -> list[str]:
    """Import the build's modules; the ones missing here (optional) are returned."""
    missing = []
    for name in BUILD_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def warm_up_texts(n: int = 48) -> list[str]:
    """Passages of a default build's lengths (the calibration's timing set), to warm every
    pipeline's model alike on the shapes it will see."""
    from kb.embed_select import load_timing

    timing = load_timing()
    texts = list(timing["passages"]) if timing else []
    step = max(1, len(texts) // n)
    return texts[::step][:n] or ["warm-up passage about asthma"]


# --------------------------------------------------------------------------- sources


def prepare_sources(sources: Sequence[Path], limit: int | None, tmp: Path) -> list[Path]:
    """The files to benchmark. With `limit`, record files (PubMed XML, JSONL) are cut to
    their first `limit` records in `tmp`; single-document files are used whole."""
    from ingest.readers import discover, format_of

    files, missing = discover([Path(s) for s in sources])
    if missing:
        raise SystemExit("\n".join(f"error: {err}" for _, err in missing))
    if not limit:
        return files
    out: list[Path] = []
    for i, f in enumerate(files):
        kind = format_of(f)
        target = tmp / "sources" / f"{i:03d}-{f.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == "xml":
            from lxml import etree

            from ingest.readers._xml import parse_xml

            root = parse_xml(f)
            if root.tag == "PubmedArticleSet":
                for extra in list(root)[limit:]:
                    root.remove(extra)
                target.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
                out.append(target)
                continue
        elif kind == "jsonl":
            opener: Callable[..., Any] = gzip.open if f.name.lower().endswith(".gz") else open
            with opener(f, "rt", encoding="utf-8") as src, opener(target, "wt", encoding="utf-8") as dst:
                kept = 0
                for line in src:
                    if kept >= limit:
                        break
                    if line.strip():
                        dst.write(line)
                        kept += 1
            out.append(target)
            continue
        out.append(f)
    return out


# --------------------------------------------------------------------------- results


@dataclass
class Result:
    name: str
    unit: str  # "passages" or "chunks"
    items: int = 0
    seconds: float = float("inf")
    rounds: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None

    @property
    def per_second(self) -> float | None:
        if self.skipped or not self.rounds or self.seconds <= 0:
            return None
        return self.items / self.seconds

    def record(self, items: int, seconds: float, **extra: Any) -> None:
        self.rounds.append(round(seconds, 3))
        if seconds < self.seconds:
            self.items, self.seconds = items, seconds
            self.extra.update(extra)

    def as_dict(self) -> dict[str, Any]:
        rate = self.per_second
        return {
            "pipeline": self.name, "unit": self.unit, "items": self.items,
            "seconds": round(self.seconds, 3) if self.rounds else None,
            "per_second": round(rate, 2) if rate is not None else None,
            "rounds_seconds": self.rounds, **self.extra,
            **({"skipped": self.skipped} if self.skipped else {}),
        }


# --------------------------------------------------------------------------- pipelines


class StageClock:
    """Progress callback that splits a build's wall time at each stage's last event."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.last: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.last[stage] = time.perf_counter()

    def split(self, total: float) -> dict[str, float]:
        out: dict[str, float] = {}
        prev = self.t0
        for stage, t in sorted(self.last.items(), key=lambda kv: kv[1]):
            out[stage] = round(t - prev, 3)
            prev = t
        out["after_last_event"] = round(self.t0 + total - prev, 3)
        return out


class TimedEmbedder:
    """The build's embedder, timing the passage embedding calls (the embedder thread's): its
    busy time inside the build, in the same seconds and under the same load as the wall time."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def embed(self, texts: Sequence[str], **kwargs: Any) -> Any:
        import threading

        if threading.current_thread().name != "medkb-embed":  # e.g. classifier prototypes
            return self._inner.embed(texts, **kwargs)
        t = time.perf_counter()
        try:
            return self._inner.embed(texts, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t


def run_medkb(files: Sequence[Path], embedder: Any, graph_seeds: Path | None,
              tmp: Path) -> tuple[int, float, dict[str, Any], list[str]]:
    """Build a fresh KB; passages, wall seconds, details, and the passages' texts."""
    from ingest.pipeline import BuildOptions, build
    from kb.store import KnowledgeBase

    kb_dir = Path(tempfile.mkdtemp(prefix="medkb-bench-", dir=tmp))
    try:
        clock = StageClock()
        timed = TimedEmbedder(embedder)
        t0 = time.perf_counter()
        report = build(files, kb_dir, BuildOptions(graph_seeds=graph_seeds),
                       embedder=timed, progress=clock)
        seconds = time.perf_counter() - t0
        version = KnowledgeBase(kb_dir).current()
        texts = [p.text for p in version.iter_passages()]
        details = {
            "documents": report["documents"],
            "failed": report["failed"],
            "entities": report.get("entities", 0),
            "edges": report.get("edges", 0),
            "precision": version.embedder.get("precision"),
            "backend": version.embedder.get("backend"),
            "stages_seconds": clock.split(seconds),
            "embedder_busy_seconds": round(timed.seconds, 3),
            "embedder_busy_share": round(timed.seconds / seconds, 3),
        }
        version.close()
        return int(report["passages"]), seconds, details, texts
    finally:
        shutil.rmtree(kb_dir, ignore_errors=True)


def run_langchain(files: Sequence[Path], embeddings: Any) -> tuple[int, float, dict[str, Any]]:
    from langchain_community.document_loaders import PyMuPDFLoader
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document as LCDocument
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from ingest.readers import format_of, read_source

    t0 = time.perf_counter()
    docs: list[Any] = []
    for f in files:
        if format_of(f) == "pdf":
            docs.extend(PyMuPDFLoader(str(f)).load())
        else:
            docs.extend(LCDocument(page_content=d.text, metadata={"source": d.source})
                        for d in read_source(f))
    splitter = RecursiveCharacterTextSplitter(chunk_size=LC_CHUNK_SIZE,
                                              chunk_overlap=LC_CHUNK_OVERLAP)
    chunks = splitter.split_documents(docs)
    store = FAISS.from_documents(chunks, embeddings)
    seconds = time.perf_counter() - t0
    return len(chunks), seconds, {"loaded_documents": len(docs), "indexed": store.index.ntotal,
                                  "texts": [c.page_content for c in chunks]}


def run_raw(model: Any, texts: list[str]) -> tuple[int, float]:
    t0 = time.perf_counter()
    model.encode(texts, batch_size=RAW_BATCH, show_progress_bar=False, convert_to_numpy=True)
    return len(texts), time.perf_counter() - t0


def run_raw_same(embedder: Any, texts: list[str]) -> tuple[int, float]:
    """MedKB's embedder alone (its own `embed`, same backend and batch) on the same texts."""
    t0 = time.perf_counter()
    embedder.embed(texts)
    return len(texts), time.perf_counter() - t0


def count_tokens(tokenizer: Any, texts: Sequence[str], window: int) -> dict[str, int]:
    """Tokens as the model sees them (with [CLS]/[SEP], cut at `window`), and what is cut."""
    ids = tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
    full = [len(x) for x in ids]
    return {"tokens_embedded": sum(min(n, window) for n in full),
            "tokens_cut_off": sum(max(0, n - window) for n in full),
            "texts_cut": sum(1 for n in full if n > window)}
