"""The CLI's HTTP client against a loopback stub: headers, answers, errors, redaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from blobcopy.client import (
    ApiUnreachable,
    BlobCopyClient,
    Conflict,
    CopyNotFound,
    InvalidRequest,
    NotAllowed,
    ServerError,
    UnexpectedAnswer,
    describe_error_body,
    parse_retry_after,
)
from tests.contract.blobcopy_fakes import Stub


def test_start_posts_json_with_the_function_key(stub: tuple[Stub, str]) -> None:
    """start_copy POSTs the body as JSON to /api/copies with x-functions-key."""
    state, url = stub
    state.status, state.body = 202, b'{"id": "c1", "state": "running"}'
    state.headers = {"Location": f"{url}/api/copies/c1", "Retry-After": "5"}
    response = BlobCopyClient(url, key="k3y").start_copy({"source": {"url": "https://a/b/c"}})
    sent = state.requests[0]
    assert (sent["method"], sent["path"]) == ("POST", "/api/copies")
    assert sent["headers"]["x-functions-key"] == "k3y"
    assert sent["headers"]["content-type"] == "application/json"
    assert json.loads(sent["body"]) == {"source": {"url": "https://a/b/c"}}
    assert (response.status, response.body["id"]) == (202, "c1")
    assert response.location == f"{url}/api/copies/c1"
    assert response.retry_after == 5.0


def test_abort_sends_a_reason_only_when_given(stub: tuple[Stub, str]) -> None:
    """abort POSTs {"reason": ...} when a reason is given and no body otherwise."""
    state, url = stub
    state.status, state.body = 202, b'{"id": "c1"}'
    BlobCopyClient(url).abort("c1", "wrong source")
    BlobCopyClient(url).abort("c1")
    assert [r["path"] for r in state.requests] == ["/api/copies/c1/abort"] * 2
    assert json.loads(state.requests[0]["body"]) == {"reason": "wrong source"}
    assert state.requests[1]["body"] == b""


def test_a_code_in_the_url_becomes_the_key_header(stub: tuple[Stub, str]) -> None:
    """A base URL with ?code=KEY sends KEY as x-functions-key and keeps it out of the path."""
    state, url = stub
    BlobCopyClient(f"{url}/api?code=k3y").list_copies()
    assert state.requests[0]["path"] == "/api/copies"
    assert state.requests[0]["headers"]["x-functions-key"] == "k3y"


def test_no_key_means_no_key_header(stub: tuple[Stub, str]) -> None:
    """Without a key, no x-functions-key header is sent (the local host needs none)."""
    state, url = stub
    BlobCopyClient(url).list_copies()
    assert "x-functions-key" not in state.requests[0]["headers"]


def test_base_url_may_include_api_and_ids_are_escaped(stub: tuple[Stub, str]) -> None:
    """An --url ending in /api is not doubled, and ids travel as one escaped path segment."""
    state, url = stub
    BlobCopyClient(url + "/api/").get_status("a/b c")
    BlobCopyClient(url).list_copies("failed")
    assert [r["path"] for r in state.requests] == [
        "/api/copies/a%2Fb%20c",
        "/api/copies?state=failed",
    ]


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, InvalidRequest), (401, NotAllowed), (403, NotAllowed), (404, CopyNotFound),
     (409, Conflict), (500, ServerError), (302, ServerError)],
)  # fmt: skip
def test_error_statuses_raise_their_own_errors(
    stub: tuple[Stub, str], status: int, error: type[Exception]
) -> None:
    """Each documented error status raises its own exception; redirects are not followed."""
    state, url = stub
    state.status, state.body = status, b'{"error": {"code": "X", "message": "nope"}}'
    state.headers = {"Location": "http://elsewhere.invalid/"}
    with pytest.raises(error):
        BlobCopyClient(url, key="k3y").abort("c1")
    assert len(state.requests) == 1


def test_400_field_errors_become_problems(stub: tuple[Stub, str]) -> None:
    """A 400's per-field reasons become one problem line each, signatures redacted."""
    state, url = stub
    state.status = 400
    fields = [
        {"field": "source.url", "message": "bad https://x/y?sig=abc"},
        {"field": "tier", "message": "unknown"},
    ]
    error = {"code": "InvalidRequest", "message": "invalid copy request", "fields": fields}
    state.body = json.dumps({"error": error}).encode()
    with pytest.raises(InvalidRequest) as caught:
        BlobCopyClient(url).start_copy({})
    assert caught.value.message == "invalid copy request"
    assert caught.value.problems == ["source.url: bad https://x/y?sig=REDACTED", "tier: unknown"]


