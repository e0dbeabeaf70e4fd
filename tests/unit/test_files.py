"""Azure Files sources: Files endpoints of accounts, file URLs, the edge's checks, and the file
SAS the service signs (checked against the copy engine's own verifier)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from devhost.storage.fileendpoint import sas_refusal
from shared.accounts import AZURITE_KEY, Account, AccountRegistry, parse_connection_string
from shared.errors import ConfigurationError, RequestRejected
from shared.files import (
    FileSas,
    check_external_file_type,
    check_file_source,
    is_azure_files_url,
)
from shared.requests import CopyRequest
from shared.settings import settings_from_env

KEYED = Account(
    "devstoreaccount2",
    "http://127.0.0.1:10000/devstoreaccount2",
    AZURITE_KEY,
    file_endpoint="http://127.0.0.1:10004/devstoreaccount2",
)
PROD = Account(
    "prodacct",
    "https://prodacct.blob.core.windows.net",
    file_endpoint="https://prodacct.file.core.windows.net",
)
REGISTRY = AccountRegistry((KEYED, PROD), ("*",), ("devstoreaccount2", "prodacct/share"))


def test_a_connection_string_declares_or_implies_a_files_endpoint() -> None:
    """`FileEndpoint` is taken as given; Azure's own form implies `<name>.file.<suffix>`; an
    emulator string with only a BlobEndpoint has none."""
    given = parse_connection_string(
        "AccountName=a;AccountKey=k;BlobEndpoint=http://h:1/a;FileEndpoint=http://h:4/a/", "S"
    )
    assert given.file_endpoint == "http://h:4/a"
    implied = parse_connection_string(
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=k;EndpointSuffix=core.windows.net",
        "S",
    )
    assert implied.file_endpoint == "https://acct.file.core.windows.net"
    blob_only = parse_connection_string("AccountName=a;AccountKey=k;BlobEndpoint=http://h:1/a", "S")
    assert blob_only.file_endpoint is None


def test_the_file_url_setting_declares_a_files_endpoint_and_a_bad_one_names_itself() -> None:
    """BLOBCOPY_ACCOUNT_<NAME>_FILE_URL sets the endpoint; a URL that is not one stops the
    app, naming the setting."""
    env = {
        "BLOBCOPY_ACCOUNTS": "prodacct",
        "BLOBCOPY_ACCOUNT_PRODACCT_URL": "https://prodacct.blob.core.windows.net",
        "BLOBCOPY_ACCOUNT_PRODACCT_FILE_URL": "https://prodacct.file.core.windows.net/",
    }
    [account] = settings_from_env(env).registry.accounts
    assert account.file_endpoint == "https://prodacct.file.core.windows.net"
    with pytest.raises(ConfigurationError, match="BLOBCOPY_ACCOUNT_PRODACCT_FILE_URL"):
        settings_from_env({**env, "BLOBCOPY_ACCOUNT_PRODACCT_FILE_URL": "ftp://x"})


def test_file_urls_resolve_on_files_endpoints_only() -> None:
    """A URL on a Files endpoint is a file (share, path, SAS seen); a blob URL is not one, and a
    file URL is not a blob of the account."""
    found = REGISTRY.locate_file("https://prodacct.file.core.windows.net/share/dir/a%20b.txt")
    assert found is not None and (found.account, found.share, found.path) == (
        PROD,
        "share",
        "dir/a b.txt",
    )
    assert found.base_url == "https://prodacct.file.core.windows.net/share/dir/a%20b.txt"
    local = REGISTRY.locate_file("http://localhost:10004/devstoreaccount2/s/f?sv=1&sig=x")
    assert local is not None and local.account == KEYED and local.has_sas
    assert REGISTRY.locate_file("http://127.0.0.1:10000/devstoreaccount2/s/f") is None
    assert REGISTRY.locate("https://prodacct.file.core.windows.net/share/f") is None


@pytest.mark.parametrize("blob_type", ["PageBlob", "AppendBlob"])
def test_a_file_source_refuses_page_and_append_destinations(blob_type: str) -> None:
    """Copy Blob copies files to block blobs only: another type is a 400 on the field."""
    with pytest.raises(RequestRejected) as refused:
        check_file_source(REGISTRY, "https://prodacct.file.core.windows.net/share/f", blob_type)
    assert refused.value.status == 400 and list(refused.value.fields) == ["destination.blob_type"]
    assert check_file_source(REGISTRY, "https://prodacct.file.core.windows.net/share/f", None)


def test_a_file_source_must_name_a_file_and_pass_the_source_allowlist() -> None:
    """A share or directory URL is a 400 on source.url; a share outside the allowlist a 403;
    a URL on no Files endpoint is no file source at all."""
    with pytest.raises(RequestRejected) as share_only:
        check_file_source(REGISTRY, "https://prodacct.file.core.windows.net/share/dir/", None)
    assert share_only.value.status == 400 and "source.url" in share_only.value.fields
    with pytest.raises(RequestRejected) as fenced:
        check_file_source(REGISTRY, "https://prodacct.file.core.windows.net/other/f", None)
    assert fenced.value.status == 403
    assert check_file_source(REGISTRY, "https://example.org/f", "PageBlob") is None


def test_the_file_sas_reads_one_file_and_the_file_service_would_accept_it() -> None:
    """The service's key-signed SAS is read-only (sp=r), for that file (sr=f), expires when
    asked, and verifies under the File service's string-to-sign (the engine's verifier);
    changed by one letter, or used for another file, it does not."""
    files = FileSas(lambda account: None)
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    url = files.readable(REGISTRY, "http://127.0.0.1:10004/devstoreaccount2/s/dir/f.bin", expiry)
    query = dict(parse_qsl(urlsplit(url).query))
    assert (query["sp"], query["sr"]) == ("r", "f")
    assert sas_refusal(query, "devstoreaccount2", "s", "dir/f.bin", AZURITE_KEY) is None
    assert sas_refusal(query, "devstoreaccount2", "s", "dir/g.bin", AZURITE_KEY) is not None
    tampered = {**query, "sp": "rw"}
    assert sas_refusal(tampered, "devstoreaccount2", "s", "dir/f.bin", AZURITE_KEY) is not None


def test_a_file_url_with_a_sas_or_off_every_files_endpoint_is_used_as_given() -> None:
    """The caller's own SAS is kept as sent, and an external URL is never signed."""
    files = FileSas(lambda account: None)
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    own = "http://127.0.0.1:10004/devstoreaccount2/s/f?sv=2025-01-05&sr=f&sp=r&sig=abc"
    assert files.readable(REGISTRY, own, expiry) == own
    assert files.readable(REGISTRY, "https://example.org/f", expiry) == "https://example.org/f"


