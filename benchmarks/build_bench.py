"""Build benchmark: MedKB vs a plain LangChain pipeline vs the raw embedder, same run.

One run, the same documents, the pipelines back to back (DESIGN §10: ratios against peers
measured in the same run, not absolute times):

1. MedKB: `ingest.pipeline.build` into a fresh temporary KB with the real default embedder on
   the backend the build chooses for this CPU (kb.embed_select: the fastest of torch fp32/bf16,
   ONNX Runtime fp32/int8 and OpenVINO fp32/bf16 that agrees with fp32, or int8 where it is
   1.2x faster and retrieves as well as fp32; `--backend` forces one); again with the
   curated graph and entity extraction when `default_graph_seeds()` finds corpora/graph.
2. LangChain: PyMuPDFLoader for PDFs (other formats: LangChain Documents made from the text
   MedKB's own readers give, so both pipelines see the same text) ->
   RecursiveCharacterTextSplitter(1000, 200) -> HuggingFaceEmbeddings(same local model) ->
   FAISS.from_documents.
3. The raw embedder on exactly the passages MedKB built: the same backend as MedKB (its
   `embed()` alone, no pipeline), and sentence-transformers fp32 `encode` (batch 32).

Tokens: each pipeline's texts are counted in the model's tokens as the model sees them (cut at
its 256-token window: LangChain's 1000-character chunks often exceed it, and the cut-off part
is never embedded), so items/s across pipelines can be read against tokens/s.

Model loading, imports and the one-off backend calibration are outside the timings (each
pipeline gets its own loaded model, warmed up on the same 48 passages of a build's lengths;
MedKB's build modules are imported beforehand as LangChain's are); everything else (reading,
the PDF parser's child process, chunking, embedding, enrichment, indexing, writing) is inside. Other processes on the machine skew the numbers, so the CPU, the load
average and `--repeat N` (best of N rounds) are reported.

    python benchmarks/build_bench.py                 # PubMedQA dev abstracts + CDC PDF
    python benchmarks/build_bench.py --limit 50      # quick: first 50 records per file
    python benchmarks/build_bench.py --repeat 3 --json --backend onnx-fp32
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "benchmarks"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from build_bench_pipelines import (  # noqa: E402
    RAW_BATCH,
    Result,
    count_tokens,
    loadavg,
    prepare_sources,
    run_langchain,
    run_medkb,
    run_raw,
    run_raw_same,
    warm_imports,
    warm_up_texts,
)

DEFAULT_SOURCES = (
    ROOT / "corpora" / "literature" / "pubmedqa_dev_abstracts.xml",
    ROOT / "corpora" / "formats" / "pdf" / "cdc_outpatient_infection_prevention_guide_2016.pdf",
)


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_models(model_name: str, backend: str) -> tuple[Any, Any, Any, Any, str, dict[str, Any]]:
    """Separately loaded, warmed-up copies of the embedder (one per pipeline)."""
    from langchain_huggingface import HuggingFaceEmbeddings
    from sentence_transformers import SentenceTransformer

    from kb.embedder import backend_name, make_backend, make_embedder
    from kb.models import embedder_path

    path = embedder_path(model_name)
    warm = warm_up_texts()  # every model warmed alike, on passages of a build's lengths
    secs: dict[str, Any] = {}
    t = time.perf_counter()
    medkb = make_embedder(model_name, backend=backend)  # "auto": calibrated once per machine
    medkb.embed(warm)
    secs["medkb (incl. calibration when not cached)"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    same = make_backend(model_name, backend_name(medkb))
    same.embed(warm)
    secs["raw_same_backend"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    lc = HuggingFaceEmbeddings(model_name=path, model_kwargs={"device": "cpu"})
    lc.embed_documents(warm)
    secs["langchain"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    raw = SentenceTransformer(path, device="cpu")
    raw.encode(warm, show_progress_bar=False)
    secs["raw_st"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    missing = warm_imports()
    secs["medkb imports"] = round(time.perf_counter() - t, 3)
    if missing:
        secs["medkb imports missing"] = missing
    return medkb, same, lc, raw, path, secs


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def bench(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from ingest.pipeline import default_graph_seeds
    from kb.embed_select import cpu_info
    from kb.embedder import backend_name

    load_start = loadavg()
    with tempfile.TemporaryDirectory(prefix="medkb-build-bench-") as tmp_name:
        tmp = Path(tmp_name)
        files = prepare_sources(args.sources, args.limit, tmp)
        say(f"sources: {', '.join(f.name for f in files)}")
        say("loading models (and calibrating the embedding backend once per machine) ...")
        medkb_emb, same_emb, lc_emb, raw_model, model_path, load_secs = \
            load_models(args.model, args.backend)
        chosen = backend_name(medkb_emb)
        say(f"MedKB embeds with {chosen}")

        medkb = Result("MedKB build", "passages")
        graph = Result("MedKB build + graph", "passages")
        lc = Result("LangChain + FAISS", "chunks")
        same = Result(f"raw embedder, same backend ({chosen})", "passages")
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
        if not args.raw_fp32:
            raw.skipped = "--no-raw-fp32"

        texts: list[str] = []
        lc_texts: list[str] = []
        rounds_load: list[list[float] | None] = []
        for r in range(args.repeat):
            rounds_load.append(loadavg())
            say(f"round {r + 1}/{args.repeat}: MedKB build ...")
            before = loadavg()
            n, s, details, texts = run_medkb(files, medkb_emb, None, tmp)
            medkb.record(n, s, loadavg_before=before, loadavg_after=loadavg(), **details)
            say(f"  {n} passages in {s:.1f}s")
            say(f"round {r + 1}/{args.repeat}: raw embedder, same backend ...")
            before = loadavg()
            n, s = run_raw_same(same_emb, texts)
            same.record(n, s, loadavg_before=before, loadavg_after=loadavg())
            say(f"  {n} passages in {s:.1f}s")
            if seeds is not None and not graph.skipped:
                say(f"round {r + 1}/{args.repeat}: MedKB build + graph ...")
                try:
                    before = loadavg()
                    n, s, details, _ = run_medkb(files, medkb_emb, seeds, tmp)
                    graph.record(n, s, loadavg_before=before, loadavg_after=loadavg(), **details)
                    say(f"  {n} passages in {s:.1f}s")
                except Exception as exc:  # graph extraction is still being finished
                    graph.skipped = f"build with graph failed: {exc!r}"
                    say(f"  skipped: {graph.skipped}")
            say(f"round {r + 1}/{args.repeat}: LangChain ...")
            before = loadavg()
            n, s, details = run_langchain(files, lc_emb)
            lc_texts = details.pop("texts")
            lc.record(n, s, loadavg_before=before, loadavg_after=loadavg(), **details)
            say(f"  {n} chunks in {s:.1f}s")
            if not raw.skipped:
                say(f"round {r + 1}/{args.repeat}: raw sentence-transformers fp32 ...")
                before = loadavg()
                n, s = run_raw(raw_model, texts)
                raw.record(n, s, loadavg_before=before, loadavg_after=loadavg())
                say(f"  {n} passages in {s:.1f}s")

    window = int(raw_model.max_seq_length)
    mine = count_tokens(raw_model.tokenizer, texts, window)
    tokens = {r.name: mine for r in (medkb, graph, same, raw)}
    tokens[lc.name] = count_tokens(raw_model.tokenizer, lc_texts, window)
    results = [medkb, graph, lc, same, raw]
    for res in results:
        if res.rounds and not res.skipped:
            res.extra.update(tokens[res.name])
            res.extra["tokens_per_second"] = round(tokens[res.name]["tokens_embedded"] / res.seconds, 1)
    selection = getattr(medkb_emb, "selection", None) or {}

    def secs(r: Result) -> float | None:
        return r.seconds if r.rounds and not r.skipped else None

    return {
        "sources": [str(f) for f in args.sources],
        "limit": args.limit,
        "repeat": args.repeat,
        "model": args.model,
        "model_path": model_path,
        "cpu": cpu_info(),
        "backend": {"requested": args.backend, "chosen": chosen,
                    "precision": medkb.extra.get("precision"),
                    "calibration": selection.get("calibration")},
        "host": {
            "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "loadavg_start": load_start, "loadavg_rounds": rounds_load,
            "loadavg_end": loadavg(),
        },
        "model_load_seconds": load_secs,
        "results": [x.as_dict() for x in results],
        "ratios": {
            "langchain_seconds_over_medkb_seconds": ratio(secs(lc), secs(medkb)),
            "langchain_seconds_over_medkb_graph_seconds": ratio(secs(lc), secs(graph)),
            "medkb_vs_raw_same_backend_throughput": ratio(medkb.per_second, same.per_second),
            "medkb_vs_langchain_throughput": ratio(medkb.per_second, lc.per_second),
            "medkb_vs_langchain_tokens_per_second": ratio(
                medkb.extra.get("tokens_per_second"), lc.extra.get("tokens_per_second")),
            "medkb_vs_raw_st_fp32_throughput": ratio(medkb.per_second, raw.per_second),
            "medkb_graph_vs_langchain_throughput": ratio(graph.per_second, lc.per_second),
        },
    }


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
    ap.add_argument("--backend", default="auto",
                    help="MedKB's embedding backend: auto (calibrated per CPU), torch-fp32, "
                         "torch-bf16, onnx-fp32, onnx-int8, openvino-fp32 or openvino-bf16")
    ap.add_argument("--no-raw-fp32", dest="raw_fp32", action="store_false",
                    help="skip the raw sentence-transformers fp32 reference row")
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
    from build_bench_report import render

    out = bench(args)
    print(json.dumps(out, indent=2) if args.json else render(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
