"""SQLite persistence: instances, their current history and their pending inbox messages.

Writes are collected in a WriteBatch and committed in one transaction (WAL, synchronous=NORMAL), so
a whole round of episodes costs one commit. Activity results are not stored until an episode
consumes them: after a crash the activity runs again, which is the at-least-once rule of Azure.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devhost.durable.protocol import JsonDict, encode_event
from devhost.durable.state import ExecutionState, Instance, Message, RuntimeStatus

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    input_text TEXT,
    output_json TEXT,
    custom_status_json TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    parent_instance_id TEXT,
    parent_execution_id TEXT,
    parent_task_id INTEGER,
    execution_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_by_status ON instances (status);
CREATE INDEX IF NOT EXISTS instances_by_created ON instances (created);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event_json TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    instance_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_instance ON messages (instance_id);
"""

ACTIVE = tuple(s.value for s in RuntimeStatus if not s.is_terminal)


@dataclass(frozen=True)
class StatusRow:
    """An instance as the status API shows it."""

    instance_id: str
    name: str
    status: RuntimeStatus
    input_text: str | None
    output: Any
    custom_status: Any
    created: str
    updated: str


@dataclass(frozen=True)
class Query:
    """Filters of get_status_by / purge_instance_history_by."""

    created_from: str | None = None
    created_to: str | None = None
    statuses: tuple[RuntimeStatus, ...] = ()
    id_prefix: str | None = None
    limit: int | None = None
    offset: int = 0


class WriteBatch:
    """SQL statements of one transaction, gathered while episodes run."""

    def __init__(self, message_ids: Iterator[int]) -> None:
        self.statements: list[tuple[str, tuple[Any, ...]]] = []
        self._message_ids = message_ids
        # Instances this batch starts: not yet in the dispatcher's memory until it commits.
        self.starting: set[str] = set()

    def save_instance(self, inst: Instance) -> None:
        """Insert or replace the instance row."""
        self.statements.append(
            (
                "INSERT OR REPLACE INTO instances VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    inst.instance_id,
                    inst.name,
                    inst.status.value,
                    inst.input_text,
                    json.dumps(inst.output),
                    json.dumps(inst.custom_status),
                    inst.created,
                    inst.updated,
                    inst.parent_instance_id,
                    inst.parent_execution_id,
                    inst.parent_task_id,
                    inst.execution.to_json(),
                ),
            )
        )

    def append_history(self, instance_id: str, first_seq: int, events: list[JsonDict]) -> None:
        """Add events after the stored history."""
        for seq, item in enumerate(events, start=first_seq):
            self.statements.append(
                (
                    "INSERT OR REPLACE INTO history VALUES (?,?,?)",
                    (instance_id, seq, json.dumps(item)),
                )
            )

    def clear_instance(self, instance_id: str, *, keep_messages: bool = False) -> None:
        """Forget the history (continue-as-new, restart of an id) and possibly the inbox."""
        self.statements.append(("DELETE FROM history WHERE instance_id = ?", (instance_id,)))
        if not keep_messages:
            self.statements.append(("DELETE FROM messages WHERE instance_id = ?", (instance_id,)))

    def delete_inbox(self, instance_id: str) -> None:
        """Drop what a finished instance will never read."""
        self.statements.append(("DELETE FROM messages WHERE instance_id = ?", (instance_id,)))

    def add_message(self, instance_id: str, message: Message) -> None:
        """Persist an inbox message; it gets its row id now, so it can be deleted once consumed."""
        message.row_id = next(self._message_ids)
        self.statements.append(
            (
                "INSERT INTO messages VALUES (?,?,?)",
                (message.row_id, instance_id, message.to_json()),
            )
        )

    def delete_messages(self, row_ids: Iterable[int]) -> None:
        """Messages consumed by an episode."""
        for row_id in row_ids:
            self.statements.append(("DELETE FROM messages WHERE id = ?", (row_id,)))


