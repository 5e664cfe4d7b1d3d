"""The on-disk knowledge base (DESIGN §6).

    DIR/CURRENT              name of the live version (temp file, fsync, rename)
    DIR/versions/<id>/       immutable once published: manifest.json, kb.sqlite,
                             vectors.faiss, graph.json, report.json, ...
    DIR/ledger.sqlite        append-only generation records (kb.ledger)

A version is written under a temporary name, fsynced, then renamed into place, and only then
named by CURRENT; a crash at any moment leaves the previous version live and intact.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import logging
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from kb.errors import KBError
from kb.faults import checkpoint
from kb.fsutil import atomic_write, file_sha256, fsync_dir, fsync_tree
from kb.records import Document, Passage, Span

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
DB_NAME = "kb.sqlite"
VECTORS_NAME = "vectors.faiss"
MANIFEST_NAME = "manifest.json"
REPORT_NAME = "report.json"

_SCHEMA = """
CREATE TABLE documents (
    doc_id TEXT PRIMARY KEY, source TEXT, format TEXT, title TEXT, text TEXT NOT NULL,
    external_id TEXT, year INTEGER, sections TEXT, pages TEXT, metadata TEXT,
    text_hash TEXT NOT NULL, origin TEXT
);
CREATE INDEX documents_source ON documents(source);
CREATE INDEX documents_external_id ON documents(external_id);
CREATE TABLE passages (
    ordinal INTEGER PRIMARY KEY, passage_id TEXT UNIQUE NOT NULL, doc_id TEXT NOT NULL,
    text TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, section TEXT,
    page INTEGER, text_hash TEXT NOT NULL
);
CREATE INDEX passages_doc ON passages(doc_id);
CREATE TABLE mentions (
    passage_ordinal INTEGER NOT NULL, entity_id TEXT NOT NULL, start INTEGER NOT NULL,
    "end" INTEGER NOT NULL, negated INTEGER NOT NULL, hedged INTEGER NOT NULL
);
CREATE INDEX mentions_entity ON mentions(entity_id);
CREATE INDEX mentions_passage ON mentions(passage_ordinal);
"""


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def span_list(spans: Sequence[Span]) -> str:
    """Section or page spans as stored in the documents table."""
    return json.dumps([[s.label, s.start, s.end] for s in spans])


def _spans(raw: str | None) -> tuple[Span, ...]:
    return tuple(Span(str(a), int(b), int(c)) for a, b, c in json.loads(raw or "[]"))


DOCUMENT_COLS = "doc_id, source, format, title, text, external_id, year, sections, pages, metadata"


PASSAGE_COLS = 'ordinal, passage_id, doc_id, text, start, "end", section, page'


def passage_from_row(row: Sequence[Any]) -> Passage:
    """A Passage from the PASSAGE_COLS of a passages row."""
    return Passage(passage_id=row[1], doc_id=row[2], text=row[3], start=row[4], end=row[5],
                   section=row[6], page=row[7], ordinal=row[0])


def document_from_row(row: Sequence[Any]) -> Document:
    """A Document from the DOCUMENT_COLS of a documents row."""
    return Document(doc_id=row[0], source=row[1], format=row[2], title=row[3], text=row[4],
                    external_id=row[5], year=row[6], sections=_spans(row[7]),
                    pages=_spans(row[8]), metadata=json.loads(row[9] or "{}"))


def metadata_json(metadata: dict[str, Any]) -> str:
    """A document's metadata as the documents table stores it."""
    return json.dumps(metadata, ensure_ascii=False, sort_keys=True, default=str)


