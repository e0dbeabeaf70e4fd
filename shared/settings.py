"""One frozen settings object, built once from the environment.

Accounts (every name listed must be configured one way or the other):

    BLOBCOPY_ACCOUNTS                        comma-separated logical names, e.g. "dest,src"
    BLOBCOPY_ACCOUNT_<NAME>_CONNECTION_STRING   a storage connection string (key: service SAS)
    BLOBCOPY_ACCOUNT_<NAME>_URL              or a blob endpoint URL: managed identity
                                             (DefaultAzureCredential) and user delegation SAS
    BLOBCOPY_ACCOUNT_<NAME>_CLIENT_ID        optional user-assigned identity's client id
    BLOBCOPY_ACCOUNT_<NAME>_FILE_URL         optional Azure Files endpoint (files there can be
                                             sources); a connection string's FileEndpoint,
                                             or the one Azure's own form implies, else none
    BLOBCOPY_ALLOWED_DESTINATIONS            comma list of `account` or `account/container`
                                             (storage account names); `*` = any
                                             configured account; unset = none (fail closed)
    BLOBCOPY_ALLOWED_SOURCES                 the same for sources, plus `external` for URLs
                                             outside the accounts; default `*,external`

Copy behaviour (seconds; defaults in brackets):

    BLOBCOPY_POLL_MIN_SECONDS [1]   BLOBCOPY_POLL_MAX_SECONDS [604800] (the ETA decides)
    BLOBCOPY_DEFAULT_TIMEOUT_SECONDS [86400]   BLOBCOPY_MAX_TIMEOUT_SECONDS [604800]
        (at most 1209600, Azure's limit on a pending copy; a default at most 603600 while a
        managed-identity account may be a source; see shared/copylimits.py)
    BLOBCOPY_LEASE_SECONDS [60] (15..60)   BLOBCOPY_POLLS_PER_EXECUTION [100]
    BLOBCOPY_RETRY_ATTEMPTS [4]   BLOBCOPY_RETRY_FIRST_SECONDS [2]
    BLOBCOPY_RESULTS_QUEUE [copy-results]
    BLOBCOPY_BATCH_PAGE_SIZE [5000] (1..5000): the most names one List Blobs of a batch reads
    BLOBCOPY_REPORT_CONTAINER [blobcopy-reports]: batch reports, in the destination account
    BLOBCOPY_HTTP_AUTH_LEVEL [function]: `anonymous` behind Entra ID authentication

Replication (docs/replication.md):

    BLOBCOPY_REPLICATION_RULES [none]: a JSON list of rules (shared/replication_rules.py)
    BLOBCOPY_REPLICATION_QUEUE [blob-events]: the queue Event Grid delivers blob events to

Result notifications and abort records (shared/control.py) use the Functions host's own storage:
`AzureWebJobsStorage` (connection string) or `AzureWebJobsStorage__queueServiceUri` and
`AzureWebJobsStorage__blobServiceUri` (managed identity).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from shared.accounts import (
    EXTERNAL,
    Account,
    AccountRegistry,
    BlobLocation,
    FileLocation,
    account_from_url,
    parse_connection_string,
)
from shared.copylimits import (
    DELEGATION_REASON,
    MAX_DELEGATED_TIMEOUT_SECONDS,
    MAX_PENDING_TIMEOUT_SECONDS,
    PENDING_REASON,
    TimeoutLimit,
    signs_with_user_delegation,
    source_timeout_limit,
)
from shared.errors import ConfigurationError
from shared.replication_rules import ReplicationRule, parse_rules

PREFIX = "BLOBCOPY_"
#: Every storage call of an activity is bounded (the SDK's own read timeout is 60 s): one hung
#: call must not outlast a finite source lease, which the orchestrator renews between
#: activities. SDK retries are off: the activities' retries are the orchestrator's, in history.
STORAGE_CLIENT_OPTIONS: dict[str, int] = {
    "retry_total": 0,
    "connection_timeout": 10,
    "read_timeout": 20,
}


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the app reads from its environment, validated."""

    registry: AccountRegistry
    poll_min_seconds: float = 1.0
    poll_max_seconds: float = 604800.0
    default_timeout_seconds: int = 86400
    max_timeout_seconds: int = 604800
    lease_seconds: int = 60
    polls_per_execution: int = 100
    retry_attempts: int = 4
    retry_first_seconds: float = 2.0
    results_queue: str = "copy-results"
    batch_page_size: int = 5000  # List Blobs' largest page; small in tests
    report_container: str = "blobcopy-reports"
    host_connection_string: str | None = None
    queue_service_url: str | None = None
    host_blob_service_url: str | None = None
    replication_rules: tuple[ReplicationRule, ...] = ()

    def __post_init__(self) -> None:
        if not 0 < self.poll_min_seconds <= self.poll_max_seconds:
            raise ConfigurationError(
                f"{PREFIX}POLL_MIN_SECONDS must be > 0 and <= {PREFIX}POLL_MAX_SECONDS"
            )
        if not 15 <= self.lease_seconds <= 60:
            raise ConfigurationError(f"{PREFIX}LEASE_SECONDS must be between 15 and 60")
        if not 0 < self.default_timeout_seconds <= self.max_timeout_seconds:
            raise ConfigurationError(
                f"{PREFIX}DEFAULT_TIMEOUT_SECONDS must be > 0 and <= {PREFIX}MAX_TIMEOUT_SECONDS"
            )
        self._check_timeout_limits()
        if self.retry_first_seconds < 0.001:
            raise ConfigurationError(f"{PREFIX}RETRY_FIRST_SECONDS must be at least 0.001")
        if not 1 <= self.batch_page_size <= 5000:
            raise ConfigurationError(f"{PREFIX}BATCH_PAGE_SIZE must be between 1 and 5000")
        if self.polls_per_execution < 1 or self.retry_attempts < 1:
            raise ConfigurationError(
                f"{PREFIX}POLLS_PER_EXECUTION and {PREFIX}RETRY_ATTEMPTS must be >= 1"
            )

    def _check_timeout_limits(self) -> None:
        """Timeouts no copy could honour: beyond Azure's pending-copy limit, or a default no
        user delegation SAS can cover while a managed-identity account may be a source."""
        if self.max_timeout_seconds > MAX_PENDING_TIMEOUT_SECONDS:
            raise ConfigurationError(
                f"{PREFIX}MAX_TIMEOUT_SECONDS must be <= {MAX_PENDING_TIMEOUT_SECONDS}: "
                f"{PENDING_REASON}"
            )
        delegated = [
            a.name for a in self.registry.source_accounts() if signs_with_user_delegation(a)
        ]
        if delegated and self.default_timeout_seconds > MAX_DELEGATED_TIMEOUT_SECONDS:
            raise ConfigurationError(
                f"{PREFIX}DEFAULT_TIMEOUT_SECONDS must be <= {MAX_DELEGATED_TIMEOUT_SECONDS} "
                f"while {', '.join(delegated)} may be a source: {DELEGATION_REASON}"
            )

    def plan_tuning(self) -> dict[str, Any]:
        """What every orchestration's plan takes from the settings (a copy's and a batch's):
        resolved at the edge, so replays never read the environment."""
        return {
            "poll_min": self.poll_min_seconds,
            "poll_max": self.poll_max_seconds,
            "polls_per_execution": self.polls_per_execution,
            "retry_attempts": self.retry_attempts,
            "retry_first_ms": int(self.retry_first_seconds * 1000),
            "results_queue": self.results_queue,
        }

    def max_timeout_for(self, location: BlobLocation | FileLocation | None) -> TimeoutLimit:
        """The longest timeout a request may give for this source: the setting, or less."""
        limit = source_timeout_limit(location)
        if self.max_timeout_seconds <= limit.seconds:
            return TimeoutLimit(self.max_timeout_seconds, f"{PREFIX}MAX_TIMEOUT_SECONDS")
        return limit


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{PREFIX}{name} must be a number, got {raw!r}") from None


