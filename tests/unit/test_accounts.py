"""Account matching for Azure and emulator URLs, credentials by configuration, the allowlist."""

from __future__ import annotations

import pytest

from shared.accounts import (
    AZURITE_KEY,
    Account,
    AccountRegistry,
    account_from_url,
    parse_connection_string,
)
from shared.errors import ConfigurationError, UnsafeBlobPath

EMU1 = Account("devstoreaccount1", "http://127.0.0.1:10000/devstoreaccount1", AZURITE_KEY)
EMU2 = Account("devstoreaccount2", "http://127.0.0.1:10000/devstoreaccount2", AZURITE_KEY)
PROD = Account("prodacct", "https://prodacct.blob.core.windows.net")
REGISTRY = AccountRegistry((EMU1, EMU2, PROD))


def test_azure_url_matches_its_account() -> None:
    """A host-style Azure blob URL resolves to its account, container and blob."""
    loc = REGISTRY.locate("https://prodacct.blob.core.windows.net/c/dir/b.bin")
    assert loc is not None and (loc.account, loc.container, loc.blob) == (PROD, "c", "dir/b.bin")


def test_path_style_emulator_url_matches_by_first_segment() -> None:
    """A path-style emulator URL resolves by host, port and account segment."""
    loc = REGISTRY.locate("http://127.0.0.1:10000/devstoreaccount2/src/a%20b.bin")
    assert loc is not None and loc.account is EMU2 and loc.blob == "a b.bin"


def test_localhost_and_loopback_ip_are_the_same_host() -> None:
    """localhost and 127.0.0.1 name the same emulator."""
    loc = REGISTRY.locate("http://localhost:10000/devstoreaccount1/c/b")
    assert loc is not None and loc.account is EMU1


def test_unknown_hosts_and_ports_are_external() -> None:
    """URLs on other hosts, ports or accounts are external sources."""
    for url in (
        "https://other.blob.core.windows.net/c/b",
        "http://127.0.0.1:9999/devstoreaccount1/c/b",
        "http://127.0.0.1:10000/devstoreaccount3/c/b",
        "https://example.com/file.bin",
    ):
        assert REGISTRY.locate(url) is None


def test_snapshot_version_and_sas_are_recognised() -> None:
    """snapshot, versionid and a SAS signature in the query are noted on the location."""
    loc = REGISTRY.locate("https://prodacct.blob.core.windows.net/c/b?snapshot=S&sig=x&sv=1")
    assert loc is not None and loc.snapshot == "S" and loc.has_sas
    ver = REGISTRY.locate("https://prodacct.blob.core.windows.net/c/b?versionid=V")
    assert ver is not None and ver.version_id == "V" and not ver.has_sas


def test_allowlist_by_account_and_container() -> None:
    """The allowlist admits whole accounts or single containers, and nothing else."""
    registry = AccountRegistry((EMU1, PROD), ("devstoreaccount1", "prodacct/backups"))
    inside = registry.locate("https://prodacct.blob.core.windows.net/backups/b")
    outside = registry.locate("https://prodacct.blob.core.windows.net/other/b")
    emu = registry.locate("http://127.0.0.1:10000/devstoreaccount1/any/b")
    assert inside and outside and emu
    assert registry.destination_allowed(inside) and registry.destination_allowed(emu)
    assert not registry.destination_allowed(outside)


def test_connection_string_gives_a_key_account() -> None:
    """A connection string with an explicit BlobEndpoint yields a key-signed account."""
    acct = parse_connection_string(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount2;AccountKey=k==;"
        "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount2;",
        "S",
    )
    assert acct == Account("devstoreaccount2", "http://127.0.0.1:10000/devstoreaccount2", "k==")
    assert acct.uses_key


def test_connection_string_without_endpoint_uses_the_suffix() -> None:
    """Without BlobEndpoint the Azure endpoint is built from protocol, name and suffix."""
    acct = parse_connection_string(
        "AccountName=a1;AccountKey=k;EndpointSuffix=core.chinacloudapi.cn", "S"
    )
    assert acct.blob_endpoint == "https://a1.blob.core.chinacloudapi.cn"


def test_development_storage_shortcut_is_azurite() -> None:
    """UseDevelopmentStorage=true means Azurite's devstoreaccount1 with its well-known key."""
    assert parse_connection_string("UseDevelopmentStorage=true", "S") == EMU1


