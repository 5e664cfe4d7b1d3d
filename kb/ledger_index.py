"""An index of the ledger by passage, document and entity, so the impact of a KB change is
found without reading every generation.

Side tables in ledger.sqlite, derived from the records and outside the hash chain (the chain
covers the `generations` table only, as before): a ledger written before the index existed
is indexed on first use, and deleting the tables only costs re-indexing. Rows:
- ledger_cites: (seq, role, passage_id, doc_id, text_hash, source, external_id, title,
  text) for each cited passage (role `cited`; text_hash and text of the cited span) and each
  retrieved one (`retrieved`, text_hash of the passage, no text);
- ledger_entities: (seq, entity_id) for each entity a recorded check is about;
- ledger_generations: (seq, question, content_key): what a report shows, and which
  generations would re-check identically (same question, claims, citations and checks).
A layout change (INDEX_VERSION) drops the tables and indexes the ledger again.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

INDEX_VERSION = 2
TABLES = ("ledger_cites", "ledger_entities", "ledger_generations", "ledger_index_state")
SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger_cites (
    seq INTEGER NOT NULL, role TEXT NOT NULL, passage_id TEXT NOT NULL, doc_id TEXT,
    text_hash TEXT, source TEXT, external_id TEXT, title TEXT, text TEXT
);
CREATE TABLE IF NOT EXISTS ledger_generations (
    seq INTEGER PRIMARY KEY, question TEXT, content_key TEXT
);
CREATE INDEX IF NOT EXISTS ledger_generations_key ON ledger_generations(content_key);
CREATE INDEX IF NOT EXISTS ledger_cites_passage ON ledger_cites(passage_id);
CREATE INDEX IF NOT EXISTS ledger_cites_doc ON ledger_cites(doc_id);
CREATE INDEX IF NOT EXISTS ledger_cites_seq ON ledger_cites(seq);
CREATE TABLE IF NOT EXISTS ledger_entities (seq INTEGER NOT NULL, entity_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_entities_entity ON ledger_entities(entity_id);
CREATE TABLE IF NOT EXISTS ledger_index_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def ensure(con: sqlite3.Connection) -> None:
    """Create the tables; rebuild them (empty, to be caught up) after a layout change."""
    con.executescript(SCHEMA)
    row = con.execute("SELECT value FROM ledger_index_state WHERE key='version'").fetchone()
    if row is None or row[0] != INDEX_VERSION:
        con.executescript("".join(f"DROP TABLE IF EXISTS {t};" for t in TABLES))
        con.executescript(SCHEMA)
        con.execute("INSERT INTO ledger_index_state VALUES ('version', ?)", (INDEX_VERSION,))


def content_key(record: dict[str, Any]) -> str:
    """Generations with the same question, claims, citations and checks re-check alike."""
    blob = json.dumps([record.get("question"), record.get("claims"),
                       [(c.get("passage_id"), c.get("start"), c.get("end"))
                        for c in record.get("citations") or [] if isinstance(c, dict)],
                       record.get("checks")], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def span_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_entities(checks: Iterable[Any]) -> set[str]:
    """Entity ids a list of checks is about: subjects, objects and their evidence's ends."""
    out: set[str] = set()

    def ids(x: Any) -> Iterator[str]:
        if isinstance(x, dict):
            if isinstance(x.get("id"), str):
                yield x["id"]
        elif isinstance(x, str) and x and " " not in x:
            yield x
        elif isinstance(x, list | tuple):
            for y in x:
                yield from ids(y)

    for c in checks or []:
        if not isinstance(c, dict) or c.get("rule") == "citation_support":
            continue
        for key in ("subject", "object"):
            out.update(ids(c.get(key)))
        for ev in c.get("evidence") or []:
            if isinstance(ev, dict):
                for key in ("subject", "object"):
                    v = ev.get(key)
                    if isinstance(v, str):
                        out.add(v)
    return out


def rows_for(seq: int, record: dict[str, Any]) -> tuple[list[tuple], list[tuple], tuple]:
    sources: list[tuple] = []
    seen: set[tuple[str, str]] = set()
    for c in record.get("citations") or []:
        if isinstance(c, dict) and c.get("passage_id") and ("cited", c["passage_id"]) not in seen:
            seen.add(("cited", c["passage_id"]))
            sources.append((seq, "cited", c["passage_id"], c.get("doc_id"),
                            span_hash(str(c.get("text") or "")), c.get("source"),
                            c.get("external_id"), c.get("title"), c.get("text")))
    for r in record.get("retrieved") or []:
        if isinstance(r, dict) and r.get("passage_id") and ("retrieved", r["passage_id"]) not in seen:
            seen.add(("retrieved", r["passage_id"]))
            sources.append((seq, "retrieved", r["passage_id"], r.get("doc_id"), r.get("text_hash"),
                            r.get("source"), r.get("external_id"), r.get("title"), None))
    entities = [(seq, e) for e in sorted(check_entities(record.get("checks") or []))]
    question = record.get("question")
    return sources, entities, (seq, question if isinstance(question, str) else None,
                               content_key(record))


def add(con: sqlite3.Connection, seq: int, record: dict[str, Any]) -> None:
    """Index one record (inside the append's transaction) if the index is up to date."""
    state = con.execute("SELECT value FROM ledger_index_state WHERE key='indexed_seq'").fetchone()
    if (state[0] if state else 0) != seq - 1 or (state is None and seq != 1):
        return  # behind: catch_up indexes it with the rest
    _insert(con, [(seq, record)])


def _insert(con: sqlite3.Connection, items: list[tuple[int, dict[str, Any]]]) -> None:
    sources: list[tuple] = []
    entities: list[tuple] = []
    gens: list[tuple] = []
    for seq, record in items:
        s, e, g = rows_for(seq, record)
        sources += s
        entities += e
        gens.append(g)
    con.executemany("INSERT INTO ledger_cites VALUES (?,?,?,?,?,?,?,?,?)", sources)
    con.executemany("INSERT INTO ledger_entities VALUES (?,?)", entities)
    con.executemany("INSERT OR REPLACE INTO ledger_generations VALUES (?,?,?)", gens)
    if items:
        con.execute("INSERT OR REPLACE INTO ledger_index_state VALUES ('indexed_seq', ?)",
                    (max(s for s, _ in items),))


def catch_up(con: sqlite3.Connection) -> int:
    """Index the records the index lacks (a ledger from before the index, or appends made
    while it was behind); returns how many. The caller holds a transaction and the schema."""
    state = con.execute("SELECT value FROM ledger_index_state WHERE key='indexed_seq'").fetchone()
    done = state[0] if state else 0
    if state is None:
        for table in TABLES[:3]:
            con.execute(f"DELETE FROM {table}")
        con.execute("INSERT INTO ledger_index_state VALUES ('indexed_seq', 0)")
    n = 0
    cur = con.execute("SELECT seq, record FROM generations WHERE seq > ? ORDER BY seq", (done,))
    while batch := cur.fetchmany(2000):
        items = []
        for seq, body in batch:
            try:
                items.append((seq, json.loads(body)))
            except ValueError:
                items.append((seq, {}))
        _insert(con, items)
        n += len(items)
    return n
