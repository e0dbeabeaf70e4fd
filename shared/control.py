"""Abort requests, recorded where every execution of a copy can read them.

The `abort` external event is only the fast path. On Azure an event is not durable across
continue_as_new: the extension's out-of-proc shim (OutOfProcOrchestrationShim.cs) calls
`ContinueAsNew(action.Input)` without `preserveUnprocessedEvents`, and the SDK reads no history
after continue_as_new is decided, so an abort in that last batch is dropped. An abort sent on
the queue before its copy message arrives has no instance to go to at all. So every abort is
first written here (one small blob per copy id in the host's own storage), and the copy reads it
where an event could have been lost: before it starts, and when each continued execution begins.

    blobcopy-control/aborts/<copy id, percent-encoded>   body: {"reason": ..., "requested": ...}
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Protocol
from urllib.parse import quote

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import ContainerClient

from shared.blueprints import ActivityBlueprint
from shared.contracts import FORGET_ABORT_REQUEST, READ_ABORT_REQUEST, InstanceJob, RecordedAbort
from shared.errors import map_storage_errors
from shared.hoststorage import host_blob_service
from shared.settings import STORAGE_CLIENT_OPTIONS, Settings, get_settings
from shared.timestamps import iso, now

CONTAINER = "blobcopy-control"


@dataclass(frozen=True)
class AbortRecord:
    """An abort someone asked for: why, and when."""

    reason: str | None
    requested: str


def _blob_name(instance_id: str) -> str:
    return f"aborts/{quote(instance_id, safe='')}"


class AbortRequests:
    """The abort records of the host's storage (AzureWebJobsStorage), built on first use."""

    def __init__(
        self,
        connection_string: str | None,
        blob_service_url: str | None,
        **client_options: Any,
    ) -> None:
        self._connection_string = connection_string
        self._blob_service_url = blob_service_url
        self._options = client_options

    @cached_property
    def _container(self) -> ContainerClient:
        service = host_blob_service(
            self._connection_string, self._blob_service_url, **self._options
        )
        return service.get_container_client(CONTAINER)

    def record(self, instance_id: str, reason: str | None) -> None:
        """Write the abort request (again, if asked twice: the latest reason wins)."""
        body = json.dumps({"reason": reason, "requested": iso(now())}).encode()
        blob = self._container.get_blob_client(_blob_name(instance_id))
        with map_storage_errors():
            try:
                blob.upload_blob(body, overwrite=True)
            except ResourceNotFoundError:  # first abort ever: the container is made on demand
                with contextlib.suppress(ResourceExistsError):
                    self._container.create_container()
                blob.upload_blob(body, overwrite=True)

    def read(self, instance_id: str) -> AbortRecord | None:
        """The abort asked for this copy, if any (one Get Blob)."""
        blob = self._container.get_blob_client(_blob_name(instance_id))
        with map_storage_errors():
            try:
                raw = blob.download_blob().readall()
            except ResourceNotFoundError:
                return None
        try:
            data = json.loads(raw)
        except ValueError:
            data = {}
        reason = data.get("reason") if isinstance(data, dict) else None
        requested = data.get("requested") if isinstance(data, dict) else None
        return AbortRecord(reason if isinstance(reason, str) else None, str(requested or ""))

    def forget(self, instance_id: str) -> None:
        """Delete the record once the copy it stopped is over (so a purged id can be reused)."""
        blob = self._container.get_blob_client(_blob_name(instance_id))
        with map_storage_errors():
            try:
                blob.delete_blob()
            except ResourceNotFoundError:
                return


class AbortRecorder(Protocol):
    """What the API needs of the abort records (tests pass an in-memory one)."""

    def record(self, instance_id: str, reason: str | None) -> None: ...

    def forget(self, instance_id: str) -> None: ...


def abort_requests_for(settings: Settings, **client_options: Any) -> AbortRequests:
    """The abort records of the host storage the settings name."""
    return AbortRequests(
        settings.host_connection_string, settings.host_blob_service_url, **client_options
    )


@lru_cache(maxsize=1)
def abort_requests() -> AbortRequests:
    """The process's abort records, in the host's storage (storage calls bounded, no SDK
    retries: the activities' own retries are in history)."""
    return abort_requests_for(get_settings(), **STORAGE_CLIENT_OPTIONS)


# --- the activities that read and drop the record (shared/contracts.py) ------------------

bp = ActivityBlueprint()


@bp.activity(READ_ABORT_REQUEST)
def read_abort_request(job: InstanceJob) -> RecordedAbort:
    """Whether an abort was recorded for the copy (read as each continued execution begins)."""
    recorded = abort_requests().read(job.instance_id)
    if recorded is None:
        return RecordedAbort(requested=False)
    return RecordedAbort(requested=True, reason=recorded.reason)


@bp.activity(FORGET_ABORT_REQUEST)
def forget_abort_request(job: InstanceJob) -> None:
    """Delete the abort record of a copy that is over."""
    abort_requests().forget(job.instance_id)
