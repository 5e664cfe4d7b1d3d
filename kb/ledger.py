"""The generation ledger: append-only records, each holding the hash of the previous one.

It lives beside the versions (DIR/ledger.sqlite) and survives rebuilds, so any past answer can
be audited against the exact KB version it used. A head file (DIR/ledger.head, written
atomically) holds the count and last hash, so deleting the newest records is detected too.
Side tables (kb.ledger_index) index the records by passage, document and entity, outside the
chain, for the impact of a KB change.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from kb import ledger_index
from kb.errors import KBError
from kb.faults import checkpoint
from kb.fsutil import atomic_write
from kb.store import now_iso

GENESIS = "0" * 64
# One append at a time per process: the head file is written after the commit (and its temp
# name is per process), so two threads appending together could leave it behind or collide.
_APPEND_LOCK = threading.Lock()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, created_at TEXT NOT NULL,
    kind TEXT NOT NULL, kb_version TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
    record TEXT NOT NULL
);
"""


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def chain_hash(prev_hash: str, seq: int, created_at: str, record_json: str) -> str:
    h = hashlib.sha256()
    for part in (prev_hash, str(seq), created_at, record_json):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


class Ledger:
    def __init__(self, kb_root: Path | str) -> None:
        self.root = Path(kb_root)
        self.path = self.root / "ledger.sqlite"
        self.head_path = self.root / "ledger.head"

    def _connect(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.executescript(_SCHEMA)
        ledger_index.ensure(con)
        return con

    def append(self, record: dict[str, Any], *, kind: str = "ask") -> str:
        """Store a record; returns its generation id."""
        with _APPEND_LOCK:
            con = self._connect()
            try:
                con.execute("BEGIN IMMEDIATE")
                last = con.execute("SELECT seq, hash FROM generations ORDER BY seq DESC LIMIT 1").fetchone()
                seq = (last[0] + 1) if last else 1
                prev = last[1] if last else GENESIS
                created = now_iso()
                body = canonical({**record, "kind": kind})  # inside the hash, like the rest
                digest = chain_hash(prev, seq, created, body)
                gen_id = digest[:16]
                con.execute("INSERT INTO generations VALUES (?,?,?,?,?,?,?,?)",
                            (seq, gen_id, created, kind, record.get("kb_version"), prev, digest, body))
                ledger_index.add(con, seq, record)
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            finally:
                con.close()
            checkpoint("ledger-before-head")
            atomic_write(self.head_path, json.dumps({"count": seq, "hash": digest}))
            return gen_id

    def get(self, gen_id: str) -> dict[str, Any]:
        """A record by id, unique id prefix, or `latest`."""
        if not self.path.exists():
            raise KBError(f"no generations recorded in {self.root} yet")
        con = self._connect()
        try:
            if gen_id in ("latest", "last"):
                rows = con.execute("SELECT id, created_at, kind, record FROM generations "
                                   "ORDER BY seq DESC LIMIT 1").fetchall()
            else:
                rows = con.execute("SELECT id, created_at, kind, record FROM generations "
                                   "WHERE id LIKE ?", (gen_id + "%",)).fetchall()
        finally:
            con.close()
        if not rows:
            raise KBError(f"no generation {gen_id!r} in the ledger of {self.root}")
        if len(rows) > 1:
            raise KBError(f"{gen_id!r} is ambiguous: {', '.join(r[0] for r in rows)}")
        gid, created, kind, body = rows[0]
        return {"id": gid, "created_at": created, "kind": kind, **json.loads(body)}

    def index(self) -> sqlite3.Connection:
        """A connection with the side index brought up to date (the caller closes it)."""
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            ledger_index.catch_up(con)
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            con.close()
            raise
        return con

    def verify(self) -> dict[str, Any]:
        """Recompute the chain: any edited, reordered or deleted record breaks it."""
        problems: list[str] = []
        notes: list[str] = []
        count = 0
        prev = GENESIS
        hashes: list[str] = []
        if self.path.exists():
            con = self._connect()
            try:
                rows = con.execute("SELECT seq, id, created_at, prev_hash, hash, record, kind, "
                                   "kb_version FROM generations ORDER BY seq").fetchall()
            finally:
                con.close()
            for expected_seq, (seq, gid, created, prev_hash, digest, body, kind,
                               kb_version) in enumerate(rows, 1):
                count += 1
                if seq != expected_seq:
                    problems.append(f"record {expected_seq} is missing (next is {seq})")
                if prev_hash != prev:
                    problems.append(f"record {seq} ({gid}) does not follow its predecessor")
                if chain_hash(prev_hash, seq, created, body) != digest or gid != digest[:16] \
                        or not _columns_match(body, kind, kb_version):
                    problems.append(f"record {seq} ({gid}) was modified after it was written")
                prev = digest
                hashes.append(digest)
        try:
            head = json.loads(self.head_path.read_text("utf-8"))
        except (OSError, ValueError):
            head = None
        if head is None and count > 1:
            problems.append("the ledger head file is missing")
        elif head is None and count == 1:
            notes.append("the head file was never written (the first append was interrupted)")
        elif head is not None and (head.get("count") != count or head.get("hash") != prev):
            if head.get("count") == count - 1 and count >= 1 and \
                    head.get("hash") == (hashes[-2] if count >= 2 else GENESIS):
                # A crash between the commit and the head update; the next append fixes it.
                notes.append(f"record {count} was written but the head file not updated "
                             "(an interrupted append)")
            else:
                problems.append(f"the ledger ends at record {count} but its head says "
                                f"{head.get('count')}: records were removed or added outside "
                                "MedKB")
        return {"ledger_ok": not problems, "records": count, "problems": problems,
                "notes": notes}


def _columns_match(body: str, kind: str, kb_version: str | None) -> bool:
    """The indexed columns are copies of the hashed record; an edit to them is tampering too."""
    try:
        record = json.loads(body)
    except ValueError:
        return False
    return record.get("kind", kind) == kind and record.get("kb_version") == kb_version
