"""What the graph knows about one entity, grouped for people (`medkb graph`, the web page)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from kb.errors import MedKBError
from kb.graph.store import COMPOUND, RELATION_ORDER, severity_rank


def describe(graph: Any, name_or_id: str) -> dict[str, Any]:
    """What the graph knows about one entity, grouped per (relation, direction, other)."""
    ent = graph.resolve(name_or_id)
    if ent is None:
        raise MedKBError(f"no entity named {name_or_id!r} in the knowledge graph; "
                         "try another name, a synonym or an id such as DOID:9352 or DB00331")
    eid = ent.id
    groups: dict[tuple[str, str, str, str, bool], list[dict[str, Any]]] = defaultdict(list)
    for _, v, d in graph._g.out_edges(eid, data=True):
        groups[(d["relation"], "out", v, "", bool(d.get("negated")))].append(graph.evidence(eid, v, d))
    for u, _, d in graph._g.in_edges(eid, data=True):
        groups[(d["relation"], "in", u, "", bool(d.get("negated")))].append(graph.evidence(u, eid, d))
    if ent.type == COMPOUND:  # what the drug inherits from its classes
        for cls in graph.classes_of(eid):
            for rel in ("contraindicated_in", "interacts_with", "treats", "palliates", "not_indicated_for"):
                for v, d in graph._out(cls, rel):
                    groups[(rel, "out", v, cls, False)].append(graph.evidence(cls, v, d))
            for u, d in graph._in(cls, "interacts_with"):
                groups[("interacts_with", "in", u, cls, False)].append(graph.evidence(u, cls, d))
    order = {r: i for i, r in enumerate(RELATION_ORDER)}
    edges = []
    for (rel, direction, other, via, negated), evidence in groups.items():
        item: dict[str, Any] = {"relation": rel, "direction": direction, "other": graph._ref(other),
                                "evidence": graph._sort_evidence(evidence)}
        worst = max((e.get("severity") for e in evidence), key=severity_rank, default=None)
        if worst:
            item["severity"] = worst
        if via:
            item["via"] = graph._ref(via)
        if negated:
            item["negated"] = True
        edges.append(item)
    edges.sort(key=lambda e: (order.get(e["relation"], len(order)), e["relation"], e["direction"],
                              "via" in e, e.get("negated", False), e["other"]["name"].casefold(),
                              e["other"]["id"]))
    parents = sorted({v for v, _ in graph._out(eid, "is_a")})
    ancestors = graph.ancestors(eid, levels=50)
    return {
        "entity": {"id": eid, "name": ent.name, "type": ent.type, "synonyms": list(ent.synonyms)},
        "is_a": {
            "parents": [graph._ref(p) for p in parents],
            "ancestors": [graph._ref(a) for a in sorted(ancestors, key=lambda a: (ancestors[a], a))],
            "children": len({u for u, _ in graph._in(eid, "is_a")}),
        },
        "classes": [graph._ref(c) for c in graph.classes_of(eid)],
        "edges": edges,
    }
