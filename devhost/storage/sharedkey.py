"""Shared Key signing (for the engine's own calls to Azurite) and verification (of clients').

The engine writes copy destinations with the account key, so it must sign like the SDK does. It
also answers some requests itself (async Copy Blob, Abort Copy Blob) and must then check a Shared
Key signature as the service would; every Azurite account uses the same well-known key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, unquote

_SIGNED_STANDARD_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


def string_to_sign(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Iterable[tuple[str, str]],
    account: str,
) -> str:
    """The Shared Key string-to-sign (service version 2015-02-21 and later)."""
    lowered: dict[str, str] = {}
    for name, value in headers:
        lowered[name.lower()] = value
    standard = dict(lowered)
    if standard.get("content-length") == "0":
        standard.pop("content-length")
    parts = [method.upper()]
    parts += [standard.get(name, "") for name in _SIGNED_STANDARD_HEADERS]
    canonical_headers = "".join(
        f"{name}:{value.strip()}\n"
        for name, value in sorted(lowered.items())
        if name.startswith("x-ms-")
    )
    resource = f"/{account}{raw_path}"
    params: dict[str, list[str]] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        params.setdefault(name.lower(), []).append(value)
    for name in sorted(params):
        resource += f"\n{name}:{','.join(sorted(params[name]))}"
    return "\n".join(parts) + "\n" + canonical_headers + resource


def signature(key: str, text: str) -> str:
    """HMAC-SHA256 of `text` with the base64 `key`, base64-encoded."""
    digest = hmac.new(base64.b64decode(key), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def authorization(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    account: str,
    key: str,
) -> str:
    """The `Authorization` header value for a request the engine sends itself."""
    text = string_to_sign(method, raw_path, raw_query, headers.items(), account)
    return f"SharedKey {account}:{signature(key, text)}"


def verify(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Iterable[tuple[str, str]],
    auth_header: str,
    key: str,
) -> bool:
    """Whether `auth_header` is a valid Shared Key signature of this request with `key`."""
    scheme, _, credential = auth_header.partition(" ")
    if scheme != "SharedKey" or ":" not in credential:
        return False
    account, _, given = credential.rpartition(":")
    header_list = list(headers)
    candidates = {raw_path, unquote(raw_path)}
    for path in candidates:
        text = string_to_sign(method, path, raw_query, header_list, account)
        if hmac.compare_digest(signature(key, text), given):
            return True
    return False
