"""The Python API: one object per KB, the same for scripts, the CLI and the server.

    import medkb
    kb = medkb.open("kb1")                      # or medkb.build(["corpora/"], "kb1")
    kb.search("metformin renal", k=5)           # SearchResult
    kb.ask("Should metformin be given at eGFR 20?", policy="strict", backend="extractive")
    kb.check(question, answer); kb.diagnose(text); kb.audit(gen_id); kb.graph("metformin")

Models, the graph and the vocabulary load once per object (per KB version). A version
published by `update` (here or in another process) is picked up by the next call; a call
already running finishes on the version it started with.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.config import DEFAULT_EMBEDDER, kb_dir
from kb.errors import MedKBError
from medkb.backends import BackendSettings, check_backend_name, make_backend
from medkb.results import (
    AnswerResult,
    AuditResult,
    BuildReport,
    DiagnoseResult,
    GraphResult,
    InfoResult,
    Result,
    SearchResult,
)

POLICIES = ("flag", "strict")
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BuildSettings:
    """What `build`/`update` take besides the sources (see ingest.pipeline.BuildOptions)."""

    embedder: str = DEFAULT_EMBEDDER
    graph: bool = True  # merge the curated graph seeds from corpora/graph
    graph_files: tuple[Path, ...] = ()
    keep_versions: int | None = None
    index: str = "auto"
    vector_precision: str = "fp32"
    llm_summaries: bool = False
    retractions: tuple[Path, ...] = ()  # retraction lists (CSV/TSV with DOI, PMID or id)
    engine: str = "local"  # local | ray (DESIGN §9; `pip install 'medkb[ray]'`)
    ray_address: str | None = None  # None: a local Ray instance; "auto"; "ray://HOST:PORT"
    extra: dict[str, Any] = field(default_factory=dict)  # further BuildOptions fields

    def options(self) -> Any:
        from generation.impact import for_build
        from ingest.pipeline import BuildOptions, default_graph_seeds

        for g in self.graph_files:
            if not Path(g).exists():
                raise MedKBError(f"{g}: graph rule file not found")
        if self.keep_versions is not None and self.keep_versions < 1:
            raise MedKBError("--keep-versions must be at least 1")
        if self.index not in ("auto", "flat", "hnsw", "ivf"):
            raise MedKBError(f"unknown --index {self.index!r}: use auto, flat, hnsw or ivf")
        if self.vector_precision not in ("fp32", "fp16"):
            raise MedKBError(f"unknown --vector-precision {self.vector_precision!r}: "
                             "use fp32 or fp16")
        summary_backend = None
        if self.llm_summaries:  # the server in MEDKB_LLM_BASE_URL when set, else the local model
            settings = BackendSettings.from_env()
            summary_backend = make_backend("openai" if settings.base_url else "local",
                                           settings, None)
        return BuildOptions(embedder=self.embedder,
                            graph_seeds=default_graph_seeds() if self.graph else None,
                            graph_files=tuple(Path(g) for g in self.graph_files),
                            keep_versions=self.keep_versions, index_kind=self.index,
                            vector_precision=self.vector_precision,
                            summary_backend=summary_backend,
                            retractions=tuple(Path(r) for r in self.retractions),
                            impact=for_build, engine=self.engine,
                            ray_address=self.ray_address, **self.extra)


class Session:
    """One KB version with what answering over it needs, each loaded on first use."""

    def __init__(self, version: Any) -> None:
        self.version = version
        self._lock = threading.Lock()
        self._searcher: Any = None
        self._checker: Any = None
        self._backends: dict[tuple[str, BackendSettings], Any] = {}

    @property
    def searcher(self) -> Any:
        with self._lock:
            if self._searcher is None:
                from medkb.embed_cache import CachingEmbedder
                from retrieval.search import Searcher, embedder_for

                # Sentence vectors are remembered per version: checks re-embed the same
                # passages' sentences on every call otherwise (most of a warm check).
                self._searcher = Searcher(self.version,
                                          CachingEmbedder(embedder_for(self.version)))
            return self._searcher

    @property
    def checker(self) -> Any:
        searcher = self.searcher
        with self._lock:
            if self._checker is None:
                from generation.verify import make_checker

                self._checker = make_checker(self.version, searcher.embedder)
            return self._checker

    def backend(self, name: str, settings: BackendSettings) -> Any:
        embedder = self.searcher.embedder
        with self._lock:
            key = (name, settings)
            if key not in self._backends:
                self._backends[key] = make_backend(name, settings, embedder)
            return self._backends[key]

    def warm(self) -> None:
        """Load the embedder, indexes, graph and vocabulary now rather than on first call."""
        self.searcher.search("warm up", 1)
        self.checker  # noqa: B018 - loads the graph and vocabulary


class MedKB:
    """A knowledge base directory, opened for searching, answering and auditing."""

    def __init__(self, path: str | Path | None = None, *,
                 backend_settings: BackendSettings | None = None) -> None:
        from kb.store import KnowledgeBase

        self.store = KnowledgeBase(kb_dir(path))
        self.path = self.store.root
        self.backend_settings = backend_settings or BackendSettings.from_env()
        self._lock = threading.Lock()
        self._session: Session | None = None
        self.warnings: list[str] = []

    def __repr__(self) -> str:
        return f"medkb.MedKB({str(self.path)!r})"

    # -- versions --------------------------------------------------------------------------
    def session(self) -> Session:
        """The session for the live version, reopened when CURRENT has moved on."""
        with self._lock:
            name = self.store.current_name()
            if self._session is None or name != self._session.version.id:
                version = self.store.current()
                if self.store.fallback_note and self.store.fallback_note not in self.warnings:
                    self.warnings.append(self.store.fallback_note)
                if self._session is None or version.id != self._session.version.id:
                    self._session = Session(version)
            return self._session

    @property
    def version(self) -> Any:
        return self.session().version

    def warm(self) -> MedKB:
        self.session().warm()
        return self

    # -- retrieval -------------------------------------------------------------------------
    def search(self, query: str, k: int = 10, *, method: str = "hybrid",
               filters: Any = None, include_retracted: bool = False) -> SearchResult:
        """Passages for `query`; `filters` is a retrieval.search.Filters or a dict of its
        fields (evidence_types, year_min, year_max, sources)."""
        from retrieval.search import Filters, hit_json

        if isinstance(filters, dict):
            filters = Filters(**{k_: tuple(v) if isinstance(v, list) else v
                                 for k_, v in filters.items()})
        s = self.session()
        hits = s.searcher.search(query, k, method=method, filters=filters,
                                 include_retracted=include_retracted)
        meta = s.version.doc_meta(h.passage.doc_id for h in hits)
        results = []
        for h in hits:
            dm = meta.get(h.passage.doc_id, {})
            m = dm.get("metadata", {}) or {}
            results.append({**hit_json(h), "year": dm.get("year"),
                            "evidence_type": m.get("evidence_type"), "topic": m.get("topic"),
                            "summary": m.get("summary")})
        return SearchResult({"query": query, "kb_version": s.version.id, "method": method,
                             "results": results})

    # -- answering -------------------------------------------------------------------------
    def ask(self, question: str, *, policy: str = "flag", backend: str = "local", k: int = 5,
            model: str | None = None, record: bool = True,
            include_retracted: bool = False) -> AnswerResult:
        """Answer from the KB with citations, verify, and record in the ledger."""
        from generation.answer import AskOptions, answer_question, public_view

        question = _question(question)
        _policy(policy)
        check_backend_name(backend)
        s = self.session()
        settings = self.backend_settings
        if model is not None:
            from dataclasses import replace

            settings = replace(settings, model=model)
        gen = s.backend(backend, settings)
        rec = answer_question(question, s.version, s.searcher, gen,
                              AskOptions(k=k, policy=policy, include_retracted=include_retracted),
                              checker=s.checker)
        gen_id = self._record(rec, "ask") if record else None
        return AnswerResult({"id": gen_id, **public_view(rec)})

    def check(self, question: str, answer: str, *, policy: str = "flag", k: int = 5,
              model: str | None = "external", record: bool = True) -> AnswerResult:
        """Verify an answer written elsewhere (claim support and the graph checks)."""
        from generation.answer import check_answer, public_view

        question = _question(question)
        if not answer or not answer.strip():
            raise MedKBError("the answer is empty: give the text to check")
        _policy(policy)
        s = self.session()
        rec = check_answer(question, answer.strip(), s.version, s.searcher, k=k, policy=policy,
                           checker=s.checker, model=model)
        gen_id = self._record(rec, "check") if record else None
        return AnswerResult({"id": gen_id, **public_view(rec)})

    def diagnose(self, text: str) -> DiagnoseResult:
        """A ranked differential for a patient description (graph + retrieval)."""
        try:
            from generation.clinical.differential import diagnose
        except ImportError as exc:
            raise MedKBError("differential diagnosis is not available in this build") from exc
        text = _question(text, what="description")
        s = self.session()
        return DiagnoseResult(diagnose(text, s.version, s.searcher))

    def _record(self, rec: dict[str, Any], kind: str) -> str:
        from kb.ledger import Ledger

        return Ledger(self.store.root).append(rec, kind=kind)

    # -- audit, graph, facts ---------------------------------------------------------------
    def audit(self, generation_id: str) -> AuditResult:
        """A past generation re-verified against the current KB and the ledger chain."""
        from generation.audit import audit as run_audit

        if not generation_id or not generation_id.strip():
            raise MedKBError("give a generation id (or 'latest')")
        return AuditResult(run_audit(generation_id.strip(), self.store))

    def affected(self, since: str | None = None) -> Result:
        """Generations whose cited sources were removed, changed or retracted, or whose checks
        come out differently, since `since` (default: each since its own KB version)."""
        from generation.impact import affected

        return Result(affected(self.store, since=since, current=self.session().version))

    def verify_ledger(self) -> dict[str, Any]:
        from kb.ledger import Ledger

        return Ledger(self.store.root).verify()

    def graph(self, entity: str) -> GraphResult:
        """What the knowledge graph knows about an entity (name, synonym or id)."""
        from kb.graph import load_cached

        v = self.session().version
        path = v.file("graph.json")
        if not path.exists():
            raise MedKBError("this KB has no knowledge graph: rebuild without --no-graph")
        data = load_cached(path).describe(entity)
        if data is None:
            raise MedKBError(f"{entity!r} is not an entity of the knowledge graph")
        from kb.retractions import annotate_evidence

        annotate_evidence(v, data)  # literature evidence from retracted/flagged papers
        return GraphResult(data)

    def info(self) -> InfoResult:
        v = self.session().version
        c = v.counts
        return InfoResult({
            "kb_version": v.id, "versions": self.store.version_names(),
            "documents": c.get("documents", 0), "passages": c.get("passages", 0),
            "entities": c.get("entities", 0), "edges": c.get("edges", 0),
            "embedder": v.embedder, "built_at": v.manifest.get("built_at"),
            "path": str(self.store.root), "sources": len(v.manifest.get("sources", {})),
            "failed": v.report().get("failed", [])})

    # -- building --------------------------------------------------------------------------
    def update(self, sources: Sequence[str | Path], settings: BuildSettings | None = None, *,
               progress: Progress | None = None) -> BuildReport:
        """Publish a new version for the corpus as it is now (only changes are embedded)."""
        return _build(sources, self.store.root, settings, progress, update=True)

    def prune(self, keep: int = 3) -> list[str]:
        if keep < 1:
            raise MedKBError("--keep must be at least 1")
        return self.store.prune(keep)


def open(path: str | Path | None = None, **kwargs: Any) -> MedKB:  # noqa: A001 - the API's verb
    """Open the KB at `path` (default $MEDKB_HOME, else ./medkb-data)."""
    kb = MedKB(path, **kwargs)
    if not kb.store.exists():
        raise MedKBError(f"no knowledge base at {kb.path}: run `medkb build SOURCES --kb {kb.path}`")
    return kb


def build(sources: Sequence[str | Path], path: str | Path | None = None,
          settings: BuildSettings | None = None, *, progress: Progress | None = None,
          update: bool = False) -> BuildReport:
    """Build a KB version from `sources` (files or folders); returns the build report.
    `medkb.open(path)` then opens it."""
    return _build(sources, kb_dir(path), settings, progress, update=update)


def _build(sources: Sequence[str | Path], root: Path, settings: BuildSettings | None,
           progress: Progress | None, *, update: bool) -> BuildReport:
    from ingest.pipeline import build as run_build

    if not sources:
        raise MedKBError("give at least one source file or folder")
    options = (settings or BuildSettings()).options()
    report = run_build([Path(s) for s in sources], root, options, progress=progress,
                       update=update)
    return BuildReport(report)


MAX_QUESTION_CHARS = 4000


def _question(text: str, *, what: str = "question") -> str:
    if not isinstance(text, str) or not text.strip():
        raise MedKBError(f"the {what} is empty")
    text = text.strip()
    if len(text) > MAX_QUESTION_CHARS:
        raise MedKBError(f"the {what} is {len(text):,} characters; the limit is "
                         f"{MAX_QUESTION_CHARS:,}")
    return text


def _policy(policy: str) -> None:
    if policy not in POLICIES:
        raise MedKBError(f"unknown policy {policy!r}: use flag or strict")
