"""JSONL records, one object per line (plain or gzip): `id`/`_id`, `title`, `text`, and any
other keys kept as metadata. BEIR `corpus.jsonl` files read as they are."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest.readers._layout import make_document, normalise_block, parse_year
from ingest.readers.limits import DEFAULT_LIMITS, ReadLimits, human_bytes
from kb.errors import InputError
from kb.records import Document

FORMAT = "jsonl"
_ID_KEYS = ("id", "_id")
_OWN_KEYS = {"id", "_id", "title", "text"}


def read(path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> Iterator[Document]:
    source = str(path)
    gz = path.name.lower().endswith(".gz")
    seen: set[str] = set()
    line_no = 0
    inflated = 0
    try:
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as fh:
            while True:
                raw = fh.readline(limits.max_line_bytes + 1)  # bounded, even for a bomb
                if not raw:
                    break
                line_no += 1
                if len(raw) > limits.max_line_bytes:
                    raise InputError(source, f"line {line_no} is longer than the "
                                     f"{human_bytes(limits.max_line_bytes)} limit for one record")
                inflated += len(raw)
                if gz and inflated > limits.max_decompressed_bytes:
                    raise InputError(source, "decompresses to more than the "
                                     f"{human_bytes(limits.max_decompressed_bytes)} limit "
                                     "(a gzip bomb?); split the file or raise the limit")
                line = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
                if not line.strip():
                    continue
                doc = _document(_parse(line, source, line_no), path, line_no, seen)
                if doc is not None:
                    yield doc
    except InputError:
        raise
    except UnicodeDecodeError as exc:
        raise InputError(
            source, f"line {line_no}: not UTF-8 text (byte {exc.start} of the line: {exc.reason}); "
            "convert the file to UTF-8"
        ) from exc
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise InputError(source, f"corrupt gzip data after line {line_no} ({exc})") from exc
    except OSError as exc:
        raise InputError(source, f"cannot read file: {exc.strerror or exc}") from exc


def _parse(line: str, source: str, line_no: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(
            source,
            f"line {line_no}: invalid JSON ({exc.msg} at column "
            f"{exc.colno}); each line must be one JSON object",
        ) from exc
    if not isinstance(record, dict):
        raise InputError(
            source, f"line {line_no}: expected a JSON object, found {type(record).__name__}"
        )
    return record


def _str(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _document(record: dict[str, Any], path: Path, line_no: int, seen: set[str]) -> Document | None:
    text = normalise_block(_str(record.get("text")))
    if not text:
        return None
    raw_id = next((record[k] for k in _ID_KEYS if record.get(k) not in (None, "")), None)
    external_id = None if raw_id is None else _str(raw_id).strip() or None

    metadata: dict[str, Any] = {}
    nested = record.get("metadata")
    if isinstance(nested, dict):
        metadata.update(nested)
    metadata.update((k, v) for k, v in record.items() if k not in _OWN_KEYS | {"metadata"})
    if nested is not None and not isinstance(nested, dict):
        metadata["metadata"] = nested
    year = parse_year(metadata.get("year"))

    # Record ids are not always unique within a file (MedQuAD numbers each source
    # separately); a repeated id gets its line number so that every source is distinct.
    if external_id is None:
        source = f"{path}#{line_no}"
    elif external_id in seen:
        source = f"{path}#{external_id}@{line_no}"
    else:
        source = f"{path}#{external_id}"
    if external_id is not None:
        seen.add(external_id)

    return make_document(
        source=source,
        format=FORMAT,
        title=_str(record.get("title")) or None,
        sections=[(None, text)],
        external_id=external_id,
        year=year,
        metadata=metadata,
    )
