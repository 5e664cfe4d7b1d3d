"""The overlapped chunk -> embed stage gives what the sequential one gives, and fails loudly."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ingest.chunking import Chunker
from ingest.flow import chunk_and_embed
from kb.config import ChunkSettings
from kb.embedder import HashEmbedder
from kb.records import Document


def _docs(n: int) -> list[tuple[Document, str]]:
    out = []
    for i in range(n):
        text = " ".join(f"Sentence {j} of record {i % 7} about asthma and fever." for j in range(30))
        title = f"t{i % 7}"  # every 7th document repeats: its passages are deduplicated
        doc = Document(doc_id=Document.make_id(text, title, None), source=f"f.jsonl#{i}",
                       format="jsonl", title=title, text=text)
        out.append((doc, "f.jsonl"))
    return out


def _sequential(docs, chunker, emb):
    passages, seen = [], set()
    for d, _ in docs:
        for p in chunker.chunk(d):
            if p.passage_id not in seen:
                seen.add(p.passage_id)
                passages.append(p)
    return passages, emb.embed([p.text for p in passages])


def test_same_passages_and_vectors_as_sequential():
    docs = _docs(40)
    chunker = Chunker(ChunkSettings(chunk_tokens=40, overlap_tokens=8))
    emb = HashEmbedder(64)
    want_p, want_v = _sequential(docs, chunker, emb)
    seen_during: list[int] = []
    threads: set[str] = set()

    def embed(texts, tick):
        threads.add(threading.current_thread().name)
        return emb.embed(texts, progress=tick)

    passages, vectors, reused, extra = chunk_and_embed(
        (chunker.chunk(d) for d, _ in docs), embed, 64,
        lambda pid: None, lambda *a: None, lambda ps, ready: seen_during.append(len(ready(len(ps))[:len(ps)])) or "x")
    assert [p.passage_id for p in passages] == [p.passage_id for p in want_p]
    assert [p.ordinal for p in passages] == list(range(len(passages)))
    np.testing.assert_allclose(vectors, want_v)
    assert reused == 0 and extra == "x" and seen_during == [len(passages)]
    assert threads == {"medkb-embed"}


def test_reused_vectors_are_kept_not_recomputed():
    docs = _docs(12)
    chunker = Chunker(ChunkSettings(chunk_tokens=40, overlap_tokens=8))
    emb = HashEmbedder(32)
    want_p, _ = _sequential(docs, chunker, emb)
    old = {p.passage_id: np.full(32, 0.5, np.float32) for p in want_p[::2]}
    calls: list[int] = []

    def embed(texts, tick):
        calls.append(len(texts))
        return emb.embed(texts)

    passages, vectors, reused, _ = chunk_and_embed(
        (chunker.chunk(d) for d, _ in docs), embed, 32,
        old.get, lambda *a: None, lambda ps, ready: None)
    assert reused == len(old) and sum(calls) == len(passages) - len(old)
    for p in passages:
        if p.passage_id in old:
            assert np.all(vectors[p.ordinal] == 0.5)


def test_embedding_error_reaches_the_caller():
    docs = _docs(5)
    chunker = Chunker(ChunkSettings(chunk_tokens=40, overlap_tokens=8))

    def broken(texts, tick):
        raise RuntimeError("model exploded")

    with pytest.raises(RuntimeError, match="model exploded"):
        chunk_and_embed((chunker.chunk(d) for d, _ in docs), broken, 8, lambda pid: None, lambda *a: None, lambda ps, ready: None)


def test_chunk_lengths_unaffected_by_concurrent_padded_encoding():
    """The chunker counts tokens with a private tokenizer copy (and, for this BERT tokenizer,
    word by word): same counts as encode(), and a padded batch encoded with the shared tokenizer
    in another thread cannot change them."""
    from transformers import AutoTokenizer

    from ingest.chunking import _length_function
    from kb.models import embedder_path

    tok = AutoTokenizer.from_pretrained(embedder_path("all-MiniLM-L6-v2"))
    # Counted word by word (the µg by the tokenizer copy), and a text with a form feed whole.
    texts = [" ".join(["Asthma, wheeze; inhaled corticosteroids (ICS) 200 µg."] * k)
             for k in (1, 3, 20, 90)] + ["Page 2\x0cTable 1: FEV1 (L)"]
    length = _length_function(tok)
    want = [len(tok.encode(t, add_special_tokens=False, verbose=False)) for t in texts]
    stop = threading.Event()
    errors: list[Exception] = []

    def pad_forever():
        while not stop.is_set():
            try:
                out = tok(texts, padding=True, truncation=True, max_length=256)
                assert len({len(x) for x in out["input_ids"]}) == 1
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

    other = threading.Thread(target=pad_forever)
    other.start()
    try:
        got = [[length(t) for t in texts] for _ in range(30)]
    finally:
        stop.set()
        other.join()
    assert all(g == want for g in got) and not errors


def test_embedder_starts_before_a_full_window():
    """The first passages are embedded as soon as `min_window` are queued, while more are still
    coming (the build reads and chunks its next files meanwhile), never held for a window."""
    from ingest.flow import EmbedWorker

    emb = HashEmbedder(32)
    calls: list[int] = []

    def embed(texts, tick):
        calls.append(len(texts))
        return emb.embed(texts)

    worker = EmbedWorker(embed, 32, lambda *a: None, window=256, min_window=16)
    try:
        worker.submit([(i, f"passage {i} about asthma", None) for i in range(20)])
        got: list[np.ndarray] = []
        waiter = threading.Thread(target=lambda: got.append(worker.wait_for(20)), daemon=True)
        waiter.start()
        waiter.join(timeout=60)  # a deadlock guard, not a speed check
        assert got, "the first 20 passages waited for a full window of 256"
        assert calls == [20]
        worker.submit([(20 + i, f"later passage {i}", None) for i in range(5)])
        vecs = worker.finish()
        assert vecs.shape == (25, 32) and sum(calls) == 25
        assert np.allclose(vecs[20:], emb.embed([f"later passage {i}" for i in range(5)]))
    finally:
        worker.close()
