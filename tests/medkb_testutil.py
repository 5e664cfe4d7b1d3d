"""Helpers shared by the tests (a plain module: `conftest` names are ambiguous across folders)."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT.parent / "shared" / "contract"
if not CONTRACT.exists():  # CI copies shared/ beside the clone
    CONTRACT = ROOT / "tests" / "contract"

TINY_RECORDS = [
    {"_id": "asthma-1", "title": "Asthma treatment",
     "text": "Inhaled corticosteroids are the first-line controller treatment for mild persistent "
             "asthma. Short-acting beta agonists such as albuterol relieve acute symptoms."},
    {"_id": "asthma-2", "title": "Asthma symptoms",
     "text": "Asthma presents with wheezing, cough and shortness of breath. Symptoms often "
             "worsen at night or with exercise."},
    {"_id": "dm-1", "title": "Type 2 diabetes",
     "text": "Metformin is the preferred initial drug for type 2 diabetes mellitus. It lowers "
             "hepatic glucose production. Metformin is contraindicated in severe renal impairment."},
    {"_id": "htn-1", "title": "High blood pressure",
     "text": "Thiazide diuretics, ACE inhibitors and calcium channel blockers are used to treat "
             "hypertension. Lifestyle changes such as less salt also lower blood pressure."},
    {"_id": "flu-1", "title": "Influenza",
     "text": "Influenza is a viral infection of the respiratory tract. Oseltamivir shortens the "
             "illness when started within two days of symptom onset."},
]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    return path



def contract(name: str) -> dict:
    schema = json.loads((CONTRACT / f"{name}.schema.json").read_text())
    if name == "audit":  # the contract README and ask.schema list `relevance`; audit.schema's enum
        rule = schema["properties"]["checks"]["items"]["properties"]["rule"]  # omits it (reported)
        rule["enum"] = list(dict.fromkeys([*rule["enum"], "relevance"]))
    return schema


# Hostile XML: entity expansion and an external entity (readers must refuse both).
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE PubmedArticleSet [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>
<ArticleTitle>&lol9;</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE article [ <!ENTITY xxe SYSTEM "file://{secret}"> ]>
<article><front><article-meta><title-group><article-title>&xxe;</article-title>
</title-group></article-meta></front><body><p>x</p></body></article>
"""


GRAPH_DIR = ROOT / "corpora" / "graph"


def build_hash_kb(root: Path, records: list[dict], *, graph: bool = True) -> Path:
    """A KB of `records` under root/kb with the fast hash embedder (and the curated graph)."""
    from ingest.pipeline import BuildOptions, build

    (root / "corpus").mkdir(parents=True, exist_ok=True)
    write_jsonl(root / "corpus" / "records.jsonl", records)
    build([root / "corpus"], root / "kb",
          BuildOptions(embedder="hash-256", graph_seeds=GRAPH_DIR if graph else None))
    return root / "kb"
