"""`medkb eval ...`: measure retrieval, answers and the constraint rules on labelled data.

Registered by medkb.cli. Imports stay inside the commands so `medkb --help` stays instant.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from medkb.cli.common import emit as _emit
from medkb.cli.common import run as _run

eval_app = typer.Typer(no_args_is_help=True, help="Measure retrieval, answers and the rules on labelled data.")

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

    here = Path(__file__).resolve().parents[2]
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

    def go() -> None:
        from kb.config import DEFAULT_EMBEDDER
        from retrieval.evaluate import load_pubmedqa

        here = Path(__file__).resolve().parents[2]
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
        from kb.errors import MedKBError
        from medkb.backends import BackendSettings, make_backend

        if backend not in ("local", "openai"):
            raise MedKBError(f"--answers needs a generator that can say yes/no/maybe: "
                             f"use --backend local or openai, not {backend!r}")
        gen = make_backend(backend, BackendSettings.from_env(model, base_url), searcher.embedder)
        items = json.loads(Path(qfile).read_text("utf-8"))

        def tick(done: int, total: int) -> None:
            if done % 10 == 0 or done == total:
                print(f"[answers] {done}/{total}", file=sys.stderr, flush=True)

        return evaluate_decisions(items, searcher, gen, k=k, limit=limit, progress=tick)

    return run


# ---- answers and rules --------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _print_answers(d: dict[str, Any]) -> None:
    print(f"{d['n_questions']} questions, backend {d['backend']}, policy {d['policy']}, top {d['k']} "
          f"passages, KB {d['kb_version']} ({d['embedder']})")
    rows = [
        ("citation validity", _pct(d["citation_validity"]),
         f"{d['citations']} citations; not retrieved {d['invalid_citations']['not_retrieved']}, "
         f"span mismatch {d['invalid_citations']['span_mismatch']}"),
        ("invented-key rate", _pct(d["invented_key_rate"]),
         f"{d['invented_keys']} of {d['model_keys']} keys the model wrote; "
         f"{d['answers_with_invented_keys']} answers"),
        ("unsupported claims", _pct(d["unsupported_claim_rate"]), f"of {d['claims']} claims"),
        ("post hoc claims", _pct(d["post_hoc_claim_rate"]), "attributed, not cited by the model"),
        ("abstention rate", _pct(d["abstention_rate"]), f"{d['answered']} answered"),
        ("seconds/question", "-" if d["seconds_per_question"] is None
         else f"{d['seconds_per_question']:.2f}",
         ", ".join([f"{k} {v:.2f}" for k, v in d["mean_timings"].items()]
                   + [f"(loading first: {d['warmup_s']:.1f}s)"])),
    ]
    for name, value, note in rows:
        print(f"{name:<20}{value:>9}  {note}")
    if d["checks"]:
        print(f"{'check':<24}" + "".join(f"{s:>7}" for s in ("pass", "warn", "fail")))
        for rule, c in d["checks"].items():
            print(f"{rule:<24}" + "".join(f"{c[s]:>7}" for s in ("pass", "warn", "fail")))
    if d.get("withheld_claims"):
        print(f"withheld claims (strict): {d['withheld_claims']}")
    for f in d["failed"]:
        print(f"FAILED {f['id']}: {f['error']}")
    if d.get("recorded"):
        print(f"recorded {len(d['recorded'])} generations in the ledger (kind eval)")


PolicyOpt = typer.Option("flag", "--policy", help="flag | strict (as `medkb ask`).")
AskKOpt = typer.Option(5, "-k", help="Passages given to the generator (as `medkb ask`).")
RecordOpt = typer.Option(False, "--record", help="Also store each generation in the KB's ledger.")
AnsKbOpt = typer.Option(None, "--kb", help="KB directory (default $MEDKB_HOME, else ./medkb-data)")
AnsQuestionsOpt = typer.Option(
    None, "--questions",
    help="JSONL of {question, id?} or a PubMedQA PQA-L JSON (default: the shipped dev split).")
AnsBackendOpt = typer.Option("extractive", "--backend", help="extractive | local | openai")
AnsLimitOpt = typer.Option(None, "--limit", help="Only the first N questions.")


@eval_app.command("answers")
def answers_cmd(
    kb: Path | None = AnsKbOpt,
    questions: Path | None = AnsQuestionsOpt,
    backend: str = AnsBackendOpt,
    model: str | None = ModelOpt,
    base_url: str | None = BaseUrlOpt,
    policy: str = PolicyOpt,
    k: int = AskKOpt,
    limit: int | None = AnsLimitOpt,
    record: bool = RecordOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Citation validity, invented keys, unsupported and post hoc claims, abstentions and
    check results of `medkb ask` over a question set (nothing goes to the ledger unless
    --record)."""

    def go() -> None:
        from generation.answer import AskOptions
        from generation.answer_eval import evaluate_answers, load_questions
        from kb.errors import MedKBError
        from medkb.backends import BackendSettings
        from medkb.cli.common import open_kb

        if policy not in ("flag", "strict"):
            raise MedKBError(f"unknown policy {policy!r}: use flag or strict")
        if limit is not None and limit < 1:
            raise MedKBError("--limit must be at least 1")
        items = load_questions(questions or _default_pqa())[:limit]
        api = open_kb(kb, backend_settings=BackendSettings.from_env(model, base_url))
        session = api.session()
        store, version, searcher = api.store, session.version, session.searcher
        gen = session.backend(backend, api.backend_settings)
        recorded: list[str] = []
        on_record = None
        if record:
            from kb.ledger import Ledger

            ledger = Ledger(store.root)

            def on_record(qid: str, rec: dict[str, Any]) -> None:
                recorded.append(ledger.append({**rec, "eval_question_id": qid}, kind="eval"))

        def tick(done: int, total: int) -> None:
            if done % 10 == 0 or done == total:
                print(f"[answers] {done}/{total}", file=sys.stderr, flush=True)

        result = evaluate_answers(items, version, searcher, gen, AskOptions(k=k, policy=policy),
                                  checker=session.checker, progress=tick,
                                  on_record=on_record)
        if record:
            result["recorded"] = recorded
        _emit(result, as_json, _print_answers)

    _run(go)


