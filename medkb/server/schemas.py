"""Request bodies. Limits live here so the OpenAPI page documents them; responses are the
`--json` contract documents (tests/contract/*.schema.json)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_QUESTION_CHARS = 4000  # medkb.api's limit too
MAX_ANSWER_CHARS = 20_000
ID_PATTERN = r"^(latest|[0-9a-f]{4,64})$"  # a generation id or unique prefix; nothing else
PASSAGE_PATTERN = r"^[0-9a-f]{8,64}$"
VERSION_PATTERN = r"^v\d{4}-[0-9a-f]{8}$"

Question = Field(min_length=1, max_length=MAX_QUESTION_CHARS,
                 description="Free text; 1 to 4,000 characters.")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt or client-chosen setting is refused


class SearchRequest(Strict):
    query: str = Question
    k: int = Field(10, ge=1, le=100)
    method: Literal["hybrid", "dense", "sparse"] = "hybrid"
    evidence_types: list[str] | None = Field(None, max_length=20)
    year_min: int | None = Field(None, ge=0, le=3000)
    year_max: int | None = Field(None, ge=0, le=3000)


class AskRequest(Strict):
    question: str = Question
    policy: Literal["flag", "strict"] = "flag"
    backend: str | None = Field(None, max_length=40, description="One of the served backends "
                                "(GET /api/info lists them); default: the server's default.")
    k: int = Field(5, ge=1, le=20)


class CheckRequest(Strict):
    question: str = Question
    answer: str = Field(min_length=1, max_length=MAX_ANSWER_CHARS)
    policy: Literal["flag", "strict"] = "flag"
    k: int = Field(5, ge=1, le=20)


class DiagnoseRequest(Strict):
    text: str = Question
