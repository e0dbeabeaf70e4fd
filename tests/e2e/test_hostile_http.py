"""Hostile input over real HTTP and the real queue, against the live stack: refused without a
single storage call (the copy engine's counter), never a 5xx, and queue messages set aside
with their reason, once, never retried into the poison queue.

Most hostile cases run in process (tests/contract/test_hostile_api.py); these few hundred
prove the same through devhost's HTTP server, routing and queue listener. Only cases that
must be refused are sent, so no copy starts and the counter of one case is never another's.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import uuid
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from devhost.storage.stack import StorageStack
from devhost.testing import AppHost, Reply, http, wait_for
from shared.requests import is_copy_id
from tests.hostile import (
    DEST_ACCOUNT,
    HOSTILE,
    SOURCE_ACCOUNT,
    deep_nesting,
    hostile_ids,
    hostile_urls,
    huge_bodies,
    json_values,
    named_fields,
    nasty_text,
    raw_bodies,
    url_must_be_refused,
)

pytestmark = pytest.mark.e2e

SRC = f"http://127.0.0.1:10000/{SOURCE_ACCOUNT}/in/src.bin"
DST = f"http://127.0.0.1:10000/{DEST_ACCOUNT}/out/dst.bin"
#: The session's services are shared by every example (function-scoped autouse fixtures run
#: once per test, which is what we want here).
LIVE = settings(HOSTILE, suppress_health_check=[*HOSTILE.suppress_health_check,
                HealthCheck.function_scoped_fixture])  # fmt: skip
#: What RFC 9110 lets a header value hold (a DEL or control is refused by the HTTP server itself,
#: before any route, as Azure's front end does).
_HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40
)
HEADERS = st.dictionaries(
    st.sampled_from(("Content-Type", "Accept", "X-Functions-Key", "Authorization", "Origin")),
    _HEADER_TEXT,
    max_size=3,
)


def refused_without_storage(stack: StorageStack, reply: Reply) -> set[str]:
    """A 4xx in the API's error shape naming a field, and no storage transaction; the names."""
    assert 400 <= reply.status < 500, (reply.status, reply.body[:300])
    named = named_fields(reply.json())
    assert named, reply.body[:300]
    spent = stack.transactions().by_account
    assert not any(spent.values()), f"a refused request reached storage: {spent}"
    return named


def _body(side: str, url: str) -> bytes:
    request: dict[str, Any] = {"source": {"url": SRC}, "destination": {"url": DST}}
    request[side] = {"url": url}
    return json.dumps(request).encode()


_BODIES = st.one_of(
    raw_bodies(),
    deep_nesting(),
    huge_bodies(),
    st.builds(_body, st.sampled_from(("source", "destination")), hostile_urls()),
    hostile_ids().map(lambda i: json.dumps({"source": {"url": SRC}, "destination": {"url": DST},
                                            "id": i}).encode()),
)  # fmt: skip


def _must_refuse(body: bytes) -> bool:
    """Whether the README says this body is refused (so sending it starts nothing)."""
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError):
        return True
    if (
        not isinstance(raw, dict)
        or len(body) > 64 * 1024
        or set(raw) - {"source", "destination", "id"}
    ):
        return True
    if "id" in raw:
        return not (isinstance(raw["id"], str) and is_copy_id(raw["id"]))
    if not all(isinstance(raw.get(side), dict) for side in ("source", "destination")):
        return True
    side = "source" if raw["source"].get("url") != SRC else "destination"
    return url_must_be_refused(raw[side].get("url"), destination=side == "destination")


@settings(LIVE, max_examples=300)
@given(path=st.sampled_from(("copies", "batches")), body=_BODIES, headers=HEADERS)
def test_a_hostile_post_is_refused_before_any_storage_call(
    copy_service: AppHost, e2e_stack: StorageStack, path: str, body: bytes, headers: dict[str, str]
) -> None:
    """POST /api/copies and /api/batches with bodies that must be refused, under odd headers:
    a 4xx naming a field, and the engine counts no transaction."""
    assume(_must_refuse(body))
    e2e_stack.reset_transactions()
    reply = http("POST", f"{copy_service.base_url}/api/{path}", body=body, headers=headers)
    refused_without_storage(e2e_stack, reply)


@settings(LIVE, max_examples=250)
@given(
    path=st.sampled_from(("copies", "batches")),
    route=st.sampled_from(("", "/abort")),
    instance_id=hostile_ids().filter(lambda i: i not in ("", ".", "..")),
    body=st.one_of(st.just(b""), json_values().map(lambda v: json.dumps({"reason": v}).encode())),
)
@example(path="copies", route="", instance_id="a\nb", body=b"")  # once a plain-text 404
@example(path="batches", route="/abort", instance_id="\r\n%2f", body=b"")
def test_a_hostile_path_id_is_unknown_without_a_storage_call(
    copy_service: AppHost,
    e2e_stack: StorageStack,
    path: str,
    route: str,
    instance_id: str,
    body: bytes,
) -> None:
    """GET and abort of ids holding `#`, `?`, `/`, `%`, controls or unicode (percent-encoded
    as a client must): 404 naming `id`, or 400 naming the abort's `reason`; no storage call."""
    e2e_stack.reset_transactions()
    quoted = quote(instance_id, safe="", errors="surrogatepass")
    url = f"{copy_service.base_url}/api/{path}/{quoted}{route}"
    reply = http("POST" if route else "GET", url, body=body if route else None)
    assert refused_without_storage(e2e_stack, reply) in ({"id"}, {"reason"}), reply.body


