"""Reading small JSONL input files (question sets, scenarios, descriptions): each line one
JSON object; a file or line that is not one stops with the file and the line number."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kb.errors import InputError


def objects(path: Path | str, what: str = "input file") -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line."""
    try:
        lines = Path(path).read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"cannot read the {what} ({exc})") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise InputError(str(path), f"line {n} is not JSON ({exc})") from exc
        if not isinstance(item, dict):
            raise InputError(str(path), f"line {n} is not a JSON object")
        yield n, item
