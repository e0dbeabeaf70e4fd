"""The Functions host's own storage account (AzureWebJobsStorage): abort records and results.

The app reaches it the way the host does: a connection string (keys, or Azurite's
`UseDevelopmentStorage=true`), or, with managed identity, the identity-based connection
settings `AzureWebJobsStorage__blobServiceUri` / `__queueServiceUri` and
DefaultAzureCredential. One place builds both clients, with the caller's client options (the
activities' bounded timeouts and no SDK retries), so neither path forgets them.
"""

from __future__ import annotations

from typing import Any

from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from shared.accounts import parse_connection_string
from shared.errors import ConfigurationError

SETTING = "AzureWebJobsStorage"


def _identity() -> Any:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def host_blob_service(
    connection_string: str | None, service_url: str | None, **client_options: Any
) -> BlobServiceClient:
    """The host account's blob service; ConfigurationError naming the setting if neither is set."""
    if connection_string:
        account = parse_connection_string(connection_string, SETTING)
        credential: Any = (
            {"account_name": account.name, "account_key": account.account_key}
            if account.account_key
            else None
        )
        return BlobServiceClient(account.blob_endpoint, credential, **client_options)
    if service_url:
        return BlobServiceClient(service_url, _identity(), **client_options)
    raise ConfigurationError(f"{SETTING} (or {SETTING}__blobServiceUri) must be set")


def host_queue_service(
    connection_string: str | None, service_url: str | None, **client_options: Any
) -> QueueServiceClient:
    """The host account's queue service; ConfigurationError naming the setting if neither is set."""
    if connection_string:
        return QueueServiceClient.from_connection_string(connection_string, **client_options)
    if service_url:
        return QueueServiceClient(service_url, _identity(), **client_options)
    raise ConfigurationError(f"{SETTING} (or {SETTING}__queueServiceUri) must be set")
