"""A retracted paper's literature edges leave the graph's checks; the CLI surfaces."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from medkb_testutil import GRAPH_DIR, ROOT, TINY_RECORDS, contract, write_jsonl
from typer.testing import CliRunner

from generation.answer import AskOptions, answer_question
from generation.backends.extractive import ExtractiveBackend
from generation.impact import affected, for_build
from generation.verify import make_checker
from ingest.pipeline import BuildOptions, build
from kb.graph import KnowledgeGraph
from kb.ledger import Ledger
from kb.store import KnowledgeBase
from medkb.cli import app
from retrieval.search import Searcher

AFFECTED_SCHEMA = json.loads((ROOT / "tests" / "contract" / "audit_affected.schema.json").read_text())
# A synthetic statement the curated graph does not hold: its only source is this record.
CLAIM = {"_id": "osel-1", "title": "Oseltamivir safety",
         "text": "Oseltamivir is contraindicated in hypertension. Patients with hypertension "
                 "should not take oseltamivir."}
QUESTION = "Can a patient with hypertension take oseltamivir for influenza?"


def _kb(tmp_path: Path) -> tuple[Path, Path, BuildOptions]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_jsonl(corpus / "records.jsonl", [*TINY_RECORDS, CLAIM])
    opts = BuildOptions(embedder="hash-256", graph_seeds=GRAPH_DIR, impact=for_build)
    kb = tmp_path / "kb"
    build([corpus], kb, opts)
    return corpus, kb, opts


def test_retraction_drops_literature_edges_from_checks_and_reports_the_change(tmp_path: Path) -> None:
    from dataclasses import replace

    corpus, kb, opts = _kb(tmp_path)
    v1 = KnowledgeBase(kb).current()
    searcher = Searcher(v1)
    record = answer_question(QUESTION, v1, searcher, ExtractiveBackend(searcher.embedder),
                             AskOptions(k=3), checker=make_checker(v1, searcher.embedder))
    before = [c for c in record["checks"] if c["rule"] == "contraindication"]
    assert before and before[0]["status"] in ("warn", "fail")
    gen_id = Ledger(kb).append(record)

    lst = tmp_path / "retractions.tsv"
    lst.write_text("id\treason\nosel-1\tsynthetic: data could not be verified\n", "utf-8")
    report = build([corpus], kb, replace(opts, retractions=(lst,)), update=True)
    v2 = KnowledgeBase(kb).current()
    graph = KnowledgeGraph.load(v2.file("graph.json"))
    lit = [e for e in graph.edges() if e.relation == "contraindicated_in" and e.source == "literature"
           and e.subject == "DB00198"]
    assert lit and all(e.retracted for e in lit)
    assert not graph.contraindications("DB00198", ["DOID:10763"])

    hit, = [a for a in report["affected_generations"] if a["id"] == gen_id]
    assert "retracted" in hit["kinds"] and "checks_changed" in hit["kinds"]
    change, = [c for r in hit["reasons"] if r["kind"] == "checks_changed" for c in r["checks"]
               if c["rule"] == "contraindication"]
    assert (change["before"], change["after"]) == (before[0]["status"], "pass")

    # The CLI: audit --affected validates; search flags on request; graph evidence is marked.
    run = CliRunner().invoke(app, ["audit", "--affected", "--since", v1.id, "--kb", str(kb), "--json"])
    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout)
    jsonschema.validate(data, AFFECTED_SCHEMA)
    assert [a["id"] for a in data["affected"]] == [gen_id]
    run = CliRunner().invoke(app, ["audit", "--affected", "--kb", str(kb)])
    assert run.exit_code == 0 and "checks_changed" in run.stdout

    run = CliRunner().invoke(app, ["search", "oseltamivir hypertension", "--kb", str(kb), "--json"])
    assert "osel-1" not in {r["external_id"] for r in json.loads(run.stdout)["results"]}
    run = CliRunner().invoke(app, ["search", "oseltamivir hypertension", "--kb", str(kb),
                                   "--include-retracted", "--json"])
    data = json.loads(run.stdout)
    jsonschema.validate(data, contract("search"))
    flagged = [r for r in data["results"] if r["external_id"] == "osel-1"]
    assert flagged and flagged[0]["retraction"]["reason"] == "synthetic: data could not be verified"

    run = CliRunner().invoke(app, ["graph", "oseltamivir", "--kb", str(kb), "--json"])
    evidence = [e for edge in json.loads(run.stdout)["edges"] for e in edge["evidence"]
                if e.get("passage_id") and e["relation"] == "contraindicated_in"]
    assert evidence and all(e["retracted"] and e["retraction"]["status"] == "retracted"
                            for e in evidence)
    # The list stays applied by a later update that does not name it.
    build([corpus], kb, opts, update=True)
    assert KnowledgeBase(kb).current().document(
        next(d.doc_id for d in v2.iter_documents() if d.external_id == "osel-1")
    ).metadata["retraction"]["status"] == "retracted"
    assert affected(KnowledgeBase(kb))["affected_count"] == 1


def test_bad_retraction_list_is_a_clear_error(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_jsonl(corpus / "records.jsonl", TINY_RECORDS)
    bad = tmp_path / "list.csv"
    bad.write_text("title\nsomething\n", "utf-8")
    run = CliRunner().invoke(app, ["build", str(corpus), "--kb", str(tmp_path / "kb"),
                                   "--embedder", "hash-256", "--no-graph", "--retractions", str(bad)])
    assert run.exit_code == 1
    assert "list.csv" in run.output and "DOI, PMID or id column" in run.output
    assert not (tmp_path / "kb" / "CURRENT").exists()
