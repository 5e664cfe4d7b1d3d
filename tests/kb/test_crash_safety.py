"""Crash safety: a build or update killed (SIGKILL) at named points and at random moments
leaves CURRENT naming a complete, readable version (or none after a first build), the writer
lock released and the next build working; a damaged live version falls back to the last good
one and says so. Builds run in forkserver children (cheap to start, no inherited threads);
benchmarks/kill_test.py does the same with whole `medkb` processes."""

from __future__ import annotations

import fcntl
import json
import multiprocessing as mp
import random
import signal
import time
from pathlib import Path

import pytest
from medkb_testutil import TINY_RECORDS, write_jsonl

from ingest.pipeline import BuildOptions, build
from kb.errors import KBError
from kb.faults import call_with_fault
from kb.store import KnowledgeBase

OPTS = BuildOptions(embedder="hash-256", graph_seeds=None)
POINTS = ("after-read", "after-chunk", "after-embed", "after-extract", "before-publish",
          "before-rename", "before-current", "after-publish")
PUBLISHED_AT = POINTS.index("after-publish")  # CURRENT names the new version from here on


@pytest.fixture(scope="module")
def ctx() -> mp.context.BaseContext:
    ctx = mp.get_context("forkserver")
    # Import the heavy modules once in the server, so that each killed build starts in ~0.1 s.
    ctx.set_forkserver_preload(["ingest.pipeline", "ingest.stages", "ingest.chunking",
                                "langchain_text_splitters", "kb.store", "kb.embedder",
                                "kb.vectors", "kb.sparse", "ingest.readers.jsonl",
                                "ingest.readers.sandbox", "ingest.reuse", "ingest.classify",
                                "ingest.summarise", "faiss", "bm25s"])  # missing ones: skipped
    return ctx


def _corpus(root: Path, n: int, variant: int = 0) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    records = [dict(r) for r in TINY_RECORDS]
    records += [{"_id": f"x{i}", "title": f"Extra {i}",
                 "text": f"Record {i} variant {variant}: " + " ".join(
                     f"word{(i * 7 + j) % 97}" for j in range(60)) + "."} for i in range(n)]
    write_jsonl(root / "records.jsonl", records)
    return root


def _run(ctx: mp.context.BaseContext, point: str | None, corpus: Path, kb: Path,
         update: bool, kill_after: float | None = None) -> int | None:
    proc = ctx.Process(target=call_with_fault, args=(point, build, [corpus], kb, OPTS),
                       kwargs={"update": update})
    proc.start()
    if kill_after is not None:
        time.sleep(kill_after)
        if proc.is_alive():
            proc.kill()
    proc.join(60)
    assert not proc.is_alive()
    return proc.exitcode


