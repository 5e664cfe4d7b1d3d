"""`medkb check`: verify any answer text; JSON contract, policies, inputs, ledger."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import jsonschema
import pytest
from medkb_testutil import build_hash_kb, contract
from typer.testing import CliRunner

RECORDS = [
    {"_id": "htn-1", "title": "Hypertension in pregnancy",
     "text": "Lisinopril is used to treat hypertension. ACE inhibitors such as lisinopril are contraindicated in "
             "pregnancy because of fetal toxicity. Labetalol is preferred for hypertension in pregnancy."},
    {"_id": "dm-1", "title": "Type 2 diabetes",
     "text": "Metformin is the preferred initial drug for type 2 diabetes mellitus. Metformin is "
             "contraindicated in severe renal impairment."},
]
QUESTION = "A 30-year-old woman at 10 weeks' gestation has hypertension. What should I start?"


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hash_kb(tmp_path_factory.mktemp("check"), RECORDS)


def run(*args: str, input: str | None = None):
    from medkb.cli import app

    return CliRunner().invoke(app, ["check", *args], input=input)


def kinds(kb: Path) -> dict[str, str]:
    con = sqlite3.connect(kb / "ledger.sqlite")
    try:
        return dict(con.execute("SELECT id, kind FROM generations").fetchall())
    finally:
        con.close()


def test_check_json_flags_a_contraindicated_recommendation(kb: Path) -> None:
    result = run("--question", QUESTION, "--answer", "Start lisinopril 10 mg daily. Labetalol is preferred "
                 "for hypertension in pregnancy.", "--kb", str(kb), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    jsonschema.validate(out, contract("check"))
    by = {(c["rule"], c["subject"].get("name")): c for c in out["checks"] if isinstance(c["subject"], dict)}
    assert by[("contraindication", "Lisinopril")]["status"] == "fail"
    assert by[("contraindication", "Labetalol")]["status"] == "pass"
    assert by[("indication", "Lisinopril")]["status"] == "pass"
    assert out["model"] == "external" and out["input_answer"].startswith("Start lisinopril")
    assert kinds(kb)[out["id"]] == "check"
    retrieved = {r["passage_id"] for r in out["retrieved"]}
    assert all(c["passage_id"] in retrieved for c in out["citations"])


def test_check_strict_drops_what_fails_and_says_why(kb: Path) -> None:
    result = run("-q", QUESTION, "-a", "Start lisinopril 10 mg daily.", "--kb", str(kb), "--policy", "strict",
                 "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    jsonschema.validate(out, contract("check"))
    assert out["abstained"] and not out["claims"]
    assert "contraindicated in pregnancy" in out["answer"]
    assert out["withheld"][0]["text"].startswith("Start lisinopril")
    assert all(c["status"] != "fail" for c in out["checks"])
    assert any(c["status"] == "fail" for c in out["all_checks"])


def test_check_reads_stdin_and_files(kb: Path, tmp_path: Path) -> None:
    result = run("-q", QUESTION, "-a", "-", "--kb", str(kb), "--json", input="Labetalol is preferred.")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["input_answer"] == "Labetalol is preferred."
    f = tmp_path / "answer.txt"
    f.write_text("Metformin is the preferred initial drug for type 2 diabetes mellitus.")
    result = run("-q", "First-line drug for type 2 diabetes?", "-a", f"@{f}", "--kb", str(kb), "--json")
    out = json.loads(result.stdout)
    assert out["claims"][0]["supported"] is True
    assert {c["rule"]: c["status"] for c in out["checks"]}["indication"] == "pass"


def test_check_human_output(kb: Path) -> None:
    result = run("-q", QUESTION, "-a", "Start lisinopril 10 mg daily.", "--kb", str(kb))
    assert result.exit_code == 0, result.output
    assert "FAIL contraindication" in result.stdout and "failed" in result.stdout
    assert "medkb audit" in result.stdout


@pytest.mark.parametrize("args,message", [
    (["-a", ""], "answer is empty"),
    (["-a", "Start lisinopril.", "--policy", "lenient"], "unknown policy"),
    (["-a", "@/nonexistent/answer.txt"], "cannot read the answer"),
])
def test_check_input_errors(kb: Path, args: list[str], message: str) -> None:
    result = run("-q", QUESTION, *args, "--kb", str(kb))
    assert result.exit_code == 1
    assert message in result.output


def test_checked_answer_can_be_audited(kb: Path) -> None:
    from medkb.cli import app

    out = json.loads(run("-q", QUESTION, "-a", "Labetalol is preferred.", "--kb", str(kb), "--json").stdout)
    result = CliRunner().invoke(app, ["audit", out["id"], "--kb", str(kb), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    jsonschema.validate(data, contract("audit"))
    assert data["verification"]["checks"]["changed"] == []
