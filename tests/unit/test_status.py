"""The public status document: its shape, its states, and no SAS signature anywhere in it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from shared.redaction import redact_url, scrub
from shared.status import (
    FINAL_STATES,
    STATES,
    as_of,
    document,
    from_instance,
)

SAS_URL = "https://a.blob.core.windows.net/c/b?sv=2025-01-01&se=2026-01-02&sp=r&sig=Zm9v%2Bbar%3D"
KEYS = {
    "id",
    "state",
    "skipped",
    "source",
    "destination",
    "copy_id",
    "progress",
    "created",
    "updated",
    "completed",
    "error",
    "warnings",
    "restore",
}


def test_document_has_exactly_the_documented_keys() -> None:
    """The status document carries the documented keys and progress fields."""
    doc = document(
        instance_id="x", state="running", source="http://h/c/b", destination="http://h/d/e"
    )
    assert set(doc) == KEYS
    assert set(doc["progress"]) == {
        "bytes_copied",
        "total_bytes",
        "percent",
        "eta_seconds",
        "estimated_finish",
    }
    assert doc["warnings"] == []


def test_no_signature_anywhere_in_a_document() -> None:
    """Signatures in URLs and in error messages are all redacted."""
    doc = document(
        instance_id="x",
        state="failed",
        source=SAS_URL,
        destination="http://h/d/e",
        error={"code": "CannotVerifyCopySource", "message": f"could not read {SAS_URL}"},
    )
    text = json.dumps(doc)
    assert "Zm9v" not in text and text.count("sig=REDACTED") == 2


def test_percent_follows_progress_and_handles_empty_blobs() -> None:
    """percent is copied/total, 100 for an empty blob, None when the total is unknown."""
    base: dict[str, Any] = {
        "instance_id": "x",
        "state": "running",
        "source": "s",
        "destination": "d",
    }
    assert document(**base, bytes_copied=25, total_bytes=100)["progress"]["percent"] == 25.0
    assert document(**base, bytes_copied=0, total_bytes=0)["progress"]["percent"] == 100.0
    assert document(**base, bytes_copied=5)["progress"]["percent"] is None


def test_states_are_the_five_documented_ones() -> None:
    """A copy is running, succeeded, failed, aborted or timed_out; all but running are final."""
    assert STATES == ("running", "succeeded", "failed", "aborted", "timed_out")
    assert set(STATES) - {"running"} == FINAL_STATES


def test_completed_instance_answers_with_its_output() -> None:
    """A completed orchestration's document is its output (scrubbed again)."""
    output = document(instance_id="x", state="succeeded", source=SAS_URL, destination="d")
    doc = from_instance(
        instance_id="x", runtime_status="Completed", request=None, custom_status=None, output=output
    )
    assert doc["state"] == "succeeded" and "Zm9v" not in json.dumps(doc)


def test_running_instance_answers_with_its_custom_status() -> None:
    """A running orchestration's document is its custom status."""
    custom = document(
        instance_id="x",
        state="running",
        source="s",
        destination="d",
        bytes_copied=5,
        total_bytes=10,
    )
    doc = from_instance(
        instance_id="x", runtime_status="Running", request=None, custom_status=custom, output=None
    )
    assert doc["progress"]["percent"] == 50.0


def test_instance_without_custom_status_is_running_with_its_request_urls_redacted() -> None:
    """A just-started instance answers running, with the request's URLs redacted."""
    request = {"source": {"url": SAS_URL}, "destination": {"url": "http://h/d/e"}}
    doc = from_instance(
        instance_id="x", runtime_status="Pending", request=request, custom_status=None, output=None
    )
    assert doc["state"] == "running" and doc["source"] == redact_url(SAS_URL)


def test_crashed_orchestrator_reports_failed() -> None:
    """An orchestrator that failed unexpectedly reports failed with OrchestratorFailed."""
    doc = from_instance(
        instance_id="x",
        runtime_status="Failed",
        request=None,
        custom_status=None,
        output=f"boom {SAS_URL}",
    )
    assert doc["state"] == "failed" and doc["error"]["code"] == "OrchestratorFailed"
    assert "Zm9v" not in json.dumps(doc)


def test_terminated_instance_reports_failed_and_says_what_was_left() -> None:
    """An instance terminated through the management API stopped nothing in storage: it
    reports failed (not aborted), saying the copy and lease were left as they were."""
    doc = from_instance(
        instance_id="x", runtime_status="Terminated", request=None, custom_status=None, output="ops"
    )
    assert doc["state"] == "failed" and doc["error"]["code"] == "Terminated"
    assert "ops" in doc["error"]["message"] and "lease" in doc["error"]["message"]


