"""Engines that run the ingest stages (ingest.stages) over batches.

Only the local engine exists; the seam is kept so that a Ray engine (DESIGN §9) can map the
same stage functions over a cluster and hand the writer the same records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kb.errors import KBError


class LocalEngine:
    """Runs stages in this process, batch after batch."""

    name = "local"

    def map(self, fn: Callable[..., Any], batches: Sequence[Any], *args: Any) -> list[Any]:
        return [fn(b, *args) for b in batches]


def get_engine(name: str) -> LocalEngine:
    if name == "local":
        return LocalEngine()
    raise KBError(f"unknown build engine {name!r}: only 'local' is available")


def batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