def test_an_unset_destination_blob_type_leaves_the_request_json_as_it_was() -> None:
    """Requests from before `blob_type` keep their JSON and fingerprint (idempotency keys
    started before an upgrade still match); a given type is kept."""
    raw = {"source": {"url": "https://e.org/f"}, "destination": {"url": "https://d/c/b"}}
    plain = CopyRequest.model_validate(raw)
    assert plain.model_dump(mode="json")["destination"] == {"url": "https://d/c/b"}
    typed = CopyRequest.model_validate(
        {**raw, "destination": {"url": "https://d/c/b", "blob_type": "BlockBlob"}}
    )
    assert typed.model_dump(mode="json")["destination"]["blob_type"] == "BlockBlob"
    assert typed.fingerprint() != plain.fingerprint()


class _KeyService:
    """The part of ShareServiceClient FileSas calls for an account with no key."""

    def __init__(self) -> None:
        self.asked: list[tuple[dt.datetime, dt.datetime]] = []

    def get_user_delegation_key(self, *, start: dt.datetime, expiry: dt.datetime) -> Any:
        from azure.storage.fileshare import UserDelegationKey

        self.asked.append((start, expiry))
        key = UserDelegationKey()  # type: ignore[no-untyped-call]
        fields = {  # what Get User Delegation Key answers (the SDK signs with all of them)
            "signed_oid": "oid-1",
            "signed_tid": "tid-1",
            "signed_start": "2026-12-01T00:00:00Z",
            "signed_expiry": "2026-12-08T00:00:00Z",
            "signed_service": "f",
            "signed_version": "2026-10-06",
            "value": AZURITE_KEY,
        }
        for name, value in fields.items():
            setattr(key, name, value)
        return key