@pytest.mark.parametrize("runtime_status", ["Terminated", "Canceled"])
def test_a_stopped_instance_reports_failed_over_its_last_running_status(
    runtime_status: str,
) -> None:
    """An instance the runtime terminated or canceled reports failed, not the running custom
    status its orchestrator left behind."""
    running = document(instance_id="x", state="running", source="s", destination="d")
    doc = from_instance(
        instance_id="x",
        runtime_status=runtime_status,
        request=None,
        custom_status=running,
        output=None,
    )
    assert doc["state"] == "failed" and doc["error"]["code"] == "Terminated"


def running_at_midnight() -> dict[str, Any]:
    """A running document published at midnight that expects to finish 30 s later."""
    return document(
        instance_id="x",
        state="running",
        source=None,
        destination=None,
        updated="2026-01-01T00:00:00.000000Z",
        estimated_finish="2026-01-01T00:00:30.000000Z",
    )


def test_running_document_keeps_its_own_updated_time() -> None:
    """A running document's `updated` is when the orchestrator published it, not the
    instance's last-updated time (which moves with every episode)."""
    published = running_at_midnight()
    doc = from_instance(
        instance_id="x",
        runtime_status="Running",
        request=None,
        custom_status=published,
        output=None,
        updated="2026-01-01T00:00:20Z",
    )
    assert doc["updated"] == "2026-01-01T00:00:00.000000Z"
    assert doc["progress"]["eta_seconds"] == 30.0


def test_as_of_gives_the_time_left_until_the_estimated_finish() -> None:
    """The API's view of a running document counts the ETA down from the absolute estimate."""
    doc = running_at_midnight()
    later = as_of(doc, dt.datetime(2026, 1, 1, 0, 0, 25, tzinfo=dt.UTC))
    assert later["progress"]["eta_seconds"] == 5.0
    assert as_of(doc, dt.datetime(2026, 1, 2, tzinfo=dt.UTC))["progress"]["eta_seconds"] == 0.0


def test_instance_times_take_the_one_timestamp_form() -> None:
    """The Durable client's datetimes (isoformat gives `+00:00`) are shown as `...Z` like
    every other timestamp in a status document (issue 10, one timestamp format)."""
    doc = from_instance(
        instance_id="x",
        runtime_status="Failed",
        request=None,
        custom_status=None,
        output="boom",
        created=dt.datetime(2026, 12, 1, 19, 17, 18, tzinfo=dt.UTC),
        updated="2026-12-01T19:17:20+00:00",
    )
    assert (doc["created"], doc["updated"]) == (
        "2026-12-01T19:17:18.000000Z",
        "2026-12-01T19:17:20.000000Z",
    )


def test_presigned_urls_of_other_clouds_lose_their_credentials() -> None:
    """An external source may be an S3 or Google presigned URL, or carry an OAuth token:
    those values are redacted as `sig` is, in URLs and in free text (found by an attack)."""
    s3 = (
        "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=deadbeef"
        "&X-Amz-Security-Token=t0kenvalue&X-Amz-Expires=60"
    )
    gcs = "https://storage.googleapis.com/b/o?X-Goog-Signature=cafe&access_token=ya29.x"
    for url in (s3, gcs):
        shown = json.dumps(document(instance_id="x", state="running", source=url, destination=None))
        for secret in ("deadbeef", "t0kenvalue", "AKIA", "cafe", "ya29"):
            assert secret not in shown
    assert "X-Amz-Expires=60" in str(redact_url(s3))
    assert "deadbeef" not in scrub(f"failed reading {s3}")


def test_the_largest_accepted_document_fits_azures_custom_status_limit() -> None:
    """Two URLs of the longest accepted length, a full error and every warning kind still
    make a custom status under Azure's 8192 UTF-16 units (the extension fails an
    orchestration whose custom status is larger)."""
    from shared.requests import URL_MAX_LENGTH

    url = "https://a.blob.core.windows.net/c/" + "b" * (URL_MAX_LENGTH - 50) + "?sig=x"
    assert len(url) <= URL_MAX_LENGTH
    codes = ("LeaseNotReleased", "SnapshotNotRestored", "AbortRetried", "CopyNotAborted")
    doc = document(
        instance_id="i" * 100,
        state="running",
        source=url,
        destination=url,
        copy_id="c" * 36,
        error={"code": "CopyFailed", "message": "m" * 500},
        warnings=[{"code": c, "message": "w" * 500} for c in codes],
        created="2026-01-01T00:00:00.000000Z",
        updated="2026-01-01T00:00:00.000000Z",
        estimated_finish="2026-01-01T00:00:00.000000Z",
    )
    assert len(json.dumps(doc)) < 8192
