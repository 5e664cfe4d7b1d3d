"""The knowledge graph: curated seeds, judged describe() output, queries with evidence."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from medkb_testutil import GRAPH_DIR

from ingest.curated import load_curated
from kb.errors import InputError, KBError, MedKBError
from kb.graph import KnowledgeGraph
from kb.records import Edge, Entity

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = next((p for p in (ROOT.parent / "shared" / "contract" / "graph.schema.json",
                            ROOT / "tests" / "contract" / "graph.schema.json") if p.exists()), ROOT / "missing")

METFORMIN, SILDENAFIL, NITROGLYCERIN = "DB00331", "DB00203", "DB00727"
IBUPROFEN, WARFARIN, PROPRANOLOL = "DB01050", "DB00682", "DB00571"
T2DM, DIABETES, LIPOATROPHIC_DIABETES = "DOID:9352", "DOID:9351", "DOID:11712"
NSAIDS, PDE5, NITRATES = "NDFRT:N0000175721", "NDFRT:N0000020026", "NDFRT:N0000007647"


@pytest.fixture(scope="module")
def seeds() -> tuple[list[Entity], list[Edge]]:
    return load_curated(GRAPH_DIR)


@pytest.fixture(scope="module")
def graph(seeds: tuple[list[Entity], list[Edge]]) -> KnowledgeGraph:
    return KnowledgeGraph.build(*seeds)


def _edges(desc: dict, relation: str, other: str) -> list[dict]:
    return [e for e in desc["edges"] if e["relation"] == relation and e["other"]["id"] == other]


# --- judged: medkb graph metformin / sildenafil ---------------------------------------------

def test_describe_metformin_treats_t2dm_and_contraindicated_in_renal_impairment(graph: KnowledgeGraph) -> None:
    desc = graph.describe("metformin")
    assert desc["entity"] == {"id": METFORMIN, "name": "Metformin", "type": "Compound", "synonyms": []}
    (treats,) = _edges(desc, "treats", T2DM)
    assert treats["direction"] == "out" and treats["other"]["name"] == "type 2 diabetes mellitus"
    sources = {ev["source"] for ev in treats["evidence"]}
    assert {"hetionet_clinical_edges.tsv", "pharmacotherapydb_indications.tsv"} <= sources
    assert all(ev["curated"] for ev in treats["evidence"])
    (ci,) = _edges(desc, "contraindicated_in", "COND:severe_renal_impairment")
    assert ci["other"]["name"] == "severe renal impairment" and ci["severity"] == "contraindicated"
    assert ci["evidence"][0]["source"] == "curated_safety_rules.tsv"
    assert "FDA label (metformin)" in ci["evidence"][0]["note"]
    if SCHEMA.exists():
        jsonschema.validate(desc, json.loads(SCHEMA.read_text()))


def test_describe_sildenafil_shows_nitrate_interaction_through_the_class(graph: KnowledgeGraph) -> None:
    desc = graph.describe("Sildenafil")
    via_class = [e for e in desc["edges"] if e["relation"] == "interacts_with" and e["other"]["id"] == NITRATES]
    assert via_class, "sildenafil inherits the nitrate interaction from the PDE5 inhibitor class"
    (edge,) = via_class
    assert edge["other"]["name"] == "Nitrates" and edge["severity"] == "contraindicated"
    assert edge["via"]["id"] == PDE5
    assert edge["evidence"][0]["note"].startswith("FDA label (sildenafil)")
    assert _edges(desc, "member_of", PDE5)
    if SCHEMA.exists():
        jsonschema.validate(desc, json.loads(SCHEMA.read_text()))


def test_describe_groups_duplicate_edges_and_is_a_summary(graph: KnowledgeGraph) -> None:
    desc = graph.describe("DOID:9352")
    keys = [(e["relation"], e["direction"], e["other"]["id"], e.get("via", {}).get("id")) for e in desc["edges"]]
    assert len(keys) == len(set(keys))
    assert DIABETES in [p["id"] for p in desc["is_a"]["parents"]]
    (metformin,) = [e for e in desc["edges"] if e["relation"] == "treats" and e["other"]["id"] == METFORMIN]
    assert metformin["direction"] == "in" and len(metformin["evidence"]) == 2


def test_describe_unknown_entity_is_a_clear_error(graph: KnowledgeGraph) -> None:
    with pytest.raises(MedKBError, match="no entity named"):
        graph.describe("no such thing at all")


def test_resolve_by_id_name_synonym_any_case(graph: KnowledgeGraph) -> None:
    assert graph.resolve("doid:9352").id == T2DM
    assert graph.resolve("NIDDM").id == T2DM
    assert graph.resolve("aspirin").id == "DB00945"
    assert graph.resolve("nsaids").id == NSAIDS
    assert graph.resolve("Heart Failure").id == "DOID:6000"  # the disease over the MeSH symptom
    assert graph.resolve("zzz") is None


# --- determinism and persistence ------------------------------------------------------------

def test_building_twice_gives_the_same_graph(seeds: tuple[list[Entity], list[Edge]], tmp_path: Path) -> None:
    entities, edges = seeds
    shuffled_entities, shuffled_edges = list(entities), list(edges)
    random.Random(3).shuffle(shuffled_entities)
    random.Random(4).shuffle(shuffled_edges)
    KnowledgeGraph.build(entities, edges).save(tmp_path / "a.json")
    KnowledgeGraph.build(shuffled_entities, shuffled_edges).save(tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    again = load_curated(GRAPH_DIR)
    assert again == seeds


def test_save_load_round_trip(graph: KnowledgeGraph, tmp_path: Path) -> None:
    path = tmp_path / "graph.json"
    graph.save(path)
    data = json.loads(path.read_text())
    assert data["graph"]["format"] == "medkb-graph" and "edges" in data
    loaded = KnowledgeGraph.load(path)
    assert loaded.counts() == graph.counts()
    assert loaded.entities() == graph.entities()
    assert loaded.edges() == graph.edges()
    assert loaded.describe("sildenafil") == graph.describe("sildenafil")


def test_load_rejects_what_is_not_a_graph(tmp_path: Path) -> None:
    bad = tmp_path / "g.json"
    bad.write_text('{"nodes": []}')
    with pytest.raises(KBError, match="not a MedKB graph"):
        KnowledgeGraph.load(bad)
    with pytest.raises(KBError, match="cannot read"):
        KnowledgeGraph.load(tmp_path / "missing.json")


def test_counts_from_the_seeds(graph: KnowledgeGraph) -> None:
    n_entities, n_edges = graph.counts()
    assert n_entities > 15_000 and n_edges > 25_000


# --- queries --------------------------------------------------------------------------------

def test_indication_uses_the_disease_hierarchy(graph: KnowledgeGraph) -> None:
    direct = graph.indication(METFORMIN, T2DM)
    assert direct["status"] == "indicated" and direct["via"] == T2DM and direct["direction"] == "self"
    assert direct["evidence"][0]["curated"]
    parent = graph.indication(METFORMIN, DIABETES)  # indicated for a child of the asked disease
    assert parent["status"] == "indicated" and parent["via"] == T2DM and parent["direction"] == "descendant"
    child = graph.indication(METFORMIN, LIPOATROPHIC_DIABETES)  # indicated for its parent
    assert child["status"] == "indicated" and child["via"] == T2DM and child["direction"] == "ancestor"
    assert graph.indication(METFORMIN, "DOID:10283")["status"] == "not_indicated"  # prostate cancer
    assert graph.indication(METFORMIN, "DOID:2841")["status"] == "unknown"  # asthma


def _tiny(edges: list[Edge]) -> KnowledgeGraph:
    entities = [Entity("D1", "Compound", "drugone"), Entity("C1", "Pharmacologic Class", "classone"),
                Entity("X", "Disease", "parent disease"), Entity("Y", "Disease", "child disease"),
                Entity("Z", "Disease", "grandchild disease")]
    base = [Edge("Y", "is_a", "X", source="t.tsv"), Edge("Z", "is_a", "Y", source="t.tsv")]
    return KnowledgeGraph.build(entities, base + edges)


def test_indication_precedence_and_negated_literature() -> None:
    lit = Edge("D1", "treats", "Y", source="literature", confidence=0.8, passage_id="p1", start=0, end=10)
    negated = Edge("D1", "treats", "Z", source="literature", confidence=0.8, passage_id="p2", start=0,
                   end=9, negated=True)
    g = _tiny([lit, negated])
    assert g.indication("D1", "Y")["status"] == "indicated"
    assert g.indication("D1", "Y")["evidence"][0]["passage_id"] == "p1"
    assert g.indication("D1", "Z")["via"] == "Y"  # the negated edge on Z never counts
    g = _tiny([negated])
    assert g.indication("D1", "Z")["status"] == "unknown"
    # a curated not-indication beats a literature claim at the same distance; curated treats beat both
    g = _tiny([lit, Edge("D1", "not_indicated_for", "Y", source="t.tsv")])
    assert g.indication("D1", "Y")["status"] == "not_indicated"
    assert g.indication("D1", "Z")["status"] == "not_indicated"  # a NOT on the parent covers the child
    assert g.indication("D1", "X")["status"] == "indicated"  # ...but not the other way round
    g = _tiny([Edge("D1", "member_of", "C1", source="t.tsv"), Edge("C1", "treats", "X", source="t.tsv")])
    result = g.indication("D1", "Z")
    assert result["status"] == "indicated" and result["via_class"] == "C1" and result["distance"] == 2
    assert g.describe("D1")["edges"][0]["via"]["id"] == "C1"


def test_contraindications_expand_classes_and_condition_ancestors(graph: KnowledgeGraph) -> None:
    found = graph.contraindications(IBUPROFEN, ["DOID:750", "DOID:2841"])
    (peptic,) = found
    assert peptic["condition"] == "DOID:750" and peptic["severity"] == "major"
    assert peptic["via_class"] == NSAIDS and peptic["evidence"][0]["subject"] == NSAIDS
    gastric_ulcer = graph.contraindications(IBUPROFEN, ["DOID:10808"])  # is_a peptic ulcer disease
    assert gastric_ulcer and gastric_ulcer[0]["matched"] == "DOID:750"
    (beta,) = graph.contraindications(PROPRANOLOL, ["DOID:2841"])
    assert beta["via_class"] == "CLASS:non_selective_beta_blockers" and beta["severity"] == "contraindicated"
    esrd = graph.contraindications(METFORMIN, ["DOID:783"])  # end-stage renal disease
    assert esrd[0]["matched"] == "COND:severe_renal_impairment"
    assert graph.contraindications(METFORMIN, ["DOID:2841"]) == []


def test_interactions_with_severity_and_classes(graph: KnowledgeGraph) -> None:
    (pde5,) = graph.interactions([SILDENAFIL, NITROGLYCERIN])
    assert pde5["severity"] == "contraindicated" and set(pde5["via"]) == {PDE5, NITRATES}
    assert graph.interactions([NITROGLYCERIN, SILDENAFIL])[0]["severity"] == "contraindicated"
    (bleeding,) = graph.interactions([WARFARIN, IBUPROFEN])
    assert bleeding["severity"] == "major" and bleeding["via"] == [NSAIDS]
    moderate = graph.interactions(["DB00758", "DB00338", METFORMIN])  # clopidogrel, omeprazole
    assert [(r["a"], r["b"], r["severity"]) for r in moderate] == [("DB00758", "DB00338", "moderate")]
    assert graph.interactions([METFORMIN, "DB00722"]) == []
    worst_first = graph.interactions([WARFARIN, IBUPROFEN, SILDENAFIL, NITROGLYCERIN])
    assert [r["severity"] for r in worst_first] == ["contraindicated", "major"]


def test_symptoms_with_evidence(graph: KnowledgeGraph) -> None:
    symptoms = graph.symptoms("DOID:2841")  # asthma
    names = {s["symptom"]["name"] for s in symptoms}
    assert {"Cough", "Dyspnea", "Respiratory Sounds"} <= names
    assert all(s["evidence"] for s in symptoms)


# --- user rule files ------------------------------------------------------------------------

def _seed_dir(tmp_path: Path) -> Path:
    d = tmp_path / "seeds"
    d.mkdir()
    shutil.copy(GRAPH_DIR / "hetionet_nodes.tsv", d)
    return d


def test_user_rule_file_tsv_and_csv(tmp_path: Path) -> None:
    tsv = tmp_path / "mine.tsv"
    tsv.write_text(
        "kind\tsubject\tsubject_type\tobject\tobject_type\tseverity\tnote\tsource\n"
        "class_member\tStatins\tdrug_class\tAtorvastatin\tdrug\t\t\tWHO ATC C10AA\n"
        "interaction\tStatins\tdrug_class\tGemfibrozil\tdrug\tmajor\tmyopathy\tFDA label (gemfibrozil)\n"
        "\n# a comment line\n"
        "synonym\tAcetylsalicylic acid\tdrug\tASA tablets\tname\t\t\t\n")
    csv_file = tmp_path / "more.csv"
    csv_file.write_text('kind,subject,subject_type,object,object_type,severity,note,source\n'
                        'contraindication,Atorvastatin,drug,pregnancy,condition,,"teratogenic, per label",FDA\n')
    entities, edges = load_curated(_seed_dir(tmp_path), [tsv, csv_file])
    by_id = {e.id: e for e in entities}
    assert "ASA tablets" in by_id["DB00945"].synonyms
    g = KnowledgeGraph.build(entities, edges)
    (inter,) = g.interactions(["DB01076", "DB01241"])  # atorvastatin, gemfibrozil
    assert inter["severity"] == "major" and inter["via"] == ["CLASS:statins"]
    assert inter["evidence"][0]["source"] == str(tsv)
    assert inter["evidence"][0]["note"] == "FDA label (gemfibrozil): myopathy"
    (ci,) = g.contraindications("DB01076", ["COND:pregnancy"])
    assert ci["severity"] == "contraindicated" and ci["evidence"][0]["note"] == "FDA: teratogenic, per label"


@pytest.mark.parametrize(("content", "message"), [
    ("kind\tsubject\tobject\n", "line 1: header lacks column(s) subject_type, object_type"),
    ("kind\tsubject\tsubject_type\tobject\tobject_type\n"
     "interaction\tA\tdrug\tB\tdrug\n" "treats\tA\tdrug\tB\tdisease\n", "line 3: unknown kind 'treats'"),
    ("kind\tsubject\tsubject_type\tobject\tobject_type\tseverity\n"
     "interaction\tA\tdrug\tB\tdrug\tsevere\n", "line 2: unknown severity 'severe'"),
    ("kind\tsubject\tsubject_type\tobject\tobject_type\n" "interaction\tA\tdrug\t\tdrug\n", "line 2: empty object"),
    ("kind\tsubject\tsubject_type\tobject\tobject_type\n" "interaction\tA\tpill\tB\tdrug\n",
     "line 2: unknown subject_type 'pill'"),
    ("kind\tsubject\tsubject_type\tobject\tobject_type\n" "interaction\tA\tdrug\tB\tdrug\tx\ty\n",
     "line 2: 7 fields but the header has 5"),
    ("kind\tsubject\tsubject_type\tobject\tobject_type\n" "interaction\tA\tdrug\tasthma\tdisease\n",
     "line 2: an interaction links two drugs"),
    ("", "line 1: empty file"),
])
def test_malformed_user_rule_file_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad_rules.tsv"
    path.write_text(content)
    with pytest.raises(InputError) as err:
        load_curated(tmp_path / "no-seeds", [path])
    assert str(path) in str(err.value) and message in str(err.value)


def test_missing_user_rule_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_curated(tmp_path, [tmp_path / "nope.csv"])


def test_import_kb_stays_light() -> None:
    code = "import sys, kb, kb.graph; assert 'torch' not in sys.modules, 'kb imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
