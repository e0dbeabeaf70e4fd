"""Queue service clients for bindings, and the queue output binding.

A queue binding names an app setting (`connection`, `AzureWebJobsStorage` when omitted) that holds
a connection string; the host also tries the name prefixed with `AzureWebJobs`.
`UseDevelopmentStorage=true` means Azurite's well-known account. Output messages are written in
the app's `messageEncoding` (base64 unless host.json says otherwise), creating the queue on first
use, as the host does; listeners on the same queue are woken at once, like the host's
"message enqueued" watcher.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Mapping

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from devhost.functions import logs
from devhost.functions.bindings import encode_queue_body
from devhost.functions.indexer import Binding
from devhost.settings import DEFAULT_STORAGE_SETTING, QueueOptions, resolve_app_setting_refs

log = logging.getLogger(logs.HOST_LOGGER)

EnqueuedCallback = Callable[[str, str], None]


class ConnectionSettingError(RuntimeError):
    """Raised when a binding's connection setting is missing or unusable."""


def connection_setting(binding: Binding) -> str:
    """The app setting a binding's `connection` names (the default storage account if none)."""
    return str(binding.get("connection") or DEFAULT_STORAGE_SETTING)


def queue_name(binding: Binding, environ: Mapping[str, str] | None = None) -> str:
    """The binding's queue, with `%AppSetting%` expressions resolved."""
    return resolve_app_setting_refs(str(binding.get("queueName") or ""), environ)


def resolve_connection_string(setting: str, environ: Mapping[str, str] | None = None) -> str:
    """Look the setting up as the host does: `<setting>`, then `AzureWebJobs<setting>`."""
    env = os.environ if environ is None else environ
    for name in (setting, f"AzureWebJobs{setting}"):
        value = env.get(name)
        if value:
            return value
    raise ConnectionSettingError(
        f"app setting {setting!r} (a queue binding's connection) is not set; put a storage "
        f"connection string in it, e.g. UseDevelopmentStorage=true in local.settings.json"
    )


class QueueClients:
    """One `QueueServiceClient` per connection setting, shared by listeners and outputs."""

    def __init__(self, options: QueueOptions, environ: Mapping[str, str] | None = None) -> None:
        self.options = options
        self._environ = environ
        self._services: dict[str, QueueServiceClient] = {}
        self._created: set[tuple[str, str]] = set()
        self._listeners: list[EnqueuedCallback] = []

    def service(self, setting: str) -> QueueServiceClient:
        if setting not in self._services:
            conn = resolve_connection_string(setting, self._environ)
            try:
                self._services[setting] = QueueServiceClient.from_connection_string(conn)
            except ValueError as exc:
                raise ConnectionSettingError(
                    f"app setting {setting!r} is not a valid connection string"
                ) from exc
        return self._services[setting]

    def queue(self, setting: str, name: str) -> QueueClient:
        return self.service(setting).get_queue_client(name)

    async def ensure_queue(self, setting: str, name: str) -> QueueClient:
        """The queue's client, creating the queue the first time this host uses it."""
        client = self.queue(setting, name)
        if (setting, name) not in self._created:
            with contextlib.suppress(ResourceExistsError):
                await client.create_queue()
            self._created.add((setting, name))
        return client

    def on_enqueued(self, callback: EnqueuedCallback) -> None:
        """Be told (connection setting, queue name) whenever an output binding writes a message."""
        self._listeners.append(callback)

    async def send(self, binding: Binding, messages: list[bytes]) -> None:
        """Write a queue output binding's messages, encoded as the host encodes them."""
        setting, name = connection_setting(binding), queue_name(binding, self._environ)
        client = await self.ensure_queue(setting, name)
        for body in messages:
            await client.send_message(encode_queue_body(body, self.options.message_encoding))
        for callback in self._listeners:
            callback(setting, name)

    async def close(self) -> None:
        for service in self._services.values():
            await service.close()
        self._services.clear()
