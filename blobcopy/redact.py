"""Hide SAS signatures and function keys before anything reaches a terminal or a pipe.

A SAS `sig` is a bearer secret: whoever reads it can use it until it expires; so is a function key
in a `code` query parameter (the API keeps it in status URLs so Logic Apps can poll). The API never
returns a signature, but the CLI also prints what the user typed and what servers say in error
messages, so every string it prints passes through here.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "REDACTED"

# `sig=` or `code=` as a query parameter, anywhere in a string: in a URL, a message, a quoted URL.
_SECRET_PARAMETER = re.compile(r"(?i)([?&;](?:sig|code)=)[^&#\s\"'<>]*")


def redact_text(text: str) -> str:
    """Return `text` with the value of every `sig=` and `code=` parameter replaced by REDACTED."""
    return _SECRET_PARAMETER.sub(lambda match: match.group(1) + REDACTED, text)


def redact(value: Any) -> Any:
    """Return a copy of a JSON-like value with every string passed through `redact_text`."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value
