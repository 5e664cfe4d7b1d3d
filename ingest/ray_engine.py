"""The Ray engine: the ingest stages on Ray tasks and actors (DESIGN §9).

  read     Ray Data tasks over batches of files (PDFs in a sandboxed child per task);
  chunk    Ray tasks of CHUNK_BATCH documents, submitted as files are read; each worker
           process builds its chunker (the embedder's tokenizer) once;
  embed    one actor per CPU, kept for the whole build; each loads the embedder once (bf16
           where the CPU has it, exactly as locally: the same kb.embedder code decides);
  extract  a Ray Data actor pool; each actor builds the entity matcher once.

Results stream back to the driver in input order (Ray Data `preserve_order`; tasks and actor
calls collected in submission order, a bounded number in flight); the driver
(ingest.pipeline) alone writes the version, so the on-disk format, the atomic publish, the
writer lock and the ledger are the same as with the local engine. A worker that dies is
replaced and its batch run again (tasks are retried, actors restarted with their calls
retried), so a lost worker costs time, never records.

Records cross process boundaries as JSON (documents, passages, edges) and numpy arrays
(vectors). Ray Data inputs are handed over in windows of WINDOW items so the driver never
builds one Ray dataset of the whole corpus.

Needs the `ray` extra: `pip install 'medkb[ray]'` (ray[data]) on the driver and on every node.
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np

from ingest.engines import CHUNK_BATCH, EMBED_BATCH, EXTRACT_BATCH, READ_BATCH, Tick
from kb.errors import KBError
from kb.records import Document, Edge, Passage, Span

log = logging.getLogger(__name__)

WINDOW = 50_000  # items per Ray dataset (one window in flight at a time)
FAULT_ENV = "MEDKB_RAY_FAULT"  # "<stage>:<batch>:<marker file>": tests kill a worker once
OBJECT_STORE_BYTES = 512 * 1024 * 1024  # a local instance's object store (rows stream through)
# Logical CPUs each worker asks Ray for. The build overlaps its stages (ingest.flow): the
# embedding actors live for the whole build while chunk tasks and the extraction actors run,
# so together they must fit in the cluster's CPUs or Ray would wait forever for a free one.
# Per CPU: 0.5 for an embedding actor, 0.25 for an extraction actor, 0.25 left for tasks.
EMBED_CPUS, EXTRACT_CPUS, TASK_CPUS = 0.5, 0.25, 0.25
MODEL_ENV = ("MEDKB_CACHE", "MEDKB_WHEELHOUSE", "HF_HOME", "HF_HUB_OFFLINE")


# -- records as JSON ------------------------------------------------------------------------
def doc_json(d: Document) -> str:
    return json.dumps(asdict(d), ensure_ascii=False, default=str)


def doc_from(s: str) -> Document:
    d = json.loads(s)
    d["sections"] = tuple(Span(*x.values()) if isinstance(x, dict) else Span(*x)
                          for x in d["sections"])
    d["pages"] = tuple(Span(*x.values()) if isinstance(x, dict) else Span(*x) for x in d["pages"])
    return Document(**d)


def passage_json(p: Passage) -> str:
    return json.dumps(asdict(p), ensure_ascii=False)


def passage_from(s: str) -> Passage:
    return Passage(**json.loads(s))


_EDGE_FIELDS = None


def edge_from(d: dict[str, Any]) -> Edge:
    global _EDGE_FIELDS
    if _EDGE_FIELDS is None:
        _EDGE_FIELDS = {f.name for f in fields(Edge)}
    return Edge(**{k: v for k, v in d.items() if k in _EDGE_FIELDS})


def _fault(stage: str, batch_no: int, spec: str | None) -> None:
    """Kill this worker process (like a lost node) the first time `stage` reaches batch
    `batch_no`; the marker file makes it happen once per build, not on every retry."""
    if not spec:
        return
    want, _, rest = spec.partition(":")
    n, _, marker = rest.partition(":")
    if want == stage and batch_no == int(n) and marker and not os.path.exists(marker):
        Path(marker).write_text(f"{stage} worker {os.getpid()} killed at batch {n}\n")
        os._exit(137)


# -- the stage functions Ray runs ------------------------------------------------------------
def _read_task(batch: dict[str, np.ndarray], limits: Any) -> dict[str, list[str]]:
    from ingest import stages

    paths = [Path(str(p)) for p in batch["path"]]
    r = stages.read_batch(paths, limits)
    out = {"documents": [[doc_json(d), o] for d, o in r.documents], "failed": r.failed,
           "hashes": r.source_hashes}
    return {"result": [json.dumps(out, ensure_ascii=False)]}


_CHUNKERS: dict[tuple, Any] = {}


def _chunk_rows(docs: list[str], chunking: Any, embedder_id: str) -> list[str]:
    """Passages (JSON) of each document (JSON); the chunker is built once per process."""
    from ingest import stages
    from ingest.chunking import Chunker
    from kb.embedder import make_embedder

    key = (repr(chunking), embedder_id)
    if key not in _CHUNKERS:
        _CHUNKERS[key] = Chunker(chunking, tokenizer=make_embedder(embedder_id).tokenizer())
    out = stages.chunk_batch([doc_from(s) for s in docs], _CHUNKERS[key])
    return [json.dumps([asdict(p) for p in plist], ensure_ascii=False) for plist in out]


class EmbedActor:
    """Loads the embedder once, on the driver's backend (the one the manifest records);
    embeds batches of texts."""

    def __init__(self, embedder_id: str, fault: str | None = None,
                 backend: str = "torch-fp32", int8: str | None = None) -> None:
        from kb.embedder import int8_kernels, make_backend, make_embedder

        if int8 and backend.endswith("int8"):
            from kb.embed_select import cpu_info
            from kb.errors import KBError

            here = int8_kernels(cpu_info())
            if here != int8:  # their vectors differ (kb.embedder.int8_kernels): never mixed
                raise KBError(f"this Ray node ({cpu_info()['model']}) runs {here} int8 kernels, "
                              f"the driver {int8} ones: their {backend} vectors differ too "
                              "much to share a KB. Build with an agreeing backend "
                              "(--embed-backend onnx-fp32) or on like CPUs")
        self.embedder = (make_embedder(embedder_id) if embedder_id.startswith("hash-")
                         else make_backend(embedder_id, backend))
        self.fault = fault
        self.batches = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.batches += 1
        _fault("embed", self.batches, self.fault)
        return self.embedder.embed(texts)


class ExtractActor:
    """Builds the entity matcher once; extracts mentions and literature edges."""

    def __init__(self, vocabulary: Callable[[], Any], fault: str | None = None) -> None:
        self.vocab = vocabulary()
        self.fault = fault
        self.batches = 0

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[str]]:
        from ingest import stages

        self.batches += 1
        _fault("extract", self.batches, self.fault)
        passages = [passage_from(str(s)) for s in batch["passage"]]
        mentions, edges = stages.extract_batch(passages, self.vocab)
        out = {"mentions": [list(m) for m in mentions], "edges": [asdict(e) for e in edges]}
        return {"result": [json.dumps(out, ensure_ascii=False)]}


# -- the engine --------------------------------------------------------------------------------
class RayEngine:
    name = "ray"

    def __init__(self, address: str | None = None, cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise KBError("--engine ray needs Ray: pip install 'medkb[ray]' "
                          "(ray[data]) on this machine and on every node") from exc
        self._ray = ray
        self._owned = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"log_to_driver": False, "include_dashboard": False,
                                      "ignore_reinit_error": True}
            # Workers find the models where the driver does (the path must exist on every
            # node: a shared volume, or `medkb models pull` on each).
            env = {k: os.environ[k] for k in MODEL_ENV if k in os.environ}
            if env:
                kwargs["runtime_env"] = {"env_vars": env}
            if address:
                kwargs["address"] = address
            else:
                kwargs.update(num_cpus=cpus, object_store_memory=OBJECT_STORE_BYTES)
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise KBError(f"cannot start or reach Ray at {address or 'a local instance'}: "
                              f"{exc}") from exc
            self._owned = True
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        self.cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.fault = os.environ.get(FAULT_ENV)
        self._chunk_fn: Any = None
        self._embedders: dict[str, list[Any]] = {}

    def _pool(self) -> int:
        return max(1, self.cpus)

    def _windows(self, items: Sequence[Any]) -> Iterator[Sequence[Any]]:
        for lo in range(0, len(items), WINDOW):
            yield items[lo : lo + WINDOW]

    def read(self, files: Sequence[Path], limits: Any, tick: Tick) -> Iterator[Any]:
        from ingest.stages import ReadResult

        for window in self._windows(list(files)):
            ds = self._ray.data.from_items([{"path": str(p)} for p in window])
            ds = ds.map_batches(_read_task, fn_kwargs={"limits": limits},
                                batch_size=READ_BATCH, num_cpus=TASK_CPUS)
            for row in ds.iter_rows():
                d = json.loads(row["result"])
                r = ReadResult(documents=[(doc_from(s), o) for s, o in d["documents"]],
                               failed=d["failed"], source_hashes=d["hashes"])
                yield r
                tick(READ_BATCH)

    def _ordered(self, submit: Callable[[int, Any], Any], batches: Iterator[Any]
                 ) -> Iterator[Any]:
        """Results of `submit(i, batch)` (object refs) in submission order, with at most
        two batches per CPU in flight (bounded memory on the driver and in the store)."""
        inflight: deque[Any] = deque()
        for i, batch in enumerate(batches):
            inflight.append(submit(i, batch))
            if len(inflight) >= 2 * self.cpus:
                yield self._ray.get(inflight.popleft())
        while inflight:
            yield self._ray.get(inflight.popleft())

    def chunk(self, docs: Sequence[Document], chunking: Any, embedder: Any, tick: Tick
              ) -> Iterator[list[Passage]]:
        """Ray tasks of CHUNK_BATCH documents (the build calls this per read batch, as files
        arrive: tasks, not a Ray dataset per call); each worker process builds its chunker
        once."""
        if self._chunk_fn is None:
            self._chunk_fn = self._ray.remote(num_cpus=TASK_CPUS, max_retries=-1)(_chunk_rows)
        fn = self._chunk_fn

        def submit(_: int, batch: Sequence[Document]) -> Any:
            return fn.remote([doc_json(d) for d in batch], chunking, embedder.model_id)

        it = (docs[i : i + CHUNK_BATCH] for i in range(0, len(docs), CHUNK_BATCH))
        for rows in self._ordered(submit, it):
            for plist in rows:
                yield [Passage(**p) for p in json.loads(plist)]
            tick(len(rows))

    def embed(self, texts: Sequence[str], embedder: Any, tick: Tick) -> Iterator[np.ndarray]:
        """An actor per CPU, started on the first call and kept for the build (the build
        calls this per window of passages); batches go round-robin, results come back in
        order. An actor whose process dies is restarted and its batch run again."""
        from kb.embedder import backend_name

        key = f"{embedder.model_id}/{backend_name(embedder)}"
        actors = self._embedders.get(key)
        if actors is None:
            cls = self._ray.remote(num_cpus=EMBED_CPUS, max_restarts=-1,
                                   max_task_retries=-1)(EmbedActor)
            from kb.embed_select import cpu_info
            from kb.embedder import int8_kernels

            actors = [cls.remote(embedder.model_id, self.fault, backend_name(embedder),
                                 int8_kernels(cpu_info()))
                      for _ in range(self._pool())]
            self._embedders[key] = actors

        def submit(i: int, batch: Sequence[str]) -> Any:
            return actors[i % len(actors)].embed.remote(list(batch))

        it = (texts[i : i + EMBED_BATCH] for i in range(0, len(texts), EMBED_BATCH))
        for vecs in self._ordered(submit, it):
            yield np.asarray(vecs, dtype=np.float32)
            tick(len(vecs))

    def extract(self, passages: Sequence[Passage], vocabulary: Callable[[], Any], tick: Tick
                ) -> Iterator[tuple[list[tuple], list[Any]]]:
        for window in self._windows(list(passages)):
            ds = self._ray.data.from_items([{"passage": passage_json(p)} for p in window])
            ds = ds.map_batches(ExtractActor, fn_constructor_args=(vocabulary, self.fault),
                                batch_size=EXTRACT_BATCH, num_cpus=EXTRACT_CPUS,
                                compute=self._ray.data.ActorPoolStrategy(size=self._pool()))
            for row in ds.iter_rows():
                d = json.loads(row["result"])
                yield ([(m[0], m[1], m[2], m[3], bool(m[4]), bool(m[5])) for m in d["mentions"]],
                       [edge_from(e) for e in d["edges"]])
                tick(EXTRACT_BATCH)

    def close(self) -> None:
        for actors in self._embedders.values():
            for a in actors:
                self._ray.kill(a)
        self._embedders.clear()
        if self._owned:
            self._ray.shutdown()
            self._owned = False
