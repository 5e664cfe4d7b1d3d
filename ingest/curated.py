"""Curated graph seeds -> entities and edges, each edge naming the file it came from.

The seeds (corpora/graph/, see its README.md) are Hetionet, PharmacotherapyDB, the Disease
Ontology, MeSH symptoms, MEDLINE co-occurrence and rule files in one documented TSV/CSV schema
(`curated_safety_rules.tsv`, `medkb_curation.tsv` and any user file given with `--graph`).
Ids: Disease `DOID:…`, Compound DrugBank `DB…`, Symptom `MESH:D…`, Pharmacologic Class
`NDFRT:N…`, Anatomy `UBERON:…`; names only the rule files know get stable slugs such as
`CLASS:ace_inhibitors`, `COND:severe_renal_impairment` or `DRUG:riociguat`.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from kb.errors import InputError
from kb.graph import ANATOMY, COMPOUND, CONDITION, DISEASE, DRUG_CLASS, SYMPTOM, normalise_name
from kb.records import Edge, Entity

HETIONET_NODES = "hetionet_nodes.tsv"
HETIONET_EDGES = "hetionet_clinical_edges.tsv"
PTDB_INDICATIONS = "pharmacotherapydb_indications.tsv"
PTDB_DRUGS = "pharmacotherapydb_drugs.tsv"
PTDB_DISEASES = "pharmacotherapydb_diseases.tsv"
DO_TERMS = "disease_ontology_terms.tsv"
DO_NAMES_2015 = "disease_ontology_2015_term_names.tsv"
DO_HAS_SYMPTOM = "disease_ontology_has_symptom.tsv"
MESH_SYMPTOMS = "mesh_symptoms.tsv"
MESH_TERMS = "mesh_terms.tsv"
MEDLINE_COOCCURRENCE = "medline_disease_cooccurrence.tsv"
CURATION = "medkb_curation.tsv"  # MedKB's own synonyms and links, loaded before the rules
SAFETY_RULES = "curated_safety_rules.tsv"
# Disease -> finding links: common diseases from patient-information pages, and MedQuAD
# "symptoms" answers (corpora/scripts/make_medquad_findings.py); the differential's coverage.
FINDINGS = ("medkb_findings.tsv", "medquad_findings.tsv")

RULE_COLUMNS = ("kind", "subject", "subject_type", "object", "object_type", "severity", "note", "source")
REQUIRED_RULE_COLUMNS = ("kind", "subject", "subject_type", "object", "object_type")
RULE_KINDS = (
    "class_member", "contraindication", "interaction", "indication", "not_indicated",
    "presents_with", "is_a", "synonym",
)
RULE_TYPES = {
    "drug": COMPOUND, "drug_class": DRUG_CLASS, "condition": CONDITION,
    "disease": DISEASE, "symptom": SYMPTOM, "name": "name",
}
SEVERITIES = ("contraindicated", "major", "moderate", "minor")

_HETIONET_KINDS = {
    "Disease": (DISEASE, ""), "Compound": (COMPOUND, ""), "Symptom": (SYMPTOM, "MESH:"),
    "Pharmacologic Class": (DRUG_CLASS, "NDFRT:"), "Anatomy": (ANATOMY, ""),
}
_HETIONET_RELATIONS = {  # metaedge -> (relation, swap subject and object)
    "CtD": ("treats", False), "CpD": ("palliates", False), "DpS": ("presents_with", False),
    "DrD": ("resembles", False), "DlA": ("localizes", False), "PCiC": ("member_of", True),
}
_PTDB_RELATIONS = {"DM": "treats", "SYM": "palliates", "NOT": "not_indicated_for"}
# Synonym noise in the 2015 Disease Ontology names: SNOMED tags and bookkeeping marks.
_SYNONYM_TAG = re.compile(r"\s*(\((disorder|finding|morphologic abnormality|qualifier value|"
                          r"context-dependent category|category|clinical)\)|\[(ambiguous|dup|obs)\])",
                          re.IGNORECASE)
# MEDLINE co-occurrence is loaded only where it is a strong, significant association.
_MIN_ENRICHMENT = 2.0
_MAX_P = 1e-6
_TYPE_ID_PREFIX = {COMPOUND: "DRUG:", DRUG_CLASS: "CLASS:", CONDITION: "COND:",
                   DISEASE: "DISEASE:", SYMPTOM: "SYMPTOM:"}
_ID_LIKE = re.compile(r"^(DOID:\d+|DB\d{5}|MESH:D\d+|NDFRT:N\d+|UBERON:\d+|"
                      r"(CLASS|COND|DRUG|DISEASE|SYMPTOM):[a-z0-9_]+)$")


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.casefold()).strip("_") or "unnamed"


def uninvert(name: str) -> str | None:
    """MeSH 'Pain, Intractable' -> 'Intractable Pain' (None when not inverted)."""
    if name.count(", ") != 1:
        return None
    head, tail = name.split(", ")
    return f"{tail} {head}"


class _Table:
    """Entities being assembled, with a name index per type."""

    def __init__(self) -> None:
        self.types: dict[str, str] = {}
        self.names: dict[str, str] = {}
        self.synonyms: dict[str, dict[str, str]] = defaultdict(dict)  # id -> norm -> surface
        self._primary: dict[tuple[str, str], set[str]] = defaultdict(set)  # (type, norm) -> ids
        self._secondary: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.mesh: dict[str, tuple[str, str]] = {}  # normalised MeSH descriptor name -> (id, name)

    def add(self, eid: str, etype: str, name: str, synonyms: Sequence[str] = ()) -> str:
        name = " ".join(name.split())
        if eid not in self.types:
            self.types[eid] = etype
            self.names[eid] = name
            self._primary[(etype, normalise_name(name))].add(eid)
        elif normalise_name(name) != normalise_name(self.names[eid]):
            self.add_synonym(eid, name)
        for s in synonyms:
            self.add_synonym(eid, s)
        return eid

    def add_synonym(self, eid: str, synonym: str) -> None:
        synonym = " ".join(synonym.split())
        key = normalise_name(synonym)
        if not key or key == normalise_name(self.names[eid]):
            return
        self.synonyms[eid].setdefault(key, synonym)
        self._secondary[(self.types[eid], key)].add(eid)

    def find(self, name: str, types: Sequence[str]) -> str | None:
        """The entity of the first of `types` named `name`, by name before synonym."""
        key = normalise_name(name)
        for t in types:
            for index in (self._primary, self._secondary):
                ids = index.get((t, key))
                if ids:
                    return min(ids)
        return None

    def entities(self) -> list[Entity]:
        return [
            Entity(id=eid, type=self.types[eid], name=self.names[eid],
                   synonyms=tuple(sorted(self.synonyms[eid].values(), key=str.casefold)))
            for eid in sorted(self.types)
        ]


def _rows(path: Path, delimiter: str = "\t") -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter=delimiter):
            yield {k: (v or "").strip() for k, v in row.items() if k is not None}


def _hetionet_id(raw: str) -> tuple[str, str]:
    kind, _, local = raw.partition("::")
    etype, prefix = _HETIONET_KINDS[kind]
    return prefix + local, etype


def load_curated(graph_dir: Path, extra_files: Sequence[Path] = ()) -> tuple[list[Entity], list[Edge]]:
    """Every seed in `graph_dir` plus user rule files -> (entities by id, edges in file order).

    A seed file that is missing is skipped (tests use small directories); a user rule file
    that is missing or malformed raises InputError naming the file and the line.
    """
    graph_dir = Path(graph_dir)
    table = _Table()
    edges: list[Edge] = []

    def have(name: str) -> Path | None:
        p = graph_dir / name
        return p if p.is_file() else None

    _load_nodes(table, have)
    if p := have(MESH_TERMS):
        table.mesh = {normalise_name(r["mesh_name"]): ("MESH:" + r["mesh_id"], r["mesh_name"]) for r in _rows(p)}
    _load_is_a(have(DO_TERMS), table, edges)
    if p := have(CURATION):
        _load_rules(p, table, edges, CURATION)
    if p := have(HETIONET_EDGES):
        _load_hetionet_edges(p, table, edges)
    if p := have(PTDB_INDICATIONS):
        _load_pharmacotherapydb(p, table, edges)
    if p := have(DO_HAS_SYMPTOM):
        _load_has_symptom(p, table, edges)
    for name in FINDINGS:
        if p := have(name):
            _load_rules(p, table, edges, name)
    if p := have(MEDLINE_COOCCURRENCE):
        _load_cooccurrence(p, table, edges)
    if p := have(SAFETY_RULES):
        _load_rules(p, table, edges, SAFETY_RULES)
    for extra in extra_files:
        extra = Path(extra)
        if not extra.is_file():
            raise InputError(str(extra), "graph rule file not found; pass an existing TSV or CSV file")
        _load_rules(extra, table, edges, str(extra))
    return table.entities(), edges


def _load_nodes(table: _Table, have: Callable[[str], Path | None]) -> None:
    if p := have(DO_TERMS):
        for row in _rows(p):
            table.add(row["id"], DISEASE, row["label"])
    if p := have(HETIONET_NODES):
        for row in _rows(p):
            eid, etype = _hetionet_id(row["id"])
            table.add(eid, etype, row["name"])
            if etype == SYMPTOM and (alt := uninvert(row["name"])):
                table.add_synonym(eid, alt)
    if p := have(MESH_SYMPTOMS):
        for row in _rows(p):
            eid = "MESH:" + row["mesh_id"]
            table.add(eid, SYMPTOM, row["mesh_name"])
            if alt := uninvert(row["mesh_name"]):
                table.add_synonym(eid, alt)
    if p := have(PTDB_DISEASES):
        for row in _rows(p):
            table.add(row["doid_id"], DISEASE, row["disease"])
    if p := have(PTDB_DRUGS):
        for row in _rows(p):
            table.add(row["drugbank_id"], COMPOUND, row["drug"])
    if p := have(DO_NAMES_2015):
        # Names of 2015 terms still in the ontology; obsolete terms would only add ambiguity.
        for row in _rows(p):
            eid, name = row["doid"], _SYNONYM_TAG.sub("", row["name"]).strip()
            if eid in table.types and len(name) > 1 and "(" not in name and " NOS" not in name:
                table.add_synonym(eid, name)


def _load_is_a(path: Path | None, table: _Table, edges: list[Edge]) -> None:
    if path is None:
        return
    by_label = {normalise_name(name): eid for eid, name in table.names.items()
                if table.types[eid] == DISEASE}
    for row in _rows(path):
        parent = by_label.get(normalise_name(row["subClassOf"]))
        if parent and parent != row["id"]:
            edges.append(Edge(row["id"], "is_a", parent, source=DO_TERMS,
                              note="Disease Ontology subClassOf"))


def _load_hetionet_edges(path: Path, table: _Table, edges: list[Edge]) -> None:
    for row in _rows(path):
        relation, swap = _HETIONET_RELATIONS[row["metaedge"]]
        (s, st), (o, ot) = _hetionet_id(row["source"]), _hetionet_id(row["target"])
        table.add(s, st, row["source_name"])
        table.add(o, ot, row["target_name"])
        if swap:
            s, o = o, s
        edges.append(Edge(s, relation, o, source=HETIONET_EDGES, note=f"Hetionet {row['metaedge']}"))


def _load_pharmacotherapydb(path: Path, table: _Table, edges: list[Edge]) -> None:
    for row in _rows(path):
        table.add(row["drugbank_id"], COMPOUND, row["drug"])
        table.add(row["doid_id"], DISEASE, row["disease"])
        cat = row["category"]
        edges.append(Edge(
            row["drugbank_id"], _PTDB_RELATIONS[cat], row["doid_id"], source=PTDB_INDICATIONS,
            note=f"PharmacotherapyDB {cat}; {row['n_curators']} curator(s), "
                 f"{row['n_resources']} resource(s)"))


def _load_has_symptom(path: Path, table: _Table, edges: list[Edge]) -> None:
    for row in _rows(path):
        if row["doid"] not in table.types:
            table.add(row["doid"], DISEASE, row["disease"])
        symptom = row["symptom"]
        sid = _find_symptom(symptom, table)
        edges.append(Edge(row["doid"], "presents_with", sid, source=DO_HAS_SYMPTOM,
                          note=f"Disease Ontology has_symptom '{symptom}'"))


def _find_symptom(name: str, table: _Table) -> str:
    """A DO symptom name -> MeSH symptom id by name, else a MeSH descriptor, else a slug id."""
    variants = [name]
    if name.endswith("s"):
        variants.append(name[:-1])
    else:
        variants.append(name + "s")
    for v in variants:
        if sid := table.find(v, (SYMPTOM,)):
            return sid
    for v in variants:
        if hit := table.mesh.get(normalise_name(v)):
            return table.add(hit[0], SYMPTOM, hit[1])
    for v in variants:
        if sid := table.find(v, (DISEASE,)):
            return sid
    return table.add("SYMPTOM:" + slug(name), SYMPTOM, name)


def _load_cooccurrence(path: Path, table: _Table, edges: list[Edge]) -> None:
    for row in _rows(path):
        a, b = row["doid_code_0"], row["doid_code_1"]
        enrichment, p = float(row["enrichment"]), float(row["p_fisher"])
        if enrichment < _MIN_ENRICHMENT or p > _MAX_P or a not in table.types or b not in table.types:
            continue
        edges.append(Edge(a, "cooccurs_with", b, source=MEDLINE_COOCCURRENCE, confidence=0.5,
                          note=f"MEDLINE co-occurrence: {row['cooccurrence']} articles, "
                               f"enrichment {enrichment:.1f}, p={p:.1e}"))


# --- rule files (curated_safety_rules.tsv, medkb_curation.tsv, user --graph files) ---------

def _read_rule_file(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for each data line; InputError on a structural problem."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(str(path), f"cannot read graph rule file ({e}); save it as UTF-8 text") from e
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise InputError(str(path), "line 1: empty file; expected a header row: " + "\t".join(RULE_COLUMNS))
    delimiter = "\t" if "\t" in lines[0] else ","
    reader = csv.reader(lines, delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader)]
    missing = [c for c in REQUIRED_RULE_COLUMNS if c not in header]
    if missing:
        raise InputError(str(path), f"line 1: header lacks column(s) {', '.join(missing)}; "
                                    f"expected {', '.join(RULE_COLUMNS)} (TSV or CSV)")
    for lineno, fields in enumerate(reader, start=2):
        if not fields or not any(f.strip() for f in fields) or fields[0].lstrip().startswith("#"):
            continue
        if len(fields) > len(header):
            raise InputError(str(path), f"line {lineno}: {len(fields)} fields but the header has "
                                        f"{len(header)}; quote values that contain the delimiter")
        row = {h: (fields[i].strip() if i < len(fields) else "") for i, h in enumerate(header)}
        yield lineno, row


def _load_rules(path: Path, table: _Table, edges: list[Edge], source: str) -> None:
    for lineno, row in _read_rule_file(path):
        def bad(msg: str, _lineno: int = lineno) -> InputError:
            return InputError(str(path), f"line {_lineno}: {msg}")

        kind = row["kind"].lower()
        if kind not in RULE_KINDS:
            raise bad(f"unknown kind {row['kind']!r}; use one of {', '.join(RULE_KINDS)}")
        for col in ("subject", "object"):
            if not row[col]:
                raise bad(f"empty {col}")
        stype, otype = row["subject_type"].lower(), row["object_type"].lower()
        for col, t in (("subject_type", stype), ("object_type", otype)):
            if t not in RULE_TYPES:
                raise bad(f"unknown {col} {row[col]!r}; use one of {', '.join(RULE_TYPES)}")
        severity = row.get("severity", "").lower() or None
        if severity is not None and severity not in SEVERITIES:
            raise bad(f"unknown severity {row['severity']!r}; use one of {', '.join(SEVERITIES)}")
        cited, note = row.get("source", ""), row.get("note", "")
        full_note = ": ".join(x for x in (cited, note) if x) or None

        if kind == "synonym":
            if stype == "name":
                raise bad("a synonym row names an entity in subject and the synonym in object")
            table.add_synonym(_entity(row["subject"], RULE_TYPES[stype], table), row["object"])
            continue
        if "name" in (stype, otype):
            raise bad("type 'name' is only for the object of a synonym row")
        s = _entity(row["subject"], RULE_TYPES[stype], table)
        o = _entity(row["object"], RULE_TYPES[otype], table)
        if kind == "class_member":
            if {stype, otype} != {"drug", "drug_class"}:
                raise bad("class_member links a drug_class and a drug")
            drug, cls = (o, s) if stype == "drug_class" else (s, o)
            edges.append(Edge(drug, "member_of", cls, source=source, note=full_note))
        elif kind == "contraindication":
            if stype not in ("drug", "drug_class"):
                raise bad("a contraindication's subject is a drug or drug_class")
            edges.append(Edge(s, "contraindicated_in", o, source=source,
                              severity=severity or "contraindicated", note=full_note))
        elif kind == "interaction":
            if stype not in ("drug", "drug_class") or otype not in ("drug", "drug_class"):
                raise bad("an interaction links two drugs or drug classes")
            edges.append(Edge(s, "interacts_with", o, source=source, severity=severity, note=full_note))
        elif kind in ("indication", "not_indicated"):
            if stype not in ("drug", "drug_class"):
                raise bad(f"an {kind} row's subject is a drug or drug_class")
            relation = "treats" if kind == "indication" else "not_indicated_for"
            edges.append(Edge(s, relation, o, source=source, note=full_note))
        elif kind == "presents_with":
            edges.append(Edge(s, "presents_with", o, source=source, note=full_note))
        else:  # is_a
            edges.append(Edge(s, "is_a", o, source=source, note=full_note))


def _entity(name: str, etype: str, table: _Table) -> str:
    """A rule file's name (or id) -> an entity id, creating a slug entity when none matches."""
    if _ID_LIKE.match(name) and name in table.types:
        return name
    search = {
        COMPOUND: (COMPOUND,),
        DRUG_CLASS: (DRUG_CLASS,),
        CONDITION: (CONDITION, DISEASE, SYMPTOM),
        DISEASE: (DISEASE, CONDITION),
        SYMPTOM: (SYMPTOM, DISEASE, CONDITION),
    }[etype]
    if eid := table.find(name, search):
        return eid
    if _ID_LIKE.match(name):
        return table.add(name, etype, name)
    if etype == SYMPTOM and (hit := table.mesh.get(normalise_name(name))):
        return table.add(hit[0], SYMPTOM, hit[1])
    return table.add(_TYPE_ID_PREFIX[etype] + slug(name), etype, name)
