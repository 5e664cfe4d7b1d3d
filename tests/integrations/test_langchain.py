"""The LangChain retriever: the same passages as kb.search, Documents with provenance
metadata, and inside a real LCEL chain with langchain-core's fake chat model."""

from __future__ import annotations

import pytest

pytest.importorskip("langchain_core")

from langchain_core.documents import Document  # noqa: E402
from langchain_core.language_models.fake_chat_models import ParrotFakeChatModel  # noqa: E402
from langchain_core.output_parsers import StrOutputParser  # noqa: E402
from langchain_core.prompts import ChatPromptTemplate  # noqa: E402
from langchain_core.runnables import RunnablePassthrough  # noqa: E402
from medkb_testutil import TINY_RECORDS, build_hash_kb  # noqa: E402

import medkb  # noqa: E402
from medkb.integrations.langchain import MedKBRetriever  # noqa: E402

QUERY = "What treats mild asthma?"


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    return medkb.open(build_hash_kb(tmp_path_factory.mktemp("lc"), TINY_RECORDS))


def test_same_passages_as_kb_search(kb):
    retriever = MedKBRetriever(kb=kb, k=3)
    docs = retriever.invoke(QUERY)
    hits = kb.search(QUERY, 3).results
    assert [d.metadata["passage_id"] for d in docs] == [h.passage_id for h in hits]
    assert [d.page_content for d in docs] == [h.text for h in hits]
    assert [d.metadata["score"] for d in docs] == [h.score for h in hits]


def test_documents_carry_provenance(kb):
    doc = MedKBRetriever(kb=kb, k=1).invoke("metformin renal impairment")[0]
    assert isinstance(doc, Document)
    meta = doc.metadata
    for key in ("external_id", "doc_id", "passage_id", "start", "end", "page", "title", "score",
                "evidence_type", "kb_version"):
        assert key in meta
    assert meta["external_id"] == "dm-1" and meta["title"] == "Type 2 diabetes"
    assert meta["end"] - meta["start"] == len(doc.page_content)
    assert meta["kb_version"] == kb.info().kb_version
    assert doc.id == meta["passage_id"]


def test_filters_and_from_path(kb):
    retriever = MedKBRetriever.from_path(kb.path, k=5, filters={"sources": ["*#flu-1"]})
    docs = retriever.invoke("infection treatment")
    assert docs and {d.metadata["external_id"] for d in docs} == {"flu-1"}


def test_inside_an_lcel_chain(kb):
    retriever = MedKBRetriever(kb=kb, k=2)

    def format_docs(docs: list[Document]) -> str:
        return "\n\n".join(f"[{d.metadata['external_id']}] {d.page_content}" for d in docs)

    prompt = ChatPromptTemplate.from_messages([
        ("system", "Answer only from these passages:\n{context}"),
        ("human", "{question}"),
    ])
    # The parrot model repeats the last message it was sent; the prompt's context is checked
    # through the chain's intermediate step below.
    seen: list = []

    def capture(value):
        seen.append(value)
        return value

    chain = ({"context": retriever | format_docs, "question": RunnablePassthrough()}
             | prompt | capture | ParrotFakeChatModel() | StrOutputParser())
    out = chain.invoke(QUERY)
    assert out == QUERY
    system = seen[0].to_messages()[0].content
    expected = format_docs(retriever.invoke(QUERY))
    assert expected in system and "asthma-1" in system


def test_async_retrieval(kb):
    import asyncio

    retriever = MedKBRetriever(kb=kb, k=2)
    docs = asyncio.run(retriever.ainvoke(QUERY))
    assert [d.metadata["passage_id"] for d in docs] == [h.passage_id for h in kb.search(QUERY, 2).results]
