"""The copy engine's configuration: a leaf module, so every part of the engine can read it."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from yarl import URL


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """How the engine listens, where Azurite is, and how copies behave."""

    host: str
    port: int
    upstream: URL
    accounts: tuple[str, ...]
    account_key: str
    state_path: Path | None
    copy_rate_bytes_per_s: float | None = 64 * 1024 * 1024
    all_async: bool = False
    chunk_bytes: int = 4 * 1024 * 1024
    server_ssl: ssl.SSLContext | None = None
    client_ssl: ssl.SSLContext | None = None
    #: The read-only Azure Files endpoint (fileendpoint.py); None serves none.
    file_port: int | None = None
