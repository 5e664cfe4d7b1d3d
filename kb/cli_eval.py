"""`medkb eval ...`: measure retrieval on labelled data.

Registered by kb.cli. Imports stay inside the commands so `medkb --help` stays instant.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

eval_app = typer.Typer(no_args_is_help=True, help="Measure retrieval on labelled data.")

DEFAULT_PQA = "pubmedqa_pqal_dev.json"
DEFAULT_PQA_XML = Path("corpora") / "literature" / "pubmedqa_dev_abstracts.xml"


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")


def _print_table(d: dict[str, Any]) -> None:
    from retrieval.evaluate import METRIC_NAMES

    print(f"{d['dataset']}: {d['n_queries']} queries, {d['passages']} passages, "
          f"KB {d['kb_version']} ({d['embedder']})")
    print(f"{'method':<8}" + "".join(f"{m:>9}" for m in METRIC_NAMES))
    for method, m in d["methods"].items():
        print(f"{method:<8}" + "".join(f"{m[k]:>9.4f}" for k in METRIC_NAMES))
    f = d["fusion"]
    print(f"hybrid: {f['fusion']} fusion, dense weight {f['dense_weight']}, sparse weight "
          f"{f['sparse_weight']}, rrf_k {f['rrf_k']}, entity boost {f['entity_boost']}, "
          f"mmr lambda {f['mmr_lambda']}")
    if d.get("tuning"):
        b = d["tuning"]["best"]
        print(f"best on this set by {d['tuning']['objective']}: {b['config']} -> {b['metrics']}")
    if d.get("answers"):
        a = d["answers"]
        print(f"yes/no/maybe accuracy ({a['backend']}, {a['n']} questions, top {a['k']} "
              f"passages): {a['accuracy']:.4f}; majority baseline ({a['majority_label']}) "
              f"{a['majority_baseline']:.4f}; unparsed replies {a['unparsed']}")
    if d.get("chart"):
        print(f"chart: {d['chart']}")


def _kb_for(evalset: Any, kb: Path | None, embedder: str) -> Any:
    """Reuse --kb when it holds a KB, else build one from the set's corpus (into --kb or a
    temporary folder)."""
    import tempfile

    from kb.errors import MedKBError
    from kb.store import KnowledgeBase

    if kb is not None and KnowledgeBase(kb).exists():
        return KnowledgeBase(kb).current()
    if not evalset.corpus:
        raise MedKBError("no corpus to build a KB from: give --kb with a built KB")
    from ingest.pipeline import BuildOptions, build, default_graph_seeds

    root = kb or Path(tempfile.mkdtemp(prefix="medkb-eval-"))
    print(f"building a KB from {', '.join(map(str, evalset.corpus))} into {root}",
          file=sys.stderr)
    # Like `medkb build`: with the curated graph when it is at hand (the entity boost uses it).
    seeds = None if embedder.startswith("hash-") else default_graph_seeds()
    build(list(evalset.corpus), root, BuildOptions(embedder=embedder, graph_seeds=seeds))
    return KnowledgeBase(root).current()


def _run_eval(evalset: Any, kb: Path | None, embedder: str, as_json: bool, do_tune: bool,
              chart: Path | None, fusion_opts: dict[str, Any], answers: Any = None) -> None:
    from dataclasses import replace

    from kb.cli import _emit
    from retrieval import evaluate as ev
    from retrieval.search import Searcher

    version = _kb_for(evalset, kb, embedder)
    searcher = Searcher(version)
    overrides = {k: v for k, v in fusion_opts.items() if v is not None}
    if overrides:
        searcher.config = replace(searcher.config, **overrides)

    def tick(done: int, total: int) -> None:
        print(f"[queries] {done}/{total}", file=sys.stderr, flush=True)

    result = ev.evaluate(searcher, evalset, progress=tick)
    if do_tune:
        tuning = ev.tune(searcher, evalset)
        result["tuning"] = {"objective": tuning["objective"], "best": tuning["best"],
                            "points": len(tuning["points"])}
    if answers is not None:
        result["answers"] = answers(searcher)
    if chart is not None:
        from retrieval.chart import methods_chart

        methods_chart(result, chart)
        result["chart"] = str(chart)
    _emit(result, as_json, _print_table)


FusionOpt = typer.Option(None, "--fusion", help="rrf | convex (default: the tuned setting)")
DenseWOpt = typer.Option(None, "--dense-weight", help="Weight of the dense list in fusion.")
SparseWOpt = typer.Option(None, "--sparse-weight", help="Weight of the BM25 list in fusion.")
RrfKOpt = typer.Option(None, "--rrf-k", help="Reciprocal rank fusion constant.")
TuneOpt = typer.Option(False, "--tune", help="Also grid-search fusion settings on this set.")
ChartOpt = typer.Option(None, "--chart", help="Write a PNG chart comparing the methods.")
EmbedderOpt = typer.Option(None, "--embedder", help="Embedder for a KB built here.")
KbOpt = typer.Option(None, "--kb", help="Reuse this KB (built there when empty).")
JsonOpt = typer.Option(False, "--json", help="Print one JSON document on stdout.")
FolderArg = typer.Argument(..., help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/")
QrelsOpt = typer.Option(None, "--qrels", help="Qrels TSV (default qrels/test.tsv).")
QuestionsOpt = typer.Option(None, "--questions", help="PQA-L JSON (default: the shipped dev split).")
CorpusOpt = typer.Option(None, "--corpus", help="Abstracts to build from (default: the shipped XML).")
AnswersOpt = typer.Option(False, "--answers", help="Also measure yes/no/maybe accuracy.")
BackendOpt = typer.Option("local", "--backend", help="Generator for --answers: local | openai.")
ModelOpt = typer.Option(None, "--model", help="Generator model (local id/path or server name).")
BaseUrlOpt = typer.Option(None, "--base-url", help="OpenAI-compatible server URL.")
LimitOpt = typer.Option(None, "--limit", help="Answer only the first N questions.")
AnswerKOpt = typer.Option(3, "--answer-k", help="Passages given to the generator per question.")


@eval_app.command("retrieval")
def retrieval_cmd(
    folder: Path = FolderArg,
    qrels: Path | None = QrelsOpt,
    kb: Path | None = KbOpt,
    embedder: str | None = EmbedderOpt,
    as_json: bool = JsonOpt,
    do_tune: bool = TuneOpt,
    chart: Path | None = ChartOpt,
    fusion: str | None = FusionOpt,
    dense_weight: float | None = DenseWOpt,
    sparse_weight: float | None = SparseWOpt,
    rrf_k: float | None = RrfKOpt,
) -> None:
    """Dense, sparse (BM25) and hybrid nDCG@10, R@1/5/20 and MRR on a BEIR-style folder."""
    from kb.cli import _run

    def go() -> None:
        from kb.config import DEFAULT_EMBEDDER
        from retrieval.evaluate import load_beir

        evalset = load_beir(folder, qrels)
        _run_eval(evalset, kb, embedder or DEFAULT_EMBEDDER, as_json, do_tune, chart,
                  {"fusion": fusion, "dense_weight": dense_weight,
                   "sparse_weight": sparse_weight, "rrf_k": rrf_k})

    _run(go)


def _default_pqa() -> Path:
    """The shipped PubMedQA dev questions: shared data beside the checkout, or the env."""
    import os

    here = Path(__file__).resolve().parent.parent
    for cand in (os.environ.get("MEDKB_PUBMEDQA"), here.parent / "shared" / "data" / "eval" /
                 DEFAULT_PQA, here / "corpora" / "eval" / DEFAULT_PQA,
                 here / "corpora" / "scripts" / DEFAULT_PQA):
        if cand and Path(cand).exists():
            return Path(cand)
    from kb.errors import MedKBError

    raise MedKBError("PubMedQA questions not found: give --questions FILE "
                     "(PQA-L JSON keyed by PMID) or set MEDKB_PUBMEDQA")


@eval_app.command("pubmedqa")
def pubmedqa_cmd(
    questions: Path | None = QuestionsOpt,
    corpus: Path | None = CorpusOpt,
    kb: Path | None = KbOpt,
    embedder: str | None = EmbedderOpt,
    as_json: bool = JsonOpt,
    do_tune: bool = TuneOpt,
    chart: Path | None = ChartOpt,
    fusion: str | None = FusionOpt,
    dense_weight: float | None = DenseWOpt,
    sparse_weight: float | None = SparseWOpt,
    rrf_k: float | None = RrfKOpt,
    answers: bool = AnswersOpt,
    backend: str = BackendOpt,
    model: str | None = ModelOpt,
    base_url: str | None = BaseUrlOpt,
    limit: int | None = LimitOpt,
    answer_k: int = AnswerKOpt,
) -> None:
    """Retrieval on PubMedQA (each question should find its own abstract, by PMID) and,
    with --answers, yes/no/maybe accuracy of a generation backend over retrieved passages."""
    from kb.cli import _run

    def go() -> None:
        from kb.config import DEFAULT_EMBEDDER
        from retrieval.evaluate import load_pubmedqa

        here = Path(__file__).resolve().parent.parent
        xml = corpus or next((p for p in (DEFAULT_PQA_XML, here / DEFAULT_PQA_XML)
                              if p.exists()), None)
        qfile = questions or _default_pqa()
        evalset = load_pubmedqa(qfile, xml)
        _run_eval(evalset, kb, embedder or DEFAULT_EMBEDDER, as_json, do_tune, chart,
                  {"fusion": fusion, "dense_weight": dense_weight,
                   "sparse_weight": sparse_weight, "rrf_k": rrf_k},
                  _answers(qfile, backend, model, base_url, limit, answer_k) if answers else None)

    _run(go)


def _answers(qfile: Path, backend: str, model: str | None, base_url: str | None,
             limit: int | None, k: int) -> Any:
    """A callback measuring yes/no/maybe accuracy with the searcher the retrieval run used."""

    def run(searcher: Any) -> dict[str, Any]:
        import json

        from generation.pubmedqa import evaluate_decisions
        from kb.cli import _backend
        from kb.errors import MedKBError

        if backend not in ("local", "openai"):
            raise MedKBError(f"--answers needs a generator that can say yes/no/maybe: "
                             f"use --backend local or openai, not {backend!r}")
        gen = _backend(backend, model, base_url, searcher.embedder)
        items = json.loads(Path(qfile).read_text("utf-8"))

        def tick(done: int, total: int) -> None:
            if done % 10 == 0 or done == total:
                print(f"[answers] {done}/{total}", file=sys.stderr, flush=True)

        return evaluate_decisions(items, searcher, gen, k=k, limit=limit, progress=tick)

    return run
