"""Review of the module splits (f70268c, aad0750, 4998b68) and the two fixes after them
(4385123 `BlobAccess.source_reader`, b2a34f7 DNS-zone Files hosts): what a user would notice.

Each break found (marked "Was a break, now fixed") names its commit; the rest are cheap guards
of what held.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import HttpTransport

from shared import jobapi
from shared.blobops import BlobOps
from shared.files import is_azure_files_url
from shared.settings import settings_from_env

SOURCE = "https://src.blob.core.windows.net/c/a.bin"
CALLER_SAS = "sv=2024-08-04&sr=b&sp=r&se=2030-01-01T00%3A00%3A00Z&sig=c2lnbmF0dXJl%2B%3D"


class Sent(Exception):
    """Raised by the recording transport once the request is seen: nothing goes out."""


class Recorder(HttpTransport):  # type: ignore[type-arg]  # azure-core's transport ABC
    """A transport that keeps the request and answers nothing."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *args: Any) -> None:
        return None

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def send(self, request: Any, **kwargs: Any) -> Any:
        self.sent.append(request)
        raise Sent(request.url)


class SomeIdentity:
    """A token credential that answers at once (no DefaultAzureCredential probing)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("token", 4_102_444_800)


def keyless_ops(transport: Recorder) -> BlobOps:
    """BlobOps whose source account is given by URL only (our identity, no key)."""
    env = {
        "BLOBCOPY_ACCOUNTS": "src",
        "BLOBCOPY_ACCOUNT_SRC_URL": "https://src.blob.core.windows.net",
        "BLOBCOPY_ALLOWED_DESTINATIONS": "*",
    }
    ops = BlobOps(settings_from_env(env), transport=transport, retry_total=0)
    ops._token_credential = SomeIdentity()  # stands in for DefaultAzureCredential
    return ops


def type_check_request(url: str) -> Any:
    """The one request the type check sends for `url`, as the transport saw it."""
    transport = Recorder()
    request = {
        "source": {"url": url},
        "destination": {"url": f"{SOURCE}.copy", "blob_type": "PageBlob"},
    }
    with pytest.raises(Sent):
        keyless_ops(transport).check_source_type(request)
    (sent,) = transport.sent
    return sent


def test_a_keyless_source_is_type_checked_through_the_callers_sas() -> None:
    """4385123 as intended: the caller's SAS goes on the request, no shared key is made up."""
    sent = type_check_request(f"{SOURCE}?{CALLER_SAS}")
    assert "sig=c2lnbmF0dXJl%2B%3D" in sent.url
    assert not str(sent.headers.get("Authorization", "")).startswith("SharedKey")


# Was a break, now fixed: 4385123 break: source_reader hands the caller's query to BlobClient as
# a SAS credential; with any parameter the SDK does not know as a SAS one (here foo=bar), the
# SDK takes that string for an account key, so the type check and verify send a SharedKey header
# signed with it and no SAS: InvalidAuthenticationInfo, although the copy itself reads through
# that URL fine (before 4385123, our identity read it)
def test_a_keyless_source_with_another_query_parameter_still_reads_through_the_sas() -> None:
    sent = type_check_request(f"{SOURCE}?{CALLER_SAS}&foo=bar")
    assert not str(sent.headers.get("Authorization", "")).startswith("SharedKey")
    assert "sig=c2lnbmF0dXJl%2B%3D" in sent.url


def test_a_keyed_or_unsigned_source_is_read_with_our_own_credential() -> None:
    """Unchanged by 4385123: without a caller's SAS, a keyless source is read as our
    identity (a bearer token), never with a SAS we did not make."""
    sent = type_check_request(SOURCE)
    assert "sig=" not in sent.url
    assert str(sent.headers.get("Authorization", "")).startswith("Bearer")


@pytest.mark.parametrize("handler", [jobapi.get, jobapi.abort, jobapi.list_jobs])
def test_no_job_handler_defaults_its_kind(handler: Any) -> None:
    """4998b68 held: the job handlers take `kind` by keyword and with no default, so no route
    of another kind can fall back to copies (the old api.get / abort did, by default)."""
    kind = inspect.signature(handler).parameters["kind"]
    assert kind.kind is inspect.Parameter.KEYWORD_ONLY
    assert kind.default is inspect.Parameter.empty


@pytest.mark.parametrize(
    ("url", "files"),
    [
        ("https://acct.z07.file.storage.azure.net/share/f.bin", True),
        ("https://acct.z07.blob.storage.azure.net/c/f.bin", False),
        ("https://acct.file.storage.azure.net.evil.example/share/f.bin", False),
    ],
)
def test_dns_zone_files_hosts_and_no_lookalike(url: str, files: bool) -> None:
    """b2a34f7 held: a DNS-zone Files host is known by its suffix, a look-alike is not."""
    assert is_azure_files_url(url) is files
