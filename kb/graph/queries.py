"""The questions answer verification asks of the graph: indication, contraindications,
interactions, symptoms — each with its evidence, class membership and hierarchy applied."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from kb.graph.store import DRUG_CLASS, INDICATION_RELATIONS, LITERATURE, severity_rank


class GraphQueries:
    """Mixed into KnowledgeGraph over a GraphStore (uses its neighbourhood helpers)."""

    _g: Any

    def indication(self, drug_id: str, disease_id: str, levels: int = 3) -> dict[str, Any]:
        """Is the drug (or its class) indicated for the disease, an ancestor or a descendant?

        Nearest evidence wins: at each distance a curated treats/palliates edge beats a
        not-indicated edge, which beats a literature-only treats edge. A not-indicated edge
        counts for the disease and its ancestors only (saying nothing about its subtypes).
        """
        drugs = self._drug_nodes(drug_id)
        if drug_id in self._g and self._g.nodes[drug_id]["type"] == DRUG_CLASS:
            drugs += [(m, m) for m in self.members_of(drug_id)]
        up = {disease_id: 0, **self.ancestors(disease_id, levels)}
        down = self.descendants(disease_id, levels)
        for dist in range(levels + 1):
            ups = {n for n, k in up.items() if k == dist}
            downs = {n for n, k in down.items() if k == dist}
            curated, literature, nots = [], [], []
            for node, via in drugs:
                for _, v, d in self._g.out_edges(node, data=True) if node in self._g else ():
                    if d.get("negated") or d.get("retracted") or (v not in ups and v not in downs):
                        continue
                    if d["relation"] in INDICATION_RELATIONS:
                        ev = self.evidence(node, v, d) | {"via_class": via}
                        (literature if d["source"] == LITERATURE else curated).append(ev)
                    elif d["relation"] == "not_indicated_for" and v in ups:
                        nots.append(self.evidence(node, v, d) | {"via_class": via})
            for status, found in (("indicated", curated), ("not_indicated", nots), ("indicated", literature)):
                if found:
                    found = self._sort_evidence(found)
                    via = found[0]["object"]
                    return {
                        "status": status, "drug": drug_id, "disease": disease_id, "via": via,
                        "distance": dist,
                        "direction": "self" if dist == 0 else ("ancestor" if via in ups else "descendant"),
                        "relation": found[0]["relation"], "via_class": found[0]["via_class"],
                        "evidence": found,
                    }
        return {"status": "unknown", "drug": drug_id, "disease": disease_id, "via": None,
                "distance": None, "direction": None, "relation": None, "via_class": None, "evidence": []}

    def contraindications(self, drug_id: str, condition_ids: Sequence[str], levels: int = 3) -> list[dict[str, Any]]:
        """Contraindications of the drug or its classes in the conditions or their ancestors."""
        found: dict[tuple[str, str, str | None], list[dict[str, Any]]] = defaultdict(list)
        drugs = self._drug_nodes(drug_id)
        for cond in dict.fromkeys(condition_ids):
            targets = {cond: 0, **self.ancestors(cond, levels)}
            for eq in self.equivalents(cond):
                targets.setdefault(eq, 0)
            for node, via in drugs:
                for v, d in self._out(node, "contraindicated_in"):
                    if v in targets:
                        found[(cond, v, via)].append(self.evidence(node, v, d))
        out = []
        for (cond, matched, via), evidence in found.items():
            severity = max((e.get("severity") for e in evidence), key=severity_rank, default=None)
            out.append({"drug": drug_id, "condition": cond, "matched": matched, "severity": severity,
                        "via_class": via, "evidence": self._sort_evidence(evidence)})
        out.sort(key=lambda r: (-severity_rank(r["severity"]), r["condition"], r["matched"], r["via_class"] or ""))
        return out

    def interactions(self, drug_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Interactions between every two of the drugs, their classes included; worst first."""
        ids = list(dict.fromkeys(drug_ids))
        out = []
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                evidence: list[dict[str, Any]] = []
                via: set[str] = set()
                for x, va in self._drug_nodes(a):
                    for y, vb in self._drug_nodes(b):
                        for u, w in ((x, y), (y, x)):
                            for v, d in self._out(u, "interacts_with"):
                                if v == w:
                                    evidence.append(self.evidence(u, v, d))
                                    via.update(c for c in (va, vb) if c)
                if evidence:
                    severity = max((e.get("severity") for e in evidence), key=severity_rank, default=None)
                    out.append({"a": a, "b": b, "severity": severity, "via": sorted(via),
                                "evidence": self._sort_evidence(evidence)})
        out.sort(key=lambda r: (-severity_rank(r["severity"]), ids.index(r["a"]), ids.index(r["b"])))
        return out

    def symptoms(self, disease_id: str, descendants: int = 0) -> list[dict[str, Any]]:
        """Symptoms the disease presents (curated or literature), optionally via its subtypes."""
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        sources = {disease_id: 0, **self.descendants(disease_id, descendants)} if descendants else {disease_id: 0}
        for node in sources:
            for v, d in self._out(node, "presents_with"):
                found[v].append(self.evidence(node, v, d))
        out = []
        for sid in sorted(found, key=lambda s: (self._g.nodes[s]["name"].casefold(), s)):
            out.append({"symptom": self._ref(sid), "equivalent_ids": self.equivalents(sid),
                        "evidence": self._sort_evidence(found[sid])})
        return out
