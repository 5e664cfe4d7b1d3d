"""`medkb eval answers`: citation validity, invented keys, unsupported and post hoc claims,
abstentions and check counts over a question set (generation.answer_eval)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from medkb_testutil import TINY_RECORDS, build_hash_kb, write_jsonl

QUESTIONS = [
    {"id": "dm", "question": "What is the preferred initial drug for type 2 diabetes?"},
    {"id": "asthma", "question": "What relieves acute asthma symptoms?"},
    {"id": "football", "question": "Who won the football world cup in 2018?"},
]


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hash_kb(tmp_path_factory.mktemp("answers"), TINY_RECORDS)


@pytest.fixture(scope="module")
def env(kb: Path):  # noqa: ANN201
    from generation.verify import make_checker
    from kb.store import KnowledgeBase
    from retrieval.search import Searcher

    version = KnowledgeBase(kb).current()
    searcher = Searcher(version)
    return version, searcher, make_checker(version, searcher.embedder)


@pytest.fixture
def qfile(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "q.jsonl", QUESTIONS)


def _cli(args: list[str]) -> dict:
    from typer.testing import CliRunner

    from medkb.cli import app

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _ledger_records(kb: Path) -> int:
    from kb.ledger import Ledger

    return Ledger(kb).verify()["records"]


def test_load_questions_forms(tmp_path: Path) -> None:
    from generation.answer_eval import load_questions
    from kb.errors import InputError

    pqa = tmp_path / "pqa.json"
    pqa.write_text(json.dumps({"111": {"QUESTION": "Does X help?", "final_decision": "yes"},
                               "222": {"QUESTION": "Is Y safe?"}}))
    assert load_questions(pqa) == [("111", "Does X help?"), ("222", "Is Y safe?")]
    lst = tmp_path / "l.json"
    lst.write_text(json.dumps([{"question": "A?"}, {"_id": "b", "text": "B?"}]))
    assert load_questions(lst) == [("q1", "A?"), ("b", "B?")]
    jl = write_jsonl(tmp_path / "q.jsonl", [{"id": 7, "question": " C? "}])
    assert load_questions(jl) == [("7", "C?")]
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "x", "query": "no question field"}])
    with pytest.raises(InputError, match="no question"):
        load_questions(bad)
    (tmp_path / "broken.jsonl").write_text('{"question": "ok?"}\n{not json\n')
    with pytest.raises(InputError, match="line 2"):
        load_questions(tmp_path / "broken.jsonl")


def test_extractive_answers_cite_validly_and_write_no_ledger(kb: Path, qfile: Path) -> None:
    out = _cli(["eval", "answers", "--kb", str(kb), "--questions", str(qfile), "--json"])
    assert out["n_questions"] == 3 and out["backend"] == "extractive" and not out["failed"]
    rows = {r["id"]: r for r in out["questions"]}
    assert rows["football"]["abstained"] and not rows["dm"]["abstained"]
    assert out["abstention_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert out["citations"] > 0 and out["citation_validity"] == 1.0
    assert out["invalid_citations"] == {"not_retrieved": 0, "span_mismatch": 0}
    assert out["invented_keys"] == 0 and out["invented_key_rate"] == 0.0
    assert out["post_hoc_claim_rate"] == 0.0  # the extractive answer cites what it quotes
    assert 0.0 <= out["unsupported_claim_rate"] <= 1.0
    assert out["checks"]["citation_support"]["pass"] > 0
    assert out["seconds_per_question"] > 0 and "retrieve_s" in out["mean_timings"]
    assert _ledger_records(kb) == 0  # pure evaluation


def test_limit_and_record(kb: Path, qfile: Path) -> None:
    before = _ledger_records(kb)
    out = _cli(["eval", "answers", "--kb", str(kb), "--questions", str(qfile), "--limit", "2",
                "--record", "--json"])
    assert out["n_questions"] == 2 and len(out["recorded"]) == 2
    assert _ledger_records(kb) == before + 2
    from kb.ledger import Ledger

    rec = Ledger(kb).get(out["recorded"][0])
    assert rec["kind"] == "eval" and rec["eval_question_id"] == "dm"


def test_table_output(kb: Path, qfile: Path) -> None:
    from typer.testing import CliRunner

    from medkb.cli import app

    result = CliRunner().invoke(app, ["eval", "answers", "--kb", str(kb), "--questions", str(qfile)])
    assert result.exit_code == 0, result.output
    for word in ("citation validity", "invented-key rate", "unsupported claims",
                 "post hoc claims", "abstention rate", "seconds/question", "citation_support"):
        assert word in result.stdout


def test_invented_keys_unsupported_and_post_hoc_claims(env) -> None:  # noqa: ANN001
    """A model that cites a passage that was not retrieved, says something no passage
    supports, and leaves a claim uncited."""
    from generation.answer_eval import evaluate_answers
    from generation.backends.fake import ScriptedBackend

    version, searcher, checker = env
    reply = ("Metformin is the preferred initial drug for type 2 diabetes mellitus [1][9]. "
             "Metformin cures asthma [2]. It lowers hepatic glucose production.")
    out = evaluate_answers([("dm", QUESTIONS[0]["question"])], version, searcher,
                           ScriptedBackend(reply), checker=checker)
    (row,) = out["questions"]
    assert row["claims"] == 3 and row["invented_keys"] == 1 and row["model_keys"] == 3
    assert out["invented_key_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert out["answers_with_invented_keys"] == 1
    assert row["unsupported"] >= 1 and out["unsupported_claim_rate"] >= 1 / 3 - 1e-3
    assert row["post_hoc"] == 1 and out["post_hoc_claim_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert out["citation_validity"] == 1.0  # what the answer path cites is always retrieved
    assert out["checks"]["citation_support"]["fail"] >= 1


def test_judge_catches_citations_outside_retrieval_or_off_their_span(env) -> None:  # noqa: ANN001
    from generation.answer import AskOptions, answer_question
    from generation.answer_eval import CitationJudge, summarise
    from generation.backends.extractive import ExtractiveBackend

    version, searcher, checker = env
    rec = answer_question(QUESTIONS[0]["question"], version, searcher,
                          ExtractiveBackend(searcher.embedder), AskOptions(k=3), checker=checker)
    cit = next(c for c in rec["citations"] if c.get("kind") != "graph")  # a passage span
    judge = CitationJudge(version)
    assert summarise(rec, judge)["valid_citations"] == len(rec["citations"])
    shifted = dict(cit, start=cit["start"] + 1)
    foreign = dict(cit, passage_id="not-retrieved")
    tampered = {**rec, "citations": [cit, shifted, foreign]}
    s = summarise(tampered, judge)
    assert (s["citations"], s["valid_citations"], s["span_mismatch"], s["not_retrieved"]) == (3, 1, 1, 1)
    del_doc = {**rec, "citations": [dict(cit, doc_id="gone")]}
    assert summarise(del_doc, judge)["span_mismatch"] == 1


def test_a_failing_backend_is_reported_not_fatal(env) -> None:  # noqa: ANN001
    from generation.answer_eval import evaluate_answers
    from generation.backends.fake import ScriptedBackend

    version, searcher, checker = env
    out = evaluate_answers([(q["id"], q["question"]) for q in QUESTIONS[:2]], version, searcher,
                           ScriptedBackend(["Metformin is the preferred initial drug [1]."]),
                           checker=checker)
    assert out["n_questions"] == 2 and len(out["questions"]) == 1
    assert out["failed"][0]["id"] == "asthma" and "ScriptedBackend" in out["failed"][0]["error"]


def test_strict_measures_the_claims_before_withholding(env) -> None:  # noqa: ANN001
    from generation.answer import AskOptions
    from generation.answer_eval import evaluate_answers
    from generation.backends.fake import ScriptedBackend

    version, searcher, checker = env
    out = evaluate_answers([("dm", QUESTIONS[0]["question"])], version, searcher,
                           ScriptedBackend("Metformin cures asthma [1]."),
                           replace(AskOptions(), policy="strict"), checker=checker)
    assert out["policy"] == "strict" and out["claims"] == 1 and out["unsupported_claim_rate"] == 1.0
    assert out["withheld_claims"] >= 1


def test_bad_options_exit_1(kb: Path, qfile: Path) -> None:
    from typer.testing import CliRunner

    from medkb.cli import app

    r = CliRunner().invoke(app, ["eval", "answers", "--kb", str(kb), "--questions", str(qfile),
                                 "--policy", "loose"])
    assert r.exit_code == 1 and "unknown policy" in r.output
    r = CliRunner().invoke(app, ["eval", "answers", "--kb", str(kb), "--questions",
                                 str(qfile.parent / "missing.jsonl")])
    assert r.exit_code == 1 and "cannot read" in r.output
