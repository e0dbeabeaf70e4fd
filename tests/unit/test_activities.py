"""Activities declared with `@bp.activity` (shared/blueprints.py): typed jobs in, envelopes out;
permanent errors become `Failed` results, transient ones raise for the retry policy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared import batchops, blobops, contracts, control, copy_activities, settings
from shared.blueprints import ActivityBlueprint
from shared.contracts import CopyStatus
from shared.errors import CopyFailed, TransientStorageError


class FakeOps:
    """A BlobOps stand-in that raises or answers as told."""

    def __init__(self, raise_: Exception | None = None, answer: Any = None) -> None:
        self.raise_, self.answer = raise_, answer
        self.calls: list[tuple[Any, ...]] = []

    def check_copy(self, url: str, copy_id: str | None) -> Any:
        self.calls.append((url, copy_id))
        if self.raise_:
            raise self.raise_
        return self.answer

    def release_lease(self, url: str, lease_id: str) -> None:
        self.calls.append((url, lease_id))


@pytest.fixture
def fake_ops(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Install a FakeOps as the process BlobOps."""

    def install(**kwargs: Any) -> FakeOps:
        ops = FakeOps(**kwargs)
        monkeypatch.setattr(copy_activities, "storage", lambda: ops)
        return ops

    return install


def test_answer_is_wrapped_as_ok(fake_ops: Any) -> None:
    """A successful call returns its answer with ok=true."""
    ops = fake_ops(answer=CopyStatus("pending", "c"))
    result = copy_activities.check_copy({"destination_url": "u", "copy_id": "c"})
    assert result == {
        "ok": True,
        "status": "pending",
        "copy_id": "c",
        "bytes_copied": None,
        "total_bytes": None,
        "description": None,
    }
    assert ops.calls == [("u", "c")]


def test_none_answer_is_plain_ok(fake_ops: Any) -> None:
    """A call with nothing to say returns {"ok": true}."""
    ops = fake_ops()
    answer = copy_activities.release_source_lease({"source_url": "u", "lease_id": "l"})
    assert answer == {"ok": True}
    assert ops.calls == [("u", "l")]


def test_permanent_error_becomes_a_failure_envelope(fake_ops: Any) -> None:
    """A permanent storage error returns ok=false with its code instead of raising."""
    fake_ops(raise_=CopyFailed("CopyReplaced", "replaced"))
    result = copy_activities.check_copy({"destination_url": "u", "copy_id": None})
    assert result == {"ok": False, "error": {"code": "CopyReplaced", "message": "replaced"}}


def test_transient_error_raises_for_the_retry_policy(fake_ops: Any) -> None:
    """A transient storage error propagates so call_activity_with_retry retries it."""
    fake_ops(raise_=TransientStorageError("ServerBusy", "busy"))
    with pytest.raises(TransientStorageError):
        copy_activities.check_copy({"destination_url": "u", "copy_id": None})


def test_unexpected_error_raises(fake_ops: Any) -> None:
    """Anything that is not a storage error is never swallowed."""
    fake_ops(raise_=KeyError("x"))
    with pytest.raises(KeyError):
        copy_activities.check_copy({"destination_url": "u", "copy_id": None})


ACCOUNT_KEY = "a2V5"  # any base64: no request is sent
STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName={name};AccountKey=" + ACCOUNT_KEY + ";"
    "BlobEndpoint=http://127.0.0.1:1/{name};QueueEndpoint=http://127.0.0.1:1/{name}q;"
)


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process settings and clients rebuilt from a one-account environment."""
    monkeypatch.setenv("BLOBCOPY_ACCOUNTS", "acct")
    monkeypatch.setenv("BLOBCOPY_ACCOUNT_ACCT_CONNECTION_STRING", STORAGE.format(name="acct"))
    monkeypatch.setenv("AzureWebJobsStorage", STORAGE.format(name="host"))
    caches = (settings.get_settings, blobops.storage, control.abort_requests)
    for cached in caches:
        cached.cache_clear()
    yield
    for cached in caches:
        cached.cache_clear()


@pytest.mark.usefixtures("app_env")
def test_the_process_clients_leave_retries_to_the_orchestrator() -> None:
    """The storage clients the activities use make no retries of their own, so a 503 fails the
    activity at once and call_activity_with_retry backs off, visibly in history."""
    ops = blobops.storage()
    location = ops.locate("http://127.0.0.1:1/acct/c/b")
    assert location is not None
    for client in (ops.service(location.account), control.abort_requests()._container):
        policy: Any = client._config.retry_policy  # an azure-core RetryPolicy
        assert policy.total_retries == 0


def test_every_contract_has_one_activity_of_its_name() -> None:
    """Each contract of shared/contracts.py is declared exactly once, under its own name."""
    declared = [
        builder._function._name
        for module in (copy_activities, batchops, control)
        for builder in module.bp._function_builders
    ]
    assert sorted(declared) == sorted(a.name for a in contracts.ACTIVITIES)


def test_an_activity_declared_under_another_name_is_refused() -> None:
    """The decorator refuses a function whose name is not its contract's (the orchestrator
    calls by the contract's name, so the mismatch would only show at run time)."""

    def check(job: contracts.CopyJob) -> None: ...

    with pytest.raises(TypeError, match="check_copy"):
        ActivityBlueprint().activity(contracts.CHECK_COPY)(check)


def test_a_round_trip_through_the_envelope_gives_the_typed_answer_back() -> None:
    """What an activity encodes, the orchestrator decodes to the same value."""
    seen = CopyStatus("success", "c", 5, 5, None, skipped=True)
    wire = contracts.encode_result(contracts.Ok(seen))
    assert contracts.decode_result(wire, contracts.CHECK_COPY.read) == contracts.Ok(seen)
    failed = contracts.Failed({"code": "X", "message": "m"})
    assert contracts.decode_result(contracts.encode_result(failed), CopyStatus.from_wire) == failed