class Store:
    """The SQLite database of one task hub."""

    def __init__(self, db_path: Path) -> None:
        self._path = db_path
        self._db: sqlite3.Connection | None = None
        self._message_ids: Iterator[int] = itertools.count(1)

    def open(self) -> None:
        """Open (creating if needed) the database in WAL mode."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        last = db.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0]
        self._message_ids = itertools.count(int(last) + 1)
        self._db = db

    def close(self) -> None:
        """Close the connection (pending batches must have been committed)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        """The open connection."""
        if self._db is None:
            raise RuntimeError("the durable store is not open")
        return self._db

    def batch(self) -> WriteBatch:
        """A new, empty transaction."""
        return WriteBatch(self._message_ids)

    def commit(self, batch: WriteBatch) -> None:
        """Run a batch as one transaction."""
        if not batch.statements:
            return
        db = self.db
        db.execute("BEGIN")
        try:
            for sql, params in batch.statements:
                db.execute(sql, params)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # a failed COMMIT (database locked) leaves it open
                db.execute("ROLLBACK")
            raise

    def load_active(self) -> list[tuple[Instance, list[Message]]]:
        """Every unfinished instance with its history and inbox, to resume after a restart."""
        marks = ",".join("?" * len(ACTIVE))
        rows = self.db.execute(
            f"SELECT * FROM instances WHERE status IN ({marks}) ORDER BY created", ACTIVE
        ).fetchall()
        return [(self._instance(row), self.messages(row[0])) for row in rows]

    def _instance(self, row: tuple[Any, ...]) -> Instance:
        history = self.history(row[0])
        return Instance(
            **_shared_columns(row),
            parent_instance_id=row[8],
            parent_execution_id=row[9],
            parent_task_id=row[10],
            execution=ExecutionState.from_json(row[11]),
            history=history,
            played=[encode_event(e, played=True) for e in history],
        )

    def history(self, instance_id: str) -> list[JsonDict]:
        """The current execution's history."""
        rows = self.db.execute(
            "SELECT event_json FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
        )
        return [json.loads(r[0]) for r in rows]

    def messages(self, instance_id: str) -> list[Message]:
        """The persisted inbox of an instance, oldest first."""
        rows = self.db.execute(
            "SELECT id, body FROM messages WHERE instance_id = ? ORDER BY id", (instance_id,)
        )
        return [Message.from_json(body, row_id) for row_id, body in rows]

    def status(self, instance_id: str) -> StatusRow | None:
        """One instance's status, or None."""
        row = self.db.execute(
            "SELECT * FROM instances WHERE instance_id = ?", (instance_id,)
        ).fetchone()
        return _status_row(row) if row else None

    def query(self, query: Query) -> list[StatusRow]:
        """Instances matching the filters, oldest first."""
        where, params = _where(query)
        sql = f"SELECT * FROM instances {where} ORDER BY created, instance_id"
        if query.limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += (query.limit, query.offset)
        return [_status_row(row) for row in self.db.execute(sql, params)]

    def purge(self, instance_ids: list[str]) -> int:
        """Delete finished instances and everything about them."""
        batch = self.batch()
        for instance_id in instance_ids:
            batch.clear_instance(instance_id)
            batch.statements.append(("DELETE FROM instances WHERE instance_id = ?", (instance_id,)))
        self.commit(batch)
        return len(instance_ids)


def _where(query: Query) -> tuple[str, tuple[Any, ...]]:
    clauses: list[str] = []
    params: list[Any] = []
    if query.created_from:
        clauses.append("created >= ?")
        params.append(query.created_from)
    if query.created_to:
        clauses.append("created <= ?")
        params.append(query.created_to)
    if query.statuses:
        clauses.append(f"status IN ({','.join('?' * len(query.statuses))})")
        params.extend(s.value for s in query.statuses)
    if query.id_prefix:
        clauses.append("substr(instance_id, 1, ?) = ?")
        params.extend((len(query.id_prefix), query.id_prefix))
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def _status_row(row: tuple[Any, ...]) -> StatusRow:
    return StatusRow(**_shared_columns(row))


def _shared_columns(row: tuple[Any, ...]) -> dict[str, Any]:
    """The first eight columns of an instances row, decoded, named as both StatusRow and
    Instance name them: one reading of the row for the status API and for resuming."""
    return {
        "instance_id": row[0],
        "name": row[1],
        "status": RuntimeStatus(row[2]),
        "input_text": row[3],
        "output": json.loads(row[4]) if row[4] else None,
        "custom_status": json.loads(row[5]) if row[5] else None,
        "created": row[6],
        "updated": row[7],
    }