def test_url_only_account_uses_managed_identity() -> None:
    """An account given by URL has no key (managed identity) and takes its name from the URL."""
    acct = account_from_url("https://prodacct.blob.core.windows.net/", "S", client_id="cid")
    assert acct.name == "prodacct" and not acct.uses_key and acct.client_id == "cid"
    assert (
        account_from_url("http://127.0.0.1:10000/devstoreaccount1", "S").name == "devstoreaccount1"
    )


def test_bad_connection_string_names_the_setting() -> None:
    """A connection string without AccountName is refused naming the setting."""
    with pytest.raises(ConfigurationError, match="MY_SETTING"):
        parse_connection_string("AccountKey=k", "MY_SETTING")


def test_base_url_percent_encodes_names_that_need_it() -> None:
    """Names with ?, # or % are encoded again, so the URL names the same blob."""
    loc = REGISTRY.locate("http://127.0.0.1:10000/devstoreaccount2/src/a%3Fb%23c%2525.txt")
    assert loc is not None and loc.blob == "a?b#c%25.txt"
    assert loc.base_url == "http://127.0.0.1:10000/devstoreaccount2/src/a%3Fb%23c%2525.txt"


def test_the_same_blob_spelled_two_ways_has_one_key() -> None:
    """localhost and 127.0.0.1, encoded or not: the resolved key is the same."""
    a = REGISTRY.locate("http://localhost:10000/devstoreaccount2/src/a%20b.bin")
    b = REGISTRY.locate("http://127.0.0.1:10000/devstoreaccount2/src/a b.bin?sv=1&sig=x")
    assert a is not None and b is not None and a.key == b.key


def test_source_allowlist_admits_accounts_containers_and_external_urls() -> None:
    """Source entries work like destination entries, plus `external` for other URLs."""
    registry = AccountRegistry((EMU1, EMU2), (), ("devstoreaccount2/src", "external"))
    inside = registry.locate("http://127.0.0.1:10000/devstoreaccount2/src/a.bin")
    outside = registry.locate("http://127.0.0.1:10000/devstoreaccount1/src/a.bin")
    assert inside is not None and registry.source_allowed(inside)
    assert outside is not None and not registry.source_allowed(outside)
    assert registry.source_allowed(None)
    assert not AccountRegistry((EMU1,), (), ("*",)).source_allowed(None)


ESCAPES = [
    "http://127.0.0.1:10000/devstoreaccount1/allowed/../secret/x.bin",
    "http://127.0.0.1:10000/devstoreaccount1/allowed/%2e%2e/secret/x.bin",
    "http://127.0.0.1:10000/devstoreaccount1/allowed/%2E./secret/x.bin",
    "http://127.0.0.1:10000/devstoreaccount1/allowed/x%2f..%2f..%2fsecret%2fx.bin",
    "http://127.0.0.1:10000/devstoreaccount1/../devstoreaccount2/c/x.bin",
    "http://127.0.0.1:10000/devstoreaccount1/allowed/./x.bin",
    "http://127.0.0.1:10000/devstoreaccount1/allowed//x.bin",
    "http://127.0.0.1:10000/devstoreaccount1/allowed/dir/",
    "https://prodacct.blob.core.windows.net/allowed/%252e%252e/x.bin",
    "https://prodacct.blob.core.windows.net/allowed/..%5csecret%5cx.bin",
    "https://prodacct.blob.core.windows.net/allowed%2f..%2fsecret/x.bin",
]


@pytest.mark.parametrize("url", ESCAPES)
def test_locate_refuses_paths_that_could_leave_their_container(url: str) -> None:
    """locate raises UnsafeBlobPath for `.`, `..` or empty segments, raw or percent-encoded,
    since the HTTP client (urllib3) resolves dot segments before sending: `allowed/../secret/x`
    would be checked as container `allowed` but written to `secret`."""
    with pytest.raises(UnsafeBlobPath):
        REGISTRY.locate(url)


def test_blob_names_with_dots_inside_a_segment_still_resolve() -> None:
    """Dots that are not a whole segment (`a..b`, `.hidden`, `v1.2`) are ordinary names."""
    loc = REGISTRY.locate("https://prodacct.blob.core.windows.net/c/.hidden/a..b/v1.2")
    assert loc is not None and loc.blob == ".hidden/a..b/v1.2"