def test_an_entra_id_account_gets_a_user_delegation_file_sas_of_at_most_seven_days(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no key, the file SAS is a user delegation one (skoid, sks=f), read-only, and the
    key is asked for at most seven days, however long the copy may run."""
    service = _KeyService()
    files = FileSas(lambda account: None)
    monkeypatch.setattr(files, "service", lambda account: service)
    asked_expiry = dt.datetime.now(dt.UTC) + dt.timedelta(days=10)
    url = files.readable(
        REGISTRY, "https://prodacct.file.core.windows.net/share/f.csv", asked_expiry
    )
    query = dict(parse_qsl(urlsplit(url).query))
    assert url.startswith("https://prodacct.file.core.windows.net/share/f.csv?")
    assert (query["sp"], query["sr"], query["skoid"], query["sks"]) == ("r", "f", "oid-1", "f")
    [(start, expiry)] = service.asked
    assert expiry - start <= dt.timedelta(days=7)


def test_a_file_of_an_entra_id_account_bounds_the_timeout_as_a_blob_of_it_does() -> None:
    """Its SAS is a user delegation one, at most seven days: a longer timeout is a 400 naming
    `timeout_seconds`; an external URL (used as given) is bounded by the 14-day limit only."""
    from shared.requests import parse_copy_request

    env = {
        "BLOBCOPY_ACCOUNTS": "prodacct,dest",
        "BLOBCOPY_ACCOUNT_PRODACCT_URL": "https://prodacct.blob.core.windows.net",
        "BLOBCOPY_ACCOUNT_PRODACCT_FILE_URL": "https://prodacct.file.core.windows.net",
        "BLOBCOPY_ACCOUNT_DEST_URL": "https://dest.blob.core.windows.net",
        "BLOBCOPY_ALLOWED_DESTINATIONS": "dest",
        "BLOBCOPY_MAX_TIMEOUT_SECONDS": "1209600",
        "BLOBCOPY_DEFAULT_TIMEOUT_SECONDS": "3600",
    }
    cfg = settings_from_env(env)
    body = {
        "source": {"url": "https://prodacct.file.core.windows.net/share/f.csv"},
        "destination": {"url": "https://dest.blob.core.windows.net/c/f.csv"},
        "timeout_seconds": 700_000,
    }
    with pytest.raises(RequestRejected) as refused:
        parse_copy_request(body, cfg)
    assert list(refused.value.fields) == ["timeout_seconds"]
    external = {**body, "source": {"url": "https://example.org/f.csv"}}
    assert parse_copy_request(external, cfg).timeout_seconds == 700_000


@pytest.mark.parametrize(
    "host",
    [
        "acct.file.core.windows.net",
        "acct.z17.file.storage.azure.net",  # an account on Azure DNS zone endpoints
        "ACCT.FILE.CORE.CHINACLOUDAPI.CN",
    ],
)
def test_an_unconfigured_files_host_still_refuses_a_page_blob_destination(host: str) -> None:
    source = f"https://{host}/share/f.bin?sv=2025-07-05&sr=f&sp=r&sig=x"
    assert is_azure_files_url(source)
    with pytest.raises(RequestRejected) as refused:
        check_external_file_type(source, "PageBlob")
    assert "destination.blob_type" in refused.value.fields
    check_external_file_type(source, "BlockBlob")  # a block blob is what a file copies to


def test_a_blob_host_is_not_taken_for_a_files_host() -> None:
    assert not is_azure_files_url("https://acct.z17.blob.storage.azure.net/c/f.bin")
    assert not is_azure_files_url("https://file.core.windows.net.evil.example/share/f")
    check_external_file_type("https://acct.blob.core.windows.net/c/b", "PageBlob")
