"""How the probe-set scripts write their JSON: one object, `indent=0`, UTF-8 kept as is, a
final newline (kb.embed_select hashes the bytes, so the layout is part of the set)."""

from __future__ import annotations

import json
from typing import Any


def write_set(dst: str, data: dict[str, Any]) -> None:
    with open(dst, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=0, ensure_ascii=False)
        fh.write("\n")
