"""The secrets scan catches what it is for (a scan that cannot fail is a defect), and says so
without repeating the secret."""

from __future__ import annotations

import json

import pytest

from shared.redaction import redact_text
from tests.secretscan import SecretScanner, account_keys

#: Planted for this test only: not a key of any account.
FAKE_KEY = "cGxhbnRlZC1mYWtlLWtleS1mb3ItdGhlLXNjYW5uZXI/K+Z=="
FAKE_SIG = "Zm9yZ2VkLXNpZw%3D%3D"
CONNECTION = f"DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={FAKE_KEY};"


@pytest.mark.parametrize(
    "leak",
    [
        f"GET /c/b.bin?sv=2024-01-01&sig={FAKE_SIG}&se=2026",
        f'{{"source": "https://a.blob.core.windows.net/c/b?SIG={FAKE_SIG}"}}',
        f"copy source %73ig%3D{FAKE_SIG}",
        json.dumps({"url": f"http://x/c/b?sv=1\u0026sig={FAKE_SIG}"}),
        "Authorization: Bearer eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ4In0.c2ln",
        f"key is {FAKE_KEY}",
        f"connection {CONNECTION}",
        f"encoded key {FAKE_KEY.replace('/', '%2F').replace('+', '%2B').replace('=', '%3D')}",
    ],
)
def test_a_planted_secret_is_caught(leak: str) -> None:
    """Each kind of credential, however it is spelled, is a finding."""
    scanner = SecretScanner(keys=account_keys(CONNECTION))
    assert not scanner.scan(f"first line\n{leak}\nlast line", "a log")
    (finding,) = scanner.take_findings()
    assert "a log (line 2)" in finding
    assert FAKE_KEY not in finding and "Zm9yZ2Vk" not in finding and "eyJ0eXAi" not in finding


@pytest.mark.parametrize(
    "text",
    [
        "GET /c/b.bin?sv=2024-01-01&sig=REDACTED&se=2026",
        "Authorization: Bearer REDACTED",
        "status_url http://127.0.0.1:7071/api/copies/c1?code=the-callers-own-key",
        "a signature-free line; sig= with no value; design=sig",
        f"connection {redact_text(CONNECTION)}",
    ],
)
def test_redacted_text_is_clean(text: str) -> None:
    """What redaction leaves, and a caller's own key in its status URL, are not findings."""
    scanner = SecretScanner(keys=account_keys(CONNECTION))
    assert scanner.scan(text, "a log"), scanner.take_findings()


def test_findings_are_kept_until_taken() -> None:
    """Findings pile up across scans and are handed over once."""
    scanner = SecretScanner()
    scanner.scan(b"sig=abc", "one")
    scanner.scan("Bearer abcdefgh", "two")
    assert len(scanner.take_findings()) == 2 and scanner.take_findings() == []
