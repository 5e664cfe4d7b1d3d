"""Build the BM25 index (kb.sparse) from a stream of texts, in bounded memory.

bm25s builds its index from the whole tokenised corpus held as Python lists (about 60 bytes
per token: gigabytes at a million passages). This writer gives the same scores (same
tokenizer, the same BM25 formulas as bm25s, stored in float32 exactly as bm25s computes
them) in bm25s's own on-disk format, so `SparseIndex.load` memory-maps it as before:

  pass 1  tokenise each text once; token ids, term counts and document lengths are appended
          to temporary files (only the vocabulary and the per-token document counts stay in
          memory);
  pass 2  read the postings back in slices, score them, and scatter them into the column-
          major (CSC) arrays, which are memory-mapped .npy files in the index directory.

Peak memory: the vocabulary plus one slice (SLICE postings), not the corpus.
"""

from __future__ import annotations

import json
import math
import mmap
from collections.abc import Iterable
from dataclasses import asdict
from itertools import chain, islice
from pathlib import Path
from typing import Any

import numpy as np

from kb.sparse import PARAMS_NAME, SPARSE_FORMAT, SparseParams, Tokenizer, _bm25s_version

BATCH = 4096  # texts tokenised before their postings are counted and written together
SLICE = 4_000_000  # postings scored and scattered at a time (≈ 50 MB of temporaries)
_POSTING = np.dtype([("doc", "<i4"), ("tok", "<i4"), ("tf", "<f4")])


