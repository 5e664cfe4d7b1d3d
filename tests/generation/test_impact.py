"""The impact of a KB change on generations already recorded, and retracted papers in answers."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import defaultdict
from pathlib import Path

import jsonschema
import pytest
from medkb_testutil import GRAPH_DIR, ROOT, TINY_RECORDS, write_jsonl

from generation.answer import AskOptions, answer_question
from generation.audit import audit
from generation.backends.extractive import ExtractiveBackend
from generation.impact import affected, for_build
from generation.verify import make_checker
from ingest.pipeline import BuildOptions, build
from kb.ledger import Ledger
from kb.store import KnowledgeBase
from retrieval.search import Searcher

FIXTURE = ROOT / "corpora" / "retractions" / "pubmed_retracted_examples.xml"
MEDQUAD = ROOT / "corpora" / "literature" / "medquad_subset.jsonl"
# Added by this feature; not (yet) in ../shared/contract, so read from the repository.
AFFECTED_SCHEMA = json.loads((ROOT / "tests" / "contract" / "audit_affected.schema.json").read_text())


def _opts(**kw: object) -> BuildOptions:
    return BuildOptions(embedder="hash-256", graph_seeds=GRAPH_DIR, impact=for_build, **kw)


def _ask(kb: Path, questions: list[str]) -> list[tuple[str, dict]]:
    v = KnowledgeBase(kb).current()
    searcher = Searcher(v)
    checker = make_checker(v, searcher.embedder)
    backend = ExtractiveBackend(searcher.embedder)
    ledger = Ledger(kb)
    out = []
    for q in questions:
        record = answer_question(q, v, searcher, backend, AskOptions(k=3), checker=checker)
        out.append((ledger.append(record), record))
    return out


def _cited_docs(record: dict) -> set[str]:
    return {c["doc_id"] for c in record["citations"] if c.get("doc_id")}


def test_retracted_paper_is_no_longer_cited_and_earlier_answers_are_reported(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_jsonl(corpus / "records.jsonl", TINY_RECORDS)
    _retraction_flow(tmp_path, corpus, [corpus])


@pytest.mark.slow
def test_shipped_corpus_with_the_retraction_fixtures(tmp_path: Path) -> None:
    """The same with the shipped literature beside the fixtures (hash embedder, a few minutes)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _retraction_flow(tmp_path, corpus, [ROOT / "corpora" / "literature", corpus], must_cite=False)


def _retraction_flow(tmp_path: Path, corpus: Path, sources: list[Path], *,
                     must_cite: bool = True) -> None:
    # The Lancet paper as PubMed had it before 2010: no retraction link or publication type,
    # and no notice in the KB.
    text = FIXTURE.read_text("utf-8")
    before = text.replace('<PublicationType UI="D016441">Retracted Publication</PublicationType>', "")
    before = before.replace('RefType="RetractionIn"', 'RefType="CommentIn"')
    before = before.replace('RefType="RetractionOf"', 'RefType="CommentOn"')
    before = before.replace("Retraction of Publication", "Comment")
    (corpus / "lancet.xml").write_text(before, "utf-8")
    kb = tmp_path / "kb"
    first = build(sources, kb, _opts())
    assert first["retractions"]["flagged"] == {"expression_of_concern": 1}  # the NEJM paper
    q = "Is MMR vaccination linked to autism and bowel disease in children?"
    (gen_id, record), = _ask(kb, [q])
    v1 = KnowledgeBase(kb).current()
    wakefield = next(d.doc_id for d in v1.iter_documents() if d.external_id == "9500320")
    assert wakefield in {r["doc_id"] for r in record["retrieved"]}
    if must_cite:
        assert wakefield in _cited_docs(record)

    shutil.copy(FIXTURE, corpus / "lancet.xml")  # the record as published now, with the notices
    report = build(sources, kb, _opts(), update=True)
    assert report["retractions"]["flagged"] == {"retracted": 2}
    v2 = KnowledgeBase(kb).current()
    meta = v2.document(wakefield).metadata["retraction"]
    assert meta["status"] == "retracted" and meta["notice_id"] == "20137807"

    # The earlier answer is reported, with the notice.
    if must_cite:
        hit, = [a for a in report["affected_generations"] if a["id"] == gen_id]
        reason, = [r for r in hit["reasons"] if r["doc_id"] == wakefield]
        assert reason["kind"] == "retracted" and reason["retraction"]["notice_id"] == "20137807"
        assert reason["external_id"] == "9500320"
        # Its audit shows what changed.
        ver = audit(gen_id, KnowledgeBase(kb))["verification"]
        assert any(r["kind"] == "retracted" and r["doc_id"] == wakefield for r in ver["impact"])

    # The same question no longer retrieves or cites it; asked for, it comes back flagged.
    (_, again), = _ask(kb, [q])
    assert wakefield not in _cited_docs(again)
    assert wakefield not in {r["doc_id"] for r in again["retrieved"]}
    searcher = Searcher(v2)
    shown = searcher.search(q, 5, include_retracted=True)
    flagged = [h for h in shown if h.passage.doc_id == wakefield]
    assert flagged and flagged[0].retraction["notice_id"] == "20137807"
    included = answer_question(q, v2, searcher, ExtractiveBackend(searcher.embedder),
                               AskOptions(k=5, include_retracted=True),
                               checker=make_checker(v2, searcher.embedder))
    assert any(r.get("retraction") for r in included["retrieved"])
    assert wakefield not in _cited_docs(included)


