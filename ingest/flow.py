"""The build's embedding off the main thread, so the rest of the build overlaps with it.

    main: read, chunk, dedupe, ordinals --(bounded queue of passages)--> embedder thread

While the embedder works (torch and ONNX Runtime release the GIL inside the model, so it
keeps both cores busy), the main thread reads and chunks the next files (PDFs are parsed in
the sandbox's child process meanwhile), then extracts entities and enriches the documents
whose passages are embedded already: the build's wall time approaches the embedder's own. Windows are embedded in the order they were submitted, so the
embedded passages always form a prefix of the ordinals (`wait_for`). Threads, not processes:
nothing is pickled. An error in either thread is raised in the main one.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from kb.records import Passage

_DONE = object()
# Passages the embedder takes at most in one call, sorted by length inside it: the longer the
# window, the less padding (on the benchmark's passages, batches of 16 padded to 8 tokens:
# +12% tokens over the real ones with windows of 256, +6% with 1,024, +5% sorting them all)
# and the fewer drained pipelines between calls. The queue holds enough to fill one.
WINDOW = 1024
DEPTH = 32  # submissions queued (each ~64 passages, a document's at least)


def _put(q: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Put with a bounded wait, giving up when the build is being torn down."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False


class EmbedWorker:
    """Embeds submitted (ordinal, text, reused vector | None) items in a thread into a growing
    vector buffer, with `embed(texts, tick)` (the engine's embedding stage). With `store` (a
    kb.vector_spill.VectorSpill) the rows go to its file instead, so memory stays bounded.

    Each call takes what is queued, up to `window` passages, so the embedder can sort them by
    length and pad little; it starts as soon as `min_window` are queued (not a full window:
    the first passages of a build are embedded while the next files are read and chunked).
    The queue holds at most `depth` submissions."""

    def __init__(self, embed: Callable[[list[str], Callable[[int], None]], np.ndarray], dim: int,
                 progress: Callable[[str, int, int], None], window: int | None = None,
                 depth: int | None = None, store: Any = None, min_window: int = 64) -> None:
        self._embed_fn = embed
        self._store = store
        self.dim = dim
        self.window = window or WINDOW
        self.min_window = min(min_window, self.window)
        self._progress = progress
        self._q: queue.Queue = queue.Queue(maxsize=depth or DEPTH)
        self._stop = threading.Event()
        self._lock = threading.Condition()
        self._buf = np.zeros((0 if store is not None else 1024, dim), dtype=np.float32)
        self._submitted = 0  # passages handed in (embedded or reused)
        self._done = 0  # prefix of ordinals whose vectors are in the buffer
        self._to_embed = 0
        self._embedded = 0
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="medkb-embed", daemon=True)
        self._thread.start()

    def _grow(self, n: int) -> None:
        if self._store is None and n > len(self._buf):
            bigger = np.zeros((max(n, 2 * len(self._buf)), self.dim), dtype=np.float32)
            bigger[: len(self._buf)] = self._buf
            self._buf = bigger

    def submit(self, items: Sequence[tuple[int, str, np.ndarray | None]]) -> None:
        """Passages in ordinal order: (ordinal, text, a reused vector or None)."""
        if not items:
            return
        if self._error is not None:
            raise self._error
        with self._lock:
            self._grow(items[-1][0] + 1)
            self._submitted = items[-1][0] + 1
            self._to_embed += sum(1 for _, _, v in items if v is None)
        _put(self._q, list(items), self._stop)

    def _run(self) -> None:
        pending: list[tuple[int, str, np.ndarray | None]] = []
        finished = False
        try:
            while not finished:
                item = self._q.get()
                if item is _DONE:
                    finished = True
                else:
                    pending.extend(item)
                    todo = sum(1 for _, _, v in pending if v is None)
                    try:  # take what is already queued, up to a window
                        while todo < self.window and len(pending) < 4 * self.window:
                            more = self._q.get_nowait()
                            if more is _DONE:
                                finished = True
                                break
                            pending.extend(more)
                            todo += sum(1 for _, _, v in more if v is None)
                    except queue.Empty:
                        pass
                    if not finished and todo < self.min_window and len(pending) < self.window:
                        continue  # reused vectors alone: passed on a window at a time
                self._embed(pending)
                pending = []
        except BaseException as exc:  # re-raised in the main thread
            self._error = exc
        finally:
            with self._lock:
                self._lock.notify_all()

    def _embed(self, items: list[tuple[int, str, np.ndarray | None]]) -> None:
        if not items:
            return
        todo = [i for i, (_, _, v) in enumerate(items) if v is None]
        vecs = self._embed_fn([items[i][1] for i in todo], self._tick) if todo else None
        start = items[0][0]  # the items are consecutive ordinals
        block = np.zeros((len(items), self.dim), dtype=np.float32)
        for i, (_, _, v) in enumerate(items):
            if v is not None:
                block[i] = v
        if vecs is not None:
            block[todo] = vecs
        if self._store is not None:
            self._store.write(start, block)
        with self._lock:
            if self._store is None:
                self._buf[start : start + len(items)] = block
            self._done = items[-1][0] + 1
            self._lock.notify_all()

    def _tick(self, n: int) -> None:
        self._embedded += n
        self._progress("embed", self._embedded, max(self._to_embed, self._embedded))

    def wait_for(self, n: int) -> np.ndarray:
        """Block until the first `n` ordinals are embedded; the buffer (rows < n are final)."""
        with self._lock:
            while self._done < n and self._error is None and self._thread.is_alive():
                self._lock.wait(timeout=0.5)
            if self._error is not None:
                raise self._error
            if self._done < n:
                raise RuntimeError("the embedding thread stopped early")
            # with a store: a fresh memory map of the rows written so far (its pages leave
            # the process when the caller drops it)
            return self._buf if self._store is None else self._store.view(self._done)

    def close_input(self) -> None:
        """No more submissions: the last, shorter window is embedded now."""
        if not self._closed:
            self._closed = True
            _put(self._q, _DONE, self._stop)

    def finish(self) -> np.ndarray:
        """All submitted passages' vectors, in ordinal order."""
        self.close_input()
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._store is not None:
            return self._store.view(self._submitted)
        return self._buf[: self._submitted]  # a view: no second copy of every vector

    def close(self) -> None:
        """Tear down after an error elsewhere (idempotent)."""
        self._stop.set()
        try:
            self._q.put_nowait(_DONE)
        except queue.Full:
            pass
        self._thread.join(timeout=60)