_QUERY = st.fixed_dictionaries(
    {},
    optional={
        "state": nasty_text(),
        "limit": st.one_of(nasty_text(), st.sampled_from(["0", "1001", "-1", "9" * 5000, "²"])),
        "continuation": st.one_of(nasty_text(), st.binary(max_size=40).map(
            lambda b: base64.urlsafe_b64encode(b).decode())),
    },
)  # fmt: skip


@settings(LIVE, max_examples=150)
@given(path=st.sampled_from(("copies", "batches")), query=_QUERY, headers=HEADERS)
def test_a_hostile_list_query_is_a_400_or_a_page(
    copy_service: AppHost,
    e2e_stack: StorageStack,
    path: str,
    query: dict[str, str],
    headers: dict[str, str],
) -> None:
    """GET /api/copies and /api/batches with hostile `state`, `limit`, `continuation`: a page,
    or a 400 naming only those; never a 5xx, never a storage call."""
    e2e_stack.reset_transactions()
    encoded = urlencode(query, encoding="utf-8", errors="surrogatepass")
    reply = http("GET", f"{copy_service.base_url}/api/{path}?{encoded}", headers=headers)
    if reply.status == 200:
        assert path in reply.json()
        return
    assert refused_without_storage(e2e_stack, reply) <= {"state", "limit", "continuation"}


# --- the copy-requests queue, through Azurite and devhost's listener -----------------------

QUEUE_CASES: list[bytes] = [
    b"not json",
    b"",
    b"[1, 2]",
    b"\xff\xfe\x00",
    b"[" * 5000 + b"]" * 5000,
    json.dumps({"source": {"url": SRC}}).encode(),
    json.dumps({"source": {"url": SRC}, "destination": {"url": "ftp://x/a"}}).encode(),
    _body("destination", DST + "?sv=1&sig=forged"),
    _body("source", f"http://user:pass@127.0.0.1:10000/{SOURCE_ACCOUNT}/in/a.bin"),
    _body("destination", f"http://127.0.0.1:10000/{DEST_ACCOUNT}/out/%2e%2e/x.bin"),
    json.dumps({"source": {"url": SRC}, "destination": {"url": DST}, "id": "a#b"}).encode(),
    json.dumps({"action": "abort", "id": "x?y"}).encode(),
    json.dumps({"action": "abort", "id": "ok-id", "reason": {"deep": [1]}}).encode(),
    json.dumps({"action": "explode", "id": "x"}).encode(),
    json.dumps({"kind": "batch", "source": {"url": SRC}, "destination": {"url": DST}}).encode(),
    json.dumps(
        {
            "kind": "batch",
            "source": {"url": f"http://127.0.0.1:10000/{SOURCE_ACCOUNT}/in"},
            "destination": {"url": f"http://127.0.0.1:10000/{DEST_ACCOUNT}/out", "prefix": "../x/"},
        }
    ).encode(),
]


def _queue(stack: StorageStack, name: str) -> QueueClient:
    client = QueueClient.from_connection_string(stack.connection_string(), name)
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()
    return client


def test_hostile_queue_messages_are_set_aside_once_with_their_reason(
    copy_service: AppHost, e2e_stack: StorageStack
) -> None:
    """Each invalid message on copy-requests is logged once as dropped with the fields it got
    wrong, and deleted: not retried, not moved to copy-requests-poison, no blob touched."""
    requests, poison = _queue(e2e_stack, "copy-requests"), _queue(e2e_stack, "copy-requests-poison")
    e2e_stack.reset_transactions()
    marker = uuid.uuid4().hex
    sent = {}
    for index, case in enumerate(QUEUE_CASES):
        text = base64.b64encode(case).decode()
        sent[str(requests.send_message(text).id)] = index
    pattern = re.compile(r"queue message (\S+): (.*)")

    def all_handled() -> dict[str, list[str]] | None:
        seen: dict[str, list[str]] = {}
        for found in pattern.finditer(copy_service.output()):
            if found[1] in sent:
                seen.setdefault(found[1], []).append(found[2])
        return seen if len(seen) == len(sent) else None

    handled = wait_for(all_handled, what=f"the {len(sent)} hostile messages ({marker})")
    for message_id, outcomes in handled.items():
        case = QUEUE_CASES[sent[message_id]][:80]
        assert len(outcomes) == 1, (case, outcomes)  # handled once: not retried
        assert outcomes[0].startswith("dropped"), (case, outcomes)
        assert "{" in outcomes[0], (case, outcomes)  # the reason, with the fields named
    poisoned = [m.content for m in poison.peek_messages(max_messages=32)]
    assert not any(base64.b64encode(c).decode() in poisoned for c in QUEUE_CASES)
    assert not any(e2e_stack.transactions().by_account.values())
