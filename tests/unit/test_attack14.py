"""Hostile review of issue 14 (restore over the base blob, Azure Files sources): pure logic.

Each `xfail(strict=True)` test is a break found on the code as merged; the others are attacks
that held and add coverage the feature's own tests lack."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from blobcopy.copy_request import RequestOptionError, RestoreOptions, build_restore_request
from shared.copyplan import build_plan
from shared.errors import RequestRejected
from shared.files import FileSas
from shared.orchestration import copy_orchestration
from shared.requests import parse_copy_request
from tests.unit.fakedurable import FakeContext, SimCopy, drive
from tests.unit.test_api import DST, settings
from tests.unit.test_blobops import _ops
from tests.unit.test_files import KEYED, REGISTRY
from tests.unit.test_restore import _restore_plan

SNAP = "2026-12-01T10:00:00.1234567Z"
VERSION = "2026-12-01T11:00:00.7654321Z"
SHARE = "http://127.0.0.1:10004/devstoreaccount2/share"


def _fields(body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(RequestRejected) as refused:
        build_plan(parse_copy_request(body, settings()), settings(), "x-1")
    assert refused.value.status == 400, refused.value
    return dict(refused.value.fields)


@pytest.mark.parametrize("name", ["Snapshot", "SNAPSHOT", "VersionId", "VERSIONID"])
def test_a_point_in_time_spelled_in_another_case_is_a_restore_or_a_400(name: str) -> None:
    """Found: the edge read the name in any case, locate() in lower case only, so the plan
    leased the base as a source and copied it onto itself."""
    cfg = settings()
    body = {"source": {"url": f"{DST}?{name}={SNAP}"}, "destination": {"url": DST}}
    try:
        plan = build_plan(parse_copy_request(body, cfg), cfg, "x-2")
    except RequestRejected as refused:
        assert refused.status == 400 and "source.url" in refused.fields
        return
    assert plan.restore is not None, "accepted as a restore, planned as a copy onto itself"
    assert plan.lease == "none"


def test_a_source_naming_both_a_snapshot_and_a_version_is_a_400() -> None:
    """Found: accepted, the restore block naming only the snapshot."""
    fields = _fields(
        {
            "source": {"url": f"{DST}?snapshot={SNAP}&versionid={VERSION}"},
            "destination": {"url": DST},
        }
    )
    assert "source.url" in fields


# Was a break, now fixed.
@pytest.mark.parametrize(
    "spelling",
    [
        DST.replace("a.bin", "a%2Ebin"),
        DST.replace("127.0.0.1", "localhost"),
        DST.replace("http://", "HTTP://"),
    ],
)
def test_the_same_blob_spelled_otherwise_onto_itself_is_refused(spelling: str) -> None:
    fields = _fields({"source": {"url": spelling}, "destination": {"url": DST}})
    assert "destination.url" in fields


def test_two_restores_that_plan_differently_do_not_share_a_fingerprint() -> None:
    """Found: omitted (base snapshotted) and `false` (no snapshot) shared a fingerprint, so
    the second under the same id was taken for a replay of the first, not a 409."""
    cfg = settings()
    base = {"source": {"url": f"{DST}?snapshot={SNAP}"}, "destination": {"url": DST}, "id": "r1"}
    omitted = parse_copy_request(base, cfg)
    said_no = parse_copy_request({**base, "snapshot_destination": False}, cfg)
    plans = build_plan(omitted, cfg, "r1"), build_plan(said_no, cfg, "r1")
    assert plans[0].request["snapshot_destination"] != plans[1].request["snapshot_destination"]
    assert plans[0].fingerprint != plans[1].fingerprint
    explicit = parse_copy_request({**base, "snapshot_destination": True}, cfg)
    assert build_plan(explicit, cfg, "r1").fingerprint == plans[0].fingerprint  # same run


# Was a break, now fixed: destination.blob_type was checked only for a file source; on a blob
# source it was accepted and ignored (a PageBlob asked for, a block blob made). The edge cannot
# know a blob's type without a storage call, so the start checks it against the source's
# own (test_a_blob_type_the_source_cannot_make_fails_the_copy_before_copy_blob, in
# tests/integration/service/test_blobops.py).


def test_a_share_snapshot_value_cannot_inject_query_parameters_into_the_signed_url() -> None:
    """Found: the decoded value went back unencoded, so %26 injected parameters."""
    snapshot = "2026-12-01T10:00:00.0000000Z&sp=rwdlc"
    url = f"{SHARE}/f.txt?sharesnapshot={quote(snapshot, safe='')}"
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    signed = FileSas(lambda _account: None).readable(REGISTRY, url, expiry)
    query = parse_qs(urlsplit(signed).query)
    assert query["sharesnapshot"] == [snapshot]
    assert query["sp"] == ["r"]


@pytest.mark.parametrize(
    "path",
    [
        "share/dir/..%2F..%2Fother/f.txt",
        "share/%2e%2e/other/f.txt",
        "share/dir%252F..%252F..%252Fother/f.txt",
        "share/dir\\..\\..\\other\\f.txt",
        "share%2Fother/f.txt",
        "share//f.txt",
    ],
)
def test_a_hostile_file_path_is_a_400_on_source_url(path: str) -> None:
    """Encoded dot segments, backslashes, encoded slashes in the share: refused at the edge,
    naming source.url (never signed, never a 500)."""
    env = {"BLOBCOPY_ACCOUNT_DEVSTOREACCOUNT2_FILE_URL": "http://127.0.0.1:10004/devstoreaccount2"}
    cfg = settings(BLOBCOPY_ALLOWED_SOURCES="devstoreaccount2/share", **env)
    body = {"source": {"url": f"http://127.0.0.1:10004/devstoreaccount2/{path}"}}
    with pytest.raises(RequestRejected) as refused:
        build_plan(parse_copy_request({**body, "destination": {"url": DST}}, cfg), cfg, "f-1")
    assert refused.value.status == 400 and list(refused.value.fields) == ["source.url"]
    assert KEYED.account_key is not None


# Was a break, now fixed (shared/copyrun.py kept_snapshot_named): an aborted restore whose
# put-back failed (SnapshotNotRestored) kept the undo snapshot, the only copy of the base's
# content, yet the warning named no snapshot: the user could not find their data.
def test_an_aborted_restore_whose_put_back_failed_still_names_the_snapshot_it_kept() -> None:
    ctx = FakeContext(_restore_plan())
    sim = SimCopy(duration=100.0, abort_at=3.0)
    refused = {"ok": False, "error": {"code": "LeaseIdMissing", "message": "leased"}}
    sim.overrides["finish_snapshot"] = lambda p, t: refused
    doc = drive(copy_orchestration(ctx), ctx, sim)
    assert doc["state"] == "aborted"
    assert [w["code"] for w in doc["warnings"]] == ["SnapshotNotRestored"]
    kept = "2026-01-01T00:00:00.0000000Z"  # the fake's snapshot_destination answer
    assert doc["restore"]["previous_snapshot"] == kept or kept in doc["warnings"][0]["message"]


# Was a break, now fixed.
def test_a_copy_from_another_snapshot_of_the_base_is_not_taken_for_ours() -> None:
    recorded = f"{DST}?snapshot=2026-12-01T09%3A00%3A00.0000000Z&sv=x&sig=REDACTED"
    assert not _ops().same_source(recorded, f"{DST}?snapshot={SNAP}")


# Was a break, now fixed.
@pytest.mark.parametrize(
    "options",
    [
        {"blob_url": DST, "snapshot": ""},
        {"blob_url": DST, "version_id": ""},
        {"blob_url": DST + "#x", "snapshot": SNAP},
    ],
)
def test_the_cli_refuses_a_restore_it_cannot_express(options: dict[str, Any]) -> None:
    with pytest.raises(RequestOptionError):
        build_restore_request(RestoreOptions(**options))


# Was a break, now fixed (shared/files.py check_external_file_type): a file URL of an account
# the service does not configure is an external URL, and destination.blob_type PageBlob was not
# checked though the host (*.file.core.windows.net) says it is a file; the copy failed later at
# Copy Blob instead of a 400 naming the field.
def test_a_page_blob_from_an_unconfigured_azure_files_url_is_a_400() -> None:
    source = "https://other.file.core.windows.net/share/f.bin?sv=2025-07-05&sr=f&sp=r&sig=x"
    fields = _fields(
        {"source": {"url": source}, "destination": {"url": DST, "blob_type": "PageBlob"}}
    )
    assert "destination.blob_type" in fields
