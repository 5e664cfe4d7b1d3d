"""MedKB retrieval as a LangChain retriever (extra `medkb[langchain]`: langchain-core).

    from medkb.integrations.langchain import MedKBRetriever
    retriever = MedKBRetriever.from_path("kb1", k=5)
    docs = retriever.invoke("metformin in renal impairment")
    chain = {"context": retriever | format_docs, "question": RunnablePassthrough()} | prompt | llm

Each `Document` is one passage: `page_content` is the passage text, `metadata` holds where it
comes from (external_id, doc_id, passage_id, start, end, page, title, source, score, rank,
evidence_type, year, kb_version). The passages are exactly those of `medkb.MedKB.search`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

METADATA_KEYS = ("external_id", "doc_id", "passage_id", "start", "end", "page", "title",
                 "source", "score", "rank", "evidence_type", "year", "section")


class MedKBRetriever(BaseRetriever):
    """Retrieves passages from an opened MedKB (`medkb.open(path)`)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    kb: Any = Field(description="A medkb.MedKB, e.g. medkb.open('kb1').")
    k: int = Field(5, ge=1, le=1000, description="Passages per query.")
    method: str = Field("hybrid", description="hybrid | dense | sparse")
    filters: dict[str, Any] | None = Field(
        None, description="evidence_types, year_min, year_max, sources (as kb.search takes).")

    @classmethod
    def from_path(cls, path: str | Path, **kwargs: Any) -> MedKBRetriever:
        import medkb

        return cls(kb=medkb.open(path), **kwargs)

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        result = self.kb.search(query, self.k, method=self.method, filters=self.filters)
        data = result.to_dict()
        return [to_document(hit, data.get("kb_version")) for hit in data["results"]]


def to_document(hit: dict[str, Any], kb_version: str | None = None) -> Document:
    """A search hit (the `medkb search --json` shape) as a LangChain Document."""
    metadata = {key: hit.get(key) for key in METADATA_KEYS}
    metadata["kb_version"] = kb_version
    return Document(page_content=hit["text"], metadata=metadata, id=hit.get("passage_id"))