def _questions(records: list[dict]) -> list[str]:
    forms = ("What is {}?", "What causes {}?", "How is {} treated?", "What are the symptoms of {}?")
    return [f.format(r["title"]) for r in records for f in forms]


def test_update_reports_exactly_the_generations_that_cited_changed_documents(tmp_path: Path) -> None:
    records = []
    seen = set()
    for line in MEDQUAD.read_text("utf-8").splitlines():
        r = json.loads(line)
        if r["title"] not in seen:
            seen.add(r["title"])
            records.append(r)
        if len(records) == 50:
            break
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_jsonl(corpus / "records.jsonl", records)
    kb = tmp_path / "kb"
    build([corpus], kb, _opts())
    answered = _ask(kb, _questions(records))
    assert len(answered) == 200

    by_doc: dict[str, set[str]] = defaultdict(set)
    for gid, rec in answered:
        for d in _cited_docs(rec):
            by_doc[d].add(gid)
    v1 = KnowledgeBase(kb).current()
    ext = {d.doc_id: d.external_id for d in v1.iter_documents()}
    # The six most cited documents: remove three, edit two, retract one.
    top = sorted(by_doc, key=lambda d: (-len(by_doc[d]), d))[:6]
    removed, edited, retracted = top[:3], top[3:5], top[5]
    out = []
    for r in records:
        if r["_id"] in {ext[d] for d in removed}:
            continue
        if r["_id"] in {ext[d] for d in edited}:
            r = dict(r, text=r["text"] + " This record was revised.")
        out.append(r)
    write_jsonl(corpus / "records.jsonl", out)
    lst = tmp_path / "retractions.csv"
    lst.write_text(f"id,reason\n{ext[retracted]},synthetic retraction for the test\n", "utf-8")

    report = build([corpus], kb, _opts(retractions=(lst,)), update=True)
    assert (report["removed"], report["changed"]) == (3, 2)
    found = {a["id"]: a for a in report["affected_generations"]}
    expected = {kind: set().union(*(by_doc[d] for d in docs)) for kind, docs in
                (("removed", removed), ("changed", edited), ("retracted", [retracted]))}
    for kind, gens in expected.items():
        got = {g for g, a in found.items() if kind in a["kinds"]}
        assert got == gens, kind
    sources = set().union(*expected.values())
    only_checks = {g for g, a in found.items() if a["kinds"] == ["checks_changed"]}
    assert set(found) == sources | only_checks
    for g in only_checks:  # a check that comes out differently, with before and after
        assert all(c["before"] != c["after"] for r in found[g]["reasons"] for c in r["checks"])
    print(f"\n200 generations; cited the 6 changed documents: {len(sources)} "
          f"(removed {len(expected['removed'])}, changed {len(expected['changed'])}, "
          f"retracted {len(expected['retracted'])}); checks changed only: {len(only_checks)}")

    # The same from the ledger afterwards, against the schema, and for an old ledger too.
    data = affected(KnowledgeBase(kb), since=v1.id)
    jsonschema.validate(data, AFFECTED_SCHEMA)
    assert {a["id"] for a in data["affected"]} == set(found)
    con = sqlite3.connect(kb / "ledger.sqlite")
    con.executescript("DROP TABLE ledger_cites; DROP TABLE ledger_entities; "
                      "DROP TABLE ledger_index_state;")
    con.close()
    again = affected(KnowledgeBase(kb), since=v1.id)
    assert [a["id"] for a in again["affected"]] == [a["id"] for a in data["affected"]]
    assert Ledger(kb).verify()["ledger_ok"]
    # Without --since each generation is compared with its own version: the same here.
    assert {a["id"] for a in affected(KnowledgeBase(kb))["affected"]} == set(found)
