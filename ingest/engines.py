"""Engines that run the ingest stages (ingest.stages) over batches (DESIGN §9).

One interface, two engines:
  * `local` (the default): the stages run in this process, batch after batch;
  * `ray` (ingest.ray_engine): the same stage functions as Ray Data tasks and actors, on a
    local Ray instance or a cluster (`--ray-address`).

Every method streams: it takes its input in order and yields results in the same order, one
batch at a time, so the driver (ingest.pipeline) writes as results arrive and never needs a
stage's whole output at once. The driver alone writes the KB version; an engine never touches
the KB on disk. Given the same input, both engines yield the same records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kb.errors import KBError
from kb.records import Document, Passage

ENGINES = ("local", "ray")
READ_BATCH = 8  # files per read task
CHUNK_BATCH = 64  # documents per chunk task
EMBED_BATCH = 256  # passages per embedding call
EXTRACT_BATCH = 256  # passages per extraction call

Tick = Callable[[int], None]  # called with how many items a finished batch held


class Engine(Protocol):
    name: str

    def read(self, files: Sequence[Path], limits: Any, tick: Tick) -> Iterator[Any]:
        """ingest.stages.ReadResult per batch of files, in file order."""
        ...

    def chunk(self, docs: Sequence[Document], chunking: Any, embedder: Any, tick: Tick
              ) -> Iterator[list[Passage]]:
        """The passages of each document, in document order."""
        ...

    def embed(self, texts: Sequence[str], embedder: Any, tick: Tick) -> Iterator[np.ndarray]:
        """Vectors of consecutive batches of `texts` (float32, L2-normalised)."""
        ...

    def extract(self, passages: Sequence[Passage], vocabulary: Callable[[], Any], tick: Tick
                ) -> Iterator[tuple[list[tuple], list[Any]]]:
        """(mentions, literature edges) of consecutive batches of `passages`;
        `vocabulary()` builds the matcher (called once per process that extracts)."""
        ...

    def close(self) -> None: ...


class LocalEngine:
    """Runs the stages in this process, batch after batch."""

    name = "local"

    def __init__(self) -> None:
        self._chunker: tuple[Any, Any] | None = None  # ((settings, embedder id), Chunker)

    def map(self, fn: Callable[..., Any], batches: Sequence[Any], *args: Any) -> list[Any]:
        return [fn(b, *args) for b in batches]

    def read(self, files: Sequence[Path], limits: Any, tick: Tick) -> Iterator[Any]:
        from ingest import stages
        from ingest.readers.sandbox import PdfSandbox

        # PDFs in one sandboxed child process for the whole build. One file at a time, the
        # next one read by a helper thread while the caller chunks this one: the embedder gets
        # its first passages after the first file (not the first READ_BATCH files), and a PDF
        # parsed in the sandbox's child overlaps with chunking and embedding.
        with PdfSandbox(limits) as pdfs, \
                ThreadPoolExecutor(1, thread_name_prefix="medkb-read") as pool:
            ahead = [pool.submit(stages.read_batch, [f], limits, pdfs) for f in files[:1]]
            for i in range(len(files)):
                result = ahead.pop().result()
                if i + 1 < len(files):
                    ahead.append(pool.submit(stages.read_batch, [files[i + 1]], limits, pdfs))
                yield result
                tick(1)

    def chunk(self, docs: Sequence[Document], chunking: Any, embedder: Any, tick: Tick
              ) -> Iterator[list[Passage]]:
        from ingest import stages
        from ingest.chunking import Chunker

        if not docs:
            return
        key = (chunking, id(embedder))  # one chunker (tokenizer copy) per build, not per file
        if self._chunker is None or self._chunker[0] != key:
            self._chunker = (key, Chunker(chunking, tokenizer=embedder.tokenizer()))
        chunker = self._chunker[1]
        for batch in batches(docs, CHUNK_BATCH):
            for doc in batch:  # each document's passages as soon as they exist
                yield stages.chunk_batch([doc], chunker)[0]
            tick(len(batch))

    def embed(self, texts: Sequence[str], embedder: Any, tick: Tick) -> Iterator[np.ndarray]:
        from ingest import stages

        for batch in batches(texts, EMBED_BATCH * 8):
            yield stages.embed_batch(batch, embedder, progress=tick)

    def extract(self, passages: Sequence[Passage], vocabulary: Callable[[], Any], tick: Tick
                ) -> Iterator[tuple[list[tuple], list[Any]]]:
        from ingest import stages

        if not passages:
            return
        vocab = vocabulary()
        for batch in batches(passages, EXTRACT_BATCH):
            yield stages.extract_batch(batch, vocab)
            tick(len(batch))

    def close(self) -> None:
        pass


def get_engine(name: str = "local", address: str | None = None, cpus: int | None = None
               ) -> Engine:
    """`local`, or `ray` on `address` (None: a local Ray instance with `cpus` CPUs, or the
    instance this process already started; "auto": the cluster `ray start` runs on this
    machine; "ray://HOST:PORT": a remote cluster through Ray Client)."""
    if name == "local":
        if address:
            raise KBError("--ray-address needs --engine ray")
        return LocalEngine()
    if name == "ray":
        from ingest.ray_engine import RayEngine

        return RayEngine(address=address, cpus=cpus)
    raise KBError(f"unknown build engine {name!r}: use one of {', '.join(ENGINES)}")


def batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def iter_batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of at most `size` items from any iterable (nothing read ahead)."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
