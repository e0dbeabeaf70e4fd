"""Copy state per destination blob, kept in memory and persisted in SQLite.

Azurite never learns that the engine copied a blob (it only sees blocks and pages being written),
so the engine remembers each destination's last copy and merges it into the blob's properties.
Azure keeps x-ms-copy-* on a blob after the copy ends, until Put Blob, Put Block List or Set Blob
Properties overwrites it; persisting the records keeps that true across engine restarts.

A pending copy also persists its *plan* (how to read the source and write the destination,
devhost/storage/resume.py) until it ends, so an engine started again on the same state goes on
with it, as a pending copy in Azure goes on whatever happens to its caller. The plan holds the
source URL as the client gave it, SAS included: the state file is as secret as the copy request.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from devhost.storage.errors import http_date

CopyStatus = Literal["pending", "success", "aborted", "failed"]

#: (account, container, blob name) of a destination.
BlobKey = tuple[str, str, str]


@dataclass(kw_only=True)
class CopyRecord:
    """The last asynchronous copy into one destination blob, as Azure reports it."""

    account: str
    container: str
    blob: str
    copy_id: str
    source: str  # already redacted
    status: CopyStatus = "pending"
    copied: int = 0
    total: int | None = None
    status_description: str | None = None
    completion_time: datetime | None = None
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def key(self) -> BlobKey:
        return (self.account, self.container, self.blob)

    @property
    def progress(self) -> str:
        """`copied/total`; while the total is unknown (no Content-Length), `copied/copied`."""
        total = self.total if self.total is not None else self.copied
        return f"{self.copied}/{total}"

    def headers(self) -> dict[str, str]:
        """The x-ms-copy-* response headers of Get Blob Properties / Get Blob."""
        out = {
            "x-ms-copy-id": self.copy_id,
            "x-ms-copy-status": self.status,
            "x-ms-copy-source": self.source,
            "x-ms-copy-progress": self.progress,
        }
        if self.completion_time is not None:
            out["x-ms-copy-completion-time"] = http_date(self.completion_time)
        if self.status_description and self.status in ("pending", "failed", "aborted"):
            out["x-ms-copy-status-description"] = self.status_description
        return out

    def list_properties(self) -> dict[str, str]:
        """The Copy* elements of a List Blobs `<Properties>` (include=copy)."""
        names = {
            "x-ms-copy-id": "CopyId",
            "x-ms-copy-status": "CopyStatus",
            "x-ms-copy-source": "CopySource",
            "x-ms-copy-progress": "CopyProgress",
            "x-ms-copy-completion-time": "CopyCompletionTime",
            "x-ms-copy-status-description": "CopyStatusDescription",
        }
        return {names[k]: v for k, v in self.headers().items()}

    def finish(self, status: CopyStatus, description: str | None = None) -> None:
        self.status = status
        self.status_description = description
        self.completion_time = datetime.now(UTC)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS copies (
    account TEXT NOT NULL, container TEXT NOT NULL, blob TEXT NOT NULL,
    copy_id TEXT NOT NULL, source TEXT NOT NULL, status TEXT NOT NULL,
    copied INTEGER NOT NULL, total INTEGER, status_description TEXT,
    completion_time TEXT, started TEXT NOT NULL,
    PRIMARY KEY (account, container, blob)
);
CREATE TABLE IF NOT EXISTS plans (
    account TEXT NOT NULL, container TEXT NOT NULL, blob TEXT NOT NULL, plan TEXT NOT NULL,
    PRIMARY KEY (account, container, blob)
);
"""


class CopyStore:
    """All copy records, keyed by destination; SQLite write-through when a path is given."""

    def __init__(self, path: Path | None) -> None:
        self._records: dict[BlobKey, CopyRecord] = {}
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._resumable: list[tuple[CopyRecord, dict[str, Any]]] = []
        if path is not None:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._load()

    def _load(self) -> None:
        """Read persisted records; a copy pending when the engine stopped goes on from its plan,
        and one without a plan (kept by an engine that wrote none) can never finish."""
        assert self._db is not None
        plans = {
            (a, c, b): json.loads(plan)
            for a, c, b, plan in self._db.execute("SELECT * FROM plans").fetchall()
        }
        rows = self._db.execute("SELECT * FROM copies").fetchall()
        for row in rows:
            rec = CopyRecord(
                account=row[0],
                container=row[1],
                blob=row[2],
                copy_id=row[3],
                source=row[4],
                status=row[5],
                copied=row[6],
                total=row[7],
                status_description=row[8],
                completion_time=datetime.fromisoformat(row[9]) if row[9] else None,
                started=datetime.fromisoformat(row[10]),
            )
            if rec.status == "pending" and rec.key in plans:
                self._resumable.append((rec, plans[rec.key]))
            elif rec.status == "pending":
                rec.finish("failed", '500 InternalError "The copy engine stopped during the copy."')
                self._write(rec)
            self._records[rec.key] = rec

    def resumable(self) -> list[tuple[CopyRecord, dict[str, Any]]]:
        """The copies pending when the engine last stopped, with their plans (taken once)."""
        with self._lock:
            taken, self._resumable = self._resumable, []
            return taken

    def keep_plan(self, key: BlobKey, plan: dict[str, Any]) -> None:
        """Persist how to go on with the pending copy into `key`, until it ends."""
        if self._db is not None:
            with self._lock:
                self._db.execute(
                    "INSERT OR REPLACE INTO plans VALUES (?,?,?,?)", (*key, json.dumps(plan))
                )

    def get(self, key: BlobKey) -> CopyRecord | None:
        with self._lock:
            return self._records.get(key)

    def in_container(self, account: str, container: str) -> dict[str, CopyRecord]:
        """Records of one container by blob name (for List Blobs)."""
        with self._lock:
            return {
                k[2]: r for k, r in self._records.items() if k[0] == account and k[1] == container
            }

    def all(self) -> list[CopyRecord]:
        with self._lock:
            return list(self._records.values())

    def put(self, record: CopyRecord) -> None:
        """Insert or update a record (call again after changing it to persist the change)."""
        with self._lock:
            self._records[record.key] = record
            self._write(record)

    def drop(self, key: BlobKey) -> None:
        """Forget a destination's copy (it was overwritten or deleted)."""
        with self._lock:
            if self._records.pop(key, None) is not None and self._db is not None:
                for table in ("copies", "plans"):
                    self._db.execute(
                        f"DELETE FROM {table} WHERE account=? AND container=? AND blob=?", key
                    )

    def drop_container(self, account: str, container: str) -> None:
        """Forget every copy into a container (it was deleted)."""
        with self._lock:
            for key in [k for k in self._records if k[0] == account and k[1] == container]:
                del self._records[key]
            if self._db is not None:
                for table in ("copies", "plans"):
                    self._db.execute(
                        f"DELETE FROM {table} WHERE account=? AND container=?", (account, container)
                    )

    def _write(self, rec: CopyRecord) -> None:
        if self._db is None:
            return
        row = asdict(rec)
        self._db.execute(
            "INSERT OR REPLACE INTO copies VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                row["account"],
                row["container"],
                row["blob"],
                row["copy_id"],
                row["source"],
                row["status"],
                row["copied"],
                row["total"],
                row["status_description"],
                rec.completion_time.isoformat() if rec.completion_time else None,
                rec.started.isoformat(),
            ),
        )
        if rec.status != "pending":  # an ended copy needs no plan (nor keeps its source's SAS)
            self._db.execute(
                "DELETE FROM plans WHERE account=? AND container=? AND blob=?", rec.key
            )

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
