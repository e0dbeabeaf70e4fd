"""Request validation: every kind of bad request is refused with 400 naming the wrong field."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import RequestRejected
from shared.requests import (
    AbortRequest,
    CopyRequest,
    decode_json,
    parse_copy_request,
    parse_queue_message,
)
from shared.settings import Settings, settings_from_env

SRC = "http://127.0.0.1:10000/devstoreaccount2/src/a.bin"
DST = "http://127.0.0.1:10000/devstoreaccount1/dst/a.bin"


def settings() -> Settings:
    """Settings with no accounts: validation does not need them."""
    return settings_from_env(
        {"BLOBCOPY_MAX_TIMEOUT_SECONDS": "3600", "BLOBCOPY_DEFAULT_TIMEOUT_SECONDS": "600"}
    )


def good(**extra: Any) -> dict[str, Any]:
    """A valid request body plus `extra` fields."""
    return {"source": {"url": SRC}, "destination": {"url": DST}, **extra}


BAD: list[tuple[str, dict[str, Any] | Any, str]] = [
    ("missing source", {"destination": {"url": DST}}, "source"),
    ("missing destination", {"source": {"url": SRC}}, "destination"),
    ("source not an object", good(source="http://x/a/b"), "source"),
    ("source url not http", good(source={"url": "ftp://h/c/b"}), "source.url"),
    ("source url relative", good(source={"url": "/c/b"}), "source.url"),
    ("source url with a newline", good(source={"url": SRC + "\n"}), "source.url"),
    ("source url with a space", good(source={"url": SRC.replace("a.bin", "a b")}), "source.url"),
    (
        "source url with a password",
        good(source={"url": "https://user:secret@example.org/file.bin"}),
        "source.url",
    ),
    ("source url with a bad port", good(source={"url": "http://h:99999/c/b"}), "source.url"),
    ("destination url bad IPv6", good(destination={"url": "http://[::1/c/b"}), "destination.url"),
    ("destination url without path", good(destination={"url": "http://h"}), "destination.url"),
    (
        "destination carries a SAS",
        good(destination={"url": DST + "?sv=1&sig=x"}),
        "destination.url",
    ),
    ("destination equals source", good(destination={"url": SRC}), "destination.url"),
    (
        "destination climbs out of its container",
        good(destination={"url": "http://h/devstoreaccount1/allowed/../secret/x.bin"}),
        "destination.url",
    ),
    (
        "destination climbs out, percent-encoded",
        good(destination={"url": "http://h/devstoreaccount1/allowed/%2e%2E/secret/x.bin"}),
        "destination.url",
    ),
    (
        "destination climbs out through encoded slashes",
        good(destination={"url": "http://h/acct/allowed/x%2F..%2F..%2Fsecret%2Fx.bin"}),
        "destination.url",
    ),
    (
        "destination with an empty segment",
        good(destination={"url": DST + "//b"}),
        "destination.url",
    ),
    (
        "source climbs out of its container",
        good(source={"url": "http://h/devstoreaccount2/public/%2E./private/x.bin"}),
        "source.url",
    ),
    ("source with a dot segment", good(source={"url": "http://h/acct/c/./x.bin"}), "source.url"),
    ("unknown field", good(colour="blue"), "colour"),
    ("unknown field in source", good(source={"url": SRC, "x": 1}), "source.x"),
    ("bad id characters", good(id="a/b"), "id"),
    ("id too long", good(id="a" * 101), "id"),
    ("bad overwrite", good(overwrite="sometimes"), "overwrite"),
    ("bad lease_source", good(lease_source="forever"), "lease_source"),
    ("metadata name not an identifier", good(metadata={"a-b": "x"}), "metadata"),
    ("metadata value not a string", good(metadata={"a": 1}), "metadata.a"),
    ("metadata value with a newline", good(metadata={"a": "x\r\nx-ms-evil: 1"}), "metadata"),
    ("metadata over 8 KiB", good(metadata={f"k{i}": "v" * 100 for i in range(90)}), "metadata"),
    ("too many tags", good(tags={f"k{i}": "v" for i in range(11)}), "tags"),
    ("bad tier", good(tier="Lukewarm"), "tier"),
    ("timeout not positive", good(timeout_seconds=0), "timeout_seconds"),
    ("timeout above the configured maximum", good(timeout_seconds=7200), "timeout_seconds"),
    ("timeout as a string", good(timeout_seconds="60"), "timeout_seconds"),
    ("poll min above max", good(poll={"min_seconds": 10, "max_seconds": 5}), "poll.min_seconds"),
    ("poll min not positive", good(poll={"min_seconds": 0}), "poll.min_seconds"),
    ("verify not a boolean", good(verify="yes"), "verify"),
    ("snapshot_destination not a boolean", good(snapshot_destination=1), "snapshot_destination"),
    ("bad notify queue name", good(notify={"queue": "Bad_Queue"}), "notify.queue"),
    ("notify not an object", good(notify="copy-results"), "notify"),
    ("body not an object", [good()], "body"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD, ids=[c for c, _, _ in BAD])
def test_bad_request_is_refused_naming_the_field(case: str, body: Any, field: str) -> None:
    """Each kind of bad request answers 400 and names the field that is wrong."""
    with pytest.raises(RequestRejected) as caught:
        parse_copy_request(body, settings())
    assert caught.value.status == 400
    assert field in caught.value.fields, (case, caught.value.fields)


def test_every_wrong_field_is_named_at_once() -> None:
    """A request with several wrong fields names all of them in one answer."""
    body = {"source": {"url": "ftp://x/y"}, "overwrite": "no", "tier": "x", "extra": True}
    with pytest.raises(RequestRejected) as caught:
        parse_copy_request(body, settings())
    assert {"source.url", "destination", "overwrite", "tier", "extra"} <= set(caught.value.fields)


def test_messages_do_not_echo_the_input() -> None:
    """Error messages never repeat the submitted values (a source URL may carry a SAS)."""
    with pytest.raises(RequestRejected) as caught:
        parse_copy_request(good(source={"url": "ftp://h/c/b?sig=SECRET"}), settings())
    assert "SECRET" not in str(caught.value.fields)


def test_valid_request_gets_defaults() -> None:
    """A minimal request is accepted with the documented defaults."""
    request = parse_copy_request(good(), settings())
    assert (request.overwrite, request.lease_source, request.verify) == ("always", "renewed", False)
    assert request.id is None and request.metadata == {}


def test_source_with_sas_snapshot_or_version_is_accepted() -> None:
    """Source URLs may carry a SAS, a snapshot or a version id."""
    for query in ("?sv=1&sig=abc", "?snapshot=2026-01-01T00:00:00Z", "?versionid=2026"):
        assert parse_copy_request(good(source={"url": SRC + query}), settings())


def test_models_are_frozen() -> None:
    """A validated request cannot be changed afterwards."""
    request = parse_copy_request(good(), settings())
    with pytest.raises(ValueError):
        request.verify = True


def test_fingerprint_ignores_key_order_but_not_content() -> None:
    """The same request hashes alike in any key order; a different one does not."""
    a = CopyRequest.model_validate(good(verify=True, tier="Hot"))
    b = CopyRequest.model_validate({"tier": "Hot", "verify": True, **good()})
    c = CopyRequest.model_validate(good(verify=False, tier="Hot"))
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_malformed_json_is_a_400_naming_the_body() -> None:
    """A body that is not JSON is refused with 400 on `body`."""
    with pytest.raises(RequestRejected) as caught:
        decode_json(b"{not json")
    assert caught.value.status == 400 and "body" in caught.value.fields


def test_oversize_body_is_refused() -> None:
    """A body over the size limit is refused before parsing."""
    with pytest.raises(RequestRejected) as caught:
        decode_json(b" " * (65 * 1024))
    assert "body" in caught.value.fields


def test_queue_message_may_be_an_abort() -> None:
    """`{"action": "abort", "id": ...}` parses as an abort request."""
    message = parse_queue_message(b'{"action": "abort", "id": "job-1", "reason": "r"}', settings())
    assert message == AbortRequest(action="abort", id="job-1", reason="r")


def test_queue_abort_with_a_wrong_action_names_the_field() -> None:
    """An unknown action is refused naming `action`; a missing id names `id`."""
    with pytest.raises(RequestRejected) as caught:
        parse_queue_message(b'{"action": "pause"}', settings())
    assert {"action", "id"} <= set(caught.value.fields)


def test_queue_copy_message_is_validated_like_http() -> None:
    """A copy request on the queue goes through the same validation."""
    with pytest.raises(RequestRejected) as caught:
        parse_queue_message(b'{"source": {"url": "x"}}', settings())
    assert {"source.url", "destination"} <= set(caught.value.fields)


def test_deeply_nested_json_is_a_400_not_a_crash() -> None:
    """JSON nested beyond the parser's recursion limit is refused as a bad body."""
    with pytest.raises(RequestRejected) as caught:
        decode_json(b"[" * 50_000 + b"]" * 50_000)
    assert caught.value.status == 400 and "body" in caught.value.fields


