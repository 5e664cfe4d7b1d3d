"""MedKB's application layer: the Python API, the CLI, the server and integrations.

    import medkb
    kb = medkb.open("kb1")
    print(kb.ask("Should metformin be given at eGFR 20?", policy="strict").answer)

The only package that wires kb, ingest, retrieval and generation together; nothing below
imports it. Importing it stays light (no torch until a model is needed).
"""

from __future__ import annotations

from kb.errors import MedKBError
from medkb.api import BuildSettings, MedKB, build, open
from medkb.backends import BackendSettings
from medkb.results import (
                           AnswerResult,
                           AuditResult,
                           BuildReport,
                           DiagnoseResult,
                           GraphResult,
                           InfoResult,
                           Result,
                           SearchHit,
                           SearchResult,
)

__all__ = ["AnswerResult", "AuditResult", "BackendSettings", "BuildReport", "BuildSettings",
           "DiagnoseResult", "GraphResult", "InfoResult", "MedKB", "MedKBError", "Result",
           "SearchHit", "SearchResult", "build", "open"]
