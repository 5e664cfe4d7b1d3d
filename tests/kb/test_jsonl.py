"""Small JSONL inputs: bad files and lines are named with their line number."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb import jsonl
from kb.errors import InputError


def test_objects_with_line_numbers_skipping_blank_lines(tmp_path: Path) -> None:
    f = tmp_path / "q.jsonl"
    f.write_text('{"id": 1}\n\n{"id": 2}\n', "utf-8")
    assert list(jsonl.objects(f)) == [(1, {"id": 1}), (3, {"id": 2})]


@pytest.mark.parametrize("content, message", [
    ('{"id": 1}\nnot json\n', "line 2 is not JSON"),
    ('[1, 2]\n', "line 1 is not a JSON object"),
])
def test_bad_lines_name_the_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "q.jsonl"
    f.write_text(content, "utf-8")
    with pytest.raises(InputError, match=message) as err:
        list(jsonl.objects(f))
    assert str(f) in str(err.value)


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the scenario file"):
        list(jsonl.objects(tmp_path / "none.jsonl", "scenario file"))
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(b'{"text": "caf\xe9"}\n')
    with pytest.raises(InputError, match="cannot read"):
        list(jsonl.objects(bad))