def _lock_is_free(kb: Path) -> bool:
    with open(kb / ".write.lock", "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return True


def _readable(kb: Path) -> str | None:
    """The live version after a crash: complete, hash-checked, searchable; None if none."""
    from retrieval.search import Searcher

    store = KnowledgeBase(kb)
    if not store.exists():
        with pytest.raises(KBError, match="medkb build"):
            store.current()
        return None
    version = store.current()
    assert store.fallback_note is None, store.fallback_note  # a kill never damages a version
    assert version.id == store.current_name()
    n = version.counts["passages"]
    assert len(version.passage_ids()) == n == len(version.vectors())
    assert Searcher(version).search("metformin renal impairment", 3)
    return version.id


@pytest.mark.parametrize("update", [False, True], ids=["build", "update"])
def test_kill_at_each_named_point(ctx, tmp_path: Path, update: bool) -> None:
    corpus = _corpus(tmp_path / "corpus", 40)
    kb = tmp_path / "kb"
    before = build([corpus], kb, OPTS)["kb_version"] if update else None
    for i, point in enumerate(POINTS):
        _corpus(corpus, 40, variant=i + 1)  # every attempt has new passages to write
        assert _run(ctx, point, corpus, kb, update) == -signal.SIGKILL, point
        live = _readable(kb)
        if i < PUBLISHED_AT:
            assert live == before, point
        else:
            assert live is not None and live != before
            before = live
        assert _lock_is_free(kb)
    # The next writer cleans up and succeeds.
    report = build([corpus], kb, OPTS, update=update)
    assert _readable(kb) == report["kb_version"]
    assert not list((kb / "versions").glob(".tmp-*"))
    assert not list(kb.glob(".CURRENT.tmp-*"))


def test_kill_at_random_moments(ctx, tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "corpus", 600)
    kb = tmp_path / "kb"
    t0 = time.perf_counter()
    assert _run(ctx, None, corpus, kb, update=False) == 0
    took = time.perf_counter() - t0
    rng = random.Random(6)
    versions = {_readable(kb)}
    for i in range(4):
        _corpus(corpus, 600, variant=i + 1)
        _run(ctx, None, corpus, kb, update=True, kill_after=rng.uniform(0.05, took))
        live = _readable(kb)
        assert live is not None and _lock_is_free(kb)
        versions.add(live)
    report = build([corpus], kb, OPTS, update=True)
    assert _readable(kb) == report["kb_version"]


def test_damaged_live_version_falls_back_with_a_note(tmp_path: Path, tiny_corpus: Path) -> None:
    from typer.testing import CliRunner

    from medkb.cli import app

    kb = tmp_path / "kb"
    good = build([tiny_corpus], kb, OPTS)["kb_version"]
    (tiny_corpus / "more.txt").write_text("Gout\n\nColchicine treats acute gout.", "utf-8")
    bad = build([tiny_corpus], kb, OPTS, update=True)["kb_version"]

    vectors = kb / "versions" / bad / "vectors.faiss"
    data = bytearray(vectors.read_bytes())
    data[-10] ^= 0xFF
    vectors.write_bytes(bytes(data))

    store = KnowledgeBase(kb)
    assert store.current().id == good
    assert bad in store.fallback_note and "manifest hash" in store.fallback_note
    assert good in store.fallback_note

    result = CliRunner().invoke(app, ["info", "--kb", str(kb), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["kb_version"] == good
    assert "last good version" in result.stderr

    # An update starts from the last good version and says so.
    report = build([tiny_corpus], kb, OPTS, update=True)
    assert report["notes"] and bad in report["notes"][0]
    assert KnowledgeBase(kb).current().id == report["kb_version"]


def test_missing_manifest_or_file_falls_back(tmp_path: Path, tiny_corpus: Path) -> None:
    kb = tmp_path / "kb"
    good = build([tiny_corpus], kb, OPTS)["kb_version"]
    (tiny_corpus / "more.txt").write_text("Gout\n\nColchicine treats acute gout.", "utf-8")
    bad = build([tiny_corpus], kb, OPTS)["kb_version"]
    (kb / "versions" / bad / "kb.sqlite").unlink()
    store = KnowledgeBase(kb)
    assert store.current().id == good and "missing" in store.fallback_note
    (kb / "versions" / bad / "manifest.json").write_text("{truncated")
    assert KnowledgeBase(kb).current().id == good


def test_every_version_damaged_is_a_clear_error(tmp_path: Path, tiny_corpus: Path) -> None:
    kb = tmp_path / "kb"
    name = build([tiny_corpus], kb, OPTS)["kb_version"]
    (kb / "versions" / name / "vectors.faiss").write_bytes(b"garbage")
    with pytest.raises(KBError, match="does not match its manifest hash"):
        KnowledgeBase(kb).current()


def test_second_writer_gets_a_clear_error(tmp_path: Path, tiny_corpus: Path) -> None:
    kb = tmp_path / "kb"
    build([tiny_corpus], kb, OPTS)
    store = KnowledgeBase(kb)
    with store.writer_lock():
        with pytest.raises(KBError, match="being written by another build or update"):
            build([tiny_corpus], kb, OPTS, update=True)
        with pytest.raises(KBError, match="being written"):
            store.prune(1)
    build([tiny_corpus], kb, OPTS, update=True)  # free again


@pytest.mark.slow
def test_twenty_random_kills_of_whole_medkb_processes() -> None:
    """benchmarks/kill_test.py: 20 `kill -9`s of real `medkb build|update` processes."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, str(root / "benchmarks" / "kill_test.py"), "--json"],
                         capture_output=True, text=True, timeout=1800)
    summary = json.loads(out.stdout)
    assert summary["readable"] == summary["trials"] == 20, out.stderr
    assert summary["final_update_ok"]
