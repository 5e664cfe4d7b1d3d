"""The vector index. faiss lives here and nowhere else.

Rows are passage ordinals in the version's SQLite table, so an index hit maps to a passage
without any side table. Saved in FAISS's native format (no pickle).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

# Below this many vectors an exact flat index answers a query in about a millisecond here; from
# there on HNSW keeps p50 under 2 ms (benchmarks/search_bench.py measures both).
HNSW_THRESHOLD = 50_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 100
HNSW_EF_SEARCH = 256
# Measured (benchmarks/search_bench.py, 384-d, M 32): at 100k efSearch 256 gives recall@10
# 0.999 at 0.9 ms; at 1M it gives only 0.955, 512 gives 0.979 at 2.0 ms, 1024 0.993 at 3.8 ms.
# benchmarks/scale_build.py measured whole KBs between (377k-518k passages of repeated text):
# 256 fell to 0.86 there, so the breadth grows from 100k on.
HNSW_EF_SEARCH_MID = 512
HNSW_MID = 100_000
HNSW_EF_SEARCH_LARGE = 1024
HNSW_LARGE = 300_000


def default_ef_search(n: int) -> int:
    """Search breadth that keeps recall@10 near 0.99 of exact at this many vectors."""
    if n >= HNSW_LARGE:
        return HNSW_EF_SEARCH_LARGE
    return HNSW_EF_SEARCH_MID if n >= HNSW_MID else HNSW_EF_SEARCH


PARALLEL_MIN_QUERIES = 8  # smaller batches search on the calling thread alone


KINDS = ("auto", "flat", "hnsw", "ivf")
# IVF (`--index ivf`): sqrt(n) lists (720 at 518k, 1,000 at 1M), trained on 39 vectors a
# list, nprobe 256 by default (a third of the lists at 518k, a quarter at 1M): no graph in
# memory, the lists are memory-mapped when a version is opened. With 2 * sqrt(n) lists
# benchmarks/memory_bench.py measured recall@10 0.995 at nprobe 256 on MiniLM-like vectors
# at 1M; the hash embedder's vectors (high intrinsic dimension) need the larger share that
# sqrt(n) lists give (benchmarks/scale_build.py, README "Scaling out").
IVF_NPROBE = 256
IVF_TRAIN_PER_LIST = 39


def ivf_lists(n: int) -> int:
    return max(1, min(max(64, int(np.sqrt(max(n, 1)))), n // IVF_TRAIN_PER_LIST or 1))


# From here `auto` builds IVF rather than HNSW. Measured on the 639k-passage scale KB
# (benchmarks/scale_build.py, hash-384 vectors): HNSW (M 32) recall@10 0.90 at efSearch 1024
# and 0.93 at 2048, IVF 0.991 at nprobe 256 (dense p50 ~10 ms), built in seconds rather than
# minutes and with no graph in memory. On MiniLM-like vectors HNSW does better (0.993 at 1M,
# benchmarks/search_bench.py) and stays one `--index hnsw` away.
IVF_THRESHOLD = 500_000


def choose_kind(n: int, kind: str = "auto") -> str:
    if kind == "auto":
        if n >= IVF_THRESHOLD:
            return "ivf"
        return "hnsw" if n >= HNSW_THRESHOLD else "flat"
    if kind not in KINDS:
        raise ValueError(f"unknown vector index kind {kind!r}: use auto, flat, hnsw or ivf")
    if kind == "ivf" and n < IVF_TRAIN_PER_LIST * 64:
        return "flat"  # too few vectors to train lists on: exact search is as fast anyway
    return kind


class VectorIndex(Protocol):
    dim: int

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def __len__(self) -> int: ...


class FaissIndex:
    """Inner-product search over L2-normalised vectors (cosine similarity): exact (flat) for
    small KBs, HNSW for large ones (`build(kind=...)`)."""

    def __init__(self, index: object) -> None:
        self._index = index

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "auto", *, precision: str = "fp32",
              hnsw_m: int = HNSW_M, ef_construction: int = HNSW_EF_CONSTRUCTION,
              ef_search: int | None = None) -> FaissIndex:
        """`kind`: "flat" (exact), "hnsw" (graph, approximate), "ivf" (inverted lists,
        approximate) or "auto" (flat below HNSW_THRESHOLD vectors, HNSW from there on, IVF
        from IVF_THRESHOLD).
        `precision` "fp16" halves the memory of the stored vectors (scalar quantiser) at a
        small cost in score precision. `ef_search` None: chosen by size (`default_ef_search`)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        return cls.build_chunked(lambda: iter([vectors]), len(vectors), vectors.shape[1], kind,
                                 precision=precision, sample=lambda k: vectors[
                                     np.linspace(0, len(vectors) - 1, min(k, len(vectors)))
                                     .astype(np.int64)] if len(vectors) else vectors,
                                 hnsw_m=hnsw_m, ef_construction=ef_construction,
                                 ef_search=ef_search)

    @classmethod
    def build_chunked(cls, chunks: Callable[[], Iterable[np.ndarray]], n: int, dim: int,
                      kind: str = "auto", *, precision: str = "fp32",
                      sample: Callable[[int], np.ndarray] | None = None,
                      hnsw_m: int = HNSW_M, ef_construction: int = HNSW_EF_CONSTRUCTION,
                      ef_search: int | None = None, nprobe: int | None = None) -> FaissIndex:
        """`build` from `chunks()`: consecutive blocks of the `n` rows (each added, then
        dropped: only the index itself grows in memory). `sample(k)`: about k rows spread over
        all of them, for an index that must be trained first (IVF's coarse centroids)."""
        import faiss

        kind = choose_kind(n, kind)
        if precision not in ("fp32", "fp16"):
            raise ValueError(f"unknown vector precision {precision!r}: use fp32 or fp16")
        ip = faiss.METRIC_INNER_PRODUCT
        fp16 = faiss.ScalarQuantizer.QT_fp16
        if kind == "flat":
            index = (faiss.IndexFlatIP(dim) if precision == "fp32" else
                     faiss.IndexScalarQuantizer(dim, fp16, ip))
        elif kind == "hnsw":
            index = (faiss.IndexHNSWFlat(dim, hnsw_m, ip) if precision == "fp32" else
                     faiss.IndexHNSWSQ(dim, fp16, hnsw_m, ip))
            index.hnsw.efConstruction = ef_construction
            index.hnsw.efSearch = ef_search or default_ef_search(n)
        else:
            nlist = ivf_lists(n)
            quantizer = faiss.IndexFlatIP(dim)
            index = (faiss.IndexIVFFlat(quantizer, dim, nlist, ip) if precision == "fp32" else
                     faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, fp16, ip))
            index.own_fields = True
            quantizer.this.disown()
            index.nprobe = min(nlist, nprobe or IVF_NPROBE)
            # rows map back to passages by ordinal, and the searcher reconstructs them
            index.set_direct_map_type(faiss.DirectMap.Array)
        if not index.is_trained:
            if sample is None:
                raise ValueError(f"a {kind} index needs a training sample")
            train = np.ascontiguousarray(sample(IVF_TRAIN_PER_LIST * ivf_lists(n)), np.float32)
            index.train(train)
            del train
            log.info("%s index trained", kind)
        if kind == "ivf" and n:
            _reserve_lists(index, chunks)
        for block in chunks():
            if len(block):
                index.add(np.ascontiguousarray(block, dtype=np.float32))
        return cls(index)

    @property
    def kind(self) -> str:
        if hasattr(self._index, "hnsw"):
            return "hnsw"
        return "ivf" if hasattr(self._index, "nprobe") else "flat"

    @property
    def ef_search(self) -> int | None:
        hnsw = getattr(self._index, "hnsw", None)
        return int(hnsw.efSearch) if hnsw is not None else None

    def set_ef_search(self, ef: int) -> None:
        """Search breadth of an HNSW index (higher: better recall, slower); no-op if flat."""
        hnsw = getattr(self._index, "hnsw", None)
        if hnsw is not None:
            hnsw.efSearch = int(ef)

    @property
    def nprobe(self) -> int | None:
        return int(self._index.nprobe) if hasattr(self._index, "nprobe") else None

    def set_nprobe(self, nprobe: int) -> None:
        """Lists an IVF index searches (higher: better recall, slower); no-op otherwise."""
        if hasattr(self._index, "nprobe"):
            self._index.nprobe = int(nprobe)  # type: ignore[attr-defined]

    def reconstruct(self, rows: Sequence[int]) -> np.ndarray:
        """The stored vectors of `rows` (approximate for fp16 indexes)."""
        ids = np.asarray(list(rows), dtype=np.int64)
        if not len(ids):
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._index.reconstruct_batch(ids), dtype=np.float32)  # type: ignore[attr-defined]

    def recall_vs_exact(self, vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
        """Share of the exact top-k (brute force over `vectors`, the rows this index holds)
        that this index returns for `queries`: 1.0 for a flat fp32 index."""
        import faiss

        k = min(k, len(self))
        if k <= 0 or not len(queries):
            return 1.0
        q = np.ascontiguousarray(queries, dtype=np.float32)
        _, exact = faiss.knn(q, np.ascontiguousarray(vectors, dtype=np.float32), k,
                             metric=faiss.METRIC_INNER_PRODUCT)
        _, got = self.search(q, k)
        hits = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(exact, got, strict=True))
        return hits / float(exact.size)

    @property
    def dim(self) -> int:
        return int(self._index.d)  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return int(self._index.ntotal)  # type: ignore[attr-defined]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self))
        if k <= 0:
            n = len(queries)
            return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if len(q) >= PARALLEL_MIN_QUERIES:
            return self._index.search(q, k)  # type: ignore[attr-defined]
        import faiss

        # A few queries gain nothing from OpenMP threads, and on a busy machine waiting for
        # them costs tens of milliseconds; the setting is per calling thread.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self._index.search(q, k)  # type: ignore[attr-defined]
        finally:
            faiss.omp_set_num_threads(threads)

    def reconstruct_all(self) -> np.ndarray:
        return self._index.reconstruct_n(0, len(self))  # type: ignore[attr-defined]

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, *, mmap: bool = True) -> FaissIndex:
        """`mmap`: the stored vectors (flat codes, also under HNSW) are memory-mapped from
        the file, not copied into this process's heap: they cost page cache the kernel can
        drop, and a published version never changes (benchmarks/memory_bench.py measures
        RSS both ways). The HNSW graph itself is always read into memory."""
        import faiss

        flags = 0
        if mmap and hasattr(faiss, "IO_FLAG_MMAP_IFC"):
            flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY
        index = cls(faiss.read_index(str(path), flags))
        # a version built with the old default (256 below 500k) searches as deep as a new
        # one; a breadth set on purpose is kept
        if index.ef_search == HNSW_EF_SEARCH and default_ef_search(len(index)) > HNSW_EF_SEARCH:
            index.set_ef_search(default_ef_search(len(index)))
        return index


def _reserve_lists(index: object, chunks: Callable[[], Iterable[np.ndarray]]) -> None:
    """Size each inverted list for what it will hold before anything is added (one pass of
    coarse assignment over the chunks): appended chunk by chunk, the lists would otherwise
    grow by doubling and the build hold up to twice the codes at its peak."""
    import faiss

    nlist = int(index.nlist)  # type: ignore[attr-defined]
    counts = np.zeros(nlist, dtype=np.int64)
    for block in chunks():
        if len(block):
            _, assign = index.quantizer.search(  # type: ignore[attr-defined]
                np.ascontiguousarray(block, dtype=np.float32), 1)
            counts += np.bincount(assign[:, 0], minlength=nlist)
    lists = faiss.downcast_InvertedLists(index.invlists)  # type: ignore[attr-defined]
    if not hasattr(lists, "resize"):
        return
    for list_no in np.flatnonzero(counts).tolist():
        lists.resize(list_no, int(counts[list_no]))  # capacity for all of them ...
        lists.resize(list_no, 0)  # ... kept by std::vector when the size drops back
