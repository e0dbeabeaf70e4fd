"""`blobcopy restore` with no server: the request it sends, its usage errors, its table."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from blobcopy import exit_codes
from blobcopy.cli import cli
from blobcopy.commands import CliContext
from tests.contract.blobcopy_fakes import FakeApi, accepted, answer, status_document

BLOB = "https://acct.blob.core.windows.net/c/doc.txt"
SNAP = "2026-12-01T10:00:00.1234567Z"


def run(api: FakeApi, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), obj=CliContext(client=api, sleep=lambda _: None))


def test_restore_sends_the_point_in_time_as_source_and_the_blob_as_destination() -> None:
    """`restore BLOB --snapshot S` posts source BLOB?snapshot=S (encoded), destination BLOB,
    and only the options given."""
    api = FakeApi(accepted())
    result = run(api, "restore", BLOB, "--snapshot", SNAP, "--id", "undo-1", "--json")
    assert result.exit_code == exit_codes.OK, result.output
    [(verb, request)] = api.calls
    assert verb == "start"
    assert request == {
        "source": {"url": f"{BLOB}?snapshot=2026-12-01T10%3A00%3A00.1234567Z"},
        "destination": {"url": BLOB},
        "id": "undo-1",
    }


def test_restore_of_a_version_uses_versionid() -> None:
    """`--version V` names the version with `versionid`, as Copy Blob reads it."""
    api = FakeApi(accepted())
    assert run(api, "restore", BLOB, "--version", SNAP, "--json").exit_code == exit_codes.OK
    assert api.calls[0][1]["source"]["url"].startswith(f"{BLOB}?versionid=")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ([BLOB], "exactly one of --snapshot and --version"),
        ([BLOB, "--snapshot", SNAP, "--version", SNAP], "exactly one of --snapshot and --version"),
        ([f"{BLOB}?snapshot={SNAP}", "--snapshot", SNAP], "plain URL"),
        (["ftp://x/c/b", "--snapshot", SNAP], "BLOB_URL must be an http(s) URL"),
    ],
)
def test_restore_usage_errors_send_nothing(args: list[str], said: str) -> None:
    """A restore the command cannot build is a usage error (exit 2), and nothing is sent."""
    api = FakeApi()
    result = run(api, "restore", *args)
    assert result.exit_code == exit_codes.USAGE, result.output
    assert said in result.output and api.calls == []


def test_the_status_table_says_what_a_restore_brought_back_and_kept() -> None:
    """A restore's table names the snapshot restored and the one keeping the old content."""
    doc = status_document(
        "succeeded",
        restore={"snapshot": SNAP, "version_id": None, "previous_snapshot": "2026-12-02T00:00Z"},
    )
    result = run(FakeApi(answer(200, doc)), "status", "copy-1")
    assert result.exit_code == exit_codes.OK, result.output
    assert f"from snapshot {SNAP}" in result.output
    assert "previous content kept in snapshot 2026-12-02T00:00Z" in result.output
