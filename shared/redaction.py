"""Credentials out of every string we store, log or print: the one list of secret query
parameters, and the one way of finding their values, in free text and in URLs.

A SAS `sig` is a bearer secret (whoever reads it can use it until it expires), and so are the
other names in `SECRET_PARAMETERS`. Status documents, storage error messages, the copy engine's
`x-ms-copy-source` and everything the CLI prints pass through here. A value is found however it
is spelled: any case (`SIG=`), the name or `=` %-encoded (`%73ig=`, `sig%3D`), after `?`, `&`,
`;` (so `&amp;` too), `#`, a space, a quote, `%26` or JSON's `\\u0026`, or at the start; it runs to
the next delimiter, through %-escapes and JSON's `\\/` and `\\u002B`. Only the value is replaced,
so the rest of a SAS stays readable: `sig=REDACTED`.

`code` is secret everywhere, not only in the CLI's output: it is how a function key (and an OAuth
authorization code) travels in a query, and a copy source may be any readable URL, a function's
`?code=` URL included, which would otherwise be kept in status documents and instance history.
The API's own `Location` and `status_url` carry the caller's key on purpose (Logic Apps poll
them); they are built for the caller and never pass through here.

Why it lives in shared/ and the CLI's distribution ships it: the function app deploys shared/
without blobcopy/ (.funcignore), and pip installs blobcopy alone (pyproject's packages). A module
in blobcopy/ would not deploy with the app, and the service should not depend on its client; a
stdlib-only module in shared/ serves both, so pyproject also ships `shared.redaction`
(`py-modules`, which brings `shared/__init__.py` and no other module of shared/). It must stay a
leaf that imports only the standard library: anything else would break the CLI installed alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, overload
from urllib.parse import unquote

REDACTED = "REDACTED"
#: Query (and connection-string) parameters whose value is a credential: Azure's SAS `sig`, a
#: function key's `code`, the presigned URLs of other clouds an external source may be (S3's
#: X-Amz-*, Google's X-Goog-*, OAuth tokens), and a storage connection string's secrets.
SECRET_PARAMETERS = frozenset(
    {
        "sig",
        "code",
        "x-amz-signature",
        "x-amz-security-token",
        "x-amz-credential",
        "x-goog-signature",
        "x-goog-credential",
        "access_token",
        "signature",
        "token",
        "x-functions-key",
        "accountkey",
        "sharedaccesssignature",
    }
)

# A name starts where no letter or digit precedes it, or right after an escaped `&`, `?` or `;`.
_START = r"(?:(?<![A-Za-z0-9])|(?<=%26)|(?<=%3F)|(?<=%3B)|(?<=\\u0026))"
# A value runs to the next delimiter; JSON escapes of anything but a delimiter are part of it.
_VALUE = r"(?:\\u(?!0022|0023|0026|0027|003[BCE])[0-9A-F]{4}|\\/|[^&;#\s\"'<>\\])*"


def _spelled(char: str) -> str:
    """One character of a name as a pattern: itself or its %-escape, in either case."""
    escapes = sorted({f"%{ord(c):02X}" for c in (char.lower(), char.upper())})
    return "(?:" + "|".join([re.escape(char), *escapes]) + ")"


def _name(name: str) -> str:
    return "".join(_spelled(char) for char in name)


_NAMES = "|".join(_name(name) for name in sorted(SECRET_PARAMETERS, key=len, reverse=True))
_SECRET = re.compile(f"{_START}(?P<name>(?:{_NAMES})(?:=|%3D)){_VALUE}", re.IGNORECASE)


#: An OAuth bearer token as an Authorization header shows it (RFC 6750's b64token).
_BEARER = re.compile(r"(?P<name>\bBearer\s+)(?!REDACTED\b)[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)


def redact_text(text: str) -> str:
    """`text` with the value of every secret parameter, and every bearer token, replaced by
    REDACTED, wherever it is: SDK and server messages echo request URLs and headers, and users
    paste them into anything."""
    text = _SECRET.sub(lambda found: found["name"] + REDACTED, text)
    return _BEARER.sub(lambda found: found["name"] + REDACTED, text)


def exposed_secrets(text: str) -> list[tuple[str, str]]:
    """Each secret `redact_text` would take out of `text`, as (parameter name, value): what a
    scan for leaks looks for, by the same matching. Values already REDACTED, or empty, are
    not secrets."""
    found = [
        (unquote(m["name"]).rstrip("=").lower(), m[0][len(m["name"]) :])
        for m in _SECRET.finditer(text)
    ]
    found += [("bearer", m[0][len(m["name"]) :]) for m in _BEARER.finditer(text)]
    return [(name, value) for name, value in found if value and value != REDACTED]


@overload
def redact_url(url: str) -> str: ...
@overload
def redact_url(url: None) -> None: ...
def redact_url(url: str | None) -> str | None:
    """The URL with its secret parameters' values replaced, by the same matching as text, in
    its query and fragment only: a path is the blob's name, kept as it was spelled."""
    if not url:
        return url
    start = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=len(url))
    return url[:start] + redact_text(url[start:])


def scrub(value: Any) -> Any:
    """A copy of a JSON-like value with every string passed through `redact_text`."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {str(key): scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value
