"""What every command shares: options, output, error handling, opening the KB."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from kb.errors import MedKBError

KbOpt = typer.Option(None, "--kb", help="KB directory (default $MEDKB_HOME, else ./medkb-data)")
JsonOpt = typer.Option(False, "--json", help="Print one JSON document on stdout.")


def emit(data: Any, as_json: bool, human: Callable[[Any], None] | None = None) -> None:
    """One JSON document on stdout with --json (or without a human view), else the view."""
    if hasattr(data, "to_dict"):
        data = data.to_dict()
    if as_json or human is None:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=1, default=str) + "\n")
    else:
        human(data)


def emit_line(data: Any) -> None:
    """One JSON document on one line (for JSON Lines output)."""
    if hasattr(data, "to_dict"):
        data = data.to_dict()
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def quiet_libraries() -> None:
    # Library chatter (weight-loading bars, tokenizer warnings) is not our progress display.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    level = os.environ.get("MEDKB_LOG", "WARNING").upper()
    logging.basicConfig(level=getattr(logging, level, logging.WARNING), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "sentence_transformers", "transformers", "faiss", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def run(fn: Callable[[], None]) -> None:
    """Run a command body: MedKB errors become one line on stderr and exit code 1."""
    quiet_libraries()
    try:
        fn()
    except MedKBError as exc:
        print(f"medkb: error: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None


def open_kb(kb: Path | None, **kwargs: Any) -> Any:
    """The API object for --kb, with its fallback warning (a damaged live version) shown."""
    import medkb

    obj = medkb.open(kb, **kwargs)
    obj.session()
    for w in obj.warnings:
        print(f"medkb: warning: {w}", file=sys.stderr)
    return obj


def progress() -> tuple[Callable[[str, int, int], None], Any]:
    """A progress callback drawing on stderr (rich bars on a terminal, sparse lines otherwise).
    Returns (callback, bars or None); start/stop the bars around the work."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        last: dict[str, int] = {}

        def plain(stage: str, done: int, total: int) -> None:
            step = max(1, total // 5)
            if done == total or done - last.get(stage, -step) >= step:
                last[stage] = done
                print(f"[{stage}] {done}/{total}", file=sys.stderr, flush=True)

        return plain, None
    bars = Progress(TextColumn("{task.description:>8}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)
    tasks: dict[str, Any] = {}

    def cb(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(stage, total=total)
        bars.update(tasks[stage], completed=done, total=total)

    return cb, bars


def read_text_arg(value: str, what: str) -> str:
    """The text itself, '-' for stdin, or @FILE for a file's content."""
    if value == "-":
        return sys.stdin.read()
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise MedKBError(f"cannot read the {what} from {path}: {exc}") from exc
    return value
