"""What the API returns: frozen records whose `to_dict()` is exactly the `--json` contract.

Each record keeps the contract document (normalised through JSON once, as the CLI prints
it) and exposes its main fields as typed, read-only attributes. The CLI prints
`to_dict()`, the server returns it, so the three surfaces cannot drift apart.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


def _normalise(data: Mapping[str, Any]) -> dict[str, Any]:
    """As the CLI prints it: JSON types only (paths and other objects become strings)."""
    return json.loads(json.dumps(dict(data), ensure_ascii=False, default=str))


@dataclass(frozen=True)
class Result:
    """A contract document. `to_dict()` returns a fresh copy; the record never changes."""

    data: Mapping[str, Any] = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", MappingProxyType(_normalise(self.data)))

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.data))

    def __getitem__(self, key: str) -> Any:
        return copy.deepcopy(self.data[key])

    def get(self, key: str, default: Any = None) -> Any:
        return copy.deepcopy(self.data.get(key, default))

    @property
    def kb_version(self) -> str | None:
        return self.data.get("kb_version")


@dataclass(frozen=True)
class SearchHit:
    passage_id: str
    doc_id: str
    external_id: str | None
    score: float
    title: str | None
    source: str | None
    page: int | None
    start: int
    end: int
    text: str
    evidence_type: str | None = None
    year: int | None = None


@dataclass(frozen=True)
class SearchResult(Result):
    @property
    def results(self) -> tuple[SearchHit, ...]:
        keys = SearchHit.__dataclass_fields__
        return tuple(SearchHit(**{k: r.get(k) for k in keys}) for r in self.data["results"])

    def __len__(self) -> int:
        return len(self.data["results"])


@dataclass(frozen=True)
class AnswerResult(Result):
    """`ask` and `check`: the verified answer, its claims, citations and checks."""

    @property
    def id(self) -> str | None:
        return self.data.get("id")

    @property
    def answer(self) -> str:
        return self.data["answer"]

    @property
    def abstained(self) -> bool:
        return bool(self.data.get("abstained"))

    @property
    def claims(self) -> list[dict[str, Any]]:
        return self.get("claims", [])

    @property
    def citations(self) -> list[dict[str, Any]]:
        return self.get("citations", [])

    @property
    def checks(self) -> list[dict[str, Any]]:
        return self.get("checks", [])

    @property
    def clinical(self) -> dict[str, Any] | None:
        return self.get("clinical")

    @property
    def failed_checks(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if c.get("status") == "fail"]


@dataclass(frozen=True)
class DiagnoseResult(Result):
    @property
    def findings(self) -> list[dict[str, Any]]:
        return self.get("findings", [])

    @property
    def differential(self) -> list[dict[str, Any]]:
        return self.get("differential", [])

    @property
    def leading(self) -> str | None:
        diff = self.data.get("differential") or []
        return diff[0]["disease"] if diff else None


@dataclass(frozen=True)
class AuditResult(AnswerResult):
    @property
    def verification(self) -> dict[str, Any]:
        return self.get("verification", {})

    @property
    def sources_intact(self) -> bool:
        return bool(self.data.get("verification", {}).get("sources_intact"))


@dataclass(frozen=True)
class GraphResult(Result):
    @property
    def entity(self) -> dict[str, Any]:
        return self.get("entity", {})

    @property
    def edges(self) -> list[dict[str, Any]]:
        return self.get("edges", [])


@dataclass(frozen=True)
class InfoResult(Result):
    @property
    def versions(self) -> list[str]:
        return self.get("versions", [])


@dataclass(frozen=True)
class BuildReport(Result):
    @property
    def documents(self) -> int:
        return int(self.data.get("documents", 0))

    @property
    def passages(self) -> int:
        return int(self.data.get("passages", 0))

    @property
    def failed(self) -> list[dict[str, Any]]:
        return self.get("failed", [])