def test_non_json_success_is_an_unexpected_answer(stub: tuple[Stub, str]) -> None:
    """A 200 whose body is not JSON raises UnexpectedAnswer, not a decoding traceback."""
    state, url = stub
    state.body = b"<html>proxy</html>"
    with pytest.raises(UnexpectedAnswer):
        BlobCopyClient(url).list_copies()


def test_unknown_host_is_unreachable() -> None:
    """A host that does not resolve raises ApiUnreachable."""
    with pytest.raises(ApiUnreachable):
        BlobCopyClient("http://blobcopy.invalid:7071", timeout=5).list_copies()


def test_describe_error_body_reads_common_shapes() -> None:
    """Error bodies as objects, pydantic-style lists or plain text all yield a message."""
    assert describe_error_body({"error": {"code": "C", "message": "m"}}) == ("C", "m", [])
    assert describe_error_body(
        {"error": "invalid", "errors": [{"loc": ["source", "url"], "msg": "required"}]}
    ) == (None, "invalid", ["source.url: required"])
    assert describe_error_body("plain words\n") == (None, "plain words", [])
    assert describe_error_body(None) == (None, None, [])


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    """Retry-After is read as delta-seconds or an HTTP date; junk is ignored."""
    now = datetime(2026, 11, 26, 15, 0, 0, tzinfo=UTC)
    assert parse_retry_after("10") == 10.0
    assert parse_retry_after("Thu, 26 Nov 2026 15:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_list_sends_the_continuation_as_a_query_parameter(stub: tuple[Stub, str]) -> None:
    """list_copies passes state and continuation as query parameters, escaped."""
    state, url = stub
    BlobCopyClient(url).list_copies("running", continuation="a+b/c=")
    assert state.requests[0]["path"] == "/api/copies?state=running&continuation=a%2Bb%2Fc%3D"


def test_batch_routes_are_under_api_batches(stub: tuple[Stub, str]) -> None:
    """start_batch POSTs JSON to /api/batches with the key; get_batch and abort_batch escape
    the id as one segment; abort sends a reason only when given; list passes its query."""
    state, url = stub
    state.status, state.body = 202, b'{"id": "b1", "status_url": "x"}'
    state.headers = {"Location": f"{url}/api/batches/b1", "Retry-After": "2"}
    client = BlobCopyClient(url, key="k3y")
    request = {"source": {"url": "https://a/c"}, "destination": {"url": "https://b/d"}}
    started = client.start_batch(request)
    client.get_batch("a/b c")
    client.abort_batch("b1", "wrong prefix")
    client.abort_batch("b1")
    client.list_batches("failed", continuation="a+b")
    client.list_batches()
    sent = state.requests
    assert [(r["method"], r["path"]) for r in sent] == [
        ("POST", "/api/batches"),
        ("GET", "/api/batches/a%2Fb%20c"),
        ("POST", "/api/batches/b1/abort"),
        ("POST", "/api/batches/b1/abort"),
        ("GET", "/api/batches?state=failed&continuation=a%2Bb"),
        ("GET", "/api/batches"),
    ]
    assert json.loads(sent[0]["body"]) == request
    assert all(r["headers"]["x-functions-key"] == "k3y" for r in sent)
    assert json.loads(sent[2]["body"]) == {"reason": "wrong prefix"}
    assert sent[3]["body"] == b""
    assert (started.location, started.retry_after) == (f"{url}/api/batches/b1", 2.0)


def test_batch_errors_raise_the_same_errors(stub: tuple[Stub, str]) -> None:
    """A 409 on a batch route (abort of an ended batch) raises Conflict, a 404 CopyNotFound."""
    state, url = stub
    state.status, state.body = (
        409,
        b'{"error": {"code": "Conflict", "message": "batch already over"}}',
    )
    with pytest.raises(Conflict, match="batch already over"):
        BlobCopyClient(url).abort_batch("b1")
    state.status = 404
    with pytest.raises(CopyNotFound):
        BlobCopyClient(url).get_batch("b1")
