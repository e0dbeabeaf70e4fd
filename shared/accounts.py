"""Which storage account a blob URL belongs to, which credential it gets, and where we may write.

An account is known by its blob endpoint. Azure endpoints are host-style
(`https://<acct>.blob.core.windows.net`), emulator endpoints path-style
(`http://127.0.0.1:10000/<acct>`); matching a URL compares scheme-less host and port (loopback
names are one host) and then the endpoint's path prefix, so both styles resolve alike.
An account with a key (from a connection string) signs service SAS with it; an account given only
by URL uses managed identity (DefaultAzureCredential) and user delegation SAS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlencode, urlsplit

from azure.core.credentials import AzureSasCredential

from shared.errors import ConfigurationError, UnsafeBlobPath

AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}
_DOT_SEGMENTS = {"", ".", ".."}
_SEPARATORS = re.compile(r"[/\\]")  # some servers read a backslash as a slash
_DEFAULT_PORTS = {"http": 80, "https": 443}


def callers_sas(url: str, *point_in_time: str) -> AzureSasCredential:
    """The SAS a caller put on a source URL, as a credential for a client of our own (one that
    reads its properties); `point_in_time` names the parameters (snapshot, versionid,
    sharesnapshot) that client sends itself.

    An AzureSasCredential, not a str: the SDK takes a str holding any parameter it does not know
    as a SAS one (a caller's `&foo=bar`) for an account key, and signs SharedKey with it."""
    given = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    dropped = {name.lower() for name in point_in_time}
    return AzureSasCredential(urlencode([(k, v) for k, v in given if k.lower() not in dropped]))


#: The source allowlist entry for URLs outside every configured account.
EXTERNAL = "external"


@dataclass(frozen=True)
class Account:
    """One configured storage account: where its blob endpoint is and how we authenticate."""

    name: str
    blob_endpoint: str
    account_key: str | None = None
    client_id: str | None = None
    #: The Azure Files endpoint, when the account declares one: files there can be sources.
    file_endpoint: str | None = None

    @property
    def uses_key(self) -> bool:
        """True when we sign with the account key (Azurite, connection strings)."""
        return self.account_key is not None


@dataclass(frozen=True)
class BlobLocation:
    """A blob URL resolved against the configured accounts."""

    account: Account
    container: str
    blob: str
    snapshot: str | None = None
    version_id: str | None = None
    has_sas: bool = False

    @property
    def base_url(self) -> str:
        """The blob's URL without query, its names percent-encoded as the service expects."""
        return f"{self.account.blob_endpoint}/{quote(self.container)}/{quote(self.blob, safe='/~')}"

    @property
    def key(self) -> tuple[str, str, str]:
        """Which blob this is, however its URL was spelled (host alias, port, encoding)."""
        return (self.account.name, self.container, self.blob)


def unsafe_path_reason(path: str) -> str | None:
    """Why a URL path could reach another blob than it names, or None when it cannot.

    Every spelling counts: the raw path and each percent-decoding of it (`%2e%2e`, `%2E.`, and
    `%2f` that turns `x%2f..` into `x/..`), since one component decodes what another resolves.
    """
    spelled, seen = path.removeprefix("/"), set()
    while spelled not in seen:
        seen.add(spelled)
        if any(part in _DOT_SEGMENTS for part in _SEPARATORS.split(spelled)):
            return "must not contain '.', '..' or empty path segments (raw or percent-encoded)"
        spelled = unquote(spelled)
    return None


def _host_port(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    host = "127.0.0.1" if host in _LOOPBACK else host
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    return host, port, parts.path


def parse_connection_string(text: str, setting: str) -> Account:
    """Build an Account from a storage connection string (incl. UseDevelopmentStorage=true)."""
    pairs = dict(part.split("=", 1) for part in text.strip().strip(";").split(";") if "=" in part)
    if pairs.get("UseDevelopmentStorage", "").lower() == "true":
        return Account("devstoreaccount1", "http://127.0.0.1:10000/devstoreaccount1", AZURITE_KEY)
    name = pairs.get("AccountName")
    if not name:
        raise ConfigurationError(f"{setting}: connection string has no AccountName")
    endpoint = pairs.get("BlobEndpoint")
    if not endpoint:
        protocol = pairs.get("DefaultEndpointsProtocol", "https")
        suffix = pairs.get("EndpointSuffix", "core.windows.net")
        endpoint = f"{protocol}://{name}.blob.{suffix}"
    return Account(
        name, endpoint.rstrip("/"), pairs.get("AccountKey") or None, None, _file_endpoint(pairs)
    )


def _file_endpoint(pairs: dict[str, str]) -> str | None:
    """A connection string's Files endpoint: `FileEndpoint`, else the one Azure's own form
    implies (no explicit BlobEndpoint: a real account, which always has a file service)."""
    if pairs.get("FileEndpoint"):
        return pairs["FileEndpoint"].rstrip("/")
    if pairs.get("BlobEndpoint") or not pairs.get("AccountName"):
        return None
    protocol = pairs.get("DefaultEndpointsProtocol", "https")
    suffix = pairs.get("EndpointSuffix", "core.windows.net")
    return f"{protocol}://{pairs['AccountName']}.file.{suffix}"


def account_from_url(url: str, setting: str, client_id: str | None = None) -> Account:
    """Build a managed-identity Account from its blob endpoint URL."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{setting}: not an http(s) blob endpoint URL: {url!r}")
    path = parts.path.strip("/")
    name = path.split("/")[0] if path else parts.hostname.split(".")[0]
    return Account(name, url.strip().rstrip("/"), None, client_id)


@dataclass(frozen=True)
class FileLocation:
    """A file URL resolved against the configured accounts' Files endpoints."""

    account: Account
    share: str
    path: str  # directories and file name, "/"-separated, decoded
    share_snapshot: str | None = None
    has_sas: bool = False

    @property
    def container(self) -> str:
        """The share, where an allowlist entry names a container (`account/share`)."""
        return self.share

    @property
    def base_url(self) -> str:
        """The file's URL without query, its names percent-encoded."""
        endpoint = str(self.account.file_endpoint)
        return f"{endpoint}/{quote(self.share)}/{quote(self.path, safe='/~')}"


def _match(url: str, endpoint: str) -> tuple[str, str] | None:
    """(first segment, rest) of a URL's path under `endpoint`, or None when not under it."""
    host, port, path = _host_port(url)
    e_host, e_port, prefix = _host_port(endpoint)
    prefix = prefix.rstrip("/")
    if (host, port) != (e_host, e_port) or not path.startswith(prefix + "/"):
        return None
    first, _, rest = path[len(prefix) + 1 :].partition("/")
    if "/" in unquote(first):
        raise UnsafeBlobPath("a container or share name cannot hold an encoded '/'")
    return unquote(first), unquote(rest)


@dataclass(frozen=True)
class AccountRegistry:
    """The configured accounts and the allowlists (`account`, `account/container`, `*`).

    Sources also take `external`: any URL outside the configured accounts.
    """

    accounts: tuple[Account, ...]
    # Fail closed: source accounts are configured too (and leasing needs write access there),
    # so "any configured account" would let a caller overwrite sources.
    allowed_destinations: tuple[str, ...] = ()
    allowed_sources: tuple[str, ...] = ("*", EXTERNAL)

    def locate(self, url: str) -> BlobLocation | None:
        """Resolve a blob URL to a configured account, or None for external URLs.

        Raises UnsafeBlobPath for a path that could resolve elsewhere (see unsafe_path_reason):
        never None for it, which would make it an `external` source.
        """
        host, port, path = _host_port(url)
        reason = unsafe_path_reason(path)
        if reason:
            raise UnsafeBlobPath(reason)
        # names in any case, as shared/restore.py point_in_time reads them (first spelling wins)
        query: dict[str, list[str]] = {}
        for name, values in parse_qs(urlsplit(url).query).items():
            query.setdefault(name.lower(), values)
        for account in self.accounts:
            a_host, a_port, prefix = _host_port(account.blob_endpoint)
            prefix = prefix.rstrip("/")
            if (host, port) != (a_host, a_port) or not path.startswith(prefix + "/"):
                continue
            container, _, blob = path[len(prefix) + 1 :].partition("/")
            if "/" in unquote(container):
                raise UnsafeBlobPath("a container name cannot hold an encoded '/'")
            return BlobLocation(
                account,
                unquote(container),
                unquote(blob),
                snapshot=query.get("snapshot", [None])[0],
                version_id=query.get("versionid", [None])[0],
                has_sas="sig" in query,
            )
        return None

    def locate_file(self, url: str) -> FileLocation | None:
        """Resolve a URL on a configured account's Files endpoint, or None.

        Raises UnsafeBlobPath as `locate` does.
        """
        reason = unsafe_path_reason(urlsplit(url).path)
        if reason:
            raise UnsafeBlobPath(reason)
        query = parse_qs(urlsplit(url).query)
        for account in self.accounts:
            found = _match(url, account.file_endpoint) if account.file_endpoint else None
            if found is not None:
                return FileLocation(
                    account,
                    found[0],
                    found[1],
                    share_snapshot=query.get("sharesnapshot", [None])[0],
                    has_sas="sig" in {k.lower() for k in query},
                )
        return None

    def source_accounts(self) -> tuple[Account, ...]:
        """The configured accounts that the source allowlist lets copies read from."""
        return tuple(
            a
            for a in self.accounts
            if any(e.partition("/")[0] in ("*", a.name) for e in self.allowed_sources)
        )

    def destination_allowed(self, location: BlobLocation) -> bool:
        """True when the allowlist admits writing into this account and container."""
        return _admits(self.allowed_destinations, location)

    def source_allowed(self, location: BlobLocation | FileLocation | None) -> bool:
        """True when the allowlist admits reading this source (None: an external URL).

        The service reads sources with its own identity, so without this list a caller could
        copy out any blob of any configured account it cannot read itself.
        """
        if location is None:
            return EXTERNAL in self.allowed_sources
        return _admits(self.allowed_sources, location)


def _admits(entries: tuple[str, ...], location: BlobLocation | FileLocation) -> bool:
    """Whether an `account[/container]` (or `*`) entry covers the location."""
    for entry in entries:
        account, _, container = entry.partition("/")
        if account in ("*", location.account.name) and container in ("", "*", location.container):
            return True
    return False