def _print_rules(d: dict[str, Any]) -> None:
    print(f"{d['scenarios']} scenarios, {d['expected_checks']} expected checks, KB "
          f"{d['kb_version']}: accuracy {d['accuracy']:.4f} ({d['right']}/{d['expected_checks']})")
    print(f"{'rule':<24}{'n':>6}{'right':>7}{'accuracy':>10}")
    for rule, r in d["per_rule"].items():
        print(f"{rule:<24}{r['n']:>6}{r['right']:>7}{r['accuracy']:>10.4f}")
    for m in d["misses"]:
        pair = f" + {m['object']}" if m.get("object") else ""
        print(f"miss {m['id']}: {m['rule']} {m['subject']}{pair}: expected {m['expected']}, "
              f"got {m['got']}")


@eval_app.command("rules")
def rules_cmd(
    scenarios: Path = typer.Argument(..., help="JSONL of {id, question, answer, expected: "
                                               "[{rule, subject, status, object?}]}"),
    kb: Path | None = AnsKbOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Constraint-rule accuracy over a scenario file, overall and per rule, with the misses
    (the graph rules of the KB's knowledge graph; no retrieval)."""

    def go() -> None:
        from generation.scenarios import evaluate_scenarios, load_scenarios
        from generation.verify import make_checker
        from medkb.cli.common import open_kb

        items = load_scenarios(scenarios)
        version = open_kb(kb).version
        result = evaluate_scenarios(make_checker(version), items)
        _emit({"file": str(scenarios), "kb_version": version.id, **result}, as_json, _print_rules)

    _run(go)


def _print_safety(d: dict[str, Any]) -> None:
    print(f"{d['questions']} safety questions, {d['backend']}, policy {d['policy']}, KB {d['kb_version']}: "
          f"verdict {d['verdict_accuracy']:.4f}, wording {d['wording_accuracy']:.4f}, both {d['both_accuracy']:.4f}")
    for v, s in d["per_verdict"].items():
        print(f"  {v}: {s['verdict_ok']}/{s['n']} verdicts, {s['wording_ok']}/{s['n']} wordings")
    for m in d["misses"]:
        print(f"miss {m['id']}: expected {m['expected']}, got {m['got']}; {m['first_sentence'][:140]}")


@eval_app.command("safety")
def safety_cmd(
    questions: Path = typer.Argument(..., help="JSONL of {id, question, drug, with, verdict, source?}"),
    kb: Path | None = AnsKbOpt,
    backend: str = typer.Option("extractive", "--backend", help="extractive | local"),
    policy: str = typer.Option("strict", "--policy", help="strict | flag"),
    as_json: bool = JsonOpt,
) -> None:
    """Safety-verdict and wording accuracy over clinician questions, through the whole
    answering path (generation.safety_eval)."""

    def go() -> None:
        from generation.backends.extractive import ExtractiveBackend
        from generation.safety_eval import evaluate, load
        from medkb.cli.common import open_kb

        items = load(questions)
        session = open_kb(kb).session()
        if backend == "extractive":
            gen: Any = ExtractiveBackend(session.searcher.embedder)
        else:
            from generation.backends.local import LocalTransformersBackend

            gen = LocalTransformersBackend()
        _emit(evaluate(items, session.version, session.searcher, gen, policy=policy), as_json, _print_safety)

    _run(go)