def chunk_and_embed(per_doc: Iterable[list[Passage]], embed: Callable[..., np.ndarray], dim: int,
                    old_vector: Callable[[str], np.ndarray | None],
                    progress: Callable[[str, int, int], None],
                    during: Callable[[Any, Callable[[int], np.ndarray]], Any],
                    *, sink: Callable[[list[Passage]], None] | None = None, store: Any = None
                    ) -> tuple[Any, np.ndarray, int, Any]:
    """`per_doc` yields each document's passages in document order (the caller reads and
    chunks lazily, so reading and chunking overlap with embedding too); they are deduplicated
    by id, given ordinals and sent to the embedder thread as soon as they exist.
    `during(passages, ready)` runs on this thread once all passages are known, while the
    embedder works; `ready(n)` blocks until ordinals < n are embedded and gives the vectors.
    Returns passages, vectors, how many vectors were reused (`old_vector(passage_id)`),
    and what `during` returned.

    Streaming (bounded memory): with `sink`, each batch of new passages (ordinals set) is
    handed to it instead of being collected, and `passages` is their count, both for `during`
    and in the result; with `store` (kb.vector_spill.VectorSpill) the vectors go to its file
    and the vectors returned are a memory map of it."""
    worker = EmbedWorker(embed, dim, progress, store=store)
    try:
        passages: list[Passage] = []
        count = 0
        seen: set[str] = set()
        pending: list[tuple[int, str, np.ndarray | None]] = []
        fresh: list[Passage] = []
        reused = 0
        for plist in per_doc:
            for p in plist:
                if p.passage_id in seen:
                    continue
                seen.add(p.passage_id)
                p = replace(p, ordinal=count)
                count += 1
                fresh.append(p)
                old = old_vector(p.passage_id)
                reused += old is not None
                pending.append((p.ordinal, p.text, old))
            if len(pending) >= 64:
                worker.submit(pending)
                pending = []
                fresh = _hand_on(fresh, passages, sink)
        worker.submit(pending)
        _hand_on(fresh, passages, sink)
        worker.close_input()
        result: Any = passages if sink is None else count
        extra = during(result, worker.wait_for)
        vectors = worker.finish()
        return result, vectors.reshape(count, dim), reused, extra
    finally:
        worker.close()


def _hand_on(fresh: list[Passage], passages: list[Passage],
             sink: Callable[[list[Passage]], None] | None) -> list[Passage]:
    if sink is None:
        passages.extend(fresh)
    elif fresh:
        sink(fresh)
    return []
