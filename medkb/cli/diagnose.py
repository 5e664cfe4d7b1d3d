"""`medkb diagnose`: a ranked differential for a symptom description (graph + retrieval).

    medkb diagnose "fever, neck stiffness and photophobia" --json
    medkb diagnose --input cases.jsonl --json     # lines {"id", "text"} -> one JSON line each

The KB, its graph and the embedder load once; with --input the descriptions are embedded in
batches. Output follows tests/contract/diagnose.schema.json.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from kb.errors import InputError, MedKBError
from medkb.cli.common import JsonOpt, KbOpt, emit, emit_line, open_kb, run


def _read_cases(path: Path) -> list[tuple[Any, str]]:
    from kb import jsonl

    out = []
    for n, rec in jsonl.objects(path):
        if not isinstance(rec.get("text"), str) or not rec["text"].strip():
            raise InputError(str(path), f'line {n}: expected {{"id": ..., "text": "..."}} with a non-empty text')
        out.append((rec.get("id", n), rec["text"]))
    return out


def _human(d: dict[str, Any]) -> None:
    found = ", ".join(f["name"] + (" (denied)" if f["negated"] else "") for f in d["findings"]) or "none recognised"
    print(f"Findings: {found}")
    for i, c in enumerate(d["differential"][:10], 1):
        print(f"{i:2d}. {c['disease']}  score {c['score']:.3f}  explains: {', '.join(c['matched']) or '-'}")
        if c["unmatched"]:
            print(f"      not explained: {', '.join(c['unmatched'])}")
        srcs = sorted({e.get("source") or e.get("title") or "" for e in c["evidence"]} - {""})
        if srcs:
            print(f"      evidence: {'; '.join(srcs[:4])}")


def register(app: typer.Typer) -> None:
    @app.command()
    def diagnose(
        text: str | None = typer.Argument(None, help="A symptom description."),
        input_file: Path | None = typer.Option(None, "--input", help='JSON Lines of {"id", "text"}.'),
        kb: Path | None = KbOpt,
        k: int = typer.Option(10, "-k", help="Candidates to list."),
        as_json: bool = JsonOpt,
    ) -> None:
        """A ranked differential diagnosis for TEXT: findings, candidates with the findings each
        explains, graph edges and retrieved passages as evidence."""

        def go() -> None:
            if (text is None) == (input_file is None):
                raise MedKBError("give a description TEXT or --input FILE.jsonl (not both)")
            if input_file is None:
                emit(open_kb(kb).diagnose(text), as_json, _human)  # type: ignore[arg-type]
                return
            cases = _read_cases(input_file)
            obj = open_kb(kb)
            from generation.clinical.differential import diagnose_many

            s = obj.session()
            docs = diagnose_many([t for _, t in cases], s.version, s.searcher, k)
            for (cid, _), doc in zip(cases, docs, strict=True):
                if as_json:
                    emit_line({"id": cid, **doc})
                else:
                    print(f"== {cid}")
                    _human(doc)
            sys.stdout.flush()

        run(go)
