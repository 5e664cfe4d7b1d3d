"""`medkb check`: verify any answer text (ours or another system's) against the KB.

Registered by kb.cli. Imports stay inside the command so `medkb --help` stays instant.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer


def _read(value: str, what: str) -> str:
    """The text itself, '-' for stdin, or @FILE for a file's content."""
    from kb.errors import MedKBError

    if value == "-":
        return sys.stdin.read()
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise MedKBError(f"cannot read the {what} from {path}: {exc}") from exc
    return value


def register(app: typer.Typer) -> None:
    from kb.cli import JsonOpt, KbOpt

    @app.command()
    def check(
        question: str = typer.Option(..., "--question", "-q", help="The question (text, - for stdin, @FILE)."),
        answer: str = typer.Option(..., "--answer", "-a", help="The answer to verify (text, - for stdin, @FILE)."),
        kb: Path | None = KbOpt,
        policy: str = typer.Option("flag", help="flag: keep and mark; strict: drop what fails."),
        k: int = typer.Option(5, "-k", help="Passages retrieved for the question (and for the answer)."),
        model: str | None = typer.Option("external", help="Who wrote the answer (recorded)."),
        as_json: bool = JsonOpt,
    ) -> None:
        """Verify ANSWER to QUESTION: claim support by the KB's passages and the graph checks
        (indication, contraindication, interaction, diagnosis consistency). Recorded in the
        ledger like `ask`."""
        from kb.cli import _emit, _open, _print_answer, _run

        def go() -> None:
            from generation.answer import check_answer, public_view
            from generation.verify import make_checker
            from kb.errors import MedKBError
            from kb.ledger import Ledger
            from retrieval.search import Searcher

            if policy not in ("flag", "strict"):
                raise MedKBError(f"unknown policy {policy!r}: use flag or strict")
            q = _read(question, "question").strip()
            a = _read(answer, "answer").strip()
            if not q:
                raise MedKBError("the question is empty")
            if not a:
                raise MedKBError("the answer is empty: give the text to check with --answer")
            store, version = _open(kb)
            searcher = Searcher(version)
            checker = make_checker(version, searcher.embedder)
            record = check_answer(q, a, version, searcher, k=k, policy=policy, checker=checker,
                                  model=model)
            gen_id = Ledger(store.root).append(record, kind="check")
            out: dict[str, Any] = {"id": gen_id, **public_view(record)}
            _emit(out, as_json, _print_answer)
            if not as_json:
                for label, checks in (("the answer as given", out.get("all_checks")),
                                      ("the answer as verified", out["checks"])):
                    if checks is None:
                        continue
                    failed = sum(c["status"] == "fail" for c in checks)
                    warned = sum(c["status"] == "warn" for c in checks)
                    print(f"{label}: {failed} failed, {warned} warned, "
                          f"{len(checks) - failed - warned} passed")

        _run(go)