def build_sparse(texts: Iterable[str], directory: Path, params: SparseParams | None = None
                 ) -> int:
    """Write the BM25 index of `texts` (row i = the i-th text) to `directory`; returns the
    number of texts. Load it with `kb.sparse.SparseIndex.load`."""
    params = params or SparseParams()
    if params.method != "lucene":
        raise ValueError(f"the streaming BM25 builder implements the lucene variant, "
                         f"not {params.method!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenize = Tokenizer(params)
    vocab: dict[str, int] = {}
    df = np.zeros(1024, dtype=np.int64)
    lengths_path = directory / ".doclen.tmp"
    postings_path = directory / ".postings.tmp"
    n_docs = 0
    total_len = 0
    with open(postings_path, "wb") as post, open(lengths_path, "wb") as lens:
        batch_texts = iter(texts)
        while batch := list(islice(batch_texts, BATCH)):
            ids = [[vocab.setdefault(t, len(vocab)) for t in tokenize(text)] for text in batch]
            df = _write_postings(ids, n_docs, df, len(vocab), post, lens)
            n_docs += len(ids)
            total_len += sum(map(len, ids))
    try:
        if n_docs:
            _write_csc(directory, postings_path, lengths_path, df[: len(vocab)], n_docs,
                       total_len / n_docs, params)
            _write_json(directory, vocab, n_docs, params)
    finally:
        postings_path.unlink(missing_ok=True)
        lengths_path.unlink(missing_ok=True)
    meta = {"format": SPARSE_FORMAT, "size": n_docs, "bm25s": _bm25s_version(), **asdict(params)}
    meta["stopwords"] = list(params.stopwords)
    (directory / PARAMS_NAME).write_text(json.dumps(meta, indent=1), "utf-8")
    return n_docs


def _write_postings(id_lists: list[list[int]], first_doc: int, df: np.ndarray, n_vocab: int,
           post: Any, lens: Any) -> np.ndarray:
    """Append the postings (doc, token, term count; by document, then token id) and the
    lengths of these texts; returns the document counts per token, grown to `n_vocab`."""
    if n_vocab > len(df):
        df = np.concatenate([df, np.zeros(max(len(df), n_vocab - len(df)), np.int64)])
    lengths = np.fromiter(map(len, id_lists), dtype=np.int64, count=len(id_lists))
    flat = np.fromiter(chain.from_iterable(id_lists), dtype=np.int64, count=int(lengths.sum()))
    rows = np.repeat(np.arange(len(id_lists), dtype=np.int64), lengths)
    keys, counts = np.unique((rows << 32) | flat, return_counts=True)  # one sort per batch
    rec = np.empty(len(keys), dtype=_POSTING)
    rec["doc"] = (keys >> 32) + first_doc
    rec["tok"] = keys & 0xFFFFFFFF
    rec["tf"] = counts
    df[: n_vocab] += np.bincount(rec["tok"], minlength=n_vocab)
    rec.tofile(post)
    lengths.astype(np.int32).tofile(lens)
    return df


def _write_csc(directory: Path, postings_path: Path, lengths_path: Path, df: np.ndarray,
               n_docs: int, avg_len: float, params: SparseParams) -> None:
    n_vocab = len(df)
    # idf as bm25s computes it: math.log per token, stored in float32
    idf = np.array([math.log(1 + (n_docs - d + 0.5) / (d + 0.5)) if d else 0.0 for d in df],
                   dtype=np.float32)
    indptr = np.zeros(n_vocab + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    nnz = int(indptr[-1])
    np.save(directory / "indptr.csc.index.npy", indptr)
    if not nnz:  # nothing but stop words
        np.save(directory / "data.csc.index.npy", np.zeros(0, np.float32))
        np.save(directory / "indices.csc.index.npy", np.zeros(0, np.int32))
        return
    lengths = np.fromfile(lengths_path, dtype=np.int32)
    data = np.lib.format.open_memmap(directory / "data.csc.index.npy", mode="w+",
                                     dtype=np.float32, shape=(nnz,))
    indices = np.lib.format.open_memmap(directory / "indices.csc.index.npy", mode="w+",
                                        dtype=np.int32, shape=(nnz,))
    nxt = indptr[:-1].copy()
    k1, b = params.k1, params.b
    l_avg = np.float64(avg_len)
    postings = open(postings_path, "rb")  # noqa: SIM115 - closed below
    for lo in range(0, nnz, SLICE):
        part = np.fromfile(postings, dtype=_POSTING, count=min(SLICE, nnz - lo))
        doc, tok, tf = part["doc"], part["tok"], part["tf"]
        l_d = lengths[doc].astype(np.float64)
        tfc = tf / (k1 * ((1 - b) + b * l_d / l_avg) + tf)  # bm25s _score_tfc_robertson
        score = (idf[tok] * tfc).astype(np.float32)
        # scatter into columns; rows stay in document order within each column
        order = np.argsort(tok, kind="stable")
        stok = tok[order]
        counts = np.bincount(stok, minlength=n_vocab)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.arange(len(stok)) - starts[stok]
        pos = nxt[stok] + rank
        data[pos] = score[order]
        indices[pos] = doc[order]
        nxt += counts
        _unmap(data)
        _unmap(indices)
    postings.close()
    data.flush()
    indices.flush()
    del data, indices


def _unmap(array: np.memmap) -> None:
    """Drop a shared file mapping's pages from this process (the written data stays in the
    page cache and the file): scattered writes all over the output would otherwise count
    the whole file in the build's RSS."""
    mm = getattr(array, "_mmap", None)
    if mm is not None and hasattr(mmap, "MADV_DONTNEED"):
        mm.madvise(mmap.MADV_DONTNEED)


def _write_json(directory: Path, vocab: dict[str, int], n_docs: int, params: SparseParams
                ) -> None:
    vocab = dict(vocab)
    vocab.setdefault("", len(vocab))  # bm25s's empty token, after the real ones
    (directory / "vocab.index.json").write_text(json.dumps(vocab, ensure_ascii=False), "utf-8")
    bm25s_params = {"k1": params.k1, "b": params.b, "delta": 0.5, "method": params.method,
                    "idf_method": params.method, "dtype": "float32", "int_dtype": "int32",
                    "num_docs": n_docs, "version": _bm25s_version(), "backend": "numpy"}
    (directory / "params.index.json").write_text(json.dumps(bm25s_params, indent=4), "utf-8")
