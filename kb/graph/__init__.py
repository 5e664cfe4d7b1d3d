"""The knowledge graph: curated seeds and literature edges in one NetworkX multi-digraph.

Every edge keeps where it came from (a curated file and its note, or a passage span with a
confidence), and every answer below carries that evidence. Negated literature edges, and
those from retracted documents, are kept for inspection but never count as support.
Persisted as node-link JSON, never pickle.

    store.py     nodes, edges, persistence, names, neighbourhoods
    queries.py   indication, contraindications, interactions, symptoms
    describe.py  one entity's neighbourhood grouped for people
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from kb.graph.queries import GraphQueries
from kb.graph.store import (
    ANATOMY,
    COMPOUND,
    CONDITION,
    DISEASE,
    DRUG_CLASS,
    DRUG_TYPES,
    FORMAT,
    FORMAT_VERSION,
    INDICATION_RELATIONS,
    LITERATURE,
    RELATION_ORDER,
    SEVERITY_RANK,
    SYMPTOM,
    TYPE_PRIORITY,
    GraphStore,
    name_rank,
    normalise_name,
    severity_rank,
)

__all__ = ["ANATOMY", "COMPOUND", "CONDITION", "DISEASE", "DRUG_CLASS", "DRUG_TYPES", "FORMAT",
           "FORMAT_VERSION", "INDICATION_RELATIONS", "LITERATURE", "RELATION_ORDER",
           "SEVERITY_RANK", "SYMPTOM", "TYPE_PRIORITY", "KnowledgeGraph", "load_cached",
           "name_rank", "normalise_name", "severity_rank"]


class KnowledgeGraph(GraphStore, GraphQueries):
    """The graph with the questions verification asks and a description per entity."""

    def describe(self, name_or_id: str) -> dict[str, Any]:
        from kb.graph.describe import describe

        return describe(self, name_or_id)


_CACHE: dict[tuple[str, float], KnowledgeGraph] = {}
_CACHE_LOCK = threading.Lock()


def load_cached(path: str | os.PathLike[str]) -> KnowledgeGraph:
    """A version's graph with its vocabulary built, loaded once per process.

    Search (the entity boost) and verification both need it; loading and indexing it twice
    would cost seconds per question. Versions are immutable, so (path, mtime) is a safe key;
    only the newest is kept, as one live version per process is the common case.
    """
    path = Path(path)
    key = (str(path.resolve()), path.stat().st_mtime)
    with _CACHE_LOCK:
        graph = _CACHE.get(key)
        if graph is None:
            graph = KnowledgeGraph.load(path)
            graph.vocabulary()
            _CACHE.clear()
            _CACHE[key] = graph
        return graph
