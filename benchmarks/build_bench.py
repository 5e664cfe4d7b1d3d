"""Build benchmark: MedKB vs a plain LangChain pipeline vs raw sentence-transformers.

One run, the same documents, three pipelines back to back (DESIGN §10: ratios against peers
measured in the same run, not absolute times):

1. MedKB: `ingest.pipeline.build` into a fresh temporary KB with the real default embedder
   (all-MiniLM-L6-v2, bf16 autocast where the CPU supports it); again with the curated graph
   and entity extraction when `default_graph_seeds()` finds corpora/graph.
2. LangChain: PyMuPDFLoader for PDFs (other formats: LangChain Documents made from the text
   MedKB's own readers give, so both pipelines see the same text) ->
   RecursiveCharacterTextSplitter(1000, 200) -> HuggingFaceEmbeddings(same local model) ->
   FAISS.from_documents.
3. Raw sentence-transformers `encode` (fp32, batch 32) of exactly the passages MedKB built.

Model loading is outside the timings (each pipeline gets its own loaded, warmed-up model);
everything else (reading, chunking, embedding, indexing, writing) is inside. Other processes
on the machine skew the numbers, so the load average is recorded and `--repeat N` keeps the
best of N rounds.

    python benchmarks/build_bench.py                 # PubMedQA dev abstracts + CDC PDF
    python benchmarks/build_bench.py --limit 50      # quick: first 50 records per file
    python benchmarks/build_bench.py --repeat 3 --json
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_SOURCES = (
    ROOT / "corpora" / "literature" / "pubmedqa_dev_abstracts.xml",
    ROOT / "corpora" / "formats" / "pdf" / "cdc_outpatient_infection_prevention_guide_2016.pdf",
)
LC_CHUNK_SIZE, LC_CHUNK_OVERLAP = 1000, 200
RAW_BATCH = 32


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


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
        out["write"] = round(self.t0 + total - prev, 3)
        return out


def run_medkb(files: Sequence[Path], embedder: Any, graph_seeds: Path | None,
              tmp: Path) -> tuple[int, float, dict[str, Any], list[str]]:
    """Build a fresh KB; passages, wall seconds, details, and the passages' texts."""
    from ingest.pipeline import BuildOptions, build
    from kb.store import KnowledgeBase

    kb_dir = Path(tempfile.mkdtemp(prefix="medkb-bench-", dir=tmp))
    try:
        clock = StageClock()
        t0 = time.perf_counter()
        report = build(files, kb_dir, BuildOptions(graph_seeds=graph_seeds),
                       embedder=embedder, progress=clock)
        seconds = time.perf_counter() - t0
        version = KnowledgeBase(kb_dir).current()
        texts = [p.text for p in version.iter_passages()]
        details = {
            "documents": report["documents"],
            "failed": report["failed"],
            "entities": report.get("entities", 0),
            "edges": report.get("edges", 0),
            "precision": version.embedder.get("precision"),
            "stages_seconds": clock.split(seconds),
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
    return len(chunks), seconds, {"loaded_documents": len(docs), "indexed": store.index.ntotal}


def run_raw(model: Any, texts: list[str]) -> tuple[int, float]:
    t0 = time.perf_counter()
    model.encode(texts, batch_size=RAW_BATCH, show_progress_bar=False, convert_to_numpy=True)
    return len(texts), time.perf_counter() - t0


# --------------------------------------------------------------------------- main


def load_models(model_name: str) -> tuple[Any, Any, Any, str, dict[str, float]]:
    """Three separately loaded, warmed-up copies of the embedder (one per pipeline)."""
    from langchain_huggingface import HuggingFaceEmbeddings
    from sentence_transformers import SentenceTransformer

    from kb.embedder import SentenceTransformerEmbedder
    from kb.models import embedder_path

    path = embedder_path(model_name)
    secs: dict[str, float] = {}
    t = time.perf_counter()
    medkb = SentenceTransformerEmbedder(model_name)
    medkb.embed(["warm-up passage about asthma"])
    secs["medkb"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    lc = HuggingFaceEmbeddings(model_name=path, model_kwargs={"device": "cpu"})
    lc.embed_documents(["warm-up passage about asthma"])
    secs["langchain"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    raw = SentenceTransformer(path, device="cpu")
    raw.encode(["warm-up passage about asthma"], show_progress_bar=False)
    secs["raw_st"] = round(time.perf_counter() - t, 3)
    return medkb, lc, raw, path, secs


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def bench(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from ingest.pipeline import default_graph_seeds

    load_start = loadavg()
    with tempfile.TemporaryDirectory(prefix="medkb-build-bench-") as tmp_name:
        tmp = Path(tmp_name)
        files = prepare_sources(args.sources, args.limit, tmp)
        say(f"sources: {', '.join(f.name for f in files)}")
        say("loading models ...")
        medkb_emb, lc_emb, raw_model, model_path, load_secs = load_models(args.model)

        medkb = Result("MedKB build", "passages")
        graph = Result("MedKB build + graph", "passages")
        lc = Result("LangChain + FAISS", "chunks")
        raw = Result(f"raw sentence-transformers fp32 (batch {RAW_BATCH})", "passages")
        seeds: Path | None = None
        if args.graph:
            try:
                seeds = default_graph_seeds()
                if seeds is None:
                    graph.skipped = "no corpora/graph found"
            except Exception as exc:  # the graph is optional here: note it and go on
                graph.skipped = f"default_graph_seeds() failed: {exc!r}"
        else:
            graph.skipped = "--no-graph"

        texts: list[str] = []
        rounds_load: list[list[float] | None] = []
        for r in range(args.repeat):
            rounds_load.append(loadavg())
            say(f"round {r + 1}/{args.repeat}: MedKB build ...")
            before = loadavg()
            n, s, details, texts = run_medkb(files, medkb_emb, None, tmp)
            medkb.record(n, s, loadavg_before=before, **details)
            say(f"  {n} passages in {s:.1f}s")
            if seeds is not None and not graph.skipped:
                say(f"round {r + 1}/{args.repeat}: MedKB build + graph ...")
                try:
                    before = loadavg()
                    n, s, details, _ = run_medkb(files, medkb_emb, seeds, tmp)
                    graph.record(n, s, loadavg_before=before, **details)
                    say(f"  {n} passages in {s:.1f}s")
                except Exception as exc:  # graph extraction is still being finished
                    graph.skipped = f"build with graph failed: {exc!r}"
                    say(f"  skipped: {graph.skipped}")
            say(f"round {r + 1}/{args.repeat}: LangChain ...")
            before = loadavg()
            n, s, details = run_langchain(files, lc_emb)
            lc.record(n, s, loadavg_before=before, **details)
            say(f"  {n} chunks in {s:.1f}s")
            say(f"round {r + 1}/{args.repeat}: raw sentence-transformers ...")
            before = loadavg()
            n, s = run_raw(raw_model, texts)
            raw.record(n, s, loadavg_before=before)
            say(f"  {n} passages in {s:.1f}s")

    results = [medkb, graph, lc, raw]
    return {
        "sources": [str(f) for f in args.sources],
        "limit": args.limit,
        "repeat": args.repeat,
        "model": args.model,
        "model_path": model_path,
        "medkb_precision": medkb.extra.get("precision"),
        "host": {
            "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "loadavg_start": load_start, "loadavg_rounds": rounds_load,
            "loadavg_end": loadavg(),
        },
        "model_load_seconds": load_secs,
        "results": [x.as_dict() for x in results],
        "ratios": {
            "medkb_vs_langchain_throughput": ratio(medkb.per_second, lc.per_second),
            "medkb_vs_raw_st_throughput": ratio(medkb.per_second, raw.per_second),
            "langchain_seconds_over_medkb_seconds": ratio(lc.seconds if lc.rounds else None,
                                                          medkb.seconds if medkb.rounds else None),
            "medkb_graph_vs_langchain_throughput": ratio(graph.per_second, lc.per_second),
        },
    }


def render(out: dict[str, Any]) -> str:
    host = out["host"]
    res = {r["pipeline"]: r for r in out["results"]}
    medkb = out["results"][0]
    lines = [
        "MedKB build benchmark (same documents, same run)",
        f"documents: {medkb.get('documents')}  from {', '.join(Path(s).name for s in out['sources'])}"
        + (f"  (--limit {out['limit']} records per file)" if out["limit"] else ""),
        f"model: {out['model']}  MedKB precision: {out['medkb_precision']}",
        f"host: {host['cpus']} CPUs, torch threads {host['torch_threads']}, "
        f"load avg start {host['loadavg_start']} end {host['loadavg_end']}; "
        f"best of {out['repeat']}",
        "",
        f"{'pipeline':<42} {'items':>14} {'seconds':>9} {'items/s':>9}  load avg before",
        "-" * 94,
    ]
    for name, r in res.items():
        if r.get("skipped"):
            lines.append(f"{name:<42} {'skipped: ' + r['skipped']}")
            continue
        items = f"{r['items']:,} {r['unit']}"
        load = r.get("loadavg_before")
        lines.append(f"{name:<42} {items:>14} {r['seconds']:>9.2f} {r['per_second']:>9.1f}  "
                     + (f"{load[0]:.2f}" if load else "n/a"))
    lines.append("")
    st = medkb.get("stages_seconds") or {}
    if st:
        lines.append("MedKB stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in st.items()))
    ratios = out["ratios"]

    def fmt(x: float | None) -> str:
        return f"{x:.2f}x" if x is not None else "n/a"

    lines += [
        f"MedKB / LangChain   (passages/s vs chunks/s): {fmt(ratios['medkb_vs_langchain_throughput'])}",
        f"MedKB / raw ST fp32 (passages/s):             {fmt(ratios['medkb_vs_raw_st_throughput'])}",
        f"LangChain seconds / MedKB seconds (same docs): {fmt(ratios['langchain_seconds_over_medkb_seconds'])}",
    ]
    if ratios.get("medkb_graph_vs_langchain_throughput") is not None:
        lines.append("MedKB + graph / LangChain (passages/s vs chunks/s): "
                     f"{fmt(ratios['medkb_graph_vs_langchain_throughput'])}")
    lines.append(f"model load (s, excluded): {out['model_load_seconds']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", nargs="+", type=Path, default=list(DEFAULT_SOURCES),
                    help="files or folders (default: PubMedQA dev abstracts + the CDC PDF)")
    ap.add_argument("--limit", type=int, default=None,
                    help="keep the first N records of each PubMed XML / JSONL file (quick run)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds; the best of each is kept")
    ap.add_argument("--no-graph", dest="graph", action="store_false",
                    help="skip the MedKB build with graph extraction")
    ap.add_argument("--model", default=None, help="embedder (default: MedKB's default)")
    ap.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    if args.limit is not None and args.limit < 1:
        ap.error("--limit must be at least 1")
    if args.model is None:
        from kb.config import DEFAULT_EMBEDDER

        args.model = DEFAULT_EMBEDDER

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for handler in logging.getLogger().handlers:  # bm25s sets its own logger to DEBUG
        handler.setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    out = bench(args)
    print(json.dumps(out, indent=2) if args.json else render(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
