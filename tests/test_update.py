"""`medkb update`: change detection by content hash, only changed passages embedded, the
result equal to a full rebuild of the new corpus, retention of old versions."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from medkb_testutil import TINY_RECORDS, write_jsonl

from ingest.pipeline import BuildOptions, build
from kb.config import ChunkSettings
from kb.store import KnowledgeBase

# Small passages so that documents span several of them and edits touch only some.
OPTS = BuildOptions(embedder="hash-256", graph_seeds=None,
                    chunking=ChunkSettings(chunk_tokens=24, overlap_tokens=4))
QUERIES = ("asthma inhaled corticosteroids", "metformin renal", "influenza oseltamivir",
           "blood pressure salt", "wheezing at night")


def _snapshot(kb: Path) -> dict:
    """What must be equal between an update and a full rebuild."""
    from retrieval.search import Searcher

    v = KnowledgeBase(kb).current()
    searcher = Searcher(v)
    return {
        "passage_ids": v.passage_ids(),
        "doc_ids": sorted(v.document_hashes()),
        "vectors": v.vectors().reconstruct_all(),
        "top10": {q: [h.passage.passage_id for h in searcher.search(q, 10)] for q in QUERIES},
    }


def _assert_same(a: dict, b: dict) -> None:
    assert a["passage_ids"] == b["passage_ids"]
    assert a["doc_ids"] == b["doc_ids"]
    np.testing.assert_array_equal(a["vectors"], b["vectors"])
    assert a["top10"] == b["top10"]


def _write_corpus(root: Path, records: list[dict], notes: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        old.unlink()
    write_jsonl(root / "records.jsonl", records)
    for name, text in notes.items():
        (root / name).write_text(text, "utf-8")
    return root


def test_update_detects_changes_and_embeds_only_new_passages(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    notes = {"note.txt": "Clinic note\n\nPatients with asthma should carry a rescue inhaler."}
    _write_corpus(corpus, TINY_RECORDS, notes)
    kb = tmp_path / "kb"
    first = build([corpus], kb, OPTS)
    assert first["embedded"] == first["passages"] and first["reused_vectors"] == 0
    old_ids = set(KnowledgeBase(kb).current().passage_ids())

    records = [dict(r) for r in TINY_RECORDS if r["_id"] != "flu-1"]  # removed
    records[2]["text"] += " Metformin may cause lactic acidosis."  # dm-1 changed
    records.append({"_id": "gout-1", "title": "Gout",  # added
                    "text": "Colchicine and NSAIDs treat acute gout flares."})
    notes["new.md"] = "# Heart failure\n\nLoop diuretics relieve congestion in heart failure."
    _write_corpus(corpus, records, notes)

    report = build([corpus], kb, OPTS, update=True)
    assert (report["added"], report["changed"], report["removed"], report["unchanged"]) == \
        (2, 1, 1, 4)
    new_ids = KnowledgeBase(kb).current().passage_ids()
    assert report["embedded"] == len(set(new_ids) - old_ids) > 0
    assert report["reused_vectors"] == len(set(new_ids) & old_ids) > 0
    assert report["embedded"] + report["reused_vectors"] == report["passages"]

    # Passages of the removed record left search.
    from retrieval.search import Searcher

    v = KnowledgeBase(kb).current()
    assert all(h.external_id != "flu-1" for h in Searcher(v).search("influenza oseltamivir", 10))

    # The same as a full rebuild of the new corpus.
    build([corpus], tmp_path / "fresh", OPTS)
    _assert_same(_snapshot(kb), _snapshot(tmp_path / "fresh"))

    # Nothing changed: nothing embedded.
    again = build([corpus], kb, OPTS, update=True)
    assert again["embedded"] == 0 and again["unchanged"] == again["documents"] + 0
    assert (again["added"], again["changed"], again["removed"]) == (0, 0, 0)


WORDS = ("asthma inhaler wheeze steroid metformin insulin glucose kidney renal pressure "
         "salt diuretic influenza fever cough virus gout colchicine heart failure edema "
         "dose daily trial patients risk").split()

_text = st.lists(st.sampled_from(WORDS), min_size=3, max_size=60).map(
    lambda ws: " ".join(ws).capitalize() + ".")
_corpus = st.dictionaries(st.sampled_from([f"r{i}" for i in range(12)]), _text,
                          min_size=1, max_size=8)
_edit = st.sampled_from(["keep", "keep", "change", "drop"])


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(before=_corpus, edits=st.lists(_edit, min_size=8, max_size=8), added=_corpus,
       note=st.one_of(st.none(), _text))
def test_update_equals_full_rebuild(before: dict, edits: list, added: dict,
                                    note: str | None) -> None:
    after = {}
    for (rid, text), edit in zip(before.items(), edits, strict=False):
        if edit == "keep":
            after[rid] = text
        elif edit == "change":
            after[rid] = text + " Updated dose."
    for rid, text in added.items():
        after.setdefault(rid, text)
    if not after:
        after = {"r99": "Only record left."}

    def recs(d: dict) -> list[dict]:
        return [{"_id": k, "title": k, "text": v} for k, v in d.items()]

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus = root / "corpus"
        _write_corpus(corpus, recs(before), {"note.txt": note} if note else {})
        build([corpus], root / "kb", OPTS)
        old = KnowledgeBase(root / "kb").current()
        old_ids = set(old.passage_ids())
        old_sources = {s: d for s, d in old.db.execute("SELECT source, doc_id FROM documents")}
        old.close()

        _write_corpus(corpus, recs(after), {})
        report = build([corpus], root / "kb", OPTS, update=True)
        build([corpus], root / "fresh", OPTS)
        updated, fresh = _snapshot(root / "kb"), _snapshot(root / "fresh")
        _assert_same(updated, fresh)

        new_ids = set(updated["passage_ids"])
        assert report["embedded"] == len(new_ids - old_ids)
        assert report["reused_vectors"] == len(new_ids & old_ids)
        new = KnowledgeBase(root / "kb").current()
        new_sources = {s: d for s, d in new.db.execute("SELECT source, doc_id FROM documents")}
        assert report["added"] == len(new_sources.keys() - old_sources.keys())
        assert report["removed"] == len(old_sources.keys() - new_sources.keys())
        assert report["changed"] == sum(1 for s in new_sources
                                        if s in old_sources and old_sources[s] != new_sources[s])


def test_one_percent_update_costs_under_three_percent_of_embedding(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    records = [{"_id": f"d{i}", "title": f"Record {i}",
                "text": f"Record {i} about " + " ".join(WORDS[(i + j) % len(WORDS)]
                                                        for j in range(40)) + "."}
               for i in range(200)]
    _write_corpus(corpus, records, {})
    full = build([corpus], tmp_path / "kb", OPTS)
    for i in (17, 123):  # 1% of the documents
        records[i]["text"] += " A new finding was added."
    _write_corpus(corpus, records, {})
    upd = build([corpus], tmp_path / "kb", OPTS, update=True)
    assert upd["changed"] == 2 and upd["unchanged"] == 198
    assert upd["embedded"] <= 0.03 * full["embedded"]


def test_keep_versions_prunes_after_publish(tmp_path: Path, tiny_corpus: Path) -> None:
    from dataclasses import replace

    kb = tmp_path / "kb"
    opts = replace(OPTS, keep_versions=2)
    names = []
    for i in range(4):
        (tiny_corpus / "extra.txt").write_text(f"Extra note {i} about asthma.", "utf-8")
        report = build([tiny_corpus], kb, opts, update=i > 0)
        names.append(report["kb_version"])
    store = KnowledgeBase(kb)
    assert store.version_names() == names[-2:]
    assert store.current().id == names[-1]
    assert report["pruned"] == [names[1]]

    # Default: every version stays until `medkb prune`.
    build([tiny_corpus], kb, OPTS, update=True)
    assert len(store.version_names()) == 3
    assert store.prune(1) == names[-2:]
    assert store.version_names() == [store.current_name()]


def test_prune_cli_and_refusal_when_live_is_damaged(tmp_path: Path, tiny_corpus: Path) -> None:
    from typer.testing import CliRunner

    from medkb.cli import app

    kb = tmp_path / "kb"
    for i in range(3):
        (tiny_corpus / "extra.txt").write_text(f"Extra note {i}.", "utf-8")
        build([tiny_corpus], kb, OPTS)
    store = KnowledgeBase(kb)
    live = store.current_name()
    with open(kb / "versions" / live / "kb.sqlite", "r+b") as fh:
        fh.seek(200)
        fh.write(b"\xff" * 16)
    result = CliRunner().invoke(app, ["prune", "--kb", str(kb), "--keep", "1", "--json"])
    assert result.exit_code == 1 and len(store.version_names()) == 3

    (kb / "CURRENT").write_text(store.version_names()[1] + "\n")  # point at an intact one
    result = CliRunner().invoke(app, ["prune", "--kb", str(kb), "--keep", "1", "--json"])
    assert result.exit_code == 0, result.output
    removed = json.loads(result.stdout)["removed"]
    assert len(removed) == 1 and len(store.version_names()) == 2


def test_audit_of_old_generation_shows_removed_passages(tmp_path: Path, tiny_corpus: Path) -> None:
    from generation.answer import AskOptions, answer_question
    from generation.audit import audit
    from generation.backends.extractive import ExtractiveBackend
    from kb.embedder import HashEmbedder
    from kb.ledger import Ledger
    from retrieval.search import Searcher

    kb = tmp_path / "kb"
    build([tiny_corpus], kb, OPTS)
    v = KnowledgeBase(kb).current()
    record = answer_question("metformin type 2 diabetes renal impairment", v, Searcher(v),
                             ExtractiveBackend(HashEmbedder(256)), AskOptions(k=3))
    gen_id = Ledger(kb).append(record)
    cited = {c["passage_id"]: c for c in record["citations"]}
    assert cited

    write_jsonl(tiny_corpus / "records.jsonl", [r for r in TINY_RECORDS if r["_id"] != "dm-1"])
    build([tiny_corpus], kb, OPTS, update=True)
    ver = audit(gen_id, KnowledgeBase(kb))["verification"]
    assert ver["sources_intact"] is False and ver["original_version_available"] is True
    gone = [pid for pid in cited if pid in ver["missing"]]
    assert gone
    for pid in gone:
        assert cited[pid]["text"] in ver["original_passages"][pid]


@pytest.mark.parametrize("update", [False, True])
def test_different_embedder_is_a_clear_error_on_update(tmp_path: Path, tiny_corpus: Path,
                                                       update: bool) -> None:
    from dataclasses import replace

    from kb.errors import KBError

    kb = tmp_path / "kb"
    build([tiny_corpus], kb, OPTS)
    other = replace(OPTS, embedder="hash-128")
    if update:
        with pytest.raises(KBError, match="built with embedder"):
            build([tiny_corpus], kb, other, update=True)
    else:  # a build may switch models; nothing is reused
        report = build([tiny_corpus], kb, other)
        assert report["reused_vectors"] == 0


READER = """
import json, sys, time
from pathlib import Path
from kb.store import KnowledgeBase
from retrieval.search import Searcher
kb, stop = Path(sys.argv[1]), Path(sys.argv[2])
done, errors, seen = 0, [], set()
while not stop.exists() or done == 0:
    try:
        store = KnowledgeBase(kb)
        v = store.current()
        hits = Searcher(v).search("asthma inhaled corticosteroids", 5)
        assert hits and all(h.passage.text for h in hits), "no hits"
        assert store.fallback_note is None, store.fallback_note
        seen.add(v.id)
        v.close()
        done += 1
        if done == 1:
            print("ready", flush=True)
    except Exception as exc:
        errors.append(repr(exc))
