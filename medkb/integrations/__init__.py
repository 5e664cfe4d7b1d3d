"""Adapters that plug MedKB into other frameworks (each needs its own extra):

- `medkb.integrations.langchain.MedKBRetriever` — a LangChain retriever (`medkb[langchain]`).
"""