def _env_name(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


def _accounts(env: Mapping[str, str]) -> tuple[Account, ...]:
    accounts: list[Account] = []
    for name in filter(None, (n.strip() for n in env.get(PREFIX + "ACCOUNTS", "").split(","))):
        base = f"{PREFIX}ACCOUNT_{_env_name(name)}_"
        conn, url = env.get(base + "CONNECTION_STRING"), env.get(base + "URL")
        if conn:
            accounts.append(parse_connection_string(conn, base + "CONNECTION_STRING"))
        elif url:
            accounts.append(account_from_url(url, base + "URL", env.get(base + "CLIENT_ID")))
        else:
            raise ConfigurationError(
                f"{PREFIX}ACCOUNTS lists {name!r} but neither {base}CONNECTION_STRING "
                f"nor {base}URL is set"
            )
        accounts[-1] = _with_file_endpoint(accounts[-1], env.get(base + "FILE_URL"), base)
    return tuple(accounts)


def _with_file_endpoint(account: Account, url: str | None, base: str) -> Account:
    """The account with the Files endpoint its `_FILE_URL` setting declares, if any."""
    if not url or not url.strip():
        return account
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ConfigurationError(f"{base}FILE_URL: not an http(s) Files endpoint URL: {url!r}")
    return replace(account, file_endpoint=url.strip().rstrip("/"))


def _entries(text: str) -> tuple[str, ...]:
    return tuple(e.strip() for e in text.split(",") if e.strip())


#: The settings read as `BLOBCOPY_<NAME>` numbers, each defaulting to its Settings field.
TUNABLE_NUMBERS = (
    "poll_min_seconds",
    "poll_max_seconds",
    "default_timeout_seconds",
    "max_timeout_seconds",
    "lease_seconds",
    "polls_per_execution",
    "retry_attempts",
    "retry_first_seconds",
    "batch_page_size",
)


def default(name: str) -> Any:
    """A setting's default: the one place each is written is its Settings field."""
    return Settings.__dataclass_fields__[name].default


def _tunable(env: Mapping[str, str], name: str) -> int | float:
    """`BLOBCOPY_<NAME>` as its field's type (int or float), or the field's default."""
    value = _number(env, name.upper(), default(name))
    return int(value) if isinstance(default(name), int) else value


def _tunables(env: Mapping[str, str]) -> dict[str, Any]:
    return {name: _tunable(env, name) for name in TUNABLE_NUMBERS}


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """Build and validate the settings from an environment mapping."""
    registry = AccountRegistry(
        _accounts(env),
        _entries(env.get(PREFIX + "ALLOWED_DESTINATIONS", "")),
        _entries(env.get(PREFIX + "ALLOWED_SOURCES", f"*,{EXTERNAL}")),
    )
    replication_queue_name(env)  # a bad name stops the host here, named, not at indexing
    return Settings(
        registry=registry,
        replication_rules=parse_rules(env.get(PREFIX + "REPLICATION_RULES"), registry),
        **_tunables(env),
        results_queue=env.get(PREFIX + "RESULTS_QUEUE", default("results_queue")),
        report_container=env.get(PREFIX + "REPORT_CONTAINER") or default("report_container"),
        host_connection_string=env.get("AzureWebJobsStorage") or None,
        queue_service_url=env.get("AzureWebJobsStorage__queueServiceUri") or None,
        host_blob_service_url=env.get("AzureWebJobsStorage__blobServiceUri") or None,
    )


HTTP_AUTH_LEVELS = ("anonymous", "function", "admin")


def http_auth_level(env: Mapping[str, str]) -> str:
    """The routes' auth level: `function` (default) needs a key; `anonymous` is for deployments
    where App Service Authentication (Entra ID) already checks every caller's token.

    Read at import, unlike the other settings, because the host indexes routes with it.
    """
    raw = (env.get(PREFIX + "HTTP_AUTH_LEVEL") or "function").strip().lower()
    if raw not in HTTP_AUTH_LEVELS:
        raise ConfigurationError(
            f"{PREFIX}HTTP_AUTH_LEVEL must be one of {', '.join(HTTP_AUTH_LEVELS)}, got {raw!r}"
        )
    return raw


DEFAULT_REPLICATION_QUEUE = "blob-events"
_QUEUE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")


def replication_queue_name(env: Mapping[str, str]) -> str:
    """The queue the replication trigger listens on (`blob-events` by default).

    Read at import, like the auth level: the host indexes the trigger with it. A setting rather
    than a `%BLOBCOPY_REPLICATION_QUEUE%` binding expression, which would fail indexing wherever
    the setting is not set.
    """
    raw = (env.get(PREFIX + "REPLICATION_QUEUE") or DEFAULT_REPLICATION_QUEUE).strip()
    if not _QUEUE_NAME.match(raw):
        raise ConfigurationError(
            f"{PREFIX}REPLICATION_QUEUE must be a queue name (3-63 lower-case letters, digits, "
            f"single hyphens), got {raw!r}"
        )
    return raw


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once on first use (not at import, so tests can set env)."""
    return settings_from_env(os.environ)