print(json.dumps({"done": done, "errors": errors[:5], "n_errors": len(errors),
                  "versions": len(seen)}))
"""


def test_searches_keep_working_during_updates(tmp_path: Path) -> None:
    """Readers in this process (one pinned to the version it opened, one reopening CURRENT each
    time) and in another process search in a loop while updates publish new versions."""
    import subprocess
    import sys
    import threading

    from retrieval.search import Searcher

    corpus = tmp_path / "corpus"

    def corpus_variant(i: int) -> None:
        records = [dict(r) for r in TINY_RECORDS] + [
            {"_id": f"n{j}", "title": f"Note {j}",
             "text": f"Note {j} revision {i}: " + " ".join(WORDS[(j + k + i) % len(WORDS)]
                                                         for k in range(50))}
            for j in range(150)]
        _write_corpus(corpus, records, {})

    corpus_variant(0)
    kb = tmp_path / "kb"
    build([corpus], kb, OPTS)

    # Import (and so compile, in a fresh clone without .pyc files) the search path once before
    # the threads start: CPython 3.11 can raise "AST constructor recursion depth mismatch" when
    # two threads compile modules at the same time, which is not what this test is about.
    Searcher(KnowledgeBase(kb).current()).search("metformin renal impairment", 5)

    stop = threading.Event()
    errors: list[str] = []
    done = {"pinned": 0, "fresh": 0}

    def reader(pinned: bool) -> None:
        store = KnowledgeBase(kb)
        held = store.current() if pinned else None
        while not stop.is_set():
            try:
                v = held or store.current()
                hits = Searcher(v).search("metformin renal impairment", 5)
                assert hits and all(h.passage.text for h in hits)
                if not pinned:
                    v.close()
                done["pinned" if pinned else "fresh"] += 1
            except Exception as exc:  # noqa: BLE001 - every failure counts
                errors.append(repr(exc))

    stop_file = tmp_path / "stop"
    proc = subprocess.Popen([sys.executable, "-c", READER, str(kb), str(stop_file)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"  # searching before the first update
    threads = [threading.Thread(target=reader, args=(p,)) for p in (True, False)]
    for t in threads:
        t.start()
    try:
        published = []
        for i in range(1, 5):
            corpus_variant(i)
            published.append(build([corpus], kb, OPTS, update=True)["kb_version"])
    finally:
        stop.set()
        stop_file.touch()
        for t in threads:
            t.join(30)
        out, _ = proc.communicate(timeout=120)
    other = json.loads(out)
    assert errors == [] and other["n_errors"] == 0, (errors[:3], other["errors"])
    assert done["pinned"] > 0 and done["fresh"] > 0 and other["done"] > 1
    assert other["versions"] >= 2  # the other process saw versions switch under it
    assert KnowledgeBase(kb).current().id == published[-1]


def test_changes_are_counted_by_content_not_position(tmp_path: Path) -> None:
    """MedQuAD repeats ids, so a record's source carries its line number; removing an earlier
    line moves the later ones without changing them."""
    corpus = tmp_path / "corpus"
    records = [{"_id": "a", "text": "First record about asthma."},
               {"_id": "x", "text": "Second record about gout."},
               {"_id": "x", "text": "Third record about influenza."},
               {"_id": "b", "text": "Fourth record about renal disease."}]
    _write_corpus(corpus, records, {})
    kb = tmp_path / "kb"
    build([corpus], kb, OPTS)
    _write_corpus(corpus, records[1:], {})
    report = build([corpus], kb, OPTS, update=True)
    assert (report["added"], report["changed"], report["removed"], report["unchanged"]) == \
        (0, 0, 1, 3)
    assert report["embedded"] == 0 and report["chunked_documents"] == 0


def _tiny_seeds(root: Path) -> Path:
    root.mkdir()
    (root / "hetionet_nodes.tsv").write_text(
        "id\tname\tkind\n"
        "Compound::DB00331\tMetformin\tCompound\n"
        "Compound::DB01222\tBudesonide\tCompound\n"
        "Compound::DB00316\tAcetaminophen\tCompound\n"
        "Disease::DOID:9352\ttype 2 diabetes mellitus\tDisease\n"
        "Disease::DOID:2841\tasthma\tDisease\n"
        "Disease::DOID:8469\tinfluenza\tDisease\n", "utf-8")
    (root / "hetionet_clinical_edges.tsv").write_text(
        "source\tsource_name\tmetaedge\ttarget\ttarget_name\n"
        "Compound::DB00331\tMetformin\tCtD\tDisease::DOID:9352\ttype 2 diabetes mellitus\n",
        "utf-8")
    return root


def test_update_reuses_extractions_and_equals_full_rebuild(tmp_path: Path) -> None:
    from dataclasses import replace

    opts = replace(OPTS, graph_seeds=_tiny_seeds(tmp_path / "seeds"))
    corpus = tmp_path / "corpus"
    records = [dict(r) for r in TINY_RECORDS] + [
        {"_id": "b-1", "title": "Budesonide", "text": "Budesonide is used to treat asthma. "
         "Metformin is used to treat type 2 diabetes mellitus."},
        {"_id": "flu-2", "title": "Fever", "text": "Acetaminophen relieves fever in influenza."}]
    _write_corpus(corpus, records, {})
    first = build([corpus], tmp_path / "kb", opts)
    assert first["extracted"] == first["passages"] and first["reused_extractions"] == 0
    assert first["edges"] > 0

    records[5]["text"] = "Budesonide is the first-line treatment for asthma."  # changed
    del records[6]  # removed
    records.append({"_id": "dm-2", "title": "Metformin", "text": "Metformin treats type 2 "
                    "diabetes mellitus and is taken with meals."})  # added
    _write_corpus(corpus, records, {})
    upd = build([corpus], tmp_path / "kb", opts, update=True)
    assert upd["extracted"] == upd["embedded"] > 0
    assert upd["reused_extractions"] == upd["reused_vectors"] > 0

    full = build([corpus], tmp_path / "fresh", opts)
    assert (upd["entities"], upd["edges"]) == (full["entities"], full["edges"])
    a, b = KnowledgeBase(tmp_path / "kb").current(), KnowledgeBase(tmp_path / "fresh").current()
    rows = "SELECT * FROM mentions ORDER BY rowid"
    assert a.db.execute(rows).fetchall() == b.db.execute(rows).fetchall()
    assert a.file("graph.json").read_bytes() == b.file("graph.json").read_bytes()
    _assert_same(_snapshot(tmp_path / "kb"), _snapshot(tmp_path / "fresh"))

    # Different curated input: everything is extracted again.
    with open(opts.graph_seeds / "hetionet_nodes.tsv", "a", encoding="utf-8") as fh:
        fh.write("Disease::DOID:10763\thypertension\tDisease\n")
    again = build([corpus], tmp_path / "kb", opts, update=True)
    assert again["reused_extractions"] == 0 and again["extracted"] == again["passages"]
