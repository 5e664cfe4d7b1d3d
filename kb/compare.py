"""Whether two KB versions hold the same knowledge base (engine equality, DESIGN §9).

Same documents (ids, text, spans, metadata with summaries and classes), same passages (ids,
ordinals, spans, text), same mentions, same graph, and vectors that agree row by row to
within float tolerance (cosine ≥ `min_cosine`; engines may batch the embedder differently).
Build provenance (version id, time, engine, report seconds) is not compared.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from kb.store import Version


def _rows(v: Version, sql: str) -> list[tuple]:
    return [tuple(r) for r in v.db.execute(sql)]


def compare_versions(a: Version, b: Version, min_cosine: float = 0.9999) -> dict[str, Any]:
    """{"same": bool, "differences": [...], "min_cosine": float, counts...}."""
    diffs: list[str] = []
    docs = "SELECT doc_id, source, format, title, text, external_id, year, sections, pages, " \
           "metadata, text_hash FROM documents ORDER BY doc_id"
    passages = 'SELECT ordinal, passage_id, doc_id, text, start, "end", section, page, ' \
               "text_hash FROM passages ORDER BY ordinal"
    mentions = 'SELECT passage_ordinal, entity_id, start, "end", negated, hedged FROM mentions ' \
               'ORDER BY passage_ordinal, start, "end", entity_id'
    for name, sql in (("documents", docs), ("passages", passages), ("mentions", mentions)):
        ra, rb = _rows(a, sql), _rows(b, sql)
        if ra != rb:
            first = next((i for i, (x, y) in enumerate(zip(ra, rb, strict=False)) if x != y),
                         min(len(ra), len(rb)))
            diffs.append(f"{name}: {len(ra)} vs {len(rb)} rows, first difference at row {first}")
    ga, gb = a.file("graph.json"), b.file("graph.json")
    if ga.exists() != gb.exists():
        diffs.append("graph: present in only one version")
    elif ga.exists() and json.loads(ga.read_text("utf-8")) != json.loads(gb.read_text("utf-8")):
        diffs.append("graph: differs")
    for key in ("counts", "embedder", "chunking", "extraction", "enrichment", "sparse"):
        if a.manifest.get(key) != b.manifest.get(key):
            diffs.append(f"manifest {key}: {a.manifest.get(key)} vs {b.manifest.get(key)}")
    va, vb = a.vectors().reconstruct_all(), b.vectors().reconstruct_all()
    worst = 1.0
    if va.shape != vb.shape:
        diffs.append(f"vectors: shape {va.shape} vs {vb.shape}")
    elif len(va):
        na = np.linalg.norm(va, axis=1) * np.linalg.norm(vb, axis=1)
        cos = np.einsum("ij,ij->i", va, vb) / np.maximum(na, 1e-12)
        worst = float(cos.min())
        if worst < min_cosine:
            diffs.append(f"vectors: {int((cos < min_cosine).sum())} rows below cosine "
                         f"{min_cosine} (worst {worst:.6f})")
    return {"same": not diffs, "differences": diffs, "min_cosine": round(worst, 7),
            "documents": a.counts.get("documents"), "passages": a.counts.get("passages")}
