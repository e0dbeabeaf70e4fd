"""Helpers for the end-to-end tests: the copy API over real HTTP, blobs, and bounded waiting.

`CopyApi` records every copy a test starts (so the `blobs` fixture can wait for them to end
before it checks the source leases) and checks every status and list body for a SAS signature.
"""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from azure.storage.blob import BlobClient, BlobLeaseClient, BlobServiceClient, ContainerClient

from devhost.origin import OriginServer
from devhost.storage.azurite import DEV_ACCOUNT_KEY
from devhost.storage.stack import ACCOUNTS, StorageStack
from devhost.testing import Reply, http, wait_for
from tests.secretscan import SecretScanner

DEST_ACCOUNT, SOURCE_ACCOUNT = ACCOUNTS
FINAL_STATES = frozenset({"succeeded", "failed", "aborted", "timed_out"})
WAIT_LIMIT_S = 45.0
#: Poll bounds for copies a test holds pending: status reads stay frequent while no byte moves.
FAST_POLL = {"min_seconds": 0.2, "max_seconds": 0.5}


def assert_no_signature(body: bytes) -> None:
    """A status or list body never carries a credential: a SAS signature, a bearer token or
    an account key (the session's scan sees every answer too; this fails at the call)."""
    scanner = SecretScanner(keys={DEV_ACCOUNT_KEY})
    assert scanner.scan(body, "an answer"), scanner.take_findings()


@dataclass
class CopyApi:
    """The copy service's HTTP API, as a caller sees it."""

    base_url: str
    started: list[str] = field(default_factory=list)
    check_signatures: bool = True

    def post(self, request: Any) -> Reply:
        """POST /api/copies with a JSON value (or raw bytes); remember the copy if accepted."""
        body = request if isinstance(request, bytes) else json.dumps(request).encode()
        reply = http(
            "POST",
            f"{self.base_url}/api/copies",
            body=body,
            headers={"Content-Type": "application/json"},
        )
        if reply.status == 202:
            self.started.append(reply.json()["id"])
        return reply

    def start(self, request: dict[str, Any]) -> str:
        """Start a copy that must be accepted; its id."""
        reply = self.post(request)
        assert reply.status == 202, reply.body
        copy_id: str = reply.json()["id"]
        return copy_id

    def status(self, copy_id: str) -> Reply:
        """GET /api/copies/{id}."""
        reply = http("GET", f"{self.base_url}/api/copies/{quote(copy_id, safe='')}")
        if self.check_signatures:
            assert_no_signature(reply.body)
        return reply

    def document(self, copy_id: str) -> dict[str, Any]:
        """The status document of a copy that exists."""
        reply = self.status(copy_id)
        assert reply.status in (200, 202), reply.body
        doc: dict[str, Any] = reply.json()
        return doc

    def abort(self, copy_id: str, reason: str | None = None) -> Reply:
        """POST /api/copies/{id}/abort."""
        body = json.dumps({"reason": reason} if reason else {}).encode()
        return http(
            "POST", f"{self.base_url}/api/copies/{quote(copy_id, safe='')}/abort", body=body
        )

    def list(self, state: str | None = None, **params: str) -> Reply:
        """GET /api/copies[?state=&limit=&continuation=]: one page."""
        query = urlencode({k: v for k, v in {"state": state, **params}.items() if v is not None})
        reply = http("GET", f"{self.base_url}/api/copies" + (f"?{query}" if query else ""))
        if self.check_signatures:
            assert_no_signature(reply.body)
        return reply

    def list_all(
        self, state: str | None = None, limit: int = 1000
    ) -> builtins.list[dict[str, Any]]:
        """Every copy (of `state`): the pages of GET /api/copies, followed to a null token."""
        docs: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params = {"limit": str(limit)} | ({"continuation": token} if token else {})
            reply = self.list(state, **params)
            assert reply.status == 200, reply.body
            page = reply.json()
            assert len(page["copies"]) <= limit
            docs += page["copies"]
            token = page["continuation"]
            if token is None:
                return docs

    def wait_until(
        self,
        copy_id: str,
        ready: Callable[[dict[str, Any]], bool],
        *,
        what: str,
        limit_s: float = WAIT_LIMIT_S,
    ) -> dict[str, Any]:
        """Read the status document until `ready(doc)`; that document."""

        def probe() -> dict[str, Any] | None:
            doc = self.document(copy_id)
            return doc if ready(doc) else None

        return wait_for(probe, what=f"copy {copy_id}: {what}", limit_s=limit_s)

    def wait_final(self, copy_id: str, limit_s: float = WAIT_LIMIT_S) -> dict[str, Any]:
        """The status document once the copy has ended (and the API answers 200)."""
        doc = self.wait_until(
            copy_id, lambda d: d["state"] in FINAL_STATES, what="final state", limit_s=limit_s
        )
        reply = self.status(copy_id)
        assert reply.status == 200, reply.body
        return doc

    def wait_pending(self, copy_id: str) -> dict[str, Any]:
        """The status document once the storage copy has been started (it has a copy id)."""
        return self.wait_until(
            copy_id, lambda d: d["state"] == "running" and bool(d["copy_id"]), what="copy started"
        )


class TestBlobs:
    """Containers and blobs of one test, in both accounts; removed when the test ends."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, stack: StorageStack) -> None:
        self.stack = stack
        self.services = {
            account: BlobServiceClient.from_connection_string(stack.connection_string(account))
            for account in ACCOUNTS
        }
        self._containers: dict[str, ContainerClient] = {}
        self.sources: list[BlobClient] = []

    def container(self, account: str) -> ContainerClient:
        """This test's container in `account` (unique name, created on first use)."""
        if account not in self._containers:
            client = self.services[account].get_container_client(f"e2e-{uuid.uuid4().hex[:20]}")
            client.create_container()
            self._containers[account] = client
        return self._containers[account]

    def source(self, data: bytes, *, account: str = SOURCE_ACCOUNT, name: str = "src.bin") -> str:
        """Upload a source blob; its plain URL. Its lease is checked when the test ends."""
        blob = self.container(account).get_blob_client(name)
        blob.upload_blob(data, overwrite=True)
        self.sources.append(blob)
        return str(blob.url)

    def missing_source(self, *, account: str = SOURCE_ACCOUNT, name: str = "missing.bin") -> str:
        """The URL of a blob that does not exist (in an existing container)."""
        return str(self.container(account).get_blob_client(name).url)

    def destination(self, *, account: str = DEST_ACCOUNT, name: str = "dst.bin") -> BlobClient:
        """A destination blob client (not created)."""
        return self.container(account).get_blob_client(name)

    def leased_sources(self) -> list[str]:
        """Names of this test's source blobs that are still leased."""
        return [
            f"{b.container_name}/{b.blob_name}"
            for b in self.sources
            if b.exists() and b.get_blob_properties().lease.state == "leased"
        ]

    def remove(self) -> None:
        """Delete this test's containers, breaking any lease left so that cleanup never fails."""
        for client in self._containers.values():
            for props in client.list_blobs():
                if props.lease.state == "leased":
                    BlobLeaseClient(client.get_blob_client(props.name)).break_lease(0)
            client.delete_container()


class ExternalFiles(OriginServer):
    """A loopback HTTP server outside Azure: HEAD and GET with ranges, a strong ETag, If-Match."""
