"""build -> search -> ask -> audit with the real default models (all-MiniLM-L6-v2, SmolLM2)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from medkb_testutil import ROOT, contract

pytestmark = pytest.mark.slow

QUESTION = "What is the first-line treatment for mild asthma?"


def medkb(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "medkb.cli", *args, "--json"], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def real_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("real")
    corpus = base / "corpus"
    corpus.mkdir()
    shutil.copy(ROOT / "corpora/formats/pubmed/pubmed-29768149.xml", corpus)
    lines = (ROOT / "corpora/literature/medquad_subset.jsonl").read_text().splitlines()
    keep = [ln for ln in lines if "asthma" in ln.lower() or "diabetes" in ln.lower()][:40]
    (corpus / "medquad.jsonl").write_text("\n".join(keep) + "\n")
    kb = base / "kb"
    report = medkb("build", str(corpus), "--kb", str(kb))
    jsonschema.validate(report, contract("build"))
    assert report["failed"] == [] and report["documents"] == len(keep) + 1
    return kb


def test_search_ask_audit_with_real_models(real_kb: Path) -> None:
    hits = medkb("search", "as-needed budesonide-formoterol in mild asthma", "--kb", str(real_kb))
    jsonschema.validate(hits, contract("search"))
    assert hits["results"][0]["external_id"] == "29768149"

    ans = medkb("ask", QUESTION, "--kb", str(real_kb), "--policy", "strict")
    jsonschema.validate(ans, contract("ask"))
    assert ans["model"].startswith("local:SmolLM2")
    assert ans["citations"], "the answer cites at least one passage"
    assert ans["raw_output"], "the real model generated text"
    retrieved = {r["passage_id"] for r in ans["retrieved"]}

    from kb.store import KnowledgeBase

    version = KnowledgeBase(real_kb).current()
    for c in ans["citations"]:
        assert c["passage_id"] in retrieved
        assert version.document(c["doc_id"]).text[c["start"]:c["end"]] == c["text"]

    audit = medkb("audit", ans["id"], "--kb", str(real_kb))
    jsonschema.validate(audit, contract("audit"))
    assert audit["verification"]["sources_intact"] is True
    assert audit["verification"]["ledger_ok"] is True

    info = medkb("info", "--kb", str(real_kb))
    jsonschema.validate(info, contract("info"))
    assert info["embedder"]["model"] == "all-MiniLM-L6-v2" and info["embedder"]["dim"] == 384
