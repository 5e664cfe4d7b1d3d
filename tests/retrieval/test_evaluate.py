"""retrieval.evaluate and `medkb eval`: metrics, loaders, the CLI's JSON document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from retrieval_fixtures import BEIR_TINY, open_beir_kb

from retrieval import evaluate as ev


@pytest.fixture(scope="module")
def beir_version(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    version = open_beir_kb(tmp_path_factory.mktemp("beir"))
    yield version
    version.close()


def test_metrics_by_hand() -> None:
    m = ev.query_metrics(["x", "d1", "d2"], {"d1": 2, "d2": 1})
    assert m["R@1"] == 0.0 and m["R@5"] == 1.0 and m["MRR"] == 0.5
    import math

    dcg = 2 / math.log2(3) + 1 / math.log2(4)
    assert m["nDCG@10"] == pytest.approx(dcg / (2 + 1 / math.log2(3)))
    assert ev.query_metrics([], {"d1": 1})["MRR"] == 0.0


def test_collapse_keeps_best_passage_per_document() -> None:
    ranked = [(0, 1.0), (1, 0.9), (2, 0.8), (3, 0.7)]
    assert ev.collapse(ranked, {0: "a", 1: "a", 2: "b", 3: None}) == ["a", "b"]


def test_read_qrels_forms(tmp_path: Path) -> None:
    f = tmp_path / "q.tsv"
    f.write_text("q1 0 d1 1\nq1 0 d2 0\nq2\td3\t2\n")
    assert ev.read_qrels(f) == {"q1": {"d1": 1, "d2": 0}, "q2": {"d3": 2}}


def test_load_beir_keeps_judged_queries() -> None:
    s = ev.load_beir(BEIR_TINY)
    assert sorted(s.queries) == ["q1", "q2", "q3", "q4"]
    assert s.qrels["q1"] == {"d1": 2, "d2": 1}


def test_load_beir_missing_files(tmp_path: Path) -> None:
    from kb.errors import InputError

    with pytest.raises(InputError, match="BEIR folder"):
        ev.load_beir(tmp_path)


def test_load_pubmedqa(tmp_path: Path) -> None:
    f = tmp_path / "pqa.json"
    f.write_text(json.dumps({"123": {"QUESTION": "Does X help?", "final_decision": "yes"}}))
    s = ev.load_pubmedqa(f)
    assert s.queries == {"123": "Does X help?"} and s.qrels == {"123": {"123": 1}}


def test_evaluate_and_tune(beir_version) -> None:  # noqa: ANN001
    from retrieval.search import Searcher

    searcher = Searcher(beir_version)
    s = ev.load_beir(BEIR_TINY)
    out = ev.evaluate(searcher, s)
    assert out["n_queries"] == 4 and set(out["methods"]) == {"dense", "sparse", "hybrid"}
    for m in out["methods"].values():
        assert set(ev.METRIC_NAMES) <= set(m) and all(0 <= m[k] <= 1 for k in ev.METRIC_NAMES)
    assert out["methods"]["sparse"]["R@20"] == 1.0
    t = ev.tune(searcher, s, grid={"fusion": ("rrf", "convex"), "dense_weight": (0.5, 2.0)})
    assert len(t["points"]) == 4 and t["best"] in t["points"]
    assert searcher.config == Searcher(beir_version).config  # restored


def _cli(args: list[str]) -> dict:
    from typer.testing import CliRunner

    from medkb.cli import app

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_eval_retrieval_builds_then_reuses(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    args = ["eval", "retrieval", str(BEIR_TINY), "--kb", str(kb), "--embedder", "hash-256",
            "--json"]
    out = _cli(args)
    assert out["n_queries"] == 4
    assert set(out["methods"]) == {"dense", "sparse", "hybrid"}
    for m in out["methods"].values():
        assert {"nDCG@10", "R@1", "R@5", "R@20", "MRR"} <= set(m)
    again = _cli(args + ["--qrels", str(BEIR_TINY / "qrels" / "test.tsv")])
    assert again["kb_version"] == out["kb_version"]  # reused, not rebuilt


def test_cli_eval_bad_folder_exits_1(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medkb.cli import app

    result = CliRunner().invoke(app, ["eval", "retrieval", str(tmp_path), "--json"])
    assert result.exit_code == 1
    assert "BEIR folder" in result.output


def test_import_cli_eval_stays_light() -> None:
    import subprocess
    import sys

    code = ("import sys, medkb.cli, medkb.cli.eval; print(','.join(m for m in ('torch', 'faiss', "
            "'bm25s', 'retrieval.evaluate') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_chart_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from retrieval.chart import methods_chart

    result = {"dataset": "tiny", "n_queries": 4, "passages": 8, "embedder": "hash-256",
              "methods": {m: {k: 0.5 for k in ev.METRIC_NAMES}
                          for m in ("dense", "sparse", "hybrid")}}
    out = methods_chart(result, tmp_path / "c.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
