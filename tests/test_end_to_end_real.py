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
        if c.get("kind") == "graph":  # a fact of the clinical block, cited by its source
            assert c["source"] and c["passage_id"] is None
            continue
        assert c["passage_id"] in retrieved
        assert version.document(c["doc_id"]).text[c["start"]:c["end"]] == c["text"]

    audit = medkb("audit", ans["id"], "--kb", str(real_kb))
    jsonschema.validate(audit, contract("audit"))
    assert audit["verification"]["sources_intact"] is True
    assert audit["verification"]["ledger_ok"] is True

    info = medkb("info", "--kb", str(real_kb))
    jsonschema.validate(info, contract("info"))
    assert info["embedder"]["model"] == "all-MiniLM-L6-v2" and info["embedder"]["dim"] == 384



ONE_OF_EACH = {
    "diagnosis": "A 45-year-old man has fever, neck stiffness and photophobia. What is the most likely diagnosis?",
    "treatment": QUESTION,
    "safety": "Should metformin be given to a patient with eGFR 20?",
    "dosing": "What is the recommended dose of amoxicillin for acute otitis media in children?",
}


@pytest.mark.parametrize("qtype", list(ONE_OF_EACH))
def test_one_question_of_each_type_with_real_models(real_kb: Path, qtype: str) -> None:
    """The clinical block shapes the answer of the real small model under strict policy."""
    ans = medkb("ask", ONE_OF_EACH[qtype], "--kb", str(real_kb), "--policy", "strict")
    jsonschema.validate(ans, contract("ask"))
    clinical = ans["clinical"]
    assert clinical["question_type"] == qtype
    texts = [c["text"].lower() for c in ans["claims"]]
    assert len(texts) == len(set(texts)), "no repeated sentences"
    assert not [c for c in ans["checks"] if c["status"] == "fail"], "strict leaves no failing check"
    graph_cites = {c["key"]: c for c in ans["citations"] if c.get("kind") == "graph"}
    if qtype == "diagnosis":
        assert clinical["differential"], "the graph ranks a differential"
        assert "meningitis" in clinical["differential"][0]["disease"].lower()
        assert "meningitis" in ans["answer"].lower().split(".")[0]
    elif qtype == "treatment":
        options = [t for t in clinical["treatments"] if t["status"] == "option"]
        assert options and all(t["for"] for t in options)
        for c in ans["claims"]:  # "first-line" only where a cited passage says so
            if "first-line" in c["text"].lower():
                cited = [x["text"].lower() for x in ans["citations"] if x["key"] in c["citations"]]
                assert any("first-line" in t or "first line" in t for t in cited)
    elif qtype == "safety":
        assert clinical["safety"][0]["verdict"] == "avoid"
        assert ans["answer"].startswith("No: avoid metformin")
        first = ans["claims"][0]
        assert any(graph_cites.get(k, {}).get("source") == "FDA label (metformin)" for k in first["citations"])
    else:
        assert "no passage that gives a dose of amoxicillin" in ans["answer"]
        assert not any("mg" in t for t in texts), "no dose of another drug or population"
