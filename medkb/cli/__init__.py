"""`medkb` command line, thin over the Python API (medkb.api). Commands import their work
lazily so `medkb --help` is instant. With --json each prints one JSON document on stdout (the
API result's `to_dict()`); progress and logs go to stderr. Exit codes: 0 ok, 1 input or KB at
fault, 2 usage.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="MedKB: build a medical knowledge base and ask verified, cited questions.")

# One module per command group, each with register(app).
GROUPS = ("build", "query", "models", "eval", "serve", "diagnose")

for _name in GROUPS:
    importlib.import_module(f"medkb.cli.{_name}").register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
