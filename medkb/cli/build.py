"""`medkb build`, `update`, `prune`: write KB versions."""

from __future__ import annotations

from pathlib import Path

import typer

from kb.config import DEFAULT_EMBEDDER
from medkb.cli import render
from medkb.cli.common import JsonOpt, KbOpt, emit, progress, run

IndexOpt = typer.Option("auto", "--index", help="Vector index: auto (exact below 50k passages, HNSW to 500k, IVF above), flat, hnsw or ivf (no graph in memory).")
PrecisionOpt = typer.Option("fp32", "--vector-precision", help="fp16 halves the vector index's memory.")
LlmSummaryOpt = typer.Option(False, "--llm-summaries", help="Abstractive document summaries from the LLM (slow; MEDKB_LLM_BASE_URL or the local model).")
KeepOpt = typer.Option(None, "--keep-versions",
                       help="After publishing, keep only this many newest versions (default: "
                            "all, until `medkb prune`; keep 2+ so readers of the previous "
                            "version are never cut off).")
GraphOpt = typer.Option([], "--graph", help="Extra rule file (TSV/CSV), repeatable.")
NoGraphOpt = typer.Option(False, "--no-graph", help="Skip the knowledge graph.")
EngineOpt = typer.Option("local", "--engine", help="Where the batch stages run: local (this process) or ray (Ray Data tasks and actors; pip install 'medkb[ray]').")
RayAddressOpt = typer.Option(None, "--ray-address", help="With --engine ray: auto (the cluster `ray start` runs here) or ray://HOST:PORT; default: a local Ray instance.")
EmbedBackendOpt = typer.Option("auto", "--embed-backend", envvar="MEDKB_EMBED_BACKEND", help="auto (the fastest backend that agrees with fp32 on this CPU, or one at least 1.2x as fast that retrieves as well as fp32, for a KB of its own; measured once per machine; a rebuild or update stays on a backend the KB's vectors may share), torch-fp32, torch-bf16, onnx-fp32, onnx-int8, openvino-fp32 or openvino-bf16; recorded in the manifest, searches use the same.")
RetractionsOpt = typer.Option([], "--retractions", help="Retraction list (CSV/TSV with a DOI, PMID or id column and a reason; a Retraction Watch export works), repeatable; kept by later updates.")


def _build(sources: list[Path], kb: Path | None, as_json: bool, embedder: str,
           graph: list[Path], no_graph: bool, update: bool, keep_versions: int | None,
           index: str, vector_precision: str, llm_summaries: bool,
           retractions: list[Path] | None = None, engine: str = "local",
           ray_address: str | None = None, embed_backend: str = "auto") -> None:
    import medkb

    settings = medkb.BuildSettings(embedder=embedder, graph=not no_graph,
                                   graph_files=tuple(graph), keep_versions=keep_versions,
                                   index=index, vector_precision=vector_precision,
                                   llm_summaries=llm_summaries,
                                   retractions=tuple(retractions or ()),
                                   engine=engine, ray_address=ray_address,
                                   extra={"embed_backend": embed_backend})
    cb, bars = progress()
    if bars is not None:
        bars.start()
    try:
        report = medkb.build(sources, kb, settings, progress=cb, update=update)
    finally:
        if bars is not None:
            bars.stop()
    emit(report, as_json, _report)


def _report(r: dict) -> None:
    from medkb.cli import impact

    render.build_report(r)
    if r.get("affected_generations"):
        print(f"{len(r['affected_generations'])} recorded generation(s) affected by this change "
              "(medkb audit --affected):")
        impact.generations(r["affected_generations"], limit=10)


def register(app: typer.Typer) -> None:
    @app.command()
    def build(
        sources: list[Path] = typer.Argument(..., help="Files or folders of papers."),
        kb: Path | None = KbOpt,
        as_json: bool = JsonOpt,
        embedder: str = typer.Option(DEFAULT_EMBEDDER, help="Embedding model id or local path."),
        graph: list[Path] = GraphOpt,
        no_graph: bool = NoGraphOpt,
        keep_versions: int | None = KeepOpt,
        index: str = IndexOpt,
        vector_precision: str = PrecisionOpt,
        llm_summaries: bool = LlmSummaryOpt,
        retractions: list[Path] = RetractionsOpt,
        engine: str = EngineOpt,
        ray_address: str | None = RayAddressOpt,
        embed_backend: str = EmbedBackendOpt,
    ) -> None:
        """Build a new KB version from SOURCES (reusing vectors of unchanged passages)."""
        run(lambda: _build(sources, kb, as_json, embedder, graph, no_graph, False,
                           keep_versions, index, vector_precision, llm_summaries, retractions,
                           engine, ray_address, embed_backend))

    @app.command()
    def update(
        sources: list[Path] = typer.Argument(..., help="The corpus as it is now."),
        kb: Path | None = KbOpt,
        as_json: bool = JsonOpt,
        embedder: str = typer.Option(DEFAULT_EMBEDDER, help="Must match the KB's embedder."),
        graph: list[Path] = GraphOpt,
        no_graph: bool = NoGraphOpt,
        keep_versions: int | None = KeepOpt,
        index: str = IndexOpt,
        vector_precision: str = PrecisionOpt,
        llm_summaries: bool = LlmSummaryOpt,
        retractions: list[Path] = RetractionsOpt,
        engine: str = EngineOpt,
        ray_address: str | None = RayAddressOpt,
        embed_backend: str = EmbedBackendOpt,
    ) -> None:
        """Publish a new version for the corpus as it is now: added, changed and removed
        documents are detected by content hash; only changed passages are embedded."""
        run(lambda: _build(sources, kb, as_json, embedder, graph, no_graph, True,
                           keep_versions, index, vector_precision, llm_summaries, retractions,
                           engine, ray_address, embed_backend))

    @app.command()
    def prune(kb: Path | None = KbOpt, keep: int = typer.Option(3, help="Versions to keep."),
              as_json: bool = JsonOpt) -> None:
        """Remove old KB versions (the live one always stays)."""

        def go() -> None:
            import medkb

            emit({"removed": medkb.MedKB(kb).prune(keep)}, as_json)

        run(go)
