"""Stand-ins for the HTTP API: a scripted fake client, and the state of a loopback stub server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blobcopy.client import ApiResponse, BlobCopyError


def status_document(state: str = "running", **changes: Any) -> dict[str, Any]:
    """A status document as the API returns it, with `changes` applied."""
    document: dict[str, Any] = {
        "id": "copy-1",
        "state": state,
        "source": "https://src.blob.core.windows.net/c/a.bin?sv=2024-01-01&sig=REDACTED",
        "destination": "https://dst.blob.core.windows.net/c/a.bin",
        "copy_id": "6f3c0d2e",
        "progress": {"bytes_copied": 1024, "total_bytes": 4096, "percent": 25.0, "eta_seconds": 3},
        "created": "2026-11-26T15:00:00+00:00",
        "updated": "2026-11-26T15:00:01+00:00",
        "completed": None,
        "error": None,
    }
    document.update(changes)
    return document


def accepted(copy_id: str = "copy-1") -> ApiResponse:
    """The 202 of POST /api/copies: id and status URL, Location and Retry-After."""
    url = f"http://127.0.0.1:7071/api/copies/{copy_id}"
    headers = {"location": url, "retry-after": "2"}
    return ApiResponse(status=202, body={"id": copy_id, "status_url": url}, headers=headers)


def answer(status: int, body: Any, retry_after: str | None = None) -> ApiResponse:
    """An API answer with an optional Retry-After header."""
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    if status == 202 and isinstance(body, dict) and "state" in body:
        headers["location"] = f"http://127.0.0.1:7071/api/copies/{body['id']}"
    return ApiResponse(status=status, body=body, headers=headers)


def batch_document(state: str = "running", **changes: Any) -> dict[str, Any]:
    """A batch status document as GET /api/batches/{id} returns it, with `changes` applied."""
    final = state != "running"
    document: dict[str, Any] = {
        "id": "batch-1",
        "kind": "batch",
        "state": state,
        "dry_run": False,
        "source": {"url": "https://src.blob.core.windows.net/data", "prefix": "2026/"},
        "destination": {"url": "https://dst.blob.core.windows.net/backup", "prefix": ""},
        "counts": {
            "listed": 10, "pending": 0 if final else 3, "running": 0 if final else 4,
            "succeeded": 9 if final else 2, "failed": 1, "aborted": 0, "skipped": 0,
        },
        "listing_complete": final,
        "progress": {
            "bytes_copied": 3072, "total_bytes": 4096, "percent": 75.0,
            "eta_seconds": None if final else 5, "estimated_finish": None,
        },
        "errors": {"CopyFailed": 1},
        "report": {"url": "https://dst.blob.core.windows.net/blobcopy-reports/batch-1.jsonl"},
        "created": "2026-11-26T15:00:00+00:00",
        "updated": "2026-11-26T15:00:09+00:00",
        "completed": "2026-11-26T15:00:09+00:00" if final else None,
        "error": None,
        "warnings": [],
    }  # fmt: skip
    document.update(changes)
    return document


def batch_accepted(batch_id: str = "batch-1") -> ApiResponse:
    """The 202 of POST /api/batches: id and status URL, Location and Retry-After."""
    url = f"http://127.0.0.1:7071/api/batches/{batch_id}"
    headers = {"location": url, "retry-after": "2"}
    return ApiResponse(status=202, body={"id": batch_id, "status_url": url}, headers=headers)


class FakeApi:
    """Answers each call from a script; records what it was asked."""

    def __init__(self, *script: ApiResponse | BlobCopyError) -> None:
        self.script = list(script)
        self.calls: list[tuple[Any, ...]] = []

    def _next(self) -> ApiResponse:
        item = self.script.pop(0)
        if isinstance(item, BlobCopyError):
            raise item
        return item

    def start_copy(self, request: Mapping[str, Any]) -> ApiResponse:
        self.calls.append(("start", dict(request)))
        return self._next()

    def get_status(self, copy_id: str) -> ApiResponse:
        self.calls.append(("status", copy_id))
        return self._next()

    def abort(self, copy_id: str, reason: str | None = None) -> ApiResponse:
        self.calls.append(("abort", copy_id, reason) if reason else ("abort", copy_id))
        return self._next()

    def list_copies(self, state: str | None = None, continuation: str | None = None) -> ApiResponse:
        self.calls.append(("list", state, continuation))
        return self._next()

    def start_batch(self, request: Mapping[str, Any]) -> ApiResponse:
        self.calls.append(("batch start", dict(request)))
        return self._next()

    def get_batch(self, batch_id: str) -> ApiResponse:
        self.calls.append(("batch status", batch_id))
        return self._next()

    def abort_batch(self, batch_id: str, reason: str | None = None) -> ApiResponse:
        self.calls.append(("batch abort", batch_id, reason))
        return self._next()

    def list_batches(
        self, state: str | None = None, continuation: str | None = None
    ) -> ApiResponse:
        self.calls.append(("batch list", state, continuation))
        return self._next()

    def get_replication(self) -> ApiResponse:
        self.calls.append(("replication",))
        return self._next()

    def start_backfill(self, rule: str, request: Mapping[str, Any]) -> ApiResponse:
        self.calls.append(("backfill", rule, dict(request)))
        return self._next()


class Stub:
    """What the stub server answers next, and what it was sent."""

    def __init__(self) -> None:
        self.status = 200
        self.body: bytes = b"{}"
        self.headers: dict[str, str] = {}
        self.requests: list[dict[str, Any]] = []
