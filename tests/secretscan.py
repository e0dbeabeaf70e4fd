"""The secrets scan: find a credential in text the service or its tools let out.

What counts as leaked: a SAS signature or another secret query parameter with a value
(`sig=...`, found by shared/redaction.py's own matching, however it is spelled), a bearer
token, or an account key the stack knows (Azurite's well-known key, any `AccountKey=` of a
configured connection string), raw or percent-encoded. A function key's `code` is not looked
for: the API's `Location` and `status_url` carry the caller's own key on purpose.

A finding never repeats the secret: it says what kind it was, where, and the line with every
secret it knows of replaced, so a failing scan does not leak what it caught.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

from shared.redaction import REDACTED, exposed_secrets, redact_text

#: Parameters a scan ignores: the caller's own function key travels back in status URLs.
ALLOWED_PARAMETERS = frozenset({"code"})
_ACCOUNT_KEY = re.compile(r"AccountKey=([^;\s\"']+)", re.IGNORECASE)


def account_keys(*connection_strings: str) -> set[str]:
    """The account keys in connection strings (what a scan must never find in the clear)."""
    return {m[1] for text in connection_strings for m in _ACCOUNT_KEY.finditer(text)} - {REDACTED}


@dataclass
class SecretScanner:
    """Scans text for leaked credentials and keeps what it found until `take_findings`."""

    keys: set[str] = field(default_factory=set)
    findings: list[str] = field(default_factory=list)

    def _spellings(self) -> set[str]:
        return {s for key in self.keys for s in (key, quote(key, safe=""), key.replace("/", "\\/"))}

    def secrets_in(self, text: str) -> list[str]:
        """The kinds of secret in `text` (one entry per secret found)."""
        kinds = [name for name, _ in exposed_secrets(text) if name not in ALLOWED_PARAMETERS]
        kinds += ["account key" for spelled in self._spellings() if spelled in text]
        return kinds

    def hide(self, text: str) -> str:
        """`text` fit to show in a failure: every secret the scanner knows of replaced."""
        for spelled in self._spellings():
            text = text.replace(spelled, REDACTED)
        return redact_text(text)

    def scan(self, text: str | bytes, where: str) -> bool:
        """Record every line of `text` holding a secret; whether it was clean."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        clean = True
        for number, line in enumerate(text.splitlines(), 1):
            kinds = self.secrets_in(line)
            if kinds:
                clean = False
                shown = self.hide(line)[:300]
                self.findings.append(f"{', '.join(kinds)} in {where} (line {number}): {shown}")
        return clean

    def take_findings(self) -> list[str]:
        """What was found since the last call (and forget it)."""
        found, self.findings = self.findings, []
        return found
