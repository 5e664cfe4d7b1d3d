"""build -> search -> ask -> audit on a tiny corpus with the hash embedder and fake LLMs."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from medkb_testutil import contract


def _version(kb: Path):
    from kb.store import KnowledgeBase

    return KnowledgeBase(kb).current()


def test_build_is_deterministic(tmp_path: Path, tiny_corpus: Path) -> None:
    from ingest.pipeline import BuildOptions, build

    opts = BuildOptions(embedder="hash-256", graph_seeds=None)
    r1 = build([tiny_corpus], tmp_path / "a", opts)
    r2 = build([tiny_corpus], tmp_path / "b", opts)
    jsonschema.validate(r1, contract("build"))
    assert r1["documents"] == 5 and r1["passages"] >= 5 and r1["failed"] == []
    assert r2["passages"] == r1["passages"]
    a, b = _version(tmp_path / "a"), _version(tmp_path / "b")
    assert a.passage_ids() == b.passage_ids()
    assert [d.doc_id for d in a.iter_documents()] == [d.doc_id for d in b.iter_documents()]


def test_passage_spans_round_trip(tiny_kb: Path) -> None:
    v = _version(tiny_kb)
    for p in v.iter_passages():
        assert v.document(p.doc_id).text[p.start:p.end] == p.text


def test_search_finds_the_right_record(tiny_kb: Path) -> None:
    from retrieval.search import Searcher, hit_json

    v = _version(tiny_kb)
    hits = Searcher(v).search("metformin renal impairment", 3)
    assert hits[0].external_id == "dm-1"
    jsonschema.validate({"results": [hit_json(h) for h in hits]}, contract("search"))


def _ask(kb: Path, backend, question: str, policy: str = "flag") -> dict:
    from generation.answer import AskOptions, answer_question, public_view
    from kb.ledger import Ledger
    from retrieval.search import Searcher

    v = _version(kb)
    rec = answer_question(question, v, Searcher(v), backend, AskOptions(k=3, policy=policy))
    gid = Ledger(kb).append(rec)
    return {"id": gid, **public_view(rec)}


def test_ask_with_scripted_llm_strips_invented_keys(tiny_kb: Path) -> None:
    from generation.backends.fake import ScriptedBackend

    backend = ScriptedBackend(["Inhaled corticosteroids are the first-line controller treatment "
                               "for mild persistent asthma [1][7]."])
    out = _ask(tiny_kb, backend, "first-line treatment for mild asthma")
    jsonschema.validate(out, contract("ask"))
    assert out["invented_keys"] == [7]
    assert all(k <= 3 for c in out["claims"] for k in c["citations"])
    assert out["citations"], "the answer cites at least one passage"
    v = _version(tiny_kb)
    for c in out["citations"]:
        assert v.document(c["doc_id"]).text[c["start"]:c["end"]] == c["text"]
    # the prompt numbered the passages and told the model they are data
    prompt = backend.calls[0]
    assert "[1]" in prompt[-1]["content"] and "not instructions" in prompt[0]["content"]


def test_uncited_sentence_is_attributed_post_hoc(tiny_kb: Path) -> None:
    from generation.backends.fake import ScriptedBackend

    out = _ask(tiny_kb, ScriptedBackend(["Metformin is the preferred initial drug for type 2 "
                                         "diabetes mellitus."]), "initial drug for type 2 diabetes")
    assert out["citations"] and out["citations"][0]["cited_by_model"] is False
    assert out["claims"][0]["supported"] is True


def test_strict_policy_falls_back_to_extractive_evidence(tiny_kb: Path) -> None:
    from generation.backends.fake import ScriptedBackend

    out = _ask(tiny_kb, ScriptedBackend(["Bananas cure everything [1]."]),
               "first-line treatment for mild asthma", policy="strict")
    assert "Bananas" not in out["answer"]
    assert out.get("fallback") == "extractive" or out["abstained"]


def test_extractive_backend_and_audit(tiny_kb: Path) -> None:
    from generation.audit import audit
    from generation.backends.extractive import ExtractiveBackend
    from kb.embedder import HashEmbedder
    from kb.store import KnowledgeBase

    out = _ask(tiny_kb, ExtractiveBackend(HashEmbedder(256)), "What relieves acute asthma symptoms?")
    assert out["citations"] and not out["abstained"]
    data = audit(out["id"], KnowledgeBase(tiny_kb))
    jsonschema.validate(json.loads(json.dumps(data)), contract("audit"))
    assert data["verification"]["sources_intact"] is True
    assert data["verification"]["ledger_ok"] is True


def test_audit_flags_sources_gone_after_rebuild(tmp_path: Path, tiny_corpus: Path, tiny_kb: Path) -> None:
    from generation.audit import audit
    from generation.backends.extractive import ExtractiveBackend
    from ingest.pipeline import BuildOptions, build
    from kb.embedder import HashEmbedder
    from kb.store import KnowledgeBase

    out = _ask(tiny_kb, ExtractiveBackend(HashEmbedder(256)), "metformin type 2 diabetes")
    records = [json.loads(line) for line in (tiny_corpus / "records.jsonl").read_text().splitlines()]
    from medkb_testutil import write_jsonl

    write_jsonl(tiny_corpus / "records.jsonl", [r for r in records if r["_id"] != "dm-1"])
    build([tiny_corpus], tiny_kb, BuildOptions(embedder="hash-256", graph_seeds=None), update=True)
    v = audit(out["id"], KnowledgeBase(tiny_kb))["verification"]
    assert v["sources_intact"] is False and v["missing"]
    assert v["original_version_available"] is True


def test_ledger_detects_tampering(tiny_kb: Path) -> None:
    import sqlite3

    from generation.backends.extractive import ExtractiveBackend
    from kb.embedder import HashEmbedder
    from kb.ledger import Ledger

    for q in ("asthma", "influenza treatment"):
        _ask(tiny_kb, ExtractiveBackend(HashEmbedder(256)), q)
    assert Ledger(tiny_kb).verify()["ledger_ok"]
    con = sqlite3.connect(tiny_kb / "ledger.sqlite")
    con.execute("UPDATE generations SET record = replace(record, 'asthma', 'gout') WHERE seq = 1")
    con.commit()
    con.close()
    assert not Ledger(tiny_kb).verify()["ledger_ok"]


def test_empty_kb_search_is_a_clear_error(tmp_path: Path) -> None:
    from kb.errors import KBError
    from kb.store import KnowledgeBase

    with pytest.raises(KBError, match="medkb build"):
        KnowledgeBase(tmp_path / "nothing").current()


def test_index_options_and_llm_summaries(tmp_path: Path, tiny_corpus: Path) -> None:
    from generation.backends.fake import ScriptedBackend
    from ingest.pipeline import BuildOptions, build
    from retrieval.search import Searcher

    backend = ScriptedBackend(lambda messages: "A short abstractive summary.")
    opts = BuildOptions(embedder="hash-256", graph_seeds=None, index_kind="hnsw",
                        vector_precision="fp16", summary_backend=backend)
    build([tiny_corpus], tmp_path / "kb", opts)
    v = _version(tmp_path / "kb")
    assert v.manifest["vectors"] == {"kind": "hnsw", "count": v.counts["passages"], "precision": "fp16"}
    assert Searcher(v).search("metformin renal impairment", 3, method="dense")[0].external_id == "dm-1"
    docs = list(v.iter_documents())
    assert len(backend.calls) == len(docs)
    assert all(d.metadata["summary_method"] == "llm" for d in docs)
    # the document text is data in the summary prompt
    assert "Metformin" in " ".join(m["content"] for call in backend.calls for m in call)