def test_a_timeout_beyond_what_the_sources_sas_can_cover_is_a_400() -> None:
    """timeout_seconds of 7 days for a source read through a user delegation SAS (an account
    given by URL: managed identity) is a 400 naming timeout_seconds and saying why; the same
    timeout is fine for a source signed with an account key or outside the accounts."""
    limits = settings_from_env(
        {
            "BLOBCOPY_ACCOUNTS": "misrc,keysrc",
            "BLOBCOPY_ACCOUNT_MISRC_URL": "https://misrc.blob.core.windows.net",
            "BLOBCOPY_ACCOUNT_KEYSRC_CONNECTION_STRING": (
                "AccountName=keysrc;AccountKey=a2V5;BlobEndpoint=https://keysrc.example.net"
            ),
            "BLOBCOPY_MAX_TIMEOUT_SECONDS": str(14 * 86400),
        }
    )
    week = 7 * 86400
    mi_source = good(source={"url": "https://misrc.blob.core.windows.net/c/a.bin"})
    with pytest.raises(RequestRejected) as caught:
        parse_copy_request({**mi_source, "timeout_seconds": week}, limits)
    assert caught.value.status == 400 and list(caught.value.fields) == ["timeout_seconds"]
    assert "user delegation" in caught.value.fields["timeout_seconds"]
    for url in ("https://keysrc.example.net/c/a.bin", "https://example.org/f.bin"):
        assert parse_copy_request(good(source={"url": url}, timeout_seconds=week), limits)
    given_sas = "https://misrc.blob.core.windows.net/c/a.bin?sv=1&sig=x"
    assert parse_copy_request(good(source={"url": given_sas}, timeout_seconds=week), limits)
