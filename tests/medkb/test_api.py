"""The Python API: one object per KB; its records' `to_dict()` is exactly the CLI's --json."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest
from medkb_testutil import TINY_RECORDS, build_hash_kb, contract
from typer.testing import CliRunner

import medkb


@pytest.fixture(scope="module")
def kb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hash_kb(tmp_path_factory.mktemp("api"), TINY_RECORDS)


@pytest.fixture(scope="module")
def kb(kb_path: Path) -> medkb.MedKB:
    return medkb.open(kb_path)


def cli_json(*args: str) -> dict:
    from medkb.cli import app

    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_search_record_is_the_search_contract(kb: medkb.MedKB, kb_path: Path) -> None:
    res = kb.search("metformin renal impairment", k=3)
    d = res.to_dict()
    jsonschema.validate(d, contract("search"))
    assert res.results[0].doc_id == d["results"][0]["doc_id"]
    assert "metformin" in res.results[0].text.lower()
    assert d == cli_json("search", "metformin renal impairment", "-k", "3", "--kb", str(kb_path))


def test_records_are_frozen_and_to_dict_is_a_copy(kb: medkb.MedKB) -> None:
    res = kb.search("asthma", k=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.data = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        res.data["results"] = []  # type: ignore[index]
    d = res.to_dict()
    d["results"].clear()
    assert len(res) == 2


def test_filters_as_a_dict(kb: medkb.MedKB) -> None:
    res = kb.search("treatment", k=5, filters={"sources": ["*#asthma-1"]})
    assert {h.external_id for h in res.results} == {"asthma-1"}


def test_check_graph_info_match_the_cli(kb: medkb.MedKB, kb_path: Path) -> None:
    q = "A patient with type 2 diabetes and severe renal impairment: what should I start?"
    checked = kb.check(q, "Start metformin.", record=False)
    assert checked.id is None
    assert any(c["rule"] == "contraindication" and c["status"] == "fail"
               for c in checked.checks), checked.checks
    g = kb.graph("metformin").to_dict()
    jsonschema.validate(g, contract("graph"))
    assert g == cli_json("graph", "metformin", "--kb", str(kb_path))
    info = kb.info().to_dict()
    jsonschema.validate(info, contract("info"))
    assert info == cli_json("info", "--kb", str(kb_path))


def test_ask_extractive_is_recorded_and_audited(kb: medkb.MedKB) -> None:
    ans = kb.ask("What is the preferred initial drug for type 2 diabetes?",
                 backend="extractive", policy="strict")
    assert ans.id and "metformin" in ans.answer.lower()
    assert ans.citations and all(c["text"] in c.get("text", "") for c in ans.citations)
    audited = kb.audit(ans.id)
    assert audited.sources_intact and audited.answer == ans.answer
    assert kb.verify_ledger()["ledger_ok"]


@pytest.mark.parametrize("call, message", [
    (lambda kb: kb.ask("   "), "empty"),
    (lambda kb: kb.ask("x" * 5000), "limit"),
    (lambda kb: kb.ask("asthma?", policy="lenient"), "policy"),
    (lambda kb: kb.ask("asthma?", backend="gpt"), "backend"),
    (lambda kb: kb.check("asthma?", ""), "answer is empty"),
    (lambda kb: kb.graph("no such thing at all"), "no entity named"),
    (lambda kb: kb.audit("ffffffffffff"), ""),
])
def test_bad_calls_raise_medkb_errors(kb: medkb.MedKB, call, message: str) -> None:
    with pytest.raises(medkb.MedKBError, match=message):
        call(kb)


def test_open_a_missing_kb_says_how_to_build(tmp_path: Path) -> None:
    with pytest.raises(medkb.MedKBError, match="medkb build"):
        medkb.open(tmp_path / "nothing")


def test_a_new_version_is_picked_up_without_reopening(tmp_path: Path) -> None:
    root = build_hash_kb(tmp_path, TINY_RECORDS[:2], graph=False)
    kb = medkb.open(root)
    first = kb.session()
    assert kb.search("metformin", k=5).kb_version == first.version.id
    corpus = tmp_path / "corpus"
    (corpus / "more.jsonl").write_text(json.dumps(TINY_RECORDS[2]) + "\n", "utf-8")
    report = kb.update([corpus], medkb.BuildSettings(embedder="hash-256", graph=False))
    assert report.to_dict()["added"] == 1
    held = first.searcher.search("metformin", 5)  # a call that started earlier keeps its version
    assert all(h.passage.doc_id != "dm-1" for h in held)
    now = kb.search("metformin", k=5)
    assert now.kb_version == report.kb_version != first.version.id
    assert any(h.external_id == "dm-1" for h in now.results)


def test_build_through_the_api(tmp_path: Path) -> None:
    from medkb_testutil import write_jsonl

    (tmp_path / "c").mkdir()
    write_jsonl(tmp_path / "c" / "r.jsonl", TINY_RECORDS)
    report = medkb.build([tmp_path / "c"], tmp_path / "kb",
                         medkb.BuildSettings(embedder="hash-256", graph=False))
    jsonschema.validate(report.to_dict(), contract("build"))
    assert report.documents == 5 and report.failed == []
    with pytest.raises(medkb.MedKBError, match="index"):
        medkb.build([tmp_path / "c"], tmp_path / "kb", medkb.BuildSettings(index="pq"))
