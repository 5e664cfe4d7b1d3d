"""`medkb audit --verify-ledger` detects edited, reordered and deleted records; an append
interrupted by a crash is not mistaken for tampering."""

from __future__ import annotations

import json
import multiprocessing as mp
import re
import signal
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kb.faults import call_with_fault
from kb.ledger import Ledger
from medkb.cli import app


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    led = Ledger(tmp_path / "kb")
    for i in range(5):
        led.append({"question": f"question {i}", "kb_version": "v0001-test", "answer": f"a{i}"})
    assert led.verify()["ledger_ok"]
    return led


def _sql(led: Ledger, *statements: str) -> None:
    con = sqlite3.connect(led.path)
    for st in statements:
        con.execute(st)
    con.commit()
    con.close()


def _cli_verify(led: Ledger) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["audit", "--verify-ledger", "--kb", str(led.root), "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_intact_ledger_passes(ledger: Ledger) -> None:
    code, data = _cli_verify(ledger)
    assert code == 0 and data["ledger_ok"] and data["records"] == 5 and not data["problems"]


@pytest.mark.parametrize("statement, words", [
    ("UPDATE generations SET record = replace(record, 'question 2', 'question X') WHERE seq = 3",
     "record 3 (.*) was modified"),
    ("UPDATE generations SET created_at = '2000-01-01T00:00:00+00:00' WHERE seq = 2",
     "record 2 (.*) was modified"),
    ("UPDATE generations SET kind = 'check' WHERE seq = 4", "record 4 (.*) was modified"),
    ("UPDATE generations SET kb_version = 'v9999' WHERE seq = 5", "record 5 (.*) was modified"),
    ("UPDATE generations SET id = 'abcdef0123456789' WHERE seq = 1", "record 1 (.*) was modified"),
])
def test_edited_record_is_detected(ledger: Ledger, statement: str, words: str) -> None:
    _sql(ledger, statement)
    result = ledger.verify()
    assert not result["ledger_ok"]
    assert any(re.search(words, p) for p in result["problems"]), result
    code, data = _cli_verify(ledger)
    assert code == 1 and not data["ledger_ok"]


def test_reordered_records_are_detected(ledger: Ledger) -> None:
    _sql(ledger,
         "UPDATE generations SET seq = 100 WHERE seq = 2",
         "UPDATE generations SET seq = 2 WHERE seq = 3",
         "UPDATE generations SET seq = 3 WHERE seq = 100")
    result = ledger.verify()
    assert not result["ledger_ok"]
    assert any("does not follow its predecessor" in p for p in result["problems"])


@pytest.mark.parametrize("seq", [1, 3, 5])
def test_deleted_record_is_detected(ledger: Ledger, seq: int) -> None:
    _sql(ledger, f"DELETE FROM generations WHERE seq = {seq}")
    result = ledger.verify()
    assert not result["ledger_ok"], result
    code, _ = _cli_verify(ledger)
    assert code == 1


def test_deleted_head_file_is_detected(ledger: Ledger) -> None:
    ledger.head_path.unlink()
    assert "head file is missing" in " ".join(ledger.verify()["problems"])


def test_interrupted_append_is_not_tampering(ledger: Ledger) -> None:
    ctx = mp.get_context("forkserver")
    proc = ctx.Process(target=call_with_fault, args=(
        "ledger-before-head", ledger.append, {"question": "killed", "kb_version": "v0001-test"}))
    proc.start()
    proc.join(60)
    assert proc.exitcode == -signal.SIGKILL
    result = ledger.verify()
    assert result["ledger_ok"] and result["records"] == 6
    assert "interrupted append" in result["notes"][0]
    ledger.append({"question": "next"})
    result = ledger.verify()
    assert result["ledger_ok"] and result["records"] == 7 and not result["notes"]
    # A record removed after that is still caught.
    _sql(ledger, "DELETE FROM generations WHERE seq = 7")
    assert not ledger.verify()["ledger_ok"]
