"""The graph store: entities as nodes, typed edges with provenance, node-link JSON on disk.

Every edge keeps where it came from (a curated file and its note, or a passage span with a
confidence), and every answer below carries that evidence. Negated literature edges, and
those from retracted documents, are kept for inspection but never count as support.
Persisted as node-link JSON, never pickle.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

import networkx as nx

from kb.errors import KBError
from kb.records import Edge, Entity

log = logging.getLogger(__name__)

FORMAT = "medkb-graph"
FORMAT_VERSION = 1

DISEASE, COMPOUND, DRUG_CLASS = "Disease", "Compound", "Pharmacologic Class"
CONDITION, SYMPTOM, ANATOMY = "Condition", "Symptom", "Anatomy"
# Which entity a shared name means, best first (names before synonyms within the first two).
TYPE_PRIORITY = (DISEASE, COMPOUND, DRUG_CLASS, CONDITION, SYMPTOM, ANATOMY)
DRUG_TYPES = frozenset({COMPOUND, DRUG_CLASS})
SEVERITY_RANK = {"contraindicated": 4, "major": 3, "moderate": 2, "minor": 1}
LITERATURE = "literature"
INDICATION_RELATIONS = ("treats", "palliates")
RELATION_ORDER = (
    "treats", "palliates", "not_indicated_for", "contraindicated_in", "interacts_with",
    "member_of", "is_a", "presents_with", "causes", "associated_with", "resembles",
    "localizes", "cooccurs_with",
)
_EDGE_FIELDS = [f for f in fields(Edge) if f.name not in ("subject", "object")]
_EDGE_DEFAULTS = {f.name: f.default for f in _EDGE_FIELDS}


def normalise_name(name: str) -> str:
    """The key two spellings of one name share: case, possessives, hyphens, spacing."""
    s = name.casefold().replace("\u2019", "'")
    s = re.sub(r"'s\b", "", s).replace("'", "")
    s = re.sub(r"[-\u2010-\u2015_/]", " ", s)
    return re.sub(r"\s+", " ", s).strip()


def name_rank(origin: int, etype: str, eid: str) -> tuple[int, int, int, str]:
    """Sort key choosing among entities sharing a name: diseases and drugs first, then
    names (origin 0) before synonyms (1) and generated variants (2), then type, then id."""
    t = TYPE_PRIORITY.index(etype) if etype in TYPE_PRIORITY else len(TYPE_PRIORITY)
    return (0 if t < 2 else 1, origin, t, eid)


def severity_rank(severity: str | None) -> int:
    return SEVERITY_RANK.get(severity or "", 0)


def _edge_sort_key(e: Edge) -> tuple[Any, ...]:
    return (e.subject, e.relation, e.object, e.source, e.passage_id or "", e.start or -1,
            e.end or -1, e.note or "", e.severity or "", -e.confidence, e.negated, e.hedged)


class GraphStore:
    """Entities as nodes (type, name, synonyms), typed edges with their provenance; building,
    persistence, name resolution and neighbourhoods. kb.graph.KnowledgeGraph adds the queries."""

    def __init__(self, graph: nx.MultiDiGraph | None = None) -> None:
        self._g: nx.MultiDiGraph = graph if graph is not None else nx.MultiDiGraph()
        self._names: dict[str, list[tuple[tuple[int, int, int, str], str]]] | None = None
        self._ids_folded: dict[str, str] | None = None
        self._vocabulary: Any = None

    # ---- building and persistence
    @classmethod
    def build(cls, entities: Iterable[Entity], edges: Iterable[Edge]) -> Any:
        """Same input in any order -> the same graph (nodes by id, edges sorted, duplicates once)."""
        merged: dict[str, Entity] = {}
        for e in entities:
            old = merged.get(e.id)
            if old is not None:
                syn = {s.casefold(): s for s in old.synonyms + e.synonyms + (e.name,)}
                syn.pop(old.name.casefold(), None)
                e = Entity(old.id, old.type, old.name, tuple(sorted(syn.values(), key=str.casefold)))
            merged[e.id] = e
        g = nx.MultiDiGraph(format=FORMAT, version=FORMAT_VERSION)
        for eid in sorted(merged):
            ent = merged[eid]
            g.add_node(eid, type=ent.type, name=ent.name, synonyms=list(ent.synonyms))
        dropped = 0
        for edge in sorted(set(edges), key=_edge_sort_key):
            if edge.subject not in g or edge.object not in g:
                dropped += 1
                continue
            attrs = {f.name: getattr(edge, f.name) for f in _EDGE_FIELDS
                     if f.name in ("relation", "source") or getattr(edge, f.name) != _EDGE_DEFAULTS[f.name]}
            g.add_edge(edge.subject, edge.object, **attrs)
        if dropped:
            log.warning("graph: %d edge(s) name entities that are not in the graph; skipped", dropped)
        return cls(g)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Node-link JSON, written to a temporary file, fsynced, then renamed into place."""
        path = Path(path)
        data = nx.node_link_data(self._g, edges="edges", source="subject", target="object")
        blob = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Any:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise KBError(f"cannot read the graph at {path} ({e}); rebuild the KB with `medkb build`") from e
        if not isinstance(data, dict) or data.get("graph", {}).get("format") != FORMAT:
            raise KBError(f"{path} is not a MedKB graph; rebuild the KB with `medkb build`")
        g = nx.node_link_graph(data, directed=True, multigraph=True, edges="edges",
                               source="subject", target="object")
        return cls(g)

    # ---- entities
    def vocabulary(self) -> Any:
        """The entity matcher over this graph's names and synonyms (built on first use)."""
        if self._vocabulary is None:
            from kb.vocabulary import Vocabulary

            self._vocabulary = Vocabulary.from_entities(self.entities())
        return self._vocabulary

    def entities_in(self, text: str) -> set[str]:
        """Ids of the entities a text names (negated mentions included)."""
        return {m.entity_id for m in self.vocabulary().find(text)}

    def counts(self) -> tuple[int, int]:
        return self._g.number_of_nodes(), self._g.number_of_edges()

    def __contains__(self, eid: object) -> bool:
        return eid in self._g

    def entity(self, eid: str) -> Entity | None:
        if eid not in self._g:
            return None
        d = self._g.nodes[eid]
        return Entity(id=eid, type=d["type"], name=d["name"], synonyms=tuple(d.get("synonyms", ())))

    def entities(self) -> list[Entity]:
        return [e for eid in self._g.nodes if (e := self.entity(eid)) is not None]

    def edges(self) -> list[Edge]:
        return [self._edge(u, v, d) for u, v, d in self._g.edges(data=True)]

    def resolve(self, name_or_id: str) -> Entity | None:
        """By id (any case), then name or synonym, case-insensitive; diseases and drugs first."""
        q = name_or_id.strip()
        if q in self._g:
            return self.entity(q)
        if self._names is None or self._ids_folded is None:
            self._index()
        assert self._names is not None and self._ids_folded is not None
        if (eid := self._ids_folded.get(q.casefold())) is not None:
            return self.entity(eid)
        options = self._names.get(normalise_name(q))
        return self.entity(min(options)[1]) if options else None

    def _index(self) -> None:
        names: dict[str, list[tuple[tuple[int, int, int, str], str]]] = defaultdict(list)
        for eid, d in self._g.nodes(data=True):
            names[normalise_name(d["name"])].append((name_rank(0, d["type"], eid), eid))
            for s in d.get("synonyms", ()):
                names[normalise_name(s)].append((name_rank(1, d["type"], eid), eid))
        self._names = dict(names)
        self._ids_folded = {eid.casefold(): eid for eid in self._g.nodes}

    def equivalents(self, eid: str) -> list[str]:
        """Other nodes sharing a name with `eid` (a MeSH symptom and a DO disease, say)."""
        if eid not in self._g:
            return []
        if self._names is None:
            self._index()
        assert self._names is not None
        d = self._g.nodes[eid]
        out: set[str] = set()
        for n in [d["name"], *d.get("synonyms", ())]:
            out.update(i for _, i in self._names.get(normalise_name(n), ()))
        out.discard(eid)
        return sorted(out)

    # ---- neighbourhoods
    def _out(self, node: str, relation: str) -> Iterable[tuple[str, dict[str, Any]]]:
        if node in self._g:
            for _, v, d in self._g.out_edges(node, data=True):
                if d["relation"] == relation and not d.get("negated") and not d.get("retracted"):
                    yield v, d

    def _in(self, node: str, relation: str) -> Iterable[tuple[str, dict[str, Any]]]:
        if node in self._g:
            for u, _, d in self._g.in_edges(node, data=True):
                if d["relation"] == relation and not d.get("negated") and not d.get("retracted"):
                    yield u, d

    def classes_of(self, drug_id: str) -> list[str]:
        return sorted({v for v, _ in self._out(drug_id, "member_of")})

    def members_of(self, class_id: str) -> list[str]:
        return sorted({u for u, _ in self._in(class_id, "member_of")})

    def ancestors(self, eid: str, levels: int = 3) -> dict[str, int]:
        """is_a parents up to `levels` steps: id -> distance."""
        return self._walk(eid, levels, up=True)

    def descendants(self, eid: str, levels: int = 3) -> dict[str, int]:
        return self._walk(eid, levels, up=False)

    def _walk(self, eid: str, levels: int, up: bool) -> dict[str, int]:
        seen: dict[str, int] = {}
        queue = deque([(eid, 0)])
        while queue:
            node, dist = queue.popleft()
            if dist == levels:
                continue
            step = self._out(node, "is_a") if up else self._in(node, "is_a")
            for nxt in sorted({n for n, _ in step}):
                if nxt != eid and nxt not in seen:
                    seen[nxt] = dist + 1
                    queue.append((nxt, dist + 1))
        return seen

    def _drug_nodes(self, drug_id: str) -> list[tuple[str, str | None]]:
        """The drug itself, then the classes it belongs to (with the class as `via`)."""
        return [(drug_id, None)] + [(c, c) for c in self.classes_of(drug_id)]

    # ---- evidence
    def _edge(self, u: str, v: str, d: dict[str, Any]) -> Edge:
        return Edge(subject=u, object=v, **{f.name: d.get(f.name, _EDGE_DEFAULTS[f.name]) for f in _EDGE_FIELDS})

    @staticmethod
    def evidence(u: str, v: str, d: dict[str, Any]) -> dict[str, Any]:
        """One edge's provenance: the curated file and its note, or the passage span."""
        ev: dict[str, Any] = {"subject": u, "relation": d["relation"], "object": v, "source": d["source"]}
        for key in ("note", "severity", "passage_id", "start", "end"):
            if d.get(key) is not None:
                ev[key] = d[key]
        ev["confidence"] = d.get("confidence", 1.0)
        ev["curated"] = d["source"] != LITERATURE
        if d.get("hedged"):
            ev["hedged"] = True
        if d.get("negated"):
            ev["negated"] = True
        if d.get("retracted"):
            ev["retracted"] = True
        return ev

    @staticmethod
    def _sort_evidence(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(items, key=lambda e: (not e["curated"], -e["confidence"], e["source"],
                                            e.get("passage_id") or "", e.get("start") or 0,
                                            e["subject"], e["object"], e.get("note") or ""))

    def _ref(self, eid: str) -> dict[str, str]:
        d = self._g.nodes[eid]
        return {"id": eid, "name": d["name"], "type": d["type"]}
