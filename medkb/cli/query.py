"""`medkb search`, `ask`, `check`, `audit`, `graph`, `info`: read a KB (ask/check also record
their generation in the ledger)."""

from __future__ import annotations

from pathlib import Path

import typer

from kb.errors import MedKBError
from medkb.cli import render
from medkb.cli.common import JsonOpt, KbOpt, emit, open_kb, read_text_arg, run

IncludeRetractedOpt = typer.Option(False, "--include-retracted", help="Also retrieve retracted papers (flagged; never cited).")


def register(app: typer.Typer) -> None:
    @app.command()
    def search(
        query: str = typer.Argument(...),
        kb: Path | None = KbOpt,
        k: int = typer.Option(10, "-k", help="Number of results."),
        method: str = typer.Option("hybrid", help="hybrid | dense | sparse"),
        evidence_type: list[str] = typer.Option([], "--evidence-type", help="e.g. rct, guideline, consumer_health; repeatable."),
        year_min: int | None = typer.Option(None, "--year-min"),
        year_max: int | None = typer.Option(None, "--year-max"),
        source: list[str] = typer.Option([], "--source", help="Substring or glob of the source path; repeatable."),
        include_retracted: bool = IncludeRetractedOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Retrieve passages for QUERY (with each document's summary and evidence class)."""

        def go() -> None:
            filters = {"evidence_types": evidence_type, "year_min": year_min,
                       "year_max": year_max, "sources": source}
            emit(open_kb(kb).search(query, k, method=method, filters=filters,
                                    include_retracted=include_retracted), as_json,
                 render.search_results)

        run(go)

    @app.command()
    def ask(
        question: str = typer.Argument(...),
        kb: Path | None = KbOpt,
        backend: str = typer.Option("local", help="local | openai | extractive"),
        model: str | None = typer.Option(None, help="Generator model id/path (local) or name (openai)."),
        base_url: str | None = typer.Option(None, help="OpenAI-compatible server URL, e.g. http://localhost:8000/v1"),
        policy: str = typer.Option("flag", help="flag: keep and mark; strict: drop unsupported claims."),
        k: int = typer.Option(5, "-k", help="Passages given to the generator."),
        include_retracted: bool = IncludeRetractedOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Answer QUESTION from the KB with citations, verify it, and record it in the ledger."""

        def go() -> None:
            from medkb.backends import BackendSettings

            settings = BackendSettings.from_env(model=model, base_url=base_url)
            result = open_kb(kb, backend_settings=settings).ask(
                question, policy=policy, backend=backend, k=k,
                include_retracted=include_retracted)
            emit(result, as_json, render.answer)

        run(go)

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

        def go() -> None:
            q = read_text_arg(question, "question").strip()
            a = read_text_arg(answer, "answer").strip()
            if not q:
                raise MedKBError("the question is empty")
            if not a:
                raise MedKBError("the answer is empty: give the text to check with --answer")
            result = open_kb(kb).check(q, a, policy=policy, k=k, model=model)
            emit(result, as_json, render.check_summary)

        run(go)

    @app.command()
    def audit(
        gen_id: str | None = typer.Argument(None, help="Generation id (a unique prefix is enough)."),
        kb: Path | None = KbOpt,
        verify_ledger: bool = typer.Option(False, "--verify-ledger", help="Check the whole ledger chain."),
        affected: bool = typer.Option(False, "--affected", help="List the recorded generations whose cited sources were removed, changed or retracted, or whose checks now differ."),
        since: str | None = typer.Option(None, "--since", help="With --affected: only changes after this KB version."),
        as_json: bool = JsonOpt,
    ) -> None:
        """Show a past generation and re-verify its sources and the ledger chain."""

        def go() -> None:
            import medkb

            api = medkb.MedKB(kb)
            if affected:
                from medkb.cli import impact

                emit(open_kb(kb).affected(since), as_json, impact.affected)
                return
            if since is not None:
                raise MedKBError("--since goes with --affected")
            if gen_id is None:
                if not verify_ledger:
                    raise MedKBError("give a generation id, or --verify-ledger")
                result = api.verify_ledger()
                emit(result, as_json)
                if not result["ledger_ok"]:
                    raise typer.Exit(1)
                return
            emit(api.audit(gen_id), as_json, render.audit)

        run(go)

    @app.command()
    def graph(entity: str = typer.Argument(...), kb: Path | None = KbOpt,
              as_json: bool = JsonOpt) -> None:
        """What the knowledge graph knows about ENTITY (a name, synonym or id)."""
        run(lambda: emit(open_kb(kb).graph(entity), as_json, render.graph))

    @app.command()
    def info(kb: Path | None = KbOpt, as_json: bool = JsonOpt) -> None:
        """KB facts and versions."""
        run(lambda: emit(open_kb(kb).info(), as_json, render.info))