class Version:
    """A published, read-only KB version."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        self.id: str = manifest["kb_version"]
        self._db: sqlite3.Connection | None = None
        self._vectors: Any = None
        self._graph: Any = None

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, *, verify: bool = True) -> Version:
        try:
            manifest = json.loads((path / MANIFEST_NAME).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise KBError(f"{path}: manifest unreadable ({exc})") from exc
        if manifest.get("format") != FORMAT_VERSION:
            raise KBError(f"{path}: KB format {manifest.get('format')} is not supported "
                          f"(expected {FORMAT_VERSION}); rebuild with `medkb build`")
        if verify:
            for name, digest in manifest.get("files", {}).items():
                f = path / name
                if not f.exists():
                    raise KBError(f"{path}: {name} is missing")
                if file_sha256(f) != digest:
                    raise KBError(f"{path}: {name} does not match its manifest hash")
        return cls(path, manifest)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            uri = f"file:{self.path / DB_NAME}?mode=ro&immutable=1"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- facts ---------------------------------------------------------------------------
    @property
    def counts(self) -> dict[str, int]:
        return dict(self.manifest.get("counts", {}))

    @property
    def embedder(self) -> dict[str, Any]:
        return dict(self.manifest["embedder"])

    # -- passages and documents ----------------------------------------------------------
    def passages_by_ordinal(self, ordinals: Sequence[int]) -> list[Passage]:
        if not ordinals:
            return []
        marks = ",".join("?" * len(ordinals))
        rows = self.db.execute(
            f"SELECT {PASSAGE_COLS} FROM passages WHERE ordinal IN ({marks})",
            [int(o) for o in ordinals]).fetchall()
        by = {r[0]: passage_from_row(r) for r in rows}
        return [by[int(o)] for o in ordinals if int(o) in by]

    def passage(self, passage_id: str) -> Passage | None:
        row = self.db.execute(
            f"SELECT {PASSAGE_COLS} FROM passages WHERE passage_id = ?", (passage_id,)
        ).fetchone()
        return passage_from_row(row) if row else None

    def iter_passages(self) -> Iterator[Passage]:
        for row in self.db.execute(f"SELECT {PASSAGE_COLS} FROM passages ORDER BY ordinal"):
            yield passage_from_row(row)

    def passage_ids(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT passage_id FROM passages ORDER BY ordinal")]

    def document(self, doc_id: str) -> Document | None:
        row = self.db.execute(f"SELECT {DOCUMENT_COLS} FROM documents WHERE doc_id = ?",
                              (doc_id,)).fetchone()
        return document_from_row(row) if row else None

    def iter_documents(self) -> Iterator[Document]:
        for (doc_id,) in self.db.execute("SELECT doc_id FROM documents ORDER BY rowid").fetchall():
            doc = self.document(doc_id)
            if doc is not None:
                yield doc

    def doc_meta(self, doc_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = sorted(set(doc_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"SELECT doc_id, title, source, external_id, year, format, metadata FROM documents "
            f"WHERE doc_id IN ({marks})", ids).fetchall()
        return {r[0]: {"title": r[1], "source": r[2], "external_id": r[3], "year": r[4],
                       "format": r[5], "metadata": json.loads(r[6] or "{}")} for r in rows}

    def document_hashes(self) -> dict[str, str]:
        """doc_id -> sha256 of its text."""
        return dict(self.db.execute("SELECT doc_id, text_hash FROM documents").fetchall())

    def mentions(self, ordinals: Sequence[int]) -> dict[int, list[tuple[str, int, int, bool, bool]]]:
        out: dict[int, list[tuple[str, int, int, bool, bool]]] = {int(o): [] for o in ordinals}
        if not ordinals:
            return out
        marks = ",".join("?" * len(ordinals))
        for o, eid, s, e, neg, hed in self.db.execute(
            f'SELECT passage_ordinal, entity_id, start, "end", negated, hedged FROM mentions '
            f"WHERE passage_ordinal IN ({marks})", [int(o) for o in ordinals]):
            out[o].append((eid, s, e, bool(neg), bool(hed)))
        return out

    # -- heavier parts, loaded on first use ------------------------------------------------
    def vectors(self) -> Any:
        if self._vectors is None:
            from kb.vectors import FaissIndex

            self._vectors = FaissIndex.load(self.path / VECTORS_NAME)
        return self._vectors

    def file(self, name: str) -> Path:
        return self.path / name

    def report(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / REPORT_NAME).read_text("utf-8"))
        except OSError:
            return {}


class VersionWriter:
    """Collects one new version in a temporary directory; `publish` makes it live."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.tmp = kb.versions_dir / f".tmp-{uuid.uuid4().hex[:12]}"
        self.tmp.mkdir(parents=True)
        self.db = sqlite3.connect(self.tmp / DB_NAME)
        # No journal and no syncs while writing: a crash throws the temporary directory away,
        # and publish() fsyncs every file before the version is renamed into place.
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("PRAGMA cache_size=-65536")  # 64 MB of pages: inserts into the indexes
        self.db.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
        self._n_docs = 0
        self._n_passages = 0

    # Rows are generated as SQLite consumes them: no second copy of the corpus in memory.
    def add_documents(self, docs: Iterable[tuple[Document, str]]) -> None:
        """(document, origin file) pairs; origin is the file the record came from."""
        n = [0]

        def rows() -> Iterator[tuple]:
            for d, origin in docs:
                n[0] += 1
                yield (d.doc_id, d.source, d.format, d.title, d.text, d.external_id, d.year,
                       span_list(d.sections), span_list(d.pages), metadata_json(d.metadata),
                       d.text_hash, origin)

        self.db.executemany("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows())
        self._n_docs += n[0]

    def add_passages(self, passages: Iterable[Passage]) -> None:
        n = [0]

        def rows() -> Iterator[tuple]:
            for p in passages:
                n[0] += 1
                yield (p.ordinal, p.passage_id, p.doc_id, p.text, p.start, p.end, p.section,
                       p.page, p.text_hash)

        self.db.executemany("INSERT INTO passages VALUES (?,?,?,?,?,?,?,?,?)", rows())
        self._n_passages += n[0]

    def add_mentions(self, rows: Iterable[tuple[int, str, int, int, bool, bool]]) -> None:
        self.db.executemany("INSERT INTO mentions VALUES (?,?,?,?,?,?)",
                            ((o, e, s, t, int(n), int(h)) for o, e, s, t, n, h in rows))

    def write_json(self, name: str, data: Any) -> None:
        (self.tmp / name).write_text(json.dumps(data, ensure_ascii=False, indent=1), "utf-8")

    def path(self, name: str) -> Path:
        return self.tmp / name

    def publish(self, manifest: dict[str, Any]) -> Version:
        self.db.commit()
        self.db.execute("VACUUM")
        self.db.close()
        log.info("SQLite written")
        files = {str(p.relative_to(self.tmp)): file_sha256(p) for p in sorted(self.tmp.rglob("*"))
                 if p.is_file() and p.name != MANIFEST_NAME}
        version_id = self.kb.next_version_id(files)
        manifest = {"format": FORMAT_VERSION, "kb_version": version_id, "built_at": now_iso(),
                    **manifest, "files": files}
        (self.tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        fsync_tree(self.tmp)
        checkpoint("before-rename")
        final = self.kb.versions_dir / version_id
        os.rename(self.tmp, final)
        fsync_dir(self.kb.versions_dir)
        checkpoint("before-current")
        atomic_write(self.kb.root / "CURRENT", version_id + "\n")
        log.info("published KB version %s", version_id)
        return Version(final, manifest)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.db.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class KnowledgeBase:
    """A KB directory: its versions, the live one, the writer lock and the ledger."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.versions_dir = self.root / "versions"
        self.fallback_note: str | None = None

    def exists(self) -> bool:
        return (self.root / "CURRENT").exists()

    def version_names(self) -> list[str]:
        if not self.versions_dir.exists():
            return []
        return sorted(p.name for p in self.versions_dir.iterdir()
                      if p.is_dir() and not p.name.startswith("."))

    def next_version_id(self, files: dict[str, str]) -> str:
        names = self.version_names()
        seq = max((int(n[1:5]) for n in names if n[1:5].isdigit()), default=0) + 1
        digest = file_sha256_of_mapping(files)
        return f"v{seq:04d}-{digest[:8]}"

    def current_name(self) -> str | None:
        try:
            return (self.root / "CURRENT").read_text("utf-8").strip() or None
        except OSError:
            return None

    def current(self, *, verify: bool = True) -> Version:
        """The live version; if it is damaged, the newest intact one (and say so)."""
        name = self.current_name()
        if name is None:
            raise KBError(f"no knowledge base at {self.root}: run `medkb build SOURCES --kb {self.root}`")
        try:
            return Version.open(self.versions_dir / name, verify=verify)
        except KBError as exc:
            for other in reversed(self.version_names()):
                if other == name:
                    continue
                try:
                    version = Version.open(self.versions_dir / other, verify=verify)
                except KBError:
                    continue
                self.fallback_note = f"{exc}; using the last good version {other}"
                log.warning(self.fallback_note)
                return version
            raise

    def version(self, name: str, *, verify: bool = False) -> Version:
        path = self.versions_dir / name
        if not path.is_dir():
            raise KBError(f"{self.root}: no version {name}")
        return Version.open(path, verify=verify)

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One writer at a time; a second gets a clear error instead of waiting."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.versions_dir.mkdir(exist_ok=True)
        with open(self.root / ".write.lock", "a+") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise KBError(f"{self.root} is being written by another build or update; "
                              "wait for it to finish") from exc
            try:
                self._clean_temporaries()
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _clean_temporaries(self) -> None:
        """Leftovers of a crashed writer (only ever removed under the lock)."""
        for p in self.versions_dir.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)
        for p in self.root.glob(".CURRENT.tmp-*"):
            with contextlib.suppress(OSError):
                p.unlink()

    def prune(self, keep: int) -> list[str]:
        """Remove all but the newest `keep` versions (never the live one)."""
        with self.writer_lock():
            return self.prune_locked(keep, verify_live=True)

    def prune_locked(self, keep: int, *, verify_live: bool = False) -> list[str]:
        """`prune` for a caller that holds the writer lock (a build keeping N versions).

        A damaged live version is refused: its fallback may be among the old ones.
        """
        if keep < 1:
            raise KBError(f"keep at least 1 version (got {keep})")
        live = self.current_name()
        if verify_live and live is not None:
            try:
                Version.open(self.versions_dir / live, verify=True)
            except KBError as exc:
                raise KBError(f"not pruning: {exc}; the older versions are its fallback. "
                              "Rebuild with `medkb build` first") from exc
        names = self.version_names()
        doomed = [n for n in names[: max(0, len(names) - keep)] if n != live]
        for n in doomed:
            # Rename first so a reader never sees a half-removed version under its name.
            trash = self.versions_dir / f".tmp-prune-{n}"
            os.rename(self.versions_dir / n, trash)
            shutil.rmtree(trash, ignore_errors=True)
        if doomed:
            fsync_dir(self.versions_dir)
        return doomed


def file_sha256_of_mapping(files: dict[str, str]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
