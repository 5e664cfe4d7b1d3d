"""Issue 2/5 bar: each PubMedQA dev question finds its own abstract (real MiniLM embedder)."""

from __future__ import annotations

from pathlib import Path

import pytest
from medkb_testutil import ROOT

pytestmark = pytest.mark.slow

QUESTIONS = ROOT.parent / "shared" / "data" / "eval" / "pubmedqa_pqal_dev.json"
ABSTRACTS = ROOT / "corpora" / "literature" / "pubmedqa_dev_abstracts.xml"


@pytest.mark.skipif(not QUESTIONS.exists(), reason="needs ../shared/data/eval")
def test_pubmedqa_own_abstract_in_top5(tmp_path: Path) -> None:
    from ingest.pipeline import BuildOptions, build
    from kb.store import KnowledgeBase
    from retrieval.evaluate import evaluate, load_pubmedqa
    from retrieval.search import Searcher

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / ABSTRACTS.name).symlink_to(ABSTRACTS)
    report = build([corpus], tmp_path / "kb", BuildOptions(graph_seeds=None))
    assert report["documents"] == 500 and report["failed"] == []
    searcher = Searcher(KnowledgeBase(tmp_path / "kb").current())
    result = evaluate(searcher, load_pubmedqa(QUESTIONS))
    assert result["n_queries"] == 500
    m = result["methods"]
    assert m["dense"]["R@5"] >= 0.9 and m["hybrid"]["R@5"] >= 0.9
    # hybrid at least as good as either alone on the two headline metrics
    for metric in ("R@1", "nDCG@10"):
        assert m["hybrid"][metric] >= max(m["dense"][metric], m["sparse"][metric]) - 0.004
