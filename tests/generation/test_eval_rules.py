"""`medkb eval rules FILE`: constraint-rule accuracy over a scenario file (generation.scenarios)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from medkb_testutil import ROOT, TINY_RECORDS, build_hash_kb, write_jsonl

SCENARIOS = ROOT / "tests" / "fixtures" / "clinical_scenarios.jsonl"
# Written as real questions before the fixes they prompted (ho1-: 92.5% before, ho2-: 92.0%
# untouched, measured on first reading); the floor keeps them from sliding back.
HELDOUT = ROOT / "tests" / "fixtures" / "clinical_scenarios_heldout.jsonl"

MINI = [
    {"id": "ok", "question": "A woman at 12 weeks' gestation has hypertension. Start lisinopril?",
     "answer": "Start lisinopril.",
     "expected": [{"rule": "contraindication", "subject": "lisinopril", "status": "fail"}]},
    {"id": "wrong", "question": "On warfarin. Analgesic?", "answer": "Start ibuprofen.",
     "expected": [{"rule": "interaction", "subject": "ibuprofen", "object": "warfarin",
                   "status": "pass"},
                  {"rule": "contraindication", "subject": "acetaminophen", "status": "none"}]},
]


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hash_kb(tmp_path_factory.mktemp("rules"), TINY_RECORDS)


def _invoke(args: list[str]):  # noqa: ANN202
    from typer.testing import CliRunner

    from medkb.cli import app

    return CliRunner().invoke(app, args)


def _cli(args: list[str]) -> dict:
    result = _invoke(args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_shipped_scenarios(kb: Path) -> None:
    out = _cli(["eval", "rules", str(SCENARIOS), "--kb", str(kb), "--json"])
    assert out["scenarios"] == len(SCENARIOS.read_text().splitlines())
    assert {"indication", "contraindication", "interaction", "diagnosis_consistency"} <= set(out["per_rule"])
    assert sum(r["n"] for r in out["per_rule"].values()) == out["expected_checks"] >= 40
    assert sum(r["right"] for r in out["per_rule"].values()) == out["right"]
    assert out["accuracy"] >= 0.95
    assert len(out["misses"]) == out["expected_checks"] - out["right"]
    for m in out["misses"]:
        assert {"id", "rule", "subject", "expected", "got"} <= set(m) and m["expected"] != m["got"]


def test_heldout_scenarios(kb: Path) -> None:
    out = _cli(["eval", "rules", str(HELDOUT), "--kb", str(kb), "--json"])
    assert out["scenarios"] == len(HELDOUT.read_text().splitlines()) >= 100
    assert {"indication", "contraindication", "interaction", "diagnosis_consistency"} <= set(out["per_rule"])
    assert out["accuracy"] >= 0.90, out["misses"]


def test_misses_are_listed_per_rule(kb: Path, tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "s.jsonl", MINI)
    out = _cli(["eval", "rules", str(f), "--kb", str(kb), "--json"])
    assert (out["scenarios"], out["expected_checks"], out["right"]) == (2, 3, 2)
    assert out["per_rule"]["interaction"] == {"n": 1, "right": 0, "accuracy": 0.0}
    assert out["per_rule"]["contraindication"] == {"n": 2, "right": 2, "accuracy": 1.0}
    (miss,) = out["misses"]
    assert (miss["id"], miss["rule"], miss["expected"], miss["got"]) == ("wrong", "interaction",
                                                                         "pass", "fail")
    table = _invoke(["eval", "rules", str(f), "--kb", str(kb)])
    assert table.exit_code == 0
    assert "accuracy 0.6667" in table.stdout and "miss wrong: interaction ibuprofen + warfarin" \
        in table.stdout


def test_bad_scenario_file_exits_1(kb: Path, tmp_path: Path) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps(MINI[0]) + "\n" + json.dumps({"question": "q", "answer": "a"}) + "\n")
    r = _invoke(["eval", "rules", str(f), "--kb", str(kb)])
    assert r.exit_code == 1 and "line 2" in r.output
    g = write_jsonl(tmp_path / "status.jsonl", [{**MINI[0], "expected": [
        {"rule": "indication", "subject": "x", "status": "maybe"}]}])
    r = _invoke(["eval", "rules", str(g), "--kb", str(kb)])
    assert r.exit_code == 1 and "status" in r.output


def test_kb_without_graph_exits_1(tiny_kb: Path) -> None:
    r = _invoke(["eval", "rules", str(SCENARIOS), "--kb", str(tiny_kb)])
    assert r.exit_code == 1 and "no knowledge graph" in r.output
